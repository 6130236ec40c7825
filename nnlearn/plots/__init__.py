"""Pictures of runs: PNG files through matplotlib (:mod:`~nnlearn.plots.png`) and charts drawn
with characters in the terminal (:mod:`~nnlearn.plots.text`)."""

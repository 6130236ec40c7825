"""Runs: the config schema, run folders, model files, checkpoints and metrics.

:mod:`~nnlearn.runs.run` goes from a resolved config to a run folder and back; the other modules
are its parts. Kept free of imports here so that reading a config does not load numpy.
"""

"""Teaching tools built on the lesson in :mod:`nnlearn.nn`: summary, gradcheck, explain."""

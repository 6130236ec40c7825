"""Batch runs: a sweep of configs over seeds (:mod:`~nnlearn.sweeps.sweep`) and ``compare``."""

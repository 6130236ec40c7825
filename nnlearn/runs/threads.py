"""How many threads BLAS (the matrix-multiply library under numpy) may use.

BLAS reads its thread count once, when numpy loads it, so this must run before the first
``import numpy``. With several processes on a few cores (sweeps, a busy machine), one thread each
is faster than oversubscribing the cores.
"""

from __future__ import annotations

import os
import sys

ENV_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
            "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


def threads_from_env(names: tuple[str, ...] = ("NNLEARN_THREADS",)) -> int | None:
    """The first positive integer among these environment variables, or None."""
    for name in names:
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    return None


def set_blas_threads(threads: int | None) -> bool:
    """Limit BLAS to ``threads`` (None: ``$NNLEARN_THREADS`` if set, else leave BLAS alone).

    Returns True if the limit took effect: always when numpy is not loaded yet; afterwards only
    through threadpoolctl, when it is installed.
    """
    if threads is None:
        threads = threads_from_env()
    if threads is None:
        return True
    if "numpy" not in sys.modules:
        for var in ENV_VARS:
            os.environ[var] = str(threads)
        return True
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return False
    threadpool_limits(threads)
    return True

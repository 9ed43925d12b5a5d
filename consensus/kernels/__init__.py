"""numba fast path of the exact epoch: the same integers as the reference, much faster.

``run_epoch(inputs, variant_name, spec_version)`` returns the same :class:`EpochOutputs` as
the pure-Python reference (``consensus.eras``) field for field. The matrix work runs in
``@njit(cache=True)`` kernels (``fixed``: I32F32 on int64 with exact 128-bit emulation;
``sparse``: the CSR primitives of ``epoch/math.rs``; ``epoch``: both era variants).

numba caches compiled kernels on disk next to the sources (``__pycache__``). When that
directory is not writable (an installed package, a read-only checkout) the cache goes to
``$NUMBA_CACHE_DIR``, which this module defaults to ``~/.cache/taoaudit/numba`` before numba
is imported; set ``NUMBA_CACHE_DIR`` yourself to put it elsewhere. The first call in a fresh
environment compiles everything (tens of seconds); later processes load the cache.
"""

from __future__ import annotations

import os
from pathlib import Path


def _default_cache_dir() -> None:
    if "NUMBA_CACHE_DIR" in os.environ:
        return
    here = Path(__file__).resolve().parent
    cache = here / "__pycache__"
    try:
        cache.mkdir(exist_ok=True)
        writable = os.access(cache, os.W_OK)
    except OSError:
        writable = False
    if not writable:
        os.environ["NUMBA_CACHE_DIR"] = str(Path.home() / ".cache" / "taoaudit" / "numba")


_default_cache_dir()

from .epoch import run_epoch  # noqa: E402

__all__ = ["run_epoch"]

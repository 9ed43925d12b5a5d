"""numba fast path of the exact epoch: the same integers as the reference, much faster.

``run_epoch(inputs, variant_name, spec_version)`` returns the same :class:`EpochOutputs` as
the pure-Python reference (``consensus.eras``) field for field. The matrix work runs in
``@njit(cache=True)`` kernels (``fixed``: I32F32 on int64 with exact 128-bit emulation;
``sparse``: the CSR primitives of ``epoch/math.rs``; ``epoch``: both era variants).

numba caches compiled kernels on disk next to the sources (``__pycache__``). It checks only
the source file of each function, not of the functions it calls, so after a change to
``fixed.py`` the cached ``sparse``/``epoch`` kernels would still hold the old code. This
package therefore fingerprints its three kernel modules and, when the fingerprint differs
from the one the cache was built with, deletes the package's cache files first. When the
package directory is not writable (an installed package, a read-only checkout) the cache goes
to ``$NUMBA_CACHE_DIR``, which this module defaults to ``~/.cache/taoaudit/numba/<fingerprint>``
before numba is imported (set ``NUMBA_CACHE_DIR`` yourself to put it elsewhere; then clear it
after editing the kernels). The first call in a fresh environment compiles everything (about a
minute on 2 cores); later processes load the cache (about 1 s, most of it numba's own start).

Memory: each epoch allocates and frees a few dozen arrays of nnz entries. With glibc's default
dynamic thresholds those large blocks go back to the kernel after every call and come back
as fresh zero pages, and the page faults cost more than the arithmetic (about 5x the epoch
time at n = 256, dense, on a 2-core VM). On glibc, importing this package therefore raises
``M_MMAP_THRESHOLD`` to 32 MiB and ``M_TRIM_THRESHOLD`` to 256 MiB with ``mallopt`` so freed
blocks stay in the heap for the next call (process-wide; the process keeps up to that much
freed memory). Set ``TAOAUDIT_MALLOPT=0`` to leave the allocator alone.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


_MODULES = ("fixed.py", "sparse.py", "epoch.py")


def _prepare_cache() -> None:
    here = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for name in _MODULES:
        digest.update((here / name).read_bytes())
    fingerprint = digest.hexdigest()[:16]
    if "NUMBA_CACHE_DIR" in os.environ:
        return
    cache = here / "__pycache__"
    try:
        cache.mkdir(exist_ok=True)
        stamp = cache / "kernels.fingerprint"
        if not stamp.is_file() or stamp.read_text() != fingerprint:
            for f in list(cache.glob("*.nbi")) + list(cache.glob("*.nbc")):
                f.unlink(missing_ok=True)
            stamp.write_text(fingerprint)
        return
    except OSError:
        pass  # not writable: a cache directory of its own per kernel version
    os.environ["NUMBA_CACHE_DIR"] = str(Path.home() / ".cache" / "taoaudit" / "numba" / fingerprint)


def _tune_malloc() -> None:
    if os.environ.get("TAOAUDIT_MALLOPT", "1") == "0":
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return  # not glibc
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
    mallopt(M_MMAP_THRESHOLD, 32 << 20)
    mallopt(M_TRIM_THRESHOLD, 256 << 20)


_prepare_cache()
_tune_malloc()

from .epoch import run_epoch  # noqa: E402

__all__ = ["run_epoch"]

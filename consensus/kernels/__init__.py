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

Memory: the nnz-sized intermediate matrices of an epoch are written into a per-thread
workspace (``sparse.new_workspace``, kept in a ``threading.local`` by ``epoch._workspace``),
reused across calls, grown geometrically when a larger epoch arrives and never shrunk; only
the arrays handed back to the caller are allocated per call. Before, each epoch allocated and
freed a few dozen large arrays, which glibc returned to the kernel after every call and got
back as fresh zero pages: the page faults cost about a third of the epoch time (n = 256,
dense: 9.4 ms, now 7.2 ms; n = 4096 at 10%: 159 ms, now about 131-137 ms, on a 2-core VM).
The cost is that a thread keeps its workspace after its largest epoch (12 int64 arrays of up
to ~2 nnz entries each; 115 MiB after the benchmark epoch n = 4096, nnz = 1.7M).
:func:`tune_malloc` (``TAOAUDIT_MALLOPT=1`` before importing this package; glibc only,
process-wide: the process then keeps up to 256 MiB of freed memory in its heap) raises
``M_MMAP_THRESHOLD`` / ``M_TRIM_THRESHOLD``; it is opt-in because it changes the allocator
of the whole host process, and it now gains only a few percent at large n (the per-call
output arrays).

Threads: large epochs run their row-wise kernels in ``numba.get_num_threads()`` chunks
(``numba.set_num_threads`` or ``NUMBA_NUM_THREADS`` limit it; any chunk count gives the same
integers). Which epochs count as large depends on numba's threading layer, and a process
forked after parallel kernels ran on GNU OpenMP runs its epochs serially: see ``chunks``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


_MODULES = ("fixed.py", "indexing.py", "chunks.py", "sparse.py", "epoch.py")


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


def tune_malloc() -> bool:
    """Keep large freed blocks in the heap (glibc ``mallopt``, process-wide); True if applied."""
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False  # not glibc
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
    return bool(mallopt(M_MMAP_THRESHOLD, 32 << 20)) and bool(mallopt(M_TRIM_THRESHOLD, 256 << 20))


_prepare_cache()
if os.environ.get("TAOAUDIT_MALLOPT", "0") == "1":
    tune_malloc()

# numba's threading layer must be running before a kernel that calls a parallel kernel is
# loaded from the on-disk cache: numba restarts the layer when it loads a parallel kernel
# itself, not when it loads a caller that contains one, and running such a caller (e.g.
# masked_weights called directly from Python) in a fresh process then crashes it (a segfault
# with numba 0.68). Side effect: importing this package starts the layer, so on GNU OpenMP a
# child forked later may not run parallel numba code of its own (this package's epochs run
# serially there, see chunks).
from .chunks import threading_layer  # noqa: E402

threading_layer()

from .epoch import run_epoch  # noqa: E402

__all__ = ["run_epoch", "tune_malloc"]

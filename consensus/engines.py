"""Which engine runs an epoch: the pure-Python reference or the numba kernels, by size.

Both give the same integers (the test suite compares them on every shared case). Per call the
kernels are faster at every size (n = 4: ~0.1 ms against ~0.7 ms; n = 64 dense: 0.3 ms against
0.4 s), but the first kernel call of a process pays for importing numba and loading its
cached kernels: about 1-2 s on this 2-core VM, longer on a busy one. So ``engine="auto"`` runs
an epoch on the reference while the kernels are not loaded and the reference's estimated cost
is below :data:`REFERENCE_MAX_UNITS` (cost model of ``bench/epoch.py``: stored entries +
n²/4; 400 units is at most ~20 ms of classic reference time and ~100 ms with Yuma3 and liquid
alpha, measured on ``bench/epoch.py``'s inputs: n = 16 dense, 320 units, 19 ms / 96 ms; n = 8
dense 1.6 ms / 23 ms), and on the kernels otherwise, and always once they are loaded. The
bundled 16-UID recording's epochs then never import numba.

Threads: :func:`set_kernel_threads` caps the threads of every later kernel epoch in the
process (``TAOAUDIT_KERNEL_THREADS`` does the same before the first one): a multi-worker
audit gives each worker process one thread, since its cores are the other workers'.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from typing import Any

REFERENCE_MAX_UNITS = 400
_KERNELS = "taoaudit.consensus.kernels"


def kernels_available() -> bool:
    """True when the numba fast path is present (it mirrors the reference bit for bit)."""
    return importlib.util.find_spec(_KERNELS) is not None and importlib.util.find_spec("numba") is not None


def kernels_loaded() -> bool:
    return _KERNELS in sys.modules


def epoch_units(inputs: Any) -> int:
    """The reference's cost model: stored weight/bond entries + n²/4."""
    nnz = max(len(inputs.weights.cols), len(inputs.bonds.cols))
    return nnz + inputs.n * inputs.n // 4


def choose_engine(inputs: Any) -> str:
    """"reference" or "numba" for one epoch (see the module doc)."""
    if kernels_loaded():
        return "numba"
    if epoch_units(inputs) <= REFERENCE_MAX_UNITS or not kernels_available():
        return "reference"
    return "numba"


def set_kernel_threads(threads: int) -> None:
    """At most ``threads`` kernel threads per epoch from now on, in every thread of this
    process (0 = no cap). Before the kernels are loaded this only sets
    ``TAOAUDIT_KERNEL_THREADS``, so numba is not imported by calling it."""
    os.environ["TAOAUDIT_KERNEL_THREADS"] = str(max(0, int(threads)))
    chunks = sys.modules.get(_KERNELS + ".chunks")
    if chunks is not None:
        chunks.set_thread_cap(threads)

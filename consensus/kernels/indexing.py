"""Array indexing without numba's negative-index wraparound.

numba treats a signed array index as Python does: before each access it tests for a negative
value and adds the length. Unless LLVM can prove the index non-negative, that test stays in
the loop, costs a compare and a select per access and stops the loop from being vectorised;
in the CSR kernels, whose loops run from ``indptr[i]`` to ``indptr[i + 1]``, LLVM can rarely
prove it. An unsigned index skips the test. The kernels therefore index as ``a[ix(p)]``:
the same element for every ``p >= 0``, which every kernel index is by construction (row
pointers, positions, UIDs and columns are non-negative; :func:`consensus.kernels.epoch`
checks the CSR arrays it is given). Measured side by side on the benchmark epoch (n = 256,
dense, 2 threads): 4.9 ms with wraparound, 3.2-3.6 ms without (this VM's run-to-run noise).

A negative index here would read or write outside the array, as an index beyond its end
already does in numba (no bounds checks): never pass one.
"""

from __future__ import annotations

import numpy as np

ix = np.uint64

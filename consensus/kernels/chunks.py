"""Splitting a CSR kernel's rows into chunks that numba runs on all cores.

A kernel that runs in chunks has one row loop, ``_..._rows(lo, hi, k, ...)``, which handles
rows ``lo..hi`` and writes its output pairs from position ``k``; the serial path calls it once
for every row, the parallel path once per chunk from a ``prange`` driver. Each chunk writes
into a region of its own that is as large as the chunk's output can get (its input entries,
or the per-row bound of the kernel), so chunks never share a position; :func:`compact_rows`
then closes the gaps between the regions. Reductions across rows (column sums, column maxima,
ranks) are kept per chunk and merged afterwards. Merging changes the order of additions,
which is exact for maxima and for saturating sums of non-negative terms (either way the
result is min(true sum, max)); a kernel whose terms can be negative detects that and repeats
the reduction serially in the runtime's order.

Small epochs stay serial: a parallel launch costs a few microseconds on numba's OpenMP and
TBB layers but tens of microseconds on its workqueue layer, so epochs run in chunks from
:data:`PARALLEL_MIN_ENTRIES_FAST` stored entries on the former (n = 128 dense) and from
:data:`PARALLEL_MIN_ENTRIES` on the latter. numba picks the layer (TBB, else OpenMP, else
workqueue, unless ``NUMBA_THREADING_LAYER`` says otherwise); a probe kernel makes it pick
before the first epoch that could use it.

Busy machines: numba's OpenMP workers spin while they wait for work, so with other processes
on every core a parallel epoch waits for descheduled workers at each region boundary: n = 256
dense took a median 170-270 ms in parallel against 14-30 ms serially with two busy processes
on this 2-core VM. So an epoch runs in parallel only on cores that are idle right now
(:func:`idle_cores`: the kernel's instantaneous count of runnable tasks in ``/proc/loadavg``,
against the CPUs this process may use), and never on more than :func:`thread_cap` threads
(``TAOAUDIT_KERNEL_THREADS``, or ``taoaudit.consensus.set_kernel_threads``; a multi-worker
audit sets it to 1 per worker). Measured with the check: the same busy case runs serially at
the serial speed (ratio ~1.0), an idle machine still runs in parallel. The load average
(a 1-minute mean) reacts too slowly to be used for this.

Fork: with GNU OpenMP, a child process forked after a parallel region ran is terminated at
its first parallel region of its own. A child forked from a process whose layer is OpenMP
therefore runs every epoch serially (same integers), so ``multiprocessing`` pools of a parent
that already ran large epochs keep working.
"""

from __future__ import annotations

import os

import numba
import numpy as np
from numba import njit, prange

from .indexing import ix

PARALLEL_MIN_ENTRIES = 1 << 18
PARALLEL_MIN_ENTRIES_FAST = 1 << 14

_serial_only = False
_cap: int | None = None  # TAOAUDIT_KERNEL_THREADS, read at first use


def thread_cap() -> int:
    """Most threads an epoch may use: ``TAOAUDIT_KERNEL_THREADS`` (read once; 0 or unset =
    no cap beyond numba's own thread count) or :func:`set_thread_cap`."""
    global _cap
    if _cap is None:
        try:
            _cap = max(0, int(os.environ.get("TAOAUDIT_KERNEL_THREADS", "0") or 0))
        except ValueError:
            _cap = 0
    return _cap or (1 << 30)


def set_thread_cap(threads: int) -> None:
    """Cap the threads of every later epoch in this process (0 = no cap)."""
    global _cap
    _cap = max(0, int(threads))


def idle_cores() -> int | None:
    """CPUs of this process with nothing else runnable on them right now; None if unknown.

    The fourth field of ``/proc/loadavg`` counts the runnable tasks of the whole machine at
    this instant, the calling thread included (the epoch's own parallel workers are asleep
    between epochs, so they are not counted)."""
    try:
        with open("/proc/loadavg", "rb") as f:
            runnable = int(f.read().split()[3].split(b"/")[0])
    except (OSError, ValueError, IndexError):
        return None
    return max(1, _cpus() - (runnable - 1))


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _after_fork_in_child() -> None:
    global _serial_only
    try:
        layer = numba.threading_layer()
    except ValueError:
        return  # no parallel region ran in the parent: the child may start its own
    if layer == "omp":
        _serial_only = True


os.register_at_fork(after_in_child=_after_fork_in_child)


@njit(cache=True, parallel=True)
def _probe(out):
    for i in prange(len(out)):
        out[ix(i)] = i


def threading_layer() -> str:
    """numba's threading layer, made to choose one if no parallel kernel ran yet."""
    try:
        return numba.threading_layer()
    except ValueError:
        _probe(np.zeros(2, dtype=np.int64))
        return numba.threading_layer()


def chunks_for(entries: int) -> int:
    """How many chunks an epoch with ``entries`` stored entries uses: for large epochs numba's
    thread count (``numba.set_num_threads`` / ``NUMBA_NUM_THREADS``), capped by
    :func:`thread_cap` and by the cores idle right now; else 1 (serial).

    Decided in Python and passed down: ``numba.get_num_threads()`` inside a kernel would make
    every kernel calling it uncacheable."""
    if entries < PARALLEL_MIN_ENTRIES_FAST or _serial_only:
        return 1
    threads = min(numba.get_num_threads(), thread_cap())
    if threads < 2:
        return 1
    if entries < PARALLEL_MIN_ENTRIES and threading_layer() == "workqueue":
        return 1
    idle = idle_cores()
    return threads if idle is None else max(1, min(threads, idle))


@njit(cache=True)
def row_chunks(indptr, rows, chunks):
    """Boundaries ``b`` (``b[0] = 0``, ``b[-1] = rows``) of up to ``chunks`` chunks of rows
    with about equal numbers of entries."""
    entries = indptr[ix(rows)] - indptr[0] if rows > 0 else 0
    chunks = max(1, min(chunks, rows))
    bounds = np.empty(chunks + 1, dtype=np.int64)
    bounds[0] = 0
    bounds[ix(chunks)] = rows
    i = 0
    for c in range(1, chunks):
        target = indptr[0] + entries * c // chunks
        while i < rows and indptr[ix(i)] < target:
            i += 1
        bounds[ix(c)] = max(i, bounds[ix(c - 1)])
    return bounds


@njit(cache=True)
def entry_chunks(entries, chunks):
    """Boundaries of ``chunks`` equal ranges of ``entries`` positions."""
    chunks = max(1, min(chunks, entries))
    bounds = np.empty(chunks + 1, dtype=np.int64)
    for c in range(chunks + 1):
        bounds[ix(c)] = entries * c // chunks
    return bounds


@njit(cache=True)
def compact_rows(bounds, base, ends, out_ptr, out_cols, out_vals):
    """Move chunk c's output ``[base[c], ends[c])`` down to follow chunk c-1's, fixing the
    row pointers of its rows; returns the total number of pairs (chunk 0 starts at 0)."""
    k = ends[0]
    for c in range(1, len(bounds) - 1):
        shift = base[ix(c)] - k
        if shift != 0:
            for q in range(base[ix(c)], ends[ix(c)]):
                out_cols[ix(q - shift)] = out_cols[ix(q)]
                out_vals[ix(q - shift)] = out_vals[ix(q)]
            for i in range(bounds[ix(c)], bounds[ix(c + 1)]):
                out_ptr[ix(i + 1)] -= shift
        k += ends[ix(c)] - base[ix(c)]
    return k

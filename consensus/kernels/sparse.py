"""CSR kernels of the epoch primitives (subtensor `epoch/math.rs`), exact, for numba.

A sparse matrix is ``(indptr, cols, vals)``: int64 arrays, one row per UID, pairs in the
runtime's order (unsorted rows, explicit zeros and repeated columns are kept). Values are raw
I32F32. Each kernel names the function of :mod:`consensus.sparse` it reproduces and keeps
its quirks (missing-entry defaults, saturating versus wrapping sums, row and entry order of
saturating accumulations). Kernels return fresh arrays unless their name starts with
``inplace_`` or they take a workspace ``ws``.

Workspace: the nnz-sized scratch and intermediate matrices of an epoch live in a typed list
of int64 buffers (:func:`new_workspace`), one slot per use (``S_*``), grown geometrically when
a larger epoch needs more and never shrunk. A kernel that takes ``ws`` writes its CSR columns
and values into slices of its slots and returns those views, which stay valid until the next
call using the same slots: the epoch cores copy whatever they hand back to the caller. Reusing
the buffers avoids allocating (and page-faulting in) a few dozen large arrays per epoch.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange
from numba.cpython.unsafe.numbers import trailing_zeros
from numba.typed import List

from .chunks import compact_rows, entry_chunks, row_chunks
from .fixed import (
    ONE,
    U16_MAX_FIXED,
    checked_mul,
    div,
    exp_checked,
    exp_safe,
    from_int,
    mul,
    round_to_int,
    sat_add,
    sat_div,
    sat_sub,
    to_u16_proportion,
    udiv_fast,
    udiv_fast_ok,
    umul128,
)
from .indexing import ix

_I64 = np.int64
_F2_32 = float(1 << 32)
_LIM61 = np.int64(1 << 61)


# -- workspace -------------------------------------------------------------------------

# slots; arrays whose lifetimes overlap in an epoch core never share a slot
S_WC, S_WV = 0, 1  # masked_weights
S_CC, S_CV = 2, 3  # col_clip_trust_ranks
S_IC, S_IV = 4, 5  # interpolate
S_BC, S_BV = 6, 7  # masked_bonds
S_DC, S_DV = 8, 9  # weighted_median_col scratch; then S_DV holds row_hadamard_with_col_sums values
S_EC, S_EV = 10, 11  # mat_ema / mat_ema_alpha_liquid
# the column-normalised EMA values: written after mat_ema has consumed the row_hadamard
# values (classic) or in place of them (Yuma3 does not scale by rows), so they share a slot
S_NV = S_DV
N_SLOTS = 12


@njit(cache=True)
def new_workspace():
    ws = List()
    for _ in range(N_SLOTS):
        ws.append(np.empty(0, dtype=np.int64))
    return ws


@njit(cache=True)
def take(ws, slot, size):
    """An int64 view of ``size`` entries of workspace slot ``slot`` (contents undefined),
    growing the slot's buffer to at least 1.5x its old size when it is too small."""
    buf = ws[slot]
    if len(buf) < size:
        buf = np.empty(max(size, len(buf) + (len(buf) >> 1)), dtype=np.int64)
        ws[slot] = buf
    return buf[:size]


# -- division by one divisor many times ----------------------------------------------------

@njit(cache=True)
def recip(b):
    """A float64 reciprocal for :func:`div_by` (0.0 when b is outside the fast range)."""
    if 0 < b < _LIM61:
        return _F2_32 / np.float64(b)
    return 0.0


@njit(cache=True)
def recips(divisors):
    """:func:`recip` of each divisor (one per column)."""
    out = np.empty(len(divisors), dtype=np.float64)
    for j in range(len(divisors)):
        out[ix(j)] = recip(divisors[ix(j)])
    return out


@njit(cache=True)
def div_by(a, b, rb):
    """`div(a, b)` with ``rb = recip(b)``: one float multiply, then the exact correction of
    :func:`consensus.kernels.fixed.udiv_fast` (see there for why it is exact)."""
    if rb != 0.0 and udiv_fast_ok(a, b):
        return udiv_fast(a, b, np.int64(np.float64(a) * rb))
    return div(a, b)


# -- vectors ---------------------------------------------------------------------------

@njit(cache=True)
def plain_sum(x):
    s = _I64(0)
    for v in x:
        s += v  # wraps, like `Iterator::sum` in the wasm build
    return s


@njit(cache=True)
def inplace_normalize(x):
    s = plain_sum(x)
    if s == 0:
        return
    rs = recip(s)
    for i in range(len(x)):
        x[ix(i)] = div_by(x[ix(i)], s, rs)


@njit(cache=True)
def inplace_normalize_using_sum(x, s):
    if s == 0:
        return
    rs = recip(s)
    for i in range(len(x)):
        x[ix(i)] = div_by(x[ix(i)], s, rs)


@njit(cache=True)
def inplace_mask_vector(mask, x):
    """Empty mask masks nothing; entries beyond the mask count as masked."""
    if len(mask) == 0:
        return
    for i in range(len(x)):
        if i >= len(mask) or mask[ix(i)]:
            x[ix(i)] = 0


@njit(cache=True)
def is_topk(x, k, nonzero):
    """`is_topk` / `is_topk_nonzero`: stable ascending sort, the first len-k lose."""
    n = len(x)
    out = np.empty(n, dtype=np.bool_)
    for i in range(n):
        out[ix(i)] = (x[ix(i)] != 0) if nonzero else True
    if n < k:
        return out
    order = np.argsort(x, kind="mergesort")  # stable
    for t in range(n - k):
        out[ix(order[ix(t)])] = False
    return out


@njit(cache=True)
def vecdiv(x, y):
    m = min(len(x), len(y))
    out = np.zeros(m, dtype=np.int64)
    for i in range(m):
        if y[ix(i)] != 0:
            out[ix(i)] = div(x[ix(i)], y[ix(i)])
    return out


@njit(cache=True)
def vec_mul(a, b):
    m = min(len(a), len(b))
    out = np.zeros(m, dtype=np.int64)
    for i in range(m):
        ok, r = checked_mul(a[ix(i)], b[ix(i)])
        if ok:
            out[ix(i)] = r
    return out


@njit(cache=True)
def vec_max_upscale_to_u16(v):
    n = len(v)
    out = np.zeros(n, dtype=np.int64)
    if n == 0:
        return out
    vmax = v[0]
    for x in v:
        if x > vmax:
            vmax = x
    threshold = np.int64(32768 << 32)
    for i in range(n):
        if vmax == 0:
            r = mul(v[ix(i)], U16_MAX_FIXED) >> 32
        elif vmax > threshold:
            r = round_to_int(mul(v[ix(i)], div(U16_MAX_FIXED, vmax)))
        else:
            r = round_to_int(div(mul(v[ix(i)], U16_MAX_FIXED), vmax))
        out[ix(i)] = min(max(r, 0), 0xFFFF)
    return out


@njit(cache=True)
def to_u16s(x, n):
    out = np.empty(min(n, len(x)), dtype=np.uint16)
    for i in range(len(out)):
        out[ix(i)] = to_u16_proportion(x[ix(i)])
    return out


@njit(cache=True)
def to_rao(x, rao, n):
    """floor(I96F32(x) * I96F32(rao)) as u64 = clamp(floor(x * rao / 2^32), 0, u64::MAX)."""
    out = np.zeros(min(n, len(x)), dtype=np.uint64)
    for i in range(len(out)):
        if x[ix(i)] <= 0:
            continue
        hi, lo = umul128(np.uint64(x[ix(i)]), rao)
        if hi >> 32 != np.uint64(0):
            out[ix(i)] = np.uint64(0xFFFFFFFFFFFFFFFF)
        else:
            out[ix(i)] = (hi << 32) | (lo >> 32)
    return out


# -- building and masking --------------------------------------------------------------

VALUE_INT = 0  # I32F32::from_num(u16)
# u16_proportion_to_fixed(u16) (spec 103) and fixed_to_fixed_u16_proportion(I32F32(u16))
# (Yuma3 bonds) are the same raw formula: safe_div(I32F32(u), I32F32(65535)).
VALUE_PROPORTION = 1


@njit(cache=True)
def _stored_value(raw, value_kind):
    v = from_int(raw)
    if value_kind == VALUE_PROPORTION:
        v = div(v, U16_MAX_FIXED)
    return v


@njit(cache=True)
def _stored_values(vals, lo, hi, value_kind):
    """Raw stored integers ``vals[lo:hi]`` to their I32F32 values in place; returns their
    plain (wrapping) sum. Kept out of the masking loops: with the division of
    VALUE_PROPORTION inlined there, those loops ran about a third slower."""
    s = _I64(0)
    if value_kind == VALUE_INT:
        for q in range(lo, hi):
            v = from_int(vals[ix(q)])
            vals[ix(q)] = v
            s += v
    else:
        for q in range(lo, hi):
            v = _stored_value(vals[ix(q)], value_kind)
            vals[ix(q)] = v
            s += v
    return s


@njit(cache=True)
def masked_weights(n, indptr, cols, raw, value_kind, filter_cols, permits, owner,
                   last_update, bar, commit, use_commit, ws, chunks):
    """§3.5 in one pass: the stored rows of UIDs < n (storage order), then

    * `mask_rows_sparse(!permits)`: row i kept only if i < len(permits) and permits[i];
    * `mask_diag_sparse` / `mask_diag_sparse_except_index(owner)` (owner < 0: none);
    * `vec_mask_sparse_matrix(last_update, bar, <=)` and, if ``use_commit``,
      `vec_mask_sparse_matrix(commit, bar, <)` (missing values count as 0);
    * `inplace_row_normalize_sparse` (plain row sum; rows summing to <= 0 unchanged).

    Columns >= n are dropped when ``filter_cols`` (`get_weights_sparse`). Rows are
    independent: large matrices run in chunks (:mod:`.chunks`). Workspace slots S_WC / S_WV.
    """
    n_rows = len(indptr) - 1
    rows = min(n, n_rows)
    cap = indptr[ix(rows)] - indptr[0] if rows > 0 else 0
    out_ptr = np.zeros(n + 1, dtype=np.int64)
    out_cols = take(ws, S_WC, cap)
    out_vals = take(ws, S_WV, cap)
    bounds = row_chunks(indptr, rows, chunks)
    args = (n, indptr, cols, raw, value_kind, filter_cols, permits, owner, last_update, bar,
            commit, use_commit, out_ptr, out_cols, out_vals)
    if len(bounds) == 2:
        k = _masked_weight_rows(0, rows, 0, *args)
    else:
        base = indptr[bounds[:-1]] - indptr[0]
        ends = np.empty(len(base), dtype=np.int64)
        _masked_weight_chunks(bounds, base, ends, *args)
        k = compact_rows(bounds, base, ends, out_ptr, out_cols, out_vals)
    for i in range(rows, n):
        out_ptr[ix(i + 1)] = k
    return out_ptr, out_cols[:k], out_vals[:k]


@njit(cache=True)
def _masked_weight_rows(lo, hi, k, n, indptr, cols, raw, value_kind, filter_cols, permits, owner,
                        last_update, bar, commit, use_commit, out_ptr, out_cols, out_vals):
    zero = np.uint64(0)
    for i in range(lo, hi):
        start = k
        if i < len(permits) and permits[ix(i)]:
            lu = last_update[ix(i)] if i < len(last_update) else zero
            cb = commit[ix(i)] if i < len(commit) else zero
            for p in range(indptr[ix(i)], indptr[ix(i + 1)]):
                j = cols[ix(p)]
                if filter_cols and j >= n:
                    continue
                if j == i and i != owner:
                    continue
                reg = bar[ix(j)] if j < len(bar) else zero
                if lu <= reg:
                    continue
                if use_commit and cb < reg:
                    continue
                out_cols[ix(k)] = j
                out_vals[ix(k)] = raw[ix(p)]
                k += 1
            s = _stored_values(out_vals, start, k, value_kind)
            if s > 0:
                rs = recip(s)
                for q in range(start, k):
                    out_vals[ix(q)] = div_by(out_vals[ix(q)], s, rs)
        out_ptr[ix(i + 1)] = k
    return k


@njit(cache=True, parallel=True)
def _masked_weight_chunks(bounds, base, ends, *args):
    for c in prange(len(bounds) - 1):
        ends[ix(c)] = _masked_weight_rows(bounds[ix(c)], bounds[ix(c + 1)], base[ix(c)], *args)


@njit(cache=True)
def masked_bonds(n, indptr, cols, raw, value_kind, per_row, last_update, use_scalar, scalar, bar, ws,
                 chunks):
    """`get_bonds_sparse` rows of UIDs < n (columns not filtered), then the registration mask.

    ``per_row`` (spec 103): `vec_mask_sparse_matrix(last_update, bar, <=)`; otherwise, if
    ``use_scalar``: `scalar_vec_mask_sparse_matrix(scalar, bar, <=)`. Missing values are 0.
    Rows are independent (chunks, :mod:`.chunks`). Workspace slots S_BC / S_BV.
    """
    n_rows = len(indptr) - 1
    rows = min(n, n_rows)
    cap = indptr[ix(rows)] - indptr[0] if rows > 0 else 0
    out_ptr = np.zeros(n + 1, dtype=np.int64)
    out_cols = take(ws, S_BC, cap)
    out_vals = take(ws, S_BV, cap)
    bounds = row_chunks(indptr, rows, chunks)
    args = (indptr, cols, raw, value_kind, per_row, last_update, use_scalar, scalar, bar,
            out_ptr, out_cols, out_vals)
    if len(bounds) == 2:
        k = _masked_bond_rows(0, rows, 0, *args)
    else:
        base = indptr[bounds[:-1]] - indptr[0]
        ends = np.empty(len(base), dtype=np.int64)
        _masked_bond_chunks(bounds, base, ends, *args)
        k = compact_rows(bounds, base, ends, out_ptr, out_cols, out_vals)
    for i in range(rows, n):
        out_ptr[ix(i + 1)] = k
    return out_ptr, out_cols[:k], out_vals[:k]


@njit(cache=True)
def _masked_bond_rows(lo, hi, k, indptr, cols, raw, value_kind, per_row, last_update, use_scalar,
                      scalar, bar, out_ptr, out_cols, out_vals):
    zero = np.uint64(0)
    first = k
    for i in range(lo, hi):
        lu = scalar
        if per_row:
            lu = last_update[ix(i)] if i < len(last_update) else zero
        for p in range(indptr[ix(i)], indptr[ix(i + 1)]):
            j = cols[ix(p)]
            if per_row or use_scalar:
                reg = bar[ix(j)] if j < len(bar) else zero
                if lu <= reg:
                    continue
            out_cols[ix(k)] = j
            out_vals[ix(k)] = raw[ix(p)]
            k += 1
        out_ptr[ix(i + 1)] = k
    _stored_values(out_vals, first, k, value_kind)
    return k


@njit(cache=True, parallel=True)
def _masked_bond_chunks(bounds, base, ends, *args):
    for c in prange(len(bounds) - 1):
        ends[ix(c)] = _masked_bond_rows(bounds[ix(c)], bounds[ix(c + 1)], base[ix(c)], *args)


# -- row and column operations ---------------------------------------------------------

@njit(cache=True)
def col_sums(cols, vals, columns, chunks):
    """Saturating column sums in storage order (pass 1 of `inplace_col_normalize_sparse`).

    In chunks of entries; if a value is negative the order of the saturating additions can
    matter (see :mod:`.chunks`) and the sums are taken again in storage order."""
    bounds = entry_chunks(len(cols), chunks)
    parts = np.zeros((len(bounds) - 1, columns), dtype=np.int64)
    if len(bounds) == 2:
        _col_sum_entries(0, len(cols), cols, vals, parts[0])
        return parts[0]
    negatives = np.zeros(len(bounds) - 1, dtype=np.bool_)
    _col_sum_chunks(bounds, cols, vals, parts, negatives)
    if not negatives.any():
        return merge_sums(parts)
    col_sum = np.zeros(columns, dtype=np.int64)
    _col_sum_entries(0, len(cols), cols, vals, col_sum)
    return col_sum


@njit(cache=True)
def _col_sum_entries(lo, hi, cols, vals, col_sum):
    """Adds entries lo..hi into ``col_sum``; True if one of them is negative."""
    columns = len(col_sum)
    negative = False
    for p in range(lo, hi):
        j = cols[ix(p)]
        v = vals[ix(p)]
        negative |= v < 0
        if j < columns:
            col_sum[ix(j)] = sat_add(col_sum[ix(j)], v)
    return negative


@njit(cache=True, parallel=True)
def _col_sum_chunks(bounds, cols, vals, parts, negatives):
    for c in prange(len(bounds) - 1):
        negatives[ix(c)] = _col_sum_entries(bounds[ix(c)], bounds[ix(c + 1)], cols, vals, parts[ix(c)])


@njit(cache=True)
def merge_sums(parts):
    """Saturating sum of per-chunk partial sums (exact when no term was negative)."""
    out = parts[0].copy()
    for c in range(1, parts.shape[0]):
        for j in range(parts.shape[1]):
            out[ix(j)] = sat_add(out[ix(j)], parts[c, j])
    return out


@njit(cache=True)
def merge_maxima(parts):
    out = parts[0].copy()
    for c in range(1, parts.shape[0]):
        for j in range(parts.shape[1]):
            out[ix(j)] = max(out[ix(j)], parts[c, j])
    return out


@njit(cache=True)
def inplace_col_divide(cols, vals, col_sum, chunks):
    """Pass 2 of `inplace_col_normalize_sparse`: divide by non-zero column sums."""
    rsum = recips(col_sum)
    bounds = entry_chunks(len(cols), chunks)
    if len(bounds) == 2:
        _col_divide_entries(0, len(cols), cols, vals, col_sum, rsum)
    else:
        _col_divide_chunks(bounds, cols, vals, col_sum, rsum)


@njit(cache=True)
def _col_divide_entries(lo, hi, cols, vals, col_sum, rsum):
    columns = len(col_sum)
    for p in range(lo, hi):
        j = cols[ix(p)]
        if j < columns and col_sum[ix(j)] != 0:
            vals[ix(p)] = div_by(vals[ix(p)], col_sum[ix(j)], rsum[ix(j)])


@njit(cache=True, parallel=True)
def _col_divide_chunks(bounds, cols, vals, col_sum, rsum):
    for c in prange(len(bounds) - 1):
        _col_divide_entries(bounds[ix(c)], bounds[ix(c + 1)], cols, vals, col_sum, rsum)


@njit(cache=True)
def inplace_col_normalize(indptr, cols, vals, columns, chunks):
    """`inplace_col_normalize_sparse`: entries with j >= columns are left untouched."""
    inplace_col_divide(cols, vals, col_sums(cols, vals, columns, chunks), chunks)


@njit(cache=True)
def classic_dividends_and_bonds(indptr, cols, vals, col_sum, incentive, permits_new, n, ws, chunks):
    """The end of classic Yuma (§3.8b steps 7-9 and the bond rows of §3.10), fused:

    `inplace_col_normalize_sparse(ema, columns)` (with the column sums given); dividends =
    `matmul_transpose_sparse(ema, incentive)` (not yet normalised); then
    `inplace_col_max_upscale_sparse(ema, columns)` applied only to the rows that are written
    (UIDs < n with a new permit), as u16 proportions. Returns dividends and the bond rows
    (fresh arrays). Both passes run in row chunks (column maxima merged). Workspace slot S_NV.
    """
    rows = len(indptr) - 1
    columns = len(col_sum)  # col_sum = col_sums(cols, vals, columns), from mat_ema
    rsum = recips(col_sum)
    normed = take(ws, S_NV, len(vals))
    dividends = np.zeros(rows, dtype=np.int64)
    bounds = row_chunks(indptr, rows, chunks)
    chunks = len(bounds) - 1
    maxima = np.zeros((chunks, columns), dtype=np.int64)
    if chunks == 1:
        _classic_normalize_rows(0, rows, indptr, cols, vals, col_sum, rsum, incentive, normed,
                                maxima[0], dividends)
    else:
        _classic_normalize_chunks(bounds, indptr, cols, vals, col_sum, rsum, incentive, normed,
                                  maxima, dividends)
    col_max = merge_maxima(maxima)
    rmax = recips(col_max)
    out_ptr = np.zeros(n + 1, dtype=np.int64)
    for i in range(n):
        written = i < rows and i < len(permits_new) and permits_new[ix(i)]
        out_ptr[ix(i + 1)] = out_ptr[ix(i)] + (indptr[ix(i + 1)] - indptr[ix(i)] if written else 0)
    out_cols = np.empty(out_ptr[ix(n)], dtype=np.int64)
    out_vals = np.empty(out_ptr[ix(n)], dtype=np.int64)
    last = min(n, rows)
    if chunks == 1:
        _classic_bond_rows(0, last, indptr, cols, normed, col_max, rmax, out_ptr, out_cols, out_vals)
    else:
        bounds[ix(chunks)] = last
        for c in range(chunks):
            bounds[ix(c)] = min(bounds[ix(c)], last)
        _classic_bond_chunks(bounds, indptr, cols, normed, col_max, rmax, out_ptr, out_cols, out_vals)
    return dividends, (out_ptr, out_cols, out_vals)


@njit(cache=True)
def _classic_normalize_rows(lo, hi, indptr, cols, vals, col_sum, rsum, incentive, normed, col_max,
                            dividends):
    columns = len(col_sum)
    for i in range(lo, hi):
        acc = _I64(0)
        for p in range(indptr[ix(i)], indptr[ix(i + 1)]):
            j = cols[ix(p)]
            v = vals[ix(p)]
            if j < columns:
                if col_sum[ix(j)] != 0:
                    v = div_by(v, col_sum[ix(j)], rsum[ix(j)])
                col_max[ix(j)] = max(col_max[ix(j)], v)
            normed[ix(p)] = v
            x = incentive[ix(j)] if j < len(incentive) else _I64(0)
            acc = sat_add(acc, mul(x, v))
        dividends[ix(i)] = acc


@njit(cache=True, parallel=True)
def _classic_normalize_chunks(bounds, indptr, cols, vals, col_sum, rsum, incentive, normed, maxima,
                              dividends):
    for c in prange(len(bounds) - 1):
        _classic_normalize_rows(bounds[ix(c)], bounds[ix(c + 1)], indptr, cols, vals, col_sum, rsum,
                                incentive, normed, maxima[ix(c)], dividends)


@njit(cache=True)
def _classic_bond_rows(lo, hi, indptr, cols, normed, col_max, rmax, out_ptr, out_cols, out_vals):
    columns = len(col_max)
    for i in range(lo, hi):
        k = out_ptr[ix(i)]
        if out_ptr[ix(i + 1)] == k:
            continue
        for p in range(indptr[ix(i)], indptr[ix(i + 1)]):
            j = cols[ix(p)]
            v = normed[ix(p)]
            if j < columns and col_max[ix(j)] != 0:
                v = div_by(v, col_max[ix(j)], rmax[ix(j)])
            out_cols[ix(k)] = j
            out_vals[ix(k)] = to_u16_proportion(v)
            k += 1


@njit(cache=True, parallel=True)
def _classic_bond_chunks(bounds, indptr, cols, normed, col_max, rmax, out_ptr, out_cols, out_vals):
    for c in prange(len(bounds) - 1):
        _classic_bond_rows(bounds[ix(c)], bounds[ix(c + 1)], indptr, cols, normed, col_max, rmax, out_ptr,
                           out_cols, out_vals)


@njit(cache=True)
def row_hadamard_with_col_sums(indptr, cols, vals, vector, columns, ws, chunks):
    """`row_hadamard_sparse(m, vector)` (row i scaled by vector[i], rows beyond the vector
    dropped) and the column sums `inplace_col_normalize_sparse(·, columns)` would divide by,
    taken while scaling, per row chunk, and summed again in storage order if a scaled value is
    negative. The division itself is left to :func:`mat_ema`, the only reader, which divides
    as it reads (one pass less). The columns returned are a view of ``cols``. Workspace slot
    S_DV."""
    n = len(indptr) - 1
    rows = min(n, len(vector))
    end = indptr[ix(rows)]
    out_ptr = np.zeros(rows + 1, dtype=np.int64)
    out_ptr[:] = indptr[: rows + 1] - indptr[0]
    out_cols = cols[indptr[0]:end]
    out_vals = take(ws, S_DV, end - indptr[0])
    bounds = row_chunks(indptr, rows, chunks)
    sums = np.zeros((len(bounds) - 1, columns), dtype=np.int64)
    negatives = np.zeros(len(bounds) - 1, dtype=np.bool_)
    if len(bounds) == 2:
        negatives[0] = _row_hadamard_rows(0, rows, indptr, cols, vals, vector, out_vals, sums[0])
        col_sum = sums[0]
    else:
        _row_hadamard_chunks(bounds, indptr, cols, vals, vector, out_vals, sums, negatives)
        if negatives.any():
            col_sum = np.zeros(columns, dtype=np.int64)
            _col_sum_entries(0, len(out_cols), out_cols, out_vals, col_sum)
        else:
            col_sum = merge_sums(sums)
    return out_ptr, out_cols, out_vals, col_sum


@njit(cache=True)
def _row_hadamard_rows(lo, hi, indptr, cols, vals, vector, out_vals, col_sum):
    columns = len(col_sum)
    negative = False
    for i in range(lo, hi):
        s = vector[ix(i)]
        for p in range(indptr[ix(i)], indptr[ix(i + 1)]):
            v = mul(vals[ix(p)], s)
            out_vals[ix(p - indptr[0])] = v
            negative |= v < 0
            j = cols[ix(p)]
            if j < columns:
                col_sum[ix(j)] = sat_add(col_sum[ix(j)], v)
    return negative


@njit(cache=True, parallel=True)
def _row_hadamard_chunks(bounds, indptr, cols, vals, vector, out_vals, sums, negatives):
    for c in prange(len(bounds) - 1):
        negatives[ix(c)] = _row_hadamard_rows(bounds[ix(c)], bounds[ix(c + 1)], indptr, cols, vals, vector,
                                          out_vals, sums[ix(c)])


@njit(cache=True)
def matmul(indptr, cols, vals, vector, columns):
    """`matmul_sparse`: r_j = Σ_i vector_i · m_ij, saturating, rows in order."""
    out = np.zeros(columns, dtype=np.int64)
    for i in range(len(indptr) - 1):
        s = vector[ix(i)] if i < len(vector) else _I64(0)
        for p in range(indptr[ix(i)], indptr[ix(i + 1)]):
            j = cols[ix(p)]
            if j < columns:
                out[ix(j)] = sat_add(out[ix(j)], mul(s, vals[ix(p)]))
    return out


@njit(cache=True)
def matmul_transpose(indptr, cols, vals, vector):
    """`matmul_transpose_sparse`: r_i = Σ_j vector_j · m_ij, saturating."""
    n = len(indptr) - 1
    out = np.zeros(n, dtype=np.int64)
    for i in range(n):
        acc = _I64(0)
        for p in range(indptr[ix(i)], indptr[ix(i + 1)]):
            j = cols[ix(p)]
            x = vector[ix(j)] if j < len(vector) else _I64(0)
            acc = sat_add(acc, mul(x, vals[ix(p)]))
        out[ix(i)] = acc
    return out


@njit(cache=True)
def mat_vec_mul_row_sum(indptr, cols, vals, vector):
    """`row_sum_sparse(mat_vec_mul_sparse(m, v))`: Σ_j m_ij ·sat v_j (j < len v), wrapping sum.

    mat_vec_mul_sparse drops zero products; they add nothing to the plain sum.
    """
    n = len(indptr) - 1
    out = np.zeros(n, dtype=np.int64)
    for i in range(n):
        acc = _I64(0)
        for p in range(indptr[ix(i)], indptr[ix(i + 1)]):
            j = cols[ix(p)]
            if j < len(vector):
                acc += mul(vals[ix(p)], vector[ix(j)])
        out[ix(i)] = acc
    return out


@njit(cache=True)
def col_clip_trust_ranks(indptr, cols, vals, threshold, stake, columns, ws, chunks):
    """`col_clip_sparse(W, threshold)`, and on the clipped rows in the same pass
    `row_sum_sparse` (validator trust) and `matmul_sparse(·, stake, columns)` (ranks).

    Clipping keeps (j, th) if th < v and th > 0, drops the entry if th < v and th <= 0, and
    keeps (j, v) otherwise (explicit zeros survive). Row chunks with ranks per chunk; if a
    rank term is negative the ranks are summed again in row order. Workspace slots S_CC / S_CV.
    """
    n = len(indptr) - 1
    out_ptr = np.zeros(n + 1, dtype=np.int64)
    out_cols = take(ws, S_CC, len(cols))
    out_vals = take(ws, S_CV, len(cols))
    trust = np.zeros(n, dtype=np.int64)
    bounds = row_chunks(indptr, n, chunks)
    chunks = len(bounds) - 1
    parts = np.zeros((chunks, columns), dtype=np.int64)
    args = (indptr, cols, vals, threshold, stake, out_ptr, out_cols, out_vals, trust)
    if chunks == 1:
        k, negative = _clip_rows(0, n, 0, parts[0], *args)
        return out_ptr, out_cols[:k], out_vals[:k], trust, parts[0]
    base = indptr[bounds[:-1]] - indptr[0]
    ends = np.empty(chunks, dtype=np.int64)
    negatives = np.zeros(chunks, dtype=np.bool_)
    _clip_chunks(bounds, base, ends, negatives, parts, *args)
    k = compact_rows(bounds, base, ends, out_ptr, out_cols, out_vals)
    if not negatives.any():
        return out_ptr, out_cols[:k], out_vals[:k], trust, merge_sums(parts)
    ranks = np.zeros(columns, dtype=np.int64)
    for i in range(n):  # the runtime's order; dropped entries added 0
        s = stake[ix(i)] if i < len(stake) else _I64(0)
        for p in range(out_ptr[ix(i)], out_ptr[ix(i + 1)]):
            j = out_cols[ix(p)]
            if j < columns:
                ranks[ix(j)] = sat_add(ranks[ix(j)], mul(s, out_vals[ix(p)]))
    return out_ptr, out_cols[:k], out_vals[:k], trust, ranks


@njit(cache=True)
def _clip_rows(lo, hi, k, ranks, indptr, cols, vals, threshold, stake, out_ptr, out_cols, out_vals,
               trust):
    columns = len(ranks)
    negative = False
    for i in range(lo, hi):
        s = stake[ix(i)] if i < len(stake) else _I64(0)
        acc = _I64(0)
        for p in range(indptr[ix(i)], indptr[ix(i + 1)]):
            # branch-free (the clip decision is data-dependent): a dropped entry is written
            # past the end of the row and adds 0
            j = cols[ix(p)]
            v = vals[ix(p)]
            th = threshold[ix(j)] if j < len(threshold) else _I64(0)
            keep = not (th < v and th <= 0)
            v = min(v, th) if keep else _I64(0)
            out_cols[ix(k)] = j
            out_vals[ix(k)] = v
            k += 1 if keep else 0
            acc += v
            if j < columns:
                r = mul(s, v)
                negative |= r < 0
                ranks[ix(j)] = sat_add(ranks[ix(j)], r)
        trust[ix(i)] = acc
        out_ptr[ix(i + 1)] = k
    return k, negative


@njit(cache=True, parallel=True)
def _clip_chunks(bounds, base, ends, negatives, parts, *args):
    for c in prange(len(bounds) - 1):
        k, negative = _clip_rows(bounds[ix(c)], bounds[ix(c + 1)], base[ix(c)], parts[ix(c)], *args)
        ends[ix(c)] = k
        negatives[ix(c)] = negative


# -- ascending walk over the touched columns of a row --------------------------------------

@njit(cache=True)
def _set_bit(bits, j):
    bits[ix(j >> 6)] |= np.uint64(1) << np.uint64(j & 63)


@njit(cache=True)
def _drain_bits(bits, touched):
    """The set bits' positions ascending into ``touched`` (bits cleared); returns the count.

    A row's distinct touched columns are marked in a bitmap of ceil(columns / 64) words, so
    listing them in column order costs O(columns / 64 + m) instead of a comparison sort of
    the m columns (or a scan of all columns)."""
    m = 0
    for w in range(len(bits)):
        x = bits[ix(w)]
        if x != np.uint64(0):
            bits[ix(w)] = np.uint64(0)
            base = w << 6
            while x != np.uint64(0):
                touched[ix(m)] = base + np.int64(trailing_zeros(x))
                m += 1
                x &= x - np.uint64(1)
    return m


@njit(cache=True)
def interpolate(p1, c1, v1, p2, c2, v2, columns, ratio, ws, chunks):
    """`interpolate_sparse`: m1 + ratio·(m2 − m1); ratio 0 / 1 give m1 / m2 unchanged.

    The 0 / 1 paths return the input arrays themselves (the runtime copies): callers never
    modify ``weights_for_bonds`` in place. Rows are independent (chunks). Workspace slots
    S_IC / S_IV.
    """
    if ratio == 0:
        return p1, c1, v1
    if ratio == ONE or len(p1) != len(p2):
        return p2, c2, v2
    n = len(p1) - 1
    cap = np.zeros(n + 1, dtype=np.int64)  # per-row output bounds, as offsets
    for i in range(n):
        stored = (p1[ix(i + 1)] - p1[ix(i)]) + (p2[ix(i + 1)] - p2[ix(i)])
        cap[ix(i + 1)] = cap[ix(i)] + min(columns, stored)
    out_ptr = np.zeros(n + 1, dtype=np.int64)
    out_cols = take(ws, S_IC, cap[ix(n)])
    out_vals = take(ws, S_IV, cap[ix(n)])
    bounds = row_chunks(cap, n, chunks)
    args = (p1, c1, v1, p2, c2, v2, columns, ratio, out_ptr, out_cols, out_vals)
    if len(bounds) == 2:
        k = _interpolate_rows(0, n, 0, *args)
    else:
        base = cap[bounds[:-1]]
        ends = np.empty(len(base), dtype=np.int64)
        _interpolate_chunks(bounds, base, ends, *args)
        k = compact_rows(bounds, base, ends, out_ptr, out_cols, out_vals)
    return out_ptr, out_cols[:k], out_vals[:k]


@njit(cache=True)
def _interpolate_rows(lo, hi, k, p1, c1, v1, p2, c2, v2, columns, ratio, out_ptr, out_cols, out_vals):
    d1 = np.zeros(columns, dtype=np.int64)
    d2 = np.zeros(columns, dtype=np.int64)
    stamp = np.full(columns, -1, dtype=np.int64)
    touched = np.empty(columns, dtype=np.int64)
    bits = np.zeros((columns + 63) >> 6, dtype=np.uint64)
    for i in range(lo, hi):
        for p in range(p1[ix(i)], p1[ix(i + 1)]):
            j = c1[ix(p)]
            if j < columns:
                if stamp[ix(j)] != i:
                    stamp[ix(j)] = i
                    d1[ix(j)] = 0
                    d2[ix(j)] = 0
                    _set_bit(bits, j)
                d1[ix(j)] = v1[ix(p)]  # later duplicates overwrite
        for p in range(p2[ix(i)], p2[ix(i + 1)]):
            j = c2[ix(p)]
            if j < columns:
                if stamp[ix(j)] != i:
                    stamp[ix(j)] = i
                    d1[ix(j)] = 0
                    d2[ix(j)] = 0
                    _set_bit(bits, j)
                d2[ix(j)] = v2[ix(p)]
        m = _drain_bits(bits, touched)
        for t in range(m):
            j = touched[ix(t)]
            x = sat_add(d1[ix(j)], mul(ratio, sat_sub(d2[ix(j)], d1[ix(j)])))
            if x > 0:
                out_cols[ix(k)] = j
                out_vals[ix(k)] = x
                k += 1
        out_ptr[ix(i + 1)] = k
    return k


@njit(cache=True, parallel=True)
def _interpolate_chunks(bounds, base, ends, *args):
    for c in prange(len(bounds) - 1):
        ends[ix(c)] = _interpolate_rows(bounds[ix(c)], bounds[ix(c + 1)], base[ix(c)], *args)


@njit(cache=True)
def mat_ema(pn, cn, vn, po, co, vo, alpha, new_sums, old_sums, ws, chunks):
    """`mat_ema_sparse`: alpha·new + (1−alpha)·old, accumulator of width len(new), > 0 kept.

    ``new_sums`` / ``old_sums`` fuse an `inplace_col_normalize_sparse` of either input into
    the read: an entry in column j < len(sums) with sums[j] != 0 is first divided by sums[j],
    as that normalisation would have left it (empty: read as stored). Also returns the
    saturating column sums of the result in storage order (what
    `inplace_col_normalize_sparse` computes next in both Yuma variants); only positive values
    are summed, so per-chunk sums merge exactly. Workspace slots S_EC / S_EV.
    """
    n = len(pn) - 1
    n_old = len(po) - 1
    width = max(n, 0)
    cap = np.zeros(width + 1, dtype=np.int64)  # per-row output bounds, as offsets
    for i in range(n):
        c = pn[ix(i + 1)] - pn[ix(i)]
        if i < n_old:
            c += po[ix(i + 1)] - po[ix(i)]
        cap[ix(i + 1)] = cap[ix(i)] + min(n, c)
    out_ptr = np.zeros(n + 1, dtype=np.int64)
    out_cols = take(ws, S_EC, cap[ix(width)])
    out_vals = take(ws, S_EV, cap[ix(width)])
    bounds = row_chunks(cap, width, chunks)
    chunks = len(bounds) - 1
    sums = np.zeros((chunks, width), dtype=np.int64)
    args = (pn, cn, vn, po, co, vo, alpha, new_sums, recips(new_sums), old_sums, recips(old_sums),
            out_ptr, out_cols, out_vals)
    if chunks == 1:
        k = _mat_ema_rows(0, n, 0, sums[0], *args)
        return out_ptr, out_cols[:k], out_vals[:k], sums[0]
    base = cap[bounds[:-1]]
    ends = np.empty(chunks, dtype=np.int64)
    _mat_ema_chunks(bounds, base, ends, sums, *args)
    k = compact_rows(bounds, base, ends, out_ptr, out_cols, out_vals)
    return out_ptr, out_cols[:k], out_vals[:k], merge_sums(sums)


@njit(cache=True)
def _mat_ema_rows(lo, hi, k, col_sum, pn, cn, vn, po, co, vo, alpha, new_sums, new_recips, old_sums,
                  old_recips, out_ptr, out_cols, out_vals):
    one_minus = sat_sub(ONE, alpha)
    n = len(pn) - 1
    n_old = len(po) - 1
    acc = np.zeros(n, dtype=np.int64)
    stamp = np.full(n, -1, dtype=np.int64)
    bits = np.zeros((n + 63) >> 6, dtype=np.uint64)
    for i in range(lo, hi):
        for p in range(pn[ix(i)], pn[ix(i + 1)]):
            j = cn[ix(p)]
            if j < n:
                if stamp[ix(j)] != i:
                    stamp[ix(j)] = i
                    acc[ix(j)] = 0
                    _set_bit(bits, j)
                v = vn[ix(p)]
                if j < len(new_sums) and new_sums[ix(j)] != 0:
                    v = div_by(v, new_sums[ix(j)], new_recips[ix(j)])
                acc[ix(j)] = sat_add(acc[ix(j)], mul(alpha, v))
        if i < n_old:
            for p in range(po[ix(i)], po[ix(i + 1)]):
                j = co[ix(p)]
                if j < n:
                    if stamp[ix(j)] != i:
                        stamp[ix(j)] = i
                        acc[ix(j)] = 0
                        _set_bit(bits, j)
                    v = vo[ix(p)]
                    if j < len(old_sums) and old_sums[ix(j)] != 0:
                        v = div_by(v, old_sums[ix(j)], old_recips[ix(j)])
                    acc[ix(j)] = sat_add(acc[ix(j)], mul(one_minus, v))
        for w in range(len(bits)):  # the touched columns ascending (see _drain_bits)
            x = bits[ix(w)]
            if x != np.uint64(0):
                bits[ix(w)] = np.uint64(0)
                base = w << 6
                while x != np.uint64(0):
                    j = base + np.int64(trailing_zeros(x))
                    x &= x - np.uint64(1)
                    a = acc[ix(j)]
                    if a > 0:
                        out_cols[ix(k)] = j
                        out_vals[ix(k)] = a
                        col_sum[ix(j)] = sat_add(col_sum[ix(j)], a)
                        k += 1
        out_ptr[ix(i + 1)] = k
    return k


@njit(cache=True, parallel=True)
def _mat_ema_chunks(bounds, base, ends, sums, *args):
    for c in prange(len(bounds) - 1):
        ends[ix(c)] = _mat_ema_rows(bounds[ix(c)], bounds[ix(c + 1)], base[ix(c)], sums[ix(c)], *args)


# -- liquid alpha and the per-entry EMA (Yuma3) ----------------------------------------

SIGMOID_FIXED = 0  # spec >= 283: x = (s / −100) ·sat (d − ½), s an i16
SIGMOID_U16 = 1  # specs 273–282: x = −1 ·sat (s ·sat (d − ½)), s the u16 bits


@njit(cache=True)
def sigmoid_exponent(d, mode, k):
    """The sigmoid's exponent; ``k`` is s / −100 (SIGMOID_FIXED) or I32F32(s as u16)."""
    if mode == SIGMOID_FIXED:
        return mul(k, sat_sub(d, ONE >> 1))
    return mul(-ONE, mul(k, sat_sub(d, ONE >> 1)))


@njit(cache=True)
def sigmoid_exp(x, clamped):
    """`exp_safe` (spec >= 365) or `exp(x).unwrap_or(0)` (before)."""
    if clamped:
        return exp_safe(x)
    ok, e = exp_checked(x)
    return e if ok else _I64(0)


@njit(cache=True)
def alpha_sigmoid(c, w, b, lo, hi, mode, k, clamped, cache):
    """`alpha_sigmoid`; ``cache = [x, exp(x)]`` short-cuts the most common exponent."""
    diff_buy = min(max(sat_sub(w, c), _I64(0)), ONE)
    diff_sell = min(max(sat_sub(b, w), _I64(0)), ONE)
    d = diff_buy if w >= b else diff_sell
    x = sigmoid_exponent(d, mode, k)
    e = cache[1] if x == cache[0] else sigmoid_exp(x, clamped)
    sig = sat_div(ONE, sat_add(ONE, e))
    alpha = sat_add(lo, mul(sig, sat_sub(hi, lo)))
    return max(min(alpha, hi), lo)


@njit(cache=True)
def _merge_walk(indptr, cols, vals, i, width, val_at, stamp, tag):
    """The runtime's peekable column walk over row i for j = 0..width-1 (rows assumed sorted).

    Equivalent sparse form: an entry is taken for its column c iff c is not below the column
    the walk has reached; the walk then moves past c. A column >= width stops the walk.
    Sets ``val_at[c]`` / ``stamp[c] = tag`` for the taken entries.
    """
    reach = 0
    for p in range(indptr[ix(i)], indptr[ix(i + 1)]):
        c = cols[ix(p)]
        if c >= width:
            break
        if c >= reach:
            val_at[ix(c)] = vals[ix(p)]
            stamp[ix(c)] = tag
            reach = c + 1


@njit(cache=True)
def mat_ema_alpha_liquid(pn, cn, vn, po, co, vo, consensus, lo, hi, mode, k, clamped, ws, chunks):
    """`mat_ema_alpha_sparse(new, old, compute_liquid_alpha_values_sparse(new, old, c))`.

    The dense alpha matrix is never built: alpha_ij is only read for entries of `new`, so it
    is computed there, from the merge-walk values of the weights (`new`) and bonds (`old`)
    rows at column j. Rows are independent (chunks). Workspace slots S_EC / S_EV.
    """
    n = len(pn) - 1
    out_ptr = np.zeros(n + 1, dtype=np.int64)
    out_cols = take(ws, S_EC, len(cn))
    out_vals = take(ws, S_EV, len(cn))
    # exp of the most common exponent: d = 0 (no buy/sell difference)
    cache = np.empty(2, dtype=np.int64)
    cache[0] = sigmoid_exponent(_I64(0), mode, k)
    cache[1] = sigmoid_exp(cache[0], clamped)
    bounds = row_chunks(pn, n, chunks)
    args = (pn, cn, vn, po, co, vo, consensus, lo, hi, mode, k, clamped, cache, out_ptr, out_cols,
            out_vals)
    if len(bounds) == 2:
        kk = _ema_liquid_rows(0, n, 0, *args)
    else:
        base = pn[bounds[:-1]] - pn[0]
        ends = np.empty(len(base), dtype=np.int64)
        _ema_liquid_chunks(bounds, base, ends, *args)
        kk = compact_rows(bounds, base, ends, out_ptr, out_cols, out_vals)
    return out_ptr, out_cols[:kk], out_vals[:kk]


@njit(cache=True)
def _ema_liquid_rows(first, last, kk, pn, cn, vn, po, co, vo, consensus, lo, hi, mode, k, clamped,
                     cache, out_ptr, out_cols, out_vals):
    width = len(consensus)
    w_at = np.zeros(width, dtype=np.int64)
    b_at = np.zeros(width, dtype=np.int64)
    w_stamp = np.full(width, -1, dtype=np.int64)
    b_stamp = np.full(width, -1, dtype=np.int64)
    decayed = np.zeros(width, dtype=np.int64)
    d_stamp = np.full(width, -1, dtype=np.int64)
    a_at = np.zeros(width, dtype=np.int64)
    a_stamp = np.full(width, -1, dtype=np.int64)
    for i in range(first, last):
        _merge_walk(pn, cn, vn, i, width, w_at, w_stamp, i)
        _merge_walk(po, co, vo, i, width, b_at, b_stamp, i)
        for p in range(po[ix(i)], po[ix(i + 1)]):
            j = co[ix(p)]
            if j < width:
                if a_stamp[ix(j)] != i:
                    w = w_at[ix(j)] if w_stamp[ix(j)] == i else _I64(0)
                    b = b_at[ix(j)] if b_stamp[ix(j)] == i else _I64(0)
                    a_at[ix(j)] = alpha_sigmoid(consensus[ix(j)], w, b, lo, hi, mode, k, clamped, cache)
                    a_stamp[ix(j)] = i
                decayed[ix(j)] = mul(sat_sub(ONE, a_at[ix(j)]), vo[ix(p)])
                d_stamp[ix(j)] = i
        for p in range(pn[ix(i)], pn[ix(i + 1)]):
            j = cn[ix(p)]
            if j < width:
                if a_stamp[ix(j)] != i:  # alpha_ij depends on (i, j) only: computed once per row
                    w = w_at[ix(j)] if w_stamp[ix(j)] == i else _I64(0)
                    b = b_at[ix(j)] if b_stamp[ix(j)] == i else _I64(0)
                    a_at[ix(j)] = alpha_sigmoid(consensus[ix(j)], w, b, lo, hi, mode, k, clamped, cache)
                    a_stamp[ix(j)] = i
                inc = max(mul(a_at[ix(j)], vn[ix(p)]), _I64(0))
                dec = decayed[ix(j)] if d_stamp[ix(j)] == i else _I64(0)
                val = min(sat_add(dec, inc), ONE)
                if val > 0:
                    out_cols[ix(kk)] = j
                    out_vals[ix(kk)] = val
                    kk += 1
        out_ptr[ix(i + 1)] = kk
    return kk


@njit(cache=True, parallel=True)
def _ema_liquid_chunks(bounds, base, ends, *args):
    for c in prange(len(bounds) - 1):
        ends[ix(c)] = _ema_liquid_rows(bounds[ix(c)], bounds[ix(c + 1)], base[ix(c)], *args)


# -- weighted median -------------------------------------------------------------------

@njit(cache=True)
def weighted_median_exact(stake, score, cur, lower, upper, minority, lo, hi):
    """`weighted_median` step for step on partition 0..len-1 (buffers are scratch)."""
    n = len(score)
    for t in range(n):
        cur[ix(t)] = t
    limit = n
    iterations = 0
    while True:
        if n == 0:
            return _I64(0)
        if n == 1:
            return score[ix(cur[0])]
        pivot = score[ix(cur[ix(n // 2)])]
        lo_stake = _I64(0)
        hi_stake = _I64(0)
        nl = 0
        nu = 0
        for t in range(n):
            idx = cur[ix(t)]
            s = score[ix(idx)]
            if s == pivot:
                continue
            if s < pivot:
                lo_stake = sat_add(lo_stake, stake[ix(idx)])
                lower[ix(nl)] = idx
                nl += 1
            else:
                hi_stake = sat_add(hi_stake, stake[ix(idx)])
                upper[ix(nu)] = idx
                nu += 1
        if minority < sat_add(lo, lo_stake) and nl > 0:
            hi = sat_add(lo, lo_stake)
            cur, lower = lower, cur
            n = nl
        elif sat_sub(hi, hi_stake) <= minority and nu > 0:
            lo = sat_sub(hi, hi_stake)
            cur, upper = upper, cur
            n = nu
        else:
            return pivot
        iterations += 1
        if iterations > limit:
            return _I64(0)


_KEY_BITS = 16  # UIDs are u16
_KEY_MASK = np.int64((1 << _KEY_BITS) - 1)
_VALUE_LIMIT = np.int64(1 << (63 - _KEY_BITS))


@njit(cache=True)
def _quantile_select(src, src_w, minority, below, buf1, buf2, w1, w2):
    """Weighted quantile of the distinct packed keys ``value << 16 | k`` in ``src``
    (stakes alongside in ``src_w``).

    Returns the value of the smallest key K with below + stake(keys <= K) > minority, else
    the largest value. Ordering by (value, k) instead of by value gives the same value: the
    first key crossing the threshold lies in the first value group that crosses it. Exact
    integer sums (the caller guarantees they cannot overflow). Each step splits the
    candidates around the middle one into two scratch buffers without branches (``src`` is
    overwritten) and continues with one side.
    """
    m = len(src)
    lo = below
    while True:
        if m == 1:
            return src[0] >> _KEY_BITS
        pivot = src[ix(m // 2)]
        pivot_w = src_w[ix(m // 2)]
        nl = 0
        nu = 0
        lo_stake = _I64(0)
        for t in range(m):
            x = src[ix(t)]
            w = src_w[ix(t)]
            buf1[ix(nl)] = x
            buf2[ix(nu)] = x
            w1[ix(nl)] = w
            w2[ix(nu)] = w
            is_below = x < pivot
            lo_stake += w if is_below else _I64(0)
            nl += 1 if is_below else 0
            nu += 1 if x > pivot else 0
        below_pivot = lo + lo_stake
        through_pivot = below_pivot + pivot_w
        if minority < below_pivot and nl > 0:
            src, buf1 = buf1, src
            src_w, w1 = w1, src_w
            m = nl
        elif through_pivot <= minority and nu > 0:
            lo = through_pivot
            src, buf2 = buf2, src
            src_w, w2 = w2, src_w
            m = nu
        else:
            return pivot >> _KEY_BITS


@njit(cache=True)
def weighted_median_col(stake, indptr, cols, vals, columns, majority, chunks=1):
    """:func:`weighted_median_col_ws` with a workspace of its own."""
    return weighted_median_col_ws(stake, indptr, cols, vals, columns, majority, new_workspace(), chunks)


@njit(cache=True)
def weighted_median_col_ws(stake, indptr, cols, vals, columns, majority, ws, chunks):
    """`weighted_median_col_sparse`: per-column kappa-quantile over positive-stake rows.

    When the renormalised stakes are non-negative with an exact sum below 2^61 and every
    score is in [0, 2^47) (always, for the epoch's own normalised weights), no saturating
    add can saturate and the runtime's mid-pivot search provably returns the
    order-independent quantile "smallest score v with stake(score <= v) > minority, else the
    largest score" (at a pivot above it the lower side already holds more than minority, at a
    pivot below it the pivot and everything under it hold at most minority). That is computed
    per column from its entries (packed with their row, later duplicates in a row winning)
    plus one bucket, value 0, for the rows without an entry, in expected O(nnz). Otherwise
    the runtime's search is replayed step for step on dense columns. Counting and gathering
    run in row chunks, the selection in column chunks. Scratch in workspace slots S_DC / S_DV.
    """
    n_rows = len(indptr) - 1
    rows = min(len(stake), n_rows)
    kpos = np.full(len(stake), -1, dtype=np.int64)
    K = 0
    for i in range(len(stake)):
        if stake[ix(i)] > 0:
            kpos[ix(i)] = K
            K += 1
    use_stake = np.empty(K, dtype=np.int64)
    for i in range(len(stake)):
        if kpos[ix(i)] >= 0:
            use_stake[ix(kpos[ix(i)])] = stake[ix(i)]
    inplace_normalize(use_stake)
    stake_sum = plain_sum(use_stake)
    minority = sat_sub(stake_sum, majority)
    out = np.zeros(columns, dtype=np.int64)
    if K == 0:
        return out

    safe = True
    total = _I64(0)
    for k in range(K):
        s = use_stake[ix(k)]
        if s < 0 or total + s >= _LIM61:
            safe = False
            break
        total += s

    # pass 1 over the positive-stake rows, per row chunk: entries per column, distinct rows
    # per column and their stake ("present"), and whether every score is in the safe range
    bounds = row_chunks(indptr, rows, chunks)
    nch = len(bounds) - 1
    counts = np.zeros((nch, columns), dtype=np.int64)
    distinct_in = np.zeros((nch, columns), dtype=np.int64)
    present_in = np.zeros((nch, columns), dtype=np.int64)
    safe_in = np.ones(nch, dtype=np.bool_)
    if nch == 1:
        safe_in[0] = _median_count_rows(0, rows, kpos, use_stake, indptr, cols, vals, counts[0],
                                        distinct_in[0], present_in[0])
    else:
        _median_count_chunks(bounds, kpos, use_stake, indptr, cols, vals, counts, distinct_in,
                             present_in, safe_in)
    start = np.zeros(columns + 1, dtype=np.int64)
    distinct = np.zeros(columns, dtype=np.int64)
    present = np.zeros(columns, dtype=np.int64)  # exact when safe (sum of stakes < 2^61)
    for ch in range(nch):
        safe = safe and safe_in[ix(ch)]
        for c in range(columns):
            start[ix(c + 1)] += counts[ch, c]
            distinct[ix(c)] += distinct_in[ch, c]
            present[ix(c)] += present_in[ch, c]
    for c in range(columns):
        start[ix(c + 1)] += start[ix(c)]

    if not safe:
        ck = take(ws, S_DC, start[ix(columns)])
        cv = take(ws, S_DV, start[ix(columns)])
        fill = start[:columns].copy()
        for i in range(rows):
            k = kpos[ix(i)]
            if k >= 0:
                for p in range(indptr[ix(i)], indptr[ix(i + 1)]):
                    c = cols[ix(p)]
                    if c < columns:
                        f = fill[ix(c)]
                        if f > start[ix(c)] and ck[ix(f - 1)] == k:
                            cv[ix(f - 1)] = vals[ix(p)]
                        else:
                            ck[ix(f)] = k
                            cv[ix(f)] = vals[ix(p)]
                            fill[ix(c)] = f + 1
        score = np.zeros(K, dtype=np.int64)
        cur = np.empty(K, dtype=np.int64)
        lower = np.empty(K, dtype=np.int64)
        upper = np.empty(K, dtype=np.int64)
        for c in range(columns):
            score[:] = 0
            for f in range(start[ix(c)], fill[ix(c)]):
                score[ix(ck[ix(f)])] = cv[ix(f)]
            out[ix(c)] = weighted_median_exact(use_stake, score, cur, lower, upper, minority, _I64(0),
                                               stake_sum)
        return out

    # a column is decided without its entries when its quantile is 0: rows without an entry
    # score 0, below every key, and hold more than minority. Only the other ("live") columns
    # are gathered, column by column, as packed keys (row order kept, later duplicates in a
    # row winning) into a compact buffer: one key per distinct row, each row chunk writing
    # after the keys of the chunks before it.
    lstart = np.zeros(columns + 1, dtype=np.int64)
    for c in range(columns):
        m = distinct[ix(c)]
        live = m > 0 and not (m < K and total - present[ix(c)] > minority)
        lstart[ix(c + 1)] = lstart[ix(c)] + (m if live else 0)
    if lstart[ix(columns)] == 0:
        return out
    keys = take(ws, S_DC, lstart[ix(columns)])
    key_w = take(ws, S_DV, lstart[ix(columns)])
    fill = np.empty((nch, columns), dtype=np.int64)
    for c in range(columns):
        f = lstart[ix(c)]
        for ch in range(nch):
            fill[ch, c] = f
            f += distinct_in[ch, c]
    if nch == 1:
        _median_gather_rows(0, rows, kpos, use_stake, indptr, cols, vals, lstart, fill[0], keys, key_w)
    else:
        _median_gather_chunks(bounds, kpos, use_stake, indptr, cols, vals, lstart, fill, keys, key_w)
    col_bounds = row_chunks(lstart, columns, chunks)
    if len(col_bounds) == 2:
        _median_select_columns(0, columns, lstart, keys, key_w, minority, total, present, K, out)
    else:
        _median_select_chunks(col_bounds, lstart, keys, key_w, minority, total, present, K, out)
    return out


@njit(cache=True)
def _median_count_rows(lo, hi, kpos, use_stake, indptr, cols, vals, counts, distinct, present):
    """Pass 1 of :func:`weighted_median_col_ws` on rows lo..hi; False if a score is unsafe."""
    columns = len(counts)
    safe = True
    last_k = np.full(columns, -1, dtype=np.int64)
    for i in range(lo, hi):
        k = kpos[ix(i)]
        if k >= 0:
            w = use_stake[ix(k)]
            for p in range(indptr[ix(i)], indptr[ix(i + 1)]):
                c = cols[ix(p)]
                if c < columns:
                    v = vals[ix(p)]
                    if v < 0 or v >= _VALUE_LIMIT:
                        safe = False
                    counts[ix(c)] += 1
                    if last_k[ix(c)] != k:
                        last_k[ix(c)] = k
                        distinct[ix(c)] += 1
                        present[ix(c)] += w
    return safe


@njit(cache=True, parallel=True)
def _median_count_chunks(bounds, kpos, use_stake, indptr, cols, vals, counts, distinct, present,
                         safe):
    for ch in prange(len(bounds) - 1):
        safe[ix(ch)] = _median_count_rows(bounds[ix(ch)], bounds[ix(ch + 1)], kpos, use_stake, indptr, cols,
                                      vals, counts[ix(ch)], distinct[ix(ch)], present[ix(ch)])


@njit(cache=True)
def _median_gather_rows(lo, hi, kpos, use_stake, indptr, cols, vals, lstart, fill, keys, key_w):
    """The live columns' keys of rows lo..hi, each column's from ``fill[c]`` on."""
    columns = len(fill)
    last_k = np.full(columns, -1, dtype=np.int64)
    for i in range(lo, hi):
        k = kpos[ix(i)]
        if k >= 0:
            w = use_stake[ix(k)]
            for p in range(indptr[ix(i)], indptr[ix(i + 1)]):
                c = cols[ix(p)]
                if c < columns and lstart[ix(c + 1)] != lstart[ix(c)]:
                    key = (vals[ix(p)] << _KEY_BITS) | k
                    f = fill[ix(c)]
                    if last_k[ix(c)] == k:
                        keys[ix(f - 1)] = key  # the same column twice in a row: later wins
                    else:
                        keys[ix(f)] = key
                        key_w[ix(f)] = w
                        fill[ix(c)] = f + 1
                        last_k[ix(c)] = k


@njit(cache=True, parallel=True)
def _median_gather_chunks(bounds, kpos, use_stake, indptr, cols, vals, lstart, fill, keys, key_w):
    for ch in prange(len(bounds) - 1):
        _median_gather_rows(bounds[ix(ch)], bounds[ix(ch + 1)], kpos, use_stake, indptr, cols, vals, lstart,
                            fill[ix(ch)], keys, key_w)


@njit(cache=True)
def _median_select_columns(lo, hi, lstart, keys, key_w, minority, total, present, K, out):
    buf1 = np.empty(K, dtype=np.int64)
    buf2 = np.empty(K, dtype=np.int64)
    w1 = np.empty(K, dtype=np.int64)
    w2 = np.empty(K, dtype=np.int64)
    for c in range(lo, hi):
        a = lstart[ix(c)]
        b = lstart[ix(c + 1)]
        if b == a:
            continue  # quantile 0
        m = b - a
        below = total - present[ix(c)]
        out[ix(c)] = _quantile_select(keys[a:b], key_w[a:b], minority, below if m < K else _I64(0),
                                  buf1, buf2, w1, w2)


@njit(cache=True, parallel=True)
def _median_select_chunks(bounds, lstart, keys, key_w, minority, total, present, K, out):
    for ch in prange(len(bounds) - 1):
        _median_select_columns(bounds[ix(ch)], bounds[ix(ch + 1)], lstart, keys, key_w, minority, total,
                               present, K, out)

"""Vector and sparse-matrix primitives of the epoch (subtensor `epoch/math.rs`), exact.

A sparse matrix is a list of rows; a row is a list of ``(column, raw I32F32)`` pairs in the
order the runtime produced them (unsorted rows and explicit zeros are meaningful). Vectors
are lists of raw I32F32 ints. Each function names the runtime primitive it reproduces and
keeps its quirks (missing-entry defaults, which sums saturate and which wrap).
"""

from __future__ import annotations

from typing import Callable, Sequence

from .fixedpoint import I32F32, I64F64, ONE, ZERO

Row = list[tuple[int, int]]
Matrix = list[Row]

_mul = I32F32.sat_mul
_add = I32F32.sat_add
_sub = I32F32.sat_sub
_div = I32F32.safe_div


def plain_sum(values: Sequence[int]) -> int:
    """`Iterator::sum` on I32F32: plain `+`, which wraps in the wasm build."""
    return I32F32.wrap(sum(values))


# -- vectors ---------------------------------------------------------------------------

def inplace_normalize(x: list[int]) -> None:
    s = plain_sum(x)
    if s == 0:
        return
    for i, v in enumerate(x):
        x[i] = _div(v, s)


def inplace_normalize_using_sum(x: list[int], s: int) -> None:
    if s == 0:
        return
    for i, v in enumerate(x):
        x[i] = _div(v, s)


def inplace_normalize_64(x: list[int]) -> None:
    s = I64F64.wrap(sum(x))
    if s == 0:
        return
    for i, v in enumerate(x):
        x[i] = I64F64.safe_div(v, s)


def inplace_mask_vector(mask: Sequence[bool], vector: list[int]) -> None:
    """Empty mask masks nothing; otherwise entries beyond the mask count as masked."""
    if len(mask) == 0:
        return
    for i in range(len(vector)):
        if i >= len(mask) or mask[i]:
            vector[i] = ZERO


def _drop_all_but_topk(vector: Sequence[int], k: int, result: list[bool]) -> list[bool]:
    """Clear the n − k smallest entries (stable ascending sort: ties favour the higher UID)."""
    n = len(vector)
    if n < k:
        return result
    order = sorted(range(n), key=lambda i: vector[i])  # stable, like Rust's sort_by_key
    for i in order[: n - k]:
        result[i] = False
    return result


def is_topk(vector: Sequence[int], k: int) -> list[bool]:
    return _drop_all_but_topk(vector, k, [True] * len(vector))


def is_topk_nonzero(vector: Sequence[int], k: int) -> list[bool]:
    return _drop_all_but_topk(vector, k, [v != 0 for v in vector])


def vecdiv(x: Sequence[int], y: Sequence[int]) -> list[int]:
    """x / y elementwise, 0 where y is 0."""
    return [_div(a, b) if b != 0 else ZERO for a, b in zip(x, y)]


def vec_mul(a: Sequence[int], b: Sequence[int]) -> list[int]:
    out = []
    for x, y in zip(a, b):
        r = I32F32.checked_mul(x, y)
        out.append(0 if r is None else r)
    return out


def vec_max_upscale_to_u16(vec: Sequence[int]) -> list[int]:
    """Scale so the maximum becomes 65535, rounding half away from zero."""
    if not vec:
        return []
    u16_max = I32F32.from_int(0xFFFF)
    threshold = I32F32.from_int(32768)
    vmax = max(vec)
    out = []
    for v in vec:
        if vmax == 0:
            x = I32F32.sat_mul(v, u16_max)
            out.append(I32F32.to_int(x, 16))
        elif vmax > threshold:
            ratio = _div(u16_max, vmax)
            x = I32F32.sat_mul(v, ratio)
            out.append(min(max(I32F32.round_to_int(x), 0), 0xFFFF))
        else:
            x = _div(I32F32.sat_mul(v, u16_max), vmax)
            out.append(min(max(I32F32.round_to_int(x), 0), 0xFFFF))
    return out


# -- sparse matrices ------------------------------------------------------------------

def inplace_row_normalize_sparse(m: Matrix) -> None:
    for r, row in enumerate(m):
        s = plain_sum([v for _, v in row])
        if s > 0:
            m[r] = [(j, _div(v, s)) for j, v in row]


def row_sum_sparse(m: Matrix) -> list[int]:
    return [plain_sum([v for _, v in row]) for row in m]


def inplace_col_normalize_sparse(m: Matrix, columns: int) -> None:
    col_sum = [ZERO] * columns
    for row in m:
        for j, v in row:
            if j < columns:
                col_sum[j] = _add(col_sum[j], v)
    for r, row in enumerate(m):
        m[r] = [
            (j, _div(v, col_sum[j]) if j < columns and col_sum[j] != 0 else v)
            for j, v in row
        ]


def inplace_col_max_upscale_sparse(m: Matrix, columns: int) -> None:
    col_max = [ZERO] * columns
    for row in m:
        for j, v in row:
            if j < columns and col_max[j] < v:
                col_max[j] = v
    for r, row in enumerate(m):
        m[r] = [
            (j, _div(v, col_max[j]) if j < columns and col_max[j] != 0 else v)
            for j, v in row
        ]


def mask_rows_sparse(mask: Sequence[bool], m: Matrix) -> Matrix:
    """Row i emptied where mask[i] is true or missing (an empty mask empties every row)."""
    return [[] if (i >= len(mask) or mask[i]) else list(row) for i, row in enumerate(m)]


def mask_diag_sparse(m: Matrix) -> Matrix:
    return [[(j, v) for j, v in row if j != i] for i, row in enumerate(m)]


def mask_diag_sparse_except_index(m: Matrix, except_index: int) -> Matrix:
    return [
        [(j, v) for j, v in row if j != i or (i == except_index and j == except_index)]
        for i, row in enumerate(m)
    ]


def vec_mask_sparse_matrix(
    m: Matrix,
    first: Sequence[int],
    second: Sequence[int],
    mask_fn: Callable[[int, int], bool],
) -> Matrix:
    """Drop (i, j) where mask_fn(first[i], second[j]); missing values count as 0."""
    out = []
    for i, row in enumerate(m):
        f = first[i] if i < len(first) else 0
        out.append(
            [(j, v) for j, v in row if not mask_fn(f, second[j] if j < len(second) else 0)]
        )
    return out


def scalar_vec_mask_sparse_matrix(
    m: Matrix, scalar: int, vector: Sequence[int], mask_fn: Callable[[int, int], bool]
) -> Matrix:
    return [
        [(j, v) for j, v in row if not mask_fn(scalar, vector[j] if j < len(vector) else 0)]
        for row in m
    ]


def row_hadamard_sparse(m: Matrix, vector: Sequence[int]) -> Matrix:
    """Row i scaled by vector[i]; rows beyond the vector are dropped (the runtime stops)."""
    return [[(j, _mul(v, s)) for j, v in row] for row, s in zip(m, vector)]


def matmul_sparse(m: Matrix, vector: Sequence[int], columns: int) -> list[int]:
    """r_j = Σ_i vector_i · m_ij, saturating, rows in order."""
    result = [ZERO] * columns
    for i, row in enumerate(m):
        s = vector[i] if i < len(vector) else ZERO
        for j, v in row:
            if j < columns:
                result[j] = _add(result[j], _mul(s, v))
    return result


def matmul_transpose_sparse(m: Matrix, vector: Sequence[int]) -> list[int]:
    """r_i = Σ_j vector_j · m_ij, saturating."""
    result = []
    for row in m:
        acc = ZERO
        for j, v in row:
            acc = _add(acc, _mul(vector[j] if j < len(vector) else ZERO, v))
        result.append(acc)
    return result


def mat_vec_mul_sparse(m: Matrix, vector: Sequence[int]) -> Matrix:
    out = []
    for row in m:
        new_row = []
        for j, v in row:
            if j < len(vector):
                p = _mul(v, vector[j])
                if p != 0:
                    new_row.append((j, p))
        out.append(new_row)
    return out


def col_clip_sparse(m: Matrix, threshold: Sequence[int]) -> Matrix:
    """Clip each entry at its column's threshold; entries clipped to 0 are dropped."""
    out = []
    for row in m:
        new_row = []
        for j, v in row:
            th = threshold[j] if j < len(threshold) else ZERO
            if th < v:
                if th > 0:
                    new_row.append((j, th))
            else:
                new_row.append((j, v))
        out.append(new_row)
    return out


def weighted_median(
    stake: Sequence[int],
    score: Sequence[int],
    partition: Sequence[int],
    minority: int,
    lo: int,
    hi: int,
) -> int:
    """Stake-weighted median by mid-pivot partitioning (the runtime's exact search order)."""
    if len(stake) != len(score):
        return ZERO
    current = list(partition)
    limit = len(partition)
    iterations = 0
    while True:
        n = len(current)
        if n == 0:
            return ZERO
        if n == 1:
            return score[current[0]]
        pivot = score[current[n // 2]]
        lo_stake = hi_stake = ZERO
        lower: list[int] = []
        upper: list[int] = []
        for idx in current:
            s = score[idx]
            if s == pivot:
                continue
            if s < pivot:
                lo_stake = _add(lo_stake, stake[idx])
                lower.append(idx)
            else:
                hi_stake = _add(hi_stake, stake[idx])
                upper.append(idx)
        if minority < _add(lo, lo_stake) and lower:
            current = lower
            hi = _add(lo, lo_stake)
        elif _sub(hi, hi_stake) <= minority and upper:
            current = upper
            lo = _sub(hi, hi_stake)
        else:
            return pivot
        iterations += 1
        if iterations > limit:
            return ZERO


def weighted_median_col_sparse(
    stake: Sequence[int], score: Matrix, columns: int, majority: int
) -> list[int]:
    """Per-column kappa-quantile of the scores of positive-stake rows."""
    use_stake = [s for s in stake if s > 0]
    inplace_normalize(use_stake)
    stake_sum = plain_sum(use_stake)
    minority = _sub(stake_sum, majority)
    k_len = len(use_stake)
    use_score = [[ZERO] * k_len for _ in range(columns)]
    k = 0
    for s, row in zip(stake, score):
        if s > 0:
            for c, v in row:
                if c < columns:
                    use_score[c][k] = v
            k += 1
    partition = list(range(k_len))
    return [
        weighted_median(use_stake, col, partition, minority, ZERO, stake_sum)
        for col in use_score
    ]


def interpolate_sparse(m1: Matrix, m2: Matrix, columns: int, ratio: int) -> Matrix:
    """m1 + ratio·(m2 − m1); ratio exactly 0 or 1 returns a copy of m1 or m2 unchanged."""
    if ratio == 0:
        return [list(r) for r in m1]
    if ratio == ONE:
        return [list(r) for r in m2]
    if len(m1) != len(m2):
        return [list(r) for r in m2]
    out = []
    for r1, r2 in zip(m1, m2):
        d1 = [ZERO] * columns
        for j, v in r1:
            if j < columns:
                d1[j] = v
        d2 = [ZERO] * columns
        for j, v in r2:
            if j < columns:
                d2[j] = v
        row = []
        for j in range(columns):
            x = _add(d1[j], _mul(ratio, _sub(d2[j], d1[j])))
            if x > 0:
                row.append((j, x))
        out.append(row)
    return out


def mat_ema_sparse(new: Matrix, old: Matrix, alpha: int) -> Matrix:
    """alpha·new + (1−alpha)·old per row, dense accumulator of width len(new), > 0 kept."""
    one_minus = _sub(ONE, alpha)
    n = len(new)
    out = []
    for i, new_row in enumerate(new):
        acc = [ZERO] * n
        for j, v in new_row:
            if j < n:
                acc[j] = _add(acc[j], _mul(alpha, v))
        if i < len(old):
            for j, v in old[i]:
                if j < n:
                    acc[j] = _add(acc[j], _mul(one_minus, v))
        out.append([(j, v) for j, v in enumerate(acc) if v > 0])
    return out


def mat_ema_alpha_sparse(new: Matrix, old: Matrix, alphas: list[list[int]]) -> Matrix:
    """Per-entry alpha EMA; old bonds whose column is absent from the new row are dropped."""
    if len(new) != len(old) or len(new) != len(alphas):
        return [list(r) for r in new]
    out = []
    for new_row, old_row, alpha_row in zip(new, old, alphas):
        width = len(alpha_row)
        decayed = [ZERO] * width
        for j, v in old_row:
            if j < width:
                decayed[j] = _mul(_sub(ONE, alpha_row[j]), v)
        row = []
        for j, v in new_row:
            if j < width:
                inc = max(_mul(alpha_row[j], v), ZERO)
                val = min(_add(decayed[j], inc), ONE)
                if val > 0:
                    row.append((j, val))
        out.append(row)
    return out

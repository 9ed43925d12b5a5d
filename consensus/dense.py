"""Dense-matrix primitives of subtensor's `epoch/math.rs`, exact, on raw I32F32 integers.

The production epoch is sparse (`consensus.sparse`); these helpers exist for the test-only
`epoch_dense_mechanism` (`consensus.eras.dense`) and for the math test vectors. A dense matrix
is a list of rows, each a list of raw I32F32 ints; rows may have different lengths, and every
function keeps the runtime's handling of ragged / empty shapes:

* iteration is "zip and stop at the shorter side" wherever the runtime zips iterators;
* a mask entry that is missing counts as "masked" (the runtime's ``unwrap_or(true)``);
* degenerate inputs return what the runtime returns (``[[]]`` for several matrix helpers,
  ``[]`` for vector results).

Arithmetic is the crate's: products floor and saturate, quotients truncate (``safe_div`` →
0 on zero / overflow), plain sums (`Iterator::sum`) wrap. Vector helpers that the sparse path
shares (`inplace_normalize`, `vec_mul`, `weighted_median`, `is_topk`, …) are reused from
`consensus.sparse`, not duplicated.
"""

from __future__ import annotations

from typing import Sequence

from . import sparse as sp
from .eras.mainline import alpha_sigmoid, ema_alpha_constant  # shared with the sparse path
from .fixedpoint import I32F32, ONE, U16_MAX, ZERO, u16_proportion_to_fixed

Dense = list[list[int]]

_mul = I32F32.sat_mul
_add = I32F32.sat_add
_sub = I32F32.sat_sub
_div = I32F32.safe_div


def copy_matrix(m: Sequence[Sequence[int]]) -> Dense:
    return [list(r) for r in m]


# -- vectors ------------------------------------------------------------------------------

def vec_sum(x: Sequence[int]) -> int:
    """`sum(x)`: plain (wrapping) I32F32 sum; 0 for an empty vector."""
    return sp.plain_sum(x)


def is_zero(x: Sequence[int]) -> bool:
    return vec_sum(x) == 0


def normalize(x: Sequence[int]) -> list[int]:
    """`normalize(x)`: a normalised copy (unchanged copy when the sum is 0)."""
    out = list(x)
    sp.inplace_normalize(out)
    return out


def check_vec_max_limited(vec: Sequence[int], max_limit: int) -> bool:
    """Whether the normalised u16 vector's maximum is <= max_limit/65535 (empty → true)."""
    limit = u16_proportion_to_fixed(max_limit)
    fixed = [I32F32.from_int(int(e)) for e in vec]
    sp.inplace_normalize(fixed)
    return not fixed or max(fixed) <= limit


def vec_u16_max_upscale_to_u16(vec: Sequence[int]) -> list[int]:
    """Max-upscale a u16 vector to 65535 (`set_weights` storage form)."""
    return sp.vec_max_upscale_to_u16([I32F32.from_int(int(e)) for e in vec])


# -- row / column reductions and normalisation ---------------------------------------------

def row_sum(x: Sequence[Sequence[int]]) -> list[int]:
    """Plain sum of each row; ``[]`` when the first row is empty."""
    if x and len(x[0]) == 0:
        return []
    return [sp.plain_sum(row) for row in x]


def inplace_row_normalize(x: Dense) -> None:
    """Each row divided by its (plain) sum when that sum is > 0."""
    for r, row in enumerate(x):
        s = sp.plain_sum(row)
        if s > 0:
            x[r] = [_div(v, s) for v in row]


def inplace_col_normalize(x: Dense) -> None:
    """Column sums over ragged rows (saturating; missing entries count 0); divide where non-zero."""
    col_sums: list[int] = []
    for row in x:
        if len(col_sums) < len(row):
            col_sums.extend([ZERO] * (len(row) - len(col_sums)))
        for c, v in enumerate(row):
            if v:
                col_sums[c] = _add(col_sums[c], v)
    if not col_sums:
        return
    for r, row in enumerate(x):
        x[r] = [_div(v, col_sums[c]) if col_sums[c] != 0 else v for c, v in enumerate(row)]


def inplace_col_max_upscale(x: Dense) -> None:
    """Each entry divided by its column maximum (initial 0) when that maximum is non-zero."""
    max_cols = max((len(r) for r in x), default=0)
    if max_cols == 0:
        return
    col_max = [ZERO] * max_cols
    for row in x:
        for c, v in enumerate(row):
            if col_max[c] < v:
                col_max[c] = v
    for r, row in enumerate(x):
        x[r] = [_div(v, col_max[c]) if col_max[c] != 0 else v for c, v in enumerate(row)]


# -- masks -------------------------------------------------------------------------------

def inplace_mask_matrix(mask: Sequence[Sequence[bool]], matrix: Dense) -> None:
    """Zero (r, c) where mask[r][c] is true or missing; no-op for an empty mask / first row."""
    if not mask or len(mask[0]) == 0:
        return
    for r, row in enumerate(matrix):
        mrow = mask[r] if r < len(mask) else ()
        m = len(mrow)
        for c in range(len(row)):
            if c >= m or mrow[c]:
                row[c] = ZERO


def inplace_mask_rows(mask: Sequence[bool], matrix: Dense) -> None:
    """Row r replaced by zeros of the first row's width where mask[r] is true or missing."""
    if not matrix:
        return
    cols = len(matrix[0])
    for r in range(len(matrix)):
        if r >= len(mask) or mask[r]:
            matrix[r] = [ZERO] * cols


def inplace_mask_cols(mask: Sequence[bool], matrix: Dense) -> None:
    """Column c zeroed in every row where mask[c] is true or missing."""
    if not matrix:
        return
    for row in matrix:
        for c in range(len(row)):
            if c >= len(mask) or mask[c]:
                row[c] = ZERO


def inplace_mask_diag(matrix: Dense) -> None:
    """Zero the diagonal; no-op for an empty or non-square (by first row) matrix."""
    if not matrix or len(matrix[0]) == 0 or len(matrix) != len(matrix[0]):
        return
    for i, row in enumerate(matrix):
        if i < len(row):
            row[i] = ZERO


def inplace_mask_diag_except_index(matrix: Dense, except_index: int) -> None:
    """Zero the diagonal but keep (except_index, except_index)."""
    if not matrix or len(matrix[0]) == 0 or len(matrix) != len(matrix[0]):
        return
    keep = None
    if except_index < len(matrix) and except_index < len(matrix[except_index]):
        keep = matrix[except_index][except_index]
    inplace_mask_diag(matrix)
    if keep is not None:
        matrix[except_index][except_index] = keep


# -- products ------------------------------------------------------------------------------

def row_hadamard(matrix: Sequence[Sequence[int]], vector: Sequence[int]) -> Dense:
    """Row i scaled by vector[i]; stops when the vector runs out; ``[[]]`` when degenerate."""
    if not matrix or len(matrix[0]) == 0:
        return [[]]
    return [[_mul(s, v) if v else ZERO for v in row] for row, s in zip(matrix, vector)]


def matmul(matrix: Sequence[Sequence[int]], vector: Sequence[int]) -> list[int]:
    """r_j = Σ_i vector_i · m_ij over the first row's width (saturating; missing scale 0)."""
    if not matrix:
        return []
    cols = len(matrix[0])
    if cols == 0:
        return []
    acc = [ZERO] * cols
    for i, row in enumerate(matrix):
        s = vector[i] if i < len(vector) else ZERO
        if s == 0:
            # saturating_add(acc, 0·m) = acc: exact shortcut
            continue
        for j, v in enumerate(row[:cols]):
            if v:
                acc[j] = _add(acc[j], _mul(s, v))
    return acc


def matmul_transpose(matrix: Sequence[Sequence[int]], vector: Sequence[int]) -> list[int]:
    """r_i = Σ_j m_ij · vector_j, zipping each row with the vector (saturating)."""
    if not matrix or len(matrix[0]) == 0:
        return []
    out = []
    for row in matrix:
        acc = ZERO
        for m, v in zip(row, vector):
            if m and v:
                acc = _add(acc, _mul(m, v))
        out.append(acc)
    return out


def mat_vec_mul(matrix: Sequence[Sequence[int]], vector: Sequence[int]) -> Dense:
    """Row-wise `vec_mul(row, vector)` (checked, 0 on overflow); ``[[]]`` when degenerate."""
    if not matrix or len(matrix[0]) == 0:
        return [[]]
    return [sp.vec_mul(row, vector) for row in matrix]


def inplace_col_clip(x: Dense, col_threshold: Sequence[int]) -> None:
    """value := min(threshold_c, value), zipping each row with the thresholds."""
    for row in x:
        for c in range(min(len(row), len(col_threshold))):
            th = col_threshold[c]
            if th < row[c]:
                row[c] = th


# -- consensus --------------------------------------------------------------------------

def weighted_median_col(
    stake: Sequence[int], score: Sequence[Sequence[int]], majority: int
) -> list[int]:
    """Per column (width of the first row) the stake-weighted kappa-quantile of the scores.

    Every positive-stake row takes part; a missing row or a row of the wrong width takes part
    with stake 0 and score 0 (as the runtime pushes zeros for it).
    """
    columns = len(score[0]) if score else 0
    median = [ZERO] * columns
    # The participating rows and their stakes do not depend on the column: build them once.
    use_stake: list[int] = []
    rows: list[Sequence[int] | None] = []
    for r, st in enumerate(stake):
        if st > 0:
            row = score[r] if r < len(score) else None
            if row is not None and len(row) == columns:
                use_stake.append(st)
                rows.append(row)
            else:
                use_stake.append(ZERO)
                rows.append(None)
    if not use_stake:
        return median
    sp.inplace_normalize(use_stake)
    stake_sum = sp.plain_sum(use_stake)
    minority = _sub(stake_sum, majority)
    partition = list(range(len(use_stake)))
    for c in range(columns):
        col = [row[c] if row is not None else ZERO for row in rows]
        median[c] = sp.weighted_median(use_stake, col, partition, minority, ZERO, stake_sum)
    return median


# -- interpolation and EMAs -----------------------------------------------------------------

def interpolate(mat1: Sequence[Sequence[int]], mat2: Sequence[Sequence[int]], ratio: int) -> Dense:
    """mat1 + ratio·(mat2 − mat1) elementwise, zeros kept; ratio 0 / 1 copy mat1 / mat2."""
    if ratio == 0:
        return copy_matrix(mat1)
    if ratio == ONE:
        return copy_matrix(mat2)
    if not mat1 or len(mat1[0]) == 0:
        return [[]]
    cols = len(mat1[0])
    result = [[ZERO] * cols for _ in mat1]
    for r, (row1, row2) in enumerate(zip(mat1, mat2)):
        out = result[r]
        for c, (v1, v2) in enumerate(zip(row1, row2)):
            if c >= cols:
                break
            out[c] = _add(v1, _mul(ratio, _sub(v2, v1)))
    return result


def mat_ema(new: Sequence[Sequence[int]], old: Sequence[Sequence[int]], alpha: int) -> Dense:
    """alpha·new + (1 − alpha)·old elementwise (rows and entries zipped), nothing dropped."""
    if not new or len(new[0]) == 0:
        return [[]]
    one_minus = _sub(ONE, alpha)
    out = []
    for new_row, old_row in zip(new, old):
        row = []
        for a, b in zip(new_row, old_row):
            x = _mul(alpha, a) if a else ZERO
            y = _mul(one_minus, b) if b else ZERO
            row.append(_add(x, y))
        out.append(row)
    return out


def mat_ema_alpha(
    new: Sequence[Sequence[int]], old: Sequence[Sequence[int]], alpha: Sequence[Sequence[int]]
) -> Dense:
    """Per-entry alpha EMA, clamped at 1: every old bond decays, also where the new value is 0.

    Degenerate ``new`` → ``[[]]``; row-count mismatch → a copy of ``old``; a row-length
    mismatch → a copy of ``new``.
    """
    if not new or len(new[0]) == 0:
        return [[]]
    if len(new) != len(old) or len(new) != len(alpha):
        return copy_matrix(old)
    for n_row, o_row, a_row in zip(new, old, alpha):
        if len(n_row) != len(o_row) or len(n_row) != len(a_row):
            return copy_matrix(new)
    out = []
    for n_row, o_row, a_row in zip(new, old, alpha):
        row = []
        for n, o, a in zip(n_row, o_row, a_row):
            decayed = _mul(_sub(ONE, a), o)
            inc = max(_mul(a, n), ZERO)
            row.append(min(_add(decayed, inc), ONE))
        out.append(row)
    return out


# -- bonds (Yuma3, dense) ----------------------------------------------------------------

def compute_liquid_alpha_values(
    weights: Sequence[Sequence[int]],
    bonds: Sequence[Sequence[int]],
    consensus: Sequence[int],
    alpha_low: int,
    alpha_high: int,
    steepness: int,
) -> Dense:
    """Dense liquid alpha: `alpha_sigmoid` for every (i, j) of zip(w_row, b_row, consensus).

    ``alpha_low`` / ``alpha_high`` / ``steepness`` are I32F32 raws. Rows of different count
    → ``[]`` (the runtime logs and returns an empty matrix).
    """
    if len(weights) != len(bonds):
        return []
    return [
        [alpha_sigmoid(c, w, b, alpha_low, alpha_high, steepness) for w, b, c in zip(w_row, b_row, consensus)]
        for w_row, b_row in zip(weights, bonds)
    ]


def compute_bonds(
    weights: Sequence[Sequence[int]],
    bonds: Sequence[Sequence[int]],
    consensus: Sequence[int],
    *,
    liquid_alpha: bool,
    alpha_low_u16: int,
    alpha_high_u16: int,
    alpha_sigmoid_steepness: int,
    bonds_moving_average: int,
    liquid_consensus: Sequence[int] | None = None,
) -> Dense:
    """`compute_bonds` (dense): liquid-alpha `mat_ema_alpha` when enabled and some consensus
    entry is non-zero, else `mat_ema` with the constant alpha 1 − BondsMovingAverage/10^6.
    ``liquid_consensus`` (spec >= 446) is what the sigmoid reads instead of ``consensus``."""
    if liquid_alpha and consensus and any(c != 0 for c in consensus):
        alphas = compute_liquid_alpha_values(
            weights,
            bonds,
            consensus if liquid_consensus is None else liquid_consensus,
            u16_proportion_to_fixed(alpha_low_u16),
            u16_proportion_to_fixed(alpha_high_u16),
            I32F32.from_int(alpha_sigmoid_steepness),
        )
        return mat_ema_alpha(weights, bonds, alphas)
    return mat_ema(weights, bonds, ema_alpha_constant(bonds_moving_average))


__all__ = [
    "Dense",
    "U16_MAX",
    "check_vec_max_limited",
    "compute_bonds",
    "compute_liquid_alpha_values",
    "copy_matrix",
    "inplace_col_clip",
    "inplace_col_max_upscale",
    "inplace_col_normalize",
    "inplace_mask_cols",
    "inplace_mask_diag",
    "inplace_mask_diag_except_index",
    "inplace_mask_matrix",
    "inplace_mask_rows",
    "inplace_row_normalize",
    "interpolate",
    "is_zero",
    "mat_ema",
    "mat_ema_alpha",
    "mat_vec_mul",
    "matmul",
    "matmul_transpose",
    "normalize",
    "row_hadamard",
    "row_sum",
    "vec_sum",
    "vec_u16_max_upscale_to_u16",
    "weighted_median_col",
]

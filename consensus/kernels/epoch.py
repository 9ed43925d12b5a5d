"""Both epoch variants on the numba kernels, equal to the reference field for field.

Python does the O(n) bookkeeping that needs wider integers than 64 bits (stake in I64F64,
yuma-spec §2.4) and the scalar hyperparameter conversions (reusing the reference's own
helpers); everything of size n² or nnz runs in one ``@njit`` core per era, which calls the
CSR kernels of :mod:`.sparse` in the order of :mod:`consensus.eras.mainline` /
:mod:`consensus.eras.spec103`.
"""

from __future__ import annotations

import threading

import numpy as np
from numba import njit

from typing import NamedTuple

from ..eras.mainline import (
    activity_cutoff_blocks,
    bonds_mask_block,
    ema_alpha_constant,
    previous_consensus,
    tao_weight_i64f64,
    uses_previous_consensus,
)
from ..eras.table import EpochRules
from ..eras.spec103 import check_runtime_accepts
from ..errors import EpochInputError
from ..fixedpoint import I32F32, I64F64, U16_MAX, U64_MAX, u16_proportion_to_fixed
from ..model import EpochInputs, EpochOutputs, SparseRows
from . import sparse as sk
from .chunks import chunks_for
from .fixed import to_u16_proportion, udiv_shift32
from .indexing import ix

_I64_MAX = (1 << 63) - 1
_I64F64_MAX = I64F64.max_raw


# -- O(n) stake arithmetic in Python ints ------------------------------------------------

def _normalize_64_to_32(values: list[int]) -> list[int]:
    """`inplace_normalize_64` then `fixed64_to_fixed32`, on non-negative I64F64 raws."""
    total = sum(values)
    s = I64F64.wrap(total)
    if s == 0:
        return [min(x >> 32, _I64_MAX) for x in values]
    if s == total:
        # 0 <= x <= s: the I64F64 quotient floor(x·2^64/s) <= 2^64 fits, and flooring it to 32
        # fraction bits is floor(x·2^32/s), which is <= 2^32
        return [(x << 32) // s for x in values]
    out = []
    for x in values:  # the sum wrapped: the reference's operations one by one
        q = I64F64.safe_div(x, s)
        out.append(I32F32.from_fixed(q, I64F64))
    return out


@njit(cache=True)
def _alpha_stake_proportions(alpha, threshold, owner, owner_exempt):
    """(ok, stake) of :func:`_stake_mainline` when TaoWeight is 0 (and of
    :func:`_stake_spec103`, which has no TaoWeight or threshold), in uint64 arithmetic.

    ok is False (use the Python ints) unless every stake and their sum are below 2^63: then
    no I64F64 value saturates or wraps, the threshold compares the alpha itself, and the
    I64F64 quotient floored to I32F32 is floor(alpha·2^32 / sum), which ``udiv_shift32``
    computes exactly."""
    n = len(alpha)
    limit = np.uint64(1 << 63)
    kept = np.empty(n, dtype=np.uint64)
    total = np.uint64(0)
    for i in range(n):
        a = alpha[ix(i)]
        if a >= limit:
            return False, np.zeros(0, dtype=np.int64)
        if threshold != np.uint64(0) and not (owner_exempt and i == owner) and a < threshold:
            a = np.uint64(0)
        kept[ix(i)] = a
        total += a
        if total >= limit:
            return False, np.zeros(0, dtype=np.int64)
    out = np.zeros(n, dtype=np.int64)
    if total != np.uint64(0):
        for i in range(n):
            out[ix(i)] = np.int64(udiv_shift32(kept[ix(i)], total)[1])
    return True, out


def _stake_mainline(inputs: EpochInputs, owner: int, owner_exempt: bool) -> list[int] | np.ndarray:
    """`total_stake` + `normalized_stake` of the mainline era (§3.2)."""
    hp = inputs.hyperparameters
    n = inputs.n
    w = tao_weight_i64f64(hp.tao_weight)
    if w == 0:
        m = min(len(inputs.stake_alpha[:n]), len(inputs.stake_tao[:n]))
        ok, stake = _alpha_stake_proportions(
            _u64(inputs.stake_alpha[:m]), np.uint64(min(hp.stake_threshold, U64_MAX)), owner, owner_exempt
        )
        if ok:
            return stake
    alpha = [min(a << 64, _I64F64_MAX) for a in inputs.stake_alpha[:n].tolist()]
    tao = inputs.stake_tao[:n].tolist()
    if w == 0:
        total = alpha[: len(tao)]
    else:
        total = [
            min(a + min((min(t << 64, _I64F64_MAX) * w) >> 64, _I64F64_MAX), _I64F64_MAX)
            for a, t in zip(alpha, tao)
        ]
    threshold = hp.stake_threshold
    if threshold:
        total = [
            0 if (not (owner_exempt and uid == owner) and min(s >> 64, U64_MAX) < threshold) else s
            for uid, s in enumerate(total)
        ]
    return _normalize_64_to_32(total)


def _stake_spec103(inputs: EpochInputs) -> list[int] | np.ndarray:
    """`normalized_stake` of spec 103: the alpha-only case of the mainline's (§3.2)."""
    ok, stake = _alpha_stake_proportions(_u64(inputs.stake_alpha), np.uint64(0), -1, False)
    if ok:
        return stake
    return _normalize_64_to_32([min(s << 64, _I64F64_MAX) for s in inputs.stake_alpha.tolist()])


# -- small conversions ---------------------------------------------------------------------

def _i64(a) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.int64)


def _u64(a) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.uint64)


def _bool(a) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.bool_)


def _inactive(last_update: np.ndarray, cutoff: int, current_block: int) -> np.ndarray:
    """last_update_i +sat cutoff < current_block, on u64."""
    return _inactive_u64(_u64(last_update), np.uint64(min(cutoff, U64_MAX)),
                         np.uint64(min(current_block, U64_MAX)))


@njit(cache=True)
def _inactive_u64(last_update, cutoff, current_block):
    out = np.empty(len(last_update), dtype=np.bool_)
    room = np.uint64(U64_MAX) - cutoff
    for i in range(len(last_update)):
        lu = last_update[ix(i)]
        summed = np.uint64(U64_MAX) if lu > room else lu + cutoff
        out[ix(i)] = summed < current_block
    return out


# -- the numba cores -----------------------------------------------------------------------

@njit(cache=True)
def _bond_rows(n, permits_new, ptr, cols, vals):
    """Rows written for every UID: the EMA row as u16 proportions under a new permit, else []."""
    out_ptr = np.zeros(n + 1, dtype=np.int64)
    total = 0
    for i in range(n):
        if i < len(permits_new) and permits_new[ix(i)] and i < len(ptr) - 1:
            total += ptr[ix(i + 1)] - ptr[ix(i)]
    out_cols = np.empty(total, dtype=np.int64)
    out_vals = np.empty(total, dtype=np.int64)
    k = 0
    for i in range(n):
        if i < len(permits_new) and permits_new[ix(i)] and i < len(ptr) - 1:
            for p in range(ptr[ix(i)], ptr[ix(i + 1)]):
                out_cols[ix(k)] = cols[ix(p)]
                out_vals[ix(k)] = to_u16_proportion(vals[ix(p)])
                k += 1
        out_ptr[ix(i + 1)] = k
    return out_ptr, out_cols, out_vals


@njit(cache=True)
def _written_bond_rows(n, permits_new, permits, ptr, cols, vals, s_ptr, s_cols, s_raw, s_present):
    """Rows of an era that does not write every UID (spec 103, mainline before 320).

    New permit -> the computed row (``ptr/cols/vals``, already u16); old permit only -> [];
    otherwise the stored row is left as it was (or stays absent).
    """
    out_ptr = np.zeros(n + 1, dtype=np.int64)
    present = np.zeros(n, dtype=np.bool_)
    s_rows = len(s_ptr) - 1
    total = len(cols)
    for i in range(min(n, s_rows)):
        total += s_ptr[ix(i + 1)] - s_ptr[ix(i)]
    out_cols = np.empty(total, dtype=np.int64)
    out_vals = np.empty(total, dtype=np.int64)
    k = 0
    for i in range(n):
        if i < len(permits_new) and permits_new[ix(i)]:
            present[ix(i)] = True
            for p in range(ptr[ix(i)], ptr[ix(i + 1)]):
                out_cols[ix(k)] = cols[ix(p)]
                out_vals[ix(k)] = vals[ix(p)]
                k += 1
        elif i < len(permits) and permits[ix(i)]:
            present[ix(i)] = True
        elif i < s_rows and s_present[ix(i)]:
            present[ix(i)] = True
            for p in range(s_ptr[ix(i)], s_ptr[ix(i + 1)]):
                out_cols[ix(k)] = s_cols[ix(p)]
                out_vals[ix(k)] = s_raw[ix(p)]
                k += 1
        out_ptr[ix(i + 1)] = k
    return out_ptr, out_cols[:k], out_vals[:k], present


@njit(cache=True)
def _emission_split(incentive, dividends, stake, active_stake):
    m = min(len(incentive), len(dividends))
    combined = np.empty(m, dtype=np.int64)
    for i in range(m):
        combined[ix(i)] = sk.sat_add(incentive[ix(i)], dividends[ix(i)])
    emission_sum = sk.plain_sum(combined)
    server = incentive.copy()
    validator = dividends.copy()
    normalized = combined.copy()
    sk.inplace_normalize_using_sum(server, emission_sum)
    sk.inplace_normalize_using_sum(validator, emission_sum)
    sk.inplace_normalize(normalized)
    if emission_sum == 0:
        if sk.plain_sum(active_stake) == 0:
            validator = stake.copy()
        else:
            validator = active_stake.copy()
        normalized = validator.copy()
    return server, validator, normalized


class CoreParams(NamedTuple):
    """The scalars of one mainline epoch: the era's rules and the hyperparameters, already
    converted to the runtime's fixed-point raws. One typed record instead of positional copies."""

    rules: EpochRules
    owner: int  # -1: no owner UID
    use_commit: bool  # CR column mask in force and commit blocks given
    kappa: int  # I32F32
    penalty: int  # I32F32 bonds penalty
    yuma3: bool
    liquid: bool
    alpha_lo: int  # I32F32
    alpha_hi: int  # I32F32
    sigmoid_mode: int  # sk.SIGMOID_FIXED / SIGMOID_U16
    k_steep: int  # I32F32
    ema_alpha: int  # I32F32
    bonds_mask_on: bool
    last_tempo: np.uint64
    max_validators: int
    use_previous_consensus: bool  # spec >= 446: the sigmoid reads `previous_consensus`
    rao: np.uint64


@njit(cache=True)
def _mainline_core(
    n, w_ptr, w_cols, w_raw, b_ptr, b_cols, b_raw, b_present, stake, inactive, permits,
    last_update, bar, commit_blocks, previous_consensus, p, ws, chunks,
):
    rules = p.rules
    owner, owner_exempt = p.owner, rules.owner_exempt
    # 3.3 permits (owner forced when exempt)
    permits = permits.copy()
    if owner_exempt and 0 <= owner < len(permits):
        permits[ix(owner)] = True
    forbids = ~permits
    permits_new = sk.is_topk(stake, p.max_validators, True)
    if owner_exempt and 0 <= owner < len(permits_new):
        permits_new[ix(owner)] = True

    # 3.4 active stake
    active_stake = stake.copy()
    sk.inplace_mask_vector(inactive, active_stake)
    sk.inplace_mask_vector(forbids, active_stake)
    sk.inplace_normalize(active_stake)

    # 3.5 weights
    wp, wc, wv = sk.masked_weights(n, w_ptr, w_cols, w_raw, sk.VALUE_INT, True, permits, owner,
                                   last_update, bar, commit_blocks, p.use_commit, ws, chunks)
    rank_trust = rules.writes_rank_trust_pruning
    if rank_trust:
        preranks = sk.matmul(wp, wc, wv, active_stake, n)
    else:
        preranks = np.zeros(0, dtype=np.int64)

    # 3.6 consensus, validator trust, incentive
    consensus = sk.weighted_median_col_ws(active_stake, wp, wc, wv, n, p.kappa, ws, chunks)
    cp, cc, cv, validator_trust, ranks = sk.col_clip_trust_ranks(wp, wc, wv, consensus, active_stake, n,
                                                                 ws, chunks)
    if rank_trust:
        trust = sk.vecdiv(ranks, preranks)
    else:
        trust = np.zeros(0, dtype=np.int64)
    sk.inplace_normalize(ranks)
    incentive = ranks

    # 3.7 weights for bonds
    fp, fc, fv = sk.interpolate(wp, wc, wv, cp, cc, cv, n, p.penalty, ws, chunks)

    # 3.8 bonds and dividends
    if p.yuma3:
        bp, bc, bv = sk.masked_bonds(n, b_ptr, b_cols, b_raw, sk.VALUE_PROPORTION, False,
                                     last_update, p.bonds_mask_on, p.last_tempo, bar, ws, chunks)
        any_consensus = False
        for c in consensus:
            if c != 0:
                any_consensus = True
        if p.liquid and any_consensus:
            # whether liquid alpha runs looks at the current consensus; what it reads is by mode
            liquid_consensus = previous_consensus if p.use_previous_consensus else consensus
            ep, ec, ev = sk.mat_ema_alpha_liquid(fp, fc, fv, bp, bc, bv, liquid_consensus, p.alpha_lo,
                                                 p.alpha_hi, p.sigmoid_mode, p.k_steep,
                                                 rules.clamped_sigmoid_exp, ws, chunks)
            norm = sk.take(ws, sk.S_NV, len(ev))
            norm[:] = ev
            sk.inplace_col_normalize(ep, ec, norm, n, chunks)
        else:
            unscaled = np.zeros(0, dtype=np.int64)
            ep, ec, ev, ema_sum = sk.mat_ema(fp, fc, fv, bp, bc, bv, p.ema_alpha, unscaled, unscaled, ws,
                                             chunks)
            norm = sk.take(ws, sk.S_NV, len(ev))
            norm[:] = ev
            sk.inplace_col_divide(ec, norm, ema_sum, chunks)
        per_validator = sk.mat_vec_mul_row_sum(ep, ec, norm, incentive)
        dividends = sk.vec_mul(per_validator, active_stake)
        sk.inplace_normalize(dividends)
        bonds = _bond_rows(n, permits_new, ep, ec, ev)
    else:
        bp, bc, bv = sk.masked_bonds(n, b_ptr, b_cols, b_raw, sk.VALUE_INT, False,
                                     last_update, p.bonds_mask_on, p.last_tempo, bar, ws, chunks)
        # both inputs of the EMA column-normalised: the divisions happen inside mat_ema
        bond_sums = sk.col_sums(bc, bv, n, chunks)
        dp, dc, dv, delta_sums = sk.row_hadamard_with_col_sums(fp, fc, fv, active_stake, n, ws, chunks)
        ep, ec, ev, ema_sum = sk.mat_ema(dp, dc, dv, bp, bc, bv, p.ema_alpha, delta_sums, bond_sums, ws,
                                         chunks)
        dividends, bonds = sk.classic_dividends_and_bonds(ep, ec, ev, ema_sum, incentive, permits_new, n,
                                                          ws, chunks)
        sk.inplace_normalize(dividends)

    # 3.9 emission
    server, validator, combined = _emission_split(incentive, dividends, stake, active_stake)

    # 3.10 outputs
    bp, bc, bv = bonds
    if rules.writes_all_bond_rows:
        bonds_out = (bp, bc, bv, np.ones(n, dtype=np.bool_))
    else:
        bonds_out = _written_bond_rows(n, permits_new, permits, bp, bc, bv, b_ptr, b_cols, b_raw, b_present)
    if rank_trust:
        pruning = sk.vec_max_upscale_to_u16(combined[:n]).astype(np.uint16)
    else:
        pruning = np.zeros(0, dtype=np.uint16)
    return (
        ~inactive,
        permits_new[:n].copy(),
        sk.to_u16s(consensus, n),
        sk.to_u16s(incentive, n),
        sk.to_u16s(dividends, n),
        sk.to_u16s(validator_trust, n),
        sk.to_rao(combined, p.rao, n),
        bonds_out,
        sk.to_u16s(stake, n),
        sk.to_rao(server, p.rao, n),
        sk.to_rao(validator, p.rao, n),
        sk.to_u16s(trust, n),
        pruning,
    )


@njit(cache=True)
def _spec103_core(
    n, w_ptr, w_cols, w_raw, b_ptr, b_cols, b_raw, b_present, stake, inactive, permits,
    last_update, bar, kappa, ema_alpha, max_validators, rao, ws, chunks,
):
    active_stake = stake.copy()
    sk.inplace_mask_vector(inactive, active_stake)
    sk.inplace_normalize(active_stake)

    permits_new = sk.is_topk(stake, max_validators, False)

    wp, wc, wv = sk.masked_weights(n, w_ptr, w_cols, w_raw, sk.VALUE_PROPORTION, False, permits,
                                   -1, last_update, bar, last_update[:0], False, ws, chunks)

    preranks = sk.matmul(wp, wc, wv, active_stake, n)
    consensus = sk.weighted_median_col_ws(active_stake, wp, wc, wv, n, kappa, ws, chunks)
    cp, cc, cv, validator_trust, ranks = sk.col_clip_trust_ranks(wp, wc, wv, consensus, active_stake, n,
                                                                 ws, chunks)
    trust = sk.vecdiv(ranks, preranks)
    sk.inplace_normalize(ranks)
    incentive = ranks

    bp, bc, bv = sk.masked_bonds(n, b_ptr, b_cols, b_raw, sk.VALUE_PROPORTION, True,
                                 last_update, False, np.uint64(0), bar, ws, chunks)
    bond_sums = sk.col_sums(bc, bv, n, chunks)  # normalised inside mat_ema, as in the mainline
    dp, dc, dv, delta_sums = sk.row_hadamard_with_col_sums(cp, cc, cv, active_stake, n, ws, chunks)
    ep, ec, ev, ema_sum = sk.mat_ema(dp, dc, dv, bp, bc, bv, ema_alpha, delta_sums, bond_sums, ws, chunks)
    sk.inplace_col_divide(ec, ev, ema_sum, chunks)
    dividends = sk.matmul_transpose(ep, ec, ev, incentive)
    sk.inplace_normalize(dividends)

    server, validator, combined = _emission_split(incentive, dividends, stake, active_stake)
    return (
        ~inactive,
        permits_new,
        sk.to_u16s(consensus, n),
        sk.to_u16s(incentive, n),
        sk.to_u16s(dividends, n),
        sk.to_u16s(validator_trust, n),
        sk.to_rao(combined, rao, n),
        sk.to_u16s(trust, n),
        sk.to_u16s(combined, n),
        _written_bond_rows(n, permits_new, permits, *_bond_rows(n, permits_new, ep, ec, ev),
                           b_ptr, b_cols, b_raw, b_present),
    )


# -- entry points ----------------------------------------------------------------------

_local = threading.local()


def _workspace():
    """This thread's kernel workspace (:func:`.sparse.new_workspace`), kept between calls.

    Its buffers grow to the largest epoch the thread has run and are not released; one per
    thread because the cores write into it.
    """
    ws = getattr(_local, "ws", None)
    if ws is None:
        ws = _local.ws = sk.new_workspace()
    return ws


@njit(cache=True)
def _well_formed(indptr, cols, values):
    """Row pointers non-decreasing from >= 0 up to <= len(cols) == len(values); columns >= 0."""
    if len(indptr) == 0 or len(cols) != len(values) or indptr[0] < 0:
        return False
    for i in range(1, len(indptr)):
        if indptr[i] < indptr[i - 1]:
            return False
    if indptr[len(indptr) - 1] > len(cols):
        return False
    smallest = _I64_MAX
    for p in range(len(cols)):
        smallest = min(smallest, cols[p])
    return smallest >= 0


def _rows_arrays(rows: SparseRows, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The CSR arrays as int64, checked: the kernels index without bounds or sign checks
    (:mod:`.indexing`), so row pointers outside the pair arrays or a negative column would
    read or write outside them instead of failing."""
    indptr, cols, values = _i64(rows.indptr), _i64(rows.cols), _i64(rows.values)
    if not _well_formed(indptr, cols, values):
        raise EpochInputError(
            f"{name} are not well-formed sparse rows (row pointers must be non-decreasing within "
            f"the {len(cols)} stored pairs, columns non-negative)"
        )
    return indptr, cols, values


def _chunks(inputs: EpochInputs, chunks: int | None) -> int:
    if chunks is not None:
        return max(1, chunks)
    return chunks_for(max(len(inputs.weights.cols), len(inputs.bonds.cols)))


def _core_params(inputs: EpochInputs, rules: EpochRules, owner: int, use_commit: bool) -> CoreParams:
    hp = inputs.hyperparameters
    last_tempo = bonds_mask_block(inputs, rules)
    if rules.sigmoid_steepness_fix:
        sigmoid_mode = sk.SIGMOID_FIXED
        k_steep = I32F32.sat_div(I32F32.from_int(hp.alpha_sigmoid_steepness), I32F32.from_int(-100))
    else:  # specs 273-282 stored the steepness as a u16
        sigmoid_mode = sk.SIGMOID_U16
        k_steep = I32F32.from_int(hp.alpha_sigmoid_steepness & 0xFFFF)
    return CoreParams(
        rules=EpochRules(*(bool(x) for x in rules)),
        owner=owner,
        use_commit=use_commit,
        kappa=I32F32.safe_div(I32F32.from_int(hp.kappa), I32F32.from_int(U16_MAX)),
        penalty=I32F32.safe_div(I32F32.from_int(hp.bonds_penalty), I32F32.from_int(U16_MAX)),
        yuma3=bool(hp.yuma3),
        liquid=bool(hp.liquid_alpha),
        alpha_lo=u16_proportion_to_fixed(hp.alpha_low),
        alpha_hi=u16_proportion_to_fixed(hp.alpha_high),
        sigmoid_mode=sigmoid_mode,
        k_steep=k_steep,
        ema_alpha=ema_alpha_constant(hp.bonds_moving_average),
        bonds_mask_on=last_tempo <= U64_MAX,
        last_tempo=np.uint64(min(last_tempo, U64_MAX)),
        max_validators=hp.max_allowed_validators,
        use_previous_consensus=False,
        rao=np.uint64(inputs.rao_emission),
    )


def _previous_consensus(inputs: EpochInputs, rules: EpochRules) -> np.ndarray | None:
    """The stored consensus as I32F32 raws of length n when the mode selects it (and the
    runtime would read it: liquid alpha on, Yuma3), None to keep the current one."""
    hp = inputs.hyperparameters
    if not (hp.yuma3 and hp.liquid_alpha and uses_previous_consensus(hp, rules)):
        return None
    prev = previous_consensus(inputs, inputs.n)
    return None if prev is None else np.asarray(prev, dtype=np.int64)


def epoch_mainline(inputs: EpochInputs, rules: EpochRules, chunks: int | None = None) -> EpochOutputs:
    hp = inputs.hyperparameters
    n = inputs.n
    owner = hp.owner_uid if hp.owner_uid is not None and hp.owner_uid < n else -1

    last_update = np.zeros(max(n, len(inputs.last_update)), dtype=np.uint64)  # missing UIDs: 0
    last_update[: len(inputs.last_update)] = inputs.last_update
    inactive = _inactive(last_update, activity_cutoff_blocks(inputs, rules), inputs.current_block)
    bar = np.zeros(n, dtype=np.uint64)
    m = min(n, len(inputs.block_at_registration))
    bar[:m] = inputs.block_at_registration[:m]

    stake = _i64(_stake_mainline(inputs, owner, rules.owner_exempt))
    use_commit = bool(rules.commit_reveal_mask and hp.commit_reveal_enabled and inputs.commit_blocks is not None)
    commit = _u64(inputs.commit_blocks) if use_commit else np.zeros(0, dtype=np.uint64)
    params = _core_params(inputs, rules, owner, use_commit)
    prev = _previous_consensus(inputs, rules)
    if prev is not None:
        params = params._replace(use_previous_consensus=True)
    else:
        prev = np.zeros(0, dtype=np.int64)
    out = _mainline_core(
        n, *_rows_arrays(inputs.weights, "weights"), *_rows_arrays(inputs.bonds, "bonds"),
        _bool(inputs.bonds.present),
        stake, inactive, _bool(inputs.validator_permit), last_update, bar, commit, prev, params,
        _workspace(), _chunks(inputs, chunks),
    )
    (active, permits_new, consensus, incentive, dividends, vtrust, emission, bonds, stake_weight,
     server, validator, trust, pruning) = out
    rt = rules.writes_rank_trust_pruning
    return EpochOutputs(
        active=active,
        validator_permit=permits_new,
        consensus=consensus,
        incentive=incentive,
        dividends=dividends,
        validator_trust=vtrust,
        emission=emission,
        bonds=SparseRows(*bonds),
        stake_weight=stake_weight if rules.writes_stake_weight else None,
        server_emission=server,
        validator_emission=validator,
        rank=incentive if rt else None,
        trust=trust if rt else None,
        pruning_scores=pruning if rt else None,
    )


def epoch_spec103(inputs: EpochInputs, chunks: int | None = None) -> EpochOutputs:
    check_runtime_accepts(inputs)
    hp = inputs.hyperparameters
    n = inputs.n
    cutoff = hp.activity_cutoff if hp.activity_cutoff is not None else 5000
    permits = _bool(inputs.validator_permit)
    last_update = _u64(inputs.last_update)
    out = _spec103_core(
        n, *_rows_arrays(inputs.weights, "weights"), *_rows_arrays(inputs.bonds, "bonds"),
        _bool(inputs.bonds.present),
        _i64(_stake_spec103(inputs)),
        _inactive(last_update, cutoff, inputs.current_block), permits,
        last_update, _u64(inputs.block_at_registration),
        I32F32.safe_div(I32F32.from_int(hp.kappa), I32F32.from_int(U16_MAX)),
        ema_alpha_constant(hp.bonds_moving_average), hp.max_allowed_validators,
        np.uint64(inputs.rao_emission), _workspace(), _chunks(inputs, chunks),
    )
    (active, permits_new, consensus, incentive, dividends, vtrust, emission, trust, pruning,
     bonds) = out
    return EpochOutputs(
        active=active,
        validator_permit=permits_new,
        consensus=consensus,
        incentive=incentive,
        dividends=dividends,
        validator_trust=vtrust,
        emission=emission,
        bonds=SparseRows(*bonds),
        rank=incentive,
        trust=trust,
        pruning_scores=pruning,
    )


def run_epoch(
    inputs: EpochInputs,
    variant_name: str,
    spec_version: int,
    chunks: int | None = None,
    *,
    rules: EpochRules | None = None,
) -> EpochOutputs:
    """The epoch of ``variant_name`` ("spec103" / "mainline") at ``spec_version``.

    ``rules`` overrides the era table's rules for ``spec_version`` (the registry passes the
    newest era's rules when an era is assumed). ``chunks`` splits the large kernels' rows
    into that many parallel chunks (default: :func:`.chunks.chunks_for`); any value gives
    the same integers."""
    if variant_name == "spec103":
        return epoch_spec103(inputs, chunks)
    if variant_name == "mainline":
        return epoch_mainline(inputs, rules if rules is not None else EpochRules.for_spec(spec_version), chunks)
    raise ValueError(f"unknown epoch variant {variant_name!r}")

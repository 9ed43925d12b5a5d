"""The dTAO-era production epoch (`epoch_mechanism`, sparse), exact, as of the reference
commit 14bc6f9f (spec 425), with switches for the earlier dTAO-era rules that yuma-spec §10
documents. Read side by side with `yuma-spec.md` §3: each stage is one small function.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import sparse as sp
from ..fixedpoint import (
    I32F32,
    I64F64,
    I96F32,
    ONE,
    HALF,
    U16_MAX,
    U96F32,
    U64_MAX,
    exp,
    exp_safe,
    fixed64_to_fixed32,
    fixed64_to_u64,
    fixed_proportion_to_u16,
    fixed_to_fixed_u16_proportion,
    u16_proportion_to_fixed,
)
from ..errors import EpochInputError
from ..model import EpochInputs, EpochOutputs, SparseRows
from .table import EpochRules

Matrix = sp.Matrix


#: The rules record of the era table, under the name the reference has always used.
MainlineRules = EpochRules
_NEWEST = MainlineRules()


# -- 3.1 activity -------------------------------------------------------------------------

def activity_cutoff_blocks(inputs: EpochInputs, rules: MainlineRules) -> int:
    hp = inputs.hyperparameters
    if not rules.dynamic_tempo:
        return int(hp.activity_cutoff if hp.activity_cutoff is not None else 5000)
    product = min(hp.activity_cutoff_factor_milli * hp.tempo, U64_MAX)
    return max(1, product // 1000)


def last_update_padded(inputs: EpochInputs) -> list[int]:
    lu = [int(x) for x in inputs.last_update]
    return lu + [0] * max(0, inputs.n - len(lu))


def inactive_mask(last_update: list[int], cutoff: int, current_block: int) -> list[bool]:
    return [min(u + cutoff, U64_MAX) < current_block for u in last_update]


# -- 3.2 stake ------------------------------------------------------------------------------

def tao_weight_i64f64(tao_weight: int) -> int:
    w = U96F32.safe_div(U96F32.from_int(tao_weight), U96F32.from_int(U64_MAX))
    return I64F64.from_fixed(w, U96F32)


def total_stake(inputs: EpochInputs) -> list[int]:
    """alpha + tao · TaoWeight per UID, I64F64."""
    w = tao_weight_i64f64(inputs.hyperparameters.tao_weight)
    return [
        I64F64.sat_add(I64F64.from_int(int(a)), I64F64.sat_mul(I64F64.from_int(int(t)), w))
        for a, t in zip(inputs.stake_alpha[: inputs.n], inputs.stake_tao[: inputs.n])
    ]


def normalized_stake(
    stake64: list[int], threshold: int, owner_uid: int | None, owner_exempt: bool
) -> list[int]:
    """Threshold-filter, normalise in I64F64, floor to I32F32 (what StakeWeight stores)."""
    filtered = [
        0 if (not (owner_exempt and uid == owner_uid) and fixed64_to_u64(s) < threshold) else s
        for uid, s in enumerate(stake64)
    ]
    sp.inplace_normalize_64(filtered)
    return [fixed64_to_fixed32(s) for s in filtered]


# -- 3.3 / 3.4 permits and active stake -------------------------------------------------

def old_permits(inputs: EpochInputs, owner_uid: int | None, owner_exempt: bool) -> list[bool]:
    permits = [bool(p) for p in inputs.validator_permit]
    if owner_exempt and owner_uid is not None and owner_uid < len(permits):
        permits[owner_uid] = True
    return permits


def new_permits(
    stake: list[int], max_validators: int, owner_uid: int | None, owner_exempt: bool
) -> list[bool]:
    permits = sp.is_topk_nonzero(stake, max_validators)
    if owner_exempt and owner_uid is not None and owner_uid < len(permits):
        permits[owner_uid] = True
    return permits


def active_stake_of(stake: list[int], inactive: list[bool], forbids: list[bool]) -> list[int]:
    active = list(stake)
    sp.inplace_mask_vector(inactive, active)
    sp.inplace_mask_vector(forbids, active)
    sp.inplace_normalize(active)
    return active


# -- 3.5 weights ------------------------------------------------------------------------------

def stored_rows(rows: SparseRows, n: int, filter_cols: bool) -> list[list[tuple[int, int]]]:
    """Rows for uid < n as (col, raw u16) in storage order; columns >= n dropped if asked."""
    out: list[list[tuple[int, int]]] = [[] for _ in range(n)]
    for i in range(min(n, rows.n_rows)):
        a, b = int(rows.indptr[i]), int(rows.indptr[i + 1])
        for c, v in zip(rows.cols[a:b].tolist(), rows.values[a:b].tolist()):
            if not filter_cols or c < n:
                out[i].append((c, v))
    return out


def masked_weights(
    inputs: EpochInputs,
    forbids: list[bool],
    owner_uid: int | None,
    last_update: list[int],
    block_at_registration: list[int],
    rules: MainlineRules,
) -> Matrix:
    n = inputs.n
    weights = [[(j, I32F32.from_int(w)) for j, w in row] for row in stored_rows(inputs.weights, n, True)]
    weights = sp.mask_rows_sparse(forbids, weights)
    if owner_uid is not None:
        weights = sp.mask_diag_sparse_except_index(weights, owner_uid)
    else:
        weights = sp.mask_diag_sparse(weights)
    weights = sp.vec_mask_sparse_matrix(
        weights, last_update, block_at_registration, lambda updated, registered: updated <= registered
    )
    hp = inputs.hyperparameters
    if rules.commit_reveal_mask and hp.commit_reveal_enabled and inputs.commit_blocks is not None:
        commit_blocks = [int(c) for c in inputs.commit_blocks]
        weights = sp.vec_mask_sparse_matrix(
            weights, commit_blocks, block_at_registration, lambda cb, reg: cb < reg
        )
    sp.inplace_row_normalize_sparse(weights)
    return weights


# -- 3.8 bonds ------------------------------------------------------------------------------

def bonds_mask_block(inputs: EpochInputs, rules: MainlineRules) -> int:
    hp = inputs.hyperparameters
    if rules.dynamic_tempo and hp.last_mechanism_step_block != 0:
        return hp.last_mechanism_step_block + 1
    return max(inputs.current_block - hp.tempo, 0)


def ema_alpha_constant(bonds_moving_average: int) -> int:
    bma = I64F64.safe_div(I64F64.from_int(bonds_moving_average), I64F64.from_int(1_000_000))
    return I32F32.sat_sub(ONE, I32F32.from_fixed(bma, I64F64))


def unclamped_exp(x: int) -> int:
    """Before spec 365 the sigmoid called `exp(x).unwrap_or(0)`: no clamp, 0 on overflow."""
    e = exp(x)
    return 0 if e is None else e


def alpha_sigmoid(
    c: int, w: int, b: int, lo: int, hi: int, steepness: int, rules: MainlineRules = _NEWEST
) -> int:
    diff_buy = min(max(I32F32.sat_sub(w, c), 0), ONE)
    diff_sell = min(max(I32F32.sat_sub(b, w), 0), ONE)
    d = diff_buy if w >= b else diff_sell
    if rules.sigmoid_steepness_fix:
        k = I32F32.sat_div(steepness, I32F32.from_int(-100))
        x = I32F32.sat_mul(k, I32F32.sat_sub(d, HALF))
    else:  # specs 273–282: −(s · (d − ½)) with s the u16 steepness
        x = I32F32.sat_mul(-ONE, I32F32.sat_mul(steepness, I32F32.sat_sub(d, HALF)))
    e = exp_safe(x) if rules.clamped_sigmoid_exp else unclamped_exp(x)
    sig = I32F32.sat_div(ONE, I32F32.sat_add(ONE, e))
    alpha = I32F32.sat_add(lo, I32F32.sat_mul(sig, I32F32.sat_sub(hi, lo)))
    return max(min(alpha, hi), lo)


def _merge_walk_value(row: list[tuple[int, int]], pos: int, j: int) -> tuple[int, int]:
    """The runtime's peekable walk: skip entries with column < j, take j if next; assumes sorted."""
    while pos < len(row) and row[pos][0] < j:
        pos += 1
    value = row[pos][1] if pos < len(row) and row[pos][0] == j else 0
    return value, pos


def liquid_alphas(
    weights: Matrix, bonds: Matrix, consensus: list[int], hp: Any, rules: MainlineRules = _NEWEST
) -> list[list[int]]:
    if len(weights) != len(bonds):
        return []
    lo = u16_proportion_to_fixed(hp.alpha_low)
    hi = u16_proportion_to_fixed(hp.alpha_high)
    # Before 283 the steepness was stored as a u16: reinterpret the i16 bits as such.
    raw_steepness = hp.alpha_sigmoid_steepness if rules.sigmoid_steepness_fix else hp.alpha_sigmoid_steepness & 0xFFFF
    steep = I32F32.from_int(raw_steepness)
    alphas = []
    for w_row, b_row in zip(weights, bonds):
        wp = bp = 0
        row = []
        for j, c in enumerate(consensus):
            w, wp = _merge_walk_value(w_row, wp, j)
            b, bp = _merge_walk_value(b_row, bp, j)
            row.append(alpha_sigmoid(c, w, b, lo, hi, steep, rules))
        alphas.append(row)
    return alphas


def uses_previous_consensus(hp: Any, rules: MainlineRules) -> bool:
    """Spec >= 446: whether LiquidAlphaConsensusMode selects the stored previous consensus
    (`compute_consensus_for_liquid_alpha`, RaoFoundation/subtensor run_epoch.rs@76671f67)."""
    if not rules.liquid_alpha_consensus_modes:
        return False
    mode = hp.liquid_alpha_consensus_mode
    if mode == "current":
        return False
    if mode == "previous":
        return True
    if mode == "auto":
        return hp.bonds_penalty == U16_MAX  # the raw u16, not the I32F32 penalty
    raise EpochInputError(f"liquid_alpha_consensus_mode {mode!r} is not one of current, previous, auto")


def previous_consensus(inputs: EpochInputs, n: int) -> list[int] | None:
    """The stored Consensus (u16 parts) as I32F32 `v / 65535`, zero-padded or truncated to n;
    None when nothing is stored (the runtime then keeps the current consensus)."""
    stored = inputs.consensus_prev
    if stored is None:
        raise EpochInputError(
            "this epoch reads the previously stored Consensus (liquid-alpha consensus mode "
            "previous/auto), but the inputs carry no consensus_prev"
        )
    if len(stored) == 0:
        return None
    denom = I32F32.from_int(U16_MAX)
    prev = [I32F32.safe_div(I32F32.from_int(int(v)), denom) for v in stored[:n]]
    return prev + [0] * (n - len(prev))


def consensus_for_liquid_alpha(inputs: EpochInputs, consensus: list[int], rules: MainlineRules) -> list[int]:
    """The consensus vector the liquid-alpha sigmoid reads (spec >= 446: by consensus mode)."""
    if not uses_previous_consensus(inputs.hyperparameters, rules):
        return consensus
    prev = previous_consensus(inputs, len(consensus))
    return consensus if prev is None else prev


def previous_bonds(
    inputs: EpochInputs, block_at_registration: list[int], rules: MainlineRules, scale: Any
) -> Matrix:
    """Stored bonds (columns not filtered by n) as I32F32, ``scale``d, with the columns of
    neurons registered since the last epoch removed (`last_tempo <= registered_j`)."""
    bonds = [[(j, scale(I32F32.from_int(b))) for j, b in row] for row in stored_rows(inputs.bonds, inputs.n, False)]
    last_tempo = bonds_mask_block(inputs, rules)
    return sp.scalar_vec_mask_sparse_matrix(bonds, last_tempo, block_at_registration, lambda lt, reg: lt <= reg)


def yuma3_bonds(
    inputs: EpochInputs,
    weights_for_bonds: Matrix,
    consensus: list[int],
    incentive: list[int],
    active_stake: list[int],
    block_at_registration: list[int],
    rules: MainlineRules,
    trace: dict | None = None,
) -> tuple[Matrix, list[int]]:
    n = inputs.n
    hp = inputs.hyperparameters
    bonds = previous_bonds(inputs, block_at_registration, rules, fixed_to_fixed_u16_proportion)
    if hp.liquid_alpha and consensus and any(c != 0 for c in consensus):
        # whether liquid alpha runs looks at the current consensus; what it reads is by mode
        liquid_consensus = consensus_for_liquid_alpha(inputs, consensus, rules)
        if trace is not None:
            trace["liquid_consensus"] = list(liquid_consensus)
            trace["liquid_consensus_source"] = "current" if liquid_consensus is consensus else "previous"
        alphas = liquid_alphas(weights_for_bonds, bonds, liquid_consensus, hp, rules)
        ema_bonds = sp.mat_ema_alpha_sparse(weights_for_bonds, bonds, alphas)
    else:
        ema_bonds = sp.mat_ema_sparse(weights_for_bonds, bonds, ema_alpha_constant(hp.bonds_moving_average))
    ema_norm = [list(r) for r in ema_bonds]
    sp.inplace_col_normalize_sparse(ema_norm, n)
    per_validator = sp.row_sum_sparse(sp.mat_vec_mul_sparse(ema_norm, incentive))
    dividends = sp.vec_mul(per_validator, active_stake)
    if trace is not None:
        trace.update(bonds_for_dividends=ema_norm, dividends_unnormalized=list(dividends))
    sp.inplace_normalize(dividends)
    return ema_bonds, dividends


def classic_bonds(
    inputs: EpochInputs,
    weights_for_bonds: Matrix,
    incentive: list[int],
    active_stake: list[int],
    block_at_registration: list[int],
    rules: MainlineRules,
    trace: dict | None = None,
) -> tuple[Matrix, list[int]]:
    n = inputs.n
    bonds = previous_bonds(inputs, block_at_registration, rules, lambda v: v)
    sp.inplace_col_normalize_sparse(bonds, n)
    bonds_delta = sp.row_hadamard_sparse(weights_for_bonds, active_stake)
    sp.inplace_col_normalize_sparse(bonds_delta, n)
    alpha = ema_alpha_constant(inputs.hyperparameters.bonds_moving_average)
    ema_bonds = sp.mat_ema_sparse(bonds_delta, bonds, alpha)
    sp.inplace_col_normalize_sparse(ema_bonds, n)
    dividends = sp.matmul_transpose_sparse(ema_bonds, incentive)
    if trace is not None:
        trace.update(bonds_for_dividends=[list(r) for r in ema_bonds], dividends_unnormalized=list(dividends),
                     bonds_delta=bonds_delta)
    sp.inplace_normalize(dividends)
    sp.inplace_col_max_upscale_sparse(ema_bonds, n)
    return ema_bonds, dividends


# -- 3.9 emission -----------------------------------------------------------------------

def to_rao(proportions: list[int], rao_emission: int) -> list[int]:
    rao = I96F32.from_int(rao_emission)
    return [I96F32.to_int(I96F32.sat_mul(I96F32.from_fixed(x, I32F32), rao), 64) for x in proportions]


def emission_split(
    incentive: list[int], dividends: list[int], stake: list[int], active_stake: list[int]
) -> tuple[list[int], list[int], list[int]]:
    combined = [I32F32.sat_add(i, d) for i, d in zip(incentive, dividends)]
    emission_sum = sp.plain_sum(combined)
    server = list(incentive)
    validator = list(dividends)
    normalized_combined = list(combined)
    sp.inplace_normalize_using_sum(server, emission_sum)
    sp.inplace_normalize_using_sum(validator, emission_sum)
    sp.inplace_normalize(normalized_combined)
    if emission_sum == 0:
        fallback = list(stake) if sp.plain_sum(active_stake) == 0 else list(active_stake)
        validator = list(fallback)
        normalized_combined = list(fallback)
    return server, validator, normalized_combined


# -- the epoch ------------------------------------------------------------------------------

def epoch_mainline(
    inputs: EpochInputs, rules: MainlineRules | None = None, trace: dict | None = None
) -> EpochOutputs:
    """One mechanism's epoch (`epoch_mechanism`) plus what the persist functions write."""
    rules = rules or MainlineRules()
    hp = inputs.hyperparameters
    n = inputs.n
    current_block = inputs.current_block
    owner_uid = hp.owner_uid if hp.owner_uid is not None and hp.owner_uid < n else None

    if hp.yuma3 and hp.liquid_alpha and uses_previous_consensus(hp, rules):
        previous_consensus(inputs, n)  # refuse up front when the stored consensus is missing

    # 3.1 activity
    last_update = last_update_padded(inputs)
    inactive = inactive_mask(last_update, activity_cutoff_blocks(inputs, rules), current_block)
    active = [not x for x in inactive]
    block_at_registration = [int(x) for x in inputs.block_at_registration[:n]]
    block_at_registration += [0] * (n - len(block_at_registration))

    # 3.2 stake
    stake64 = total_stake(inputs)
    stake = normalized_stake(stake64, hp.stake_threshold, owner_uid, rules.owner_exempt)

    # 3.3 permits
    permits = old_permits(inputs, owner_uid, rules.owner_exempt)
    forbids = [not p for p in permits]
    permits_new = new_permits(stake, hp.max_allowed_validators, owner_uid, rules.owner_exempt)

    # 3.4 active stake
    active_stake = active_stake_of(stake, inactive, forbids)

    # 3.5 weights
    weights = masked_weights(inputs, forbids, owner_uid, last_update, block_at_registration, rules)
    preranks = sp.matmul_sparse(weights, active_stake, n) if rules.writes_rank_trust_pruning else None

    # 3.6 consensus, validator trust, incentive
    kappa = I32F32.safe_div(I32F32.from_int(hp.kappa), I32F32.from_int(U16_MAX))
    consensus = sp.weighted_median_col_sparse(active_stake, weights, n, kappa)
    clipped = sp.col_clip_sparse(weights, consensus)
    validator_trust = sp.row_sum_sparse(clipped)
    ranks = sp.matmul_sparse(clipped, active_stake, n)
    if trace is not None:
        trace["ranks_unnormalized"] = list(ranks)
    trust = sp.vecdiv(ranks, preranks) if preranks is not None else None
    sp.inplace_normalize(ranks)
    incentive = ranks

    # 3.7 weights for bonds
    penalty = I32F32.safe_div(I32F32.from_int(hp.bonds_penalty), I32F32.from_int(U16_MAX))
    weights_for_bonds = sp.interpolate_sparse(weights, clipped, n, penalty)

    # 3.8 bonds and dividends
    if hp.yuma3:
        ema_bonds, dividends = yuma3_bonds(
            inputs, weights_for_bonds, consensus, incentive, active_stake, block_at_registration, rules, trace
        )
    else:
        ema_bonds, dividends = classic_bonds(
            inputs, weights_for_bonds, incentive, active_stake, block_at_registration, rules, trace
        )

    # 3.9 emission
    server, validator, combined = emission_split(incentive, dividends, stake, active_stake)
    rao = inputs.rao_emission

    if trace is not None:
        trace.update(
            stake=stake, active_stake=active_stake, weights=weights, consensus=consensus,
            clipped_weights=clipped, validator_trust=validator_trust, incentive=incentive,
            weights_for_bonds=weights_for_bonds, ema_bonds=ema_bonds, dividends=dividends,
            normalized_server_emission=server, normalized_validator_emission=validator,
            normalized_combined_emission=combined, new_validator_permits=permits_new,
            old_validator_permits=permits, inactive=inactive,
        )

    # 3.10 per-UID outputs and the bond rows written for every UID
    bond_rows: list[list[tuple[int, int]] | None] = []
    for uid in range(n):
        if uid < len(permits_new) and permits_new[uid]:
            bond_rows.append([(j, fixed_proportion_to_u16(v)) for j, v in ema_bonds[uid]])
        elif rules.writes_all_bond_rows or (uid < len(permits) and permits[uid]):
            bond_rows.append([])
        else:  # before 320: rows of UIDs with neither permit are left as stored
            bond_rows.append(inputs.bonds.row(uid) if uid < inputs.bonds.n_rows and inputs.bonds.present[uid] else None)

    return per_uid_outputs(
        n, rao, rules, active=active, permits_new=permits_new, stake=stake, consensus=consensus,
        incentive=incentive, dividends=dividends, validator_trust=validator_trust, combined=combined,
        server=server, validator=validator, bond_rows=bond_rows, trust=trust,
    )


def per_uid_outputs(
    n: int,
    rao: int,
    rules: MainlineRules,
    *,
    active: list[bool],
    permits_new: list[bool],
    stake: list[int],
    consensus: list[int],
    incentive: list[int],
    dividends: list[int],
    validator_trust: list[int],
    combined: list[int],
    server: list[int],
    validator: list[int],
    bond_rows: list[list[tuple[int, int]] | None],
    trust: list[int] | None = None,
) -> EpochOutputs:
    """§3.10: proportions to stored u16 (truncating), shares to rao, in the era's fields."""

    def u16s(values: list[int]) -> np.ndarray:
        return np.asarray([fixed_proportion_to_u16(v) for v in values[:n]], dtype=np.uint16)

    def raos(values: list[int]) -> np.ndarray:
        return np.asarray(to_rao(values[:n], rao), dtype=np.uint64)

    return EpochOutputs(
        active=np.asarray(active, dtype=bool),
        validator_permit=np.asarray(permits_new[:n], dtype=bool),
        consensus=u16s(consensus),
        incentive=u16s(incentive),
        dividends=u16s(dividends),
        validator_trust=u16s(validator_trust),
        emission=raos(combined),
        bonds=SparseRows.from_rows(bond_rows),
        stake_weight=u16s(stake) if rules.writes_stake_weight else None,
        server_emission=raos(server),
        validator_emission=raos(validator),
        rank=u16s(incentive) if rules.writes_rank_trust_pruning else None,
        trust=u16s(trust) if trust is not None else None,
        pruning_scores=(
            np.asarray(sp.vec_max_upscale_to_u16(combined[:n]), dtype=np.uint16)
            if rules.writes_rank_trust_pruning
            else None
        ),
    )

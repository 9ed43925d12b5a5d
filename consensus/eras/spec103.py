"""The spec-103 epoch (subtensor 6541a9f41, March 2023: `epoch()`, the sparse one), exact.

Single-token era: stake is `TotalHotkeyStake`, weights and bonds are read as u16 proportions,
active stake is not masked by validator permit, permits are plain top-k, and the epoch stores
Rank, Trust and PruningScores. Where the runtime used plain (non-saturating) fixed-point
operators, no overflow is reachable for inputs the runtime accepts, so the saturating
primitives give the same bits. Inputs on which that runtime would panic (vectors shorter
than n, destinations >= n) are rejected with :class:`EpochInputError` instead.
"""

from __future__ import annotations

import numpy as np

from .. import sparse as sp
from ..errors import EpochInputError
from ..fixedpoint import (
    I32F32,
    I64F64,
    U16_MAX,
    fixed64_to_fixed32,
    fixed_proportion_to_u16,
    u16_proportion_to_fixed,
)
from ..model import EpochInputs, EpochOutputs, SparseRows
from .mainline import emission_split, ema_alpha_constant, to_rao

Matrix = sp.Matrix


def check_runtime_accepts(inputs: EpochInputs) -> None:
    """The 2023 runtime indexes these vectors without bounds checks; it panics otherwise."""
    n = inputs.n
    for name, vec in (
        ("LastUpdate", inputs.last_update),
        ("ValidatorPermit", inputs.validator_permit),
        ("BlockAtRegistration", inputs.block_at_registration),
        ("TotalHotkeyStake", inputs.stake_alpha),
    ):
        if len(vec) != n:
            raise EpochInputError(
                f"{name} has {len(vec)} entries for n={n}: the spec-103 runtime panics on this state"
            )
    for name, rows in (("Weights", inputs.weights), ("Bonds", inputs.bonds)):
        if rows.n_rows != n:
            raise EpochInputError(f"{name} has {rows.n_rows} rows for n={n}")
        if len(rows.cols) and int(rows.cols.max()) >= n:
            raise EpochInputError(
                f"{name} has a destination uid >= n={n}: the spec-103 runtime panics on this state"
            )


def proportion_rows(rows: SparseRows) -> Matrix:
    """Stored u16 rows read as proportions of 65535 (`u16_proportion_to_fixed`)."""
    return [[(j, u16_proportion_to_fixed(v)) for j, v in rows.row(i)] for i in range(rows.n_rows)]


def outdated(updated: int, registered: int) -> bool:
    return updated <= registered


def epoch_spec103(inputs: EpochInputs, trace: dict | None = None) -> EpochOutputs:
    check_runtime_accepts(inputs)
    hp = inputs.hyperparameters
    n = inputs.n
    cutoff = hp.activity_cutoff if hp.activity_cutoff is not None else 5000

    # activity
    last_update = [int(x) for x in inputs.last_update]
    inactive = [u + cutoff < inputs.current_block for u in last_update]
    active = [not x for x in inactive]
    block_at_registration = [int(x) for x in inputs.block_at_registration]

    # stake: normalised in I64F64, floored to I32F32; active stake masks only inactivity
    stake64 = [I64F64.from_int(int(s)) for s in inputs.stake_alpha]
    sp.inplace_normalize_64(stake64)
    stake = [fixed64_to_fixed32(s) for s in stake64]
    active_stake = list(stake)
    sp.inplace_mask_vector(inactive, active_stake)
    sp.inplace_normalize(active_stake)

    # permits
    permits = [bool(p) for p in inputs.validator_permit]
    forbids = [not p for p in permits]
    permits_new = sp.is_topk(stake, hp.max_allowed_validators)

    # weights
    weights = proportion_rows(inputs.weights)
    weights = sp.mask_rows_sparse(forbids, weights)
    weights = sp.mask_diag_sparse(weights)
    weights = sp.vec_mask_sparse_matrix(weights, last_update, block_at_registration, outdated)
    sp.inplace_row_normalize_sparse(weights)

    # consensus, trust, incentive
    preranks = sp.matmul_sparse(weights, active_stake, n)
    kappa = I32F32.safe_div(I32F32.from_int(hp.kappa), I32F32.from_int(U16_MAX))
    consensus = sp.weighted_median_col_sparse(active_stake, weights, n, kappa)
    clipped = sp.col_clip_sparse(weights, consensus)
    validator_trust = sp.row_sum_sparse(clipped)
    ranks = sp.matmul_sparse(clipped, active_stake, n)
    ranks_unnormalized = list(ranks)
    trust = sp.vecdiv(ranks, preranks)
    sp.inplace_normalize(ranks)
    incentive = ranks

    # bonds: outdated entries masked, one EMA alpha, column-normalised
    bonds = proportion_rows(inputs.bonds)
    bonds = sp.vec_mask_sparse_matrix(bonds, last_update, block_at_registration, outdated)
    sp.inplace_col_normalize_sparse(bonds, n)
    bonds_delta = sp.row_hadamard_sparse(clipped, active_stake)
    sp.inplace_col_normalize_sparse(bonds_delta, n)
    ema_bonds = sp.mat_ema_sparse(bonds_delta, bonds, ema_alpha_constant(hp.bonds_moving_average))
    sp.inplace_col_normalize_sparse(ema_bonds, n)
    dividends = sp.matmul_transpose_sparse(ema_bonds, incentive)
    dividends_unnormalized = list(dividends)
    sp.inplace_normalize(dividends)

    # emission: one normalised vector, stake fallback when nothing was earned
    _, _, normalized_emission = emission_split(incentive, dividends, stake, active_stake)
    emission = to_rao(normalized_emission, inputs.rao_emission)

    if trace is not None:
        trace.update(
            stake=stake, active_stake=active_stake, weights=weights, preranks=preranks,
            consensus=consensus, clipped_weights=clipped, validator_trust=validator_trust,
            trust=trust, incentive=incentive, ema_bonds=ema_bonds, dividends=dividends,
            normalized_combined_emission=normalized_emission, new_validator_permits=permits_new,
            ranks_unnormalized=ranks_unnormalized, dividends_unnormalized=dividends_unnormalized,
            bonds_for_dividends=ema_bonds,
            old_validator_permits=permits, inactive=inactive,
        )

    # Bonds rows: new permit → the EMA row; permit lost → []; otherwise left as stored.
    rows: list[list[tuple[int, int]] | None] = []
    for uid in range(n):
        if permits_new[uid]:
            rows.append([(j, fixed_proportion_to_u16(v)) for j, v in ema_bonds[uid]])
        elif permits[uid]:
            rows.append([])
        else:
            rows.append(inputs.bonds.row(uid) if inputs.bonds.present[uid] else None)

    def u16s(values: list[int]) -> np.ndarray:
        return np.asarray([fixed_proportion_to_u16(v) for v in values], dtype=np.uint16)

    return EpochOutputs(
        active=np.asarray(active, dtype=bool),
        validator_permit=np.asarray(permits_new, dtype=bool),
        consensus=u16s(consensus),
        incentive=u16s(incentive),
        dividends=u16s(dividends),
        validator_trust=u16s(validator_trust),
        emission=np.asarray(emission, dtype=np.uint64),
        bonds=SparseRows.from_rows(rows),
        rank=u16s(incentive),
        trust=u16s(trust),
        pruning_scores=u16s(normalized_emission),
    )

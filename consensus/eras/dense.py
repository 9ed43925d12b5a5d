"""The test-only dense epoch (`epoch_dense_mechanism`, reference commit 14bc6f9f, spec 425).

The runtime keeps this variant for its unit tests (`SubtensorModule::epoch_dense`); the test
vectors' `__dense` files and `test_512_graph__*` run it. It differs from the production sparse
epoch as yuma-spec §9 lists:

* no owner handling: the stake threshold filters the owner too, and neither the old nor the new
  permits are forced for it;
* the diagonal is masked twice (owner exception, then `inplace_mask_diag`), so the owner's
  self-weight is removed as well;
* no commit-reveal mask;
* weights and bonds are dense n×n (entries outside n dropped; a repeated column overwrites);
  outdated weights are masked with the full `last_update_i <= registered_j` matrix;
* `interpolate`, col-normalise / max-upscale, EMAs are the dense helpers (zeros kept); Yuma3's
  dense `mat_ema_alpha` decays old bonds whose new weight is 0 and liquid alpha is computed for
  every (i, j);
* bond rows: a new-permit UID gets a row with all n columns (zeros included); an old-permit-only
  UID gets an empty row; any other UID's row is **not written** (SparseRows ``present=False``).
  The permit pairs are zipped with the *stored* permit vector, so UIDs beyond its length are
  not written either.

Stages that are the same code in both variants are imported from `consensus.eras.mainline`.
"""

from __future__ import annotations


from .. import dense as dn
from .. import sparse as sp
from ..fixedpoint import (
    I32F32,
    U16_MAX,
    fixed_proportion_to_u16,
    fixed_to_fixed_u16_proportion,
)
from ..model import EpochInputs, EpochOutputs
from .mainline import (
    MainlineRules,
    consensus_for_liquid_alpha,
    per_uid_outputs,
    active_stake_of,
    activity_cutoff_blocks,
    bonds_mask_block,
    ema_alpha_constant,
    emission_split,
    inactive_mask,
    last_update_padded,
    new_permits,
    normalized_stake,
    stored_rows,
    total_stake,
)


def dense_from_rows(rows: list[list[tuple[int, int]]], n: int) -> list[list[int]]:
    """`get_weights` / `get_bonds`: n×n of I32F32(u16); columns >= n dropped, later duplicates win."""
    out = [[0] * n for _ in range(n)]
    for i, row in enumerate(rows[:n]):
        target = out[i]
        for j, v in row:
            if j < n:
                target[j] = I32F32.from_int(v)
    return out


def epoch_dense(
    inputs: EpochInputs, rules: MainlineRules | None = None, trace: dict | None = None
) -> EpochOutputs:
    """One `epoch_dense_mechanism` run plus what it writes to storage."""
    rules = rules or MainlineRules()
    hp = inputs.hyperparameters
    n = inputs.n
    current_block = inputs.current_block

    # -- activity (same as production) ------------------------------------------------------
    last_update = last_update_padded(inputs)  # get_last_update pads to n, never truncates
    inactive = inactive_mask(last_update, activity_cutoff_blocks(inputs, rules), current_block)
    active = [not x for x in inactive]
    block_at_registration = [int(x) for x in inputs.block_at_registration[:n]]
    block_at_registration += [0] * (n - len(block_at_registration))
    # outdated_ij = last_update_i <= registered_j: one row per LastUpdate entry, n columns
    outdated = [[u <= reg for reg in block_at_registration] for u in last_update]
    last_tempo = bonds_mask_block(inputs, rules)
    recently_registered = [last_tempo <= reg for reg in block_at_registration]

    # -- stake: threshold without owner exemption ----------------------------------------
    stake = normalized_stake(total_stake(inputs), hp.stake_threshold, None, False)

    # -- permits: stored vector as is; new = top-k non-zero, no owner forcing -----------------
    validator_permits = [bool(p) for p in inputs.validator_permit]
    validator_forbids = [not p for p in validator_permits]
    permits_new = new_permits(stake, hp.max_allowed_validators, None, False)

    active_stake = active_stake_of(stake, inactive, validator_forbids)

    # -- weights (dense) ------------------------------------------------------------------
    owner_uid = hp.owner_uid
    weights = dense_from_rows(stored_rows(inputs.weights, n, True), n)
    dn.inplace_mask_rows(validator_forbids, weights)
    if owner_uid is not None:
        dn.inplace_mask_diag_except_index(weights, owner_uid)
    else:
        dn.inplace_mask_diag(weights)
    dn.inplace_mask_diag(weights)  # the dense path masks the whole diagonal again
    dn.inplace_mask_matrix(outdated, weights)
    dn.inplace_row_normalize(weights)

    # -- consensus, validator trust, incentive -------------------------------------------------
    kappa = I32F32.safe_div(I32F32.from_int(hp.kappa), I32F32.from_int(U16_MAX))
    consensus = dn.weighted_median_col(active_stake, weights, kappa)
    clipped = dn.copy_matrix(weights)
    dn.inplace_col_clip(clipped, consensus)
    validator_trust = dn.row_sum(clipped)
    ranks = dn.matmul(clipped, active_stake)
    sp.inplace_normalize(ranks)
    incentive = ranks

    # -- bonds and dividends -------------------------------------------------------------
    penalty = I32F32.safe_div(I32F32.from_int(hp.bonds_penalty), I32F32.from_int(U16_MAX))
    weights_for_bonds = dn.interpolate(weights, clipped, penalty)
    raw_bond_rows = stored_rows(inputs.bonds, n, False)
    bonds_delta = None
    if hp.yuma3:
        bonds = dense_from_rows(raw_bond_rows, n)
        bonds = [[fixed_to_fixed_u16_proportion(b) if b else 0 for b in row] for row in bonds]
        dn.inplace_mask_cols(recently_registered, bonds)
        ema_bonds = dn.compute_bonds(
            weights_for_bonds,
            bonds,
            consensus,
            liquid_alpha=hp.liquid_alpha,
            alpha_low_u16=hp.alpha_low,
            alpha_high_u16=hp.alpha_high,
            alpha_sigmoid_steepness=hp.alpha_sigmoid_steepness,
            bonds_moving_average=hp.bonds_moving_average,
            liquid_consensus=consensus_for_liquid_alpha(inputs, consensus, rules) if hp.liquid_alpha else None,
        )
        ema_norm = dn.copy_matrix(ema_bonds)
        dn.inplace_col_normalize(ema_norm)
        per_validator = dn.row_sum(dn.mat_vec_mul(ema_norm, incentive))
        dividends = sp.vec_mul(per_validator, active_stake)
        sp.inplace_normalize(dividends)
    else:
        bonds = dense_from_rows(raw_bond_rows, n)
        dn.inplace_mask_cols(recently_registered, bonds)
        dn.inplace_col_normalize(bonds)
        bonds_delta = dn.row_hadamard(weights_for_bonds, active_stake)
        dn.inplace_col_normalize(bonds_delta)
        ema_bonds = dn.mat_ema(bonds_delta, bonds, ema_alpha_constant(hp.bonds_moving_average))
        dn.inplace_col_normalize(ema_bonds)
        dividends = dn.matmul_transpose(ema_bonds, incentive)
        sp.inplace_normalize(dividends)
        dn.inplace_col_max_upscale(ema_bonds)

    # -- emission (same as production) --------------------------------------------------------
    server, validator, combined = emission_split(incentive, dividends, stake, active_stake)
    rao = inputs.rao_emission

    if trace is not None:
        trace.update(
            stake=stake, active_stake=active_stake, weights=weights, consensus=consensus,
            clipped_weights=clipped, validator_trust=validator_trust, incentive=incentive,
            weights_for_bonds=weights_for_bonds, bonds_delta=bonds_delta, ema_bonds=ema_bonds,
            dividends=dividends, normalized_server_emission=server,
            normalized_validator_emission=validator, normalized_combined_emission=combined,
            new_validator_permits=permits_new, old_validator_permits=validator_permits,
            inactive=inactive,
        )

    # -- bond rows: zip(new permits, stored permits, ema rows) ------------------------------
    bond_rows: list[list[tuple[int, int]] | None] = [None] * n
    for i, (new_p, old_p, ema_row) in enumerate(zip(permits_new, validator_permits, ema_bonds)):
        if i >= n:
            break
        if new_p:
            bond_rows[i] = list(zip(range(n), (fixed_proportion_to_u16(v) for v in ema_row)))
        elif old_p:
            bond_rows[i] = []

    # The test-only dense path writes StakeWeight and never Rank/Trust/PruningScores.
    dense_rules = rules._replace(writes_stake_weight=True, writes_rank_trust_pruning=False)
    return per_uid_outputs(
        n, rao, dense_rules, active=active, permits_new=permits_new, stake=stake, consensus=consensus,
        incentive=incentive, dividends=dividends, validator_trust=validator_trust, combined=combined,
        server=server, validator=validator, bond_rows=bond_rows,
    )

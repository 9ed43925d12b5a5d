"""One UID through the epoch, stage by stage, from the reference's trace."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .fixedpoint import I32F32, ONE, fixed_proportion_to_u16
from .sparse import plain_sum
from .model import EpochInputs, EpochOutputs
from .registry import run_epoch


@dataclass(frozen=True)
class Stage:
    name: str
    value: Any  # a float view for reading, or an int/bool/list
    raw: Any  # the exact integer(s) the runtime holds (I32F32 bits, u16, rao)
    chain: Any = None  # what the chain stored for this stage, where it stores one
    note: str = ""


def _prop(raw: int) -> float:
    return raw / ONE


def explain_uid(
    inputs: EpochInputs,
    spec_version: int,
    uid: int,
    chain: EpochOutputs | None = None,
    assume_era: str | None = None,
) -> tuple[EpochOutputs, list[Stage]]:
    """Recompute with the reference and return the stages that decide ``uid``'s outputs."""
    if not 0 <= uid < inputs.n:
        raise ValueError(f"uid {uid} is not in this subnet (n = {inputs.n})")
    trace: dict = {}
    out = run_epoch(inputs, spec_version, engine="reference", trace=trace, assume_era=assume_era)

    def stored(attr: str) -> Any:
        v = getattr(chain, attr, None) if chain is not None else None
        return None if v is None or uid >= len(v) else v.tolist()[uid]

    # Incentive: Σ_i active_stake_i · clipped_w_i,uid, then ÷ the sum over all UIDs.
    rank_terms = [
        (i, trace["active_stake"][i], w, I32F32.sat_mul(trace["active_stake"][i], w))
        for i, row in enumerate(trace["clipped_weights"]) for j, w in row if j == uid
    ]
    rank_raw = trace["ranks_unnormalized"][uid]
    ranks_total = plain_sum(trace["ranks_unnormalized"])
    # Dividends: Σ_j bond_uid,j · incentive_j (Yuma3: then × active stake), ÷ the sum over all.
    yuma3 = inputs.hyperparameters.yuma3 and spec_version != 103
    bonds_norm = trace["bonds_for_dividends"][uid] if uid < len(trace["bonds_for_dividends"]) else []
    div_terms = [(j, b, trace["incentive"][j], I32F32.sat_mul(b, trace["incentive"][j])) for j, b in bonds_norm
                 if j < len(trace["incentive"])]
    div_raw = trace["dividends_unnormalized"][uid]
    divs_total = plain_sum(trace["dividends_unnormalized"])
    weights = trace["weights"][uid]
    received = [(i, w) for i, row in enumerate(trace["weights"]) for j, w in row if j == uid]
    clipped_received = [(i, w) for i, row in enumerate(trace["clipped_weights"]) for j, w in row if j == uid]
    bonds_row = trace["ema_bonds"][uid] if uid < len(trace["ema_bonds"]) else []
    stages = [
        Stage("active", not trace["inactive"][uid], not trace["inactive"][uid], stored("active")),
        Stage("stake share", _prop(trace["stake"][uid]), trace["stake"][uid], stored("stake_weight"),
              "I32F32 normalised stake (after the stake threshold)"),
        Stage("validator permit (old → new)",
              f"{bool(uid < len(trace['old_validator_permits']) and trace['old_validator_permits'][uid])}"
              f" → {bool(trace['new_validator_permits'][uid])}",
              bool(trace["new_validator_permits"][uid]), stored("validator_permit")),
        Stage("active stake", _prop(trace["active_stake"][uid]), trace["active_stake"][uid], None,
              "stake of an active permitted validator, renormalised"),
        Stage("weights given", len(weights), [[j, w] for j, w in weights], None,
              "row after masks, normalised (column, I32F32 bits)"),
        Stage("weights received", len(received), [[i, w] for i, w in received], None,
              "from validators, before clipping"),
        Stage("consensus", _prop(trace["consensus"][uid]), trace["consensus"][uid], stored("consensus"),
              "stake-weighted kappa-quantile of the weights received"),
        *_liquid_consensus_stage(trace, uid, inputs.hyperparameters.liquid_alpha_consensus_mode),
        Stage("weights received after clip", len(clipped_received), [[i, w] for i, w in clipped_received]),
        Stage("validator trust", _prop(trace["validator_trust"][uid]), trace["validator_trust"][uid],
              stored("validator_trust"), "sum of this validator's clipped weights"),
        Stage("rank contributions", len(rank_terms), [[i, s, w, p] for i, s, w, p in rank_terms], None,
              "per validator i: [i, active_stake_i, clipped weight, product] (I32F32 bits, product floored)"),
        Stage("rank (sum of contributions)", _prop(rank_raw), rank_raw, None, "saturating sum"),
        Stage("all ranks", _prop(ranks_total), ranks_total, None, "sum over every UID"),
        Stage("incentive (rank)", _prop(trace["incentive"][uid]), trace["incentive"][uid], stored("incentive"),
              "rank ÷ all ranks (truncating division)"),
        Stage("bonds held", len(bonds_row), [[j, v] for j, v in bonds_row], None,
              "EMA bond row (I32F32 bits) before it is stored as u16"),
        Stage("dividend contributions", len(div_terms), [[j, b, inc, p] for j, b, inc, p in div_terms], None,
              "per miner j: [j, normalised bond, incentive_j, product] (I32F32 bits)"),
        Stage("dividend (sum of contributions)", _prop(div_raw), div_raw, None,
              "Yuma3: plain sum × active stake" if yuma3 else "saturating sum"),
        Stage("all dividends", _prop(divs_total), divs_total, None, "sum over every UID"),
        Stage("dividends", _prop(trace["dividends"][uid]), trace["dividends"][uid], stored("dividends"),
              "dividend ÷ all dividends (truncating division)"),
        Stage("emission share", _prop(trace["normalized_combined_emission"][uid]),
              trace["normalized_combined_emission"][uid], None, "(incentive + dividends), normalised"),
        Stage("emission (rao)", int(out.emission[uid]), int(out.emission[uid]), stored("emission"),
              f"floor(share · {inputs.rao_emission} rao)"),
    ]
    return out, stages


def _liquid_consensus_stage(trace: dict, uid: int, mode: str) -> list[Stage]:
    """Spec >= 446: the consensus the liquid-alpha sigmoid read, when liquid alpha ran."""
    if "liquid_consensus" not in trace:
        return []
    c = trace["liquid_consensus"][uid]
    source = trace["liquid_consensus_source"]
    note = (f"the previously stored Consensus (mode {mode})" if source == "previous"
            else "this epoch's consensus")
    return [Stage("liquid-alpha consensus", _prop(c), c, None, f"read by the liquid-alpha sigmoid: {note}")]


def stored_form(stage: Stage) -> Any:
    """The recomputed value in the form the chain stores it (u16 for proportions)."""
    if stage.name in U16_STAGES:
        return fixed_proportion_to_u16(stage.raw)
    return stage.raw if not isinstance(stage.raw, list) else None


U16_STAGES = ("stake share", "consensus", "validator trust", "incentive (rank)", "dividends")


def check_sums(stages: list[Stage]) -> dict[str, bool]:
    """The arithmetic the explanation shows, redone from its own numbers (for tests and users)."""
    by = {st.name: st for st in stages}
    rank = by["rank (sum of contributions)"].raw
    acc = 0
    for _, _, _, p in by["rank contributions"].raw:
        acc = I32F32.sat_add(acc, p)
    checks = {
        "rank = Σ contributions": acc == rank,
        "incentive = rank ÷ all ranks": by["incentive (rank)"].raw == (
            I32F32.safe_div(rank, by["all ranks"].raw) if by["all ranks"].raw else rank),
        "dividends = dividend ÷ all dividends": by["dividends"].raw == (
            I32F32.safe_div(by["dividend (sum of contributions)"].raw, by["all dividends"].raw)
            if by["all dividends"].raw else by["dividend (sum of contributions)"].raw),
    }
    if "Yuma3" not in by["dividend (sum of contributions)"].note:
        acc = 0
        for _, _, _, p in by["dividend contributions"].raw:
            acc = I32F32.sat_add(acc, p)
        checks["dividend = Σ contributions"] = acc == by["dividend (sum of contributions)"].raw
    for name in ("incentive (rank)", "dividends"):
        if by[name].chain is not None:
            checks[f"{name} stored = chain"] = fixed_proportion_to_u16(by[name].raw) == by[name].chain
    return checks

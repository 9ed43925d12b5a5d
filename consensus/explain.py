"""One UID through the epoch, stage by stage, from the reference's trace."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .fixedpoint import ONE, fixed_proportion_to_u16
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
    inputs: EpochInputs, spec_version: int, uid: int, chain: EpochOutputs | None = None
) -> tuple[EpochOutputs, list[Stage]]:
    """Recompute with the reference and return the stages that decide ``uid``'s outputs."""
    if not 0 <= uid < inputs.n:
        raise ValueError(f"uid {uid} is not in this subnet (n = {inputs.n})")
    trace: dict = {}
    out = run_epoch(inputs, spec_version, engine="reference", trace=trace)

    def stored(attr: str) -> Any:
        v = getattr(chain, attr, None) if chain is not None else None
        return None if v is None or uid >= len(v) else v.tolist()[uid]

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
        Stage("weights received after clip", len(clipped_received), [[i, w] for i, w in clipped_received]),
        Stage("validator trust", _prop(trace["validator_trust"][uid]), trace["validator_trust"][uid],
              stored("validator_trust"), "sum of this validator's clipped weights"),
        Stage("incentive (rank)", _prop(trace["incentive"][uid]), trace["incentive"][uid], stored("incentive"),
              "Σ active_stake_i · clipped_w_i,uid, normalised"),
        Stage("bonds held", len(bonds_row), [[j, v] for j, v in bonds_row], None,
              "EMA bond row (I32F32 bits) before it is stored as u16"),
        Stage("dividends", _prop(trace["dividends"][uid]), trace["dividends"][uid], stored("dividends")),
        Stage("emission share", _prop(trace["normalized_combined_emission"][uid]),
              trace["normalized_combined_emission"][uid], None, "(incentive + dividends), normalised"),
        Stage("emission (rao)", int(out.emission[uid]), int(out.emission[uid]), stored("emission"),
              f"floor(share · {inputs.rao_emission} rao)"),
    ]
    return out, stages


def stored_form(stage: Stage) -> Any:
    """The recomputed value in the form the chain stores it (u16 for proportions)."""
    if stage.name in U16_STAGES:
        return fixed_proportion_to_u16(stage.raw)
    return stage.raw if not isinstance(stage.raw, list) else None


U16_STAGES = ("stake share", "consensus", "validator trust", "incentive (rank)", "dividends")

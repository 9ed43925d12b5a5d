"""Subnets with several mechanisms (spec ≥ 320, `epoch_with_mechanisms`, yuma-spec §1.2).

The subnet's emission is split between mechanisms, each mechanism runs the ordinary epoch on
its own weights, bonds and LastUpdate (storage index ``netuid + m·4096``), and the per-subnet
outputs are weighted sums across mechanisms in U64F64. What each mechanism index stores
(Incentive, Bonds) is that mechanism's own result.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np

from .fixedpoint import U64_MAX, U64F64
from .model import EpochInputs, EpochOutputs
from .registry import run_epoch

U16_MAX = 0xFFFF


def split_emissions(rao_emission: int, count: int, split: Sequence[int] | None = None) -> list[int]:
    """Each mechanism's share: by ``MechanismEmissionSplit`` (u16 parts of 65535) or evenly;
    the rounding remainder goes to mechanism 0."""
    if split is not None:
        shares = [(rao_emission * int(s)) // U16_MAX for s in split]
    else:
        shares = [rao_emission // count if count else 0] * count
    shares = (shares + [0] * count)[:count]
    remainder = max(rao_emission - sum(shares), 0)
    if shares:
        shares[0] = min(shares[0] + remainder, U64_MAX)
    return shares


def mechanism_weight(share: int, rao_emission: int, mechanism: int) -> int:
    """U64F64 ``share / rao``; with nothing to split, mechanism 0 weighs 1 and the rest 0."""
    default = U64F64.from_int(1 if mechanism == 0 else 0)
    return U64F64.safe_div_or(U64F64.from_int(share), U64F64.from_int(rao_emission), default)


def weighted_acc(existing: int, added: int, weight: int, int_bits: int) -> int:
    """``floor(U64F64(existing) + U64F64(added)·weight)`` saturated to u16 or u64."""
    acc = U64F64.sat_add(U64F64.from_int(existing), U64F64.sat_mul(U64F64.from_int(added), weight))
    return U64F64.to_int(acc, int_bits)


@dataclass(frozen=True)
class MechanismEpoch:
    shares: list[int]
    weights: list[int]  # U64F64 raw
    mechanisms: list[EpochOutputs]  # what each mechanism index stores (Incentive, Bonds) and more
    subnet: EpochOutputs  # what the per-subnet items store, plus mechanism 0's Incentive and Bonds


def epoch_with_mechanisms(
    per_mechanism: Sequence[EpochInputs],
    rao_emission: int,
    spec_version: int,
    split: Sequence[int] | None = None,
    engine: str = "reference",
    assume_era: str | None = None,
) -> MechanismEpoch:
    """Run every mechanism's epoch on its share and aggregate the per-subnet outputs.

    ``per_mechanism[m]`` holds mechanism m's inputs (its own weights, bonds, LastUpdate; the
    subnet's stake, permits and hyperparameters); their ``rao_emission`` is ignored.
    """
    shares = split_emissions(rao_emission, len(per_mechanism), split)
    outs = [
        run_epoch(replace(inputs, rao_emission=share), spec_version, engine=engine, assume_era=assume_era)  # type: ignore[arg-type]
        for inputs, share in zip(per_mechanism, shares)
    ]
    weights = [mechanism_weight(share, rao_emission, m) for m, share in enumerate(shares)]
    first = outs[0]
    n = len(first.consensus)

    def u16_sum(field: str) -> np.ndarray:
        acc = [0] * n
        for out, w in zip(outs, weights):
            values = getattr(out, field).tolist()
            acc = [weighted_acc(a, int(v), w, 16) for a, v in zip(acc, values)]
        return np.asarray(acc, dtype=np.uint16)

    def plain_sum(field: str) -> np.ndarray:
        acc = [0] * n
        for out in outs:
            acc = [min(a + int(v), U64_MAX) for a, v in zip(acc, getattr(out, field).tolist())]
        return np.asarray(acc, dtype=np.uint64)

    emission = [0] * n
    for out, w in zip(outs, weights):
        emission = [weighted_acc(a, int(v), w, 64) for a, v in zip(emission, out.emission.tolist())]
    active = np.zeros(len(first.active), dtype=bool)
    permits = np.zeros(n, dtype=bool)
    for out in outs:
        active[: len(out.active)] |= out.active[: len(active)]
        permits |= out.validator_permit[:n]
    subnet = replace(
        first,
        active=active,
        validator_permit=permits,
        consensus=u16_sum("consensus"),
        dividends=u16_sum("dividends"),
        validator_trust=u16_sum("validator_trust"),
        stake_weight=u16_sum("stake_weight") if first.stake_weight is not None else None,
        # before 365 the epoch also writes these; they aggregate like Consensus
        # (subnets/mechanism.rs epoch_with_mechanisms @835a2c902 spec 320, @b179867c3 spec 343)
        rank=u16_sum("rank") if first.rank is not None else None,
        trust=u16_sum("trust") if first.trust is not None else None,
        pruning_scores=u16_sum("pruning_scores") if first.pruning_scores is not None else None,
        emission=np.asarray(emission, dtype=np.uint64),
        server_emission=plain_sum("server_emission") if first.server_emission is not None else None,
        validator_emission=plain_sum("validator_emission") if first.validator_emission is not None else None,
    )
    return MechanismEpoch(shares, weights, outs, subnet)


# -- rao_emission of a multi-mechanism epoch, recovered from the stored Emission ---------------
# Each mechanism's epoch stores Emission_m,i = floor(x_m,i · share_m / 2^32) for its normalised
# emission x_m (consensus.emission), and the subnet stores the weighted sum above. For one
# mechanism that inverts to an interval; with several, share_m and the weights are not linear in
# rao (floors, the remainder to mechanism 0), so the amounts are searched: the summed Emission
# grows with rao up to a few units of rounding, a bisection finds where it meets the stored
# sum, and a bounded scan around it keeps every amount that reproduces the whole vector.

SCAN = 4096  # amounts tried on each side of the bisection's answer


def aggregate_emission(normalized: Sequence[Sequence[int]], rao_emission: int, split: Sequence[int] | None,
                       uids: Sequence[int]) -> list[int]:
    """The per-subnet Emission of ``uids`` for ``rao_emission`` given each mechanism's shares."""
    shares = split_emissions(rao_emission, len(normalized), split)
    weights = [mechanism_weight(s, rao_emission, m) for m, s in enumerate(shares)]
    out = []
    for u in uids:
        acc = 0
        for x, share, w in zip(normalized, shares, weights):
            acc = weighted_acc(acc, (int(x[u]) * share) >> 32, w, 64)
        out.append(acc)
    return out


def infer_rao_emission_mechanisms(
    normalized: Sequence[Sequence[int]], stored: Sequence[int], split: Sequence[int] | None,
    uids: Sequence[int], floor: int = 0,
) -> tuple[tuple[int, int] | None, int]:
    """(the range ``[lo, hi]`` within the scanned window of amounts ≥ ``floor`` whose
    aggregation reproduces ``stored`` at ``uids`` exactly, or ``None``; the amount whose summed
    Emission first reaches the stored sum, to recompute with when no amount fits)."""
    want = [int(stored[u]) for u in uids]
    target = sum(want)

    def total(rao: int) -> int:
        return sum(aggregate_emission(normalized, rao, split, uids))

    lo, hi = floor, U64_MAX
    while lo < hi:  # smallest amount whose summed Emission reaches the stored sum
        mid = (lo + hi) // 2
        if total(mid) < target:
            lo = mid + 1
        else:
            hi = mid
    found = [r for r in range(max(floor, lo - SCAN), min(U64_MAX, lo + SCAN) + 1)
             if aggregate_emission(normalized, r, split, uids) == want]
    if not found:
        return None, lo
    return (found[0], found[-1]), found[0]

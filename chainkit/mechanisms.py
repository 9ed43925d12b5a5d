"""Subnets with several mechanisms (spec ≥ 320): read every mechanism's epoch from the chain.

The runtime's ``epoch_with_mechanisms`` (``pallets/subtensor/src/subnets/mechanism.rs``
@4a2e4b128, spec 393; yuma-spec §1.2) splits the subnet's emission by
``MechanismEmissionSplit`` (or evenly), runs one epoch per mechanism on that mechanism's own
``Weights``/``Bonds``/``LastUpdate`` (storage index ``netuid + 4096·m``), writes each one's
``Incentive`` and ``Bonds`` at its index and the weighted aggregate into the per-subnet items.
Reading: :func:`chainkit.epoch.snapshot_epoch` with ``mechanism=m``; aggregating:
:mod:`consensus.mechanisms`.
"""

from __future__ import annotations

from dataclasses import dataclass

from taoaudit.consensus.model import EpochInputs, EpochOutputs

from .client import Chain
from .epoch import BlockReader, InexactEpoch, snapshot_epoch
from .layout import layout_for_metadata


@dataclass(frozen=True)
class MechanismEpochRead:
    """Every mechanism's inputs (E−1) and what the chain stored at E for it."""

    inputs: tuple[EpochInputs, ...]  # per mechanism: its weights, bonds, LastUpdate
    outputs: tuple[EpochOutputs, ...]  # per mechanism: per-subnet items + its Incentive, Bonds
    split: tuple[int, ...] | None  # MechanismEmissionSplit (u16 parts of 65535), None = even


def mechanism_setup(chain: Chain, netuid: int, epoch_block: int) -> tuple[int, tuple[int, ...] | None]:
    """(``MechanismCountCurrent``, ``MechanismEmissionSplit``) the epoch at E used: read at
    E−1. A change at E (an extrinsic after the epoch) may have trimmed or moved per-mechanism
    items, so it is refused."""
    before, after = chain.at(epoch_block - 1), chain.at(epoch_block)
    if not layout_for_metadata(after.spec_version, after.runtime).mechanism_index:
        return 1, None
    has_split = after.has_storage("SubtensorModule", "MechanismEmissionSplit")
    got = []
    for blk in (before, after):
        items = [("MechanismCountCurrent", (netuid,))] + ([("MechanismEmissionSplit", (netuid,))] if has_split else [])
        count, split = (BlockReader(blk).present(items) + [None])[:2]
        got.append((1 if count is None else int(count), None if split is None else tuple(int(s) for s in split)))
    if got[0] != got[1]:
        raise InexactEpoch(netuid, epoch_block, f"the mechanism count or emission split changed in block "
                           f"{epoch_block} ({got[0]} → {got[1]})", code="mechanisms_changed_in_block")
    return got[0]


def read_mechanisms(
    chain: Chain, netuid: int, epoch_block: int, count: int, split: tuple[int, ...] | None, *,
    rao_emission: int, replaced: frozenset[int] = frozenset(), assume_era: str | None = None,
) -> MechanismEpochRead:
    """Each mechanism's epoch of ``netuid`` at block E."""
    reads = [snapshot_epoch(chain, netuid, epoch_block, rao_emission=rao_emission, replaced=replaced, mechanism=m,
                            assume_era=assume_era)
             for m in range(count)]
    return MechanismEpochRead(tuple(i for i, _ in reads), tuple(o for _, o in reads), split)

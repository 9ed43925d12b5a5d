"""Epoch snapshots: what one subnet epoch read (state at E−1) and wrote (state at E).

``snapshot_epoch(chain, netuid, E)`` returns ``(EpochInputs, EpochOutputs)`` of
:mod:`consensus.model`; ``find_epoch_block(chain, netuid, block)`` finds E.

Covered: the single-token era (specs 100–232; verified on the spec-103 oracle data). The amount
handed to the epoch there is ``PendingEmission + EmissionValues`` at E−1 (``generate_emission``
adds ``EmissionValues`` in block E before draining), and no stake moves between E−1 and the
epoch (``LoadedEmission`` is paid out in the block after).

Not covered yet (refused with :class:`~chainkit.errors.UnsupportedSpec`): dTAO eras (≥ 233).
Their inputs need stake inheritance through ChildKeys/ParentKeys and the root TAO weight, the
emission of block E itself (run_coinbase accrues before draining), timelocked weight reveals
applied in E's ``on_initialize`` before the epoch, and commit-reveal masks — none of which is a
plain read of E−1 storage. :mod:`chainkit.layout` already names their storage items.
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence

import numpy as np

from consensus.model import EpochInputs, EpochOutputs, Hyperparameters, SparseRows

from .client import Block, Chain
from .decode import decode_rows, decode_vec_bool, decode_vec_u16, decode_vec_u64
from .errors import ChainError, DecodeError, UnknownNetuid, UnsupportedSpec
from .layout import ERAS, PALLET, Era, era_for_spec


class StateReader(Protocol):
    """The reads an epoch snapshot makes, by storage item name (pallet SubtensorModule)."""

    number: int

    def values(self, requests: Sequence[tuple[str, tuple]]) -> list[Any]:
        """Decoded values (storage default when absent), one batched read."""
        ...

    def raw(self, requests: Sequence[tuple[str, tuple]]) -> list[bytes | None]:
        """Raw SCALE bytes (``None`` when absent), one batched read."""
        ...


class BlockReader:
    """:class:`StateReader` over a :class:`~chainkit.client.Block`, checking value shapes
    against the block's metadata before the fast decoders trust them."""

    def __init__(self, block: Block) -> None:
        self.block = block
        self.number = block.number

    def values(self, requests: Sequence[tuple[str, tuple]]) -> list[Any]:
        return self.block.query_many([(PALLET, item, *keys) for item, keys in requests])

    def raw(self, requests: Sequence[tuple[str, tuple]]) -> list[bytes | None]:
        for item in {item for item, _ in requests}:
            _check_shape(self.block, item)
        keys = [self.block.storage_key(PALLET, item, *k) for item, k in requests]
        return self.block.read_raw_many(keys)


# What the fast decoders assume each raw-read item is.
_SHAPES = {
    "Weights": "Vec<(u16, u16)>",
    "Bonds": "Vec<(u16, u16)>",
    "Rank": "Vec<u16>", "Trust": "Vec<u16>", "Consensus": "Vec<u16>", "Incentive": "Vec<u16>",
    "Dividends": "Vec<u16>", "PruningScores": "Vec<u16>", "ValidatorTrust": "Vec<u16>",
    "StakeWeight": "Vec<u16>",
    "Emission": "Vec<u64>", "LastUpdate": "Vec<u64>",
    "Active": "Vec<bool>", "ValidatorPermit": "Vec<bool>",
}  # fmt: skip


def _shape_of(block: Block, type_string: str, depth: int = 0) -> str:
    rc = block.runtime.runtime_config
    cls = rc.get_decoder_class(type_string)
    info = getattr(cls, "scale_info_type", None)
    if info is None or depth > 6:
        return "?"
    d = info.value["def"]
    if "primitive" in d:
        return d["primitive"]
    if "sequence" in d:
        return f"Vec<{_shape_of(block, 'scale_info::' + str(d['sequence']['type']), depth + 1)}>"
    if "tuple" in d:
        return "(" + ", ".join(_shape_of(block, f"scale_info::{t}", depth + 1) for t in d["tuple"]) + ")"
    if "composite" in d and len(d["composite"]["fields"]) == 1:  # newtypes (AlphaBalance, …)
        return _shape_of(block, f"scale_info::{d['composite']['fields'][0]['type']}", depth + 1)
    return "?"


def _check_shape(block: Block, item: str) -> None:
    want = _SHAPES.get(item)
    if want is None:
        raise ChainError(f"no raw decoder for {PALLET}.{item}")
    got = _shape_of(block, block.value_type(PALLET, item))
    if got != want:
        raise DecodeError(f"{PALLET}.{item} at spec {block.spec_version} is {got}, expected {want}")


# -- when -------------------------------------------------------------------------------------
def last_epoch_block_by_tempo(block: int, netuid: int, tempo: int) -> int:
    """Last block ``b <= block`` with ``(b + netuid + 1) % (tempo + 1) == tempo`` (spec < 423)."""
    if tempo <= 0:
        raise ChainError(f"subnet {netuid} has tempo {tempo}: its epoch never runs")
    period = tempo + 1
    delta = ((block + netuid + 1) - tempo) % period
    return block - delta


def find_epoch_block(chain: Chain, netuid: int, at_block: int | str) -> int:
    """The last block at or before ``at_block`` in which ``netuid``'s epoch ran."""
    blk = chain.at(at_block)
    era = era_for_spec(blk.spec_version, blk.runtime)
    if era.schedule == "modulo":
        exists, tempo = blk.query_many([(PALLET, "NetworksAdded", netuid), (PALLET, "Tempo", netuid)])
        if not exists:
            raise UnknownNetuid(netuid, blk.number)
        return last_epoch_block_by_tempo(blk.number, netuid, int(tempo))
    # Stateful scheduler (≥ 423): the runtime records the block of the last epoch itself.
    exists, last = blk.query_many(
        [(PALLET, "NetworksAdded", netuid), (PALLET, "LastMechansimStepBlock", netuid)]
    )
    if not exists:
        raise UnknownNetuid(netuid, blk.number)
    if not last:
        last = blk.query(PALLET, "LastEpochBlock", netuid)
    return int(last)


# -- what --------------------------------------------------------------------------------------
def _epoch_era(block: Block) -> Era:
    era = era_for_spec(block.spec_version, block.runtime)
    if not era.epoch_snapshot:
        covered = ", ".join(
            f"{e.spec_min}–{e.spec_max}" if e.spec_max is not None else f"≥{e.spec_min}"
            for e in ERAS
            if e.epoch_snapshot
        )
        raise UnsupportedSpec(block.spec_version, f"specs {covered}", "epoch snapshots")
    return era


def snapshot_epoch(chain: Chain, netuid: int, epoch_block: int) -> tuple[EpochInputs, EpochOutputs]:
    """Inputs of the epoch of ``netuid`` at block E (state after E−1) and its outputs (after E)."""
    if epoch_block < 1:
        raise ChainError(f"block {epoch_block} has no parent state to read inputs from")
    before = chain.at(epoch_block - 1)
    era = _epoch_era(before)  # refuse an unsupported era before reading anything else
    after = chain.at(epoch_block)
    if era_for_spec(after.spec_version, after.runtime).name != era.name:
        raise UnsupportedSpec(after.spec_version, f"epochs within one era ({era.name})", "an epoch across a runtime upgrade")
    return epoch_from_state(BlockReader(before), BlockReader(after), netuid, epoch_block, era)


def epoch_from_state(
    before: StateReader, after: StateReader, netuid: int, epoch_block: int, era: Era
) -> tuple[EpochInputs, EpochOutputs]:
    """Build the typed epoch from two states (E−1 and E); see :func:`snapshot_epoch`."""
    if era.stake_item != "TotalHotkeyStake":
        raise UnsupportedSpec(era.spec_min, "the single-token era", "epoch snapshots")
    idx = era.storage_index(netuid)
    hp_items = list(era.hyperparameters.items())
    scalars = before.values(
        [("NetworksAdded", (netuid,)), ("SubnetworkN", (netuid,))]
        + [(item, (netuid,)) for item in era.emission_items]
        + [(item, (netuid,)) for _, item in hp_items]
    )
    exists, n = scalars[0], int(scalars[1])
    if not exists:
        raise UnknownNetuid(netuid, before.number)
    emission_parts = [int(v) for v in scalars[2 : 2 + len(era.emission_items)]]
    hp = Hyperparameters(
        **{field: int(v) for (field, _), v in zip(hp_items, scalars[2 + len(era.emission_items) :])}
    )
    uids = range(n)
    vec_raw = before.raw([("LastUpdate", (idx,)), ("ValidatorPermit", (netuid,))])
    last_update = _vec(decode_vec_u64, vec_raw[0])
    old_permit = _vec(decode_vec_bool, vec_raw[1])
    per_uid = before.values(
        [("Keys", (netuid, u)) for u in uids] + [("BlockAtRegistration", (netuid, u)) for u in uids]
    )
    hotkeys = [str(h) for h in per_uid[:n]]
    registered = np.asarray(per_uid[n:], dtype=np.uint64)
    stake = np.asarray(
        before.values([(era.stake_item, (h,)) for h in hotkeys]), dtype=np.uint64
    ).reshape(n)
    rows = before.raw([("Weights", (idx, u)) for u in uids] + [("Bonds", (idx, u)) for u in uids])
    inputs = EpochInputs(
        n=n,
        current_block=epoch_block,
        rao_emission=sum(emission_parts),
        hyperparameters=hp,
        last_update=last_update,
        block_at_registration=registered,
        validator_permit=old_permit,
        stake_alpha=stake,
        stake_tao=np.zeros(n, dtype=np.uint64),
        weights=SparseRows(*decode_rows(rows[:n])),
        bonds=SparseRows(*decode_rows(rows[n:])),
        netuid=netuid,
        hotkeys=tuple(hotkeys),
    )
    return inputs, read_epoch_outputs(after, netuid, n, era)


def _vec(decoder, raw: bytes | None) -> np.ndarray:
    # Absent Vec items read as their storage default, the empty vector.
    return decoder(raw if raw is not None else b"\x00")


def read_epoch_outputs(after: StateReader, netuid: int, n: int, era: Era) -> EpochOutputs:
    """Everything the era's epoch writes, read at E."""
    idx = era.storage_index(netuid)
    names = [o for o in era.outputs] + list(era.mechanism_outputs)
    keys = [(o, (idx if o in era.mechanism_outputs else netuid,)) for o in names]
    raws = dict(zip(names, after.raw(keys)))
    decoders = {"Vec<u16>": decode_vec_u16, "Vec<u64>": decode_vec_u64, "Vec<bool>": decode_vec_bool}
    vals = {name: _vec(decoders[_SHAPES[name]], raws[name]) for name in names}
    bonds = SparseRows(*decode_rows(after.raw([("Bonds", (idx, u)) for u in range(n)])))
    return EpochOutputs(
        active=vals["Active"],
        validator_permit=vals["ValidatorPermit"],
        consensus=vals["Consensus"],
        incentive=vals["Incentive"],
        dividends=vals["Dividends"],
        validator_trust=vals["ValidatorTrust"],
        emission=vals["Emission"],
        bonds=bonds,
        stake_weight=vals.get("StakeWeight"),
        rank=vals.get("Rank"),
        trust=vals.get("Trust"),
        pruning_scores=vals.get("PruningScores"),
    )

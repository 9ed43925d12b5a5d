"""Epoch snapshots: what one subnet epoch read (state at E−1) and wrote (state at E).

``snapshot_epoch(chain, netuid, E)`` returns ``(EpochInputs, EpochOutputs)`` of
:mod:`consensus.model`; ``find_epoch_block(chain, netuid, block)`` finds E.

Covered: the single-token era (specs 100–232; verified on the spec-103 oracle data). The amount
handed to the epoch there is ``PendingEmission + EmissionValues`` at E−1 (``generate_emission``
adds ``EmissionValues`` in block E before draining), and no stake moves between E−1 and the
epoch (``LoadedEmission`` is paid out in the block after).

dTAO eras 273–459 (mechanism 0; storage index ``netuid + m·4096`` from 320), see
:func:`_epoch_dtao`. The epoch reads the state after E−1 plus what block E's ``on_initialize``
did before it; what that is, and how each piece is obtained exactly:

* weights revealed in E's ``on_initialize`` (timelocked reveals; from 365 every block before the
  coinbase, before that inside the drain of the epoch's own subnet): the UIDs are the
  Initialization-phase ``WeightsSet(idx, uid)`` events of block E, their rows are read at E.
  That is exact unless an extrinsic of block E set the same row again (an ApplyExtrinsic
  ``WeightsSet`` for that UID) — then :class:`InexactEpoch` is raised. ``do_set_weights`` moves
  ``LastUpdate`` only when commit-reveal is off (the commit already set it), so ``LastUpdate``
  is E−1's vector with those UIDs set to E only in that case.
* commit-reveal mask (from 297): v2 ``WeightCommits`` per registered hotkey at E−1 (only
  extrinsics touch it); timelocked commits are read at E (after the reveal took the revealed
  epoch's queue and dropped expired ones) minus the entries committed in block E itself
  (``commit_block == E``; extrinsics are the only other writer). Expiry per era: block-based
  ``is_commit_expired`` before 423, ``SubnetEpochIndex`` after the drain's increment from 423.
* ``LastMechansimStepBlock``: written with E before the epoch until 422, after it from 423.
  It is also the check that an epoch of the subnet ran at E at all (``== E`` in the state at E).
* stake: ``TotalHotkeyAlpha``/``ChildKeys``/``ParentKeys`` at E−1 with inheritance
  (:mod:`chainkit.stake`). Before 334 a subnet drained earlier in the same block pays root
  dividends into root stake before this epoch runs; that case is refused (InexactEpoch).
* from 425 the drain may change the subnet owner (and register it) before the epoch; a
  ``SubnetOwnerChanged`` event of the subnet in E's initialisation is refused.
* from 446 ``LiquidAlphaConsensusMode`` (storage default ``Auto`` from the metadata) and the
  netuid's stored ``Consensus`` at E−1 (``consensus_prev``; only the epoch writes it, after
  reading it). Root Reborn (441) queues root dividends for basket deposits that run after the
  coinbase, and a drain pays stake only on its own subnet, so the stake an epoch reads is still
  E−1's (docs/eras.md).
* a block that enacted or migrated a runtime upgrade is refused (:func:`_same_runtime`).
* ``rao_emission`` = the pending items at E−1 (``Layout.emission_items``) **plus block E's own
  accrual**, which ``emit_to_subnets`` computes from the root proportion in the middle of the
  coinbase (after pool injections and, from 365, excess-TAO swaps) and writes nowhere: the
  drain zeroes the pending items, and no event carries the amount. It is therefore not
  recoverable from storage or events; ``snapshot_epoch`` raises :class:`InexactEpoch` unless
  the caller passes the exact amount (``rao_emission=``, e.g. from a ``state_traceBlock`` of E).

Outputs are read at E; a ``NeuronRegistered`` of the subnet in block E (a UID replaced after the
epoch wrote it) and more than one mechanism (outputs aggregated across mechanisms) are refused.
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence

import numpy as np

from taoaudit.consensus.model import CONSENSUS_MODES, U64_MAX, EpochInputs, EpochOutputs, Hyperparameters, SparseRows

from .client import Block, Chain
from .decode import decode_rows, decode_vec_bool, decode_vec_u16, decode_vec_u64
from .errors import ChainError, DecodeError, NoEpoch, UnknownNetuid, UnsupportedSpec
from .layout import PALLET, Layout, era_for_spec, layout_for_metadata, supported_ranges
from .stake import inherited, relations


class InexactEpoch(ChainError):
    """The chain does not determine this epoch's inputs or outputs exactly from the states
    (and events) chainkit reads; the message says which piece and why."""

    def __init__(self, netuid: int, block: int, reason: str, spec: int | None = None, *, code: str = "inexact") -> None:
        self.netuid, self.block = netuid, block
        self.code = code  # a stable key the audit summary counts refusals by
        at = f"block {block}" + (f" (runtime spec {spec})" if spec is not None else "")
        super().__init__(f"epoch of netuid {netuid} at {at} cannot be read exactly: {reason}")


_NO_RAO_EMISSION = (
    "rao_emission is the pending emission at E−1 plus block E's own accrual, which the runtime "
    "computes mid-coinbase and stores nowhere; pass rao_emission= explicitly"
)


#: (phase, pallet, event name, attributes); phase is "Initialization", "Finalization" or
#: "ApplyExtrinsic"
Event = tuple[str, str, str, Any]


class StateReader(Protocol):
    """The reads an epoch snapshot makes, by storage item name (pallet SubtensorModule)."""

    number: int

    def values(self, requests: Sequence[tuple[str, tuple]]) -> list[Any]:
        """Decoded values (storage default when absent), one batched read."""
        ...

    def raw(self, requests: Sequence[tuple[str, tuple]]) -> list[bytes | None]:
        """Raw SCALE bytes (``None`` when absent), one batched read."""
        ...

    # dTAO eras only -----------------------------------------------------------------------
    def present(self, requests: Sequence[tuple[str, tuple]]) -> list[Any]:
        """Decoded values, ``None`` when the key is absent (whatever the storage default)."""
        ...

    def iter_prefix(self, item: str, prefix: tuple) -> list[tuple[Any, Any]]:
        """``(next map key, decoded value)`` of every entry under ``item[prefix…]``."""
        ...

    def events(self) -> list[Event]:
        """``System.Events`` of this block."""
        ...

    def declares(self, item: str) -> bool:
        """Whether this runtime's metadata has the storage item at all."""
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

    def present(self, requests: Sequence[tuple[str, tuple]]) -> list[Any]:
        keys = [self.block.storage_key(PALLET, item, *k) for item, k in requests]
        raws = self.block.read_raw_many(keys)
        return [
            None if raw is None else self.block.decode_value(PALLET, item, raw)
            for (item, _), raw in zip(requests, raws)
        ]

    def declares(self, item: str) -> bool:
        return self.block.has_storage(PALLET, item)

    def iter_prefix(self, item: str, prefix: tuple) -> list[tuple[Any, Any]]:
        blk = self.block
        keys = blk.keys(blk.storage_prefix(PALLET, item, *prefix))
        if not keys:
            return []
        key_type = blk._entry(PALLET, item).get_params_type_string()[len(prefix)]
        raws = blk.read_raw_many(keys)
        out = []
        for key, raw in zip(keys, raws):
            sub = blk.key_suffix(PALLET, item, key, len(prefix))
            out.append((blk.runtime.decode(key_type, sub), blk.decode_value(PALLET, item, raw)))
        return out

    def events(self) -> list[Event]:
        blk = self.block
        raw = blk.read_raw_many([blk.storage_key("System", "Events")])[0]
        if raw is None:
            return []
        try:
            records = blk.runtime.decode_events(raw)
        except DecodeError as e:
            raise DecodeError(f"System.Events at block {blk.number}: {e}") from None
        out: list[Event] = []
        for phase, pallet, event, attributes in records:
            phase = phase if isinstance(phase, str) else next(iter(phase))
            out.append((phase, pallet, event, attributes))
        return out


# What the fast decoders assume each raw-read item is. Newtypes resolve to what they wrap
# (_shape_of): Vec<PerU16> (outputs from the ≥ 426 runtimes) reads as Vec<u16>, Vec<AlphaBalance>
# as Vec<u64>.
_SHAPES = {
    "Weights": "Vec<(u16, u16)>",
    "Bonds": "Vec<(u16, u16)>",
    "Rank": "Vec<u16>", "Trust": "Vec<u16>", "Consensus": "Vec<u16>", "Incentive": "Vec<u16>",
    "Dividends": "Vec<u16>", "PruningScores": "Vec<u16>", "ValidatorTrust": "Vec<u16>",
    "StakeWeight": "Vec<u16>", "ConsensusByMechanism": "Vec<u16>",
    "Emission": "Vec<u64>", "LastUpdate": "Vec<u64>",
    "Active": "Vec<bool>", "ValidatorPermit": "Vec<bool>",
}  # fmt: skip


def _shape_of(block: Block, type_string: str, depth: int = 0) -> str:
    types = block.runtime.codec.types  # the registry as chainkit.metamodel keeps it
    entry = types.get(int(type_string.rsplit("::", 1)[1]))
    if entry is None or depth > 6:
        return "?"
    d = entry[1]
    if d[0] == "primitive":
        return d[1]
    if d[0] == "sequence":
        return f"Vec<{_shape_of(block, f'scale_info::{d[1]}', depth + 1)}>"
    if d[0] == "tuple":
        return "(" + ", ".join(_shape_of(block, f"scale_info::{t}", depth + 1) for t in d[1]) + ")"
    if d[0] == "composite" and len(d[1]) == 1:  # newtypes (AlphaBalance, …)
        return _shape_of(block, f"scale_info::{d[1][0][1]}", depth + 1)
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
    if block - delta < 1:
        # The slot would be at or before genesis, which executes no epoch.
        raise NoEpoch(netuid, block)
    return block - delta


def find_epoch_block(chain: Chain, netuid: int, at_block: int | str) -> int:
    """The last block at or before ``at_block`` in which ``netuid``'s epoch ran."""
    blk = chain.at(at_block)
    # Locating an epoch reads the schedule only: a spec newer than the era table is located
    # with the newest layout (its metadata must declare the items) and refused later, when
    # it is recomputed without assume_era.
    era = layout_for_metadata(blk.spec_version, blk.runtime)
    if era.schedule == "modulo":
        exists, tempo = blk.query_many([(PALLET, "NetworksAdded", netuid), (PALLET, "Tempo", netuid)])
        if not exists:
            raise UnknownNetuid(netuid, blk.number)
        return last_epoch_block_by_tempo(blk.number, netuid, int(tempo))
    # Stateful scheduler (≥ 423): LastEpochBlock is the last slot consumed, which may have been
    # skipped (duplicate hotkeys in Keys); LastMechansimStepBlock, written after each epoch that
    # actually ran, is the answer when set.
    exists, last = blk.query_many(
        [(PALLET, "NetworksAdded", netuid), (PALLET, "LastMechansimStepBlock", netuid)]
    )
    if not exists:
        raise UnknownNetuid(netuid, blk.number)
    if not last:
        last = blk.query(PALLET, "LastEpochBlock", netuid)
    if int(last) < 1:
        raise NoEpoch(netuid, blk.number)  # neither has been written: no epoch ran yet
    return int(last)


# -- what --------------------------------------------------------------------------------------
def _same_runtime(before: Block, after: Block, netuid: int, *, migrations: bool = True) -> None:
    """Refuse an epoch whose block changed or migrated the runtime.

    A node reports the runtime of a block's post-state: the block that enacts ``set_code``
    already reports the new spec although it (and its epoch) ran the old code, and the first
    block of the new code runs ``on_runtime_upgrade`` migrations (which set
    ``System.LastRuntimeUpgrade``) before ``on_initialize``, i.e. on state the epoch then
    reads but E−1 does not hold."""
    if before.spec_version != after.spec_version:
        raise InexactEpoch(
            netuid, after.number,
            f"the runtime changed in this block (spec {before.spec_version} before, {after.spec_version} "
            "after): the epoch ran the old code while the state reports the new one",
            code="runtime_upgrade_in_block",
        )  # fmt: skip
    if migrations and before.has_storage("System", "LastRuntimeUpgrade"):
        last = [b.query_many([("System", "LastRuntimeUpgrade")])[0] for b in (before, after)]
        if last[0] != last[1]:
            raise InexactEpoch(
                netuid, after.number,
                "runtime-upgrade migrations ran at the start of this block, before the epoch, on state "
                "the block before does not hold",
                code="runtime_upgrade_in_block",
            )  # fmt: skip


def _covered() -> str:
    return "specs " + supported_ranges(only_epoch_snapshots=True)


def _epoch_era(block: Block, assume_era: str | None = None) -> Layout:
    era = era_for_spec(block.spec_version, block.runtime, assume_era=assume_era)
    if not era.epoch_snapshot:
        raise UnsupportedSpec(block.spec_version, _covered(), "epoch snapshots")
    return era


def pending_emission(chain: Chain, netuid: int, epoch_block: int) -> int:
    """The emission already pending for ``netuid`` at E−1: a lower bound of the epoch's
    ``rao_emission`` in the dTAO eras (block E's own accrual comes on top)."""
    before = chain.at(epoch_block - 1)
    era = layout_for_metadata(before.spec_version, before.runtime)
    return sum(int(v) for v in before.query_many([(PALLET, item, netuid) for item in era.emission_items]))


def needs_rao_emission(block: Block) -> bool:
    """Whether epochs in this block's era take a ``rao_emission`` the chain does not store."""
    return layout_for_metadata(block.spec_version, block.runtime).stake_item != "TotalHotkeyStake"


def snapshot_epoch(
    chain: Chain, netuid: int, epoch_block: int, *, rao_emission: int | None = None,
    replaced: frozenset[int] = frozenset(), mechanism: int | None = None, assume_era: str | None = None,
) -> tuple[EpochInputs, EpochOutputs]:
    """Inputs of the epoch of ``netuid`` at block E (state after E−1) and its outputs (after E).

    ``rao_emission``: the amount the drain handed to the epoch, required in the dTAO eras
    (it is not in storage; see the module docstring) and ignored before.
    ``assume_era="latest"``: read a runtime newer than the era table with the newest layout
    (results must then say so: :func:`chainkit.layout.assumed_note`)."""
    if epoch_block < 1:
        raise ChainError(f"block {epoch_block} has no parent state to read inputs from")
    after = chain.at(epoch_block)
    era = _epoch_era(after, assume_era)  # refuse an unsupported era before reading anything else
    if era.stake_item != "TotalHotkeyStake" and rao_emission is None:
        raise InexactEpoch(netuid, epoch_block, _NO_RAO_EMISSION, after.spec_version, code="rao_emission_unknown")
    before = chain.at(epoch_block - 1)
    # (the migration check needs System.LastRuntimeUpgrade; the spec-103 recordings predate it)
    _same_runtime(before, after, netuid, migrations=era.stake_item != "TotalHotkeyStake")
    return epoch_from_state(
        BlockReader(before), BlockReader(after), netuid, epoch_block, era, rao_emission=rao_emission,
        replaced=replaced, mechanism=mechanism,
    )


def epoch_from_state(
    before: StateReader,
    after: StateReader,
    netuid: int,
    epoch_block: int,
    era: Layout,
    *,
    rao_emission: int | None = None,
    replaced: frozenset[int] = frozenset(),
    mechanism: int | None = None,
) -> tuple[EpochInputs, EpochOutputs]:
    """Build the typed epoch from two states (E−1 and E); see :func:`snapshot_epoch`.

    ``replaced``: UIDs the caller knows an extrinsic of block E (re)registered after the epoch
    ran (``chainkit.audit.registrations_after_epoch``); it will not compare their outputs at E,
    so their ``NeuronRegistered`` is not a refusal here.

    ``mechanism``: read that mechanism's own inputs (Weights, Bonds, LastUpdate, reveals and
    commits at index ``netuid + 4096·m``) and outputs (Incentive, Bonds there) of a subnet with
    several mechanisms (``chainkit.mechanisms``); ``None`` refuses such a subnet."""
    if era.stake_item != "TotalHotkeyStake":
        if not era.epoch_snapshot:
            raise UnsupportedSpec(era.spec_min, _covered(), "epoch snapshots")
        return _epoch_dtao(before, after, netuid, epoch_block, era, rao_emission, replaced, mechanism)
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


# -- dTAO eras (273–459) -------------------------------------------------------------------
def _epoch_dtao(
    before: StateReader,
    after: StateReader,
    netuid: int,
    E: int,
    era: Layout,
    rao_emission: int | None,
    replaced: frozenset[int] = frozenset(),
    mechanism: int | None = None,
) -> tuple[EpochInputs, EpochOutputs]:
    if rao_emission is None:
        # Refused before any read: the amount is not in the chain (see the module docstring).
        raise InexactEpoch(netuid, E, _NO_RAO_EMISSION, code="rao_emission_unknown")
    idx = era.storage_index(netuid, mechanism or 0)
    epoch_index = era.commit_expiry == "epoch_index"
    cr_era = era.timelocked_item is not None
    hp_items = list(era.hyperparameters.items())
    head: list[tuple[str, tuple]] = [
        ("NetworksAdded", (netuid,)),
        ("SubnetworkN", (netuid,)),
        ("MechanismCountCurrent", (netuid,)) if era.mechanism_index else ("NetworksAdded", (netuid,)),
        ("AlphaValues", (netuid,)),
        ("StakeThreshold", ()),
        ("TaoWeight", ()),
        ("LastMechansimStepBlock", (netuid,)),
        ("RevealPeriodEpochs", (netuid,)),
        ("SubnetEpochIndex", (netuid,)) if epoch_index else ("NetworksAdded", (netuid,)),
    ]
    vals = before.values(
        head + [(i, (netuid,)) for i in era.emission_items] + [(i, (netuid,)) for _, i in hp_items]
    )
    exists, n = vals[0], int(vals[1])
    if not exists:
        raise UnknownNetuid(netuid, before.number)
    mechanisms = int(vals[2]) if era.mechanism_index else 1
    alpha_values, stake_threshold, tao_weight, step_block, reveal_period = vals[3:8]
    subnet_epoch_index = int(vals[8]) if epoch_index else None
    pending = sum(int(v) for v in vals[len(head) : len(head) + len(era.emission_items)])
    hp_raw = dict(zip((f for f, _ in hp_items), vals[len(head) + len(era.emission_items) :]))
    if rao_emission < pending:
        raise ChainError(
            f"rao_emission {rao_emission} for netuid {netuid} at block {E} is below the "
            f"{'+'.join(era.emission_items)} already pending at block {E - 1} ({pending})"
        )

    # -- block E: did the epoch run, and what did on_initialize do before it ----------------
    after_vals = after.values(
        [("LastMechansimStepBlock", (netuid,))]
        + ([("MechanismCountCurrent", (netuid,))] if era.mechanism_index else [])
    )
    if int(after_vals[0]) != E:
        raise ChainError(
            f"no epoch of netuid {netuid} ran at block {E} "
            f"(LastMechansimStepBlock there is {int(after_vals[0])})"
        )
    if mechanism is not None and era.mechanism_index and mechanisms == int(after_vals[1]) and mechanism < mechanisms:
        pass  # one mechanism of a subnet the caller aggregates (chainkit.mechanisms)
    elif mechanisms != 1 or (era.mechanism_index and int(after_vals[1]) != 1):
        raise InexactEpoch(
            netuid, E,
            f"the subnet has {max(mechanisms, int(after_vals[-1]))} mechanisms; per-subnet outputs "
            "are aggregates across mechanisms, only single-mechanism subnets are supported",
            code="multiple_mechanisms",
        )  # fmt: skip
    revealed = _revealed_uids(after.events(), netuid, idx, n, E, era, replaced)
    if era.root_stake_moves_in_drain:
        # Before 334 a subnet drained earlier in the same block (lower netuid) pays its root
        # dividends into TotalHotkeyAlpha[·, 0] before this epoch reads it.
        earlier = sorted(
            int(j) for j, b in after.iter_prefix("LastMechansimStepBlock", ())
            if 0 < int(j) < netuid and int(b) == E
        )  # fmt: skip
        if earlier:
            raise InexactEpoch(
                netuid, E,
                f"subnets {earlier} ran their epochs earlier in the same block and (before spec "
                "334) paid root dividends into root stake before this epoch read it",
                code="root_dividends_same_block",
            )  # fmt: skip

    # -- per UID at E−1 ------------------------------------------------------------------------
    uids = range(n)
    per_uid = before.present([("Keys", (netuid, u)) for u in uids] + [("SubnetOwnerHotkey", (netuid,))])
    hotkeys: list[str | None] = [None if h is None else str(h) for h in per_uid[:n]]
    owner_hotkey = per_uid[n]
    registered = before.values([("BlockAtRegistration", (netuid, u)) for u in uids])
    block_at_registration = np.asarray(
        [int(r) if h is not None else 0 for h, r in zip(hotkeys, registered)], dtype=np.uint64
    )
    owner_uid = None
    if owner_hotkey is not None:
        found = before.present([("Uids", (netuid, str(owner_hotkey)))])[0]
        owner_uid = None if found is None else int(found)
    stake_alpha, stake_tao = _inherited_stakes(before, netuid, hotkeys)

    vec_raw = before.raw([("LastUpdate", (idx,)), ("ValidatorPermit", (netuid,))])
    last_update = _vec(decode_vec_u64, vec_raw[0])
    old_permit = _vec(decode_vec_bool, vec_raw[1])
    rows = before.raw([("Weights", (idx, u)) for u in uids] + [("Bonds", (idx, u)) for u in uids])
    weight_rows = list(rows[:n])
    commit_reveal = bool(hp_raw.get("commit_reveal_enabled", False))
    if revealed:
        for uid, raw in zip(revealed, after.raw([("Weights", (idx, u)) for u in revealed])):
            weight_rows[uid] = raw
        if not commit_reveal:  # do_set_weights moves LastUpdate only without commit-reveal
            last_update = _set_last_update(last_update, revealed, E, n, era)

    commit_blocks = None
    if cr_era and commit_reveal:
        tempo = int(hp_raw["tempo"])
        commit_blocks = _commit_blocks(
            before, after, netuid, idx, E, era, hotkeys, tempo, int(reveal_period), subnet_epoch_index
        )

    hp_fields: dict[str, Any] = {f: v for f, v in hp_raw.items()}
    consensus_prev = None
    if era.reads_consensus_prev:
        hp_fields["liquid_alpha_consensus_mode"] = _consensus_mode(hp_fields["liquid_alpha_consensus_mode"], netuid, E)
        consensus_prev = _consensus_prev(before, netuid, idx, E, hp_fields)
    for f in ("yuma3", "liquid_alpha", "commit_reveal_enabled"):
        if f in hp_fields:
            hp_fields[f] = bool(hp_fields[f])
    for f, v in hp_fields.items():
        if not isinstance(v, (bool, str)):
            hp_fields[f] = int(v)
    low, high = (int(x) for x in alpha_values)
    hp = Hyperparameters(
        **hp_fields,
        alpha_low=low,
        alpha_high=high,
        stake_threshold=int(stake_threshold),
        tao_weight=int(tao_weight),
        owner_uid=owner_uid,
        # Until 422 the drain writes E before the epoch reads it; from 423 it is written after.
        last_mechanism_step_block=E if era.step_block_before_epoch else int(step_block),
    )
    inputs = EpochInputs(
        n=n,
        current_block=E,
        rao_emission=int(rao_emission),
        hyperparameters=hp,
        last_update=last_update,
        block_at_registration=block_at_registration,
        validator_permit=old_permit,
        stake_alpha=stake_alpha,
        stake_tao=stake_tao,
        weights=SparseRows(*decode_rows(weight_rows)),
        bonds=SparseRows(*decode_rows(rows[n:])),
        commit_blocks=commit_blocks,
        netuid=netuid,
        hotkeys=tuple(h or "" for h in hotkeys),
        consensus_prev=consensus_prev,
    )
    return inputs, read_epoch_outputs(after, netuid, n, era, mechanism or 0)


def _consensus_mode(value: Any, netuid: int, E: int) -> str:
    """``LiquidAlphaConsensusMode`` as decoded through the metadata (the storage default,
    ``Auto``, when the subnet never set one) → the model's lower-case name."""
    # a unit variant: "Auto" (scalecodec), {"Auto": None} or ["Auto", None] (enum-with-data forms)
    name = next(iter(value)) if isinstance(value, dict) else value[0] if isinstance(value, (list, tuple)) else value
    mode = str(name).lower()
    if mode not in CONSENSUS_MODES:
        raise DecodeError(f"LiquidAlphaConsensusMode of netuid {netuid} at block {E - 1} is {value!r}")
    return mode


def _uses_previous(hp: dict[str, Any]) -> bool:
    """``compute_consensus_for_liquid_alpha`` would read the stored vector (run_epoch.rs@76671f67):
    Yuma3 with liquid alpha, and Previous, or Auto at the maximum bonds penalty."""
    mode = hp["liquid_alpha_consensus_mode"]
    previous = mode == "previous" or (mode == "auto" and int(hp["bonds_penalty"]) == 0xFFFF)
    return bool(hp.get("yuma3")) and bool(hp.get("liquid_alpha")) and previous


def _consensus_prev(before: StateReader, netuid: int, idx: int, E: int, hp: dict[str, Any]) -> np.ndarray:
    """The netuid's ``Consensus`` (``PerU16`` parts) stored after E−1: nothing in block E writes
    it before the epoch reads it, the epoch itself overwrites it only afterwards. Always read
    (empty when absent), so that a model can tell "no stored vector" from "not read"."""
    prev = _vec(decode_vec_u16, before.raw([("Consensus", (netuid,))])[0])
    if _uses_previous(hp) and before.declares("ConsensusByMechanism"):
        # Later sources also keep a per-mechanism vector; which of the two a runtime that
        # declares both feeds the sigmoid is not established (docs/eras.md), so only a state
        # where they agree is read.
        other = _vec(decode_vec_u16, before.raw([("ConsensusByMechanism", (idx,))])[0])
        if not np.array_equal(prev, other):
            raise InexactEpoch(
                netuid, E,
                "the liquid-alpha sigmoid reads the previous consensus, and this runtime stores two "
                f"different ones (Consensus[{netuid}] and ConsensusByMechanism[{idx}]); which one its "
                "epoch reads is not established",
                code="consensus_prev_ambiguous",
            )  # fmt: skip
    return prev


def _attr(attrs: Any, i: int, name: str) -> Any:
    if isinstance(attrs, dict):
        return attrs[name]
    return attrs[i]


def _revealed_uids(
    events: list[Event], netuid: int, idx: int, n: int, E: int, era: Layout, replaced: frozenset[int] = frozenset()
) -> list[int]:
    """UIDs whose weights block E's ``on_initialize`` set (timelocked reveals), after checking
    that nothing else in block E makes the state at E differ from what the epoch used."""
    revealed: set[int] = set()
    later: set[int] = set()
    for phase, pallet, name, attrs in events:
        if pallet != PALLET:
            continue
        if name == "WeightsSet" and int(_attr(attrs, 0, "netuid")) == idx:
            (revealed if phase == "Initialization" else later).add(int(_attr(attrs, 1, "uid")))
        elif name == "NeuronRegistered" and int(_attr(attrs, 0, "netuid")) == netuid:
            if phase != "Initialization" and int(_attr(attrs, 1, "uid")) in replaced:
                continue  # after the epoch; the caller leaves that UID out of the comparison
            raise InexactEpoch(
                netuid, E,
                f"UID {int(_attr(attrs, 1, 'uid'))} was (re)registered in block {E} "
                f"({phase}), so the state at {E} is not what the epoch read or wrote",
                code="uid_registered_in_block",
            )  # fmt: skip
        elif name == "SubnetOwnerChanged" and era.owner_change_in_drain and phase == "Initialization":
            changed = attrs.get("netuid") if isinstance(attrs, dict) else attrs[0]
            if int(changed) == netuid:
                raise InexactEpoch(
                    netuid, E, "the drain changed the subnet owner before the epoch in that block",
                    code="owner_changed_in_drain",
                )
    if revealed and replaced:
        # clear_neuron zeroes every Weights entry pointing at a replaced UID, so rows read at E
        # are no longer the rows the epoch used.
        raise InexactEpoch(
            netuid, E,
            f"weights were revealed in on_initialize and UIDs {sorted(replaced)} re-registered "
            "later in the block; the revealed rows at E have their weights on those UIDs zeroed",
            code="weights_revealed_and_uid_replaced",
        )  # fmt: skip
    both = revealed & later
    if both:
        raise InexactEpoch(
            netuid, E,
            f"UIDs {sorted(both)} had weights revealed in on_initialize and set again by an "
            "extrinsic of the same block; the revealed rows are not in storage",
            code="weights_revealed_and_set_in_block",
        )  # fmt: skip
    return sorted(u for u in revealed if u < n)


def _set_last_update(last_update: np.ndarray, uids: list[int], E: int, n: int, era: Layout) -> np.ndarray:
    """``set_last_update_for_uid``: from 320 the vector is padded to n before the write."""
    lu = [int(x) for x in last_update]
    if era.mechanism_index and len(lu) < n:
        lu += [0] * (n - len(lu))
    changed = False
    for uid in uids:
        if uid < len(lu):
            lu[uid] = E
            changed = True
    return np.asarray(lu, dtype=np.uint64) if changed else last_update


def _inherited_stakes(
    before: StateReader, netuid: int, hotkeys: list[str | None]
) -> tuple[np.ndarray, np.ndarray]:
    """``get_inherited_for_hotkey_on_subnet`` / ``get_tao_inherited_for_hotkey_on_subnet`` per
    UID (0 where ``Keys`` has no entry), from ``TotalHotkeyAlpha`` and the child/parent maps."""
    keys = sorted({h for h in hotkeys if h is not None})
    reqs: list[tuple[str, tuple]] = []
    for h in keys:
        reqs += [
            ("TotalHotkeyAlpha", (h, netuid)), ("TotalHotkeyAlpha", (h, 0)),
            ("ChildKeys", (h, netuid)), ("ParentKeys", (h, netuid)),
        ]  # fmt: skip
    got = before.values(reqs)
    alpha: dict[str, int] = {}
    tao: dict[str, int] = {}
    children: dict[str, list[tuple[int, str]]] = {}
    parents: dict[str, list[tuple[int, str]]] = {}
    for i, h in enumerate(keys):
        a, t, c, p = got[4 * i : 4 * i + 4]
        alpha[h], tao[h] = int(a), int(t)
        children[h], parents[h] = relations(c), relations(p)
    missing = sorted({p for ps in parents.values() for _, p in ps} - set(alpha))
    if missing:
        more = before.values(
            [r for p in missing for r in (("TotalHotkeyAlpha", (p, netuid)), ("TotalHotkeyAlpha", (p, 0)))]
        )
        for i, p in enumerate(missing):
            alpha[p], tao[p] = int(more[2 * i]), int(more[2 * i + 1])
    sa = [0 if h is None else inherited(h, alpha, children[h], parents[h], is_root=netuid == 0) for h in hotkeys]
    st = [0 if h is None else inherited(h, tao, children[h], parents[h]) for h in hotkeys]
    return np.asarray(sa, dtype=np.uint64), np.asarray(st, dtype=np.uint64)


def _commit_blocks(
    before: StateReader,
    after: StateReader,
    netuid: int,
    idx: int,
    E: int,
    era: Layout,
    hotkeys: list[str | None],
    tempo: int,
    reveal_period: int,
    subnet_epoch_index: int | None,
) -> np.ndarray:
    """The CR mask's ``commit_blocks`` per UID (u64::MAX = no active commit)."""
    if era.commit_expiry == "epoch_index":
        # drain_pending incremented SubnetEpochIndex before the epoch; should_run_epoch is false
        # right after a drain, so current_epoch_with_lookahead is the incremented index.
        current = int(subnet_epoch_index or 0) + 1

        def expired(epoch: int) -> bool:
            return current > min(epoch + reveal_period, U64_MAX)

    else:
        period = tempo + 1

        def epoch_of(block: int) -> int:
            return (block + netuid + 1) // period

        current = epoch_of(E)

        def expired(cb: int) -> bool:
            return current > min(epoch_of(cb) + reveal_period, U64_MAX)

    uid_of: dict[str, int] = {}
    for uid, h in enumerate(hotkeys):
        if h is not None:
            uid_of.setdefault(h, uid)
    n = len(hotkeys)
    out = [U64_MAX] * n
    # v2 hash commits: (hash, commit_block, first, last) before 423, (hash, epoch, block, _) after
    registered = sorted(uid_of)
    queues = before.present([("WeightCommits", (idx, h)) for h in registered])
    for h, queue in zip(registered, queues):
        for entry in queue or ():
            if era.commit_expiry == "epoch_index":
                key, block = int(entry[1]), int(entry[2])
            else:
                key = block = int(entry[1])
            if not expired(key):
                out[uid_of[h]] = min(out[uid_of[h]], block)
                break
    # timelocked commits, after block E's reveal, without block E's own commits
    assert era.timelocked_item is not None
    for key_epoch, queue in after.iter_prefix(era.timelocked_item, (idx,)):
        if era.commit_expiry == "epoch_index" and expired(int(key_epoch)):
            continue
        for entry in queue or ():
            who, block = str(entry[0]), int(entry[1])
            if block >= E:
                continue
            if era.commit_expiry == "block" and expired(block):
                continue
            uid = uid_of.get(who)
            if uid is not None:
                out[uid] = min(out[uid], block)
    return np.asarray(out, dtype=np.uint64)


def _vec(decoder, raw: bytes | None) -> np.ndarray:
    # Absent Vec items read as their storage default, the empty vector.
    return decoder(raw if raw is not None else b"\x00")


def read_epoch_outputs(after: StateReader, netuid: int, n: int, era: Layout, mechanism: int = 0) -> EpochOutputs:
    """Everything the era's epoch writes, read at E (per-mechanism items at ``mechanism``)."""
    idx = era.storage_index(netuid, mechanism)
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

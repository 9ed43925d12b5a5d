"""The ledger of one subnet epoch read from the chain, and its reconciliation with stake storage.

``epoch_ledger(chain, netuid, E)`` reads what block E+1's payout reads (the state after block
E), computes every credit with the era's rules (:mod:`taoaudit.consensus.ledger`), and — when
block E+1 exists — compares the stake storage before and after it with what the credits must
have changed. Spec 103 (single-token era): ``LoadedEmission`` of every subnet at E (drained in
E+1 in ``Tempo`` order), ``Delegates``/``Owner`` of every loaded hotkey, the delegates'
``Stake`` entries and ``TotalHotkeyStake``; the epoch's emission is ``PendingEmission +
EmissionValues`` at E−1. Reconciled at E and E+1: every ``Stake[hotkey, ·]`` entry of every
loaded hotkey, their ``TotalHotkeyStake``, ``TotalColdkeyStake`` of every coldkey involved,
``TotalStake``, ``TotalIssuance``, and that ``LoadedEmission`` is gone.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from taoaudit.consensus.ledger import spec103
from taoaudit.consensus.ledger.eras import ledger_era_for
from taoaudit.consensus.ledger.model import Difference, Ledger, StorageChange, Token
from taoaudit.consensus.ledger.reconcile import reconcile

from .client import Block, Chain
from .errors import ChainError, MissingRecordingEntry, UnknownNetuid, UnsupportedSpec
from .files import atomic_open
from .layout import PALLET


@dataclass
class StakeView:
    """The stake storage of one block for the accounts of one payout, read in few batches."""

    number: int
    delegates: dict[str, int]  # hotkey -> take, only hotkeys with a Delegates entry
    owners: dict[str, str]
    stakes: dict[str, list[tuple[str, int]]]  # hotkey -> Stake[hotkey, ·] in storage order
    values: dict[tuple[str, tuple[str, ...]], int]  # (storage, key) -> value, for reconciliation
    loaded_left: dict[int, bool]  # netuid -> LoadedEmission still present


def _map_keys(block: Block, item: str, prefix: tuple, which: int) -> list[tuple[str, Any]]:
    """``(full key, decoded map key number which)`` of every entry under ``item[prefix…]``."""
    keys = block.keys(block.storage_prefix(PALLET, item, *prefix))
    ty = block._entry(PALLET, item).get_params_type_string()[which]
    return [(k, block.runtime.decode(ty, block.key_suffix(PALLET, item, k, which))) for k in keys]


def _loaded(block: Block) -> list[tuple[int, tuple[tuple[str, int], ...]]]:
    """``LoadedEmission`` of every subnet ``drain_emission`` will pay, in its order."""
    entries = _map_keys(block, "LoadedEmission", (), 0)
    tempos = {int(n) for _, n in _map_keys(block, "Tempo", (), 0)}
    raws = block.read_raw_many([k for k, _ in entries])
    loaded = {int(n): block.decode_value(PALLET, "LoadedEmission", raw) for (_, n), raw in zip(entries, raws)}
    order = spec103.drain_order([n for n in loaded if n in tempos])
    return [(n, tuple((str(h), int(a)) for h, a in loaded[n] or [])) for n in order]


def read_stake_view(block: Block, hotkeys: list[str], netuids: list[int], coldkeys: set[str] = frozenset()) -> StakeView:
    """``Delegates``, ``Owner``, ``TotalHotkeyStake`` and every ``Stake`` entry of ``hotkeys``,
    ``TotalColdkeyStake`` of every coldkey seen (and of ``coldkeys``), ``TotalStake``,
    ``TotalIssuance``, and whether ``LoadedEmission`` of ``netuids`` is present."""
    stake_keys = {h: _map_keys(block, "Stake", (h,), 1) for h in hotkeys}
    plan: list[tuple[str, tuple, str]] = []
    for h in hotkeys:
        plan += [("Delegates", (h,), block.storage_key(PALLET, "Delegates", h)),
                 ("Owner", (h,), block.storage_key(PALLET, "Owner", h)),
                 ("TotalHotkeyStake", (h,), block.storage_key(PALLET, "TotalHotkeyStake", h))]
        plan += [("Stake", (h, str(c)), k) for k, c in stake_keys[h]]
    plan += [("LoadedEmission", (n,), block.storage_key(PALLET, "LoadedEmission", n)) for n in netuids]
    plan += [(item, (), block.storage_key(PALLET, item)) for item in ("TotalStake", "TotalIssuance")]
    raws = block.read_raw_many([k for _, _, k in plan])
    view = StakeView(block.number, {}, {}, {h: [] for h in hotkeys}, {}, {})
    for (item, key, _), raw in zip(plan, raws):
        if item == "LoadedEmission":
            view.loaded_left[key[0]] = raw is not None
            continue
        if item == "Delegates":
            if raw is not None:
                view.delegates[key[0]] = int(block.decode_value(PALLET, item, raw))
            continue
        value = block.decode_value(PALLET, item, raw)
        if item == "Owner":
            view.owners[key[0]] = str(value)
            continue
        view.values[(item, key)] = int(value)
        if item == "Stake":
            view.stakes[key[0]].append((key[1], int(value)))
    cold = sorted(set(coldkeys) | set(view.owners.values()) | {c for h in hotkeys for c, _ in view.stakes[h]})
    tcs = block.read_raw_many([block.storage_key(PALLET, "TotalColdkeyStake", c) for c in cold])
    for c, raw in zip(cold, tcs):
        view.values[("TotalColdkeyStake", (c,))] = int(block.decode_value(PALLET, "TotalColdkeyStake", raw))
    return view


def drain_state(loaded: list[tuple[int, tuple[tuple[str, int], ...]]], view: StakeView) -> spec103.DrainState:
    """What ``drain_emission`` of the block after ``view``'s reads (spec 103)."""
    return spec103.DrainState(
        loaded=tuple(loaded),
        delegates=dict(view.delegates),
        owners=dict(view.owners),
        stakes={h: tuple(view.stakes[h]) for h in view.delegates},
        total_hotkey_stake={h: view.values[("TotalHotkeyStake", (h,))] for h in view.delegates},
    )


def observed_changes(before: StakeView, after: StakeView) -> list[StorageChange]:
    """Every entry read at either block, before and after (absent = 0, as ``ValueQuery``)."""
    return [
        StorageChange(storage, key, Token.TAO, before.values.get((storage, key), 0),
                      after.values.get((storage, key), 0), before.number, after.number)
        for storage, key in dict.fromkeys([*before.values, *after.values])
    ]


def _still_loaded(after: StakeView, loaded: list[tuple[int, tuple[tuple[str, int], ...]]]) -> list[Difference]:
    return [
        Difference("LoadedEmission", "", "", (), Token.TAO, 0, sum(a for _, a in tuples), after.number - 1,
                   after.number, f"netuid {n}'s LoadedEmission was not drained in block {after.number}")
        for n, tuples in loaded if after.loaded_left.get(n)
    ]


def _check_epoch(block: Block, netuid: int) -> None:
    added, last_step = block.query_many([(PALLET, "NetworksAdded", netuid), (PALLET, "LastMechansimStepBlock", netuid)])
    if not added:
        raise UnknownNetuid(netuid, block.number)
    if int(last_step) != block.number:
        raise ChainError(
            f"no epoch of subnet {netuid} ran at block {block.number} (its last epoch block there is {int(last_step)})"
        )


def epoch_ledger(chain: Chain, netuid: int, epoch_block: int, *, reconcile_with_chain: bool = True) -> Ledger:
    """The ledger of ``netuid``'s epoch at block ``epoch_block``, reconciled with the chain's
    stake storage before and after the payout block when that block exists."""
    blk = chain.at(epoch_block)
    era = ledger_era_for(blk.spec_version)
    if era.name != spec103.ERA:
        raise UnsupportedSpec(
            blk.spec_version, "103",
            what=f"reading the ledger from a chain (era {era.name}: the drained amount includes block "
                 "E's own accrual, which no storage item or event holds)",
        )
    _check_epoch(blk, netuid)
    prev = chain.at(epoch_block - 1)
    pending, per_block = prev.query_many([(PALLET, "PendingEmission", netuid), (PALLET, "EmissionValues", netuid)])
    loaded = _loaded(blk)
    hotkeys = list(dict.fromkeys(h for _, tuples in loaded for h, _ in tuples))
    netuids = [n for n, _ in loaded]
    before = read_stake_view(blk, hotkeys, netuids)
    paid = spec103.payout(drain_state(loaded, before), epoch_block + 1)
    ledger = spec103.ledger(paid, netuid, epoch_block, rao_emission=int(pending) + int(per_block),
                            spec_version=blk.spec_version)
    if not reconcile_with_chain:
        return ledger
    nxt = _next_block(chain, epoch_block)
    if isinstance(nxt, str):
        return _note(ledger, nxt)
    if nxt.spec_version != blk.spec_version:
        return _note(ledger, f"not reconciled: block {nxt.number} runs another runtime (spec {nxt.spec_version})")
    seen = {c for (item, key) in before.values if item == "TotalColdkeyStake" for c in key}
    try:
        after = read_stake_view(nxt, hotkeys, netuids, coldkeys=seen)
    except MissingRecordingEntry:
        return _note(ledger, f"not reconciled: the recording lacks the stake storage of block {nxt.number}, "
                             "which pays the epoch out")
    return reconcile(ledger, paid.expected, observed_changes(before, after), extra=_still_loaded(after, loaded))


def _next_block(chain: Chain, epoch_block: int) -> Block | str:
    head = chain.head().number
    if head <= epoch_block:
        return f"not reconciled: block {epoch_block + 1}, which pays the epoch out, is not on the chain yet (head {head})"
    try:
        return chain.at(epoch_block + 1)
    except MissingRecordingEntry:
        return f"not reconciled: the recording has no block {epoch_block + 1}, which pays the epoch out"


def _note(ledger: Ledger, note: str) -> Ledger:
    return replace(ledger, reconciled=False, reconcile_note=note)


# --------------------------------------------------------------------------------------------
# files


def write_parquet(ledger: Ledger, path: str | os.PathLike) -> Path:
    """The ledger's credits as a Parquet table (atomic; the epoch's facts in its metadata)."""
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    from taoaudit.consensus.ledger.model import credit_columns

    cols = credit_columns(ledger)
    table = pa.table({k: pa.array(v) for k, v in cols.items()})
    meta = {
        "netuid": ledger.netuid, "epoch_block": ledger.epoch_block, "spec_version": ledger.spec_version,
        "distributed": {t.value: int(v) for t, v in ledger.distributed.items()},
        "remainder": [{"token": p.token.value, "rao": int(p.rao), "why": p.why} for p in ledger.remainder],
        "reconciled": ledger.reconciled, "reconcile_note": ledger.reconcile_note,
    }
    table = table.replace_schema_metadata({b"taoaudit.ledger": json.dumps(meta).encode()})
    target = Path(path)
    with atomic_open(target) as f:
        pq.write_table(table, f)
    return target

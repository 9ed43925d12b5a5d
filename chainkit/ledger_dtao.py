"""Reading the storage the dTAO payout reads and writes (specs 365–394) into a PayoutState.

The payout of an epoch at block E runs in E's ``on_initialize``; reading the same entries at
E−1 and at E gives the state before and after it. Which entries: the subnet's payout settings
(owner, owner hotkey, TaoWeight, CKBurn, RecycleOrBurn, lease), and for every hotkey the payout
can touch — the epoch's hotkeys, their parents, the owner hotkey and auto-stake destinations —
its stakes on the subnet and on root, its alpha share pool (every ``Alpha`` entry under the
hotkey, found by key prefix), child/parent relations, takes, owner coldkey, root-claimable
rate and the per-subnet dividend records. Accounts are SS58 strings (prefix 42), ordered by
their raw bytes as the runtime's ``BTreeMap`` s are.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

from scalecodec.utils.ss58 import ss58_decode, ss58_encode

from taoaudit.consensus.ledger.dtao import AutoStakeEvent, Pending, PayoutState, storage_entries
from taoaudit.consensus.ledger.model import StorageChange, Token

from .client import Block
from .epoch import BlockReader
from .errors import UnsupportedSpec
from .layout import PALLET

#: specs whose share storage this reader decodes (U64F64 ``Alpha``/``TotalHotkeyShares``);
#: 397+ keep SafeFloat shares in AlphaV2/TotalHotkeySharesV2, for which no metadata is at hand
READABLE_SPECS = (365, 396)

#: the all-zero AccountId (``DefaultAccount``) as SS58
DEFAULT_ACCOUNT = ss58_encode(bytes(32), 42)
PENDING_ITEMS = ("PendingServerEmission", "PendingValidatorEmission", "PendingRootAlphaDivs", "PendingOwnerCut")


def account_order(ss58: str) -> str:
    """The runtime's order of AccountIds: their bytes (as lowercase hex, which sorts the same)."""
    return ss58_decode(ss58).lower()


def _bits(v: Any) -> int:
    return int(v["bits"]) if isinstance(v, dict) else int(v)


def _enum_name(v: Any) -> str:
    if isinstance(v, dict):
        return next(iter(v))
    if isinstance(v, (list, tuple)):
        return str(v[0])
    return str(v)


def _present(block: Block, requests: Sequence[tuple]) -> list[bytes | None]:
    return block.read_raw_many([block.storage_key(PALLET, item, *keys) for item, *keys in requests])


def read_pending(block: Block, netuid: int) -> Pending:
    """The subnet's pending alpha stored at ``block`` (the epoch block drains these plus its own accrual)."""
    s, v, r, o = block.query_many([(PALLET, item, netuid) for item in PENDING_ITEMS])
    return Pending(int(s), int(v), int(r), int(o))


def _subnet_settings(block: Block, state: PayoutState) -> None:
    netuid = state.netuid
    reqs = [("SubnetOwner", netuid), ("SubnetOwnerHotkey", netuid), ("RecycleOrBurn", netuid),
            ("SubnetUidToLeaseId", netuid)]
    raws = _present(block, reqs)
    owner, owner_hk, rob, _lease = (None if raw is None else block.decode_value(PALLET, item, raw)
                                    for (item, *_k), raw in zip(reqs, raws))
    state.subnet_owner, state.subnet_owner_hotkey = owner, owner_hk
    state.recycle_or_burn = None if rob is None else _enum_name(rob)
    state.leased = raws[3] is not None
    tw, ck, out = block.query_many([(PALLET, "TaoWeight"), (PALLET, "CKBurn"), (PALLET, "SubnetAlphaOut", netuid)])
    state.tao_weight, state.ck_burn, state.subnet_alpha_out = int(tw), int(ck), int(out)


def _alpha_shares(block: Block, netuid: int, hotkey: str) -> dict[str, int]:
    """Every ``Alpha[(hotkey, coldkey, netuid)]`` share of the hotkey on this subnet."""
    keys = block.keys(block.storage_prefix(PALLET, "Alpha", hotkey))
    mine = [k for k in keys if int.from_bytes(block.key_suffix(PALLET, "Alpha", k, 2), "little") == netuid]
    raws = block.read_raw_many(mine)
    out = {}
    for k, raw in zip(mine, raws):
        cold = ss58_encode(block.key_suffix(PALLET, "Alpha", k, 1), 42)
        out[cold] = _bits(block.decode_value(PALLET, "Alpha", raw))
    return out


def _hotkey_items(block: Block, state: PayoutState, hotkeys: Iterable[str]) -> None:
    n = state.netuid
    per = ("TotalHotkeyAlpha", "TotalHotkeyAlphaRoot", "TotalHotkeyShares", "ChildKeys", "ParentKeys",
           "ChildkeyTake", "Delegates", "Owner", "RootClaimable", "AlphaDividendsPerSubnet",
           "RootAlphaDividendsPerSubnet", "TotalHotkeyAlphaLastEpoch")
    for h in sorted(set(hotkeys), key=account_order):
        vals = dict(zip(per, block.query_many([
            (PALLET, "TotalHotkeyAlpha", h, n), (PALLET, "TotalHotkeyAlpha", h, 0), (PALLET, "TotalHotkeyShares", h, n),
            (PALLET, "ChildKeys", h, n), (PALLET, "ParentKeys", h, n), (PALLET, "ChildkeyTake", h, n),
            (PALLET, "Delegates", h), (PALLET, "Owner", h), (PALLET, "RootClaimable", h),
            (PALLET, "AlphaDividendsPerSubnet", n, h), (PALLET, "RootAlphaDividendsPerSubnet", n, h),
            (PALLET, "TotalHotkeyAlphaLastEpoch", h, n)])))
        _put_nonzero(state.total_hotkey_alpha, (h, n), int(vals["TotalHotkeyAlpha"]))
        _put_nonzero(state.total_hotkey_alpha, (h, 0), int(vals["TotalHotkeyAlphaRoot"]))
        _put_nonzero(state.total_hotkey_shares, h, _bits(vals["TotalHotkeyShares"]))
        state.child_keys[h] = [(int(p), c) for p, c in vals["ChildKeys"]]
        state.parent_keys[h] = [(int(p), c) for p, c in vals["ParentKeys"]]
        state.childkey_take[h] = int(vals["ChildkeyTake"])
        state.delegate_take[h] = int(vals["Delegates"])
        state.owner[h] = vals["Owner"]
        rc = {int(k): _bits(v) for k, v in vals["RootClaimable"]}
        if n in rc:
            state.root_claimable[h] = rc[n]
        _put_nonzero(state.alpha_dividends_per_subnet, h, int(vals["AlphaDividendsPerSubnet"]))
        _put_nonzero(state.root_alpha_dividends_per_subnet, h, int(vals["RootAlphaDividendsPerSubnet"]))
        _put_nonzero(state.total_hotkey_alpha_last_epoch, h, int(vals["TotalHotkeyAlphaLastEpoch"]))
        for cold, bits in _alpha_shares(block, n, h).items():
            state.alpha_shares[(h, cold)] = bits


def _put_nonzero(d: dict, key: Any, value: int) -> None:
    """Absent and zero read the same (ValueQuery); keep only stored non-zero values."""
    if value:
        d[key] = value


def read_payout_state(block: Block, netuid: int, hotkeys: Sequence[str]) -> PayoutState:
    """What the payout of ``netuid`` reads, as stored at ``block``, for the epoch's ``hotkeys``."""
    lo, hi = READABLE_SPECS
    if not lo <= block.spec_version <= hi:
        raise UnsupportedSpec(block.spec_version, f"{lo}–{hi} (U64F64 share storage; the SafeFloat AlphaV2 "
                              "storage of 397+ is not read)", "reading the dTAO payout state")
    state = PayoutState(netuid=netuid, default_account=DEFAULT_ACCOUNT, sort_key=account_order, label=str)
    _subnet_settings(block, state)
    parents = block.query_many([(PALLET, "ParentKeys", h, netuid) for h in hotkeys])
    owners = block.query_many([(PALLET, "Owner", h) for h in hotkeys])
    dests = _present(block, [("AutoStakeDestination", c, netuid) for c in owners])
    touched = set(hotkeys) | {p for rel in parents for _prop, p in rel}
    for c, raw in zip(owners, dests):
        if raw is not None:
            dest = block.decode_value(PALLET, "AutoStakeDestination", raw)
            state.auto_stake_destination[c] = dest
            touched.add(dest)
    if state.subnet_owner_hotkey is not None:
        touched.add(state.subnet_owner_hotkey)
    _hotkey_items(block, state, touched)
    _owner_hotkeys(block, state)
    return state


def _owner_hotkeys(block: Block, state: PayoutState) -> None:
    cold = state.subnet_owner if state.subnet_owner is not None else state.default_account
    (owned,) = block.query_many([(PALLET, "OwnedHotkeys", cold)])
    state.owned_hotkeys[cold] = list(owned)
    candidates = list(owned) + ([state.subnet_owner_hotkey] if state.subnet_owner_hotkey is not None else [])
    uids = block.query_many([(PALLET, "Uids", state.netuid, h) for h in candidates])
    for h, uid in zip(candidates, uids):
        if uid is not None:
            state.uids[h] = int(uid)
    regs = block.query_many([(PALLET, "BlockAtRegistration", state.netuid, u) for u in state.uids.values()])
    for u, b in zip(state.uids.values(), regs):
        state.block_at_registration[u] = int(b)


def observed_changes(before: PayoutState, after: PayoutState, block_before: int, block_after: int) -> list[StorageChange]:
    """The chain's changes of every payout entry between the two states it stored."""
    b, a = storage_entries(before), storage_entries(after)
    return [StorageChange(item, key, Token.ALPHA, b.get((item, key), 0), a.get((item, key), 0), block_before, block_after)
            for item, key in sorted(set(b) | set(a))]


def autostake_events(block: Block, netuid: int) -> list[AutoStakeEvent]:
    """The ``SubtensorModule.AutoStakeAdded`` events of ``netuid`` deposited in ``block``."""
    out = []
    for _phase, module, name, attrs in BlockReader(block).events():
        if module == "SubtensorModule" and name == "AutoStakeAdded" and int(attrs["netuid"]) == netuid:
            out.append(AutoStakeEvent(netuid, attrs["destination"], attrs["hotkey"], attrs["owner"], int(attrs["incentive"])))
    return out

"""A synthetic dTAO epoch payout, encoded with the real spec-393 metadata, read back and reconciled.

No recorded dTAO chain holds a payout we could check account by account, so this test builds
one subnet's storage at E−1 (validators with nominators and a non-default delegate take, a
childkey with two parents — one of another coldkey, so childkey take and CKBurn apply —, root
stake with a TaoWeight, miners, an auto-stake destination, owner hotkeys whose incentive is
recycled, and a non-zero owner cut), encodes it with the spec-393 runtime's own types and
hashers, and serves it through an in-memory JSON-RPC stand-in to the real
:class:`chainkit.client.Block`.

Honest scope: the state at E is produced by OUR payout model (consensus.ledger.dtao) and then
encoded, so reconciling it with 0 rao unexplained checks the reading, encoding and
reconciliation plumbing — that every entry the payout touches is read, keyed and compared —,
not the payout rules. The rules are checked against the runtime's own unit tests
(tests/test_ledger_dtao_vectors.py, fixtures/coinbase/). The epoch's per-hotkey output
(server, validator alpha) is an input here, as is block E's own pending accrual, which the
runtime adds before draining and stores nowhere.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from taoaudit.chainkit.client import Block, BlockRef
from taoaudit.chainkit.layout import PALLET
from taoaudit.chainkit.ledger_dtao import (
    DEFAULT_ACCOUNT,
    account_order,
    autostake_events,
    observed_changes,
    read_payout_state,
    read_pending,
)
from taoaudit.chainkit.metadata import load_metadata_file
from taoaudit.consensus.errors import UnsupportedSpecError
from taoaudit.consensus.ledger import CreditKind, Token, reconcile
from taoaudit.consensus.ledger import dtao
from taoaudit.consensus.ledger.reconcile import KEY_ROLES

META = Path(__file__).resolve().parents[2] / "shared" / "chain-data" / "asi-ws-spec393" / "metadata_v15_spec393_option.hex"
U64 = (1 << 64) - 1
NETUID, E = 3, 5_000
ROLES = {**KEY_ROLES, **dtao.KEY_ROLES}


def account(seed: str) -> str:
    from scalecodec.utils.ss58 import ss58_encode

    return ss58_encode(hashlib.blake2b(seed.encode(), digest_size=32).digest(), 42)


class FakeChain:
    """Answers a Block's JSON-RPC reads from per-block ``{storage key: bytes}`` maps."""

    endpoint = "synthetic://spec393"

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.states: dict[int, dict[str, bytes]] = {}

    @staticmethod
    def hash_of(n: int) -> str:
        return "0x" + hashlib.blake2b(str(n).encode(), digest_size=32).hexdigest()

    def at(self, n: int) -> Block:
        return Block(self, BlockRef(n, self.hash_of(n), self.hash_of(n - 1)), self.runtime)  # type: ignore[arg-type]

    def put(self, n: int, item: str, keys: tuple, value: Any) -> None:
        blk = self.at(n)
        self.states.setdefault(n, {})[blk.storage_key(PALLET, item, *keys)] = self.runtime.encode(blk.value_type(PALLET, item), value)

    def put_events(self, n: int, events: list[dtao.AutoStakeEvent]) -> None:
        blk = self.at(n)
        records = [{"phase": "Initialization", "topics": [], "event": {"SubtensorModule": {"AutoStakeAdded": {
            "netuid": e.netuid, "destination": e.destination, "hotkey": e.hotkey, "owner": e.owner,
            "incentive": e.incentive}}}} for e in events]
        self.states[n][blk.storage_key("System", "Events")] = self.runtime.encode(blk.value_type("System", "Events"), records)

    def put_raw(self, n: int, item: str, keys: tuple, raw: bytes) -> None:
        self.states.setdefault(n, {})[self.at(n).storage_key(PALLET, item, *keys)] = raw

    def rpc(self, method: str, params: list) -> Any:
        n = next(k for k in self.states if self.hash_of(k) == params[-1])
        state = self.states[n]
        if method == "state_queryStorageAt":
            keys, h = params
            return [{"block": h, "changes": [[k, "0x" + state[k].hex() if k in state else None] for k in keys]}]
        if method == "state_getKeysPaged":
            prefix, count, start, _h = params
            keys = sorted(k for k in state if k.startswith(prefix) and (start is None or k > start))
            return keys[:count]
        raise AssertionError(f"unexpected RPC {method}")


OWNER_CK, OWNER_HK, OWNER_HK2 = account("owner-cold"), account("owner-hot"), account("owner-hot-2")
V1, V1_CK, N1, N2 = account("v1"), account("v1-cold"), account("nominator-1"), account("nominator-2")
V2, V2_CK, P, P_CK, PS = account("v2"), account("v2-cold"), account("parent"), account("parent-cold"), account("parent-same")
M1, M1_CK, M2, M2_CK, M2_DEST = account("m1"), account("m1-cold"), account("m2"), account("m2-cold"), account("m2-dest")
UIDS = {OWNER_HK: 0, V1: 1, V2: 2, M1: 3, M2: 4, OWNER_HK2: 5}
EPOCH_HOTKEYS = list(UIDS)
#: the epoch's (hotkey, server alpha, validator alpha), summing to server+validator+root
HOTKEY_EMISSION = [(OWNER_HK, 0, 0), (V1, 0, 300_000_000), (V2, 0, 200_000_001),
                   (M1, 249_999_999, 0), (M2, 150_000_000, 0), (OWNER_HK2, 100_000_000, 0)]
PENDING = dtao.Pending(server=500_000_000, validator=333_333_333, root=166_666_667, owner_cut=109_756_097)
ACCRUAL_AT_E = dtao.Pending(server=1_000, validator=700, root=300, owner_cut=219)  # block E's own, stored nowhere


def before_state() -> dtao.PayoutState:
    s = dtao.PayoutState(netuid=NETUID, default_account=DEFAULT_ACCOUNT, sort_key=account_order, label=str)
    s.tao_weight, s.ck_burn, s.subnet_alpha_out = U64 * 18 // 100, U64 // 10, 900_000_000_000
    s.subnet_owner, s.subnet_owner_hotkey, s.recycle_or_burn = OWNER_CK, OWNER_HK, "Recycle"
    s.owned_hotkeys = {OWNER_CK: [OWNER_HK, OWNER_HK2]}
    s.uids = {OWNER_HK: 0, OWNER_HK2: 5}
    s.block_at_registration = {0: 100, 5: 4_000}
    s.owner = {OWNER_HK: OWNER_CK, OWNER_HK2: OWNER_CK, V1: V1_CK, V2: V2_CK, P: P_CK, PS: V2_CK,
               M1: M1_CK, M2: M2_CK, M2_DEST: M2_CK}
    s.delegate_take = {h: 11_796 for h in s.owner} | {V1: 6_553, V2: 0}
    s.childkey_take = {h: 0 for h in s.owner} | {V2: 3_276}
    s.child_keys = {h: [] for h in s.owner} | {P: [(U64 // 2, V2)], PS: [(U64 // 4, V2)]}
    s.parent_keys = {h: [] for h in s.owner} | {V2: [(U64 // 2, P), (U64 // 4, PS)]}
    s.auto_stake_destination = {M2_CK: M2_DEST}
    alpha = {V1: 7_700_000_000, V2: 3_000_000_000, P: 10_000_000_000, PS: 2_000_000_000,
             OWNER_HK: 5_000_000_000, M2_DEST: 123}
    root = {V1: 50_000_000_000_000, P: 1_000_000_000_000, V2: 7}
    s.total_hotkey_alpha = {(h, NETUID): v for h, v in alpha.items()} | {(h, 0): v for h, v in root.items()}
    sh = 1 << 64
    s.alpha_shares = {(V1, V1_CK): 4_000_000_000 * sh, (V1, N1): 2_000_000_000 * sh + 12345,
                      (V1, N2): 1_000_000_000 * sh, (V2, V2_CK): 3_000_000_000 * sh, (P, P_CK): 10_000_000_000 * sh,
                      (PS, V2_CK): 2_000_000_000 * sh, (OWNER_HK, OWNER_CK): 5_000_000_000 * sh, (M2_DEST, M2_CK): 100 * sh}
    s.total_hotkey_shares = {V1: 7_000_000_000 * sh + 12345, V2: 3_000_000_000 * sh, P: 10_000_000_000 * sh,
                             PS: 2_000_000_000 * sh, OWNER_HK: 5_000_000_000 * sh, M2_DEST: 100 * sh}
    s.root_claimable = {V1: 3 << 20}
    s.alpha_dividends_per_subnet = {V1: 42, M1: 7}  # the previous epoch's: cleared by the payout
    s.root_alpha_dividends_per_subnet = {V1: 5}
    s.total_hotkey_alpha_last_epoch = {V1: 7_000_000_000}
    return s


def root_claimable_bytes(entries: dict[int, int]) -> bytes:
    """SCALE BTreeMap<NetUid, I96F32>: compact length, then (u16, i128 bits) pairs in key order."""
    assert len(entries) < 64
    out = bytes([len(entries) << 2])
    for k in sorted(entries):
        out += k.to_bytes(2, "little") + entries[k].to_bytes(16, "little", signed=True)
    return out


def encode(c: FakeChain, n: int, s: dtao.PayoutState, pending: dtao.Pending) -> None:
    """Write every entry the payout reads or writes, as the runtime stores it."""
    c.states[n] = {}
    for item, keys, v in [("SubnetOwner", (NETUID,), s.subnet_owner), ("SubnetOwnerHotkey", (NETUID,), s.subnet_owner_hotkey),
                          ("RecycleOrBurn", (NETUID,), s.recycle_or_burn), ("TaoWeight", (), s.tao_weight),
                          ("CKBurn", (), s.ck_burn), ("SubnetAlphaOut", (NETUID,), s.subnet_alpha_out),
                          ("PendingServerEmission", (NETUID,), pending.server),
                          ("PendingValidatorEmission", (NETUID,), pending.validator),
                          ("PendingRootAlphaDivs", (NETUID,), pending.root), ("PendingOwnerCut", (NETUID,), pending.owner_cut)]:
        if v is not None:
            c.put(n, item, keys, v)
    for cold, hs in s.owned_hotkeys.items():
        c.put(n, "OwnedHotkeys", (cold,), hs)
    for h, uid in UIDS.items():
        c.put(n, "Uids", (NETUID, h), uid)
        c.put(n, "Keys", (NETUID, uid), h)
    for uid, b in s.block_at_registration.items():
        c.put(n, "BlockAtRegistration", (NETUID, uid), b)
    for cold, dest in s.auto_stake_destination.items():
        c.put(n, "AutoStakeDestination", (cold, NETUID), dest)
    for h, cold in s.owner.items():
        c.put(n, "Owner", (h,), cold)
        c.put(n, "Delegates", (h,), s.delegate_take[h])
        if s.childkey_take.get(h):
            c.put(n, "ChildkeyTake", (h, NETUID), s.childkey_take[h])
        if s.child_keys.get(h):
            c.put(n, "ChildKeys", (h, NETUID), s.child_keys[h])
        if s.parent_keys.get(h):
            c.put(n, "ParentKeys", (h, NETUID), s.parent_keys[h])
    for (h, netuid), v in s.total_hotkey_alpha.items():
        c.put(n, "TotalHotkeyAlpha", (h, netuid), v)
    for (h, cold), bits in s.alpha_shares.items():
        c.put(n, "Alpha", (h, cold, NETUID), {"bits": bits})
        c.put(n, "Alpha", (h, cold, 7), {"bits": 999 << 64})  # another subnet's shares: not this payout's
    for h, bits in s.total_hotkey_shares.items():
        c.put(n, "TotalHotkeyShares", (h, NETUID), {"bits": bits})
    for h, bits in s.root_claimable.items():
        c.put_raw(n, "RootClaimable", (h,), root_claimable_bytes({NETUID: bits, 7: 77}))
    for item, values in (("AlphaDividendsPerSubnet", s.alpha_dividends_per_subnet),
                         ("RootAlphaDividendsPerSubnet", s.root_alpha_dividends_per_subnet)):
        for h, v in values.items():
            c.put(n, item, (NETUID, h), v)
    for h, v in s.total_hotkey_alpha_last_epoch.items():
        c.put(n, "TotalHotkeyAlphaLastEpoch", (h, NETUID), v)


def stored_pending() -> dtao.Pending:
    return dtao.Pending(*(getattr(PENDING, f) - getattr(ACCRUAL_AT_E, f) for f in ("server", "validator", "root", "owner_cut")))


@pytest.fixture(scope="module")
def world() -> dict:
    rt = load_metadata_file(META)
    c = FakeChain(rt)
    before = before_state()
    encode(c, E - 1, before, stored_pending())
    read_before = read_payout_state(c.at(E - 1), NETUID, EPOCH_HOTKEYS)
    result = dtao.payout(393, read_before, PENDING, HOTKEY_EMISSION, E)
    encode(c, E, result.after, dtao.Pending(0, 0, 0, 0))
    c.put_events(E, result.events)
    return {"chain": c, "before": before, "read_before": read_before, "payout": result}


def reconciled(c: FakeChain, w: dict):
    read_after = read_payout_state(c.at(E), NETUID, EPOCH_HOTKEYS)
    p = w["payout"]
    expected = dtao.expected_changes(w["read_before"], p.after, p.ledger.credits)
    observed = observed_changes(w["read_before"], read_after, E - 1, E)
    events = dtao.event_differences(p.events, autostake_events(c.at(E), NETUID), E)
    return reconcile(p.ledger, expected, observed, extra=events, roles=ROLES)


def test_reads_back_the_encoded_state(world: dict) -> None:
    """The reader returns exactly the state that was encoded (entries of other subnets ignored)."""
    a, b = world["read_before"], world["before"]
    for f in ("tao_weight", "ck_burn", "subnet_alpha_out", "subnet_owner", "subnet_owner_hotkey", "recycle_or_burn",
              "total_hotkey_alpha", "alpha_shares", "total_hotkey_shares", "root_claimable", "auto_stake_destination",
              "alpha_dividends_per_subnet", "root_alpha_dividends_per_subnet", "total_hotkey_alpha_last_epoch",
              "owned_hotkeys", "uids", "block_at_registration"):
        assert getattr(a, f) == getattr(b, f), f
    for h in b.owner:
        assert (a.owner[h], a.delegate_take[h], a.childkey_take[h], a.child_keys[h], a.parent_keys[h]) == (
            b.owner[h], b.delegate_take[h], b.childkey_take[h], b.child_keys[h], b.parent_keys[h]), h
    assert read_pending(world["chain"].at(E - 1), NETUID) == stored_pending()
    assert read_pending(world["chain"].at(E), NETUID) == dtao.Pending(0, 0, 0, 0)


def test_credits_plus_remainder_equal_the_drained_alpha(world: dict) -> None:
    led = world["payout"].ledger
    led.check_sums()
    assert led.distributed == {Token.ALPHA: PENDING.total} and PENDING.total == 1_109_756_097
    assert led.credited_rao(Token.ALPHA) + led.remainder_rao(Token.ALPHA) == 1_109_756_097
    kinds = {c.kind for c in led.credits}
    assert kinds == {CreditKind.OWNER_CUT, CreditKind.MINER_INCENTIVE, CreditKind.DELEGATE_TAKE,
                     CreditKind.NOMINATOR_SHARE, CreditKind.ROOT_DIVIDEND, CreditKind.RECYCLED}
    by = {(c.hotkey, c.coldkey, c.kind): c.rao for c in led.credits}
    assert by[(OWNER_HK, OWNER_CK, CreditKind.OWNER_CUT)] == PENDING.owner_cut
    assert by[(M2_DEST, M2_CK, CreditKind.MINER_INCENTIVE)] == 150_000_000  # auto-staked
    assert by[(OWNER_HK2, "", CreditKind.RECYCLED)] == 100_000_000  # owner hotkey's incentive
    assert {(h, c) for h, c, k in by if k is CreditKind.NOMINATOR_SHARE} >= {(V1, V1_CK), (V1, N1), (V1, N2), (P, P_CK)}
    # the miner incentive from the epoch is one rao short of PendingServerEmission: named
    parts = {r.why: r.rao for r in led.remainder}
    assert parts["miner incentive from the epoch differs from PendingServerEmission"] == 1
    # the parent of another coldkey pays childkey take and CKBurn; the one of the same coldkey does not
    routes = {(r.validator, r.recipient, r.kind): r for r in world["payout"].routes}
    assert routes[(V2, P, CreditKind.PARENT_SHARE)].burned > 0 and (V2, V2, CreditKind.CHILDKEY_TAKE) in routes
    assert routes[(V2, PS, CreditKind.PARENT_SHARE)].burned == 0
    assert world["payout"].recycled_ck_burn > 0
    print(f"\nsynthetic spec-393 epoch: distributed {led.distributed[Token.ALPHA]} alpha rao = "
          f"{led.credited_rao(Token.ALPHA)} credited in {len(led.credits)} credits + {led.remainder_rao(Token.ALPHA)} remainder "
          f"({'; '.join(f'{r.why}: {r.rao}' for r in led.remainder)})")


def test_reconciles_with_zero_unexplained(world: dict) -> None:
    led = reconciled(world["chain"], world)
    assert led.reconciled, led.differences
    assert led.differences == () and led.checked >= 40
    print(f"\nreconciled: {led.reconcile_note}; 0 rao unexplained")


def test_one_altered_balance_is_named(world: dict) -> None:
    """N1's share entry at E altered by one share: that account, storage and kind are named."""
    c = world["chain"]
    saved = dict(c.states[E])
    try:
        bits = world["payout"].after.alpha_shares[(V1, N1)]
        c.put(E, "Alpha", (V1, N1, NETUID), {"bits": bits + (1 << 64) * 1_000})
        led = reconciled(c, world)
    finally:
        c.states[E] = saved
    assert not led.reconciled
    named = {(d.storage, d.hotkey, d.coldkey) for d in led.differences}
    assert named == {("AlphaShares", V1, N1), ("Alpha", V1, N1)}
    alpha = next(d for d in led.differences if d.storage == "Alpha")
    assert alpha.kinds == (CreditKind.NOMINATOR_SHARE,) and alpha.observed_rao - alpha.expected_rao > 0
    print(f"\naltered: {[d.as_dict() for d in led.differences]}")


def test_an_altered_event_is_named(world: dict) -> None:
    """The AutoStakeAdded event of M2's incentive stored with one rao more: named, not reconciled."""
    c = world["chain"]
    saved = dict(c.states[E])
    try:
        (ev,) = world["payout"].events
        assert (ev.destination, ev.hotkey, ev.owner, ev.incentive) == (M2_DEST, M2, M2_CK, 150_000_000)
        c.put_events(E, [replace(ev, incentive=ev.incentive + 1)])
        led = reconciled(c, world)
    finally:
        c.states[E] = saved
    assert not led.reconciled
    assert {(d.storage, d.hotkey, d.coldkey, d.expected_rao, d.observed_rao) for d in led.differences} == {
        ("Event:AutoStakeAdded", M2, M2_CK, 150_000_000, 0), ("Event:AutoStakeAdded", M2, M2_CK, 0, 150_000_001)}


def test_other_eras_are_refused_in_one_line(world: dict) -> None:
    for spec in (103, 343, 364, 426, 445, 459):
        with pytest.raises(UnsupportedSpecError) as e:
            dtao.payout(spec, world["read_before"], PENDING, HOTKEY_EMISSION, E)
        assert "\n" not in str(e.value) and f"spec {spec}" in str(e.value)
    assert dtao.check_payout_era(365) == dtao.check_payout_era(394) == "clamped-exp"
    assert (dtao.check_payout_era(397), dtao.check_payout_era(425)) == ("owner-exempt", "dynamic-tempo")


def test_leased_subnet_is_refused(world: dict) -> None:
    with pytest.raises(UnsupportedSpecError, match="leased"):
        dtao.payout(393, replace(world["read_before"], leased=True), PENDING, HOTKEY_EMISSION, E)


def test_reader_refuses_share_storage_it_does_not_decode() -> None:
    """A spec outside 365–396 (here 343, real metadata) is refused in one line, never read as 393."""
    from taoaudit.chainkit.errors import UnsupportedSpec

    c = FakeChain(load_metadata_file(META.parents[1] / "bittensor-ws" / "metadata_v15_spec343_option.hex"))
    c.states[E - 1] = {}
    with pytest.raises(UnsupportedSpec) as e:
        read_payout_state(c.at(E - 1), NETUID, EPOCH_HOTKEYS)
    assert "343" in str(e.value) and "\n" not in str(e.value)

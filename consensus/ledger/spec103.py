"""Spec 103 (single-token era): how an epoch's emission reaches the stake accounts.

Source, all at subtensor commit 6541a9f41 (runtime spec_version 103):

* ``pallets/subtensor/src/block_step.rs`` ``block_step``: each block first runs
  ``drain_emission`` then ``generate_emission``. The epoch of block E stores its tuples
  ``(hotkey, Emission[uid])`` in ``LoadedEmission[netuid]``; block E+1's ``drain_emission``
  pays out **every** loaded tuple at once (``tuples_to_drain_this_block`` exists but is not
  called), subnet by subnet in ``Tempo`` iteration order (``Tempo`` is an ``Identity``-hashed
  u16 map, so the order is that of the little-endian key bytes), removes the entry and adds
  the sum of the tuples to ``TotalIssuance``.
* ``emit_inflation_through_hotkey_account(hotkey, e)``: a hotkey that is not a delegate
  (``Delegates`` has no entry) gets all of ``e`` staked to ``(hotkey, Owner[hotkey])``. A
  delegate's take is ``to_num::<u64>(I64F64(Delegates[hotkey]) / I64F64(65535) · I64F64(e))``
  (``calculate_delegate_proportional_take``); the rest goes to every ``Stake[hotkey, coldkey]``
  entry, ``to_num::<u64>(I64F64(e − take) · (I64F64(stake_i) / I64F64(TotalHotkeyStake)))``
  (``calculate_stake_proportional_emission``, 0 when the total is 0), with ``TotalHotkeyStake``
  read once before the loop; the take is staked to the owner last.
* ``pallets/subtensor/src/staking.rs`` ``increase_stake_on_coldkey_hotkey_account``: each
  credit adds its amount (saturating) to ``TotalColdkeyStake[coldkey]``,
  ``TotalHotkeyStake[hotkey]``, ``Stake[hotkey, coldkey]`` and ``TotalStake`` (its
  ``TotalIssuance`` line is commented out); ``increase_stake_on_hotkey_account`` uses
  ``Owner[hotkey]`` (a ``ValueQuery``: the all-zero account when absent).
* ``pallets/subtensor/src/epoch.rs`` ``epoch``: ``Emission[uid] = to_num::<u64>(I96F32(x_uid) ·
  I96F32(rao_emission))``; the per-UID floors leave rao that is never minted.

What floors leave uncredited is the ledger's remainder: the epoch's (never minted) and the
drain's (minted into ``TotalIssuance``, staked to nobody).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..errors import EpochInputError
from ..fixedpoint import I64F64, U16_MAX, U64_MAX
from .model import Credit, CreditKind, ExpectedChange, Ledger, RemainderPart, Token

ERA = "spec103"
SOURCE = "pallets/subtensor/src/block_step.rs@6541a9f41"
TOKEN = Token.TAO
#: ``DefaultAccount``: ``AccountId::decode(TrailingZeroInput::zeroes())``, SS58 with prefix 42
ZERO_ACCOUNT = "5C4hrfjw9DjXZTzV3MwzrrAr9P1MJhSrvWGWqi1eSuyUpnhM"


class LedgerInputError(EpochInputError):
    """State the spec-103 payout could not have run on without a panic or a saturation."""


@dataclass(frozen=True)
class DrainState:
    """What block E+1's ``drain_emission`` reads: the state after block E.

    ``loaded``: ``(netuid, tuples)`` for every subnet with a ``LoadedEmission`` entry, in the
    runtime's drain order (:func:`drain_order`). ``delegates``: hotkey → take for the hotkeys
    that have a ``Delegates`` entry. ``owners``: ``Owner`` of every loaded hotkey.
    ``stakes``: for every loaded delegate, its ``Stake[hotkey, ·]`` entries in storage order.
    ``total_hotkey_stake``: ``TotalHotkeyStake`` of every loaded delegate.
    """

    loaded: tuple[tuple[int, tuple[tuple[str, int], ...]], ...]
    delegates: Mapping[str, int]
    owners: Mapping[str, str]
    stakes: Mapping[str, tuple[tuple[str, int], ...]]
    total_hotkey_stake: Mapping[str, int]


@dataclass(frozen=True)
class Payout:
    """Every credit block E+1 makes, per subnet, and the stake changes they must cause."""

    drain_block: int
    credits: Mapping[int, tuple[Credit, ...]]
    drain_dust: Mapping[int, int]
    emitted: Mapping[int, int]
    expected: tuple[ExpectedChange, ...]


def drain_order(netuids: Sequence[int]) -> list[int]:
    """``Tempo::iter()`` order: Identity-hashed u16 keys sort by their little-endian bytes."""
    return sorted(netuids, key=lambda n: (n & 0xFF, n >> 8))


def _fixed(value: int, what: str) -> int:
    raw = value << I64F64.frac
    if not I64F64.fits(raw):  # from_num panics on overflow
        raise LedgerInputError(f"{what} {value} does not fit I64F64; the runtime would panic")
    return raw


def delegate_take(take: int, emission: int) -> int:
    """``calculate_delegate_proportional_take`` (block_step.rs@6541a9f41)."""
    proportion = I64F64.checked_div(_fixed(take, "take"), _fixed(U16_MAX, "u16::MAX"))
    product = I64F64.checked_mul(proportion, _fixed(emission, "emission"))
    if product is None:
        raise LedgerInputError(f"take {take} of {emission} overflows I64F64")
    return I64F64.to_int(product)


def stake_proportional_emission(stake: int, total_stake: int, emission: int) -> int:
    """``calculate_stake_proportional_emission`` (block_step.rs@6541a9f41)."""
    if total_stake == 0:
        return 0
    proportion = I64F64.checked_div(_fixed(stake, "stake"), _fixed(total_stake, "total stake"))
    if proportion is None:
        raise LedgerInputError(f"stake {stake} / {total_stake} overflows I64F64")
    product = I64F64.checked_mul(_fixed(emission, "emission"), proportion)
    if product is None:
        raise LedgerInputError(f"{emission} · {stake}/{total_stake} overflows I64F64")
    return I64F64.to_int(product)


class _Stakes:
    """The stake counters the drain mutates, so that a hotkey paid by two subnets in one block
    is paid the second time from the state the first payment left."""

    def __init__(self, state: DrainState) -> None:
        self.stakes = {h: dict(entries) for h, entries in state.stakes.items()}
        self.order = {h: [c for c, _ in entries] for h, entries in state.stakes.items()}
        self.total = dict(state.total_hotkey_stake)

    def add(self, hotkey: str, coldkey: str, rao: int) -> None:
        if hotkey in self.stakes:
            pair = self.stakes[hotkey]
            if coldkey not in pair:
                self.order[hotkey].append(coldkey)  # runtime inserts a new entry
            pair[coldkey] = pair.get(coldkey, 0) + rao
            if pair[coldkey] > U64_MAX:
                raise LedgerInputError(f"Stake[{hotkey}, {coldkey}] would saturate at u64::MAX")
        if hotkey in self.total:
            self.total[hotkey] += rao


def _pay_hotkey(state: DrainState, s: _Stakes, hotkey: str, emission: int, netuid: int,
                block: int) -> list[Credit]:
    """``emit_inflation_through_hotkey_account`` for one tuple."""
    owner = state.owners.get(hotkey, ZERO_ACCOUNT)
    if hotkey not in state.delegates:
        s.add(hotkey, owner, emission)
        return [Credit(hotkey, owner, CreditKind.HOTKEY_EMISSION, TOKEN, emission, block, netuid)]
    if hotkey not in s.stakes or hotkey not in s.total:
        raise LedgerInputError(f"delegate {hotkey}: its Stake entries and TotalHotkeyStake are needed")
    total = s.total[hotkey]
    take = delegate_take(int(state.delegates[hotkey]), emission)
    remaining = emission - take
    out = []
    for coldkey in list(s.order[hotkey]):
        share = stake_proportional_emission(s.stakes[hotkey][coldkey], total, remaining)
        out.append(Credit(hotkey, coldkey, CreditKind.NOMINATOR_SHARE, TOKEN, share, block, netuid))
    for c in out:
        s.add(hotkey, c.coldkey, c.rao)
    s.add(hotkey, owner, take)
    out.append(Credit(hotkey, owner, CreditKind.DELEGATE_TAKE, TOKEN, take, block, netuid))
    return out


def payout(state: DrainState, drain_block: int) -> Payout:
    """Every credit of block ``drain_block``'s ``drain_emission``, in the runtime's order."""
    s = _Stakes(state)
    credits: dict[int, tuple[Credit, ...]] = {}
    dust: dict[int, int] = {}
    emitted: dict[int, int] = {}
    for netuid, tuples in state.loaded:
        rows: list[Credit] = []
        for hotkey, amount in tuples:
            rows += _pay_hotkey(state, s, hotkey, int(amount), netuid, drain_block)
        emitted[netuid] = sum(int(a) for _, a in tuples)
        dust[netuid] = emitted[netuid] - sum(c.rao for c in rows)
        credits[netuid] = tuple(c for c in rows if c.rao)
    every = [c for rows in credits.values() for c in rows]
    return Payout(drain_block, credits, dust, emitted, tuple(expected_changes(every, sum(emitted.values()))))


def expected_changes(credits: Sequence[Credit], issued: int) -> list[ExpectedChange]:
    """The stake storage the credits of one drain block must move (staking.rs@6541a9f41
    ``increase_stake_on_coldkey_hotkey_account``; block_step.rs ``drain_emission`` for
    ``TotalIssuance``)."""
    acc: dict[tuple[str, tuple[str, ...]], tuple[int, set[CreditKind]]] = {}

    def add(storage: str, key: tuple[str, ...], c: Credit) -> None:
        rao, kinds = acc.get((storage, key), (0, set()))
        acc[(storage, key)] = (rao + c.rao, kinds | {c.kind})

    for c in credits:
        add("Stake", (c.hotkey, c.coldkey), c)
        add("TotalHotkeyStake", (c.hotkey,), c)
        add("TotalColdkeyStake", (c.coldkey,), c)
        add("TotalStake", (), c)
    out = [
        ExpectedChange(storage, key, TOKEN, rao, tuple(sorted(kinds, key=lambda k: k.value)))
        for (storage, key), (rao, kinds) in acc.items()
    ]
    out.append(ExpectedChange("TotalIssuance", (), TOKEN, issued, ()))
    return out


def ledger(payout_: Payout, netuid: int, epoch_block: int, *, rao_emission: int | None = None,
           spec_version: int = 103) -> Ledger:
    """The ledger of one subnet's epoch at ``epoch_block``, paid out by ``payout_``.

    ``rao_emission``: what the epoch was handed (``PendingEmission + EmissionValues`` at E−1);
    when given, ``distributed`` is that amount and the epoch's own floors are a remainder
    part; otherwise ``distributed`` is the sum of the loaded tuples.
    """
    if netuid not in payout_.credits:
        raise LedgerInputError(f"netuid {netuid} had no LoadedEmission after block {epoch_block}")
    emitted = payout_.emitted[netuid]
    parts = []
    if rao_emission is not None:
        if rao_emission < emitted:
            raise LedgerInputError(f"the loaded tuples ({emitted}) exceed the epoch's emission {rao_emission}")
        parts.append(RemainderPart(TOKEN, rao_emission - emitted,
                                   "epoch rounding: per-UID floor of I96F32 emission, never minted (epoch.rs@6541a9f41)"))
    parts.append(RemainderPart(TOKEN, payout_.drain_dust[netuid],
                               "drain rounding: floors of I64F64 delegate take and nominator shares, "
                               "added to TotalIssuance but staked to nobody (block_step.rs@6541a9f41)"))
    out = Ledger(
        netuid=netuid,
        epoch_block=epoch_block,
        spec_version=spec_version,
        era=ERA,
        distributed={TOKEN: emitted if rao_emission is None else int(rao_emission)},
        credits=payout_.credits[netuid],
        remainder=tuple(parts),
    )
    out.check_sums()
    return out

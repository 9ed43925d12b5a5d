"""Where a dTAO subnet epoch's alpha goes: the runtime's payout after the epoch, rao for rao.

At an epoch block the runtime drains the subnet's pending alpha (server, validator, root and
owner cut), runs the epoch on server+validator+root, and pays the result out in
``distribute_emission``. This module reproduces that payout with the runtime's integer and
fixed-point rules, on a copy of the storage it reads and writes, so that it yields both

* the credits (owner cut, miner incentive, delegate take, nominator share per coldkey, root
  dividend, burned/recycled owner-hotkey incentive) with an explicit remainder that makes
  credits + remainder equal the drained alpha exactly, and
* the storage the chain must hold afterwards (``TotalHotkeyAlpha``, ``Alpha`` shares,
  ``TotalHotkeyShares``, ``AlphaDividendsPerSubnet``, ``RootAlphaDividendsPerSubnet``,
  ``RootClaimable``, ``TotalHotkeyAlphaLastEpoch``, ``SubnetAlphaOut``) for reconciliation.

Era coverage (rows of :mod:`consensus.eras.table`, mapped in :mod:`.eras`): ``clamped-exp``
(365–396; 395 and 396 never shipped on main, first-parent history goes 394 f65a8a3b0 → 397
e7f05a051) with the U64F64 share pool; ``owner-exempt`` (397–422) and ``dynamic-tempo`` up to
425 with the SafeFloat share pool (:mod:`.safefloat`). From 394 to 425 the payout itself changes
only in ways that move no stake (run_coinbase.rs diffs between the newest commits of each spec:
394 f65a8a3b0 → 397 e7f05a051 return values dropped; 402 6844ee37f → 411 486037ba4 the owner cut
is also auto-locked, a lock record; 419 fa8364629 → 421 6016381e4 MinerBurned recorded).
Specs after 425 are refused (not read). Sources, all in opentensor/subtensor:

* ``pallets/subtensor/src/coinbase/run_coinbase.rs@4a2e4b128`` (spec 393; identical to
  ``@6e3d24cea`` spec 365 apart from AlphaCurrency→AlphaBalance): ``distribute_emission``,
  ``calculate_dividends_and_incentives``, ``calculate_dividend_distribution``,
  ``distribute_dividends_and_incentives``, ``get_owner_hotkeys``, ``get_self_contribution``,
  ``get_parent_child_dividends_distribution``.
* ``primitives/share-pool/src/lib.rs@4a2e4b128`` (U64F64 shares; unchanged through 394):
  ``get_value``, ``get_shares_per_update``, ``update_value_for_one``, ``update_value_for_all``.
* ``pallets/subtensor/src/staking/stake_utils.rs@4a2e4b128``: ``get_tao_weight``,
  ``get_ck_burn``, ``increase_stake_for_hotkey_(and_coldkey_)on_subnet`` and the
  ``HotkeyAlphaSharePoolDataOperations`` (zero values remove the entry).
* ``pallets/subtensor/src/staking/claim_root.rs@4a2e4b128``:
  ``increase_root_claimable_for_hotkey_and_subnet`` (I96F32 rate per root-staked rao).
* spec 397+: ``primitives/share-pool/src/lib.rs@14bc6f9f9`` (SafeFloat) and
  ``stake_utils.rs@14bc6f9f9`` ``HotkeyAlphaSharePoolDataOperations`` (v1 entries read
  converted, written back as AlphaV2 / TotalHotkeySharesV2).
* ``pallets/subtensor/src/staking/helpers.rs@4a2e4b128``: ``get_hotkey_take_float``,
  ``recycle_subnet_alpha`` (SubnetAlphaOut −= amount), ``burn_subnet_alpha`` (no storage).

Before 361 root alpha dividends were recorded in
AlphaDividendsPerSubnet (52378dc3e, PR #2246, added RootAlphaDividendsPerSubnet). Specs 361–364
pay exactly as 365–394 (let-chain rewrites only) but share era row 323–364 with older specs, so
:mod:`.eras` refuses them with the rest of that row.

Where the drained amounts come from: ``Pending*`` at E−1 plus block E's own accrual, which
``emit_to_subnets`` adds before draining and which the chain stores nowhere (its split depends on
the root proportion at that instant). :func:`payout` therefore takes the drained
:class:`Pending` as an input.

Accounts are opaque values; the runtime iterates ``BTreeMap`` s in the order of the encoded
``AccountId`` (raw bytes for AccountId32, the number for the test runtime's U256). The caller
gives :class:`PayoutState` a ``sort_key`` that orders accounts that way and a ``label`` that
names them (SS58 for real accounts).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable, Iterable

from ..eras.table import era_for
from ..errors import UnsupportedSpecError
from ..fixedpoint import I64F64, I96F32, U64F64, U64_MAX, U96F32, U16_MAX
from .eras import ledger_era_for
from .model import Credit, CreditKind, Difference, ExpectedChange, Ledger, RemainderPart, Token
from .safefloat import SafeFloat, SafeSharePool

Account = Hashable

#: the share pool each payout era stores its shares in (era-table row names)
SHARE_POOLS: dict[str, str] = {"clamped-exp": "u64f64", "owner-exempt": "safefloat", "dynamic-tempo": "safefloat"}
#: the newest spec whose payout was read (opentensor/subtensor@14bc6f9f9); the era row goes on to 445
NEWEST_PAYOUT_SPEC = 425
MINER_BURNED_FROM = 421  # run_coinbase.rs@6016381e4 records MinerBurned


def check_payout_era(spec_version: int) -> str:
    """The era-table row of ``spec_version`` if this module pays it out; otherwise the one-line
    refusal of :func:`.eras.ledger_era_for` (the one mapping from epoch eras to ledger rules)."""
    ledger_era = ledger_era_for(spec_version)
    if ledger_era.module != "dtao":
        raise UnsupportedSpecError(
            f"runtime spec {spec_version} pays out with the {ledger_era.name} ledger, not the dTAO payout"
        )
    if spec_version > NEWEST_PAYOUT_SPEC:
        raise UnsupportedSpecError(
            f"the ledger of runtime spec {spec_version} is refused: the dTAO payout was read through spec "
            f"{NEWEST_PAYOUT_SPEC} (opentensor/subtensor@14bc6f9f9); RaoFoundation runtimes after it were not"
        )
    return era_for(spec_version).name


# -- fixed-point shorthands: the runtime's U96F32 macros (asfloat!, tou64!) -----------------
def _f(x: int) -> int:
    """``U96F32::saturating_from_num(u64)``."""
    return U96F32.from_int(int(x))


def _u64(raw: int) -> int:
    """``saturating_to_num::<u64>()`` of a U96F32."""
    return U96F32.to_int(raw)


_U64_MAX_F = _f(U64_MAX)
_U16_MAX_F = _f(U16_MAX)


@dataclass
class PayoutState:
    """The storage ``distribute_emission`` reads and writes for one subnet, as plain values.

    Keys follow the runtime's maps: ``total_hotkey_alpha[(hotkey, netuid)]`` (u64, netuid 0 is
    root stake), ``alpha_shares[(hotkey, coldkey)]`` and ``total_hotkey_shares[hotkey]`` (U64F64
    raw bits, this subnet), ``root_claimable[hotkey]`` (I96F32 raw of this subnet's entry).
    A missing entry reads as the runtime's default.
    """

    netuid: int
    tao_weight: int = 0  # TaoWeight (u64, a fraction of u64::MAX)
    ck_burn: int = 0  # CKBurn (u64, a fraction of u64::MAX)
    total_hotkey_alpha: dict[tuple[Account, int], int] = field(default_factory=dict)
    alpha_shares: dict[tuple[Account, Account], int] = field(default_factory=dict)
    total_hotkey_shares: dict[Account, int] = field(default_factory=dict)
    # spec >= 397: SafeFloat shares (AlphaV2 / TotalHotkeySharesV2); a v1 entry above, when
    # present, is read converted and replaced by a v2 entry on the next write
    share_pool: str = "u64f64"  # "u64f64" (specs <= 396) or "safefloat" (397+)
    alpha_shares_v2: dict[tuple[Account, Account], SafeFloat] = field(default_factory=dict)
    total_hotkey_shares_v2: dict[Account, SafeFloat] = field(default_factory=dict)
    miner_burned: int | None = None  # spec >= 421: MinerBurned (U96F32 raw) written by the payout
    child_keys: dict[Account, list[tuple[int, Account]]] = field(default_factory=dict)
    parent_keys: dict[Account, list[tuple[int, Account]]] = field(default_factory=dict)
    childkey_take: dict[Account, int] = field(default_factory=dict)  # default 0
    delegate_take: dict[Account, int] = field(default_factory=dict)
    default_delegate_take: int = 11_796  # InitialDefaultDelegateTake (runtime and test mock)
    owner: dict[Account, Account] = field(default_factory=dict)
    default_account: Account = None  # DefaultAccount: the all-zero AccountId
    subnet_owner: Account | None = None  # SubnetOwner if stored
    subnet_owner_hotkey: Account | None = None  # SubnetOwnerHotkey if stored
    owned_hotkeys: dict[Account, list[Account]] = field(default_factory=dict)
    uids: dict[Account, int] = field(default_factory=dict)  # Uids(netuid, hotkey)
    block_at_registration: dict[int, int] = field(default_factory=dict)
    recycle_or_burn: str | None = None  # "Recycle" / "Burn" if stored
    auto_stake_destination: dict[Account, Account] = field(default_factory=dict)  # coldkey -> hotkey
    leased: bool = False  # SubnetUidToLeaseId present
    subnet_alpha_out: int = 0
    alpha_dividends_per_subnet: dict[Account, int] = field(default_factory=dict)
    root_alpha_dividends_per_subnet: dict[Account, int] = field(default_factory=dict)
    total_hotkey_alpha_last_epoch: dict[Account, int] = field(default_factory=dict)
    root_claimable: dict[Account, int] = field(default_factory=dict)
    sort_key: Callable[[Any], Any] = field(default=lambda a: a)
    label: Callable[[Any], str] = field(default=str)

    # -- reads with the runtime's defaults -------------------------------------------------
    def stake(self, hotkey: Account, netuid: int) -> int:
        return int(self.total_hotkey_alpha.get((hotkey, netuid), 0))

    def owner_of(self, hotkey: Account) -> Account:
        return self.owner.get(hotkey, self.default_account)

    def tao_weight_f(self) -> int:
        return U96F32.safe_div(_f(self.tao_weight), _U64_MAX_F)

    def copy(self) -> "PayoutState":
        return copy.deepcopy(self)

    # -- the alpha share pool of one hotkey on this subnet ---------------------------------
    def pool(self, hotkey: Account) -> "SharePool | SafeSharePool":
        if self.share_pool == "safefloat":
            return SafeSharePool(_HotkeyPoolOpsV2(self, hotkey))
        return SharePool(_HotkeyPoolOps(self, hotkey))

    def coldkeys_of(self, hotkey: Account) -> list[Account]:
        keys = {c for (h, c) in self.alpha_shares if h == hotkey} | {c for (h, c) in self.alpha_shares_v2 if h == hotkey}
        return sorted(keys, key=self.sort_key)

    def stake_of(self, hotkey: Account, coldkey: Account) -> int:
        return self.pool(hotkey).get_value(coldkey)

    def add_to_pool(self, hotkey: Account, amount: int) -> None:
        """``increase_stake_for_hotkey_on_subnet``: every share holder's value grows."""
        self.pool(hotkey).update_value_for_all(amount)

    def add_for_coldkey(self, hotkey: Account, coldkey: Account, amount: int) -> None:
        """``increase_stake_for_hotkey_and_coldkey_on_subnet``: the coldkey buys shares."""
        self.pool(hotkey).update_value_for_one(coldkey, amount)


class _HotkeyPoolOps:
    """``HotkeyAlphaSharePoolDataOperations`` (stake_utils.rs@4a2e4b128): the shared value is
    ``TotalHotkeyAlpha`` stored as u64 (fraction dropped), zero values remove the entry."""

    def __init__(self, state: PayoutState, hotkey: Account) -> None:
        self.state, self.hotkey = state, hotkey

    def shared(self) -> int:
        return U64F64.from_int(self.state.stake(self.hotkey, self.state.netuid))

    def set_shared(self, raw: int) -> None:
        key = (self.hotkey, self.state.netuid)
        if raw != 0:
            self.state.total_hotkey_alpha[key] = U64F64.to_int(raw)
        else:
            self.state.total_hotkey_alpha.pop(key, None)

    def share(self, coldkey: Account) -> int:
        return int(self.state.alpha_shares.get((self.hotkey, coldkey), 0))

    def set_share(self, coldkey: Account, raw: int) -> None:
        if raw != 0:
            self.state.alpha_shares[(self.hotkey, coldkey)] = raw
        else:
            self.state.alpha_shares.pop((self.hotkey, coldkey), None)

    def denominator(self) -> int:
        return int(self.state.total_hotkey_shares.get(self.hotkey, 0))

    def set_denominator(self, raw: int) -> None:
        if raw != 0:
            self.state.total_hotkey_shares[self.hotkey] = raw
        else:
            self.state.total_hotkey_shares.pop(self.hotkey, None)


class _HotkeyPoolOpsV2(_HotkeyPoolOps):
    """The spec-397+ ops (stake_utils.rs@14bc6f9f9): shares are SafeFloat; a v1 U64F64 entry is
    read converted (``From<U64F64>``) and removed when the share is written back as v2."""

    def share(self, coldkey: Account) -> SafeFloat:  # type: ignore[override]
        key = (self.hotkey, coldkey)
        if key in self.state.alpha_shares:
            return SafeFloat.from_u64f64(self.state.alpha_shares[key])
        return self.state.alpha_shares_v2.get(key, SafeFloat())

    def set_share(self, coldkey: Account, value: SafeFloat) -> None:  # type: ignore[override]
        key = (self.hotkey, coldkey)
        self.state.alpha_shares.pop(key, None)
        if not value.is_zero():
            self.state.alpha_shares_v2[key] = value
        else:
            self.state.alpha_shares_v2.pop(key, None)

    def denominator(self) -> SafeFloat:  # type: ignore[override]
        if self.hotkey in self.state.total_hotkey_shares:
            return SafeFloat.from_u64f64(self.state.total_hotkey_shares[self.hotkey])
        return self.state.total_hotkey_shares_v2.get(self.hotkey, SafeFloat())

    def set_denominator(self, value: SafeFloat) -> None:  # type: ignore[override]
        self.state.total_hotkey_shares.pop(self.hotkey, None)
        if not value.is_zero():
            self.state.total_hotkey_shares_v2[self.hotkey] = value
        else:
            self.state.total_hotkey_shares_v2.pop(self.hotkey, None)

    def shared(self) -> int:  # type: ignore[override]
        return self.state.stake(self.hotkey, self.state.netuid)

    def set_shared(self, value: int) -> None:  # type: ignore[override]
        key = (self.hotkey, self.state.netuid)
        if value != 0:
            self.state.total_hotkey_alpha[key] = value
        else:
            self.state.total_hotkey_alpha.pop(key, None)


class SharePool:
    """``share_pool::SharePool`` with U64F64 shares (primitives/share-pool/src/lib.rs@4a2e4b128)
    over an object with ``shared/set_shared/share/set_share/denominator/set_denominator``
    (raw U64F64 bits)."""

    _MIN_SHARE_RATIO = U64F64.from_float(0.00001)
    _YEAR_OF_EMISSION = U64F64.from_int(2_628_000_000_000_000)

    def __init__(self, ops: Any) -> None:
        self.ops = ops

    def value_of_shares(self, share: int) -> int:
        """``get_value_from_shares``: value-per-share first, then times the share (floor)."""
        shared, den = self.ops.shared(), self.ops.denominator()
        vps = U64F64.checked_div(shared, den)
        if vps is not None:
            value = U64F64.sat_mul(vps, share)
        else:
            q = U64F64.checked_div(U64F64.sat_mul(shared, share), den)
            value = 0 if q is None else q
        return U64F64.to_int(value)

    def get_value(self, key: Any) -> int:
        return self.value_of_shares(self.ops.share(key))

    def update_value_for_all(self, update: int) -> None:
        shared = self.ops.shared()
        if update >= 0:
            self.ops.set_shared(U64F64.sat_add(shared, U64F64.from_int(update)))
        else:
            self.ops.set_shared(U64F64.sat_sub(shared, U64F64.from_int(-update)))

    @staticmethod
    def shares_per_update(update: int, shared: int, den: int) -> int:
        """``get_shares_per_update`` (I64F64 raw)."""
        vps = U64F64.checked_div(shared, den)
        upd = I64F64.from_int(update)
        if vps is not None:
            q = I64F64.checked_div(upd, I64F64.from_fixed(vps, U64F64))
            return 0 if q is None else q
        q = I64F64.checked_div(upd, I64F64.from_fixed(shared, U64F64))
        return I64F64.sat_mul(0 if q is None else q, I64F64.from_fixed(den, U64F64))

    def update_value_for_one(self, key: Any, update: int) -> int:
        """Buy (update > 0) or sell shares worth ``update``; returns the actual update."""
        shared, current, den = self.ops.shared(), self.ops.share(key), self.ops.denominator()
        initial = self.get_value(key)
        actual = update
        if den == 0:
            self.ops.set_denominator(U64F64.from_int(update))  # the first key gets all
            self.ops.set_share(key, U64F64.from_int(update))
        else:
            per = self.shares_per_update(update, shared, den)
            if per >= 0:
                per_u = U64F64.from_fixed(per, I64F64)
                self.ops.set_denominator(U64F64.sat_add(den, per_u))
                self.ops.set_share(key, U64F64.sat_add(current, per_u))
            else:
                per_u = U64F64.from_fixed(-per, I64F64)
                new_den, new_share = U64F64.sat_sub(den, per_u), U64F64.sat_sub(current, per_u)
                # too little left, or the denominator too small for a year of emission: remove all
                if (U64F64.safe_div(new_share, current) < self._MIN_SHARE_RATIO
                        or U64F64.checked_div(U64F64.sat_add(shared, self._YEAR_OF_EMISSION), new_den) is None):
                    new_share, new_den, actual = 0, U64F64.sat_sub(den, current), -initial
                self.ops.set_denominator(new_den)
                self.ops.set_share(key, new_share)
        self.update_value_for_all(actual)
        return actual


# -- the payout's steps (run_coinbase.rs@4a2e4b128) ------------------------------------------
@dataclass(frozen=True)
class Route:
    """How one validator's epoch dividend is split among parents and itself (weights only:
    the runtime pays ``pending_validator_alpha`` in proportion to the summed weights)."""

    validator: Account
    recipient: Account
    kind: CreditKind  # VALIDATOR_DIVIDEND (own part), PARENT_SHARE, CHILDKEY_TAKE
    weight: int  # U96F32 raw bits, before the u64 truncation of the tuple
    burned: int = 0  # CKBurn part recycled from a parent's share (U96F32 raw)


def self_contribution(state: PayoutState, hotkey: Account) -> int:
    """``get_self_contribution``: the hotkey's alpha + weighted root stake not lent to children."""
    remaining = _f(1)
    for proportion, _child in state.child_keys.get(hotkey, []):
        remaining = U96F32.sat_sub(remaining, U96F32.safe_div(_f(proportion), _U64_MAX_F))
    tw = state.tao_weight_f()
    root = _f(state.stake(hotkey, 0))
    alpha = _f(state.stake(hotkey, state.netuid))
    combined = U96F32.sat_add(U96F32.sat_mul(alpha, remaining), U96F32.sat_mul(U96F32.sat_mul(root, remaining), tw))
    return _u64(combined)


def parent_child_split(state: PayoutState, hotkey: Account, dividend: int,
                       routes: list[Route] | None = None) -> list[tuple[Account, int]]:
    """``get_parent_child_dividends_distribution``: (recipient, u64 dividend) for each parent,
    then the hotkey itself. Recycles the CKBurn part of other owners' parent shares."""
    out: list[tuple[Account, int]] = []
    validating = _f(dividend)
    remaining = validating
    burn_prop = U96F32.safe_div(_f(state.ck_burn), _U64_MAX_F)
    take_prop = U96F32.safe_div(_f(state.childkey_take.get(hotkey, 0)), _U16_MAX_F)
    child_owner = state.owner_of(hotkey)
    total_child_take = 0
    tw = state.tao_weight_f()
    total = _f(self_contribution(state, hotkey))
    contributions = []
    for proportion, parent in state.parent_keys.get(hotkey, []):
        p = U96F32.safe_div(_f(proportion), _U64_MAX_F)
        alpha_c = U96F32.sat_mul(_f(state.stake(parent, state.netuid)), p)
        root_c = U96F32.sat_mul(U96F32.sat_mul(_f(state.stake(parent, 0)), p), tw)
        combined = U96F32.sat_add(alpha_c, root_c)
        total = U96F32.sat_add(total, combined)
        contributions.append((parent, combined))
    for parent, contribution in contributions:
        factor = U96F32.checked_div(contribution, total)
        parent_emission = U96F32.sat_mul(validating, 0 if factor is None else factor)
        remaining = U96F32.sat_sub(remaining, parent_emission)
        burn = take = 0
        if state.owner_of(parent) != child_owner:
            burn = U96F32.sat_mul(burn_prop, parent_emission)
            take = U96F32.sat_mul(take_prop, parent_emission)
            parent_emission = U96F32.sat_sub(U96F32.sat_sub(parent_emission, burn), take)
            total_child_take = U96F32.sat_add(total_child_take, take)
            state.subnet_alpha_out = max(0, state.subnet_alpha_out - _u64(burn))  # recycle_subnet_alpha
        out.append((parent, _u64(parent_emission)))
        if routes is not None:
            routes.append(Route(hotkey, parent, CreditKind.PARENT_SHARE, parent_emission, burn))
            if take:
                routes.append(Route(hotkey, hotkey, CreditKind.CHILDKEY_TAKE, take))
    out.append((hotkey, _u64(U96F32.sat_add(remaining, total_child_take))))
    if routes is not None:
        routes.append(Route(hotkey, hotkey, CreditKind.VALIDATOR_DIVIDEND, remaining))
    return out


def dividends_and_incentives(state: PayoutState, hotkey_emission: Iterable[tuple[Account, int, int]],
                             routes: list[Route] | None = None) -> tuple[dict, dict]:
    """``calculate_dividends_and_incentives``: incentives (u64) and dividend weights (U96F32)."""
    incentives: dict[Account, int] = {}
    dividends: dict[Account, int] = {}
    for hotkey, incentive, dividend in hotkey_emission:
        incentives[hotkey] = min(U64_MAX, incentives.get(hotkey, 0) + int(incentive))
        for recipient, amount in parent_child_split(state, hotkey, int(dividend), routes):
            dividends[recipient] = U96F32.sat_add(dividends.get(recipient, 0), _f(amount))
    return incentives, dividends


def dividend_distribution(pending_alpha: int, pending_root_alpha: int, tao_weight: int,
                          stake_map: dict[Account, tuple[int, int]], dividends: dict[Account, int],
                          sort_key: Callable[[Any], Any] = lambda a: a) -> tuple[dict, dict]:
    """``calculate_dividend_distribution``: each hotkey's dividend weight split into its alpha
    and root parts by its stake, then each part scaled to the pending alpha / root alpha.
    ``tao_weight`` is U96F32 raw; results are U96F32 raw per hotkey."""
    total_root = total_alpha = 0
    root_divs: dict[Account, int] = {}
    alpha_divs: dict[Account, int] = {}
    for hotkey in sorted(dividends, key=sort_key):
        if hotkey not in stake_map:
            continue
        alpha_stake, root_stake = stake_map[hotkey]
        root_alpha = U96F32.sat_mul(_f(root_stake), tao_weight)
        total = U96F32.sat_add(_f(alpha_stake), root_alpha)
        prop = U96F32.checked_div(root_alpha, total)
        rd = U96F32.sat_mul(dividends[hotkey], 0 if prop is None else prop)
        ad = U96F32.sat_sub(dividends[hotkey], rd)
        alpha_divs[hotkey] = U96F32.sat_add(alpha_divs.get(hotkey, 0), ad)
        total_alpha = U96F32.sat_add(total_alpha, ad)
        root_divs[hotkey] = U96F32.sat_add(root_divs.get(hotkey, 0), rd)
        total_root = U96F32.sat_add(total_root, rd)
    root_out = {}
    for hotkey, rd in root_divs.items():
        share = U96F32.checked_div(rd, total_root)
        root_out[hotkey] = U96F32.sat_mul(_f(pending_root_alpha), 0 if share is None else share)
    alpha_out = {}
    for hotkey, ad in alpha_divs.items():
        share = U96F32.checked_div(ad, total_alpha)
        alpha_out[hotkey] = U96F32.sat_mul(_f(pending_alpha), 0 if share is None else share)
    return alpha_out, root_out


def owner_hotkeys(state: PayoutState) -> list[Account]:
    """``get_owner_hotkeys``: the owner coldkey's registered hotkeys, newest registration first,
    with SubnetOwnerHotkey in front when it has a UID. Their miner incentive is not paid."""
    cold = state.subnet_owner if state.subnet_owner is not None else state.default_account
    triples = [(state.block_at_registration.get(state.uids[h], 0), state.uids[h], h)
               for h in state.owned_hotkeys.get(cold, []) if h in state.uids]
    triples.sort(key=lambda t: (-t[0], t[1]))
    out = [h for _, _, h in triples]
    hk = state.subnet_owner_hotkey
    if hk is not None and hk in state.uids and hk not in out:
        out.insert(0, hk)
    return out


@dataclass(frozen=True)
class Pending:
    """What the epoch block drains: ``Pending{Server,Validator}Emission``, ``PendingRootAlphaDivs``
    and ``PendingOwnerCut`` (at E−1 plus block E's own accrual, which run_coinbase adds first)."""

    server: int
    validator: int
    root: int
    owner_cut: int

    @property
    def total(self) -> int:
        return self.server + self.validator + self.root + self.owner_cut


@dataclass(frozen=True)
class AutoStakeEvent:
    """``Event::AutoStakeAdded`` the payout deposits when a miner's coldkey auto-stakes."""

    netuid: int
    destination: str
    hotkey: str
    owner: str
    incentive: int


@dataclass
class Payout:
    """The payout of one epoch: its ledger, the storage afterwards and how dividends were routed."""

    ledger: Ledger
    after: PayoutState
    routes: list[Route]
    recycled_ck_burn: int  # SubnetAlphaOut reduction by CKBurn (not drawn from the drained alpha)
    events: list[AutoStakeEvent] = field(default_factory=list)


class PayoutBook:
    """Collects credits and named remainder parts as the payout runs."""

    def __init__(self, state: PayoutState, block: int) -> None:
        self.state, self.block = state, block
        self.credits: list[Credit] = []
        self.remainder: dict[str, int] = {}
        self.events: list[AutoStakeEvent] = []

    def credit(self, hotkey: Account, coldkey: Account | None, kind: CreditKind, rao: int) -> None:
        lab = self.state.label
        self.credits.append(Credit(lab(hotkey), "" if coldkey is None else lab(coldkey), kind, Token.ALPHA,
                                   int(rao), self.block, self.state.netuid))

    def rest(self, why: str, rao: int) -> None:
        if rao:
            self.remainder[why] = self.remainder.get(why, 0) + int(rao)

    def stake_for(self, hotkey: Account, coldkey: Account, kind: CreditKind, amount: int) -> None:
        self.state.add_for_coldkey(hotkey, coldkey, amount)
        if amount:
            self.credit(hotkey, coldkey, kind, amount)


def _pay_pool(book: PayoutBook, hotkey: Account, amount: int) -> None:
    """Nominators' part: the pool's value grows; each coldkey's credit is its value change."""
    state = book.state
    holders = state.coldkeys_of(hotkey)
    before = {c: state.stake_of(hotkey, c) for c in holders}
    state.add_to_pool(hotkey, amount)
    paid = 0
    for c in holders:
        delta = state.stake_of(hotkey, c) - before[c]
        if delta:
            book.credit(hotkey, c, CreditKind.NOMINATOR_SHARE, delta)
            paid += delta
    book.rest("share-pool rounding: nominator shares are floor(value per share · shares)", amount - paid)


def _root_claimable(book: PayoutBook, hotkey: Account, amount: int) -> None:
    """``increase_root_claimable_for_hotkey_and_subnet``: a rate per root-staked rao (I96F32)."""
    state = book.state
    total = I96F32.from_int(state.stake(hotkey, 0))
    inc = I96F32.checked_div(I96F32.from_int(amount), total)
    if amount > I96F32.to_int(total):
        book.stake_for(hotkey, state.owner_of(hotkey), CreditKind.ROOT_DIVIDEND, amount)
        return
    state.root_claimable[hotkey] = I96F32.sat_add(state.root_claimable.get(hotkey, 0), 0 if inc is None else inc)
    if amount:
        book.credit(hotkey, None, CreditKind.ROOT_DIVIDEND, amount)


def distribute(state: PayoutState, owner_cut: int, incentives: dict, alpha_divs: dict, root_divs: dict,
               book: PayoutBook, records_miner_burned: bool = False) -> None:
    """``distribute_dividends_and_incentives`` on ``state``, recording every credit in ``book``
    (spec >= 421 also records MinerBurned = withheld / total miner incentive, U96F32)."""
    if state.leased:
        raise UnsupportedSpecError("leased subnet: the lease's dividend split is not modelled")
    key = state.sort_key
    if state.subnet_owner is not None and state.subnet_owner_hotkey is not None:
        book.stake_for(state.subnet_owner_hotkey, state.subnet_owner, CreditKind.OWNER_CUT, owner_cut)
    else:
        book.rest("owner cut not paid: SubnetOwner or SubnetOwnerHotkey not stored", owner_cut)
    immune = owner_hotkeys(state)
    total_incentive = withheld = 0
    for hotkey in sorted(incentives, key=key):
        incentive = incentives[hotkey]
        total_incentive = min(U64_MAX, total_incentive + incentive)
        if hotkey in immune:
            withheld = min(U64_MAX, withheld + incentive)
            if state.recycle_or_burn == "Recycle":
                state.subnet_alpha_out = max(0, state.subnet_alpha_out - incentive)
                kind = CreditKind.RECYCLED
            else:
                kind = CreditKind.BURNED
            if incentive:
                book.credit(hotkey, None, kind, incentive)
            continue
        owner = state.owner_of(hotkey)
        dest = state.auto_stake_destination.get(owner, hotkey)
        if owner in state.auto_stake_destination:  # emitted whatever the amount, zero included
            lab = state.label
            book.events.append(AutoStakeEvent(state.netuid, lab(dest), lab(hotkey), lab(owner), incentive))
        book.stake_for(dest, owner, CreditKind.MINER_INCENTIVE, incentive)
    if records_miner_burned:
        share = U96F32.checked_div(_f(withheld), _f(total_incentive))
        state.miner_burned = 0 if share is None else share
    state.alpha_dividends_per_subnet.clear()
    for hotkey in sorted(alpha_divs, key=key):
        divs = alpha_divs[hotkey]
        take = U96F32.sat_mul(_take(state, hotkey), divs)
        divs = U96F32.sat_sub(divs, take)
        book.stake_for(hotkey, state.owner_of(hotkey), CreditKind.DELEGATE_TAKE, _u64(take))
        _pay_pool(book, hotkey, _u64(divs))
        state.alpha_dividends_per_subnet[hotkey] = min(U64_MAX, state.alpha_dividends_per_subnet.get(hotkey, 0) + _u64(divs))
        state.total_hotkey_alpha_last_epoch[hotkey] = state.stake(hotkey, state.netuid)
    state.root_alpha_dividends_per_subnet.clear()
    for hotkey in sorted(root_divs, key=key):
        root_alpha = root_divs[hotkey]
        take = U96F32.sat_mul(_take(state, hotkey), root_alpha)
        root_alpha = U96F32.sat_sub(root_alpha, take)
        book.stake_for(hotkey, state.owner_of(hotkey), CreditKind.DELEGATE_TAKE, _u64(take))
        _root_claimable(book, hotkey, _u64(root_alpha))
        state.root_alpha_dividends_per_subnet[hotkey] = min(
            U64_MAX, state.root_alpha_dividends_per_subnet.get(hotkey, 0) + _u64(root_alpha))


def _take(state: PayoutState, hotkey: Account) -> int:
    """``get_hotkey_take_float``: Delegates[hotkey] / u16::MAX."""
    return U96F32.safe_div(_f(state.delegate_take.get(hotkey, state.default_delegate_take)), _U16_MAX_F)


def payout(spec_version: int, before: PayoutState, pending: Pending,
           hotkey_emission: list[tuple[Account, int, int]], epoch_block: int) -> Payout:
    """``distribute_emission`` of one epoch: ``hotkey_emission`` is the epoch's
    (hotkey, server alpha, validator alpha) run on ``pending.server + validator + root``."""
    era = check_payout_era(spec_version)
    state = before.copy()
    state.share_pool = SHARE_POOLS[era]
    alpha_out_before = state.subnet_alpha_out
    book = PayoutBook(state, epoch_block)
    incentive_sum = min(U64_MAX, sum(int(i) for _, i, _ in hotkey_emission))
    validator_alpha = pending.validator if incentive_sum else pending.validator + pending.server
    routes: list[Route] = []
    incentives, dividends = dividends_and_incentives(state, hotkey_emission, routes)
    recycled_ck = alpha_out_before - state.subnet_alpha_out
    stake_map = {h: (state.stake(h, state.netuid), state.stake(h, 0)) for h in dividends}
    alpha_divs, root_divs = dividend_distribution(validator_alpha, pending.root, state.tao_weight_f(),
                                                  stake_map, dividends, state.sort_key)
    book.rest("miner incentive from the epoch differs from PendingServerEmission"
              if incentive_sum else "no miner incentive: server alpha goes to validators",
              (pending.server - incentive_sum) if incentive_sum else 0)
    book.rest("alpha dividends: U96F32 truncation, or no dividend weight to pay",
              validator_alpha - sum(_u64(U96F32.sat_mul(_take(state, h), d)) + _u64(U96F32.sat_sub(d, U96F32.sat_mul(_take(state, h), d)))
                                    for h, d in alpha_divs.items()))
    book.rest("root dividends: U96F32 truncation, or no root-staked dividend weight",
              pending.root - sum(_u64(U96F32.sat_mul(_take(state, h), d)) + _u64(U96F32.sat_sub(d, U96F32.sat_mul(_take(state, h), d)))
                                 for h, d in root_divs.items()))
    distribute(state, pending.owner_cut, incentives, alpha_divs, root_divs, book,
               records_miner_burned=spec_version >= MINER_BURNED_FROM)
    ledger = Ledger(
        netuid=state.netuid, epoch_block=epoch_block, spec_version=spec_version, era=era,
        distributed={Token.ALPHA: pending.total},
        credits=tuple(book.credits),
        remainder=tuple(RemainderPart(Token.ALPHA, rao, why) for why, rao in book.remainder.items()),
        blocks=(epoch_block,),
    )
    ledger.check_sums()
    return Payout(ledger, state, routes, recycled_ck, book.events)


# -- what the payout leaves in storage, for reconciliation ----------------------------------
#: which account each position of these storage keys is (extends reconcile.KEY_ROLES)
KEY_ROLES: dict[str, tuple[str, ...]] = {
    "TotalHotkeyAlpha": ("hotkey", "netuid"),
    "Alpha": ("hotkey", "coldkey", "netuid"),  # the coldkey's stake value in rao (share pool)
    "AlphaShares": ("hotkey", "coldkey", "netuid"),  # the raw U64F64 share bits
    "TotalHotkeyShares": ("hotkey", "netuid"),
    "AlphaDividendsPerSubnet": ("hotkey",),
    "RootAlphaDividendsPerSubnet": ("hotkey",),
    "TotalHotkeyAlphaLastEpoch": ("hotkey",),
    "RootClaimable": ("hotkey", "netuid"),  # I96F32 raw bits of this subnet's entry
    "AlphaSharesV2": ("hotkey", "coldkey", "netuid"),  # spec >= 397: SafeFloat, packed
    "TotalHotkeySharesV2": ("hotkey", "netuid"),
}

def _packed(v: SafeFloat) -> int:
    """A SafeFloat as one int for exact comparison: mantissa in the high bits, exponent (i64) low."""
    return (v.mantissa << 64) | (v.exponent & U64_MAX)


def storage_entries(state: PayoutState) -> dict[tuple[str, tuple[str, ...]], int]:
    """Every non-zero storage value of ``state`` the payout can move, keyed by (item, key in labels)."""
    lab, n = state.label, str(state.netuid)
    out: dict[tuple[str, tuple[str, ...]], int] = {}
    for (h, netuid), v in state.total_hotkey_alpha.items():
        out[("TotalHotkeyAlpha", (lab(h), str(netuid)))] = int(v)
    for (h, c), bits in state.alpha_shares.items():
        out[("AlphaShares", (lab(h), lab(c), n))] = int(bits)
        out[("Alpha", (lab(h), lab(c), n))] = state.stake_of(h, c)
    for h, bits in state.total_hotkey_shares.items():
        out[("TotalHotkeyShares", (lab(h), n))] = int(bits)
    for (h, c), v in state.alpha_shares_v2.items():
        out[("AlphaSharesV2", (lab(h), lab(c), n))] = _packed(v)
    for (h, c) in state.alpha_shares_v2:
        out[("Alpha", (lab(h), lab(c), n))] = state.stake_of(h, c)
    for h, v in state.total_hotkey_shares_v2.items():
        out[("TotalHotkeySharesV2", (lab(h), n))] = _packed(v)
    for item, values in (("AlphaDividendsPerSubnet", state.alpha_dividends_per_subnet),
                         ("RootAlphaDividendsPerSubnet", state.root_alpha_dividends_per_subnet),
                         ("TotalHotkeyAlphaLastEpoch", state.total_hotkey_alpha_last_epoch)):
        for h, v in values.items():
            out[(item, (lab(h),))] = int(v)
    for h, bits in state.root_claimable.items():
        out[("RootClaimable", (lab(h), n))] = int(bits)
    return {k: v for k, v in out.items() if v}  # a zero reads as an absent entry (ValueQuery)


def expected_changes(before: PayoutState, after: PayoutState, credits: Iterable[Credit]) -> list[ExpectedChange]:
    """The change the payout makes to every entry of ``storage_entries`` (absent = 0), with the
    kinds of the credits that land on its hotkey (and coldkey)."""
    b, a = storage_entries(before), storage_entries(after)
    credits = list(credits)
    out = []
    for (item, key) in sorted(set(b) | set(a)):
        hot = key[0]
        cold = key[1] if item in ("Alpha", "AlphaShares", "AlphaSharesV2") else None
        kinds = tuple(sorted({c.kind for c in credits if c.hotkey == hot and (cold is None or c.coldkey == cold)
                              and (c.coldkey or c.kind is not CreditKind.ROOT_DIVIDEND or item == "RootClaimable")},
                             key=lambda k: k.value))
        out.append(ExpectedChange(item, key, Token.ALPHA, a.get((item, key), 0) - b.get((item, key), 0), kinds))
    return out


def event_differences(expected: Iterable[AutoStakeEvent], observed: Iterable[AutoStakeEvent],
                      block: int) -> list[Difference]:
    """AutoStakeAdded events the payout must have deposited in the epoch block versus those stored
    there (as multisets); each one missing or unexplained is a difference on its hotkey/owner."""
    want, got = list(expected), list(observed)
    diffs = []
    for e in list(want):
        if e in got:
            got.remove(e)
            want.remove(e)
    for e in want:
        diffs.append(Difference("Event:AutoStakeAdded", e.hotkey, e.owner, (CreditKind.MINER_INCENTIVE,), Token.ALPHA,
                                e.incentive, 0, block, block, f"expected event to {e.destination} not deposited"))
    for e in got:
        diffs.append(Difference("Event:AutoStakeAdded", e.hotkey, e.owner, (CreditKind.MINER_INCENTIVE,), Token.ALPHA,
                                0, e.incentive, block, block, f"event to {e.destination} that no credit explains"))
    return diffs

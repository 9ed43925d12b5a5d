"""The ledger's types: where one subnet epoch's emission went, account by account, in rao.

Era-independent. Each era's rules (``spec103``, and the dTAO eras' modules) turn an epoch and
the state its payout reads into :class:`Credit` rows plus explicit :class:`RemainderPart` s, so
that for every token ``sum(credits) + remainder == distributed`` exactly; the era's rules also
say which stake-storage changes those credits must cause (:class:`ExpectedChange`), and
:func:`taoaudit.consensus.ledger.reconcile.reconcile` compares them with the changes the chain
stored (:class:`StorageChange`). Nothing here touches the chain.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import Enum

import numpy as np


class Token(str, Enum):
    """The unit a credit is paid in; TAO and a subnet's alpha are never added together."""

    TAO = "tao"
    ALPHA = "alpha"


class CreditKind(str, Enum):
    """Why an account was credited. Not every era has every kind."""

    #: spec 103: a non-delegate hotkey's whole epoch emission, staked to (hotkey, owner coldkey)
    HOTKEY_EMISSION = "hotkey_emission"
    MINER_INCENTIVE = "miner_incentive"
    VALIDATOR_DIVIDEND = "validator_dividend"
    CHILDKEY_TAKE = "childkey_take"
    PARENT_SHARE = "parent_share"
    DELEGATE_TAKE = "delegate_take"
    NOMINATOR_SHARE = "nominator_share"
    ROOT_DIVIDEND = "root_dividend"
    OWNER_CUT = "owner_cut"
    BURNED = "burned"
    RECYCLED = "recycled"


@dataclass(frozen=True, slots=True)
class Credit:
    """One increment the runtime makes from the epoch's emission.

    ``block`` is the block whose execution makes the credit (spec 103: E+1, where
    ``drain_emission`` pays ``LoadedEmission`` out). ``hotkey``/``coldkey`` are SS58 strings;
    ``coldkey`` is ``""`` for credits that land on no coldkey (burned, recycled).
    """

    hotkey: str
    coldkey: str
    kind: CreditKind
    token: Token
    rao: int
    block: int
    netuid: int = -1

    def as_dict(self) -> dict:
        return {
            "hotkey": self.hotkey,
            "coldkey": self.coldkey,
            "kind": self.kind.value,
            "token": self.token.value,
            "rao": int(self.rao),
            "block": int(self.block),
        }


@dataclass(frozen=True, slots=True)
class RemainderPart:
    """Rao of the epoch's emission that no credit carries, and the runtime's reason."""

    token: Token
    rao: int
    why: str


@dataclass(frozen=True, slots=True)
class StorageChange:
    """One stake-storage entry the chain stored before and after the credits landed.

    ``key`` is the storage key in domain terms: ``(hotkey, coldkey)`` for ``Stake``,
    ``(hotkey,)`` for ``TotalHotkeyStake``, ``(coldkey,)`` for ``TotalColdkeyStake``, ``()`` for
    a plain value such as ``TotalStake``.
    """

    storage: str
    key: tuple[str, ...]
    token: Token
    before: int
    after: int
    block_before: int
    block_after: int

    @property
    def delta(self) -> int:
        return int(self.after) - int(self.before)


@dataclass(frozen=True, slots=True)
class ExpectedChange:
    """The change the era's rules say one storage entry must show, and the credit kinds in it."""

    storage: str
    key: tuple[str, ...]
    token: Token
    delta: int
    kinds: tuple[CreditKind, ...]


@dataclass(frozen=True, slots=True)
class Difference:
    """A storage entry whose observed change the credits do not explain."""

    storage: str
    hotkey: str
    coldkey: str
    kinds: tuple[CreditKind, ...]
    token: Token
    expected_rao: int
    observed_rao: int
    block_before: int
    block_after: int
    why: str = ""

    def as_dict(self) -> dict:
        return {
            "storage": self.storage,
            "hotkey": self.hotkey,
            "coldkey": self.coldkey,
            "kinds": [k.value for k in self.kinds],
            "token": self.token.value,
            "expected_rao": int(self.expected_rao),
            "observed_rao": int(self.observed_rao),
            "unexplained_rao": int(self.observed_rao) - int(self.expected_rao),
            "block_before": int(self.block_before),
            "block_after": int(self.block_after),
            "why": self.why,
        }


@dataclass(frozen=True)
class Ledger:
    """Where one subnet epoch's emission went.

    ``distributed[token]`` is what the epoch handed out; ``credits`` and ``remainder`` add up
    to it exactly, per token (:meth:`check_sums`). ``reconciled`` is True only after every
    expected storage change was compared with the chain and none differed; ``reconcile_note``
    says why it is False when no comparison could be made.
    """

    netuid: int
    epoch_block: int
    spec_version: int
    era: str
    distributed: Mapping[Token, int]
    credits: tuple[Credit, ...]
    remainder: tuple[RemainderPart, ...]
    reconciled: bool = False
    differences: tuple[Difference, ...] = ()
    reconcile_note: str = "not reconciled: no chain state after the payout was compared"
    checked: int = 0
    blocks: tuple[int, ...] = field(default=())

    def remainder_rao(self, token: Token) -> int:
        return sum(p.rao for p in self.remainder if p.token is token)

    def credited_rao(self, token: Token) -> int:
        return sum(c.rao for c in self.credits if c.token is token)

    def check_sums(self) -> None:
        """Raise if credits plus remainder differ from what was distributed, for any token."""
        tokens = set(self.distributed) | {c.token for c in self.credits} | {p.token for p in self.remainder}
        for t in tokens:
            total = self.credited_rao(t) + self.remainder_rao(t)
            if total != int(self.distributed.get(t, 0)):
                raise AssertionError(
                    f"ledger of netuid {self.netuid} epoch {self.epoch_block}: {t.value} credits "
                    f"{self.credited_rao(t)} + remainder {self.remainder_rao(t)} != distributed "
                    f"{self.distributed.get(t, 0)}"
                )

    def filtered(self, *, hotkey: str | None = None, coldkey: str | None = None) -> Ledger:
        """The same ledger with only the credits (and differences) of one hotkey or coldkey.

        The sums no longer cover the whole epoch then; ``distributed`` and ``remainder`` stay
        the epoch's."""
        def keep(h: str, c: str) -> bool:
            return (hotkey is None or h == hotkey) and (coldkey is None or c == coldkey)

        return replace(
            self,
            credits=tuple(c for c in self.credits if keep(c.hotkey, c.coldkey)),
            differences=tuple(d for d in self.differences if keep(d.hotkey, d.coldkey)),
        )


def total_by_token(credits: Iterable[Credit]) -> dict[Token, int]:
    out: dict[Token, int] = {}
    for c in credits:
        out[c.token] = out.get(c.token, 0) + int(c.rao)
    return out


def credit_columns(ledger: Ledger) -> dict[str, np.ndarray]:
    """The credits as typed columns (numpy; ``pyarrow.table(...)`` or ``pandas.DataFrame`` take
    them as they are): SS58 strings and kind/token names as ``str``, ``rao`` as ``uint64``."""

    rows = ledger.credits
    return {
        "netuid": np.full(len(rows), ledger.netuid, dtype=np.uint16),
        "epoch_block": np.full(len(rows), ledger.epoch_block, dtype=np.uint64),
        "hotkey": np.array([c.hotkey for c in rows], dtype=str),
        "coldkey": np.array([c.coldkey for c in rows], dtype=str),
        "kind": np.array([c.kind.value for c in rows], dtype=str),
        "token": np.array([c.token.value for c in rows], dtype=str),
        "rao": np.array([c.rao for c in rows], dtype=np.uint64),
        "block": np.array([c.block for c in rows], dtype=np.uint64),
    }

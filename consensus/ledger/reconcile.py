"""Comparing the credits' expected stake-storage changes with the changes the chain stored.

Era-independent: an era's rules say which entries its credits must move and by how much
(:class:`ExpectedChange`); the chain side reads those entries, and every other entry of the
same storage items it read, before and after the blocks the credits land in
(:class:`StorageChange`). An entry that moved without a credit, or by a different amount, is a
:class:`Difference` named by account, storage and credit kind.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from .model import Difference, ExpectedChange, Ledger, StorageChange

#: which account each position of a storage key is; eras add their items here
KEY_ROLES: dict[str, tuple[str, ...]] = {
    "Stake": ("hotkey", "coldkey"),
    "TotalHotkeyStake": ("hotkey",),
    "TotalColdkeyStake": ("coldkey",),
    "TotalStake": (),
    "TotalIssuance": (),
    "LoadedEmission": ("netuid",),
    "TotalHotkeyAlpha": ("hotkey", "netuid"),
    "Alpha": ("hotkey", "coldkey", "netuid"),
}


def _accounts(storage: str, key: tuple[str, ...], roles: Mapping[str, tuple[str, ...]]) -> tuple[str, str]:
    named = dict(zip(roles.get(storage, ("hotkey", "coldkey")), key))
    return named.get("hotkey", ""), named.get("coldkey", "")


def compare(
    expected: Sequence[ExpectedChange],
    observed: Sequence[StorageChange],
    roles: Mapping[str, tuple[str, ...]] = KEY_ROLES,
) -> tuple[list[Difference], int]:
    """The differences between expected and observed changes, and how many entries were compared.

    Every expected entry must have been observed; every observed entry without an expectation
    must not have moved.
    """
    seen = {(o.storage, o.key): o for o in observed}
    wanted = {(e.storage, e.key): e for e in expected}
    diffs: list[Difference] = []
    for k, e in wanted.items():
        o = seen.get(k)
        hot, cold = _accounts(e.storage, e.key, roles)
        if o is None:
            diffs.append(Difference(e.storage, hot, cold, e.kinds, e.token, e.delta, 0, -1, -1,
                                    "not read from the chain"))
        elif o.delta != e.delta:
            diffs.append(Difference(e.storage, hot, cold, e.kinds, e.token, e.delta, o.delta,
                                    o.block_before, o.block_after, "stored change differs from the credits"))
    for k, o in seen.items():
        if k not in wanted and o.delta != 0:
            hot, cold = _accounts(o.storage, o.key, roles)
            diffs.append(Difference(o.storage, hot, cold, (), o.token, 0, o.delta, o.block_before,
                                    o.block_after, "changed, but no credit of the payout explains it"))
    return diffs, len(set(wanted) | set(seen))


def reconcile(
    ledger: Ledger,
    expected: Sequence[ExpectedChange],
    observed: Sequence[StorageChange],
    *,
    extra: Sequence[Difference] = (),
    roles: Mapping[str, tuple[str, ...]] = KEY_ROLES,
) -> Ledger:
    """The ledger with its reconciliation filled in: ``reconciled`` only if something was
    compared and nothing differed (``extra``: era-specific differences found elsewhere, e.g.
    a payout queue that was not emptied)."""
    diffs, checked = compare(expected, observed, roles)
    diffs = list(extra) + diffs
    blocks = sorted({o.block_before for o in observed} | {o.block_after for o in observed})
    if checked == 0:
        note = "not reconciled: no stake storage was compared"
    elif diffs:
        note = f"{len(diffs)} of {checked} storage entries differ from the credits"
    else:
        note = f"all {checked} storage entries changed exactly as the credits say"
    return replace(
        ledger,
        reconciled=checked > 0 and not diffs,
        differences=tuple(diffs),
        reconcile_note=note,
        checked=checked,
        blocks=tuple(blocks),
    )

"""Bonds a commitment cleared in block E, after the epoch wrote them.

A ``set_commitment`` extrinsic carrying ``ResetBondsFlag`` (pallet Commitments) records
``LastBondsReset[netuid, who] = block`` and calls the runtime's ``ResetBondsOnCommit``, which —
when ``BondsResetOn[netuid]`` — removes every ``(uid, ·)`` entry of ``who``'s UID from every Bonds
row of every mechanism of the subnet (``pallets/commitments/src/lib.rs`` ``set_commitment``,
``runtime/src/lib.rs`` ``ResetBondsOnCommit``, ``pallets/subtensor/src/epoch/run_epoch.rs``
``do_reset_bonds``, all @6d81084c5, spec 424; the same at 4a2e4b128, spec 393). It deposits
no subtensor event, only the Commitments pallet's ``Commitment`` / ``TimelockCommitment``; the
Bonds at E are then not what the epoch wrote. The reset is deterministic, so the audit applies it
to the recomputed Bonds (:func:`without_columns`) instead of reporting a false mismatch.
"""

from __future__ import annotations

from taoaudit.consensus.model import SparseRows

from .client import Chain
from .epoch import BlockReader, InexactEpoch
from .layout import PALLET

COMMITMENT_EVENTS = ("Commitment", "TimelockCommitment")


def _field(attrs: object, i: int, name: str) -> object:
    if isinstance(attrs, dict):
        return attrs[name]
    return list(attrs)[i]  # type: ignore[call-overload]


def bonds_resets_after_epoch(chain: Chain, netuid: int, epoch_block: int) -> tuple[int, ...]:
    """UIDs of ``netuid`` whose Bonds column a ``ResetBondsFlag`` commitment of block E cleared."""
    after = chain.at(epoch_block)
    if not after.has_storage("Commitments", "LastBondsReset"):
        return ()
    who = sorted({
        str(_field(attrs, 1, "who")) for phase, pallet, name, attrs in BlockReader(after).events()
        if pallet == "Commitments" and name in COMMITMENT_EVENTS and phase != "Initialization"
        and int(_field(attrs, 0, "netuid")) == netuid  # type: ignore[call-overload]
    })
    if not who:
        return ()
    stamps = after.query_many([("Commitments", "LastBondsReset", netuid, w) for w in who])
    reset = [w for w, b in zip(who, stamps) if b is not None and int(b) == epoch_block]
    if not reset:
        return ()
    before = chain.at(epoch_block - 1)
    flags = [bool(b.query_many([(PALLET, "BondsResetOn", netuid)])[0]) for b in (before, after)]
    if flags[0] != flags[1]:
        raise InexactEpoch(netuid, epoch_block, "BondsResetOn changed in the block a commitment reset bonds",
                           code="bonds_reset_flag_changed_in_block")
    if not flags[1]:
        return ()
    uids = []
    for w in reset:
        at = [b.query_many([(PALLET, "Uids", netuid, w)])[0] for b in (before, after)]
        if at[0] != at[1]:
            raise InexactEpoch(netuid, epoch_block, f"{w} reset bonds and changed UID in the same block",
                               code="bonds_reset_uid_changed_in_block")
        if at[1] is not None:  # no UID: the runtime skips the reset
            uids.append(int(at[1]))
    return tuple(sorted(set(uids)))


def without_columns(rows: SparseRows, uids: tuple[int, ...] | list[int]) -> SparseRows:
    """``rows`` with every entry pointing at ``uids`` removed (presence of each row kept), as
    ``do_reset_bonds`` rewrites every row of the mechanism index."""
    if not uids:
        return rows
    drop = set(uids)
    return SparseRows.from_rows([
        [(c, v) for c, v in rows.row(u) if c not in drop] if rows.present[u] else None
        for u in range(rows.n_rows)
    ])

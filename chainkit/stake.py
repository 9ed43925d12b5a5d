"""Stake inheritance through child/parent hotkeys (yuma-spec §5), in the runtime's U96F32.

What the dTAO epoch reads as a UID's stake is not ``TotalHotkeyAlpha`` itself but the amount
after child-key delegation: ``get_inherited_for_hotkey_on_subnet`` (alpha on the subnet) and
``get_tao_inherited_for_hotkey_on_subnet`` (root TAO, moved along the *subnet's* child/parent
relations). Both are the same function of different initial amounts (checked in
``pallets/subtensor/src/staking/stake_utils.rs`` at specs 273, 320, 365 and 425; only the
integer newtypes changed):

    initial       = U96F32(amount[hotkey])
    to_children   = Σ_children  initial            ·sat (proportion safe_div u64::MAX)
    from_parents  = Σ_parents   U96F32(amount[p])  ·sat (proportion safe_div u64::MAX)
    result        = floor((initial −sat to_children) +sat from_parents)   as u64 (saturating)

with ``amount = TotalHotkeyAlpha[·, netuid]`` for alpha and ``TotalHotkeyAlpha[·, 0]`` for TAO,
``ChildKeys[hotkey, netuid]`` / ``ParentKeys[hotkey, netuid]`` as ``Vec<(u64 proportion,
AccountId)>`` in storage order. On the root subnet the alpha function returns ``initial``.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from taoaudit.consensus.fixedpoint import U64_MAX, U96F32

Relations = Sequence[tuple[int, str]]  # (proportion u64, hotkey) as stored


def normalized_proportion(proportion: int) -> int:
    """``U96F32(proportion) safe_div U96F32(u64::MAX)`` (raw, 32 fraction bits)."""
    return U96F32.safe_div(U96F32.from_int(int(proportion)), U96F32.from_int(U64_MAX))


def inherited(
    hotkey: str,
    amount: Mapping[str, int],
    children: Relations,
    parents: Relations,
    *,
    is_root: bool = False,
) -> int:
    """Inherited stake of ``hotkey`` (u64): its own ``amount`` minus what it delegates to its
    children plus what its parents delegate to it. ``amount`` must hold every parent."""
    initial = U96F32.from_int(int(amount.get(hotkey, 0)))
    if is_root:
        return U96F32.to_int(initial, 64)
    to_children = 0
    for proportion, _child in children:
        to_children = U96F32.sat_add(to_children, U96F32.sat_mul(initial, normalized_proportion(proportion)))
    from_parents = 0
    for proportion, parent in parents:
        if parent not in amount:
            raise KeyError(f"stake of parent {parent} of {hotkey} was not read")
        share = U96F32.sat_mul(U96F32.from_int(int(amount[parent])), normalized_proportion(proportion))
        from_parents = U96F32.sat_add(from_parents, share)
    return U96F32.to_int(U96F32.sat_add(U96F32.sat_sub(initial, to_children), from_parents), 64)


def relations(value: object) -> list[tuple[int, str]]:
    """A decoded ``Vec<(u64, AccountId)>`` (lists or tuples) as ``[(proportion, hotkey)]``."""
    out = []
    for pair in value or ():  # type: ignore[union-attr]
        proportion, hotkey = pair  # type: ignore[misc]
        out.append((int(proportion), str(hotkey)))
    return out

"""Recovering the epoch's `rao_emission` from the Emission vector the chain stored.

In the dTAO eras the amount handed to the epoch includes block E's own accrual, which the
runtime stores nowhere (yuma-spec §11.3). The stored ``Emission_i = floor(x_i · rao / 2^32)``
for the epoch's normalised combined emission ``x`` (exact I32F32 bits), so every UID with
``x_i > 0`` bounds ``rao`` to an interval; their intersection is the set of amounts that
reproduce the stored vector exactly. One unknown against n equations: an empty intersection
is a proven mismatch, a non-empty one makes Emission *consistent* (not independently checked).
"""

from __future__ import annotations

from typing import Sequence

from .fixedpoint import U64_MAX

SHIFT = 32


def _ceil_div(a: int, b: int) -> int:
    return -((-a) // b)


def rao_emission_bounds(normalized: Sequence[int], stored: Sequence[int]) -> tuple[int, int] | None:
    """The inclusive range of u64 ``rao`` with ``floor(x_i·rao/2^32) == stored_i`` for every i.

    ``None`` when no single amount reproduces the stored vector.
    """
    lo, hi = 0, U64_MAX
    for x, e in zip(normalized, stored):
        x, e = int(x), int(e)
        if x <= 0:
            if e != 0:
                return None
            continue
        # e ≤ x·rao/2^32 < e + 1  ⇔  ceil(e·2^32/x) ≤ rao ≤ ceil((e+1)·2^32/x) − 1
        lo = max(lo, _ceil_div(e << SHIFT, x))
        hi = min(hi, _ceil_div((e + 1) << SHIFT, x) - 1)
        if lo > hi:
            return None
    return lo, hi


def best_rao_emission(normalized: Sequence[int], stored: Sequence[int]) -> int:
    """An amount to recompute with when no amount fits: the one the largest share implies,
    so that the diff shows which UIDs disagree with it."""
    pairs = [(int(x), int(e)) for x, e in zip(normalized, stored) if int(x) > 0]
    if not pairs:
        return 0
    x, e = max(pairs)
    return _ceil_div(e << SHIFT, x)

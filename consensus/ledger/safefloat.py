"""The alpha share pool of specs 397+: shares as ``SafeFloat`` decimal floats.

A port of ``SafeFloat`` and ``SharePool`` from opentensor/subtensor
``primitives/share-pool/src/lib.rs@14bc6f9f9`` (spec 425; introduced at e7f05a051, spec 397):
a value is ``mantissa · 10^exponent`` with the mantissa kept in (10^20, 10^21] (U256
intermediates, floor division); the pool's shared value is a plain u64 and a coldkey's value is
``shared · share / denominator`` in SafeFloat, floored to u64. Python ints stand in for U256
exactly; the only saturation the runtime relies on (``saturating_add``/``sub`` of U256) cannot be
reached from u128 mantissas.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

SAFE_FLOAT_MAX = 10**21
SAFE_FLOAT_MAX_EXP = 21
_MIN_MANTISSA = SAFE_FLOAT_MAX // 10
_I64_MIN, _I64_MAX = -(1 << 63), (1 << 63) - 1
_U64_MAX = (1 << 64) - 1


def _cappow10(e: int) -> int:
    """``cappow10``: 10^e, capped at 10^(SAFE_FLOAT_MAX_EXP + 1)."""
    if e > SAFE_FLOAT_MAX_EXP + 1:
        return SAFE_FLOAT_MAX * 10
    return 10**e


@dataclass(frozen=True)
class SafeFloat:
    mantissa: int = 0  # u128
    exponent: int = 0  # i64

    @staticmethod
    def normalized(mantissa: int, exponent: int) -> "SafeFloat | None":
        """``normalize``: scale into (10^20, 10^21]; None when the exponent leaves i64."""
        if mantissa == 0:
            return SafeFloat(0, 0)
        while mantissa > SAFE_FLOAT_MAX:
            mantissa //= 10
            exponent += 1
        while mantissa <= _MIN_MANTISSA:
            mantissa *= 10
            exponent -= 1
        if not _I64_MIN <= exponent <= _I64_MAX:
            return None
        return SafeFloat(mantissa, exponent)

    @classmethod
    def new(cls, mantissa: int, exponent: int) -> "SafeFloat | None":
        if mantissa > SAFE_FLOAT_MAX:
            return None
        return cls.normalized(mantissa, exponent)

    @classmethod
    def from_u64(cls, value: int) -> "SafeFloat":
        return cls.new(value, 0) or cls()

    @classmethod
    def from_u64f64(cls, bits: int) -> "SafeFloat":
        """``From<U64F64>``: integer part plus (fraction bits / 2^64), each a SafeFloat."""
        if bits == 0:
            return cls()
        whole = cls.new(bits >> 64, 0) or cls()
        frac = (cls.new(bits & _U64_MAX, 0) or cls()).div(cls.new(1 << 64, 0) or cls()) or cls()
        return whole.add(frac) or cls()

    def is_zero(self) -> bool:
        return self.mantissa == 0

    def div(self, a: "SafeFloat") -> "SafeFloat | None":
        if a.mantissa == 0:
            return None
        exponent = self.exponent - a.exponent - SAFE_FLOAT_MAX_EXP
        if not _I64_MIN <= exponent <= _I64_MAX:
            return None
        return self.normalized(self.mantissa * SAFE_FLOAT_MAX // a.mantissa, exponent)

    def _aligned(self, a: "SafeFloat") -> tuple[int, int, int]:
        """Both mantissas at the larger exponent (the smaller one floor-divided), and that exponent."""
        if self.exponent >= a.exponent:
            return self.mantissa, a.mantissa // _cappow10(self.exponent - a.exponent), self.exponent
        return self.mantissa // _cappow10(a.exponent - self.exponent), a.mantissa, a.exponent

    def add(self, a: "SafeFloat") -> "SafeFloat | None":
        if self.is_zero():
            return a
        if a.is_zero():
            return self
        m1, m2, e = self._aligned(a)
        return self.normalized(m1 + m2, e)

    def sub(self, a: "SafeFloat") -> "SafeFloat | None":
        if self.is_zero() and a.is_zero():
            return SafeFloat()
        if self.is_zero():
            return None
        if a.is_zero():
            return self
        m1, m2, e = self._aligned(a)
        return self.normalized(max(m1 - m2, 0), e)  # U256 saturating_sub

    def mul_div(self, a: "SafeFloat", b: "SafeFloat") -> "SafeFloat | None":
        if b.mantissa == 0:
            return None
        e = self.exponent + a.exponent
        if not _I64_MIN <= e <= _I64_MAX:
            return None
        e -= b.exponent
        if not _I64_MIN <= e <= _I64_MAX:
            return None
        return self.normalized(self.mantissa * a.mantissa // b.mantissa, e)

    def to_u64(self) -> int:
        """``From<&SafeFloat> for u64``: floor, saturating at u64::MAX."""
        if self.exponent == 0:
            return min(self.mantissa, _U64_MAX)
        scale = _cappow10(abs(self.exponent))
        q = self.mantissa * scale if self.exponent > 0 else self.mantissa // scale
        return min(q, _U64_MAX)

    def to_float(self) -> float:
        """``From<&SafeFloat> for f64`` (tests only): mantissa · 10^exponent."""
        return float(self.mantissa) * 10.0 ** max(min(self.exponent, 2**31 - 1), -(2**31))

    def exact(self) -> Fraction:
        return Fraction(self.mantissa) * Fraction(10) ** self.exponent


ZERO = SafeFloat()


class SafeSharePool:
    """``SharePool`` over SafeFloat shares; ``ops`` gives ``shared/set_shared`` (u64) and
    ``share/set_share/denominator/set_denominator`` (SafeFloat)."""

    def __init__(self, ops: Any) -> None:
        self.ops = ops

    def value_of_shares(self, share: SafeFloat) -> int:
        shared = SafeFloat.new(self.ops.shared(), 0) or ZERO
        return (shared.mul_div(share, self.ops.denominator()) or ZERO).to_u64()

    def get_value(self, key: Any) -> int:
        return self.value_of_shares(self.ops.share(key))

    def update_value_for_all(self, update: int) -> None:
        shared = self.ops.shared()
        self.ops.set_shared(min(shared + update, _U64_MAX) if update >= 0 else max(shared + update, 0))

    @staticmethod
    def shares_per_update(update: int, shared: int, denominator: SafeFloat) -> SafeFloat:
        shared_f = SafeFloat.new(shared, 0) or ZERO
        update_f = SafeFloat.new(abs(update), 0) or ZERO
        return update_f.mul_div(denominator, shared_f) or ZERO

    def update_value_for_one(self, key: Any, update: int) -> None:
        shared, current, den = self.ops.shared(), self.ops.share(key), self.ops.denominator()
        if den.is_zero():
            first = SafeFloat.new(abs(update), 0) or ZERO
            self.ops.set_denominator(first)
            self.ops.set_share(key, first)
        else:
            per = self.shares_per_update(update, shared, den)
            if update > 0:
                new_den, new_share = den.add(per) or den, current.add(per) or current
            else:
                new_den, new_share = den.sub(per) or den, current.sub(per) or current
            self.ops.set_denominator(new_den)
            self.ops.set_share(key, new_share)
        self.update_value_for_all(update)

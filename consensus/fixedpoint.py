"""Fixed-point arithmetic of the `substrate-fixed` crate, on raw integers.

A fixed value is its raw two's-complement integer; ``value = raw / 2**frac``. Every operation
here reproduces the crate bit for bit as subtensor uses it:

* multiplication takes the exact double-width product and shifts right arithmetically
  (floor), then saturates or fails (checked);
* division shifts the dividend left and truncates toward zero; ``safe_div`` (subtensor's
  safe-math) gives 0 on division by zero *and* on overflow;
* conversions to integers floor, then clamp (saturating forms);
* narrowing between fixed types drops fraction bits with an arithmetic shift (floor).

Python ints are exact, so 128- and 256-bit intermediates need no emulation here. The numba
kernels mirror these functions operation for operation on 64-bit words.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction


def _trunc_div(a: int, b: int) -> int:
    """Integer division rounding toward zero (Rust's `/` on integers)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


@dataclass(frozen=True)
class FixedType:
    """One fixed-point type of the crate: total raw bits, fraction bits, signedness."""

    name: str
    bits: int
    frac: int
    signed: bool

    @property
    def min_raw(self) -> int:
        return -(1 << (self.bits - 1)) if self.signed else 0

    @property
    def max_raw(self) -> int:
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1

    @property
    def one(self) -> int:
        return 1 << self.frac

    def fits(self, raw: int) -> bool:
        return self.min_raw <= raw <= self.max_raw

    def saturate(self, raw: int) -> int:
        if raw > self.max_raw:
            return self.max_raw
        if raw < self.min_raw:
            return self.min_raw
        return raw

    def wrap(self, raw: int) -> int:
        """Two's-complement wrap: what plain `+` and `Iterator::sum` do in the wasm build."""
        mask = (1 << self.bits) - 1
        raw &= mask
        if self.signed and raw > self.max_raw:
            raw -= 1 << self.bits
        return raw

    # -- conversions ---------------------------------------------------------------------
    def from_int(self, value: int) -> int:
        """`saturating_from_num(int)`."""
        return self.saturate(value << self.frac)

    def from_fixed(self, raw: int, source: "FixedType") -> int:
        """`saturating_from_num(other_fixed)`: floor when dropping fraction bits, then clamp."""
        shift = self.frac - source.frac
        converted = raw << shift if shift >= 0 else raw >> -shift
        return self.saturate(converted)

    def from_float(self, value: float | Fraction) -> int:
        """`from_num(f32|f64)`: the exact binary value rounded to nearest, ties to even."""
        exact = Fraction(value) * self.one
        return self.saturate(round(exact))  # Fraction.__round__ is ties-to-even

    def to_int(self, raw: int, int_bits: int = 64, signed_int: bool = False) -> int:
        """`saturating_to_num::<uN/iN>()`: floor, then clamp to the integer type."""
        value = raw >> self.frac
        lo = -(1 << (int_bits - 1)) if signed_int else 0
        hi = (1 << (int_bits - 1)) - 1 if signed_int else (1 << int_bits) - 1
        return min(max(value, lo), hi)

    def round_to_int(self, raw: int) -> int:
        """`round()`: to nearest, ties away from zero (result still an integer value)."""
        half = 1 << (self.frac - 1)
        if raw >= 0:
            return (raw + half) >> self.frac
        return -((-raw + half) >> self.frac)

    # -- arithmetic ----------------------------------------------------------------------
    def sat_add(self, a: int, b: int) -> int:
        return self.saturate(a + b)

    def sat_sub(self, a: int, b: int) -> int:
        return self.saturate(a - b)

    def checked_add(self, a: int, b: int) -> int | None:
        r = a + b
        return r if self.fits(r) else None

    def sat_mul(self, a: int, b: int) -> int:
        return self.saturate((a * b) >> self.frac)

    def checked_mul(self, a: int, b: int) -> int | None:
        r = (a * b) >> self.frac
        return r if self.fits(r) else None

    def checked_div(self, a: int, b: int) -> int | None:
        if b == 0:
            return None
        q = _trunc_div(a << self.frac, b)
        return q if self.fits(q) else None

    def sat_div(self, a: int, b: int) -> int:
        if b == 0:
            raise ZeroDivisionError(f"{self.name} saturating_div by zero")
        return self.saturate(_trunc_div(a << self.frac, b))

    def safe_div(self, a: int, b: int) -> int:
        """subtensor's `FixedExt::safe_div`: 0 on division by zero or overflow."""
        q = self.checked_div(a, b)
        return 0 if q is None else q

    def safe_div_or(self, a: int, b: int, default: int) -> int:
        q = self.checked_div(a, b)
        return default if q is None else q


I32F32 = FixedType("I32F32", 64, 32, True)
I64F64 = FixedType("I64F64", 128, 64, True)
I96F32 = FixedType("I96F32", 128, 32, True)
U64F64 = FixedType("U64F64", 128, 64, False)
U96F32 = FixedType("U96F32", 128, 32, False)
I9F23 = FixedType("I9F23", 32, 23, True)

U16_MAX = 0xFFFF
U64_MAX = (1 << 64) - 1
ONE = I32F32.one
HALF = ONE >> 1
ZERO = 0


# -- subtensor's conversion helpers (epoch/math.rs), on I32F32 raws ------------------------

def u16_to_fixed(x: int) -> int:
    return I32F32.from_int(x)


def u16_proportion_to_fixed(x: int) -> int:
    return I32F32.safe_div(I32F32.from_int(x), I32F32.from_int(U16_MAX))


def fixed_to_fixed_u16_proportion(x: int) -> int:
    return I32F32.safe_div(x, I32F32.from_int(U16_MAX))


def fixed_proportion_to_u16(x: int) -> int:
    """Truncating: 1.0 → 65535, 1.0 − 1 ulp → 65534, 0.5 → 32767."""
    return I32F32.to_int(I32F32.sat_mul(x, I32F32.from_int(U16_MAX)), 16)


def fixed64_to_fixed32(x: int) -> int:
    return I32F32.from_fixed(x, I64F64)


def fixed64_to_u64(x: int) -> int:
    return I64F64.to_int(x, 64)


# -- transcendental ------------------------------------------------------------------------

# The crate parses e into an I9F23 constant; the shortcut for exp(1) returns that constant.
E_I9F23_RAW = 0xADF85458A2BB4A9AAFDC5620273D3CF1 >> 103
E_I32F32_RAW = I32F32.from_fixed(E_I9F23_RAW, I9F23)


def exp(x: int) -> int | None:
    """`substrate_fixed::transcendental::exp::<I32F32, I32F32>`; None where the crate errs."""
    if x == 0:
        return ONE
    if x == ONE:
        return E_I32F32_RAW
    neg = x < 0
    if neg:
        x = -x
    result = I32F32.checked_add(x, ONE)
    if result is None:
        return None
    term = x
    for i in range(2, I32F32.frac):
        term = I32F32.checked_mul(term, x)
        if term is None:
            return None
        term = I32F32.checked_div(term, I32F32.from_int(i))
        if term is None:
            return None
        result = I32F32.checked_add(result, term)
        if result is None:
            return None
    if neg:
        return I32F32.checked_div(ONE, result)
    return result


EXP_SAFE_MIN = I32F32.from_int(-20)
EXP_SAFE_MAX = I32F32.from_int(20)


def exp_safe(x: int) -> int:
    """exp clamped to [−20, 20]; on the crate's error 0 (input ≤ 0) or I32F32::MAX."""
    x = min(max(x, EXP_SAFE_MIN), EXP_SAFE_MAX)
    r = exp(x)
    if r is None:
        return 0 if x <= 0 else I32F32.max_raw
    return r


def sigmoid_safe(x: int, rho: int, kappa: int) -> int:
    offset = I32F32.sat_sub(x, kappa)
    neg_rho = I32F32.sat_mul(rho, -ONE)
    e = exp_safe(I32F32.sat_mul(neg_rho, offset))
    return I32F32.safe_div(ONE, I32F32.sat_add(e, ONE))

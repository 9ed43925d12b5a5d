"""The fixed-point primitives against an independent definition in exact rationals."""

from __future__ import annotations

import math
import struct
from fractions import Fraction

from hypothesis import given, settings, strategies as st

from taoaudit.consensus.eras.mainline import ema_alpha_constant, tao_weight_i64f64
from taoaudit.consensus.fixedpoint import (
    E_I32F32_RAW,
    I32F32,
    I64F64,
    ONE,
    U16_MAX,
    exp_safe,
    fixed_proportion_to_u16,
    u16_proportion_to_fixed,
)

i64 = st.integers(-(1 << 63), (1 << 63) - 1)
i128 = st.integers(-(1 << 127), (1 << 127) - 1)


def clamp(x: int, t) -> int:
    return max(t.min_raw, min(t.max_raw, x))


def trunc(q: Fraction) -> int:
    return math.trunc(q)


@settings(max_examples=400)
@given(i64, i64)
def test_i32f32_mul_floors_then_saturates(a: int, b: int) -> None:
    exact = Fraction(a, ONE) * Fraction(b, ONE)
    assert I32F32.sat_mul(a, b) == clamp(math.floor(exact * ONE), I32F32)


@settings(max_examples=400)
@given(i64, i64)
def test_i32f32_safe_div_truncates_zero_on_overflow(a: int, b: int) -> None:
    got = I32F32.safe_div(a, b)
    if b == 0:
        assert got == 0
        return
    q = trunc(Fraction(a, b) * ONE)
    assert got == (q if I32F32.fits(q) else 0)


@settings(max_examples=300)
@given(i128, i128)
def test_i64f64_div_and_mul(a: int, b: int) -> None:
    one = I64F64.one
    if b:
        q = trunc(Fraction(a, b) * one)
        assert I64F64.safe_div(a, b) == (q if I64F64.fits(q) else 0)
    assert I64F64.sat_mul(a, b) == clamp(math.floor(Fraction(a * b, one)), I64F64)


@settings(max_examples=300)
@given(st.integers(0, U16_MAX))
def test_u16_round_trips(u: int) -> None:
    fixed = u16_proportion_to_fixed(u)
    assert fixed == (u << 32) // U16_MAX
    # Truncation both ways loses at most one u16 step, never gains.
    assert fixed_proportion_to_u16(fixed) in (u, u - 1) or u == 0


def test_documented_constants() -> None:
    # yuma-spec §2.2, §2.5, §3.8a and §12.
    f32_tenth = struct.unpack("f", struct.pack("f", 0.1))[0]
    assert I32F32.from_float(f32_tenth) == 429_496_736
    assert I32F32.from_float(0.1) == 429_496_730
    assert E_I32F32_RAW == 11_674_931_200
    assert exp_safe(ONE) == 11_674_931_200
    assert exp_safe(0) == ONE
    assert ema_alpha_constant(900_000) == 429_496_730
    assert fixed_proportion_to_u16(ONE) == 65535
    assert fixed_proportion_to_u16(ONE - 1) == 65534
    assert fixed_proportion_to_u16(ONE // 2) == 32767
    assert fixed_proportion_to_u16(-ONE) == 0
    assert tao_weight_i64f64((1 << 64) - 1) == ONE << 32
    assert I32F32.round_to_int(ONE // 2) == 1 and I32F32.round_to_int(-(ONE // 2)) == -1


@settings(max_examples=200)
@given(st.integers(-20 * ONE, 20 * ONE))
def test_exp_tracks_the_real_exponential(x: int) -> None:
    got = Fraction(exp_safe(x), ONE)
    want = math.exp(x / ONE)
    # The crate's 31-term series is only an approximation: close for small |x|, off by up to
    # about one percent near ±20 (the truncated tail); exactness is pinned by the vectors.
    tol = 1e-6 if abs(x) <= 4 * ONE else 2e-2
    assert abs(float(got) - want) <= max(want * tol, 2e-9)


@settings(max_examples=100)
@given(st.integers(-(1 << 63), -20 * ONE - 1))
def test_exp_safe_clamps(x: int) -> None:
    assert exp_safe(x) == exp_safe(-20 * ONE)

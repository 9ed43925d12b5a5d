"""I32F32 arithmetic of `substrate-fixed` on int64 raws, bit for bit, for numba kernels.

Every function mirrors its twin in :mod:`consensus.fixedpoint` (``I32F32.sat_mul``,
``safe_div``, ...) on the raw two's-complement integer. The crate computes with 128-bit
intermediates; here they are emulated exactly on 64-bit words:

Multiplication, ``floor(a*b / 2^32)`` saturated to i64
    Fast path: when the float64 product ``|fl(a)·fl(b)| < 2^62`` (relative error 2^-52) the
    int64 product is exact and an arithmetic shift is the floor. For non-negative operands
    with a product below 2^93 the floor is ``a·bh + ah·bl + floor(al·bl / 2^32)`` over 32-bit
    halves, each term fitting an int64 (the exp series lives here). Otherwise the magnitudes are
    multiplied into an unsigned 128-bit ``(hi, lo)`` pair from four 32x32-bit limb products
    (each fits a uint64), the pair is shifted right by 32, and the sign is applied: a
    negative true product ``-P`` floors to ``-ceil(P / 2^32)``. Saturation follows the sign of
    the true product.

Division, ``trunc((a << 32) / b)``; ``safe_div`` gives 0 on ``b == 0`` and on overflow
    Division is done on magnitudes ``ua = |a|``, ``ub = |b|`` (uint64) and the sign applied
    afterwards (truncation toward zero = floor of magnitudes). The 96-bit dividend
    ``ua * 2^32`` is divided in one of two ways:

    * float64 estimate + exact correction (the hot path, several times cheaper than the
      hardware ``div`` on this machine because ``divsd``/``mulsd`` pipeline and ``div r64``
      does not). It is taken when ``ub < 2^61`` and ``ua < ub * 2^19``, so the quotient is
      below 2^52. The estimate ``fl(ua) * 2^32 / fl(ub)`` (or ``fl(ua) * fl(2^32 / fl(ub))``
      with a reciprocal shared by a whole row or column) carries at most three roundings of
      2^-53 each, so it is within 3 of the true floor; the remainder ``ua*2^32 - q*ub`` is
      computed with wrapping int64 arithmetic, which is exact because its true value lies in
      ``(-4*ub, 4*ub)`` ⊂ int64; a few compare-and-adjust steps make the quotient exact.
    * exact integer long division otherwise: ``q1, r1 = divmod(ua, ub)`` (the high quotient
      digit, overflow if ``q1 >= 2^32``), then the low digit ``floor(r1 * 2^32 / ub)`` with
      ``r1 < ub``: directly when ``r1 < 2^32``, else by one step of Knuth's algorithm D
      (TAOCP 4.3.1; Hacker's Delight ``divlu``) in base 2^32 after normalising ``ub`` so its
      top bit is set (``r1 << s`` still fits because ``r1 < ub``). This is the textbook
      128-by-64 scheme restricted to a dividend whose low 32 bits are zero, so only one
      quotient digit needs the estimate-and-correct loop (at most two corrections).

    Why this scheme: it needs no 128-bit type (numba has none), each path is a few uint64
    operations with a proof of exactness, and the common epoch divisions (proportions by
    sums, integer weights by integer sums) all take the float path.

Sums that the runtime does with plain ``+`` wrap; int64 addition in numba wraps the same way.
"""

from __future__ import annotations

import numpy as np
from numba import njit

I64_MAX = np.int64(0x7FFFFFFFFFFFFFFF)
I64_MIN = np.int64(-0x8000000000000000)
ONE = np.int64(1 << 32)
HALF = np.int64(1 << 31)
U16_MAX_FIXED = np.int64(0xFFFF << 32)

_M32 = np.uint64(0xFFFFFFFF)
_B32 = np.uint64(1 << 32)
_S32 = np.uint64(32)
_U0 = np.uint64(0)
_U1 = np.uint64(1)
_I63 = np.uint64(1 << 63)
_F2_32 = float(1 << 32)
_F2_62 = float(1 << 62)
_F2_93 = float(1 << 93)
_LIM45 = np.int64(1 << 45)
_LIM61 = np.int64(1 << 61)


# -- addition ------------------------------------------------------------------------------

@njit(cache=True)
def sat_add(a, b):
    r = a + b  # wraps
    if ((a ^ r) & (b ^ r)) < 0:
        return I64_MAX if a >= 0 else I64_MIN
    return r


@njit(cache=True)
def sat_sub(a, b):
    r = a - b  # wraps
    if ((a ^ b) & (a ^ r)) < 0:
        return I64_MAX if a >= 0 else I64_MIN
    return r


@njit(cache=True)
def checked_add(a, b):
    """(ok, a + b)."""
    r = a + b
    if ((a ^ r) & (b ^ r)) < 0:
        return False, np.int64(0)
    return True, r


# -- unsigned 128-bit helpers ----------------------------------------------------------

@njit(cache=True)
def umul128(a, b):
    """Full product of two uint64 as (hi, lo) uint64."""
    a0 = a & _M32
    a1 = a >> 32
    b0 = b & _M32
    b1 = b >> 32
    p00 = a0 * b0
    p01 = a0 * b1
    p10 = a1 * b0
    p11 = a1 * b1
    mid = (p00 >> 32) + (p01 & _M32) + (p10 & _M32)
    lo = (mid << 32) | (p00 & _M32)
    hi = p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32)
    return hi, lo


@njit(cache=True)
def _nlz(x):
    """Leading zero count of a non-zero uint64."""
    n = 0
    if x >> 32 == _U0:
        n += 32
        x = x << 32
    if x >> 48 == _U0:
        n += 16
        x = x << 16
    if x >> 56 == _U0:
        n += 8
        x = x << 8
    if x >> 60 == _U0:
        n += 4
        x = x << 4
    if x >> 62 == _U0:
        n += 2
        x = x << 2
    if x >> 63 == _U0:
        n += 1
    return n


@njit(cache=True)
def _udiv_low_digit(r, v):
    """floor(r * 2^32 / v) for uint64 r < v, v >= 2^32: one Knuth-D step in base 2^32."""
    s = _nlz(v)
    v = v << s
    vh = v >> 32
    vl = v & _M32
    u = r << s  # < v, fits since r < v before the shift
    qhat = u // vh
    rhat = u - qhat * vh
    while qhat >= _B32 or qhat * vl > (rhat << 32):
        qhat -= _U1
        rhat += vh
        if rhat >= _B32:
            break
    return qhat


@njit(cache=True)
def udiv_shift32(ua, ub):
    """(overflow, floor(ua * 2^32 / ub)) for uint64 ua, ub > 0; overflow iff q >= 2^64."""
    q1 = ua // ub
    if q1 >= _B32:
        return True, _U0
    r1 = ua - q1 * ub
    if r1 < _B32:
        q0 = (r1 << 32) // ub
    else:
        q0 = _udiv_low_digit(r1, ub)
    return False, (q1 << 32) | q0


# -- multiplication --------------------------------------------------------------------

@njit(cache=True)
def _mul_slow(a, b):
    """(status, floor(a*b / 2^32)) exactly; status 0 = fits, +1 / -1 = overflow up / down."""
    neg = (a < 0) != (b < 0)
    ua = np.uint64(-a) if a < 0 else np.uint64(a)
    ub = np.uint64(-b) if b < 0 else np.uint64(b)
    hi, lo = umul128(ua, ub)
    over = -1 if neg else 1
    if hi >> 32 != _U0:
        return over, np.int64(0)
    q = (hi << 32) | (lo >> 32)
    if neg:
        if lo & _M32 != _U0:
            q += _U1  # ceil of the magnitude = floor of the negative value
            if q == _U0:
                return over, np.int64(0)
        if q > _I63:
            return over, np.int64(0)
        return 0, np.int64(_U0 - q)
    if q >= _I63:
        return over, np.int64(0)
    return 0, np.int64(q)


@njit(cache=True)
def _mul_mid(a, b):
    """floor(a*b / 2^32) for a, b >= 0 with a*b < 2^93 (then every partial product fits):
    a*b = ah·bh·2^64 + (ah·bl + al·bh)·2^32 + al·bl, so the floor is
    a·bh + ah·bl + floor(al·bl / 2^32)."""
    lo = (np.uint64(a & 0xFFFFFFFF) * np.uint64(b & 0xFFFFFFFF)) >> 32
    return a * (b >> 32) + (a >> 32) * (b & 0xFFFFFFFF) + np.int64(lo)


@njit(cache=True)
def _mul_any(a, b):
    """:func:`mul` for any operands."""
    p = np.float64(a) * np.float64(b)
    if -_F2_62 < p < _F2_62:
        return (a * b) >> 32
    if a >= 0 and b >= 0 and p < _F2_93:
        return _mul_mid(a, b)
    st, r = _mul_slow(a, b)
    if st == 0:
        return r
    return I64_MIN if st < 0 else I64_MAX


@njit(cache=True)
def mul(a, b):
    """`I32F32::saturating_mul` (floor, then clamp by the sign of the true product).

    Most epoch products are of two proportions: 0 <= a <= 1.0 and 0 <= b < 1.0 (raws up to
    2^32, tested as unsigned so that a negative raw fails), whose product is below 2^64 and
    exact in uint64. That test comes first and everything else is in :func:`_mul_any`; kept
    apart, the kernels' loops compile without the general paths inline and mat_ema runs about
    a quarter faster."""
    if np.uint64(a) <= _B32 and np.uint64(b) < _B32:
        return np.int64((np.uint64(a) * np.uint64(b)) >> _S32)
    return _mul_any(a, b)


@njit(cache=True)
def checked_mul(a, b):
    """(ok, value) of `I32F32::checked_mul`."""
    p = np.float64(a) * np.float64(b)
    if -_F2_62 < p < _F2_62:
        return True, (a * b) >> 32
    if a >= 0 and b >= 0 and p < _F2_93:
        return True, _mul_mid(a, b)
    st, r = _mul_slow(a, b)
    return st == 0, r


# -- division --------------------------------------------------------------------------

@njit(cache=True)
def udiv_fast_ok(ua, ub):
    """The float path applies: int64 0 <= ua, 0 < ub < 2^61, quotient < 2^52."""
    return 0 < ub < _LIM61 and 0 <= ua and (ua >> 19) < ub


@njit(cache=True)
def udiv_fast(ua, ub, q):
    """floor(ua * 2^32 / ub) from an estimate q within a few units (udiv_fast_ok holds)."""
    r = (ua << 32) - q * ub  # wrapping; the true value is in (-4ub, 4ub)
    while r < 0:
        q -= 1
        r += ub
    while r >= ub:
        q += 1
        r -= ub
    return q


@njit(cache=True)
def _div_slow(a, b):
    """(status, trunc((a << 32) / b)) for b != 0; status 0 = fits, +1 / -1 = overflow."""
    neg = (a < 0) != (b < 0)
    ua = np.uint64(-a) if a < 0 else np.uint64(a)
    ub = np.uint64(-b) if b < 0 else np.uint64(b)
    over_st = -1 if neg else 1
    over, q = udiv_shift32(ua, ub)
    if over:
        return over_st, np.int64(0)
    if neg:
        if q > _I63:
            return over_st, np.int64(0)
        return 0, np.int64(_U0 - q)
    if q >= _I63:
        return over_st, np.int64(0)
    return 0, np.int64(q)


@njit(cache=True)
def checked_div(a, b):
    """(ok, value) of `I32F32::checked_div`."""
    if b == 0:
        return False, np.int64(0)
    if udiv_fast_ok(a, b):
        return True, udiv_fast(a, b, np.int64((np.float64(a) * _F2_32) / np.float64(b)))
    st, r = _div_slow(a, b)
    return st == 0, r


@njit(cache=True)
def div(a, b):
    """subtensor's `safe_div`: trunc((a << 32) / b), 0 on division by zero or overflow."""
    if b == 0:
        return np.int64(0)
    if udiv_fast_ok(a, b):
        return udiv_fast(a, b, np.int64((np.float64(a) * _F2_32) / np.float64(b)))
    st, r = _div_slow(a, b)
    return r  # 0 when it overflowed


@njit(cache=True)
def sat_div(a, b):
    """`I32F32::saturating_div` (b != 0): clamp by the sign of the true quotient."""
    st, r = _div_slow(a, b)
    if st == 0:
        return r
    return I64_MIN if st < 0 else I64_MAX


# -- conversions -----------------------------------------------------------------------

@njit(cache=True)
def from_int(x):
    """`saturating_from_num(int)` for an int64 integer."""
    if x > np.int64(0x7FFFFFFF):
        return I64_MAX
    if x < np.int64(-0x80000000):
        return I64_MIN
    return x << 32


@njit(cache=True)
def to_u16_proportion(x):
    """`fixed_proportion_to_u16`: clamp(floor(mul(x, 65535) / 2^32), 0, 65535).

    mul(x, 65535.0) is x·65535 (saturated); for x >= 1.0 the result clamps to 65535.
    """
    if x <= 0:
        return 0
    if x >= ONE:
        return 0xFFFF
    return (x * 0xFFFF) >> 32


@njit(cache=True)
def u16_proportion_to_fixed(u):
    return div(from_int(u), U16_MAX_FIXED)


@njit(cache=True)
def round_to_int(x):
    """`round()` (ties away from zero) as an integer."""
    if x >= 0:
        return np.int64((np.uint64(x) + np.uint64(HALF)) >> 32)
    return -np.int64((np.uint64(-x) + np.uint64(HALF)) >> 32)


# -- transcendental ------------------------------------------------------------------------

E_RAW = np.int64(11674931200)  # the crate's I9F23 e, widened (yuma-spec §2.5)
_EXP_MIN = np.int64(-20 << 32)
_EXP_MAX = np.int64(20 << 32)


@njit(cache=True)
def _div_small(t, i):
    """t // i for 0 <= t < 2^63 and 2 <= i < 32 without the hardware divider.

    For t < 2^45 the estimate fl(fl(t)·fl(1/i)) is within 2^-8 of t/i, whose fraction is a
    multiple of 1/i: truncating it gives the quotient or (exact multiples) one less, fixed by
    the remainder. Above, a second estimate on the remainder (< 2^17) closes the gap of the
    first (within 2^11), then exact correction."""
    inv = 1.0 / i
    q = np.int64(np.float64(t) * inv)
    r = t - q * i
    if t < _LIM45:  # the estimate is within 1/31 of t/i: at most one unit low
        return q + 1 if r >= i else q
    q2 = np.int64(np.float64(r) * inv)
    q += q2
    r -= q2 * i
    while r < 0:
        q -= 1
        r += i
    while r >= i:
        q += 1
        r -= i
    return q


@njit(cache=True)
def exp_checked(x):
    """(ok, value) of `substrate_fixed::transcendental::exp::<I32F32, I32F32>`."""
    if x == 0:
        return True, ONE
    if x == ONE:
        return True, E_RAW
    neg = x < 0
    if neg:
        if x == I64_MIN:
            return False, np.int64(0)  # -x does not fit: the crate's checked_add fails
        x = -x
    ok, result = checked_add(x, ONE)
    if not ok:
        return False, np.int64(0)
    term = x
    for i in range(2, 32):
        ok, term = checked_mul(term, x)
        if not ok:
            return False, np.int64(0)
        # checked_div(term, i << 32) == trunc(term / i), which never overflows; term >= 0
        term = _div_small(term, i)
        if term == 0:
            break  # every later term is 0 as well: mul(0, x) = 0
        ok, result = checked_add(result, term)
        if not ok:
            return False, np.int64(0)
    if neg:
        return checked_div(ONE, result)
    return True, result


@njit(cache=True)
def exp_safe(x):
    if x < _EXP_MIN:
        x = _EXP_MIN
    elif x > _EXP_MAX:
        x = _EXP_MAX
    ok, r = exp_checked(x)
    if ok:
        return r
    return np.int64(0) if x <= 0 else I64_MAX

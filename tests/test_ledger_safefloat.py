"""The SafeFloat share pool of specs 397+ (consensus.ledger.safefloat) against the runtime's own
share-pool unit tests at spec 425, transcribed into fixtures/coinbase/share_pool_425.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from taoaudit.consensus.fixedpoint import U64F64
from taoaudit.consensus.ledger.safefloat import SafeFloat, SafeSharePool

DOC = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "coinbase" / "share_pool_425.json").read_text())
CASES = {c["test"]: c for c in DOC["cases"]}


def sf(pair: list[int]) -> SafeFloat:
    v = SafeFloat.new(*pair)
    assert v is not None
    return v


class MockOps:
    """The tests' mock pool: u64 shared value, SafeFloat shares and denominator."""

    def __init__(self, shared: int, denominator: SafeFloat, shares: dict[int, SafeFloat]) -> None:
        self.sv, self.den, self.sh = shared, denominator, dict(shares)

    def shared(self) -> int:
        return self.sv

    def set_shared(self, v: int) -> None:
        self.sv = v

    def share(self, key: Any) -> SafeFloat:
        return self.sh.get(key, SafeFloat())

    def set_share(self, key: Any, v: SafeFloat) -> None:
        self.sh[key] = v

    def denominator(self) -> SafeFloat:
        return self.den

    def set_denominator(self, v: SafeFloat) -> None:
        self.den = v


def close(value: float, c: dict) -> None:
    if "eq" in c:
        assert value == c["eq"], (value, c)
    if "abs_le" in c:
        assert abs(value - c["target"]) <= c["abs_le"], (value, c)
    if "below_by_at_most" in c:
        assert 0 <= c["target"] - value <= c["below_by_at_most"], (value, c)


def test_counts() -> None:
    assert (len(DOC["cases"]), len(DOC["not_transcribed"])) == (17, 2)


def run_steps(pool: SafeSharePool, steps: list[dict], memo: dict) -> None:
    for step in steps:
        if "one" in step:
            pool.update_value_for_one(*step["one"])
        elif "all" in step:
            pool.update_value_for_all(step["all"])
        elif "repeat" in step:
            for _ in range(step["repeat"]):
                run_steps(pool, step["steps"], memo)
        elif "value_of" in step:
            close(pool.get_value(step["value_of"]), step)
        elif "sum_of_values" in step:
            close(sum(pool.get_value(k) for k in step["sum_of_values"]), step)
        elif "shared_eq" in step:
            assert pool.ops.shared() == step["shared_eq"]
        elif "remember_value_of" in step:
            memo[step["remember_value_of"]] = pool.get_value(step["remember_value_of"])
        elif "value_drop_of" in step:
            k = step["value_drop_of"]
            close(memo[k] - pool.get_value(k), step)
        else:
            raise AssertionError(f"unknown step {step}")


@pytest.mark.parametrize("case", [c for c in DOC["cases"] if "pool" in c], ids=lambda c: c["test"])
def test_pool(case: dict) -> None:
    p = case["pool"]
    ops = MockOps(p["shared"], sf(p["denominator"]), {int(k): sf(v) for k, v in p["shares"].items()})
    run_steps(SafeSharePool(ops), case["steps"], {})


def test_shares_per_update() -> None:
    for update, shared, m, e in CASES["test_get_shares_per_update"]["shares_per_update"]:
        den = SafeFloat.new(m, e) or SafeFloat()
        spu = SafeSharePool.shares_per_update(update, shared, den).to_float()
        expected = float(update) * den.to_float() / float(shared)
        assert abs(expected - spu) <= expected / 1000.0, (update, shared, m, e, spu, expected)


def test_normalize() -> None:
    for m, e, em, ee in CASES["test_safefloat_normalize"]["normalize"]:
        assert sf([m, e]) == SafeFloat(em, ee)


def test_add() -> None:
    for ma, ea, mb, eb, em, ee in CASES["test_safefloat_add"]["add"]:
        a, b = sf([ma, ea]), sf([mb, eb])
        assert a.add(b) == SafeFloat(em, ee) == b.add(a), (ma, ea, mb, eb)


def test_div_by_zero_is_none() -> None:
    assert sf(CASES["test_safefloat_div_by_zero_is_none"]["div_by_zero"]).div(SafeFloat()) is None


def test_div() -> None:
    for ma, ea, mb, eb in CASES["test_safefloat_div"]["div"]:
        actual = sf([ma, ea]).div(sf([mb, eb])).to_float()  # type: ignore[union-attr]
        expected = float(ma) * 10.0**ea / (float(mb) * 10.0**eb)
        assert abs(actual - expected) <= actual / 1e14, (ma, ea, mb, eb)


def test_mul_div() -> None:
    for ma, ea, mb, eb, mc, ec in CASES["test_safefloat_mul_div"]["mul_div"]:
        actual = sf([ma, ea]).mul_div(sf([mb, eb]), sf([mc, ec])).to_float()  # type: ignore[union-attr]
        expected = (float(ma) * 10.0**ea) * (float(mb) * 10.0**eb) / (float(mc) * 10.0**ec)
        assert abs(actual - expected) <= actual / 1e14, (ma, ea, mb, eb, mc, ec)


def test_from_u64f64() -> None:
    for x in CASES["test_safefloat_from_u64f64"]["from_u64f64_f64"]:
        bits = U64F64.from_float(x)
        actual = SafeFloat.from_u64f64(bits).to_float()
        expected = bits / 2**64
        assert abs(actual - expected) <= abs(actual) / 1e14

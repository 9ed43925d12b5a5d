"""The runtime's own coinbase and share-pool unit tests, transcribed into fixtures/coinbase/,
run against the dTAO payout rules of :mod:`consensus.ledger.dtao` at the tests' tolerances.

Each fixture names the test, its file, line and commit; the inputs and the asserted values and
tolerances are the test's. Tests that cannot be transcribed are listed in the fixture with the
reason, and counted here so that the counts cannot silently change.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from taoaudit.chainkit.stake import inherited
from taoaudit.consensus.eras.mainline import total_stake
from taoaudit.consensus.fixedpoint import I64F64, U64F64, U96F32
from taoaudit.consensus.ledger import dtao
from taoaudit.consensus.model import EpochInputs, Hyperparameters, SparseRows
from taoaudit.consensus.registry import run_epoch

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "coinbase"
SHARE_POOL = json.loads((FIXTURES / "share_pool.json").read_text())
COINBASE = json.loads((FIXTURES / "coinbase.json").read_text())
CHILDREN = json.loads((FIXTURES / "children.json").read_text())
CLAIM_ROOT = json.loads((FIXTURES / "claim_root.json").read_text())
NETUID = 1


def fixed(t, spec: dict) -> int:
    """``{'int': n}`` = saturating_from_num(n); ``{'f64': x}`` = from_num(x) (nearest, ties even)."""
    return t.from_int(spec["int"]) if "int" in spec else t.from_float(spec["f64"])


class MockPoolOps:
    """The share-pool tests' mock: the shared value stays U64F64 (not truncated to u64)."""

    def __init__(self, shared: int, denominator: int, shares: dict[int, int]) -> None:
        self.sv, self.den, self.sh = shared, denominator, dict(shares)

    def shared(self) -> int:
        return self.sv

    def set_shared(self, raw: int) -> None:
        self.sv = raw

    def share(self, key: Any) -> int:
        return self.sh.get(key, 0)

    def set_share(self, key: Any, raw: int) -> None:
        self.sh[key] = raw

    def denominator(self) -> int:
        return self.den

    def set_denominator(self, raw: int) -> None:
        self.den = raw


def check(value: int, c: dict) -> None:
    if "eq" in c:
        assert value == c["eq"], (value, c)
    if "gt" in c:
        assert value > c["gt"], (value, c)
    if "abs_le" in c:
        assert abs(value - c["target"]) <= c["abs_le"], (value, c)
    if "abs_lt" in c:
        assert abs(value - c["target"]) < c["abs_lt"], (value, c)
    if "below_by_at_most" in c:
        assert 0 <= c["target"] - value <= c["below_by_at_most"], (value, c)


def test_counts_per_file() -> None:
    """Transcribed / not transcribed per source file (the report's figures)."""
    assert (len(SHARE_POOL["cases"]), len(SHARE_POOL["not_transcribed"])) == (13, 1)
    assert (len(COINBASE["cases"]), len(COINBASE["not_transcribed"])) == (27, 39)
    assert (len(CHILDREN["cases"]), len(CHILDREN["not_transcribed"])) == (1, 65)
    assert (len(CLAIM_ROOT["cases"]), len(CLAIM_ROOT["not_transcribed"])) == (2, 21)
    for doc in (SHARE_POOL, COINBASE, CHILDREN, CLAIM_ROOT):
        assert len(doc["source"]["commit"]) == 40
        for case in doc["cases"] + doc["not_transcribed"]:
            assert case["test"].startswith("test_") and case["line"] > 0


@pytest.mark.parametrize("case", [c for c in SHARE_POOL["cases"] if "pool" in c], ids=lambda c: c["test"])
def test_share_pool(case: dict) -> None:
    p = case["pool"]
    shares = {int(k): fixed(U64F64, v) for k, v in p["shares"].items()}
    pool = dtao.SharePool(MockPoolOps(fixed(U64F64, p["shared"]), fixed(U64F64, p["denominator"]), shares))
    for step in case["steps"]:
        if "one" in step:
            pool.update_value_for_one(*step["one"])
        elif "all" in step:
            pool.update_value_for_all(step["all"])
        elif "value_of" in step:
            check(pool.get_value(step["value_of"]), step)
        elif "sum_of_values" in step:
            check(sum(pool.get_value(k) for k in step["sum_of_values"]), step)
        elif "shared_raw_eq" in step:
            assert pool.ops.shared() == fixed(U64F64, step["shared_raw_eq"])
        else:
            raise AssertionError(f"unknown step {step}")


@pytest.mark.parametrize("case", [c for c in SHARE_POOL["cases"] if "shares_per_update" in c], ids=lambda c: c["test"])
def test_shares_per_update(case: dict) -> None:
    s = case["shares_per_update"]
    spu = dtao.SharePool.shares_per_update(s["update"], fixed(U64F64, s["shared"]), fixed(U64F64, s["denominator"]))
    expected = fixed(I64F64, case["expected"])
    bound = I64F64.checked_div(expected, I64F64.from_float(1000.0))
    assert abs(spu - expected) <= bound, (spu, expected, bound)


def payout_state(spec: dict) -> dtao.PayoutState:
    """A PayoutState for the mock runtime's subnet: U256 accounts as ints, ordered numerically."""
    s = dtao.PayoutState(netuid=NETUID, default_account=0)
    for h, (alpha, root) in spec.get("stake", {}).items():
        s.total_hotkey_alpha[(int(h), NETUID)] = alpha
        s.total_hotkey_alpha[(int(h), 0)] = root
    s.owner = {int(h): c for h, c in spec.get("owner", {}).items()}
    s.subnet_owner = spec.get("subnet_owner")
    s.subnet_owner_hotkey = spec.get("subnet_owner_hotkey")
    owned = {**spec.get("owned_hotkeys", {}), **spec.get("owned_extra", {})}
    s.owned_hotkeys = {int(c): list(hs) for c, hs in owned.items()}
    s.uids = {int(h): u for h, u in spec.get("uids", {}).items()}
    s.block_at_registration = {int(u): b for u, b in spec.get("block_at_registration", {}).items()}
    s.auto_stake_destination = {int(c): h for c, h in spec.get("auto_stake_destination", {}).items()}
    return s


def u64_sum(values) -> int:
    return U96F32.to_int(sum(values))


OTHERS = [(c, spec) for c in COINBASE["cases"] if c["call"] != "distribute_emission" for spec in c.get("specs", [393])]


@pytest.mark.parametrize(("case", "spec"), OTHERS, ids=[f"{c['test']}@{s}" for c, s in OTHERS])
def test_coinbase(case: dict, spec: int) -> None:
    """The payout's steps at 393 and, where the test is unchanged, at 425 (same functions; the
    share pool of the era for the distribute cases)."""
    got: dict[str, int] = {}
    call = case["call"]
    if call == "calculate_dividend_distribution":
        stake_map = {int(h): tuple(v) for h, v in case["stake_map"].items()}
        divs = {int(h): U96F32.from_int(v) for h, v in case["dividends"].items()}
        alpha, root = dtao.dividend_distribution(case["pending_validator_alpha"], case["pending_root_alpha"],
                                                 fixed(U96F32, case["tao_weight"]), stake_map, divs)
        got = {"sum_alpha_dividends": u64_sum(alpha.values()), "sum_root_alpha_dividends": u64_sum(root.values())}
    elif call in ("calculate_dividends_and_incentives", "calculate_dividend_and_incentive_distribution"):
        state = payout_state(case["state"])
        emission = [tuple(e) for e in case["hotkey_emission"]]
        incentives, divs = dtao.dividends_and_incentives(state, emission)
        got = {"sum_incentives": sum(incentives.values()), "sum_dividends": u64_sum(divs.values())}
        if call == "calculate_dividend_and_incentive_distribution":
            stake_map = {h: (state.stake(h, NETUID), state.stake(h, 0)) for h in divs}
            alpha, _root = dtao.dividend_distribution(case["pending_validator_alpha"], case["pending_root_alpha"],
                                                      fixed(U96F32, case["tao_weight"]), stake_map, divs)
            got["sum_alpha_dividends"] = u64_sum(alpha.values())
    elif call == "distribute_dividends_and_incentives":
        state = payout_state(case["state"])
        state.share_pool = dtao.SHARE_POOLS[dtao.check_payout_era(spec)]
        incentives = {int(h): v for h, v in case["incentives"].items()}
        dtao.distribute(state, case["owner_cut"], incentives, {}, {}, dtao.PayoutBook(state, 0))
        got = {f"hotkey_stake:{h}": state.stake(h, NETUID) for h in {h for (h, _n) in state.total_hotkey_alpha} | {1}}
        got.update({k: 0 for c in case["checks"] for k in c["of"].split("+") if k not in got})  # absent = 0
    else:
        raise AssertionError(f"unknown call {call}")
    for c in case["checks"]:
        check(sum(got[k] for k in c["of"].split("+")), c)


# -- distribute_emission: the whole payout after an epoch -----------------------------------
def drain_state(spec: dict, spec_version: int = 393) -> tuple[dtao.PayoutState, list[int]]:
    """The mock subnet a drain test builds: registrations, stakes (through the era's share pool), children."""
    s = dtao.PayoutState(netuid=NETUID, default_account=0, tao_weight=spec["tao_weight"], ck_burn=spec["ck_burn"],
                         subnet_owner=spec.get("subnet_owner"), subnet_owner_hotkey=spec.get("subnet_owner_hotkey"),
                         share_pool=dtao.SHARE_POOLS[dtao.check_payout_era(spec_version)])
    registered = list(spec["registered"])
    s.owner = {int(h): c for h, c in spec["owner"].items()}
    for h in registered:  # registration creates the account: OwnedHotkeys[coldkey] gets the hotkey
        s.owned_hotkeys.setdefault(s.owner[h], []).append(h)
        s.uids[h] = registered.index(h)
    for hot, cold, where, amount in spec["stakes"]:
        if where == "subnet":
            s.add_for_coldkey(hot, cold, amount)
        else:  # root pools are only read as the hotkey's total by the payout
            s.total_hotkey_alpha[(hot, 0)] = s.stake(hot, 0) + amount
    for parent, kids in spec["children"].items():
        s.child_keys[int(parent)] = [(p, c) for p, c in kids]
        for p, c in kids:
            s.parent_keys.setdefault(c, []).append((p, int(parent)))
    s.childkey_take = {int(h): v for h, v in spec["childkey_take"].items()}
    s.delegate_take = {int(h): v for h, v in spec["delegates"].items()}
    return s, registered


def epoch_inputs(s: dtao.PayoutState, registered: list[int], rao: int) -> EpochInputs:
    """What the runtime's epoch reads from the mock subnet: inherited stakes, no weights, no permits."""
    n = len(registered)
    rel_c = {h: s.child_keys.get(h, []) for h in registered}
    rel_p = {h: s.parent_keys.get(h, []) for h in registered}
    alpha = {h: s.stake(h, NETUID) for (h, _n) in s.total_hotkey_alpha} | {p: s.stake(p, NETUID) for r in rel_p.values() for _x, p in r}
    root = {h: s.stake(h, 0) for h in alpha}
    return EpochInputs(
        n=n, current_block=1, rao_emission=rao,
        hyperparameters=Hyperparameters(tempo=1, tao_weight=s.tao_weight, max_allowed_validators=100,
                                        activity_cutoff=5000, stake_threshold=0),
        last_update=np.ones(n, dtype=np.uint64), block_at_registration=np.ones(n, dtype=np.uint64),
        validator_permit=np.zeros(n, dtype=bool),
        stake_alpha=np.array([inherited(h, alpha, rel_c[h], rel_p[h]) for h in registered], dtype=np.uint64),
        stake_tao=np.array([inherited(h, root, rel_c[h], rel_p[h]) for h in registered], dtype=np.uint64),
        weights=SparseRows.empty(n), bonds=SparseRows.empty(n), netuid=NETUID,
    )


def epoch_emission(s: dtao.PayoutState, registered: list[int], rao: int, spec: int = 393) -> list[tuple[int, int, int]]:
    """Our epoch of ``spec`` on the mock subnet: (hotkey, server alpha, validator alpha) per UID."""
    if not registered:
        return []
    out = run_epoch(epoch_inputs(s, registered, rao), spec)
    return [(h, int(out.server_emission[i]), int(out.validator_emission[i])) for i, h in enumerate(registered)]


DRAINS = [(c, spec) for c in COINBASE["cases"] + CLAIM_ROOT["cases"] if c["call"] == "distribute_emission"
          for spec in c.get("specs", [393])]


@pytest.mark.parametrize(("case", "spec"), DRAINS, ids=[f"{c['test']}@{s}" for c, s in DRAINS])
def test_distribute_emission(case: dict, spec: int) -> None:
    """At 393 with the U64F64 share pool; at 425 (test body unchanged) with the SafeFloat pool."""
    state, registered = drain_state(case["state"], spec)
    remembered: dict[str, float] = {}
    for step in case["steps"]:
        if "distribute" in step:
            pending = dtao.Pending(*step["distribute"])
            emission = epoch_emission(state, registered, pending.server + pending.validator + pending.root, spec)
            state = dtao.payout(spec, state, pending, emission, 1).after
        elif "set_childkey_take" in step:
            hot, take = step["set_childkey_take"]
            state.childkey_take[hot] = take
        elif "remember" in step:
            what, *keys = step["remember"].split(":")
            remembered[step["remember"]] = observe(state, what, [int(k) for k in keys])
        else:
            what, *keys = step["check"].split(":")
            ks = [int(k) for k in keys]
            if what == "stake_weight_total":
                inputs = epoch_inputs(state, registered, 0)
                value = total_stake(inputs)[registered.index(ks[0])]
                step = {**step, **({"eq": I64F64.from_int(step["eq"])} if "eq" in step else {})}
            else:
                value = observe(state, what, ks)
            if "eq_remembered" in step:
                step = {**step, "eq": remembered[step["check"]]}
            if "target_plus_remembered" in step:
                step = {**step, "target": step["target_plus_remembered"] + remembered[step["check"]]}
            check(value, step)


def observe(state: dtao.PayoutState, what: str, ks: list[int]) -> float:
    """One value a drain test asserts on (absent entries read as 0, as ValueQuery does)."""
    if what == "coldkey_stake":
        return state.stake_of(ks[0], ks[1])
    if what == "hotkey_stake":
        return state.stake(ks[0], NETUID)
    if what == "root_stake":
        return state.stake(ks[0], 0)
    if what == "alpha_dividends_per_subnet":
        return state.alpha_dividends_per_subnet.get(ks[0], 0)
    if what == "root_alpha_dividends_per_subnet":
        return state.root_alpha_dividends_per_subnet.get(ks[0], 0)
    if what == "root_claimable":  # I96F32 -> f64, exact for these magnitudes
        return state.root_claimable.get(ks[0], 0) / (1 << 32)
    raise AssertionError(f"unknown check {what}")


SPLITS = [(c, spec, v) for c in CHILDREN["cases"] if c["call"] == "parent_child_split"
          for spec in c["specs"] for v in c["variants"]]


@pytest.mark.parametrize(("case", "spec", "variant"), SPLITS,
                         ids=[f"{c['test']}@{s}-T{v['swap_output']}" for c, s, v in SPLITS])
def test_parent_child_split(case: dict, spec: int, variant: dict) -> None:
    """children.rs: the epoch's validator emission over a parent→child→grandchild chain, then
    get_parent_child_dividends_distribution of each hotkey with its childkey take."""
    state, registered = drain_state(variant["state"], spec)
    ep = variant["epoch"]
    emission = epoch_emission(state, registered, ep["rao"], spec)
    total = sum(v for _h, _s, v in emission)
    for uid, target, eps in ep["validator_share_of_total"]:
        assert abs(emission[uid][2] / total - target) <= eps, (uid, emission)
    for split in variant["splits"]:
        got = dtao.parent_child_split(state, split["hotkey"], split["dividend"])
        assert [h for h, _v in got] == split["recipients"]
        for (_h, value), c in zip(got, split["values"]):
            check(value, c)
        check(sum(v for _h, v in got), split["sum"])

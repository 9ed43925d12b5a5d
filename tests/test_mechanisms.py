"""Several mechanisms per subnet: emission split, U64F64 weights, per-subnet aggregation."""

from __future__ import annotations

import json
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from taoaudit.consensus.cases import load_case, snapshot_inputs
from taoaudit.consensus.fixedpoint import U64F64
from taoaudit.consensus.mechanisms import epoch_with_mechanisms, mechanism_weight, split_emissions, weighted_acc
from taoaudit.consensus.registry import run_epoch

from .conftest import shared_files, shared_path

SNAPSHOTS = shared_files("*.json", "epoch-snapshot", "cases")


# Worked by hand from yuma-spec §1.2: share_m = floor(rao · split[m] / 65535) (split padded with
# zeros or truncated to the count), or floor(rao / count) without a split; what is left over
# goes to mechanism 0.
SPLITS = [
    (1_000_000_007, 3, None, [333_333_337, 333_333_335, 333_333_335]),  # 3 · 333 333 335 + 2
    (1000, 2, [32768, 32767], [501, 499]),  # 500.0076… → 500, 499.992… → 499, 1 left over
    (1000, 2, [65535, 0], [1000, 0]),
    (10, 3, [65535], [10, 0, 0]),  # padded with zeros
    (10, 1, [0, 65535], [10]),  # truncated: mechanism 0's share 0 plus the remainder 10
    (0, 4, None, [0, 0, 0, 0]),
    # 2^64 − 1 = 65535 · 281 479 271 743 489 exactly, so nothing is left over
    ((1 << 64) - 1, 2, [1, 65534], [281_479_271_743_489, 18_446_462_594_437_808_126]),
]


@pytest.mark.parametrize("rao,count,split,want", SPLITS)
def test_split_by_hand(rao: int, count: int, split: list[int] | None, want: list[int]) -> None:
    assert split_emissions(rao, count, split) == want


@settings(max_examples=300)
@given(st.integers(0, (1 << 64) - 1), st.integers(1, 8), st.booleans(), st.data())
def test_split_hands_out_everything(rao: int, count: int, by_split: bool, data) -> None:
    split = None
    if by_split:  # the runtime keeps MechanismEmissionSplit summing to at most 65535
        split = data.draw(st.lists(st.integers(0, 65535), min_size=0, max_size=10).filter(lambda v: sum(v) <= 65535))
    shares = split_emissions(rao, count, split)
    assert len(shares) == count and sum(shares) == rao
    assert all(0 <= s <= rao for s in shares)


@settings(max_examples=300)
@given(st.integers(0, 65535), st.integers(0, 65535), st.integers(0, (1 << 64) - 1), st.integers(1, (1 << 64) - 1))
def test_weighted_accumulation_floors(existing: int, added: int, share: int, rao: int) -> None:
    share = min(share, rao)
    w = mechanism_weight(share, rao, 1)
    assert w == math.floor(Fraction(share, rao) * (1 << 64))
    exact = existing + Fraction(added) * Fraction(w, 1 << 64)
    assert weighted_acc(existing, added, w, 16) == min(math.floor(exact), 65535)


def test_zero_emission_gives_mechanism_0_full_weight() -> None:
    assert mechanism_weight(0, 0, 0) == U64F64.one and mechanism_weight(0, 0, 1) == 0


@pytest.mark.parametrize("path", SNAPSHOTS, ids=lambda p: p.stem)
def test_one_mechanism_is_the_plain_epoch(path) -> None:
    case = load_case(path)
    plain = run_epoch(case.inputs, 425)
    agg = epoch_with_mechanisms([case.inputs], case.inputs.rao_emission, 425)
    for f in ("active", "validator_permit", "consensus", "incentive", "dividends", "validator_trust",
              "emission", "stake_weight", "server_emission", "validator_emission"):
        assert np.array_equal(getattr(agg.subnet, f), getattr(plain, f)), f
    assert agg.subnet.bonds == plain.bonds


def test_three_mechanisms_from_the_runtime_vectors() -> None:
    # The runtime's own three-mechanism test: each mechanism's epoch is a vector; aggregate them.
    inputs = []
    for m in range(3):
        doc = json.loads(shared_path(
            "vectors", "epoch", f"epoch_logs__epoch_mechanism_three_mechanisms_separate_state__mech{m}.json").read_text())
        step = next(s for s in doc["steps"] if s["op"] == "epoch")
        inputs.append(snapshot_inputs(step["input_snapshot"]))
    rao = 1_000_000_007
    agg = epoch_with_mechanisms(inputs, rao, 425)
    assert sum(agg.shares) == rao and agg.shares[0] == rao // 3 + rao % 3
    for m, out in enumerate(agg.mechanisms):
        direct = run_epoch(inputs[m].with_changes(rao_emission=agg.shares[m]), 425)
        assert np.array_equal(out.incentive, direct.incentive) and out.bonds == direct.bonds
    # Independent recomputation of the aggregate in exact rationals.
    for field, bits in (("dividends", 16), ("consensus", 16), ("emission", 64)):
        want = []
        for uid in range(len(agg.subnet.consensus)):
            acc = 0
            for out, w in zip(agg.mechanisms, agg.weights):
                acc = min(math.floor(acc + Fraction(int(getattr(out, field)[uid])) * Fraction(w, 1 << 64)),
                          (1 << bits) - 1)
            want.append(acc)
        assert getattr(agg.subnet, field).tolist() == want, field
    assert agg.subnet.validator_permit.tolist() == list(np.logical_or.reduce([o.validator_permit for o in agg.mechanisms]))


def test_audit_summary_counts_and_exit_codes() -> None:
    """Refused and unreadable epochs never count as verified: all refused exits 2, not 0."""
    from taoaudit.chainkit.audit import EpochOutcome, exit_status, summarize

    refused = [EpochOutcome(1, 100 + k, "refused", "why", "weights_revealed_and_set_in_block") for k in range(3)]
    unreadable = EpochOutcome(2, 50, "unreadable", "pruned", "pruned_state")
    s = summarize(refused + [unreadable])
    assert (s["epochs"], s["exact"], s["refused"], s["unreadable"]) == (4, 0, 3, 1)
    assert s["refused_by_reason"] == {"weights_revealed_and_set_in_block": 3}
    assert s["unreadable_by_reason"] == {"pruned_state": 1}
    assert exit_status(s) == 2 and exit_status(summarize([])) == 2
    assert EpochOutcome.from_json(refused[0].to_json()) == refused[0]

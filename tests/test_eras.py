"""Era selection and the rule switches that separate runtime eras (docs/eras.md)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from taoaudit.consensus.cases import load_case
from taoaudit.consensus.eras.mainline import MainlineRules, alpha_sigmoid, epoch_mainline
from taoaudit.consensus.errors import UnsupportedSpecError
from taoaudit.consensus.fixedpoint import I32F32, ONE, u16_proportion_to_fixed
from taoaudit.consensus.registry import variant_for

from .conftest import shared_path


@pytest.mark.parametrize("spec, name", [(103, "spec103"), (273, "mainline"), (343, "mainline"), (425, "mainline")])
def test_variant_for_supported_specs(spec: int, name: str) -> None:
    assert variant_for(spec).name == name


@pytest.mark.parametrize("spec", [0, 102, 104, 233, 272, 426, 10_000])
def test_unsupported_specs_name_the_supported_ranges(spec: int) -> None:
    with pytest.raises(UnsupportedSpecError, match=r"supported specs: 103, 273–425"):
        variant_for(spec)


def test_rules_by_spec() -> None:
    r = MainlineRules.for_spec
    assert r(425) == MainlineRules()
    assert r(364).clamped_sigmoid_exp is False and r(365).clamped_sigmoid_exp is True
    assert r(364).writes_rank_trust_pruning and not r(365).writes_rank_trust_pruning
    assert [r(s).writes_stake_weight for s in (319, 320, 322, 323)] == [True, False, False, True]
    assert r(319).writes_all_bond_rows is False and r(320).writes_all_bond_rows is True
    assert r(282).sigmoid_steepness_fix is False and r(283).sigmoid_steepness_fix is True
    assert r(296).commit_reveal_mask is False and r(297).commit_reveal_mask is True
    assert r(396).owner_exempt is False and r(422).dynamic_tempo is False


def test_sigmoid_exp_clamp_matters_for_steep_curves() -> None:
    lo, hi = u16_proportion_to_fixed(45875), u16_proportion_to_fixed(58982)
    steep = I32F32.from_int(5000)  # k = −50: |x| reaches 25, beyond exp's range
    w, c, b = ONE, 0, 0  # weight far above consensus: d = 1, x = −25
    new = alpha_sigmoid(c, w, b, lo, hi, steep, MainlineRules.for_spec(365))
    old = alpha_sigmoid(c, w, b, lo, hi, steep, MainlineRules.for_spec(364))
    assert old != new
    # x = −25: clamped exp(−20) → sigmoid ≈ 1 → alpha ≈ high; unclamped exp(−25) errs → 0 → alpha = high.
    assert old == hi and hi - new < hi - lo


def test_pre_365_writes_rank_trust_and_pruning_scores() -> None:
    case = load_case(shared_path("epoch-snapshot", "cases", "shared-snap-0005.json"))
    new = epoch_mainline(case.inputs, MainlineRules.for_spec(425))
    old = epoch_mainline(case.inputs, dataclasses.replace(MainlineRules(), writes_rank_trust_pruning=True))
    assert new.rank is None and new.trust is None and new.pruning_scores is None
    assert np.array_equal(old.rank, new.incentive)
    assert old.pruning_scores is not None and int(old.pruning_scores.max()) in (0, 65535)
    # Rank/Trust are written beside, not instead of, everything else.
    for f in ("consensus", "incentive", "dividends", "validator_trust", "emission", "stake_weight"):
        assert np.array_equal(getattr(old, f), getattr(new, f)), f


def test_pre_320_leaves_rows_of_non_validators_alone() -> None:
    case = load_case(shared_path("epoch-snapshot", "cases", "shared-snap-0006.json"))
    inputs = case.inputs
    out_new = epoch_mainline(inputs, MainlineRules.for_spec(425))
    out_old = epoch_mainline(inputs, dataclasses.replace(MainlineRules.for_spec(425), writes_all_bond_rows=False))
    old_permits = list(inputs.validator_permit) + [False] * inputs.n
    for uid in range(inputs.n):
        if out_new.validator_permit[uid] or old_permits[uid]:
            assert out_old.bonds.row(uid) == out_new.bonds.row(uid)
        else:
            assert out_new.bonds.present[uid] and out_new.bonds.row(uid) == []
            assert bool(out_old.bonds.present[uid]) == bool(inputs.bonds.present[uid])

"""Era selection from the one era table, and the rule switches that separate runtime eras (docs/eras.md)."""

from __future__ import annotations

import numpy as np
import pytest

from taoaudit.consensus.cases import load_case, parse_case, run_case
from taoaudit.consensus.eras.mainline import MainlineRules, alpha_sigmoid, epoch_mainline
from taoaudit.consensus.eras.table import ERAS, NEWEST_SPEC, REFUSED, EpochRules, era_for, resolve_era
from taoaudit.consensus.errors import EpochInputError, UnsupportedSpecError
from taoaudit.consensus.fixedpoint import I32F32, ONE, u16_proportion_to_fixed
from taoaudit.consensus.registry import run_epoch, variant_for

from .conftest import shared_path

CASE_459 = shared_path("epoch-snapshot-459", "cases", "shared459-0000.json")  # auto, penalty 65535, LA on


@pytest.mark.parametrize("spec, name", [(103, "spec103"), (273, "mainline"), (343, "mainline"), (425, "mainline"),
                                        (426, "mainline"), (446, "mainline"), (459, "mainline")])
def test_variant_for_supported_specs(spec: int, name: str) -> None:
    assert variant_for(spec).name == name


@pytest.mark.parametrize("spec", [0, 102, 104, 233, 272, 460, 10_000])
def test_unsupported_specs_name_the_supported_ranges(spec: int) -> None:
    with pytest.raises(UnsupportedSpecError, match=r"supported specs: 103, 273–459"):
        variant_for(spec)


def test_table_is_contiguous_ordered_and_sourced() -> None:
    assert ERAS[0].span() == "103" and NEWEST_SPEC == 459
    for before, after in zip(ERAS[1:], ERAS[2:]):
        assert after.first_spec == before.last_spec + 1, (before.name, after.name)
    assert all(e.sources and e.summary for e in ERAS)
    assert len({e.name for e in ERAS}) == len(ERAS)
    # every spec up to the newest is either an era or refused with a reason, never both
    for spec in range(0, NEWEST_SPEC + 1):
        eras = [e for e in ERAS if e.covers(spec)]
        refused = [r for r in REFUSED if r.covers(spec)]
        assert len(eras) + len(refused) == 1, spec


BOUNDARIES = [(a, b) for a, b in zip(ERAS[1:], ERAS[2:])]


@pytest.mark.parametrize("before, after", BOUNDARIES, ids=[f"{b.last_spec}|{a.first_spec}" for b, a in BOUNDARIES])
def test_each_era_boundary_selects_different_rules(before, after) -> None:
    last, first = before.last_spec, after.first_spec
    assert era_for(last) is before and era_for(first) is after
    assert EpochRules.for_spec(last) != EpochRules.for_spec(first)
    assert EpochRules.for_spec(last) == before.rules and EpochRules.for_spec(first) == after.rules


def test_boundary_445_446_switches_on_consensus_modes_only() -> None:
    r445, r446 = EpochRules.for_spec(445), EpochRules.for_spec(446)
    assert r445.liquid_alpha_consensus_modes is False and r446.liquid_alpha_consensus_modes is True
    assert r445._replace(liquid_alpha_consensus_modes=True) == r446
    assert EpochRules.for_spec(425) == r445  # 426–445 change nothing the epoch computes
    assert EpochRules.for_spec(459) == r446 == EpochRules()


def test_boundary_445_446_changes_the_numbers_of_a_previous_mode_epoch() -> None:
    """The same inputs recompute to different outputs under the 445 and 446 rules, and the 446
    result is the stored ground truth (the case is tagged differs_from_425)."""
    case = load_case(CASE_459)
    assert "differs_from_425" in case.raw["tags"]
    at_446 = run_epoch(case.inputs, 446)
    at_445 = run_epoch(case.inputs, 445)
    assert at_446.dividends.tolist() == case.expected["dividends"]
    assert at_445.bonds != at_446.bonds or at_445.dividends.tolist() != at_446.dividends.tolist()


def test_rules_by_spec() -> None:
    r = MainlineRules.for_spec
    assert r(459) == MainlineRules()
    assert r(364).clamped_sigmoid_exp is False and r(365).clamped_sigmoid_exp is True
    assert r(364).writes_rank_trust_pruning and not r(365).writes_rank_trust_pruning
    assert [r(s).writes_stake_weight for s in (319, 320, 322, 323)] == [True, False, False, True]
    assert r(319).writes_all_bond_rows is False and r(320).writes_all_bond_rows is True
    assert r(282).sigmoid_steepness_fix is False and r(283).sigmoid_steepness_fix is True
    assert r(296).commit_reveal_mask is False and r(297).commit_reveal_mask is True
    assert r(396).owner_exempt is False and r(422).dynamic_tempo is False
    with pytest.raises(UnsupportedSpecError):
        r(103)  # spec 103 runs its own function, without switches


def test_newer_spec_is_refused_naming_the_newest() -> None:
    with pytest.raises(UnsupportedSpecError, match=r"runtime spec 460 .*newest known spec 459"):
        era_for(460)
    raw = load_case(CASE_459).raw
    case = parse_case({**raw, "runtime": {"spec_name": "node-subtensor", "spec_version": 460}})
    with pytest.raises(UnsupportedSpecError, match="459"):
        run_case(case)


@pytest.mark.parametrize("engine", ["reference", "numba"])
def test_assume_latest_runs_the_newest_rules_and_says_so(engine: str) -> None:
    raw = load_case(CASE_459).raw
    case = parse_case({**raw, "runtime": {"spec_name": "node-subtensor", "spec_version": 460}})
    result = run_case(case, engine, assume_era="latest")
    assert result.matches and result.era == ERAS[-1].name
    assert result.assumed == "era assumed, not verified for spec 460"
    assert resolve_era(459, "latest") == (ERAS[-1], False)  # a known spec is never "assumed"
    assert variant_for(459, "latest").label is None
    with pytest.raises(ValueError):
        resolve_era(460, "newest")


def test_previous_mode_without_the_stored_consensus_is_refused() -> None:
    inputs = load_case(CASE_459).inputs.with_changes(consensus_prev=None)
    for engine in ("reference", "numba"):
        with pytest.raises(EpochInputError, match="consensus_prev"):
            run_epoch(inputs, 459, engine=engine)


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
    old = epoch_mainline(case.inputs, MainlineRules.for_spec(425)._replace(writes_rank_trust_pruning=True))
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
    out_old = epoch_mainline(inputs, MainlineRules.for_spec(425)._replace(writes_all_bond_rows=False))
    old_permits = list(inputs.validator_permit) + [False] * inputs.n
    for uid in range(inputs.n):
        if out_new.validator_permit[uid] or old_permits[uid]:
            assert out_old.bonds.row(uid) == out_new.bonds.row(uid)
        else:
            assert out_new.bonds.present[uid] and out_new.bonds.row(uid) == []
            assert bool(out_old.bonds.present[uid]) == bool(inputs.bonds.present[uid])


def test_docs_eras_lists_every_era_and_refusal() -> None:
    """docs/eras.md is the current table: every era with its range, summary and sources."""
    from .conftest import ROOT

    doc = (ROOT / "docs" / "eras.md").read_text()
    for e in ERAS:
        row = next((line for line in doc.splitlines() if line.startswith(f"| {e.span()} | `{e.name}` |")), None)
        assert row is not None, e.name
        assert e.summary in row and all(src in row for src in e.sources), e.name
    for r in REFUSED:
        assert f"| {r.first_spec}–{r.last_spec} | {r.reason} |" in doc
    assert f"| > {NEWEST_SPEC} |" in doc


@pytest.mark.parametrize("mode", ["current", "previous", "auto"])
@pytest.mark.parametrize("prev_len", [0, 2, "n", 40])
def test_consensus_modes_kernel_equals_reference(mode: str, prev_len) -> None:
    """Every mode with empty / short / full / long stored consensus: both engines agree, and the
    previous vector really changes the result when it is read."""
    import dataclasses

    base = load_case(shared_path("epoch-snapshot-459", "cases", "shared459-0001.json")).inputs  # n=16, Yuma3+LA
    n = base.n
    length = n if prev_len == "n" else prev_len
    prev = np.asarray([(7919 * (i + 3)) % 65536 for i in range(length)], dtype=np.uint16)
    for penalty in (65535, 30000):
        hp = dataclasses.replace(base.hyperparameters, liquid_alpha_consensus_mode=mode, bonds_penalty=penalty)
        inputs = base.with_changes(hyperparameters=hp, consensus_prev=prev)
        ref = run_epoch(inputs, 459)
        kern = run_epoch(inputs, 459, engine="numba")
        for f in ref.field_names():
            a, b = getattr(ref, f), getattr(kern, f)
            assert (a == b) if f == "bonds" else np.array_equal(a, b), (mode, prev_len, penalty, f)
        reads_prev = length > 0 and (mode == "previous" or (mode == "auto" and penalty == 65535))
        current = run_epoch(inputs.with_changes(hyperparameters=dataclasses.replace(
            hp, liquid_alpha_consensus_mode="current")), 459)
        assert (ref.bonds != current.bonds) == reads_prev, (mode, prev_len, penalty)


def test_explain_names_the_consensus_liquid_alpha_read() -> None:
    from taoaudit.consensus.explain import check_sums, explain_uid
    from taoaudit.consensus.fixedpoint import U16_MAX

    case = load_case(CASE_459)  # auto at penalty 65535 with a full stored consensus: previous
    uid = 1
    _, stages = explain_uid(case.inputs, 459, uid)
    by = {s.name: s for s in stages}
    stage = by["liquid-alpha consensus"]
    assert "previously stored Consensus (mode auto)" in stage.note
    stored = int(case.inputs.consensus_prev[uid])
    assert stage.raw == I32F32.safe_div(I32F32.from_int(stored), I32F32.from_int(U16_MAX))
    assert all(check_sums(stages).values())
    _, stages_445 = explain_uid(case.inputs, 445, uid)
    assert "this epoch's consensus" in {s.name: s for s in stages_445}["liquid-alpha consensus"].note


def test_fingerprint_follows_the_rules() -> None:
    from taoaudit.consensus.eras import table

    before = table.fingerprint()
    assert before == table.fingerprint() and len(before) == 16
    saved = table.ERAS
    try:
        table.ERAS = saved[:-1] + (dataclasses_replace(saved[-1], rules=saved[-1].rules._replace(owner_exempt=False)),)
        assert table.fingerprint() != before
    finally:
        table.ERAS = saved


def dataclasses_replace(obj, **changes):
    import dataclasses

    return dataclasses.replace(obj, **changes)

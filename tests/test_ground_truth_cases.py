"""Every real-runtime spec-103 case and every current-era snapshot case, 0 mismatched integers."""

from __future__ import annotations

import pytest

from taoaudit.consensus.cases import ORACLE_103_FORMAT, load_case, run_case

from .conftest import ROOT, shared_files

# The runtime's own cases: the shared seed, and the project's held-out seed recorded from the
# real spec-103 runtime under Chopsticks (fixtures/localnet, never used to tune the code).
ORACLE = shared_files("*.json", "oracle-103", "cases") + sorted(
    (ROOT / "fixtures" / "localnet" / "oracle103").glob("*.json")
)
SNAPSHOTS = shared_files("*.json", "epoch-snapshot", "cases")


def test_ground_truth_present() -> None:
    """The parametrised tests below must not silently shrink to nothing."""
    assert len(ORACLE) >= 140
    assert len(SNAPSHOTS) >= 10


def _fail_message(result) -> str:
    lines = [f"{m.field}[{m.index}]: expected {m.expected!r}, got {m.actual!r}" for m in result.mismatches[:20]]
    return f"{result.case.case_id}: {len(result.mismatches)} mismatches\n" + "\n".join(lines)


@pytest.mark.parametrize("path", ORACLE, ids=lambda p: p.stem)
def test_oracle_103_case(path) -> None:
    case = load_case(path)
    assert case.format == ORACLE_103_FORMAT
    result = run_case(case, engine="reference")
    assert result.variant == "spec103"
    assert result.mismatches == [], _fail_message(result)
    # The case's own bookkeeping holds too: the epoch gate and the emission bound.
    raw = case.raw
    tempo = raw["hyperparameters"]["Tempo"]
    e = raw["blocks"]["epoch_block"]
    assert (e + raw["netuid"] + 1) % (tempo + 1) == tempo
    assert sum(result.outputs["Emission"]) <= raw["emission"]


@pytest.mark.parametrize("path", SNAPSHOTS, ids=lambda p: p.stem)
def test_epoch_snapshot_case(path) -> None:
    result = run_case(load_case(path), engine="reference")
    assert result.variant == "mainline"
    assert set(result.outputs) == set(result.case.expected)
    assert result.mismatches == [], _fail_message(result)


# Spec 459 (Liquid Alpha consensus modes, spec 446 on): the same exactness, on both engines.
SNAPSHOTS_459 = shared_files("*.json", "epoch-snapshot-459", "cases")


def test_ground_truth_459_present() -> None:
    assert len(SNAPSHOTS_459) >= 10


@pytest.mark.parametrize("engine", ["reference", "numba"])
@pytest.mark.parametrize("path", SNAPSHOTS_459, ids=lambda p: p.stem)
def test_epoch_snapshot_459_case(path, engine) -> None:
    case = load_case(path)
    assert case.spec_version == 459
    assert case.inputs.consensus_prev is not None
    result = run_case(case, engine=engine)
    assert result.variant == "mainline" and result.era == "consensus-modes" and result.assumed is None
    assert set(result.outputs) == set(result.case.expected)
    assert result.mismatches == [], _fail_message(result)


@pytest.mark.parametrize("path", [p for p in SNAPSHOTS_459 if "differs_from_425" in load_case(p).raw["tags"]],
                         ids=lambda p: p.stem)
def test_459_cases_that_differ_from_425_need_the_new_inputs(path) -> None:
    """Proof that the two new inputs are read: without them (the spec-445 rules) the case fails."""
    case = load_case(path)
    from taoaudit.consensus.cases import snapshot_outputs_json
    from taoaudit.consensus.diff import compare_outputs
    from taoaudit.consensus.registry import run_epoch

    old = snapshot_outputs_json(run_epoch(case.inputs, 445))
    assert compare_outputs(case.expected, old) != []

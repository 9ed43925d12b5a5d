"""`taoaudit epoch`: the case-runner contract (JSON shape, exit codes, one-line errors)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from taoaudit.cli.main import main

from .conftest import shared_path


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_json_contract_for_both_formats() -> None:
    oracle = shared_path("oracle-103", "cases", "case-shared103-0003.json")
    snap = shared_path("epoch-snapshot", "cases", "shared-snap-0004.json")
    r = run("epoch", "--json", "--reference", "--case", str(oracle), "--case", str(snap))
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    first, second = doc["cases"]
    expected_oracle = json.loads(oracle.read_text())["outputs"]
    assert set(first["outputs"]) == {
        "Active", "ValidatorPermit", "Rank", "Trust", "Consensus", "Incentive", "Dividends",
        "PruningScores", "ValidatorTrust", "Emission", "Bonds", "LoadedEmission"}
    for k, v in first["outputs"].items():
        assert v == expected_oracle[k], k
    assert second["outputs"] == json.loads(snap.read_text())["outputs"]


def test_altered_expectation_exits_1_and_names_the_value(tmp_path) -> None:
    src = json.loads(shared_path("oracle-103", "cases", "case-shared103-0005.json").read_text())
    src["outputs"]["Incentive"][3] += 1
    f = tmp_path / "altered.json"
    f.write_text(json.dumps(src))
    r = run("--no-color", "epoch", "--reference", str(f))
    assert r.exit_code == 1
    assert "MISMATCH" in r.stdout and "Incentive" in r.stdout
    r = run("epoch", "--json", "--reference", str(f))
    assert r.exit_code == 1
    assert json.loads(r.stdout)["cases"][0]["matches"] is False


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "not valid JSON"),
        (json.dumps({"format": "mystery/9", "runtime": {"spec_version": 425}}), "unknown case format"),
        (json.dumps({"format": "epoch-snapshot/1", "runtime": {"spec_version": 250},
                     "input_snapshot": {}}), "missing field"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, content: str, message: str) -> None:
    f = tmp_path / "bad.json"
    f.write_text(content)
    r = CliRunner().invoke(main, ["epoch", str(f)])
    assert r.exit_code == 2
    assert message in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_unsupported_spec_is_a_clear_error(tmp_path) -> None:
    src = json.loads(shared_path("epoch-snapshot", "cases", "shared-snap-0000.json").read_text())
    src["runtime"]["spec_version"] = 250
    f = tmp_path / "old.json"
    f.write_text(json.dumps(src))
    r = CliRunner().invoke(main, ["epoch", str(f)])
    assert r.exit_code == 2
    assert "spec 250 is not supported" in r.stderr and "103" in r.stderr


def test_missing_file_no_traceback() -> None:
    p = subprocess.run([sys.executable, "-m", "taoaudit.cli", "epoch", "/nonexistent/case.json"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2
    assert "Traceback" not in p.stderr
    assert p.stderr.startswith("error: ")


# -- strict parsing: one error line, exit 2, never a silently converted value ---------------

SNAP = ("epoch-snapshot", "cases", "shared-snap-0000.json")
SNAP_459 = ("epoch-snapshot-459", "cases", "shared459-0000.json")


def _write_altered(tmp_path, source: tuple[str, ...], alter) -> str:
    src = json.loads(shared_path(*source).read_text())
    alter(src)
    f = tmp_path / "altered.json"
    f.write_text(json.dumps(src))
    return str(f)


def _one_error_line(args: list[str], message: str) -> None:
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 2, r.output
    assert r.stderr.startswith("error: ") and message in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def _hp(key, value):
    return lambda src: src["input_snapshot"]["hyperparameters"].__setitem__(key, value)


def _snap(key, value):
    return lambda src: src["input_snapshot"].__setitem__(key, value)


@pytest.mark.parametrize(
    "source, alter, message",
    [
        (SNAP, _hp("yuma3", "false"), "yuma3: expected true or false"),
        (SNAP, _hp("liquid_alpha", 0), "liquid_alpha: expected true or false"),
        (SNAP, _hp("commit_reveal_enabled", "true"), "commit_reveal_enabled: expected true or false"),
        (SNAP, _hp("alpha_values", [45875]), "alpha_values: expected [alpha_low, alpha_high]"),
        (SNAP, _hp("alpha_values", {"low": 1, "high": 2}), "alpha_values: expected [alpha_low, alpha_high]"),
        (SNAP, _hp("alpha_values", [1, "2"]), "alpha_values[1]: expected an integer"),
        (SNAP, lambda s: s["input_snapshot"]["stake_alpha"].append(1), "stake_alpha: expected"),
        (SNAP, lambda s: s["input_snapshot"]["block_at_registration"].pop(), "block_at_registration: expected"),
        (SNAP, lambda s: s["input_snapshot"]["stake_tao"].append(0), "stake_tao: expected"),
        (SNAP, _snap("weights", {"x1": []}), "row key 'x1' is not a uid"),
        (SNAP_459, _hp("liquid_alpha_consensus_mode", "Previous"), "liquid_alpha_consensus_mode: expected one of"),
        (SNAP_459, lambda s: s["input_snapshot"].pop("consensus_prev"), "missing field 'consensus_prev'"),
        (SNAP_459, _snap("consensus_prev", [70000]), "consensus_prev[0]: 70000 is outside"),
    ],
)
def test_malformed_fields_are_one_error_line(tmp_path, source, alter, message) -> None:
    _one_error_line(["epoch", "--reference", _write_altered(tmp_path, source, alter)], message)


def test_string_false_is_not_read_as_true(tmp_path) -> None:
    """The old parser's bool("false") was True: a Yuma3 flag could flip silently."""
    f = _write_altered(tmp_path, SNAP, _hp("yuma3", "false"))
    _one_error_line(["epoch", "--reference", f], "expected true or false, got str")


def test_not_utf8_and_deep_nesting_are_one_error_line(tmp_path) -> None:
    bad = tmp_path / "latin1.json"
    bad.write_bytes(b'{"format": "epoch-snapshot/1", "case_id": "caf\xe9"}')
    _one_error_line(["epoch", str(bad)], "not UTF-8")
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    _one_error_line(["epoch", str(deep)], "nested too deeply")


# -- spec 459 and newer than we know -------------------------------------------------------

def test_459_cases_exact_in_json() -> None:
    files = [str(shared_path("epoch-snapshot-459", "cases", f"shared459-000{i}.json")) for i in range(10)]
    r = run("epoch", "--json", "--reference", *files)
    assert r.exit_code == 0, r.output
    cases = json.loads(r.stdout)["cases"]
    assert len(cases) == 10
    assert all(c["matches"] and c["mismatches"] == 0 and c["era"] == "consensus-modes" for c in cases)
    assert all(c["era_assumed"] is None for c in cases)


def _spec_460(src) -> None:
    src["runtime"]["spec_version"] = 460


def test_spec_460_is_refused_naming_459(tmp_path) -> None:
    f = _write_altered(tmp_path, SNAP_459, _spec_460)
    _one_error_line(["epoch", "--reference", f], "newest known spec 459")


def test_spec_460_runs_with_assume_era_latest_and_says_so(tmp_path) -> None:
    f = _write_altered(tmp_path, SNAP_459, _spec_460)
    r = run("epoch", "--json", "--reference", "--assume-era", "latest", f)
    assert r.exit_code == 0, r.output
    (case,) = json.loads(r.stdout)["cases"]
    assert case["matches"] and case["era_assumed"] == "era assumed, not verified for spec 460"
    r = run("--no-color", "epoch", "--reference", "--assume-era", "latest", f)
    assert r.exit_code == 0 and "era assumed, not verified for spec 460" in " ".join(r.stdout.split())


@pytest.mark.parametrize(
    "alter, message",
    [
        (lambda s: s.__setitem__("outputs", [1, 2]), "outputs: expected an object"),
        (lambda s: s["outputs"].__setitem__("consensus", "abc"), "outputs.consensus: expected a list of integers"),
        (lambda s: s["outputs"].__setitem__("active", [1]), "outputs.active: expected a list of booleans"),
        (lambda s: s["outputs"].__setitem__("bonds_written", {"0": [[1]]}), "outputs.bonds_written[0]: expected"),
    ],
)
def test_malformed_expectations_are_format_errors_not_verdicts(tmp_path, alter, message) -> None:
    _one_error_line(["epoch", "--reference", _write_altered(tmp_path, SNAP, alter)], message)

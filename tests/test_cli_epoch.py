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

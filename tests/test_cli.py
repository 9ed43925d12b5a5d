"""The CLI on the bundled recording of a real spec-103 runtime: verdicts, exit codes, JSON."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from taoaudit.cli.defaults import RECORDING
from taoaudit.cli.main import main

from .conftest import shared_path

EPOCHS = {1: (217, 228, 239), 3: (216, 229, 242)}


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TAOAUDIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("TAOAUDIT_ENDPOINT", raising=False)


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def test_verify_bundled_epochs_exact() -> None:
    for netuid, epochs in EPOCHS.items():
        for e in epochs:
            r = run("verify", "--netuid", str(netuid), "--epoch", str(e), "--json")
            assert r.exit_code == 0, r.output
            doc = json.loads(r.stdout)
            assert doc["mismatches"] == [] and doc["spec_version"] == 103 and doc["variant"] == "spec103"
            assert set(doc) >= {"netuid", "epoch_block", "block_hashes", "spec_version", "variant",
                                "uids_compared", "fields_compared", "mismatches"}
            assert {"Incentive", "Dividends", "Emission", "Bonds", "Rank", "Trust"} <= set(doc["fields_compared"])


def _altered_recording(tmp_path: Path) -> tuple[Path, int, int]:
    """Copy the bundled recording with one stored Incentive value of subnet 1 changed at E."""
    from taoaudit.chainkit import Chain

    chain = Chain(str(RECORDING))
    after = chain.at(228)
    key = after.storage_key("SubtensorModule", "Incentive", 1)
    from taoaudit.chainkit.epoch import snapshot_epoch

    original = snapshot_epoch(chain, 1, 228)[1].incentive.tolist()
    uid = max(range(len(original)), key=lambda i: original[i])
    data = json.loads(RECORDING.read_text())
    (rec,) = data.values()
    vec_hex = "".join(v.to_bytes(2, "little").hex() for v in original)
    alt_hex = vec_hex[: 4 * uid] + (original[uid] - 1).to_bytes(2, "little").hex() + vec_hex[4 * uid + 4:]
    changed = 0
    for params, resp in rec.get("state_queryStorageAt", {}).items():
        if after.hash not in params:
            continue
        for block_changes in resp["result"]:
            for change in block_changes["changes"]:
                if change[0] == key:  # only Incentive (Rank holds the same numbers in this era)
                    assert vec_hex in change[1]
                    change[1] = change[1].replace(vec_hex, alt_hex)
                    changed += 1
    for params, resp in rec.get("state_getStorageAt", {}).items():
        if key in params and after.hash in params:
            resp["result"] = resp["result"].replace(vec_hex, alt_hex)
            changed += 1
    assert changed
    out = tmp_path / "altered" / RECORDING.name
    out.parent.mkdir()
    out.write_text(json.dumps(data))
    for meta in RECORDING.parent.glob("metadata_*"):
        (out.parent / meta.name).write_text(meta.read_text())
    return out, uid, original[uid]


def test_verify_detects_one_altered_integer(tmp_path) -> None:
    path, uid, value = _altered_recording(tmp_path)
    r = run("--no-color", "verify", "--netuid", "1", "--epoch", "228", "--replay", str(path))
    assert r.exit_code == 1, r.output
    assert "MISMATCH" in r.stdout and "Incentive" in r.stdout
    r = run("verify", "--netuid", "1", "--epoch", "228", "--replay", str(path), "--json")
    assert r.exit_code == 1
    mismatches = json.loads(r.stdout)["mismatches"]
    assert mismatches == [{"uid": uid, "hotkey": mismatches[0]["hotkey"], "field": "Incentive",
                           "chain": value - 1, "recomputed": value}]


def test_verify_at_block_takes_the_epoch_at_or_before() -> None:
    r = run("verify", "--netuid", "3", "--block", "242", "--json")
    assert r.exit_code == 0
    assert json.loads(r.stdout)["epoch_block"] == 242
    r = run("verify", "--netuid", "1", "--json")  # head (242): subnet 1's last epoch is 239
    assert r.exit_code == 0 and json.loads(r.stdout)["epoch_block"] == 239


def test_audit_runs_then_serves_from_cache() -> None:
    first = run("audit", "--json")
    assert first.exit_code == 0, first.output
    doc = json.loads(first.stdout)
    got = sorted((e["netuid"], e["epoch_block"]) for e in doc["epochs"])
    assert got == sorted((n, e) for n, es in EPOCHS.items() for e in es)
    assert doc["mismatched_epochs"] == 0 and not any(e["cached"] for e in doc["epochs"])
    second = json.loads(run("audit", "--json").stdout)
    assert all(e["cached"] for e in second["epochs"])
    assert [e["mismatches"] for e in second["epochs"]] == [e["mismatches"] for e in doc["epochs"]]


def test_explain_adds_up_to_the_chain() -> None:
    r = run("explain", "--netuid", "1", "--uid", "3", "--epoch", "228", "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["checks"] and all(doc["checks"].values()), doc["checks"]
    stages = {s["stage"]: s for s in doc["stages"]}
    # The shown contributions add up to the rank, and rank ÷ all ranks is the stored incentive.
    assert sum(p for _, _, _, p in stages["rank contributions"]["raw"]) == stages["rank (sum of contributions)"]["raw"]
    for name in ("incentive (rank)", "dividends", "emission (rao)", "consensus", "validator trust", "active"):
        assert stages[name]["chain"] is not None, name
        assert stages[name]["recomputed_stored"] == stages[name]["chain"], name


def test_metagraph_and_snapshots_round_trip(tmp_path) -> None:
    r = run("metagraph", "--netuid", "1", "--block", "228", "--json")
    assert r.exit_code == 0
    mg = json.loads(r.stdout)
    assert mg["block"] == 228 and len(mg["neurons"]) == 16
    assert all(isinstance(n["incentive"], int) for n in mg["neurons"])
    a, b = tmp_path / "a", tmp_path / "b"
    assert run("snapshot", "save", "--netuid", "1", "--block", "227", str(a)).exit_code == 0
    assert run("snapshot", "save", "--netuid", "1", "--block", "228", str(b)).exit_code == 0
    shown = json.loads(run("snapshot", "show", str(b), "--json").stdout)
    assert shown["neurons"] == mg["neurons"]
    diff = json.loads(run("snapshot", "diff", str(a), str(b), "--json").stdout)
    fields = {c["field"] for c in diff["changes"]}
    assert "emission" in fields  # the epoch at 228 rewrote the outputs
    csv_out = tmp_path / "b.csv"
    assert run("snapshot", "export", str(b), str(csv_out), "--format", "csv").exit_code == 0
    assert csv_out.read_text().splitlines()[0].startswith("uid,")
    ep = tmp_path / "ep"
    assert run("snapshot", "save", "--netuid", "3", "--epoch", "229", str(ep)).exit_code == 0
    r = run("verify", "--snapshot", str(ep), "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["mismatches"] == []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("args, message", [
    (["verify", "--netuid", "9", "--epoch", "228"], "netuid 9"),
    (["metagraph", "--netuid", "42"], "netuid 42"),
    (["verify", "--snapshot", "/nonexistent/snap"], "snap"),
    (["epoch", "/nonexistent/case.json"], "cannot read"),
    (["verify", "--netuid", "1", "--replay", "/nonexistent/rec.json"], "recording not found"),
    (["verify", "--netuid", "1", "--block", "notablock"], "--block must be"),
])
def test_bad_input_exits_2_with_one_line(args, message) -> None:
    r = run(*args)
    assert r.exit_code == 2, r.output
    assert message in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.output


def test_corrupt_snapshot_exits_2(tmp_path) -> None:
    snap = tmp_path / "s"
    assert run("snapshot", "save", "--netuid", "3", "--block", "229", str(snap)).exit_code == 0
    npz = next(tmp_path.glob("s*.npz"))
    data = bytearray(npz.read_bytes())
    data[len(data) // 2] ^= 0xFF
    npz.write_bytes(bytes(data))
    r = run("snapshot", "show", str(snap))
    assert r.exit_code == 2 and r.stderr.startswith("error: ")


def test_unreachable_endpoint_exits_2() -> None:
    port = _free_port()  # nothing listens there
    p = subprocess.run([sys.executable, "-m", "taoaudit.cli", "verify", "--netuid", "1", "--endpoint", f"ws://127.0.0.1:{port}"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2, p.stderr
    assert "Traceback" not in p.stderr and p.stderr.startswith("error: ")
    assert len(p.stderr.strip().splitlines()) == 1


def test_unsupported_spec_exits_2(tmp_path) -> None:
    ep = tmp_path / "ep"
    assert run("snapshot", "save", "--netuid", "3", "--epoch", "229", str(ep)).exit_code == 0
    manifest = tmp_path / "ep.json"
    doc = json.loads(manifest.read_text())
    doc["spec_version"] = 250  # a dTAO-era runtime before Yuma3: not reproduced
    manifest.write_text(json.dumps(doc))
    r = run("verify", "--snapshot", str(ep))
    assert r.exit_code == 2
    assert "spec 250 is not supported" in r.stderr and "103, 273–" in r.stderr  # the supported ranges named
    assert len(r.stderr.strip().splitlines()) == 1


def test_unrecorded_history_is_a_clear_error() -> None:
    # The finney recordings hold no state at E−1 of this block: say what is missing, exit 2.
    rec = shared_path("chain-data", "bittensor-ws", "ws_responses.json")
    r = run("verify", "--netuid", "1", "--epoch", "6852690", "--replay", f"{rec}")
    assert r.exit_code == 2
    assert "not recorded" in r.stderr and "Traceback" not in r.output


def test_every_command_has_json_that_parses(tmp_path) -> None:
    snap = tmp_path / "m"
    for args in (["verify", "--netuid", "3"], ["audit", "--netuids", "3", "--epochs", "1"],
                 ["explain", "--netuid", "3", "--uid", "0"], ["metagraph", "--netuid", "3"],
                 ["snapshot", "save", "--netuid", "3", str(snap)], ["snapshot", "show", str(snap)],
                 ["snapshot", "export", str(snap), str(tmp_path / "m-export.json")], ["epoch"]):
        r = run("--json", *args)
        assert r.exit_code == 0, (args, r.output)
        json.loads(r.stdout)


# -- audits that finish, and nothing lost -------------------------------------------------------

def test_audit_with_nothing_to_verify_exits_2() -> None:
    for args in (["--epochs", "0"], ["--netuids", ","], ["--epochs", "-1"]):
        r = run("audit", *args, "--json")
        assert r.exit_code == 2, (args, r.output)
        assert r.stderr.startswith("error:") and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_audit_whose_every_epoch_is_unreadable_exits_2_and_lists_each(tmp_path) -> None:
    # the same recording without block E's events: every epoch misses one read
    doc = json.loads(RECORDING.read_text())
    events_key = "0x26aa394eea5630e07c48ae0c9558cef780d41e5e16056765bc8461851072c9d7"
    for params in [p for p in doc["recording"]["state_queryStorageAt"] if events_key in p]:
        del doc["recording"]["state_queryStorageAt"][params]
    rec = tmp_path / "no-events.json"
    rec.write_text(json.dumps(doc))
    for meta in RECORDING.parent.glob("metadata_*.hex"):
        (tmp_path / meta.name).write_text(meta.read_text())
    r = run("audit", "--replay", str(rec), "--json", "--no-cache")
    assert r.exit_code == 2, r.output
    out = json.loads(r.stdout)
    assert [(e["netuid"], e["epoch_block"]) for e in out["epochs"]] == [(n, e) for n, es in EPOCHS.items() for e in es]
    assert {e["verdict"] for e in out["epochs"]} == {"unreadable"}
    assert out["summary"]["unreadable_by_reason"] == {"missing_recording_entry": 6} and out["summary"]["exact"] == 0
    assert r.stderr.startswith("error: no epoch could be verified") and "Traceback" not in r.output


def test_unwritable_cache_warns_once_and_the_audit_goes_on(tmp_path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    r = run("audit", "--cache-dir", str(blocker / "cache"), "--json")
    assert r.exit_code == 0, r.output
    assert r.stderr.count("warning: cannot write the result cache") == 1
    assert json.loads(r.stdout)["summary"]["exact"] == 6


def test_cache_entries_of_the_wrong_shape_are_recomputed(tmp_path) -> None:
    cache = tmp_path / "c"
    assert run("audit", "--cache-dir", str(cache), "--json").exit_code == 0
    entries = sorted(cache.glob("*.json"))
    assert len(entries) == 6
    for p, junk in zip(entries, ["[]", "{", '{"cache_key": 1}', "null", "\xff\xfe", '{"verdict": "exact"}']):
        p.write_bytes(junk.encode("utf-8", "surrogateescape") if isinstance(junk, str) else junk)
    r = run("audit", "--cache-dir", str(cache), "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert not any(e["cached"] for e in doc["epochs"]) and doc["summary"]["exact"] == 6


def test_export_never_overwrites(tmp_path) -> None:
    snap = tmp_path / "b"
    assert run("snapshot", "save", "--netuid", "1", "--block", "228", str(snap)).exit_code == 0
    manifest = (tmp_path / "b.json").read_bytes()
    r = run("snapshot", "export", str(snap), str(tmp_path / "b.json"))
    assert r.exit_code == 2 and "snapshot's own files" in r.stderr
    r = run("snapshot", "export", str(snap), str(tmp_path / "b.json"), "--force")
    assert r.exit_code == 2 and (tmp_path / "b.json").read_bytes() == manifest
    other = tmp_path / "other.csv"
    other.write_text("mine")
    r = run("snapshot", "export", str(snap), str(other), "--format", "csv")
    assert r.exit_code == 2 and "--force" in r.stderr and other.read_text() == "mine"
    assert run("snapshot", "export", str(snap), str(other), "--format", "csv", "--force").exit_code == 0
    assert other.read_text().startswith("uid") or "," in other.read_text()


def test_snapshot_names_are_kept_whole(tmp_path) -> None:
    for name, block in (("run.v1", "227"), ("run.v2", "228")):
        assert run("snapshot", "save", "--netuid", "1", "--block", block, str(tmp_path / name)).exit_code == 0
    assert {p.name for p in tmp_path.iterdir()} >= {"run.v1.json", "run.v1.npz", "run.v2.json", "run.v2.npz"}
    blocks = [json.loads(run("snapshot", "show", str(tmp_path / n), "--json").stdout)["block"] for n in ("run.v1", "run.v2")]
    assert blocks == [227, 228]


def test_a_manifest_naming_a_path_is_refused(tmp_path) -> None:
    snap = tmp_path / "m"
    assert run("snapshot", "save", "--netuid", "1", "--block", "228", str(snap)).exit_code == 0
    manifest = tmp_path / "m.json"
    for bad in ("../m.npz", "/etc/passwd", "sub/m.npz", 7):
        doc = json.loads(manifest.read_text())
        doc["arrays_file"] = bad
        manifest.write_text(json.dumps(doc))
        r = run("snapshot", "show", str(snap))
        assert r.exit_code == 2 and r.stderr.startswith("error:") and "arrays_file" in r.stderr, (bad, r.output)


def test_epochs_the_source_cannot_locate_are_noted_not_dropped() -> None:
    r = run("audit", "--epochs", "5", "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["summary"]["exact"] == 6
    assert set(doc["notes"]) == {"1", "3"} and all(n.startswith("3 of 5 epochs located") for n in doc["notes"].values())

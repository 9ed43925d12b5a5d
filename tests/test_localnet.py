"""The localnet fixtures (produced by the real spec-103 runtime under Chopsticks) and the tooling.

Offline tests check that the committed fixtures are self-consistent: the oracle-epoch-case/103
format, the epoch gate, sum(Emission) <= emission, LoadedEmission, and that the recording
alone (replayed, no network) reproduces every recorded epoch's inputs and outputs.

The end-to-end test starts chopsticks and runs one epoch; it runs only with
TAOAUDIT_CHOPSTICKS=1 and skips, with the reason, when chopsticks or the chain spec is missing.
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import localnet as ln  # noqa: E402
import make_oracle_cases as moc  # noqa: E402

from taoaudit.chainkit import client, errors, metagraph  # noqa: E402
from taoaudit.consensus import cases as case_files  # noqa: E402

CASES_DIR = ROOT / "fixtures" / "localnet" / "oracle103"
REC_DIR = ROOT / "fixtures" / "localnet" / "recording"
CASE_FILES = sorted(CASES_DIR.glob("case-*.json"))


def _load(p: Path) -> dict:
    return json.loads(p.read_text())


# -- the generated cases ------------------------------------------------------------------


def test_case_set_shape():
    assert len(CASE_FILES) >= 40
    assert sum(p.stat().st_size for p in CASE_FILES) < 1_500_000
    cases = [_load(p) for p in CASE_FILES]
    assert len({c["case_id"] for c in cases}) == len(cases)
    assert {c["seed"] for c in cases} == {"taoaudit1"}
    assert {c["n"] for c in cases} == {1, 2, 3, 8, 16, 64}
    assert {c["netuid"] for c in cases} <= {1, 3, 7}
    tags = Counter(t for c in cases for t in c["tags"])
    for scenario in moc.PRIMARY:
        if scenario != "random":
            assert tags[scenario] >= 2, scenario
    assert all(c["runtime"]["code_blake2_256"] == ln.EXPECTED_CODE_BLAKE2_256 for c in cases)
    assert all(c["runtime"]["spec_version"] == 103 for c in cases)
    assert sum(1 for c in cases if c.get("replayed_identical")) >= 1


@pytest.mark.parametrize("path", CASE_FILES, ids=lambda p: p.stem)
def test_case_consistent(path):
    c = _load(path)
    assert moc.check_case(c) == []
    # the README's checks, spelled out
    E, hp = c["blocks"]["epoch_block"], c["hyperparameters"]
    assert (E + c["netuid"] + 1) % (hp["Tempo"] + 1) == hp["Tempo"]
    assert sum(c["outputs"]["Emission"]) <= c["emission"]
    assert c["outputs"]["LoadedEmission"] == [
        [hk, e] for hk, e in zip(c["inputs"]["Keys"], c["outputs"]["Emission"])
    ]
    # the file is the canonical serialisation (sorted keys, compact)
    assert path.read_text() == moc.dumps_case(c) + "\n"
    assert path.name == f"case-{c['case_id']}.json"


@pytest.mark.parametrize("path", CASE_FILES, ids=lambda p: p.stem)
def test_case_matches_scenario(path):
    """The stored inputs are the seeded scenario (so the generator regenerates these files)."""
    c = _load(path)
    s, E, tags = moc.scenario(c["seed"], c["index"])
    assert E == c["blocks"]["epoch_block"] and tags == c["tags"] and s.netuid == c["netuid"]
    exp = ln.expected_inputs(s)
    for k, v in exp.items():
        got = c["inputs"][k] if k != "hyperparameters" else c["hyperparameters"]
        assert got == v, k
    assert c["emission_parts"] == {"PendingEmission": s.pending_emission, "EmissionValues": s.emission_values}


def test_cases_agree_with_spec103_model():
    """Held-out runtime cases: the project's spec-103 epoch must reproduce them exactly."""
    cases_mod = case_files
    bad = []
    for p in CASE_FILES:
        r = cases_mod.run_case(cases_mod.load_case(p))
        if not r.matches:
            bad.append(f"{p.name}: {r.mismatches[:2]}")
    assert not bad, "\n".join(bad)


# -- gate -------------------------------------------------------------------------------------


def test_epoch_gate_matches_blocks_until_next_epoch():
    for tempo in (1, 2, 10, 99, 360):
        for netuid in (0, 1, 3, 7):
            for block in range(0, 3 * (tempo + 1) + 5):
                until = tempo - (block + netuid + 1) % (tempo + 1)  # block_step.rs, spec 103
                assert ln.epoch_gate(block, netuid, tempo) == (until == 0)
            for after in range(0, 2 * (tempo + 1)):
                e = ln.next_epoch_block(after, netuid, tempo)
                assert e >= after and ln.epoch_gate(e, netuid, tempo)
                assert not any(ln.epoch_gate(b, netuid, tempo) for b in range(after, e))
    assert not ln.epoch_gate(5, 1, 0)


# -- the recording ----------------------------------------------------------------------------


def _epochs() -> dict:
    return _load(REC_DIR / "epochs.json")


def test_recording_files():
    rec = REC_DIR / "localnet_spec103.json"
    meta = REC_DIR / "metadata_v14_spec103.hex"
    assert rec.is_file() and meta.is_file()
    assert sum(p.stat().st_size for p in REC_DIR.iterdir()) < 2_000_000
    data = _load(rec)
    assert list(data) == ["recording"]
    methods = set(data["recording"])
    for m in ("chain_getBlockHash", "chain_getHeader", "state_getRuntimeVersion",
              "state_getStorageAt", "state_queryStorageAt", "state_getKeysPaged"):
        assert m in methods, m
    assert "state_getMetadata" not in methods  # kept in the .hex file beside it
    versions = [r["result"] for r in data["recording"]["state_getRuntimeVersion"].values()]
    assert {v["specVersion"] for v in versions} == {103}
    rt = ln.Runtime(meta.read_text().strip())
    assert rt.item("LastMechansimStepBlock").hashers == ("Identity",)


def test_recording_epochs_consistent():
    s = _epochs()
    pairs = {(e["netuid"], e["epoch_block"]) for e in s["epochs"]}
    assert len(pairs) >= 4 and len({u for u, _ in pairs}) >= 2
    for e in s["epochs"]:
        c = e["case"]
        assert moc.check_case(c, fresh_subnet=False) == [], (e["netuid"], e["epoch_block"])
        assert c["blocks"]["epoch_block"] == e["epoch_block"]
        assert c["runtime"]["code_blake2_256"] == ln.EXPECTED_CODE_BLAKE2_256


def test_recording_replays_every_epoch():
    """Reading the recorded blocks back through a replay (no node) gives the epochs' cases."""
    rpc = ln.ReplayRpc(REC_DIR / "localnet_spec103.json")
    net = ln.Localnet(rpc, ln.Runtime((REC_DIR / "metadata_v14_spec103.hex").read_text().strip()))
    assert net.runtime_version["specVersion"] == 103
    for e in _epochs()["epochs"]:
        c = e["case"]
        assert rpc.call("chain_getBlockHash", [e["epoch_block"]]) == e["hash_epoch_block"]
        assert rpc.call("chain_getBlockHash", [e["epoch_block"] - 1]) == e["hash_input_state_block"]
        hdr = rpc.call("chain_getHeader", [e["hash_epoch_block"]])
        assert hdr["parentHash"] == e["hash_input_state_block"]
        before = ln.read_subnet(net, e["netuid"], e["hash_input_state_block"])
        after = ln.read_subnet(net, e["netuid"], e["hash_epoch_block"])
        for k in ("Keys", "Uids", "TotalHotkeyStake", "Owner", "Stake", "IsNetworkMember",
                  "LastUpdate", "BlockAtRegistration", "ValidatorPermit", "Weights", "Bonds",
                  "hyperparameters", "subnet", "globals"):
            assert before[k] == c["inputs"][k], k
        for k in ln.OUTPUT_VECTORS:
            assert after["outputs"][k] == c["outputs"][k], k
        assert after["Bonds"] == c["outputs"]["Bonds"]
        assert after["ValidatorPermit"] == c["outputs"]["ValidatorPermit"]
        assert after["subnet"]["LastMechansimStepBlock"] == e["epoch_block"]
        assert after["subnet"]["PendingEmission"] == 0
        assert net.events(e["hash_epoch_block"]) == []


def test_replay_refuses_unrecorded_requests():
    rpc = ln.ReplayRpc(REC_DIR / "localnet_spec103.json")
    with pytest.raises(ln.LocalnetError, match="no recorded answer"):
        rpc.call("state_getStorageAt", ["0x00", "0x" + "11" * 32])


def test_recorded_epochs_agree_with_spec103_model():
    cases_mod = case_files
    for e in _epochs()["epochs"]:
        r = cases_mod.run_case(cases_mod.parse_case(e["case"]))
        assert r.matches, (e["netuid"], e["epoch_block"], r.mismatches[:2])


# -- encoding ---------------------------------------------------------------------------------


def test_storage_keys_from_metadata():
    rt = ln.Runtime((REC_DIR / "metadata_v14_spec103.hex").read_text().strip())
    hk = ln.account_from_label("x")
    # Identity-hashed u16 netuid: the prefix then the raw little-endian bytes
    assert rt.key("Tempo", 3).endswith("0300")
    assert rt.key("Tempo", 3)[:66] == "0x658faa385070e074c85bf6b568cf0555" + rt.key("Tempo")[34:66]
    k = rt.key("Stake", hk, hk)
    assert rt.decode_key("Stake", k) == [hk, hk]
    assert rt.decode_key("Weights", rt.key("Weights", 7, 300)) == [7, 300]
    v = rt.encode_value("Bonds", [[0, 5], [3, 65535]])
    assert v == "0x08000005000300ffff"
    assert rt.decode_value("Bonds", v) == [(0, 5), (3, 65535)]
    assert rt.decode_value("LoadedEmission", None) is None  # OptionQuery
    assert rt.decode_value("Kappa", None) == 32767  # ValueQuery default from the metadata


def test_seed_validation_refuses_panicking_inputs():
    s, _, _ = moc.scenario("taoaudit1", 1)
    s.weights = {0: [(s.n, 1)]}
    with pytest.raises(ln.LocalnetError, match="dest must be < n"):
        s.validate()
    s, _, _ = moc.scenario("taoaudit1", 1)
    s.last_update = s.last_update[:-1]
    with pytest.raises(ln.LocalnetError, match="last_update"):
        s.validate()


# -- end to end (opt-in) ----------------------------------------------------------------------


def _e2e_skip_reason() -> str | None:
    if os.environ.get("TAOAUDIT_CHOPSTICKS") != "1":
        return "end-to-end chopsticks test is opt-in: set TAOAUDIT_CHOPSTICKS=1"
    why = ln.chopsticks_available()
    if why:
        return why
    try:
        ln.resolve_chain_spec()
    except ln.LocalnetError as e:
        return f"no chain spec: {e}"
    return None


def test_end_to_end_one_epoch_reproduces_a_committed_case(tmp_path):
    why = _e2e_skip_reason()
    if why:
        pytest.skip(why)
    path = CASES_DIR / "case-taoaudit1-0003.json"
    want = _load(path)
    with ln.localnet() as net:  # chopsticks on 127.0.0.1:<free port>, stopped on exit
        assert net.code_hash() == ln.EXPECTED_CODE_BLAKE2_256
        cases = moc.generate(net, "taoaudit1", [3], tmp_path, replays=1, log=lambda *_: None)
    got = cases[0]
    got.pop("replayed_identical", None)
    want.pop("replayed_identical", None)
    assert got == want


# -- the chain client on the recording ----------------------------------------------------


def test_chainkit_replays_its_recorded_metagraphs():
    """chainkit's own reads of the recorded blocks, replayed: its metagraph = the runtime's state."""
    path = REC_DIR / "chainkit_spec103.json"
    assert path.is_file(), "the committed chainkit recording is missing"
    chain = client.Chain(str(path), metadata_dirs=[str(REC_DIR)])
    try:
        for e in _epochs()["epochs"]:
            c = e["case"]
            try:
                before = metagraph.snapshot_metagraph(chain, e["netuid"], e["epoch_block"] - 1)
                after = metagraph.snapshot_metagraph(chain, e["netuid"], e["epoch_block"])
            except errors.MissingRecordingEntry as x:
                pytest.fail(f"chainkit now reads differently from when it was recorded ({x}); "
                            "re-record: python scripts/record_localnet.py --out fixtures/localnet/recording")
            assert before.n == after.n == c["n"]
            assert list(before.hotkey) == c["inputs"]["Keys"]
            assert list(before.coldkey) == c["inputs"]["Owner"]
            assert [int(x) for x in before.stake] == c["inputs"]["TotalHotkeyStake"]
            assert [int(x) for x in before.last_update] == c["inputs"]["LastUpdate"]
            assert [int(x) for x in before.block_at_registration] == c["inputs"]["BlockAtRegistration"]
            assert [bool(x) for x in before.validator_permit] == c["inputs"]["ValidatorPermit"]
            assert [int(x) for x in after.emission] == c["outputs"]["Emission"]
            assert [bool(x) for x in after.validator_permit] == c["outputs"]["ValidatorPermit"]
            assert [bool(x) for x in after.active] == c["outputs"]["Active"]
            for field, name in (("rank", "Rank"), ("trust", "Trust"), ("consensus", "Consensus"),
                                ("incentive", "Incentive"), ("dividends", "Dividends"),
                                ("validator_trust", "ValidatorTrust"), ("pruning_score", "PruningScores")):
                assert [int(x) for x in getattr(after, field)] == c["outputs"][name], field
    finally:
        chain.close()


# -- the five-subnet chain for `taoaudit audit` --------------------------------------------------

AUDIT_DIR = ROOT / "fixtures" / "localnet" / "audit"


def test_multi_subnet_audit_accounts_for_every_epoch(tmp_path, monkeypatch):
    """`taoaudit audit --netuids all --epochs 3 --json` on the recording of the five-subnet
    chain: every epoch ends with its verdict, the run goes on past the unreadable one."""
    from click.testing import CliRunner

    from taoaudit.cli.main import main

    monkeypatch.setenv("TAOAUDIT_CACHE", str(tmp_path / "cache"))
    made = _load(AUDIT_DIR / "audit_chain.json")
    rec = AUDIT_DIR / "audit_spec103.json"
    for cached in (False, True):
        r = CliRunner().invoke(main, ["audit", "--netuids", "all", "--epochs", "3", "--json", "--replay", str(rec)])
        assert r.exit_code == 0, r.output
        doc = json.loads(r.stdout)
        got = {(e["netuid"], e["epoch_block"]): e for e in doc["epochs"]}
        assert len(got) == 12 and {n for n, _ in got} == {1, 2, 3, 5}
        assert doc["skipped_subnets"] == {"7": "tempo 0 at block 233: its epoch never runs"}
        assert doc["summary"] == {
            "epochs": 12, "exact": 11, "mismatch": 0, "refused": 0, "unreadable": 1,
            "refused_by_reason": {}, "unreadable_by_reason": {"missing_recording_entry": 1}, "replaced_uids": 1,
        }
        netuid, block = made["unrecorded_epoch"]
        assert got[(netuid, block)]["verdict"] == "unreadable" and "not recorded" in got[(netuid, block)]["reason"]
        netuid, block = made["registered_in_block"]
        replaced = got[(netuid, block)]
        assert replaced["verdict"] == "exact" and replaced["replaced_uids"] == [5]
        assert replaced["reason_code"] == "replaced_in_block" and replaced["uids_compared"] == 6
        # the recorder's own outcomes (live, against the node) are the replay's
        for o in made["outcomes"]:
            assert got[(o["netuid"], o["epoch_block"])]["verdict"] == o["verdict"]
        cached_flags = {e["cached"] for e in doc["epochs"] if e["verdict"] != "unreadable"}
        assert cached_flags == {cached}


def test_multi_subnet_chain_registration_is_a_real_extrinsic():
    """The registration in block E is the runtime's own: its NeuronRegistered event was
    deposited by an extrinsic (ApplyExtrinsic phase) after the epoch of that block."""
    from taoaudit.chainkit import audit as lib

    chain = client.Chain(str(AUDIT_DIR / "audit_spec103.json"))
    netuid, block = _load(AUDIT_DIR / "audit_chain.json")["registered_in_block"]
    assert lib.registrations_after_epoch(chain, netuid, block) == [5]
    assert lib.registrations_after_epoch(chain, netuid, block - 8) == []

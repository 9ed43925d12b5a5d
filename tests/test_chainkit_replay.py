"""Replay and recorder: the chain-data format served in-process, never a hang, never a null."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from taoaudit.chainkit import errors
from taoaudit.chainkit.client import Chain
from taoaudit.chainkit.replay import Recording, RecordingTransport, ReplayTransport, canonical_params

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
CHAIN_DATA = SHARED / "chain-data"
WS = CHAIN_DATA / "bittensor-ws" / "ws_responses.json"
pytestmark = pytest.mark.ground_truth("chain-data")

HEAD = "0xdb13c066e2c63969f140164fb3bfe7a0aaa7b71407fc0fe525d68e57329ef9d0"


def _rpc(t: ReplayTransport, method: str, params: list, rid: int = 7) -> dict:
    t.send(json.dumps({"jsonrpc": "2.0", "id": rid, "method": method, "params": params}))
    return json.loads(t.recv())


def test_recorded_answer_is_served_with_request_id() -> None:
    t = ReplayTransport(WS, "metagraph")
    r = _rpc(t, "chain_getBlockHash", [6852690], rid=41)
    assert r == {"jsonrpc": "2.0", "id": 41, "result": HEAD}


def test_unknown_request_is_an_error_naming_method_and_params() -> None:
    t = ReplayTransport(WS, "metagraph")
    r = _rpc(t, "state_getStorageAt", ["0xdeadbeef", HEAD])
    assert "result" not in r
    assert "state_getStorageAt" in r["error"]["message"]
    assert "0xdeadbeef" in r["error"]["message"]
    # an unknown method too
    r = _rpc(t, "system_health", [])
    assert "system_health" in r["error"]["message"]


def test_unknown_request_through_chain_raises_missing_recording_entry() -> None:
    chain = Chain(WS, recording="metagraph")
    blk = chain.at(6852690)
    with pytest.raises(errors.MissingRecordingEntry) as e:
        blk.query("SubtensorModule", "Tempo", 1)
    assert "state_getStorageAt" in str(e.value) and "metagraph" in str(e.value)
    assert isinstance(e.value, errors.ChainError)


def test_recorded_null_is_served_as_null() -> None:
    # MechanismCountCurrent[1] was recorded as absent: that is a real answer (default 1).
    chain = Chain(WS, recording="metagraph")
    blk = chain.at(6852690)
    assert blk.query("SubtensorModule", "MechanismCountCurrent", 1) == 1


def test_state_call_data_with_or_without_0x_and_trailing_nulls() -> None:
    assert canonical_params("state_call", ["X_y", "0x0100", "0xab"]) == canonical_params(
        "state_call", ["X_y", "0100", "0xab"]
    )
    assert canonical_params("chain_getHeader", [None]) == canonical_params("chain_getHeader", [])


def test_metadata_is_served_from_files_beside_the_recording() -> None:
    t = ReplayTransport(WS, "metagraph")
    parent = "0x7348409fe36728fa2ac7f0886346fd35b79804d294046d152ba1baccd9d0be3a"
    v14 = _rpc(t, "state_getMetadata", [parent])["result"]
    assert v14.startswith("0x6d657461")  # "meta"
    v15 = _rpc(t, "state_call", ["Metadata_metadata_at_version", "0x0f000000", parent])["result"]
    assert v15.startswith("0x01") and "6d6574610f" in v15[:30]


def test_several_recordings_merge_and_refuse_conflicts() -> None:
    merged = ReplayTransport(WS)
    named = ReplayTransport(WS, "metagraph")
    # A request every recording answers alike is served from the merged file ...
    method, key = next((m, k) for m, calls in named.recording.entries.items() for k in calls
                       if m == "state_getRuntimeVersion" and k != "[]")
    assert _rpc(merged, method, json.loads(key)) == _rpc(named, method, json.loads(key))
    # ... and one they answer differently (the head moves between recordings) is refused.
    head = _rpc(merged, "chain_getHead", [])
    assert "error" in head and "differently" in head["error"]["message"]
    with pytest.raises(errors.ChainError, match="no recording 'nope'"):
        Recording.load(WS, "nope")


def test_cycle_entries_rotate() -> None:
    t = ReplayTransport(WS, "retry_archive")
    cyc = [
        (m, k)
        for m, calls in t.recording.entries.items()
        for k, v in calls.items()
        if isinstance(v, dict) and "__cycle__" in v
    ]
    assert cyc
    method, key = cyc[0]
    seq = t.recording.entries[method][key]["__cycle__"]
    got = [_rpc(t, method, json.loads(key), rid=i) for i in range(len(seq) + 1)]
    for i, r in enumerate(got):
        want = seq[i % len(seq)]
        assert r.get("result") == want.get("result") and r.get("error") == want.get("error")


def test_recorder_writes_the_same_format_and_replays_identically(tmp_path: Path) -> None:
    out = tmp_path / "rec" / "ws.json"
    inner = ReplayTransport(WS, "metagraph")
    chain = Chain(RecordingTransport(inner, out, "again"))
    blk = chain.at(6852690)
    count = blk.query("SubtensorModule", "MechanismCountCurrent", 1)
    chain.close()  # saves
    data = json.loads(out.read_text())
    assert set(data) == {"again"}
    assert "chain_getBlockHash" in data["again"]
    # the metadata went to a file beside the recording, named by spec version
    assert (out.parent / "metadata_v15_spec343_option.hex").is_file()
    assert not list(out.parent.glob("*.tmp"))
    # and the new recording replays on its own
    again = Chain(out)
    blk2 = again.at(6852690)
    assert blk2.spec_version == 343
    assert blk2.query("SubtensorModule", "MechanismCountCurrent", 1) == count


def test_replay_recv_without_request_does_not_hang() -> None:
    t = ReplayTransport(WS, "metagraph")
    with pytest.raises(errors.ChainError):
        t.recv()

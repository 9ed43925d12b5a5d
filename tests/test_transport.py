"""The transport is not trusted blindly: deadlines, bounded retries, header/parent/storage
checks, and a recorder that never loses what a recording held."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from taoaudit.chainkit import errors
from taoaudit.chainkit.client import Chain
from taoaudit.chainkit.epoch import last_epoch_block_by_tempo
from taoaudit.chainkit.replay import RecordingTransport, ReplayTransport
from taoaudit.chainkit.rpc import RpcClient, TransientFault, rpc_timeout
from taoaudit.chainkit.trust import header_hash

ROOT = Path(__file__).resolve().parents[1]
REC_DIR = ROOT / "fixtures" / "localnet" / "recording"
RECORDING = REC_DIR / "chainkit_spec103.json"


def _entries() -> dict[str, dict[str, Any]]:
    return json.loads(RECORDING.read_text())["recording"]


def _hash_of(number: int) -> str:
    return _entries()["chain_getBlockHash"][json.dumps([number])]["result"]


def _doctored(tmp_path: Path, edit: Any) -> Path:
    """The bundled recording with one edit, metadata found beside the original."""
    rec = _entries()
    edit(rec)
    out = tmp_path / "doctored.json"
    out.write_text(json.dumps({"recording": rec}))
    return out


def _chain(path: Path) -> Chain:
    return Chain(path, metadata_dirs=[REC_DIR])


# -- scripted transports -------------------------------------------------------------------------

class Scripted:
    """Answers each request with the next scripted reply: a callable(request) -> frames."""

    def __init__(self, *replies: Any) -> None:
        self.replies = list(replies)
        self.sent: list[dict] = []
        self.outbox: list[Any] = []
        self.reconnects = 0

    def send(self, payload: str) -> None:
        msg = json.loads(payload)
        self.sent.append(msg)
        reply = self.replies.pop(0)
        self.outbox.extend(reply(msg))

    def recv(self) -> str:
        if not self.outbox:
            raise TransientFault("no answer within the deadline")
        frame = self.outbox.pop(0)
        if isinstance(frame, BaseException):
            raise frame
        return frame

    def reconnect(self) -> None:
        self.reconnects += 1

    def close(self) -> None:
        pass


def ok(result: Any) -> Any:
    return lambda m: [json.dumps({"jsonrpc": "2.0", "id": m["id"], "result": result})]


def frames(*texts: Any) -> Any:
    return lambda m: list(texts)


def rpc_error(code: int, message: str) -> Any:
    return lambda m: [json.dumps({"jsonrpc": "2.0", "id": m["id"], "error": {"code": code, "message": message}})]


def _client(t: Scripted) -> RpcClient:
    return RpcClient(t, "fake", timeout=5, sleep=lambda s: None)


H = "0x" + "ab" * 32


@pytest.mark.parametrize("first", [
    frames("}{ garbage"),
    frames("[1, 2]"),
    frames("42"),
    frames(""),  # a close frame
    frames(ConnectionResetError("reset by peer")),
    rpc_error(-32029, "Too many requests"),
    rpc_error(-32004, "limit exceeded"),
    lambda m: [json.dumps({"jsonrpc": "2.0", "id": m["id"] + 99, "result": "0x00"})],  # wrong id, then silence
    lambda m: [json.dumps({"jsonrpc": "2.0", "id": m["id"], "result": 7})],  # malformed result
    lambda m: [json.dumps({"jsonrpc": "2.0", "id": m["id"]})],  # neither result nor error
], ids=["garbage", "array", "number", "close", "reset", "rate-32029", "rate-32004", "wrong-id", "malformed", "empty"])
def test_a_transient_fault_is_retried_once_on_a_fresh_connection(first: Any) -> None:
    t = Scripted(first, ok(H))
    client = _client(t)
    assert client.request("chain_getBlockHash", [5]) == H
    assert client.retried == 1 and t.reconnects == 1
    assert t.sent[0]["id"] != t.sent[1]["id"]  # a late answer to the first can never be taken


def test_answers_to_other_ids_are_skipped_within_one_attempt() -> None:
    def noisy(m: dict) -> list[str]:
        note = {"jsonrpc": "2.0", "method": "chain_newHead", "params": {}}
        return [json.dumps(note), json.dumps({"jsonrpc": "2.0", "id": 12345, "result": "0x01"}),
                json.dumps({"jsonrpc": "2.0", "id": m["id"], "result": H})]

    client = _client(Scripted(noisy))
    assert client.request("chain_getBlockHash", [5]) == H and client.retried == 0


def test_a_persistent_fault_ends_in_one_node_fault_after_bounded_retries() -> None:
    slept: list[float] = []
    t = Scripted(*[frames("}{")] * 4)
    client = RpcClient(t, "ws://x", timeout=5, sleep=slept.append)
    with pytest.raises(errors.NodeFault) as e:
        client.request("state_getStorageAt", ["0x00", H])
    assert e.value.attempts == 4 and len(t.sent) == 4 and slept == [0.5, 1.0, 2.0]
    msg = str(e.value)
    assert "\n" not in msg and "ws://x" in msg and "4 times" in msg and "garbage" in msg


def test_node_errors_are_final_and_classified() -> None:
    t = Scripted(rpc_error(-32603, "Internal Error: Function to start was not found"))
    with pytest.raises(errors.RpcError) as e:
        _client(t).request("state_call", ["Metadata_metadata_at_version", "0x0f000000", H])
    assert len(t.sent) == 1 and "not found" in str(e.value)
    t = Scripted(rpc_error(4003, "Client error: UnknownBlock: State already discarded for " + H))
    with pytest.raises(errors.PrunedState) as e2:
        _client(t).request("state_getStorageAt", ["0x00", H])
    assert "--endpoint archive" in str(e2.value) and "lite node" in str(e2.value)


def test_the_deadline_holds_against_a_transport_that_never_answers() -> None:
    class Silent(Scripted):
        def recv_before(self, deadline: float) -> str:
            time.sleep(max(0.0, deadline - time.monotonic()))
            raise TransientFault("no answer within the deadline")

    t = Silent(*[frames()] * 4)
    client = RpcClient(t, "ws://x", timeout=0.05, sleep=lambda s: None)
    t0 = time.monotonic()
    with pytest.raises(errors.NodeFault, match="deadline"):
        client.request("chain_getHeader", [])
    assert time.monotonic() - t0 < 2


def test_rpc_timeout_from_argument_env_and_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TAOAUDIT_RPC_TIMEOUT", raising=False)
    assert rpc_timeout() == 30.0 and rpc_timeout(2) == 2.0
    monkeypatch.setenv("TAOAUDIT_RPC_TIMEOUT", "1.5")
    assert rpc_timeout() == 1.5 and rpc_timeout(3) == 3.0
    for bad in ("soon", "0", "-1"):
        monkeypatch.setenv("TAOAUDIT_RPC_TIMEOUT", bad)
        with pytest.raises(errors.ChainError, match="TAOAUDIT_RPC_TIMEOUT"):
            rpc_timeout()


# -- trust ---------------------------------------------------------------------------------------

def test_every_recorded_header_hashes_to_its_block() -> None:
    headers = _entries()["chain_getHeader"]
    checked = 0
    for key, answer in headers.items():
        params = json.loads(key)
        if params:
            assert header_hash(answer["result"], "t") == params[0]
            checked += 1
    assert checked >= 10


def test_an_epochs_two_blocks_are_resolved_once_and_linked() -> None:
    chain = _chain(RECORDING)
    after, before = chain.at(228), chain.at(227)
    n = chain.requests
    assert chain.at(228).hash == after.hash and chain.at(227).hash == before.hash
    assert chain.requests == n  # served from the checked refs, no second lookup
    assert after.ref.parent_hash == before.hash


def test_a_block_hash_for_another_number_is_refused(tmp_path: Path) -> None:
    path = _doctored(tmp_path, lambda r: r["chain_getBlockHash"].update({"[228]": {"result": _hash_of(239)}}))
    with pytest.raises(errors.UntrustedAnswer) as e:
        _chain(path).at(228)
    assert "block 228" in str(e.value) and "block 239" in str(e.value)


def test_a_header_that_does_not_hash_to_its_block_is_refused(tmp_path: Path) -> None:
    def edit(r: dict) -> None:
        key = json.dumps([_hash_of(228)])
        r["chain_getHeader"][key]["result"]["extrinsicsRoot"] = "0x" + "00" * 32

    with pytest.raises(errors.UntrustedAnswer, match="header of another block"):
        _chain(_doctored(tmp_path, edit)).at(228)


def test_consecutive_blocks_that_do_not_link_are_refused(tmp_path: Path) -> None:
    # A well-formed block 227 from another fork: right number, hashes right, wrong chain.
    def edit(r: dict) -> None:
        real = r["chain_getHeader"][json.dumps([_hash_of(227)])]["result"]
        fork = {**real, "stateRoot": "0x" + "11" * 32}
        fork_hash = header_hash(fork, "t")
        r["chain_getBlockHash"]["[227]"] = {"result": fork_hash}
        r["chain_getHeader"][json.dumps([fork_hash])] = {"result": fork}

    chain = _chain(_doctored(tmp_path, edit))
    chain.block_ref(228)
    with pytest.raises(errors.UntrustedAnswer, match="parent"):
        chain.block_ref(227)


def test_storage_tagged_with_another_block_is_refused(tmp_path: Path) -> None:
    other = _hash_of(239)

    def edit(r: dict) -> None:
        for answer in r["state_queryStorageAt"].values():
            for change_set in answer["result"]:
                change_set["block"] = other

    chain = _chain(_doctored(tmp_path, edit))
    blk = chain.at(228)
    keys = _recorded_keys(blk.hash)
    with pytest.raises(errors.UntrustedAnswer, match="tagged with block " + other):
        blk.read_raw_many(keys)
    assert _chain(RECORDING).at(228).read_raw_many(keys)  # the honest answer is read


def test_no_epoch_before_genesis_is_a_clear_refusal() -> None:
    with pytest.raises(errors.NoEpoch, match="no epoch at or before block 1$"):
        last_epoch_block_by_tempo(1, 3, 10)
    assert last_epoch_block_by_tempo(7, 3, 10) == 6


# -- the recorder never loses data ---------------------------------------------------------------

def _recorded_keys(block_hash: str) -> list[str]:
    """A batch of storage keys the bundled recording answers at ``block_hash``."""
    return next(json.loads(k)[0] for k in _entries()["state_queryStorageAt"] if json.loads(k)[1] == block_hash)


def _record_one_read(replay_from: Path, to: Path, name: str = "recording") -> None:
    chain = Chain(RecordingTransport(ReplayTransport(replay_from, metadata_dirs=[REC_DIR]), to, name))
    blk = chain.at(228)
    assert blk.read_raw_many(_recorded_keys(blk.hash))
    chain.transport.save()


def _count(path: Path) -> int:
    return sum(len(calls) for rec in json.loads(path.read_text()).values() for calls in rec.values())


def test_recording_onto_an_existing_recording_merges_and_never_shrinks(tmp_path: Path) -> None:
    target = tmp_path / "rec.json"
    shutil.copy(RECORDING, target)
    before = json.loads(target.read_text())
    _record_one_read(RECORDING, target)
    after = json.loads(target.read_text())
    for method, calls in before["recording"].items():
        assert set(calls) <= set(after["recording"][method]), method
    assert _count(target) >= sum(len(c) for c in before["recording"].values())
    _record_one_read(RECORDING, target, name="second")
    assert set(json.loads(target.read_text())) == {"recording", "second"}
    assert not list(tmp_path.glob("*.tmp"))


def test_recording_onto_the_replay_file_keeps_it_whole(tmp_path: Path) -> None:
    path = tmp_path / "rec.json"
    shutil.copy(RECORDING, path)
    for meta in REC_DIR.glob("metadata_*.hex"):
        shutil.copy(meta, tmp_path / meta.name)
    size = _count(path)
    _record_one_read(path, path)
    assert _count(path) == size
    assert json.loads(path.read_text()) == json.loads(RECORDING.read_text())
    # and it still replays the epoch
    blk = _chain(path).at(228)
    assert blk.read_raw_many(_recorded_keys(blk.hash))


def test_an_existing_metadata_file_is_never_replaced(tmp_path: Path) -> None:
    other = tmp_path / "metadata_v14_spec103.hex"
    other.write_text("0xdeadbeef\n")
    _record_one_read(RECORDING, tmp_path / "rec.json")
    assert other.read_text() == "0xdeadbeef\n"
    kept = json.loads((tmp_path / "rec.json").read_text())["recording"]
    assert any(v["result"].startswith("0x6d657461") for v in kept["state_getMetadata"].values())


@pytest.mark.parametrize("content", ["not json", "[1, 2]", '{"recording": [1]}'])
def test_a_target_that_is_not_a_recording_is_refused_before_any_request(tmp_path: Path, content: str) -> None:
    target = tmp_path / "notes.json"
    target.write_text(content)
    inner = ReplayTransport(RECORDING)
    with pytest.raises(errors.ChainError, match="cannot record into"):
        RecordingTransport(inner, target)
    assert target.read_text() == content and inner.served == []


def test_a_lite_nodes_pruned_state_names_the_block_and_the_archive_endpoint(tmp_path: Path) -> None:
    block_hash = _hash_of(228)

    def edit(r: dict) -> None:
        for key in r["state_queryStorageAt"]:
            if json.loads(key)[1] == block_hash:
                r["state_queryStorageAt"][key] = {"error": {
                    "code": 4003, "message": f"Client error: UnknownBlock: State already discarded for {block_hash}"}}

    blk = _chain(_doctored(tmp_path, edit)).at(228)
    with pytest.raises(errors.PrunedState) as e:
        blk.read_raw_many(_recorded_keys(block_hash))
    msg = str(e.value)
    assert "state of block 228 is pruned" in msg and "--endpoint archive" in msg and "\n" not in msg


def test_storage_that_is_not_hex_is_one_error_line(tmp_path: Path) -> None:
    block_hash = _hash_of(228)

    def edit(r: dict) -> None:
        for key, answer in r["state_queryStorageAt"].items():
            if json.loads(key)[1] == block_hash:
                for change_set in answer["result"]:
                    change_set["changes"] = [[k, "0xzz"] for k, _ in change_set["changes"]]

    blk = _chain(_doctored(tmp_path, edit)).at(228)
    with pytest.raises(errors.DecodeError, match="malformed hex") as e:
        blk.read_raw_many(_recorded_keys(block_hash))
    assert "\n" not in str(e.value)

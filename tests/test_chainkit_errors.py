"""Every failure is a ChainError subclass with a clear one-line message."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from taoaudit.chainkit import errors
from taoaudit.chainkit.client import Chain
from taoaudit.chainkit.layout import era_for_spec
from taoaudit.chainkit.metagraph import snapshot_metagraph
from taoaudit.chainkit.rpc import NAMED_ENDPOINTS, resolve_endpoint

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
WS_DIR = SHARED / "chain-data" / "bittensor-ws"
needs_shared = pytest.mark.ground_truth("chain-data")
HEAD = "0xdb13c066e2c63969f140164fb3bfe7a0aaa7b71407fc0fe525d68e57329ef9d0"


def _one_line(e: BaseException) -> str:
    s = str(e)
    assert s and "\n" not in s and isinstance(e, errors.ChainError)
    return s


def _extended_recording(tmp_path: Path, extra: dict) -> Path:
    """The finney 'metagraph' recording plus a few hand-made entries, in a temp dir (metadata
    is found through metadata_dirs, never copied)."""
    rec = json.loads((WS_DIR / "ws_responses.json").read_text())["metagraph"]
    for method, calls in extra.items():
        rec.setdefault(method, {}).update(calls)
    out = tmp_path / "extended.json"
    out.write_text(json.dumps({"metagraph": rec}))
    return out


def test_named_endpoints() -> None:
    assert resolve_endpoint("finney") == "wss://entrypoint-finney.opentensor.ai:443"
    assert resolve_endpoint("test") == "wss://test.finney.opentensor.ai:443"
    assert resolve_endpoint("local") == "ws://127.0.0.1:9944"
    assert resolve_endpoint("ws://10.0.0.1:9944") == "ws://10.0.0.1:9944"
    assert set(NAMED_ENDPOINTS) >= {"finney", "test", "local"}
    with pytest.raises(errors.EndpointUnreachable):
        resolve_endpoint("http://example.org")


def test_unreachable_endpoint() -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    with pytest.raises(errors.EndpointUnreachable) as e:
        Chain(f"ws://127.0.0.1:{port}", timeout=2)
    assert f"127.0.0.1:{port}" in _one_line(e.value)


@needs_shared
def test_block_in_the_future(tmp_path: Path) -> None:
    path = _extended_recording(tmp_path, {"chain_getBlockHash": {"[99999999]": {"result": None}}})
    chain = Chain(path, metadata_dirs=[WS_DIR])
    with pytest.raises(errors.BlockInFuture) as e:
        chain.at(99_999_999)
    assert "99999999" in _one_line(e.value) and "6852690" in str(e.value)


@needs_shared
def test_pruned_state_suggests_an_archive_node(tmp_path: Path) -> None:
    key = json.dumps(["0xabcd", HEAD])
    err = {"error": {"code": 4003, "message": "Client error: UnknownBlock: State already discarded for " + HEAD}}
    path = _extended_recording(tmp_path, {"state_getStorageAt": {key: err}})
    chain = Chain(path, metadata_dirs=[WS_DIR])
    blk = chain.at(6_852_690)
    with pytest.raises(errors.PrunedState) as e:
        blk.read_raw("0xabcd")
    msg = _one_line(e.value)
    assert "archive" in msg and "pruned" in msg


@needs_shared
def test_unknown_netuid(tmp_path: Path) -> None:
    # netuid 77: neurons_lite answers an empty Vec, get_subnet_state answers None
    calls = {
        json.dumps(["NeuronInfoRuntimeApi_get_neurons_lite", "4d00", HEAD]): {"result": "0x00"},
        json.dumps(["SubnetInfoRuntimeApi_get_subnet_state", "4d00", HEAD]): {"result": "0x00"},
    }
    path = _extended_recording(tmp_path, {"state_call": calls})
    chain = Chain(path, metadata_dirs=[WS_DIR])
    with pytest.raises(errors.UnknownNetuid) as e:
        snapshot_metagraph(chain, 77, 6_852_690)
    assert "77" in _one_line(e.value)


def test_unsupported_spec() -> None:
    with pytest.raises(errors.UnsupportedSpec) as e:
        era_for_spec(42)
    assert "42" in _one_line(e.value) and "supported" in str(e.value)


@needs_shared
def test_missing_recording_entry_message() -> None:
    chain = Chain(f"replay:{WS_DIR / 'ws_responses.json'}#metagraph")
    with pytest.raises(errors.MissingRecordingEntry) as e:
        chain.at(1)
    msg = _one_line(e.value)
    assert "chain_getBlockHash" in msg and "[1]" in msg


def test_every_error_class_is_a_chain_error() -> None:
    for name in (
        "EndpointUnreachable", "RpcError", "PrunedState", "UnknownBlock", "BlockInFuture",
        "UnknownNetuid", "UnsupportedSpec", "UnsupportedMetadataVersion", "MetadataError",
        "MalformedSnapshot", "MissingRecordingEntry", "DecodeError",
    ):  # fmt: skip
        assert issubclass(getattr(errors, name), errors.ChainError), name

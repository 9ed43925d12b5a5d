"""Metagraph snapshots from the recorded finney traffic equal the independent decoder's output."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from taoaudit.chainkit import errors
from taoaudit.chainkit.client import Chain
from taoaudit.chainkit.metagraph import snapshot_metagraph

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
CHAIN_DATA = SHARED / "chain-data"
pytestmark = pytest.mark.ground_truth("chain-data")

CASES = {
    343: (
        CHAIN_DATA / "bittensor-ws" / "ws_responses.json",
        "metagraph",
        6_852_690,
        CHAIN_DATA / "bittensor-ws" / "decoded_metagraph_sn1_b6852690.json",
    ),
    320: (
        CHAIN_DATA / "bittensor-ws-history" / "ws_metagraph_sn1_b6530367_spec320.json",
        None,
        6_530_367,
        CHAIN_DATA / "bittensor-ws-history" / "decoded_metagraph_sn1_b6530367.json",
    ),
}

# decoded JSON per-UID field → metagraph field
LITE_FIELDS = {
    "uid": "uid", "hotkey": "hotkey", "coldkey": "coldkey", "active": "active",
    "validator_permit": "validator_permit", "rank": "rank", "trust": "trust",
    "consensus": "consensus", "incentive": "incentive", "dividends": "dividends",
    "validator_trust": "validator_trust", "pruning_score": "pruning_score",
    "emission": "emission", "last_update": "last_update",
}  # fmt: skip
STATE_FIELDS = {
    "hotkeys": "hotkey", "coldkeys": "coldkey", "active": "active",
    "validator_permit": "validator_permit", "pruning_score": "pruning_score",
    "last_update": "last_update", "emission": "emission", "dividends": "dividends",
    "incentives": "incentive", "consensus": "consensus", "trust": "trust", "rank": "rank",
    "block_at_registration": "block_at_registration", "alpha_stake": "alpha_stake",
    "tao_stake": "tao_stake", "total_stake": "total_stake",
}  # fmt: skip

_snapshots: dict[int, tuple] = {}


def _snapshot(spec: int):
    if spec not in _snapshots:
        path, rec, block, decoded = CASES[spec]
        chain = Chain(path, recording=rec)
        mg = snapshot_metagraph(chain, 1, block)
        _snapshots[spec] = (mg, json.loads(decoded.read_text()), chain)
    return _snapshots[spec]


@pytest.mark.parametrize("spec", sorted(CASES))
def test_metagraph_header(spec: int) -> None:
    mg, _, chain = _snapshot(spec)
    assert mg.spec_version == spec
    assert mg.block == CASES[spec][2]
    assert mg.n == 1024 and mg.netuid == 1
    assert mg.source == "runtime_api"
    # a subnet snapshot costs a handful of round trips
    assert chain.requests <= 10


@pytest.mark.parametrize("spec", sorted(CASES))
def test_every_uid_every_neurons_lite_field(spec: int) -> None:
    mg, decoded, _ = _snapshot(spec)
    lite = decoded["NeuronInfoRuntimeApi_get_neurons_lite"]["decoded"]
    assert len(lite) == 1024
    for theirs, ours in LITE_FIELDS.items():
        want = [row[theirs] for row in lite]
        assert mg.arrays[ours].tolist() == want, theirs
    # the pre-dTAO notion of stake per coldkey is kept in the raw result
    assert [r["stake"] for r in mg.api_results["NeuronInfoRuntimeApi_get_neurons_lite"]] == [
        r["stake"] for r in lite
    ]


@pytest.mark.parametrize("spec", sorted(CASES))
def test_every_uid_every_subnet_state_field(spec: int) -> None:
    mg, decoded, _ = _snapshot(spec)
    state = decoded["SubnetInfoRuntimeApi_get_subnet_state"]["decoded"]
    for theirs, ours in STATE_FIELDS.items():
        assert mg.arrays[ours].tolist() == state[theirs], theirs
    assert mg.arrays["stake"].tolist() == state["total_stake"]
    assert mg.arrays["stake"].dtype == np.uint64


@pytest.mark.parametrize("spec", sorted(CASES))
def test_whole_runtime_api_results_equal_the_independent_decoder(spec: int) -> None:
    mg, decoded, _ = _snapshot(spec)
    for call, entry in decoded.items():
        assert mg.api_results[call] == entry["decoded"], call


@pytest.mark.parametrize("spec", sorted(CASES))
def test_subnet_scalars_from_the_mechagraph(spec: int) -> None:
    mg, decoded, _ = _snapshot(spec)
    graph = decoded["SubnetInfoRuntimeApi_get_selective_mechagraph"]["decoded"]
    for k in ("tempo", "last_step", "kappa", "rho", "activity_cutoff", "max_validators", "bonds_moving_avg"):
        assert mg.subnet[k] == graph[k], k
    assert mg.subnet["mechanism_count"] == 1  # recorded as absent: the default


def test_unknown_netuid_in_a_replay_is_reported_not_invented() -> None:
    path, rec, block, _ = CASES[343]
    chain = Chain(path, recording=rec)
    with pytest.raises(errors.MissingRecordingEntry, match="get_neurons_lite"):
        snapshot_metagraph(chain, 77, block)

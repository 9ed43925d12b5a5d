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

# Expected values written down from the independent decoder's output (bt_decode, PROVENANCE.md),
# not from our field map: per field, sum over UIDs of (uid + 1) · value, which depends on every
# UID's value and its position, so a field read from the wrong runtime-API member or shifted by a
# UID fails. Spec 320's fields all differ, so a swap of two fields fails there too.
FINGERPRINTS = {
    343: {
        "rank": 25951860, "trust": 25951860, "consensus": 25951860, "incentive": 25951860,
        "dividends": 36208565, "validator_trust": 347859780, "pruning_score": 62163717,
        "emission": 38891031540910, "last_update": 1410535606250, "active": 5308,
        "validator_permit": 6201, "block_at_registration": 3440356057985,
        "alpha_stake": 433424083935411277, "tao_stake": 2872008411356733654,
        "total_stake": 950385597792384564,
    },
    320: {
        "rank": 33218050, "trust": 33325632772, "consensus": 33072389, "incentive": 33097906,
        "dividends": 54578146, "validator_trust": 257539233, "pruning_score": 261729926,
        "emission": 55005283443432, "last_update": 1402169515258, "active": 5955,
        "validator_permit": 4348, "block_at_registration": 3395741840588,
        "alpha_stake": 603534031220955452, "tao_stake": 4262459781203925263,
        "total_stake": 1370776791559777092,
    },
}  # fmt: skip
KEYS = {
    343: {0: ("5DkMmXtWf16RNdusZGCrJ7ca7ADPgRnZLVWCWbgA7s7sy1AQ", "5EhQWxcFdYAk7B9tNdQnJQFzww5N3964rbsMk55SujcX3PwM"),
          511: ("5H6ekHEfBuSkVHYcPa6gzGvec2vmTffAqZfAXnrP6D5WSJcx", "5CiWXet9yiaQg8GZJW2cb7bF9DBdcLLubuy1RX2m1kGvqLxS"),
          1023: ("5Hmr8zrn8w81rzRMznjwYgZ3VqhS2ufUpK8wEpVpexNrdMNX", "5CG8japqJjp6ikuXgFnTENTbVmycxqXE6m5bZUgBakygRF39")},
    320: {0: ("5F54HHe49L9UAL8ysPYVnU8jLrWCM6QQgKum5KoWXYouVvDT", "5FbWR9zv9vpszGfgJ8ZsQk78nP6aQ2iHFcxDCyJDGfJnXoXi"),
          511: ("5E75UsyZLPXUJwuuErG261xfE8z2GZpTmYgBqdHZAbFkyndW", "5CiWXet9yiaQg8GZJW2cb7bF9DBdcLLubuy1RX2m1kGvqLxS"),
          1023: ("5HbKdLg7K7jk9vA52gFJLEKmB5GHqidn5LoQPFakTRbKYiUn", "5FbWR9zv9vpszGfgJ8ZsQk78nP6aQ2iHFcxDCyJDGfJnXoXi")},
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
def test_every_per_uid_field_matches_the_independent_decoder(spec: int) -> None:
    mg, _, _ = _snapshot(spec)
    got = {f: sum((uid + 1) * int(v) for uid, v in enumerate(mg.arrays[f].tolist())) for f in FINGERPRINTS[spec]}
    assert got == FINGERPRINTS[spec]
    for uid, (hotkey, coldkey) in KEYS[spec].items():
        assert (mg.arrays["hotkey"][uid], mg.arrays["coldkey"][uid]) == (hotkey, coldkey)
    assert mg.arrays["stake"].tolist() == mg.arrays["total_stake"].tolist()
    assert mg.arrays["stake"].dtype == np.uint64


def test_spec343_neurons_as_provenance_describes_them() -> None:
    """PROVENANCE.md: 12 validator permits, 10 validators with dividends, 1 miner with incentive."""
    mg, _, _ = _snapshot(343)
    a = mg.arrays
    assert np.flatnonzero(a["validator_permit"]).tolist() == [24, 245, 276, 395, 447, 496, 502, 518, 630, 697, 966, 993]
    assert {int(u): int(a["dividends"][u]) for u in np.flatnonzero(a["dividends"])} == {
        24: 2244, 245: 1223, 276: 6616, 447: 2620, 502: 13413, 518: 5236, 630: 24926, 697: 5048, 966: 1800, 993: 2403,
    }
    assert np.flatnonzero(a["incentive"]).tolist() == [395] and int(a["incentive"][395]) == 65535
    assert int(a["emission"][395]) == 41_000_228_794 and int(a["emission"].sum()) == 82_000_457_507
    assert int(a["active"].sum()) == 10


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

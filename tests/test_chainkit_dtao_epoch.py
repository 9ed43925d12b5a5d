"""dTAO epoch snapshots from storage encoded with real runtime metadata (specs 320, 343, 393).

No recorded dTAO chain has weights, so each test encodes a small subnet state with the runtime's
own types (keys hashed with the metadata's hashers, values SCALE-encoded by scalecodec from the
metadata's type registry, events included), serves it to the real :class:`chainkit.client.Block`
through an in-memory JSON-RPC stand-in, and checks that :func:`chainkit.epoch.snapshot_epoch`
returns exactly the inputs that state means — expectations computed here independently
(inheritance and TaoWeight with Fractions, commit blocks by hand) — and the outputs it holds.
"""

from __future__ import annotations

import hashlib
from fractions import Fraction
from math import floor
from pathlib import Path
from typing import Any

import pytest

from taoaudit.chainkit import errors
from taoaudit.chainkit.client import Block, BlockRef, Chain
from taoaudit.chainkit.epoch import InexactEpoch, snapshot_epoch
from taoaudit.chainkit.layout import PALLET, era_for_spec
from taoaudit.chainkit.metadata import load_metadata_file
from taoaudit.consensus.eras.mainline import MainlineRules, epoch_mainline, total_stake
from taoaudit.consensus.model import SparseRows

CHAIN_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "chain-data"
META = {
    320: CHAIN_DATA / "bittensor-ws-history" / "metadata_v15_spec320_option.hex",
    343: CHAIN_DATA / "bittensor-ws" / "metadata_v15_spec343_option.hex",
    393: CHAIN_DATA / "asi-ws-spec393" / "metadata_v15_spec393_option.hex",
}
pytestmark = pytest.mark.ground_truth("chain-data")
U64 = (1 << 64) - 1


def account(seed: str) -> str:
    """A deterministic AccountId32 as SS58 (prefix 42)."""
    from scalecodec.utils.ss58 import ss58_encode

    return ss58_encode(hashlib.blake2b(seed.encode(), digest_size=32).digest(), 42)


class FakeChain:
    """Answers the JSON-RPC calls a :class:`Block` makes from per-block ``{key: bytes}`` maps."""

    endpoint = "in-memory"

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.states: dict[int, dict[str, bytes]] = {}

    @staticmethod
    def hash_of(n: int) -> str:
        return "0x" + hashlib.blake2b(str(n).encode(), digest_size=32).hexdigest()

    def number_of(self, block_hash: str) -> int:
        return next(n for n in self.states if self.hash_of(n) == block_hash)

    def at(self, n: int) -> Block:
        return Block(self, BlockRef(n, self.hash_of(n), self.hash_of(n - 1)), self.runtime)  # type: ignore[arg-type]

    def put(self, n: int, item: str, keys: tuple, value: Any, pallet: str = PALLET) -> None:
        blk = self.at(n)
        self.states.setdefault(n, {})
        self.states[n][blk.storage_key(pallet, item, *keys)] = self.runtime.encode(blk.value_type(pallet, item), value)

    def rpc(self, method: str, params: list) -> Any:
        if method == "state_queryStorageAt":
            keys, h = params
            state = self.states[self.number_of(h)]
            return [{"block": h, "changes": [[k, "0x" + state[k].hex() if k in state else None] for k in keys]}]
        if method == "state_getKeysPaged":
            prefix, count, start, h = params
            keys = sorted(k for k in self.states[self.number_of(h)] if k.startswith(prefix) and (start is None or k > start))
            return keys[:count]
        raise AssertionError(f"unexpected RPC {method}")


# -- independent expectations ------------------------------------------------------------------
def frac_inherited(h: str, amount: dict[str, int], children: list, parents: list) -> int:
    """yuma-spec §5 on rationals: U96F32 truncates every product and quotient to 2^-32."""
    q = Fraction(1, 1 << 32)

    def fix(x: Fraction) -> Fraction:
        return floor(x / q) * q

    def norm(p: int) -> Fraction:
        return fix(Fraction(p, U64))

    initial = Fraction(amount[h])
    to_children = sum((fix(initial * norm(p)) for p, _ in children), Fraction(0))
    from_parents = sum((fix(amount[par] * norm(p)) for p, par in parents), Fraction(0))
    return floor(max(initial - to_children, Fraction(0)) + from_parents)


def frac_total_stake(alpha: int, tao: int, tao_weight: int) -> int:
    """alpha + tao · (TaoWeight / u64::MAX), the weight truncated to 32 fraction bits, as I64F64."""
    w = Fraction(floor(Fraction(tao_weight, U64) * (1 << 32)), 1 << 32)
    return floor((alpha + tao * w) * (1 << 64))


# -- the synthetic subnet ----------------------------------------------------------------------
NETUID, TEMPO = 5, 99
E = 10_093  # (E + netuid + 1) % (tempo + 1) == tempo: an epoch block of netuid 5 before 423
H = [account(f"hotkey-{i}") for i in range(6)]
PARENT, STRANGER = account("parent"), account("stranger")
TAO_WEIGHT = int(Fraction(18, 100) * U64)
W_BEFORE = {0: [(3, 100), (1, 0), (2, 65535)], 1: [(0, 65535), (3, 12)], 2: [(0, 1)], 5: [(5, 7), (0, 9)]}
W_AT_E = {0: [(1, 1)], 2: [(3, 65535), (1, 20)]}  # uid 0: extrinsic of E; uid 2: revealed in E
BONDS = {0: [(3, 65535), (1, 1000)], 1: [], 5: [(0, 300)]}
ALPHA = {H[0]: 5_000_000_000, H[1]: 2_000_000_000, H[2]: 7_777_777_777, H[3]: 10, H[5]: 123_456_789, PARENT: 9_000_000_000}
ROOT = {H[0]: 1_000_000_000_000, H[1]: 0, H[2]: 3, H[3]: 40_000_000, H[5]: 0, PARENT: 555_555_555_555}
CHILDREN = {H[0]: [(U64 // 4, H[3])], H[2]: [(U64, H[3]), (7, STRANGER)]}
PARENTS = {H[3]: [(U64 // 4, H[0]), (U64, H[2])], H[1]: [(U64 // 3, PARENT)]}
OUT = {
    "Active": [True, True, False, True, False, True], "ValidatorPermit": [True, False, True, True, False, True],
    "Rank": [1, 2, 3, 4, 5, 6], "Trust": [6, 5, 4, 3, 2, 1], "Consensus": [0, 9, 8, 7, 0, 1],
    "Dividends": [65535, 0, 0, 0, 0, 0], "PruningScores": [3, 3, 3, 3, 0, 3], "ValidatorTrust": [1, 0, 2, 0, 0, 9],
    "Emission": [10**12, 5, 0, 7, 0, 1], "StakeWeight": [40000, 0, 25535, 0, 0, 0],
}  # fmt: skip


def build(spec: int, *, cr_enabled: bool | None = None, mechanisms: int | None = None,
          events: list | None = None, step_block_at_e: int = E) -> FakeChain:
    rt = load_metadata_file(META[spec])
    era = era_for_spec(spec, rt)
    idx = era.storage_index(NETUID)
    c = FakeChain(rt)
    before, after = E - 1, E
    for n in (before, after):
        c.states[n] = {}
        c.put(n, "NetworksAdded", (NETUID,), True)
        c.put(n, "SubnetworkN", (NETUID,), 6)
        for uid, h in enumerate(H):
            if uid != 4:  # uid 4: no Keys entry (its stake and registration block read as 0)
                c.put(n, "Keys", (NETUID, uid), h)
                c.put(n, "BlockAtRegistration", (NETUID, uid), 9_000 + 11 * uid)
        c.put(n, "BlockAtRegistration", (NETUID, 4), 12_345)  # stale: must not be read as such
        if mechanisms is not None:
            c.put(n, "MechanismCountCurrent", (NETUID,), mechanisms)
    c.put(before, "Tempo", (NETUID,), TEMPO)
    c.put(before, "BondsPenalty", (NETUID,), 40_000)
    c.put(before, "Yuma3On", (NETUID,), True)
    c.put(before, "LiquidAlphaOn", (NETUID,), True)
    c.put(before, "AlphaValues", (NETUID,), (1_000, 60_000))
    c.put(before, "AlphaSigmoidSteepness", (NETUID,), -300)
    c.put(before, "MaxAllowedValidators", (NETUID,), 4)
    c.put(before, "ActivityCutoff", (NETUID,), 4_321)
    if cr_enabled is not None:
        c.put(before, "CommitRevealWeightsEnabled", (NETUID,), cr_enabled)
    c.put(before, "StakeThreshold", (), 1_000)
    c.put(before, "TaoWeight", (), TAO_WEIGHT)
    c.put(before, "LastMechansimStepBlock", (NETUID,), E - 100)
    c.put(after, "LastMechansimStepBlock", (NETUID,), step_block_at_e)
    c.put(before, "SubnetOwnerHotkey", (NETUID,), H[5])
    c.put(before, "Uids", (NETUID, H[5]), 5)
    for item, v in zip(era.emission_items, (1_000, 800, 50)):
        c.put(before, item, (NETUID,), v)
    c.put(before, "LastUpdate", (idx,), [E - 5, E - 7, 9_000, 0, 3, E - 1, 77, 88])  # longer than n
    c.put(before, "ValidatorPermit", (NETUID,), [True, True, False, True, True])  # shorter than n
    for uid, row in W_BEFORE.items():
        c.put(before, "Weights", (idx, uid), row)
    for uid, row in BONDS.items():
        c.put(before, "Bonds", (idx, uid), row)
    for uid, row in W_AT_E.items():
        c.put(after, "Weights", (idx, uid), row)
    for h in ALPHA:
        c.put(before, "TotalHotkeyAlpha", (h, NETUID), ALPHA[h])
        c.put(before, "TotalHotkeyAlpha", (h, 0), ROOT[h])
    c.put(before, "TotalHotkeyAlpha", (H[4], NETUID), 999_999)  # UID 4 is not registered
    for h, rel in CHILDREN.items():
        c.put(before, "ChildKeys", (h, NETUID), rel)
    for h, rel in PARENTS.items():
        c.put(before, "ParentKeys", (h, NETUID), rel)
    # commit-reveal: epoch(b) = (b + 6) // 100; at E the epoch is 100; cb < 9894 is expired
    z = "0x" + "11" * 32
    c.put(before, "WeightCommits", (idx, H[1]), [(z, 9_000, 0, 0), (z, 9_950, 0, 0), (z, 9_960, 0, 0)])
    c.put(before, "WeightCommits", (idx, H[3]), [(z, 10_000, 0, 0)])
    c.put(before, "WeightCommits", (idx, STRANGER), [(z, 9_990, 0, 0)])
    tl = era.timelocked_item
    c.put(after, tl, (idx, 100), [(H[0], 10_050, [[1, 2]], 7), (STRANGER, 9_999, [[]], 7), (H[0], 9_990, [[]], 8)])
    c.put(after, tl, (idx, 101), [(H[3], E, [[3]], 9), (H[5], E, [[]], 9)])  # committed in block E itself: not seen
    c.put(after, tl, (idx, 97), [(H[2], 9_800, [[]], 1)])  # expired
    c.put(before, tl, (idx, 99), [(H[5], 9_999, [[]], 1)])  # taken by E's reveal: not seen
    if events is None:
        events = [
            ("Initialization", "WeightsSet", (idx, 2)),
            ("Initialization", "WeightsSet", (idx + 1, 0)),  # another subnet
            ("ApplyExtrinsic", "WeightsSet", (idx, 0)),
        ]
    c.put(after, "Events", (), [
        {"phase": ph if ph != "ApplyExtrinsic" else {"ApplyExtrinsic": 1},
         "event": {"SubtensorModule": {name: args}}, "topics": []}
        for ph, name, args in events
    ], pallet="System")  # fmt: skip
    for item in era.outputs:
        c.put(after, item, (NETUID,), OUT[item])
    c.put(after, "Incentive", (idx,), [7, 0, 0, 65535, 0, 1])
    c.put(after, "Bonds", (idx, 0), [(3, 65535)])
    c.put(after, "Bonds", (idx, 2), [])
    return c


def expected_stakes() -> tuple[list[int], list[int]]:
    alpha, tao = [], []
    for uid, h in enumerate(H):
        if uid == 4:
            alpha.append(0)
            tao.append(0)
            continue
        ch, pa = CHILDREN.get(h, []), PARENTS.get(h, [])
        alpha.append(frac_inherited(h, ALPHA, ch, pa))
        tao.append(frac_inherited(h, ROOT, ch, pa))
    return alpha, tao


@pytest.mark.parametrize("spec", [320, 343, 393])
def test_dtao_snapshot_returns_the_encoded_epoch(spec: int) -> None:
    chain = build(spec)
    era = era_for_spec(spec)
    inputs, outputs = snapshot_epoch(chain, NETUID, E, rao_emission=1_850 + 123)  # type: ignore[arg-type]

    assert inputs.n == 6 and inputs.current_block == E and inputs.netuid == NETUID
    assert inputs.rao_emission == 1_973
    hp = inputs.hyperparameters
    assert (hp.tempo, hp.kappa, hp.bonds_penalty, hp.bonds_moving_average) == (TEMPO, 32_767, 40_000, 900_000)
    assert hp.yuma3 is True and hp.liquid_alpha is True and hp.commit_reveal_enabled is True  # CR: storage default
    assert (hp.alpha_low, hp.alpha_high, hp.alpha_sigmoid_steepness) == (1_000, 60_000, -300)
    assert (hp.max_allowed_validators, hp.stake_threshold, hp.tao_weight) == (4, 1_000, TAO_WEIGHT)
    assert hp.activity_cutoff == 4_321 and hp.owner_uid == 5
    assert hp.last_mechanism_step_block == E  # written by the drain before the epoch (< 423)

    assert inputs.hotkeys == tuple(h if u != 4 else "" for u, h in enumerate(H))
    assert inputs.block_at_registration.tolist() == [9_000, 9_011, 9_022, 9_033, 0, 9_055]
    # LastUpdate as stored (longer than n): commit-reveal is on, so the reveal did not move it
    assert inputs.last_update.tolist() == [E - 5, E - 7, 9_000, 0, 3, E - 1, 77, 88]
    assert inputs.validator_permit.tolist() == [True, True, False, True, True]

    alpha, tao = expected_stakes()
    assert inputs.stake_alpha.tolist() == alpha and inputs.stake_tao.tolist() == tao
    assert alpha[3] > ALPHA[H[3]] and alpha[1] > ALPHA[H[1]] and alpha[0] < ALPHA[H[0]]  # inheritance moved stake
    assert [total_stake(inputs)[u] for u in range(6)] == [frac_total_stake(a, t, TAO_WEIGHT) for a, t in zip(alpha, tao)]

    # weights: E−1 rows in storage order, except uid 2 whose reveal in E's on_initialize is read at E
    want_w = [W_BEFORE.get(0), W_BEFORE.get(1), W_AT_E[2], None, None, W_BEFORE.get(5)]
    assert inputs.weights == SparseRows.from_rows(want_w)
    assert inputs.bonds == SparseRows.from_rows([BONDS.get(u) for u in range(6)])
    # first unexpired v2 commit; timelocked min without E's own commits, strangers or expired
    m = U64
    assert inputs.commit_blocks is not None
    assert inputs.commit_blocks.tolist() == [9_990, 9_950, m, 10_000, m, m]

    # outputs map back, field by field, per era
    for name, field in (("Active", "active"), ("ValidatorPermit", "validator_permit"), ("Consensus", "consensus"),
                        ("Dividends", "dividends"), ("ValidatorTrust", "validator_trust"), ("Emission", "emission")):
        assert getattr(outputs, field).tolist() == OUT[name], name
    assert outputs.incentive.tolist() == [7, 0, 0, 65535, 0, 1]
    assert outputs.bonds.to_mapping() == {"0": [[3, 65535]], "2": []}
    assert (outputs.stake_weight is None) == (spec == 320)  # 320–322 do not write StakeWeight
    assert (outputs.rank is None) == (spec >= 365)
    if spec < 365:
        assert outputs.rank.tolist() == OUT["Rank"] and outputs.pruning_scores.tolist() == OUT["PruningScores"]

    # and the snapshot is a valid input to the era's epoch
    epoch_mainline(inputs, MainlineRules.for_spec(spec))
    assert era.epoch_snapshot


def test_reveal_without_commit_reveal_moves_last_update_padded() -> None:
    chain = build(393, cr_enabled=False)
    inputs, _ = snapshot_epoch(chain, NETUID, E, rao_emission=5_000)  # type: ignore[arg-type]
    assert inputs.hyperparameters.commit_reveal_enabled is False and inputs.commit_blocks is None
    assert inputs.last_update.tolist() == [E - 5, E - 7, E, 0, 3, E - 1, 77, 88]


def test_inexact_or_invalid_epochs_are_refused_in_one_line() -> None:
    def refused(chain: FakeChain, match: str, exc: type = InexactEpoch, **kw: Any) -> None:
        with pytest.raises(exc, match=match) as e:
            snapshot_epoch(chain, NETUID, E, **({"rao_emission": 2_000} | kw))  # type: ignore[arg-type]
        assert "\n" not in str(e.value) and isinstance(e.value, errors.ChainError)

    refused(build(343), "rao_emission", rao_emission=None)
    refused(build(343), "below the PendingServerEmission", errors.ChainError, rao_emission=1_849)
    refused(build(343, mechanisms=2), "2 mechanisms")
    # before 334 a lower netuid's epoch in the same block moves root stake first
    c320, c343 = build(320), build(343)
    for c in (c320, c343):
        c.put(E, "LastMechansimStepBlock", (3,), E)
        c.put(E, "LastMechansimStepBlock", (9,), E)
    refused(c320, r"subnets \[3\] ran their epochs earlier")
    snapshot_epoch(c343, NETUID, E, rao_emission=2_000)  # type: ignore[arg-type]
    refused(build(343, step_block_at_e=E - 100), "no epoch of netuid 5 ran", errors.ChainError)
    refused(build(343, events=[("Initialization", "WeightsSet", (NETUID, 2)), ("ApplyExtrinsic", "WeightsSet", (NETUID, 2))]),
            r"UIDs \[2\] had weights revealed")
    refused(build(343, events=[("ApplyExtrinsic", "NeuronRegistered", (NETUID, 3, H[3]))]), "UID 3 was")
    with pytest.raises(errors.UnknownNetuid):
        snapshot_epoch(build(343), 6, E, rao_emission=1)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "path, recording, block",
    [
        ("bittensor-ws-history/ws_metagraph_sn1_b6530367_spec320.json", "metagraph", 6_530_297),
        ("bittensor-ws/ws_responses.json", "metagraph", 6_852_690),
        ("asi-ws-spec393/ws_responses.json", "test_same_events", 7_959_608),
    ],
)
def test_finney_recordings_fail_with_a_one_line_error(path: str, recording: str, block: int) -> None:
    # The recordings hold no Weights/Bonds/stake maps: a clear missing-recording error.
    chain = Chain(CHAIN_DATA / path, recording=recording)
    with pytest.raises(errors.ChainError) as e:
        snapshot_epoch(chain, 1, block, rao_emission=10**9)
    msg = str(e.value)
    assert "\n" not in msg and ("not recorded" in msg or "cannot be read exactly" in msg), msg

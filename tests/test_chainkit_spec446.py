"""Specs 446–459 through the whole chain path, with metadata that declares their new types.

No recording of a ≥ 426 chain exists here. The closest honest test: the real spec-393 finney
metadata, rewritten with scalecodec's own metadata codec to declare what the newer runtimes
declare (``tests/metadata_426.py``: ``NetUid``/``NetUidStorageIndex`` composite keys,
``Vec<PerU16>`` outputs, ``LiquidAlphaConsensusMode`` with storage default ``Auto``, the spec
number). A synthetic Yuma3 subnet with liquid alpha on, ``BondsPenalty`` 65535 and a stored
previous ``Consensus`` is encoded with those types (keys hashed with the metadata's hashers,
values SCALE-encoded from its registry) and served to the real :class:`chainkit.client.Block`.

The outputs stored at E are computed here from inputs written down independently of chainkit
(the reference epoch of the era table's spec-446 rules); ``verify`` then has to read every input
back exactly — including the consensus mode's default and the stored Consensus — to find 0
mismatches.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from taoaudit.chainkit import audit, errors
from taoaudit.chainkit.client import Block, BlockRef
from taoaudit.chainkit.epoch import _consensus_mode, snapshot_epoch
from taoaudit.chainkit.layout import PALLET, era_for_spec
from taoaudit.consensus.model import EpochInputs, Hyperparameters, SparseRows
from taoaudit.consensus.registry import run_epoch

from . import metadata_426
from .test_chainkit_dtao_epoch import FakeChain, account

pytestmark = [
    pytest.mark.ground_truth("chain-data"),
]

NETUID, E, N = 3, 50_000, 6
H = [account(f"spec446-hotkey-{i}") for i in range(N)]
TAO_WEIGHT = 3_000_000_000_000_000_000  # ~0.163 of u64::MAX
ALPHA = [9_000_000_000, 4_000_000_000, 2_500_000_000, 700_000_000, 5_000_000, 0]
ROOT = [100_000_000_000, 0, 30_000_000_000, 0, 0, 0]
PERMIT = [True, True, True, False, False, False]  # stored (old) permits
LAST_UPDATE = [E - 10, E - 20, E - 30, E - 5, E - 7, E - 900]
REGISTERED = [1_000, 1_100, 1_200, 49_000, 2_000, 3_000]
WEIGHTS = {
    0: [(3, 65535), (4, 30000), (5, 1000)],
    1: [(3, 20000), (4, 65535)],
    2: [(3, 65535), (4, 65535), (5, 40000)],
}
BONDS = {0: [(3, 40000), (4, 65535)], 1: [(4, 10000)], 2: [(3, 65535), (5, 2000)]}
CONSENSUS_PREV = [0, 0, 0, 52_000, 9_000]  # shorter than n: UID 5 registered since
PENDING = (600_000_000, 350_000_000, 40_000_000)  # server, validator, root alpha divs at E−1
RAO_EMISSION = 990_000_000 + 4_321_987  # pending plus block E's own accrual (not stored)
HP = dict(tempo=99, kappa=32_767, bonds_moving_average=975_000, max_allowed_validators=3, bonds_penalty=65_535,
          yuma3=True, liquid_alpha=True, alpha_low=7_000, alpha_high=60_000, alpha_sigmoid_steepness=1_000,
          activity_cutoff_factor_milli=20_000, commit_reveal_enabled=False)  # fmt: skip
STEP_BEFORE = E - 100  # LastMechansimStepBlock at E−1 (written after the previous epoch)


class Chain446(FakeChain):
    """The in-memory JSON-RPC stand-in, plus the single-key read and the subnet listing."""

    transport = None  # nothing to save after a CLI run

    def at(self, n: int) -> Block:  # type: ignore[override]
        return Block(self, BlockRef(n, self.hash_of(n), self.hash_of(n - 1)), self.runtime)  # type: ignore[arg-type]

    def rpc(self, method: str, params: list) -> Any:
        if method == "state_getStorageAt":
            key, h = params
            raw = self.states[self.number_of(h)].get(key)
            return None if raw is None else "0x" + raw.hex()
        return super().rpc(method, params)


def expected_inputs(consensus_prev: list[int] | None = CONSENSUS_PREV, mode: str = "auto", penalty: int = 65_535) -> EpochInputs:
    """The epoch's inputs, written down from the values above (not read through chainkit)."""
    hp = Hyperparameters(**(HP | {"bonds_penalty": penalty}), stake_threshold=0, tao_weight=TAO_WEIGHT,
                         owner_uid=None, last_mechanism_step_block=STEP_BEFORE, liquid_alpha_consensus_mode=mode)  # fmt: skip
    return EpochInputs(
        n=N, current_block=E, rao_emission=RAO_EMISSION, hyperparameters=hp,
        last_update=np.asarray(LAST_UPDATE, dtype=np.uint64),
        block_at_registration=np.asarray(REGISTERED, dtype=np.uint64),
        validator_permit=np.asarray(PERMIT, dtype=bool),
        stake_alpha=np.asarray(ALPHA, dtype=np.uint64), stake_tao=np.asarray(ROOT, dtype=np.uint64),
        weights=SparseRows.from_rows([WEIGHTS.get(u) for u in range(N)]),
        bonds=SparseRows.from_rows([BONDS.get(u) for u in range(N)]),
        netuid=NETUID, hotkeys=tuple(H),
        consensus_prev=None if consensus_prev is None else np.asarray(consensus_prev, dtype=np.uint16),
    )  # fmt: skip


def build(spec: int, *, store_consensus: bool = True, outputs_of: int = 446, by_mechanism: bool = False,
          mode: str | None = None, penalty: int = 65_535) -> Chain446:
    """The subnet at E−1 and E in a runtime of ``spec`` whose E outputs are what the
    spec-``outputs_of`` epoch wrote."""
    chain = Chain446(metadata_426.runtime(spec, consensus_by_mechanism=by_mechanism))
    idx = NETUID  # mechanism 0
    before, after = E - 1, E
    for n in (before, after):
        chain.states[n] = {}
        chain.put(n, "NetworksAdded", (NETUID,), True)
        chain.put(n, "NetworksAdded", (0,), True)
        chain.put(n, "SubnetworkN", (NETUID,), N)
        for uid, h in enumerate(H):
            chain.put(n, "Keys", (NETUID, uid), h)
            chain.put(n, "Uids", (NETUID, h), uid)
            chain.put(n, "BlockAtRegistration", (NETUID, uid), REGISTERED[uid])
    hp_items = {"Tempo": "tempo", "Kappa": "kappa", "BondsMovingAverage": "bonds_moving_average",
                "MaxAllowedValidators": "max_allowed_validators", "BondsPenalty": "bonds_penalty",
                "Yuma3On": "yuma3", "LiquidAlphaOn": "liquid_alpha", "AlphaSigmoidSteepness": "alpha_sigmoid_steepness",
                "ActivityCutoffFactorMilli": "activity_cutoff_factor_milli",
                "CommitRevealWeightsEnabled": "commit_reveal_enabled"}  # fmt: skip
    for item, f in hp_items.items():
        chain.put(before, item, (NETUID,), (HP | {"bonds_penalty": penalty})[f])
    # Unless a mode is given, LiquidAlphaConsensusMode is never set: the storage default (Auto) applies.
    if mode is not None:
        chain.put(before, "LiquidAlphaConsensusMode", (NETUID,), mode.capitalize())
    chain.put(before, "AlphaValues", (NETUID,), (HP["alpha_low"], HP["alpha_high"]))
    chain.put(before, "TaoWeight", (), TAO_WEIGHT)
    chain.put(before, "StakeThreshold", (), 0)
    chain.put(before, "LastMechansimStepBlock", (NETUID,), STEP_BEFORE)
    chain.put(after, "LastMechansimStepBlock", (NETUID,), E)
    for item, v in zip(("PendingServerEmission", "PendingValidatorEmission", "PendingRootAlphaDivs"), PENDING):
        chain.put(before, item, (NETUID,), v)
    chain.put(before, "LastUpdate", (idx,), LAST_UPDATE)
    chain.put(before, "ValidatorPermit", (NETUID,), PERMIT)
    for uid, row in WEIGHTS.items():
        chain.put(before, "Weights", (idx, uid), row)
        chain.put(after, "Weights", (idx, uid), row)
    for uid, row in BONDS.items():
        chain.put(before, "Bonds", (idx, uid), row)
        chain.put(after, "Bonds", (idx, uid), row)  # rows the epoch does not rewrite stay
    for uid, h in enumerate(H):
        chain.put(before, "TotalHotkeyAlpha", (h, NETUID), ALPHA[uid])
        chain.put(before, "TotalHotkeyAlpha", (h, 0), ROOT[uid])
    if store_consensus:
        chain.put(before, "Consensus", (NETUID,), CONSENSUS_PREV)
    # E: what the epoch wrote (the spec-`outputs_of` rules on the inputs above)
    out = run_epoch(expected_inputs(mode=mode or "auto", penalty=penalty), outputs_of)
    for item, v in (("Active", out.active), ("ValidatorPermit", out.validator_permit), ("Consensus", out.consensus),
                    ("Dividends", out.dividends), ("ValidatorTrust", out.validator_trust), ("Emission", out.emission),
                    ("StakeWeight", out.stake_weight)):  # fmt: skip
        chain.put(after, item, (NETUID,), [bool(x) if isinstance(x, np.bool_) else int(x) for x in v])
    chain.put(after, "Incentive", (idx,), [int(x) for x in out.incentive])
    for uid, row in out.bonds.to_mapping().items():
        chain.put(after, "Bonds", (idx, int(uid)), [(int(j), int(v)) for j, v in row])
    return chain


@pytest.fixture(scope="module")
def chain459() -> Chain446:
    return build(459)


def test_the_synthetic_metadata_declares_the_new_types_on_real_metadata() -> None:
    assert metadata_426.roundtrip_is_exact()  # scalecodec re-encodes the real blob byte for byte
    rt = metadata_426.runtime(459)
    assert rt.spec_version == 459
    entry = rt.storage_entry(PALLET, "Consensus")
    value_type = rt.runtime_config.get_decoder_class(entry.get_value_type_string()).scale_info_type.value
    inner = value_type["def"]["sequence"]["type"]
    per_u16 = rt.runtime_config.get_decoder_class(f"scale_info::{inner}").scale_info_type.value
    assert per_u16["path"][-1] == "PerU16" and "composite" in per_u16["def"]
    key = rt.runtime_config.get_decoder_class(entry.get_params_type_string()[0]).scale_info_type.value
    assert key["path"][-1] == "NetUid" and "composite" in key["def"]
    # absent: the storage default the metadata declares (Auto), as the library reads it
    default = Chain446(rt).at(E).decode_value(PALLET, "LiquidAlphaConsensusMode", None)
    assert _consensus_mode(default, NETUID, E) == "auto"


@pytest.mark.parametrize("spec", [446, 459])
def test_snapshot_reads_the_mode_default_and_the_stored_consensus(spec: int) -> None:
    chain = build(spec)
    inputs, outputs = snapshot_epoch(chain, NETUID, E, rao_emission=RAO_EMISSION)  # type: ignore[arg-type]
    want = expected_inputs()
    assert inputs.hyperparameters == want.hyperparameters
    assert inputs.hyperparameters.liquid_alpha_consensus_mode == "auto"  # storage default, from metadata
    assert inputs.consensus_prev is not None and inputs.consensus_prev.tolist() == CONSENSUS_PREV
    assert inputs.stake_alpha.tolist() == ALPHA and inputs.stake_tao.tolist() == ROOT
    assert inputs.weights == want.weights and inputs.bonds == want.bonds
    assert inputs.last_update.tolist() == LAST_UPDATE and inputs.validator_permit.tolist() == PERMIT
    # the Vec<PerU16> outputs decode to the u16 parts the epoch computed
    recomputed = run_epoch(want, spec)
    assert outputs.consensus.tolist() == recomputed.consensus.tolist()
    assert outputs.incentive.tolist() == recomputed.incentive.tolist()
    assert outputs.dividends.tolist() == recomputed.dividends.tolist()


@pytest.mark.parametrize("spec", [446, 459])
def test_verify_is_exact_and_the_stored_consensus_is_what_makes_it_so(spec: int) -> None:
    chain = build(spec)
    result = audit.verify(chain, NETUID, epoch=E)  # type: ignore[arg-type]
    assert result.spec_version == spec and result.fields_compared
    assert result.mismatches == [], result.mismatches
    assert result.rao_emission is not None and result.rao_emission["source"] == "inferred"

    # The same subnet recomputed while ignoring the stored Consensus differs from the chain:
    read = audit.read_epoch(chain, NETUID, epoch=E)  # type: ignore[arg-type]
    ignored, _ = audit.compare_epoch(
        read.inputs.with_changes(consensus_prev=np.zeros(0, dtype=np.uint16)), read.outputs, spec,
        infer_rao_from=read.rao_emission_floor,
    )
    assert ignored.mismatches, "the stored Consensus changed nothing: the test proves nothing"
    assert {m.field for m in ignored.mismatches} & {"Dividends", "Bonds", "Emission"}
    # … and so does a chain whose stored Consensus is missing (chainkit really reads it):
    missing = audit.verify(build(spec, store_consensus=False), NETUID, epoch=E)  # type: ignore[arg-type]
    assert missing.mismatches


def test_the_spec_445_rules_ignore_the_stored_consensus_and_disagree() -> None:
    # Era boundary 445 | 446 on the chain path: the same state under a spec-445 runtime is read
    # without the new inputs and recomputed with the spec-445 rules, which differ here.
    chain = build(445)
    inputs, _ = snapshot_epoch(chain, NETUID, E, rao_emission=RAO_EMISSION)  # type: ignore[arg-type]
    assert inputs.consensus_prev is None and not era_for_spec(445).reads_consensus_prev
    assert audit.verify(chain, NETUID, epoch=E).mismatches  # type: ignore[arg-type]


def test_a_chain_newer_than_the_table_is_refused_naming_the_newest() -> None:
    chain = build(460)
    with pytest.raises(errors.ChainError) as e:
        audit.verify(chain, NETUID, epoch=E)  # type: ignore[arg-type]
    msg = str(e.value)
    assert "460" in msg and "459" in msg and "\n" not in msg


def test_assume_era_latest_runs_a_newer_chain_and_every_result_says_so() -> None:
    chain = build(460)
    result = audit.verify(chain, NETUID, epoch=E, assume_era="latest")  # type: ignore[arg-type]
    label = "era assumed, not verified for spec 460"
    assert result.mismatches == [] and result.spec_version == 460
    assert result.era_note == label and result.to_json()["era_note"] == label
    assert audit.EpochAudit.from_json(result.to_json()).era_note == label
    outcome = audit.audit_epoch(chain, NETUID, E, assume_era="latest")  # type: ignore[arg-type]
    assert outcome.verdict == "exact" and outcome.to_json()["era_note"] == label
    # a known spec is never labelled, with or without the option
    assert audit.verify(build(459), NETUID, epoch=E, assume_era="latest").era_note is None  # type: ignore[arg-type]


def _cli(monkeypatch: pytest.MonkeyPatch, chain: Chain446, *args: str):
    from click.testing import CliRunner

    from taoaudit.cli import main as cli

    monkeypatch.setattr(cli.Settings, "chain", lambda self: chain)
    return CliRunner().invoke(cli.main, list(args))


def test_cli_verify_and_audit_refuse_460_and_label_it_with_assume_era(monkeypatch: pytest.MonkeyPatch) -> None:
    chain = build(460)
    label = "era assumed, not verified for spec 460"
    refused = _cli(monkeypatch, chain, "verify", "--netuid", str(NETUID), "--epoch", str(E))
    assert refused.exit_code == 2 and refused.stderr.startswith("error:") and "459" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    as_json = _cli(monkeypatch, chain, "verify", "--netuid", str(NETUID), "--epoch", str(E), "--assume-era", "latest",
                   "--json")  # fmt: skip
    assert as_json.exit_code == 0, as_json.stderr
    got = json.loads(as_json.stdout)
    assert got["era_note"] == label and got["spec_version"] == 460 and got["mismatches"] == []
    table = _cli(monkeypatch, chain, "verify", "--netuid", str(NETUID), "--epoch", str(E), "--assume-era", "latest")
    assert table.exit_code == 0 and label in " ".join(table.stdout.split())
    audited = _cli(monkeypatch, chain, "audit", "--netuids", str(NETUID), "--epochs", "1", "--to", str(E),
                   "--no-cache", "--assume-era", "latest", "--json")  # fmt: skip
    assert audited.exit_code == 0, audited.stderr
    epochs = json.loads(audited.stdout)["epochs"]
    assert [(e["verdict"], e["era_note"]) for e in epochs] == [("exact", label)]
    audited_table = _cli(monkeypatch, chain, "audit", "--netuids", str(NETUID), "--epochs", "1", "--to", str(E),
                         "--no-cache", "--assume-era", "latest")  # fmt: skip
    assert label in " ".join(audited_table.stdout.split())
    plain = _cli(monkeypatch, chain, "audit", "--netuids", str(NETUID), "--epochs", "1", "--to", str(E), "--no-cache",
                 "--json")  # fmt: skip
    (only,) = json.loads(plain.stdout)["epochs"]
    assert only["verdict"] == "refused" and "459" in only["reason"]


def test_metagraph_decodes_a_newer_spec_and_says_which() -> None:
    from taoaudit.chainkit.metagraph import snapshot_metagraph

    mg = snapshot_metagraph(build(460), NETUID, E, route="storage")  # type: ignore[arg-type]
    assert mg.spec_version == 460 and mg.n == N
    assert mg.arrays["hotkey"].tolist() == H
    out = run_epoch(expected_inputs(), 446)
    assert mg.arrays["consensus"].tolist() == out.consensus.tolist()  # Vec<PerU16> decoded to parts
    assert mg.arrays["incentive"].tolist() == out.incentive.tolist()


def test_refusals_of_the_446_chain_path_are_one_line_and_coded() -> None:
    def refused(chain: Chain446, code: str, match: str) -> None:
        outcome = audit.audit_epoch(chain, NETUID, E)  # type: ignore[arg-type]
        assert (outcome.verdict, outcome.reason_code) == ("refused", code), outcome
        assert match in outcome.reason and "\n" not in outcome.reason

    # A runtime that also stores a per-mechanism consensus: read only when both agree.
    agree = build(459, by_mechanism=True)
    agree.put(E - 1, "ConsensusByMechanism", (NETUID,), CONSENSUS_PREV)
    assert audit.verify(agree, NETUID, epoch=E).mismatches == []  # type: ignore[arg-type]
    differ = build(459, by_mechanism=True)
    differ.put(E - 1, "ConsensusByMechanism", (NETUID,), [1, 2, 3])
    refused(differ, "consensus_prev_ambiguous", "ConsensusByMechanism[3]")
    # Migrations of a runtime upgrade ran at the start of block E: E−1 is not what it read.
    migrated = build(459)
    migrated.put(E - 1, "LastRuntimeUpgrade", (), {"spec_version": 458, "spec_name": "node-subtensor"}, pallet="System")
    migrated.put(E, "LastRuntimeUpgrade", (), {"spec_version": 459, "spec_name": "node-subtensor"}, pallet="System")
    refused(migrated, "runtime_upgrade_in_block", "migrations")
    # The block that enacted the upgrade reports the new spec but ran the old code.
    enacted = build(459)
    old_runtime = metadata_426.runtime(446)
    enacted.at = lambda n: Block(enacted, BlockRef(n, enacted.hash_of(n), enacted.hash_of(n - 1)),  # type: ignore[method-assign]
                                 old_runtime if n < E else enacted.runtime)  # fmt: skip
    refused(enacted, "runtime_upgrade_in_block", "spec 446 before, 459 after")


@pytest.mark.parametrize("mode, penalty, stored_matters", [
    ("previous", 40_000, True), ("current", 65_535, False), ("auto", 40_000, False),
])  # fmt: skip
def test_a_stored_mode_is_read_and_decides_whether_the_stored_consensus_matters(
    mode: str, penalty: int, stored_matters: bool
) -> None:
    chain = build(459, mode=mode, penalty=penalty)
    inputs, _ = snapshot_epoch(chain, NETUID, E, rao_emission=RAO_EMISSION)  # type: ignore[arg-type]
    assert inputs.hyperparameters.liquid_alpha_consensus_mode == mode
    assert inputs.hyperparameters.bonds_penalty == penalty
    assert audit.verify(chain, NETUID, epoch=E).mismatches == []  # type: ignore[arg-type]
    without = audit.verify(build(459, mode=mode, penalty=penalty, store_consensus=False), NETUID, epoch=E)  # type: ignore[arg-type]
    assert bool(without.mismatches) == stored_matters

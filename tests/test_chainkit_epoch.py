"""Epoch snapshots: storage names → EpochInputs/EpochOutputs, the epoch gate, era layout."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pytest

from taoaudit.chainkit import errors
from taoaudit.chainkit.client import Chain
from taoaudit.chainkit.epoch import epoch_from_state, last_epoch_block_by_tempo, snapshot_epoch
from taoaudit.chainkit.layout import FIRST_SPEC, LAYOUTS, STORAGE_STEPS, era_for_spec, supported_ranges
from taoaudit.chainkit.metadata import load_metadata_file
from taoaudit.chainkit.codec import compact_bytes as compact
from taoaudit.consensus.cases import oracle103_inputs

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
CASES = sorted((SHARED / "oracle-103" / "cases").glob("case-*.json"))
CHAIN_DATA = SHARED / "chain-data"
needs_shared = pytest.mark.ground_truth("oracle-103")


def _enc_u64(v: list[int]) -> bytes:
    return compact(len(v)) + np.asarray(v, dtype="<u8").tobytes()


def _enc_u16(v: list[int]) -> bytes:
    return compact(len(v)) + np.asarray(v, dtype="<u2").tobytes()


def _enc_bool(v: list[bool]) -> bytes:
    return compact(len(v)) + bytes(int(bool(x)) for x in v)


def _enc_row(row: list[list[int]]) -> bytes:
    flat = [x for pair in row for x in pair]
    return compact(len(row)) + np.asarray(flat, dtype="<u2").tobytes()


class OracleState:
    """The state an oracle-103 case describes, served by storage name (as the runtime stored
    it). Anything not in the case raises: a snapshot must never read a default by accident."""

    def __init__(self, case: dict, when: str) -> None:
        self.case, self.when = case, when
        self.number = case["blocks"]["input_state_block" if when == "before" else "epoch_block"]
        self.inp, self.out = case["inputs"], case["outputs"]

    def values(self, requests: Sequence[tuple[str, tuple]]) -> list[Any]:
        assert self.when == "before"
        sub, hp, inp = self.inp["subnet"], self.case["hyperparameters"], self.inp
        out = []
        for item, keys in requests:
            if item in ("NetworksAdded", "SubnetworkN", "PendingEmission", "EmissionValues"):
                out.append(sub[item])
            elif item in hp:
                out.append(hp[item])
            elif item in ("Keys", "BlockAtRegistration"):
                out.append(inp[item][keys[1]])
            elif item == "TotalHotkeyStake":
                out.append(inp[item][inp["Uids"][keys[0]]])
            else:
                raise KeyError(item)
        return out

    def raw(self, requests: Sequence[tuple[str, tuple]]) -> list[bytes | None]:
        src = self.inp if self.when == "before" else self.out
        out: list[bytes | None] = []
        for item, keys in requests:
            if item in ("Weights", "Bonds"):
                row = src[item].get(str(keys[1]))
                out.append(None if row is None else _enc_row(row))
            elif item in ("LastUpdate", "Emission"):
                out.append(_enc_u64(src[item]))
            elif item in ("ValidatorPermit", "Active"):
                out.append(_enc_bool(src[item]))
            else:
                out.append(_enc_u16(src[item]))
        return out


@needs_shared
def test_spec103_epoch_from_storage_names_equals_the_oracle_reading() -> None:
    era = era_for_spec(103)
    assert era.name == "single-token" and era.epoch_snapshot
    for path in CASES:
        case = json.loads(path.read_text())
        E = case["blocks"]["epoch_block"]
        inputs, outputs = epoch_from_state(
            OracleState(case, "before"), OracleState(case, "after"), case["netuid"], E, era
        )
        want = oracle103_inputs(case)
        where = path.name
        assert inputs.n == want.n and inputs.current_block == E == want.current_block, where
        assert inputs.rao_emission == want.rao_emission == case["emission"], where
        assert inputs.hyperparameters == want.hyperparameters, where
        for f in ("last_update", "block_at_registration", "validator_permit", "stake_alpha", "stake_tao"):
            a, b = getattr(inputs, f), getattr(want, f)
            assert a.dtype == b.dtype and np.array_equal(a, b), (where, f)
        assert inputs.weights == want.weights and inputs.bonds == want.bonds, where
        assert inputs.hotkeys == want.hotkeys, where
        o = case["outputs"]
        for ours, theirs in (
            ("active", "Active"), ("validator_permit", "ValidatorPermit"), ("rank", "Rank"),
            ("trust", "Trust"), ("consensus", "Consensus"), ("incentive", "Incentive"),
            ("dividends", "Dividends"), ("pruning_scores", "PruningScores"),
            ("validator_trust", "ValidatorTrust"), ("emission", "Emission"),
        ):  # fmt: skip
            assert getattr(outputs, ours).tolist() == o[theirs], (where, ours)
        assert outputs.bonds.to_mapping() == {k: v for k, v in o["Bonds"].items() if int(k) < case["n"]}
        assert outputs.stake_weight is None


@needs_shared
def test_epoch_gate_formula_agrees_with_the_oracle_and_the_recordings() -> None:
    for path in CASES[:40]:
        case = json.loads(path.read_text())
        E, netuid, tempo = case["blocks"]["epoch_block"], case["netuid"], case["hyperparameters"]["Tempo"]
        assert last_epoch_block_by_tempo(E, netuid, tempo) == E
        assert last_epoch_block_by_tempo(E + tempo, netuid, tempo) == E
        assert last_epoch_block_by_tempo(E + tempo + 1, netuid, tempo) == E + tempo + 1
        assert last_epoch_block_by_tempo(E - 1, netuid, tempo) == E - tempo - 1
    # finney netuid 1, tempo 99: the recorded last_step of each metagraph recording
    assert last_epoch_block_by_tempo(6_852_690, 1, 99) == 6_852_597
    assert last_epoch_block_by_tempo(6_530_367, 1, 99) == 6_530_297
    with pytest.raises(errors.ChainError, match="never runs"):
        last_epoch_block_by_tempo(100, 1, 0)


def test_layouts_cover_exactly_the_era_tables_specs_and_name_their_records() -> None:
    # One era table: every layout row belongs to one record of consensus' table (or to one of
    # its refused ranges), and together the rows cover exactly the specs those records cover
    # from chainkit's oldest storage (100) to the newest known spec.
    from taoaudit.consensus.eras.table import ERAS as RULES, NEWEST_SPEC, REFUSED, UnsupportedSpecError, era_for

    assert LAYOUTS[0].spec_min == FIRST_SPEC and LAYOUTS[-1].spec_max == NEWEST_SPEC == 459
    for a, b in zip(LAYOUTS, LAYOUTS[1:]):
        assert a.spec_max + 1 == b.spec_min, (a, b)
    records = {e.name: range(e.first_spec, e.last_spec + 1) for e in RULES}
    for name, specs in records.items():
        assert [s for row in LAYOUTS if row.rules_era == name for s in range(row.spec_min, row.spec_max + 1)] == list(specs)
    for s in range(FIRST_SPEC, NEWEST_SPEC + 1):
        (row,) = [r for r in LAYOUTS if r.covers(s)]
        try:
            assert row.rules_era == era_for(s).name, s
        except UnsupportedSpecError:
            assert row.rules_era is None and any(r.covers(s) for r in REFUSED), s
        # the storage of a row is the newest step at or before it
        step = max((t for t in STORAGE_STEPS if t.first_spec <= s), key=lambda t: t.first_spec)
        assert (row.name, row.emission_items, row.outputs) == (step.name, step.emission_items, step.outputs), s
    with pytest.raises(errors.UnsupportedSpec) as e:
        era_for_spec(99)
    assert "100–459" in str(e.value) and supported_ranges() in str(e.value)
    assert supported_ranges(only_epoch_snapshots=True) == "100–232, 273–459"
    assert not any(e.epoch_snapshot for e in LAYOUTS if 233 <= e.spec_min <= 272)


def test_a_spec_newer_than_the_table_is_refused_naming_the_newest_unless_assumed() -> None:
    with pytest.raises(errors.UnsupportedSpec) as e:
        era_for_spec(460)
    msg = str(e.value)
    assert "460" in msg and "459 is the newest known" in msg and "assume-era latest" in msg and "\n" not in msg
    assert era_for_spec(460, assume_era="latest") == LAYOUTS[-1] == era_for_spec(459)
    assert era_for_spec(459, assume_era="latest") == era_for_spec(459)
    with pytest.raises(ValueError):
        era_for_spec(459, assume_era="newest")


def test_mechanism_index_from_spec_320() -> None:
    assert era_for_spec(319).storage_index(1) == 1
    assert era_for_spec(320).storage_index(1, 1) == 1 + 4096
    assert "StakeWeight" not in era_for_spec(322).outputs
    assert "StakeWeight" in era_for_spec(323).outputs
    assert "Rank" in era_for_spec(364).outputs and "Rank" not in era_for_spec(365).outputs
    assert era_for_spec(423).schedule == "stateful" and era_for_spec(422).schedule == "modulo"
    assert era_for_spec(103).emission_items == ("PendingEmission", "EmissionValues")
    # the amount drain_pending hands to the epoch, per era (run_coinbase.rs at 273/320/334/343)
    assert era_for_spec(273).emission_items == era_for_spec(333).emission_items == ("PendingEmission", "PendingAlphaSwapped")
    assert era_for_spec(334).emission_items == ("PendingEmission", "PendingRootAlphaDivs")
    assert era_for_spec(343).emission_items == ("PendingServerEmission", "PendingValidatorEmission", "PendingRootAlphaDivs")
    assert "StakeWeight" in era_for_spec(319).outputs  # written before 320 (docs/eras.md)
    assert era_for_spec(296).timelocked_item is None and era_for_spec(297).timelocked_item == "CRV3WeightCommitsV2"
    assert era_for_spec(306).timelocked_item == "TimelockedWeightCommits"
    assert era_for_spec(422).commit_expiry == "block" and era_for_spec(423).commit_expiry == "epoch_index"
    assert era_for_spec(422).step_block_before_epoch and not era_for_spec(423).step_block_before_epoch
    assert era_for_spec(333).root_stake_moves_in_drain and not era_for_spec(334).root_stake_moves_in_drain
    assert not era_for_spec(424).owner_change_in_drain and era_for_spec(425).owner_change_in_drain
    # 446: the liquid-alpha consensus mode and the stored Consensus become epoch inputs
    assert not era_for_spec(445).reads_consensus_prev and era_for_spec(446).reads_consensus_prev
    assert "liquid_alpha_consensus_mode" not in era_for_spec(445).hyperparameters
    assert era_for_spec(446).hyperparameters["liquid_alpha_consensus_mode"] == "LiquidAlphaConsensusMode"
    assert era_for_spec(459).owner_change_in_drain and era_for_spec(459).schedule == "stateful"


@pytest.mark.ground_truth("chain-data")
def test_layout_items_exist_in_the_recorded_runtimes() -> None:
    for rel in ("bittensor-ws-history/metadata_v15_spec320_option.hex", "bittensor-ws/metadata_v15_spec343_option.hex"):
        rt = load_metadata_file(CHAIN_DATA / rel)
        era = era_for_spec(rt.spec_version, rt)  # raises if an item is missing
        for item in era.emission_items + tuple(era.hyperparameters.values()) + era.extra_items:
            assert rt.has_storage("SubtensorModule", item), (rt.spec_version, item)
    # spec 224 (a testnet build) lacks TotalHotkeyStake: refused, not misread
    rt224 = load_metadata_file(CHAIN_DATA / "bittensor-ws-history/metadata_v14_spec224.hex")
    with pytest.raises(errors.UnsupportedSpec, match="TotalHotkeyStake"):
        era_for_spec(224, rt224)


@pytest.mark.ground_truth("chain-data")
def test_epoch_snapshot_of_a_dtao_era_without_rao_emission_is_refused_clearly() -> None:
    # The recording's runtime (spec 343) is a dTAO era: without the amount the drain handed
    # over (not in storage) the snapshot is refused before any storage read, in one line.
    chain = Chain(CHAIN_DATA / "bittensor-ws" / "ws_responses.json", recording="metagraph")
    with pytest.raises(errors.ChainError) as e:
        snapshot_epoch(chain, 1, 6_852_690)
    msg = str(e.value)
    assert "spec 343" in msg and "rao_emission" in msg and "\n" not in msg
    # spec 103 and 233–272 stay refused as before
    with pytest.raises(errors.UnsupportedSpec, match="100–232, 273–459"):
        epoch_from_state(None, None, 1, 10, era_for_spec(240))  # type: ignore[arg-type]

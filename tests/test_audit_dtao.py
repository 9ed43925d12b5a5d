"""dTAO audits on storage encoded with real spec-393 metadata: a subnet with two mechanisms and a
non-trivial emission split, and `snapshot save --epoch` → `verify --snapshot` of a dTAO epoch.

The chain stand-in is the one of tests/test_chainkit_dtao_epoch.py (real metadata, keys hashed
and values SCALE-encoded by the runtime's own types). The outputs stored at E are written from
inputs built here by hand, run through consensus (per mechanism, then aggregated), so the test
checks that chainkit reads every mechanism's inputs where the runtime keeps them and that the
audit compares every stored per-subnet and per-mechanism output.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from taoaudit.chainkit import audit as lib
from taoaudit.chainkit.epoch import snapshot_epoch
from taoaudit.chainkit.layout import PALLET, era_for_spec
from taoaudit.chainkit.snapshot import save_epoch
from taoaudit.consensus.mechanisms import epoch_with_mechanisms
from taoaudit.consensus.model import SparseRows

from .test_chainkit_dtao_epoch import E, NETUID, FakeChain, build

pytestmark = pytest.mark.ground_truth("chain-data")

SPEC = 393
SPLIT = [40_000, 25_535]  # u16 parts of 65535: mechanism 0 gets ~61 %, mechanism 1 ~39 %
RAO = 987_654_321  # what the drain handed the epoch (above the 1,850 pending at E−1)
W1 = {0: [(1, 30_000), (3, 65_535)], 1: [(0, 5), (2, 700)], 5: [(3, 9), (1, 65_535)]}
B1 = {0: [(3, 1_000)], 5: [(1, 65_535)]}
LU1 = [E - 3, E - 2, 9_500, 0, 3, E - 1]
SUBNET_ITEMS = {"Active": "active", "ValidatorPermit": "validator_permit", "Consensus": "consensus",
                "Dividends": "dividends", "ValidatorTrust": "validator_trust", "Emission": "emission",
                "StakeWeight": "stake_weight"}


def _chain(spec: int = SPEC, **kw: object) -> FakeChain:
    c = build(spec, **kw)  # type: ignore[arg-type]
    if not hasattr(c, "endpoint"):  # the client names its source in every error
        c.endpoint = "in-memory spec-393 state"  # type: ignore[attr-defined]
    return c


def _store_outputs(c: FakeChain, outputs: object, idx: int, items: dict[str, str], n: int) -> None:
    for item, field in items.items():
        c.put(E, item, (NETUID,) if item != "Incentive" else (idx,), [v if isinstance(v, bool) else int(v) for v in getattr(outputs, field).tolist()])
    bonds = outputs.bonds  # type: ignore[attr-defined]
    for uid in range(n):
        key = c.at(E).storage_key(PALLET, "Bonds", idx, uid)
        c.states[E].pop(key, None)
        if uid < bonds.n_rows and bonds.present[uid]:
            c.put(E, "Bonds", (idx, uid), [tuple(p) for p in bonds.row(uid)])


def _subnet_items(spec: int) -> dict[str, str]:
    """Every per-subnet item the era's epoch writes → the EpochOutputs field."""
    from taoaudit.consensus.diff import STORAGE_NAMES

    by_item = {v: k for k, v in STORAGE_NAMES.items()}
    return {item: by_item[item] for item in era_for_spec(spec).outputs}


def two_mechanisms(alter_weight: bool = False, spec: int = SPEC) -> FakeChain:
    """The shared synthetic subnet with a second mechanism, outputs the runtime's rules imply."""
    c = _chain(spec, mechanisms=2, events=[])
    era = era_for_spec(spec)
    idx1 = era.storage_index(NETUID, 1)
    for n in (E - 1, E):
        c.put(n, "MechanismEmissionSplit", (NETUID,), SPLIT)
    c.put(E - 1, "LastUpdate", (idx1,), LU1)
    for uid, row in W1.items():
        c.put(E - 1, "Weights", (idx1, uid), row)
    for uid, row in B1.items():
        c.put(E - 1, "Bonds", (idx1, uid), row)
    inputs = [snapshot_epoch(c, NETUID, E, rao_emission=RAO, mechanism=m)[0] for m in (0, 1)]  # type: ignore[arg-type]
    agg = epoch_with_mechanisms(inputs, RAO, spec, SPLIT)
    _store_outputs(c, agg.subnet, era.storage_index(NETUID, 0), _subnet_items(spec) | {"Incentive": "incentive"}, 6)
    _store_outputs(c, agg.mechanisms[1], idx1, {"Incentive": "incentive"}, 6)
    if alter_weight:  # validator 1 of mechanism 1 "had" another weight: the chain's outputs no longer follow
        c.put(E - 1, "Weights", (idx1, 1), [(0, 5), (2, 60_000)])
    return c


def test_mechanism_one_inputs_are_read_where_the_runtime_keeps_them() -> None:
    c = two_mechanisms()
    inputs, _ = snapshot_epoch(c, NETUID, E, rao_emission=RAO, mechanism=1)  # type: ignore[arg-type]
    assert inputs.weights == SparseRows.from_rows([W1.get(u) for u in range(6)])
    assert inputs.bonds == SparseRows.from_rows([B1.get(u) for u in range(6)])
    assert inputs.last_update.tolist() == LU1
    mech0, _ = snapshot_epoch(c, NETUID, E, rao_emission=RAO, mechanism=0)  # type: ignore[arg-type]
    assert mech0.weights != inputs.weights and mech0.stake_alpha.tolist() == inputs.stake_alpha.tolist()


@pytest.mark.parametrize("spec", [343, SPEC])  # 343: Rank, Trust, PruningScores aggregate too
def test_two_mechanisms_verify_exactly(spec: int) -> None:
    audit = lib.verify(two_mechanisms(spec=spec), NETUID, epoch=E)  # type: ignore[arg-type]
    assert audit.mismatches == [], audit.mismatches[:5]
    assert audit.mechanisms is not None and audit.mechanisms["count"] == 2
    assert audit.mechanisms["emission_split"] == SPLIT and sum(audit.mechanisms["shares"]) == audit.rao_emission["value"]
    lo, hi = audit.rao_emission["range"]
    assert audit.rao_emission["source"] == "inferred" and lo <= RAO <= hi
    for item in ("Consensus", "Dividends", "Emission", "Incentive[mechanism 1]", "Bonds[mechanism 1]"):
        assert item in audit.fields_compared
    if spec < 365:
        assert {"Rank", "Trust", "PruningScores"} <= set(audit.fields_compared)
    outcome = lib.audit_epoch(two_mechanisms(spec=spec), NETUID, E)  # type: ignore[arg-type]
    assert outcome.verdict == "exact"


def test_an_altered_mechanism_weight_is_a_named_mismatch() -> None:
    audit = lib.verify(two_mechanisms(alter_weight=True), NETUID, epoch=E)  # type: ignore[arg-type]
    fields = {m.field for m in audit.mismatches}
    assert fields & {"Incentive[mechanism 1]", "Bonds[mechanism 1]"}, fields
    assert not fields & {"Incentive[mechanism 0]", "Bonds[mechanism 0]"}  # mechanism 0 is untouched
    named = next(m for m in audit.mismatches if m.field.endswith("[mechanism 1]"))
    assert 0 <= named.uid < 6 and named.chain != named.recomputed
    assert lib.audit_epoch(two_mechanisms(alter_weight=True), NETUID, E).verdict == "mismatch"  # type: ignore[arg-type]


def _single_mechanism() -> FakeChain:
    """The shared subnet with one mechanism and outputs the runtime's rules imply for RAO."""
    from taoaudit.consensus.registry import run_epoch

    c = _chain(events=[])
    inputs, _ = snapshot_epoch(c, NETUID, E, rao_emission=RAO)  # type: ignore[arg-type]
    out = run_epoch(inputs, SPEC)
    _store_outputs(c, out, era_for_spec(SPEC).storage_index(NETUID), SUBNET_ITEMS | {"Incentive": "incentive"}, 6)
    return c


def test_dtao_snapshot_save_then_verify_is_exact(tmp_path) -> None:
    c = _single_mechanism()
    live = lib.verify(c, NETUID, epoch=E)  # type: ignore[arg-type]
    assert live.mismatches == [] and live.rao_emission["source"] == "inferred"
    read, rao = lib.with_rao_emission(lib.read_epoch(c, NETUID, epoch=E))  # type: ignore[arg-type]
    assert rao == live.rao_emission and read.inputs.rao_emission == live.rao_emission["value"]
    path = save_epoch(read.inputs, read.outputs, tmp_path / "ep.v1", meta={
        "spec_version": read.spec_version, "block_hashes": read.block_hashes, "epoch_block": E,
        "rao_emission_floor": read.rao_emission_floor, "replaced_uids": []})
    assert path.name == "ep.v1.json"
    saved = lib.verify_snapshot(tmp_path / "ep.v1")
    assert saved.mismatches == [] and saved.rao_emission == live.rao_emission
    # the pending amount alone (what the snapshot used to hold) is not what the epoch distributed
    assert read.rao_emission_floor is not None and read.rao_emission_floor < live.rao_emission["value"]


def test_registration_after_the_epoch_replaces_one_uid_and_the_rest_is_compared() -> None:
    c = _single_mechanism()
    # an extrinsic of block E registers a new hotkey at UID 3 (replace_neuron: its outputs reset)
    c.put(E, "Events", (), [{"phase": {"ApplyExtrinsic": 1},
                             "event": {"SubtensorModule": {"NeuronRegistered": (NETUID, 3, "0x" + "22" * 32)}},
                             "topics": []}], pallet="System")
    for item in ("Emission", "Consensus", "Dividends"):
        vals = lib.read_epoch(c, NETUID, epoch=E).outputs  # type: ignore[arg-type]
        arr = np.asarray(getattr(vals, SUBNET_ITEMS[item])).astype(object).tolist()
        arr[3] = 0
        c.put(E, item, (NETUID,), [int(v) for v in arr])
    outcome = lib.audit_epoch(c, NETUID, E)  # type: ignore[arg-type]
    assert outcome.verdict == "exact" and outcome.reason_code == "replaced_in_block", outcome
    assert outcome.audit is not None and outcome.audit.replaced_uids == (3,)
    assert dataclasses.asdict(outcome.audit)["uids_compared"] == 6


def test_a_bonds_reset_by_a_commitment_in_block_e_is_modelled() -> None:
    """ResetBondsFlag commitment of UID 3's hotkey in block E: Bonds at E lose every (3, ·)."""
    from taoaudit.chainkit.bonds_reset import without_columns

    from .test_chainkit_dtao_epoch import H

    c = _single_mechanism()
    idx = era_for_spec(SPEC).storage_index(NETUID)
    stored = lib.read_epoch(c, NETUID, epoch=E).outputs.bonds  # type: ignore[arg-type]
    assert any(col == 3 for u in range(stored.n_rows) for col, _ in stored.row(u)), "nothing to reset"
    cleared = without_columns(stored, (3,))
    for uid in range(6):
        if cleared.present[uid]:
            c.put(E, "Bonds", (idx, uid), [tuple(p) for p in cleared.row(uid)])
    for n in (E - 1, E):
        c.put(n, "BondsResetOn", (NETUID,), True)
        c.put(n, "Uids", (NETUID, H[3]), 3)
    c.put(E, "Events", (), [{"phase": {"ApplyExtrinsic": 2},
                             "event": {"Commitments": {"Commitment": {"netuid": NETUID, "who": H[3]}}},
                             "topics": []}], pallet="System")
    # without the stamp the commitment did not reset anything: the cleared Bonds are a mismatch
    unexplained = lib.verify(c, NETUID, epoch=E)  # type: ignore[arg-type]
    assert {m.field for m in unexplained.mismatches} == {"Bonds"} and unexplained.bonds_reset_uids == ()
    c.put(E, "LastBondsReset", (NETUID, H[3]), E, pallet="Commitments")
    audit = lib.verify(c, NETUID, epoch=E)  # type: ignore[arg-type]
    assert audit.mismatches == [] and audit.bonds_reset_uids == (3,)

"""The runtime's own epoch unit tests (../shared/vectors/epoch, spec 425) replayed under the
spec-459 rules with the storage default `Auto`: each epoch reads the Consensus the previous
epoch of the same scenario stored (clear_neuron zeroes a replaced UID's entry), exactly as the
446+ runtime would. The spec-459 README states this reproduces every sparse run bit for bit;
this test holds us to it. What it pins (measured): 78 of the 155 sparse runs are Yuma3 with
liquid alpha, none of them has BondsPenalty 65535 with a stored consensus, so under Auto every
one must keep the *current* consensus — a selection that wrongly read the stored vector fails
here. The Previous branch itself is pinned by ../shared/epoch-snapshot-459 and
fixtures/vectors459.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from taoaudit.consensus.cases import snapshot_inputs, snapshot_outputs_json
from taoaudit.consensus.eras.mainline import epoch_mainline
from taoaudit.consensus.eras.table import EpochRules

from .conftest import shared_files

pytestmark = pytest.mark.ground_truth("vectors")

RULES_459 = EpochRules.for_spec(459)
SEQUENCES = [p for p in shared_files("*.json", "vectors", "epoch")
             if json.loads(Path(p).read_text())["kind"] == "epoch_sequence"]


def test_sequences_present() -> None:
    assert len(SEQUENCES) >= 50


@pytest.mark.parametrize("path", SEQUENCES, ids=lambda p: Path(p).stem)
def test_sparse_runs_reproduce_under_459_auto_with_stored_consensus(path) -> None:
    doc = json.loads(Path(path).read_text())
    stored: list[int] = []  # a fresh subnet has no Consensus
    checked = 0
    for i, step in enumerate(doc["steps"]):
        if step["op"] == "replace_neuron" and step["uid"] < len(stored):
            stored[step["uid"]] = 0  # clear_neuron
        if step["op"] != "epoch":
            continue
        if step["variant"] == "sparse":
            inputs = snapshot_inputs(step["input_snapshot"]).with_changes(
                consensus_prev=np.asarray(stored, dtype=np.uint16))
            assert inputs.hyperparameters.liquid_alpha_consensus_mode == "auto"
            got = snapshot_outputs_json(epoch_mainline(inputs, RULES_459))
            for key, want in step["model_output"].items():
                assert got.get(key) == want, f"step {i}: {key}"
            checked += 1
        stored = list(step["model_output"]["consensus"])  # what the epoch writes to Consensus
    assert checked or all(s["variant"] == "dense" for s in doc["steps"] if s["op"] == "epoch")

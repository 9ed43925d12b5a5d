"""Transcribed runtime unit tests of the spec-446 liquid-alpha consensus modes (fixtures/vectors459).

Each vector carries its source (path@commit or PR), inputs, expectation and the tolerance the
runtime test used; the inputs are recomputed here from the test's float literals with the
test's own conversions, so a transcription slip fails too.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from taoaudit.consensus import dense as dn
from taoaudit.consensus.eras.mainline import consensus_for_liquid_alpha
from taoaudit.consensus.eras.table import EpochRules
from taoaudit.consensus.model import EpochInputs, Hyperparameters, SparseRows

VECTORS = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "vectors459" / "consensus_modes.json").read_text())
TESTS = VECTORS["tests"]
FRAC = 1 << 32


def from_num(x: float, f32: bool) -> int:
    v = float(np.float32(x)) if f32 else x
    return round(Fraction(v) * FRAC)  # nearest, ties to even


def inputs_with(mode: str, bonds_penalty: int, stored: list[int], n: int) -> EpochInputs:
    hp = Hyperparameters(yuma3=True, liquid_alpha=True, bonds_penalty=bonds_penalty, liquid_alpha_consensus_mode=mode)
    z = np.zeros(n, dtype=np.uint64)
    return EpochInputs(n, 0, 0, hp, z, z, np.zeros(n, dtype=bool), z, z, SparseRows.empty(n), SparseRows.empty(n),
                       consensus_prev=np.asarray(stored, dtype=np.uint16))


def test_vectors_present_with_sources() -> None:
    assert VECTORS["format"] == "taoaudit-vectors459/1" and len(TESTS) >= 8
    assert all("@" in t["source"] or "PR #" in t["source"] for t in TESTS)


@pytest.mark.parametrize("t", [t for t in TESTS if t["function"] == "consensus_for_liquid_alpha"],
                         ids=lambda t: t["name"])
def test_consensus_for_liquid_alpha(t) -> None:
    i = t["inputs"]
    if "current_f" in i:  # the transcription equals the test's own conversions
        assert i["current_raw"] == [from_num(x, f32=False) for x in i["current_f"]]
        assert i["stored_u16"] == [(from_num(x, f32=True) * 65535) >> 32 for x in i["stored_f32"]]
    current = list(i["current_raw"])
    got = consensus_for_liquid_alpha(inputs_with(i["mode"], i["bonds_penalty"], i["stored_u16"], len(current)),
                                     current, EpochRules.for_spec(459))
    e = t["expect"]
    if e["kind"] == "exact":
        assert got == e["values_raw"]
    else:
        assert len(got) == len(e["values_f"])
        for g, want in zip(got, e["values_f"]):
            assert abs(g - from_num(want, f32=False)) < e["tolerance"] * FRAC
    # before spec 446 the mode does not exist: the current consensus, whatever is stored
    assert consensus_for_liquid_alpha(inputs_with(i["mode"], i["bonds_penalty"], i["stored_u16"], len(current)),
                                      current, EpochRules.for_spec(445)) == current


def _matrix(flat: list[int], rows: int) -> list[list[int]]:
    cols = len(flat) // rows
    return [flat[r * cols:(r + 1) * cols] for r in range(rows)]


@pytest.mark.parametrize("t", [t for t in TESTS if t["function"] == "compute_bonds_dense"], ids=lambda t: t["name"])
def test_liquid_alpha_on_equals_off_when_bounds_meet(t) -> None:
    i = t["inputs"]
    for key in ("weights", "bonds", "consensus"):
        assert i[f"{key}_raw"] == [from_num(x, f32=True) for x in i[f"{key}_f"]]
    weights, bonds = _matrix(i["weights_raw"], i["rows"]), _matrix(i["bonds_raw"], i["rows"])
    consensus = i["consensus_raw"]
    inputs = inputs_with(i["mode"], i["bonds_penalty"], i["stored_u16"], len(consensus))
    liquid_consensus = consensus_for_liquid_alpha(inputs, consensus, EpochRules.for_spec(459))
    assert liquid_consensus == consensus  # Auto at 65535 with nothing stored falls back to current
    common = dict(alpha_low_u16=i["alpha_low"], alpha_high_u16=i["alpha_high"], alpha_sigmoid_steepness=1000,
                  bonds_moving_average=i["bonds_moving_average"])
    on = dn.compute_bonds(weights, bonds, consensus, liquid_alpha=True, liquid_consensus=liquid_consensus, **common)
    off = dn.compute_bonds(weights, bonds, consensus, liquid_alpha=False, **common)
    assert len(on) == len(off) == i["rows"]
    tol = t["expect"]["tolerance"] * FRAC
    for row_on, row_off in zip(on, off):
        assert len(row_on) == len(row_off)
        assert all(abs(a - b) <= tol for a, b in zip(row_on, row_off))

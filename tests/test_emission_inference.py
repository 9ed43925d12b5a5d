"""Recovering rao_emission from the stored Emission vector (dTAO eras: the chain stores no amount)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from taoaudit.chainkit.audit import compare_epoch
from taoaudit.consensus.cases import load_case
from taoaudit.consensus.emission import rao_emission_bounds
from taoaudit.consensus.eras.mainline import MainlineRules, epoch_mainline, to_rao

from .conftest import shared_files

SNAPSHOTS = shared_files("*.json", "epoch-snapshot", "cases")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 1 << 32), min_size=1, max_size=12), st.integers(0, (1 << 64) - 1))
def test_true_amount_is_always_inside_the_bounds(shares: list[int], rao: int) -> None:
    stored = to_rao(shares, rao)
    bounds = rao_emission_bounds(shares, stored)
    assert bounds is not None and bounds[0] <= rao <= bounds[1]
    # Every amount in the range reproduces the stored vector; just outside it does not.
    assert to_rao(shares, bounds[0]) == stored and to_rao(shares, bounds[1]) == stored
    if bounds[0] > 0 and any(shares):
        assert to_rao(shares, bounds[0] - 1) != stored


@pytest.mark.parametrize("path", SNAPSHOTS, ids=lambda p: p.stem)
def test_inferred_amount_verifies_a_real_case(path) -> None:
    case = load_case(path)
    chain_outputs = epoch_mainline(case.inputs, MainlineRules())
    unknown = case.inputs.with_changes(rao_emission=0)
    audit, _ = compare_epoch(unknown, chain_outputs, 425, infer_rao_from=0)
    assert audit.ok, audit.mismatches[:5]
    lo, hi = audit.rao_emission["range"]
    assert audit.rao_emission["source"] == "inferred" and lo <= case.inputs.rao_emission <= hi
    # A stored vector that no single amount reproduces is a proven Emission mismatch; one that
    # some other amount reproduces is (only) consistent — the limit of what storage can show.
    trace: dict = {}
    epoch_mainline(case.inputs, MainlineRules(), trace)
    shares = trace["normalized_combined_emission"][: case.inputs.n]
    by_emission = sorted(range(case.inputs.n), key=lambda u: -int(chain_outputs.emission[u]))
    for uid in by_emission[:4] + by_emission[-2:]:
        tampered = np.array(chain_outputs.emission, copy=True)
        tampered[uid] += 1
        altered = chain_outputs.__class__(**{**chain_outputs.__dict__, "emission": tampered})
        result, _ = compare_epoch(unknown, altered, 425, infer_rao_from=0)
        if rao_emission_bounds(shares, tampered.tolist()) is None:
            assert not result.ok and {m.field for m in result.mismatches} == {"Emission"}
        else:
            assert result.ok

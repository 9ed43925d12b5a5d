"""The shared epoch test vectors (`../shared/vectors/epoch/*.json`) through our epochs.

Interprets the vectors' step language (vectors README §2/§3): every `epoch` step — and the
`final_epoch` of `epoch_sequence_compact` files — is run on its `input_snapshot`
(`variant = "sparse"` → `epoch_mainline` at spec 425, `"dense"` → `epoch_dense`). Checks:

* ``test_model_output``: sparse runs reproduce `model_output` exactly (every key; bonds_written
  row by row). Dense runs: see `_check_dense_model_output` for what is strict and what is only
  reported.
* ``test_expect``: every `expect` entry passes at its `cmp` / `tolerance` (also entries with
  `asserted_by_rust: false`, and files marked `model-only` / `unverified`); our value must also
  equal the entry's `model_value` (or `model_value_i32f32_bits` for `trace.*`), and `trace.*`
  values must agree numerically with the Rust `expected_log_line`. `model_trace` (13 epochs)
  is compared with our trace as well.
* ``test_bonds_carried``: in files with several epochs, the bond rows an epoch writes, followed
  by the bond-changing steps in between (`replace_neuron`, `reset_bonds`), must give the next
  epoch's `input_snapshot.bonds` — a check of the bookkeeping a stateful harness would do.
"""

from __future__ import annotations

import functools
import json
import re
import warnings
from pathlib import Path
from typing import Any

import pytest

from taoaudit.consensus import sparse as sp
from taoaudit.consensus.cases import snapshot_inputs, snapshot_outputs_json
from taoaudit.consensus.eras.dense import epoch_dense
from taoaudit.consensus.eras.mainline import MainlineRules, epoch_mainline
from taoaudit.consensus.fixedpoint import u16_proportion_to_fixed

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
EPOCH_DIR = SHARED / "vectors" / "epoch"

pytestmark = pytest.mark.ground_truth("vectors")

RULES = MainlineRules.for_spec(425)  # the vectors' reference commit 14bc6f9f is spec 425


class DenseVectorDeviation(UserWarning):
    """A dense run's `model_output` differs from ours in representation only (reported)."""


# -- loading ---------------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def load(name: str) -> dict:
    return json.loads((EPOCH_DIR / name).read_text())


def epoch_steps(doc: dict) -> list[dict]:
    if doc["kind"] == "epoch_sequence_compact":
        return [doc["final_epoch"]]
    return [s for s in doc["steps"] if s["op"] == "epoch"]


def _slug(text: str | None) -> str:
    s = re.sub(r"[^A-Za-z0-9]+", "_", text or "").strip("_")
    return s[:40] or "epoch"


FILES = sorted(p.name for p in EPOCH_DIR.glob("*.json"))
RUNS = [(f, i) for f in FILES for i, _ in enumerate(epoch_steps(load(f)))]
RUN_IDS = [f"{f[:-5]}::{i:02d}-{_slug(epoch_steps(load(f))[i].get('label'))}" for f, i in RUNS]
# Epochs that only set up state (e.g. the permit-setting first epoch) carry no expectations.
CHECKED = [
    (run_, id_) for run_, id_ in zip(RUNS, RUN_IDS)
    if epoch_steps(load(run_[0]))[run_[1]]["expect"] or epoch_steps(load(run_[0]))[run_[1]].get("model_trace")
]


class Run:
    """One epoch step run through our model: outputs, stored bonds before/after, trace."""

    def __init__(self, step: dict):
        self.step = step
        self.variant = step["variant"]
        self.inputs = snapshot_inputs(step["input_snapshot"])
        self.trace: dict[str, Any] = {}
        if self.variant == "sparse":
            self.out = epoch_mainline(self.inputs, RULES, self.trace)
        elif self.variant == "dense":
            self.out = epoch_dense(self.inputs, RULES, self.trace)
        else:
            raise AssertionError(f"unknown epoch variant {self.variant!r}")
        self.outputs = snapshot_outputs_json(self.out)
        # snapshot_outputs_json lists every row; the rows actually written are those present
        # (dense epochs leave rows of UIDs with neither permit untouched).
        self.written = self.out.bonds.to_mapping()
        # Bonds storage after the epoch: rows as before, overwritten by the rows written.
        self.bonds_after = {k: [list(p) for p in v] for k, v in step["input_snapshot"]["bonds"].items()}
        self.bonds_after.update(self.written)


@functools.lru_cache(maxsize=None)
def run(name: str, index: int) -> Run:
    return Run(epoch_steps(load(name))[index])


# -- model_output -----------------------------------------------------------------------------

def _nonzero_rows(rows: dict) -> dict:
    return {k: [p for p in v if p[1] != 0] for k, v in rows.items()}


def _check_dense_model_output(name: str, index: int, r: Run, expected: dict) -> None:
    """Dense `model_output` (README §5: "not independently recomputed").

    The README states the 61 dense runs "differ from the sparse model only in the written bond
    rows", i.e. every other field of a dense `model_output` is the sparse model's value and is
    claimed correct for the dense path too: those fields are compared strictly. The written
    bond rows are the part nobody recomputed, so a difference there is reported as a
    `DenseVectorDeviation` warning instead of failing — but only while it is a difference of
    representation: the same rows present with the same non-zero entries. A dense epoch writes
    all n columns of a new-permit row, zeros included (`(0..n).zip(...)` in
    `epoch_dense_mechanism`; yuma-spec §9), whereas the compact `test_512_graph__*` files drop
    zero entries. A difference in which rows are written or in any non-zero value fails, since
    then one of the two models is wrong. (The dense bond values are additionally pinned by the
    `bonds` expect entries and by `test_bonds_carried`.)
    """
    for key, want in expected.items():
        if key == "bonds_written":
            continue
        assert r.outputs.get(key) == want, f"{key}: ours {r.outputs.get(key)} != model_output {want}"
    want_rows = expected["bonds_written"]
    if r.written == want_rows:
        return
    assert set(r.written) == set(want_rows), (
        f"bonds_written rows differ: ours {sorted(r.written, key=int)} vs {sorted(want_rows, key=int)}"
    )
    assert _nonzero_rows(r.written) == _nonzero_rows(want_rows), "bonds_written non-zero entries differ"
    zeros = sum(len(v) for v in r.written.values()) - sum(len(v) for v in want_rows.values())
    warnings.warn(  # noqa: B028 (the warning names the vector; where it is raised says nothing more)
        DenseVectorDeviation(
            f"{name} epoch {index}: dense model_output.bonds_written omits {zeros} explicit zero "
            "entries that epoch_dense_mechanism writes (all n columns per new-permit row); "
            "non-zero entries and written rows agree"
        )
    )


@pytest.mark.parametrize("name,index", RUNS, ids=RUN_IDS)
def test_model_output(name: str, index: int) -> None:
    step = epoch_steps(load(name))[index]
    r = run(name, index)
    expected = step["model_output"]
    assert set(expected) <= set(r.outputs), f"model_output keys we do not produce: {set(expected) - set(r.outputs)}"
    if r.variant == "dense":
        _check_dense_model_output(name, index, r, expected)
        return
    # Sparse: the production epoch writes a row for every UID in Keys (empty without a new
    # permit), so the written rows are exactly `bonds_written`.
    assert set(r.written) == {str(u) for u in range(r.inputs.n)}
    for key, want in expected.items():
        if key == "bonds_written":
            assert set(r.written) == set(want), f"bonds_written rows: {sorted(r.written)} vs {sorted(want)}"
            for uid, row in want.items():
                assert r.written[uid] == row, f"bonds_written[{uid}]: ours {r.written[uid]} != {row}"
        else:
            assert r.outputs[key] == want, f"{key}: ours {r.outputs[key]} != model_output {want}"


# -- expect entries -----------------------------------------------------------------------------

def _bond_cell(rows: dict, i: int, j: int) -> int:
    """`get_bonds` of storage: the u16 at column j of row i (0 if absent; a later duplicate wins)."""
    value = 0
    for c, v in rows.get(str(i), []):
        if c == j:
            value = v
    return value


def _trace_value(r: Run, what: str) -> Any:
    """Our value of a `trace.*` quantity, as plain ints / [col, bits] lists."""
    t = r.trace
    direct = {
        "stake": "stake",
        "active_stake": "active_stake",
        "weights": "weights",
        "consensus": "consensus",
        "dividends": "dividends",
        "nve": "normalized_validator_emission",
        "nce": "normalized_combined_emission",
        "nse": "normalized_server_emission",
    }
    if what in direct:
        value = t[direct[what]]
    elif what == "bonds_delta":
        if r.variant == "dense":
            value = t["bonds_delta"]
        else:
            # mainline.py does not put ΔB in its trace; rebuild it from what it does capture,
            # exactly as classic_bonds computes it (row_hadamard_sparse, then column-normalise):
            # the log line "ΔB (norm)" of epoch_mechanism.
            assert not r.inputs.hyperparameters.yuma3, "ΔB is logged by the classic (non-Yuma3) path only"
            value = sp.row_hadamard_sparse(t["weights_for_bonds"], t["active_stake"])
            sp.inplace_col_normalize_sparse(value, r.inputs.n)
    else:
        raise AssertionError(f"trace quantity {what!r} is not captured by our epoch")
    return _plain(value)


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def _flatten_for_log(value: Any) -> list[tuple[str, int]]:
    """('int', col) / ('fix', bits) in the order the Rust Debug output prints them."""
    flat: list[tuple[str, int]] = []
    for item in value:
        if isinstance(item, list) and item and isinstance(item[0], list):  # sparse row
            for c, v in item:
                flat += [("int", c), ("fix", v)]
        elif isinstance(item, list):  # empty sparse row
            continue
        else:
            flat.append(("fix", item))
    return flat


def _check_log_line(entry: dict, value: Any) -> None:
    """Our bits must print as the Rust log: each decimal within one unit of its last digit."""
    line = entry["expected_log_line"]
    payload = line.split(": ", 1)[1]
    tokens = _NUMBER.findall(payload)
    flat = _flatten_for_log(value)
    if entry["cmp"] == "log_equals":
        assert len(tokens) == len(flat), f"log {line!r} has {len(tokens)} numbers, ours {len(flat)}"
    else:
        assert len(tokens) <= len(flat), f"log prefix {line!r} longer than our value"
    for k, (tok, (kind, ours)) in enumerate(zip(tokens, flat)):
        truncated = entry["cmp"] == "log_prefix" and k == len(tokens) - 1
        if kind == "int":
            assert int(tok) == ours, f"log {line!r}: column {tok} vs ours {ours}"
        elif "." not in tok and not truncated:
            # the Debug form prints an integer only for an exactly integral value
            assert ours == int(tok) << 32, f"log {line!r}: {tok} vs ours {ours / 2**32!r} ({ours} bits)"
        else:
            decimals = len(tok.split(".", 1)[1]) if "." in tok else 0
            # |ours/2^32 - tok| < 10^-decimals, in exact integer arithmetic
            whole, _, frac = tok.lstrip("-").partition(".")
            scaled = int(whole) * 10**decimals + (int(frac) if frac else 0)
            scaled = -scaled if tok.startswith("-") else scaled
            num = abs(ours * 10**decimals - scaled * 2**32)
            assert num < 2**32, f"log {line!r}: {tok} vs ours {ours / 2**32!r} ({ours} bits)"


def _compare(cmp: str, value: Any, expected: Any, tolerance: Any) -> bool:
    if cmp == "eq":
        return value == expected
    if cmp == "abs_le":
        return abs(value - expected) <= tolerance
    if cmp == "gt":
        return value > expected
    if cmp == "ge":
        return value >= expected
    if cmp == "le":
        return value <= expected
    raise AssertionError(f"unknown cmp {cmp!r}")


_PER_UID = {
    "consensus", "incentive", "dividends", "validator_trust", "emission", "server_emission",
    "validator_emission", "active", "validator_permit", "stake_weight",
}


def _entry_value(r: Run, entry: dict) -> Any:
    what = entry["what"]
    if what in _PER_UID:
        return r.outputs[what][entry["index"]]
    if what == "bonds":
        i, j = entry["index"]
        return _bond_cell(r.bonds_after, i, j)
    if what == "bonds_fixed_proportion":
        i, j = entry["index"]
        return u16_proportion_to_fixed(_bond_cell(r.bonds_after, i, j))
    if what == "dividends_fixed":
        return u16_proportion_to_fixed(r.outputs["dividends"][entry["index"]])
    raise AssertionError(f"unknown expect quantity {what!r}")


@pytest.mark.parametrize("name,index", [c[0] for c in CHECKED], ids=[c[1] for c in CHECKED])
def test_expect(name: str, index: int) -> None:
    step = epoch_steps(load(name))[index]
    r = run(name, index)
    assert step["expect"] or step.get("model_trace"), "epoch step without expectations"
    failures = []
    for k, entry in enumerate(step["expect"]):
        what = entry["what"]
        where = f"expect[{k}] {what} {entry.get('index', '')}".rstrip()
        if what.startswith("trace."):
            assert entry["cmp"] in ("log_equals", "log_prefix"), f"{where}: cmp {entry['cmp']}"
            ours = _trace_value(r, what[len("trace."):])
            if ours != entry["model_value_i32f32_bits"]:
                failures.append(f"{where}: ours {ours} != model bits {entry['model_value_i32f32_bits']}")
                continue
            try:
                _check_log_line(entry, ours)
            except AssertionError as e:
                failures.append(f"{where}: {e}")
            continue
        value = _entry_value(r, entry)
        if value != entry["model_value"]:
            failures.append(f"{where}: ours {value} != model_value {entry['model_value']}")
        tol = entry.get("tolerance")
        if entry["cmp"] == "abs_le":
            assert "abs_tol" not in entry or entry["abs_tol"] == tol, f"{where}: abs_tol != tolerance"
            assert tol is not None and tol >= 0, f"{where}: abs_le without tolerance"
        elif entry["cmp"] in ("eq", "gt", "ge", "le"):
            assert tol in (0, None), f"{where}: unexpected tolerance {tol} for {entry['cmp']}"
        if not _compare(entry["cmp"], value, entry["expected"], tol):
            failures.append(
                f"{where}: ours {value} fails {entry['cmp']} {entry['expected']} (tol {tol}; "
                f"asserted_by_rust={entry.get('asserted_by_rust')})"
            )
    for key, bits in (step.get("model_trace") or {}).items():
        ours = _trace_value(r, key)
        if ours != bits:
            failures.append(f"model_trace.{key}: ours {ours} != {bits}")
    assert not failures, f"{len(failures)} expectation(s) failed:\n" + "\n".join(failures)


# -- bonds carried between epochs -------------------------------------------------------------

def _normalise_rows(rows: dict, n: int) -> dict:
    """Rows of uid < n with at least one entry: a stored empty row reads like a missing one
    (`Bonds` is a ValueQuery with an empty default), so the two are not distinguished."""
    return {k: v for k, v in rows.items() if int(k) < n and v}


MULTI = [f for f in FILES if load(f)["kind"] == "epoch_sequence" and len(epoch_steps(load(f))) > 1]


@pytest.mark.parametrize("name", MULTI, ids=[f[:-5] for f in MULTI])
def test_bonds_carried(name: str) -> None:
    """Written bond rows + the bond-changing steps in between == the next snapshot's bonds.

    Steps that change `Bonds` (README §2): `replace_neuron` (clear_neuron removes the UID's
    row) and `reset_bonds` (column removed from every row). `append_neuron` adds a UID with no
    row; `set_weights`, `add_stake`, `set_storage` (ValidatorPermit, LastUpdate, Weights,
    commit blocks), `set_hyperparameters`, `set_tempo`, `advance_to_block` do not touch `Bonds`.
    No step kind is skipped here. Both our written rows and the vector's
    `model_output.bonds_written` are carried forward and checked.
    """
    steps = load(name)["steps"]
    epoch_index = -1
    ours: dict | None = None
    theirs: dict | None = None
    checked = 0
    for step in steps:
        op = step["op"]
        if op == "epoch":
            epoch_index += 1
            snap = step["input_snapshot"]
            n = snap["n"]
            if ours is not None:
                want = _normalise_rows(snap["bonds"], n)
                assert _normalise_rows(ours, n) == want, (
                    f"epoch {epoch_index}: bonds carried by our epochs != input_snapshot.bonds"
                )
                assert _normalise_rows(theirs, n) == want, (
                    f"epoch {epoch_index}: model_output.bonds_written carried != input_snapshot.bonds"
                )
                checked += 1
            r = run(name, epoch_index)
            ours = {k: [list(p) for p in v] for k, v in r.bonds_after.items()}
            theirs = {k: [list(p) for p in v] for k, v in snap["bonds"].items()}
            theirs.update(step["model_output"]["bonds_written"])
        elif op == "replace_neuron" and ours is not None:
            for rows in (ours, theirs):
                rows.pop(str(step["uid"]), None)
        elif op == "reset_bonds" and ours is not None:
            col = step["hotkey_uid"]
            for rows in (ours, theirs):
                for k in rows:
                    rows[k] = [p for p in rows[k] if p[0] != col]
        elif op not in {
            "append_neuron", "add_stake", "set_weights", "set_storage", "set_hyperparameters",
            "set_tempo", "advance_to_block", "replace_neuron", "reset_bonds",
        }:
            raise AssertionError(f"unknown step op {op!r}")
    assert checked == epoch_index, "not every later epoch was checked"

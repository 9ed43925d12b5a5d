"""The shared math test vectors (`../shared/vectors/math/*.json`) through our primitives.

Every case of every `helper_cases` file is decoded (`args` objects → their raw `bits`; plain
JSON for u16 / u64 / bool / index arguments), run through the primitive named by the file's
`helper` (the `HELPERS` table), and compared with

* `model_output` — exactly (README §4: an exact implementation reproduces it even where the
  Rust assertion is approximate), and
* `expected` — under `compare.kind` (`exact`, `abs_le`, `abs_le_sparse`) with `eps_bits`,
  which must agree with the case's `tolerance`.

Sparse primitives come from `consensus.sparse`, dense ones from `consensus.dense`, scalar
conversions from `consensus.fixedpoint`.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any, Callable

import pytest

from taoaudit.consensus import dense as dn
from taoaudit.consensus import sparse as sp
from taoaudit.consensus.eras.mainline import ema_alpha_constant
from taoaudit.consensus.fixedpoint import (
    I32F32,
    I64F64,
    exp_safe,
    fixed64_to_fixed32,
    fixed64_to_u64,
    fixed_proportion_to_u16,
    sigmoid_safe,
    u16_proportion_to_fixed,
    u16_to_fixed,
)

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
MATH_DIR = SHARED / "vectors" / "math"

pytestmark = pytest.mark.ground_truth("vectors")


# -- decoding -----------------------------------------------------------------------------------

def decode(value: Any) -> Any:
    """An `args` / `expected` value as our primitives take it: raw bits; sparse rows as tuples."""
    if isinstance(value, dict) and "bits" in value and "type" in value:
        bits = value["bits"]
        if "sparse matrix" in value["type"]:
            return [[(int(c), int(v)) for c, v in row] for row in bits]
        return bits
    return value


def plain(value: Any) -> Any:
    """Tuples → lists, so that results compare with the JSON."""
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


# -- the table: helper → function(args, call) --------------------------------------------------

def _conversions(a: dict, call: str) -> Any:
    fn = call.split("(", 1)[0]
    if fn == "fixed_to_u16":
        return I32F32.to_int(a["bits"], 16)
    if fn == "fixed_to_u64":
        return I32F32.to_int(a["bits"], 64)
    if fn == "fixed64_to_u64":
        return fixed64_to_u64(a["bits"])
    if fn == "fixed64_to_fixed32":
        return fixed64_to_fixed32(a["bits"])
    if fn == "u16_to_fixed":
        return u16_to_fixed(a["x"])
    if fn == "u16_proportion_to_fixed":
        return u16_proportion_to_fixed(a["x"])
    if fn == "fixed_proportion_to_u16":
        return fixed_proportion_to_u16(a["bits"])
    if fn == "vec_fixed64_to_fixed32":
        return [fixed64_to_fixed32(I64F64.from_int(a["x"]))]
    raise AssertionError(f"unknown conversion in call {call!r}")


def _ema_alpha(a: dict, call: str) -> int:
    if call.startswith("ema_alpha("):
        return ema_alpha_constant(a["bonds_moving_average"])
    if call == "1 - I32F32(I64F64(max)/I64F64(max))":
        q = I64F64.safe_div(I64F64.max_raw, I64F64.max_raw)
        return I32F32.sat_sub(I32F32.one, I32F32.from_fixed(q, I64F64))
    raise AssertionError(f"unknown call {call!r}")


def _u64_normalization(a: dict, call: str) -> int:
    q = I64F64.safe_div(I64F64.from_int(a["num"]), I64F64.from_int(a["den"]))
    if call.startswith("I64F64(num)/"):
        return q
    if call.startswith("I32F32::from_num("):
        return I32F32.from_fixed(q, I64F64)
    raise AssertionError(f"unknown call {call!r}")


def _compute_bonds(a: dict, call: str) -> Any:
    lo, hi = a["alpha_values"]
    return dn.compute_bonds(
        a["weights"], a["bonds"], a["consensus"], liquid_alpha=True, alpha_low_u16=lo,
        alpha_high_u16=hi, alpha_sigmoid_steepness=a["alpha_sigmoid_steepness"],
        bonds_moving_average=a["bonds_moving_average"],
    )


def _weighted_median(a: dict, call: str) -> int:
    # "stake = normalize(vec_to_fixed(stake))": the Rust test passes the normalised stake
    stake = a.get("stake_bits_after_normalize", a["stake"])
    return sp.weighted_median(
        stake, a["score"], list(range(len(stake))), a["minority"], a["partition_lo"], a["partition_hi"]
    )


_MASK_FNS: dict[str, Callable[[int, int], bool]] = {
    "a == b": lambda x, y: x == y,
    "a < b": lambda x, y: x < y,
    "a <= b": lambda x, y: x <= y,
    "a > b": lambda x, y: x > y,
}


def _mutated(fn: Callable[[list], None]) -> Callable[[list], list]:
    """An in-place matrix primitive applied to a copy (rows copied too); returns the copy."""
    def run(m: list) -> list:
        m = [list(r) for r in m]
        fn(m)
        return m
    return run


def _mutated_vec(fn: Callable[[list], None]) -> Callable[[list], list]:
    """An in-place vector primitive applied to a copy; returns the copy."""
    def run(v: list) -> list:
        v = list(v)
        fn(v)
        return v
    return run


HELPERS: dict[str, Callable[[dict, str], Any]] = {
    # dense-only helpers (consensus.dense)
    "check_vec_max_limited": lambda a, c: dn.check_vec_max_limited(a["vector"], a["max_limit"]),
    "compute_bonds (dense)": _compute_bonds,
    "mat_ema_alpha": lambda a, c: dn.mat_ema_alpha(a["new"], a["old"], a["alpha"]),
    "inplace_col_clip": lambda a, c: _mutated(lambda m: dn.inplace_col_clip(m, a["thr"]))(a["mat"]),
    "inplace_col_max_upscale": lambda a, c: _mutated(dn.inplace_col_max_upscale)(a["mat"]),
    "inplace_col_normalize": lambda a, c: _mutated(dn.inplace_col_normalize)(a["mat"]),
    "inplace_mask_diag": lambda a, c: _mutated(dn.inplace_mask_diag)(a["mat"]),
    "inplace_mask_diag_except_index": lambda a, c: _mutated(
        lambda m: dn.inplace_mask_diag_except_index(m, a["except_index"]))(a["mat"]),
    "inplace_mask_matrix": lambda a, c: _mutated(lambda m: dn.inplace_mask_matrix(a["mask"], m))(a["mat"]),
    "inplace_mask_rows": lambda a, c: _mutated(lambda m: dn.inplace_mask_rows(a["mask"], m))(a["mat"]),
    "inplace_row_normalize": lambda a, c: _mutated(dn.inplace_row_normalize)(a["mat"]),
    "interpolate": lambda a, c: dn.interpolate(a["mat1"], a["mat2"], a["ratio"]),
    "mat_vec_mul": lambda a, c: dn.mat_vec_mul(a["mat"], a["v"]),
    "matmul": lambda a, c: dn.matmul(a["mat"] if "mat" in a else a["w"], a["v"]),
    "matmul_transpose": lambda a, c: dn.matmul_transpose(a["mat"], a["v"]),
    "normalize": lambda a, c: dn.normalize(a["x"]),
    "row_hadamard": lambda a, c: dn.row_hadamard(a["mat"], a["v"]),
    "row_sum": lambda a, c: dn.row_sum(a["mat"]),
    "sum": lambda a, c: dn.vec_sum(a["x"]),
    "vec_u16_max_upscale_to_u16": lambda a, c: dn.vec_u16_max_upscale_to_u16(a["vector"]),
    "weighted_median_col": lambda a, c: dn.weighted_median_col(a["stake"], a["score"], a["majority"]),
    # sparse / vector primitives shared with the production epoch (consensus.sparse)
    "mat_ema_alpha_sparse": lambda a, c: sp.mat_ema_alpha_sparse(a["new"], a["old"], a["alpha"]),
    "col_clip_sparse": lambda a, c: sp.col_clip_sparse(a["mat"], a["thr"]),
    "inplace_col_max_upscale_sparse": lambda a, c: _mutated(
        lambda m: sp.inplace_col_max_upscale_sparse(m, a["columns"]))(a["mat"]),
    "inplace_col_normalize_sparse": lambda a, c: _mutated(
        lambda m: sp.inplace_col_normalize_sparse(m, a["columns"]))(a["mat"]),
    "inplace_mask_vector": lambda a, c: _mutated_vec(lambda v: sp.inplace_mask_vector(a["mask"], v))(a["vector"]),
    "inplace_normalize": lambda a, c: _mutated_vec(sp.inplace_normalize)(a["x"]),
    "inplace_normalize_64": lambda a, c: _mutated_vec(sp.inplace_normalize_64)(a["x"]),
    "inplace_row_normalize_sparse": lambda a, c: _mutated(sp.inplace_row_normalize_sparse)(a["mat"]),
    "interpolate_sparse": lambda a, c: sp.interpolate_sparse(a["mat1"], a["mat2"], a["columns"], a["ratio"]),
    "is_topk": lambda a, c: sp.is_topk(a["vector"], a["k"]),
    "mask_diag_sparse": lambda a, c: sp.mask_diag_sparse(a["mat"]),
    "mask_diag_sparse_except_index": lambda a, c: sp.mask_diag_sparse_except_index(a["mat"], a["except_index"]),
    "mask_rows_sparse": lambda a, c: sp.mask_rows_sparse(a["mask"], a["mat"]),
    "mat_vec_mul_sparse": lambda a, c: sp.mat_vec_mul_sparse(a["mat"], a["v"]),
    "row_hadamard_sparse": lambda a, c: sp.row_hadamard_sparse(a["mat"], a["v"]),
    "row_sum_sparse": lambda a, c: sp.row_sum_sparse(a["mat"]),
    "matmul_sparse": lambda a, c: sp.matmul_sparse(a["mat"], a["v"], a["columns"]),
    "matmul_transpose_sparse": lambda a, c: sp.matmul_transpose_sparse(a["mat"], a["v"]),
    "vec_mask_sparse_matrix": lambda a, c: sp.vec_mask_sparse_matrix(
        a["mat"], a["first"], a["second"], _MASK_FNS[a["mask_fn"]]),
    "vec_mul": lambda a, c: sp.vec_mul(a["a"], a["b"]),
    "vecdiv": lambda a, c: sp.vecdiv(a["x"], a["y"]),
    "weighted_median": _weighted_median,
    "weighted_median_col_sparse": lambda a, c: sp.weighted_median_col_sparse(
        a["stake"], a["score"], a["columns"], a["majority"]),
    "vec_max_upscale_to_u16": lambda a, c: sp.vec_max_upscale_to_u16(a["vector"]),
    # fixed-point scalars (consensus.fixedpoint)
    "exp_safe": lambda a, c: exp_safe(a["x"]),
    "sigmoid_safe": lambda a, c: [sigmoid_safe(t, a["rho"], a["kappa"]) for t in a["trust"]],
    "EMA alpha from BondsMovingAverage": _ema_alpha,
    "I64F64 stake normalization and I64F64->I32F32 truncation": _u64_normalization,
    "fixed_to_u16 / fixed_to_u64 / fixed64_to_u64 / fixed64_to_fixed32 / u16_to_fixed / "
    "u16_proportion_to_fixed / fixed_proportion_to_u16 / vec_fixed64_to_fixed32": _conversions,
}

# Arguments that only document the Rust test (literals, notes), not inputs of the call.
_DOC_ARGS = {"literals", "stake_note"}


# -- comparison ---------------------------------------------------------------------------------

def _within(ours: Any, want: Any, eps: int, path: str = "") -> list[str]:
    """Elementwise |ours − want| <= eps over identical shapes (scalars, vectors, matrices)."""
    if isinstance(want, list):
        if not isinstance(ours, list) or len(ours) != len(want):
            return [f"{path or 'value'}: shape {plain(ours)!r} vs {want!r}"]
        out: list[str] = []
        for k, (o, w) in enumerate(zip(ours, want)):
            out += _within(o, w, eps, f"{path}[{k}]")
        return out
    if isinstance(want, bool) or isinstance(ours, bool):
        return [] if ours == want else [f"{path}: {ours} != {want}"]
    return [] if abs(ours - want) <= eps else [f"{path}: {ours} vs {want} (|d| = {abs(ours - want)} > {eps})"]


def _within_sparse(ours: list, want: list, eps: int) -> list[str]:
    """Same rows and column structure; values within eps."""
    if len(ours) != len(want):
        return [f"row count {len(ours)} vs {len(want)}"]
    out = []
    for i, (ro, rw) in enumerate(zip(ours, want)):
        if [c for c, _ in ro] != [c for c, _ in rw]:
            out.append(f"row {i}: columns {[c for c, _ in ro]} vs {[c for c, _ in rw]}")
            continue
        for (c, vo), (_, vw) in zip(ro, rw):
            if abs(vo - vw) > eps:
                out.append(f"row {i} col {c}: {vo} vs {vw} (|d| = {abs(vo - vw)} > {eps})")
    return out


# -- collection ---------------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def load(name: str) -> dict:
    return json.loads((MATH_DIR / name).read_text())


FILES = sorted(p.name for p in MATH_DIR.glob("*.json"))
CASES = [(f, i) for f in FILES for i in range(len(load(f)["cases"]))]


def _case_id(name: str, i: int) -> str:
    call = re.sub(r"[^A-Za-z0-9]+", "_", load(name)["cases"][i]["call"]).strip("_")
    return f"{name[:-5]}::{i:02d}-{call[:40]}"


def test_every_helper_has_a_primitive() -> None:
    missing = sorted({load(f)["helper"] for f in FILES} - set(HELPERS))
    assert not missing, f"math helpers without a primitive in HELPERS: {missing}"


@pytest.mark.parametrize("name,index", CASES, ids=[_case_id(f, i) for f, i in CASES])
def test_math_case(name: str, index: int) -> None:
    doc = load(name)
    assert doc["kind"] == "helper_cases"
    case = doc["cases"][index]
    fn = HELPERS[doc["helper"]]
    args = {k: decode(v) for k, v in case["args"].items() if k not in _DOC_ARGS}
    ours = plain(fn(args, case["call"]))

    assert ours == case["model_output"], f"{case['call']}: ours {ours} != model_output {case['model_output']}"

    compare = case["compare"]
    kind = compare["kind"]
    eps = compare.get("eps_bits", 0)
    assert case.get("tolerance", eps) == eps, f"tolerance {case.get('tolerance')} != eps_bits {eps}"
    want = plain(decode(case["expected"]))
    if kind == "exact":
        assert eps == 0
        assert ours == want, f"{case['call']}: ours {ours} != expected {want}"
    elif kind == "abs_le":
        problems = _within(ours, want, eps)
        assert not problems, f"{case['call']}: " + "; ".join(problems)
    elif kind == "abs_le_sparse":
        problems = _within_sparse(ours, want, eps)
        assert not problems, f"{case['call']}: " + "; ".join(problems)
    else:
        raise AssertionError(f"unknown compare kind {kind!r}")

    if doc["helper"] == "compute_bonds (dense)":
        # `expected` is the model's own LiquidAlphaOn=false result (ctor "model: mat_ema(...)"):
        # our constant-alpha path must give it bit for bit.
        lo, hi = args["alpha_values"]
        plain_ema = dn.compute_bonds(
            args["weights"], args["bonds"], args["consensus"], liquid_alpha=False, alpha_low_u16=lo,
            alpha_high_u16=hi, alpha_sigmoid_steepness=args["alpha_sigmoid_steepness"],
            bonds_moving_average=args["bonds_moving_average"],
        )
        assert plain(plain_ema) == want

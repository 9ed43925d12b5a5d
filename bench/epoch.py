"""Epoch benchmark: numba kernel vs the exact reference vs a plain numpy float64 epoch.

Run as ``python bench/epoch.py`` (not a test). Every ratio is measured side by side in the
same run on the same inputs. The last line is one JSON object.

Inputs (``make_inputs``): n UIDs, all registered long ago, all active, all holding the old
permit and stake, weight rows with the given density (columns shuffled: unsorted rows, values
uniform u16), bond rows with the same density, default hyperparameters (classic Yuma, bonds
penalty 1.0, kappa 0.5) except ``max_allowed_validators = n``, so every row is a validator
row: the worst case for the weighted median and the bond rows. "Yuma3 + liquid alpha" rows
use the same matrices.

Timings are per epoch call (``run_epoch``, Python wrapper included), the minimum over repeats
after a warm-up call, wall clock. The reference is skipped where one call would take more
than ~60 s (estimated from its measured cost per stored entry).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from taoaudit.consensus.model import EpochInputs, Hyperparameters, SparseRows  # noqa: E402
from taoaudit.consensus.registry import run_epoch  # noqa: E402

SPEC = 425


def make_inputs(n: int, density: float, seed: int = 0, **hp) -> EpochInputs:
    rng = np.random.default_rng(seed)

    def rows() -> SparseRows:
        indptr = [0]
        cols, vals = [], []
        for _ in range(n):
            c = np.nonzero(rng.random(n) < density)[0]
            rng.shuffle(c)
            cols.append(c)
            vals.append(rng.integers(0, 65536, len(c)))
            indptr.append(indptr[-1] + len(c))
        return SparseRows(
            np.asarray(indptr, dtype=np.int64),
            np.concatenate(cols).astype(np.int64) if cols else np.zeros(0, np.int64),
            np.concatenate(vals).astype(np.int64) if vals else np.zeros(0, np.int64),
            np.ones(n, dtype=bool),
        )

    params = dict(max_allowed_validators=n)
    params.update(hp)
    return EpochInputs(
        n=n,
        current_block=100_000,
        rao_emission=1_000_000_000,
        hyperparameters=Hyperparameters(**params),
        last_update=np.full(n, 99_990, dtype=np.uint64),
        block_at_registration=rng.integers(0, 1000, n).astype(np.uint64),
        validator_permit=np.ones(n, dtype=bool),
        stake_alpha=rng.integers(10**9, 10**15, n).astype(np.uint64),
        stake_tao=np.zeros(n, dtype=np.uint64),
        weights=rows(),
        bonds=rows(),
    )


# -- the same epoch in plain numpy float64 (for comparison only; not exact) -------------

def numpy_float_epoch(inputs: EpochInputs) -> dict[str, np.ndarray]:
    """Classic Yuma on dense float64 matrices: the textbook formulation of the same steps."""
    n = inputs.n
    hp = inputs.hyperparameters

    def dense(rows: SparseRows) -> np.ndarray:
        m = np.zeros((n, n))
        r = np.repeat(np.arange(n), np.diff(rows.indptr[: n + 1]))
        keep = rows.cols[: len(r)] < n
        m[r[keep], rows.cols[: len(r)][keep]] = rows.values[: len(r)][keep]
        return m

    cutoff = max(1, hp.activity_cutoff_factor_milli * hp.tempo // 1000)
    last_update = inputs.last_update[:n].astype(np.float64)
    active = last_update + cutoff >= inputs.current_block
    reg = inputs.block_at_registration[:n].astype(np.float64)
    stake = inputs.stake_alpha[:n].astype(np.float64)
    stake = stake / stake.sum()
    permits = inputs.validator_permit[:n].astype(bool)
    order = np.argsort(stake, kind="stable")
    new_permits = np.zeros(n, dtype=bool)
    new_permits[order[max(0, n - hp.max_allowed_validators):]] = True
    new_permits &= stake > 0
    active_stake = stake * active * permits
    active_stake /= active_stake.sum()

    w = dense(inputs.weights)
    w[~permits] = 0
    np.fill_diagonal(w, 0)
    w[last_update[:, None] <= reg[None, :]] = 0
    rs = w.sum(axis=1, keepdims=True)
    w = np.divide(w, rs, out=np.zeros_like(w), where=rs > 0)

    # weighted median per column: sort each column's scores, cumulate the stake
    kappa = hp.kappa / 65535
    use = active_stake > 0
    s = active_stake[use] / active_stake[use].sum()
    scores = w[use]
    idx = np.argsort(scores, axis=0, kind="stable")
    cum = np.cumsum(s[idx], axis=0)
    pick = np.argmax(cum > 1 - kappa, axis=0)
    consensus = scores[idx[pick, np.arange(n)], np.arange(n)]

    clipped = np.minimum(w, consensus[None, :])
    validator_trust = clipped.sum(axis=1)
    ranks = active_stake @ clipped
    incentive = ranks / ranks.sum() if ranks.sum() > 0 else ranks

    bonds = dense(inputs.bonds)
    bonds[:, reg >= max(inputs.current_block - hp.tempo, 0)] = 0
    cs = bonds.sum(axis=0, keepdims=True)
    bonds = np.divide(bonds, cs, out=bonds, where=cs > 0)
    delta = clipped * active_stake[:, None]
    cs = delta.sum(axis=0, keepdims=True)
    delta = np.divide(delta, cs, out=delta, where=cs > 0)
    alpha = 1 - hp.bonds_moving_average / 1_000_000
    ema = alpha * delta + (1 - alpha) * bonds
    cs = ema.sum(axis=0, keepdims=True)
    ema = np.divide(ema, cs, out=ema, where=cs > 0)
    dividends = ema @ incentive
    dividends = dividends / dividends.sum() if dividends.sum() > 0 else dividends
    cm = ema.max(axis=0, keepdims=True)
    ema = np.divide(ema, cm, out=ema, where=cm > 0)

    combined = incentive + dividends
    total = combined.sum()
    emission = np.floor(combined / total * inputs.rao_emission) if total > 0 else active_stake * inputs.rao_emission
    to_u16 = lambda x: np.floor(x * 65535).astype(np.uint16)  # noqa: E731
    return {
        "active": active, "validator_permit": new_permits, "consensus": to_u16(consensus),
        "incentive": to_u16(incentive), "dividends": to_u16(dividends),
        "validator_trust": to_u16(validator_trust), "emission": emission.astype(np.uint64),
        "bonds": to_u16(ema * new_permits[:, None]),
    }


# -- timing ------------------------------------------------------------------------------

def best_of(fn, repeats: int, budget_s: float = 5.0) -> float:
    fn()  # warm-up (JIT / caches)
    best = float("inf")
    start = time.perf_counter()
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
        if time.perf_counter() - start > budget_s:
            break
    return best


REF_SECONDS_PER_UNIT: dict[bool, float] = {}  # per variant (liquid alpha or not), measured


def time_reference(inputs: EpochInputs, nnz: int) -> float | None:
    """One reference call, unless its cost estimated from earlier calls exceeds 60 s.

    Cost model: proportional to nnz + n²/4 (the reference's weighted median and
    accumulators are dense in n), calibrated on the largest earlier run of the same variant.
    """
    liquid = bool(inputs.hyperparameters.liquid_alpha)
    units = nnz + inputs.n * inputs.n / 4
    per = REF_SECONDS_PER_UNIT.get(liquid)
    if per is not None and per * units > 60:
        return None
    t = time.perf_counter()
    run_epoch(inputs, SPEC)
    elapsed = time.perf_counter() - t
    REF_SECONDS_PER_UNIT[liquid] = max(per or 0.0, elapsed / units)
    return elapsed


COLD = r"""
import sys, time
t0 = time.perf_counter()
sys.path.insert(0, {root!r})
from taoaudit.consensus.registry import run_epoch
sys.path.insert(0, {bench!r})
from epoch import make_inputs
inputs = make_inputs(64, 0.5)
t1 = time.perf_counter()
run_epoch(inputs, 425, engine="numba")
t2 = time.perf_counter()
print(t2 - t1, t2 - t0)
"""


def cold_start() -> tuple[float, float]:
    """First call in a fresh interpreter, numba's disk cache warm: (import+call, whole script)."""
    code = COLD.format(root=str(ROOT), bench=str(Path(__file__).resolve().parent))
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)  # warm the cache
    runs = []
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
        runs.append(tuple(float(x) for x in out.stdout.split()))
    # import of consensus.kernels (numba) happens inside the first call
    return min(r[0] for r in runs), min(r[1] for r in runs)


def main() -> None:
    results: dict[str, float | None] = {}
    print(f"{'case':34s} {'nnz':>9s} {'numba ms':>10s} {'numpy f64 ms':>13s} {'reference s':>12s} "
          f"{'x ref':>9s} {'numpy/numba':>12s}")
    cases = [
        (64, 1.0, {}), (64, 0.1, {}),
        (256, 1.0, {}), (256, 0.1, {}), (256, 1.0, dict(yuma3=True, liquid_alpha=True)),
        (1024, 1.0, {}), (1024, 0.1, {}), (1024, 0.01, {}),
        (4096, 0.1, {}), (4096, 0.01, {}),
    ]
    for n, density, hp in cases:
        inputs = make_inputs(n, density, seed=n, **hp)
        nnz = len(inputs.weights.cols)
        label = f"n={n} density={density}" + (" yuma3+liquid" if hp else "")
        reps = 30 if n <= 256 else 5
        t_numba = best_of(lambda inputs=inputs: run_epoch(inputs, SPEC, engine="numba"), reps)
        t_numpy = best_of(lambda inputs=inputs: numpy_float_epoch(inputs), reps) if not hp else None
        t_ref = time_reference(inputs, nnz)
        speedup = t_ref / t_numba if t_ref is not None else None
        print(f"{label:34s} {nnz:9d} {t_numba * 1e3:10.3f} "
              f"{(t_numpy * 1e3 if t_numpy else float('nan')):13.3f} "
              f"{(f'{t_ref:.2f}' if t_ref is not None else 'skipped'):>12s} "
              f"{(f'{speedup:.0f}' if speedup else '-'):>9s} "
              f"{(f'{t_numpy / t_numba:.2f}' if t_numpy else '-'):>12s}", flush=True)
        key = f"n{n}_" + ("dense" if density == 1.0 else "sparse" if density == 0.1 else f"d{density}")
        if hp:
            key += "_yuma3_liquid"
        results[f"{key}_ms"] = round(t_numba * 1e3, 3)
        if speedup:
            results[f"{key}_speedup"] = round(speedup, 1)
        if t_numpy:
            results[f"{key}_numpy_ms"] = round(t_numpy * 1e3, 3)
    print("reference: skipped where its estimated time per call exceeds 60 s")
    call, script = cold_start()
    print(f"cold start (fresh process, cache warm): first run_epoch {call:.2f} s, script incl. imports {script:.2f} s")
    results["cold_start_s"] = round(call, 3)
    results["cold_start_script_s"] = round(script, 3)
    results["n256_speedup"] = results.get("n256_dense_speedup")
    results["vs_numpy_float"] = round(results["n256_dense_numpy_ms"] / results["n256_dense_ms"], 2)
    results["load_average_1min"] = round(os.getloadavg()[0], 2)
    print(json.dumps(results))


if __name__ == "__main__":
    main()

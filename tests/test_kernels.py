"""The numba fast path (`consensus.kernels`) against the exact reference, bit for bit.

* fixed-point kernels vs `consensus.fixedpoint` at the int64 extremes (property tests);
* whole epochs of both eras on random inputs with the runtime's quirks, kernel == reference
  field by field (bond rows included);
* every shared case (oracle-103, epoch-snapshot) and every sparse epoch of the runtime's
  test vectors through the kernel, 0 mismatches.

The first run compiles the kernels (about a minute); numba caches them on disk.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taoaudit.consensus import fixedpoint as fp  # noqa: E402
from taoaudit.consensus.cases import load_case, run_case, snapshot_inputs, snapshot_outputs_json  # noqa: E402
from taoaudit.consensus.diff import compare_outputs  # noqa: E402
from taoaudit.consensus.errors import EpochInputError  # noqa: E402
from taoaudit.consensus.kernels import fixed as kf  # noqa: E402
from taoaudit.consensus.kernels import sparse as ks  # noqa: E402
from taoaudit.consensus.model import EpochInputs, EpochOutputs, Hyperparameters, SparseRows  # noqa: E402
from taoaudit.consensus.registry import run_epoch  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
I64_MIN, I64_MAX = -(1 << 63), (1 << 63) - 1
U64_MAX = (1 << 64) - 1
ONE = 1 << 32

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# -- fixed point -----------------------------------------------------------------------

EDGES = [
    0, 1, -1, 2, -2, I64_MAX, I64_MIN, I64_MAX - 1, I64_MIN + 1, ONE, -ONE, ONE - 1, ONE + 1,
    1 << 31, -(1 << 31), (1 << 31) - 1, 1 << 52, (1 << 53) - 1, 1 << 53, (1 << 61) - 1, 1 << 61,
    1 << 62, -(1 << 62), 0xFFFF << 32, 12345678901234567, -98765432109876543,
]
i64 = st.one_of(
    st.sampled_from(EDGES),
    st.integers(I64_MIN, I64_MAX),
    st.integers(-(1 << 40), 1 << 40),
    st.integers(0, 1 << 34),
    st.builds(lambda e, d: max(I64_MIN, min(I64_MAX, e + d)), st.sampled_from(EDGES), st.integers(-3, 3)),
)
T = fp.I32F32


@settings(max_examples=3000, **SETTINGS)
@given(i64, i64)
def test_fixed_binary_ops_match_reference(a, b):
    assert kf.sat_add(a, b) == T.sat_add(a, b)
    assert kf.sat_sub(a, b) == T.sat_sub(a, b)
    assert kf.mul(a, b) == T.sat_mul(a, b)
    ok, r = kf.checked_mul(a, b)
    ref = T.checked_mul(a, b)
    assert (ok, r if ok else None) == (ref is not None, ref)
    assert kf.div(a, b) == T.safe_div(a, b)
    ok, r = kf.checked_div(a, b)
    ref = T.checked_div(a, b)
    assert (ok, r if ok else None) == (ref is not None, ref)
    if b != 0:
        assert kf.sat_div(a, b) == T.sat_div(a, b)
        # the shared-reciprocal division of the CSR kernels
        assert ks.div_by(a, b, ks.recip(b)) == T.safe_div(a, b)


def test_mul_fast_path_boundaries_match_reference():
    # mul's first test (both raws in [0, 2^32], the second below 2^32) and its edges, every pair
    near = [ONE + d for d in range(-2, 3)] + [d for d in range(-2, 3)] + [-ONE, (1 << 31), 1 << 33]
    values = sorted(set(near + EDGES))
    for a in values:
        for b in values:
            assert kf.mul(a, b) == T.sat_mul(a, b), (a, b)
            ok, r = kf.checked_mul(a, b)
            ref = T.checked_mul(a, b)
            assert (ok, r if ok else None) == (ref is not None, ref), (a, b)


@settings(max_examples=2000, **SETTINGS)
@given(i64)
def test_fixed_unary_ops_match_reference(x):
    assert kf.round_to_int(x) == T.round_to_int(x)
    assert kf.to_u16_proportion(x) == fp.fixed_proportion_to_u16(x)
    assert kf.from_int(x) == T.from_int(x)


@settings(max_examples=1500, **SETTINGS)
@given(st.one_of(st.integers(-(25 << 32), 25 << 32), st.sampled_from([0, ONE, -ONE, 20 << 32, -(20 << 32), I64_MIN, I64_MAX])))
def test_exp_matches_crate_model(x):
    assert kf.exp_safe(x) == fp.exp_safe(x)
    ok, r = kf.exp_checked(x)
    ref = fp.exp(x)
    assert (ok, r if ok else None) == (ref is not None, ref)


@settings(max_examples=1500, **SETTINGS)
@given(st.integers(0, U64_MAX), st.integers(1, U64_MAX))
def test_udiv_shift32_is_exact(a, b):
    over, q = kf.udiv_shift32(np.uint64(a), np.uint64(b))
    true = (a << 32) // b
    assert over == (true >= 1 << 64)
    if not over:
        assert int(q) == true


@settings(max_examples=1500, **SETTINGS)
@given(st.integers(0, U64_MAX), st.integers(0, U64_MAX))
def test_umul128_is_exact(a, b):
    hi, lo = kf.umul128(np.uint64(a), np.uint64(b))
    assert (int(hi) << 64) | int(lo) == a * b


# -- weighted median, both paths ---------------------------------------------------------

@st.composite
def median_inputs(draw):
    n = draw(st.integers(0, 9))
    pathological = draw(st.booleans())  # negative / huge scores and stakes: the replay path
    value = st.integers(I64_MIN, I64_MAX) if pathological else st.one_of(st.integers(0, ONE), st.sampled_from([0, ONE, ONE // 2]))
    stake = st.one_of(value, st.just(0)) if pathological else st.one_of(st.integers(0, ONE), st.just(0), st.just(ONE // 4))
    rows = []
    for _ in range(n):
        cols = draw(st.lists(st.integers(0, n + 1), max_size=n + 2))  # repeats, unsorted, >= n
        rows.append([(c, draw(value)) for c in cols])
    return [draw(stake) for _ in range(n)], rows, n, draw(st.one_of(st.integers(0, ONE), st.sampled_from([0, ONE // 2, ONE])))


@settings(max_examples=600, **SETTINGS)
@given(median_inputs())
def test_weighted_median_matches_reference(args):
    from taoaudit.consensus import sparse as ref

    stake, rows, columns, majority = args
    indptr = np.cumsum([0] + [len(r) for r in rows]).astype(np.int64)
    cols = np.asarray([c for r in rows for c, _ in r], dtype=np.int64)
    vals = np.asarray([v for r in rows for _, v in r], dtype=np.int64)
    expected = ref.weighted_median_col_sparse(stake, rows, columns, majority)
    for chunks in (1, 3):
        got = ks.weighted_median_col(np.asarray(stake, dtype=np.int64), indptr, cols, vals, columns, majority,
                                     chunks)
        assert got.tolist() == expected


# -- epoch inputs ----------------------------------------------------------------------

u64_edge = st.one_of(
    st.integers(0, 5000),
    st.integers(0, U64_MAX),
    st.sampled_from([0, 1, U64_MAX, U64_MAX - 1, (1 << 63) - 1, 1 << 63, 1 << 32]),
)
stake_value = st.one_of(
    st.integers(0, 10**12),
    st.integers(0, 100),
    st.sampled_from([0, 0, 1, 10**9, U64_MAX, U64_MAX - 1, (1 << 63) - 1, 1 << 63, 1 << 62]),
    st.integers(0, U64_MAX),
)
u16 = st.one_of(st.integers(0, 0xFFFF), st.sampled_from([0, 0, 1, 0xFFFF, 0x7FFF, 0x8000]))


@st.composite
def sparse_rows(draw, n, max_col, may_repeat=True):
    rows = []
    density = draw(st.sampled_from([0.0, 0.3, 0.7, 1.0]))
    for _ in range(n):
        if draw(st.integers(0, 9)) == 0:
            rows.append(None)
            continue
        cols = [c for c in range(max_col) if draw(st.floats(0, 1)) < density] if max_col else []
        if may_repeat and cols and draw(st.integers(0, 5)) == 0:
            cols.append(draw(st.sampled_from(cols)))  # a repeated column
        if draw(st.booleans()):
            cols = draw(st.permutations(cols))  # unsorted
        rows.append([(c, draw(u16)) for c in cols])
    return SparseRows.from_rows(rows)


def ascending_blocks(draw, length, current):
    return np.asarray(
        [draw(st.one_of(st.integers(max(0, current - 300), min(U64_MAX, current + 5)), st.sampled_from([0, U64_MAX])))
         for _ in range(length)],
        dtype=np.uint64,
    )


@st.composite
def mainline_inputs(draw):
    n = draw(st.one_of(st.integers(0, 2), st.integers(0, 9)))
    current = draw(st.one_of(st.integers(1, 20_000), st.sampled_from([0, U64_MAX])))
    tempo = draw(st.sampled_from([0, 1, 10, 100, 360, 0xFFFF]))
    hp = Hyperparameters(
        tempo=tempo,
        kappa=draw(st.one_of(st.sampled_from([0, 32_767, 65_535]), u16)),
        bonds_penalty=draw(st.one_of(st.sampled_from([0, 65_535]), u16)),
        bonds_moving_average=draw(st.one_of(st.sampled_from([0, 900_000, 975_000, 1_000_000]), st.integers(0, U64_MAX))),
        yuma3=draw(st.booleans()),
        liquid_alpha=draw(st.booleans()),
        alpha_low=draw(u16),
        alpha_high=draw(u16),
        alpha_sigmoid_steepness=draw(st.one_of(st.sampled_from([1000, 1, -1, 150, -150, 0, -32768, 32767]), st.integers(-32768, 32767))),
        max_allowed_validators=draw(st.integers(0, n + 2)),
        stake_threshold=draw(st.one_of(st.just(0), st.integers(0, 10**12), st.sampled_from([U64_MAX]))),
        tao_weight=draw(st.one_of(st.just(0), u64_edge)),
        activity_cutoff_factor_milli=draw(st.one_of(st.just(13_889), st.integers(0, 0xFFFFFFFF))),
        activity_cutoff=draw(st.one_of(st.none(), st.integers(0, 0xFFFF))),
        commit_reveal_enabled=draw(st.booleans()),
        owner_uid=draw(st.one_of(st.none(), st.integers(0, n + 1))),
        last_mechanism_step_block=draw(st.one_of(st.just(0), st.integers(0, min(U64_MAX, current + 5)), st.just(U64_MAX))),
    )
    commit = None
    if draw(st.booleans()):
        commit = np.asarray(
            [draw(st.one_of(st.just(U64_MAX), st.integers(0, 200))) for _ in range(draw(st.integers(0, n + 2)))],
            dtype=np.uint64,
        )
    return EpochInputs(
        n=n,
        current_block=current,
        rao_emission=draw(u64_edge),
        hyperparameters=hp,
        last_update=ascending_blocks(draw, n + draw(st.sampled_from([0, 0, 1, 3])), current),
        block_at_registration=np.asarray(
            [draw(st.one_of(st.integers(0, 200), st.sampled_from([0, U64_MAX]))) for _ in range(n + draw(st.sampled_from([0, 0, -1, 1])) if n else 0)],
            dtype=np.uint64,
        ),
        validator_permit=np.asarray([draw(st.booleans()) for _ in range(draw(st.sampled_from([n, n, 0, max(0, n - 1), n + 2])))], dtype=bool),
        stake_alpha=np.asarray([draw(stake_value) for _ in range(n)], dtype=np.uint64),
        stake_tao=np.asarray([draw(stake_value) for _ in range(n)], dtype=np.uint64),
        weights=draw(sparse_rows(n, n + 2)),
        bonds=draw(sparse_rows(n, n + 2)),
        commit_blocks=commit,
    )


@st.composite
def spec103_inputs(draw):
    n = draw(st.one_of(st.integers(0, 2), st.integers(0, 10)))
    current = draw(st.integers(1, 20_000))
    hp = Hyperparameters(
        tempo=99,
        kappa=draw(st.one_of(st.sampled_from([0, 32_767, 65_535]), u16)),
        bonds_moving_average=draw(st.one_of(st.sampled_from([0, 900_000, 1_000_000]), st.integers(0, 2_000_000))),
        max_allowed_validators=draw(st.integers(0, n + 2)),
        activity_cutoff=draw(st.one_of(st.sampled_from([5000, 0, 100]), st.integers(0, 0xFFFF))),
    )
    return EpochInputs(
        n=n,
        current_block=current,
        rao_emission=draw(st.one_of(st.integers(0, 10**10), u64_edge)),
        hyperparameters=hp,
        last_update=ascending_blocks(draw, n, current),
        block_at_registration=np.asarray([draw(st.integers(0, 200)) for _ in range(n)], dtype=np.uint64),
        validator_permit=np.asarray([draw(st.booleans()) for _ in range(n)], dtype=bool),
        stake_alpha=np.asarray([draw(stake_value) for _ in range(n)], dtype=np.uint64),
        stake_tao=np.zeros(n, dtype=np.uint64),
        weights=draw(sparse_rows(n, n, may_repeat=False)),
        bonds=draw(sparse_rows(n, n, may_repeat=False)),
    )


def assert_same_outputs(expected: EpochOutputs, actual: EpochOutputs) -> None:
    for f in fields(EpochOutputs):
        e, a = getattr(expected, f.name), getattr(actual, f.name)
        assert (e is None) == (a is None), f.name
        if e is None:
            continue
        if f.name == "bonds":
            for part in ("indptr", "cols", "values", "present"):
                x, y = getattr(e, part), getattr(a, part)
                assert x.dtype == y.dtype and np.array_equal(x, y), (f.name, part, x, y)
        else:
            assert e.dtype == a.dtype and np.array_equal(e, a), (f.name, e, a)


MAINLINE_SPECS = [273, 282, 283, 296, 297, 319, 320, 322, 323, 330, 364, 365, 396, 397, 422, 423, 425]


@settings(max_examples=400, **SETTINGS)
@given(mainline_inputs(), st.sampled_from(MAINLINE_SPECS))
def test_mainline_kernel_equals_reference(inputs, spec):
    assert_same_outputs(run_epoch(inputs, spec), run_epoch(inputs, spec, engine="numba"))


@settings(max_examples=200, **SETTINGS)
@given(spec103_inputs())
def test_spec103_kernel_equals_reference(inputs):
    assert_same_outputs(run_epoch(inputs, 103), run_epoch(inputs, 103, engine="numba"))


# -- the kernels in parallel chunks ----------------------------------------------------

def _chunked(inputs: EpochInputs, spec: int, chunks: int) -> EpochOutputs:
    from taoaudit.consensus.kernels.epoch import run_epoch as kernel_epoch
    from taoaudit.consensus.registry import variant_for

    return kernel_epoch(inputs, variant_for(spec).name, spec, chunks=chunks)


@settings(max_examples=150, **SETTINGS)
@given(mainline_inputs(), st.sampled_from(MAINLINE_SPECS), st.sampled_from([2, 3, 5]))
def test_mainline_kernel_in_chunks_equals_reference(inputs, spec, chunks):
    """Real epochs reach the chunked paths only above PARALLEL_MIN_ENTRIES; forcing the
    chunk count shows the split, the compaction and the merged reductions are exact."""
    assert_same_outputs(run_epoch(inputs, spec), _chunked(inputs, spec, chunks))


@settings(max_examples=80, **SETTINGS)
@given(spec103_inputs(), st.sampled_from([2, 3, 5]))
def test_spec103_kernel_in_chunks_equals_reference(inputs, chunks):
    assert_same_outputs(run_epoch(inputs, 103), _chunked(inputs, 103, chunks))


@settings(max_examples=200, **SETTINGS)
@given(st.integers(1, 6), st.lists(st.tuples(st.integers(0, 7), i64), max_size=40), st.integers(2, 5))
def test_col_sums_in_chunks_keep_the_runtime_order(columns, pairs, chunks):
    """With a negative term the order of saturating additions matters: chunks fall back."""
    cols = np.array([c for c, _ in pairs], dtype=np.int64)
    vals = np.array([v for _, v in pairs], dtype=np.int64)
    expected = [0] * columns
    for c, v in pairs:
        if c < columns:
            expected[c] = T.sat_add(expected[c], v)
    assert ks.col_sums(cols, vals, columns, 1).tolist() == expected
    assert ks.col_sums(cols, vals, columns, chunks).tolist() == expected


@settings(max_examples=200, **SETTINGS)
@given(st.data(), st.integers(2, 5))
def test_clip_ranks_in_chunks_keep_the_runtime_order(data, chunks):
    """Negative rank terms (never produced by an epoch) make the chunked ranks start over."""
    n = data.draw(st.integers(1, 8))
    rows = [data.draw(st.lists(st.tuples(st.integers(0, n), i64), max_size=n + 2)) for _ in range(n)]
    indptr = np.cumsum([0] + [len(r) for r in rows]).astype(np.int64)
    cols = np.array([c for r in rows for c, _ in r], dtype=np.int64)
    vals = np.array([v for r in rows for _, v in r], dtype=np.int64)
    threshold = np.array(data.draw(st.lists(i64, min_size=n, max_size=n)), dtype=np.int64)
    stake = np.array(data.draw(st.lists(i64, min_size=n, max_size=n)), dtype=np.int64)
    serial = [a.copy() for a in
              ks.col_clip_trust_ranks(indptr, cols, vals, threshold, stake, n, ks.new_workspace(), 1)]
    split = ks.col_clip_trust_ranks(indptr, cols, vals, threshold, stake, n, ks.new_workspace(), chunks)
    for a, b in zip(serial, split):
        assert np.array_equal(a, b)


def test_large_epochs_run_in_parallel_chunks(monkeypatch):
    import numba

    from taoaudit.consensus.kernels import chunks

    monkeypatch.setattr(chunks, "idle_cores", lambda: None)  # whatever the machine does now
    threads = numba.get_num_threads()
    assert chunks.chunks_for(chunks.PARALLEL_MIN_ENTRIES_FAST - 1) == 1
    assert chunks.chunks_for(chunks.PARALLEL_MIN_ENTRIES) == threads
    fast_layer = chunks.threading_layer() != "workqueue"
    assert chunks.chunks_for(chunks.PARALLEL_MIN_ENTRIES_FAST) == (threads if fast_layer else 1)


def test_busy_cores_and_the_thread_cap_make_epochs_serial(monkeypatch):
    """Only idle cores get a chunk, and never more than the cap (same integers either way)."""
    import numba

    from taoaudit.consensus import set_kernel_threads
    from taoaudit.consensus.kernels import chunks

    big = chunks.PARALLEL_MIN_ENTRIES
    threads = numba.get_num_threads()
    monkeypatch.setattr(chunks, "idle_cores", lambda: 1)
    assert chunks.chunks_for(big) == 1
    monkeypatch.setattr(chunks, "idle_cores", lambda: None)
    try:
        set_kernel_threads(1)
        assert chunks.chunks_for(big) == 1
        set_kernel_threads(0)
        assert chunks.chunks_for(big) == threads
    finally:
        chunks.set_thread_cap(0)


def test_idle_cores_reads_the_run_queue():
    from taoaudit.consensus.kernels import chunks

    idle = chunks.idle_cores()
    cpus = len(os.sched_getaffinity(0))
    assert idle is None or 1 <= idle <= cpus


def test_auto_engine_keeps_small_epochs_off_numba_and_gives_the_same_integers():
    """A 4-UID epoch under engine="auto" in a fresh process does not import numba."""
    bench = Path(__file__).resolve().parents[1] / "bench"
    code = (
        "import sys\n"
        f"sys.path.insert(0, {str(bench)!r})\n"
        "from epoch import make_inputs\n"
        "from taoaudit.consensus.registry import run_epoch\n"
        "out = run_epoch(make_inputs(4, 1.0, seed=4), 425, engine='auto')\n"
        "print('numba' in sys.modules, out.emission.tolist())\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    imported, emission = res.stdout.split(" ", 1)
    assert imported == "False"
    sys.path.insert(0, str(bench))
    try:
        from epoch import make_inputs
    finally:
        sys.path.remove(str(bench))
    kernel = run_epoch(make_inputs(4, 1.0, seed=4), 425, engine="numba").emission.tolist()
    assert emission.strip() == str(kernel)
    big = make_inputs(64, 1.0, seed=64)
    auto, ref = run_epoch(big, 425, engine="auto"), run_epoch(big, 425, engine="reference")
    for f in fields(auto):
        assert np.array_equal(np.asarray(getattr(auto, f.name)), np.asarray(getattr(ref, f.name))), f.name


def _child_epoch(inputs: EpochInputs, queue) -> None:
    from taoaudit.consensus.kernels import chunks
    from taoaudit.consensus.kernels.chunks import chunks_for

    chunks.idle_cores = lambda: None
    queue.put((run_epoch(inputs, 425, engine="numba").emission.tobytes(), chunks_for(1 << 30)))


def test_parallel_epochs_survive_fork(monkeypatch):
    """A child forked after parallel epochs ran runs epochs too: GNU OpenMP would terminate
    it at its first parallel region, so on that layer it runs them serially."""
    import multiprocessing as mp

    import numba

    from taoaudit.consensus.kernels import chunks
    from taoaudit.consensus.kernels.chunks import PARALLEL_MIN_ENTRIES, chunks_for

    monkeypatch.setattr(chunks, "idle_cores", lambda: None)  # parallel even on a busy machine

    if "fork" not in mp.get_all_start_methods():
        pytest.skip("no fork start method on this platform")
    if numba.get_num_threads() < 2:
        pytest.skip("one numba thread: epochs never run in parallel chunks")
    n = 520
    inputs = _base(n)
    assert chunks_for(n * n) > 1 and n * n >= PARALLEL_MIN_ENTRIES
    expected = run_epoch(inputs, 425, engine="numba").emission.tobytes()  # parent goes parallel first
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_child_epoch, args=(inputs, queue))
    child.start()
    try:
        got = queue.get(timeout=120)
    except Exception:  # noqa: BLE001 - the child died or hung; its exit code says which
        got = None
    child.join(30)
    if child.is_alive():
        child.kill()
        child.join(5)
    assert child.exitcode == 0 and got is not None, f"child exit code {child.exitcode}"
    emission, child_chunks = got
    assert emission == expected
    layer = numba.threading_layer()
    assert child_chunks == (1 if layer == "omp" else numba.get_num_threads()), layer


DIRECT_KERNEL_CALL = """
import numpy as np
from taoaudit.consensus.kernels import sparse as ks
p, c, v = ks.masked_weights(
    2, np.array([0, 1, 2]), np.array([1, 0]), np.array([5, 7]), ks.VALUE_INT, True,
    np.ones(2, np.bool_), -1, np.full(2, 9, np.uint64), np.zeros(2, np.uint64),
    np.zeros(0, np.uint64), False, ks.new_workspace(), 1)
print(v.tolist())
"""


def test_kernels_called_directly_load_from_the_cache():
    """A kernel that calls a parallel kernel, called straight from Python in a fresh process,
    loads from numba's cache without crashing: the threading layer starts on import."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    for _ in range(2):  # the second process loads what the first one compiled and cached
        run = subprocess.run([sys.executable, "-c", DIRECT_KERNEL_CALL], capture_output=True,
                             text=True, timeout=600, cwd=root)
        assert run.returncode == 0, (run.returncode, run.stderr[-2000:])
        assert run.stdout.strip() == f"[{ONE}, {ONE}]"


def _base(n: int, **hp) -> EpochInputs:
    rows = [[(j, 65535 if j != i else 0) for j in range(n)] for i in range(n)]
    return EpochInputs(
        n=n, current_block=1000, rao_emission=10**9, hyperparameters=Hyperparameters(**hp),
        last_update=np.full(n, 999, dtype=np.uint64), block_at_registration=np.zeros(n, dtype=np.uint64),
        validator_permit=np.ones(n, dtype=bool), stake_alpha=np.full(n, 10**12, dtype=np.uint64),
        stake_tao=np.zeros(n, dtype=np.uint64), weights=SparseRows.from_rows(rows),
        bonds=SparseRows.from_rows(rows),
    )


EDGE_CASES = {
    "n0": _base(0),
    "n1": _base(1),
    "all_zero_weights": _base(5).with_changes(weights=SparseRows.from_rows([[(j, 0) for j in range(5)]] * 5)),
    "all_inactive": _base(5).with_changes(current_block=10**9),
    "u64_stakes": _base(4).with_changes(stake_alpha=np.full(4, U64_MAX, dtype=np.uint64)),
    "u64_stakes_3": _base(3).with_changes(stake_alpha=np.asarray([U64_MAX, U64_MAX, 5], dtype=np.uint64)),
    "rao_max": _base(4).with_changes(rao_emission=U64_MAX),
    "median_ties": _base(6).with_changes(
        stake_alpha=np.full(6, 7, dtype=np.uint64),
        weights=SparseRows.from_rows([[(0, 100), (1, 100)], [(0, 100), (1, 50)], [(0, 50)], [(1, 100)], [], [(0, 100), (0, 7)]]),
    ),
    "permit_ties": _base(6, max_allowed_validators=3).with_changes(stake_alpha=np.asarray([5, 5, 5, 5, 0, 0], dtype=np.uint64)),
    "permit_short": _base(5).with_changes(validator_permit=np.ones(2, dtype=bool)),
    "permit_empty": _base(5).with_changes(validator_permit=np.zeros(0, dtype=bool)),
    "permit_long": _base(5).with_changes(validator_permit=np.ones(9, dtype=bool)),
    "last_update_long": _base(5).with_changes(last_update=np.full(8, 999, dtype=np.uint64)),
    "yuma3_liquid_negative_steepness": _base(6, yuma3=True, liquid_alpha=True, alpha_sigmoid_steepness=-700, bonds_penalty=20000),
    "owner_and_tao": _base(5, owner_uid=2, tao_weight=U64_MAX // 5, stake_threshold=10**12).with_changes(
        stake_tao=np.arange(5, dtype=np.uint64) * 10**12),
    "commit_blocks": _base(5, commit_reveal_enabled=True).with_changes(
        block_at_registration=np.asarray([0, 50, 100, 0, 0], dtype=np.uint64),
        commit_blocks=np.asarray([U64_MAX, 10, 60, 0, U64_MAX], dtype=np.uint64)),
}


@pytest.mark.parametrize("name", sorted(EDGE_CASES))
@pytest.mark.parametrize("spec", [425, 364, 319, 280, 103])
def test_edge_cases(name, spec):
    inputs = EDGE_CASES[name]
    try:
        expected = run_epoch(inputs, spec)
    except EpochInputError:
        with pytest.raises(EpochInputError):
            run_epoch(inputs, spec, engine="numba")
        return
    assert_same_outputs(expected, run_epoch(inputs, spec, engine="numba"))


def _malformed(rows: SparseRows, **change) -> SparseRows:
    return SparseRows(**{**{f.name: getattr(rows, f.name) for f in fields(rows)}, **change})


MALFORMED_ROWS = {
    "negative_column": lambda r: _malformed(r, cols=np.where(np.arange(len(r.cols)) == 3, -1, r.cols)),
    "pointer_past_pairs": lambda r: _malformed(r, indptr=np.append(r.indptr[:-1], len(r.cols) + 1)),
    "pointers_decreasing": lambda r: _malformed(r, indptr=np.asarray([0, 5, 2, 10, 15, 20], dtype=np.int64)),
    "values_shorter": lambda r: _malformed(r, values=r.values[:-1]),
}


@pytest.mark.parametrize("field", ["weights", "bonds"])
@pytest.mark.parametrize("kind", sorted(MALFORMED_ROWS))
@pytest.mark.parametrize("spec", [425, 103])
def test_malformed_sparse_rows_are_refused_not_indexed(field, kind, spec):
    # the kernels index without sign or bounds checks (kernels.indexing): bad CSR arrays
    # must be stopped at the entry with a one-line error
    inputs = _base(5)
    inputs = inputs.with_changes(**{field: MALFORMED_ROWS[kind](getattr(inputs, field))})
    with pytest.raises(EpochInputError, match=f"{field} are not well-formed"):
        run_epoch(inputs, spec, engine="numba")


def test_larger_random_epochs_match():
    """n = 48 with mixed density: exercises the O(nnz) median, dense row scans and sorting."""
    rng = np.random.default_rng(7)
    for spec, hp in ((425, {}), (425, dict(yuma3=True, liquid_alpha=True, bonds_penalty=30_000)),
                     (425, dict(bonds_penalty=12_345)), (364, {}), (103, {})):
        n = 48
        rows, brows = [], []
        for _ in range(n):
            m = rng.random(n) < rng.choice([0.05, 0.5, 1.0])
            cols = rng.permutation(np.nonzero(m)[0])
            rows.append(list(zip(cols.tolist(), rng.integers(0, 65536, len(cols)).tolist())))
            cols = np.nonzero(rng.random(n) < 0.3)[0]
            brows.append(list(zip(cols.tolist(), rng.integers(0, 65536, len(cols)).tolist())))
        inputs = _base(n, max_allowed_validators=32, **hp).with_changes(
            weights=SparseRows.from_rows(rows), bonds=SparseRows.from_rows(brows),
            stake_alpha=rng.integers(0, 10**15, n).astype(np.uint64),
            last_update=rng.integers(800, 1000, n).astype(np.uint64),
            block_at_registration=rng.integers(0, 900, n).astype(np.uint64),
        )
        assert_same_outputs(run_epoch(inputs, spec), run_epoch(inputs, spec, engine="numba"))


# -- shared cases and vectors ------------------------------------------------------------

def _shared(sub: str) -> list[Path]:
    paths = sorted((SHARED / sub).glob("*.json"))
    assert paths, f"no ground truth under {SHARED / sub}"
    return paths


@pytest.fixture(params=["default", "3 chunks"])
def chunking(request, monkeypatch):
    """The shared cases are small enough to run serially; also run them in forced chunks."""
    if request.param != "default":
        import taoaudit.consensus.kernels.epoch as kernel_epoch

        monkeypatch.setattr(kernel_epoch, "chunks_for", lambda entries: 3)
    return request.param


@pytest.mark.parametrize("sub", ["oracle-103/cases", "epoch-snapshot/cases"])
def test_shared_cases_through_kernel(sub, chunking):
    paths = _shared(sub)
    assert paths
    bad = {}
    for p in paths:
        result = run_case(load_case(p), engine="numba")
        if result.mismatches:
            bad[p.name] = [m.as_json() for m in result.mismatches[:3]]
    assert not bad, bad


@pytest.mark.ground_truth("vectors")
def test_sparse_vector_epochs_through_kernel(chunking):
    paths = _shared("vectors/epoch")
    runs = 0
    bad = {}
    for p in paths:
        data = json.loads(p.read_text())
        for k, step in enumerate(data.get("steps", [])):
            if step.get("op") != "epoch" or step.get("variant") != "sparse":
                continue
            out = run_epoch(snapshot_inputs(step["input_snapshot"]), 425, engine="numba")
            mismatches = compare_outputs(step["model_output"], snapshot_outputs_json(out))
            runs += 1
            if mismatches:
                bad[f"{p.name}#{k}"] = [m.as_json() for m in mismatches[:3]]
    assert runs == 155
    assert not bad, bad


def test_outputs_survive_later_calls():
    """The kernels reuse a per-thread workspace: nothing returned may alias it."""
    import copy

    rng = np.random.default_rng(11)

    def inputs(n, **hp):
        rows = [list(zip(rng.permutation(n).tolist(), rng.integers(0, 65536, n).tolist())) for _ in range(n)]
        return _base(n, **hp).with_changes(weights=SparseRows.from_rows(rows), bonds=SparseRows.from_rows(rows[::-1]),
                                           stake_alpha=rng.integers(1, 10**15, n).astype(np.uint64))

    for spec, hp in ((425, {}), (425, dict(yuma3=True, liquid_alpha=True)), (319, {}), (103, {})):
        first_inputs = inputs(20, **hp)
        first = run_epoch(first_inputs, spec, engine="numba")
        kept = copy.deepcopy(first)
        for n in (20, 40, 5):
            run_epoch(inputs(n, **hp), spec, engine="numba")
        assert_same_outputs(kept, first)
        # and what survived is right: the pure-Python reference, not the kernel's own earlier answer
        assert_same_outputs(run_epoch(first_inputs, spec, engine="reference"), first)

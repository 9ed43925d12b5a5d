"""Snapshot files: round trip, tamper detection, atomic writes, no pickle."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from taoaudit.chainkit import errors
from taoaudit.chainkit.metagraph import Metagraph
from taoaudit.chainkit.snapshot import (
    export_csv,
    export_json,
    load_arrays,
    load_epoch,
    load_metagraph,
    save_arrays,
    save_epoch,
    save_metagraph,
)
from taoaudit.consensus.model import EpochInputs, EpochOutputs, Hyperparameters, SparseRows


def _metagraph(n: int = 64) -> Metagraph:
    rng = np.random.default_rng(3)
    arrays = {
        "uid": np.arange(n, dtype=np.uint16),
        "hotkey": np.asarray([f"5Hot{i:044d}" for i in range(n)], dtype=np.str_),
        "active": rng.integers(0, 2, n).astype(bool),
        "incentive": rng.integers(0, 65536, n).astype(np.uint16),
        "emission": rng.integers(0, 2**63, n, dtype=np.uint64) * np.uint64(2),
        "stake": np.full(n, 2**64 - 1, dtype=np.uint64),
    }
    return Metagraph(1, 6852690, "0x" + "ab" * 32, 343, "replay:x", "runtime_api", arrays, {"tempo": 99})


def _epoch() -> tuple[EpochInputs, EpochOutputs]:
    n = 5
    w = SparseRows.from_rows([[(1, 65535), (1, 0)], None, [], [(0, 7), (4, 9)], None])
    b = SparseRows.from_rows([None, [(2, 3)], [], None, [(0, 1)]])
    hp = Hyperparameters(tempo=99, kappa=32767, activity_cutoff=5000, max_allowed_validators=64)
    inputs = EpochInputs(
        n=n, current_block=1000, rao_emission=2**64 - 1, hyperparameters=hp,
        last_update=np.arange(n + 2, dtype=np.uint64), block_at_registration=np.zeros(n, np.uint64),
        validator_permit=np.array([True, False, True, False, True]),
        stake_alpha=np.arange(n, dtype=np.uint64) * np.uint64(10**12), stake_tao=np.zeros(n, np.uint64),
        weights=w, bonds=b, netuid=3, hotkeys=tuple(f"hk{i}" for i in range(n)),
    )  # fmt: skip
    u16 = np.arange(n, dtype=np.uint16)
    outputs = EpochOutputs(
        active=np.ones(n, bool), validator_permit=np.zeros(n, bool), consensus=u16, incentive=u16,
        dividends=u16, validator_trust=u16, emission=np.arange(n, dtype=np.uint64), bonds=b,
        rank=u16, trust=u16, pruning_scores=u16,
    )  # fmt: skip
    return inputs, outputs


def test_metagraph_round_trip(tmp_path: Path) -> None:
    mg = _metagraph()
    manifest = save_metagraph(mg, tmp_path / "mg")
    m = json.loads(manifest.read_text())
    assert m["netuid"] == 1 and m["block_number"] == 6852690 and m["spec_version"] == 343
    assert m["block_hash"] == mg.block_hash and m["endpoint"] == "replay:x"
    assert m["fields"] == list(mg.arrays) and set(m["sha256"]) == set(mg.arrays)
    back = load_metagraph(tmp_path / "mg.npz")
    for k, a in mg.arrays.items():
        assert back.arrays[k].dtype == a.dtype and np.array_equal(back.arrays[k], a), k
    assert back.subnet == {"tempo": 99}
    assert not list(tmp_path.glob("*.tmp"))


def test_epoch_round_trip(tmp_path: Path) -> None:
    inputs, outputs = _epoch()
    save_epoch(inputs, outputs, tmp_path / "ep", {"block_hash": "0x00"})
    i2, o2, m = load_epoch(tmp_path / "ep")
    assert m["block_hash"] == "0x00"
    assert i2.weights == inputs.weights and i2.bonds == inputs.bonds
    assert i2.hyperparameters == inputs.hyperparameters
    assert i2.rao_emission == 2**64 - 1 and i2.hotkeys == inputs.hotkeys
    for f in ("last_update", "block_at_registration", "validator_permit", "stake_alpha", "stake_tao"):
        assert np.array_equal(getattr(i2, f), getattr(inputs, f)), f
    assert o2 is not None and o2.field_names() == outputs.field_names()
    assert o2.bonds == outputs.bonds and np.array_equal(o2.rank, outputs.rank)
    assert o2.stake_weight is None


def test_every_flipped_byte_of_the_arrays_is_detected_or_harmless(tmp_path: Path) -> None:
    mg = _metagraph()
    save_metagraph(mg, tmp_path / "mg")
    npz = tmp_path / "mg.npz"
    original = npz.read_bytes()
    detected = 0
    positions = range(0, len(original), max(1, len(original) // 300))
    for pos in positions:
        data = bytearray(original)
        data[pos] ^= 0xFF
        npz.write_bytes(bytes(data))
        try:
            back = load_metagraph(npz)
        except errors.MalformedSnapshot:
            detected += 1
            continue
        # a flip the zip container ignores (e.g. a timestamp) must not change any number
        for k, a in mg.arrays.items():
            assert np.array_equal(back.arrays[k], a), (pos, k)
    assert detected > len(positions) // 2
    # the middle of the file is array data: always detected
    data = bytearray(original)
    data[len(data) // 2] ^= 0x01
    npz.write_bytes(bytes(data))
    with pytest.raises(errors.MalformedSnapshot):
        load_metagraph(npz)


def test_manifest_hash_mismatch_is_detected(tmp_path: Path) -> None:
    save_metagraph(_metagraph(), tmp_path / "mg")
    mpath = tmp_path / "mg.json"
    m = json.loads(mpath.read_text())
    h = m["sha256"]["incentive"]
    m["sha256"]["incentive"] = ("0" if h[0] != "0" else "1") + h[1:]
    mpath.write_text(json.dumps(m))
    with pytest.raises(errors.MalformedSnapshot, match="incentive"):
        load_metagraph(mpath)
    mpath.write_text("{not json")
    with pytest.raises(errors.MalformedSnapshot):
        load_metagraph(mpath)


def test_never_pickle(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        save_arrays(tmp_path / "x", {"a": np.array([{"x": 1}], dtype=object)}, {})
    # a snapshot whose array file holds a pickled object array is refused, not unpickled
    save_arrays(tmp_path / "y", {"a": np.arange(3)}, {"kind": "test"})
    np.savez(tmp_path / "y.npz", a=np.array([object()], dtype=object))
    with pytest.raises(errors.MalformedSnapshot):
        load_arrays(tmp_path / "y")


def test_missing_array_file(tmp_path: Path) -> None:
    save_arrays(tmp_path / "z", {"a": np.arange(3)}, {})
    (tmp_path / "z.npz").unlink()
    with pytest.raises(errors.MalformedSnapshot, match="missing"):
        load_arrays(tmp_path / "z")


def test_exports(tmp_path: Path) -> None:
    mg = _metagraph(8)
    data = json.loads(export_json(mg, tmp_path / "mg.json").read_text())
    assert data["neurons"][3]["incentive"] == int(mg.arrays["incentive"][3])
    assert data["neurons"][0]["stake"] == 2**64 - 1
    rows = list(csv.reader(open(export_csv(mg, tmp_path / "mg.csv"))))
    assert rows[0] == mg.fields and len(rows) == 9
    assert rows[4][mg.fields.index("emission")] == str(int(mg.arrays["emission"][3]))
    ep = json.loads(export_json(_epoch(), tmp_path / "ep.json").read_text())
    assert ep["inputs"]["weights"]["0"] == [[1, 65535], [1, 0]]
    assert "1" not in ep["inputs"]["weights"] and ep["inputs"]["weights"]["2"] == []


def test_atomic_writes_keep_the_replaced_files_permissions(tmp_path) -> None:
    """A 0644 file replaced atomically stays 0644 (a temp file is 0600); a new file gets the umask's."""
    import os
    import stat

    from taoaudit.chainkit.files import atomic_write

    old = tmp_path / "kept.json"
    old.write_text("{}")
    os.chmod(old, 0o644)
    atomic_write(old, "{\"a\": 1}")
    assert stat.S_IMODE(old.stat().st_mode) == 0o644 and old.read_text() == "{\"a\": 1}"
    umask = os.umask(0o022)
    try:
        atomic_write(tmp_path / "new.json", "{}")
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "new.json").stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []

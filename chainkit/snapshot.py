"""Snapshot files: numpy arrays in ``<base>.npz`` plus a JSON manifest ``<base>.json``.

The manifest says what the arrays are (kind, netuid, block number and hash, spec version,
endpoint, the field list) and holds the sha256 of every array, so a snapshot that was altered or
half-written is refused on load rather than audited. Both files are written atomically (temp
file + ``os.replace``), the manifest last: a manifest on disk means its arrays are complete.
Arrays are written and read with ``allow_pickle=False``: a snapshot can hold numbers and
strings, never code.

Also here: JSON export (always) and CSV export (stdlib ``csv``) of per-UID tables.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import os
import zipfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from taoaudit.consensus.model import EpochInputs, EpochOutputs, Hyperparameters, SparseRows

from .files import atomic_write
from .errors import ChainError, MalformedSnapshot
from .metagraph import Metagraph

FORMAT = "taoaudit-snapshot/1"


# -- generic arrays + manifest -----------------------------------------------------------------
def _base(path: str | os.PathLike) -> Path:
    """The snapshot's name without ``.npz``/``.json``; any other dot stays (``run.v1``)."""
    p = Path(path)
    return p.with_suffix("") if p.suffix in (".npz", ".json") else p


def _sibling(base: Path, ext: str) -> Path:
    return base.with_name(base.name + ext)


def snapshot_files(path: str | os.PathLike) -> tuple[Path, Path]:
    """(manifest, arrays file) a snapshot name stands for."""
    base = _base(path)
    return _sibling(base, ".json"), _sibling(base, ".npz")


class ExportRefused(ChainError):
    """An export would overwrite a file (the snapshot's own, or any without ``force``)."""


def array_digest(a: np.ndarray) -> str:
    """sha256 over dtype, shape and C-order bytes (so a reshaped or retyped array differs)."""
    a = np.ascontiguousarray(a)
    h = hashlib.sha256()
    h.update(f"{a.dtype.str}|{a.shape}|".encode())
    h.update(a.tobytes())
    return h.hexdigest()


def _atomic_write(path: Path, data: bytes) -> None:
    atomic_write(path, data)


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, tuple):
        return list(o)
    raise TypeError(f"{type(o).__name__} is not JSON-serialisable")


def save_arrays(path: str | os.PathLike, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> Path:
    """Write ``<base>.npz`` and ``<base>.json``; returns the manifest path."""
    base = _base(path)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, a in arrays.items():
            a = np.asarray(a)
            if a.dtype.hasobject:
                raise TypeError(f"array {name!r} has dtype object; snapshots hold numbers and strings only")
            with zf.open(f"{name}.npy", "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.ascontiguousarray(a), allow_pickle=False)
    blob = buf.getvalue()
    manifest = {
        "format": FORMAT,
        **dict(meta),
        "arrays_file": _sibling(base, ".npz").name,
        # The file's own hash catches damage outside the arrays too (zip headers, names, dates).
        "arrays_file_sha256": hashlib.sha256(blob).hexdigest(),
        "fields": list(arrays),
        "sha256": {name: array_digest(np.asarray(a)) for name, a in arrays.items()},
    }
    _atomic_write(_sibling(base, ".npz"), blob)
    manifest_path = _sibling(base, ".json")
    _atomic_write(manifest_path, (json.dumps(manifest, indent=1, default=_json_default) + "\n").encode())
    return manifest_path


def load_arrays(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read and verify a snapshot; :class:`MalformedSnapshot` on any mismatch."""
    base = _base(path)
    mpath = _sibling(base, ".json")
    try:
        manifest = json.loads(mpath.read_text())
    except FileNotFoundError:
        raise MalformedSnapshot(mpath, "manifest missing") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise MalformedSnapshot(mpath, f"manifest is not JSON ({e})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise MalformedSnapshot(mpath, f"not a {FORMAT} manifest")
    fields, digests = manifest.get("fields"), manifest.get("sha256")
    if not isinstance(fields, list) or not isinstance(digests, dict) or set(fields) != set(digests):
        raise MalformedSnapshot(mpath, "manifest field list and hashes disagree")
    arrays_file = manifest.get("arrays_file", _sibling(base, ".npz").name)
    if (not isinstance(arrays_file, str) or Path(arrays_file).name != arrays_file or "\\" in arrays_file
            or arrays_file.startswith(".") or not arrays_file.endswith(".npz")):
        raise MalformedSnapshot(mpath, f"arrays_file must be a file name beside the manifest, not {arrays_file!r}")
    npz = mpath.with_name(arrays_file)
    file_digest = manifest.get("arrays_file_sha256")
    if file_digest is not None:
        try:
            actual = hashlib.sha256(npz.read_bytes()).hexdigest()
        except FileNotFoundError:
            raise MalformedSnapshot(npz, "array file missing") from None
        if actual != file_digest:
            raise MalformedSnapshot(npz, "sha256 of the array file does not match the manifest (damaged or edited)")
    arrays: dict[str, np.ndarray] = {}
    try:
        with np.load(npz, allow_pickle=False) as data:
            names = set(data.files)
            if names != set(fields):
                raise MalformedSnapshot(
                    npz, f"arrays {sorted(names ^ set(fields))[:5]} differ from the manifest's fields"
                )
            for name in fields:
                arrays[name] = data[name]
    except MalformedSnapshot:
        raise
    except FileNotFoundError:
        raise MalformedSnapshot(npz, "array file missing") from None
    except Exception as e:  # zip CRC errors, truncated members, pickled content, bad headers
        raise MalformedSnapshot(npz, f"arrays unreadable ({type(e).__name__}: {e})") from None
    for name in fields:
        if array_digest(arrays[name]) != digests[name]:
            raise MalformedSnapshot(npz, f"sha256 of array {name!r} does not match the manifest")
    return arrays, manifest


# -- metagraph -------------------------------------------------------------------------------
def _metagraph_meta(mg: Metagraph) -> dict[str, Any]:
    """Where and when a metagraph was read: the manifest of its snapshot and its JSON header."""
    return {
        "netuid": mg.netuid,
        "block_number": mg.block,
        "block_hash": mg.block_hash,
        "spec_version": mg.spec_version,
        "endpoint": mg.endpoint,
        "source": mg.source,
        "subnet": mg.subnet,
    }


def save_metagraph(mg: Metagraph, path: str | os.PathLike) -> Path:
    return save_arrays(path, mg.arrays, {"kind": "metagraph", **_metagraph_meta(mg)})


def load_metagraph(path: str | os.PathLike) -> Metagraph:
    arrays, m = load_arrays(path)
    if m.get("kind") != "metagraph":
        raise MalformedSnapshot(path, f"holds a {m.get('kind')!r} snapshot, not a metagraph")
    try:
        return Metagraph(
            int(m["netuid"]), int(m["block_number"]), m["block_hash"], int(m["spec_version"]), m["endpoint"],
            m["source"], arrays, dict(m.get("subnet") or {}),
        )  # fmt: skip
    except (KeyError, TypeError, ValueError) as e:
        raise MalformedSnapshot(path, f"metagraph fields incomplete ({type(e).__name__}: {e})") from None


# -- epoch (inputs + outputs) ------------------------------------------------------------------
def _put_rows(arrays: dict[str, np.ndarray], prefix: str, rows: SparseRows) -> None:
    for part in ("indptr", "cols", "values", "present"):
        arrays[f"{prefix}.{part}"] = getattr(rows, part)


def _get_rows(arrays: Mapping[str, np.ndarray], prefix: str) -> SparseRows:
    return SparseRows(*(arrays[f"{prefix}.{p}"] for p in ("indptr", "cols", "values", "present")))


_IN_ARRAYS = ("last_update", "block_at_registration", "validator_permit", "stake_alpha", "stake_tao")


def save_epoch(
    inputs: EpochInputs,
    outputs: EpochOutputs | None,
    path: str | os.PathLike,
    meta: Mapping[str, Any] | None = None,
) -> Path:
    """An epoch snapshot: inputs (state at E−1 as the epoch reads it) and outputs (at E)."""
    arrays: dict[str, np.ndarray] = {}
    for name in _IN_ARRAYS:
        arrays[f"in.{name}"] = getattr(inputs, name)
    _put_rows(arrays, "in.weights", inputs.weights)
    _put_rows(arrays, "in.bonds", inputs.bonds)
    if inputs.commit_blocks is not None:
        arrays["in.commit_blocks"] = inputs.commit_blocks
    if inputs.hotkeys is not None:
        arrays["in.hotkeys"] = np.asarray(inputs.hotkeys, dtype=np.str_)
    out_fields: list[str] = []
    if outputs is not None:
        for f in dataclasses.fields(outputs):
            v = getattr(outputs, f.name)
            if v is None:
                continue
            out_fields.append(f.name)
            if isinstance(v, SparseRows):
                _put_rows(arrays, f"out.{f.name}", v)
            else:
                arrays[f"out.{f.name}"] = v
    full_meta = {
        "kind": "epoch",
        **dict(meta or {}),
        "netuid": inputs.netuid,
        "n": inputs.n,
        "current_block": inputs.current_block,
        "rao_emission": inputs.rao_emission,
        "hyperparameters": dataclasses.asdict(inputs.hyperparameters),
        "outputs": out_fields if outputs is not None else None,
    }
    return save_arrays(path, arrays, full_meta)


def load_epoch(path: str | os.PathLike) -> tuple[EpochInputs, EpochOutputs | None, dict[str, Any]]:
    arrays, m = load_arrays(path)
    if m.get("kind") != "epoch":
        raise MalformedSnapshot(path, f"holds a {m.get('kind')!r} snapshot, not an epoch")
    try:
        hp = Hyperparameters(**m["hyperparameters"])
        hotkeys = arrays.get("in.hotkeys")
        inputs = EpochInputs(
            n=int(m["n"]),
            current_block=int(m["current_block"]),
            rao_emission=int(m["rao_emission"]),
            hyperparameters=hp,
            weights=_get_rows(arrays, "in.weights"),
            bonds=_get_rows(arrays, "in.bonds"),
            commit_blocks=arrays.get("in.commit_blocks"),
            netuid=int(m["netuid"]),
            hotkeys=tuple(hotkeys.tolist()) if hotkeys is not None else None,
            **{name: arrays[f"in.{name}"] for name in _IN_ARRAYS},
        )
        outputs = None
        if m.get("outputs") is not None:
            kw: dict[str, Any] = {}
            for name in m["outputs"]:
                kw[name] = _get_rows(arrays, f"out.{name}") if f"out.{name}.indptr" in arrays else arrays[f"out.{name}"]
            outputs = EpochOutputs(**kw)
    except (KeyError, TypeError, ValueError) as e:
        raise MalformedSnapshot(path, f"epoch fields incomplete ({type(e).__name__}: {e})") from None
    return inputs, outputs, m


# -- exports ---------------------------------------------------------------------------------
def metagraph_json(mg: Metagraph) -> dict[str, Any]:
    return {**_metagraph_meta(mg), "fields": mg.fields, "neurons": [mg.neuron(i) for i in range(mg.n)]}


def epoch_json(inputs: EpochInputs, outputs: EpochOutputs | None) -> dict[str, Any]:
    def conv(v: Any) -> Any:
        if isinstance(v, SparseRows):
            return v.to_mapping()
        if isinstance(v, np.ndarray):
            return v.tolist()
        if dataclasses.is_dataclass(v):
            return dataclasses.asdict(v)
        return v

    out: dict[str, Any] = {
        "inputs": {f.name: conv(getattr(inputs, f.name)) for f in dataclasses.fields(inputs)}
    }
    if outputs is not None:
        out["outputs"] = {name: conv(getattr(outputs, name)) for name in outputs.field_names()}
    return out


def check_export_target(out: str | os.PathLike, source: str | os.PathLike, force: bool = False) -> Path:
    """Refuse to export onto the snapshot's own files (always) or onto any existing file
    (unless ``force``)."""
    p = Path(out)
    own = {f.resolve() for f in snapshot_files(source)}
    if p.resolve() in own:
        raise ExportRefused(f"refusing to export onto {p}: it is one of the snapshot's own files")
    if p.exists() and not force:
        raise ExportRefused(f"refusing to overwrite {p} (it exists; --force replaces it)")
    return p


def export_json(obj: Metagraph | tuple, path: str | os.PathLike) -> Path:
    """JSON export of a metagraph or an ``(EpochInputs, EpochOutputs)`` pair (atomic)."""
    data = metagraph_json(obj) if isinstance(obj, Metagraph) else epoch_json(*obj)
    p = Path(path)
    _atomic_write(p, (json.dumps(data, indent=1, default=_json_default) + "\n").encode())
    return p


def export_csv(mg: Metagraph, path: str | os.PathLike) -> Path:
    """One row per UID, one column per field (stdlib ``csv``)."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(mg.fields)
    cols = [mg.arrays[f].tolist() for f in mg.fields]
    for row in zip(*cols):
        w.writerow([int(v) if isinstance(v, bool) else v for v in row])
    p = Path(path)
    _atomic_write(p, buf.getvalue().encode())
    return p

"""Audit results as a Parquet dataset that polars, DuckDB and pandas read directly.

Layout of ``DIR`` (hive-partitioned by netuid, one file per table and subnet)::

    DIR/manifest.json                       what is where, column meanings, sources
    DIR/epochs/netuid=N/data.parquet        one row per epoch: verdict, reason, spec, era, hashes, rao
    DIR/uids/netuid=N/data.parquet          one row per (epoch, uid): chain's and recomputed integers
    DIR/weights/netuid=N/data.parquet       (--edges) the weights the epoch read at E−1
    DIR/bonds/netuid=N/data.parquet         (--edges) bonds as the chain stored them at E and as recomputed

The input is the plain per-epoch records :mod:`chainkit.fanout` produces. A rerun merges by
epoch: rows of the epochs it audited again are replaced, every other row is kept. Each file is
written to a hidden temp file in its directory and renamed over the old one, so a reader (or a
crash) sees a partition either as it was or as it is now, never half-written.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from taoaudit.consensus.model import EpochOutputs, SparseRows

from .errors import ChainError
from .files import atomic_open, atomic_write

DATASET_FORMAT = "taoaudit-audit-dataset"
DATASET_VERSION = 1
PARTITION_FILE = "data.parquet"

#: Per-UID fields the epoch writes and the diff compares, with the storage's integer type.
#: Bonds are rows, not integers: per UID only whether the rows are equal; the values are in
#: the ``bonds`` edge table.
UID_FIELD_TYPES: dict[str, str] = {
    "active": "bool",
    "validator_permit": "bool",
    "consensus": "uint16",
    "incentive": "uint16",
    "dividends": "uint16",
    "validator_trust": "uint16",
    "emission": "uint64",
    "stake_weight": "uint16",
    "rank": "uint16",
    "trust": "uint16",
    "pruning_scores": "uint16",
}

TABLES = ("epochs", "uids", "weights", "bonds")
EDGE_TABLES = ("weights", "bonds")


class DatasetError(ChainError):
    """The output directory cannot take this dataset (another format, or unreadable)."""


# -- building the per-epoch record (runs where the epoch was audited) ----------------------------

def uid_columns(
    chain: EpochOutputs, recomputed: EpochOutputs, n: int, hotkeys: Sequence[str] | None,
    replaced: Iterable[int] = (),
) -> dict[str, list]:
    """Columns of the ``uids`` table for one epoch: for every field both sides hold, the chain's
    and the recomputed integer per UID (``None`` where a side does not hold it)."""
    skipped = set(replaced)
    cols: dict[str, list] = {"uid": list(range(n)), "hotkey": [_at(hotkeys, u) for u in range(n)]}
    differs = [False] * n
    for attr in UID_FIELD_TYPES:
        c, r = getattr(chain, attr, None), getattr(recomputed, attr, None)
        if c is None or r is None:
            cols[f"{attr}_chain"] = cols[f"{attr}_recomputed"] = [None] * n
            continue
        c_list, r_list = _ints(c, n), _ints(r, n)
        cols[f"{attr}_chain"], cols[f"{attr}_recomputed"] = c_list, r_list
        for u in range(n):
            differs[u] |= c_list[u] != r_list[u]
    bonds_match = []
    for u in range(n):
        equal = _bond_row(chain.bonds, u) == _bond_row(recomputed.bonds, u)
        bonds_match.append(equal)
        differs[u] |= not equal
    cols["bonds_match"] = bonds_match
    cols["verdict"] = ["not_compared" if u in skipped else ("mismatch" if differs[u] else "exact")
                       for u in range(n)]
    return cols


def edge_columns(weights: SparseRows, chain_bonds: SparseRows, recomputed_bonds: SparseRows, n: int) -> dict[str, dict]:
    """The ``weights`` and ``bonds`` edge tables of one epoch, as columns."""
    w: dict[str, list] = {"uid": [], "target": [], "weight": []}
    for u in range(min(n, weights.n_rows)):
        for target, value in weights.row(u):
            w["uid"].append(u)
            w["target"].append(int(target))
            w["weight"].append(int(value))
    b: dict[str, list] = {"uid": [], "target": [], "chain": [], "recomputed": []}
    for u in range(n):
        c_row = dict(_bond_row(chain_bonds, u) or ())
        r_row = dict(_bond_row(recomputed_bonds, u) or ())
        for target in sorted(set(c_row) | set(r_row)):
            b["uid"].append(u)
            b["target"].append(int(target))
            b["chain"].append(c_row.get(target))
            b["recomputed"].append(r_row.get(target))
    return {"weights": w, "bonds": b}


def _ints(a: np.ndarray, n: int) -> list:
    values = a.tolist()
    return [values[u] if u < len(values) else None for u in range(n)]


def _bond_row(m: SparseRows, u: int) -> list[tuple[int, int]] | None:
    return [(int(c), int(v)) for c, v in m.row(u)] if u < m.n_rows and m.present[u] else None


def _at(seq: Sequence[str] | None, i: int) -> str | None:
    return seq[i] if seq and i < len(seq) else None


# -- Arrow tables --------------------------------------------------------------------------------

def _schemas() -> dict[str, Any]:
    import pyarrow as pa

    uid_fields = [pa.field("epoch_block", pa.int64()), pa.field("uid", pa.int32()), pa.field("hotkey", pa.string()),
                  pa.field("verdict", pa.string())]
    for attr, kind in UID_FIELD_TYPES.items():
        t = pa.bool_() if kind == "bool" else getattr(pa, kind)()
        uid_fields += [pa.field(f"{attr}_chain", t), pa.field(f"{attr}_recomputed", t)]
    uid_fields.append(pa.field("bonds_match", pa.bool_()))
    return {
        "epochs": pa.schema([
            ("epoch_block", pa.int64()), ("verdict", pa.string()), ("reason", pa.string()),
            ("reason_code", pa.string()), ("spec_version", pa.int64()), ("era", pa.string()), ("era_note", pa.string()),
            ("variant", pa.string()), ("block_hash_inputs", pa.string()), ("block_hash_outputs", pa.string()),
            ("rao_emission", pa.uint64()), ("rao_emission_source", pa.string()),
            ("rao_emission_lo", pa.uint64()), ("rao_emission_hi", pa.uint64()),
            ("uids_compared", pa.int32()), ("mismatched_values", pa.int32()), ("mismatched_uids", pa.int32()),
            ("fields_compared", pa.list_(pa.string())), ("replaced_uids", pa.list_(pa.int32())),
        ]),
        "uids": pa.schema(uid_fields),
        "weights": pa.schema([("epoch_block", pa.int64()), ("uid", pa.int32()), ("target", pa.int32()),
                              ("weight", pa.uint16())]),
        "bonds": pa.schema([("epoch_block", pa.int64()), ("uid", pa.int32()), ("target", pa.int32()),
                            ("chain", pa.uint16()), ("recomputed", pa.uint16())]),
    }


def _epoch_row(rec: Mapping[str, Any]) -> dict[str, Any]:
    hashes = rec.get("block_hashes") or {}
    rao = rec.get("rao_emission") or {}
    rng = rao.get("range") or [None, None]
    mismatches = rec.get("mismatches") or []
    return {
        "epoch_block": rec["epoch_block"], "verdict": rec["verdict"], "reason": rec.get("reason"),
        "reason_code": rec.get("reason_code"), "spec_version": rec.get("spec_version"), "era": rec.get("era"), "era_note": rec.get("era_note"),
        "variant": rec.get("variant"), "block_hash_inputs": hashes.get("inputs"),
        "block_hash_outputs": hashes.get("outputs"), "rao_emission": rao.get("value"),
        "rao_emission_source": rao.get("source"), "rao_emission_lo": rng[0], "rao_emission_hi": rng[1],
        "uids_compared": rec.get("uids_compared"),
        "mismatched_values": len(mismatches) if "mismatches" in rec else None,
        "mismatched_uids": len({m["uid"] for m in mismatches}) if "mismatches" in rec else None,
        "fields_compared": rec.get("fields_compared"), "replaced_uids": rec.get("replaced_uids"),
    }


def _columns_of(table: str, records: Sequence[Mapping[str, Any]]) -> dict[str, list]:
    schema = _schemas()[table]
    cols: dict[str, list] = {name: [] for name in schema.names}
    for rec in records:
        if table == "epochs":
            for k, v in _epoch_row(rec).items():
                cols[k].append(v)
            continue
        part = rec.get("uids") if table == "uids" else (rec.get("edges") or {}).get(table)
        if not part:
            continue
        rows = len(part["uid"])
        cols["epoch_block"].extend([rec["epoch_block"]] * rows)
        for k, v in part.items():
            cols[k].extend(v)
    return cols


def arrow_table(table: str, records: Sequence[Mapping[str, Any]]) -> Any:
    """The rows of ``table`` for ``records`` (one subnet), sorted by epoch then uid."""
    import pyarrow as pa

    schema = _schemas()[table]
    t = pa.Table.from_pydict(_columns_of(table, records), schema=schema)
    keys = [("epoch_block", "ascending")] + ([("uid", "ascending")] if "uid" in schema.names else []) + (
        [("target", "ascending")] if "target" in schema.names else [])
    return t.sort_by(keys)


# -- writing -------------------------------------------------------------------------------------

def write_dataset(
    out_dir: str | os.PathLike, records: Sequence[Mapping[str, Any]], *, edges: bool = False,
    meta: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Write (or merge into) the dataset at ``out_dir``; returns the manifest written.

    ``records``: plain per-epoch records (:func:`chainkit.fanout.run_audit`). ``edges``: also
    write the weights and bonds edge tables. ``meta``: provenance for the manifest (source, engine).
    """
    import pyarrow as pa

    out = Path(out_dir)
    manifest = _read_manifest(out)
    by_netuid: dict[int, list[Mapping[str, Any]]] = {}
    for rec in records:
        by_netuid.setdefault(int(rec["netuid"]), []).append(rec)
    tables = TABLES if edges else tuple(t for t in TABLES if t not in EDGE_TABLES)
    for netuid, recs in sorted(by_netuid.items()):
        epochs = {int(r["epoch_block"]) for r in recs}
        for table in tables:
            new = arrow_table(table, recs)
            path = out / table / f"netuid={netuid}" / PARTITION_FILE
            old = _read_partition(path, table)
            if old is not None:
                keep = pa.compute.invert(pa.compute.is_in(old["epoch_block"], pa.array(sorted(epochs), pa.int64())))
                new = pa.concat_tables([old.filter(keep), new]).sort_by(
                    [(c, "ascending") for c in ("epoch_block", "uid", "target") if c in new.schema.names])
            _write_atomic(new, path)
        part = manifest["partitions"].setdefault(str(netuid), {"epochs": []})
        part["epochs"] = sorted(set(part["epochs"]) | epochs)
        part["edges"] = bool(part.get("edges")) or edges
    if meta:
        sources = manifest.setdefault("sources", [])
        if dict(meta) not in sources:
            sources.append(dict(meta))
    atomic_write(out / "manifest.json", json.dumps(manifest, indent=1, sort_keys=True))
    return manifest


def _new_manifest() -> dict[str, Any]:
    return {
        "format": DATASET_FORMAT, "version": DATASET_VERSION, "partitioning": "hive: netuid=N",
        "tables": {
            "epochs": "one row per (netuid, epoch_block): verdict (exact|mismatch|refused|unreadable), "
                      "reason, reason_code, spec_version, era, era_note, block hashes of E-1 (inputs) and E (outputs), "
                      "rao_emission with its source (stored|inferred) and range",
            "uids": "one row per (netuid, epoch_block, uid): <field>_chain and <field>_recomputed for "
                    + ", ".join(UID_FIELD_TYPES) + " (null: not held in that era), bonds_match, verdict "
                    "(exact|mismatch|not_compared: re-registered in block E); epochs of subnets with several "
                    "mechanisms have their verdict and mismatch counts in epochs only",
            "weights": "edges (epoch_block, uid, target, weight): the weights the epoch read at E-1",
            "bonds": "edges (epoch_block, uid, target, chain, recomputed): bonds stored at E and recomputed "
                     "(null: no entry on that side)",
        },
        "files": "{table}/netuid={netuid}/" + PARTITION_FILE,
        "partitions": {},
    }


def _read_manifest(out: Path) -> dict[str, Any]:
    path = out / "manifest.json"
    if not path.exists():
        if out.exists() and any(p for p in out.iterdir() if not p.name.startswith(".")):
            raise DatasetError(f"{out} is not empty and holds no taoaudit dataset manifest; choose another --out")
        return _new_manifest()
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise DatasetError(f"cannot read {path}: {e}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != DATASET_FORMAT:
        raise DatasetError(f"{path} is not a taoaudit dataset manifest")
    if manifest.get("version") != DATASET_VERSION:
        raise DatasetError(f"{path} is dataset version {manifest.get('version')}, this taoaudit writes "
                           f"{DATASET_VERSION}; write to a new --out directory")
    return manifest


def _read_partition(path: Path, table: str) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not path.exists():
        return None
    try:
        t = pq.read_table(path)
    except (OSError, pa.ArrowException) as e:
        raise DatasetError(f"cannot read the existing partition {path}: {e}") from None
    if not t.schema.equals(_schemas()[table]):
        raise DatasetError(f"{path} has another schema than this taoaudit writes; write to a new --out directory")
    return t


def _write_atomic(table: Any, path: Path) -> None:
    """Write to a hidden temp file beside ``path`` (readers skip dot-files), fsync, rename."""
    import pyarrow.parquet as pq

    with atomic_open(path) as f:
        pq.write_table(table, f, compression="zstd")


def read_table(out_dir: str | os.PathLike, table: str) -> Any:
    """One table of a dataset as a pyarrow Table, netuid column included (hive partitions)."""
    import pyarrow.dataset as ds

    return ds.dataset(Path(out_dir) / table, format="parquet", partitioning="hive").to_table()


# -- other tables as Parquet: metagraph snapshots ------------------------------------------------

def metagraph_table(mg: Any) -> Any:
    """A metagraph (chainkit.metagraph.Metagraph) as an Arrow table, one row per UID."""
    import pyarrow as pa

    cols = {}
    for f in mg.fields:
        a = np.asarray(mg.arrays[f])
        cols[f] = pa.array(a.tolist() if a.dtype == object else a)
    return pa.table(cols)


def write_metagraph_parquet(mg: Any, path: str | os.PathLike) -> Path:
    """Write a metagraph as one Parquet file (atomic), with netuid/block/spec in its metadata."""
    t = metagraph_table(mg)
    meta = {"netuid": mg.netuid, "block": mg.block, "block_hash": mg.block_hash, "spec_version": mg.spec_version}
    t = t.replace_schema_metadata({"taoaudit": json.dumps(meta)})
    path = Path(path)
    _write_atomic(t, path)
    return path

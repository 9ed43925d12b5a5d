"""Audits on a real Dask LocalCluster equal the serial run, row for row, as a Parquet dataset."""

from __future__ import annotations

import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from taoaudit.chainkit import Chain
from taoaudit.chainkit import audit as lib
from taoaudit.chainkit import dataset, fanout
from taoaudit.chainkit.rpc import DEFAULT_RETRIES
from taoaudit.cli.main import main

RECORDING = Path(__file__).resolve().parents[1] / "fixtures" / "localnet" / "recording" / "chainkit_spec103.json"


@pytest.fixture(scope="module")
def targets() -> list[tuple[int, int]]:
    with Chain(str(RECORDING)) as chain:
        found, _ = lib.audit_targets(chain, None, count=None)
    assert len({n for n, _ in found}) >= 2 and len(found) >= 4  # several subnets, several epochs each
    return found


@pytest.fixture(scope="module")
def serial(targets, tmp_path_factory) -> tuple[list[dict], Path]:
    records = fanout.run_audit(str(RECORDING), targets, engine="numba", edges=True)
    out = tmp_path_factory.mktemp("serial")
    dataset.write_dataset(out, records, edges=True, meta={"source": "serial"})
    return records, out


@pytest.fixture(scope="module")
def cluster():
    with fanout.cluster_client(workers=2) as client:
        yield client


def _tables(out: Path) -> dict:
    return {t: dataset.read_table(out, t).sort_by([("netuid", "ascending"), ("epoch_block", "ascending")] + (
        [("uid", "ascending")] if t != "epochs" else []) + ([("target", "ascending")] if t in dataset.EDGE_TABLES
                                                          else [])) for t in dataset.TABLES}


def test_two_workers_write_the_serial_dataset_row_for_row(serial, cluster, targets, tmp_path):
    records, serial_out = serial
    assert len(cluster.scheduler_info()["workers"]) == 2
    assert all(addr.startswith("tcp://127.0.0.1:") for addr in cluster.scheduler_info()["workers"])
    pids = set(cluster.run(lambda: __import__("os").getpid()).values())
    assert len(pids) == 2
    # one kernel thread per worker process: the machine's cores are the other workers'
    assert set(cluster.run(lambda: __import__("os").environ.get("TAOAUDIT_KERNEL_THREADS")).values()) == {"1"}

    seen = []
    parallel = fanout.run_audit(str(RECORDING), targets, client=cluster, engine="numba", edges=True,
                                cache_dir=tmp_path / "cache", on_result=lambda r: seen.append(r["epoch_block"]))
    assert sorted(seen) == sorted(e for _, e in targets)  # progress: one call per finished epoch
    assert {r["timing"]["pid"] for r in parallel} <= pids and len({r["timing"]["pid"] for r in parallel}) == 2
    out = tmp_path / "ds"
    dataset.write_dataset(out, parallel, edges=True, meta={"source": "cluster"})

    a, b = _tables(serial_out), _tables(out)
    for table in dataset.TABLES:
        assert a[table].num_rows > 0, table
        assert a[table].to_pylist() == b[table].to_pylist(), table
    uids = a["uids"]
    assert uids.num_rows == sum(r["uids_compared"] for r in records if r.get("uids"))

    # resumable: the same run again is served from the cache, and writes the same rows
    again = fanout.run_audit(str(RECORDING), targets, client=cluster, engine="numba", edges=True,
                             cache_dir=tmp_path / "cache")
    assert all(r["cached"] for r in again)
    out2 = tmp_path / "ds2"
    dataset.write_dataset(out2, again, edges=True)
    c = _tables(out2)
    assert all(a[t].to_pylist() == c[t].to_pylist() for t in dataset.TABLES)


def test_the_rpc_cap_holds_across_workers_and_an_existing_scheduler_is_used(cluster, targets):
    """rpc_limit=1: no two epochs read from the endpoint at the same moment, on any worker;
    the tasks go to the cluster at the scheduler's address."""
    address = cluster.scheduler.address
    with fanout.cluster_client(scheduler=address) as client:
        assert client.scheduler.address == address
        records = fanout.run_audit(str(RECORDING), targets * 2, client=client, engine="numba", rpc_limit=1)
    assert len({r["timing"]["pid"] for r in records}) == 2
    windows = sorted(r["timing"]["read"] for r in records)
    assert all(b[0] >= a[1] for a, b in zip(windows, windows[1:])), windows


def test_the_five_subnet_recording_on_the_cluster_equals_serial_with_every_verdict(cluster, tmp_path):
    """fixtures/localnet/audit: a UID replaced in its epoch block (not compared), an epoch whose
    state the recording lacks (unreadable, with its reason), four partitions."""
    multi = RECORDING.parents[1] / "audit" / "audit_spec103.json"
    with Chain(str(multi)) as chain:
        found, skipped = lib.audit_targets(chain, None, count=3)
    assert 7 in skipped
    serial = fanout.run_audit(str(multi), found, engine="numba", edges=True)
    parallel = fanout.run_audit(str(multi), found, client=cluster, engine="numba", edges=True)
    dataset.write_dataset(tmp_path / "a", serial, edges=True)
    dataset.write_dataset(tmp_path / "b", parallel, edges=True)
    a, b = _tables(tmp_path / "a"), _tables(tmp_path / "b")
    assert all(a[t].to_pylist() == b[t].to_pylist() for t in dataset.TABLES)
    epochs = {(e["netuid"], e["epoch_block"]): e for e in a["epochs"].to_pylist()}
    assert sorted({n for n, _ in epochs}) == [1, 2, 3, 5]
    gone = epochs[(5, 223)]
    assert gone["verdict"] == "unreadable" and gone["reason_code"] == "missing_recording_entry" and gone["reason"]
    assert epochs[(2, 228)]["replaced_uids"] == [5]
    replaced = [u for u in a["uids"].to_pylist() if (u["netuid"], u["epoch_block"]) == (2, 228)]
    assert [u["uid"] for u in replaced if u["verdict"] == "not_compared"] == [5]
    assert sum(e["verdict"] == "exact" for e in epochs.values()) == 11


def test_the_dataset_agrees_with_the_plain_audit(serial, targets):
    """Per epoch the verdict and every mismatch are the plain audit's; per UID the row's verdict
    says mismatch exactly for the UIDs the audit lists."""
    records, out = serial
    with Chain(str(RECORDING)) as chain:
        plain = lib.audit(chain, targets, engine="reference")
    by_epoch = {(r["netuid"], r["epoch_block"]): r for r in records}
    for o in plain:
        rec = by_epoch[(o.netuid, o.epoch_block)]
        assert rec["verdict"] == o.verdict
        assert rec.get("mismatches", []) == o.to_json().get("mismatches", [])
    uids = dataset.read_table(out, "uids").to_pylist()
    for rec in records:
        if not rec.get("uids"):
            continue
        rows = [u for u in uids if (u["netuid"], u["epoch_block"]) == (rec["netuid"], rec["epoch_block"])]
        assert len(rows) == rec["uids_compared"]
        assert {u["uid"] for u in rows if u["verdict"] == "mismatch"} == {m["uid"] for m in rec["mismatches"]}
        for u in rows:
            for field in dataset.UID_FIELD_TYPES:
                c, r = u[f"{field}_chain"], u[f"{field}_recomputed"]
                assert (c is None) == (r is None)
                if u["verdict"] == "exact":
                    assert c == r
    epochs = dataset.read_table(out, "epochs").to_pylist()
    assert len(epochs) == len(targets)
    for e in epochs:
        assert e["spec_version"] == 103 and e["era"] == "spec103"
        assert e["block_hash_outputs"].startswith("0x") and e["block_hash_inputs"].startswith("0x")
        if e["verdict"] in ("exact", "mismatch"):
            assert e["rao_emission_source"] == "stored" and e["rao_emission"] > 0


def test_pandas_duckdb_and_polars_read_the_dataset(serial):
    import duckdb
    import pandas as pd
    import polars as pl

    records, out = serial
    n_rows = sum(r["uids_compared"] for r in records if r.get("uids"))
    assert len(pd.read_parquet(out / "uids")) == n_rows
    assert set(pd.read_parquet(out / "epochs")["netuid"].astype(int)) == {r["netuid"] for r in records}
    q = duckdb.sql(f"SELECT netuid, count(*) AS n, sum(emission_chain) AS e FROM read_parquet('{out}/uids/*/*.parquet', "
                   "hive_partitioning = true) GROUP BY netuid ORDER BY netuid").fetchall()
    expect = {}
    for r in records:
        if r.get("uids"):
            n, e = expect.get(r["netuid"], (0, 0))
            expect[r["netuid"]] = (n + r["uids_compared"], e + sum(r["uids"]["emission_chain"]))
    assert [(int(a), b, int(c)) for a, b, c in q] == [(k, *v) for k, v in sorted(expect.items())]
    df = pl.scan_parquet(str(out / "uids" / "**" / "*.parquet"), hive_partitioning=True).collect()
    assert df.height == n_rows and "netuid" in df.columns
    edges = pl.read_parquet(str(out / "bonds" / "**" / "*.parquet"), hive_partitioning=True)
    differing = edges.filter((pl.col("chain") != pl.col("recomputed")) | pl.col("chain").is_null()
                             | pl.col("recomputed").is_null()).height
    assert edges.height > 0
    assert (differing > 0) == any(m["field"] == "Bonds" for r in records for m in r.get("mismatches", []))


def test_a_rerun_merges_by_epoch_and_a_failed_write_keeps_the_old_partition(serial, tmp_path, monkeypatch):
    records, _ = serial
    out = tmp_path / "ds"
    sn1 = sorted((r for r in records if r["netuid"] == records[0]["netuid"]), key=lambda r: r["epoch_block"])
    dataset.write_dataset(out, sn1[:1])
    dataset.write_dataset(out, sn1[1:])
    dataset.write_dataset(out, sn1[1:])  # the same epochs again replace, never duplicate
    epochs = dataset.read_table(out, "epochs").to_pylist()
    assert [e["epoch_block"] for e in epochs] == [r["epoch_block"] for r in sn1]
    part = out / "uids" / f"netuid={sn1[0]['netuid']}" / dataset.PARTITION_FILE
    before = part.read_bytes()

    def broken(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pq, "write_table", broken)
    with pytest.raises(OSError):
        dataset.write_dataset(out, sn1[:1])
    assert part.read_bytes() == before
    assert not [p for p in part.parent.iterdir() if p.name != dataset.PARTITION_FILE]  # no temp file left


def test_out_into_a_foreign_directory_is_refused(serial, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(dataset.DatasetError, match="not empty"):
        dataset.write_dataset(tmp_path, serial[0])
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_workers_without_dask_is_one_error_line_naming_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "distributed", None)  # what an install without the extra sees
    r = CliRunner().invoke(main, ["audit", "--netuids", "1", "--epochs", "1", "--workers", "2",
                                  "--cache-dir", str(tmp_path)])
    assert r.exit_code == 2
    lines = r.stderr.strip().splitlines() if hasattr(r, "stderr") else r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "taoaudit[dask]" in lines[0]


def test_cli_out_writes_the_dataset_in_one_process(tmp_path, serial):
    out = tmp_path / "ds"
    r = CliRunner().invoke(main, ["audit", "--epochs", "100", "--out", str(out), "--edges",
                                  "--cache-dir", str(tmp_path / "c"), "--json"])
    assert r.exit_code == 0, r.output
    a, b = _tables(serial[1]), _tables(out)
    for t in dataset.TABLES:
        assert a[t].to_pylist() == b[t].to_pylist()


def test_metagraph_and_snapshot_export_write_parquet(tmp_path):
    import json

    out = tmp_path / "mg.parquet"
    r = CliRunner().invoke(main, ["metagraph", "--netuid", "1", "--block", "228", "--parquet", str(out), "--json"])
    assert r.exit_code == 0, r.output
    neurons = json.loads(r.stdout)["neurons"]
    table = pq.read_table(out)
    assert table.num_rows == len(neurons) > 0
    rows = table.to_pylist()
    for row, neuron in zip(rows, neurons):
        assert {k: row[k] for k in neuron if k in row} == {k: v for k, v in neuron.items() if k in row}
    assert json.loads(table.schema.metadata[b"taoaudit"])["block"] == 228
    again = CliRunner().invoke(main, ["metagraph", "--netuid", "1", "--block", "228", "--parquet", str(out)])
    assert again.exit_code == 2 and "refusing to overwrite" in again.output

    snap = tmp_path / "mg"
    assert CliRunner().invoke(main, ["snapshot", "save", "--netuid", "1", "--block", "228", str(snap)]).exit_code == 0
    saved = next(p for p in tmp_path.iterdir() if p.name.startswith("mg") and p.suffix != ".parquet")
    exported = tmp_path / "export.parquet"
    r = CliRunner().invoke(main, ["snapshot", "export", str(saved), str(exported), "--format", "parquet"])
    assert r.exit_code == 0, r.output
    assert pq.read_table(exported).to_pylist() == rows


def test_a_rate_limit_the_transport_gives_up_on_is_retried_per_epoch(monkeypatch):
    """Six -32029 answers in a row outlast the transport's four attempts (NodeFault); the epoch
    is retried on a fresh connection after a backoff and ends exact."""
    sys.path.insert(0, str(RECORDING.parents[3] / "scripts"))
    import fakenode

    monkeypatch.setattr(fanout, "TASK_BACKOFF_S", 0.1)
    with fakenode.FakeNode(fault=fakenode.Fault("rate limit", times=6)) as node:
        records = fanout.run_audit(node.url, [(1, 228)], engine="reference")
        assert node.injected == 6 and node.connections >= 2
    assert records[0]["verdict"] == "exact" and not records[0].get("mismatches")


def test_a_rate_limit_that_never_ends_ends_the_run_with_one_line(monkeypatch):
    """Every request rate-limited: the transport's 4 attempts, then 2 more per-epoch retries on
    fresh connections, then one line that names the epoch and says how to resume."""
    sys.path.insert(0, str(RECORDING.parents[3] / "scripts"))
    import fakenode

    monkeypatch.setattr(fanout, "TASK_BACKOFF_S", 0.1)
    with fakenode.FakeNode(fault=fakenode.Fault("rate limit", times=0)) as node:
        with pytest.raises(fanout.FanoutFault) as e:
            fanout.run_audit(node.url, [(1, 228)], engine="reference")
        # each attempt of the epoch is a fresh chain whose transport reconnects for each of its tries
        assert node.connections == (1 + fanout.TASK_RETRIES) * (1 + DEFAULT_RETRIES)
    message = str(e.value)
    assert "\n" not in message and message.startswith("subnet 1 epoch 228: ")
    assert "-32029" in message and "rerun to resume" in message


def test_a_scheduler_that_is_not_an_address_is_one_error_line(tmp_path):
    r = CliRunner().invoke(main, ["audit", "--netuids", "1", "--epochs", "1", "--scheduler", "notaurl",
                                  "--cache-dir", str(tmp_path)])
    lines = r.stderr.strip().splitlines()
    assert r.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: cannot reach endpoint notaurl")


def test_the_uid_columns_cover_every_field_the_diff_compares():
    from taoaudit.consensus.diff import STORAGE_NAMES

    assert set(dataset.UID_FIELD_TYPES) | {"bonds"} == set(STORAGE_NAMES)


def test_an_epoch_snapshot_is_not_exported_as_parquet(tmp_path):
    snap = tmp_path / "ep"
    assert CliRunner().invoke(main, ["snapshot", "save", "--netuid", "1", "--epoch", "228", str(snap)]).exit_code == 0
    saved = next(p for p in tmp_path.iterdir() if p.name.startswith("ep"))
    r = CliRunner().invoke(main, ["snapshot", "export", str(saved), str(tmp_path / "x.parquet"), "--format", "parquet"])
    lines = r.stderr.strip().splitlines()
    assert r.exit_code == 2 and len(lines) == 1 and "audit --out" in lines[0]
    assert not (tmp_path / "x.parquet").exists()


def test_assume_era_reaches_the_read_and_the_compare_and_keeps_its_own_cache(targets, tmp_path, monkeypatch):
    seen: list[tuple[str, object]] = []
    real_read, real_compare = lib.read_epoch, lib.compare_read

    def read_epoch(chain, netuid, **kw):
        seen.append(("read", kw.get("assume_era")))
        return real_read(chain, netuid, **kw)

    def compare_read(read, **kw):
        seen.append(("compare", kw.get("assume_era")))
        return real_compare(read, **kw)

    monkeypatch.setattr(lib, "read_epoch", read_epoch)
    monkeypatch.setattr(lib, "compare_read", compare_read)
    netuid, epoch = targets[0]
    assumed = fanout.run_audit(str(RECORDING), [(netuid, epoch)], cache_dir=tmp_path, assume_era="latest")
    assert seen == [("read", "latest"), ("compare", "latest")] and not assumed[0]["cached"]
    # the verified run never gets the assumed run's record from the cache, and vice versa
    seen.clear()
    verified = fanout.run_audit(str(RECORDING), [(netuid, epoch)], cache_dir=tmp_path)
    assert seen == [("read", None), ("compare", None)] and not verified[0]["cached"]
    again = fanout.run_audit(str(RECORDING), [(netuid, epoch)], cache_dir=tmp_path, assume_era="latest")
    assert again[0]["cached"] and len(seen) == 2
    assert fanout.RecordCache(tmp_path, "reference", False, "latest").key != fanout.RecordCache(tmp_path, "reference", False).key
    assert fanout.job_settings("x", assume_era="latest")["assume_era"] == "latest"
    assert "era_note" in pq.read_schema(_epochs_file(tmp_path, assumed)).names


def _epochs_file(tmp_path: Path, records: list[dict]) -> Path:
    out = tmp_path / "ds"
    dataset.write_dataset(out, records, edges=False, meta={"source": "assumed"})
    return next(p for p in out.rglob("*.parquet") if "epochs" in str(p))

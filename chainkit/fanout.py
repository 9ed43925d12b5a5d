"""Audits of many (netuid, epoch) pairs, in this process or spread over a Dask cluster.

An archive node, not the CPU, bounds a long audit: each epoch is a few dozen sequential
JSON-RPC round trips and a few milliseconds of arithmetic. So the work is spread over
processes, and the node is protected by a cap on how many epochs read from one endpoint at
the same moment across the whole cluster (a :class:`distributed.Semaphore` named after the
endpoint; every reader has one request in flight at a time, so the cap bounds concurrent
requests too). A rate limit the transport's own retries could not ride out (:class:`NodeFault`)
is retried per epoch with a longer backoff on a fresh connection.

What crosses process boundaries is plain data: the task gets the data source as a string
(a recording path or an endpoint URL) and ints, opens its own :class:`Chain` once per worker
thread, and returns one plain dict per epoch (:func:`audit_task`). Finished epochs are kept in
an on-disk cache (gzip JSON, atomic), so a rerun after an interruption picks up where it stopped.

Dask is an optional extra (``pip install 'taoaudit[dask]'``); one process (``client=None``)
never imports it.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import json
import os
import random
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from .client import Chain
from .errors import ChainError, EndpointUnreachable, NodeFault
from .files import atomic_write

DASK_HINT = "pip install 'taoaudit[dask]'"
#: Epochs reading from one endpoint at the same moment on a cluster of unknown size (--scheduler).
DEFAULT_RPC_LIMIT = 8
#: Per-epoch retries after the transport gave up on a rate limit or a dropped node.
TASK_RETRIES = 2
TASK_BACKOFF_S = 2.0
RECORD_CACHE_VERSION = 1


class MissingExtra(ChainError):
    def __init__(self, what: str) -> None:
        super().__init__(f"{what} needs Dask, an optional extra: {DASK_HINT}")


class FanoutFault(ChainError):
    """An epoch ended the run (the endpoint kept failing); finished epochs are in the cache."""


# -- the task: one epoch, plain data in and out -------------------------------------------------

def audit_task(netuid: int, epoch_block: int, job: Mapping[str, Any]) -> dict[str, Any]:
    """Audit one epoch where this runs; ``job`` holds plain settings (see :func:`job_settings`).

    Returns the epoch's record: the verdict fields of ``EpochOutcome.to_json()`` plus ``era``,
    the per-UID columns (``uids``) and, with ``edges``, the weights and bonds edges. A fault that
    must end the run comes back as ``{"netuid", "epoch_block", "fault": message}``.
    """
    _limit_kernel_threads(job.get("kernel_threads"))
    cache = (RecordCache(job["cache_dir"], job["engine"], bool(job["edges"]), job.get("assume_era"))
             if job.get("cache_dir") else None)
    for attempt in range(TASK_RETRIES + 1):
        try:
            asked = time.time()
            with _rpc_lease(job):
                began = time.time()
                stage = _read_stage(_chain_for(job["source"]), netuid, epoch_block, cache, job.get("assume_era"))
                read_window = [began, time.time()]
            lease_s = (began - asked) + (time.time() - read_window[1])
            break
        except (EndpointUnreachable, NodeFault) as e:
            _drop_chain(job["source"])
            if attempt == TASK_RETRIES:
                return _fault(netuid, epoch_block, e)
            # outside the lease: a rate-limited worker lets the others use the endpoint meanwhile
            time.sleep(TASK_BACKOFF_S * 2 ** attempt * (1 + random.random()))
        except ChainError as e:
            return _fault(netuid, epoch_block, e)
    hit, read, record, block_hash = stage
    if hit is not None:
        return hit
    if record is None:
        record = _compare_stage(read, job["engine"], bool(job["edges"]), job.get("assume_era"))
    if cache is not None and block_hash and record["verdict"] != "unreadable":
        cache.put(netuid, epoch_block, block_hash, record)
    # when this process held the endpoint (wall clock): for progress reports and the lease test
    return record | {"timing": {"pid": os.getpid(), "read": read_window, "lease_s": lease_s,
                                "task_s": time.time() - asked}}


def _read_stage(chain: Chain, netuid: int, epoch_block: int, cache: "RecordCache | None",
                assume_era: str | None = None) -> tuple:
    """Everything that talks to the node: (cached record, read, failure record, block hash)."""
    from taoaudit.consensus.errors import ConsensusError

    from .audit import classify_failure, read_epoch

    block_hash = None
    try:
        if cache is not None:
            block_hash = chain.at(epoch_block).hash
            hit = cache.get(netuid, epoch_block, block_hash)
            if hit is not None:
                return hit, None, None, block_hash
        return None, read_epoch(chain, netuid, epoch=epoch_block, assume_era=assume_era), None, block_hash
    except (ChainError, ConsensusError) as e:
        kind = classify_failure(e)
        if kind is None:
            raise
        record = {"netuid": netuid, "epoch_block": epoch_block, "verdict": kind[0],
                  "reason": str(e).splitlines()[0], "reason_code": kind[1], "cached": False,
                  **_where(chain, epoch_block)}
        return None, None, record, block_hash or record["block_hashes"]["outputs"]


def _where(chain: Chain, epoch_block: int) -> dict[str, Any]:
    """Spec, era and block hashes of an epoch that was refused or unreadable, as far as known."""
    from .audit import _hash_or_none

    out: dict[str, Any] = {"block_hashes": {"inputs": _hash_or_none(chain, epoch_block - 1),
                                            "outputs": _hash_or_none(chain, epoch_block)}}
    try:
        spec = chain.at(epoch_block - 1).spec_version
    except ChainError:
        return out
    return out | {"spec_version": spec, "era": _era_name(spec)}


def _era_name(spec: int) -> str | None:
    from taoaudit.consensus.errors import ConsensusError
    from taoaudit.consensus.registry import variant_for

    try:
        return variant_for(spec).era.name
    except ConsensusError:
        return None


def _compare_stage(read: Any, engine: str, edges: bool, assume_era: str | None = None) -> dict[str, Any]:
    """The recomputation and diff (no node involved) and the epoch's record."""
    from taoaudit.consensus.errors import ConsensusError

    from .audit import classify_failure, compare_read, outcome_of
    from .dataset import edge_columns, uid_columns

    try:
        audit, recomputed = compare_read(read, engine=engine, assume_era=assume_era)
    except ConsensusError as e:
        kind = classify_failure(e) or ("refused", "unsupported_input")
        return {"netuid": read.inputs.netuid, "epoch_block": read.epoch_block, "verdict": kind[0],
                "reason": str(e).splitlines()[0], "reason_code": kind[1], "cached": False,
                "block_hashes": read.block_hashes, "spec_version": read.spec_version,
                "era": _era_name(read.spec_version)}
    record = outcome_of(audit).to_json()
    record["era"] = _era_name(read.spec_version)
    if recomputed is None:
        return record  # several mechanisms: the epoch's verdict and mismatches, no single per-UID table
    n = read.inputs.n
    record["uids"] = uid_columns(read.outputs, recomputed, n, read.inputs.hotkeys, read.replaced_uids)
    if edges:
        record["edges"] = edge_columns(read.inputs.weights, read.outputs.bonds, recomputed.bonds, n)
    return record


def _fault(netuid: int, epoch_block: int, e: Exception) -> dict[str, Any]:
    return {"netuid": netuid, "epoch_block": epoch_block, "fault": str(e).splitlines()[0] or type(e).__name__}


# -- per-thread chains, the cluster-wide lease, kernel threads ----------------------------------

_local = threading.local()


def _chain_for(source: str) -> Chain:
    """This thread's chain for ``source``, opened once (a Chain is not shared across threads)."""
    chains = _local.__dict__.setdefault("chains", {})
    if source not in chains:
        chains[source] = Chain(source)
    return chains[source]


def _drop_chain(source: str) -> None:
    chain = _local.__dict__.setdefault("chains", {}).pop(source, None)
    if chain is not None:
        with contextlib.suppress(Exception):
            chain.close()


@contextlib.contextmanager
def _rpc_lease(job: Mapping[str, Any]) -> Iterator[None]:
    """Hold one of the endpoint's leases while reading (only inside a Dask worker)."""
    name = job.get("semaphore")
    if not name:
        yield
        return
    with _semaphore(name, int(job["rpc_limit"])):
        yield


@functools.lru_cache(maxsize=16)
def _semaphore(name: str, max_leases: int) -> Any:
    """One handle per worker process and endpoint (each handle costs scheduler round trips)."""
    from distributed import Semaphore

    return Semaphore(max_leases=max_leases, name=name)


def _limit_kernel_threads(n: int | None) -> None:
    """Cap this worker process's kernel threads: processes on one machine each spinning a full
    thread pool slow each other down many times over (issue 13's contention figure)."""
    if n:
        from taoaudit.consensus import set_kernel_threads

        set_kernel_threads(n)


# -- the cache of finished epochs ---------------------------------------------------------------

class RecordCache:
    """Finished epoch records on disk per (netuid, epoch, hash of block E, code version)."""

    def __init__(self, directory: str | os.PathLike, engine: str, edges: bool,
                 assume_era: str | None = None) -> None:
        self.directory = Path(directory) / "records"
        # an assumed era's record is never served to a verified run, nor the other way round
        self.key = f"{RECORD_CACHE_VERSION}:{_code_key(str(directory), engine)}:edges={edges}:era={assume_era}"

    def _path(self, netuid: int, epoch_block: int, block_hash: str) -> Path:
        digest = hashlib.sha256(f"{self.key}:{netuid}:{epoch_block}:{block_hash}".encode()).hexdigest()[:24]
        return self.directory / f"sn{netuid}-e{epoch_block}-{digest}.json.gz"

    def get(self, netuid: int, epoch_block: int, block_hash: str) -> dict[str, Any] | None:
        try:
            doc = json.loads(gzip.decompress(self._path(netuid, epoch_block, block_hash).read_bytes()))
        except (OSError, ValueError, EOFError):
            return None
        if not isinstance(doc, dict) or doc.get("cache_key") != self.key:
            return None
        record = doc["record"]
        if (record.get("netuid"), record.get("epoch_block")) != (netuid, epoch_block):
            return None
        return record | {"cached": True}

    def put(self, netuid: int, epoch_block: int, block_hash: str, record: Mapping[str, Any]) -> None:
        doc = {"cache_key": self.key, "record": {k: v for k, v in record.items() if k != "timing"} | {"cached": False}}
        with contextlib.suppress(OSError):  # a cache that cannot be written only costs a rerun
            atomic_write(self._path(netuid, epoch_block, block_hash),
                         gzip.compress(json.dumps(doc, separators=(",", ":")).encode(), 6))


@functools.lru_cache(maxsize=8)
def _code_key(directory: str, engine: str) -> str:
    from .audit import AuditCache

    return AuditCache(directory, engine=engine).code_key


# -- running many epochs ------------------------------------------------------------------------

def job_settings(
    source: str, *, engine: str = "reference", cache_dir: str | os.PathLike | None = None, edges: bool = False,
    rpc_limit: int | None = None, kernel_threads: int | None = None, distributed: bool = False,
    assume_era: str | None = None,
) -> dict[str, Any]:
    """The plain settings every task gets."""
    capped = distributed and rpc_limit is not None
    return {"source": source, "engine": engine, "cache_dir": os.fspath(cache_dir) if cache_dir else None,
            "edges": edges, "rpc_limit": rpc_limit, "kernel_threads": kernel_threads, "assume_era": assume_era,
            "semaphore": f"taoaudit-rpc:{rpc_limit}:{source}" if capped else None}


def run_audit(
    source: str,
    targets: Sequence[tuple[int, int]],
    *,
    client: Any = None,
    engine: str = "reference",
    cache_dir: str | os.PathLike | None = None,
    edges: bool = False,
    rpc_limit: int | None = None,
    kernel_threads: int | None = 1,
    on_result: Callable[[dict[str, Any]], None] | None = None,
    chain: Chain | None = None,
    assume_era: str | None = None,
) -> list[dict[str, Any]]:
    """Audit every (netuid, epoch block) of ``targets``; one plain record per target, in order.

    ``source``: recording path or endpoint URL, opened by whoever runs a task (a path must be
    readable there). ``client``: a ``distributed.Client`` to run the tasks on, or None to run
    them here one by one (no Dask; ``chain``, if given, is used instead of opening ``source``).
    ``rpc_limit``: epochs reading from the endpoint at once across the cluster, enforced by a
    ``distributed.Semaphore`` (two scheduler round trips per epoch); None: no cluster-wide cap
    (every worker thread reads one epoch at a time, so N single-thread workers read at most N).
    ``kernel_threads``: numba threads per Dask worker (None: leave the workers' setting).
    ``on_result`` is called as each epoch finishes (completion order). ``assume_era="latest"``
    reads a runtime newer than the era table with the newest rules (records' ``era_note`` says so).
    """
    source = _portable(source)
    if client is None:
        return _run_here(source, targets, engine, cache_dir, edges, on_result, chain, assume_era)
    job = job_settings(source, engine=engine, cache_dir=cache_dir, edges=edges, rpc_limit=rpc_limit,
                       kernel_threads=kernel_threads, distributed=True, assume_era=assume_era)
    return _run_on_cluster(client, job, targets, on_result)


def _portable(source: str) -> str:
    """A recording path every worker can open regardless of its working directory."""
    text = os.fspath(source)
    prefix = "replay:" if text.startswith("replay:") else ""
    path, sep, name = text[len(prefix):].partition("#")
    if "://" in text or not os.path.exists(path):
        return text
    return prefix + os.path.abspath(path) + sep + name


def _run_here(source: str, targets: Sequence[tuple[int, int]], engine: str, cache_dir: Any, edges: bool,
              on_result: Callable | None, chain: Chain | None,
              assume_era: str | None = None) -> list[dict[str, Any]]:
    job = job_settings(source, engine=engine, cache_dir=cache_dir, edges=edges, assume_era=assume_era)
    chains = _local.__dict__.setdefault("chains", {})
    borrowed = chain is not None and source not in chains
    if borrowed:
        chains[source] = chain
    try:
        records = []
        for netuid, epoch_block in targets:
            record = audit_task(netuid, epoch_block, job)
            _raise_fault(record)
            records.append(record)
            if on_result is not None:
                on_result(record)
        return records
    finally:
        if borrowed:
            chains.pop(source, None)


def _run_on_cluster(client: Any, job: dict[str, Any], targets: Sequence[tuple[int, int]],
                    on_result: Callable | None) -> list[dict[str, Any]]:
    from distributed import Semaphore, as_completed

    if job["semaphore"]:
        Semaphore(max_leases=job["rpc_limit"], name=job["semaphore"])  # registered before any task asks
    token = hashlib.sha256(json.dumps([job, list(map(list, targets)), time.time_ns()]).encode()).hexdigest()[:12]
    futures = {client.submit(audit_task, netuid, epoch, job, key=f"audit-{i}-{netuid}-{epoch}-{token}", pure=False): i
               for i, (netuid, epoch) in enumerate(targets)}
    records: list[dict[str, Any] | None] = [None] * len(targets)
    try:
        for future in as_completed(list(futures)):
            record = future.result()
            _raise_fault(record)
            records[futures[future]] = record
            if on_result is not None:
                on_result(record)
    finally:
        client.cancel([f for f in futures if not f.done()])
    return [r for r in records if r is not None]


def _raise_fault(record: Mapping[str, Any]) -> None:
    if "fault" in record:
        raise FanoutFault(f"subnet {record['netuid']} epoch {record['epoch_block']}: {record['fault']} "
                          "(finished epochs are cached; rerun to resume)")


# -- clusters -----------------------------------------------------------------------------------

def require_dask(what: str = "--workers") -> None:
    """Raise :class:`MissingExtra` naming the extra when ``distributed`` is not installed."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise MissingExtra(what) from None


@contextlib.contextmanager
def cluster_client(workers: int | None = None, scheduler: str | None = None) -> Iterator[Any]:
    """A Dask client: on the cluster at ``scheduler`` (tcp://HOST:PORT), or on a new local
    cluster of ``workers`` processes bound to 127.0.0.1 with one kernel thread each; the local
    cluster is shut down on exit."""
    require_dask("--scheduler" if scheduler else "--workers")
    import logging

    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError, ValueError) as e:  # ValueError: not an address (no port)
            raise EndpointUnreachable(scheduler, f"no Dask scheduler answered ({e})") from None
        try:
            yield client
        finally:
            client.close()
        return
    threads = {"TAOAUDIT_KERNEL_THREADS": "1", "NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    # Every server on 127.0.0.1, on a free port: the scheduler's HTTP server otherwise tries 8787
    # and warns on stderr when another cluster holds it.
    cluster = LocalCluster(n_workers=int(workers or 2), threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR, env=threads)
    try:
        client = Client(cluster)
        try:
            yield client
        finally:
            client.close()
    finally:
        cluster.close()

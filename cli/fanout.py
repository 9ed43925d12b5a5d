"""`taoaudit audit --workers N | --scheduler URL | --out DIR`: the audit run through
:mod:`chainkit.fanout` (one process or a Dask cluster) and, with ``--out``, written as a
Parquet dataset. Returns the same outcomes the plain audit path does, for the same tables."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence


def wants_fanout(workers: int, scheduler: str | None, out: Path | None) -> bool:
    return workers > 1 or bool(scheduler) or out is not None


def audit_outcomes(
    chain: Any, targets: Sequence[tuple[int, int]], *, engine: str, cache_dir: Path | None, no_cache: bool,
    workers: int, scheduler: str | None, out: Path | None, edges: bool, rpc_limit: int | None,
    on_result: Callable[[], None], assume_era: str | None = None,
) -> list[Any]:
    """Run the audit's epochs (on a cluster when asked), write the dataset, return EpochOutcomes."""
    from taoaudit.chainkit import fanout
    from taoaudit.chainkit.audit import EpochOutcome, default_cache_dir
    from taoaudit.chainkit.dataset import write_dataset

    cache = None if no_cache else (cache_dir or default_cache_dir())
    source = chain.endpoint
    common = {"engine": engine, "cache_dir": cache, "edges": edges, "on_result": lambda _r: on_result(),
              "assume_era": assume_era}
    if workers > 1 or scheduler:
        with fanout.cluster_client(workers, scheduler) as client:
            # a local cluster of N one-thread workers never reads more than N epochs at once; a
            # cluster of unknown size gets the default cap
            limit = rpc_limit or (fanout.DEFAULT_RPC_LIMIT if scheduler else None)
            records = fanout.run_audit(source, targets, client=client, rpc_limit=limit, **common)
    else:
        records = fanout.run_audit(source, targets, chain=chain, **common)
    if out is not None:
        write_dataset(out, records, edges=edges, meta={"source": source, "engine": engine})
    return [EpochOutcome.from_json(_with_hotkeys(r), cached=bool(r.get("cached"))) for r in records]


def _with_hotkeys(record: dict[str, Any]) -> dict[str, Any]:
    uids = record.get("uids") or {}
    return record | {"hotkeys": uids.get("hotkey") or []}

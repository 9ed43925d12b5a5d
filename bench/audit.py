"""Audit benchmark: epochs per second on one process and on a 2-worker Dask cluster, against a
node that answers with archive-like latency; plus the start-up, decoding and contention figures
of ``bench/startup.py``. Run as ``python bench/audit.py`` (not a test); the last line is one
JSON object.

The node: a recording replayed over a real websocket on 127.0.0.1 by a separate process
(``--serve``), each answer delayed by ``--latency`` seconds (50 ms default), so an audit is
bound by round trips as it is against a real archive node. Both runs are warmed first (kernels
loaded, runtime metadata read, every epoch seen once by every reader) and then audit
``--rounds`` passes over the recording's epochs with no result cache, best of two runs;
throughput = epochs / wall seconds.
``scaling_2w`` = 2-worker ÷ 1-worker throughput, measured side by side in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

#: five subnets (four with epochs; netuid 7 has tempo 0), 12 epochs of which 11 readable
MULTI_SUBNET = ROOT / "fixtures" / "localnet" / "audit" / "audit_spec103.json"
START_TIMEOUT_S = 30.0


# -- the node --------------------------------------------------------------------------------

def serve(recording: str, latency: float) -> None:
    """Answer JSON-RPC from ``recording`` on 127.0.0.1 (port printed first), ``latency`` late,
    until stdin closes (the bench process went away) or the process is terminated."""
    from websockets.asyncio.server import serve as ws_serve

    from taoaudit.chainkit.replay import ReplayTransport

    replay = ReplayTransport(Path(recording))
    # A real node's CPU is not on this machine: serialise each distinct answer once.
    bodies: dict[str, str] = {}

    def answer(text: str) -> str:
        msg = json.loads(text)
        rid = msg.pop("id", None)
        key = json.dumps(msg, sort_keys=True)
        if key not in bodies:
            bodies[key] = json.dumps({k: v for k, v in replay.answer(msg | {"id": 0}).items() if k != "id"})
        return '{"id":' + json.dumps(rid) + "," + bodies[key][1:]

    async def handle(ws: Any) -> None:
        try:
            async for text in ws:
                reply = answer(text)
                await asyncio.sleep(latency)
                await ws.send(reply)
        except Exception:  # noqa: BLE001 - a client that went away; others are still served
            return

    async def main() -> None:
        async with ws_serve(handle, "127.0.0.1", 0, ping_interval=None, compression=None, max_size=2**26) as server:
            print(server.sockets[0].getsockname()[1], flush=True)
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

    asyncio.run(main())


class LatencyNode:
    """``with LatencyNode(recording, latency) as url:`` — the serving process, stopped by PID."""

    def __init__(self, recording: Path, latency: float) -> None:
        self.args = [sys.executable, __file__, "--serve", str(recording), "--latency", str(latency)]
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> str:
        self.proc = subprocess.Popen(self.args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        ready, _, _ = select.select([self.proc.stdout], [], [], START_TIMEOUT_S)
        line = self.proc.stdout.readline() if ready and self.proc.stdout else ""
        if not line.strip().isdigit():
            self.__exit__()
            raise RuntimeError(f"the latency node did not start (said {line!r})")
        return f"ws://127.0.0.1:{int(line)}"

    def __exit__(self, *exc: object) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


# -- throughput ------------------------------------------------------------------------------

def warm(url: str, targets: list[tuple[int, int]], engine: str, client: Any, rpc_limit: int | None) -> None:
    """Every epoch once in this process, or once on every worker (pinned): each reader then
    holds the same per-chain caches (runtime metadata, block references), as the one-process
    run does after its own warm-up pass."""
    from taoaudit.chainkit.fanout import audit_task, job_settings, run_audit

    if client is None:
        run_audit(url, targets, engine=engine)
        return
    job = job_settings(url, engine=engine, rpc_limit=rpc_limit, kernel_threads=1, distributed=True)
    futures = [client.submit(audit_task, n, e, job, workers=[w], pure=False)
               for w in client.scheduler_info()["workers"] for n, e in targets]
    client.gather(futures)


def epochs_per_s(url: str, targets: list[tuple[int, int]], rounds: int, engine: str, client: Any = None,
                 rpc_limit: int | None = None, repeats: int = 2) -> float:
    """Best of ``repeats`` timed runs of ``rounds`` passes over ``targets``, after a warm-up."""
    from taoaudit.chainkit.fanout import run_audit

    warm(url, targets, engine, client, rpc_limit)
    work = targets * rounds
    best = 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        records = run_audit(url, work, client=client, engine=engine, rpc_limit=rpc_limit)
        dt = time.perf_counter() - t0
        if len(records) != len(work) or any(r["verdict"] != "exact" for r in records):
            raise SystemExit(f"bench audit did not verify every epoch exactly: {[r['verdict'] for r in records]}")
        best = max(best, len(work) / dt)
    return best


def audit_targets(recording: Path) -> list[tuple[int, int]]:
    """Every epoch of the recording that it holds the data for (an unreadable one costs no
    round trips and would flatter the throughput)."""
    from taoaudit.chainkit import Chain
    from taoaudit.chainkit.audit import audit_targets as find
    from taoaudit.chainkit.fanout import run_audit

    with Chain(str(recording)) as chain:
        targets, _ = find(chain, None, count=None)
    return [(r["netuid"], r["epoch_block"]) for r in run_audit(str(recording), targets, engine="auto")
            if r["verdict"] == "exact"]


def scaling(recording: Path, latency: float, rounds: int, workers: int) -> dict[str, Any]:
    from taoaudit.chainkit.fanout import cluster_client

    engine = "auto"  # as the CLI runs: the reference for small epochs, the kernels for large ones
    targets = audit_targets(recording)
    with LatencyNode(recording, latency) as url:
        one_w = epochs_per_s(url, targets, rounds, engine)
        with cluster_client(workers) as client:
            many = epochs_per_s(url, targets, rounds, engine, client)  # as `audit --workers N` runs
            capped = epochs_per_s(url, targets, rounds, engine, client, rpc_limit=workers)
    return {
        "epochs_per_s_1w": round(one_w, 3), f"epochs_per_s_{workers}w": round(many, 3),
        f"scaling_{workers}w": round(many / one_w, 3),
        # the same cluster with the cluster-wide Semaphore (--rpc-limit N): two scheduler round trips per epoch
        f"epochs_per_s_{workers}w_semaphore": round(capped, 3),
        f"scaling_{workers}w_semaphore": round(capped / one_w, 3),
        "audit_workload": f"{recording.relative_to(ROOT)}: {len(targets)} epochs of subnets "
                          f"{sorted({n for n, _ in targets})} x {rounds} rounds, {engine} engine, "
                          f"{latency * 1000:.0f} ms per request over ws://127.0.0.1",
    }


# -- start-up, decoding, contention (bench/startup.py) ---------------------------------------

STARTUP_FIGURES = ("verify_warm_s", "metagraph_warm_s", "decode_s", "sdk_decode_s", "contention_ratio")


def startup_figures() -> dict[str, Any]:
    import startup  # bench/startup.py

    out: dict[str, Any] = {}
    for name in STARTUP_FIGURES:
        fn: Callable[[], float] = getattr(startup, name)
        out[name] = fn()
        print(f"{name}: {out[name]}", file=sys.stderr, flush=True)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--serve", help=argparse.SUPPRESS)
    p.add_argument("--latency", type=float, default=0.05, help="Seconds per request (default 0.05).")
    p.add_argument("--rounds", type=int, default=5, help="Passes over the recording's epochs (default 5).")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--recording", type=Path, default=MULTI_SUBNET, help="Recording to serve (default: fixtures/localnet/audit, five subnets).")
    p.add_argument("--skip-startup", action="store_true", help="Only the audit throughput.")
    a = p.parse_args()
    if a.serve:
        serve(a.serve, a.latency)
        return
    result: dict[str, Any] = {}
    if not a.skip_startup:
        result.update(startup_figures())
    result.update(scaling(a.recording, a.latency, a.rounds, a.workers))
    print(json.dumps(result))


if __name__ == "__main__":
    main()

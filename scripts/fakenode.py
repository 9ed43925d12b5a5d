"""A fake subtensor node on 127.0.0.1 that serves a recording, with one injected fault.

It answers JSON-RPC over a real websocket (``websockets``) from a chain-data recording (the
bundled ``fixtures/localnet/recording/chainkit_spec103.json`` by default) exactly as
:class:`taoaudit.chainkit.replay.ReplayTransport` does, except for the one request a *fault*
picks: the first request of the fault's method (after ``skip`` of them) gets the fault instead
of its answer, ``times`` times (1 = a transient fault, 0 = every time).

Run ``python scripts/fakenode.py table`` to print the fault table: every fault against
``taoaudit verify`` and ``taoaudit metagraph`` with exit code, first stderr line and seconds.
The suite runs the same table (tests/test_faults.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RECORDING = ROOT / "fixtures" / "localnet" / "recording" / "chainkit_spec103.json"

#: fault name -> (method it hits, what it does)
FAULTS: dict[str, tuple[str, str]] = {
    "clean close": ("state_queryStorageAt", "the node closes the websocket cleanly instead of answering"),
    "TCP drop": ("state_queryStorageAt", "the node aborts the TCP connection instead of answering"),
    "garbage frame": ("state_queryStorageAt", "a text frame that is not JSON"),
    "non-object frame": ("state_queryStorageAt", "a JSON frame that is an array, not an object"),
    "JSON-RPC error": ("state_queryStorageAt", "error -32603 Internal error"),
    "rate limit": ("state_queryStorageAt", "error -32029 Too many requests"),
    "wrong id with pings": ("state_queryStorageAt", "the answer under another id, then pings, never the answer"),
    "wrong block hash": ("chain_getBlockHash", "block N answered with the hash of another recorded block"),
    "storage from another block": ("state_queryStorageAt", "the change set tagged with another block's hash"),
    "60 s stall": ("state_queryStorageAt", "no answer for 60 s"),
    # beyond the list: a frame dripped a byte at a time outlasts every socket timeout
    "slow trickle": ("state_queryStorageAt", "the answer's frame one byte every 0.2 s (up to 300 s)"),
}
#: every loop here is bounded: nothing the node does lasts longer than this
MAX_FAULT_SECONDS = 60.0
TRICKLE_SECONDS = 300.0  # longer than any test's bound: only the client's deadline ends it


@dataclass
class Fault:
    name: str
    times: int = 1  # 0: every matching request
    skip: int = 0  # matching requests answered honestly before the first fault

    @property
    def method(self) -> str:
        return FAULTS[self.name][0]


class FakeNode:
    """A websocket JSON-RPC server in a background thread; ``with FakeNode(...) as node:``."""

    def __init__(self, recording: Path = RECORDING, fault: Fault | None = None) -> None:
        from taoaudit.chainkit.replay import ReplayTransport

        self.replay = ReplayTransport(recording)
        self.fault = fault
        self._matched = 0
        self.injected = 0
        self.connections = 0
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        hashes = self.replay.recording.entries.get("chain_getBlockHash", {})
        self._hash_by_number = {
            json.loads(k)[0]: v.get("result") for k, v in hashes.items() if json.loads(k) and isinstance(v, dict)
        }

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> "FakeNode":
        self._thread = threading.Thread(target=self._run, name="fakenode", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fake node did not start within 10 s")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> "FakeNode":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        from websockets.asyncio.server import serve

        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with serve(self._handle, "127.0.0.1", 0, ping_interval=None, compression=None,
                         max_size=2**24) as server:
            self.port = server.sockets[0].getsockname()[1]
            self._ready.set()
            await self._stop.wait()
            # Handlers still sleeping (a stall) or pinging are cancelled with the server.
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

    # -- serving -----------------------------------------------------------------------------
    def _take(self, method: str) -> str | None:
        f = self.fault
        if f is None or method != f.method:
            return None
        self._matched += 1
        if self._matched <= f.skip or (f.times and self.injected >= f.times):
            return None
        self.injected += 1
        return f.name

    async def _handle(self, ws: Any) -> None:
        self.connections += 1
        try:
            async for text in ws:
                msg = json.loads(text)
                answer = self.replay.answer(msg)
                fault = self._take(msg.get("method", ""))
                if fault is None:
                    await ws.send(json.dumps(answer))
                elif not await self._inject(ws, fault, msg, answer):
                    return
        except Exception:  # noqa: BLE001 - a client that went away; the next connection is served
            return

    async def _inject(self, ws: Any, fault: str, msg: dict, answer: dict) -> bool:
        """Misbehave once; False when the connection is gone afterwards."""
        rid = msg.get("id")
        if fault == "clean close":
            await ws.close()
            return False
        if fault == "TCP drop":
            ws.transport.abort()
            return False
        if fault == "garbage frame":
            await ws.send("}{ not json \x00")
        elif fault == "non-object frame":
            await ws.send(json.dumps([answer]))
        elif fault == "JSON-RPC error":
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": rid, "error": {"code": -32603, "message": "Internal error"}}))
        elif fault == "rate limit":
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": rid, "error": {"code": -32029, "message": "Too many requests"}}))
        elif fault == "wrong id with pings":
            await ws.send(json.dumps({**answer, "id": (rid or 0) + 1000}))
            deadline = time.monotonic() + MAX_FAULT_SECONDS
            while time.monotonic() < deadline:
                await ws.ping()
                await asyncio.sleep(0.2)
            return False
        elif fault == "wrong block hash":
            number = msg["params"][0]
            others = sorted(n for n in self._hash_by_number if n != number)
            other = min(others, key=lambda n: (abs(n - number - 11), n))
            await ws.send(json.dumps({**answer, "result": self._hash_by_number[other]}))
        elif fault == "storage from another block":
            asked = msg["params"][1]
            other = next(h for h in self._hash_by_number.values() if h != asked)
            result = [{**cs, "block": other} for cs in answer.get("result") or [{"changes": []}]]
            await ws.send(json.dumps({**answer, "result": result}))
        elif fault == "slow trickle":
            payload = json.dumps(answer).encode()
            ws.transport.write(bytes([0x81, 127]) + len(payload).to_bytes(8, "big"))  # FIN, text, 64-bit length
            deadline = time.monotonic() + TRICKLE_SECONDS
            for byte in payload:
                if time.monotonic() > deadline or ws.transport.is_closing():
                    break
                ws.transport.write(bytes([byte]))
                await asyncio.sleep(0.2)
            ws.transport.abort()
            return False
        elif fault == "60 s stall":
            await asyncio.sleep(MAX_FAULT_SECONDS)
            await ws.send(json.dumps(answer))
        else:
            raise ValueError(f"unknown fault {fault!r}")
        return True


# -- the table -------------------------------------------------------------------------------
COMMANDS: dict[str, list[str]] = {
    "verify": ["verify", "--netuid", "1", "--epoch", "228", "--json"],
    "metagraph": ["metagraph", "--netuid", "1", "--block", "228", "--json"],
}


@dataclass
class Row:
    fault: str
    command: str
    code: int | None  # None: killed at the bound
    first_stderr: str
    stderr_lines: int
    traceback: bool
    seconds: float
    stdout: str
    injected: int


def run_cli(node: FakeNode, args: list[str], rpc_timeout: float | None, bound: float) -> tuple[int | None, str, str, float]:
    """``taoaudit ARGS --endpoint NODE`` in a subprocess: exit code (None: killed at
    ``bound``), stdout, stderr, seconds."""
    env = dict(os.environ)
    env.pop("TAOAUDIT_ENDPOINT", None)
    if rpc_timeout is not None:
        env["TAOAUDIT_RPC_TIMEOUT"] = str(rpc_timeout)
    else:
        env.pop("TAOAUDIT_RPC_TIMEOUT", None)
    argv = [sys.executable, "-m", "taoaudit.cli", *args, "--endpoint", node.url]
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        out, err = proc.communicate(timeout=bound)
        code: int | None = proc.returncode
    except subprocess.TimeoutExpired:
        proc.kill()  # our own child, by its handle
        out, err = proc.communicate()
        code = None
    return code, out, err, time.monotonic() - t0


def run_row(fault: Fault | None, command: str, rpc_timeout: float | None, bound: float) -> Row:
    with FakeNode(fault=fault) as node:
        code, out, err, secs = run_cli(node, COMMANDS[command], rpc_timeout, bound)
        injected = node.injected
        out = out.replace(node.url, "ws://127.0.0.1:PORT")  # each row has its own node and port
    lines = [ln for ln in err.splitlines() if ln.strip()]
    name = "none" if fault is None else fault.name + ("" if fault.times == 1 else " (every time)")
    return Row(name, command, code, lines[0] if lines else "", len(lines), "Traceback" in err, secs, out, injected)


def table_rows(rpc_timeout: float | None, bound: float, persistent: tuple[str, ...] = ()) -> list[Row]:
    rows = []
    for command in COMMANDS:
        rows.append(run_row(None, command, rpc_timeout, bound))
        for name in FAULTS:
            rows.append(run_row(Fault(name), command, rpc_timeout, bound))
        for name in persistent:
            rows.append(run_row(Fault(name, times=0), command, rpc_timeout, bound))
    return rows


def format_row(r: Row) -> str:
    code = "killed" if r.code is None else str(r.code)
    return f"| {r.fault} | {r.command} | {code} | {r.first_stderr[:110] or '(none)'} | {r.seconds:.1f} |"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("table", help="run every fault against verify and metagraph")
    t.add_argument("--rpc-timeout", type=float, default=None, help="TAOAUDIT_RPC_TIMEOUT for the CLI (default: its own)")
    t.add_argument("--bound", type=float, default=600.0, help="kill a CLI run after this many seconds")
    s = sub.add_parser("serve", help="serve the recording until interrupted (or --seconds)")
    s.add_argument("--fault", choices=sorted(FAULTS))
    s.add_argument("--times", type=int, default=1)
    s.add_argument("--seconds", type=float, default=3600.0)
    args = ap.parse_args()
    if args.cmd == "serve":
        with FakeNode(fault=Fault(args.fault, args.times) if args.fault else None) as node:
            print(node.url, flush=True)
            try:
                time.sleep(args.seconds)
            except KeyboardInterrupt:
                pass
        return 0
    print("| fault | command | exit | first stderr line | seconds |")
    print("| --- | --- | --- | --- | --- |")
    for row in table_rows(args.rpc_timeout, args.bound, persistent=("clean close", "rate limit")):
        print(format_row(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

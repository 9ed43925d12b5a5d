"""Benchmark: start-up, decoding and kernels under load (issue 13, scopes 3 and 4).

Each function measures one figure and returns it as a float; ``bench/audit.py`` imports them,
and ``python bench/startup.py`` prints them all (last line: one JSON object).

* :func:`verify_warm_s` / :func:`metagraph_warm_s`: whole CLI commands in fresh processes,
  wall clock, best of several runs after one warm-up run (which fills numba's and the
  metadata cache): ``taoaudit verify --netuid 1 --epoch 228`` on the bundled recording, and
  ``taoaudit metagraph --netuid 1 --block 6852690 --replay …/ws_responses.json`` (1024 UIDs).
* :func:`decode_s` / :func:`sdk_decode_s`: the three runtime-API results behind that
  metagraph (``get_neurons_lite``, ``get_subnet_state``, ``get_selective_mechagraph``),
  recorded bytes → Python values, ours (:mod:`chainkit.codec`) against the bittensor SDK's
  Rust decoder (``bittensor_core.Runtime.decode``, the ``bench`` extra), in the same process,
  interleaved, best of several. Both sides get their runtime built before timing; our SS58
  memo is cleared before every pass (within one pass, a key seen twice is encoded once, as
  in a real metagraph read). Both outputs are checked against scalecodec's first: ours
  equal, the SDK's on the same UIDs' hotkeys and stakes.
* :func:`contention_ratio`: the n = 256 dense epoch (kernels, default threads) while two
  other processes spin on the cores ÷ the same epoch on one kernel thread under the same
  load; medians of alternating batches.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "chain-data" / "bittensor-ws"
RECORDING = SHARED / "ws_responses.json"
METADATA_V15 = SHARED / "metadata_v15_spec343_option.hex"
CALLS = (
    "NeuronInfoRuntimeApi_get_neurons_lite",
    "SubnetInfoRuntimeApi_get_subnet_state",
    "SubnetInfoRuntimeApi_get_selective_mechagraph",
)
VERIFY = ["verify", "--netuid", "1", "--epoch", "228"]
METAGRAPH = ["metagraph", "--netuid", "1", "--block", "6852690", "--replay", str(RECORDING)]


# -- whole commands ------------------------------------------------------------------------------
def _command_s(args: list[str], runs: int = 5) -> float:
    cmd = [sys.executable, "-m", "taoaudit.cli", *args]
    subprocess.run(cmd, capture_output=True, cwd=ROOT, timeout=600)  # warm caches
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        res = subprocess.run(cmd, capture_output=True, cwd=ROOT, timeout=600)
        times.append(time.perf_counter() - t)
        if res.returncode not in (0, 1):
            raise RuntimeError(f"{' '.join(args)} exited {res.returncode}: {res.stderr.decode()[-500:]}")
    return min(times)


def verify_warm_s(runs: int = 5) -> float:
    """Warm ``taoaudit verify --netuid 1 --epoch 228`` on the bundled recording, wall s."""
    return _command_s(VERIFY, runs)


def metagraph_warm_s(runs: int = 5) -> float:
    """Warm ``taoaudit metagraph`` of the recorded 1024-UID finney subnet, wall s."""
    return _command_s(METAGRAPH, runs)


# -- decoding ------------------------------------------------------------------------------------
def _recorded_results() -> list[tuple[str, bytes]]:
    calls = json.loads(RECORDING.read_text())["metagraph"]["state_call"]
    out = {}
    for params, response in calls.items():
        out[json.loads(params)[0]] = bytes.fromhex(response["result"][2:])
    return [(name, out[name]) for name in CALLS]


def _ours():
    from taoaudit.chainkit import codec
    from taoaudit.chainkit.metadata import load_metadata_file

    rt = load_metadata_file(METADATA_V15)
    items = [(rt.apis[name].output, raw) for name, raw in _recorded_results()]

    def run() -> list:
        codec._ss58_memo.clear()
        return [rt.codec.decode(tid, raw) for tid, raw in items]

    return rt, run


def _sdk():
    import bittensor_core

    from taoaudit.chainkit.metadata import metadata_bytes

    md = metadata_bytes(METADATA_V15.read_text())
    runtime = bittensor_core.Runtime(md, 343, 1)
    apis = runtime.runtime_api_map()
    items = []
    for name, raw in _recorded_results():
        api, method = name.split("_", 1)
        items.append((apis[api][method]["output"], raw))

    def run() -> list:
        return [runtime.decode(ty, raw) for ty, raw in items]

    return run


def _interleaved(repeats: int = 7) -> tuple[float, float]:
    rt, ours = _ours()
    sdk = _sdk()
    mine, theirs = ours(), sdk()
    # Same answer first, or the timing means nothing.
    lite, lite_sdk = mine[0], theirs[0]
    assert len(lite) == len(lite_sdk) == 1024
    for a, b in zip(lite, lite_sdk):
        assert a["hotkey"] == b["hotkey"] and a["coldkey"] == b["coldkey"] and a["emission"] == b["emission"]
        assert [tuple(s) for s in a["stake"]] == [tuple(s) for s in b["stake"]]
    for key in ("hotkeys", "coldkeys", "emission", "alpha_stake", "last_update"):
        assert mine[1][key] == theirs[1][key], key
    best_ours = best_sdk = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        ours()
        best_ours = min(best_ours, time.perf_counter() - t)
        t = time.perf_counter()
        sdk()
        best_sdk = min(best_sdk, time.perf_counter() - t)
    return best_ours, best_sdk


_DECODE: tuple[float, float] | None = None


def _decode_pair() -> tuple[float, float]:
    global _DECODE
    if _DECODE is None:
        _DECODE = _interleaved()
    return _DECODE


def decode_s() -> float:
    """Our decoder, the three runtime-API results, best of several (s)."""
    return _decode_pair()[0]


def sdk_decode_s() -> float:
    """The bittensor SDK's decoder (bittensor_core, Rust) on the same bytes, same run (s)."""
    return _decode_pair()[1]


# -- kernels under load --------------------------------------------------------------------------
_SPIN = "import time\nt = time.time() + {secs}\nwhile time.time() < t:\n    pass\n"


def contention_ratio(busy: int = 2, batches: int = 6, per_batch: int = 10) -> float:
    """n = 256 dense epoch with ``busy`` spinning processes: default threads ÷ one thread."""
    sys.path.insert(0, str(ROOT / "bench"))
    from epoch import make_inputs

    from taoaudit.consensus.kernels import chunks
    from taoaudit.consensus.registry import run_epoch

    inputs = make_inputs(256, 1.0, seed=256)
    run_epoch(inputs, 425, engine="numba")
    spinners = [
        subprocess.Popen([sys.executable, "-c", _SPIN.format(secs=120)]) for _ in range(busy)
    ]
    parallel: list[float] = []
    serial: list[float] = []
    try:
        time.sleep(0.3)
        for _ in range(batches):
            for cap, out in ((0, parallel), (1, serial)):
                chunks.set_thread_cap(cap)
                for _ in range(per_batch):
                    t = time.perf_counter()
                    run_epoch(inputs, 425, engine="numba")
                    out.append(time.perf_counter() - t)
    finally:
        chunks.set_thread_cap(0)
        for p in spinners:
            p.kill()
            p.wait()
    return statistics.median(parallel) / statistics.median(serial)


def main() -> None:
    out = {
        "decode_s": round(decode_s(), 5),
        "sdk_decode_s": round(sdk_decode_s(), 5),
        "contention_ratio": round(contention_ratio(), 3),
        "verify_warm_s": round(verify_warm_s(), 3),
        "metagraph_warm_s": round(metagraph_warm_s(), 3),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
    for k, v in out.items():
        print(f"{k:20s} {v}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()

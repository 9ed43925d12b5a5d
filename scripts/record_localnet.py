"""Record a short, continuous spec-103 chain (two subnets, several epochs) for offline replay.

A chopsticks node runs the real spec-103 runtime. Two subnets are seeded once (netuid 1 with
n=16, netuid 3 with n=8 — netuid 3 is the subnet the testfinney genesis already declares),
then blocks are built one by one; between epochs some validators "set weights" (their Weights
row and LastUpdate entry are rewritten in storage, as set_weights would), emission accrues
every block, epochs run at their gate blocks and their LoadedEmission is paid out in the next
block. For several (netuid, epoch) pairs, every storage item the oracle-103 README lists is
read at E-1 and at E through a recording JSON-RPC client, which writes:

* ``<out>/localnet_spec103.json``: ``{"recording": {method: {json.dumps(params): response}}}``
  (the chain-data format of ``../shared/chain-data/bittensor-ws``; params canonical as chainkit
  looks them up: trailing nulls dropped, ``state_call`` data without ``0x``);
* ``<out>/metadata_v14_spec103.hex``: the node's ``state_getMetadata`` answer (kept out of the
  JSON, as in chain-data);
* ``<out>/epochs.json``: the recorded pairs (netuid, E, hashes) and, for each, the epoch as an
  ``oracle-epoch-case/103`` case (inputs read at E-1, outputs at E) — what a replay of the
  recording must reproduce.

    python scripts/record_localnet.py --out fixtures/localnet/recording

``RecordingProxy`` (an HTTP JSON-RPC proxy in front of the node) records any other client the
same way: ``python scripts/record_localnet.py --proxy-seconds 600`` prints its URL.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))

import localnet as ln  # noqa: E402
import make_oracle_cases as moc  # noqa: E402

RECORDING_NAME = "recording"
RECORDING_FILE = "localnet_spec103.json"
METADATA_FILE = "metadata_v14_spec103.hex"
QUERY_BATCH = 256  # state_queryStorageAt batch size (chainkit's client batches by 256)
KEYS_PAGE = 1000  # state_getKeysPaged page size (chainkit's)
NOT_RECORDED = ("dev_",)


canonical_params = ln.canonical_params


class Recorder:
    """Collects JSON-RPC traffic as {method: {canonical params: {"result"|"error": ...}}}."""

    def __init__(self) -> None:
        self.entries: dict[str, dict[str, Any]] = {}
        self.metadata_v14: dict[int, str] = {}
        self.active = False
        self._spec_by_hash: dict[str, int] = {}
        self._lock = threading.Lock()

    def __call__(self, method: str, params: Sequence[Any], message: dict) -> None:
        if not self.active or method.startswith(NOT_RECORDED):
            return
        resp = {k: message[k] for k in ("result", "error") if k in message}
        with self._lock:
            if method == "state_getRuntimeVersion" and isinstance(resp.get("result"), dict):
                self._spec_by_hash[params[0] if params else ""] = int(resp["result"]["specVersion"])
            if method == "state_getMetadata" and isinstance(resp.get("result"), str):
                spec = self._spec_by_hash.get(params[0] if params else "", ln.EXPECTED_SPEC_VERSION)
                prev = self.metadata_v14.setdefault(spec, resp["result"])
                if prev != resp["result"]:
                    raise ln.LocalnetError(f"two different metadata for spec {spec}")
                return
            self.entries.setdefault(method, {})[canonical_params(method, params)] = resp

    def save(self, out_dir: Path, name: str = RECORDING_NAME, file_name: str = RECORDING_FILE) -> Path:
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / file_name
        data = {name: {m: dict(sorted(c.items())) for m, c in sorted(self.entries.items())}}
        path.write_text(json.dumps(data, sort_keys=True, separators=(",", ":")) + "\n")
        for spec, hex_text in self.metadata_v14.items():
            (out_dir / f"metadata_v14_spec{spec}.hex").write_text(hex_text + "\n")
        return path


class RecordingProxy:
    """HTTP JSON-RPC proxy on 127.0.0.1:<free port> that forwards to ``upstream`` and records."""

    def __init__(self, upstream: str, recorder: Recorder, timeout: float = 120.0) -> None:
        self.upstream = upstream
        self.recorder = recorder
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                req = urllib.request.Request(
                    proxy.upstream, data=body, headers={"Content-Type": "application/json"}
                )
                with urllib.request.urlopen(req, timeout=timeout) as r:
                    answer = r.read()
                with contextlib.suppress(Exception):
                    msgs = json.loads(body)
                    resps = json.loads(answer)
                    if isinstance(msgs, dict):
                        msgs, resps = [msgs], [resps]
                    by_id = {m.get("id"): m for m in resps}
                    for m in msgs:
                        if m.get("id") in by_id:
                            proxy.recorder(m.get("method", ""), m.get("params") or [], by_id[m["id"]])
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "RecordingProxy":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


# --------------------------------------------------------------------------------------------
# the chain we record


SUBNETS = (  # (netuid, n, tempo)
    (1, 16, 10),
    (3, 8, 12),
)


def initial_seed(netuid: int, n: int, tempo: int, start: int, rng: random.Random) -> ln.SubnetSeed:
    hotkeys = [ln.account_from_label(f"recording/{netuid}/hotkey/{i}") for i in range(n)]
    coldkeys = [ln.account_from_label(f"recording/{netuid}/coldkey/{c}") for c in range(3)]
    n_val = max(2, n // 2)
    weights = {}
    for i in range(n_val):
        cols = sorted(rng.sample(range(n), k=rng.randint(max(1, n // 4), n)))
        weights[i] = list(zip(cols, moc._row_values(rng, len(cols))))
    stake = [int(10 ** rng.uniform(12, 15)) if i < n_val else int(10 ** rng.uniform(6, 11)) for i in range(n)]
    return ln.SubnetSeed(
        netuid=netuid,
        hotkeys=hotkeys,
        owners=[coldkeys[i % 3] for i in range(n)],
        stake=stake,
        last_update=[start - rng.randint(0, 20) for _ in range(n)],
        block_at_registration=[rng.randint(0, start - 50) for _ in range(n)],
        validator_permit=[True] * n,
        weights=weights,
        bonds={},
        hyperparameters={
            "Tempo": tempo,
            "Kappa": 32767,
            "Rho": 10,
            "BondsMovingAverage": 900_000,
            "ActivityCutoff": 50,
            "MaxAllowedValidators": max(1, n // 2),
            "MaxAllowedUids": 256,
            "ImmunityPeriod": 100,
        },
        emission_values=rng.randint(10**8, 10**9),
        pending_emission=0,
        blocks_since_last_step=0,
        last_mechanism_step_block=start - 1,
    )


def set_weights_writes(
    rt: ln.Runtime, net: ln.Localnet, s: ln.SubnetSeed, block: int, at: str, rng: random.Random
) -> list[tuple[str, str | None]]:
    """One or two validators 'call set_weights' at ``block``: new row + LastUpdate[uid] = block."""
    lu = [int(x) for x in net.get("LastUpdate", s.netuid, at=at)]
    w: list[tuple[str, str | None]] = []
    n_val = max(2, s.n // 2)
    for uid in rng.sample(range(n_val), k=rng.randint(1, 2)):
        cols = sorted(rng.sample(range(s.n), k=rng.randint(max(1, s.n // 4), s.n)))
        row = [list(p) for p in zip(cols, moc._row_values(rng, len(cols)))]
        w.append((rt.key("Weights", s.netuid, uid), rt.encode_value("Weights", row)))
        lu[uid] = block
    w.append((rt.key("LastUpdate", s.netuid), rt.encode_value("LastUpdate", lu)))
    return w


def record_reads(net: ln.Localnet, netuid: int, block_hash: str, events: bool) -> None:
    """Read, through the recording client, every item of the oracle README at one block."""
    rt, rpc = net.runtime, net.rpc
    header = rpc.call("chain_getHeader", [block_hash])
    number = int(header["number"], 16)
    rpc.call("chain_getBlockHash", [number])
    for h in (block_hash, header["parentHash"]):
        rpc.call("state_getRuntimeVersion", [h])
        rpc.call("state_getMetadata", [h])
        with contextlib.suppress(ln.LocalnetError):  # spec 103 predates metadata v15
            rpc.call("state_call", ["Metadata_metadata_at_version", "0x0f000000", h])
    keys: list[str] = []
    # per-subnet values
    for name in (
        "SubnetworkN", "NetworksAdded", "EmissionValues", "PendingEmission", "BlocksSinceLastStep",
        "LastMechansimStepBlock", "LoadedEmission", "LastUpdate", "ValidatorPermit",
        *ln.HYPERPARAMETER_ITEMS, *ln.OUTPUT_VECTORS,
    ):
        keys.append(rt.key(name, netuid))
    keys += [rt.key(name) for name in ("TotalStake", "TotalIssuance", "BlockEmission")]
    # per-uid maps, listed by prefix
    for name in ("Keys", "Uids", "BlockAtRegistration", "Weights", "Bonds"):
        keys += net.keys(rt.key(name, netuid), block_hash)
    hotkeys = [v for _, v in sorted(net.iter_prefix("Keys", netuid, at=block_hash), key=lambda kv: kv[0][1])]
    for hk in hotkeys:
        owner = net.get("Owner", hk, at=block_hash)
        keys += [
            rt.key("TotalHotkeyStake", hk),
            rt.key("Owner", hk),
            rt.key("Stake", hk, owner),
            rt.key("IsNetworkMember", hk, netuid),
        ]
    if events:
        keys.append(rt.key("Events", pallet="System"))
    keys = list(dict.fromkeys(keys))
    for k in keys:
        rpc.call("state_getStorageAt", [k, block_hash])
    for i in range(0, len(keys), QUERY_BATCH):
        rpc.call("state_queryStorageAt", [keys[i : i + QUERY_BATCH], block_hash])


CHAINKIT_FILE = "chainkit_spec103.json"


def record_with_chainkit(net: ln.Localnet, runs: list, out_dir: Path, log=print) -> Path | None:
    """Record the project's chain client reading the chain the way the CLI's commands do.

    chainkit talks websocket to the same node and writes its own recording (chain-data format,
    metadata beside it), which is the package's embedded default data: it must answer every
    README command offline. Recorded, at the head (the last block built): the subnet list,
    the last three epochs of every subnet (what ``audit`` and ``verify`` read, inputs at E-1
    and outputs at E), and each subnet's metagraph; and ``snapshot_metagraph`` at E-1 and E of
    every recorded pair (``metagraph --block``, ``snapshot diff``).
    """
    try:
        from taoaudit.chainkit import audit as ck_audit
        from taoaudit.chainkit import ledger as ck_ledger
        from taoaudit.chainkit import metagraph as ck_metagraph
        from taoaudit.chainkit.client import Chain
    except ImportError as e:
        log(f"chainkit not importable ({e}); no chainkit recording")
        return None
    path = out_dir / CHAINKIT_FILE
    if path.exists():
        path.unlink()
    port = net.rpc.url.rsplit(":", 1)[1]
    chain = Chain(f"ws://127.0.0.1:{port}", record_to=path, record_name=RECORDING_NAME)
    try:
        head = chain.head().number
        for netuid in ck_audit.subnet_netuids(chain):
            for epoch_block in ck_audit.epoch_blocks(chain, netuid, count=3):
                ck_audit.read_epoch(chain, netuid, epoch=epoch_block)
            ck_metagraph.snapshot_metagraph(chain, netuid, head)
        for r in runs:
            for block in (r.epoch_block - 1, r.epoch_block):
                ck_metagraph.snapshot_metagraph(chain, r.netuid, block)
        # `taoaudit ledger` / `verify --ledger` (reads at E-1, E and E+1): netuid 1's middle epoch
        # (228, paid out in 229), and the epoch at the head, whose payout block does not exist yet
        for r in [r for r in runs if r.netuid == SUBNETS[0][0]][1:2] + [max(runs, key=lambda r: r.epoch_block)]:
            ck_ledger.epoch_ledger(chain, r.netuid, r.epoch_block)
    finally:
        chain.close()
    log(f"chainkit recording: {path} ({path.stat().st_size} B)")
    return path


def run(
    out_dir: Path, epochs_per_subnet: int, chain_spec: str | None, seed: str, log=print,
    with_chainkit: bool = True,
) -> dict:
    rng = random.Random(seed)
    recorder = Recorder()
    t0 = time.monotonic()
    with ln.localnet(chain_spec) as net:
        rt = net.runtime
        net.rpc.observers.append(recorder)
        start = 200
        net.new_block(height=start)
        _, h = net.head()
        seeds = {u: initial_seed(u, n, tempo, start, rng) for u, n, tempo in SUBNETS}
        writes = [w for s in seeds.values() for w in ln.subnet_writes(rt, s)]
        net.set_storage(writes)
        # epochs to record: the first `epochs_per_subnet` of each subnet after a warm-up epoch
        gates = {}
        for u, _, tempo in SUBNETS:
            first = ln.next_epoch_block(start + 1, u, tempo)
            gates[u] = [first + k * (tempo + 1) for k in range(1, epochs_per_subnet + 1)]
        last = max(max(g) for g in gates.values())
        hashes: dict[int, str] = {start: h}
        runs = []
        for b in range(start + 1, last + 1):
            hb = net.new_block()
            if int(net.header(hb)["number"], 16) != b:
                raise ln.LocalnetError(f"expected block {b}")
            hashes[b] = hb
            # validators act in some blocks (not in the block right before a recorded epoch,
            # so that the E-1 state is the one a reader sees, like on a live chain)
            for u, s in seeds.items():
                # not in an epoch block of the subnet: its state at E is then what the epoch
                # left (an extrinsic there would run after on_initialize and blur that)
                if rng.random() < 0.3 and not ln.epoch_gate(b, u, s.hyperparameters["Tempo"]):
                    net.set_storage(set_weights_writes(rt, net, s, b, hb, rng))
        for u, _, _ in SUBNETS:
            for E in gates[u]:
                before = ln.read_subnet(net, u, hashes[E - 1])
                after = ln.read_subnet(net, u, hashes[E])
                r = ln.EpochRun(u, E, hashes[E - 1], hashes[E], before, after, net.events(hashes[E]), 0.0)
                r.problems = ln.check_epoch_ran(r)
                if r.problems:
                    raise ln.LocalnetError(f"netuid {u} E={E}: " + "; ".join(r.problems))
                runs.append(r)
        # the recording: only the reads below go into it
        recorder.active = True
        rpc = net.rpc
        rpc.call("chain_getHeader", [])
        rpc.call("chain_getBlockHash", [0])
        rpc.call("system_chain", [])
        rpc.call("state_getRuntimeVersion", [])
        for r in runs:
            record_reads(net, r.netuid, r.hash_before, events=False)
            record_reads(net, r.netuid, r.hash_epoch, events=True)
            # and exactly the reads of localnet.read_subnet, so that it can run on a replay
            for h, want in ((r.hash_before, r.before), (r.hash_epoch, r.after)):
                got = ln.read_subnet(net, r.netuid, h)
                if any(got[k] != want[k] for k in got):
                    raise ln.LocalnetError(f"netuid {r.netuid}: state at {h} read twice differs")
        recorder.active = False
        if with_chainkit:
            record_with_chainkit(net, runs, out_dir, log)
        v = net.runtime_version
        runtime = {
            "spec_name": v["specName"],
            "spec_version": v["specVersion"],
            "impl_version": v["implVersion"],
            "code_blake2_256": net.code_hash(hashes[start]),
        }
    path = recorder.save(out_dir)
    epochs = []
    for k, r in enumerate(runs):
        case = moc.build_case("localnet-recording", k, [], r, runtime)
        case["tags"] = sorted(set(moc.data_tags(case)) | {"continuous_chain"})
        epochs.append({
            "netuid": r.netuid,
            "epoch_block": r.epoch_block,
            "input_state_block": r.epoch_block - 1,
            "hash_input_state_block": r.hash_before,
            "hash_epoch_block": r.hash_epoch,
            "case": case,
        })
    summary = {
        "format": "localnet-recording-epochs/1",
        "runtime": runtime,
        "recording_file": RECORDING_FILE,
        "recording_name": RECORDING_NAME,
        "subnets": [{"netuid": u, "n": n, "tempo": t} for u, n, t in SUBNETS],
        "seeded_at_block": start,
        "last_block": last,
        "epochs": epochs,
    }
    (out_dir / "epochs.json").write_text(json.dumps(summary, sort_keys=True, separators=(",", ":")) + "\n")
    log(f"recorded {len(runs)} epochs in {time.monotonic() - t0:.1f}s: {path} "
        f"({path.stat().st_size} B), {sum(len(c) for c in recorder.entries.values())} entries")
    return summary


# -- a multi-subnet chain for `taoaudit audit` ---------------------------------------------------

AUDIT_SUBNETS = (  # (netuid, n, tempo); tempo 0: the runtime never runs that subnet's epoch
    (1, 8, 6),
    (2, 6, 7),
    (3, 8, 8),
    (5, 4, 9),
    (7, 4, 0),
)
NO_EPOCH_TEMPO = 5  # seeded with this tempo (the seed checks refuse 0), then Tempo is set to 0
AUDIT_REGISTER_NETUID = 2  # a registration extrinsic lands in this subnet's last epoch block
AUDIT_UNRECORDED_NETUID = 5  # this subnet's middle audited epoch is left out of the recording
AUDIT_FILE = "audit_spec103.json"


def fund_and_register_call(net: ln.Localnet, netuid: int, label: str) -> tuple[list[tuple[str, str | None]], str]:
    """Storage writes that make //Alice the funded sudo key, and a signed
    ``Sudo.sudo(SubtensorModule.sudo_register(netuid, hotkey, coldkey, 0, 0))`` extrinsic (hex)
    for a fresh hotkey. The spec-103 genesis runtime refuses ``register`` and
    ``burned_register`` outright (``RegistrationDisabled``, ``pallets/subtensor/src/lib.rs``
    @b0e4e9d02); ``do_sudo_registration`` appends or replaces a neuron and deposits
    ``NeuronRegistered`` exactly as they would (``registration.rs``@b0e4e9d02)."""
    from substrateinterface import Keypair, SubstrateInterface

    rt = net.runtime
    alice = Keypair.create_from_uri("//Alice")
    hotkey, coldkey = ln.account_from_label(label), ln.account_from_label(label + "/coldkey")
    account = {"nonce": 0, "consumers": 0, "providers": 1, "sufficients": 0,
               "data": {"free": 10**15, "reserved": 0, "misc_frozen": 0, "fee_frozen": 0}}
    writes = [
        (rt.key("Account", alice.ss58_address, pallet="System"), rt.encode_value("Account", account, pallet="System")),
        (rt.key("Key", pallet="Sudo"), rt.encode_value("Key", alice.ss58_address, pallet="Sudo")),
    ]
    port = net.rpc.url.rsplit(":", 1)[1]
    si = SubstrateInterface(url=f"ws://127.0.0.1:{port}", ss58_format=42)
    try:
        inner = si.compose_call("SubtensorModule", "sudo_register", {
            "netuid": netuid, "hotkey": hotkey, "coldkey": coldkey, "stake": 0, "balance": 0})
        call = si.compose_call("Sudo", "sudo", {"call": inner})
        xt = si.create_signed_extrinsic(call, alice, era="00")
    finally:
        si.close()
    return writes, str(xt.data.to_hex())


def record_audit_chain(out_dir: Path, chain_spec: str | None, seed: str, log=print) -> dict:
    """A chain with five subnets, recorded by chainkit's own audit reads.

    Netuid 7 has tempo 0 (the spec-103 runtime never runs its epoch: ``blocks_until_next_epoch``
    returns 1000 for tempo 0, ``block_step.rs``@db79e3d29); spec 103 has no root network. In
    the last audited epoch block of netuid 2 a real registration extrinsic (``sudo_register``
    through ``Sudo.sudo``, signed by //Alice) replaces a UID after the epoch ran. For netuid 5 the middle audited epoch is not
    recorded: its state is missing from the recording, as on a node that pruned it.
    """
    from taoaudit.chainkit import audit as ck_audit
    from taoaudit.chainkit.client import Chain

    rng = random.Random(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    with ln.localnet(chain_spec) as net:
        rt = net.runtime
        start = 200
        net.new_block(height=start)
        seeds = {u: initial_seed(u, n, tempo or NO_EPOCH_TEMPO, start, rng) for u, n, tempo in AUDIT_SUBNETS}
        reg = seeds[AUDIT_REGISTER_NETUID]
        reg.hyperparameters.update({"MaxAllowedUids": reg.n, "ImmunityPeriod": 5})  # full: a registration replaces
        writes = [w for s in seeds.values() for w in ln.subnet_writes(rt, s)]
        for u, _, tempo in AUDIT_SUBNETS:
            if not tempo:
                seeds[u].hyperparameters["Tempo"] = 0
                writes.append((rt.key("Tempo", u), rt.encode_value("Tempo", 0)))
        net.set_storage(writes)
        gates = {u: [ln.next_epoch_block(start + 1, u, t) + k * (t + 1) for k in range(4)]
                 for u, _, t in AUDIT_SUBNETS if t}
        last = max(g[-1] for g in gates.values())
        register_at = gates[AUDIT_REGISTER_NETUID][-1]
        for b in range(start + 1, last + 1):
            if b == register_at:
                writes, xt = fund_and_register_call(net, AUDIT_REGISTER_NETUID, "audit/registered-in-E")
                net.set_storage(writes)
                hb = net.rpc.call("dev_newBlock", [{"transactions": [xt]}], timeout=600)
                found = [e["event"] for e in net.events(hb) if e["event"].get("event_id") == "NeuronRegistered"]
                if not found:
                    raise ln.LocalnetError(f"sudo_register in block {b} did not register: {net.events(hb, None)}")
                log(f"block {b}: {found}")
            else:
                hb = net.new_block()
            if int(net.header(hb)["number"], 16) != b:
                raise ln.LocalnetError(f"expected block {b}")
            for u, s in seeds.items():
                tempo = s.hyperparameters["Tempo"]
                if rng.random() < 0.3 and not (tempo and ln.epoch_gate(b, u, tempo)):
                    net.set_storage(set_weights_writes(rt, net, s, b, hb, rng))
        path = out_dir / AUDIT_FILE
        path.unlink(missing_ok=True)
        port = net.rpc.url.rsplit(":", 1)[1]
        chain = Chain(f"ws://127.0.0.1:{port}", record_to=path, record_name=RECORDING_NAME)
        try:
            targets, skipped = ck_audit.audit_targets(chain, None, count=3)
            unrecorded = sorted(e for u, e in targets if u == AUDIT_UNRECORDED_NETUID)[1]
            outcomes = [ck_audit.audit_epoch(chain, u, e) for u, e in targets
                        if (u, e) != (AUDIT_UNRECORDED_NETUID, unrecorded)]
        finally:
            chain.close()
    summary = {
        "format": "localnet-audit-chain/1",
        "subnets": [{"netuid": u, "n": n, "tempo": t} for u, n, t in AUDIT_SUBNETS],
        "seeded_at_block": start, "last_block": last, "registered_in_block": [AUDIT_REGISTER_NETUID, register_at],
        "unrecorded_epoch": [AUDIT_UNRECORDED_NETUID, unrecorded],
        "skipped": {str(k): v for k, v in skipped.items()},
        "outcomes": [{k: o.to_json()[k] for k in ("netuid", "epoch_block", "verdict", "reason_code")}
                     | {"replaced_uids": list(o.audit.replaced_uids) if o.audit else []} for o in outcomes],
    }
    (out_dir / "audit_chain.json").write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")
    log(f"audit chain: {path} ({path.stat().st_size} B); {len(targets)} epochs, skipped {skipped}")
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ln.ROOT / "fixtures" / "localnet" / "recording")
    ap.add_argument("--epochs", type=int, default=3, help="recorded epochs per subnet")
    ap.add_argument("--seed", default="taoaudit-recording")
    ap.add_argument("--chain-spec", default=None)
    ap.add_argument("--no-chainkit", action="store_true", help="do not record chainkit's reads too")
    ap.add_argument("--proxy-seconds", type=float, default=None,
                    help="instead: start a node behind a recording proxy for this long, then save to --out")
    ap.add_argument("--audit-chain", type=Path, default=None,
                    help="instead: record the five-subnet chain for `taoaudit audit` into this directory")
    args = ap.parse_args(argv)
    if args.audit_chain is not None:
        record_audit_chain(args.audit_chain, args.chain_spec, args.seed)
        return 0
    if args.proxy_seconds is not None:
        rec = Recorder()
        rec.active = True
        spec = ln.resolve_chain_spec(args.chain_spec)
        with ln.Chopsticks(spec) as node, RecordingProxy(node.url, rec) as proxy:
            print(f"recording proxy {proxy.url} -> {node.url}; {args.proxy_seconds}s", flush=True)
            with contextlib.suppress(KeyboardInterrupt):
                time.sleep(args.proxy_seconds)
        print(rec.save(args.out, file_name="proxy_recording.json"))
        return 0
    run(args.out, args.epochs, args.chain_spec, args.seed, with_chainkit=not args.no_chainkit)
    return 0


if __name__ == "__main__":
    sys.exit(main())

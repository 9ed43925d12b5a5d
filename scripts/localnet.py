"""Run a real subtensor runtime (spec 103) offline under Chopsticks and drive it through Yuma epochs.

The runtime is the genesis ``:code`` of subtensor's ``chainspecs/raw_spec_testfinney.json``
(spec_version 103). Chopsticks executes that wasm in Manual block-build mode; we seed a subnet
by writing SCALE-encoded storage with ``dev_setStorage`` (keys and values encoded with the
runtime's own metadata through scalecodec), build blocks with ``dev_newBlock`` up to the epoch
block ``E`` (``(E + netuid + 1) % (tempo + 1) == tempo``) and read the state back at ``E-1``
and ``E``.

Nothing here is committed chain data: the chain spec and the node's working files live in
``localnet/`` at the project root (git-ignored).

CLI::

    python scripts/localnet.py spec                   # extract the chain spec into localnet/
    python scripts/localnet.py install                # npm ci the pinned chopsticks
    python scripts/localnet.py epoch --netuid 1 --n 8 # start, run one epoch, print a summary, stop
    python scripts/localnet.py serve --seconds 600    # start and keep a node up (bounded)
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import xxhash
from scalecodec.base import RuntimeConfigurationObject, ScaleBytes
from scalecodec.type_registry import load_type_registry_preset
from scalecodec.utils.ss58 import ss58_encode

ROOT = Path(__file__).resolve().parents[1]
LOCALNET_DIR = ROOT / "localnet"  # git-ignored: chain spec, logs
NODE_DIR = ROOT / "scripts" / "localnet"  # package.json + lockfile pinning chopsticks

SPEC_COMMIT = "c6f03fbb3"
SPEC_PATH_IN_REPO = "chainspecs/raw_spec_testfinney.json"
SPEC_FILE_NAME = "raw_spec_testfinney.json"
EXPECTED_CODE_BLAKE2_256 = "0x4d5988d708ca91ea26f6c462edfe30d381d182e3fc61702b3d7a527920deb304"
EXPECTED_SPEC_VERSION = 103
PALLET = "SubtensorModule"

ENV_CHAIN_SPEC = "TAOAUDIT_CHAIN_SPEC"
ENV_SUBTENSOR_SRC = "TAOAUDIT_SUBTENSOR_SRC"


class LocalnetError(RuntimeError):
    pass


# --------------------------------------------------------------------------------------------
# chain spec


def default_subtensor_src() -> Path:
    return Path(os.environ.get(ENV_SUBTENSOR_SRC) or ROOT.parent / "subtensor-src")


def extract_chain_spec(
    dest_dir: Path = LOCALNET_DIR, src: Path | None = None, commit: str = SPEC_COMMIT
) -> Path:
    """``git show <commit>:chainspecs/raw_spec_testfinney.json`` from a subtensor clone into dest_dir."""
    src = src or default_subtensor_src()
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / SPEC_FILE_NAME
    if dest.exists() and dest.stat().st_size > 0:
        return dest
    if not (src / ".git").exists() and not (src / "HEAD").exists():
        raise LocalnetError(
            f"no subtensor git repository at {src}; set {ENV_SUBTENSOR_SRC} or pass --chain-spec"
        )
    try:
        out = subprocess.run(
            ["git", "-C", str(src), "show", f"{commit}:{SPEC_PATH_IN_REPO}"],
            check=True,
            capture_output=True,
            timeout=120,
        ).stdout
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
        raise LocalnetError(f"cannot extract {SPEC_PATH_IN_REPO}@{commit} from {src}: {e}") from None
    tmp = dest.with_suffix(".tmp")
    tmp.write_bytes(out)
    tmp.replace(dest)
    return dest


def resolve_chain_spec(chain_spec: str | os.PathLike | None = None, extract: bool = True) -> Path:
    """--chain-spec, else $TAOAUDIT_CHAIN_SPEC, else localnet/raw_spec_testfinney.json (extracted)."""
    for cand in (chain_spec, os.environ.get(ENV_CHAIN_SPEC)):
        if cand:
            p = Path(cand)
            if not p.is_file():
                raise LocalnetError(f"chain spec {p} does not exist")
            return p
    p = LOCALNET_DIR / SPEC_FILE_NAME
    if p.is_file():
        return p
    if not extract:
        raise LocalnetError(f"no chain spec: pass --chain-spec, set {ENV_CHAIN_SPEC}, or extract it")
    return extract_chain_spec()


def chain_spec_code_hash(path: Path) -> str:
    spec = json.loads(path.read_text())
    code = spec["genesis"]["raw"]["top"]["0x3a636f6465"]
    return "0x" + hashlib.blake2b(bytes.fromhex(code[2:]), digest_size=32).hexdigest()


# --------------------------------------------------------------------------------------------
# chopsticks process


def chopsticks_bin() -> Path:
    return NODE_DIR / "node_modules" / "@acala-network" / "chopsticks" / "chopsticks.cjs"


def chopsticks_available() -> str | None:
    """None when chopsticks can be run, else the reason it cannot."""
    if shutil.which("node") is None:
        return "node is not installed"
    if not chopsticks_bin().is_file():
        return f"chopsticks is not installed ({chopsticks_bin()} missing; run `python scripts/localnet.py install`)"
    return None


def install_chopsticks(timeout: float = 900.0) -> Path:
    """``npm ci`` in scripts/localnet (the lockfile pins chopsticks); a no-op when installed."""
    if chopsticks_bin().is_file():
        return chopsticks_bin()
    if shutil.which("npm") is None:
        raise LocalnetError("npm is not installed (node 20 is needed to run chopsticks)")
    subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True, timeout=timeout
    )
    if not chopsticks_bin().is_file():
        raise LocalnetError("npm ci finished but chopsticks is still missing")
    return chopsticks_bin()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Rpc:
    """Minimal JSON-RPC over HTTP POST (chopsticks answers HTTP on its ws port)."""

    def __init__(self, url: str, timeout: float = 120.0) -> None:
        self.url = url
        self.timeout = timeout
        self._id = 0
        self.observers: list[Any] = []  # callables (method, params, response_message)

    def call(self, method: str, params: Sequence[Any] | None = None, timeout: float | None = None) -> Any:
        self._id += 1
        params = list(params or [])
        body = json.dumps({"jsonrpc": "2.0", "id": self._id, "method": method, "params": params})
        req = urllib.request.Request(
            self.url, data=body.encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=timeout or self.timeout) as resp:
            msg = json.loads(resp.read())
        for obs in self.observers:
            obs(method, params, msg)
        if "error" in msg:
            raise LocalnetError(f"{method}({json.dumps(params)[:200]}): {msg['error']}")
        return msg.get("result")


def canonical_params(method: str, params: Sequence[Any] | None) -> str:
    """Recording lookup key: json.dumps(params) without trailing nulls, state_call data without 0x."""
    p = list(params or [])
    if method == "state_call" and len(p) >= 2 and isinstance(p[1], str) and p[1].startswith("0x"):
        p[1] = p[1][2:]
    while p and p[-1] is None:
        p.pop()
    return json.dumps(p)


class ReplayRpc:
    """Answers ``call`` from a recording ``{name: {method: {params: response}}}`` (no network).

    ``state_getMetadata`` is answered from ``metadata_v14_spec<N>.hex`` beside the file. A request
    that was not recorded raises (never a guessed ``null``).
    """

    def __init__(self, path: Path, name: str | None = None) -> None:
        data = json.loads(Path(path).read_text())
        self.name = name or next(iter(data))
        self.entries: dict[str, dict[str, Any]] = data[self.name]
        self.metadata = {
            int(f.name[len("metadata_v14_spec") : -len(".hex")]): f
            for f in Path(path).parent.glob("metadata_v14_spec*.hex")
        }
        self.observers: list[Any] = []
        self.calls = 0

    def call(self, method: str, params: Sequence[Any] | None = None, timeout: float | None = None) -> Any:
        self.calls += 1
        if method == "state_getMetadata" and method not in self.entries:
            specs = {int(r["result"]["specVersion"]) for r in self.entries.get("state_getRuntimeVersion", {}).values() if "result" in r}
            if len(specs) == 1 and specs & set(self.metadata):
                return self.metadata[specs.pop()].read_text().strip()
        key = canonical_params(method, params)
        resp = self.entries.get(method, {}).get(key)
        if resp is None:
            raise LocalnetError(f"replay {self.name}: no recorded answer for {method} {key[:160]}")
        if "error" in resp:
            raise LocalnetError(f"{method}: {resp['error']}")
        return resp.get("result")


class Chopsticks:
    """A chopsticks process on 127.0.0.1:<free port>; use as a context manager (always stopped)."""

    def __init__(
        self,
        chain_spec: Path,
        port: int | None = None,
        log_dir: Path = LOCALNET_DIR,
        start_timeout: float = 180.0,
        runtime_log_level: int = 0,
    ) -> None:
        self.chain_spec = Path(chain_spec)
        self.port = port or free_port()
        self.log_path = log_dir / f"chopsticks-{self.port}.log"
        self.start_timeout = start_timeout
        self.runtime_log_level = runtime_log_level
        self.proc: subprocess.Popen | None = None
        self.url = f"http://127.0.0.1:{self.port}"
        self.rpc = Rpc(self.url)

    def command(self) -> list[str]:
        return [
            shutil.which("node") or "node",
            str(chopsticks_bin()),
            "--chain-spec", str(self.chain_spec.resolve()),
            "--build-block-mode", "Manual",
            "--allow-unresolved-imports",
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--runtime-log-level", str(self.runtime_log_level),
        ]

    def start(self) -> "Chopsticks":
        why = chopsticks_available()
        if why:
            raise LocalnetError(why)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            self.command(),
            cwd=NODE_DIR,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so stop() reaches its children only
        )
        log.close()
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self.proc.poll() is not None:
                tail = self.log_path.read_text(errors="replace")[-2000:]
                raise LocalnetError(f"chopsticks exited with {self.proc.returncode}:\n{tail}")
            try:
                self.rpc.call("chain_getHeader", [], timeout=5)
                return self
            except (OSError, urllib.error.URLError, LocalnetError, ValueError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise LocalnetError(f"chopsticks did not answer within {self.start_timeout:.0f}s")
            time.sleep(0.5)

    def stop(self, timeout: float = 15.0) -> None:
        p, self.proc = self.proc, None
        if p is None or p.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGTERM)
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=timeout)

    def __enter__(self) -> "Chopsticks":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --------------------------------------------------------------------------------------------
# storage encoding with the runtime's metadata


def _twox(data: bytes, n: int) -> bytes:
    return b"".join(
        xxhash.xxh64(data, seed=i).intdigest().to_bytes(8, "little") for i in range(n)
    )


def hash_key(hasher: str, data: bytes) -> bytes:
    if hasher == "Identity":
        return data
    if hasher == "Twox64Concat":
        return _twox(data, 1) + data
    if hasher == "Blake2_128Concat":
        return hashlib.blake2b(data, digest_size=16).digest() + data
    if hasher == "Twox128":
        return _twox(data, 2)
    if hasher == "Twox256":
        return _twox(data, 4)
    if hasher == "Blake2_128":
        return hashlib.blake2b(data, digest_size=16).digest()
    if hasher == "Blake2_256":
        return hashlib.blake2b(data, digest_size=32).digest()
    raise LocalnetError(f"unknown hasher {hasher}")


_HASH_PREFIX_LEN = {"Identity": 0, "Twox64Concat": 8, "Blake2_128Concat": 16}


@dataclass(frozen=True)
class StorageItem:
    pallet: str
    name: str
    key_types: tuple[str, ...]
    hashers: tuple[str, ...]
    value_type: str
    optional: bool  # OptionQuery: absent != default
    default_hex: str

    @property
    def prefix(self) -> bytes:
        return _twox(self.pallet.encode(), 2) + _twox(self.name.encode(), 2)


def _strip_compact(b: bytes) -> bytes:
    """The payload of a SCALE ``Vec<u8>`` (drop its compact length prefix)."""
    mode = b[0] & 3
    if mode == 0:
        n, off = b[0] >> 2, 1
    elif mode == 1:
        n, off = int.from_bytes(b[:2], "little") >> 2, 2
    elif mode == 2:
        n, off = int.from_bytes(b[:4], "little") >> 2, 4
    else:
        k = (b[0] >> 2) + 4
        n, off = int.from_bytes(b[1 : 1 + k], "little"), 1 + k
    if len(b) - off != n:
        raise LocalnetError("bad SCALE bytes")
    return b[off:]


class Runtime:
    """Storage keys and values of one runtime, encoded/decoded with its own metadata."""

    def __init__(self, metadata_hex: str) -> None:
        self.metadata_hex = metadata_hex
        rc = RuntimeConfigurationObject(ss58_format=42)
        rc.update_type_registry(load_type_registry_preset("core"))
        rc.update_type_registry(load_type_registry_preset("legacy"))
        md = rc.create_scale_object("MetadataVersioned", data=ScaleBytes(metadata_hex))
        md.decode()
        rc.add_portable_registry(md)
        self.rc = rc
        self.metadata = md
        self.items: dict[tuple[str, str], StorageItem] = {}
        for pallet in md.pallets:
            if not pallet.storage:
                continue
            for sf in pallet.storage:
                params = sf.get_params_type_string() or []
                hashers = sf.get_param_hashers() if params else []
                self.items[(pallet.value["storage"]["prefix"], sf.name)] = StorageItem(
                    pallet=pallet.value["storage"]["prefix"],
                    name=sf.name,
                    key_types=tuple(params),
                    hashers=tuple(hashers),
                    value_type=sf.get_value_type_string(),
                    optional=sf.value["modifier"] == "Optional",
                    default_hex="0x" + _strip_compact(bytes(sf["default"].get_used_bytes())).hex(),
                )

    def item(self, name: str, pallet: str = PALLET) -> StorageItem:
        try:
            return self.items[(pallet, name)]
        except KeyError:
            raise LocalnetError(f"runtime has no storage {pallet}.{name}") from None

    def encode(self, type_string: str, value: Any) -> bytes:
        obj = self.rc.create_scale_object(type_string)
        return bytes(obj.encode(value).data)

    def decode(self, type_string: str, data: bytes) -> Any:
        obj = self.rc.create_scale_object(type_string, data=ScaleBytes(data))
        return obj.decode()

    def key(self, name: str, *keys: Any, pallet: str = PALLET) -> str:
        """Full key (all params given) or prefix (leading params given) as 0x-hex."""
        it = self.item(name, pallet)
        if len(keys) > len(it.key_types):
            raise LocalnetError(f"{name} takes {len(it.key_types)} keys, got {len(keys)}")
        out = it.prefix
        for t, h, k in zip(it.key_types, it.hashers, keys):
            out += hash_key(h, self.encode(t, k))
        return "0x" + out.hex()

    def encode_value(self, name: str, value: Any, pallet: str = PALLET) -> str:
        return "0x" + self.encode(self.item(name, pallet).value_type, value).hex()

    def decode_value(self, name: str, raw: str | None, pallet: str = PALLET) -> Any:
        """Decoded value; ``None`` for an absent OptionQuery key, the default for a ValueQuery one."""
        it = self.item(name, pallet)
        if raw is None:
            if it.optional:
                return None
            raw = it.default_hex
        return self.decode(it.value_type, bytes.fromhex(raw[2:]))

    def decode_key(self, name: str, key_hex: str, pallet: str = PALLET) -> list[Any]:
        """The key params of a full storage key (only transparent hashers can be decoded)."""
        it = self.item(name, pallet)
        raw = bytes.fromhex(key_hex[2:])
        if not raw.startswith(it.prefix):
            raise LocalnetError(f"key {key_hex[:80]} is not under {pallet}.{name}")
        off = len(it.prefix)
        out = []
        for t, h in zip(it.key_types, it.hashers):
            if h not in _HASH_PREFIX_LEN:
                raise LocalnetError(f"{name}: hasher {h} is opaque")
            off += _HASH_PREFIX_LEN[h]
            obj = self.rc.create_scale_object(t, data=ScaleBytes(raw[off:]))
            out.append(obj.decode(check_remaining=False))
            off += obj.data.offset
        if off != len(raw):
            raise LocalnetError(f"{name}: {len(raw) - off} trailing key bytes")
        return out


def account_from_label(label: str) -> str:
    """A deterministic SS58 (prefix 42) account id derived from a hash: not a real account."""
    return ss58_encode(hashlib.blake2b(label.encode(), digest_size=32).digest(), 42)


# --------------------------------------------------------------------------------------------
# gate


def epoch_gate(block: int, netuid: int, tempo: int) -> bool:
    """spec-103 ``blocks_until_next_epoch == 0``; tempo 0 never runs."""
    if tempo == 0:
        return False
    return (block + netuid + 1) % (tempo + 1) == tempo


def next_epoch_block(after: int, netuid: int, tempo: int) -> int:
    """Smallest E >= after with the gate holding."""
    if tempo == 0:
        raise LocalnetError("tempo 0: the subnet never runs its epoch")
    m = tempo + 1
    target = (tempo - netuid - 1) % m
    return after + (target - after) % m


# --------------------------------------------------------------------------------------------
# the subnet we seed

HYPERPARAMETER_ITEMS = (
    "Tempo",
    "Kappa",
    "Rho",
    "BondsMovingAverage",
    "ActivityCutoff",
    "MaxAllowedValidators",
    "MaxAllowedUids",
    "ImmunityPeriod",
)

# Per-netuid vectors the epoch writes (all read at E-1 and at E).
OUTPUT_VECTORS = (
    "Active",
    "Rank",
    "Trust",
    "Consensus",
    "Incentive",
    "Dividends",
    "Emission",
    "PruningScores",
    "ValidatorTrust",
)


@dataclass
class SubnetSeed:
    """Everything written into storage for one subnet before its epoch."""

    netuid: int
    hotkeys: list[str]
    owners: list[str]
    stake: list[int]
    last_update: list[int]
    block_at_registration: list[int]
    validator_permit: list[bool]
    weights: dict[int, list[tuple[int, int]]]
    bonds: dict[int, list[tuple[int, int]]]
    hyperparameters: dict[str, int]
    emission_values: int
    pending_emission: int
    blocks_since_last_step: int = 0
    last_mechanism_step_block: int = 0

    @property
    def n(self) -> int:
        return len(self.hotkeys)

    def validate(self) -> None:
        """Refuse inputs that would make the spec-103 block panic (the chain would halt)."""
        n = self.n
        for name in ("owners", "stake", "last_update", "block_at_registration", "validator_permit"):
            if len(getattr(self, name)) != n:
                raise LocalnetError(f"{name} has {len(getattr(self, name))} entries, n = {n}")
        if len(set(self.hotkeys)) != n:
            raise LocalnetError("hotkeys must be distinct")
        for what, rows in (("Weights", self.weights), ("Bonds", self.bonds)):
            for uid, row in rows.items():
                if not 0 <= uid < n:
                    raise LocalnetError(f"{what} row for uid {uid} >= n")
                for j, v in row:
                    if not (0 <= j < n and 0 <= v <= 0xFFFF):
                        raise LocalnetError(f"{what}[{uid}] has ({j}, {v}): dest must be < n")
        if self.hyperparameters.get("Tempo", 0) == 0:
            raise LocalnetError("Tempo 0 never runs an epoch")


def subnet_writes(rt: Runtime, s: SubnetSeed) -> list[tuple[str, str | None]]:
    """(key, SCALE value) pairs for dev_setStorage; ``None`` deletes (clears output slots)."""
    s.validate()
    u = s.netuid
    w: list[tuple[str, str | None]] = []

    def put(name: str, keys: Sequence[Any], value: Any) -> None:
        w.append((rt.key(name, *keys), rt.encode_value(name, value)))

    def delete(name: str, keys: Sequence[Any]) -> None:
        w.append((rt.key(name, *keys), None))

    for k, v in s.hyperparameters.items():
        put(k, [u], v)
    put("SubnetworkN", [u], s.n)
    put("NetworksAdded", [u], True)
    put("EmissionValues", [u], s.emission_values)
    put("PendingEmission", [u], s.pending_emission)
    put("BlocksSinceLastStep", [u], s.blocks_since_last_step)
    put("LastMechansimStepBlock", [u], s.last_mechanism_step_block)
    put("LastUpdate", [u], list(s.last_update))
    put("ValidatorPermit", [u], list(s.validator_permit))
    for uid, (hk, ck, st, reg) in enumerate(
        zip(s.hotkeys, s.owners, s.stake, s.block_at_registration)
    ):
        put("Keys", [u, uid], hk)
        put("Uids", [u, hk], uid)
        put("BlockAtRegistration", [u, uid], reg)
        put("TotalHotkeyStake", [hk], st)
        put("Owner", [hk], ck)
        put("Stake", [hk, ck], st)
        put("IsNetworkMember", [hk, u], True)
    for uid, row in sorted(s.weights.items()):
        put("Weights", [u, uid], [list(p) for p in row])
    for uid, row in sorted(s.bonds.items()):
        put("Bonds", [u, uid], [list(p) for p in row])
    for name in OUTPUT_VECTORS:
        delete(name, [u])
    delete("LoadedEmission", [u])
    return w


# --------------------------------------------------------------------------------------------
# the node, driven


class Localnet:
    """Block building and storage access on a running chopsticks node."""

    PAGE = 1000
    MAX_PAGES = 1000

    def __init__(self, rpc: Rpc, runtime: Runtime | None = None) -> None:
        self.rpc = rpc
        self.runtime = runtime or Runtime(rpc.call("state_getMetadata"))
        self._version = rpc.call("state_getRuntimeVersion")

    @property
    def runtime_version(self) -> dict:
        return self._version

    def code_hash(self, at: str | None = None) -> str:
        code = self.rpc.call("state_getStorage", ["0x3a636f6465", at])
        return "0x" + hashlib.blake2b(bytes.fromhex(code[2:]), digest_size=32).hexdigest()

    def head(self) -> tuple[int, str]:
        h = self.rpc.call("chain_getHeader", [])
        return int(h["number"], 16), self.rpc.call("chain_getBlockHash", [int(h["number"], 16)])

    def header(self, block_hash: str) -> dict:
        return self.rpc.call("chain_getHeader", [block_hash])

    def new_block(self, height: int | None = None, count: int = 1) -> str:
        """Build ``count`` blocks (or one block at ``height`` via unsafeBlockHeight); new head hash."""
        params: dict[str, Any] = {"count": count}
        if height is not None:
            params = {"unsafeBlockHeight": height}
        return self.rpc.call("dev_newBlock", [params], timeout=600)

    def set_head(self, block_hash: str) -> None:
        self.rpc.call("dev_setHead", [block_hash])

    def set_storage(self, pairs: Iterable[tuple[str, str | None]], at: str | None = None) -> None:
        pairs = [[k, v] for k, v in pairs]
        params: list[Any] = [pairs] if at is None else [pairs, at]
        self.rpc.call("dev_setStorage", params)

    def raw_many(self, keys: Sequence[str], at: str) -> dict[str, str | None]:
        out: dict[str, str | None] = {}
        for i in range(0, len(keys), 500):
            chunk = list(keys[i : i + 500])
            res = self.rpc.call("state_queryStorageAt", [chunk, at])
            got = {k: v for change in res for k, v in change["changes"]}
            out.update({k: got.get(k) for k in chunk})
        return out

    def get(self, name: str, *keys: Any, at: str) -> Any:
        key = self.runtime.key(name, *keys)
        return self.runtime.decode_value(name, self.rpc.call("state_getStorageAt", [key, at]))

    def keys(self, prefix: str, at: str) -> list[str]:
        out: list[str] = []
        start = None
        for _ in range(self.MAX_PAGES):
            page = self.rpc.call("state_getKeysPaged", [prefix, self.PAGE, start, at])
            out.extend(page)
            if len(page) < self.PAGE:
                return out
            start = page[-1]
        raise LocalnetError(f"more than {self.PAGE * self.MAX_PAGES} keys under {prefix}")

    def iter_prefix(self, name: str, *keys: Any, at: str) -> list[tuple[list[Any], Any]]:
        """[(key params, value)] for every stored key under name[keys...], in key order."""
        ks = self.keys(self.runtime.key(name, *keys), at)
        vals = self.raw_many(ks, at)
        return [
            (self.runtime.decode_key(name, k), self.runtime.decode_value(name, vals[k])) for k in ks
        ]

    def events(self, at: str, pallet: str | None = PALLET) -> list[dict]:
        raw = self.rpc.call("state_getStorageAt", [self.runtime.key("Events", pallet="System"), at])
        recs = self.runtime.decode_value("Events", raw, pallet="System") or []
        out = []
        for r in recs:
            ev = r["event"]
            if pallet is None or ev.get("module_id") == pallet:
                out.append(r)
        return out


def _rows(pairs: list[tuple[list[Any], Any]]) -> dict[str, list[list[int]]]:
    """Sparse rows {"uid": [[dest, value], ...]} from iter_prefix(Weights|Bonds, netuid)."""
    return {str(k[1]): [[int(j), int(v)] for j, v in val] for k, val in pairs}


def read_subnet(net: Localnet, netuid: int, at: str) -> dict[str, Any]:
    """Every storage item the spec-103 epoch reads or writes for one subnet, by storage name."""
    g = lambda name, *k: net.get(name, *k, at=at)  # noqa: E731
    n = int(g("SubnetworkN", netuid))
    keys = sorted(net.iter_prefix("Keys", netuid, at=at), key=lambda kv: kv[0][1])
    hotkeys = [v for _, v in keys]
    uids = {k[1]: int(v) for k, v in net.iter_prefix("Uids", netuid, at=at)}
    bar = {int(k[1]): int(v) for k, v in net.iter_prefix("BlockAtRegistration", netuid, at=at)}
    owners = [g("Owner", hk) for hk in hotkeys]
    state: dict[str, Any] = {
        "n": n,
        "Keys": hotkeys,
        "key_uids": [int(k[1]) for k, _ in keys],
        "Uids": uids,
        "TotalHotkeyStake": [int(g("TotalHotkeyStake", hk)) for hk in hotkeys],
        "Owner": owners,
        "Stake": [int(g("Stake", hk, ck)) for hk, ck in zip(hotkeys, owners)],
        "IsNetworkMember": [bool(g("IsNetworkMember", hk, netuid)) for hk in hotkeys],
        "LastUpdate": [int(x) for x in g("LastUpdate", netuid)],
        "BlockAtRegistration": [bar[i] for i in sorted(bar)],
        "BlockAtRegistration_uids": sorted(bar),
        "ValidatorPermit": [bool(x) for x in g("ValidatorPermit", netuid)],
        "Weights": _rows(net.iter_prefix("Weights", netuid, at=at)),
        "Bonds": _rows(net.iter_prefix("Bonds", netuid, at=at)),
        "hyperparameters": {h: int(g(h, netuid)) for h in HYPERPARAMETER_ITEMS},
        "subnet": {
            "SubnetworkN": n,
            "NetworksAdded": bool(g("NetworksAdded", netuid)),
            "EmissionValues": int(g("EmissionValues", netuid)),
            "PendingEmission": int(g("PendingEmission", netuid)),
            "BlocksSinceLastStep": int(g("BlocksSinceLastStep", netuid)),
            "LastMechansimStepBlock": int(g("LastMechansimStepBlock", netuid)),
            "LoadedEmission": _loaded(g("LoadedEmission", netuid)),
        },
        "globals": {k: int(g(k)) for k in ("TotalStake", "TotalIssuance", "BlockEmission")},
        "outputs": {
            name: [int(x) if not isinstance(x, bool) else x for x in g(name, netuid)]
            for name in OUTPUT_VECTORS
        },
    }
    return state


def _loaded(v: Any) -> list[list[Any]] | None:
    if v is None:
        return None
    return [[hk, int(amount)] for hk, amount in v]


def expected_inputs(s: SubnetSeed) -> dict[str, Any]:
    """What read_subnet must find at E-1 after seeding (the parts we wrote)."""
    return {
        "Keys": list(s.hotkeys),
        "Uids": {hk: i for i, hk in enumerate(s.hotkeys)},
        "TotalHotkeyStake": list(s.stake),
        "Owner": list(s.owners),
        "Stake": list(s.stake),
        "IsNetworkMember": [True] * s.n,
        "LastUpdate": list(s.last_update),
        "BlockAtRegistration": list(s.block_at_registration),
        "ValidatorPermit": list(s.validator_permit),
        "Weights": {str(k): [list(p) for p in v] for k, v in sorted(s.weights.items())},
        "Bonds": {str(k): [list(p) for p in v] for k, v in sorted(s.bonds.items())},
        "hyperparameters": dict(s.hyperparameters),
    }


@dataclass
class EpochRun:
    netuid: int
    epoch_block: int
    hash_before: str
    hash_epoch: str
    before: dict[str, Any]
    after: dict[str, Any]
    events: list[dict]
    seconds: float
    problems: list[str] = field(default_factory=list)

    @property
    def emission(self) -> int:
        return self.before["subnet"]["PendingEmission"] + self.before["subnet"]["EmissionValues"]


def check_epoch_ran(run: EpochRun) -> list[str]:
    """The bookkeeping that proves the epoch ran at E and wrote its outputs."""
    p: list[str] = []
    b, a, E, n = run.before, run.after, run.epoch_block, run.before["n"]
    tempo = b["hyperparameters"]["Tempo"]
    if not epoch_gate(E, run.netuid, tempo):
        p.append(f"gate does not hold at E={E}")
    if a["subnet"]["LastMechansimStepBlock"] != E:
        p.append(f"LastMechansimStepBlock={a['subnet']['LastMechansimStepBlock']} != E={E}")
    if a["subnet"]["PendingEmission"] != 0:
        p.append(f"PendingEmission={a['subnet']['PendingEmission']} after the epoch")
    if a["subnet"]["BlocksSinceLastStep"] != 0:
        p.append("BlocksSinceLastStep not reset")
    for name in OUTPUT_VECTORS + ("ValidatorPermit",):
        if len(a["outputs"].get(name, a.get(name)) or []) != n:
            p.append(f"{name} has {len(a['outputs'].get(name, a.get(name)) or [])} entries, n={n}")
    em = a["outputs"]["Emission"]
    if sum(em) > run.emission:
        p.append(f"sum(Emission)={sum(em)} > emission={run.emission}")
    loaded = a["subnet"]["LoadedEmission"]
    if loaded != [[hk, e] for hk, e in zip(b["Keys"], em)]:
        p.append("LoadedEmission != (Keys[uid], Emission[uid])")
    return p


def run_epoch(
    net: Localnet,
    seed: SubnetSeed,
    epoch_block: int,
    base_hash: str | None = None,
    verify_inputs: bool = True,
) -> EpochRun:
    """Seed ``seed`` at E-1 (a block built on ``base_hash`` at height E-1), build E, read both."""
    t0 = time.monotonic()
    E = epoch_block
    if not epoch_gate(E, seed.netuid, seed.hyperparameters["Tempo"]):
        raise LocalnetError(f"gate does not hold at {E} for netuid {seed.netuid}")
    if base_hash is not None:
        net.set_head(base_hash)
    head_n, _ = net.head()
    if E - 1 <= head_n:
        raise LocalnetError(f"epoch block {E} must be above head {head_n} + 1")
    h_before = net.new_block(height=E - 1)
    if int(net.header(h_before)["number"], 16) != E - 1:
        raise LocalnetError("unsafeBlockHeight was not honoured")
    net.set_storage(subnet_writes(net.runtime, seed))
    before = read_subnet(net, seed.netuid, h_before)
    problems: list[str] = []
    if verify_inputs:
        exp = expected_inputs(seed)
        for k, v in exp.items():
            if before[k] != v:
                problems.append(f"input {k} read back at E-1 differs from what was written")
        if any(before["outputs"][o] for o in OUTPUT_VECTORS) or before["subnet"]["LoadedEmission"] is not None:
            problems.append("output slots not empty at E-1")
    h_epoch = net.new_block()
    if int(net.header(h_epoch)["number"], 16) != E:
        raise LocalnetError("block E has the wrong number")
    after = read_subnet(net, seed.netuid, h_epoch)
    run = EpochRun(
        netuid=seed.netuid,
        epoch_block=E,
        hash_before=h_before,
        hash_epoch=h_epoch,
        before=before,
        after=after,
        events=net.events(h_epoch),
        seconds=0.0,
    )
    run.problems = problems + check_epoch_ran(run)
    run.seconds = time.monotonic() - t0
    return run


@contextlib.contextmanager
def localnet(chain_spec: str | os.PathLike | None = None, check_runtime: bool = True) -> Iterator[Localnet]:
    """Start chopsticks on the spec-103 chain spec, yield a Localnet, always stop it."""
    spec = resolve_chain_spec(chain_spec)
    with Chopsticks(spec) as node:
        net = Localnet(node.rpc)
        net.node = node  # type: ignore[attr-defined]
        if check_runtime:
            v = net.runtime_version
            if v["specVersion"] != EXPECTED_SPEC_VERSION:
                raise LocalnetError(f"runtime spec_version {v['specVersion']} != {EXPECTED_SPEC_VERSION}")
        yield net


# --------------------------------------------------------------------------------------------
# a simple demo subnet


def demo_seed(netuid: int, n: int, epoch_block: int, rng: random.Random, tempo: int = 99) -> SubnetSeed:
    hotkeys = [account_from_label(f"demo/{netuid}/hotkey/{i}") for i in range(n)]
    coldkeys = [account_from_label(f"demo/{netuid}/coldkey/{i}") for i in range(max(1, n // 4))]
    E = epoch_block
    weights = {}
    for i in range(n):
        cols = sorted(rng.sample(range(n), k=max(1, n // 2)))
        weights[i] = [(j, rng.randint(1, 65535)) for j in cols]
    return SubnetSeed(
        netuid=netuid,
        hotkeys=hotkeys,
        owners=[coldkeys[i % len(coldkeys)] for i in range(n)],
        stake=[rng.randint(0, 10**15) for _ in range(n)],
        last_update=[E - 1 - rng.randint(0, 50) for _ in range(n)],
        block_at_registration=[rng.randint(0, E // 2) for _ in range(n)],
        validator_permit=[True] * n,
        weights=weights,
        bonds={},
        hyperparameters={
            "Tempo": tempo,
            "Kappa": 32767,
            "Rho": 10,
            "BondsMovingAverage": 900_000,
            "ActivityCutoff": 5000,
            "MaxAllowedValidators": 64,
            "MaxAllowedUids": 256,
            "ImmunityPeriod": 4096,
        },
        emission_values=1_000_000_000,
        pending_emission=rng.randint(0, 10**12),
    )


def _cmd_epoch(args: argparse.Namespace) -> int:
    rng = random.Random(args.seed)
    t0 = time.monotonic()
    with localnet(args.chain_spec) as net:
        t_start = time.monotonic() - t0
        v = net.runtime_version
        print(f"chopsticks up in {t_start:.1f}s: {v['specName']} spec {v['specVersion']}, code {net.code_hash()}")
        E = next_epoch_block(args.block, args.netuid, args.tempo)
        seed = demo_seed(args.netuid, args.n, E, rng, tempo=args.tempo)
        run = run_epoch(net, seed, E)
        a = run.after
        print(f"netuid {args.netuid} n {args.n}: E={E} emission={run.emission} in {run.seconds:.2f}s")
        for name in ("Emission", "Incentive", "Dividends", "Consensus", "Active"):
            print(f"  {name}: {a['outputs'][name]}")
        print(f"  ValidatorPermit: {a['ValidatorPermit']}")
        print(f"  LastMechansimStepBlock={a['subnet']['LastMechansimStepBlock']} "
              f"PendingEmission={a['subnet']['PendingEmission']} events={len(run.events)}")
        if run.problems:
            print("PROBLEMS:\n  " + "\n  ".join(run.problems))
            return 1
        print("epoch ran: OK")
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    spec = resolve_chain_spec(args.chain_spec)
    with Chopsticks(spec, port=args.port) as node:
        print(f"chopsticks listening on {node.url} (ws://127.0.0.1:{node.port}); "
              f"stopping after {args.seconds}s or Ctrl-C", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            time.sleep(args.seconds)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--chain-spec", default=None, help=f"chain spec file (else ${ENV_CHAIN_SPEC}, else extract)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("spec", help="extract the chain spec from the subtensor clone into localnet/")
    sub.add_parser("install", help="npm ci the pinned chopsticks in scripts/localnet")
    e = sub.add_parser("epoch", help="start chopsticks, run one epoch of a demo subnet, stop")
    e.add_argument("--netuid", type=int, default=1)
    e.add_argument("--n", type=int, default=8)
    e.add_argument("--tempo", type=int, default=99)
    e.add_argument("--block", type=int, default=1000, help="first candidate epoch block")
    e.add_argument("--seed", default="demo")
    s = sub.add_parser("serve", help="start chopsticks and keep it up for a bounded time")
    s.add_argument("--seconds", type=float, default=600)
    s.add_argument("--port", type=int, default=None)
    args = ap.parse_args(argv)
    if args.cmd == "spec":
        p = resolve_chain_spec(args.chain_spec)
        print(f"{p} code blake2-256 {chain_spec_code_hash(p)}")
        return 0
    if args.cmd == "install":
        print(install_chopsticks())
        return 0
    if args.cmd == "epoch":
        return _cmd_epoch(args)
    if args.cmd == "serve":
        return _cmd_serve(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())

"""Replay and record JSON-RPC traffic in the chain-data format.

Format (as in ``../shared/chain-data``): a JSON file ``{recording: {method: {json(params):
response}}}`` and, beside it, the runtime metadata the traffic needs as ``metadata_v14_spec<N>.hex``
(``state_getMetadata`` result) and ``metadata_v15_spec<N>_option.hex``
(``Metadata_metadata_at_version(15)`` result). Metadata is kept out of the JSON because it is
large and shared by every recording of one runtime.

A replay never invents chain data: a request that was not recorded gets a JSON-RPC error that
names the method and params. (Answering ``null`` would be worse than failing: substrate-interface
turns a null storage value into the storage default, i.e. a plausible wrong number.)
"""

from __future__ import annotations

import json
import os
import re
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from .files import atomic_write
from .errors import ChainError
from .rpc import REPLAY_MISSING_CODE, is_transient_error

_META_V14 = re.compile(r"^metadata_v14_spec(\d+)\.hex$")
_META_V15 = re.compile(r"^metadata_v15_spec(\d+)_option\.hex$")
# SCALE u32 15 (the metadata version asked for), with and without the 0x the clients differ on.
_V15_ARG = "0f000000"


def canonical_params(method: str, params: Any) -> str:
    """The lookup key for a request.

    Two differences between what clients send and what the recordings hold are not
    differences in meaning, so they are normalised away: trailing ``null`` params (an omitted
    optional block hash) and the ``0x`` prefix of ``state_call`` data (the recordings store it
    without).
    """
    p = list(params or [])
    if method == "state_call" and len(p) >= 2 and isinstance(p[1], str):
        p[1] = p[1][2:] if p[1].startswith("0x") else p[1]
    while p and p[-1] is None:
        p.pop()
    return json.dumps(p)


def _atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, text)


@dataclass
class Recording:
    """One named recording, indexed for lookup, plus the metadata files found beside it."""

    name: str
    source: str
    entries: dict[str, dict[str, Any]]  # method -> canonical params -> response
    metadata_v14: dict[int, Path] = field(default_factory=dict)
    metadata_v15: dict[int, Path] = field(default_factory=dict)

    @classmethod
    def load(
        cls,
        path: str | os.PathLike,
        recording: str | None = None,
        metadata_dirs: Iterable[str | os.PathLike] | None = None,
    ) -> "Recording":
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise ChainError(f"cannot read recording file {path}: {e}") from None
        if not isinstance(data, dict) or not data:
            raise ChainError(f"recording file {path} holds no recordings")
        if recording is not None and recording not in data:
            raise ChainError(
                f"no recording {recording!r} in {path}; it has: " + ", ".join(sorted(data))
            )
        # Without a name, every recording in the file answers: requests they agree on are
        # served, requests they answer differently are refused as ambiguous (never guessed).
        names = [recording] if recording is not None else sorted(data)
        entries: dict[str, dict[str, Any]] = {}
        for name in names:
            calls_by_method = data[name]
            if not isinstance(calls_by_method, dict):
                raise ChainError(f"recording {name!r} in {path} is not a {{method: {{params: response}}}} map")
            for method, calls in calls_by_method.items():
                into = entries.setdefault(method, {})
                for k, v in calls.items():
                    key = canonical_params(method, json.loads(k))
                    if key in into and into[key] != v and not (isinstance(into[key], dict) and "__ambiguous__" in into[key]):
                        into[key] = {"__ambiguous__": sorted({*_origins(into[key], name), name})}
                    elif key in into and isinstance(into[key], dict) and "__ambiguous__" in into[key]:
                        into[key]["__ambiguous__"] = sorted({*into[key]["__ambiguous__"], name})
                    else:
                        into.setdefault(key, v)
        label = recording if recording is not None else (names[0] if len(names) == 1 else f"{len(names)} recordings merged")
        rec = cls(label, f"{path}#{recording}" if recording is not None else str(path), entries)
        dirs = [path.parent] + [Path(d) for d in (metadata_dirs or [])]
        for d in dirs:
            rec.add_metadata_dir(d)
        return rec

    def add_metadata_dir(self, directory: str | os.PathLike) -> None:
        for f in sorted(Path(directory).glob("metadata_*")):
            if m := _META_V14.match(f.name):
                self.metadata_v14.setdefault(int(m.group(1)), f)
            elif m := _META_V15.match(f.name):
                self.metadata_v15.setdefault(int(m.group(1)), f)

    def spec_versions(self) -> set[int]:
        return {
            r["result"]["specVersion"]
            for r in self.entries.get("state_getRuntimeVersion", {}).values()
            if isinstance(r, dict) and isinstance(r.get("result"), dict)
        }

    def spec_at(self, block_hash: str | None) -> int | None:
        """Spec version of the runtime at a block hash, from the recorded runtime versions."""
        versions = self.entries.get("state_getRuntimeVersion", {})
        if block_hash is not None:
            r = versions.get(canonical_params("state_getRuntimeVersion", [block_hash]))
            if isinstance(r, dict) and isinstance(r.get("result"), dict):
                return int(r["result"]["specVersion"])
        specs = self.spec_versions()
        # A recording made within one runtime answers for every block it touches.
        return next(iter(specs)) if len(specs) == 1 else None


def _origins(response: Any, fallback: str) -> list[str]:
    return response.get("__ambiguous__", [fallback]) if isinstance(response, dict) else [fallback]


class ReplayTransport:
    """An in-process websocket stand-in that answers from a :class:`Recording`.

    Pass it to ``SubstrateInterface(websocket=...)`` or to :class:`chainkit.Chain` directly.
    """

    def __init__(
        self,
        recording: Recording | str | os.PathLike,
        name: str | None = None,
        metadata_dirs: Iterable[str | os.PathLike] | None = None,
    ) -> None:
        if not isinstance(recording, Recording):
            recording = Recording.load(recording, name, metadata_dirs)
        elif metadata_dirs:
            for d in metadata_dirs:
                recording.add_metadata_dir(d)
        self.recording = recording
        self.endpoint = f"replay:{recording.source}"
        self._outbox: deque[str] = deque()
        self._cycles: dict[tuple[str, str], int] = {}
        self.served: list[tuple[str, str]] = []  # (method, canonical params), in order
        self.closed = False

    # -- websocket-client surface -------------------------------------------------------
    def send(self, payload: str) -> int:
        msg = json.loads(payload)
        batch = msg if isinstance(msg, list) else [msg]
        for m in batch:
            self._outbox.append(json.dumps(self.answer(m)))
        return len(payload)

    def recv(self) -> str:
        if not self._outbox:
            # A real socket would block forever here; a replay has nothing more to say.
            raise ChainError("replay: recv() with no request outstanding (subscriptions are not replayed)")
        return self._outbox.popleft()

    def close(self) -> None:
        self.closed = True

    # -- lookup -------------------------------------------------------------------------
    def answer(self, message: dict) -> dict:
        """The JSON-RPC response to one request message."""
        req_id = message.get("id")
        method = message.get("method", "")
        params = message.get("params") or []
        key = canonical_params(method, params)
        self.served.append((method, key))
        found = self._lookup(method, key, params)
        if found is None:
            return {
                "jsonrpc": "2.0",
                "id": req_id,
                "error": {
                    "code": REPLAY_MISSING_CODE,
                    "message": f"recording '{self.recording.name}': no entry for {method} {key}",
                },
            }
        out = {"jsonrpc": "2.0", "id": req_id}
        if "error" in found:
            out["error"] = found["error"]
        else:
            out["result"] = found.get("result")
        return out

    def _lookup(self, method: str, key: str, params: list) -> dict | None:
        calls = self.recording.entries.get(method, {})
        if key in calls:
            resp = calls[key]
            if isinstance(resp, dict) and "__ambiguous__" in resp:
                return {"error": {"code": REPLAY_MISSING_CODE, "message": (
                    f"recordings {', '.join(resp['__ambiguous__'])} answer {method} {key} differently; "
                    "name one as PATH#NAME")}}
            if isinstance(resp, dict) and "__cycle__" in resp:
                # A rotating sequence of answers (upstream recorded retries this way).
                seq = resp["__cycle__"]
                i = self._cycles.get((method, key), 0)
                self._cycles[(method, key)] = i + 1
                return seq[i % len(seq)]
            return resp if isinstance(resp, dict) else {"result": resp}
        if method == "state_getMetadata":
            spec = self.recording.spec_at(params[0] if params else None)
            f = self.recording.metadata_v14.get(spec) if spec is not None else None
            if f is not None:
                return {"result": f.read_text().strip()}
        if method == "state_call" and len(params) >= 2 and params[0] == "Metadata_metadata_at_version":
            arg = params[1][2:] if params[1].startswith("0x") else params[1]
            if arg == _V15_ARG:
                spec = self.recording.spec_at(params[2] if len(params) > 2 else None)
                f = self.recording.metadata_v15.get(spec) if spec is not None else None
                if f is not None:
                    return {"result": f.read_text().strip()}
        if method == "rpc_methods":
            served = set(self.recording.entries) | {"state_getMetadata", "rpc_methods"}
            return {"result": {"methods": sorted(served)}}
        return None


class RecordingTransport:
    """Wraps a live transport, forwards everything, and records it in the chain-data format.

    Metadata answers go to ``metadata_*.hex`` files beside the recording instead of the JSON
    (the spec version is taken from the ``state_getRuntimeVersion`` answer for the same block).
    Call :meth:`save` (or :meth:`close`) to write. Nothing the file held is lost: a save merges
    into the recording of the same name (an answer recorded again replaces its old copy, no
    entry is ever dropped), other recordings are kept as they are, an existing metadata file is
    never replaced, and a file that is not a chain-data recording is refused before any request.
    Writes are atomic (temp file + ``os.replace``).
    """

    def __init__(self, inner: Any, path: str | os.PathLike, name: str = "recording") -> None:
        self.inner = inner
        self.path = Path(path)
        self.name = name
        self.endpoint = f"record:{getattr(inner, 'endpoint', getattr(inner, 'url', '?'))}"
        self.entries: dict[str, dict[str, Any]] = {}
        self._pending: dict[Any, tuple[str, list]] = {}
        self._spec_by_hash: dict[str, int] = {}
        self._metadata: list[tuple[str, str | None, str]] = []  # (kind, block hash, hex)
        self._existing()  # refuse an unusable target now, not after a long run

    def _existing(self) -> dict[str, Any]:
        """What the target file holds now ({} when absent); anything else is refused."""
        if not self.path.exists():
            return {}
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError) as e:
            raise ChainError(f"cannot record into {self.path}: it exists and is not readable JSON ({e})") from None
        ok = isinstance(data, dict) and all(
            isinstance(rec, dict) and all(isinstance(calls, dict) for calls in rec.values()) for rec in data.values()
        )
        if not ok:
            raise ChainError(
                f"cannot record into {self.path}: it exists and is not a chain-data recording "
                "({recording: {method: {params: response}}}); choose another file"
            )
        return data

    # -- transport surface -----------------------------------------------------------------
    def send(self, payload: str) -> Any:
        try:
            msg = json.loads(payload)
        except ValueError:
            msg = None
        for m in msg if isinstance(msg, list) else [msg]:
            if isinstance(m, dict):
                self._pending[m.get("id")] = (m.get("method", ""), m.get("params") or [])
        return self.inner.send(payload)

    def recv(self) -> str:
        return self._note(self.inner.recv())

    def recv_before(self, deadline: float) -> str:
        inner = getattr(self.inner, "recv_before", None)
        return self._note(inner(deadline) if callable(inner) else self.inner.recv())

    def reconnect(self) -> None:
        reconnect = getattr(self.inner, "reconnect", None)
        if callable(reconnect):
            reconnect()

    def _note(self, text: Any) -> Any:
        # Frames that are not JSON-RPC answers pass through unrecorded: judging them is the
        # RPC client's job, and a recording must never hold them.
        try:
            msg = json.loads(text)
        except (TypeError, ValueError):
            return text
        for m in msg if isinstance(msg, list) else [msg]:
            if isinstance(m, dict) and m.get("id") in self._pending:
                method, params = self._pending.pop(m["id"])
                error = m.get("error")
                # A rate limit is followed by a retry (record its answer instead); a replay's
                # "not recorded" is no answer of the chain's at all.
                missing = isinstance(error, dict) and error.get("code") == REPLAY_MISSING_CODE
                if not (is_transient_error(error) or missing):
                    self._record(method, params, m)
        return text

    def _record(self, method: str, params: list, message: dict) -> None:
        resp = {k: message[k] for k in ("result", "error") if k in message}
        result = resp.get("result")
        if method == "state_getRuntimeVersion" and isinstance(result, dict) and params:
            self._spec_by_hash[params[0]] = int(result["specVersion"])
        if method == "state_getMetadata" and isinstance(result, str):
            self._metadata.append(("v14", params[0] if params else None, result))
            return
        if (
            method == "state_call"
            and len(params) >= 2
            and params[0] == "Metadata_metadata_at_version"
            and isinstance(result, str)
        ):
            self._metadata.append(("v15", params[2] if len(params) > 2 else None, result))
            return
        if method == "state_call" and len(params) >= 2 and isinstance(params[1], str):
            # The recordings keep state_call data without 0x; keep the format.
            params = [params[0], params[1][2:] if params[1].startswith("0x") else params[1], *params[2:]]
        self.entries.setdefault(method, {})[json.dumps(params)] = resp

    # -- writing ---------------------------------------------------------------------------
    def save(self) -> Path:
        extra: dict[str, dict[str, Any]] = {}
        for kind, block_hash, hex_text in self._metadata:
            if not self._save_metadata(kind, block_hash, hex_text):
                # No spec number to name the file by, or a different file of that name is
                # already there: keep this answer in the JSON instead.
                method = "state_getMetadata" if kind == "v14" else "state_call"
                params = [block_hash] if kind == "v14" else ["Metadata_metadata_at_version", _V15_ARG, block_hash]
                extra.setdefault(method, {})[json.dumps(params)] = {"result": hex_text}
        data = self._existing()  # read again at save time: merge into what is there now
        into = data.setdefault(self.name, {})
        for source in (self.entries, extra):
            for method, calls in source.items():
                into.setdefault(method, {}).update(calls)
        _atomic_write_text(self.path, json.dumps(data, indent=1, sort_keys=True) + "\n")
        return self.path

    def _save_metadata(self, kind: str, block_hash: str | None, hex_text: str) -> bool:
        spec = self._spec_by_hash.get(block_hash) if block_hash else None
        if spec is None:
            specs = set(self._spec_by_hash.values())
            spec = next(iter(specs)) if len(specs) == 1 else None
        if spec is None:
            return False
        fname = f"metadata_v14_spec{spec}.hex" if kind == "v14" else f"metadata_v15_spec{spec}_option.hex"
        target = self.path.parent / fname
        if target.exists():
            try:
                return target.read_text().strip() == hex_text.strip()
            except OSError:
                return False
        _atomic_write_text(target, hex_text + "\n")
        return True

    def close(self) -> None:
        try:
            self.save()
        finally:
            self.inner.close()

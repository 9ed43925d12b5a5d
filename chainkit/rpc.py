"""JSON-RPC transport: the bottom layer.

A *transport* is anything with the websocket-client surface ``send(text)``, ``recv() -> text``,
``close()``: a live websocket (:class:`WebsocketTransport`), a replay of a recording
(:mod:`chainkit.replay`) or a recorder wrapping either. Everything above this layer talks
JSON-RPC through :class:`RpcClient`, which owns the part a node can get wrong:

* every request has a deadline (``TAOAUDIT_RPC_TIMEOUT``, default 30 s) that holds however
  many pings, unrelated messages or answers to other ids arrive meanwhile;
* transient faults (a closed or dropped connection, a garbage or non-object frame, a
  malformed answer, a rate-limit error, a deadline) are retried a bounded number of times
  with backoff on a fresh connection, then end as one :class:`~chainkit.errors.NodeFault`;
* node errors become the :mod:`chainkit.errors` hierarchy and are never retried.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import sys
import threading
import time
from typing import Any, Callable, Protocol, runtime_checkable

from .errors import (
    ChainError,
    EndpointUnreachable,
    MissingRecordingEntry,
    NodeFault,
    PrunedState,
    RpcError,
    UnknownBlock,
)

#: The usual public endpoints, by the names the bittensor tooling uses for them. ``finney`` is
#: a lite node: it keeps the state of only the last few hundred blocks; history needs ``archive``.
NAMED_ENDPOINTS: dict[str, str] = {
    "finney": "wss://entrypoint-finney.opentensor.ai:443",
    "test": "wss://test.finney.opentensor.ai:443",
    "local": "ws://127.0.0.1:9944",
    "archive": "wss://archive.chain.opentensor.ai:443",
}

#: JSON-RPC error code a replay uses for "this request was never recorded".
REPLAY_MISSING_CODE = -32099
#: Error codes nodes and their proxies use for "too many requests, try later": -32029 (the
#: OnFinality/Dwellir-style rate limit), -32004 (limit exceeded), 429 (HTTP status passed on).
RATE_LIMIT_CODES = frozenset({-32029, -32004, 429})

DEFAULT_TIMEOUT = 30.0
DEFAULT_RETRIES = 3  # after the first attempt, so 4 attempts in all
BACKOFF_BASE = 0.5  # seconds before the first retry, doubled for each further one
BACKOFF_MAX = 4.0
#: the watchdog fires this long after the deadline (the socket timeout normally comes first)
WATCHDOG_GRACE = 0.5


@runtime_checkable
class Transport(Protocol):
    """The websocket-client surface a transport offers (and nothing more is required)."""

    def send(self, payload: str) -> Any: ...

    def recv(self) -> str: ...

    def close(self) -> None: ...


class TransientFault(Exception):
    """One attempt failed in a way a retry on a fresh connection may cure (internal to rpc)."""


def resolve_endpoint(name_or_url: str) -> str:
    """``finney``/``test``/``local``/``archive`` → URL; ws:// and wss:// URLs pass through."""
    if name_or_url in NAMED_ENDPOINTS:
        return NAMED_ENDPOINTS[name_or_url]
    if name_or_url.startswith(("ws://", "wss://")):
        return name_or_url
    raise EndpointUnreachable(
        name_or_url,
        "not a ws:// or wss:// URL nor one of " + ", ".join(sorted(NAMED_ENDPOINTS)),
    )


def rpc_timeout(value: float | str | None = None) -> float:
    """The per-request deadline in seconds: ``value``, else ``TAOAUDIT_RPC_TIMEOUT``, else 30."""
    source = "timeout"
    if value is None:
        value = os.environ.get("TAOAUDIT_RPC_TIMEOUT") or None
        source = "TAOAUDIT_RPC_TIMEOUT"
    if value is None:
        return DEFAULT_TIMEOUT
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ChainError(f"{source} must be a number of seconds, not {value!r}") from None
    if not 0 < seconds <= 86_400:
        raise ChainError(f"{source} must be between 0 and 86400 seconds, not {value!r}")
    return seconds


class WebsocketTransport:
    """A websocket to a node that can reconnect and honours a deadline across pings.

    websocket-client answers pings inside ``recv()`` and restarts its socket timeout on every
    frame, so a node that pings but never answers would block ``recv()`` forever; here every
    frame, control frames included, comes back to :meth:`recv_before` to check the deadline.
    The socket timeout restarts on every read too, so a node that trickles a frame byte by byte
    could still outlast it: a watchdog shuts the socket down at the deadline.
    """

    def __init__(self, url: str, timeout: float, retries: int = DEFAULT_RETRIES) -> None:
        self.url = self.endpoint = url
        self.timeout = timeout
        self._ws: Any = None
        # A node that is restarting refuses connections for a moment: retry like a request.
        for attempt in range(retries + 1):
            try:
                self.connect()
                return
            except EndpointUnreachable:
                if attempt == retries:
                    raise
                time.sleep(min(BACKOFF_BASE * 2**attempt, BACKOFF_MAX))

    def connect(self) -> None:
        import websocket  # websocket-client, a dependency of substrate-interface

        try:
            self._ws = websocket.create_connection(self.url, timeout=self.timeout)
        except (OSError, socket.timeout, websocket.WebSocketException) as e:
            raise EndpointUnreachable(self.url, f"{type(e).__name__}: {e}") from None

    def reconnect(self) -> None:
        self.close()
        self.connect()

    def send(self, payload: str) -> Any:
        if self._ws is None:
            self.connect()
        return self._ws.send(payload)

    def recv(self) -> str:
        return self.recv_before(time.monotonic() + self.timeout)

    def recv_before(self, deadline: float) -> str:
        """The next data message; :class:`TransientFault` at the deadline or on a close."""
        import websocket

        ws = self._ws
        if ws is None:
            raise TransientFault("connection closed")
        expired = threading.Event()
        watchdog = threading.Timer(max(0.0, deadline - time.monotonic()) + WATCHDOG_GRACE,
                                   self._expire, (ws, expired))
        watchdog.daemon = True
        watchdog.start()
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TransientFault("no answer within the deadline")
                ws.settimeout(remaining)
                try:
                    opcode, data = ws.recv_data(control_frame=True)
                except (socket.timeout, websocket.WebSocketTimeoutException):
                    raise TransientFault("no answer within the deadline") from None
                except (OSError, websocket.WebSocketException):
                    if expired.is_set():
                        raise TransientFault("no answer within the deadline") from None
                    raise
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    raise TransientFault("the node closed the connection")
                if opcode in (websocket.ABNF.OPCODE_TEXT, websocket.ABNF.OPCODE_BINARY):
                    return data.decode("utf-8", "replace") if isinstance(data, bytes) else data
                # ping/pong: answered by websocket-client already; check the deadline again
        finally:
            watchdog.cancel()

    @staticmethod
    def _expire(ws: Any, expired: threading.Event) -> None:
        expired.set()
        try:
            ws.sock.shutdown(socket.SHUT_RDWR)  # unblocks the read; the retry reconnects
        except (OSError, AttributeError):
            pass

    def close(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            try:
                ws.close(timeout=1)
            except Exception:  # noqa: BLE001 - closing a broken socket may fail in any way
                pass


def connect_websocket(url: str, timeout: float | None = None) -> WebsocketTransport:
    """Open a websocket to a node; any failure becomes :class:`EndpointUnreachable`."""
    return WebsocketTransport(url, rpc_timeout(timeout))


def _classify_error(method: str, params: list, error: Any, endpoint: str) -> ChainError:
    """Map a JSON-RPC error object onto the hierarchy; the message text is all nodes give us."""
    if isinstance(error, dict):
        code = error.get("code")
        message = str(error.get("message", error))
        data = error.get("data")
        if data:
            message = f"{message}: {data}"
    else:
        code, message = None, str(error)
    if code == REPLAY_MISSING_CODE:
        return MissingRecordingEntry(method, params, _recording_from_message(message))
    low = message.lower()
    if "state already discarded" in low or "pruned" in low:
        block = params[-1] if params else "?"
        return PrunedState(block, endpoint)
    if "unknown block" in low or "header was not found" in low:
        return UnknownBlock(params[-1] if params else "?")
    return RpcError(method, params, " ".join(message.split()), code)


def is_transient_error(error: Any) -> bool:
    """A JSON-RPC error that says "later", not "no": a rate limit. Every other error is the
    node's answer and final: nodes (Chopsticks among them) use -32603 for permanent failures
    such as a runtime function that does not exist, so retrying it would only slow reads."""
    if not isinstance(error, dict):
        return False
    low = str(error.get("message", "")).lower()
    return error.get("code") in RATE_LIMIT_CODES or "rate limit" in low or "too many requests" in low


def _recording_from_message(message: str) -> str:
    # The replay puts the recording name first: "recording 'x': ..."
    if message.startswith("recording '"):
        return message.split("'", 2)[1]
    return ""


def _is_hex(v: Any) -> bool:
    return isinstance(v, str) and v.startswith("0x")


def _is_list_of(kind: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, list) and all(kind(x) for x in v)


#: What a well-formed ``result`` of each method looks like. An answer of another shape is a
#: malformed frame (retried), never something to index into and fail on with a traceback.
RESULT_SHAPES: dict[str, Callable[[Any], bool]] = {
    "chain_getBlockHash": lambda v: v is None or _is_hex(v),
    "chain_getHead": _is_hex,
    "chain_getFinalizedHead": _is_hex,
    "chain_getHeader": lambda v: v is None or isinstance(v, dict),
    "state_getStorageAt": lambda v: v is None or _is_hex(v),
    "state_getStorage": lambda v: v is None or _is_hex(v),
    "state_getKeysPaged": lambda v: v is None or _is_list_of(_is_hex)(v),
    "state_queryStorageAt": lambda v: v is None or _is_list_of(lambda c: isinstance(c, dict))(v),
    "state_call": lambda v: v is None or _is_hex(v),
    "state_getMetadata": lambda v: v is None or _is_hex(v),
    "state_getRuntimeVersion": lambda v: v is None or (
        isinstance(v, dict) and isinstance(v.get("specVersion"), int) and not isinstance(v.get("specVersion"), bool)
    ),
}


class RpcClient:
    """Synchronous JSON-RPC over a transport, with a deadline per request and bounded retries."""

    def __init__(
        self,
        transport: Transport,
        endpoint: str,
        *,
        timeout: float | None = None,
        retries: int = DEFAULT_RETRIES,
        backoff: float = BACKOFF_BASE,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.transport = transport
        self.endpoint = endpoint
        self.timeout = rpc_timeout(timeout)
        self.retries = retries
        self.backoff = backoff
        self._sleep = sleep
        self._ids = itertools.count(1)
        self.requests = 0  # round trips, for tests and benchmarks
        self.retried = 0  # attempts that failed transiently and were retried

    def request(self, method: str, params: list) -> Any:
        """Send one request and return its ``result``; errors raise :class:`ChainError`."""
        self.requests += 1
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                self.retried += 1
                self._sleep(min(self.backoff * 2 ** (attempt - 1), BACKOFF_MAX))
                try:
                    self._reconnect()
                except EndpointUnreachable as e:
                    last = str(e)
                    continue
            try:
                return self._attempt(method, params)
            except TransientFault as e:
                last = str(e)
        raise NodeFault(self.endpoint, method, last, self.retries + 1)

    def _reconnect(self) -> None:
        reconnect = getattr(self.transport, "reconnect", None)
        if callable(reconnect):
            reconnect()

    def _attempt(self, method: str, params: list) -> Any:
        req_id = next(self._ids)
        payload = json.dumps({"jsonrpc": "2.0", "id": req_id, "method": method, "params": params})
        deadline = time.monotonic() + self.timeout
        try:
            self.transport.send(payload)
            while True:
                message = self._parse(self._recv(deadline))
                if message.get("id") != req_id:
                    continue  # a notification or a stale answer; the deadline bounds this loop
                return self._result(method, params, message)
        except (OSError, EOFError) as e:
            raise TransientFault(f"connection lost ({type(e).__name__}: {e})") from None
        except _websocket_errors() as e:
            raise TransientFault(f"connection lost ({type(e).__name__}: {e})") from None

    def _recv(self, deadline: float) -> str:
        recv_before = getattr(self.transport, "recv_before", None)
        text = recv_before(deadline) if callable(recv_before) else self.transport.recv()
        if time.monotonic() > deadline:
            raise TransientFault("no answer within the deadline")
        return text

    @staticmethod
    def _parse(text: Any) -> dict:
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        if not text:
            raise TransientFault("the node closed the connection")
        try:
            message = json.loads(text)
        except ValueError:
            raise TransientFault(f"garbage frame {text[:40]!r}") from None
        if not isinstance(message, dict):
            raise TransientFault(f"non-object frame {text[:40]!r}")
        return message

    def _result(self, method: str, params: list, message: dict) -> Any:
        if "error" in message:
            error = message["error"]
            if is_transient_error(error):
                detail = error.get("message", "") if isinstance(error, dict) else error
                raise TransientFault(f"{method}: error {error.get('code')} {detail}".strip())
            raise _classify_error(method, params, error, self.endpoint)
        if "result" not in message:
            raise TransientFault(f"{method}: an answer with neither result nor error")
        result = message["result"]
        shape = RESULT_SHAPES.get(method)
        if shape is not None and not shape(result):
            raise TransientFault(f"{method}: malformed result {json.dumps(result)[:40]}")
        return result


def _websocket_errors() -> tuple[type[BaseException], ...]:
    # Not imported yet (a replay): no websocket error can be on its way, and importing
    # websocket-client here would cost every replayed command ~50-100 ms.
    websocket = sys.modules.get("websocket")
    return (websocket.WebSocketException,) if websocket is not None else ()

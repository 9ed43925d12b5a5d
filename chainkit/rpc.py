"""JSON-RPC transport: the bottom layer.

A *transport* here is anything with the websocket-client interface that substrate-interface
drives (``send(text)``, ``recv() -> text``, ``close()``): a real websocket, a replay of a
recording (:mod:`chainkit.replay`) or a recorder wrapping either. Everything above this layer
talks JSON-RPC through :class:`RpcClient`, which turns node errors into :mod:`chainkit.errors`.
"""

from __future__ import annotations

import json
import socket
from typing import Any, Protocol, runtime_checkable

from .errors import (
    ChainError,
    EndpointUnreachable,
    MissingRecordingEntry,
    PrunedState,
    RpcError,
    UnknownBlock,
)

#: The usual public endpoints, by the names the bittensor tooling uses for them.
NAMED_ENDPOINTS: dict[str, str] = {
    "finney": "wss://entrypoint-finney.opentensor.ai:443",
    "test": "wss://test.finney.opentensor.ai:443",
    "local": "ws://127.0.0.1:9944",
    "archive": "wss://archive.chain.opentensor.ai:443",
}

#: JSON-RPC error code a replay uses for "this request was never recorded".
REPLAY_MISSING_CODE = -32099


@runtime_checkable
class Transport(Protocol):
    """The websocket-client surface substrate-interface needs (and nothing more)."""

    def send(self, payload: str) -> Any: ...

    def recv(self) -> str: ...

    def close(self) -> None: ...


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


def connect_websocket(url: str, timeout: float = 30.0) -> Transport:
    """Open a websocket to a node; any failure becomes :class:`EndpointUnreachable`."""
    import websocket  # websocket-client, a dependency of substrate-interface

    try:
        return websocket.create_connection(url, timeout=timeout)
    except (OSError, socket.timeout, websocket.WebSocketException) as e:
        raise EndpointUnreachable(url, f"{type(e).__name__}: {e}") from None


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
    return RpcError(method, params, message, code)


def _recording_from_message(message: str) -> str:
    # The replay puts the recording name first: "recording 'x': ..."
    if message.startswith("recording '"):
        return message.split("'", 2)[1]
    return ""


class RpcClient:
    """Synchronous JSON-RPC over a transport, via substrate-interface's request plumbing.

    ``substrate`` is a :class:`substrateinterface.SubstrateInterface` built on the transport; we
    reuse its request ids and message queue (subscriptions, interleaving) rather than write our own.
    """

    def __init__(self, substrate: Any, endpoint: str) -> None:
        self.substrate = substrate
        self.endpoint = endpoint
        self.requests = 0  # round trips, for tests and benchmarks

    def request(self, method: str, params: list) -> Any:
        """Send one request and return its ``result``; errors raise :class:`ChainError`."""
        from substrateinterface.exceptions import SubstrateRequestException
        import websocket

        self.requests += 1
        try:
            response = self.substrate.rpc_request(method, params)
        except SubstrateRequestException as e:
            err = e.args[0] if e.args else str(e)
            raise _classify_error(method, params, err, self.endpoint) from None
        except (OSError, websocket.WebSocketException) as e:
            raise EndpointUnreachable(self.endpoint, f"{type(e).__name__}: {e}") from None
        if "error" in response:
            raise _classify_error(method, params, response["error"], self.endpoint)
        return response.get("result")


def dumps_params(params: list) -> str:
    """The params key format of the chain-data recordings (``json.dumps`` defaults)."""
    return json.dumps(params)

"""One exception hierarchy for everything chainkit raises.

The CLI catches :class:`ChainError` and prints ``str(e)``, so every message is one line that
says what went wrong and, where there is one, what to do about it.
"""

from __future__ import annotations


class ChainError(Exception):
    """Base class: anything that stops chainkit from producing a faithful answer."""


class EndpointUnreachable(ChainError):
    def __init__(self, endpoint: str, reason: str) -> None:
        self.endpoint = endpoint
        super().__init__(f"cannot reach endpoint {endpoint}: {reason}")


class RpcError(ChainError):
    """The node answered a JSON-RPC request with an error we have no better name for."""

    def __init__(self, method: str, params: object, message: str, code: int | None = None) -> None:
        self.method, self.params, self.code = method, params, code
        super().__init__(f"RPC {method} failed: {message}")


class NodeFault(ChainError):
    """The node kept failing in ways a retry may cure (closed or dropped connections, garbage
    frames, rate limits, no answer within the deadline) until the retries ran out."""

    def __init__(self, endpoint: str, method: str, reason: str, attempts: int) -> None:
        self.endpoint, self.method, self.reason, self.attempts = endpoint, method, reason, attempts
        super().__init__(f"node {endpoint} failed {method} {attempts} times; last: {reason}")


class UntrustedAnswer(ChainError):
    """The node answered for another block than the one asked, or with a header that does not
    hash to the block it claims: nothing it says in this session can be relied on."""

    def __init__(self, endpoint: str, what: str) -> None:
        self.endpoint = endpoint
        super().__init__(f"node {endpoint} answered for the wrong block: {what}")


class PrunedState(ChainError):
    def __init__(self, block: int | str, endpoint: str) -> None:
        self.block, self.endpoint = block, endpoint
        super().__init__(
            f"state of block {block} is pruned on {endpoint}: a lite node (such as finney) keeps "
            "only the last few hundred blocks; read history with --endpoint archive"
        )


class NoEpoch(ChainError):
    def __init__(self, netuid: int, block: int) -> None:
        self.netuid, self.block = netuid, block
        super().__init__(f"subnet {netuid} has no epoch at or before block {block}")


class UnknownBlock(ChainError):
    def __init__(self, block: int | str) -> None:
        self.block = block
        super().__init__(f"block {block} is not known to the node")


class BlockInFuture(ChainError):
    def __init__(self, block: int, head: int) -> None:
        self.block, self.head = block, head
        super().__init__(f"block {block} is in the future (chain head is {head})")


class UnknownNetuid(ChainError):
    def __init__(self, netuid: int, block: int | str | None = None, existing: list[int] | None = None) -> None:
        self.netuid, self.block = netuid, block
        at = f" at block {block}" if block is not None else ""
        there = ""
        if existing is not None:
            there = "; subnets there: " + (", ".join(map(str, existing)) or "none")
        super().__init__(f"subnet netuid {netuid} does not exist{at}{there}")


class UnsupportedSpec(ChainError):
    def __init__(self, spec_version: int, supported: str, what: str = "storage layout") -> None:
        self.spec_version = spec_version
        super().__init__(
            f"runtime spec {spec_version} is not supported for {what}; supported: {supported}"
        )


class UnsupportedMetadataVersion(ChainError):
    def __init__(self, version: int, source: str = "") -> None:
        self.version = version
        src = f" ({source})" if source else ""
        super().__init__(
            f"unsupported metadata version V{version}{src}; chainkit reads V14 and V15"
        )


class MetadataError(ChainError):
    """Metadata bytes that are not metadata at all, or do not describe what we need."""


class MalformedSnapshot(ChainError):
    def __init__(self, path: object, reason: str) -> None:
        self.path = path
        super().__init__(f"malformed snapshot {path}: {reason}")


class MissingRecordingEntry(ChainError):
    def __init__(self, method: str, params: object, recording: str = "") -> None:
        self.method, self.params = method, params
        where = f" in recording {recording!r}" if recording else ""
        shown = str(params)
        if len(shown) > 120:
            shown = shown[:117] + "..."
        super().__init__(
            f"the data was not recorded{where}: {method} {shown} (record it with --record-to against a node)"
        )


class DecodeError(ChainError):
    """Bytes from the chain that do not decode as the type the runtime declares."""

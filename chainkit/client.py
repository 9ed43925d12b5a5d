"""The client: a chain, and a view of its state at one block with that block's own types.

``Chain`` owns the transport (live websocket, replay or recorder) and the JSON-RPC client on
top of it (:mod:`chainkit.rpc`: deadlines, retries). ``Chain.at(block)`` returns a
:class:`Block`: the block's number and hash plus the :class:`~chainkit.metadata.RuntimeTypes` of
the runtime that produced it, loaded once per spec version, so every era decodes with its own
types.

Which runtime a block's state belongs to: the one that *executed* the block, i.e. the runtime in
the parent's state (as substrate-interface does). At an upgrade block the post-state still has
the old storage format (migrations run in the next block), so this is also right for storage.

Nothing a node says about blocks is taken on trust (:mod:`chainkit.trust`): every header is
hashed and checked against the hash and number asked, consecutive blocks must link by parent
hash, and storage answers must carry the block asked. A number is resolved to its hash once per
``Chain``, so all reads of one block (an epoch's E−1 and E) go to the same hash.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from .errors import (
    BlockInFuture,
    ChainError,
    DecodeError,
    MetadataError,
    MissingRecordingEntry,
    PrunedState,
    RpcError,
    UnknownBlock,
    UntrustedAnswer,
)
from .metadata import RuntimeApiMethod, RuntimeTypes, load_metadata
from .replay import RecordingTransport, ReplayTransport
from .rpc import RpcClient, Transport, connect_websocket, resolve_endpoint
from .trust import (
    check_header,
    check_header_number,
    check_parent_link,
    check_storage_block,
    header_hash,
    header_number,
    is_block_hash,
)
from .scale import HASHER_PREFIX_LEN, chunks, from_hex, hash_key, item_prefix, to_plain

_HASH_RE = re.compile(r"^0x[0-9a-fA-F]{64}$")
#: Keys per ``state_queryStorageAt`` request: large enough for few round trips, small enough
#: for node response limits (a 1024-UID weights row set is several MB of hex).
QUERY_BATCH = 256
KEYS_PAGE = 1000


@dataclass(frozen=True)
class BlockRef:
    number: int
    hash: str
    parent_hash: str


class Chain:
    """A subtensor chain reachable over JSON-RPC.

    ``source`` is a URL (``ws://``/``wss://``), a well-known name (``finney``, ``test``,
    ``local``, ``archive``), a path to a recording (``*.json``, replayed; ``recording`` names
    one of several inside), ``replay:<path>[#<recording>]``, or any transport object with the
    websocket ``send``/``recv``/``close`` surface (e.g. :class:`~chainkit.replay.ReplayTransport`).
    ``record_to`` wraps the transport in a recorder writing the chain-data format.
    """

    def __init__(
        self,
        source: str | os.PathLike | Transport,
        *,
        recording: str | None = None,
        metadata_dirs: Iterable[str | os.PathLike] | None = None,
        record_to: str | os.PathLike | None = None,
        record_name: str = "recording",
        timeout: float | None = None,
    ) -> None:
        """``timeout``: the per-request deadline in seconds (default ``TAOAUDIT_RPC_TIMEOUT``
        or 30 s); transient faults are retried a bounded number of times within it."""
        transport, endpoint = _open_transport(source, recording, metadata_dirs, timeout)
        if record_to is not None:
            transport = RecordingTransport(transport, record_to, record_name)
            endpoint = f"{endpoint} (recording to {record_to})"
        self.transport = transport
        self.endpoint = endpoint
        self.rpc_client = RpcClient(transport, endpoint, timeout=timeout)
        self._runtimes: dict[int, RuntimeTypes] = {}
        self._spec_by_hash: dict[str, int] = {}
        # Blocks resolved (and checked) in this session: by number for the canonical chain,
        # by hash for every header seen.
        self._by_number: dict[int, BlockRef] = {}
        self._by_hash: dict[str, BlockRef] = {}

    # -- plumbing --------------------------------------------------------------------------
    def rpc(self, method: str, params: list) -> Any:
        try:
            return self.rpc_client.request(method, params)
        except PrunedState as e:
            # The node names the block by hash; say which block that is when we know.
            ref = self._by_hash.get(str(e.block).lower())
            if ref is None:
                raise
            raise PrunedState(ref.number, e.endpoint) from None

    @property
    def requests(self) -> int:
        """JSON-RPC round trips made so far."""
        return self.rpc_client.requests

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> "Chain":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- blocks ----------------------------------------------------------------------------
    def head(self) -> BlockRef:
        header = self.rpc("chain_getHeader", [])
        if not header:
            raise ChainError(f"{self.endpoint} returned no head header")
        # The head's hash is not in its header: compute it (which also checks the header).
        return BlockRef(header_number(header, self.endpoint), header_hash(header, self.endpoint),
                        header["parentHash"])

    def block_ref(self, block: int | str) -> BlockRef:
        """Number and hash of a block given by number or by hash, checked (see module doc)."""
        if isinstance(block, str) and _HASH_RE.match(block):
            return self._ref_by_hash(block.lower())
        if isinstance(block, str) and block.isdigit():
            block = int(block)
        if not isinstance(block, int) or isinstance(block, bool) or block < 0:
            raise UnknownBlock(block)
        if block in self._by_number:
            return self._by_number[block]
        try:
            block_hash = self.rpc("chain_getBlockHash", [block])
        except MissingRecordingEntry:
            # A recording that knows its head can still say "in the future" rather than "missing".
            try:
                head = self.head()
            except ChainError:
                raise MissingRecordingEntry("chain_getBlockHash", [block], "") from None
            if block > head.number:
                raise BlockInFuture(block, head.number) from None
            raise
        if block_hash is None:
            head = self.head()
            if block > head.number:
                raise BlockInFuture(block, head.number)
            raise UnknownBlock(block)
        if not is_block_hash(block_hash):
            raise UntrustedAnswer(self.endpoint, f"block {block}'s hash is {str(block_hash)[:70]!r}")
        ref = self._ref_by_hash(block_hash.lower(), number=block)
        self._link(ref)
        self._by_number[block] = ref
        return ref

    def _ref_by_hash(self, block_hash: str, number: int | None = None) -> BlockRef:
        ref = self._by_hash.get(block_hash)
        if ref is None:
            header = self.rpc("chain_getHeader", [block_hash])
            if header is None:
                raise UnknownBlock(number if number is not None else block_hash)
            got = check_header(header, self.endpoint, block_hash, None)
            ref = BlockRef(got, block_hash, header["parentHash"].lower())
            self._by_hash[block_hash] = ref
        check_header_number(self.endpoint, ref, number)
        return ref

    def _link(self, ref: BlockRef) -> None:
        """Consecutive blocks resolved by number must form one chain (E's parent is E−1)."""
        before = self._by_number.get(ref.number - 1)
        if before is not None:
            check_parent_link(self.endpoint, ref.number, ref.parent_hash, before.hash)
        after = self._by_number.get(ref.number + 1)
        if after is not None:
            check_parent_link(self.endpoint, after.number, after.parent_hash, ref.hash)

    def at(self, block: int | str | BlockRef) -> "Block":
        """State at a block (number or hash), decoded with that block's runtime types."""
        ref = block if isinstance(block, BlockRef) else self.block_ref(block)
        if not ref.hash:
            ref = self.block_ref(ref.number)
        return Block(self, ref, self.runtime_for(ref))

    # -- runtimes --------------------------------------------------------------------------
    def runtime_for(self, ref: BlockRef) -> RuntimeTypes:
        genesis = ref.parent_hash == "0x" + "00" * 32
        runtime_hash = ref.hash if genesis else ref.parent_hash
        return self.runtime(runtime_hash)

    def spec_version(self, block_hash: str) -> int:
        if block_hash not in self._spec_by_hash:
            version = self.rpc("state_getRuntimeVersion", [block_hash])
            if not version:
                raise UnknownBlock(block_hash)
            self._spec_by_hash[block_hash] = int(version["specVersion"])
        return self._spec_by_hash[block_hash]

    def runtime(self, block_hash: str) -> RuntimeTypes:
        """Types of the runtime whose code is in the state at ``block_hash`` (cached per spec)."""
        spec = self.spec_version(block_hash)
        if spec not in self._runtimes:
            self._runtimes[spec] = self._load_runtime(block_hash, spec)
        return self._runtimes[spec]

    def _load_runtime(self, block_hash: str, spec: int) -> RuntimeTypes:
        # V15 first: it carries the runtime-API signatures. Runtimes that predate
        # Metadata_metadata_at_version answer with an error; then V14 from state_getMetadata.
        raw: str | None = None
        try:
            raw = self.rpc("state_call", ["Metadata_metadata_at_version", "0x0f000000", block_hash])
            if raw in (None, "0x", "0x00"):
                raw = None
        except (RpcError, MissingRecordingEntry):
            raw = None
        if raw is None:
            raw = self.rpc("state_getMetadata", [block_hash])
            if not raw:
                raise MetadataError(f"{self.endpoint} returned no metadata at {block_hash}")
        rt = load_metadata(raw, source=f"spec {spec}")
        if rt.spec_version != spec:
            raise MetadataError(
                f"metadata at {block_hash} describes spec {rt.spec_version}, node said {spec}"
            )
        return rt


def _open_transport(
    source: Any, recording: str | None, metadata_dirs: Any, timeout: float
) -> tuple[Transport, str]:
    if isinstance(source, (str, os.PathLike)):
        text = os.fspath(source)
        if text.startswith("replay:"):
            path, _, name = text[len("replay:") :].partition("#")
            t = ReplayTransport(path, name or recording, metadata_dirs)
            return t, t.endpoint
        if text.endswith(".json") and not text.startswith(("ws://", "wss://")):
            t = ReplayTransport(Path(text), recording, metadata_dirs)
            return t, t.endpoint
        url = resolve_endpoint(text)
        return connect_websocket(url, timeout), url
    if all(hasattr(source, a) for a in ("send", "recv", "close")):
        return source, getattr(source, "endpoint", type(source).__name__)
    raise ChainError(f"cannot open a chain from {source!r}")


class Block:
    """The chain's state after one block, with the types of the runtime that made it."""

    def __init__(self, chain: Chain, ref: BlockRef, runtime: RuntimeTypes) -> None:
        self.chain = chain
        self.ref = ref
        self.runtime = runtime

    @property
    def number(self) -> int:
        return self.ref.number

    @property
    def hash(self) -> str:
        return self.ref.hash

    @property
    def spec_version(self) -> int:
        return self.runtime.spec_version

    def __repr__(self) -> str:
        return f"Block({self.number}, {self.hash[:10]}…, spec {self.spec_version})"

    def parent(self) -> "Block":
        return self.chain.at(self.ref.parent_hash)

    # -- storage keys ----------------------------------------------------------------------
    def _entry(self, pallet: str, item: str) -> Any:
        entry = self.runtime.storage_entry(pallet, item)
        if entry is None:
            raise ChainError(f"runtime spec {self.spec_version} has no storage item {pallet}.{item}")
        return entry

    def _pallet_prefix(self, pallet: str) -> str:
        prefix = self.runtime.pallet_prefix(pallet)
        if prefix is None:
            raise ChainError(f"runtime spec {self.spec_version} has no storage in pallet {pallet}")
        return prefix

    def has_storage(self, pallet: str, item: str) -> bool:
        return self.runtime.has_storage(pallet, item)

    def storage_prefix(self, pallet: str, item: str, *keys: Any) -> str:
        """Hex key prefix of a storage item, extended by the first ``len(keys)`` map keys."""
        entry = self._entry(pallet, item)
        out = item_prefix(self._pallet_prefix(pallet), item)
        if keys:
            hashers = entry.get_param_hashers()
            types = entry.get_params_type_string()
            for k, hasher, ty in zip(keys, hashers, types):
                out += hash_key(hasher, self._encode_key(ty, k))
        return "0x" + out.hex()

    def storage_key(self, pallet: str, item: str, *keys: Any) -> str:
        entry = self._entry(pallet, item)
        n_params = len(entry.get_params_type_string())
        if len(keys) != n_params:
            raise ChainError(f"{pallet}.{item} takes {n_params} keys, got {len(keys)}")
        return self.storage_prefix(pallet, item, *keys)

    def _encode_key(self, type_string: str, value: Any) -> bytes:
        if isinstance(value, (bytes, bytearray)):
            return bytes(value)
        return self.runtime.encode_type(int(type_string.rsplit("::", 1)[1]), value)

    def key_suffix(self, pallet: str, item: str, key_hex: str, which: int) -> bytes:
        """The raw encoded map key number ``which`` out of a full storage key (for
        concat/identity hashers; only fixed-size keys before ``which`` are supported)."""
        entry = self._entry(pallet, item)
        hashers = entry.get_param_hashers()
        types = entry.get_params_type_string()
        data = self._node_bytes(key_hex, f"a {pallet}.{item} key") or b""
        off = 32
        for i in range(which + 1):
            h = hashers[i]
            if h not in HASHER_PREFIX_LEN:
                raise DecodeError(f"{pallet}.{item} key {i} uses non-reversible hasher {h}")
            off += HASHER_PREFIX_LEN[h]
            size = self._fixed_size(types[i])
            if i == which:
                return data[off : off + size] if size else data[off:]
            off += size
        raise AssertionError

    def _fixed_size(self, type_string: str) -> int:
        return self.runtime.fixed_size(int(type_string.rsplit("::", 1)[1]))

    # -- raw reads -------------------------------------------------------------------------
    def read_raw(self, key_hex: str) -> bytes | None:
        """One storage value (``state_getStorageAt``); ``None`` when the key is absent."""
        return self._node_bytes(self.chain.rpc("state_getStorageAt", [key_hex, self.hash]), key_hex)

    def read_raw_many(self, keys_hex: Sequence[str]) -> list[bytes | None]:
        """Many storage values, batched with ``state_queryStorageAt``; ``None`` = absent."""
        found: dict[str, str | None] = {}
        for batch in chunks(list(keys_hex), QUERY_BATCH):
            result = self.chain.rpc("state_queryStorageAt", [batch, self.hash])
            for change_set in result or []:
                check_storage_block(self.chain.endpoint, self.hash, change_set.get("block"))
                for change in change_set.get("changes") or []:
                    if not (isinstance(change, list) and len(change) == 2 and isinstance(change[0], str)
                            and (change[1] is None or isinstance(change[1], str))):
                        raise UntrustedAnswer(self.chain.endpoint, f"a malformed storage change {str(change)[:60]}")
                    found[change[0].lower()] = change[1]
            missing = [k for k in batch if k.lower() not in found]
            if missing:
                # A node answers every key asked for (null when absent); anything else
                # would make us read an absent key as a default, so refuse.
                raise ChainError(
                    f"state_queryStorageAt at {self.hash} left {len(missing)} keys unanswered"
                )
        return [self._node_bytes(found[k.lower()], k) for k in keys_hex]

    def _node_bytes(self, value: str | None, what: str) -> bytes | None:
        """Hex from the node as bytes; hex that is not hex is a one-line error, not a traceback."""
        try:
            return from_hex(value)
        except (ValueError, TypeError, AttributeError):
            raise DecodeError(
                f"node {self.chain.endpoint} returned malformed hex for {what[:80]} at block {self.number}"
            ) from None

    def keys(self, prefix_hex: str) -> list[str]:
        """All storage keys under a prefix (``state_getKeysPaged``, page by page)."""
        out: list[str] = []
        start: str | None = None
        while True:
            page = self.chain.rpc("state_getKeysPaged", [prefix_hex, KEYS_PAGE, start, self.hash])
            page = page or []
            out.extend(page)
            if len(page) < KEYS_PAGE:
                return out
            start = page[-1]

    # -- decoded reads ---------------------------------------------------------------------
    def value_type(self, pallet: str, item: str) -> str:
        return self._entry(pallet, item).get_value_type_string()

    def decode_value(self, pallet: str, item: str, raw: bytes | None) -> Any:
        """Decode a stored value; absent keys give the storage default (``ValueQuery``) or
        ``None`` (``OptionQuery``) — explicitly, from the metadata, never by accident."""
        entry = self._entry(pallet, item)
        if raw is None:
            if entry.modifier != "Default":
                return None
            raw = entry.default
        return self.runtime.decode_type(entry.value_type, raw, what=f"{pallet}.{item} at block {self.number}")

    def query(self, pallet: str, item: str, *keys: Any) -> Any:
        """One storage value, decoded (default if absent)."""
        return self.decode_value(pallet, item, self.read_raw(self.storage_key(pallet, item, *keys)))

    def query_many(self, requests: Sequence[tuple]) -> list[Any]:
        """Several ``(pallet, item, *keys)`` values in one batched read."""
        keys = [self.storage_key(p, i, *k) for p, i, *k in requests]
        raws = self.read_raw_many(keys)
        return [self.decode_value(r[0], r[1], raw) for r, raw in zip(requests, raws)]

    # -- runtime API -----------------------------------------------------------------------
    def api_method(self, call_name: str) -> RuntimeApiMethod | None:
        return self.runtime.apis.get(call_name)

    def call(self, call_name: str, *args: Any, plain: bool = True) -> Any:
        """Call a runtime API (``state_call`` at this block) and decode its output with the
        block's own V15 types. ``args`` are plain values, or ``bytes`` already encoded."""
        method = self.api_method(call_name)
        if method is None:
            if not self.runtime.apis:
                raise ChainError(
                    f"runtime spec {self.spec_version} has no runtime-API descriptions (metadata "
                    f"V{self.runtime.metadata_version}); cannot call {call_name}"
                )
            raise ChainError(f"runtime spec {self.spec_version} has no runtime API {call_name}")
        if len(args) != len(method.inputs):
            raise ChainError(f"{call_name} takes {len(method.inputs)} arguments, got {len(args)}")
        data = b"".join(
            a if isinstance(a, (bytes, bytearray)) else self.runtime.encode_type(ty, a)
            for a, (_, ty) in zip(args, method.inputs)
        )
        result = self.chain.rpc("state_call", [call_name, "0x" + data.hex(), self.hash])
        raw = self._node_bytes(result, call_name)
        if raw is None:
            raise DecodeError(f"{call_name} at block {self.number} returned nothing")
        if plain:
            return self.runtime.decode_type(method.output, raw, what=f"{call_name} at block {self.number}")
        from scalecodec.base import ScaleBytes  # only for callers that want scalecodec's object

        try:
            obj = self.runtime.runtime_config.create_scale_object(
                f"scale_info::{method.output}", data=ScaleBytes(bytearray(raw))
            )
            obj.decode(check_remaining=True)
        except Exception as e:
            raise DecodeError(f"{call_name} at block {self.number}: {e}") from None
        return to_plain(obj) if plain else obj

"""What a node says about blocks is checked, not believed.

A block hash is the BLAKE2b-256 of the SCALE-encoded header (parent hash, compact number,
state root, extrinsics root, digest logs), so a header can be checked against the hash it was
asked for, and its number against the number asked. Together with the parent link between
consecutive blocks this pins every read to the block the caller meant: a node that answers for
another block (stale, forked, confused, malicious) is refused instead of producing a verdict.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from .codec import compact_bytes
from .errors import UntrustedAnswer

_HASH_RE = re.compile(r"^0x[0-9a-fA-F]{64}$")
_HEX_RE = re.compile(r"^0x(?:[0-9a-fA-F]{2})*$")


def is_block_hash(value: Any) -> bool:
    return isinstance(value, str) and bool(_HASH_RE.match(value))


def header_number(header: Any, endpoint: str) -> int:
    """The block number a header claims (hex string or int), or :class:`UntrustedAnswer`."""
    number = header.get("number") if isinstance(header, dict) else None
    try:
        value = int(number, 16) if isinstance(number, str) else number
    except ValueError:
        value = None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise UntrustedAnswer(endpoint, f"a header without a block number ({str(header)[:60]})")
    return value


def header_hash(header: Any, endpoint: str) -> str:
    """The hash of a JSON header as the chain computes it; a malformed header is refused."""
    try:
        fields = [header["parentHash"], header["stateRoot"], header["extrinsicsRoot"]]
        logs = header["digest"]["logs"]
        if not all(is_block_hash(f) for f in fields) or not isinstance(logs, list):
            raise TypeError
        if not all(isinstance(log, str) and _HEX_RE.match(log) for log in logs):
            raise TypeError
    except (KeyError, TypeError):
        raise UntrustedAnswer(endpoint, f"a malformed header ({str(header)[:60]})") from None
    parent, state_root, extrinsics_root = (bytes.fromhex(f[2:]) for f in fields)
    encoded = (
        parent
        + compact_bytes(header_number(header, endpoint))
        + state_root
        + extrinsics_root
        + compact_bytes(len(logs))
        + b"".join(bytes.fromhex(log[2:]) for log in logs)
    )
    return "0x" + hashlib.blake2b(encoded, digest_size=32).hexdigest()


def check_header(header: Any, endpoint: str, block_hash: str | None, number: int | None) -> int:
    """Check a header against the hash and/or number it was asked for; return its number."""
    got_number = header_number(header, endpoint)
    if block_hash is not None and header_hash(header, endpoint) != block_hash.lower():
        raise UntrustedAnswer(endpoint, f"the header it gave for {block_hash} is the header of another block")
    if number is not None and got_number != number:
        raise UntrustedAnswer(endpoint, f"block {number}'s hash {block_hash} is the hash of block {got_number}")
    return got_number


def check_parent_link(endpoint: str, number: int, parent_hash: str, previous_hash: str) -> None:
    """Block ``number``'s parent must be the block this session resolved for ``number - 1``."""
    if parent_hash.lower() != previous_hash.lower():
        raise UntrustedAnswer(
            endpoint, f"block {number}'s parent is {parent_hash}, but block {number - 1} is {previous_hash}"
        )


def check_storage_block(endpoint: str, asked: str, tagged: Any) -> None:
    """A ``state_queryStorageAt`` change set must be tagged with the block asked for."""
    if not isinstance(tagged, str) or tagged.lower() != asked.lower():
        raise UntrustedAnswer(endpoint, f"storage asked at {asked} came tagged with block {tagged}")


def check_header_number(endpoint: str, ref: Any, number: int | None) -> None:
    """A block looked up by number must carry that number in its (hash-checked) header."""
    if number is not None and ref.number != number:
        raise UntrustedAnswer(endpoint, f"block {number}'s hash {ref.hash} is the hash of block {ref.number}")

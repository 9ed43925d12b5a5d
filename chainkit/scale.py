"""Small SCALE helpers shared by the layers above the backend: storage keys and plain values.

Storage keys are built from the metadata's own hashers (so a runtime that changes a hasher is
read correctly), but without creating a scalecodec object per key: a subnet snapshot needs
thousands of keys, and the per-object cost of scalecodec dominates otherwise.
"""

from __future__ import annotations

import hashlib
from typing import Any, Iterable

import xxhash
from .errors import DecodeError


def twox128(data: bytes) -> bytes:
    return xxhash.xxh64(data, seed=0).digest()[::-1] + xxhash.xxh64(data, seed=1).digest()[::-1]


def twox64(data: bytes) -> bytes:
    return xxhash.xxh64(data, seed=0).digest()[::-1]


def blake2_128(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()


_HASHERS = {
    "Identity": lambda b: b,
    "Twox64Concat": lambda b: twox64(b) + b,
    "Blake2_128Concat": lambda b: blake2_128(b) + b,
    "Twox128": twox128,
    "Twox256": lambda b: xxhash.xxh64(b, seed=0).digest()[::-1]
    + xxhash.xxh64(b, seed=1).digest()[::-1]
    + xxhash.xxh64(b, seed=2).digest()[::-1]
    + xxhash.xxh64(b, seed=3).digest()[::-1],
    "Blake2_128": blake2_128,
    "Blake2_256": lambda b: hashlib.blake2b(b, digest_size=32).digest(),
}

# Bytes of the hash that precede the key itself, for hashers that append the key.
HASHER_PREFIX_LEN = {"Identity": 0, "Twox64Concat": 8, "Blake2_128Concat": 16}


def item_prefix(pallet_prefix: str, item: str) -> bytes:
    return twox128(pallet_prefix.encode()) + twox128(item.encode())


def hash_key(hasher: str, encoded: bytes) -> bytes:
    try:
        return _HASHERS[hasher](encoded)
    except KeyError:
        raise DecodeError(f"unknown storage hasher {hasher}") from None


def from_hex(text: str | None) -> bytes | None:
    if text is None:
        return None
    return bytes.fromhex(text[2:] if text.startswith("0x") else text)


def to_plain(obj: Any) -> Any:
    """A decoded scalecodec object as plain JSON-able Python.

    Same shapes an independent decoder (bt_decode) gives: structs → dicts, tuples and vectors
    → lists, ``Vec<u8>`` → list of ints (scalecodec would try to make text of it), AccountId →
    SS58 (prefix of the runtime config), ``Option`` → value or ``None``.
    """
    from scalecodec.base import ScaleType  # imported here: most commands never need scalecodec
    from scalecodec.types import GenericAccountId

    if isinstance(obj, GenericAccountId):
        return obj.value
    vo = obj.value_object
    if isinstance(vo, (bytes, bytearray)):
        if isinstance(obj.value, str) and obj.value.startswith("0x") and len(vo) in (20, 32, 64):
            return obj.value  # fixed-size hashes stay hex
        return list(vo)
    if isinstance(vo, dict):
        return {k: to_plain(v) for k, v in vo.items()}
    if isinstance(vo, (list, tuple)):
        if len(vo) == 2 and isinstance(vo[0], str) and isinstance(vo[1], ScaleType) and _is_enum(obj):
            return {vo[0]: to_plain(vo[1])}
        return [to_plain(v) if isinstance(v, ScaleType) else _plain_value(v) for v in vo]
    if isinstance(vo, ScaleType):
        return to_plain(vo)
    return _plain_value(obj.value)


def _is_enum(obj: Any) -> bool:
    from scalecodec.types import Enum

    return isinstance(obj, Enum)


def _plain_value(v: Any) -> Any:
    if isinstance(v, tuple):
        return [_plain_value(x) for x in v]
    if isinstance(v, list):
        return [_plain_value(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain_value(x) for k, x in v.items()}
    return v


def chunks(seq: list, size: int) -> Iterable[list]:
    for i in range(0, len(seq), size):
        yield seq[i : i + size]

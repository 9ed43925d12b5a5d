"""Fast numpy decoders for the few SCALE shapes an epoch snapshot is made of.

``Vec<(u16, u16)>`` (Weights and Bonds rows: a compact length, then fixed 4-byte pairs — the
pairs themselves are *not* compact), ``Vec<u16>``, ``Vec<u64>`` and ``Vec<bool>``. They are
little-endian fixed-width arrays behind a compact length prefix, so ``np.frombuffer`` reads
them without a Python object per element. Equivalence with scalecodec is fuzzed in
``tests/test_chainkit_decode.py``; speed is measured by ``bench/decode.py``.

Every decoder checks that the bytes are consumed exactly and that bools are 0/1, so a type
mix-up fails loudly instead of yielding numbers.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .errors import DecodeError

_U16 = np.dtype("<u2")
_U64 = np.dtype("<u8")


def _compact_len(buf: bytes | memoryview, what: str) -> tuple[int, int]:
    if len(buf) == 0:
        raise DecodeError(f"{what}: empty input")
    b0 = buf[0]
    mode = b0 & 3
    if mode == 0:
        return b0 >> 2, 1
    if mode == 1:
        if len(buf) < 2:
            raise DecodeError(f"{what}: truncated compact length")
        return (b0 | (buf[1] << 8)) >> 2, 2
    if mode == 2:
        if len(buf) < 4:
            raise DecodeError(f"{what}: truncated compact length")
        return int.from_bytes(bytes(buf[:4]), "little") >> 2, 4
    k = (b0 >> 2) + 4
    if len(buf) < 1 + k:
        raise DecodeError(f"{what}: truncated compact length")
    return int.from_bytes(bytes(buf[1 : 1 + k]), "little"), 1 + k


def _fixed_vec(buf: bytes, itemsize: int, what: str) -> tuple[int, int]:
    n, off = _compact_len(buf, what)
    if len(buf) != off + n * itemsize:
        raise DecodeError(
            f"{what}: length prefix says {n} items ({off + n * itemsize} bytes), got {len(buf)} bytes"
        )
    return n, off


def decode_vec_u16(buf: bytes) -> np.ndarray:
    n, off = _fixed_vec(buf, 2, "Vec<u16>")
    return np.frombuffer(buf, dtype=_U16, count=n, offset=off).astype(np.uint16)


def decode_vec_u64(buf: bytes) -> np.ndarray:
    n, off = _fixed_vec(buf, 8, "Vec<u64>")
    return np.frombuffer(buf, dtype=_U64, count=n, offset=off).astype(np.uint64)


def decode_vec_bool(buf: bytes) -> np.ndarray:
    n, off = _fixed_vec(buf, 1, "Vec<bool>")
    raw = np.frombuffer(buf, dtype=np.uint8, count=n, offset=off)
    if raw.size and raw.max() > 1:
        raise DecodeError("Vec<bool>: byte other than 0 or 1")
    return raw.astype(bool)


def decode_pairs(buf: bytes) -> tuple[np.ndarray, np.ndarray]:
    """One ``Vec<(u16, u16)>`` row → (columns, values) as int64, in storage order."""
    n, off = _fixed_vec(buf, 4, "Vec<(u16, u16)>")
    a = np.frombuffer(buf, dtype=_U16, count=2 * n, offset=off).astype(np.int64)
    return a[0::2], a[1::2]


def decode_rows(rows: Sequence[bytes | None]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Many ``Vec<(u16, u16)>`` rows (``None`` = key absent) → CSR arrays
    ``(indptr, cols, values, present)`` as :class:`consensus.model.SparseRows` holds them."""
    n_rows = len(rows)
    present = np.zeros(n_rows, dtype=bool)
    lengths = np.zeros(n_rows, dtype=np.int64)
    parts: list[bytes] = []
    for i, raw in enumerate(rows):
        if raw is None:
            parts.append(b"")
            continue
        present[i] = True
        n, off = _fixed_vec(raw, 4, f"Vec<(u16, u16)> row {i}")
        lengths[i] = n
        parts.append(raw[off:])
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    body = b"".join(parts)
    flat = np.frombuffer(body, dtype=_U16).astype(np.int64)
    return indptr, flat[0::2].copy(), flat[1::2].copy(), present


def sparse_rows(rows: Sequence[bytes | None]):  # -> consensus.model.SparseRows
    """:func:`decode_rows` wrapped in the consensus model's ``SparseRows``."""
    from taoaudit.consensus.model import SparseRows

    indptr, cols, vals, present = decode_rows(rows)
    return SparseRows(indptr, cols, vals, present)

"""The numpy decoders agree with scalecodec on every input (fuzzed) and refuse bad bytes."""

from __future__ import annotations


import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scalecodec.base import RuntimeConfigurationObject, ScaleBytes
from scalecodec.type_registry import load_type_registry_preset

from taoaudit.chainkit import errors
from taoaudit.chainkit.decode import (
    decode_pairs,
    decode_vec_bool,
    decode_vec_u16,
    decode_vec_u64,
    sparse_rows,
)
from taoaudit.chainkit.codec import compact_bytes as compact

RC = RuntimeConfigurationObject()
RC.update_type_registry(load_type_registry_preset("legacy"))
RC.update_type_registry(load_type_registry_preset("core"))

u16 = st.integers(0, 0xFFFF)
u64 = st.integers(0, (1 << 64) - 1)
pairs = st.lists(st.tuples(u16, u16), max_size=300)


def scale_encode(type_string: str, value) -> bytes:
    return bytes(RC.create_scale_object(type_string).encode(value).data)


def scale_decode(type_string: str, data: bytes):
    obj = RC.create_scale_object(type_string, data=ScaleBytes(bytearray(data)))
    return obj.decode(check_remaining=True)


@settings(max_examples=150, deadline=None)
@given(pairs)
def test_pairs_match_scalecodec(row: list[tuple[int, int]]) -> None:
    data = scale_encode("Vec<(u16, u16)>", row)
    cols, vals = decode_pairs(data)
    assert list(zip(cols.tolist(), vals.tolist())) == [tuple(p) for p in scale_decode("Vec<(u16, u16)>", data)]


@settings(max_examples=150, deadline=None)
@given(st.lists(u16, max_size=2000))
def test_vec_u16_matches_scalecodec(v: list[int]) -> None:
    data = scale_encode("Vec<u16>", v)
    got = decode_vec_u16(data)
    assert got.dtype == np.uint16
    assert got.tolist() == scale_decode("Vec<u16>", data)


@settings(max_examples=150, deadline=None)
@given(st.lists(u64, max_size=600))
def test_vec_u64_matches_scalecodec(v: list[int]) -> None:
    data = scale_encode("Vec<u64>", v)
    got = decode_vec_u64(data)
    assert got.dtype == np.uint64
    assert got.tolist() == scale_decode("Vec<u64>", data)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.booleans(), max_size=2000))
def test_vec_bool_matches_scalecodec(v: list[bool]) -> None:
    data = scale_encode("Vec<bool>", v)
    assert decode_vec_bool(data).tolist() == scale_decode("Vec<bool>", data)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.none(), pairs), max_size=40))
def test_rows_to_sparse_rows_match_scalecodec(rows) -> None:
    raw = [None if r is None else scale_encode("Vec<(u16, u16)>", r) for r in rows]
    sr = sparse_rows(raw)
    assert sr.present.tolist() == [r is not None for r in rows]
    for i, r in enumerate(raw):
        want = [] if r is None else [tuple(p) for p in scale_decode("Vec<(u16, u16)>", r)]
        assert [tuple(p) for p in sr.row(i)] == want


@settings(max_examples=100, deadline=None)
@given(pairs, st.integers(1, 6))
def test_truncated_or_extended_rows_are_refused(row, cut) -> None:
    data = scale_encode("Vec<(u16, u16)>", row)
    for bad in (data[:-cut] if len(data) > cut else b"", data + b"\x00" * cut):
        with pytest.raises(errors.DecodeError):
            decode_pairs(bad)


def test_bool_bytes_other_than_0_1_are_refused() -> None:
    with pytest.raises(errors.DecodeError):
        decode_vec_bool(compact(2) + b"\x01\x02")


def test_large_compact_lengths() -> None:
    v = list(range(20000))  # 4-byte compact length prefix
    assert decode_vec_u16(scale_encode("Vec<u16>", [x & 0xFFFF for x in v])).tolist() == [x & 0xFFFF for x in v]



"""SCALE values decoded by the runtime's own type ids, without scalecodec.

The runtime describes every type it stores or returns in its portable registry (metadata V14
and V15); :mod:`chainkit.metadata` keeps that registry as plain lists. This module turns one
type id into a Python decoder generated from the registry (straight-line code per type: fixed
fields read with one ``struct`` call, compact integers inline, vectors of fixed-width integers
with one ``struct`` call), compiled once per runtime and type.

The values are exactly what scalecodec 1.2 gives after :func:`chainkit.scale.to_plain`, so
the layers above see one format whichever decoder ran. Its shapes, reproduced here on purpose:
structs → dicts, tuples and vectors → lists, a composite of one unnamed field → that field,
``Option`` → value or ``None``, an enum variant with data → ``{name: value}``, a variant
without data → ``[name, None]``, ``AccountId32`` → SS58 (prefix 42), ``H256`` and ``[u8; N]``
with N in 20/32/64 → ``0x`` hex, other byte strings → lists of ints (a ``Vec<u8>`` of 20, 32
or 64 bytes that is not UTF-8 → ``0x`` hex, as scalecodec's text fallback leaks through),
``BTreeMap`` → list of ``[key, value]`` whose keys and values are in scalecodec's raw
``.value`` form (byte strings as text, variants without data as their name). Types whose
scalecodec class is special (events, calls, digests, eras, multi-addresses, bit sequences)
are not decoded here: :class:`Unsupported` tells the caller to use scalecodec for them.

Equivalence with scalecodec is tested value by value on recorded runtime-API results,
storage values and every constant and storage default of the bundled metadata
(``tests/test_chainkit_decode.py``); speed against the bittensor SDK's Rust decoder is
measured in ``bench/startup.py``.
"""

from __future__ import annotations

import hashlib
import re
import struct
from typing import Any, Callable

from .errors import DecodeError

#: struct codes of the fixed-width primitives (bool read as a byte and checked to be 0/1).
_FIXED = {"u8": "B", "u16": "H", "u32": "I", "u64": "Q", "i8": "b", "i16": "h", "i32": "i", "i64": "q", "bool": "B"}
_WIDE = {"u128": (16, False), "i128": (16, True), "u256": (32, False), "i256": (32, True)}
#: scalecodec's own classes for registry paths (its "core" and "legacy" presets, matched as
#: it matches them: the exact path, ``*::`` + the path without its crate, or ``*::`` for every
#: component but the last). Those left out here decode exactly as the generic rules do
#: (checked by the tests); the rest are left to scalecodec.
_SPECIAL_PATHS = {
    "sp_runtime::multiaddress::MultiAddress", "sp_runtime::generic::era::Era", "*::vote::Vote",
    "pallet_identity::types::Data", "sp_core::bounded::bounded_vec::BoundedVec",
    "sp_core::bounded::weak_bounded_vec::WeakBoundedVec", "frame_support::storage::weak_bounded_vec::WeakBoundedVec",
    "frame_support::storage::bounded_vec::BoundedVec", "frame_support::traits::misc::WrapperKeepOpaque",
    "*::Call", "*::RuntimeCall", "*::runtime::Call", "*::Event", "*::RuntimeEvent", "*::runtime::Event",
    "*::EventRecord", "ink_env::types::AccountId", "ink_primitives::types::AccountId",
    "sp_runtime::generic::digest::DigestItem", "xcm::v0::Outcome", "xcm::latest::Outcome", "xcm::VersionedXcm",
}  # fmt: skip


def _special(path: list[str]) -> bool:
    if not path:
        return False
    if "::".join(path) in _SPECIAL_PATHS:
        return True
    if "*::" + "::".join(path[1:]) in _SPECIAL_PATHS:
        return True
    return "*::" * (len(path) - 1) + path[-1] in _SPECIAL_PATHS

Decoder = Callable[[bytes, int, list], tuple[Any, int]]
_ZERO_RUN = re.compile(rb"\x00+").match


class Unsupported(Exception):
    """The type (or one inside it) needs scalecodec's special handling."""


# -- SS58 ---------------------------------------------------------------------------------------
_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_PAIRS = [a + b for a in _B58 for b in _B58]
_B58_BYTES = None  # numpy lookup table, made on first use
_POW58 = None  # 58**4 .. 58**0 as numpy uint64, made on first use
_ss58_memo: dict[bytes, str] = {}


def ss58(public_key: bytes, prefix: int = 42) -> str:
    """SS58 address of a 32-byte key (as scalecodec's ``ss58_encode``), memoised."""
    hit = _ss58_memo.get(public_key)
    if hit is not None and prefix == 42:
        return hit
    if prefix < 64:
        head = bytes([prefix])
    else:
        head = bytes([((prefix & 0xFC) >> 2) | 0x40, (prefix >> 8) | ((prefix & 0x03) << 6)])
    payload = head + public_key
    payload += hashlib.blake2b(b"SS58PRE" + payload, digest_size=64).digest()[:2]
    out = _base58(payload)
    if prefix == 42:
        if len(_ss58_memo) > 200_000:
            _ss58_memo.clear()
        _ss58_memo[public_key] = out
    return out


_B58_10 = 58**10  # below 2**63: the big-number divisions take ten digits at a time


def _base58(data: bytes) -> str:
    n = int.from_bytes(data, "big")
    groups = []
    while n:
        n, r = divmod(n, _B58_10)
        groups.append(r)
    parts = []
    pairs = _B58_PAIRS
    for r in groups:  # least significant first; each group is exactly ten digits
        r, a = divmod(r, 3364)
        r, b_ = divmod(r, 3364)
        r, c = divmod(r, 3364)
        r, d = divmod(r, 3364)
        parts.append(pairs[r] + pairs[d] + pairs[c] + pairs[b_] + pairs[a])
    text = "".join(reversed(parts)).lstrip("1")
    zeros = len(data) - len(data.lstrip(b"\0"))
    return "1" * zeros + text


def _resolve_accounts(fixups: list) -> None:
    """Replace the raw 32-byte keys the decoders left in containers by their SS58 form.

    ``fixups``: ``(container, keys)`` pairs, ``keys`` the dict keys / list positions holding
    a raw key, ``("*", *keys)`` for those keys in every element of a list, or None for a list
    of raw keys. Every distinct key is encoded once, and all of
    them in one vectorised pass (:func:`ss58_many`)."""
    memo = _ss58_memo
    raw: set[bytes] = set()
    # (vector, key) per key of a vector's elements: one comprehension over all of them (a
    # metagraph has a small stake vector per neuron, each its own fix-up)
    each = [(container, k) for container, keys in fixups if keys is not None and keys[0] == "*" for k in keys[1:]]
    raw.update([element[k] for container, k in each for element in container])
    for container, keys in fixups:
        if keys is None:
            raw.update(container)
        elif keys[0] != "*":
            raw.update([container[k] for k in keys])
    todo = [k for k in raw if k not in memo]
    if todo:
        for k, text in zip(todo, ss58_many(todo)):
            memo[k] = text
    for container, k in each:
        for element in container:
            element[k] = memo[element[k]]
    for container, keys in fixups:
        if keys is None:
            container[:] = [memo[k] for k in container]
        elif keys[0] != "*":
            for k in keys:
                container[k] = memo[container[k]]
    if len(memo) > 200_000:
        memo.clear()


def ss58_many(keys: list[bytes]) -> list[str]:
    """SS58 (prefix 42) of many 32-byte keys: the checksums with hashlib, the base-58
    conversion of all keys at once in numpy (long division by 58**5 on 32-bit limbs)."""
    if len(keys) < 16:
        return [ss58(k) for k in keys]
    import numpy as np

    global _POW58
    if _POW58 is None:
        _POW58 = np.array([58**k for k in range(4, -1, -1)], dtype=np.uint64)
    prefixed = hashlib.blake2b(b"SS58PRE*", digest_size=64)  # the common start, hashed once
    parts = []
    for k in keys:  # a zero byte first: 36 bytes = nine 32-bit limbs, same number
        h = prefixed.copy()
        h.update(k)
        parts.append(b"\x00*" + k + h.digest()[:2])
    payload = b"".join(parts)
    # limb-major (9, n): each limb of all keys contiguous, as the division walks limb by limb
    limbs = np.frombuffer(payload, dtype=">u4").reshape(len(keys), 9).T.astype(np.uint64)
    base = np.uint64(58**5)
    shift = np.uint64(32)
    groups = np.empty((len(keys), 10), dtype=np.uint64)
    top = 0  # limbs before ``top`` are zero in every key: the quotient shrinks ~29 bits a pass
    for g in range(10):  # 10 groups of 5 digits >= the 48 digits of a 35-byte number
        rem = np.zeros(len(keys), dtype=np.uint64)
        for j in range(top, 9):
            cur = (rem << shift) | limbs[j]
            limbs[j], rem = np.divmod(cur, base)
        groups[:, 9 - g] = rem  # most significant group first
        while top < 9 and not limbs[top].any():
            top += 1
    # all five digits of every group at once: (group // 58**k) % 58, k = 4 .. 0
    digits = ((groups[:, :, None] // _POW58[None, None, :]) % np.uint64(58)).astype(np.uint8).reshape(len(keys), 50)
    if digits[:, :2].any() or not digits[:, 2].all():
        return [ss58(k) for k in keys]  # not 48 digits: never for prefix 42, but be exact
    global _B58_BYTES
    if _B58_BYTES is None:
        _B58_BYTES = np.frombuffer(_B58.encode(), dtype=np.uint8).copy()
    text = _B58_BYTES[digits[:, 2:]].tobytes().decode("ascii")
    return [text[i : i + 48] for i in range(0, 48 * len(keys), 48)]


def _vec_u8_plain(raw: bytes) -> Any:
    if len(raw) in (20, 32, 64):
        try:
            text = raw.decode()
        except UnicodeDecodeError:
            return "0x" + raw.hex()
        if text.startswith("0x"):
            return text
    return list(raw)


def _vec_u8_value(raw: bytes) -> str:
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return "0x" + raw.hex()


def _array_u8_plain(raw: bytes) -> Any:
    return "0x" + raw.hex() if len(raw) in (20, 32, 64) else list(raw)


def _read_compact(b: bytes, o: int) -> tuple[int, int]:
    c = b[o]
    m = c & 3
    if m == 0:
        return c >> 2, o + 1
    if m == 1:
        return (c | (b[o + 1] << 8)) >> 2, o + 2
    if m == 2:
        return int.from_bytes(b[o : o + 4], "little") >> 2, o + 4
    k = (c >> 2) + 4
    return int.from_bytes(b[o + 1 : o + 1 + k], "little"), o + 1 + k


def _all_four_byte(b: bytes, o: int, n: int) -> list[int] | None:
    """``n`` compacts at ``o`` if every one is in four-byte mode, else None."""
    if o + 4 * n > len(b):
        return None
    import numpy as np

    words = np.frombuffer(b, dtype="<u4", count=n, offset=o)
    if ((words & 3) != 2).any():
        return None
    return (words >> 2).tolist()


# -- code generation ----------------------------------------------------------------------------
_COMPACT = """\
{ind}_c = b[o]; _m = _c & 3
{ind}if not _m:
{ind}    {v} = _c >> 2; o += 1
{ind}elif _m == 1:
{ind}    {v} = (_c | (b[o + 1] << 8)) >> 2; o += 2
{ind}elif _m == 2:
{ind}    {v} = int.from_bytes(b[o:o + 4], 'little') >> 2; o += 4
{ind}else:
{ind}    _k = (_c >> 2) + 5; {v} = int.from_bytes(b[o + 1:o + _k], 'little'); o += _k
"""


class Codec:
    """Decoders for one runtime's registry, generated on first use and kept.

    Bounds: reads past the end raise (``b[o]``, ``struct``) or return short slices; the
    position only grows by the declared sizes, so a short read always ends beyond the data
    and :meth:`decode`'s "all bytes consumed exactly" check refuses it. No check per field."""

    def __init__(self, types: dict[int, tuple]) -> None:
        self.types = types  # id -> (path list, def tuple) as chainkit.metadata keeps them
        self._decoders: dict[tuple[int, bool], Decoder] = {}
        self._structs: dict[str, struct.Struct] = {}

    # public ------------------------------------------------------------------------------
    def decode(self, type_id: int, data: bytes, *, what: str = "") -> Any:
        """Decode all of ``data`` as ``type_id`` (plain form); raises :class:`Unsupported`."""
        fn = self.decoder(type_id)
        fixups: list = []
        try:
            value, end = fn(data, 0, fixups)
        except (IndexError, struct.error, ValueError, KeyError) as e:
            raise DecodeError(f"{what or f'type {type_id}'}: {e or type(e).__name__}") from None
        if end != len(data):
            raise DecodeError(f"{what or f'type {type_id}'}: {len(data) - end:+d} bytes left over after decoding")
        if fixups:
            _resolve_accounts(fixups)
        return value

    def decode_raw_value(self, type_id: int, data: bytes) -> Any:
        """scalecodec's raw ``.value`` of ``data`` read from its start (bytes after the value
        are ignored, as scalecodec's ``decode()`` ignores them). Types whose ``.value`` holds
        tuples are :class:`Unsupported` here (these decoders build lists); a read past the
        end raises :class:`DecodeError`."""
        if self._has_tuples(type_id, set()):
            raise Unsupported(f"type {type_id} holds tuples")
        fixups: list = []
        try:
            value, end = self.decoder(type_id, plain=False)(data, 0, fixups)
        except (IndexError, struct.error, ValueError, KeyError) as e:
            raise DecodeError(f"type {type_id}: {e or type(e).__name__}") from None
        if end > len(data):
            raise DecodeError(f"type {type_id}: {end - len(data)} bytes missing")
        if fixups:
            _resolve_accounts(fixups)
        return value

    def _has_tuples(self, tid: int, seen: set[int]) -> bool:
        if tid in seen:
            return False
        seen.add(tid)
        path, d = self.types[tid]
        if d[0] == "tuple" and len(d[1]) != 1:
            return True
        if d[0] == "composite" and d[1] and not all(f[0] for f in d[1]) and len(d[1]) > 1:
            return True
        if d[0] == "variant" and any(len(v[2]) > 1 and not all(f[0] for f in v[2]) for v in d[1]):
            return True
        if path and path[-1] == "BTreeMap":
            return True
        return any(self._has_tuples(sub, seen) for sub in _children(d))

    def decode_events(self, type_id: int, data: bytes) -> list[tuple[str, str, str, Any]]:
        """``System.Events`` (``Vec<EventRecord>``) → ``(phase, pallet, event, attributes)``
        per record, as scalecodec's ``GenericEventRecord`` gives them: the phase's variant
        name, the pallet and event names, and the event's fields in scalecodec's raw
        ``.value`` form (named fields → dict, one unnamed field → its value, several →
        list, none → None)."""
        _, d = self.types[type_id]
        record = self.types[d[1]][1]
        fields = {f[0]: f[1] for f in record[1]}
        phase_t, event_t, topics_t = fields["phase"], fields["event"], fields["topics"]
        phases = {v[0]: v for v in self.types[phase_t][1][1]}
        pallets = {v[0]: (v[1], v[2][0][1]) for v in self.types[event_t][1][1]}
        events: dict[int, dict[int, tuple[str, list]]] = {}
        topics = self.decoder(topics_t, plain=False)
        b, out = data, []
        try:
            n, o = _read_compact(b, 0)
            for _ in range(n):
                index, name, pfields = phases[b[o]]
                o += 1
                for f in pfields:
                    _, o = self.decoder(f[1], plain=False)(b, o, [])
                pallet, inner_t = pallets[b[o]]
                o += 1
                variants = events.get(inner_t)
                if variants is None:
                    variants = events[inner_t] = {v[0]: (v[1], v[2]) for v in self.types[inner_t][1][1]}
                event, efields = variants[b[o]]
                o += 1
                values = []
                for f in efields:
                    fixups: list = []
                    v, o = self.decoder(f[1], plain=False)(b, o, fixups)
                    if fixups:
                        _resolve_accounts(fixups)
                    values.append(v)
                if not efields:
                    attrs: Any = None
                elif all(f[0] for f in efields):
                    attrs = {f[0]: v for f, v in zip(efields, values)}
                elif len(efields) == 1:
                    attrs = values[0]
                else:
                    attrs = values
                _, o = topics(b, o, [])
                out.append((name, pallet, event, attrs))
        except (IndexError, KeyError, struct.error, ValueError) as e:
            raise DecodeError(f"System.Events: {e or type(e).__name__}") from None
        if o != len(b):
            raise DecodeError(f"System.Events: {len(b) - o:+d} bytes left over after decoding")
        return out

    def decoder(self, type_id: int, plain: bool = True) -> Decoder:
        key = (type_id, plain)
        fn = self._decoders.get(key)
        if fn is None:
            self._check_supported(type_id, set())
            self._build(type_id, plain)
            fn = self._decoders[key]
        return fn

    # support check -----------------------------------------------------------------------
    def _check_supported(self, tid: int, seen: set[int]) -> None:
        if tid in seen:
            return
        seen.add(tid)
        if tid not in self.types:
            raise Unsupported(f"type {tid} is not in the registry")
        path, d = self.types[tid]
        name = "::".join(path)
        if _special(path) or d[0] == "bitsequence":
            raise Unsupported(f"type {tid} ({name or d[0]})")
        if d[0] == "primitive" and d[1] in ("char",):
            raise Unsupported(f"type {tid} (char)")
        for sub in _children(d):
            self._check_supported(sub, seen)

    # building ----------------------------------------------------------------------------
    def _struct(self, fmt: str) -> struct.Struct:
        s = self._structs.get(fmt)
        if s is None:
            s = self._structs[fmt] = struct.Struct(fmt)
        return s

    def _build(self, tid: int, plain: bool) -> None:
        # A placeholder first, so recursive types resolve to the finished function later.
        key = (tid, plain)
        cell: list[Decoder] = []
        self._decoders[key] = lambda b, o, F: cell[0](b, o, F)
        env: dict[str, Any] = {
            "DecodeError": DecodeError, "ss58": ss58, "_vec_u8_plain": _vec_u8_plain,
            "_vec_u8_value": _vec_u8_value, "_array_u8_plain": _array_u8_plain,
        }  # fmt: skip
        lines = ["def f(b, o, F):"]
        self._emit(tid, plain, "v", "    ", lines, env)
        lines.append("    return v, o")
        exec(compile("\n".join(lines), f"<scale type {tid}>", "exec"), env)  # noqa: S102 - our own generated code
        fn = env["f"]
        cell.append(fn)
        self._decoders[key] = fn

    def _call(self, tid: int, plain: bool, env: dict) -> str:
        key = (tid, plain)
        if key not in self._decoders:
            self._build(tid, plain)
        name = f"d{tid}{'p' if plain else 'v'}"
        env[name] = self._decoders[key]
        return name

    def _run_code(self, tid: int) -> str:
        """struct codes of a field that joins a run of fixed-width reads ('' if none)."""
        kind, prim = self._kind(tid)
        if kind == "fixed":
            return _FIXED[prim]
        d = self.types[tid][1]
        if d[0] == "primitive" and d[1] in ("u128", "i128"):
            return "Q" + ("q" if d[1] == "i128" else "Q")  # low half unsigned, high half signed
        return ""

    def _kind(self, tid: int) -> tuple[str, Any]:
        """Classify a type for inlining: ('fixed', code), ('compact', None), ('account', None) or ('other', None)."""
        path, d = self.types[tid]
        name = "::".join(path)
        if name == "sp_core::crypto::AccountId32":
            return "account", None
        if d[0] == "primitive" and d[1] in _FIXED:
            return "fixed", d[1]
        if d[0] == "compact":
            return "compact", None
        return "other", None

    def _emit(self, tid: int, plain: bool, v: str, ind: str, out: list[str], env: dict) -> None:
        """Append code that reads type ``tid`` at ``o`` into variable ``v`` and advances ``o``."""
        path, d = self.types[tid]
        name = "::".join(path)
        kind = d[0]
        if len(ind) > 12 and kind in ("composite", "variant", "tuple"):
            out.append(f"{ind}{v}, o = {self._call(tid, plain, env)}(b, o, F)")  # nested deep: a call
            return
        if name == "sp_core::crypto::AccountId32":
            out.append(f"{ind}{v} = ss58(b[o:o + 32]); o += 32")
        elif name == "primitive_types::H256":
            out.append(f"{ind}{v} = '0x' + b[o:o + 32].hex(); o += 32")
        elif name == "primitive_types::U256":
            out.append(f"{ind}{v} = int.from_bytes(b[o:o + 32], 'little'); o += 32")
        elif name == "BTreeMap":
            self._emit_map(d, v, ind, out, env)
        elif name == "BTreeSet" or kind == "composite":
            fields = d[1]
            if name == "BTreeSet" or (fields and len(fields) == 1 and not fields[0][0]) or (
                len(fields) == 1 and name == "BTreeSet"
            ):
                self._emit(fields[0][1], plain, v, ind, out, env)
            elif all(f[0] for f in fields):  # no fields at all: scalecodec's Struct, {}
                self._emit_fields([(f[0], f[1]) for f in fields], plain, v, ind, out, env, as_dict=True)
            else:
                self._emit_fields([(None, f[1]) for f in fields], plain, v, ind, out, env, as_dict=False)
        elif kind == "tuple":
            if len(d[1]) == 1:
                self._emit(d[1][0], plain, v, ind, out, env)
            else:
                self._emit_fields([(None, t) for t in d[1]], plain, v, ind, out, env, as_dict=False)
        elif kind == "primitive":
            self._emit_primitive(d[1], plain, v, ind, out)
        elif kind == "compact":
            out.append(_COMPACT.format(ind=ind, v=v).rstrip("\n"))
        elif kind == "sequence":
            self._emit_sequence(d[1], plain, v, ind, out, env)
        elif kind == "array":
            self._emit_array(d[1], d[2], plain, v, ind, out, env)
        elif kind == "variant":
            self._emit_variant(name, d[1], plain, v, ind, out, env)
        else:
            raise Unsupported(f"type {tid} ({kind})")

    def _emit_primitive(self, prim: str, plain: bool, v: str, ind: str, out: list[str]) -> None:
        if prim == "bool":
            out.append(f"{ind}{v} = b[o]; o += 1")
            out.append(f"{ind}if {v} > 1: raise DecodeError('bool byte ' + str({v}))")
            out.append(f"{ind}{v} = {v} == 1")
        elif prim == "u8":
            out.append(f"{ind}{v} = b[o]; o += 1")
        elif prim in _FIXED:
            s = struct.calcsize("<" + _FIXED[prim])
            out.append(f"{ind}{v} = int.from_bytes(b[o:o + {s}], 'little', signed={prim.startswith('i')}); o += {s}")
        elif prim in _WIDE:
            s, signed = _WIDE[prim]
            out.append(f"{ind}{v} = int.from_bytes(b[o:o + {s}], 'little', signed={signed}); o += {s}")
        elif prim == "str":
            out.append(_COMPACT.format(ind=ind, v="_n").rstrip("\n"))
            out.append(f"{ind}_r = b[o:o + _n]; o += _n")
            out.append(f"{ind}{v} = {'_vec_u8_plain(_r)' if plain else '_vec_u8_value(_r)'}")
        else:
            raise Unsupported(prim)

    def _emit_fields(self, fields: list[tuple[str | None, int]], plain: bool, v: str, ind: str,
                     out: list[str], env: dict, *, as_dict: bool, collect: list | None = None) -> None:  # fmt: skip
        names: list[str] = []
        accounts: list[int] = []
        i = 0
        while i < len(fields):
            # A run of fixed-width primitives is one struct.unpack_from (a 128-bit integer as
            # its two 64-bit halves, joined after: AxonInfo's ip sits between u32 and u16).
            run = []
            while i < len(fields) and self._run_code(fields[i][1]):
                run.append(fields[i])
                i += 1
            if len(run) == 1:
                i -= 1  # a single fixed field: the general case below reads it
            elif run:
                codes = "".join(self._run_code(t) for _, t in run)
                st = self._struct("<" + codes)
                sname = f"_s_{codes}"
                env[sname] = st
                vars_ = [f"{v}_{len(names) + k}" for k in range(len(run))]
                parts = [f"{x}_hi" if len(self._run_code(t)) == 2 and h else x
                         for x, (_, t) in zip(vars_, run) for h in range(len(self._run_code(t)))]  # fmt: skip
                out.append(f"{ind}{', '.join(parts)}, = {sname}.unpack_from(b, o); o += {st.size}")
                for var, (_, t) in zip(vars_, run):
                    if len(self._run_code(t)) == 2:
                        out.append(f"{ind}{var} |= {var}_hi << 64")
                    elif self.types[t][1][1] == "bool":
                        out.append(f"{ind}if {var} > 1: raise DecodeError('bool byte ' + str({var}))")
                        out.append(f"{ind}{var} = {var} == 1")
                names.extend(vars_)
                continue
            if i == len(fields):
                break
            var = f"{v}_{len(names)}"
            if self._kind(fields[i][1])[0] == "account":
                # raw now, SS58 for all keys of the value in one batch (see _resolve_accounts)
                out.append(f"{ind}{var} = b[o:o + 32]; o += 32")
                accounts.append(len(names))
            else:
                self._emit(fields[i][1], plain, var, ind, out, env)
            names.append(var)
            i += 1
        if as_dict:
            items = ", ".join(f"{f[0]!r}: {n}" for f, n in zip(fields, names))
            out.append(f"{ind}{v} = {{{items}}}")
        else:
            out.append(f"{ind}{v} = [{', '.join(names)}]")
        if accounts:
            keys = [repr(fields[k][0]) if as_dict else str(k) for k in accounts]
            if collect is not None:
                collect.extend(keys)  # the caller registers them once for the whole vector
            else:
                out.append(f"{ind}F.append(({v}, ({', '.join(keys)},)))")

    def _emit_sequence(self, sub: int, plain: bool, v: str, ind: str, out: list[str], env: dict) -> None:
        ap = f"_a{len(ind)}"  # one append per nesting level: inlined loops nest
        out.append(_COMPACT.format(ind=ind, v="_n").rstrip("\n"))
        out.append(f"{ind}if _n > len(b): raise DecodeError('length prefix ' + str(_n) + ' beyond the data')")
        kind, prim = self._kind(sub)
        if kind == "fixed" and prim == "u8":
            out.append(f"{ind}_r = b[o:o + _n]; o += _n")
            out.append(f"{ind}{v} = {'_vec_u8_plain(_r)' if plain else '_vec_u8_value(_r)'}")
        elif kind == "fixed":
            code = _FIXED[prim]
            size = struct.calcsize("<" + code)
            out.append(f"{ind}{v} = list(struct.unpack_from('<%d{code}' % _n, b, o)); o += _n * {size}")
            env["struct"] = struct
            if prim == "bool":
                out.append(f"{ind}if _n and max({v}) > 1: raise DecodeError('bool byte > 1')")
                out.append(f"{ind}{v} = [x == 1 for x in {v}]")
        elif kind == "compact":
            # Vec<Compact<_>> with the compact read inline, and runs of zeros (one 0x00 byte
            # each) taken whole: a subnet's emission history is 10^5 compacts, nearly all 0.
            env["_zrun"] = _ZERO_RUN
            env["_all_four_byte"] = _all_four_byte
            out.append(f"{ind}{v} = []")
            # block numbers (last_update, block_at_registration) are all four-byte compacts:
            # one numpy pass checks every tag and shifts every value
            out.append(f"{ind}if _n >= 64 and b[o] & 3 == 2:")
            out.append(f"{ind}    _q = _all_four_byte(b, o, _n)")
            out.append(f"{ind}    if _q is not None: {v} = _q; o += 4 * _n; _n = 0")
            out.append(f"{ind}{ap} = {v}.append")
            out.append(f"{ind}while _n:")
            out.append(f"{ind}    if b[o] == 0:")
            out.append(f"{ind}        _r = _zrun(b, o).end() - o")
            out.append(f"{ind}        if _r > _n: _r = _n")
            out.append(f"{ind}        {v} += [0] * _r; o += _r; _n -= _r")
            out.append(f"{ind}        continue")
            out.append(_COMPACT.format(ind=ind + "    ", v="_x").rstrip("\n"))
            out.append(f"{ind}    {ap}(_x); _n -= 1")
        elif kind == "account":
            out.append(f"{ind}{v} = [b[p:p + 32] for p in range(o, o + 32 * _n, 32)]; o += 32 * _n")
            out.append(f"{ind}F.append(({v}, None))")
        elif self._fixed_record(sub):
            # Records of fixed-width numbers only (Vec<AxonInfo>): every element in one
            # iter_unpack over the slice, the values (or dicts) built by one comprehension.
            fields = self._multi_fields(sub)
            codes = "".join(self._run_code(t) for _, t in fields)
            st = self._struct("<" + codes)
            sname = f"_s_{codes}"
            env[sname] = st
            names = [f"_y{k}" for k in range(len(fields))]
            parts = [x + ("_hi" if h else "") for x, (_, t) in zip(names, fields) for h in range(len(self._run_code(t)))]
            vals = [f"{x} | {x}_hi << 64" if len(self._run_code(t)) == 2 else x for x, (_, t) in zip(names, fields)]
            if all(f[0] for f in fields):
                item = "{" + ", ".join(f"{f[0]!r}: {x}" for f, x in zip(fields, vals)) + "}"
            else:
                item = "[" + ", ".join(vals) + "]"
            out.append(f"{ind}_r = b[o:o + _n * {st.size}]; o += _n * {st.size}")
            out.append(f"{ind}{v} = [{item} for {', '.join(parts)} in {sname}.iter_unpack(_r)]")
        elif self.types[sub][1][0] in ("composite", "tuple") and not _special(self.types[sub][0]) and len(ind) <= 8:
            # Structs and tuples (NeuronInfoLite, (AccountId, Compact<u64>), ...) read inline
            # in the loop: a call per element costs as much as reading its fields.
            x = f"_x{len(ind)}"
            out.append(f"{ind}{v} = []")
            out.append(f"{ind}{ap} = {v}.append")
            out.append(f"{ind}for _ in range(_n):")
            keys: list[str] = []
            fields = self._multi_fields(sub)
            if fields is None:
                self._emit(sub, plain, x, ind + "    ", out, env)
            else:
                as_dict = all(f[0] for f in fields)
                self._emit_fields(fields, plain, x, ind + "    ", out, env, as_dict=as_dict, collect=keys)
            out.append(f"{ind}    {ap}({x})")
            if keys:
                out.append(f"{ind}F.append(({v}, ('*', {', '.join(keys)})))")
        else:
            fn = self._call(sub, plain, env)
            out.append(f"{ind}{v} = []")
            out.append(f"{ind}{ap} = {v}.append")
            out.append(f"{ind}for _ in range(_n):")
            out.append(f"{ind}    _x, o = {fn}(b, o, F)")
            out.append(f"{ind}    {ap}(_x)")

    def _fixed_record(self, tid: int) -> bool:
        """A plain struct/tuple of two or more fixed-width integers (no bools, no accounts)."""
        if _special(self.types[tid][0]):
            return False
        fields = self._multi_fields(tid)
        return fields is not None and all(
            self._run_code(t) and self.types[t][1][1] != "bool" for _, t in fields
        )

    def _multi_fields(self, tid: int) -> list[tuple[str | None, int]] | None:
        """The fields of a plain struct or tuple of two or more (as _emit reads them), else None."""
        path, d = self.types[tid]
        if path and path[-1] in ("BTreeMap", "BTreeSet"):
            return None
        if d[0] == "composite" and len(d[1]) >= 2:
            if all(f[0] for f in d[1]):
                return [(f[0], f[1]) for f in d[1]]
            return [(None, f[1]) for f in d[1]]
        if d[0] == "tuple" and len(d[1]) >= 2:
            return [(None, t) for t in d[1]]
        return None

    def _emit_array(self, length: int, sub: int, plain: bool, v: str, ind: str, out: list[str], env: dict) -> None:
        kind, prim = self._kind(sub)
        if kind == "fixed" and prim == "u8":
            out.append(f"{ind}_r = b[o:o + {length}]; o += {length}")
            out.append(f"{ind}{v} = {'_array_u8_plain(_r)' if plain else chr(39) + '0x' + chr(39) + ' + _r.hex()'}")
        else:
            # scalecodec keeps no element objects for arrays: their elements come out raw.
            fn = self._call(sub, False, env)
            out.append(f"{ind}{v} = []")
            out.append(f"{ind}for _ in range({length}):")
            out.append(f"{ind}    _x, o = {fn}(b, o, F)")
            out.append(f"{ind}    {v}.append(_x)")

    def _emit_map(self, d: tuple, v: str, ind: str, out: list[str], env: dict) -> None:
        # BTreeMap<K, V> is a composite around Vec<(K, V)>; scalecodec returns raw .values.
        seq = d[1][0][1]
        pair = self.types[seq][1][1]
        k_t, v_t = self.types[pair][1][1]
        fk, fv = self._call(k_t, False, env), self._call(v_t, False, env)
        out.append(_COMPACT.format(ind=ind, v="_n").rstrip("\n"))
        out.append(f"{ind}if _n > len(b): raise DecodeError('length prefix ' + str(_n) + ' beyond the data')")
        out.append(f"{ind}{v} = []")
        out.append(f"{ind}for _ in range(_n):")
        out.append(f"{ind}    _k, o = {fk}(b, o, F)")
        out.append(f"{ind}    _x, o = {fv}(b, o, F)")
        out.append(f"{ind}    {v}.append([_k, _x])")

    def _emit_variant(self, name: str, variants: list, plain: bool, v: str, ind: str, out: list[str], env: dict) -> None:
        out.append(f"{ind}_i = b[o]; o += 1")
        if name == "Option":
            some = next(var for var in variants if var[1] == "Some")
            fn = self._call(some[2][0][1], plain, env)
            out.append(f"{ind}if _i == 0:")
            out.append(f"{ind}    {v} = None")
            out.append(f"{ind}elif _i == 1:")
            out.append(f"{ind}    {v}, o = {fn}(b, o, F)")
            out.append(f"{ind}else:")
            out.append(f"{ind}    raise DecodeError('Option byte ' + str(_i))")
            return
        first = True
        for index, vname, fields in variants:
            out.append(f"{ind}{'if' if first else 'elif'} _i == {index}:")
            first = False
            inner = ind + "    "
            if not fields:
                out.append(f"{inner}{v} = {[vname, None] if plain else vname!r}")
                continue
            if all(f[0] for f in fields):
                self._emit_fields([(f[0], f[1]) for f in fields], plain, "_w", inner, out, env, as_dict=True)
            elif len(fields) == 1:
                self._emit(fields[0][1], plain, "_w", inner, out, env)
            else:
                self._emit_fields([(None, f[1]) for f in fields], plain, "_w", inner, out, env, as_dict=False)
            out.append(f"{inner}{v} = {{{vname!r}: _w}}")
        if first:
            out.append(f"{ind}raise DecodeError('enum without variants')")
        else:
            out.append(f"{ind}else:")
            out.append(f"{ind}    raise DecodeError('enum index ' + str(_i))")


def _children(d: tuple) -> list[int]:
    kind = d[0]
    if kind == "composite":
        return [f[1] for f in d[1]]
    if kind == "variant":
        return [f[1] for var in d[1] for f in var[2]]
    if kind in ("sequence", "compact"):
        return [d[1]]
    if kind == "array":
        return [d[2]]
    if kind == "tuple":
        return list(d[1])
    return []


# -- encoding (storage keys and runtime-API arguments) ------------------------------------------
_B58_INDEX = {c: i for i, c in enumerate(_B58)}


def ss58_decode(address: str) -> bytes:
    """The 32-byte key of an SS58 address (any prefix; checksum verified)."""
    n = 0
    for ch in address:
        if ch not in _B58_INDEX:
            raise ValueError(f"{address!r} is not an SS58 address")
        n = n * 58 + _B58_INDEX[ch]
    zeros = len(address) - len(address.lstrip("1"))
    data = b"\0" * zeros + (n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b"")
    head = 1 if len(data) and data[0] < 64 else 2
    if len(data) != head + 34:
        raise ValueError(f"{address!r} is not an SS58 address of a 32-byte key")
    check = hashlib.blake2b(b"SS58PRE" + data[:-2], digest_size=64).digest()[:2]
    if check != data[-2:]:
        raise ValueError(f"{address!r}: SS58 checksum mismatch")
    return data[head:-2]


def _account_bytes(value: Any) -> bytes:
    if isinstance(value, (bytes, bytearray)) and len(value) == 32:
        return bytes(value)
    if isinstance(value, str) and value.startswith("0x") and len(value) == 66:
        return bytes.fromhex(value[2:])
    if isinstance(value, str):
        return ss58_decode(value)
    raise ValueError(f"not an account id: {value!r}")


def compact_bytes(n: int) -> bytes:
    if n < 0:
        raise ValueError("compact of a negative number")
    if n < 1 << 6:
        return bytes([n << 2])
    if n < 1 << 14:
        return ((n << 2) | 1).to_bytes(2, "little")
    if n < 1 << 30:
        return ((n << 2) | 2).to_bytes(4, "little")
    b = n.to_bytes((n.bit_length() + 7) // 8, "little")
    return bytes([((len(b) - 4) << 2) | 3]) + b


_INT_SIZES = {"u8": 1, "u16": 2, "u32": 4, "u64": 8, "u128": 16, "u256": 32,
              "i8": 1, "i16": 2, "i32": 4, "i64": 8, "i128": 16, "i256": 32}  # fmt: skip


def encode(types: dict[int, tuple], tid: int, value: Any) -> bytes:
    """SCALE bytes of ``value`` as type ``tid`` (the shapes keys and API arguments use);
    raises :class:`Unsupported` for enums other than ``Option`` and other special types."""
    path, d = types[tid]
    name = "::".join(path)
    kind = d[0]
    if name == "sp_core::crypto::AccountId32":
        return _account_bytes(value)
    if kind == "primitive":
        prim = d[1]
        if prim == "bool":
            if not isinstance(value, bool):
                raise ValueError(f"not a bool: {value!r}")
            return b"\x01" if value else b"\x00"
        if prim in _INT_SIZES:
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"not an integer: {value!r}")
            return value.to_bytes(_INT_SIZES[prim], "little", signed=prim.startswith("i"))
        if prim == "str":
            raw = value.encode() if isinstance(value, str) else bytes(value)
            return compact_bytes(len(raw)) + raw
        raise Unsupported(prim)
    if kind == "compact":
        return compact_bytes(int(value))
    if kind == "composite":
        fields = d[1]
        if len(fields) == 1 and not fields[0][0]:
            return encode(types, fields[0][1], value)
        if fields and all(f[0] for f in fields):
            return b"".join(encode(types, t, value[f]) for f, t in fields)
        return b"".join(encode(types, f[1], v) for f, v in zip(fields, _exactly(value, len(fields))))
    if kind == "tuple":
        if len(d[1]) == 1:
            return encode(types, d[1][0], value)
        return b"".join(encode(types, t, v) for t, v in zip(d[1], _exactly(value, len(d[1]))))
    if kind in ("sequence", "array"):
        sub = d[1] if kind == "sequence" else d[2]
        items = list(value)
        if kind == "array" and len(items) != d[1]:
            raise ValueError(f"array of {d[1]} got {len(items)} items")
        head = compact_bytes(len(items)) if kind == "sequence" else b""
        return head + b"".join(encode(types, sub, v) for v in items)
    if kind == "variant" and name == "Option":
        if value is None:
            return b"\x00"
        some = next(var for var in d[1] if var[1] == "Some")
        return b"\x01" + encode(types, some[2][0][1], value)
    raise Unsupported(f"type {tid} ({name or kind})")


def _exactly(value: Any, n: int) -> list:
    items = list(value)
    if len(items) != n:
        raise ValueError(f"expected {n} items, got {len(items)}")
    return items


def fixed_size(types: dict[int, tuple], tid: int) -> int:
    """Encoded size of a fixed-size type (primitives, single-field wrappers, arrays); 0 if
    the size varies (as ``Block.key_suffix`` needs it)."""
    path, d = types[tid]
    if "::".join(path) == "sp_core::crypto::AccountId32":
        return 32
    if d[0] == "primitive":
        return 1 if d[1] == "bool" else _INT_SIZES.get(d[1], 0)
    if d[0] == "composite" and len(d[1]) == 1:
        return fixed_size(types, d[1][0][1])
    if d[0] == "array":
        return d[1] * fixed_size(types, d[2])
    return 0

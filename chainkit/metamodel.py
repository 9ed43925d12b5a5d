"""Runtime metadata (V14/V15) parsed into plain lists, and cached on disk as JSON.

scalecodec takes seconds to decode a subtensor runtime's metadata (~700 types, 600 kB) and
builds thousands of objects; reading storage and runtime-API results needs only a small part
of it: the portable type registry, each pallet's storage entries (prefix, hashers, key and
value type ids, default) and constants, and the runtime-API signatures. This module reads
exactly that with a straight SCALE parser (frame-metadata 15/16 layouts) into a JSON-able
dict, the *model*, and keeps one file per metadata digest under the cache directory
(``$TAOAUDIT_CACHE/metadata`` or ``~/.cache/taoaudit/metadata``): written atomically (a
temporary file renamed into place), named after the package version and :data:`FORMAT`, so
a new version never reads an old layout, and an unreadable or inconsistent file is ignored
and written again. JSON, never pickle: a cache file is data, not code.
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from .errors import MetadataError

#: layout of the cached model; bump when the model changes
FORMAT = 1
_PRIMS = ["bool", "char", "str", "u8", "u16", "u32", "u64", "u128", "u256", "i8", "i16", "i32", "i64", "i128", "i256"]
_HASHERS = ["Blake2_128", "Blake2_256", "Blake2_128Concat", "Twox128", "Twox256", "Twox64Concat", "Identity"]


class _Reader:
    __slots__ = ("b", "o")

    def __init__(self, b: bytes, o: int = 0) -> None:
        self.b, self.o = b, o

    def u8(self) -> int:
        v = self.b[self.o]
        self.o += 1
        return v

    def u32(self) -> int:
        v = int.from_bytes(self.b[self.o : self.o + 4], "little")
        self.o += 4
        return v

    def compact(self) -> int:
        b, o = self.b, self.o
        c = b[o]
        m = c & 3
        if m == 0:
            self.o += 1
            return c >> 2
        if m == 1:
            self.o += 2
            return (c | (b[o + 1] << 8)) >> 2
        if m == 2:
            self.o += 4
            return int.from_bytes(b[o : o + 4], "little") >> 2
        k = (c >> 2) + 4
        self.o += 1 + k
        return int.from_bytes(b[o + 1 : o + 1 + k], "little")

    def raw(self) -> bytes:
        n = self.compact()
        v = self.b[self.o : self.o + n]
        if len(v) != n:
            raise IndexError("truncated")
        self.o += n
        return v

    def text(self) -> str:
        return self.raw().decode("utf-8", "replace")

    def texts(self) -> list[str]:
        return [self.text() for _ in range(self.compact())]

    def skip_texts(self) -> None:
        for _ in range(self.compact()):
            self.raw()

    def option(self) -> bool:
        flag = self.u8()
        if flag > 1:
            raise ValueError(f"Option byte {flag}")
        return flag == 1


def _fields(r: _Reader) -> list[list]:
    out = []
    for _ in range(r.compact()):
        name = r.text() if r.option() else None
        ty = r.compact()
        if r.option():
            r.raw()  # type name
        r.skip_texts()
        out.append([name, ty])
    return out


def _type_def(r: _Reader) -> list:
    tag = r.u8()
    if tag == 0:
        return ["composite", _fields(r)]
    if tag == 1:
        variants = []
        for _ in range(r.compact()):
            name = r.text()
            fields = _fields(r)
            index = r.u8()
            r.skip_texts()
            variants.append([index, name, fields])
        return ["variant", variants]
    if tag == 2:
        return ["sequence", r.compact()]
    if tag == 3:
        length = r.u32()
        return ["array", length, r.compact()]
    if tag == 4:
        return ["tuple", [r.compact() for _ in range(r.compact())]]
    if tag == 5:
        return ["primitive", _PRIMS[r.u8()]]
    if tag == 6:
        return ["compact", r.compact()]
    if tag == 7:
        return ["bitsequence", r.compact(), r.compact()]
    raise ValueError(f"type definition tag {tag}")


def _registry(r: _Reader) -> dict[str, list]:
    types: dict[str, list] = {}
    for _ in range(r.compact()):
        tid = r.compact()
        path = r.texts()
        for _ in range(r.compact()):  # type parameters
            r.raw()
            if r.option():
                r.compact()
        d = _type_def(r)
        r.skip_texts()
        types[str(tid)] = [path, d]
    return types


def _pallets(r: _Reader, version: int) -> dict[str, Any]:
    pallets: dict[str, Any] = {}
    for _ in range(r.compact()):
        name = r.text()
        storage: dict[str, list] = {}
        prefix = None
        if r.option():
            prefix = r.text()
            for _ in range(r.compact()):
                item = r.text()
                modifier = ["Optional", "Default"][r.u8()]
                kind = r.u8()
                if kind == 0:
                    hashers: list[str] = []
                    key = None
                    value = r.compact()
                else:
                    hashers = [_HASHERS[r.u8()] for _ in range(r.compact())]
                    key = r.compact()
                    value = r.compact()
                default = r.raw().hex()
                r.skip_texts()
                storage[item] = [modifier, hashers, key, value, default]
        for _ in range(2):  # calls, event
            if r.option():
                r.compact()
        constants: dict[str, list] = {}
        for _ in range(r.compact()):
            cname = r.text()
            ty = r.compact()
            constants[cname] = [ty, r.raw().hex()]
            r.skip_texts()
        if r.option():  # error
            r.compact()
        index = r.u8()
        if version >= 15:
            r.skip_texts()
        pallets[name] = {"index": index, "prefix": prefix, "storage": storage, "constants": constants}
    return pallets


def _apis(r: _Reader) -> dict[str, list]:
    # V15: extrinsic, runtime type, then the runtime APIs.
    r.u8()
    for _ in range(4):
        r.compact()
    for _ in range(r.compact()):  # signed extensions
        r.text()
        r.compact()
        r.compact()
    r.compact()  # runtime type
    apis: dict[str, list] = {}
    for _ in range(r.compact()):
        api = r.text()
        for _ in range(r.compact()):
            method = r.text()
            inputs = []
            for _ in range(r.compact()):
                pname = r.text()
                inputs.append([pname, r.compact()])
            output = r.compact()
            r.skip_texts()
            apis[f"{api}_{method}"] = [api, method, inputs, output]
        r.skip_texts()
    return apis


def parse_metadata(data: bytes) -> dict[str, Any]:
    """``meta`` + version + body → the model (types, pallets, apis); V14 and V15 only."""
    version = data[4]
    r = _Reader(data, 5)
    try:
        types = _registry(r)
        pallets = _pallets(r, version)
        apis = _apis(r) if version >= 15 else {}
    except (IndexError, ValueError, UnicodeDecodeError) as e:
        raise MetadataError(f"metadata V{version} does not parse: {e}") from None
    return {"format": FORMAT, "metadata_version": version, "types": types, "pallets": pallets, "apis": apis}


# -- disk cache --------------------------------------------------------------------------------
@functools.cache
def package_version() -> str:
    try:
        from importlib.metadata import version

        return version("taoaudit")
    except Exception:  # noqa: BLE001 - not installed (a bare checkout): its own key
        return "0+unknown"


def cache_dir() -> Path:
    base = os.environ.get("TAOAUDIT_CACHE")
    root = Path(base) if base else Path.home() / ".cache" / "taoaudit"
    return root / "metadata"


def _cache_path(digest: str) -> Path:
    return cache_dir() / f"v{FORMAT}-{package_version()}" / f"{digest}.json"


def load_cached(digest: str) -> dict[str, Any] | None:
    """The cached model of metadata with this sha256 digest, or None (absent, unreadable,
    another format or package version, or not the model of this digest)."""
    path = _cache_path(digest)
    try:
        with open(path, "rb") as f:
            model = json.loads(f.read())
    except (OSError, ValueError):
        return None
    if not isinstance(model, dict):
        return None
    ok = (
        model.get("format") == FORMAT
        and model.get("package_version") == package_version()
        and model.get("digest") == digest
        and isinstance(model.get("types"), dict)
        and isinstance(model.get("pallets"), dict)
        and isinstance(model.get("apis"), dict)
        and isinstance(model.get("spec_version"), int)
    )
    return model if ok else None


def store_cached(digest: str, model: dict[str, Any]) -> None:
    """Write the model atomically; a cache that cannot be written is skipped silently (it
    is only a cache: the next process parses the metadata again)."""
    path = _cache_path(digest)
    body = dict(model, digest=digest, package_version=package_version())
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=path.parent)
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(body, f, separators=(",", ":"))
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError:
        pass

"""Runtime metadata → the types one runtime decodes with.

Two views of the same metadata. The everyday one is the *model* of :mod:`chainkit.metamodel`
(registry, storage entries, constants, runtime-API signatures as plain lists, parsed without
scalecodec and cached on disk as JSON per metadata digest) with the registry-driven decoders
of :mod:`chainkit.codec`: storage values and runtime-API results decode with the runtime's
own type ids, in milliseconds, without decoding the metadata with scalecodec at all.

The second is scalecodec's, built only when something asks for ``runtime_config`` or
``metadata`` (types the fast decoders leave to scalecodec, such as events). scalecodec 1.2.12
reads metadata V14. It has no V15 type, but V15 is V14's building blocks (portable registry,
pallets, storage entries) plus runtime-API descriptions, so we declare it here in
scalecodec's own registry language. V15 matters because it is the only place the runtime-API
signatures live: with it, runtime-API results decode with the types the runtime itself
declares instead of hand-written structs.

Both views are cached in-process by the digest of the metadata bytes.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .codec import Codec, Unsupported
from .codec import encode as codec_encode
from .codec import fixed_size as codec_fixed_size
from .errors import DecodeError, MetadataError, UnsupportedMetadataVersion
from .metamodel import load_cached, parse_metadata, store_cached

SUPPORTED_METADATA_VERSIONS = (14, 15)
_MAGIC = b"meta"

# RuntimeMetadataV15 (frame-metadata 16.x), field for field, reusing scalecodec's V14 parts.
_V15_TYPES: dict[str, Any] = {
    "MetadataV15": {
        "type": "struct",
        "type_mapping": [
            ["types", "PortableRegistry"],
            ["pallets", "Vec<PalletMetadataV15>"],
            ["extrinsic", "ExtrinsicMetadataV15"],
            ["runtime_type", "SiLookupTypeId"],
            ["apis", "Vec<RuntimeApiMetadataV15>"],
            ["outer_enums", "OuterEnumsV15"],
            ["custom", "CustomMetadataV15"],
        ],
    },
    "PalletMetadataV15": {
        "type": "struct",
        "base_class": "ScaleInfoPalletMetadata",
        "type_mapping": [
            ["name", "Text"],
            ["storage", "Option<StorageMetadataV14>"],
            ["calls", "Option<PalletCallMetadataV14>"],
            ["event", "Option<PalletEventMetadataV14>"],
            ["constants", "Vec<PalletConstantMetadataV14>"],
            ["error", "Option<PalletErrorMetadataV14>"],
            ["index", "u8"],
            ["docs", "Vec<Text>"],
        ],
    },
    "ExtrinsicMetadataV15": {
        "type": "struct",
        "type_mapping": [
            ["version", "u8"],
            ["address_ty", "SiLookupTypeId"],
            ["call_ty", "SiLookupTypeId"],
            ["signature_ty", "SiLookupTypeId"],
            ["extra_ty", "SiLookupTypeId"],
            ["signed_extensions", "Vec<SignedExtensionMetadataV14>"],
        ],
    },
    "RuntimeApiMetadataV15": {
        "type": "struct",
        "type_mapping": [
            ["name", "Text"],
            ["methods", "Vec<RuntimeApiMethodMetadataV15>"],
            ["docs", "Vec<Text>"],
        ],
    },
    "RuntimeApiMethodMetadataV15": {
        "type": "struct",
        "type_mapping": [
            ["name", "Text"],
            ["inputs", "Vec<RuntimeApiMethodParamMetadataV15>"],
            ["output", "SiLookupTypeId"],
            ["docs", "Vec<Text>"],
        ],
    },
    "RuntimeApiMethodParamMetadataV15": {
        "type": "struct",
        "type_mapping": [["name", "Text"], ["type", "SiLookupTypeId"]],
    },
    "OuterEnumsV15": {
        "type": "struct",
        "type_mapping": [
            ["call_enum_ty", "SiLookupTypeId"],
            ["event_enum_ty", "SiLookupTypeId"],
            ["error_enum_ty", "SiLookupTypeId"],
        ],
    },
    "CustomMetadataV15": {
        "type": "struct",
        "type_mapping": [["map", "BTreeMap<Text, CustomValueMetadataV15>"]],
    },
    "CustomValueMetadataV15": {
        "type": "struct",
        "type_mapping": [["type", "SiLookupTypeId"], ["value", "Bytes"]],
    },
    # Versions below 14 predate the portable registry; they are refused before decoding.
    "TaoMetadataAll": {
        "type": "enum",
        "base_class": "GenericMetadataAll",
        "type_mapping": [[f"V{i}", "Null"] for i in range(14)]
        + [["V14", "MetadataV14"], ["V15", "MetadataV15"]],
    },
    "TaoMetadataVersioned": {
        "type": "tuple",
        "base_class": "GenericMetadataVersioned",
        "type_mapping": ["[u8; 4]", "TaoMetadataAll"],
    },
}


@dataclass(frozen=True)
class RuntimeApiMethod:
    api: str
    method: str
    inputs: tuple[tuple[str, int], ...]  # (name, type id)
    output: int  # type id

    @property
    def call_name(self) -> str:
        """The ``state_call`` method name, e.g. ``NeuronInfoRuntimeApi_get_neurons_lite``."""
        return f"{self.api}_{self.method}"


@dataclass(frozen=True)
class StorageInfo:
    """One storage item as the metadata declares it (the subset reads need)."""

    pallet_prefix: str
    name: str
    modifier: str  # "Default" or "Optional"
    hashers: tuple[str, ...]
    key_types: tuple[int, ...]  # one type id per hasher
    value_type: int
    default: bytes

    def get_param_hashers(self) -> list[str]:
        return list(self.hashers)

    def get_params_type_string(self) -> list[str]:
        return [f"scale_info::{t}" for t in self.key_types]

    def get_value_type_string(self) -> str:
        return f"scale_info::{self.value_type}"


class RuntimeTypes:
    """Everything needed to encode and decode for one runtime (one spec version)."""

    def __init__(self, model: dict[str, Any], raw: bytes, digest: str) -> None:
        self.model = model
        self.spec_version: int = model["spec_version"]
        self.metadata_version: int = model["metadata_version"]
        self.digest = digest
        self.apis: dict[str, RuntimeApiMethod] = {
            name: RuntimeApiMethod(api, method, tuple((n, int(t)) for n, t in inputs), int(output))
            for name, (api, method, inputs, output) in model["apis"].items()
        }
        self.codec = Codec({int(k): v for k, v in model["types"].items()})
        self._raw = raw
        self._scale: tuple[Any, Any] | None = None
        self._storage: dict[tuple[str, str], StorageInfo | None] = {}

    # -- scalecodec, on demand -----------------------------------------------------------
    def _scalecodec(self) -> tuple[Any, Any]:
        with _lock:
            if self._scale is None:
                self._scale = _scalecodec_view(self._raw, self.metadata_version, f"spec {self.spec_version}")
            return self._scale

    @property
    def runtime_config(self) -> Any:
        """scalecodec's ``RuntimeConfigurationObject`` for this runtime (built on first use)."""
        return self._scalecodec()[0]

    @property
    def metadata(self) -> Any:
        """scalecodec's decoded metadata (built on first use)."""
        return self._scalecodec()[1]

    # -- storage ---------------------------------------------------------------------------
    def storage_info(self, pallet: str, item: str) -> StorageInfo | None:
        key = (pallet, item)
        if key not in self._storage:
            self._storage[key] = self._storage_info(pallet, item)
        return self._storage[key]

    def _storage_info(self, pallet: str, item: str) -> StorageInfo | None:
        p = self.model["pallets"].get(pallet)
        if p is None or p["prefix"] is None or item not in p["storage"]:
            return None
        modifier, hashers, key, value, default = p["storage"][item]
        if not hashers:
            keys: tuple[int, ...] = ()
        elif len(hashers) == 1:
            keys = (key,)
        else:
            _, d = self.model["types"][str(key)]
            keys = tuple(d[1]) if d[0] == "tuple" else (key,)
        return StorageInfo(p["prefix"], item, modifier, tuple(hashers), keys, value, bytes.fromhex(default))

    def storage_entry(self, pallet: str, item: str) -> StorageInfo | None:
        return self.storage_info(pallet, item)

    def has_storage(self, pallet: str, item: str) -> bool:
        return self.storage_info(pallet, item) is not None

    def pallet_prefix(self, pallet: str) -> str | None:
        p = self.model["pallets"].get(pallet)
        return None if p is None else p["prefix"]

    def constant(self, pallet: str, name: str) -> Any:
        """A pallet constant, decoded; None when the runtime has no such constant."""
        p = self.model["pallets"].get(pallet)
        if p is None or name not in p["constants"]:
            return None
        ty, value = p["constants"][name]
        return self.decode_type(ty, bytes.fromhex(value), what=f"{pallet}.{name}")

    # -- values ----------------------------------------------------------------------------
    def type_string(self, type_id: int) -> str:
        return f"scale_info::{type_id}"

    def decode_type(self, type_id: int, data: bytes, *, what: str = "") -> Any:
        """All of ``data`` as ``type_id``, in :func:`chainkit.scale.to_plain` form."""
        try:
            return self.codec.decode(type_id, data, what=what)
        except Unsupported:
            pass
        from scalecodec.base import ScaleBytes

        from .scale import to_plain

        try:
            obj = self.runtime_config.create_scale_object(
                f"scale_info::{type_id}", data=ScaleBytes(bytearray(data))
            )
            obj.decode(check_remaining=True)
        except Exception as e:  # scalecodec raises bare exceptions of many kinds
            raise DecodeError(f"{what or f'type {type_id}'}: {e}") from None
        return to_plain(obj)

    def decode_events(self, data: bytes) -> list[tuple[str, str, str, Any]]:
        """``System.Events`` → ``(phase, pallet, event, attributes)`` per record, in the form
        scalecodec's event records give (see :meth:`chainkit.codec.Codec.decode_events`)."""
        info = self.storage_info("System", "Events")
        if info is None:
            raise DecodeError("runtime has no System.Events")
        try:
            return self.codec.decode_events(info.value_type, data)
        except Unsupported:
            pass
        from scalecodec.base import ScaleBytes

        try:
            obj = self.runtime_config.create_scale_object(
                info.get_value_type_string(), data=ScaleBytes(bytearray(data))
            )
            records = obj.decode(check_remaining=True)
        except Exception as e:  # scalecodec raises bare exceptions of many kinds
            raise DecodeError(f"System.Events: {e}") from None
        return [(r["phase"], r["module_id"], r["event_id"], r["attributes"]) for r in records]

    def encode_type(self, type_id: int, value: Any) -> bytes:
        """SCALE bytes of ``value`` as ``type_id`` (scalecodec for the shapes the fast
        encoder leaves out)."""
        try:
            return codec_encode(self.codec.types, type_id, value)
        except Unsupported:
            return self.encode(f"scale_info::{type_id}", value)

    def fixed_size(self, type_id: int) -> int:
        """Encoded size of a fixed-size type, 0 if it varies."""
        return codec_fixed_size(self.codec.types, type_id)

    def decode(self, type_string: str, data: bytes) -> Any:
        """scalecodec's raw ``.value`` of ``data`` (used where callers expect that form, e.g.
        map keys out of storage keys): the fast decoders where they give that form exactly,
        else (and on any error, so errors stay scalecodec's) scalecodec itself."""
        if type_string.startswith("scale_info::"):
            try:
                return self.codec.decode_raw_value(int(type_string[12:]), data)
            except (Unsupported, DecodeError):
                pass
        from scalecodec.base import ScaleBytes

        obj = self.runtime_config.create_scale_object(type_string, data=ScaleBytes(bytearray(data)))
        return obj.decode()

    def encode(self, type_string: str, value: Any) -> bytes:
        obj = self.runtime_config.create_scale_object(type_string)
        return bytes(obj.encode(value).data)


_cache: dict[str, RuntimeTypes] = {}
_lock = threading.Lock()


def _base_config() -> Any:
    from scalecodec.base import RuntimeConfigurationObject
    from scalecodec.type_registry import load_type_registry_preset

    rc = RuntimeConfigurationObject(ss58_format=42)
    rc.update_type_registry(load_type_registry_preset("legacy"))
    rc.update_type_registry(load_type_registry_preset("core"))
    rc.update_type_registry({"types": _V15_TYPES})
    return rc


def _scalecodec_view(data: bytes, version: int, source: str) -> tuple[Any, Any]:
    from scalecodec.base import ScaleBytes

    rc = _base_config()
    try:
        md = rc.create_scale_object("TaoMetadataVersioned", data=ScaleBytes(bytearray(data)))
        md.decode()
        rc.add_portable_registry(md)
    except Exception as e:  # scalecodec raises bare exceptions of many kinds
        raise MetadataError(f"metadata V{version} {source} does not decode: {e}".replace("  ", " ")) from None
    return rc, md


def metadata_bytes(raw: str | bytes, source: str = "") -> bytes:
    """Plain metadata bytes (``meta`` + version + body) from any of the forms nodes return.

    Accepts hex or raw bytes of: ``state_getMetadata`` (``6d657461…``), the
    ``Metadata_metadata_at_version`` result ``Option<OpaqueMetadata>`` (``01`` + compact
    length + ``6d657461…``), or a bare ``OpaqueMetadata`` (compact length + ``6d657461…``).
    """
    if isinstance(raw, str):
        text = raw.strip()
        text = text[2:] if text.startswith("0x") else text
        try:
            data = bytes.fromhex(text)
        except ValueError:
            raise MetadataError(f"metadata {source or ''} is not hex".replace("  ", " ")) from None
    else:
        data = bytes(raw)
    if data[:4] == _MAGIC:
        return data
    for skip_option in (1, 0):
        if skip_option and data[:1] != b"\x01":
            continue
        body = data[skip_option:]
        n, off = _compact(body)
        if n is not None and body[off : off + 4] == _MAGIC and off + n == len(body):
            return body[off:]
    if data[:1] == b"\x00":
        raise MetadataError(f"the node has no metadata of the requested version {source}".strip())
    raise MetadataError(f"not runtime metadata (no 'meta' magic) {source}".strip())


def _compact(b: bytes) -> tuple[int | None, int]:
    if not b:
        return None, 0
    mode = b[0] & 3
    if mode == 0:
        return b[0] >> 2, 1
    if mode == 1 and len(b) >= 2:
        return int.from_bytes(b[:2], "little") >> 2, 2
    if mode == 2 and len(b) >= 4:
        return int.from_bytes(b[:4], "little") >> 2, 4
    if mode == 3:
        k = (b[0] >> 2) + 4
        if len(b) >= 1 + k:
            return int.from_bytes(b[1 : 1 + k], "little"), 1 + k
    return None, 0


def metadata_version(raw: str | bytes) -> int:
    return metadata_bytes(raw)[4]


def load_metadata(raw: str | bytes, source: str = "") -> RuntimeTypes:
    """Metadata (V14 or V15) as :class:`RuntimeTypes`; cached by content digest, in this
    process and on disk (:mod:`chainkit.metamodel`).

    Raises :class:`UnsupportedMetadataVersion` for anything but V14/V15 (e.g. V16).
    """
    data = metadata_bytes(raw, source)
    version = data[4]
    if version not in SUPPORTED_METADATA_VERSIONS:
        raise UnsupportedMetadataVersion(version, source)
    digest = hashlib.sha256(data).hexdigest()
    with _lock:
        if digest in _cache:
            return _cache[digest]
    model = load_cached(digest)
    if model is None:
        model = parse_metadata(data)
        model["spec_version"] = _spec_version(model, source)
        store_cached(digest, model)
    rt = RuntimeTypes(model, data, digest)
    with _lock:
        _cache[digest] = rt
    return rt


def load_metadata_file(path: str | Path) -> RuntimeTypes:
    """Load a ``*.hex`` (0x…) or raw SCALE (``*.scale``) metadata file."""
    p = Path(path)
    blob = p.read_bytes()
    raw: str | bytes = blob if blob[:4] == _MAGIC else blob.decode("ascii", "replace")
    return load_metadata(raw, source=p.name)


def _spec_version(model: dict[str, Any], source: str) -> int:
    system = model["pallets"].get("System")
    if system is None:
        raise MetadataError(f"metadata {source} has no System pallet".replace("  ", " "))
    if "Version" not in system["constants"]:
        raise MetadataError(f"metadata {source} has no System.Version constant".replace("  ", " "))
    ty, value = system["constants"]["Version"]
    codec = Codec({int(k): v for k, v in model["types"].items()})
    try:
        return int(codec.decode(ty, bytes.fromhex(value), what="System.Version")["spec_version"])
    except (Unsupported, DecodeError, KeyError, TypeError) as e:
        raise MetadataError(f"metadata {source}: System.Version does not decode: {e}") from None

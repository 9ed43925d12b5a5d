"""Runtime metadata → the types one runtime decodes with.

scalecodec 1.2.12 reads metadata V14. It has no V15 type, but V15 is V14's building blocks
(portable registry, pallets, storage entries) plus runtime-API descriptions, so we declare it
here in scalecodec's own registry language. V15 matters because it is the only place the
runtime-API signatures live: with it, runtime-API results decode with the types the runtime
itself declares instead of hand-written structs.

Loading takes seconds (the registry of a subtensor runtime has ~700 types), so results are
cached in-process by the digest of the metadata bytes.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scalecodec.base import RuntimeConfigurationObject, ScaleBytes
from scalecodec.type_registry import load_type_registry_preset

from .errors import MetadataError, UnsupportedMetadataVersion

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


@dataclass
class RuntimeTypes:
    """Everything needed to encode and decode for one runtime (one spec version)."""

    spec_version: int
    metadata_version: int
    runtime_config: RuntimeConfigurationObject
    metadata: Any  # scalecodec GenericMetadataVersioned
    apis: dict[str, RuntimeApiMethod] = field(default_factory=dict)  # by call name
    digest: str = ""

    def storage_entry(self, pallet: str, item: str) -> Any | None:
        p = self.metadata.get_metadata_pallet(pallet)
        if p is None:
            return None
        return p.get_storage_function(item)

    def has_storage(self, pallet: str, item: str) -> bool:
        return self.storage_entry(pallet, item) is not None

    def type_string(self, type_id: int) -> str:
        return f"scale_info::{type_id}"

    def decode(self, type_string: str, data: bytes) -> Any:
        obj = self.runtime_config.create_scale_object(type_string, data=ScaleBytes(bytearray(data)))
        return obj.decode()

    def encode(self, type_string: str, value: Any) -> bytes:
        obj = self.runtime_config.create_scale_object(type_string)
        return bytes(obj.encode(value).data)


_cache: dict[str, RuntimeTypes] = {}
_lock = threading.Lock()


def _base_config() -> RuntimeConfigurationObject:
    rc = RuntimeConfigurationObject(ss58_format=42)
    rc.update_type_registry(load_type_registry_preset("legacy"))
    rc.update_type_registry(load_type_registry_preset("core"))
    rc.update_type_registry({"types": _V15_TYPES})
    return rc


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
    """Decode metadata (V14 or V15) into :class:`RuntimeTypes`; cached by content digest.

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
    rc = _base_config()
    try:
        md = rc.create_scale_object("TaoMetadataVersioned", data=ScaleBytes(bytearray(data)))
        md.decode()
        rc.add_portable_registry(md)
    except Exception as e:  # scalecodec raises bare exceptions of many kinds
        raise MetadataError(f"metadata V{version} {source} does not decode: {e}".replace("  ", " ")) from None
    spec = _spec_version(rc, md)
    apis: dict[str, RuntimeApiMethod] = {}
    if version >= 15:
        for api in md[1][1]["apis"].value:
            for m in api["methods"]:
                entry = RuntimeApiMethod(
                    api["name"],
                    m["name"],
                    tuple((i["name"], int(i["type"])) for i in m["inputs"]),
                    int(m["output"]),
                )
                apis[entry.call_name] = entry
    rt = RuntimeTypes(spec, version, rc, md, apis, digest)
    with _lock:
        _cache[digest] = rt
    return rt


def load_metadata_file(path: str | Path) -> RuntimeTypes:
    """Load a ``*.hex`` (0x…) or raw SCALE (``*.scale``) metadata file."""
    p = Path(path)
    blob = p.read_bytes()
    raw: str | bytes = blob if blob[:4] == _MAGIC else blob.decode("ascii", "replace")
    return load_metadata(raw, source=p.name)


def _spec_version(rc: RuntimeConfigurationObject, md: Any) -> int:
    system = md.get_metadata_pallet("System")
    if system is None:
        raise MetadataError("metadata has no System pallet")
    for const in system["constants"]:
        if const["name"] == "Version":
            obj = rc.create_scale_object(
                f"scale_info::{const['type'].value}",
                data=ScaleBytes(bytearray(const["value"].value_object)),
            )
            return int(obj.decode()["spec_version"])
    raise MetadataError("metadata has no System.Version constant")

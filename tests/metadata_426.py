"""Runtime metadata that declares the storage types of specs ≥ 426, built from real metadata.

No recording of a ≥ 426 chain exists here, so the closest honest stand-in is the real spec-393
metadata (``../shared/chain-data/asi-ws-spec393``, finney) with exactly the declarations the
newer runtimes changed, rewritten through scalecodec's own metadata codec (the spec-393 blob
decodes and re-encodes byte for byte, checked below):

* ``netuid`` keys become the composite ``subtensor_runtime_common::NetUid(u16)``, and the
  per-mechanism keys ``NetUidStorageIndex(u16)`` (RaoFoundation/subtensor
  ``pallets/subtensor/src/epoch/run_epoch.rs@76671f67`` imports both from
  ``subtensor_runtime_common``; the spec-393 registry still declares them as plain ``u16``);
* ``Consensus``/``Incentive``/``Dividends``/``ValidatorTrust`` hold ``Vec<PerU16>``
  (``PerU16::from_parts`` at the storage boundary, same file, ``persist_netuid_epoch_terms``);
* ``LiquidAlphaConsensusMode``: ``NetUid → ConsensusMode {Current, Previous, Auto}``, storage
  default ``Auto`` (PR #3070; SCALE indices 0/1/2 as ``../shared/epoch-snapshot-459/README.md``
  documents them). Its hasher is our choice (Identity): chainkit takes hashers from metadata;
* the dynamic-tempo items of spec 423 that the spec-393 registry predates
  (``ActivityCutoffFactorMilli: u32``, ``LastEpochBlock``/``PendingEpochAt``/``SubnetEpochIndex:
  u64``; opentensor/subtensor ``pallets/subtensor/src/lib.rs`` at the spec-425 commit 14bc6f9f9);
* the ``System.Version`` constant carries the requested ``spec_version``.

What this cannot show: that a real runtime's metadata looks exactly like this (names of paths,
hashers). It does show that chainkit reads every new type through the metadata it is given.
"""

from __future__ import annotations

import copy
from functools import lru_cache
from pathlib import Path
from typing import Any

from scalecodec.base import ScaleBytes

from taoaudit.chainkit.metadata import RuntimeTypes, _base_config, load_metadata, metadata_bytes

CHAIN_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "chain-data"
SOURCE = CHAIN_DATA / "asi-ws-spec393" / "metadata_v15_spec393_option.hex"
U16, U32, U64 = 40, 4, 6  # scale_info ids of u16, u32, u64 in the spec-393 registry
#: (item, value type, SCALE default) declared from spec 423 on
_TEMPO_ITEMS = (("ActivityCutoffFactorMilli", U32, (13_889).to_bytes(4, "little")),
                ("LastEpochBlock", U64, bytes(8)), ("PendingEpochAt", U64, bytes(8)),
                ("SubnetEpochIndex", U64, bytes(8)))  # fmt: skip

#: items keyed by NetUidStorageIndex (netuid + mechanism · 4096) rather than NetUid
_INDEXED = {"Weights", "Bonds", "LastUpdate", "Incentive", "WeightCommits", "TimelockedWeightCommits",
            "CRV3WeightCommits", "CRV3WeightCommitsV2"}  # fmt: skip
_PER_U16 = ("Consensus", "Incentive", "Dividends", "ValidatorTrust")
#: items whose u16 key positions are not netuids (uid, …): left as they are
_NOT_NETUID = {"TransactionKeyLastBlock"}


@lru_cache(maxsize=1)
def _decoded_393() -> Any:
    rc = _base_config()
    obj = rc.create_scale_object("TaoMetadataVersioned", data=ScaleBytes(bytearray(metadata_bytes(SOURCE.read_text()))))
    return obj.decode()


def _encode(value: Any) -> bytes:
    return bytes(_base_config().create_scale_object("TaoMetadataVersioned").encode(value).data)


def roundtrip_is_exact() -> bool:
    """scalecodec re-encodes the untouched spec-393 metadata to the very bytes it came from."""
    return _encode(_decoded_393()) == metadata_bytes(SOURCE.read_text())


def _set_spec_version(version_hex: str, spec: int) -> str:
    # RuntimeVersion: spec_name (Text), impl_name (Text), authoring_version u32, spec_version u32, …
    b = bytearray.fromhex(version_hex[2:])
    off = 0
    for _ in range(2):
        n = b[off] >> 2  # both names are shorter than 64 bytes: one-byte compact
        assert b[off] & 3 == 0
        off += 1 + n
    off += 4
    b[off : off + 4] = spec.to_bytes(4, "little")
    return "0x" + b.hex()


@lru_cache(maxsize=8)
def metadata_blob(spec: int, *, consensus_mode_item: bool = True, consensus_by_mechanism: bool = False) -> bytes:
    """The spec-393 metadata with the ≥ 426 declarations (see the module docstring).

    ``consensus_by_mechanism``: also declare ``ConsensusByMechanism: NetUidStorageIndex →
    Vec<PerU16>``, which later source versions keep beside ``Consensus``."""
    md = copy.deepcopy(_decoded_393())
    body = md[1]["V15"]
    types: list[dict] = body["types"]["types"]
    next_id = max(t["id"] for t in types) + 1

    def add(path: list[str], definition: dict) -> int:
        nonlocal next_id
        types.append({"id": next_id, "type": {"path": path, "params": [], "def": definition, "docs": []}})
        next_id += 1
        return next_id - 1

    def newtype(path: list[str], inner: int, name: str) -> dict:
        return {"composite": {"fields": [{"name": None, "type": inner, "typeName": name, "docs": []}]}}

    netuid = add(["subtensor_runtime_common", "NetUid"], newtype([], U16, "u16"))
    index = add(["subtensor_runtime_common", "NetUidStorageIndex"], newtype([], U16, "u16"))
    per_u16 = add(["sp_arithmetic", "per_things", "PerU16"], newtype([], U16, "u16"))
    vec_per_u16 = add([], {"sequence": {"type": per_u16}})
    mode = add(["pallet_subtensor", "epoch", "run_epoch", "ConsensusMode"], {"variant": {"variants": [
        {"name": name, "fields": [], "index": i, "docs": []} for i, name in enumerate(("Current", "Previous", "Auto"))
    ]}})  # fmt: skip
    by_id = {t["id"]: t for t in types}
    tuples: dict[tuple[int, ...], int] = {}

    def tuple_of(ids: tuple[int, ...]) -> int:
        if ids not in tuples:
            tuples[ids] = add([], {"tuple": list(ids)})
        return tuples[ids]

    pallet = next(p for p in body["pallets"] if p["name"] == "SubtensorModule")
    for entry in pallet["storage"]["entries"]:
        name, ty = entry["name"], entry["type"]
        if "Map" not in ty or name in _NOT_NETUID:
            continue
        m = ty["Map"]
        key_type = index if name in _INDEXED else netuid
        if len(m["hashers"]) == 1:
            if m["key"] == U16:
                m["key"] = key_type
        else:
            parts = tuple(by_id[m["key"]]["type"]["def"]["tuple"])
            # the first u16 of a (netuid, uid) key is the netuid; the uid stays a u16
            first = parts.index(U16) if U16 in parts else None
            if first is not None:
                m["key"] = tuple_of(parts[:first] + (key_type,) + parts[first + 1 :])
        if name in _PER_U16:
            m["value"] = vec_per_u16
    declared = {e["name"] for e in pallet["storage"]["entries"]}
    for item, value_type, default in _TEMPO_ITEMS:
        if item not in declared:
            # scalecodec gives and takes these Bytes as text; keep every byte ASCII
            assert max(default) < 0x80, item
            pallet["storage"]["entries"].append({
                "name": item, "modifier": "Default",
                "type": {"Map": {"hashers": ["Identity"], "key": netuid, "value": value_type}},
                "default": default.decode("latin-1"), "documentation": [],
            })  # fmt: skip
    if consensus_mode_item:
        pallet["storage"]["entries"].append({
            "name": "LiquidAlphaConsensusMode", "modifier": "Default",
            "type": {"Map": {"hashers": ["Identity"], "key": netuid, "value": mode}},
            "default": "\x02", "documentation": [" --- MAP ( netuid ) --> liquid alpha consensus mode"],
        })  # fmt: skip
    if consensus_by_mechanism:
        pallet["storage"]["entries"].append({
            "name": "ConsensusByMechanism", "modifier": "Default",
            "type": {"Map": {"hashers": ["Identity"], "key": index, "value": vec_per_u16}},
            "default": "\x00", "documentation": [],
        })  # fmt: skip
    system = next(p for p in body["pallets"] if p["name"] == "System")
    version = next(c for c in system["constants"] if c["name"] == "Version")
    version["value"] = _set_spec_version(version["value"], spec)
    return _encode(md)


def runtime(spec: int, *, consensus_mode_item: bool = True, consensus_by_mechanism: bool = False) -> RuntimeTypes:
    blob = metadata_blob(spec, consensus_mode_item=consensus_mode_item, consensus_by_mechanism=consensus_by_mechanism)
    return load_metadata(blob, source=f"synthetic-spec{spec}")

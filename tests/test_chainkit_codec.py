"""The registry-driven decoders (chainkit.codec) against scalecodec, value by value, and the
on-disk metadata cache (chainkit.metamodel)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from scalecodec.base import ScaleBytes
from scalecodec.utils.ss58 import ss58_encode

from taoaudit.chainkit import codec, metadata, metamodel
from taoaudit.chainkit.errors import DecodeError
from taoaudit.chainkit.metadata import load_metadata, load_metadata_file, metadata_bytes
from taoaudit.chainkit.scale import to_plain

ROOT = Path(__file__).resolve().parents[1]
CHAIN_DATA = ROOT.parent / "shared" / "chain-data"
V15_343 = CHAIN_DATA / "bittensor-ws" / "metadata_v15_spec343_option.hex"
RECORDING = CHAIN_DATA / "bittensor-ws" / "ws_responses.json"
SPEC103 = ROOT / "fixtures" / "localnet" / "recording" / "metadata_v14_spec103.hex"
BUNDLED = [ROOT / "fixtures" / "localnet" / "recording" / n for n in ("chainkit_spec103.json", "localnet_spec103.json")]
EVENTS_KEY = "0x26aa394eea5630e07c48ae0c9558cef780d41e5e16056765bc8461851072c9d7"
pytestmark = pytest.mark.ground_truth("chain-data")


def _scalecodec(rt, type_id: int, data: bytes):
    obj = rt.runtime_config.create_scale_object(f"scale_info::{type_id}", data=ScaleBytes(bytearray(data)))
    obj.decode(check_remaining=True)
    return to_plain(obj)


@pytest.mark.parametrize(
    "path",
    [V15_343, CHAIN_DATA / "bittensor-ws-history" / "metadata_v14_spec224.hex",
     CHAIN_DATA / "asi-ws-spec393" / "metadata_v15_spec393_option.hex", SPEC103],
    ids=["343-v15", "224-v14", "393-v15", "103-v14"],
)  # fmt: skip
def test_every_constant_and_storage_default_decodes_as_scalecodec_does(path: Path) -> None:
    rt = load_metadata_file(path)
    checked, unsupported = 0, []
    for pallet, p in rt.model["pallets"].items():
        values = [(f"{pallet}.{c}", ty, v) for c, (ty, v) in p["constants"].items()]
        values += [(f"{pallet}.{i} default", e[3], e[4]) for i, e in p["storage"].items()]
        for name, ty, hexed in values:
            data = bytes.fromhex(hexed)
            try:
                theirs = _scalecodec(rt, ty, data)
            except Exception:  # noqa: BLE001 - a few defaults do not decode (then ours must refuse too)
                theirs = DecodeError
            try:
                ours = rt.codec.decode(ty, data)
            except codec.Unsupported:
                unsupported.append(name)
                continue
            except DecodeError:
                ours = DecodeError
            assert ours == theirs, name
            checked += 1
    assert checked > 100
    assert len(unsupported) <= 4, unsupported  # types scalecodec decodes its own way (calls, ...)


def _recorded_api_results() -> list[tuple[str, bytes]]:
    calls = json.loads(RECORDING.read_text())["metagraph"]["state_call"]
    return [(json.loads(k)[0], bytes.fromhex(r["result"][2:])) for k, r in calls.items()]


def test_the_metagraph_runtime_api_results_equal_scalecodec_field_by_field() -> None:
    rt = load_metadata_file(V15_343)
    results = _recorded_api_results()
    assert {name for name, _ in results} == {
        "NeuronInfoRuntimeApi_get_neurons_lite", "SubnetInfoRuntimeApi_get_subnet_state",
        "SubnetInfoRuntimeApi_get_selective_mechagraph",
    }  # fmt: skip
    for name, data in results:
        tid = rt.apis[name].output
        ours, theirs = rt.codec.decode(tid, data), _scalecodec(rt, tid, data)
        if isinstance(theirs, list):  # Vec<NeuronInfoLite>
            assert len(ours) == len(theirs) == 1024
            for uid, (a, b) in enumerate(zip(ours, theirs)):
                for field in b:
                    assert a[field] == b[field], (name, uid, field)
                assert set(a) == set(b)
        else:
            for field in theirs:
                assert ours[field] == theirs[field], (name, field)
            assert set(ours) == set(theirs)


def _recorded_events():
    for path in BUNDLED:
        for rec in json.loads(path.read_text()).values():
            for resp in rec.get("state_queryStorageAt", {}).values():
                for change_set in (resp.get("result") if isinstance(resp, dict) else resp) or []:
                    for key, value in change_set.get("changes", []):
                        if key.lower() == EVENTS_KEY and value:
                            yield bytes.fromhex(value[2:])


def _lists(x):
    if isinstance(x, (list, tuple)):
        return [_lists(i) for i in x]
    if isinstance(x, dict):
        return {k: _lists(v) for k, v in x.items()}
    return x


def test_events_decode_as_scalecodecs_event_records() -> None:
    rt = load_metadata_file(SPEC103)
    ty = rt.storage_info("System", "Events").value_type
    blocks = list(_recorded_events())
    assert len(blocks) >= 5
    for data in blocks:
        obj = rt.runtime_config.create_scale_object(f"scale_info::{ty}", data=ScaleBytes(bytearray(data)))
        records = obj.decode(check_remaining=True)
        expected = [(r["phase"], r["module_id"], r["event_id"], _lists(r["attributes"])) for r in records]
        got = [(a, b, c, _lists(d)) for a, b, c, d in rt.decode_events(data)]
        assert got == expected


def test_ss58_both_ways_match_scalecodec() -> None:
    keys = [os.urandom(32) for _ in range(300)] + [bytes(32), b"\xff" * 32]
    assert codec.ss58_many(keys) == [ss58_encode(k, ss58_format=42) for k in keys]
    for k in keys[:40]:
        for prefix in (42, 0, 1000):
            address = ss58_encode(k, ss58_format=prefix)
            codec._ss58_memo.clear()
            assert codec.ss58(k, prefix) == address
            assert codec.ss58_decode(address) == k
    bad = ss58_encode(keys[0], ss58_format=42)
    bad = bad[:-1] + ("2" if bad[-1] != "2" else "3")
    with pytest.raises(ValueError):
        codec.ss58_decode(bad)


def test_keys_and_arguments_encode_as_scalecodec_encodes() -> None:
    rt = load_metadata_file(V15_343)
    account = ss58_encode(bytes(range(32)), ss58_format=42)
    cases = [
        (rt.storage_info("SubtensorModule", "Weights").key_types[0], 7),
        (rt.storage_info("SubtensorModule", "Owner").key_types[0], account),
        (rt.storage_info("SubtensorModule", "TotalHotkeyAlpha").key_types[1], 3),
    ]
    method = rt.apis["SubnetInfoRuntimeApi_get_selective_mechagraph"]
    cases += [(ty, v) for (_, ty), v in zip(method.inputs, [1, 0, list(range(74))])]
    for ty, value in cases:
        obj = rt.runtime_config.create_scale_object(f"scale_info::{ty}")
        assert rt.encode_type(ty, value) == bytes(obj.encode(value).data), (ty, value)


def test_bad_bytes_are_decode_errors_not_numbers() -> None:
    rt = load_metadata_file(V15_343)
    weights = rt.storage_info("SubtensorModule", "Weights").value_type  # Vec<(u16, u16)>
    good = bytes([4]) + (5).to_bytes(2, "little") + (9).to_bytes(2, "little")
    assert rt.codec.decode(weights, good) == [[5, 9]]
    for bad in (good[:-1], good + b"\0", bytes([8]) + good[1:]):
        with pytest.raises(DecodeError):
            rt.codec.decode(weights, bad)
    active = rt.storage_info("SubtensorModule", "Active").value_type  # Vec<bool>
    with pytest.raises(DecodeError):
        rt.codec.decode(active, bytes([4, 2]))


# -- the metadata cache -----------------------------------------------------------------------
@pytest.fixture
def cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TAOAUDIT_CACHE", str(tmp_path))
    monkeypatch.setattr(metadata, "_cache", {})
    return tmp_path


def _cache_files(root: Path) -> list[Path]:
    return sorted((root / "metadata").rglob("*.json"))


def test_metadata_is_parsed_once_and_cached_as_json(cache_home, monkeypatch) -> None:
    raw = V15_343.read_text()
    first = load_metadata(raw)
    files = _cache_files(cache_home)
    assert len(files) == 1 and files[0].name == f"{first.digest}.json"
    body = json.loads(files[0].read_text())  # JSON, not pickle
    assert body["format"] == metamodel.FORMAT and body["package_version"] == metamodel.package_version()
    assert f"v{metamodel.FORMAT}-{metamodel.package_version()}" == files[0].parent.name

    monkeypatch.setattr(metadata, "_cache", {})

    def no_parse(data):
        raise AssertionError("parsed again although cached")

    monkeypatch.setattr(metadata, "parse_metadata", no_parse)
    again = load_metadata(raw)
    assert again.spec_version == 343 and again.apis.keys() == first.apis.keys()


@pytest.mark.parametrize("damage", ["garbage", "truncated", "other digest", "other format"])
def test_an_unreadable_cache_entry_is_ignored_and_rewritten(cache_home, monkeypatch, damage) -> None:
    raw = V15_343.read_text()
    load_metadata(raw)
    (path,) = _cache_files(cache_home)
    text = path.read_text()
    if damage == "garbage":
        path.write_bytes(b"\x80not json")
    elif damage == "truncated":
        path.write_text(text[: len(text) // 2])
    else:
        body = json.loads(text)
        body["digest" if damage == "other digest" else "format"] = "x"
        path.write_text(json.dumps(body))
    monkeypatch.setattr(metadata, "_cache", {})
    rt = load_metadata(raw)
    assert rt.spec_version == 343
    assert json.loads(path.read_text())["digest"] == rt.digest  # written again, whole


def test_a_new_package_version_does_not_read_the_old_cache(cache_home, monkeypatch) -> None:
    raw = V15_343.read_text()
    load_metadata(raw)
    monkeypatch.setattr(metadata, "_cache", {})
    monkeypatch.setattr(metamodel, "package_version", lambda: "999.0")
    load_metadata(raw)
    dirs = sorted(p.parent.name for p in _cache_files(cache_home))
    assert len(dirs) == 2 and f"v{metamodel.FORMAT}-999.0" in dirs


def test_an_unwritable_cache_is_only_skipped(tmp_path, monkeypatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("TAOAUDIT_CACHE", str(blocker))
    monkeypatch.setattr(metadata, "_cache", {})
    assert load_metadata(metadata_bytes(V15_343.read_text())).spec_version == 343


def _type_id(rt, kind: str, inner_kind: str, inner_prim: str | None = None) -> int:
    for tid, (_path, d) in rt.codec.types.items():
        if d[0] != kind:
            continue
        sub = rt.codec.types[d[1]][1]
        if sub[0] == inner_kind and (inner_prim is None or rt.codec.types[sub[1]][1] == ["primitive", inner_prim]):
            return tid
    raise LookupError(kind)


@pytest.mark.parametrize("seed", range(5))
def test_compact_vectors_with_zero_runs_match_scalecodec(seed: int) -> None:
    """The zero-run shortcut of Vec<Compact<_>> on mixed values (the recorded ones are all 0)."""
    import random

    from taoaudit.chainkit.codec import compact_bytes as compact

    rng = random.Random(seed)
    rt = load_metadata_file(V15_343)
    tid = _type_id(rt, "sequence", "compact", "u64")
    values = []
    for _ in range(rng.randrange(0, 300)):
        r = rng.random()
        values += [0] * rng.randrange(1, 20) if r < 0.4 else [rng.choice([1, 63, 64, 2**14, 2**30, 2**64 - 1])]
    data = compact(len(values)) + b"".join(compact(v) for v in values)
    assert rt.codec.decode(tid, data) == values == _scalecodec(rt, tid, data)
    if values:
        with pytest.raises(DecodeError):
            rt.codec.decode(tid, compact(len(values) + 1) + data[len(compact(len(values))) :])


@pytest.mark.parametrize("path", [V15_343, SPEC103], ids=["343", "103"])
def test_map_keys_decode_to_scalecodecs_raw_values(path: Path) -> None:
    """RuntimeTypes.decode (map keys out of storage keys) gives scalecodec's .value."""
    import random

    rng = random.Random(7)
    rt = load_metadata_file(path)
    checked = 0
    for p in rt.model["pallets"].values():
        for item in p["storage"]:
            info = rt.storage_info(next(n for n, q in rt.model["pallets"].items() if q is p), item)
            for ty in info.key_types:
                size = rt.fixed_size(ty)
                if not size:
                    continue
                data = bytes(rng.randrange(256) for _ in range(size))
                obj = rt.runtime_config.create_scale_object(f"scale_info::{ty}", data=ScaleBytes(bytearray(data)))
                try:
                    expected = obj.decode()
                except Exception:  # noqa: BLE001 - random bytes need not be a valid value
                    continue
                assert _lists(rt.decode(f"scale_info::{ty}", data)) == _lists(expected), (item, ty)
                checked += 1
    assert checked > 20


@pytest.mark.parametrize("b_value", [0, 1, -1, 2**63, -(2**63) - 1, 2**127 - 1, -(2**127)])
def test_128_bit_fields_inside_a_fixed_width_run_read_as_one_number(b_value: int) -> None:
    """u128/i128 between fixed-width fields are read as two 64-bit halves in one struct call
    (AxonInfo's ip): the joined value must equal the 16 bytes read as one integer."""
    import random

    types = {
        0: ([], ["primitive", "u32"]), 1: ([], ["primitive", "i128"]), 2: ([], ["primitive", "u128"]),
        3: ([], ["primitive", "u16"]), 9: ([], ["composite", [["a", 0], ["b", 1], ["c", 2], ["d", 3]]]),
    }  # fmt: skip
    c_value = random.Random(b_value).randrange(2**128)
    data = (
        (7).to_bytes(4, "little") + b_value.to_bytes(16, "little", signed=True)
        + c_value.to_bytes(16, "little") + (65535).to_bytes(2, "little")
    )  # fmt: skip
    assert codec.Codec(types).decode(9, data) == {"a": 7, "b": b_value, "c": c_value, "d": 65535}


@pytest.mark.parametrize("last", [2**14, 2**30 - 1, 63, 2**14 - 1, 2**30])
def test_vectors_of_four_byte_compacts_match_scalecodec(last: int) -> None:
    """The numpy path for Vec<Compact<_>> whose compacts are all four bytes (block numbers),
    and the fallback when the last one is not; cut short, it is a decode error."""
    import random

    from taoaudit.chainkit.codec import compact_bytes as compact

    rng = random.Random(last)
    rt = load_metadata_file(V15_343)
    tid = _type_id(rt, "sequence", "compact", "u64")
    values = [rng.randrange(2**14, 2**30) for _ in range(99)] + [last]
    data = compact(len(values)) + b"".join(compact(v) for v in values)
    assert rt.codec.decode(tid, data) == values == _scalecodec(rt, tid, data)
    with pytest.raises(DecodeError):
        rt.codec.decode(tid, data[:-1])

"""Metadata of every recorded runtime loads with its own types; V16 is refused clearly."""

from __future__ import annotations

from pathlib import Path

import pytest

from taoaudit.chainkit import errors
from taoaudit.chainkit.metadata import load_metadata_file, metadata_bytes

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
CHAIN_DATA = SHARED / "chain-data"
pytestmark = pytest.mark.ground_truth("chain-data")

# One blob per spec (V15 where there is one: the metagraph tests reuse the cached load).
BLOBS = {
    224: ("bittensor-ws-history/metadata_v14_spec224.hex", 14),
    233: ("bittensor-ws-history/metadata_v15_spec233_option.hex", 15),
    315: ("bittensor-ws-history/metadata_v14_spec315.hex", 14),
    320: ("bittensor-ws-history/metadata_v15_spec320_option.hex", 15),
    343: ("bittensor-ws/metadata_v15_spec343_option.hex", 15),
    393: ("asi-ws-spec393/metadata_v15_spec393_option.hex", 15),
}


@pytest.mark.parametrize("spec", sorted(BLOBS))
def test_metadata_loads_per_spec(spec: int) -> None:
    path, version = BLOBS[spec]
    rt = load_metadata_file(CHAIN_DATA / path)
    assert rt.spec_version == spec  # read from System.Version inside the blob
    assert rt.metadata_version == version
    weights = rt.storage_entry("SubtensorModule", "Weights")
    assert weights is not None
    assert weights.get_param_hashers() == ["Identity", "Identity"]
    if version == 15:
        lite = rt.apis["NeuronInfoRuntimeApi_get_neurons_lite"]
        assert [name for name, _ in lite.inputs] == ["netuid"]
    else:
        assert rt.apis == {}


def test_v16_is_an_unsupported_metadata_version() -> None:
    path = CHAIN_DATA / "cortexlm-metadata-v16" / "finney_metadata_v16_spec393.scale"
    with pytest.raises(errors.UnsupportedMetadataVersion) as e:
        load_metadata_file(path)
    assert e.value.version == 16
    assert "V16" in str(e.value) and "\n" not in str(e.value)
    assert isinstance(e.value, errors.ChainError)


def test_option_wrapper_and_plain_forms_give_the_same_bytes() -> None:
    text = (CHAIN_DATA / "bittensor-ws" / "metadata_v15_spec343_option.hex").read_text()
    plain = metadata_bytes(text)
    assert plain[:5] == b"meta\x0f"
    assert metadata_bytes(plain) == plain


def test_garbage_is_a_metadata_error() -> None:
    with pytest.raises(errors.MetadataError):
        metadata_bytes("0x0102030405")

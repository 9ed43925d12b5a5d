"""chainkit: read subtensor state at any block, with that block's own types.

Layers, bottom up: transport (:mod:`chainkit.rpc`, :mod:`chainkit.replay`) → backend
(JSON-RPC + per-spec metadata, :mod:`chainkit.client`, :mod:`chainkit.metadata`, with the
registry-driven decoders of :mod:`chainkit.codec`) → storage layout per era
(:mod:`chainkit.layout`) → typed results (:mod:`chainkit.metagraph`, :mod:`chainkit.epoch`,
:mod:`chainkit.snapshot`).

The names below are imported on first use (PEP 562), so ``import taoaudit.chainkit.errors``
(every CLI command does, to turn errors into one line) does not load the whole package.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Block": "client", "BlockRef": "client", "Chain": "client",
    "find_epoch_block": "epoch", "snapshot_epoch": "epoch",
    "ChainError": "errors",
    "Layout": "layout", "era_for_spec": "layout",
    "Metagraph": "metagraph", "snapshot_metagraph": "metagraph",
    "RecordingTransport": "replay", "ReplayTransport": "replay",
    "load_epoch": "snapshot", "load_metagraph": "snapshot", "save_epoch": "snapshot",
    "save_metagraph": "snapshot",
}  # fmt: skip

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))

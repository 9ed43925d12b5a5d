"""chainkit: read subtensor state at any block, with that block's own types.

Layers, bottom up: transport (:mod:`chainkit.rpc`, :mod:`chainkit.replay`) → backend
(substrate-interface + per-spec metadata, :mod:`chainkit.client`, :mod:`chainkit.metadata`)
→ storage layout per era (:mod:`chainkit.layout`) → typed results (:mod:`chainkit.metagraph`,
:mod:`chainkit.epoch`, :mod:`chainkit.snapshot`).
"""

from .client import Block, BlockRef, Chain
from .epoch import find_epoch_block, snapshot_epoch
from .errors import ChainError
from .layout import Era, era_for_spec
from .metagraph import Metagraph, snapshot_metagraph
from .replay import RecordingTransport, ReplayTransport
from .snapshot import load_epoch, load_metagraph, save_epoch, save_metagraph

__all__ = [
    "Block", "BlockRef", "Chain", "ChainError", "Era", "Metagraph", "RecordingTransport",
    "ReplayTransport", "era_for_spec", "find_epoch_block", "load_epoch", "load_metagraph",
    "save_epoch", "save_metagraph", "snapshot_epoch", "snapshot_metagraph",
]  # fmt: skip

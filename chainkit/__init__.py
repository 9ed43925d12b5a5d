"""chainkit: read subtensor state at any block, with that block's own types.

Layers, bottom up: transport (:mod:`chainkit.rpc`, :mod:`chainkit.replay`) → backend
(substrate-interface + per-spec metadata, :mod:`chainkit.client`, :mod:`chainkit.metadata`)
→ storage layout per era (:mod:`chainkit.layout`) → typed results (:mod:`chainkit.metagraph`,
:mod:`chainkit.epoch`, :mod:`chainkit.snapshot`).
"""

from .client import Block, BlockRef, Chain
from .errors import ChainError

__all__ = ["Block", "BlockRef", "Chain", "ChainError"]

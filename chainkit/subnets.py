"""Which subnets exist at a block.

Kept apart from :mod:`chainkit.audit` so that commands reading one subnet (``metagraph``,
``snapshot save``) check the netuid without importing the epoch machinery (consensus).
"""

from __future__ import annotations

from .client import Chain
from .errors import MissingRecordingEntry, UnknownNetuid


def subnet_netuids(chain: Chain, block: int | str | None = None) -> list[int]:
    """Every subnet that exists at ``block`` (default head)."""
    blk = chain.at(block if block is not None else chain.head().number)
    keys = blk.keys(blk.storage_prefix("SubtensorModule", "NetworksAdded"))
    netuids = []
    for k in keys:
        suffix = blk.key_suffix("SubtensorModule", "NetworksAdded", k, 0)
        netuids.append(int.from_bytes(suffix[-2:], "little"))
    return sorted(netuids)


def require_subnet(chain: Chain, netuid: int, block: int | str | None = None) -> None:
    """Refuse a netuid that is not a subnet, naming the ones that exist.

    Checked at ``block`` (default head). A recording that holds the subnet list only at its
    head is checked there, and the message says so.
    """
    where = block
    try:
        existing = subnet_netuids(chain, block)
    except MissingRecordingEntry:
        if block is None:
            return
        try:
            existing = subnet_netuids(chain, None)
            where = f"{chain.head().number} (the recording's head)"
        except MissingRecordingEntry:
            return  # the recording cannot tell; the reads themselves will say what is missing
    if netuid not in existing:
        raise UnknownNetuid(netuid, where if where is not None else chain.head().number, existing)

"""Audit epochs: read what an epoch saw and wrote, recompute it exactly, diff per UID.

This is the library behind `taoaudit verify` and `taoaudit audit`: chain reads come from
:mod:`chainkit.epoch`, the recomputation and the diff from :mod:`consensus`. Results are plain
dataclasses with a JSON form; presentation is the CLI's business.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from taoaudit.consensus.diff import UidMismatch, diff_chain_outputs
from taoaudit.consensus.model import EpochInputs, EpochOutputs
from taoaudit.consensus.registry import run_epoch, variant_for

from .client import Chain
from .epoch import _epoch_era as epoch_era, find_epoch_block, needs_rao_emission, pending_emission, snapshot_epoch
from .errors import ChainError
from .files import atomic_write

CACHE_VERSION = 1


@dataclass(frozen=True)
class EpochAudit:
    """One epoch of one subnet, recomputed and compared with what the chain stored."""

    netuid: int
    epoch_block: int
    block_hashes: dict[str, str | None]  # {"inputs": hash of E−1, "outputs": hash of E}
    spec_version: int
    variant: str
    uids_compared: int
    fields_compared: list[str]
    mismatches: list[UidMismatch]
    hotkeys: tuple[str, ...] | None = None
    cached: bool = False
    #: {"value", "source": "stored" | "inferred", "range": [lo, hi] | None}; see consensus.emission
    rao_emission: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def hotkey(self, uid: int) -> str | None:
        return self.hotkeys[uid] if self.hotkeys and uid < len(self.hotkeys) else None

    def to_json(self) -> dict[str, Any]:
        return {
            "netuid": self.netuid,
            "epoch_block": self.epoch_block,
            "block_hashes": self.block_hashes,
            "spec_version": self.spec_version,
            "variant": self.variant,
            "uids_compared": self.uids_compared,
            "fields_compared": self.fields_compared,
            "rao_emission": self.rao_emission,
            "mismatches": [{"hotkey": self.hotkey(m.uid), **m.as_json()} for m in self.mismatches],
        }

    @classmethod
    def from_json(cls, d: dict[str, Any], cached: bool = False) -> "EpochAudit":
        mismatches = [UidMismatch(m["uid"], m["field"], m["chain"], m["recomputed"]) for m in d["mismatches"]]
        hotkeys = d.get("hotkeys")
        return cls(
            d["netuid"], d["epoch_block"], d["block_hashes"], d["spec_version"], d["variant"],
            d["uids_compared"], d["fields_compared"], mismatches,
            tuple(hotkeys) if hotkeys else None, cached, d.get("rao_emission"),
        )


def infer_rao_emission(
    inputs: EpochInputs, chain_outputs: EpochOutputs, spec_version: int, floor: int = 0,
    engine: str = "reference",
) -> dict[str, Any]:
    """The amounts that reproduce the stored Emission exactly (consensus.emission), at least
    ``floor`` (what was already pending at E−1)."""
    from taoaudit.consensus.emission import best_rao_emission, rao_emission_bounds

    # Emission_i = floor(x_i · rao / 2^32): with rao = 2^32 the epoch returns the exact
    # I32F32 shares x_i themselves, on whichever engine is fastest.
    unit = run_epoch(inputs.with_changes(rao_emission=1 << 32), spec_version, engine=engine)  # type: ignore[arg-type]
    shares = unit.emission.tolist()[: inputs.n]
    stored = chain_outputs.emission.tolist()
    bounds = rao_emission_bounds(shares, stored)
    if bounds is not None and bounds[1] >= floor:
        lo = max(bounds[0], floor)
        return {"value": lo, "source": "inferred", "range": [lo, bounds[1]]}
    return {"value": max(best_rao_emission(shares, stored), floor), "source": "inferred", "range": None}


def compare_epoch(
    inputs: EpochInputs,
    chain_outputs: EpochOutputs,
    spec_version: int,
    *,
    engine: str = "reference",
    epoch_block: int | None = None,
    block_hashes: dict[str, str | None] | None = None,
    infer_rao_from: int | None = None,
) -> tuple[EpochAudit, EpochOutputs]:
    """Recompute ``inputs`` with the variant of ``spec_version`` and diff against the chain.

    ``infer_rao_from``: the epoch's ``rao_emission`` is not in the chain (dTAO eras); recover
    it from the stored Emission, no lower than this pending amount. Emission is then checked
    for consistency with one amount, every other field exactly as always.
    """
    variant = variant_for(spec_version)
    rao_info: dict[str, Any] = {"value": inputs.rao_emission, "source": "stored", "range": None}
    if infer_rao_from is not None:
        rao_info = infer_rao_emission(inputs, chain_outputs, spec_version, infer_rao_from, engine)
        inputs = inputs.with_changes(rao_emission=rao_info["value"])
    recomputed = run_epoch(inputs, spec_version, engine=engine)  # type: ignore[arg-type]
    fields, mismatches = diff_chain_outputs(chain_outputs, recomputed, inputs.n)
    audit = EpochAudit(
        netuid=inputs.netuid,
        epoch_block=epoch_block if epoch_block is not None else inputs.current_block,
        block_hashes=block_hashes or {"inputs": None, "outputs": None},
        spec_version=spec_version,
        variant=variant.name,
        uids_compared=inputs.n,
        fields_compared=fields,
        mismatches=mismatches,
        hotkeys=inputs.hotkeys,
        rao_emission=rao_info,
    )
    return audit, recomputed


@dataclass(frozen=True)
class EpochRead:
    """An epoch as read from a chain: the inputs at E−1, the outputs at E, and where from."""

    inputs: EpochInputs
    outputs: EpochOutputs
    spec_version: int
    epoch_block: int
    block_hashes: dict[str, str | None]
    #: dTAO eras: the chain does not store rao_emission; inputs carry this pending lower bound
    rao_emission_floor: int | None = None


def require_subnet(chain: Chain, netuid: int, block: int | str | None = None) -> None:
    """Refuse a netuid that is not a subnet, naming the ones that exist.

    Checked at ``block`` (default head). A recording that holds the subnet list only at its
    head is checked there, and the message says so.
    """
    from .errors import MissingRecordingEntry, UnknownNetuid

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


def read_epoch(chain: Chain, netuid: int, *, block: int | str | None = None, epoch: int | None = None) -> EpochRead:
    """The epoch at block ``epoch`` exactly, or the last one at or before ``block`` (default head)."""
    # Refuse an era we cannot read or recompute before reading anything else.
    probe = chain.at(epoch if epoch is not None else (block if block is not None else chain.head().number))
    epoch_era(probe)
    variant_for(probe.spec_version)
    require_subnet(chain, netuid, epoch if epoch is not None else block)
    if epoch is None:
        at = block if block is not None else chain.head().number
        epoch = find_epoch_block(chain, netuid, at)
    before, after = chain.at(epoch - 1), chain.at(epoch)
    floor = pending_emission(chain, netuid, epoch) if needs_rao_emission(after) else None
    inputs, outputs = snapshot_epoch(chain, netuid, epoch, rao_emission=floor)
    # Block E is executed by the runtime in E−1's state (an upgrade takes effect a block later).
    return EpochRead(inputs, outputs, before.spec_version, epoch,
                     {"inputs": before.hash, "outputs": after.hash}, floor)


def verify(
    chain: Chain,
    netuid: int,
    *,
    block: int | str | None = None,
    epoch: int | None = None,
    engine: str = "reference",
) -> EpochAudit:
    """Read one epoch from the chain, recompute it, and diff it field by field."""
    read = read_epoch(chain, netuid, block=block, epoch=epoch)
    audit, _ = compare_epoch(
        read.inputs, read.outputs, read.spec_version, engine=engine,
        epoch_block=read.epoch_block, block_hashes=read.block_hashes, infer_rao_from=read.rao_emission_floor,
    )
    return audit


def verify_snapshot(path: str | os.PathLike, *, engine: str = "reference") -> EpochAudit:
    """Verify a saved epoch snapshot (``taoaudit snapshot save --epoch``)."""
    from .errors import MalformedSnapshot
    from .snapshot import load_epoch

    inputs, outputs, meta = load_epoch(path)
    if outputs is None:
        raise MalformedSnapshot(path, "holds no chain outputs to verify against")
    spec = meta.get("spec_version")
    if not isinstance(spec, int):
        raise MalformedSnapshot(path, "has no spec_version in its manifest")
    hashes = meta.get("block_hashes") or {"inputs": None, "outputs": None}
    audit, _ = compare_epoch(inputs, outputs, spec, engine=engine, block_hashes=hashes)
    return audit


# -- many epochs ---------------------------------------------------------------------------------

def default_cache_dir() -> Path:
    base = os.environ.get("TAOAUDIT_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache"), "taoaudit"
    )
    return Path(base) / "audit"


class AuditCache:
    """Results on disk per (chain, netuid, epoch block, spec): a rerun is served from here.

    The chain is identified by the hash of the epoch block itself, so two chains (or two
    recordings) never share entries. Writes are atomic.
    """

    def __init__(self, directory: str | os.PathLike | None = None) -> None:
        self.directory = Path(directory) if directory else default_cache_dir()

    def _path(self, netuid: int, epoch_block: int, block_hash: str) -> Path:
        digest = hashlib.sha256(f"{CACHE_VERSION}:{netuid}:{epoch_block}:{block_hash}".encode()).hexdigest()[:24]
        return self.directory / f"sn{netuid}-e{epoch_block}-{digest}.json"

    def get(self, netuid: int, epoch_block: int, block_hash: str | None) -> EpochAudit | None:
        if not block_hash:
            return None
        p = self._path(netuid, epoch_block, block_hash)
        try:
            d = json.loads(p.read_text())
        except (OSError, ValueError):
            return None
        if d.get("cache_version") != CACHE_VERSION:
            return None
        return EpochAudit.from_json(d, cached=True)

    def put(self, audit: EpochAudit) -> None:
        block_hash = audit.block_hashes.get("outputs")
        if not block_hash:
            return
        p = self._path(audit.netuid, audit.epoch_block, block_hash)
        doc = {"cache_version": CACHE_VERSION, **audit.to_json(), "hotkeys": list(audit.hotkeys or [])}
        atomic_write(p, json.dumps(doc))


def subnet_netuids(chain: Chain, block: int | str | None = None) -> list[int]:
    """Every subnet that exists at ``block`` (default head)."""
    blk = chain.at(block if block is not None else chain.head().number)
    keys = blk.keys(blk.storage_prefix("SubtensorModule", "NetworksAdded"))
    netuids = []
    for k in keys:
        suffix = blk.key_suffix("SubtensorModule", "NetworksAdded", k, 0)
        netuids.append(int.from_bytes(suffix[-2:], "little"))
    return sorted(netuids)


def epoch_blocks(
    chain: Chain, netuid: int, *, count: int | None = None, from_block: int | None = None, to_block: int | None = None
) -> list[int]:
    """Epoch blocks of ``netuid``, oldest first: the last ``count`` at or before ``to_block``
    (default head), or all in ``[from_block, to_block]``."""
    at = to_block if to_block is not None else chain.head().number
    found: list[int] = []
    limit = count if count is not None else 100_000
    while len(found) < limit and at >= 1:
        try:
            e = find_epoch_block(chain, netuid, at)
        except ChainError:
            if found:
                break  # walked back past what this node (or recording) holds
            raise
        if from_block is not None and e < from_block:
            break
        found.append(e)
        at = e - 1
    return sorted(found)


def audit(
    chain: Chain,
    targets: Sequence[tuple[int, int]],
    *,
    engine: str = "reference",
    cache: AuditCache | None = None,
    on_result: Callable[[EpochAudit], None] | None = None,
) -> list[EpochAudit]:
    """Verify every (netuid, epoch block) in ``targets``; cached results are reused.

    Each epoch reads its own inputs from the chain (bonds included, as the chain stored them),
    so one divergent epoch does not contaminate the next: :func:`first_divergence` finds it.
    """
    results = []
    for netuid, epoch_block in targets:
        result = None
        if cache is not None:
            result = cache.get(netuid, epoch_block, chain.at(epoch_block).hash)
        if result is None:
            result = verify(chain, netuid, epoch=epoch_block, engine=engine)
            if cache is not None:
                cache.put(result)
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results


def first_divergence(results: Iterable[EpochAudit]) -> dict[int, EpochAudit]:
    """Per subnet, the earliest epoch whose recomputation differs from the chain."""
    first: dict[int, EpochAudit] = {}
    for r in sorted(results, key=lambda r: (r.netuid, r.epoch_block)):
        if not r.ok and r.netuid not in first:
            first[r.netuid] = r
    return first


# -- metagraph snapshots -------------------------------------------------------------------------

@dataclass(frozen=True)
class NeuronChange:
    uid: int
    field: str
    before: Any
    after: Any

    def as_json(self) -> dict[str, Any]:
        return {"uid": self.uid, "field": self.field, "before": self.before, "after": self.after}


def diff_metagraphs(before: Any, after: Any) -> list[NeuronChange]:
    """Per-UID changes between two metagraphs (fields both hold; UIDs present in either)."""
    fields = [f for f in before.fields if f in after.arrays and f != "uid"]
    changes: list[NeuronChange] = []
    for uid in range(max(before.n, after.n)):
        for f in fields:
            a = before.arrays[f][uid].item() if uid < before.n else None
            b = after.arrays[f][uid].item() if uid < after.n else None
            if a != b:
                changes.append(NeuronChange(uid, f, a, b))
    return changes

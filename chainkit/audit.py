"""Audit epochs: read what an epoch saw and wrote, recompute it exactly, diff per UID.

This is the library behind `taoaudit verify` and `taoaudit audit`: chain reads come from
:mod:`chainkit.epoch`, the recomputation and the diff from :mod:`consensus`. Results are plain
dataclasses with a JSON form; presentation is the CLI's business.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from taoaudit.consensus.diff import UidMismatch, diff_chain_outputs
from taoaudit.consensus.model import EpochInputs, EpochOutputs
from taoaudit.consensus.registry import run_epoch, variant_for

from .client import Chain
from .epoch import InexactEpoch, _epoch_era as epoch_era, find_epoch_block, needs_rao_emission, pending_emission, snapshot_epoch
from .errors import ChainError
from .files import atomic_write
from .bonds_reset import bonds_resets_after_epoch, without_columns
from .mechanisms import mechanism_setup, read_mechanisms
from .subnets import require_subnet, subnet_netuids  # noqa: F401  (re-exported)

CACHE_VERSION = 2  # 2: one entry per outcome (verdict), refusals included


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
    #: UIDs an extrinsic of block E (re)registered after the epoch ran: their outputs at E are
    #: the registration's, not the epoch's, so they are left out of the comparison
    replaced_uids: tuple[int, ...] = ()
    #: several mechanisms: {"count", "emission_split", "shares"}; None for one
    mechanisms: dict[str, Any] | None = None
    #: UIDs whose Bonds column a ResetBondsFlag commitment of block E cleared after the epoch
    #: (chainkit.bonds_reset); the recomputed Bonds are compared with that reset applied
    bonds_reset_uids: tuple[int, ...] = ()

    #: "era assumed, not verified for spec N" when a spec newer than the era table ran the
    #: newest era's rules (assume_era="latest"); None when the era is known
    era_note: str | None = None

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
            "replaced_uids": list(self.replaced_uids),
            "mechanisms": self.mechanisms,
            "bonds_reset_uids": list(self.bonds_reset_uids),
            "era_note": self.era_note,
            "mismatches": [{"hotkey": self.hotkey(m.uid), **m.as_json()} for m in self.mismatches],
        }

    @classmethod
    def from_json(cls, d: dict[str, Any], cached: bool = False) -> "EpochAudit":
        mismatches = [UidMismatch(m["uid"], m["field"], m["chain"], m["recomputed"]) for m in d["mismatches"]]
        hotkeys = d.get("hotkeys")
        made = cls(
            d["netuid"], d["epoch_block"], d["block_hashes"], d["spec_version"], d["variant"],
            d["uids_compared"], d["fields_compared"], mismatches,
            tuple(hotkeys) if hotkeys else None, cached, d.get("rao_emission"),
            tuple(int(u) for u in d.get("replaced_uids") or ()), d.get("mechanisms"),
            tuple(int(u) for u in d.get("bonds_reset_uids") or ()),
        )
        return replace(made, era_note=d.get("era_note"))


def infer_rao_emission(
    inputs: EpochInputs, chain_outputs: EpochOutputs, spec_version: int, floor: int = 0,
    engine: str = "reference", skip: Sequence[int] = (), assume_era: str | None = None,
) -> dict[str, Any]:
    """The amounts that reproduce the stored Emission exactly (consensus.emission), at least
    ``floor`` (what was already pending at E−1). UIDs in ``skip`` (re-registered after the
    epoch, their Emission cleared) do not bound it."""
    from taoaudit.consensus.emission import best_rao_emission, rao_emission_bounds

    # Emission_i = floor(x_i · rao / 2^32): with rao = 2^32 the epoch returns the exact
    # I32F32 shares x_i themselves, on whichever engine is fastest.
    unit = run_epoch(inputs.with_changes(rao_emission=1 << 32), spec_version, engine=engine,  # type: ignore[arg-type]
                     assume_era=assume_era)
    keep = [u for u in range(inputs.n) if u not in set(skip)]
    all_shares, all_stored = unit.emission.tolist(), chain_outputs.emission.tolist()
    shares = [all_shares[u] for u in keep if u < len(all_shares)]
    stored = [all_stored[u] for u in keep if u < len(all_stored)]
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
    replaced: Sequence[int] = (),
    bonds_reset: Sequence[int] = (),
    assume_era: str | None = None,
) -> tuple[EpochAudit, EpochOutputs]:
    """Recompute ``inputs`` with the variant of ``spec_version`` and diff against the chain.

    ``assume_era="latest"``: a spec newer than the era table runs the newest era's rules and
    the result says so (``era_note``).

    ``infer_rao_from``: the epoch's ``rao_emission`` is not in the chain (dTAO eras); recover
    it from the stored Emission, no lower than this pending amount. Emission is then checked
    for consistency with one amount, every other field exactly as always.

    ``replaced``: UIDs re-registered in block E after the epoch; every other UID is compared.
    ``bonds_reset``: UIDs whose Bonds column a commitment of block E cleared after the epoch;
    the same reset is applied to the recomputed Bonds before comparing.
    """
    variant = variant_for(spec_version, assume_era)
    rao_info: dict[str, Any] = {"value": inputs.rao_emission, "source": "stored", "range": None}
    if infer_rao_from is not None:
        rao_info = infer_rao_emission(inputs, chain_outputs, spec_version, infer_rao_from, engine, replaced,
                                      assume_era=assume_era)
        inputs = inputs.with_changes(rao_emission=rao_info["value"])
    recomputed = run_epoch(inputs, spec_version, engine=engine, assume_era=assume_era)  # type: ignore[arg-type]
    if bonds_reset:
        recomputed = replace(recomputed, bonds=without_columns(recomputed.bonds, tuple(bonds_reset)))
    fields, mismatches = diff_chain_outputs(chain_outputs, recomputed, inputs.n)
    mismatches = [m for m in mismatches if m.uid not in set(replaced)]
    audit = EpochAudit(
        netuid=inputs.netuid,
        epoch_block=epoch_block if epoch_block is not None else inputs.current_block,
        block_hashes=block_hashes or {"inputs": None, "outputs": None},
        spec_version=spec_version,
        variant=variant.name,
        era_note=variant.label,
        uids_compared=inputs.n,
        fields_compared=fields,
        mismatches=mismatches,
        hotkeys=inputs.hotkeys,
        rao_emission=rao_info,
        replaced_uids=tuple(sorted(set(replaced))),
        bonds_reset_uids=tuple(sorted(set(bonds_reset))),
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
    #: UIDs an extrinsic of block E (re)registered after the epoch (see registrations_in_block)
    replaced_uids: tuple[int, ...] = ()
    #: a subnet with several mechanisms: each one's epoch (``inputs``/``outputs`` are mechanism 0's)
    mechanisms: Any = None  # chainkit.mechanisms.MechanismEpochRead | None
    #: UIDs whose Bonds column a commitment of block E cleared after the epoch
    bonds_reset_uids: tuple[int, ...] = ()
    #: None, or "latest": a spec newer than the era table, read and run as the newest era
    assume_era: str | None = None


def read_epoch(
    chain: Chain, netuid: int, *, block: int | str | None = None, epoch: int | None = None,
    assume_era: str | None = None,
) -> EpochRead:
    """The epoch at block ``epoch`` exactly, or the last one at or before ``block`` (default head).

    A runtime newer than the era table is refused, naming the newest known spec, unless
    ``assume_era="latest"`` (then it is read with the newest layout and results say so)."""
    # Refuse an era we cannot read or recompute before reading anything else.
    probe = chain.at(epoch if epoch is not None else (block if block is not None else chain.head().number))
    epoch_era(probe, assume_era)
    variant_for(probe.spec_version, assume_era)
    require_subnet(chain, netuid, epoch if epoch is not None else block)
    if epoch is None:
        at = block if block is not None else chain.head().number
        epoch = find_epoch_block(chain, netuid, at)
    before, after = chain.at(epoch - 1), chain.at(epoch)
    floor = pending_emission(chain, netuid, epoch) if needs_rao_emission(after) else None
    replaced = registrations_after_epoch(chain, netuid, epoch)
    reset = bonds_resets_after_epoch(chain, netuid, epoch)
    count, split = mechanism_setup(chain, netuid, epoch)
    if count > 1:
        mech = read_mechanisms(chain, netuid, epoch, count, split, rao_emission=floor or 0,
                               replaced=frozenset(replaced), assume_era=assume_era)
        return EpochRead(mech.inputs[0], mech.outputs[0], before.spec_version, epoch,
                         {"inputs": before.hash, "outputs": after.hash}, floor, tuple(replaced), mech, reset,
                         assume_era=assume_era)
    inputs, outputs = snapshot_epoch(chain, netuid, epoch, rao_emission=floor, replaced=frozenset(replaced),
                                     assume_era=assume_era)
    # Block E is executed with the code in E−1's state: state_getRuntimeVersion at a hash
    # reports the code *after* that block, so a set_code in E takes effect from E+1.
    return EpochRead(inputs, outputs, before.spec_version, epoch,
                     {"inputs": before.hash, "outputs": after.hash}, floor, tuple(replaced), None, reset,
                     assume_era=assume_era)


def registrations_after_epoch(chain: Chain, netuid: int, epoch_block: int) -> list[int]:
    """UIDs of ``netuid`` that an extrinsic of block E (re)registered, after the epoch ran.

    The epoch runs in ``on_initialize``; ``NeuronRegistered`` is deposited by the registration
    extrinsics later in the block, and ``replace_neuron``/``append_neuron`` then overwrite that
    UID's slots (and only that UID's: ``pallets/subtensor/src/uids.rs`` @db79e3d29 for spec 103,
    ``subnets/uids.rs`` ``clear_neuron`` @14bc6f9f9 for dTAO). A registration during
    ``on_initialize`` itself (before the epoch) is not listed: the epoch readers refuse it.
    """
    from .epoch import BlockReader

    uids = set()
    for phase, pallet, name, attrs in BlockReader(chain.at(epoch_block)).events():
        if pallet == "SubtensorModule" and name == "NeuronRegistered" and phase != "Initialization":
            values = list(attrs.values()) if isinstance(attrs, dict) else list(attrs)
            if int(values[0]) == netuid:
                uids.add(int(values[1]))
    return sorted(uids)


def with_rao_emission(read: EpochRead, engine: str = "reference") -> tuple[EpochRead, dict[str, Any]]:
    """``read`` with the epoch's ``rao_emission`` as verify uses it, and how it was obtained.

    In the dTAO eras the chain does not store the amount: it is inferred from the stored
    Emission exactly as :func:`compare_epoch` does (snapshots and ``explain`` use this, so they
    agree with ``verify``)."""
    if read.mechanisms is not None:
        raise ChainError(f"subnet {read.inputs.netuid} has {len(read.mechanisms.inputs)} mechanisms at block "
                         f"{read.epoch_block}: snapshots and explain cover single-mechanism epochs (use verify)")
    if read.rao_emission_floor is None:
        return read, {"value": read.inputs.rao_emission, "source": "stored", "range": None}
    info = infer_rao_emission(read.inputs, read.outputs, read.spec_version, read.rao_emission_floor, engine,
                              read.replaced_uids)
    return replace(read, inputs=read.inputs.with_changes(rao_emission=info["value"])), info


def compare_mechanisms(read: EpochRead, *, engine: str = "reference") -> EpochAudit:
    """Recompute every mechanism of a multi-mechanism epoch, aggregate as the runtime does and
    diff every stored output: the per-subnet items, and each mechanism's ``Incentive`` and
    ``Bonds`` (named ``Incentive[mechanism m]``)."""
    from taoaudit.consensus.mechanisms import epoch_with_mechanisms, infer_rao_emission_mechanisms

    mech = read.mechanisms
    n, replaced = read.inputs.n, set(read.replaced_uids)
    rao_info: dict[str, Any] = {"value": read.inputs.rao_emission, "source": "stored", "range": None}
    if read.rao_emission_floor is not None:
        unit = [run_epoch(i.with_changes(rao_emission=1 << 32), read.spec_version, engine=engine,  # type: ignore[arg-type]
                          assume_era=read.assume_era).emission.tolist()
                for i in mech.inputs]
        uids = [u for u in range(n) if u not in replaced and u < len(read.outputs.emission)]
        found, candidate = infer_rao_emission_mechanisms(unit, read.outputs.emission.tolist(), mech.split, uids,
                                                         read.rao_emission_floor)
        rao_info = {"value": candidate, "source": "inferred", "range": list(found) if found else None}
    agg = epoch_with_mechanisms(mech.inputs, rao_info["value"], read.spec_version, mech.split, engine=engine,
                                assume_era=read.assume_era)
    if read.bonds_reset_uids:  # ResetBondsOnCommit clears the column in every mechanism's Bonds
        cut = read.bonds_reset_uids
        agg = replace(agg, subnet=replace(agg.subnet, bonds=without_columns(agg.subnet.bonds, cut)),
                      mechanisms=[replace(o, bonds=without_columns(o.bonds, cut)) for o in agg.mechanisms])
    fields, mismatches = diff_chain_outputs(read.outputs, agg.subnet, n)
    named = [UidMismatch(m.uid, f"{m.field}[mechanism 0]" if m.field in ("Incentive", "Bonds") else m.field,
                         m.chain, m.recomputed) for m in mismatches]
    for m in range(1, len(mech.inputs)):
        stored, ours = mech.outputs[m], agg.mechanisms[m]
        _, per = diff_chain_outputs(stored, ours, n)
        named += [UidMismatch(x.uid, f"{x.field}[mechanism {m}]", x.chain, x.recomputed)
                  for x in per if x.field in ("Incentive", "Bonds")]
        fields += [f"Incentive[mechanism {m}]", f"Bonds[mechanism {m}]"]
    if rao_info["source"] == "inferred" and rao_info["range"] is None and all(
        m.field == "Emission" for m in named
    ):
        # Only Emission disagrees and no amount near it fits: not a proof (the search is
        # bounded), so no verdict. Any other field differs whatever the amount: a mismatch.
        raise InexactEpoch(read.inputs.netuid, read.epoch_block,
                           "no rao_emission near the stored Emission's sum reproduces it across the "
                           "mechanisms, and the chain does not store the amount", code="rao_emission_not_recovered")
    return EpochAudit(
        netuid=read.inputs.netuid, epoch_block=read.epoch_block, block_hashes=read.block_hashes,
        spec_version=read.spec_version, variant=variant_for(read.spec_version, read.assume_era).name,
        era_note=variant_for(read.spec_version, read.assume_era).label, uids_compared=n,
        fields_compared=fields, mismatches=[x for x in named if x.uid not in replaced], hotkeys=read.inputs.hotkeys,
        rao_emission=rao_info, replaced_uids=tuple(sorted(replaced)), bonds_reset_uids=read.bonds_reset_uids,
        mechanisms={"count": len(mech.inputs), "emission_split": list(mech.split) if mech.split else None,
                    "shares": agg.shares},
    )


def verify(
    chain: Chain,
    netuid: int,
    *,
    block: int | str | None = None,
    epoch: int | None = None,
    engine: str = "reference",
    assume_era: str | None = None,
) -> EpochAudit:
    """Read one epoch from the chain, recompute it, and diff it field by field.

    ``assume_era="latest"``: run a spec newer than the era table with the newest era; the
    result's ``era_note`` then says "era assumed, not verified for spec N"."""
    read = read_epoch(chain, netuid, block=block, epoch=epoch, assume_era=assume_era)
    return compare_read(read, engine=engine, assume_era=assume_era)[0]


def compare_read(
    read: EpochRead, *, engine: str = "reference", assume_era: str | None = None
) -> tuple[EpochAudit, EpochOutputs | None]:
    """verify's comparison of an epoch already read (chainkit.fanout reads and compares in two
    steps): the audit and the recomputed outputs, None for a multi-mechanism epoch (compared
    mechanism by mechanism)."""
    if read.mechanisms is not None:
        return compare_mechanisms(read, engine=engine), None
    return compare_epoch(
        read.inputs, read.outputs, read.spec_version, engine=engine,
        epoch_block=read.epoch_block, block_hashes=read.block_hashes, infer_rao_from=read.rao_emission_floor,
        replaced=read.replaced_uids, assume_era=assume_era, bonds_reset=read.bonds_reset_uids,
    )


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
    floor = meta.get("rao_emission_floor")
    replaced = meta.get("replaced_uids") or []
    reset = meta.get("bonds_reset_uids") or []
    if (floor is not None and not isinstance(floor, int)) or not all(
        isinstance(v, list) and all(isinstance(u, int) for u in v) for v in (replaced, reset)
    ):
        raise MalformedSnapshot(path, "rao_emission_floor / replaced_uids / bonds_reset_uids in the manifest "
                                "are not integers")
    audit, _ = compare_epoch(inputs, outputs, spec, engine=engine, block_hashes=hashes, infer_rao_from=floor,
                             epoch_block=meta.get("epoch_block") if isinstance(meta.get("epoch_block"), int) else None,
                             replaced=replaced, bonds_reset=reset)
    return audit


# -- many epochs ---------------------------------------------------------------------------------

def default_cache_dir() -> Path:
    base = os.environ.get("TAOAUDIT_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache"), "taoaudit"
    )
    return Path(base) / "audit"


class AuditCache:
    """Outcomes on disk per (chain, netuid, epoch block): a rerun is served from here.

    The chain is identified by the hash of the epoch block itself, so two chains (or two
    recordings) never share entries. Writes are atomic. A directory that cannot be written
    calls ``warn`` once and the cache stops writing (the audit goes on without it); an entry
    of the wrong shape is treated as missing.
    """

    def __init__(self, directory: str | os.PathLike | None = None,
                 warn: Callable[[str], None] | None = None, engine: str = "reference") -> None:
        self.directory = Path(directory) if directory else default_cache_dir()
        self.warn = warn
        self.writable = True
        # An entry is only as good as the code that computed it: another taoaudit release,
        # engine or era table never serves it.
        self.code_key = f"{CACHE_VERSION}:{_package_version()}:{engine}:{_era_fingerprint()}"

    def _path(self, netuid: int, epoch_block: int, block_hash: str) -> Path:
        digest = hashlib.sha256(f"{self.code_key}:{netuid}:{epoch_block}:{block_hash}".encode()).hexdigest()[:24]
        return self.directory / f"sn{netuid}-e{epoch_block}-{digest}.json"

    def get(self, netuid: int, epoch_block: int, block_hash: str | None) -> EpochOutcome | None:
        if not block_hash:
            return None
        try:
            d = json.loads(self._path(netuid, epoch_block, block_hash).read_text())
            if not isinstance(d, dict) or d.get("cache_key") != self.code_key:
                return None
            hit = EpochOutcome.from_json(d, cached=True)
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None
        if (hit.netuid, hit.epoch_block) != (netuid, epoch_block):
            return None
        return hit

    def put(self, outcome: EpochOutcome, block_hash: str) -> None:
        if not self.writable:
            return
        audit = outcome.audit
        doc = {"cache_key": self.code_key, **outcome.to_json(),
               "hotkeys": list(audit.hotkeys or []) if audit is not None else []}
        doc.pop("cached", None)
        try:
            atomic_write(self._path(outcome.netuid, outcome.epoch_block, block_hash), json.dumps(doc))
        except OSError as e:
            self.writable = False
            if self.warn is not None:
                self.warn(f"cannot write the result cache {self.directory} ({e.strerror or e}); "
                          "continuing without it")


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("taoaudit")
    except PackageNotFoundError:
        return "unknown"


def _era_fingerprint() -> str:
    """A digest of the era table (the rules each spec is recomputed with)."""
    try:
        from taoaudit.consensus.eras.table import fingerprint  # type: ignore[attr-defined]

        return str(fingerprint())
    except ImportError:
        # No table fingerprint: the era modules' own source stands for their rules.
        from taoaudit.consensus import eras, registry

        h = hashlib.sha256()
        for f in sorted(Path(eras.__file__).parent.glob("*.py")) + [Path(registry.__file__)]:
            h.update(f.name.encode() + f.read_bytes())
        return h.hexdigest()[:16]


def epoch_blocks(
    chain: Chain, netuid: int, *, count: int | None = None, from_block: int | None = None, to_block: int | None = None,
    notes: dict[int, str] | None = None,
) -> list[int]:
    """Epoch blocks of ``netuid``, oldest first: the last ``count`` at or before ``to_block``
    (default head), or all in ``[from_block, to_block]``.

    Walking back stops where no earlier epoch exists, or where the source cannot say when the
    previous one ran (pruned state, a recording without it): that is noted in ``notes[netuid]``
    so an audit never drops epochs silently."""
    from . import errors

    at = to_block if to_block is not None else chain.head().number
    found: list[int] = []
    limit = count if count is not None else 100_000
    while len(found) < limit and at >= 1:
        try:
            e = find_epoch_block(chain, netuid, at)
        except ChainError as err:
            if not found or classify_failure(err) is None:
                raise  # nothing located yet, or the node failed: not ours to swallow
            if notes is not None and not isinstance(err, getattr(errors, "NoEpoch", ())):
                wanted = f"{limit}" if count is not None else "every"
                notes[netuid] = (f"{len(found)} of {wanted} epochs located: the one before block {found[-1]} "
                                 f"could not be ({str(err).splitlines()[0]})")
            break
        if from_block is not None and e < from_block:
            break
        found.append(e)
        at = e - 1
    return sorted(found)


VERDICTS = ("exact", "mismatch", "refused", "unreadable")


@dataclass(frozen=True)
class EpochOutcome:
    """How one (netuid, epoch) of an audit ended: exactly one of :data:`VERDICTS`.

    ``refused``: the chain's data cannot determine the epoch exactly (``reason_code`` says
    which rule); ``unreadable``: the data source does not hold what the epoch needs (pruned
    state, a recording without it). ``audit`` is set for exact and mismatch.
    """

    netuid: int
    epoch_block: int
    verdict: str
    reason: str | None = None
    reason_code: str | None = None
    audit: EpochAudit | None = None
    cached: bool = False

    @property
    def ok(self) -> bool:
        return self.verdict == "exact"

    def to_json(self) -> dict[str, Any]:
        head = {"netuid": self.netuid, "epoch_block": self.epoch_block, "verdict": self.verdict,
                "reason": self.reason, "reason_code": self.reason_code, "cached": self.cached}
        return head | (self.audit.to_json() if self.audit is not None else {})

    @classmethod
    def from_json(cls, d: dict[str, Any], cached: bool = False) -> "EpochOutcome":
        verdict = d["verdict"]
        if verdict not in VERDICTS:
            raise ValueError(f"unknown verdict {verdict!r}")
        audit = EpochAudit.from_json(d, cached) if verdict in ("exact", "mismatch") else None
        return cls(int(d["netuid"]), int(d["epoch_block"]), verdict, d.get("reason"), d.get("reason_code"),
                   audit, cached)


def outcome_of(audit: EpochAudit) -> EpochOutcome:
    note = None
    if audit.replaced_uids:
        note = f"UIDs {list(audit.replaced_uids)} replaced in block {audit.epoch_block} (not compared)"
    return EpochOutcome(audit.netuid, audit.epoch_block, "exact" if audit.ok else "mismatch", note,
                        "replaced_in_block" if audit.replaced_uids else None, audit, audit.cached)


def classify_failure(e: Exception) -> tuple[str, str] | None:
    """(verdict, reason_code) for an error that ends one epoch, or None when it must end the
    run (a transport fault is never an epoch's verdict)."""
    from taoaudit.consensus.errors import ConsensusError

    from . import errors
    from .epoch import InexactEpoch
    from .errors import DecodeError, MissingRecordingEntry, PrunedState, UnknownBlock, UnknownNetuid, UnsupportedSpec

    # A node that failed or answered for another block ends the run (exit 2): never a verdict.
    transport = tuple(getattr(errors, n) for n in ("EndpointUnreachable", "RpcError", "NodeFault", "UntrustedAnswer")
                      if hasattr(errors, n))
    if isinstance(e, transport):
        return None
    if isinstance(e, InexactEpoch):
        return "refused", e.code
    if isinstance(e, UnsupportedSpec):
        return "refused", "unsupported_spec"
    if isinstance(e, ConsensusError):
        return "refused", "unsupported_input"
    if isinstance(e, MissingRecordingEntry):
        return "unreadable", "missing_recording_entry"
    if isinstance(e, PrunedState):
        return "unreadable", "pruned_state"
    if isinstance(e, UnknownBlock):
        return "unreadable", "unknown_block"
    if isinstance(e, UnknownNetuid):
        return "unreadable", "unknown_netuid"
    if isinstance(e, DecodeError):
        return "unreadable", "decode_error"
    if isinstance(e, ChainError):
        return "unreadable", "no_epoch_at_block" if str(e).startswith("no epoch") else "chain_error"
    return None


def audit_epoch(
    chain: Chain, netuid: int, epoch_block: int, *, engine: str = "reference", cache: "AuditCache | None" = None,
    assume_era: str | None = None,
) -> EpochOutcome:
    """Verify one epoch and say how it ended; refusals and unreadable data are outcomes, not
    exceptions. Transport faults (unreachable endpoint, RPC errors) still raise."""
    from taoaudit.consensus.errors import ConsensusError

    if assume_era is not None:
        cache = None  # an assumed-era result is never served to a run that did not assume
    try:
        block_hash = chain.at(epoch_block).hash if cache is not None else None
        if cache is not None:
            hit = cache.get(netuid, epoch_block, block_hash)
            if hit is not None:
                return hit
        outcome = outcome_of(verify(chain, netuid, epoch=epoch_block, engine=engine, assume_era=assume_era))
    except (ChainError, ConsensusError) as e:
        kind = classify_failure(e)
        if kind is None:
            raise
        outcome = EpochOutcome(netuid, epoch_block, kind[0], str(e).splitlines()[0], kind[1])
        if kind[0] == "unreadable":
            return outcome  # another source may hold the data: never cached
        block_hash = _hash_or_none(chain, epoch_block)
    if cache is not None and block_hash:
        cache.put(outcome, block_hash)
    return outcome


def _hash_or_none(chain: Chain, block: int) -> str | None:
    try:
        return chain.at(block).hash
    except ChainError:
        return None


def audit(
    chain: Chain,
    targets: Sequence[tuple[int, int]],
    *,
    engine: str = "reference",
    cache: "AuditCache | None" = None,
    on_result: Callable[[EpochOutcome], None] | None = None,
    assume_era: str | None = None,
) -> list[EpochOutcome]:
    """Verify every (netuid, epoch block) in ``targets``; every one ends with a verdict.

    Each epoch reads its own inputs from the chain (bonds included, as the chain stored them),
    so one divergent epoch does not contaminate the next: :func:`first_divergence` finds it.
    """
    results = []
    for netuid, epoch_block in targets:
        result = audit_epoch(chain, netuid, epoch_block, engine=engine, cache=cache, assume_era=assume_era)
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results


def summarize(outcomes: Sequence[EpochOutcome]) -> dict[str, Any]:
    """Counts per verdict, refusals and unreadable epochs by reason code."""
    out: dict[str, Any] = {"epochs": len(outcomes), **{v: 0 for v in VERDICTS},
                           "refused_by_reason": {}, "unreadable_by_reason": {}, "replaced_uids": 0}
    for o in outcomes:
        out[o.verdict] += 1
        if o.verdict in ("refused", "unreadable"):
            by = out[f"{o.verdict}_by_reason"]
            by[o.reason_code] = by.get(o.reason_code, 0) + 1
        if o.audit is not None:
            out["replaced_uids"] += len(o.audit.replaced_uids)
    return out


def exit_status(summary: dict[str, Any]) -> int:
    """0: at least one epoch verified and none differs; 1: a mismatch; 2: nothing verified."""
    if summary["mismatch"]:
        return 1
    return 0 if summary["exact"] else 2


def subnet_note(chain: Chain, netuid: int, block: int | str | None) -> str | None:
    """Why ``netuid`` has no epochs to audit (root; tempo 0), or None."""
    from .layout import PALLET

    if netuid == 0:
        return "root network (netuid 0): runs no Yuma epoch"
    blk = chain.at(block if block is not None else chain.head().number)
    # the same batched read find_epoch_block makes (a recording of an audit holds it)
    _, tempo = blk.query_many([(PALLET, "NetworksAdded", netuid), (PALLET, "Tempo", netuid)])
    if int(tempo) == 0:
        return f"tempo 0 at block {blk.number}: its epoch never runs"
    return None


def audit_targets(
    chain: Chain, netuids: Sequence[int] | None, *, count: int | None = 3, from_block: int | None = None,
    to_block: int | None = None, notes: dict[int, str] | None = None,
) -> tuple[list[tuple[int, int]], dict[int, str]]:
    """(netuid, epoch block) pairs to audit, and a note per subnet that has none.

    ``netuids=None``: every subnet at ``to_block`` (default head). ``notes`` collects subnets
    whose older epochs could not be located (default: into the skipped notes)."""
    from . import errors

    no_epoch = getattr(errors, "NoEpoch", ())
    subnets = subnet_netuids(chain, to_block) if netuids is None else list(netuids)
    targets: list[tuple[int, int]] = []
    skipped: dict[int, str] = {}
    notes = skipped if notes is None else notes
    for netuid in subnets:
        note = subnet_note(chain, netuid, to_block)
        if note is not None:
            skipped[netuid] = note
            continue
        try:
            blocks = epoch_blocks(chain, netuid, count=count, from_block=from_block, to_block=to_block,
                                  notes=notes)
        except no_epoch as e:
            skipped[netuid] = str(e).splitlines()[0]
            continue
        if not blocks:
            skipped[netuid] = "no epoch in the range asked"
        targets.extend((netuid, e) for e in blocks)
    return targets, skipped


def first_divergence(results: Iterable[EpochOutcome]) -> dict[int, EpochOutcome]:
    """Per subnet, the earliest epoch whose recomputation differs from the chain."""
    first: dict[int, EpochOutcome] = {}
    for r in sorted(results, key=lambda r: (r.netuid, r.epoch_block)):
        if r.verdict == "mismatch" and r.netuid not in first:
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

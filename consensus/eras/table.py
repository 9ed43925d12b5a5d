"""The one era table: which epoch rules every runtime spec version runs, and where each rule comes from.

Every other place that needs era knowledge reads this table: :mod:`consensus.registry` (which
variant runs), :meth:`EpochRules.for_spec` (the reference's and the kernels' switches),
``chainkit/layout.py`` (whose storage eras name the epoch era they feed) and ``docs/eras.md``
(generated from the same facts, checked by ``tests/test_eras.py``).

Adding an era: append one :class:`Era` (spec range, rules record, sources); add a rules flag
only where the math really differs, and a branch for it in ``eras/mainline.py`` and
``kernels/epoch.py``; a new variant function only when the whole epoch differs (spec 103).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from ..errors import UnsupportedSpecError


class EpochRules(NamedTuple):
    """Which rule changes of the mainline (dTAO-era) epoch are in force; yuma-spec §10.

    A NamedTuple of bools so that the numba kernels take it as one typed argument. The
    defaults are the rules of the newest era.
    """

    sigmoid_steepness_fix: bool = True  # spec >= 283: exponent (s / −100)·(d − ½), s an i16
    commit_reveal_mask: bool = True  # spec >= 297
    writes_all_bond_rows: bool = True  # spec >= 320: every UID gets a row, [] by default
    # Written before 320, not by the 320–322 production epoch, again from 323.
    writes_stake_weight: bool = True
    writes_rank_trust_pruning: bool = False  # spec < 365
    clamped_sigmoid_exp: bool = True  # spec >= 365: exp_safe; before, exp or 0 on overflow
    owner_exempt: bool = True  # spec >= 397: owner passes the threshold, permits forced
    dynamic_tempo: bool = True  # spec >= 423: cutoff factor, bonds mask from last epoch block
    # spec >= 446: LiquidAlphaConsensusMode picks the consensus fed to the liquid-alpha sigmoid
    # (Current / Previous = stored Consensus / Auto = Previous iff BondsPenalty == 65535)
    liquid_alpha_consensus_modes: bool = True

    @classmethod
    def for_spec(cls, spec_version: int) -> "EpochRules":
        """The rules of the mainline era covering ``spec_version`` (UnsupportedSpecError otherwise)."""
        era = era_for(spec_version)
        if era.rules is None:
            raise UnsupportedSpecError(f"runtime spec {spec_version} does not run the mainline epoch ({era.name})")
        return era.rules


@dataclass(frozen=True)
class Era:
    """One range of runtime specs whose epoch is the same function under the same rules."""

    name: str
    first_spec: int
    last_spec: int  # inclusive
    variant: str  # the epoch function: "spec103" or "mainline" (registry / kernels map it)
    rules: EpochRules | None  # None: the variant has no switches (spec 103)
    summary: str  # what changed at first_spec; shown in docs/eras.md and in refusals
    sources: tuple[str, ...]  # path@commit or PR for every rule taken

    def covers(self, spec_version: int) -> bool:
        return self.first_spec <= spec_version <= self.last_spec

    def span(self) -> str:
        if self.first_spec == self.last_spec:
            return str(self.first_spec)
        return f"{self.first_spec}–{self.last_spec}"


@dataclass(frozen=True)
class RefusedRange:
    """Specs the project refuses to recompute, and why (never a number from the wrong rules)."""

    first_spec: int
    last_spec: int | None  # None: open-ended
    reason: str

    def covers(self, spec_version: int) -> bool:
        return self.first_spec <= spec_version and (self.last_spec is None or spec_version <= self.last_spec)


_OT = "opentensor/subtensor"  # the repository up to spec 425 (mirror: /work/.mirror/opentensor+subtensor)
_RF = "RaoFoundation/subtensor"  # the same repository after its move (spec 426 on)
_RE = "pallets/subtensor/src/epoch/run_epoch.rs"
_MATH = "pallets/subtensor/src/epoch/math.rs"

_R = EpochRules
_BASE_273 = _R(
    sigmoid_steepness_fix=False, commit_reveal_mask=False, writes_all_bond_rows=False,
    writes_stake_weight=True, writes_rank_trust_pruning=True, clamped_sigmoid_exp=False,
    owner_exempt=False, dynamic_tempo=False, liquid_alpha_consensus_modes=False,
)  # fmt: skip

ERAS: tuple[Era, ...] = (
    Era("spec103", 103, 103, "spec103", None,
        "2023 single-token epoch: Rank/Trust/PruningScores, no permit-masked stake",
        (f"{_OT} {_RE}@6541a9f41",)),
    Era("yuma3-u16-steepness", 273, 282, "mainline", _BASE_273,
        "dTAO epoch with Yuma3On and StakeThreshold; sigmoid exponent −(s·(d−½)), s a u16",
        (f"{_OT} {_RE}@1b0c63a71 (stake threshold :500, is_topk_nonzero :529)", f"{_OT} {_MATH}@1b0c63a71:1291")),
    Era("steepness-fix", 283, 296, "mainline", _BASE_273._replace(sigmoid_steepness_fix=True),
        "liquid-alpha sigmoid exponent (s / −100)·(d − ½), s an i16",
        (f"{_OT} {_RE}@8834a7c73:1539 (boundary e9bbb6134)",)),
    Era("commit-reveal-mask", 297, 319, "mainline",
        _BASE_273._replace(sigmoid_steepness_fix=True, commit_reveal_mask=True),
        "weights of UIDs with a pending commit older than the target's registration are masked",
        (f"{_OT} {_RE}@7b541095b:600,612", f"{_OT} pallets/subtensor/src/subnets/weights.rs@7b541095b:1056")),
    Era("mechanisms", 320, 322, "mainline",
        _BASE_273._replace(sigmoid_steepness_fix=True, commit_reveal_mask=True, writes_all_bond_rows=True,
                           writes_stake_weight=False),
        "mechanism storage index; every UID gets a Bonds row; StakeWeight not written",
        (f"{_OT} {_RE}@835a2c902:1084,120",)),
    Era("stake-weight", 323, 364, "mainline",
        _BASE_273._replace(sigmoid_steepness_fix=True, commit_reveal_mask=True, writes_all_bond_rows=True),
        "StakeWeight written again by the mechanism persist",
        (f"{_OT} pallets/subtensor/src/subnets/mechanism.rs@79010a36c:149",)),
    Era("clamped-exp", 365, 396, "mainline",
        _BASE_273._replace(sigmoid_steepness_fix=True, commit_reveal_mask=True, writes_all_bond_rows=True,
                           writes_rank_trust_pruning=False, clamped_sigmoid_exp=True),
        "sigmoid uses exp_safe (clamped); Rank/Trust/PruningScores no longer written",
        (f"{_OT} {_MATH}@6e3d24cea:1480", f"{_OT} {_RE}@6e3d24cea")),
    Era("owner-exempt", 397, 422, "mainline",
        _R(dynamic_tempo=False, liquid_alpha_consensus_modes=False),
        "subnet owner passes the stake threshold; its old and new permits are forced",
        (f"{_OT} {_RE}@e7f05a051",)),
    Era("dynamic-tempo", 423, 445, "mainline", _R(liquid_alpha_consensus_modes=False),
        "activity cutoff = max(1, factor·tempo/1000); bonds mask from LastMechansimStepBlock + 1; "
        "specs 426–445 change no epoch input, math or output value",
        (f"{_OT} {_RE}@06032d518", f"{_OT} {_RE}@14bc6f9f9 (spec 425)",
         f"{_RF} {_RE}@76671f67 (same epoch apart from the consensus modes)")),
    Era("consensus-modes", 446, 459, "mainline", _R(),
        "Liquid Alpha consensus modes: the sigmoid reads the stored previous Consensus under Previous, "
        "or Auto with BondsPenalty 65535",
        (f"{_RF} PR #3070 (Liquid Alpha 2.1 Consensus Modes)", f"{_RF} PR #3077 (Release 446)",
         f"{_RF} {_RE}@76671f67 compute_consensus_for_liquid_alpha",
         f"{_RF} runtime/src/lib.rs@005a8dc0 (spec_version 459)")),
)  # fmt: skip

REFUSED: tuple[RefusedRange, ...] = (
    RefusedRange(0, 102, "before the first runtime the project has an epoch model for"),
    RefusedRange(104, 232, "pre-dTAO epochs after 103: no recorded ground truth to pin their rules"),
    RefusedRange(233, 272, "early dTAO: liquid alpha v1, no StakeThreshold filter, is_topk permits and the "
                 "outdated-bonds mask are not modelled (docs/eras.md)"),
)  # fmt: skip

#: The newest spec whose rules were read from the runtime source.
NEWEST_SPEC = ERAS[-1].last_spec
LATEST = "latest"


def supported_ranges() -> str:
    """The supported spec ranges, adjacent eras merged (e.g. "103, 273–459")."""
    spans: list[list[int]] = []
    for e in ERAS:
        if spans and spans[-1][1] + 1 == e.first_spec:
            spans[-1][1] = e.last_spec
        else:
            spans.append([e.first_spec, e.last_spec])
    return ", ".join(str(a) if a == b else f"{a}–{b}" for a, b in spans)


def era_for(spec_version: int) -> Era:
    """The era of ``spec_version``; an :class:`UnsupportedSpecError` saying why otherwise."""
    for e in ERAS:
        if e.covers(spec_version):
            return e
    why = ""
    if spec_version > NEWEST_SPEC:
        why = (f": newer than the newest known spec {NEWEST_SPEC} (assume_era='latest' runs the "
               f"spec-{NEWEST_SPEC} rules, unverified)")
    else:
        for r in REFUSED:
            if r.covers(spec_version):
                why = f": {r.reason}"
    raise UnsupportedSpecError(
        f"runtime spec {spec_version} is not supported{why} (supported specs: {supported_ranges()})"
    )


def resolve_era(spec_version: int, assume_era: str | None = None) -> tuple[Era, bool]:
    """(era, assumed): with ``assume_era="latest"`` a spec newer than the table runs the
    newest era, and ``assumed`` is True so that every result can say it was not verified."""
    if assume_era not in (None, LATEST):
        raise ValueError(f"assume_era must be None or {LATEST!r}, not {assume_era!r}")
    if assume_era == LATEST and spec_version > NEWEST_SPEC:
        return ERAS[-1], True
    return era_for(spec_version), False


def assumed_label(spec_version: int) -> str:
    return f"era assumed, not verified for spec {spec_version}"


def fingerprint() -> str:
    """A short digest of the table (every era's range, variant and rules, every refusal): it
    changes whenever the rules any spec runs change, so caches of recomputed results can key on it."""
    import hashlib

    facts = [(e.name, e.first_spec, e.last_spec, e.variant, tuple(e.rules) if e.rules else None) for e in ERAS]
    facts += [(r.first_spec, r.last_spec) for r in REFUSED]
    return hashlib.sha256(repr(facts).encode()).hexdigest()[:16]

"""Which storage items hold each epoch input and output, attached to the one era table.

The era table lives in :mod:`consensus.eras.table` (spec range → epoch rules → sources);
consensus knows nothing of storage. This module attaches the storage side to those records:
:data:`LAYOUTS` has one :class:`Layout` per (era record × storage step), so every row names
the era record whose rules its epochs run (``rules_era``), and ``tests/test_chainkit_epoch.py``
checks that the rows cover exactly the specs of the era records. Adding an era:

* the math changes → one row in ``consensus/eras/table.py``; nothing here (rows follow);
* the storage changes → one :class:`Storage` step in :data:`STORAGE_STEPS` below.

Storage steps are the ``spec_version`` at which a change reached subtensor ``main`` (yuma-spec
§10; ``git log --first-parent -S`` on the storage declarations up to 425 in opentensor/subtensor,
the stored RaoFoundation/subtensor sources and release PRs after):

* 100  sparse epoch; ``TotalHotkeyStake``, ``PendingEmission``/``EmissionValues``,
       Rank/Trust/PruningScores written (spec 103 = the oracle-103 runtime).
* 233  dTAO: ``TotalHotkeyAlpha`` (hotkey, netuid) + root stake × ``TaoWeight``,
       ``ChildKeys``/``ParentKeys``, ``StakeThreshold``, ``BondsPenalty``; the epoch gets
       ``PendingEmission + PendingAlphaSwapped`` (``drain_pending_emission``).
* 252  ``EmissionValues`` removed.
* 273  ``Yuma3On``.
* 297  commit-reveal column mask in the epoch, timelocked commits from ``CRV3WeightCommitsV2``.
* 306  ... from ``TimelockedWeightCommits``.
* 320  mechanisms: ``Weights``/``Bonds``/``LastUpdate``/``Incentive`` keyed by
       ``netuid + m·4096`` (``NetUidStorageIndex``); the epoch does not write ``StakeWeight``.
* 323  ``StakeWeight`` written again.
* 334  root dividends stay alpha: ``PendingEmission + PendingRootAlphaDivs`` (``6218ecc5c``).
* 343  ``PendingServerEmission``/``PendingValidatorEmission`` (+ ``PendingRootAlphaDivs``;
       ``b179867c3``).
* 365  Rank, Trust, PruningScores no longer written by the epoch.
* 423  dynamic tempo: ``LastEpochBlock``/``PendingEpochAt``/``SubnetEpochIndex``,
       ``ActivityCutoffFactorMilli``; commit expiry by ``SubnetEpochIndex``;
       ``LastMechansimStepBlock`` written *after* the epoch.
* 425  ``change_subnet_owner_if_needed`` runs in the drain, before the epoch.
* 441  (no step) Root Reborn queues root dividends for basket deposits that are flushed after
       the coinbase, and each drain pays stake on its own subnet only, so a later epoch of the
       same block still reads E−1's stake (``coinbase/run_coinbase.rs@1a587cc8``; PR #2968).
* 446  ``LiquidAlphaConsensusMode`` (default ``Auto``) and the netuid's stored ``Consensus`` at
       E−1 are read (RaoFoundation/subtensor ``pallets/subtensor/src/epoch/run_epoch.rs@76671f67``
       ``compute_consensus_for_liquid_alpha``; PR #3070 in #3077 "Release 446").

Types are not part of a step: ``Vec<PerU16>`` outputs and ``NetUid`` composite keys (specs
≥ 426) are read through each block's own metadata (single-field composites are resolved to
their ``u16``), so the exact spec of that change does not matter for reading it.

Spec numbers on non-main branches (testnet/devnet builds) overlap these ranges, so a layout is
also checked against the runtime's own metadata: every item it names must exist there.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from taoaudit.consensus.eras.table import ERAS as RULE_ERAS
from taoaudit.consensus.eras.table import LATEST, NEWEST_SPEC, REFUSED, assumed_label

from .errors import UnsupportedSpec
from .metadata import RuntimeTypes

PALLET = "SubtensorModule"
#: ``NetUidStorageIndex = netuid + mechanism · MECHANISM_STRIDE`` from spec 320 on.
MECHANISM_STRIDE = 4096
#: The oldest runtime whose storage chainkit knows.
FIRST_SPEC = 100


@dataclass(frozen=True)
class Storage:
    """Storage of the epoch's inputs and outputs from ``first_spec`` until the next step."""

    name: str
    first_spec: int
    #: how stake is stored: "TotalHotkeyStake" (per hotkey) or "TotalHotkeyAlpha" (hotkey, netuid)
    stake_item: str
    #: items summed into the amount handed to the epoch (read at E−1)
    emission_items: tuple[str, ...]
    #: Weights/Bonds/LastUpdate/Incentive keyed by netuid + m·4096
    mechanism_index: bool
    #: outputs the epoch writes per subnet (Vec per netuid)
    outputs: tuple[str, ...]
    #: per-mechanism-index outputs
    mechanism_outputs: tuple[str, ...] = ("Incentive",)
    #: items read as hyperparameters, by :class:`consensus.model.Hyperparameters` field
    hyperparameters: dict[str, str] = field(default_factory=dict)
    #: epoch schedule: "modulo" (spec < 423) or "stateful"
    schedule: str = "modulo"
    #: storage needed beyond the per-UID vectors (checked against metadata)
    extra_items: tuple[str, ...] = ()
    #: whether chainkit.epoch can build a full EpochInputs for this storage
    epoch_snapshot: bool = False
    #: storage of timelocked (CR v3/v4) commits read by the epoch's CR mask; None = no mask
    timelocked_item: str | None = None
    #: commit expiry: "block" (is_commit_expired on commit blocks, < 423) or "epoch_index"
    commit_expiry: str = "block"
    #: LastMechansimStepBlock is written in the drain *before* the epoch reads it (< 423)
    step_block_before_epoch: bool = True
    #: root dividends of a subnet drained earlier in the same block add to root stake (< 334)
    root_stake_moves_in_drain: bool = False
    #: the drain may change the subnet owner (and register it) before the epoch (≥ 425)
    owner_change_in_drain: bool = False
    #: LiquidAlphaConsensusMode and the stored Consensus at E−1 are epoch inputs (≥ 446)
    reads_consensus_prev: bool = False


@dataclass(frozen=True)
class Layout(Storage):
    """One row: a storage step within one record of the era table, over ``spec_min..spec_max``."""

    spec_min: int = 0
    spec_max: int = 0  # inclusive
    #: name of the era record (``consensus.eras.table.ERAS``) whose rules these epochs run;
    #: None: consensus refuses these specs (the storage is still read, e.g. for metagraphs)
    rules_era: str | None = None

    def covers(self, spec: int) -> bool:
        return self.spec_min <= spec <= self.spec_max

    def required_items(self) -> tuple[str, ...]:
        # Hyperparameters and the emission items are checked where they are read: their
        # absence changes an epoch snapshot, not the meaning of the per-UID vectors.
        return (
            (self.stake_item,)
            + self.outputs
            + self.mechanism_outputs
            + ("Keys", "Uids", "SubnetworkN", "LastUpdate", "BlockAtRegistration", "Weights", "Bonds")
        )

    def storage_index(self, netuid: int, mechanism: int = 0) -> int:
        """Key of the per-mechanism items (Weights, Bonds, LastUpdate, Incentive)."""
        if not self.mechanism_index:
            if mechanism:
                raise UnsupportedSpec(self.spec_min, "mechanism 0 only", f"mechanism {mechanism}")
            return netuid
        return netuid + mechanism * MECHANISM_STRIDE


_OUT_OLD = (
    "Active", "ValidatorPermit", "Rank", "Trust", "Consensus", "Dividends",
    "PruningScores", "ValidatorTrust", "Emission",
)  # fmt: skip
_OUT_320 = _OUT_OLD + ("StakeWeight",)
_OUT_365 = ("Active", "ValidatorPermit", "Consensus", "Dividends", "ValidatorTrust", "Emission", "StakeWeight")

_HP_OLD = {
    "tempo": "Tempo",
    "kappa": "Kappa",
    "bonds_moving_average": "BondsMovingAverage",
    "max_allowed_validators": "MaxAllowedValidators",
    "activity_cutoff": "ActivityCutoff",
}
_HP_DTAO = _HP_OLD | {
    "bonds_penalty": "BondsPenalty",
    "liquid_alpha": "LiquidAlphaOn",
    "commit_reveal_enabled": "CommitRevealWeightsEnabled",
}
_HP_273 = _HP_DTAO | {"yuma3": "Yuma3On", "alpha_sigmoid_steepness": "AlphaSigmoidSteepness"}
_HP_423 = {k: v for k, v in _HP_273.items() if k != "activity_cutoff"} | {
    "activity_cutoff_factor_milli": "ActivityCutoffFactorMilli"
}
_HP_446 = _HP_423 | {"liquid_alpha_consensus_mode": "LiquidAlphaConsensusMode"}
_DTAO_EXTRA = ("TaoWeight", "ChildKeys", "ParentKeys", "StakeThreshold", "SubnetOwnerHotkey", "LastMechansimStepBlock")
_EXTRA_273 = _DTAO_EXTRA + ("AlphaValues", "WeightCommits", "RevealPeriodEpochs")
_EXTRA_320 = _EXTRA_273 + ("MechanismCountCurrent",)
_EM_SWAPPED = ("PendingEmission", "PendingAlphaSwapped")
_EM_ROOT_ALPHA = ("PendingEmission", "PendingRootAlphaDivs")
_EM_SPLIT = ("PendingServerEmission", "PendingValidatorEmission", "PendingRootAlphaDivs")
_TL = "TimelockedWeightCommits"
_EXTRA_423 = _EXTRA_320 + (_TL, "LastEpochBlock", "PendingEpochAt", "SubnetEpochIndex")

_S = Storage
_MECH = _S(
    "mechanisms", 320, "TotalHotkeyAlpha", _EM_SWAPPED, True, _OUT_OLD, ("Incentive",), _HP_273,
    extra_items=_EXTRA_320 + (_TL,), epoch_snapshot=True, root_stake_moves_in_drain=True, timelocked_item=_TL,
)  # fmt: skip
_TEMPO = replace(
    _MECH, name="dynamic-tempo", first_spec=423, emission_items=_EM_SPLIT, outputs=_OUT_365,
    hyperparameters=_HP_423, schedule="stateful", extra_items=_EXTRA_423, root_stake_moves_in_drain=False,
    commit_expiry="epoch_index", step_block_before_epoch=False,
)  # fmt: skip

STORAGE_STEPS: tuple[Storage, ...] = (
    _S("single-token", 100, "TotalHotkeyStake", ("PendingEmission", "EmissionValues"), False, _OUT_OLD,
       ("Incentive",), _HP_OLD, extra_items=("LastMechansimStepBlock",), epoch_snapshot=True),
    _S("dtao", 233, "TotalHotkeyAlpha", _EM_SWAPPED + ("EmissionValues",), False, _OUT_320, ("Incentive",),
       _HP_DTAO, extra_items=_DTAO_EXTRA),
    _S("dtao", 252, "TotalHotkeyAlpha", _EM_SWAPPED, False, _OUT_320, ("Incentive",), _HP_DTAO,
       extra_items=_DTAO_EXTRA),
    _S("dtao-yuma3", 273, "TotalHotkeyAlpha", _EM_SWAPPED, False, _OUT_320, ("Incentive",), _HP_273,
       extra_items=_EXTRA_273, epoch_snapshot=True, root_stake_moves_in_drain=True),
    _S("cr-mask", 297, "TotalHotkeyAlpha", _EM_SWAPPED, False, _OUT_320, ("Incentive",), _HP_273,
       extra_items=_EXTRA_273 + ("CRV3WeightCommitsV2",), epoch_snapshot=True, root_stake_moves_in_drain=True,
       timelocked_item="CRV3WeightCommitsV2"),
    _S("timelocked", 306, "TotalHotkeyAlpha", _EM_SWAPPED, False, _OUT_320, ("Incentive",), _HP_273,
       extra_items=_EXTRA_273 + (_TL,), epoch_snapshot=True, root_stake_moves_in_drain=True, timelocked_item=_TL),
    _MECH,  # StakeWeight storage exists but the 320–322 epoch does not write it
    replace(_MECH, name="mechanisms-stake-weight", first_spec=323, outputs=_OUT_320),
    replace(_MECH, name="root-alpha-divs", first_spec=334, outputs=_OUT_320, emission_items=_EM_ROOT_ALPHA,
            root_stake_moves_in_drain=False),
    replace(_MECH, name="mechanisms-split-pending", first_spec=343, outputs=_OUT_320, emission_items=_EM_SPLIT,
            root_stake_moves_in_drain=False),
    replace(_MECH, name="no-rank-trust", first_spec=365, outputs=_OUT_365, emission_items=_EM_SPLIT,
            root_stake_moves_in_drain=False),
    _TEMPO,
    replace(_TEMPO, name="owner-conviction", first_spec=425, owner_change_in_drain=True),
    replace(_TEMPO, name="consensus-modes", first_spec=446, owner_change_in_drain=True, hyperparameters=_HP_446,
            reads_consensus_prev=True),
)  # fmt: skip


def _rule_spans() -> list[tuple[int, int, str | None]]:
    """The era table's records from FIRST_SPEC to its newest spec: (first, last, rules era)."""
    spans = [(e.first_spec, e.last_spec, e.name) for e in RULE_ERAS]
    spans += [(r.first_spec, r.last_spec if r.last_spec is not None else NEWEST_SPEC, None) for r in REFUSED]
    out = []
    for a, b, name in sorted(spans):
        a, b = max(a, FIRST_SPEC), min(b, NEWEST_SPEC)
        if a <= b:
            out.append((a, b, name))
    return out


def _layouts() -> tuple[Layout, ...]:
    """Every era record cut at the storage steps inside it: one row per (rules, storage)."""
    starts = [s.first_spec for s in STORAGE_STEPS]
    rows: list[Layout] = []
    for first, last, rules in _rule_spans():
        cuts = sorted({first} | {s for s in starts if first < s <= last})
        for a, b in zip(cuts, cuts[1:] + [last + 1]):
            storage = max((s for s in STORAGE_STEPS if s.first_spec <= a), key=lambda s: s.first_spec)
            values = {f: getattr(storage, f) for f in Storage.__dataclass_fields__}
            rows.append(Layout(**values, spec_min=a, spec_max=b - 1, rules_era=rules))
    return tuple(rows)


#: One row per (era record × storage step), in spec order, from FIRST_SPEC to NEWEST_SPEC.
LAYOUTS: tuple[Layout, ...] = _layouts()


def supported_ranges(only_epoch_snapshots: bool = False) -> str:
    """The spec ranges with a layout (or with epoch snapshots), adjacent rows merged."""
    spans: list[list[int]] = []
    for e in LAYOUTS:
        if only_epoch_snapshots and not e.epoch_snapshot:
            continue
        if spans and spans[-1][1] + 1 == e.spec_min:
            spans[-1][1] = e.spec_max
        else:
            spans.append([e.spec_min, e.spec_max])
    return ", ".join(f"{a}–{b}" if a != b else str(a) for a, b in spans)


def newer_than_known(spec_version: int) -> bool:
    return spec_version > NEWEST_SPEC


def era_for_spec(
    spec_version: int, runtime: RuntimeTypes | None = None, *, assume_era: str | None = None
) -> Layout:
    """The storage layout for a runtime; checked against its metadata when given.

    A spec newer than the era table is refused, naming the newest supported spec, unless
    ``assume_era="latest"``: then the newest layout is used (still checked against the
    runtime's metadata) and callers label results with :func:`assumed_label`."""
    if assume_era not in (None, LATEST):
        raise ValueError(f"assume_era must be None or {LATEST!r}, not {assume_era!r}")
    if newer_than_known(spec_version):
        if assume_era != LATEST:
            raise UnsupportedSpec(
                spec_version,
                f"specs {supported_ranges()}; {NEWEST_SPEC} is the newest known (assume_era='latest' / "
                f"--assume-era latest reads it with the spec-{NEWEST_SPEC} layout and rules, unverified)",
            )
        layout = LAYOUTS[-1]
    else:
        found = [e for e in LAYOUTS if e.covers(spec_version)]
        if not found:
            raise UnsupportedSpec(spec_version, f"specs {supported_ranges()}")
        layout = found[0]
    if runtime is not None:
        missing = [i for i in layout.required_items() if not runtime.has_storage(PALLET, i)]
        if missing:
            # Builds off main reuse spec numbers; refuse rather than read the wrong items.
            raise UnsupportedSpec(
                spec_version,
                f"specs {supported_ranges()} as built on subtensor main "
                f"(this runtime lacks {', '.join(missing[:4])}{'…' if len(missing) > 4 else ''} "
                f"of the {layout.name} layout)",
            )
    return layout


def layout_for_metadata(spec_version: int, runtime: RuntimeTypes) -> Layout:
    """Storage layout to *decode* a block with (metagraphs, snapshots): a spec newer than the
    table reads with the newest layout, which its metadata must still declare item for item."""
    return era_for_spec(spec_version, runtime, assume_era=LATEST)


def assumed_note(spec_version: int, assume_era: str | None) -> str | None:
    """The label every result carries when a newer spec ran the newest era's rules, else None."""
    if assume_era == LATEST and newer_than_known(spec_version):
        return assumed_label(spec_version)
    return None

"""Which storage items hold each epoch input and output, per runtime era — all in one place.

Boundaries are the ``spec_version`` at which a change reached subtensor ``main`` (yuma-spec §10,
checked against the source history: ``git log --first-parent -S`` on the storage declarations
of ``pallets/subtensor/src/lib.rs``):

* 100  sparse epoch; ``TotalHotkeyStake``, ``PendingEmission``/``EmissionValues``,
       Rank/Trust/PruningScores written (spec 103 = the oracle-103 runtime).
* 233  dTAO: ``TotalHotkeyAlpha`` (hotkey, netuid) + root stake × ``TaoWeight``,
       ``ChildKeys``/``ParentKeys``, ``StakeThreshold``, ``BondsPenalty``; ``TotalHotkeyStake`` gone.
       The epoch gets ``PendingEmission + PendingAlphaSwapped`` (``drain_pending_emission``).
* 252  ``EmissionValues`` removed.
* 273  ``Yuma3On``.
* 297  commit-reveal column mask in the epoch, timelocked commits from ``CRV3WeightCommitsV2``.
* 306  ... from ``TimelockedWeightCommits``.
* 320  mechanisms: ``Weights``/``Bonds``/``LastUpdate``/``Incentive`` keyed by
       ``netuid + m·4096`` (``NetUidStorageIndex``); ``MechanismCountCurrent``; the epoch does
       not write ``StakeWeight`` (written before 320 and again from 323).
* 334  root dividends stay alpha: the epoch gets ``PendingEmission + PendingRootAlphaDivs``
       (``6218ecc5c``); root stake no longer moves inside the drain.
* 343  ``PendingEmission`` split into ``PendingServerEmission``/``PendingValidatorEmission``
       (+ ``PendingRootAlphaDivs``, ``PendingOwnerCut``; ``b179867c3``).
* 365  Rank, Trust, PruningScores no longer written by the epoch.
* 423  dynamic tempo: ``LastEpochBlock``/``PendingEpochAt``/``SubnetEpochIndex``,
       ``ActivityCutoffFactorMilli`` replaces the ``ActivityCutoff`` block count; commit expiry
       by ``SubnetEpochIndex``; ``LastMechansimStepBlock`` written *after* the epoch.
* 425  ``change_subnet_owner_if_needed`` runs in the drain, before the epoch.

Spec numbers on non-main branches (testnet/devnet builds) overlap these ranges, so an era is
also checked against the runtime's own metadata: every item it names must exist there.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import UnsupportedSpec
from .metadata import RuntimeTypes

PALLET = "SubtensorModule"
#: ``NetUidStorageIndex = netuid + mechanism · MECHANISM_STRIDE`` from spec 320 on.
MECHANISM_STRIDE = 4096


@dataclass(frozen=True)
class Era:
    """Storage layout of the epoch's inputs and outputs in one range of runtimes."""

    name: str
    spec_min: int
    spec_max: int | None  # inclusive; None = open-ended
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
    #: whether chainkit.epoch can build a full EpochInputs for this era
    epoch_snapshot: bool = False
    notes: str = ""
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

    def covers(self, spec: int) -> bool:
        return spec >= self.spec_min and (self.spec_max is None or spec <= self.spec_max)

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
_DTAO_EXTRA = ("TaoWeight", "ChildKeys", "ParentKeys", "StakeThreshold", "SubnetOwnerHotkey", "LastMechansimStepBlock")
_EXTRA_273 = _DTAO_EXTRA + ("AlphaValues", "WeightCommits", "RevealPeriodEpochs")
_EXTRA_320 = _EXTRA_273 + ("MechanismCountCurrent",)
_EM_SWAPPED = ("PendingEmission", "PendingAlphaSwapped")
_EM_ROOT_ALPHA = ("PendingEmission", "PendingRootAlphaDivs")
_EM_SPLIT = ("PendingServerEmission", "PendingValidatorEmission", "PendingRootAlphaDivs")
_TL = "TimelockedWeightCommits"

ERAS: tuple[Era, ...] = (
    Era(
        "single-token", 100, 232, "TotalHotkeyStake", ("PendingEmission", "EmissionValues"),
        False, _OUT_OLD, ("Incentive",), _HP_OLD, extra_items=("LastMechansimStepBlock",),
        epoch_snapshot=True,
        notes="verified against the spec-103 oracle (oracle-103)",
    ),
    Era(
        "dtao", 233, 251, "TotalHotkeyAlpha", _EM_SWAPPED + ("EmissionValues",),
        False, _OUT_320, ("Incentive",), _HP_DTAO, extra_items=_DTAO_EXTRA,
        notes="stake = alpha + root TAO × TaoWeight with child/parent inheritance",
    ),
    Era(
        "dtao", 252, 272, "TotalHotkeyAlpha", _EM_SWAPPED,
        False, _OUT_320, ("Incentive",), _HP_DTAO, extra_items=_DTAO_EXTRA,
    ),
    Era(
        "dtao-yuma3", 273, 296, "TotalHotkeyAlpha", _EM_SWAPPED,
        False, _OUT_320, ("Incentive",), _HP_273, extra_items=_EXTRA_273,
        epoch_snapshot=True, root_stake_moves_in_drain=True,
    ),
    Era(
        "cr-mask", 297, 305, "TotalHotkeyAlpha", _EM_SWAPPED,
        False, _OUT_320, ("Incentive",), _HP_273, extra_items=_EXTRA_273 + ("CRV3WeightCommitsV2",),
        epoch_snapshot=True, root_stake_moves_in_drain=True, timelocked_item="CRV3WeightCommitsV2",
    ),
    Era(
        "timelocked", 306, 319, "TotalHotkeyAlpha", _EM_SWAPPED,
        False, _OUT_320, ("Incentive",), _HP_273, extra_items=_EXTRA_273 + (_TL,),
        epoch_snapshot=True, root_stake_moves_in_drain=True, timelocked_item=_TL,
    ),
    Era(
        "mechanisms", 320, 322, "TotalHotkeyAlpha", _EM_SWAPPED,
        True, _OUT_OLD, ("Incentive",), _HP_273, extra_items=_EXTRA_320 + (_TL,),
        epoch_snapshot=True, root_stake_moves_in_drain=True, timelocked_item=_TL,
        notes="StakeWeight storage exists but the 320-322 epoch does not write it",
    ),
    Era(
        "mechanisms-stake-weight", 323, 333, "TotalHotkeyAlpha", _EM_SWAPPED,
        True, _OUT_320, ("Incentive",), _HP_273, extra_items=_EXTRA_320 + (_TL,),
        epoch_snapshot=True, root_stake_moves_in_drain=True, timelocked_item=_TL,
    ),
    Era(
        "root-alpha-divs", 334, 342, "TotalHotkeyAlpha", _EM_ROOT_ALPHA,
        True, _OUT_320, ("Incentive",), _HP_273, extra_items=_EXTRA_320 + (_TL,),
        epoch_snapshot=True, timelocked_item=_TL,
    ),
    Era(
        "mechanisms-split-pending", 343, 364, "TotalHotkeyAlpha", _EM_SPLIT,
        True, _OUT_320, ("Incentive",), _HP_273, extra_items=_EXTRA_320 + (_TL,),
        epoch_snapshot=True, timelocked_item=_TL,
    ),
    Era(
        "no-rank-trust", 365, 422, "TotalHotkeyAlpha", _EM_SPLIT,
        True, _OUT_365, ("Incentive",), _HP_273, extra_items=_EXTRA_320 + (_TL,),
        epoch_snapshot=True, timelocked_item=_TL,
    ),
    Era(
        "dynamic-tempo", 423, 424, "TotalHotkeyAlpha", _EM_SPLIT,
        True, _OUT_365, ("Incentive",), _HP_423, schedule="stateful",
        extra_items=_EXTRA_320 + (_TL, "LastEpochBlock", "PendingEpochAt", "SubnetEpochIndex"),
        epoch_snapshot=True, timelocked_item=_TL, commit_expiry="epoch_index",
        step_block_before_epoch=False,
    ),
    Era(
        "owner-conviction", 425, None, "TotalHotkeyAlpha", _EM_SPLIT,
        True, _OUT_365, ("Incentive",), _HP_423, schedule="stateful",
        extra_items=_EXTRA_320 + (_TL, "LastEpochBlock", "PendingEpochAt", "SubnetEpochIndex"),
        epoch_snapshot=True, timelocked_item=_TL, commit_expiry="epoch_index",
        step_block_before_epoch=False, owner_change_in_drain=True,
    ),
)  # fmt: skip


def supported_ranges(only_epoch_snapshots: bool = False) -> str:
    """The spec ranges with a layout (or with epoch snapshots), adjacent eras merged."""
    spans: list[list[int | None]] = []
    for e in ERAS:
        if only_epoch_snapshots and not e.epoch_snapshot:
            continue
        if spans and spans[-1][1] is not None and spans[-1][1] + 1 == e.spec_min:
            spans[-1][1] = e.spec_max
        else:
            spans.append([e.spec_min, e.spec_max])
    return ", ".join(f"{a}–{b}" if b is not None else f"≥{a}" for a, b in spans)


def era_for_spec(spec_version: int, runtime: RuntimeTypes | None = None) -> Era:
    """The storage layout for a runtime; checked against its metadata when given."""
    candidates = [e for e in ERAS if e.covers(spec_version)]
    if not candidates:
        raise UnsupportedSpec(spec_version, f"specs {supported_ranges()}")
    era = candidates[0]
    if runtime is not None:
        missing = [i for i in era.required_items() if not runtime.has_storage(PALLET, i)]
        if missing:
            # Builds off main reuse spec numbers; refuse rather than read the wrong items.
            raise UnsupportedSpec(
                spec_version,
                f"specs {supported_ranges()} as built on subtensor main "
                f"(this runtime lacks {', '.join(missing[:4])}{'…' if len(missing) > 4 else ''} "
                f"of the {era.name} layout)",
            )
    return era

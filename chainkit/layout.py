"""Which storage items hold each epoch input and output, per runtime era — all in one place.

Boundaries are the ``spec_version`` at which a change reached subtensor ``main`` (yuma-spec §10,
checked against the source history: ``git log --first-parent -S`` on the storage declarations
of ``pallets/subtensor/src/lib.rs``):

* 100  sparse epoch; ``TotalHotkeyStake``, ``PendingEmission``/``EmissionValues``,
       Rank/Trust/PruningScores written (spec 103 = the oracle-103 runtime).
* 233  dTAO: ``TotalHotkeyAlpha`` (hotkey, netuid) + root stake × ``TaoWeight``,
       ``ChildKeys``/``ParentKeys``, ``StakeThreshold``, ``BondsPenalty``; ``TotalHotkeyStake`` gone.
* 252  ``EmissionValues`` removed.
* 273  ``Yuma3On``.
* 320  mechanisms: ``Weights``/``Bonds``/``LastUpdate``/``Incentive`` keyed by
       ``netuid + m·4096`` (``NetUidStorageIndex``); ``MechanismCountCurrent``.
* 323  ``StakeWeight`` written by the epoch (declared at 320, persisted from 323).
* 343  ``PendingEmission`` split into ``PendingServerEmission``/``PendingValidatorEmission``/
       ``PendingRootAlphaDivs``/``PendingOwnerCut``.
* 365  Rank, Trust, PruningScores no longer written by the epoch.
* 423  dynamic tempo: ``LastEpochBlock``/``PendingEpochAt``/``SubnetEpochIndex``,
       ``ActivityCutoffFactorMilli`` replaces the ``ActivityCutoff`` block count.

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

ERAS: tuple[Era, ...] = (
    Era(
        "single-token", 100, 232, "TotalHotkeyStake", ("PendingEmission", "EmissionValues"),
        False, _OUT_OLD, ("Incentive",), _HP_OLD, extra_items=("LastMechansimStepBlock",),
        epoch_snapshot=True,
        notes="verified against the spec-103 oracle (oracle-103)",
    ),
    Era(
        "dtao", 233, 251, "TotalHotkeyAlpha", ("PendingEmission", "EmissionValues"),
        False, _OUT_OLD, ("Incentive",), _HP_DTAO, extra_items=_DTAO_EXTRA,
        notes="stake = alpha + root TAO × TaoWeight with child/parent inheritance",
    ),
    Era(
        "dtao", 252, 272, "TotalHotkeyAlpha", ("PendingEmission",),
        False, _OUT_OLD, ("Incentive",), _HP_DTAO, extra_items=_DTAO_EXTRA,
    ),
    Era(
        "dtao-yuma3", 273, 319, "TotalHotkeyAlpha", ("PendingEmission",),
        False, _OUT_OLD, ("Incentive",), _HP_273, extra_items=_DTAO_EXTRA,
    ),
    Era(
        "mechanisms", 320, 322, "TotalHotkeyAlpha", ("PendingEmission",),
        True, _OUT_OLD, ("Incentive",), _HP_273, extra_items=_DTAO_EXTRA + ("MechanismCountCurrent",),
        notes="StakeWeight storage exists but is first written at 323",
    ),
    Era(
        "mechanisms-stake-weight", 323, 342, "TotalHotkeyAlpha", ("PendingEmission",),
        True, _OUT_320, ("Incentive",), _HP_273, extra_items=_DTAO_EXTRA + ("MechanismCountCurrent",),
    ),
    Era(
        "mechanisms-split-pending", 343, 364, "TotalHotkeyAlpha",
        ("PendingServerEmission", "PendingValidatorEmission", "PendingRootAlphaDivs"),
        True, _OUT_320, ("Incentive",), _HP_273, extra_items=_DTAO_EXTRA + ("MechanismCountCurrent",),
    ),
    Era(
        "no-rank-trust", 365, 422, "TotalHotkeyAlpha",
        ("PendingServerEmission", "PendingValidatorEmission", "PendingRootAlphaDivs"),
        True, _OUT_365, ("Incentive",), _HP_273, extra_items=_DTAO_EXTRA + ("MechanismCountCurrent",),
    ),
    Era(
        "dynamic-tempo", 423, None, "TotalHotkeyAlpha",
        ("PendingServerEmission", "PendingValidatorEmission", "PendingRootAlphaDivs"),
        True, _OUT_365, ("Incentive",), _HP_423, schedule="stateful",
        extra_items=_DTAO_EXTRA + ("MechanismCountCurrent", "LastEpochBlock", "PendingEpochAt", "SubnetEpochIndex"),
    ),
)  # fmt: skip


def supported_ranges() -> str:
    out = []
    for e in ERAS:
        out.append(f"{e.spec_min}–{e.spec_max}" if e.spec_max is not None else f"≥{e.spec_min}")
    return ", ".join(out)


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

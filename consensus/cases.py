"""Epoch case files ↔ the typed model.

Two formats carry a complete epoch input and its expected outputs:

* ``epoch-snapshot/1`` (current era): ``input_snapshot`` exactly as the test vectors'
  snapshot; outputs named like the vectors' ``model_output``.
* ``oracle-epoch-case/103`` (spec 103): inputs by storage name as the runtime read them at
  E−1, outputs by storage name as it wrote them at E.

Parsing is strict: a missing or mistyped field raises :class:`CaseFormatError` with a
one-line message naming the field, never a silently defaulted number.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .errors import EpochInputError
from .model import CONSENSUS_MODES, EpochInputs, EpochOutputs, Hyperparameters, SparseRows, U64_MAX

SNAPSHOT_FORMAT = "epoch-snapshot/1"
ORACLE_103_FORMAT = "oracle-epoch-case/103"


class CaseFormatError(EpochInputError):
    """A case file that cannot be read as an epoch case (one line, fit for ``error:``)."""


@dataclass(frozen=True)
class EpochCase:
    case_id: str
    format: str
    spec_version: int
    inputs: EpochInputs
    expected: dict[str, Any] | None  # the case file's outputs, as written in the file
    raw: Mapping[str, Any]


def _get(d: Mapping[str, Any], key: str, where: str) -> Any:
    if not isinstance(d, Mapping) or key not in d:
        raise CaseFormatError(f"{where}: missing field '{key}'")
    return d[key]


def _int(v: Any, where: str, lo: int = 0, hi: int = U64_MAX) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise CaseFormatError(f"{where}: expected an integer, got {type(v).__name__}")
    if not lo <= v <= hi:
        raise CaseFormatError(f"{where}: {v} is outside [{lo}, {hi}]")
    return v


def _ints(v: Any, where: str, hi: int = U64_MAX) -> list[int]:
    if not isinstance(v, list):
        raise CaseFormatError(f"{where}: expected a list of integers")
    return [_int(x, f"{where}[{i}]", 0, hi) for i, x in enumerate(v)]


def _bool(v: Any, where: str) -> bool:
    """A JSON boolean: the string "false" or the number 0 is not one (both read as true in Python)."""
    if not isinstance(v, bool):
        raise CaseFormatError(f"{where}: expected true or false, got {type(v).__name__}")
    return v


def _sized(values: list[int], n: int, where: str) -> list[int]:
    """Per-UID vectors of the format have exactly one entry per UID."""
    if len(values) != n:
        raise CaseFormatError(f"{where}: expected {n} entries (one per UID), got {len(values)}")
    return values


def _alpha_values(v: Any, where: str) -> tuple[int, int]:
    if not (isinstance(v, list) and len(v) == 2):
        raise CaseFormatError(f"{where}: expected [alpha_low, alpha_high]")
    return _int(v[0], f"{where}[0]", 0, 0xFFFF), _int(v[1], f"{where}[1]", 0, 0xFFFF)


def _consensus_mode(v: Any, where: str) -> str:
    if v not in CONSENSUS_MODES:
        raise CaseFormatError(f"{where}: expected one of {', '.join(CONSENSUS_MODES)}, got {v!r}")
    return v


def _bools(v: Any, where: str) -> list[bool]:
    if not isinstance(v, list) or not all(isinstance(x, bool) for x in v):
        raise CaseFormatError(f"{where}: expected a list of booleans")
    return list(v)


def _rows(v: Any, n: int, where: str) -> SparseRows:
    if not isinstance(v, Mapping):
        raise CaseFormatError(f"{where}: expected an object {{uid: [[col, value], ...]}}")
    rows: list[Any] = [None] * n
    for k, row in v.items():
        if not (isinstance(k, str) and k.isdigit() and k.isascii()):
            raise CaseFormatError(f"{where}: row key {k!r} is not a uid")
        uid = int(k)
        if not isinstance(row, list):
            raise CaseFormatError(f"{where}[{k}]: expected a list of [col, value] pairs")
        pairs = []
        for p in row:
            if not (isinstance(p, list) and len(p) == 2):
                raise CaseFormatError(f"{where}[{k}]: expected [col, value] pairs")
            pairs.append((_int(p[0], f"{where}[{k}]", 0, 0xFFFF), _int(p[1], f"{where}[{k}]", 0, 0xFFFF)))
        if 0 <= uid < n:
            rows[uid] = pairs
    return SparseRows.from_rows(rows)


def snapshot_inputs(
    snap: Mapping[str, Any], where: str = "input_snapshot", *, consensus_modes: bool = False
) -> EpochInputs:
    """The vectors' ``input_snapshot`` (vectors README §2.1) as :class:`EpochInputs`.

    ``consensus_modes`` (spec >= 446, ``epoch-snapshot-459``): ``consensus_prev`` and
    ``hyperparameters.liquid_alpha_consensus_mode`` are required; before, they must be absent
    from the runtime and are ignored when a file carries them.
    """
    if not isinstance(snap, Mapping):
        raise CaseFormatError(f"{where}: expected an object")
    n = _int(_get(snap, "n", where), f"{where}.n", 0, 0xFFFF)
    hp_raw = _get(snap, "hyperparameters", where)
    if not isinstance(hp_raw, Mapping):
        raise CaseFormatError(f"{where}.hyperparameters: expected an object")
    w = f"{where}.hyperparameters"
    alpha_low, alpha_high = _alpha_values(_get(hp_raw, "alpha_values", w), f"{w}.alpha_values")
    owner = hp_raw.get("owner_uid")
    mode = "auto"
    consensus_prev = None
    if consensus_modes:
        mode = _consensus_mode(_get(hp_raw, "liquid_alpha_consensus_mode", w), f"{w}.liquid_alpha_consensus_mode")
        consensus_prev = np.asarray(
            _ints(_get(snap, "consensus_prev", where), f"{where}.consensus_prev", 0xFFFF), dtype=np.uint16
        )
    hp = Hyperparameters(
        tempo=_int(_get(hp_raw, "tempo", w), f"{w}.tempo", 0, 0xFFFF),
        kappa=_int(_get(hp_raw, "kappa", w), f"{w}.kappa", 0, 0xFFFF),
        bonds_penalty=_int(_get(hp_raw, "bonds_penalty", w), f"{w}.bonds_penalty", 0, 0xFFFF),
        bonds_moving_average=_int(_get(hp_raw, "bonds_moving_average", w), f"{w}.bonds_moving_average"),
        yuma3=_bool(_get(hp_raw, "yuma3", w), f"{w}.yuma3"),
        liquid_alpha=_bool(_get(hp_raw, "liquid_alpha", w), f"{w}.liquid_alpha"),
        alpha_low=alpha_low,
        alpha_high=alpha_high,
        alpha_sigmoid_steepness=_int(
            _get(hp_raw, "alpha_sigmoid_steepness", w), f"{w}.alpha_sigmoid_steepness", -32768, 32767
        ),
        max_allowed_validators=_int(_get(hp_raw, "max_allowed_validators", w), f"{w}.max_allowed_validators", 0, 0xFFFF),
        stake_threshold=_int(_get(hp_raw, "stake_threshold", w), f"{w}.stake_threshold"),
        tao_weight=_int(_get(hp_raw, "tao_weight", w), f"{w}.tao_weight"),
        activity_cutoff_factor_milli=_int(
            _get(hp_raw, "activity_cutoff_factor_milli", w), f"{w}.activity_cutoff_factor_milli", 0, 0xFFFFFFFF
        ),
        commit_reveal_enabled=_bool(hp_raw.get("commit_reveal_enabled", False), f"{w}.commit_reveal_enabled"),
        owner_uid=None if owner is None else _int(owner, f"{w}.owner_uid", 0, 0xFFFF),
        last_mechanism_step_block=_int(hp_raw.get("last_mechanism_step_block", 0), f"{w}.last_mechanism_step_block"),
        liquid_alpha_consensus_mode=mode,
    )
    commit = snap.get("commit_blocks")
    return EpochInputs(
        n=n,
        current_block=_int(_get(snap, "current_block", where), f"{where}.current_block"),
        rao_emission=_int(_get(snap, "rao_emission", where), f"{where}.rao_emission"),
        hyperparameters=hp,
        last_update=np.asarray(_ints(_get(snap, "last_update", where), f"{where}.last_update"), dtype=np.uint64),
        block_at_registration=np.asarray(
            _sized(_ints(_get(snap, "block_at_registration", where), f"{where}.block_at_registration"), n,
                   f"{where}.block_at_registration"),
            dtype=np.uint64,
        ),
        validator_permit=np.asarray(_bools(_get(snap, "validator_permit", where), f"{where}.validator_permit"), dtype=bool),
        stake_alpha=np.asarray(
            _sized(_ints(_get(snap, "stake_alpha", where), f"{where}.stake_alpha"), n, f"{where}.stake_alpha"),
            dtype=np.uint64,
        ),
        stake_tao=np.asarray(
            _sized(_ints(_get(snap, "stake_tao", where), f"{where}.stake_tao"), n, f"{where}.stake_tao"),
            dtype=np.uint64,
        ),
        weights=_rows(_get(snap, "weights", where), n, f"{where}.weights"),
        bonds=_rows(_get(snap, "bonds", where), n, f"{where}.bonds"),
        commit_blocks=None if commit is None else np.asarray(
            _sized(_ints(commit, f"{where}.commit_blocks"), n, f"{where}.commit_blocks"), dtype=np.uint64
        ),
        consensus_prev=consensus_prev,
    )


def oracle103_inputs(case: Mapping[str, Any]) -> EpochInputs:
    """An ``oracle-epoch-case/103`` case's inputs (read at E−1) as :class:`EpochInputs`."""
    inp = _get(case, "inputs", "case")
    hp_raw = _get(case, "hyperparameters", "case")
    n = _int(_get(case, "n", "case"), "n", 0, 0xFFFF)
    netuid = _int(_get(case, "netuid", "case"), "netuid", 0, 0xFFFF)
    blocks = _get(case, "blocks", "case")
    w = "hyperparameters"
    hp = Hyperparameters(
        tempo=_int(_get(hp_raw, "Tempo", w), "Tempo", 0, 0xFFFF),
        kappa=_int(_get(hp_raw, "Kappa", w), "Kappa", 0, 0xFFFF),
        bonds_moving_average=_int(_get(hp_raw, "BondsMovingAverage", w), "BondsMovingAverage"),
        max_allowed_validators=_int(_get(hp_raw, "MaxAllowedValidators", w), "MaxAllowedValidators", 0, 0xFFFF),
        activity_cutoff=_int(_get(hp_raw, "ActivityCutoff", w), "ActivityCutoff", 0, 0xFFFF),
    )
    stake = _ints(_get(inp, "TotalHotkeyStake", "inputs"), "inputs.TotalHotkeyStake")
    keys = _get(inp, "Keys", "inputs")
    return EpochInputs(
        n=n,
        current_block=_int(_get(blocks, "epoch_block", "blocks"), "blocks.epoch_block"),
        rao_emission=_int(_get(case, "emission", "case"), "emission"),
        hyperparameters=hp,
        last_update=np.asarray(_ints(_get(inp, "LastUpdate", "inputs"), "inputs.LastUpdate"), dtype=np.uint64),
        block_at_registration=np.asarray(
            _ints(_get(inp, "BlockAtRegistration", "inputs"), "inputs.BlockAtRegistration"), dtype=np.uint64
        ),
        validator_permit=np.asarray(_bools(_get(inp, "ValidatorPermit", "inputs"), "inputs.ValidatorPermit"), dtype=bool),
        stake_alpha=np.asarray(stake, dtype=np.uint64),
        stake_tao=np.zeros(len(stake), dtype=np.uint64),
        weights=_rows(_get(inp, "Weights", "inputs"), n, "inputs.Weights"),
        bonds=_rows(_get(inp, "Bonds", "inputs"), n, "inputs.Bonds"),
        netuid=netuid,
        hotkeys=tuple(str(k) for k in keys) if isinstance(keys, list) else None,
    )


def load_case(path: str | Path) -> EpochCase:
    """Read one case file; every problem is a :class:`CaseFormatError` with a one-line reason."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise CaseFormatError(f"{p}: cannot read ({e.strerror or e})") from None
    except UnicodeDecodeError as e:
        raise CaseFormatError(f"{p}: not UTF-8 text (byte {e.start})") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as e:
        raise CaseFormatError(f"{p}: not valid JSON ({e.msg} at line {e.lineno})") from None
    except RecursionError:
        raise CaseFormatError(f"{p}: JSON nested too deeply") from None
    try:
        return parse_case(raw)
    except CaseFormatError as e:
        raise CaseFormatError(f"{p}: {e}") from None


def _reads_consensus_modes(spec_version: int) -> bool:
    """Whether the era of the case's spec reads the spec-446 inputs (a spec newer than the table
    is read as the newest era, which may be assumed when it runs)."""
    from .eras.table import ERAS, NEWEST_SPEC

    if spec_version > NEWEST_SPEC:
        return bool(ERAS[-1].rules and ERAS[-1].rules.liquid_alpha_consensus_modes)
    era = next((e for e in ERAS if e.covers(spec_version)), None)
    return bool(era is not None and era.rules is not None and era.rules.liquid_alpha_consensus_modes)


def parse_case(raw: Any) -> EpochCase:
    if not isinstance(raw, Mapping):
        raise CaseFormatError("a case must be a JSON object")
    fmt = raw.get("format")
    runtime = _get(raw, "runtime", "case")
    spec = _int(_get(runtime, "spec_version", "runtime"), "runtime.spec_version", 0, 0xFFFFFFFF)
    case_id = str(raw.get("case_id", "?"))
    if fmt == SNAPSHOT_FORMAT:
        inputs = snapshot_inputs(_get(raw, "input_snapshot", "case"), consensus_modes=_reads_consensus_modes(spec))
    elif fmt == ORACLE_103_FORMAT:
        inputs = oracle103_inputs(raw)
    else:
        raise CaseFormatError(f"unknown case format {fmt!r} (known: {SNAPSHOT_FORMAT}, {ORACLE_103_FORMAT})")
    expected = raw.get("outputs")
    if expected is not None:
        _check_expected(expected, fmt)
    return EpochCase(case_id, fmt, spec, inputs, expected, raw)


_BOOL_FIELDS = {"active", "validator_permit", "Active", "ValidatorPermit"}
_ROW_FIELDS = {"bonds_written", "Bonds"}
_INT_FIELDS = {
    SNAPSHOT_FORMAT: ("consensus", "incentive", "dividends", "validator_trust", "emission", "server_emission",
                      "validator_emission", "stake_weight"),
    ORACLE_103_FORMAT: ("Rank", "Trust", "Consensus", "Incentive", "Dividends", "PruningScores", "ValidatorTrust",
                        "Emission"),
}


def _check_expected(expected: Any, fmt: str) -> None:
    """The outputs a case expects must have the shapes the runner compares: a malformed
    expectation is a format error, never a mismatch verdict (or a silent "no expectations")."""
    if not isinstance(expected, Mapping):
        raise CaseFormatError("outputs: expected an object")
    for name, value in expected.items():
        where = f"outputs.{name}"
        if name in _BOOL_FIELDS:
            _bools(value, where)
        elif name in _ROW_FIELDS:
            _rows(value, 0, where)  # shapes only
        elif name in _INT_FIELDS[fmt]:
            _ints(value, where)
        elif name == "LoadedEmission":
            if not (isinstance(value, list) and all(isinstance(p, list) and len(p) == 2 for p in value)):
                raise CaseFormatError(f"{where}: expected [[hotkey, rao], ...]")
            _ints([p[1] for p in value], where)


# -- outputs in the case formats' names and shapes ----------------------------------------

def snapshot_outputs_json(out: EpochOutputs) -> dict[str, Any]:
    """Outputs with the vectors' ``model_output`` names and shapes."""
    def lst(a: np.ndarray | None) -> list:
        return [] if a is None else a.tolist()

    return {
        "active": lst(out.active),
        "validator_permit": lst(out.validator_permit),
        "stake_weight": lst(out.stake_weight),
        "consensus": lst(out.consensus),
        "incentive": lst(out.incentive),
        "dividends": lst(out.dividends),
        "validator_trust": lst(out.validator_trust),
        "emission": lst(out.emission),
        "server_emission": lst(out.server_emission),
        "validator_emission": lst(out.validator_emission),
        "bonds_written": out.bonds.to_mapping(),  # rows the epoch wrote (present)
    }


def oracle103_outputs_json(out: EpochOutputs, hotkeys: tuple[str, ...] | None) -> dict[str, Any]:
    """Outputs with the spec-103 storage names, Bonds as the full set of stored rows."""
    emission = out.emission.tolist()
    keys = list(hotkeys) if hotkeys else [str(i) for i in range(len(emission))]
    return {
        "Active": out.active.tolist(),
        "ValidatorPermit": out.validator_permit.tolist(),
        "Rank": out.rank.tolist() if out.rank is not None else [],
        "Trust": out.trust.tolist() if out.trust is not None else [],
        "Consensus": out.consensus.tolist(),
        "Incentive": out.incentive.tolist(),
        "Dividends": out.dividends.tolist(),
        "PruningScores": out.pruning_scores.tolist() if out.pruning_scores is not None else [],
        "ValidatorTrust": out.validator_trust.tolist(),
        "Emission": emission,
        "Bonds": out.bonds.to_mapping(),
        "LoadedEmission": [[k, e] for k, e in zip(keys, emission)],
    }


# -- recomputing a case ---------------------------------------------------------------------

@dataclass(frozen=True)
class CaseResult:
    case: EpochCase
    variant: str
    outputs: dict[str, Any]  # in the case format's names and shapes
    mismatches: list | None  # None when the case carries no expected outputs
    era: str = ""  # the era table's name for the rules that ran
    assumed: str | None = None  # "era assumed, not verified for spec N" under assume_era

    @property
    def matches(self) -> bool:
        return not self.mismatches


def run_case(case: EpochCase, engine: str = "reference", assume_era: str | None = None) -> CaseResult:
    """Recompute a case with the variant its spec version selects and diff the expectations.

    A spec newer than the era table is refused unless ``assume_era="latest"``; the result then
    carries ``assumed``."""
    from .diff import compare_outputs
    from .registry import run_epoch, variant_for

    variant = variant_for(case.spec_version, assume_era)
    out = run_epoch(case.inputs, case.spec_version, engine=engine, assume_era=assume_era)  # type: ignore[arg-type]
    if case.format == ORACLE_103_FORMAT:
        outputs = oracle103_outputs_json(out, case.inputs.hotkeys)
    else:
        outputs = snapshot_outputs_json(out)
    mismatches = None if case.expected is None else compare_outputs(case.expected, outputs)
    return CaseResult(case, variant.name, outputs, mismatches, variant.era.name, variant.label)

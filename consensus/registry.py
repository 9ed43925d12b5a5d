"""Which epoch variant a runtime spec version runs (from the era table), and one entry point to run it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal

from .eras.mainline import epoch_mainline
from .eras.spec103 import epoch_spec103
from .eras.table import ERAS, NEWEST_SPEC, Era, EpochRules, assumed_label, resolve_era, supported_ranges
from .model import EpochInputs, EpochOutputs

Engine = Literal["reference", "numba", "auto"]  # auto: by size, see consensus.engines

__all__ = [
    "ERAS", "NEWEST_SPEC", "EraVariant", "run_epoch", "supported_ranges", "variant_for",
]  # fmt: skip


@dataclass(frozen=True)
class EraVariant:
    """The epoch function a spec runs (``name``: "spec103" / "mainline") and the era behind it."""

    era: Era
    spec_version: int
    assumed: bool = False  # spec newer than the table, run under the newest era on request

    @property
    def name(self) -> str:
        return self.era.variant

    @property
    def rules(self) -> EpochRules | None:
        return self.era.rules

    @property
    def label(self) -> str | None:
        """"era assumed, not verified for spec N" when assumed, else None."""
        return assumed_label(self.spec_version) if self.assumed else None


def variant_for(spec_version: int, assume_era: str | None = None) -> EraVariant:
    """The variant of ``spec_version``; a spec newer than the newest era is refused
    (UnsupportedSpecError naming it) unless ``assume_era="latest"``."""
    era, assumed = resolve_era(spec_version, assume_era)
    return EraVariant(era, spec_version, assumed)


def _reference(variant: EraVariant) -> Callable[[EpochInputs, dict | None], EpochOutputs]:
    if variant.name == "spec103":
        return lambda inputs, trace: epoch_spec103(inputs, trace)
    rules = variant.rules
    return lambda inputs, trace: epoch_mainline(inputs, rules, trace)


def run_epoch(
    inputs: EpochInputs,
    spec_version: int,
    *,
    engine: Engine = "reference",
    trace: dict | None = None,
    assume_era: str | None = None,
) -> EpochOutputs:
    """Recompute one subnet epoch exactly as the runtime of ``spec_version`` did.

    ``trace`` (reference engine only) receives the intermediate fixed-point vectors.
    ``assume_era="latest"`` runs a spec newer than the table under the newest era's rules;
    callers label such results with ``variant_for(spec, assume_era).label``.
    """
    variant = variant_for(spec_version, assume_era)
    if engine == "auto":
        from .engines import choose_engine

        engine = choose_engine(inputs)  # type: ignore[assignment]
    if engine == "numba" and trace is None:
        from . import kernels  # imported lazily: JIT compilation is not free

        return kernels.run_epoch(inputs, variant.name, spec_version, rules=variant.rules)
    return _reference(variant)(inputs, trace)

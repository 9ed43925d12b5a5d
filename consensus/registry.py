"""Which epoch variant a runtime spec version runs, and one entry point to run it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal

from .eras.mainline import MainlineRules, epoch_mainline
from .eras.spec103 import epoch_spec103
from .errors import UnsupportedSpecError
from .model import EpochInputs, EpochOutputs

Engine = Literal["reference", "numba"]


@dataclass(frozen=True)
class EraVariant:
    """An epoch variant and the inclusive range of spec versions whose runtime it reproduces."""

    name: str
    first_spec: int
    last_spec: int
    description: str

    def covers(self, spec_version: int) -> bool:
        return self.first_spec <= spec_version <= self.last_spec

    def span(self) -> str:
        if self.first_spec == self.last_spec:
            return str(self.first_spec)
        return f"{self.first_spec}–{self.last_spec}"


SPEC103 = EraVariant(
    "spec103", 103, 103,
    "2023 single-token epoch (subtensor 6541a9f41): Rank/Trust/PruningScores, no permit-masked stake",
)
MAINLINE = EraVariant(
    "mainline", 273, 425,
    "dTAO production epoch_mechanism (reference 14bc6f9f, spec 425) with the era switches of yuma-spec §10",
)
VARIANTS: tuple[EraVariant, ...] = (SPEC103, MAINLINE)


def supported_ranges() -> str:
    return ", ".join(v.span() for v in VARIANTS)


def variant_for(spec_version: int) -> EraVariant:
    for v in VARIANTS:
        if v.covers(spec_version):
            return v
    raise UnsupportedSpecError(
        f"runtime spec {spec_version} is not supported (supported specs: {supported_ranges()})"
    )


def _reference(variant: EraVariant, spec_version: int) -> Callable[[EpochInputs, dict | None], EpochOutputs]:
    if variant is SPEC103:
        return epoch_spec103
    rules = MainlineRules.for_spec(spec_version)
    return lambda inputs, trace: epoch_mainline(inputs, rules, trace)


def run_epoch(
    inputs: EpochInputs,
    spec_version: int,
    *,
    engine: Engine = "reference",
    trace: dict | None = None,
) -> EpochOutputs:
    """Recompute one subnet epoch exactly as the runtime of ``spec_version`` did.

    ``trace`` (reference engine only) receives the intermediate fixed-point vectors.
    """
    variant = variant_for(spec_version)
    if engine == "numba" and trace is None:
        from . import kernels  # imported lazily: JIT compilation is not free

        return kernels.run_epoch(inputs, variant.name, spec_version)
    return _reference(variant, spec_version)(inputs, trace)

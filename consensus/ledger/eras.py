"""Which ledger rules each era of the one era table (:mod:`consensus.eras.table`) pays out with.

Keyed by the table's ``Era.name``: every epoch era is either covered by one :class:`LedgerEra`
or refused here in one line (``tests/test_ledger.py`` checks that the two partition the
table). A spec outside the table is refused by the table itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..eras.table import era_for
from ..errors import UnsupportedSpecError


@dataclass(frozen=True)
class LedgerEra:
    """One set of payout rules and the epoch eras (table names) it covers."""

    name: str
    epoch_eras: tuple[str, ...]
    module: str  # the module of consensus.ledger with the rules
    checked: str  # what the rules were checked against (README, refusals)


LEDGER_ERAS: tuple[LedgerEra, ...] = (
    LedgerEra("spec103", ("spec103",), "spec103",
              "real runtime: spec 103 under Chopsticks, fixtures/localnet/ledger (scripts/record_ledger.py)"),
    LedgerEra("dtao-u64f64", ("clamped-exp",), "dtao",
              "transcribed runtime unit tests (fixtures/coinbase/, tests/test_ledger_dtao_vectors.py) + "
              "synthetic spec-393 payout (tests/test_ledger_dtao_synthetic.py)"),
    LedgerEra("dtao-safefloat", ("owner-exempt", "dynamic-tempo"), "dtao",
              "transcribed runtime unit tests of spec 425 (fixtures/coinbase/share_pool_425.json, the coinbase.rs "
              "cases whose test bodies are unchanged at 14bc6f9f9); specs after 425 refused"),
)  # fmt: skip

#: epoch era name -> why its ledger is refused (one line)
REFUSED: dict[str, str] = {
    "yuma3-u16-steepness": "dTAO coinbase payout rules are not implemented for this era",
    "steepness-fix": "dTAO coinbase payout rules are not implemented for this era",
    "commit-reveal-mask": "dTAO coinbase payout rules are not implemented for this era",
    "mechanisms": "dTAO coinbase payout rules are not implemented for this era",
    "stake-weight": "dTAO coinbase payout rules are not implemented for this era (specs 361–364 pay as 365–394, run_coinbase.rs@52378dc3e, but the era row starts at 323)",
    "consensus-modes": "the dTAO payout was read through spec 425 (opentensor/subtensor@14bc6f9f9); "
                       "the RaoFoundation runtimes 446+ were not",
}


def ledger_era_for(spec_version: int) -> LedgerEra:
    """The ledger rules of ``spec_version``'s era; :class:`UnsupportedSpecError` in one line otherwise."""
    era = era_for(spec_version)
    for ledger_era in LEDGER_ERAS:
        if era.name in ledger_era.epoch_eras:
            return ledger_era
    why = REFUSED.get(era.name, "no ledger rules are registered for this era")
    raise UnsupportedSpecError(f"the ledger of runtime spec {spec_version} (era {era.name}) is refused: {why}")

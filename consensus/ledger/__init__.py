"""Per-account emission ledger: where every rao of one subnet epoch went, by era rules.

Pure computation (imports nothing of ours outside ``consensus``). Types in :mod:`.model`,
comparison with the chain's stake storage in :mod:`.reconcile`, era rules in :mod:`.spec103`
(single-token era) and the dTAO eras' modules, chosen by :func:`.eras.ledger_era_for`.
"""

from .model import (
    Credit,
    CreditKind,
    Difference,
    ExpectedChange,
    Ledger,
    RemainderPart,
    StorageChange,
    Token,
)
from .reconcile import compare, reconcile

__all__ = [
    "Credit",
    "CreditKind",
    "Difference",
    "ExpectedChange",
    "Ledger",
    "RemainderPart",
    "StorageChange",
    "Token",
    "compare",
    "reconcile",
]

"""Field-by-field comparison of epoch outputs: every mismatched integer, never a tolerance."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping


@dataclass(frozen=True)
class Mismatch:
    field: str
    index: str  # uid, or "uid" for a whole bond row, "" for a whole-field shape problem
    expected: Any
    actual: Any

    def as_json(self) -> dict[str, Any]:
        return {"field": self.field, "index": self.index, "expected": self.expected, "actual": self.actual}


def compare_field(name: str, expected: Any, actual: Any) -> list[Mismatch]:
    """Lists element by element; row maps row by row (order inside a row matters)."""
    if isinstance(expected, Mapping) and isinstance(actual, Mapping):
        out = []
        for uid in sorted(set(expected) | set(actual), key=lambda k: (len(str(k)), str(k))):
            e, a = expected.get(uid), actual.get(uid)
            if e != a:
                out.append(Mismatch(name, str(uid), e, a))
        return out
    if isinstance(expected, list) and isinstance(actual, list):
        out = [
            Mismatch(name, str(i), e, a)
            for i, (e, a) in enumerate(zip(expected, actual))
            if e != a
        ]
        if len(expected) != len(actual):
            out.append(Mismatch(name, "length", len(expected), len(actual)))
        return out
    return [] if expected == actual else [Mismatch(name, "", expected, actual)]


def compare_outputs(expected: Mapping[str, Any], actual: Mapping[str, Any]) -> list[Mismatch]:
    """Compare every field the epoch wrote (``actual``'s fields) with what was expected.

    Expected fields the epoch does not write (a case's bookkeeping, e.g. PendingEmission)
    are not compared; an epoch field missing from the expectations is a mismatch.
    """
    out: list[Mismatch] = []
    for name, act in actual.items():
        if name not in expected:
            out.append(Mismatch(name, "", None, "(not in expected outputs)"))
            continue
        out.extend(compare_field(name, expected[name], act))
    return out


# -- recomputed vs what the chain stored ----------------------------------------------------

# EpochOutputs field → the storage item the runtime writes it to.
STORAGE_NAMES: dict[str, str] = {
    "active": "Active",
    "validator_permit": "ValidatorPermit",
    "consensus": "Consensus",
    "incentive": "Incentive",
    "dividends": "Dividends",
    "validator_trust": "ValidatorTrust",
    "emission": "Emission",
    "stake_weight": "StakeWeight",
    "rank": "Rank",
    "trust": "Trust",
    "pruning_scores": "PruningScores",
    "bonds": "Bonds",
}


@dataclass(frozen=True)
class UidMismatch:
    uid: int
    field: str  # storage name
    chain: Any
    recomputed: Any

    def as_json(self) -> dict[str, Any]:
        return {"uid": self.uid, "field": self.field, "chain": self.chain, "recomputed": self.recomputed}


def diff_chain_outputs(chain: Any, recomputed: Any, n: int) -> tuple[list[str], list[UidMismatch]]:
    """Compare the fields both sides hold, per UID in ``0..n``; returns (fields compared, mismatches).

    Bonds are compared as whole stored rows (order inside a row matters; a stored empty row
    differs from an absent one).
    """
    fields: list[str] = []
    mismatches: list[UidMismatch] = []
    for attr, storage in STORAGE_NAMES.items():
        c, r = getattr(chain, attr, None), getattr(recomputed, attr, None)
        if c is None or r is None:
            continue
        fields.append(storage)
        if attr == "bonds":
            for uid in range(n):
                c_row = c.row(uid) if uid < c.n_rows and c.present[uid] else None
                r_row = r.row(uid) if uid < r.n_rows and r.present[uid] else None
                if c_row != r_row:
                    mismatches.append(UidMismatch(uid, storage, c_row, r_row))
            continue
        c_list, r_list = c.tolist(), r.tolist()
        for uid in range(n):
            cv = c_list[uid] if uid < len(c_list) else None
            rv = r_list[uid] if uid < len(r_list) else None
            if cv != rv:
                mismatches.append(UidMismatch(uid, storage, cv, rv))
    return fields, mismatches

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

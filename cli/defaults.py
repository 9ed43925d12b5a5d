"""The embedded default data: recordings the project generated itself, bundled in the package."""

from __future__ import annotations

from pathlib import Path

import fixtures

FIXTURES = Path(fixtures.__file__).resolve().parent


def default_case_path() -> Path:
    """The bundled spec-103 epoch case recorded from a real runtime (see fixtures/localnet)."""
    cases = sorted((FIXTURES / "localnet" / "oracle103").glob("*.json"))
    if not cases:
        from .main import Fail

        raise Fail("no bundled epoch case found in the package (fixtures/localnet/oracle103 is empty)")
    return cases[0]

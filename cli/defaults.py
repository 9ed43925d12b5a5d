"""The embedded default data: recordings the project generated itself, bundled in the package."""

from __future__ import annotations

from pathlib import Path

from taoaudit.fixtures import BUNDLED_RECORDING as RECORDING
from taoaudit.fixtures import HERE as FIXTURES


def default_case_path() -> Path:
    """The first bundled spec-103 epoch case recorded from the real runtime (fixtures/localnet)."""
    cases = sorted((FIXTURES / "localnet" / "oracle103").glob("*.json"))
    if not cases:
        from .main import Fail

        raise Fail("no bundled epoch case found in the package (fixtures/localnet/oracle103 is empty)")
    return cases[0]


def default_recording() -> Path:
    """The bundled recording of a real spec-103 runtime run offline (fixtures/localnet/recording)."""
    if not RECORDING.exists():
        from .main import Fail

        raise Fail(f"the bundled recording is missing from the package ({RECORDING})")
    return RECORDING

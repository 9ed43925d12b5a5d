"""Shared test configuration: where the ground truth lives (../shared beside the checkout)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def shared_path(*parts: str) -> Path:
    """A path under ../shared; skips the calling test, with the reason, when it is absent."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"ground truth not found at {p} (tests expect ../shared beside the checkout)")
    return p


def shared_files(pattern: str, *parts: str) -> list[Path]:
    """Files under ../shared for parametrisation (empty, hence no tests, when absent)."""
    base = SHARED.joinpath(*parts)
    return sorted(base.glob(pattern)) if base.exists() else []

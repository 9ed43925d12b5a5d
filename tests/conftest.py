"""Shared test configuration: where the ground truth lives (../shared beside the checkout).

Ground truth can never vanish silently. Without ../shared the session stops at once with one
line saying so; a full run (the README's `python3 -m pytest`, no arguments) prints how many
items each ground-truth family collected and fails when any family collected none. A test is
counted for a family when one of its parameters is a file of that family, or when it carries
``pytest.mark.ground_truth("<family>")`` (module-wide where every test of a module reads it).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"

#: The ground-truth families under ../shared, each a directory of its own.
FAMILIES = ("vectors", "oracle-103", "epoch-snapshot", "epoch-snapshot-459", "chain-data")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "ground_truth(family): the test reads that family of ../shared")
    if not SHARED.is_dir():
        pytest.exit(
            f"error: the ground truth is missing: no directory {SHARED} (tests read ../shared beside "
            "the checkout; without it every claim of README's table would go untested)",
            returncode=4,
        )
    missing = [f for f in FAMILIES if not (SHARED / f).is_dir()]
    if missing:
        pytest.exit(f"error: ground-truth families missing from {SHARED}: {', '.join(missing)}", returncode=4)


def _families_of(item: pytest.Item) -> set[str]:
    found = {m.args[0] for m in item.iter_markers("ground_truth")}
    callspec = getattr(item, "callspec", None)
    for value in (callspec.params.values() if callspec else ()):
        text = str(value)
        for family in FAMILIES:
            if f"/shared/{family}/" in text or text.startswith(f"{family}/"):
                found.add(family)
    return found


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list) -> None:
    counts = Counter(f for item in items for f in _families_of(item))
    line = "ground truth items: " + ", ".join(f"{f}={counts[f]}" for f in FAMILIES)
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(line)
    # A full run: test paths from pyproject's testpaths (none named) and no -k/-m selection.
    full_run = (
        config.args_source == pytest.Config.ArgsSource.TESTPATHS
        and not config.getoption("keyword")
        and not config.getoption("markexpr")
    )
    empty = [f for f in FAMILIES if counts[f] == 0]
    if full_run and empty:
        raise pytest.UsageError(f"ground-truth families collected no items: {', '.join(empty)} ({line})")


def shared_path(*parts: str) -> Path:
    """A path under ../shared; a missing file fails the calling test (ground truth never vanishes)."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.fail(f"ground truth not found at {p}")
    return p


def shared_files(pattern: str, *parts: str) -> list[Path]:
    """Files under ../shared for parametrisation; the family count catches an empty list."""
    return sorted(SHARED.joinpath(*parts).glob(pattern))

"""Exact Yuma Consensus: the runtime's fixed-point epoch, one variant per runtime era."""

from __future__ import annotations

import importlib.util


def kernels_available() -> bool:
    """True when the numba fast path is present (it mirrors the reference bit for bit)."""
    return importlib.util.find_spec("taoaudit.consensus.kernels") is not None and importlib.util.find_spec("numba") is not None

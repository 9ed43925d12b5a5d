"""Exact Yuma Consensus: the runtime's fixed-point epoch, one variant per runtime era."""

from __future__ import annotations

from .engines import choose_engine, kernels_available, set_kernel_threads

__all__ = ["choose_engine", "kernels_available", "set_kernel_threads"]

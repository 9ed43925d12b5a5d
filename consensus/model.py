"""Typed epoch inputs and outputs: the on-chain integers, independent of where they came from.

Everything here is plain integers in numpy arrays of the runtime's storage types (u16 weights
and bonds, u64 stakes and blocks, bool masks). Sparse rows keep the order in which the runtime
stored them, explicit zeros and repeated columns included, because the epoch's results depend
on that order (see yuma-spec §4.9, §12.17).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Sequence

import numpy as np

U64_MAX = (1 << 64) - 1

#: ``LiquidAlphaConsensusMode`` (spec >= 446) by SCALE index: Current = 0, Previous = 1, Auto = 2.
CONSENSUS_MODES: tuple[str, ...] = ("current", "previous", "auto")


@dataclass(frozen=True)
class SparseRows:
    """A sparse u16 matrix in CSR form, one row per UID, pairs kept in storage order.

    ``present[i]`` tells whether storage holds a row for UID i at all: a stored empty row and
    a missing row are different states of the chain (the spec-103 epoch leaves missing rows
    alone and writes empty ones).
    """

    indptr: np.ndarray  # int64, len n_rows + 1
    cols: np.ndarray  # int64 (u16 range; int64 so that no arithmetic wraps)
    values: np.ndarray  # int64 (u16 range)
    present: np.ndarray  # bool, len n_rows

    @property
    def n_rows(self) -> int:
        return len(self.present)

    def row(self, i: int) -> list[tuple[int, int]]:
        a, b = int(self.indptr[i]), int(self.indptr[i + 1])
        return [(int(c), int(v)) for c, v in zip(self.cols[a:b], self.values[a:b])]

    def rows(self) -> list[list[tuple[int, int]]]:
        return [self.row(i) for i in range(self.n_rows)]

    @classmethod
    def from_rows(
        cls, rows: Sequence[Sequence[Sequence[int]] | None]
    ) -> "SparseRows":
        """Build from a list of rows; ``None`` marks a row that is absent from storage."""
        indptr = [0]
        cols: list[int] = []
        vals: list[int] = []
        present = []
        for r in rows:
            present.append(r is not None)
            for c, v in r or ():
                cols.append(int(c))
                vals.append(int(v))
            indptr.append(len(cols))
        return cls(
            np.asarray(indptr, dtype=np.int64),
            np.asarray(cols, dtype=np.int64),
            np.asarray(vals, dtype=np.int64),
            np.asarray(present, dtype=bool),
        )

    @classmethod
    def empty(cls, n_rows: int) -> "SparseRows":
        return cls.from_rows([None] * n_rows)

    def to_mapping(self) -> dict[str, list[list[int]]]:
        """``{"uid": [[col, value], ...]}`` for the rows present in storage."""
        return {
            str(i): [[c, v] for c, v in self.row(i)]
            for i in range(self.n_rows)
            if self.present[i]
        }

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SparseRows):
            return NotImplemented
        return (
            np.array_equal(self.indptr, other.indptr)
            and np.array_equal(self.cols, other.cols)
            and np.array_equal(self.values, other.values)
            and np.array_equal(self.present, other.present)
        )

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True)
class Hyperparameters:
    """Per-subnet epoch parameters as stored (defaults are the runtime's storage defaults)."""

    tempo: int = 360
    kappa: int = 32_767
    bonds_penalty: int = 65_535
    bonds_moving_average: int = 900_000
    yuma3: bool = False
    liquid_alpha: bool = False
    alpha_low: int = 45_875
    alpha_high: int = 58_982
    alpha_sigmoid_steepness: int = 1000
    max_allowed_validators: int = 128
    stake_threshold: int = 0
    tao_weight: int = 0
    activity_cutoff_factor_milli: int = 13_889
    # Before spec 423 the cutoff was the stored u16 ActivityCutoff, in blocks.
    activity_cutoff: int | None = None
    commit_reveal_enabled: bool = False
    owner_uid: int | None = None
    last_mechanism_step_block: int = 0
    # Spec >= 446: "current", "previous" or "auto" (the storage default); see CONSENSUS_MODES.
    liquid_alpha_consensus_mode: str = "auto"


@dataclass(frozen=True)
class EpochInputs:
    """Everything one subnet epoch reads, as the runtime read it.

    ``stake_alpha``/``stake_tao`` are the already-inherited stakes (u64 rao); eras without
    dTAO put the hotkey's total stake in ``stake_alpha`` and zeros in ``stake_tao``.
    """

    n: int
    current_block: int
    rao_emission: int
    hyperparameters: Hyperparameters
    last_update: np.ndarray  # u64, may be longer than n
    block_at_registration: np.ndarray  # u64, len n
    validator_permit: np.ndarray  # bool, the stored (old) permits, any length
    stake_alpha: np.ndarray  # u64, len n
    stake_tao: np.ndarray  # u64, len n
    weights: SparseRows
    bonds: SparseRows
    commit_blocks: np.ndarray | None = None  # u64 per uid (u64::MAX = none), CR mask input
    netuid: int = 1
    hotkeys: tuple[str, ...] | None = None
    # Spec >= 446: the netuid's stored ``Consensus`` (u16 parts) before the epoch, any length;
    # None = not read (eras before 446; refused when a 446+ epoch needs it).
    consensus_prev: np.ndarray | None = None

    def with_changes(self, **changes: object) -> "EpochInputs":
        return replace(self, **changes)


@dataclass(frozen=True)
class EpochOutputs:
    """What one epoch writes. Fields an era does not write are ``None``.

    ``bonds`` holds the stored Bonds rows after the epoch (``present`` marks rows in storage);
    for the current era every UID gets a row, empty without a new permit.
    """

    active: np.ndarray  # bool
    validator_permit: np.ndarray  # bool (new permits)
    consensus: np.ndarray  # u16
    incentive: np.ndarray  # u16
    dividends: np.ndarray  # u16
    validator_trust: np.ndarray  # u16
    emission: np.ndarray  # u64
    bonds: SparseRows
    stake_weight: np.ndarray | None = None  # u16
    server_emission: np.ndarray | None = None  # u64
    validator_emission: np.ndarray | None = None  # u64
    rank: np.ndarray | None = None  # u16
    trust: np.ndarray | None = None  # u16
    pruning_scores: np.ndarray | None = None  # u16

    def field_names(self) -> list[str]:
        return [f.name for f in fields(self) if getattr(self, f.name) is not None]

"""Errors of the consensus layer: each carries a one-line message fit for a terminal."""


class ConsensusError(Exception):
    """Base class of every error raised by `consensus`."""


class EpochInputError(ConsensusError, ValueError):
    """Inputs the runtime of the selected era could not have run an epoch on."""


class UnsupportedSpecError(ConsensusError, LookupError):
    """No epoch variant covers the requested runtime spec version."""

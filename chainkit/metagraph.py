"""Metagraph snapshot: every per-UID integer of one subnet at one block.

Two routes to the same numbers:

* runtime API (``NeuronInfoRuntimeApi.get_neurons_lite``, ``SubnetInfoRuntimeApi.get_subnet_state``,
  ``get_selective_mechagraph``/``get_selective_metagraph``) where the runtime has them and its
  metadata is V15 (so their output types come from the runtime itself);
* raw storage otherwise (old runtimes such as spec 103, or metadata V14 only).

The runtime-API results describe the same state several times over (hotkeys, incentives, …);
where two results carry the same field they must agree, which we check — a disagreement means
a decoding bug, and we would rather stop than return one of two different answers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .client import Block, Chain
from .errors import DecodeError, UnknownNetuid
from .layout import PALLET, Layout, layout_for_metadata

#: Per-UID fields and their dtype. Keys are SS58 strings (prefix 42).
FIELD_DTYPES: dict[str, Any] = {
    "uid": np.uint16,
    "hotkey": np.str_,
    "coldkey": np.str_,
    "active": np.bool_,
    "validator_permit": np.bool_,
    "rank": np.uint16,
    "trust": np.uint16,
    "consensus": np.uint16,
    "incentive": np.uint16,
    "dividends": np.uint16,
    "validator_trust": np.uint16,
    "pruning_score": np.uint16,
    "emission": np.uint64,
    "last_update": np.uint64,
    "block_at_registration": np.uint64,
    "stake": np.uint64,
    # dTAO era extras
    "alpha_stake": np.uint64,
    "tao_stake": np.uint64,
    "total_stake": np.uint64,
    "stake_weight": np.uint16,
}

# get_neurons_lite field → our field
_LITE = {
    "uid": "uid", "hotkey": "hotkey", "coldkey": "coldkey", "active": "active",
    "validator_permit": "validator_permit", "rank": "rank", "trust": "trust",
    "consensus": "consensus", "incentive": "incentive", "dividends": "dividends",
    "validator_trust": "validator_trust", "pruning_score": "pruning_score",
    "emission": "emission", "last_update": "last_update",
}  # fmt: skip
# get_subnet_state / selective metagraph vector → our field
_STATE = {
    "hotkeys": "hotkey", "coldkeys": "coldkey", "active": "active",
    "validator_permit": "validator_permit", "pruning_score": "pruning_score",
    "last_update": "last_update", "emission": "emission", "dividends": "dividends",
    "incentives": "incentive", "consensus": "consensus", "trust": "trust", "rank": "rank",
    "block_at_registration": "block_at_registration", "alpha_stake": "alpha_stake",
    "tao_stake": "tao_stake", "total_stake": "total_stake",
}  # fmt: skip

_API_LITE = "NeuronInfoRuntimeApi_get_neurons_lite"
_API_STATE = "SubnetInfoRuntimeApi_get_subnet_state"
_API_MECHAGRAPH = "SubnetInfoRuntimeApi_get_selective_mechagraph"
_API_METAGRAPH = "SubnetInfoRuntimeApi_get_selective_metagraph"


@dataclass
class Metagraph:
    """Per-UID arrays (all of length ``n``) plus subnet-level scalars, at one block."""

    netuid: int
    block: int
    block_hash: str
    spec_version: int
    endpoint: str
    source: str  # "runtime_api" or "storage"
    arrays: dict[str, np.ndarray]
    subnet: dict[str, Any] = field(default_factory=dict)
    #: the runtime-API results as decoded (plain JSON-able); empty for the storage route
    api_results: dict[str, Any] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.arrays["uid"])

    @property
    def fields(self) -> list[str]:
        return list(self.arrays)

    def __getattr__(self, name: str) -> np.ndarray:
        arrays = self.__dict__.get("arrays", {})
        if name in arrays:
            return arrays[name]
        raise AttributeError(name)

    def neuron(self, uid: int) -> dict[str, Any]:
        """One UID's fields as plain Python values."""
        return {k: v[uid].item() for k, v in self.arrays.items()}


def _array(name: str, values: list) -> np.ndarray:
    dtype = FIELD_DTYPES.get(name, np.uint64)
    if dtype is np.str_:
        return np.asarray([str(v) for v in values], dtype=np.str_)
    return np.asarray(values, dtype=dtype)


def snapshot_metagraph(
    chain: Chain, netuid: int, block: int | str | Block | None = None, *, route: str = "auto"
) -> Metagraph:
    """The metagraph of ``netuid`` at ``block`` (number, hash, :class:`Block`; default head).

    ``route``: ``"auto"`` (runtime API when available, else storage), ``"runtime_api"`` or
    ``"storage"``.
    """
    if block is None:
        block = chain.head().number
    blk = block if isinstance(block, Block) else chain.at(block)
    if route not in ("auto", "runtime_api", "storage"):
        raise ValueError(f"unknown route {route!r}")
    use_api = route == "runtime_api" or (route == "auto" and blk.api_method(_API_LITE) is not None)
    if use_api:
        return _from_runtime_api(blk, netuid)
    return _from_storage(blk, netuid)


# -- runtime API route -----------------------------------------------------------------------
def _struct_field_count(blk: Block, type_id: int) -> int:
    """Number of fields of the struct inside ``Option<Struct>`` (the selective-metagraph
    index space is 0..count)."""
    types = blk.runtime.codec.types
    _, d = types[type_id]
    if d[0] == "variant":  # Option<T>: variant Some(T)
        some = next(v for v in d[1] if v[1] == "Some")
        _, d = types[some[2][0][1]]
    if d[0] != "composite":
        raise DecodeError(f"type {type_id} is not a struct or Option<struct>")
    return len(d[1])


def _from_runtime_api(blk: Block, netuid: int) -> Metagraph:
    results: dict[str, Any] = {}
    lite = blk.call(_API_LITE, netuid)
    results[_API_LITE] = lite
    state = None
    if blk.api_method(_API_STATE) is not None:
        state = blk.call(_API_STATE, netuid)
        results[_API_STATE] = state
        if state is None:  # the runtime's answer for a subnet that does not exist
            raise UnknownNetuid(netuid, blk.number)
    graph = None
    if (m := blk.api_method(_API_MECHAGRAPH)) is not None:
        count = _struct_field_count(blk, m.output)
        graph = blk.call(_API_MECHAGRAPH, netuid, 0, list(range(count)))
        results[_API_MECHAGRAPH] = graph
    elif (m := blk.api_method(_API_METAGRAPH)) is not None:
        count = _struct_field_count(blk, m.output)
        graph = blk.call(_API_METAGRAPH, netuid, list(range(count)))
        results[_API_METAGRAPH] = graph
    # Without get_subnet_state an empty neuron list is the only sign of a missing subnet
    # (a subnet always has its owner registered).
    if not lite:
        raise UnknownNetuid(netuid, blk.number)

    lite = sorted(lite, key=lambda r: r["uid"])
    n = len(lite)
    if [r["uid"] for r in lite] != list(range(n)):
        raise DecodeError(f"get_neurons_lite at block {blk.number} did not return UIDs 0..{n - 1}")
    cols: dict[str, list] = {ours: [r[theirs] for r in lite] for theirs, ours in _LITE.items()}
    for source_name, source in ((_API_STATE, state), ("selective metagraph", graph)):
        if not source:
            continue
        for theirs, ours in _STATE.items():
            if theirs not in source or source[theirs] is None:
                continue
            values = list(source[theirs])
            if len(values) != n:
                raise DecodeError(f"{source_name}.{theirs} has {len(values)} entries, neurons_lite {n}")
            if ours in cols:
                if cols[ours] != values:
                    bad = next(i for i, (a, b) in enumerate(zip(cols[ours], values)) if a != b)
                    raise DecodeError(
                        f"{source_name}.{theirs} disagrees with the other runtime-API results "
                        f"at UID {bad} ({values[bad]!r} vs {cols[ours][bad]!r})"
                    )
            else:
                cols[ours] = values
    if "total_stake" in cols:
        cols["stake"] = cols["total_stake"]
    else:
        # Before dTAO the per-coldkey stake list of a hotkey sums to its total stake.
        cols["stake"] = [sum(int(a) for _, a in r["stake"]) for r in lite]
    if "block_at_registration" not in cols:
        keys = [blk.storage_key(PALLET, "BlockAtRegistration", netuid, uid) for uid in range(n)]
        cols["block_at_registration"] = [
            blk.decode_value(PALLET, "BlockAtRegistration", raw) for raw in blk.read_raw_many(keys)
        ]
    arrays = {name: _array(name, cols[name]) for name in FIELD_DTYPES if name in cols}

    subnet: dict[str, Any] = {"n": n}
    if graph:
        for k, v in graph.items():
            if isinstance(v, (int, bool, str)) or v is None:
                subnet[k] = v
            elif isinstance(v, dict) and set(v) == {"bits"}:
                subnet[f"{k}_bits"] = v["bits"]
    if blk.has_storage(PALLET, "MechanismCountCurrent"):
        subnet["mechanism_count"] = blk.query(PALLET, "MechanismCountCurrent", netuid)
    return Metagraph(
        netuid, blk.number, blk.hash, blk.spec_version, blk.chain.endpoint, "runtime_api",
        arrays, subnet, results,
    )  # fmt: skip


# -- storage route ---------------------------------------------------------------------------
_VECTOR_OUTPUTS = {
    "Active": "active",
    "ValidatorPermit": "validator_permit",
    "Rank": "rank",
    "Trust": "trust",
    "Consensus": "consensus",
    "Dividends": "dividends",
    "PruningScores": "pruning_score",
    "ValidatorTrust": "validator_trust",
    "Emission": "emission",
    "StakeWeight": "stake_weight",
}


def read_subnet_size(blk: Block, netuid: int) -> int:
    """``SubnetworkN[netuid]``; :class:`UnknownNetuid` when the subnet does not exist."""
    exists, n = blk.query_many(
        [(PALLET, "NetworksAdded", netuid), (PALLET, "SubnetworkN", netuid)]
    )
    if not exists:
        raise UnknownNetuid(netuid, blk.number)
    return int(n)


def _fit(values: list, n: int, fill: Any) -> list:
    """Per-UID vectors may lag ``n`` (appended on registration) — pad the way the runtime's
    getters do (default value), truncate extra entries."""
    values = list(values or [])
    return (values + [fill] * n)[:n]


def _from_storage(blk: Block, netuid: int) -> Metagraph:
    era = layout_for_metadata(blk.spec_version, blk.runtime)
    n = read_subnet_size(blk, netuid)
    idx = era.storage_index(netuid)
    items: list[tuple] = []
    names: list[str] = []
    for item, ours in _VECTOR_OUTPUTS.items():
        if item in era.outputs and blk.has_storage(PALLET, item):
            items.append((PALLET, item, netuid))
            names.append(ours)
    items += [(PALLET, "Incentive", idx), (PALLET, "LastUpdate", idx)]
    names += ["incentive", "last_update"]
    values = blk.query_many(items)
    cols: dict[str, list] = {"uid": list(range(n))}
    for ours, v in zip(names, values):
        fill = False if FIELD_DTYPES[ours] is np.bool_ else 0
        cols[ours] = _fit(v, n, fill)

    uids = list(range(n))
    hot_keys = [blk.storage_key(PALLET, "Keys", netuid, u) for u in uids]
    reg_keys = [blk.storage_key(PALLET, "BlockAtRegistration", netuid, u) for u in uids]
    raws = blk.read_raw_many(hot_keys + reg_keys)
    hotkeys = [blk.decode_value(PALLET, "Keys", r) for r in raws[:n]]
    cols["hotkey"] = hotkeys
    cols["block_at_registration"] = [blk.decode_value(PALLET, "BlockAtRegistration", r) for r in raws[n:]]
    owner_keys = [blk.storage_key(PALLET, "Owner", h) for h in hotkeys]
    cols["coldkey"] = [blk.decode_value(PALLET, "Owner", r) for r in blk.read_raw_many(owner_keys)]
    cols.update(read_stakes(blk, era, netuid, hotkeys))
    arrays = {name: _array(name, cols[name]) for name in FIELD_DTYPES if name in cols}
    return Metagraph(netuid, blk.number, blk.hash, blk.spec_version, blk.chain.endpoint, "storage", arrays, {"n": n})


def read_stakes(blk: Block, era: Layout, netuid: int, hotkeys: list[str]) -> dict[str, list[int]]:
    """Stake per UID as the era stores it.

    Single-token era: ``stake`` = ``TotalHotkeyStake[hotkey]``. dTAO eras: ``alpha_stake`` =
    ``TotalHotkeyAlpha[hotkey, netuid]``, ``tao_stake`` = ``TotalHotkeyAlpha[hotkey, 0]``
    (root), and ``stake`` = ``alpha_stake`` — the TaoWeight-weighted, inherited total is a
    computation of the epoch, not a stored number (see :mod:`chainkit.epoch`).
    """
    if era.stake_item == "TotalHotkeyStake":
        keys = [blk.storage_key(PALLET, "TotalHotkeyStake", h) for h in hotkeys]
        return {"stake": [blk.decode_value(PALLET, "TotalHotkeyStake", r) for r in blk.read_raw_many(keys)]}
    keys = [blk.storage_key(PALLET, "TotalHotkeyAlpha", h, netuid) for h in hotkeys]
    keys += [blk.storage_key(PALLET, "TotalHotkeyAlpha", h, 0) for h in hotkeys]
    vals = [blk.decode_value(PALLET, "TotalHotkeyAlpha", r) for r in blk.read_raw_many(keys)]
    n = len(hotkeys)
    return {"alpha_stake": vals[:n], "tao_stake": vals[n:], "stake": vals[:n]}


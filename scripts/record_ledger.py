"""Record spec-103 epochs with delegation and the blocks that pay them out, for the ledger.

A chopsticks node (scripts/localnet.py, its own free port on 127.0.0.1) runs the real spec-103
runtime. Two subnets are seeded into block 300: netuid 1 (n = 4, Tempo 2: an epoch every 3
blocks) and netuid 2 (n = 4, Tempo 3: every 4 blocks), so that every 12th block both subnets'
epochs are paid out by the same ``drain_emission``. Delegation (``Delegates`` with takes 11796
— the runtime's default —, 3277, 0 and 50000) with three to five nominator coldkeys per
delegate, one nominator staking on several delegates, and one delegate hotkey registered on
both subnets (paid twice in the shared drain blocks, the second time from what the first
payment left). Then blocks are built one by one; in some blocks (never a payout block) a
validator "sets weights" or a nominator "adds stake" (storage rewritten as the extrinsics
would: ``Stake``, ``TotalHotkeyStake``, ``TotalColdkeyStake``, ``TotalStake``).

Every epoch is then read by the project's own chain client over websocket, recording its
requests: ``chainkit.ledger.epoch_ledger(chain, netuid, E)`` reads E−1, E and E+1 and
reconciles the credits with the runtime's stake changes. Written:

* ``<out>/ledger_spec103.json``: the chain-data recording (compact), name ``ledger``; its
  metadata is the bundled ``fixtures/localnet/recording/metadata_v14_spec103.hex`` (the same
  runtime), linked beside it by a relative symlink (checked, not copied);
* ``<out>/epochs.json``: the recorded (netuid, E) pairs, what was seeded, and per epoch the
  figures the recording run printed (credits, distributed, remainder, reconciled).

    python scripts/record_ledger.py --out fixtures/localnet/ledger
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))

import localnet as ln  # noqa: E402
import make_oracle_cases as moc  # noqa: E402

RECORDING_FILE = "ledger_spec103.json"
RECORDING_NAME = "ledger"
METADATA_DIR = ln.ROOT / "fixtures" / "localnet" / "recording"
METADATA_FILE = "metadata_v14_spec103.hex"
START = 300
LAST = 340  # the last epoch block built pays out in LAST + 1
SUBNETS = ((1, 4, 2), (2, 4, 3))  # (netuid, n, tempo)
TAKES = {(1, 0): 11_796, (1, 1): 3_277, (1, 2): 0, (2, 1): 50_000}  # (netuid, uid) -> take
SHARED = (1, 0, 2, 0)  # netuid 1 uid 0 is also netuid 2 uid 0


def hotkey(netuid: int, uid: int) -> str:
    if (netuid, uid) == SHARED[2:]:
        netuid, uid = SHARED[:2]
    return ln.account_from_label(f"ledger/{netuid}/hotkey/{uid}")


def coldkey(label: str) -> str:
    return ln.account_from_label(f"ledger/coldkey/{label}")


def subnet_seed(netuid: int, n: int, tempo: int, rng: random.Random) -> ln.SubnetSeed:
    weights = {}
    for i in range(n):
        cols = sorted(rng.sample(range(n), k=rng.randint(max(1, n // 2), n)))
        weights[i] = list(zip(cols, moc._row_values(rng, len(cols))))
    return ln.SubnetSeed(
        netuid=netuid,
        hotkeys=[hotkey(netuid, i) for i in range(n)],
        owners=[coldkey(f"owner/{netuid}/{i}") if (netuid, i) != SHARED[2:] else coldkey("owner/1/0")
                for i in range(n)],
        stake=[int(10 ** rng.uniform(9, 12)) for _ in range(n)],
        last_update=[START] * n,
        block_at_registration=[rng.randint(0, START - 100) for _ in range(n)],
        validator_permit=[True] * n,
        weights=weights,
        bonds={},
        hyperparameters={
            "Tempo": tempo, "Kappa": 32767, "Rho": 10, "BondsMovingAverage": 900_000,
            "ActivityCutoff": 5000, "MaxAllowedValidators": n, "MaxAllowedUids": 256,
            "ImmunityPeriod": 100,
        },
        emission_values=rng.randint(10**8, 10**9),
        pending_emission=0,
        blocks_since_last_step=0,
        last_mechanism_step_block=START - 1,
    )


class Stakes:
    """The stake table we write, kept consistent the way ``add_stake`` keeps it."""

    def __init__(self) -> None:
        self.stake: dict[tuple[str, str], int] = {}

    def set(self, hk: str, ck: str, rao: int) -> None:
        self.stake[(hk, ck)] = rao

    def writes(self, rt: ln.Runtime, net: ln.Localnet, at: str) -> list[tuple[str, str | None]]:
        """``Stake`` entries plus the totals: those we touch are recomputed from what is stored."""
        w = [(rt.key("Stake", hk, ck), rt.encode_value("Stake", v)) for (hk, ck), v in self.stake.items()]
        hks = {hk for hk, _ in self.stake}
        cks = {ck for _, ck in self.stake}
        stored: dict[tuple[str, str], int] = {}
        for hk in hks:
            for key, v in net.iter_prefix("Stake", hk, at=at):
                stored[(hk, key[1])] = int(v)
        stored.update(self.stake)
        for hk in hks:
            w.append((rt.key("TotalHotkeyStake", hk),
                      rt.encode_value("TotalHotkeyStake", sum(v for (h, _), v in stored.items() if h == hk))))
        for ck in cks:  # every Stake entry of these coldkeys is under a hotkey we seeded
            w.append((rt.key("TotalColdkeyStake", ck),
                      rt.encode_value("TotalColdkeyStake", sum(v for (_, c), v in stored.items() if c == ck))))
        return w


def delegation_writes(rt: ln.Runtime, net: ln.Localnet, seeds: dict[int, ln.SubnetSeed], at: str,
                      rng: random.Random) -> tuple[list[tuple[str, str | None]], list[dict]]:
    nominators = [coldkey(f"nominator/{i}") for i in range(6)]
    st = Stakes()
    described = []
    for (netuid, uid), take in TAKES.items():
        s = seeds[netuid]
        hk, owner = s.hotkeys[uid], s.owners[uid]
        noms = rng.sample(nominators[1:], k=rng.randint(2, 4)) + [nominators[0]]
        st.set(hk, owner, int(10 ** rng.uniform(10, 12)))
        for ck in noms:
            st.set(hk, ck, int(10 ** rng.uniform(8, 12)))
        described.append({"netuid": netuid, "uid": uid, "hotkey": hk, "take": take, "owner": owner,
                          "nominators": noms})
    shared_hk = seeds[1].hotkeys[0]
    st.set(shared_hk, nominators[5], 123_456_789_012)
    w = [(rt.key("Delegates", d["hotkey"]), rt.encode_value("Delegates", d["take"])) for d in described]
    # the non-delegates' own stake: Stake[hk, owner] as subnet_writes put it; totals for owners
    for s in seeds.values():
        for hk, ck, rao in zip(s.hotkeys, s.owners, s.stake):
            if (hk, ck) not in st.stake and hk != shared_hk:
                st.set(hk, ck, rao)
    w += st.writes(rt, net, at)
    total = sum(st.stake.values())
    w.append((rt.key("TotalStake"), rt.encode_value("TotalStake", total)))
    return w, described


def payout_blocks() -> set[int]:
    return {e + 1 for u, _, t in SUBNETS for e in range(START + 1, LAST + 1) if ln.epoch_gate(e, u, t)}


def add_stake_writes(rt: ln.Runtime, net: ln.Localnet, described: list[dict], at: str,
                     rng: random.Random) -> list[tuple[str, str | None]]:
    """One nominator adds stake to one delegate (``add_stake``'s four counters)."""
    d = rng.choice(described)
    ck = rng.choice(d["nominators"])
    hk = d["hotkey"]
    amount = rng.randint(10**8, 10**11)
    old = int(net.get("Stake", hk, ck, at=at))
    return [
        (rt.key("Stake", hk, ck), rt.encode_value("Stake", old + amount)),
        (rt.key("TotalHotkeyStake", hk),
         rt.encode_value("TotalHotkeyStake", int(net.get("TotalHotkeyStake", hk, at=at)) + amount)),
        (rt.key("TotalColdkeyStake", ck),
         rt.encode_value("TotalColdkeyStake", int(net.get("TotalColdkeyStake", ck, at=at)) + amount)),
        (rt.key("TotalStake"), rt.encode_value("TotalStake", int(net.get("TotalStake", at=at)) + amount)),
    ]


def set_weights_writes(rt: ln.Runtime, net: ln.Localnet, s: ln.SubnetSeed, block: int, at: str,
                       rng: random.Random) -> list[tuple[str, str | None]]:
    lu = [int(x) for x in net.get("LastUpdate", s.netuid, at=at)]
    uid = rng.randrange(s.n)
    cols = sorted(rng.sample(range(s.n), k=rng.randint(max(1, s.n // 2), s.n)))
    row = [list(p) for p in zip(cols, moc._row_values(rng, len(cols)))]
    lu[uid] = block
    return [(rt.key("Weights", s.netuid, uid), rt.encode_value("Weights", row)),
            (rt.key("LastUpdate", s.netuid), rt.encode_value("LastUpdate", lu))]


def build_chain(net: ln.Localnet, rng: random.Random) -> tuple[dict, list[dict], list[tuple[int, int]]]:
    rt = net.runtime
    net.new_block(height=START)
    _, h = net.head()
    seeds = {u: subnet_seed(u, n, t, rng) for u, n, t in SUBNETS}
    net.set_storage([w for s in seeds.values() for w in ln.subnet_writes(rt, s)])
    writes, described = delegation_writes(rt, net, seeds, h, rng)
    net.set_storage(writes)
    payouts = payout_blocks()
    for b in range(START + 1, LAST + 2):
        hb = net.new_block()
        if int(net.header(hb)["number"], 16) != b:
            raise ln.LocalnetError(f"expected block {b}")
        if b in payouts or b > LAST:
            continue  # a payout block's state is the runtime's alone
        for s in seeds.values():
            if rng.random() < 0.3 and not ln.epoch_gate(b, s.netuid, s.hyperparameters["Tempo"]):
                net.set_storage(set_weights_writes(rt, net, s, b, hb, rng))
        if rng.random() < 0.25:
            net.set_storage(add_stake_writes(rt, net, described, hb, rng))
    epochs = sorted((e, u) for u, _, t in SUBNETS for e in range(START + 1, LAST + 1) if ln.epoch_gate(e, u, t))
    return seeds, described, [(u, e) for e, u in epochs]


def record(net: ln.Localnet, pairs: list[tuple[int, int]], out: Path, log=print) -> list[dict]:
    from taoaudit.chainkit.client import Chain
    from taoaudit.chainkit.errors import ChainError
    from taoaudit.chainkit.ledger import epoch_ledger

    path = out / RECORDING_FILE
    if path.exists():
        path.unlink()
    port = net.rpc.url.rsplit(":", 1)[1]
    chain = Chain(f"ws://127.0.0.1:{port}", record_to=path, record_name=RECORDING_NAME)
    rows = []
    try:
        chain.head()
        for netuid, E in pairs:
            led = epoch_ledger(chain, netuid, E)
            kinds: dict[str, int] = {}
            for c in led.credits:
                kinds[c.kind.value] = kinds.get(c.kind.value, 0) + 1
            rows.append({
                "netuid": netuid, "epoch_block": E, "credits": len(led.credits), "kinds": kinds,
                "distributed": {t.value: v for t, v in led.distributed.items()},
                "remainder": sum(p.rao for p in led.remainder), "reconciled": led.reconciled,
                "checked": led.checked, "differences": len(led.differences),
            })
            log(f"netuid {netuid} E={E}: {len(led.credits)} credits {kinds}, distributed "
                f"{led.distributed}, remainder {sum(p.rao for p in led.remainder)}, "
                f"reconciled {led.reconciled} ({led.reconcile_note})")
        # two refusals, so that a replay can show them: no epoch at that block, no such subnet
        first_netuid, first_epoch = pairs[0]
        for netuid, E in ((first_netuid, first_epoch + 1), (9, first_epoch)):
            try:
                epoch_ledger(chain, netuid, E)
            except ChainError as e:
                log(f"refused as it should be: netuid {netuid} E={E}: {e}")
            else:
                raise ln.LocalnetError(f"netuid {netuid} E={E} was not refused")
    finally:
        chain.close()
    data = json.loads(path.read_text())
    path.write_text(json.dumps(data, sort_keys=True, separators=(",", ":")) + "\n")
    path.chmod(0o644)
    # the metadata is the bundled recording's (same runtime): a relative symlink, not a copy
    meta = out / METADATA_FILE
    bundled = METADATA_DIR / METADATA_FILE
    if meta.exists() and not meta.is_symlink():
        if meta.read_text().strip() != bundled.read_text().strip():
            raise ln.LocalnetError(f"{meta} differs from the bundled {bundled}")
        meta.unlink()
    if not meta.is_symlink():
        meta.symlink_to(os.path.relpath(bundled, out))
    return rows


def run(out: Path, chain_spec: str | None, seed: str, log=print) -> dict:
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    with ln.localnet(chain_spec) as net:
        seeds, described, pairs = build_chain(net, rng)
        rows = record(net, pairs, out, log)
        v = net.runtime_version
        code = net.code_hash(None)
    summary = {
        "format": "localnet-ledger-epochs/1",
        "runtime": {"spec_name": v["specName"], "spec_version": v["specVersion"],
                    "impl_version": v["implVersion"], "code_blake2_256": code},
        "seed": seed,
        "recording_file": RECORDING_FILE,
        "recording_name": RECORDING_NAME,
        "metadata": f"fixtures/localnet/recording/{METADATA_FILE}",
        "subnets": [{"netuid": u, "n": n, "tempo": t, "hotkeys": seeds[u].hotkeys} for u, n, t in SUBNETS],
        "delegates": described,
        "seeded_at_block": START,
        "last_block": LAST + 1,
        "epochs": rows,
        "recording_sha256": hashlib.sha256((out / RECORDING_FILE).read_bytes()).hexdigest(),
    }
    (out / "epochs.json").write_text(json.dumps(summary, sort_keys=True, indent=1) + "\n")
    log(f"recorded {len(rows)} epochs in {time.monotonic() - t0:.1f}s; "
        f"{sum(r['credits'] for r in rows)} credits, reconciled {sum(r['reconciled'] for r in rows)}/{len(rows)}; "
        f"{(out / RECORDING_FILE).stat().st_size} B")
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ln.ROOT / "fixtures" / "localnet" / "ledger")
    ap.add_argument("--seed", default="taoaudit-ledger")
    ap.add_argument("--chain-spec", default=None)
    args = ap.parse_args(argv)
    run(args.out, args.chain_spec, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())

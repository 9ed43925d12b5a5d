"""Generate ``oracle-epoch-case/103`` cases by running the real spec-103 runtime under Chopsticks.

Each case is one subnet epoch: a random scenario (seeded, reproducible) is written into storage
at block E-1 (built with unsafeBlockHeight on a fixed base block), block E is built so that the
runtime's own ``on_initialize`` runs the epoch, and everything is read back by storage name:
inputs at E-1, outputs at E. The JSON has exactly the keys and meanings of
``../shared/oracle-103/README.md``.

    python scripts/make_oracle_cases.py --seed taoaudit1 --count 40 --out fixtures/localnet/oracle103
    python scripts/make_oracle_cases.py --check fixtures/localnet/oracle103   # format checks only

A case is written only if the runtime read back exactly what was seeded, the epoch bookkeeping
shows it ran at E, and the README's checks hold (gate, sum(Emission) <= emission, LoadedEmission).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))

import localnet as ln  # noqa: E402

FORMAT = "oracle-epoch-case/103"
N_CHOICES = (1, 2, 3, 8, 16, 64)
NETUIDS = (1, 3, 7)
PRIMARY = (
    "zero_weights",
    "all_inactive",
    "self_weight_only",
    "outdated_masked",
    "prior_bonds",
    "permit_topk",
    "zero_stake",
    "stake_tie",
    "zero_emission",
    "random_dense",
    "random_sparse",
    "nonpermit_stake",
    "random",
)
# n for each case index, cycled: every n appears, small ones more often (they are cheap).
N_PLAN = (1, 8, 3, 16, 2, 64, 3, 8, 16, 1, 2, 64, 8, 3, 16, 2)
OUTPUTS_BEFORE = ln.OUTPUT_VECTORS + ("LoadedEmission",)


# --------------------------------------------------------------------------------------------
# scenarios


def _stake(rng: random.Random) -> int:
    return int(10 ** rng.uniform(0, 15))


def _row_values(rng: random.Random, k: int) -> list[int]:
    vals = [rng.randint(1, 65535) for _ in range(k)]
    if vals and rng.random() < 0.5:  # as set_weights stores them: max-upscaled to 65535
        m = max(vals)
        vals = [max(1, v * 65535 // m) for v in vals]
    return vals


def scenario(seed: str, index: int) -> tuple[ln.SubnetSeed, int, list[str]]:
    """(what to seed, epoch block E, tags) for case ``index`` of ``seed``; deterministic."""
    rng = random.Random(f"{seed}/{index}")
    n = N_PLAN[index % len(N_PLAN)]
    primary = PRIMARY[index % len(PRIMARY)]
    if n == 1 and primary in ("permit_topk", "stake_tie", "nonpermit_stake", "outdated_masked"):
        primary = "random"  # these need a second neuron
    netuid = rng.choice(NETUIDS)
    tags = {primary}

    tempo = rng.choice([1, 10, 99, 100, 360, rng.randint(2, 1000)])
    E = ln.next_epoch_block(rng.randint(1000, 60000), netuid, tempo)
    cutoff = rng.choice([5, 50, 500, 5000, rng.randint(1, 65535)])
    if primary == "all_inactive" and cutoff >= E - 1:
        cutoff = rng.choice([5, 50, 500])
    if primary == "permit_topk":
        mav = rng.randint(0, n - 1)
    else:
        mav = max(n, rng.choice([64, 128, 256, n + rng.randint(0, 200)]))
    hp = {
        "Tempo": tempo,
        "Kappa": rng.choice([32767, 32767, 0, 65535, rng.randint(0, 65535)]),
        "Rho": rng.choice([10, 30, rng.randint(0, 65535)]),
        "BondsMovingAverage": rng.choice([900_000, 975_000, 990_000, 0, 1_000_000, rng.randint(0, 1_000_000)]),
        "ActivityCutoff": cutoff,
        "MaxAllowedValidators": mav,
        "MaxAllowedUids": 256,
        "ImmunityPeriod": rng.choice([0, 100, 4096]),
    }

    hotkeys = [ln.account_from_label(f"{seed}/{index}/hotkey/{i}") for i in range(n)]
    n_cold = rng.randint(1, max(1, min(4, n)))
    coldkeys = [ln.account_from_label(f"{seed}/{index}/coldkey/{c}") for c in range(n_cold)]
    owners = [rng.choice(coldkeys) for _ in range(n)]

    stake = [_stake(rng) if rng.random() < 0.9 else 0 for _ in range(n)]
    if primary == "zero_stake":
        if rng.random() < 0.5:
            stake = [0] * n
        else:
            for i in rng.sample(range(n), k=max(1, n // 2)):
                stake[i] = 0
    if primary == "stake_tie":
        v = _stake(rng)
        for i in rng.sample(range(n), k=max(2, n // 2)):
            stake[i] = v

    # activity: LastUpdate + cutoff < E is inactive
    def active_lu() -> int:
        return E - 1 - rng.randint(0, min(cutoff, E - 1))

    def inactive_lu() -> int:
        return rng.randint(0, max(0, E - cutoff - 1))

    can_be_inactive = E - cutoff - 1 >= 0
    if primary == "all_inactive":
        last_update = [inactive_lu() for _ in range(n)]
    else:
        p_active = rng.choice([1.0, 0.8, 0.5])
        last_update = [
            active_lu() if (rng.random() < p_active or not can_be_inactive) else inactive_lu()
            for _ in range(n)
        ]
    block_at_registration = [rng.randint(0, E - 1) for _ in range(n)]

    permit = [rng.random() < 0.85 for _ in range(n)]
    if primary == "nonpermit_stake":
        # half of the staked, active neurons lack the old permit
        act = [i for i in range(n) if stake[i] > 0 and last_update[i] + cutoff >= E]
        if len(act) < 2:
            for i in rng.sample(range(n), k=2):
                stake[i] = stake[i] or _stake(rng)
                last_update[i] = active_lu()
            act = [i for i in range(n) if stake[i] > 0 and last_update[i] + cutoff >= E]
        lose = set(rng.sample(act, k=len(act) // 2))
        permit = [i not in lose for i in range(n)]

    weights: dict[int, list[tuple[int, int]]] = {}
    if primary == "zero_weights":
        pass
    elif primary == "self_weight_only":
        for i in range(n):
            if rng.random() < 0.9:
                weights[i] = [(i, rng.randint(1, 65535))]
    elif primary == "random_dense":
        for i in range(n):
            weights[i] = list(zip(range(n), _row_values(rng, n)))
    elif primary == "random_sparse":
        for i in range(n):
            if rng.random() < 0.5:
                cols = sorted(rng.sample(range(n), k=rng.randint(1, max(1, n // 4))))
                weights[i] = list(zip(cols, _row_values(rng, len(cols))))
    else:
        for i in range(n):
            if rng.random() < 0.8:
                cols = sorted(rng.sample(range(n), k=rng.randint(1, n)))
                weights[i] = list(zip(cols, _row_values(rng, len(cols))))
    if primary == "outdated_masked":
        # make some weighted-to neurons registered at/after the setter's last update
        for i, row in weights.items():
            for j, _ in row:
                if j != i and rng.random() < 0.5:
                    block_at_registration[j] = rng.randint(last_update[i], E - 1)

    bonds: dict[int, list[tuple[int, int]]] = {}
    if primary == "prior_bonds" or (primary not in ("zero_weights",) and rng.random() < 0.5):
        for i in range(n):
            if rng.random() < (0.8 if permit[i] else 0.2):
                cols = sorted(rng.sample(range(n), k=rng.randint(1, n)))
                bonds[i] = list(zip(cols, [rng.randint(1, 65535) for _ in cols]))

    if primary == "zero_emission":
        ev, pe = 0, 0
    else:
        ev = rng.choice([0, rng.randint(0, 10**9), rng.randint(0, 10**11)])
        pe = rng.choice([0, rng.randint(0, 10**12), rng.randint(0, 10**15)])

    seed_obj = ln.SubnetSeed(
        netuid=netuid,
        hotkeys=hotkeys,
        owners=owners,
        stake=stake,
        last_update=last_update,
        block_at_registration=block_at_registration,
        validator_permit=permit,
        weights=weights,
        bonds=bonds,
        hyperparameters=hp,
        emission_values=ev,
        pending_emission=pe,
        blocks_since_last_step=rng.randint(0, 5000),
        last_mechanism_step_block=rng.randint(0, E - 1),
    )
    # tags that are facts of the data, whatever the primary scenario
    if n == 1:
        tags.add("n1")
    if bonds:
        tags.add("prior_bonds")
    if n > mav:
        tags.add("permit_topk")
    if ev + pe == 0:
        tags.add("zero_emission")
    return seed_obj, E, sorted(tags)


# --------------------------------------------------------------------------------------------
# case JSON


def build_case(
    seed: str, index: int, tags: list[str], run: ln.EpochRun, runtime: dict[str, Any]
) -> dict[str, Any]:
    b, a = run.before, run.after
    E = run.epoch_block
    hp = b["hyperparameters"]
    subnet = dict(b["subnet"])
    outputs_before: dict[str, Any] = {k: b["outputs"][k] for k in ln.OUTPUT_VECTORS}
    outputs_before["LoadedEmission"] = b["subnet"]["LoadedEmission"]
    events = [
        {"event_id": r["event"]["event_id"], "attributes": r["event"]["attributes"]}
        for r in run.events
    ]
    return {
        "format": FORMAT,
        "runtime": runtime,
        "seed": seed,
        "index": index,
        "case_id": f"{seed}-{index:04d}",
        "tags": tags,
        "netuid": run.netuid,
        "n": b["n"],
        "blocks": {"input_state_block": E - 1, "epoch_block": E},
        "emission": subnet["PendingEmission"] + subnet["EmissionValues"],
        "emission_parts": {
            "PendingEmission": subnet["PendingEmission"],
            "EmissionValues": subnet["EmissionValues"],
        },
        "hyperparameters": hp,
        "epoch_ran": not run.problems,
        "inputs": {
            "Keys": b["Keys"],
            "Uids": b["Uids"],
            "TotalHotkeyStake": b["TotalHotkeyStake"],
            "Owner": b["Owner"],
            "Stake": b["Stake"],
            "IsNetworkMember": b["IsNetworkMember"],
            "LastUpdate": b["LastUpdate"],
            "BlockAtRegistration": b["BlockAtRegistration"],
            "ValidatorPermit": b["ValidatorPermit"],
            "Weights": b["Weights"],
            "Bonds": b["Bonds"],
            "subnet": subnet,
            "hyperparameters": hp,
            "globals": b["globals"],
            "outputs_before": outputs_before,
        },
        "outputs": {
            **{k: a["outputs"][k] for k in ln.OUTPUT_VECTORS},
            "ValidatorPermit": a["ValidatorPermit"],
            "Bonds": a["Bonds"],
            "LoadedEmission": a["subnet"]["LoadedEmission"],
            "PendingEmission": a["subnet"]["PendingEmission"],
            "LastMechansimStepBlock": a["subnet"]["LastMechansimStepBlock"],
            "BlocksSinceLastStep": a["subnet"]["BlocksSinceLastStep"],
            "TotalHotkeyStake_after": a["TotalHotkeyStake"],
            "LastUpdate_after": a["LastUpdate"],
            "events": events,
        },
    }


def dumps_case(case: dict[str, Any]) -> str:
    return json.dumps(case, sort_keys=True, separators=(",", ":"))


# --------------------------------------------------------------------------------------------
# checks (the README's "case format checks"), usable without a node


TOP_KEYS = {
    "blocks", "case_id", "emission", "emission_parts", "epoch_ran", "format", "hyperparameters",
    "index", "inputs", "n", "netuid", "outputs", "runtime", "seed", "tags",
}
INPUT_KEYS = {
    "BlockAtRegistration", "Bonds", "IsNetworkMember", "Keys", "LastUpdate", "Owner", "Stake",
    "TotalHotkeyStake", "Uids", "ValidatorPermit", "Weights", "globals", "hyperparameters",
    "outputs_before", "subnet",
}
OUTPUT_KEYS = {
    "Active", "BlocksSinceLastStep", "Bonds", "Consensus", "Dividends", "Emission", "Incentive",
    "LastMechansimStepBlock", "LastUpdate_after", "LoadedEmission", "PendingEmission",
    "PruningScores", "Rank", "TotalHotkeyStake_after", "Trust", "ValidatorPermit",
    "ValidatorTrust", "events",
}
HP_KEYS = set(ln.HYPERPARAMETER_ITEMS)
U16_OUTPUTS = ("Rank", "Trust", "Consensus", "Incentive", "Dividends", "PruningScores", "ValidatorTrust")


def data_tags(c: dict[str, Any]) -> list[str]:
    """The tags that are facts of a case's data (n1, prior_bonds, permit_topk, zero_emission)."""
    t = []
    if c["n"] == 1:
        t.append("n1")
    if c["inputs"]["Bonds"]:
        t.append("prior_bonds")
    if c["n"] > c["hyperparameters"]["MaxAllowedValidators"]:
        t.append("permit_topk")
    if c["emission"] == 0:
        t.append("zero_emission")
    return t


def check_case(c: dict[str, Any], fresh_subnet: bool = True) -> list[str]:
    """Problems with one case (empty list: fine).

    ``fresh_subnet``: the case was seeded into empty output slots (the generated cases); a
    case taken from a continuous chain has the previous epoch's outputs at E-1.
    """
    p: list[str] = []
    keys = set(c)
    if not TOP_KEYS <= keys or keys - TOP_KEYS - {"replayed_identical"}:
        p.append(f"top-level keys differ: {sorted(keys ^ TOP_KEYS)}")
        return p
    if c["format"] != FORMAT:
        p.append("format")
    if c["case_id"] != f"{c['seed']}-{c['index']:04d}":
        p.append("case_id")
    inp, out, n, E = c["inputs"], c["outputs"], c["n"], c["blocks"]["epoch_block"]
    if set(inp) != INPUT_KEYS:
        p.append(f"inputs keys differ: {sorted(set(inp) ^ INPUT_KEYS)}")
    if set(out) != OUTPUT_KEYS:
        p.append(f"outputs keys differ: {sorted(set(out) ^ OUTPUT_KEYS)}")
    if p:
        return p
    hp = c["hyperparameters"]
    if set(hp) != HP_KEYS or inp["hyperparameters"] != hp:
        p.append("hyperparameters")
    if c["blocks"]["input_state_block"] != E - 1:
        p.append("input_state_block != E-1")
    if not ln.epoch_gate(E, c["netuid"], hp["Tempo"]):
        p.append("gate (E + netuid + 1) % (tempo + 1) == tempo does not hold")
    ep = c["emission_parts"]
    if c["emission"] != ep["PendingEmission"] + ep["EmissionValues"]:
        p.append("emission != PendingEmission + EmissionValues")
    if ep["PendingEmission"] != inp["subnet"]["PendingEmission"] or ep["EmissionValues"] != inp["subnet"]["EmissionValues"]:
        p.append("emission_parts != inputs.subnet")
    if inp["subnet"]["SubnetworkN"] != n or len(inp["Keys"]) != n:
        p.append("n")
    for k in ("TotalHotkeyStake", "Owner", "Stake", "IsNetworkMember", "LastUpdate", "BlockAtRegistration", "ValidatorPermit"):
        if len(inp[k]) != n:
            p.append(f"inputs.{k} has {len(inp[k])} entries")
    if inp["Uids"] != {hk: i for i, hk in enumerate(inp["Keys"])}:
        p.append("Uids != inverse of Keys")
    for what in ("Weights", "Bonds"):
        for u, row in inp[what].items():
            if not 0 <= int(u) < n or any(not (0 <= j < n and 0 <= v <= 65535) for j, v in row):
                p.append(f"inputs.{what}[{u}] out of range")
    for u, row in out["Bonds"].items():
        if not 0 <= int(u) < n or any(not (0 <= j < n and 0 <= v <= 65535) for j, v in row):
            p.append(f"outputs.Bonds[{u}] out of range")
    for k in ln.OUTPUT_VECTORS:
        if fresh_subnet and inp["outputs_before"][k] != []:
            p.append(f"outputs_before.{k} not empty")
    if inp["outputs_before"]["LoadedEmission"] is not None or inp["subnet"]["LoadedEmission"] is not None:
        p.append("LoadedEmission present at E-1")
    for k in U16_OUTPUTS + ("Emission", "Active", "ValidatorPermit"):
        if len(out[k]) != n:
            p.append(f"outputs.{k} has {len(out[k])} entries")
    for k in U16_OUTPUTS:
        if any(not 0 <= v <= 65535 for v in out[k]):
            p.append(f"outputs.{k} out of u16 range")
    if sum(out["Emission"]) > c["emission"]:
        p.append("sum(Emission) > emission")
    if out["LoadedEmission"] != [[hk, e] for hk, e in zip(inp["Keys"], out["Emission"])]:
        p.append("LoadedEmission != (Keys[uid], Emission[uid])")
    if out["PendingEmission"] != 0 or out["BlocksSinceLastStep"] != 0 or out["LastMechansimStepBlock"] != E:
        p.append("epoch bookkeeping (PendingEmission/BlocksSinceLastStep/LastMechansimStepBlock)")
    if out["TotalHotkeyStake_after"] != inp["TotalHotkeyStake"] or out["LastUpdate_after"] != inp["LastUpdate"]:
        p.append("stake or LastUpdate changed at E")
    if c["epoch_ran"] is not True:
        p.append("epoch_ran is not true")
    for t in ("n1", "prior_bonds", "permit_topk", "zero_emission"):
        if (t in c["tags"]) != (t in data_tags(c)):
            p.append(f"tag {t}")
    return p


def check_dir(directory: Path) -> dict[str, list[str]]:
    out = {}
    for f in sorted(directory.glob("*.json")):
        out[f.name] = check_case(json.loads(f.read_text()))
    return out


# --------------------------------------------------------------------------------------------
# generation


def generate(
    net: ln.Localnet,
    seed: str,
    indices: Sequence[int],
    out_dir: Path,
    replays: int = 4,
    log=print,
) -> list[dict[str, Any]]:
    out_dir.mkdir(parents=True, exist_ok=True)
    v = net.runtime_version
    _, base = net.head()
    runtime = {
        "spec_name": v["specName"],
        "spec_version": v["specVersion"],
        "impl_version": v["implVersion"],
        "code_blake2_256": net.code_hash(base),
    }
    if runtime["code_blake2_256"] != ln.EXPECTED_CODE_BLAKE2_256:
        raise ln.LocalnetError(f"runtime code {runtime['code_blake2_256']} is not the spec-103 wasm")
    cases = []
    for k, index in enumerate(indices):
        s, E, tags = scenario(seed, index)
        run = ln.run_epoch(net, s, E, base_hash=base)
        case = build_case(seed, index, tags, run, runtime)
        if k < replays:
            again = build_case(seed, index, tags, ln.run_epoch(net, s, E, base_hash=base), runtime)
            if dumps_case(again) != dumps_case(case):
                raise ln.LocalnetError(f"case {index}: a replay from the same base differs")
            case["replayed_identical"] = True
        problems = run.problems + check_case(case)
        if problems:
            raise ln.LocalnetError(f"case {index} ({tags}): " + "; ".join(problems))
        path = out_dir / f"case-{seed}-{index:04d}.json"
        path.write_text(dumps_case(case) + "\n")
        log(f"{path.name}: n={s.n} netuid={s.netuid} E={E} tags={','.join(tags)} "
            f"{path.stat().st_size} B {run.seconds:.2f}s")
        cases.append(case)
    return cases


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", default="taoaudit1")
    ap.add_argument("--count", type=int, default=40)
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--out", type=Path, default=ln.ROOT / "fixtures" / "localnet" / "oracle103")
    ap.add_argument("--chain-spec", default=None)
    ap.add_argument("--replays", type=int, default=4, help="first cases run twice from the same base")
    ap.add_argument("--check", type=Path, default=None, help="only check the case files in this directory")
    args = ap.parse_args(argv)
    if args.check:
        bad = {k: v for k, v in check_dir(args.check).items() if v}
        for k, v in bad.items():
            print(f"{k}: {'; '.join(v)}")
        print(f"{len(list(args.check.glob('*.json')))} cases, {len(bad)} with problems")
        return 1 if bad else 0
    t0 = time.monotonic()
    with ln.localnet(args.chain_spec) as net:
        cases = generate(net, args.seed, range(args.start, args.start + args.count), args.out, args.replays)
    size = sum((args.out / f"case-{c['case_id']}.json").stat().st_size for c in cases)
    print(f"{len(cases)} cases, {size} bytes, {time.monotonic() - t0:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

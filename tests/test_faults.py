"""The fault table: a fake node on 127.0.0.1 serves the bundled recording with one injected
fault, and `taoaudit verify` / `taoaudit metagraph` end in the honest verdict after a retry
or in one `error:` line with exit 2 — never exit 1, never a traceback, never a hang.

The node is scripts/fakenode.py (a real websocket server); the CLI runs as a subprocess with
a 2 s request deadline (TAOAUDIT_RPC_TIMEOUT) so the 60 s stall costs seconds, and every run
is killed at BOUND seconds. `python scripts/fakenode.py table` prints the same table with the
default deadline.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import fakenode  # noqa: E402

DEADLINE = 2.0  # seconds per request (TAOAUDIT_RPC_TIMEOUT for the CLI)
BOUND = 120.0  # a CLI run that takes longer is killed and fails the test

#: faults injected once that a retry on a fresh connection cures: the verdict is the honest one
CURED = ("clean close", "TCP drop", "garbage frame", "non-object frame", "rate limit",
         "wrong id with pings", "60 s stall", "slow trickle")
#: faults that are the node's answer or a lie about blocks: refused with one error line
REFUSED = {
    "JSON-RPC error": "error: RPC state_queryStorageAt failed: Internal error",
    "wrong block hash": "answered for the wrong block: block 228's hash",
    "storage from another block": "answered for the wrong block: storage asked at",
}
#: injected on every request: the bounded retries run out
PERSISTENT = {"clean close": "failed state_queryStorageAt 4 times; last: the node closed the connection",
              "rate limit": "failed state_queryStorageAt 4 times; last: state_queryStorageAt: error -32029"}


def test_the_table_covers_every_fault_of_the_issue() -> None:
    assert set(CURED) | set(REFUSED) == set(fakenode.FAULTS)
    assert len(fakenode.FAULTS) == 11  # the issue's ten and a trickled frame


@pytest.fixture(scope="module")
def honest() -> dict[str, fakenode.Row]:
    """Each command against the fake node without a fault: the verdict a fault must not change."""
    rows = {c: fakenode.run_row(None, c, DEADLINE, BOUND) for c in fakenode.COMMANDS}
    for c, row in rows.items():
        assert row.code == 0, (c, row.first_stderr)
        assert json.loads(row.stdout)  # one JSON object
    assert json.loads(rows["verify"].stdout)["mismatches"] == []  # the recording's epoch is exact
    return rows


def _check_bounded_and_clean(row: fakenode.Row) -> None:
    assert row.code is not None, f"{row.fault}: killed after {BOUND} s (a hang)"
    assert row.code != 1, f"{row.fault}: a fault reported as a mismatch"
    assert not row.traceback, f"{row.fault}: traceback"
    assert row.seconds < BOUND


@pytest.mark.parametrize("command", list(fakenode.COMMANDS))
@pytest.mark.parametrize("fault", CURED)
def test_a_transient_fault_ends_in_the_honest_verdict(fault: str, command: str, honest: dict) -> None:
    row = fakenode.run_row(fakenode.Fault(fault), command, DEADLINE, BOUND)
    _check_bounded_and_clean(row)
    assert row.injected == 1, "the fault was not injected: the test would prove nothing"
    assert row.code == 0 and row.stderr_lines == 0, row.first_stderr
    assert json.loads(row.stdout) == json.loads(honest[command].stdout)


@pytest.mark.parametrize("command", list(fakenode.COMMANDS))
@pytest.mark.parametrize("fault", list(REFUSED))
def test_a_wrong_answer_ends_in_one_error_line(fault: str, command: str) -> None:
    row = fakenode.run_row(fakenode.Fault(fault), command, DEADLINE, BOUND)
    _check_bounded_and_clean(row)
    assert row.injected == 1
    assert row.code == 2 and row.stderr_lines == 1 and row.stdout == ""
    assert row.first_stderr.startswith("error: ") and REFUSED[fault] in row.first_stderr


@pytest.mark.parametrize("fault", list(PERSISTENT))
def test_a_persistent_fault_ends_in_one_error_line_after_bounded_retries(fault: str) -> None:
    row = fakenode.run_row(fakenode.Fault(fault, times=0), "verify", DEADLINE, BOUND)
    _check_bounded_and_clean(row)
    assert row.injected == 4  # the first attempt and 3 retries, no more
    assert row.code == 2 and row.stderr_lines == 1 and row.stdout == ""
    assert row.first_stderr.startswith("error: node ws://127.0.0.1:") and PERSISTENT[fault] in row.first_stderr


def test_a_wrong_answer_is_not_cached(tmp_path: Path) -> None:
    """An epoch read from a node that lied leaves nothing in the audit cache: a later honest
    audit with the same cache gives the same verdicts as one without a cache."""
    cache = str(tmp_path / "cache")
    audit = ["audit", "--netuids", "1", "--epochs", "1", "--to", "238", "--json"]
    lie = fakenode.Fault("storage from another block", skip=8)
    with fakenode.FakeNode(fault=lie) as node:
        code, out, err, secs = fakenode.run_cli(node, [*audit, "--cache-dir", cache], DEADLINE, BOUND)
        assert node.injected == 1
    assert code == 2 and "Traceback" not in err and secs < BOUND
    with fakenode.FakeNode() as node:
        cached = fakenode.run_cli(node, [*audit, "--cache-dir", cache], DEADLINE, BOUND)
        fresh = fakenode.run_cli(node, [*audit, "--no-cache"], DEADLINE, BOUND)
    assert cached[0] == fresh[0] == 0, (cached[2], fresh[2])

    def verdicts(text: str) -> list[dict]:
        return [{k: v for k, v in e.items() if k != "cached"} for e in json.loads(text)["epochs"]]

    assert verdicts(cached[1]) == verdicts(fresh[1])


@pytest.mark.parametrize("fault", ["rate limit", "garbage frame", "TCP drop"])
def test_recording_through_a_faulty_node_keeps_only_the_chains_answers(fault: str, tmp_path: Path) -> None:
    """--record-to against a node that faults once: the retry's answer is recorded, the fault
    never is, and the recording replays to the same metagraph as the live run."""
    from taoaudit.chainkit.client import Chain
    from taoaudit.chainkit.metagraph import snapshot_metagraph

    out = tmp_path / "rec.json"
    with fakenode.FakeNode(fault=fakenode.Fault(fault)) as node:
        live = Chain(node.url, record_to=out, timeout=DEADLINE)
        mg = snapshot_metagraph(live, 1, 228)
        live.close()  # saves the recording
        assert node.injected == 1 and live.rpc_client.retried == 1
    recorded = json.loads(out.read_text())["recording"]
    codes = {(answer.get("error") or {}).get("code") for calls in recorded.values() for answer in calls.values()}
    assert not codes & {-32029, -32099}  # neither the rate limit nor the fake's "not recorded"
    again = snapshot_metagraph(Chain(out, metadata_dirs=[fakenode.RECORDING.parent]), 1, 228)
    assert again.block_hash == mg.block_hash
    assert [again.neuron(u) for u in range(again.n)] == [mg.neuron(u) for u in range(mg.n)]

"""`taoaudit ledger`: where one subnet epoch's emission went, per account, and whether the chain's
stakes agree. A thin shell over :func:`taoaudit.chainkit.ledger.epoch_ledger`.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Any

import click

from .main import EXIT_MISMATCH, EXIT_OK, Fail, Settings, _finish_recording, common_options, emit_json, library_errors

CSV_FIELDS = ("netuid", "epoch_block", "hotkey", "coldkey", "kind", "token", "rao", "block")


def ledger_json(led: Any, only: dict[str, str] | None = None) -> dict[str, Any]:
    """The ledger as one JSON object: ``distributed`` and ``remainder.rao`` are rao per token,
    and for every token ``sum(credits.rao) + remainder.rao == distributed`` — unless ``only``
    (``{"hotkey"|"coldkey": SS58}``) says the credits were filtered to one account."""
    tokens = sorted({t.value for t in led.distributed} | {p.token.value for p in led.remainder})
    return {
        "netuid": led.netuid,
        "epoch_block": led.epoch_block,
        "spec_version": led.spec_version,
        "era": led.era,
        "distributed": {t.value: int(v) for t, v in led.distributed.items()},
        "credits": [c.as_dict() for c in led.credits],
        "credits_of": only,
        "remainder": {
            "rao": {t: sum(int(p.rao) for p in led.remainder if p.token.value == t) for t in tokens},
            "why": "; ".join(f"{p.rao} {p.token.value}: {p.why}" for p in led.remainder),
            "parts": [{"token": p.token.value, "rao": int(p.rao), "why": p.why} for p in led.remainder],
        },
        "reconciled": bool(led.reconciled),
        "reconcile_note": led.reconcile_note,
        "storage_entries_checked": int(led.checked),
        "blocks_compared": list(led.blocks),
        "differences": [d.as_dict() for d in led.differences],
    }


def _ss58(value: str | None, option: str) -> str | None:
    if value is None:
        return None
    from scalecodec.utils.ss58 import ss58_decode

    try:
        ss58_decode(value)
    except Exception:
        raise Fail(f"{option} {value!r} is not an SS58 address") from None
    return value


def _write_csv(led: Any) -> None:
    w = csv.writer(sys.stdout, lineterminator="\n")
    w.writerow(CSV_FIELDS)
    for c in led.credits:
        w.writerow([led.netuid, led.epoch_block, c.hotkey, c.coldkey, c.kind.value, c.token.value, c.rao, c.block])


def _short(account: str) -> str:
    return f"{account[:6]}…{account[-4:]}" if len(account) > 12 else account


def render_ledger(console: Any, led: Any, full: bool) -> None:
    from rich.table import Table

    dist = ", ".join(f"{v:,} rao {t.value}" for t, v in led.distributed.items())
    console.print(f"[bold]netuid {led.netuid}[/] epoch at block {led.epoch_block} "
                  f"(spec {led.spec_version}, ledger rules {led.era}): distributed {dist}")
    table = Table(show_header=True, header_style="bold")
    for col, justify in (("hotkey", "left"), ("coldkey", "left"), ("kind", "left"), ("token", "left"),
                         ("rao", "right"), ("block", "right")):
        table.add_column(col, justify=justify)
    for c in led.credits:
        h, k = (c.hotkey, c.coldkey) if full else (_short(c.hotkey), _short(c.coldkey))
        table.add_row(h, k, c.kind.value, c.token.value, f"{c.rao:,}", str(c.block))
    console.print(table)
    for p in led.remainder:
        console.print(f"remainder {p.rao:,} rao {p.token.value}: {p.why}")
    if led.reconciled:
        console.print(f"[green]reconciled[/]: {led.reconcile_note}")
    elif led.differences:
        console.print(f"[red]NOT reconciled[/]: {led.reconcile_note}")
        diffs = Table(show_header=True, header_style="bold red")
        for col in ("storage", "hotkey", "coldkey", "kinds", "expected", "stored", "blocks"):
            diffs.add_column(col)
        for d in led.differences:
            diffs.add_row(d.storage, d.hotkey, d.coldkey, ",".join(k.value for k in d.kinds) or "-",
                          f"{d.expected_rao:+,}", f"{d.observed_rao:+,}", f"{d.block_before}→{d.block_after}")
        console.print(diffs)
    else:
        console.print(f"[yellow]{led.reconcile_note}[/]")


def check_parquet_target(path: Path, force: bool) -> None:
    """Refuse before reading anything: never replace the user's file unasked."""
    if path.exists() and not force:
        raise Fail(f"{path} exists; pass --force to replace it")
    if path.is_dir():
        raise Fail(f"{path} is a directory")
    if not path.parent.exists():
        raise Fail(f"directory {path.parent} does not exist")


@click.command("ledger")
@click.option("--netuid", type=int, required=True, help="Subnet id.")
@click.option("--epoch", "epoch_block", type=int, required=True, help="The block the epoch ran at.")
@click.option("--hotkey", help="Only the credits of this hotkey (SS58).")
@click.option("--coldkey", help="Only the credits of this coldkey (SS58).")
@click.option("--csv", "as_csv", is_flag=True, help="CSV on stdout, one row per credit.")
@click.option("--parquet", type=click.Path(path_type=Path), help="Also write the credits to this Parquet file.")
@click.option("--force", is_flag=True, help="Replace the --parquet file if it exists.")
@click.option("--full", is_flag=True, help="Full SS58 addresses in the table.")
@common_options
@click.pass_context
@library_errors
def ledger(ctx: click.Context, netuid: int, epoch_block: int, hotkey: str | None, coldkey: str | None,
           as_csv: bool, parquet: Path | None, force: bool, full: bool) -> None:
    """Every credit one subnet epoch's emission made, per account and kind, reconciled with the
    chain's stake storage across the payout block (exit 1 if an account's stake disagrees)."""
    from taoaudit.chainkit.ledger import epoch_ledger, write_parquet

    if hotkey is not None and coldkey is not None:
        raise Fail("give --hotkey or --coldkey, not both")
    hotkey, coldkey = _ss58(hotkey, "--hotkey"), _ss58(coldkey, "--coldkey")
    s = Settings(ctx)
    if s.json and as_csv:
        raise Fail("give --json or --csv, not both")
    if parquet is not None:
        check_parquet_target(parquet, force)
    chain = s.chain()
    led = epoch_ledger(chain, netuid, epoch_block)
    _finish_recording(chain)
    only = {"hotkey": hotkey} if hotkey else {"coldkey": coldkey} if coldkey else None
    shown = led.filtered(hotkey=hotkey, coldkey=coldkey) if only else led
    if parquet is not None:
        write_parquet(shown, parquet)
    if s.json:
        emit_json(ledger_json(shown, only))
    elif as_csv:
        _write_csv(shown)
    else:
        render_ledger(s.console, shown, full)
        if only:
            (kind, account), = only.items()
            s.console.print(f"[dim]credits of {kind} {account} only; distributed and remainder are the epoch's[/]")
        s.footer()
    sys.exit(EXIT_MISMATCH if led.differences else EXIT_OK)

"""Rich presentation of library results (the only place that formats for humans)."""

from __future__ import annotations

import contextlib
import csv
import sys
from typing import Any, Callable, Iterable, Iterator

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table


def console(no_color: bool = False, stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    # Piped or captured output has no terminal width: give tables room instead of 80 columns.
    width = None if stream.isatty() else 200
    return Console(no_color=no_color, highlight=False, soft_wrap=False, stderr=stderr, width=width)


def _short(v: Any, width: int = 60) -> str:
    s = str(v)
    return s if len(s) <= width else s[: width - 1] + "…"


def epoch_cases(con: Console, results: Iterable[Any], engine: str) -> None:
    results = list(results)
    summary = Table(title=f"Epoch recomputation ({engine} engine)", title_justify="left")
    for col in ("case", "spec", "variant", "n", "fields", "mismatches", "result"):
        summary.add_column(col, justify="right" if col in ("spec", "n", "fields", "mismatches") else "left")
    for r in results:
        if r.mismatches is None:
            verdict, count = "[yellow]no expectations[/]", "-"
        elif r.mismatches:
            verdict, count = "[bold red]MISMATCH[/]", str(len(r.mismatches))
        else:
            verdict, count = "[green]exact match[/]", "0"
        variant = f"{r.variant} ({r.era})" + (f" [yellow]{r.assumed}[/]" if r.assumed else "")
        summary.add_row(r.case.case_id, str(r.case.spec_version), variant, str(r.case.inputs.n),
                        str(len(r.outputs)), count, verdict)
    con.print(summary)
    for r in results:
        if not r.mismatches:
            continue
        t = Table(title=f"{r.case.case_id}: mismatched values", title_justify="left")
        for col in ("field", "uid", "expected", "recomputed"):
            t.add_column(col)
        for m in r.mismatches[:200]:
            t.add_row(m.field, m.index, escape(_short(m.expected)), escape(_short(m.actual)))
        if len(r.mismatches) > 200:
            t.add_row("…", f"{len(r.mismatches) - 200} more", "", "")
        con.print(t)
    if results and len(results) > 1:
        ok = sum(1 for r in results if r.mismatches == [])
        con.print(f"{ok}/{len(results)} cases match exactly")


def _verdict(ok: bool) -> str:
    return "[green]exact match[/]" if ok else "[bold red]MISMATCH[/]"


def _hk(hotkey: str | None) -> str:
    return "" if not hotkey else hotkey[:10] + "…"


def verify_result(con: Console, r: Any, engine: str) -> None:
    t = Table(title=f"Subnet {r.netuid}, epoch at block {r.epoch_block}", title_justify="left", show_header=False)
    t.add_column("k", style="bold")
    t.add_column("v")
    t.add_row("runtime", f"spec {r.spec_version} → variant {r.variant} ({engine} engine)")
    if getattr(r, "era_note", None):
        t.add_row("era", f"[bold yellow]{escape(r.era_note)}[/]")
    t.add_row("inputs (E−1)", str(r.block_hashes.get("inputs")))
    t.add_row("outputs (E)", str(r.block_hashes.get("outputs")))
    rao = r.rao_emission or {}
    if rao.get("source") == "inferred":
        rng = rao.get("range")
        how = (f"inferred: the amounts {rng[0]}–{rng[1]} reproduce the stored Emission exactly"
               if rng else "no single amount reproduces the stored Emission")
        t.add_row("rao_emission", f"{rao.get('value')} ({how}; the chain does not store it)")
    elif rao:
        t.add_row("rao_emission", f"{rao.get('value')} (read from the chain)")
    t.add_row("UIDs compared", str(r.uids_compared))
    mech = getattr(r, "mechanisms", None)
    if mech:
        t.add_row("mechanisms", f"{mech['count']}, emission split {mech['emission_split'] or 'even'}, "
                                f"shares {mech['shares']}")
    if getattr(r, "replaced_uids", ()):
        t.add_row("replaced in block E", f"UIDs {list(r.replaced_uids)} (registered after the epoch ran; not compared)")
    if getattr(r, "bonds_reset_uids", ()):
        t.add_row("bonds reset in block E", f"UIDs {list(r.bonds_reset_uids)} (a commitment cleared their Bonds "
                                             "column after the epoch; applied to the recomputed Bonds)")
    t.add_row("fields compared", ", ".join(r.fields_compared))
    t.add_row("mismatches", str(len(r.mismatches)))
    t.add_row("result", _verdict(r.ok))
    con.print(t)
    if r.mismatches:
        d = Table(title="Mismatched values (chain vs recomputed)", title_justify="left")
        for col in ("uid", "hotkey", "field", "chain", "recomputed", "difference"):
            d.add_column(col, justify="right" if col in ("uid", "difference") else "left")
        for m in r.mismatches[:500]:
            diff = ""
            if isinstance(m.chain, (int, bool)) and isinstance(m.recomputed, (int, bool)):
                diff = f"{int(m.recomputed) - int(m.chain):+d}"
            d.add_row(str(m.uid), _hk(r.hotkey(m.uid)), m.field, escape(_short(m.chain)), escape(_short(m.recomputed)), diff)
        if len(r.mismatches) > 500:
            d.add_row("…", "", f"{len(r.mismatches) - 500} more", "", "", "")
        con.print(d)


@contextlib.contextmanager
def progress(con: Console, enabled: bool, total: int, label: str) -> Iterator[Callable[[], None]]:
    if not enabled:
        yield lambda: None
        return
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=con, transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda: bar.advance(task)


_VERDICT_STYLE = {"exact": "[green]exact match[/]", "mismatch": "[bold red]MISMATCH[/]",
                  "refused": "[yellow]refused[/]", "unreadable": "[yellow]unreadable[/]"}


def audit_results(con: Console, results: list, first: dict, engine: str, summary: dict,
                  skipped: dict[int, str], notes: dict[int, str] | None = None) -> None:
    t = Table(title=f"Audit: {len(results)} epochs ({engine} engine)", title_justify="left")
    for col in ("subnet", "epoch block", "spec", "UIDs", "mismatches", "source", "result", "why"):
        t.add_column(col, justify="right" if col in ("subnet", "epoch block", "spec", "UIDs", "mismatches") else "left")
    for o in results:
        a = o.audit
        t.add_row(str(o.netuid), str(o.epoch_block), str(a.spec_version) if a else "-",
                  str(a.uids_compared) if a else "-", str(len(a.mismatches)) if a else "-",
                  "cache" if o.cached else "computed", _VERDICT_STYLE[o.verdict],
                  escape(_short(o.reason or (getattr(a, "era_note", None) or ""), 100)))
    con.print(t)
    for note in sorted({a.era_note for a in (o.audit for o in results) if getattr(a, "era_note", None)}):
        con.print(f"[bold yellow]{escape(note)}[/]: the newest known era's layout and rules were assumed")
    for netuid, note in sorted(skipped.items()):
        con.print(f"[dim]subnet {netuid} skipped: {escape(note)}[/]")
    for netuid, note in sorted((notes or {}).items()):
        con.print(f"[yellow]subnet {netuid}: {escape(note)}[/]")
    for netuid, o in sorted(first.items()):
        con.print(f"[bold red]subnet {netuid}: first divergence at epoch block {o.epoch_block}[/]")
        verify_result(con, o.audit, engine)
    parts = [f"{summary[v]} {v}" for v in ("exact", "mismatch", "refused", "unreadable")]
    con.print(f"{summary['epochs']} epochs: " + ", ".join(parts))
    for kind in ("refused", "unreadable"):
        for code, count in sorted(summary[f"{kind}_by_reason"].items()):
            con.print(f"  {kind}: {count} × {code}")


def explain(con: Console, netuid: int, uid: int, hotkey: str | None, read: Any, stages: list, stored_form: Callable) -> None:
    t = Table(title=f"Subnet {netuid}, UID {uid} {hotkey or ''} — epoch at block {read.epoch_block} (spec {read.spec_version})",
              title_justify="left")
    for col in ("stage", "value", "recomputed (stored form)", "chain stored", "", "note"):
        t.add_column(col)
    for st in stages:
        value = f"{st.value:.9f}" if isinstance(st.value, float) else _short(st.value, 30)
        rec = stored_form(st)
        chain = "" if st.chain is None else str(st.chain)
        mark = ""
        if st.chain is not None and rec is not None:
            mark = "[green]=[/]" if rec == st.chain else "[bold red]≠[/]"
        t.add_row(escape(st.name), escape(value), "" if rec is None else str(rec), escape(chain), mark, escape(st.note))
    con.print(t)


def metagraph_table(con: Console, mg: Any) -> None:
    cols = [f for f in ("uid", "hotkey", "active", "validator_permit", "stake", "incentive", "dividends",
                        "consensus", "trust", "rank", "validator_trust", "emission", "last_update") if f in mg.arrays]
    t = Table(title=f"Subnet {mg.netuid} at block {mg.block} (spec {mg.spec_version}, {mg.n} UIDs, via {mg.source})",
              title_justify="left")
    for c in cols:
        t.add_column(c, justify="left" if c == "hotkey" else "right")
    rows = []
    for uid in range(mg.n):
        row = []
        for c in cols:
            v = mg.arrays[c][uid].item()
            row.append(_hk(v) if c == "hotkey" else ("✓" if v is True else "" if v is False else str(v)))
        rows.append(row)
    if len(rows) > FAST_TABLE_ROWS:
        _plain_table(con, t.title, cols, rows, ["left" if c == "hotkey" else "right" for c in cols])
        return
    for row in rows:
        t.add_row(*row)
    con.print(t)


#: rich lays out every cell itself (~1 ms a cell on a 2-core VM: 18 s for a 1024-UID
#: metagraph); larger tables are drawn here in the same box style, as plain text.
FAST_TABLE_ROWS = 200


def _plain_table(con: Console, title: str, cols: list[str], rows: list[list[str]], justify: list[str]) -> None:
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(cols)]

    def line(cells: list[str], sep: str) -> str:
        parts = [x.ljust(w) if j == "left" else x.rjust(w) for x, w, j in zip(cells, widths, justify)]
        return sep + sep.join(f" {x} " for x in parts) + sep

    out = [title]
    out.append("┏" + "┳".join("━" * (w + 2) for w in widths) + "┓")
    out.append(line(cols, "┃"))
    out.append("┡" + "╇".join("━" * (w + 2) for w in widths) + "┩")
    out.extend(line(r, "│") for r in rows)
    out.append("└" + "┴".join("─" * (w + 2) for w in widths) + "┘")
    con.file.write("\n".join(out) + "\n")
    con.file.flush()


def metagraph_csv(mg: Any) -> None:
    w = csv.writer(sys.stdout)
    w.writerow(mg.fields)
    cols = [mg.arrays[f].tolist() for f in mg.fields]
    for row in zip(*cols):
        w.writerow([int(v) if isinstance(v, bool) else v for v in row])


def metagraph_diff(con: Console, a: Any, b: Any, changes: list) -> None:
    t = Table(title=f"Subnet {a.netuid}: block {a.block} → {b.block}, {len(changes)} changes", title_justify="left")
    for col in ("uid", "field", "before", "after"):
        t.add_column(col)
    for c in changes[:1000]:
        t.add_row(str(c.uid), c.field, escape(_short(c.before, 30)), escape(_short(c.after, 30)))
    con.print(t)


def epoch_snapshot(con: Console, inputs: Any, outputs: Any, meta: dict) -> None:
    t = Table(title=f"Epoch snapshot: subnet {inputs.netuid}, block {inputs.current_block}", title_justify="left",
              show_header=False)
    t.add_column("k", style="bold")
    t.add_column("v")
    for k in ("spec_version", "epoch_block", "endpoint"):
        if k in meta:
            t.add_row(k, str(meta[k]))
    t.add_row("n", str(inputs.n))
    t.add_row("rao_emission", str(inputs.rao_emission))
    t.add_row("weights entries", str(len(inputs.weights.cols)))
    t.add_row("bonds entries", str(len(inputs.bonds.cols)))
    t.add_row("outputs", ", ".join(outputs.field_names()) if outputs is not None else "none")
    con.print(t)


def checks(con: Console, results: dict[str, bool]) -> None:
    for name, ok in results.items():
        con.print(f"{'[green]✓[/]' if ok else '[bold red]✗[/]'} {name}")

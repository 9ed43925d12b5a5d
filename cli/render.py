"""Rich presentation of library results (the only place that formats for humans)."""

from __future__ import annotations

from typing import Any, Iterable

from rich.console import Console
from rich.table import Table


def console(no_color: bool = False) -> Console:
    return Console(no_color=no_color, highlight=False, soft_wrap=False)


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
        summary.add_row(r.case.case_id, str(r.case.spec_version), r.variant, str(r.case.inputs.n),
                        str(len(r.outputs)), count, verdict)
    con.print(summary)
    for r in results:
        if not r.mismatches:
            continue
        t = Table(title=f"{r.case.case_id}: mismatched values", title_justify="left")
        for col in ("field", "uid", "expected", "recomputed"):
            t.add_column(col)
        for m in r.mismatches[:200]:
            t.add_row(m.field, m.index, _short(m.expected), _short(m.actual))
        if len(r.mismatches) > 200:
            t.add_row("…", f"{len(r.mismatches) - 200} more", "", "")
        con.print(t)
    if results and len(results) > 1:
        ok = sum(1 for r in results if r.mismatches == [])
        con.print(f"{ok}/{len(results)} cases match exactly")

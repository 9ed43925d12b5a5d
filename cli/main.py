"""`taoaudit`: the terminal face of the library. Every command is a thin shell over a library
function; presentation lives here only. Exit codes: 0 all match, 1 a mismatch, 2 bad input."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from . import render

EXIT_OK, EXIT_MISMATCH, EXIT_ERROR = 0, 1, 2


class Fail(click.ClickException):
    """A one-line error, exit code 2."""

    exit_code = EXIT_ERROR

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.message}", err=True)


def emit_json(obj: Any) -> None:
    click.echo(json.dumps(obj, separators=(",", ":")))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--no-color", is_flag=True, help="Plain output without colour.")
@click.pass_context
def main(ctx: click.Context, no_color: bool) -> None:
    """Recompute Bittensor's Yuma Consensus bit for bit and diff it against the chain."""
    ctx.obj = {"console": render.console(no_color)}


@main.command()
@click.option("--case", "case_files", multiple=True, type=click.Path(path_type=Path),
              help="Epoch case file (epoch-snapshot/1 or oracle-epoch-case/103); repeatable. "
                   "Without it, the bundled default case.")
@click.argument("more_cases", nargs=-1, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
@click.option("--reference", is_flag=True, help="Use the pure-Python reference instead of the numba kernels.")
@click.pass_context
def epoch(ctx: click.Context, case_files: tuple[Path, ...], more_cases: tuple[Path, ...],
          as_json: bool, reference: bool) -> None:
    """Recompute epoch case files and compare with their expected outputs."""
    from consensus.cases import CaseFormatError, load_case, run_case
    from consensus.errors import ConsensusError

    from .defaults import default_case_path

    paths = list(case_files) + list(more_cases) or [default_case_path()]
    engine = "reference" if reference else default_engine()
    results = []
    for p in paths:
        try:
            results.append(run_case(load_case(p), engine=engine))
        except (CaseFormatError, ConsensusError) as e:
            raise Fail(str(e)) from None
    if as_json:
        emit_json({"cases": [{"case_id": r.case.case_id, "spec_version": r.case.spec_version,
                              "variant": r.variant, "outputs": r.outputs,
                              "matches": None if r.mismatches is None else r.matches}
                             for r in results]})
    else:
        render.epoch_cases(ctx.obj["console"], results, engine)
    sys.exit(EXIT_MISMATCH if any(r.mismatches for r in results) else EXIT_OK)


def default_engine() -> str:
    from consensus import kernels_available

    return "numba" if kernels_available() else "reference"

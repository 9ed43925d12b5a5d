"""`taoaudit`: the terminal face of the library. Every command is a thin shell over a library
function of the same name; presentation lives in :mod:`cli.render`.

Exit codes: 0 everything matches, 1 a recomputed value differs from the chain (or a case's
expectation), 2 bad input or an unreachable / unusable data source (one-line error).
"""

from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable

import click

from . import fanout as fanout_cli
from . import render

EXIT_OK, EXIT_MISMATCH, EXIT_ERROR = 0, 1, 2


class Fail(click.ClickException):
    """A one-line error, exit code 2."""

    exit_code = EXIT_ERROR

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.message}", err=True)


def emit_json(obj: Any) -> None:
    click.echo(json.dumps(obj, separators=(",", ":"), default=_json_default))


def _json_default(o: Any) -> Any:
    if hasattr(o, "tolist"):
        return o.tolist()
    if hasattr(o, "item"):
        return o.item()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def library_errors(fn: Callable) -> Callable:
    """Turn every library error into a one-line message and exit code 2 (never a traceback)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from taoaudit.chainkit.errors import ChainError
        from taoaudit.consensus.errors import ConsensusError  # CaseFormatError is one

        try:
            return fn(*args, **kwargs)
        except (ChainError, ConsensusError) as e:
            raise Fail(str(e).splitlines()[0] if str(e) else type(e).__name__) from None
        except OSError as e:
            raise Fail(f"{e.filename or ''}: {e.strerror or e}".lstrip(": ")) from None
        except KeyboardInterrupt:
            raise Fail("interrupted") from None

    return wrapper


# -- common options --------------------------------------------------------------------------

def _set(key: str) -> Callable:
    def callback(ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
        obj = ctx.ensure_object(dict)
        if value not in (None, False, ()):
            obj[key] = value
        return value

    return callback


def common_options(fn: Callable) -> Callable:
    """Options accepted both before and after the command name (`taoaudit --json verify ...`)."""
    options = [
        click.option("--endpoint", help="Node URL or name (finney, test, local, archive); env TAOAUDIT_ENDPOINT.",
                     callback=_set("endpoint"), expose_value=False),
        click.option("--replay", type=click.Path(path_type=Path), callback=_set("replay"), expose_value=False,
                     help="Serve the chain from a JSON-RPC recording instead of a node."),
        click.option("--record-to", type=click.Path(path_type=Path), callback=_set("record_to"), expose_value=False,
                     help="Record every request made to the endpoint into this file (chain-data format)."),
        click.option("--rpc-timeout", type=click.FloatRange(0, 86400, min_open=True), callback=_set("rpc_timeout"), expose_value=False,
                     help="Seconds a node may take per request before it is retried (default 30; env TAOAUDIT_RPC_TIMEOUT)."),
        click.option("--json", "as_json", is_flag=True, callback=_set("json"), expose_value=False,
                     help="One JSON object on stdout."),
        click.option("--no-color", is_flag=True, callback=_set("no_color"), expose_value=False, help="No colour."),
        click.option("-v", "--verbose", is_flag=True, callback=_set("verbose"), expose_value=False,
                     help="Say which data source and engine are used."),
    ]
    for opt in reversed(options):
        fn = opt(fn)
    return fn


class Settings:
    def __init__(self, ctx: click.Context) -> None:
        obj = ctx.find_root().ensure_object(dict)
        obj.update({k: v for k, v in ctx.ensure_object(dict).items()})
        self.obj = obj
        self.json = bool(obj.get("json"))
        self.verbose = bool(obj.get("verbose"))
        self.console = render.console(bool(obj.get("no_color")))
        self.err_console = render.console(bool(obj.get("no_color")), stderr=True)

    def chain(self) -> Any:
        """The data source: --replay, --endpoint / TAOAUDIT_ENDPOINT, else the bundled recording."""
        from taoaudit.chainkit import Chain

        from .defaults import default_recording

        replay = self.obj.get("replay")
        endpoint = self.obj.get("endpoint") or os.environ.get("TAOAUDIT_ENDPOINT")
        record_to = self.obj.get("record_to")
        if replay is not None:
            if not Path(replay).exists():
                raise Fail(f"recording not found: {replay}")
            source, label = str(replay), f"recording {replay}"
        elif endpoint:
            source, label = endpoint, f"endpoint {endpoint}"
        else:
            rec = default_recording()
            source, label = str(rec), f"the bundled recording {rec.name} (a spec-103 subtensor runtime run offline)"
        self.data_label = label
        if self.verbose:
            self.err_console.print(f"[dim]data: {label}[/]")
        return Chain(source, record_to=record_to, timeout=self.obj.get("rpc_timeout"))

    def footer(self) -> None:
        """Say which data a human-readable answer came from (after the answer, on stdout)."""
        label = getattr(self, "data_label", None)
        if label and not self.json:
            self.console.print(f"[dim]data: {label}[/]")

    def engine(self, reference: bool) -> str:
        if reference:
            return "reference"
        from taoaudit.consensus import kernels_available

        # auto: small epochs on the reference (numba not even imported), large on the kernels
        return "auto" if kernels_available() else "reference"


def _finish_recording(chain: Any) -> None:
    save = getattr(chain.transport, "save", None)
    if callable(save):
        save()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@common_options
@click.pass_context
def main(ctx: click.Context) -> None:
    """Recompute Bittensor's Yuma Consensus bit for bit and diff it against the chain.

    With no --endpoint or --replay, commands run on a recording bundled with the package:
    a small chain of the real spec-103 subtensor runtime, run offline.
    """
    ctx.ensure_object(dict)


# -- epoch: case files -------------------------------------------------------------------------

@main.command()
@click.option("--case", "case_files", multiple=True, type=click.Path(path_type=Path),
              help="Epoch case file (epoch-snapshot/1 or oracle-epoch-case/103); repeatable. "
                   "Without any, the bundled default case.")
@click.argument("more_cases", nargs=-1, type=click.Path(path_type=Path))
@click.option("--reference", is_flag=True, help="Pure-Python reference instead of the numba kernels.")
@click.option("--assume-era", type=click.Choice(["latest"]), default=None,
              help="Run a spec newer than the newest known era under the newest rules "
                   "(results say 'era assumed, not verified').")
@common_options
@click.pass_context
@library_errors
def epoch(ctx: click.Context, case_files: tuple[Path, ...], more_cases: tuple[Path, ...], reference: bool,
          assume_era: str | None = None) -> None:
    """Recompute epoch case files and compare them with their expected outputs."""
    from taoaudit.consensus.cases import load_case, run_case

    from .defaults import default_case_path

    s = Settings(ctx)
    paths = list(case_files) + list(more_cases) or [default_case_path()]
    engine = s.engine(reference)
    results = [run_case(load_case(p), engine=engine, assume_era=assume_era) for p in paths]
    if s.json:
        emit_json({"cases": [{"case_id": r.case.case_id, "spec_version": r.case.spec_version,
                              "variant": r.variant, "era": r.era, "era_assumed": r.assumed,
                              "outputs": r.outputs,
                              "matches": None if r.mismatches is None else r.matches,
                              "mismatches": None if r.mismatches is None else len(r.mismatches)}
                             for r in results]})
    else:
        render.epoch_cases(s.console, results, engine)
    sys.exit(EXIT_MISMATCH if any(r.mismatches for r in results) else EXIT_OK)


# -- verify / audit / explain -------------------------------------------------------------------

@main.command()
@click.option("--netuid", type=int, help="Subnet id (required unless --snapshot).")
@click.option("--block", help="Verify the last epoch at or before this block (number or hash).")
@click.option("--epoch", "epoch_block", type=int, help="Verify the epoch that ran at exactly this block.")
@click.option("--snapshot", type=click.Path(path_type=Path), help="Verify a saved epoch snapshot offline.")
@click.option("--reference", is_flag=True, help="Pure-Python reference instead of the numba kernels.")
@click.option("--ledger", "with_ledger", is_flag=True,
              help="Also reconcile the epoch's emission ledger with the chain's stakes (see `taoaudit ledger`).")
@click.option("--assume-era", type=click.Choice(["latest"]), default=None,
              help="Run a runtime newer than the newest known spec under the newest era's layout and "
                   "rules (results say 'era assumed, not verified for spec N').")
@common_options
@click.pass_context
@library_errors
def verify(ctx: click.Context, netuid: int | None, block: str | None, epoch_block: int | None,
           snapshot: Path | None, reference: bool, with_ledger: bool = False, assume_era: str | None = None) -> None:
    """Recompute one epoch and diff every stored output per UID against the chain."""
    from taoaudit.chainkit import audit as lib

    s = Settings(ctx)
    engine = s.engine(reference)
    led = None
    if snapshot is not None and with_ledger:
        raise Fail("--ledger reads the payout from a chain; it cannot be used with --snapshot")
    if snapshot is not None:
        result = lib.verify_snapshot(snapshot, engine=engine)
    else:
        if netuid is None:
            raise Fail("--netuid is required (or --snapshot FILE)")
        if block is not None and epoch_block is not None:
            raise Fail("give --block or --epoch, not both")
        chain = s.chain()
        result = lib.verify(chain, netuid, block=_block_arg(block), epoch=epoch_block, engine=engine,
                            assume_era=assume_era)
        if with_ledger:
            from taoaudit.chainkit.ledger import epoch_ledger

            led = epoch_ledger(chain, netuid, result.epoch_block)
        _finish_recording(chain)
    if s.json:
        emit_json(result.to_json() if led is None else {**result.to_json(), "ledger": ledger_face.ledger_json(led)})
    else:
        render.verify_result(s.console, result, engine)
        if led is not None:
            ledger_face.render_ledger(s.console, led, full=False)
        s.footer()
    sys.exit(EXIT_OK if result.ok and (led is None or not led.differences) else EXIT_MISMATCH)


def _block_arg(block: str | None) -> int | str | None:
    if block is None:
        return None
    if block.isdigit():
        return int(block)
    if block.startswith("0x") and len(block) == 66:
        return block
    raise Fail(f"--block must be a block number or a 0x-prefixed 32-byte hash, not {block!r}")


@main.command()
@click.option("--netuids", default="all", show_default=True, help="'all' or a comma-separated list.")
@click.option("--epochs", "count", type=int, default=3, show_default=True, help="Last K epochs per subnet.")
@click.option("--from", "from_block", type=int, help="Audit every epoch in [--from, --to] instead.")
@click.option("--to", "to_block", type=int, help="Latest block to consider (default: head).")
@click.option("--cache-dir", type=click.Path(path_type=Path), help="Result cache (default ~/.cache/taoaudit; env TAOAUDIT_CACHE).")
@click.option("--no-cache", is_flag=True, help="Recompute even where a cached result exists.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Worker processes on a local Dask cluster (needs: pip install 'taoaudit[dask]').")
@click.option("--scheduler", help="Run on an existing Dask cluster (tcp://HOST:PORT) instead.")
@click.option("--rpc-limit", type=click.IntRange(min=1),
              help="Epochs reading from the endpoint at once, cluster-wide (default: 8 with --scheduler, N with --workers N).")
@click.option("--out", type=click.Path(path_type=Path), help="Also write the results as a Parquet dataset here.")
@click.option("--edges", is_flag=True, help="With --out: weights and bonds edge tables too.")
@click.option("--reference", is_flag=True, help="Pure-Python reference instead of the numba kernels.")
@click.option("--assume-era", type=click.Choice(["latest"]), default=None,
              help="Run a runtime newer than the newest known spec under the newest era's layout and "
                   "rules (results say 'era assumed, not verified for spec N').")
@common_options
@click.pass_context
@library_errors
def audit(ctx: click.Context, netuids: str, count: int, from_block: int | None, to_block: int | None,
          cache_dir: Path | None, no_cache: bool, reference: bool, workers: int, scheduler: str | None,
          rpc_limit: int | None, out: Path | None, edges: bool, assume_era: str | None = None) -> None:
    """Verify many subnets × epochs, with a progress bar and an on-disk result cache."""
    from taoaudit.chainkit import audit as lib

    s = Settings(ctx)
    engine = s.engine(reference)
    if from_block is None and count < 1:
        raise Fail(f"--epochs must be at least 1 (got {count}): nothing would be verified")
    subnets: list[int] | None = None
    if netuids.strip().lower() != "all":
        try:
            subnets = sorted({int(x) for x in netuids.split(",") if x.strip()})
        except ValueError:
            raise Fail(f"--netuids takes 'all' or a list like 1,3,7, not {netuids!r}") from None
        if not subnets:
            raise Fail("--netuids names no subnet: nothing would be verified")
    chain = s.chain()
    notes: dict[int, str] = {}
    targets, skipped = lib.audit_targets(chain, subnets, count=None if from_block is not None else count,
                                         from_block=from_block, to_block=to_block, notes=notes)
    warned: list[str] = []

    def warn(message: str) -> None:
        warned.append(message)
        click.echo(f"warning: {message}", err=True)

    cache = None if no_cache else lib.AuditCache(cache_dir, warn=warn, engine=engine)
    with render.progress(s.err_console, enabled=not s.json and sys.stderr.isatty(), total=len(targets),
                         label="auditing epochs") as advance:
        if fanout_cli.wants_fanout(workers, scheduler, out):
            if s.obj.get("record_to") and (workers > 1 or scheduler):
                raise Fail("--record-to records this process's requests: run it without --workers/--scheduler")
            results = fanout_cli.audit_outcomes(
                chain, targets, engine=engine, cache_dir=cache_dir, no_cache=no_cache, workers=workers,
                scheduler=scheduler, out=out, edges=edges, rpc_limit=rpc_limit, on_result=advance,
                assume_era=assume_era)
        else:
            results = lib.audit(chain, targets, engine=engine, cache=cache, on_result=lambda r: advance(),
                                assume_era=assume_era)
    _finish_recording(chain)
    first = lib.first_divergence(results)
    summary = lib.summarize(results)
    if s.json:
        emit_json({"engine": engine, "epochs": [r.to_json() for r in results], "summary": summary,
                   "skipped_subnets": {str(k): v for k, v in sorted(skipped.items())},
                   "notes": {str(k): v for k, v in sorted(notes.items())},
                   "first_divergence": {str(k): v.epoch_block for k, v in first.items()},
                   "mismatched_epochs": summary["mismatch"], "warnings": warned})
    else:
        render.audit_results(s.console, results, first, engine, summary, skipped, notes)
        s.footer()
    status = lib.exit_status(summary)
    if status == EXIT_ERROR:
        click.echo(f"error: no epoch could be verified ({summary['epochs']} audited: {summary['refused']} refused, "
                   f"{summary['unreadable']} unreadable)", err=True)
    sys.exit(status)


@main.command()
@click.option("--netuid", type=int, required=True)
@click.option("--uid", type=int, required=True)
@click.option("--block", help="The last epoch at or before this block.")
@click.option("--epoch", "epoch_block", type=int, help="The epoch at exactly this block.")
@common_options
@click.pass_context
@library_errors
def explain(ctx: click.Context, netuid: int, uid: int, block: str | None, epoch_block: int | None) -> None:
    """Follow one UID through the epoch, stage by stage, beside what the chain stored."""
    from taoaudit.chainkit import audit as lib
    from taoaudit.consensus.explain import check_sums, explain_uid, stored_form

    s = Settings(ctx)
    chain = s.chain()
    read, _ = lib.with_rao_emission(lib.read_epoch(chain, netuid, block=_block_arg(block), epoch=epoch_block))
    if not 0 <= uid < read.inputs.n:
        raise Fail(f"uid {uid} is not registered on subnet {netuid} (n = {read.inputs.n})")
    _, stages = explain_uid(read.inputs, read.spec_version, uid, read.outputs)
    _finish_recording(chain)
    hotkey = read.inputs.hotkeys[uid] if read.inputs.hotkeys else None
    if s.json:
        emit_json({"netuid": netuid, "uid": uid, "hotkey": hotkey, "epoch_block": read.epoch_block,
                   "spec_version": read.spec_version,
                   "stages": [{"stage": st.name, "value": st.value, "raw": st.raw,
                               "recomputed_stored": stored_form(st), "chain": st.chain, "note": st.note}
                              for st in stages],
                   "checks": check_sums(stages)})
    else:
        render.explain(s.console, netuid, uid, hotkey, read, stages, stored_form)
        render.checks(s.console, check_sums(stages))
        s.footer()


# -- metagraph and snapshots ---------------------------------------------------------------------

@main.command()
@click.option("--netuid", type=int, required=True)
@click.option("--block", help="Block number or hash (default: head).")
@click.option("--csv", "as_csv", is_flag=True, help="CSV on stdout, one row per UID.")
@click.option("--parquet", type=click.Path(path_type=Path), help="Also write one row per UID to this Parquet file.")
@common_options
@click.pass_context
@library_errors
def metagraph(ctx: click.Context, netuid: int, block: str | None, as_csv: bool, parquet: Path | None) -> None:
    """All per-UID fields of a subnet at a block, as integers."""
    from taoaudit.chainkit.metagraph import snapshot_metagraph

    from taoaudit.chainkit.subnets import require_subnet

    s = Settings(ctx)
    chain = s.chain()
    require_subnet(chain, netuid, _block_arg(block))
    mg = snapshot_metagraph(chain, netuid, _block_arg(block))
    _finish_recording(chain)
    if parquet is not None:
        from taoaudit.chainkit.dataset import write_metagraph_parquet

        if parquet.exists():
            raise Fail(f"refusing to overwrite {parquet} (it exists)")
        write_metagraph_parquet(mg, parquet)
    if s.json:
        emit_json(metagraph_json(mg))
    elif as_csv:
        render.metagraph_csv(mg)
    else:
        render.metagraph_table(s.console, mg)
        s.footer()


def metagraph_json(mg: Any) -> dict[str, Any]:
    return {"netuid": mg.netuid, "block": mg.block, "block_hash": mg.block_hash,
            "spec_version": mg.spec_version, "source": mg.source,
            "neurons": [mg.neuron(i) for i in range(mg.n)]}


@main.group()
def snapshot() -> None:
    """Save, show, diff and export snapshot files (.npz arrays + JSON manifest, never pickle)."""


@snapshot.command("save")
@click.option("--netuid", type=int, required=True)
@click.option("--block", help="Block number or hash (default: head).")
@click.option("--epoch", "epoch_block", type=int, help="Save the epoch at this block (inputs at E−1, outputs at E).")
@click.argument("out", type=click.Path(path_type=Path))
@common_options
@click.pass_context
@library_errors
def snapshot_save(ctx: click.Context, netuid: int, block: str | None, epoch_block: int | None, out: Path) -> None:
    """Save a metagraph snapshot, or with --epoch an epoch snapshot that `verify --snapshot` reads."""
    from taoaudit.chainkit import audit as lib
    from taoaudit.chainkit.metagraph import snapshot_metagraph
    from taoaudit.chainkit.snapshot import save_epoch, save_metagraph

    s = Settings(ctx)
    chain = s.chain()
    if epoch_block is not None:
        read, rao = lib.with_rao_emission(lib.read_epoch(chain, netuid, epoch=epoch_block))
        path = save_epoch(read.inputs, read.outputs, out, meta={
            "spec_version": read.spec_version, "block_hashes": read.block_hashes,
            "epoch_block": read.epoch_block, "endpoint": chain.endpoint,
            # dTAO: inputs carry the amount inferred as verify infers it; verify --snapshot
            # re-infers it from this floor and reports it as inferred
            "rao_emission_floor": read.rao_emission_floor, "rao_emission_info": rao,
            "replaced_uids": list(read.replaced_uids), "bonds_reset_uids": list(read.bonds_reset_uids)})
        summary = {"kind": "epoch", "path": str(path), "netuid": netuid, "epoch_block": read.epoch_block,
                   "spec_version": read.spec_version, "n": read.inputs.n}
    else:
        lib.require_subnet(chain, netuid, _block_arg(block))
        mg = snapshot_metagraph(chain, netuid, _block_arg(block))
        path = save_metagraph(mg, out)
        summary = {"kind": "metagraph", "path": str(path), "netuid": netuid, "block": mg.block,
                   "spec_version": mg.spec_version, "n": mg.n}
    _finish_recording(chain)
    if s.json:
        emit_json(summary)
    else:
        s.console.print(f"saved {summary['kind']} snapshot of subnet {netuid} (n = {summary['n']}) to {path}")


def _load_any(path: Path) -> tuple[str, Any]:
    from taoaudit.chainkit.snapshot import load_arrays, load_epoch, load_metagraph

    _, meta = load_arrays(path)
    if meta.get("kind") == "epoch":
        return "epoch", load_epoch(path)
    return "metagraph", load_metagraph(path)


@snapshot.command("show")
@click.argument("path", type=click.Path(path_type=Path))
@common_options
@click.pass_context
@library_errors
def snapshot_show(ctx: click.Context, path: Path) -> None:
    """Print a snapshot file (hashes verified on load)."""
    from taoaudit.chainkit.snapshot import epoch_json

    s = Settings(ctx)
    kind, obj = _load_any(path)
    if kind == "epoch":
        inputs, outputs, meta = obj
        if s.json:
            emit_json({"kind": "epoch", "meta": meta, **epoch_json(inputs, outputs)})
        else:
            render.epoch_snapshot(s.console, inputs, outputs, meta)
    elif s.json:
        emit_json(metagraph_json(obj))
    else:
        render.metagraph_table(s.console, obj)


@snapshot.command("diff")
@click.argument("before", type=click.Path(path_type=Path), required=False)
@click.argument("after", type=click.Path(path_type=Path), required=False)
@click.option("--netuid", type=int, help="With --block-a/--block-b: read both from the chain.")
@click.option("--block-a", help="First block (with --netuid).")
@click.option("--block-b", help="Second block (with --netuid).")
@common_options
@click.pass_context
@library_errors
def snapshot_diff(ctx: click.Context, before: Path | None, after: Path | None, netuid: int | None,
                  block_a: str | None, block_b: str | None) -> None:
    """Per-UID changes between two metagraph snapshots (files, or two blocks of a chain)."""
    from taoaudit.chainkit import audit as lib
    from taoaudit.chainkit.metagraph import snapshot_metagraph

    s = Settings(ctx)
    if before is not None and after is not None:
        (ka, a), (kb, b) = _load_any(before), _load_any(after)
        if ka != "metagraph" or kb != "metagraph":
            raise Fail("snapshot diff compares metagraph snapshots (use verify for epoch snapshots)")
    elif netuid is not None and block_a is not None and block_b is not None:
        chain = s.chain()
        a = snapshot_metagraph(chain, netuid, _block_arg(block_a))
        b = snapshot_metagraph(chain, netuid, _block_arg(block_b))
        _finish_recording(chain)
    else:
        raise Fail("give two snapshot files, or --netuid with --block-a and --block-b")
    changes = lib.diff_metagraphs(a, b)
    if s.json:
        emit_json({"before": {"netuid": a.netuid, "block": a.block}, "after": {"netuid": b.netuid, "block": b.block},
                   "changes": [c.as_json() for c in changes]})
    else:
        render.metagraph_diff(s.console, a, b, changes)


@snapshot.command("export")
@click.argument("path", type=click.Path(path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["json", "csv", "parquet"]), default="json", show_default=True)
@click.option("--force", is_flag=True, help="Replace OUT if it exists (never the snapshot's own files).")
@common_options
@click.pass_context
@library_errors
def snapshot_export(ctx: click.Context, path: Path, out: Path, fmt: str, force: bool) -> None:
    """Export a snapshot to JSON (any kind) or CSV (metagraph)."""
    from taoaudit.chainkit.snapshot import check_export_target, export_csv, export_json

    s = Settings(ctx)
    check_export_target(out, path, force)
    kind, obj = _load_any(path)
    if fmt == "csv":
        if kind != "metagraph":
            raise Fail("CSV export is for metagraph snapshots; use --format json for an epoch")
        written = export_csv(obj, out)
    elif fmt == "parquet":
        from taoaudit.chainkit.dataset import write_metagraph_parquet

        if kind != "metagraph":
            raise Fail("Parquet export is for metagraph snapshots; epochs go to a dataset with `audit --out DIR`")
        written = write_metagraph_parquet(obj, out)
    else:
        written = export_json(obj if kind == "metagraph" else obj[:2], out)
    if s.json:
        emit_json({"path": str(written), "format": fmt, "kind": kind})
    else:
        s.console.print(f"exported {kind} snapshot to {written}")


# `taoaudit ledger` lives in its own module (it imports the helpers above).
from . import ledger as ledger_face  # noqa: E402

main.add_command(ledger_face.ledger)

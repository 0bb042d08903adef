"""The command line: parses arguments, wires the modules, prints. No logic of its own."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from reconciler import __version__
from reconciler.applier import ApplyResult
from reconciler.applying import check_applicable, load_plan, run_apply, save_plan
from reconciler.config import load_settings
from reconciler.drift import DriftReport, accept_drift, detect_drift
from reconciler.dump import dump_document, import_object
from reconciler.errors import ConfigError, ReconcilerError
from reconciler.model import Action, Change, Plan
from reconciler.outcome import NotifyTarget, Outcome, notify_target, report, summarise
from reconciler.planner import PlanOptions
from reconciler.planning import build_plan, plan_options
from reconciler.providers.base import Kind, RemoteObject
from reconciler.render import emit
from reconciler.render.drift import drift_lines, drift_markdown
from reconciler.render.markdown import plan_markdown
from reconciler.render.text import plan_lines
from reconciler.workspace import Workspace
from reconciler.writeback import write_back as write_back_manifests

app = typer.Typer(no_args_is_help=True, add_completion=False, rich_markup_mode=None,
                  help="Keep the purposes in your SaaS tools equal to YAML manifests.")
state_app = typer.Typer(no_args_is_help=True, help="Inspect and repair the state.")
app.add_typer(state_app, name="state")
err = Console(stderr=True, highlight=False, soft_wrap=True)
F = TypeVar("F", bound=Callable[..., Any])


class Format(StrEnum):
    text = "text"
    json = "json"
    markdown = "markdown"


Dir = Annotated[Path, typer.Argument(help="Manifest directory (holds reconciler.yaml)")]
SandboxOpt = Annotated[bool, typer.Option(
    "--sandbox", help="Run against vendor sandboxes started on loopback (data in state/sandbox/)")]
TargetOpt = Annotated[list[str] | None, typer.Option(
    "--target", help="Only these addresses (glob, repeatable)")]
ExcludeOpt = Annotated[list[str] | None, typer.Option(
    "--exclude", help="Not these addresses (glob, repeatable)")]
ForgetOpt = Annotated[list[str] | None, typer.Option(
    "--forget", help="Stop managing these addresses when the vendor cannot delete (glob)")]
LockTimeoutOpt = Annotated[float, typer.Option(
    "--lock-timeout", help="Seconds to wait for the state lock")]


def use_color() -> bool:
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def handled(func: F) -> F:
    """Turn ReconcilerError into a clear message and its exit code; never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ReconcilerError as exc:
            err.print(f"Error: {exc}", markup=False)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            err.print("Interrupted; the state holds every change that finished.")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


@contextmanager
def workspace(directory: Path, sandbox: bool) -> Iterator[Workspace]:
    """Open the directory; with --sandbox, first start the sandboxes its data lives in."""
    if not sandbox:
        yield Workspace.open(directory)
        return
    from reconciler.sandbox.server import RunningSandbox, SandboxSettings  # only when asked for

    probe = load_settings(directory, _placeholder_overrides())
    data = probe.sandbox_data
    with RunningSandbox(SandboxSettings(data_dir=data)) as running:
        yield Workspace.open(directory, running.overrides)


@contextmanager
def locked(ws: Workspace, command: str, timeout_s: float) -> Iterator[None]:
    """Take the workspace lock, saying so when it takes over from a run that died."""
    stale = ws.backend.stale_holder()
    if stale is not None:
        err.print(f"Note: taking over a stale lock ({stale.describe()}; that process is gone).",
                  markup=False)
    with ws.backend.lock(command, timeout_s):
        yield


def _placeholder_overrides() -> dict[str, dict[str, Any]]:
    from reconciler.sandbox.server import provider_overrides

    return provider_overrides("http://127.0.0.1:1")


@app.callback()
def main_options(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log HTTP calls")] = False,
    version: Annotated[bool, typer.Option("--version", help="Print the version")] = False,
) -> None:
    if version:
        typer.echo(f"reconciler {__version__}")
        raise typer.Exit(0)
    if verbose:
        logging.basicConfig(level=logging.DEBUG, format="%(name)s: %(message)s")
        logging.getLogger("httpx").setLevel(logging.WARNING)
        logging.getLogger("httpcore").setLevel(logging.WARNING)


@app.command()
@handled
def validate(directory: Dir = Path(".")) -> None:
    """Load and check the manifests; no network."""
    ws = Workspace.open(directory)
    desired = ws.desired()
    typer.echo(f"Valid: {len(desired.objects)} object(s) in {len(desired.documents)} file(s).")


def print_plan(plan: Plan, fmt: Format) -> None:
    if fmt is Format.json:
        typer.echo(json.dumps(plan.to_dict(), indent=1, default=str))
    elif fmt is Format.markdown:
        typer.echo(plan_markdown(plan))
    else:
        emit(plan_lines(plan), use_color())


@app.command()
@handled
def plan(
    directory: Dir = Path("."),
    out: Annotated[Path | None, typer.Option("--out", help="Save the plan for apply")] = None,
    fmt: Annotated[Format, typer.Option("--format", help="Output format")] = Format.text,
    detailed_exitcode: Annotated[bool, typer.Option(
        "--detailed-exitcode", help="Exit 2 when there are changes")] = False,
    target: TargetOpt = None, exclude: ExcludeOpt = None, forget: ForgetOpt = None,
    sandbox: SandboxOpt = False,
) -> None:
    """Show what apply would change."""
    with workspace(directory, sandbox) as ws:
        desired = ws.desired()
        state = ws.state(desired)
        options = plan_options(ws, target or [], exclude or [], forget or [])

        async def run() -> Plan:
            async with ws.connect() as providers:
                return await build_plan(ws, providers, desired, state, options)

        result = asyncio.run(run())
    print_plan(result, fmt)
    if out is not None:
        save_plan(result, out)
        err.print(f"Saved the plan to {out}; apply it with: reconciler apply {out}")
    if result.refusals:
        raise typer.Exit(1)
    if detailed_exitcode and result.has_changes:
        raise typer.Exit(2)


def confirm(auto_approve: bool) -> None:
    if auto_approve:
        return
    if not sys.stdin.isatty():
        raise ConfigError("apply needs confirmation: run it from a terminal, pass --auto-approve, "
                          "or apply a saved plan (reconciler plan --out FILE)")
    answer = typer.prompt("Do you want to perform these actions? Only 'yes' will be accepted")
    if answer.strip() != "yes":
        typer.echo("Apply cancelled.")
        raise typer.Exit(1)


@app.command()
@handled
def apply(
    target_path: Annotated[Path, typer.Argument(
        metavar="DIR|PLANFILE", help="Manifest directory, or a plan saved with plan --out")] = Path("."),
    auto_approve: Annotated[bool, typer.Option("--auto-approve", help="Do not ask")] = False,
    force: Annotated[bool, typer.Option(
        "--force", help="Apply even past the change threshold (safety rail)")] = False,
    target: TargetOpt = None, exclude: ExcludeOpt = None, forget: ForgetOpt = None,
    lock_timeout: LockTimeoutOpt = 0.0, sandbox: SandboxOpt = False,
    notify_deployment: Annotated[str | None, typer.Option(
        "--notify-webex-deployment", help="Report the outcome to this Webex Campaign deployment")] = None,
    notify_transaction: Annotated[str | None, typer.Option(
        "--notify-webex-transaction", help="The transaction id (refTransId) to report on")] = None,
) -> None:
    """Make the changes."""
    saved = load_plan(target_path) if target_path.is_file() else None
    directory = Path(saved.directory) if saved else target_path
    with workspace(directory, sandbox) as ws:
        target_ = notify_target(ws.settings.providers, notify_deployment, notify_transaction)
        try:
            with locked(ws, "apply", lock_timeout):
                the_plan, result = _apply(ws, saved, auto_approve, force,
                                          plan_options(ws, target or [], exclude or [], forget or []))
        except ReconcilerError as exc:
            _notify(target_, summarise(None, exc))
            raise
        _notify(target_, summarise(result, None))
    if result is None:
        emit(plan_lines(the_plan), use_color())
        return
    _report(the_plan, result)


def _apply(ws: Workspace, saved: Plan | None, auto_approve: bool, force: bool,
           options: PlanOptions) -> tuple[Plan, ApplyResult | None]:
    desired = ws.desired()
    state = ws.state(desired)

    async def run() -> tuple[Plan, ApplyResult | None]:
        async with ws.connect() as providers:
            the_plan = saved or await build_plan(ws, providers, desired, state, options)
            check_applicable(the_plan, state, force)
            if not the_plan.has_changes:
                return the_plan, None
            if saved is None:
                emit(plan_lines(the_plan), use_color())
                confirm(auto_approve)
            with progress_reporter(the_plan) as report:
                return the_plan, await run_apply(the_plan, state, desired, ws.backend, providers,
                                                 report, verify=saved is not None)

    return asyncio.run(run())


def _notify(target: NotifyTarget | None, outcome: Outcome) -> None:
    """Tell Webex Campaign how the apply went; a failure to tell is a warning, never the result."""
    if target is None:
        return
    told = asyncio.run(report(target, outcome))
    state = "success (531)" if outcome.success else "failure (532)"
    if told.ok:
        err.print(f"Reported {state} to Webex Campaign deployment {target.deployment_id}.",
                  markup=False)
    else:
        err.print(f"Warning: could not report {state} to Webex Campaign: {told.message}",
                  markup=False)


VERBS = {Action.CREATE: "created", Action.UPDATE: "updated", Action.DELETE: "deleted",
         Action.ADOPT: "adopted", Action.PUSH: "pushed", Action.FORGET: "forgotten"}


@contextmanager
def progress_reporter(plan: Plan) -> Iterator[Callable[[Change, str | None], None]]:
    """A Rich progress bar on a terminal for long runs; plain lines otherwise."""
    total = len(plan.changes)
    if not use_color() or total <= 20:
        yield _plain_progress(total)
        return
    with Progress(TextColumn("Applying"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=Console(highlight=False)) as bar:
        task = bar.add_task("apply", total=total)

        def report(change: Change, error: str | None) -> None:
            bar.advance(task)
            if error:
                bar.console.print(f"{change.address}: failed", markup=False, style="red")

        yield report


def _plain_progress(total: int) -> Callable[[Change, str | None], None]:
    done = 0

    def report(change: Change, error: str | None) -> None:
        nonlocal done
        done += 1
        if error:
            err.print(f"{change.address}: failed", markup=False)
        elif total <= 100:
            typer.echo(f"{change.address}: {VERBS.get(change.action, change.action)}")
        elif done % max(total // 10, 1) == 0:
            typer.echo(f"... {done}/{total} changes applied")

    return report


def _report(plan: Plan, result: ApplyResult) -> None:
    counts = {a: 0 for a in Action}
    for change in result.applied:
        counts[change.action] += 1
    summary = (f"{counts[Action.CREATE]} created, {counts[Action.UPDATE]} updated, "
               f"{counts[Action.DELETE]} deleted, {counts[Action.ADOPT]} adopted")
    extra = [f"{counts[a]} {a}ed" for a in (Action.PUSH,) if counts[a]]
    extra += [f"{counts[Action.FORGET]} forgotten"] if counts[Action.FORGET] else []
    summary = ", ".join([summary, *extra])
    if result.ok:
        typer.echo(f"Apply complete! Changes: {summary}.")
        return
    for error in result.errors:
        err.print(f"Error: {error}", markup=False)
    err.print(f"Apply failed: {summary}; {len(result.errors)} error(s), {result.not_started} "
              "change(s) not attempted. The state holds every change that succeeded; fix the "
              "cause and run apply again.", markup=False)
    raise typer.Exit(1)


@app.command()
@handled
def drift(
    directory: Dir = Path("."),
    fmt: Annotated[Format, typer.Option("--format", help="Output format")] = Format.text,
    accept: Annotated[bool, typer.Option(
        "--accept", help="Record the remote values into the state (refresh-only)")] = False,
    write_back: Annotated[bool, typer.Option(
        "--write-back", help="Write the remote values into the manifests (and the state)")] = False,
    lock_timeout: LockTimeoutOpt = 0.0, sandbox: SandboxOpt = False,
) -> None:
    """Compare the remote objects with the last applied state; sends no write to any vendor."""
    with workspace(directory, sandbox) as ws:
        state = ws.backend.read()

        async def run() -> DriftReport:
            async with ws.connect() as providers:
                observed = await providers.observe(set(ws.kinds()))
            return detect_drift(state, observed, ws.kinds(), plan_options(ws, [], [], []).ignore)

        report = asyncio.run(run())
        if fmt is Format.json:
            typer.echo(json.dumps(report.to_dict(), indent=1, default=str))
        elif fmt is Format.markdown:
            typer.echo(drift_markdown(report))
        else:
            emit(drift_lines(report), use_color())
        if report.items and (accept or write_back):
            desired = ws.desired() if write_back else None
            with ws.backend.lock("drift", lock_timeout):
                if desired is not None:
                    for file in write_back_manifests(report.items, desired, ws.kinds()):
                        err.print(f"Wrote the remote values into {file}", markup=False)
                accepted = accept_drift(ws.backend, report.items)
            err.print(f"Recorded {accepted} remote change(s) into the state.", markup=False)
            return
    if report.has_drift:
        raise typer.Exit(2)


@app.command("import")
@handled
def import_(directory: Dir, address: str, remote_id: Annotated[str, typer.Argument(metavar="ID")],
            lock_timeout: LockTimeoutOpt = 0.0, sandbox: SandboxOpt = False) -> None:
    """Adopt one existing remote object under an address declared in the manifests."""
    with workspace(directory, sandbox) as ws:
        desired = ws.desired()
        obj = desired.objects.get(address)
        if obj is None:
            raise ConfigError(f"{address}: not declared in the manifests; declare it first, then import")

        async def read() -> RemoteObject | None:
            async with ws.connect() as providers:
                return await providers.kind(obj.vendor, obj.kind).read(remote_id)

        remote = asyncio.run(read())
        with ws.backend.lock("import", lock_timeout):
            state = ws.backend.read()
            import_object(state, desired, address, remote, remote_id)
            ws.backend.write(state)
    typer.echo(f"Imported {address} (remote id {remote_id}); run plan to see any differences.")


@app.command()
@handled
def dump(
    directory: Dir = Path("."),
    vendor: Annotated[str, typer.Option("--vendor", help="Vendor to dump")] = "",
    out: Annotated[Path | None, typer.Option("--out", help="Write here instead of stdout")] = None,
    sandbox: SandboxOpt = False,
) -> None:
    """Write a manifest declaring every remote object of a vendor."""
    with workspace(directory, sandbox) as ws:
        if vendor not in ws.settings.providers:
            raise ConfigError(f"--vendor: '{vendor}' is not configured in reconciler.yaml (configured: "
                              f"{', '.join(sorted(ws.settings.providers))})")
        kinds = [k for k in ws.kinds().values() if k.vendor == vendor and k.observable]

        async def run() -> dict[type[Kind], list[RemoteObject]]:
            async with ws.connect() as providers:
                observed = await providers.observe({f"{k.vendor}.{k.name}" for k in kinds})
            return {k: observed.get(f"{k.vendor}.{k.name}", []) for k in kinds}

        text = dump_document(vendor, asyncio.run(run()))
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text)
        err.print(f"Wrote {out}; plan will adopt these objects by their natural keys.", markup=False)


@state_app.command("list")
@handled
def state_list(directory: Dir = Path(".")) -> None:
    """List the managed addresses."""
    doc = Workspace.open(directory, offline=True).backend.read()
    for address, resource in sorted(doc.resources.items()):
        typer.echo(f"{address}\t{resource.remote_id or '-'}")


@state_app.command("show")
@handled
def state_show(address: str, directory: Dir = Path(".")) -> None:
    """Show one managed object as recorded."""
    doc = Workspace.open(directory, offline=True).backend.read()
    resource = doc.resources.get(address)
    if resource is None:
        raise ConfigError(f"{address}: not in the state; see `reconciler state list`")
    typer.echo(json.dumps({"address": address, **resource.to_dict()}, indent=2, default=str))


@state_app.command("rm")
@handled
def state_rm(address: str, directory: Dir = Path("."), lock_timeout: LockTimeoutOpt = 0.0) -> None:
    """Stop managing an address; the remote object is left untouched."""
    ws = Workspace.open(directory, offline=True)
    with ws.backend.lock("state rm", lock_timeout):
        doc = ws.backend.read()
        if doc.resources.pop(address, None) is None:
            raise ConfigError(f"{address}: not in the state; see `reconciler state list`")
        ws.backend.write(doc)
    typer.echo(f"Removed {address} from the state (the remote object is untouched).")


@app.command("force-unlock")
@handled
def force_unlock(lock_id: str, directory: Dir = Path(".")) -> None:
    """Free a lock left by a run that is gone."""
    holder = Workspace.open(directory, offline=True).backend.force_unlock(lock_id)
    typer.echo(f"Removed {holder.describe()}.")


@app.command()
@handled
def sandbox(
    host: Annotated[str, typer.Option(help="Address to listen on (loopback)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8765,
    data: Annotated[Path | None, typer.Option(help="Persist the vendors' data here")] = None,
    faults: Annotated[str, typer.Option(
        help="Faults to inject, e.g. 429=0.2,500=0.1,drop=0.05,latency=20")] = "",
    outreach_rate_limit: Annotated[int, typer.Option(
        help="Outreach requests allowed per hour (the vendor's 10,000; 0 = unlimited)")] = 10_000,
) -> None:
    """Serve the vendor sandboxes on loopback."""
    from reconciler.sandbox.common import Faults
    from reconciler.sandbox.server import SandboxSettings, provider_overrides, serve

    try:
        parsed = Faults.parse(faults)
    except ValueError as exc:
        raise ConfigError(f"--faults: {exc}") from None
    settings = SandboxSettings(data_dir=data, faults=parsed, outreach_rate_limit=outreach_rate_limit)
    base = f"http://{host}:{port}"
    for vendor, values in provider_overrides(base).items():
        typer.echo(f"{vendor}: " + ", ".join(f"{k}={v}" for k, v in values.items()))
    serve(settings, host, port)


def main() -> None:
    app()


from reconciler import cli_authoring  # noqa: E402, F401

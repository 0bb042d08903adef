"""apply: check the plan still holds, ask, execute, report."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from reconciler.cli.app import (
    ExcludeOpt,
    ForgetOpt,
    LockTimeoutOpt,
    SandboxOpt,
    TargetOpt,
    app,
    err,
    handled,
    locked,
    use_color,
    workspace,
)
from reconciler.errors import ConfigError, ReconcilerError

if TYPE_CHECKING:  # start-up: imported where used
    from reconciler.apply.executor import ApplyResult
    from reconciler.cli.workspace import Workspace
    from reconciler.plan.builder import PlanOptions
    from reconciler.plan.model import Change, Plan
    from reconciler.providers.plugin import Outcome, Report


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
    auto_approve: Annotated[bool, typer.Option(
        "--auto-approve", help="Do not ask for confirmation")] = False,
    force: Annotated[bool, typer.Option(
        "--force", help="Apply even past the change threshold (safety rail)")] = False,
    target: TargetOpt = None, exclude: ExcludeOpt = None, forget: ForgetOpt = None,
    lock_timeout: LockTimeoutOpt = 0.0, sandbox: SandboxOpt = False,
    notify_deployment: Annotated[str | None, typer.Option(
        "--notify-webex-deployment", metavar="ID",
        help="Report the outcome to this Webex Campaign deployment")] = None,
    notify_transaction: Annotated[str | None, typer.Option(
        "--notify-webex-transaction", metavar="ID",
        help="The transaction id (refTransId) to report on")] = None,
) -> None:
    """Make the changes."""
    from reconciler.apply.hooks import prepare, summarise
    from reconciler.apply.verb import load_plan

    # A path that exists and is no directory is a plan file, or said not to be one (a FIFO).
    saved = load_plan(target_path) if target_path.exists() and not target_path.is_dir() else None
    if saved is not None and (target or exclude or forget):
        raise ConfigError("--target/--exclude/--forget cannot change a saved plan: it applies "
                          "as reviewed; make a new plan with them instead")
    directory = Path(saved.target.get("directory") or saved.directory) if saved else target_path
    with workspace(directory, sandbox) as ws:
        # The two --notify-webex-* flags (public since the first round) are that vendor's
        # after-apply hook options; every hook is prepared here, before any write.
        reports = prepare(ws.settings.providers, {"webex_campaign": {
            "deployment": notify_deployment, "transaction": notify_transaction}})
        try:
            with locked(ws, "apply", lock_timeout):
                the_plan, result = _apply(ws, target_path if saved else None, saved, auto_approve,
                                          force, ws.plan_options(target, exclude, forget))
        except ReconcilerError as exc:
            _notify(reports, summarise(None, exc))
            raise
        _notify(reports, summarise(result, None))
    if result is None:
        _show(the_plan)
        return
    _report(the_plan, result)


def _show(plan: Plan) -> None:
    from reconciler.render import emit
    from reconciler.render.text import plan_lines

    emit(plan_lines(plan), use_color())


def _apply(ws: Workspace, saved_from: Path | None, saved: Plan | None, auto_approve: bool,
           force: bool, options: PlanOptions) -> tuple[Plan, ApplyResult | None]:
    """Plan (or take the saved plan), show it, ask, apply; a saved plan is shown, not asked."""
    import asyncio

    from reconciler.apply.binding import holds
    from reconciler.apply.verb import check_applicable, run_apply
    from reconciler.plan.verb import build_plan

    desired = ws.desired()
    state = ws.state(desired)

    async def run() -> tuple[Plan, ApplyResult | None]:
        async with ws.connect() as providers:
            the_plan = await holds(saved, ws.target(), ws.settings, ws.kinds(), providers, desired,
                                   state) if saved else await build_plan(
                ws.settings, ws.kinds(), providers, desired, state, options)
            check_applicable(the_plan, state, force)
            if not the_plan.has_changes:
                return the_plan, None
            if saved_from is not None:
                typer.echo(f"Applying the plan saved in {saved_from}:\n")
            _show(the_plan)
            if saved is None:
                confirm(auto_approve)
            with progress_reporter(the_plan) as report:
                return the_plan, await run_apply(the_plan, state, desired, ws.backend, providers,
                                                 report, verify=saved is not None)

    return asyncio.run(run())


def _notify(reports: list[Report], outcome: Outcome) -> None:
    """Tell every vendor that asked how the apply went; a failure to tell is a warning."""
    from reconciler.apply.hooks import send_all

    for _, message in send_all(reports, outcome):
        err.print(message, markup=False)


VERBS = {"create": "created", "update": "updated", "delete": "deleted",  # by Action value
         "adopt": "adopted", "push": "pushed", "forget": "forgotten", "move": "moved"}


@contextmanager
def progress_reporter(plan: Plan) -> Iterator[Callable[[Change, str | None], None]]:
    """A Rich progress bar on a terminal for long runs; plain lines otherwise."""
    total = len(plan.changes)
    if not use_color() or total <= 20:
        yield _plain_progress(total)
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("Applying"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=Console(highlight=False, force_terminal=True)) as bar:
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
    counts = result.tally()
    summary = ", ".join(f"{counts[verb]} {verb}" for verb in counts
                        if counts[verb] or verb in ("created", "updated", "deleted", "adopted"))
    if result.ok:
        typer.echo(f"Apply complete! Changes: {summary}.")
        return
    for error in result.errors:
        err.print(f"Error: {error}", markup=False)
    err.print(f"Apply failed: {summary}; {len(result.errors)} error(s), {result.not_started} "
              "change(s) not attempted. The state holds every change that succeeded; fix the "
              "cause and run apply again.", markup=False)
    raise typer.Exit(1)

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
    from reconciler.providers.webex_campaign.outcome import NotifyTarget, Outcome


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
    from reconciler.apply.verb import load_plan
    from reconciler.providers.webex_campaign.outcome import notify_target, summarise

    saved = load_plan(target_path) if target_path.is_file() else None
    directory = Path(saved.directory) if saved else target_path
    with workspace(directory, sandbox) as ws:
        target_ = notify_target(ws.settings.providers, notify_deployment, notify_transaction)
        try:
            with locked(ws, "apply", lock_timeout):
                the_plan, result = _apply(ws, target_path if saved else None, saved, auto_approve,
                                          force, ws.plan_options(target, exclude, forget))
        except ReconcilerError as exc:
            _notify(target_, summarise(None, exc))
            raise
        _notify(target_, summarise(result, None))
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

    from reconciler.apply.verb import check_applicable, run_apply
    from reconciler.plan.verb import build_plan

    desired = ws.desired()
    state = ws.state(desired)

    async def run() -> tuple[Plan, ApplyResult | None]:
        async with ws.connect() as providers:
            the_plan = saved or await build_plan(ws.settings, ws.kinds(), providers, desired, state, options)
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


def _notify(target: NotifyTarget | None, outcome: Outcome) -> None:
    """Tell Webex Campaign how the apply went; a failure to tell is a warning, never the result."""
    if target is None:
        return
    import asyncio

    from reconciler.providers.webex_campaign.outcome import report

    told = asyncio.run(report(target, outcome))
    state = "success (531)" if outcome.success else "failure (532)"
    if told.ok:
        err.print(f"Reported {state} to Webex Campaign deployment {target.deployment_id}.",
                  markup=False)
    else:
        err.print(f"Warning: could not report {state} to Webex Campaign: {told.message}",
                  markup=False)


VERBS = {"create": "created", "update": "updated", "delete": "deleted",  # by Action value
         "adopt": "adopted", "push": "pushed", "forget": "forgotten"}


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
    from reconciler.plan.model import Action

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

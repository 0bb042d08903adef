"""apply: check the plan still holds, ask, execute, report."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from reconciler.cli.app import (
    EnvOpt,
    ExcludeOpt,
    FailFastOpt,
    ForgetOpt,
    LockTimeoutOpt,
    ParallelOpt,
    ReplaceOpt,
    SandboxOpt,
    TargetOpt,
    app,
    as_fleet,
    environments,
    err,
    handled,
    use_color,
    vendor_options,
    workspace,
)
from reconciler.errors import ConfigError, ReconcilerError
from reconciler.redact import clean

if TYPE_CHECKING:  # start-up: imported where used
    from reconciler.apply.executor import ApplyResult
    from reconciler.plan.model import Change, Plan
    from reconciler.providers.plugin import Outcome, Report


def confirm(auto_approve: bool) -> None:
    if auto_approve:
        return
    if not sys.stdin.isatty():
        raise ConfigError("apply needs confirmation: run it from a terminal, pass --auto-approve, "
                          "or apply a saved plan (reconciler plan --out FILE)")
    answer = ask("Do you want to perform these actions? Only 'yes' will be accepted: ")
    if answer is None or answer.strip() != "yes":  # EOF or any other answer, empty included
        typer.echo("" if answer else "\n", nl=False)
        typer.echo("Apply cancelled.")
        raise typer.Exit(1)


def ask(question: str) -> str | None:
    """One line from the terminal, None at EOF. Ctrl-C cancels at once (exit 130), as in
    Terraform: the prompt runs inside the event loop, whose own SIGINT handler would only
    cancel the run once the prompt returned, so Python's default handler reads it."""
    import signal

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # before the question:
    try:  # a Ctrl-C right after it is seen must already be ours
        typer.echo(question, nl=False)
        line = sys.stdin.readline()
    except KeyboardInterrupt:
        typer.echo("\nApply cancelled.")
        raise typer.Exit(130) from None
    finally:
        signal.signal(signal.SIGINT, previous)
    return line or None


@app.command()
@handled
def apply(
    ctx: typer.Context,
    target_path: Annotated[Path, typer.Argument(
        metavar="DIR|PLANFILE", help="Manifest directory, or a plan saved with plan --out")] = Path("."),
    auto_approve: Annotated[bool, typer.Option(
        "--auto-approve", help="Do not ask for confirmation")] = False,
    force: Annotated[bool, typer.Option(
        "--force", help="Apply even past the change threshold (safety rail)")] = False,
    target: TargetOpt = None, exclude: ExcludeOpt = None, forget: ForgetOpt = None,
    lock_timeout: LockTimeoutOpt = 0.0, sandbox: SandboxOpt = False, replace: ReplaceOpt = None,
    env: EnvOpt = None, parallel: ParallelOpt = 4, fail_fast: FailFastOpt = False,
) -> None:
    """Make the changes."""

    from reconciler.apply.hooks import prepare, summarise
    from reconciler.engine import Scope, run
    from reconciler.plan.planfile import load_fleet_plan, load_plan

    # A path that exists and is no directory is a plan file, or said not to be one (a FIFO).
    is_file = target_path.exists() and not target_path.is_dir()
    one_apply = "vendors' apply options (--notify-webex-*) report one apply: use them with one --env NAME"
    asked = any(v is not None for options in vendor_options(ctx).values() for v in options.values())
    if is_file and (fleet_plan := load_fleet_plan(target_path)) is not None:
        if asked:
            raise ConfigError(one_apply)
        from reconciler.cli.fleet import apply_saved_fleet

        apply_saved_fleet(target_path, fleet_plan, env, Scope.of(target, exclude, forget), force,
                          lock_timeout, sandbox, parallel, fail_fast)
        return
    saved = load_plan(target_path) if is_file else None
    if saved is not None and bool(saved.target.get("sandbox")) != sandbox:
        made = "with --sandbox" if saved.target.get("sandbox") else "without --sandbox"
        raise ConfigError(f"{target_path}: the plan was made {made}, so it applies only "
                          f"{made}: `reconciler apply {target_path}"
                          + (" --sandbox`" if saved.target.get("sandbox") else "`"))
    directory = Path(saved.target.get("directory") or saved.directory) if saved else target_path
    scope = Scope.of(target, exclude, forget, replace)
    if saved is not None:
        scope.refuse_for_saved()
        names = [saved.target["environment"]] if saved.target.get("environment") else None
    else:
        names = environments(directory, env, "apply")
        if names is not None and as_fleet(env, names):
            if asked:
                raise ConfigError(one_apply)
            from reconciler.cli.fleet import apply_fleet

            apply_fleet(directory, names, None, scope, force, auto_approve, lock_timeout, sandbox,
                        parallel, fail_fast)
            return
    with workspace(directory, sandbox, names[0] if names else None) as ws:
        # Vendors' own apply options (e.g. --notify-webex-*) feed their after-apply hooks;
        # every hook is prepared here, before any write.
        reports = prepare(ws.settings.providers, vendor_options(ctx))

        def review(plan: Plan) -> None:
            """Show the plan, then ask; a saved plan was reviewed already: shown, not asked."""
            if saved is not None:
                typer.echo(f"Applying the plan saved in {target_path}:\n")
            _show(plan, force)
            if saved is None:
                confirm(auto_approve)
            report.start(plan)

        try:
            with progress_reporter() as report:
                applied = run(ws.apply(saved=saved, scope=scope, force=force,
                                               confirm=review, progress=report,
                                               lock_timeout=lock_timeout))
        except ReconcilerError as exc:
            _notify(reports, summarise(None, exc))
            raise
        _notify(reports, summarise(applied.result, None))
    if applied.result is None:
        _show(applied.plan)
        return
    _report(applied.plan, applied.result)


def _show(plan: Plan, forced: bool = False) -> None:
    from reconciler.render import emit
    from reconciler.render.text import plan_lines

    emit(plan_lines(plan, forced=forced), use_color())


def _notify(reports: list[Report], outcome: Outcome) -> None:
    """Tell every vendor that asked how the apply went; a failure to tell is a warning."""
    from reconciler.apply.hooks import send_all

    for _, message in send_all(reports, outcome):
        err.print(message, markup=False)


DONE = {"create": "Creation complete", "update": "Modifications complete",  # by Action value
        "delete": "Destruction complete", "adopt": "Adoption complete", "push": "Push complete",
        "forget": "Forgotten (state only)", "move": "Move complete",
        "replace": "Replacement complete"}


def done_line(change: Change, remote_id: str | None, seconds: float, adopted: bool) -> str:
    """Terraform's per-object line: `outreach.call_purpose.x: Creation complete after 0.4s
    [id=123]`; a deactivation says so, a create that found its object says adopted."""
    from reconciler.plan.model import Reason

    what = DONE.get(change.action, str(change.action))
    if change.action == "delete" and change.delete_mode == "deactivate":
        what = "Deactivation complete"
    elif change.action == "delete" and change.delete_mode == "soft":
        what = "Soft-deletion complete"
    elif adopted:
        what = "Adoption complete (it existed already)"
    elif change.why is Reason.UPDATE_STATE_REFRESH:
        what = "Refresh complete (state only)"
    ident = f" [id={remote_id}]" if remote_id else ""
    return f"{change.address}: {what} after {seconds:.1f}s{ident}"


class Reporter:
    """Per-change progress: plain lines, or a Rich bar on a terminal for long runs; it
    starts once the plan to apply is known (after the lock, the re-check and the prompt)."""

    def __init__(self) -> None:
        self.total = 0
        self.done = 0
        self._bar: Any = None
        self._task: Any = None
        self._timed: tuple[str | None, float, bool] | None = None

    def timed(self, change: Change, remote_id: str | None, seconds: float, adopted: bool) -> None:
        self._timed = (remote_id, seconds, adopted)

    def start(self, plan: Plan) -> None:
        self.total = len(plan.changes)
        if use_color() and self.total > 20:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._bar = Progress(TextColumn("Applying"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(),
                                 console=Console(highlight=False, force_terminal=True))
            self._bar.start()
            self._task = self._bar.add_task("apply", total=self.total)

    def __call__(self, change: Change, error: str | None) -> None:
        self.done += 1
        if self._bar is not None:
            self._bar.advance(self._task)
            if error:
                self._bar.console.print(f"{change.address}: failed", markup=False, style="red")
        elif error:
            err.print(f"{change.address}: failed", markup=False)
        elif self.total <= 100:
            remote_id, seconds, adopted = self._timed or (change.remote_id, 0.0, False)
            typer.echo(clean(done_line(change, remote_id, seconds, adopted)))
        elif self.done % max(self.total // 10, 1) == 0:
            typer.echo(f"... {self.done}/{self.total} changes applied")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


@contextmanager
def progress_reporter() -> Iterator[Reporter]:
    reporter = Reporter()
    try:
        yield reporter
    finally:
        reporter.close()


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

"""Several environments in one command: plan, apply, drift and validate over a fleet, and
`envs`, which lists the environments (for a CI matrix too). The engine runs them
(reconciler/engine/fleet.py); this module prints each one whole as it finishes, then the
summary, and turns the outcomes into one exit code."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from reconciler.cli.app import Dir, Format, app, err, handled, notice, use_color
from reconciler.errors import ConfigError

if TYPE_CHECKING:
    from reconciler.engine import Scope
    from reconciler.engine.fleet import Fleet, Row
    from reconciler.plan.model import Plan


def _fleet(directory: Path, names: list[str], sandbox: bool, parallel: int, fail_fast: bool,
           offline: bool = False) -> Fleet:
    from reconciler.engine.fleet import Fleet

    return Fleet(directory, names, sandbox=sandbox, parallel=parallel, fail_fast=fail_fast,
                 notice=notice, offline=offline)


def _emit(lines: list[Any]) -> None:
    from reconciler.render import emit

    emit(lines, use_color())


def _in_order(rows: dict[str, Row], names: list[str]) -> list[Row]:
    """The environments that finished, in the order they were named (a fail-fast fleet, or
    one stopped by an error, finishes fewer)."""
    return [rows[n] for n in names if n in rows]


def _finish(rows: list[Row], fmt: Format, title: str, sections: dict[str, str],
            documents: dict[str, dict[str, Any]], detailed: bool, noun: str = "changes") -> None:
    from reconciler.engine.fleet import exit_code
    from reconciler.render.fleet import fleet_document, fleet_markdown, summary_lines

    if fmt is Format.json:
        from reconciler.render.json import FORMAT_VERSION, dumps

        typer.echo(dumps(fleet_document(FORMAT_VERSION, ((r.environment, documents[r.environment])
                                                          for r in rows))))
    elif fmt is Format.markdown:
        typer.echo(fleet_markdown(title, rows, sections, noun))
    else:
        _emit(summary_lines(rows, noun))
    code = exit_code(rows, detailed)
    if code:
        raise typer.Exit(code)


def plan_fleet(directory: Path, names: list[str], scope: Scope, fmt: Format, out: Path | None,
               detailed: bool, sandbox: bool, parallel: int, fail_fast: bool) -> None:
    """Plan every environment; with --out, all plans in one file (kept only if all planned)."""
    import asyncio

    from reconciler.engine.fleet import Status, plan_row
    from reconciler.plan.planfile import FleetPlanWriter
    from reconciler.render.fleet import error_lines, failed_document, heading, section_share

    rows: dict[str, Row] = {}
    sections: dict[str, str] = {}
    documents: dict[str, dict[str, Any]] = {}
    share = section_share(len(names))
    writer = FleetPlanWriter(out) if out is not None else None

    async def run() -> None:
        async for finished in _fleet(directory, names, sandbox, parallel, fail_fast).plan(scope):
            plan, name = finished.value, finished.environment
            row = rows[name] = plan_row(finished)
            if fmt is Format.json:
                from reconciler.render.json import plan_document

                documents[name] = plan_document(plan) if plan is not None else failed_document(row)
            elif fmt is Format.markdown:
                if plan is not None and row.status is not Status.NO_CHANGES:
                    from reconciler.render.markdown import plan_markdown

                    sections[name] = plan_markdown(plan, share)
                elif plan is None:
                    sections[name] = f"Error: {row.error}"
            else:
                from reconciler.render.text import plan_lines

                _emit(heading(name) + (plan_lines(plan) if plan is not None else [])
                      + error_lines(row) + [[]])
            if writer is not None and plan is not None:
                writer.add(name, plan)
            finished.value = None  # released: the summary keeps its row only

    try:
        asyncio.run(run())
    finally:
        ordered = _in_order(rows, names)
        if writer is not None:
            saved = len(ordered) == len(names) and all(r.status is not Status.FAILED for r in ordered)
            writer.close(keep=saved)
            if saved:
                err.print(f"Saved the plans of {len(names)} environments to {out}; review them "
                          f"with: reconciler show {out}; apply them with: reconciler apply {out}"
                          + (" --sandbox" if sandbox else ""), markup=False)
            else:
                err.print(f"Did not save {out}: not every environment planned (a plan file "
                          "never silently lacks one); fix the failures and plan again.",
                          markup=False)
    _finish(ordered, fmt, "plan", sections, documents, detailed)


def apply_fleet(directory: Path, names: list[str], saved: dict[str, Plan] | None, scope: Scope,
                force: bool, auto_approve: bool, lock_timeout: float, sandbox: bool,
                parallel: int, fail_fast: bool, source: Path | None = None) -> None:
    """Apply every environment, each under its own lock; reported per environment."""
    import asyncio

    from reconciler.engine.fleet import apply_row
    from reconciler.render.fleet import error_lines, heading
    from reconciler.render.text import plan_lines

    if saved is None and not auto_approve:
        raise ConfigError(f"apply over {len(names)} environments is not confirmed one by one: "
                          "save their plans with `reconciler plan DIR --env ... --out FILE`, "
                          "review them, then `reconciler apply FILE`; or pass --auto-approve")
    rows: dict[str, Row] = {}
    if source is not None:
        typer.echo(f"Applying the plans saved in {source}:\n")

    async def run() -> None:
        fleet = _fleet(directory, names, sandbox, parallel, fail_fast)
        async for finished in fleet.apply(saved, scope, force, lock_timeout=lock_timeout):
            name, applied = finished.environment, finished.value
            row = rows[name] = apply_row(finished)
            lines = heading(name)
            if applied is not None:
                lines += plan_lines(applied.plan)
                if applied.result is not None:
                    tally = applied.result.tally()
                    done = ", ".join(f"{n} {verb}" for verb, n in tally.items() if n)
                    if applied.result.ok:
                        lines.append([("bold green", f"Apply complete! Changes: {done or 'none'}.")])
                    else:
                        lines += [[("bold red", f"Error: {e}")] for e in applied.result.errors]
                        lines.append([("bold red", f"Apply failed: {done or 'nothing done'}; "
                                                   f"{applied.result.not_started} change(s) not "
                                                   "attempted; the state holds every change "
                                                   "that succeeded.")])
            _emit(lines + error_lines(row) + [[]])
            finished.value = None

    asyncio.run(run())
    _finish(_in_order(rows, names), Format.text, "apply", {}, {}, detailed=False)


def drift_fleet(directory: Path, names: list[str], fmt: Format, accept: bool, write_back: bool,
                lock_timeout: float, sandbox: bool, parallel: int, fail_fast: bool) -> None:
    """Drift of every environment; --accept records each one's into its own state."""
    import asyncio

    from reconciler.engine.fleet import drift_row
    from reconciler.render.drift import drift_lines, drift_markdown
    from reconciler.render.fleet import error_lines, failed_document, heading, section_share

    if write_back:
        raise ConfigError("--write-back over several environments would write each one's remote "
                          "values into the manifests they share; use it with one --env NAME")
    rows: dict[str, Row] = {}
    sections: dict[str, str] = {}
    documents: dict[str, dict[str, Any]] = {}
    share = section_share(len(names))

    async def job(ws: Any) -> Any:
        report = await ws.drift()
        if accept and report.items:
            ws.accept_drift(report, False, lock_timeout)
        return report

    async def run() -> None:
        fleet = _fleet(directory, names, sandbox, parallel, fail_fast)
        async for finished in fleet.each(job):
            name, report = finished.environment, finished.value
            row = rows[name] = drift_row(finished)
            if fmt is Format.json:
                from reconciler.render.json import drift_document

                documents[name] = drift_document(report) if report is not None else failed_document(row)
            elif fmt is Format.markdown:
                if report is None:
                    sections[name] = f"Error: {row.error}"
                elif report.has_drift:
                    sections[name] = drift_markdown(report, share)
            else:
                lines = heading(name) + (drift_lines(report) if report is not None else [])
                if accept and report is not None and report.items:
                    lines.append([("", f"Recorded {len(report.items)} remote change(s) into the "
                                       "state.")])
                _emit(lines + error_lines(row) + [[]])
            finished.value = None

    asyncio.run(run())
    _finish(_in_order(rows, names), fmt, "drift", sections, documents, detailed=not accept,
            noun="drift")


def validate_all(directory: Path, names: list[str], annotate: Callable[[Exception], None]) -> None:
    """Check every environment (offline, no credentials): each one's settings and manifests."""
    from reconciler.errors import ReconcilerError
    from reconciler.manifest.loader import load_desired
    from reconciler.manifest.settings import load_settings

    failed = 0
    for name in names:
        try:
            desired = load_desired(load_settings(directory, offline=True, need_state=False,
                                                 environment=name))
        except ReconcilerError as exc:
            failed += 1
            annotate(exc)
            err.print(f"Error: environment {name}: {exc}", markup=False)
            continue
        typer.echo(f"Valid: {name}: {len(desired.objects)} object(s) in "
                   f"{len(desired.documents)} file(s).")
    if failed:
        err.print(f"{failed} of {len(names)} environments are not valid.", markup=False)
        raise typer.Exit(1)


class EnvsFormat(StrEnum):
    text = "text"
    json = "json"
    github_matrix = "github-matrix"
    gitlab_matrix = "gitlab-matrix"


@app.command()
@handled
def envs(
    directory: Dir = Path("."),
    fmt: Annotated[EnvsFormat, typer.Option(
        "--format", metavar="text|json|github-matrix|gitlab-matrix",
        help="github-matrix: JSON for strategy.matrix via fromJSON; gitlab-matrix: a "
             "parallel:matrix for a generated child pipeline")] = EnvsFormat.text,
) -> None:
    """List the environments reconciler.yaml declares (one CI job each, via a matrix)."""
    import json

    from reconciler.manifest.environments import read_declared
    from reconciler.manifest.files import CONFIG_FILE

    if not (directory / CONFIG_FILE).is_file():
        raise ConfigError(f"{directory / CONFIG_FILE}: not found; pass the manifest directory")
    names = list(read_declared(directory).names)
    if fmt is EnvsFormat.json:
        typer.echo(json.dumps({"environments": names}))
    elif fmt is EnvsFormat.github_matrix:
        typer.echo(json.dumps({"environment": names}))
    elif fmt is EnvsFormat.gitlab_matrix:
        typer.echo("# generated by `reconciler envs --format gitlab-matrix`: one job per environment\n"
                   ".reconciler-environments:\n  parallel:\n    matrix:\n"
                   f"      - RECONCILER_ENV: {json.dumps(names)}")
    else:
        for name in names:
            typer.echo(name)


def apply_saved_fleet(path: Path, plans: dict[str, Plan], given: list[str] | None, scope: Scope,
                      force: bool, lock_timeout: float, sandbox: bool, parallel: int,
                      fail_fast: bool) -> None:
    """`apply FILE` of a fleet plan file: every environment in it (or those --env names)."""
    import fnmatch

    from reconciler.manifest.environments import selection

    directories = {str(p.target.get("directory") or p.directory) for p in plans.values()}
    if len(directories) != 1:
        raise ConfigError(f"{path}: the plans were made in several directories; make one plan "
                          "file per directory")
    patterns = selection(given)
    names = [n for n in plans if not patterns or any(fnmatch.fnmatchcase(n, p) for p in patterns)]
    if not names:
        raise ConfigError(f"--env {' '.join(patterns)}: matches no environment in {path} (it "
                          f"holds {', '.join(plans)})")
    apply_fleet(Path(directories.pop()), names, plans, scope, force, True, lock_timeout, sandbox,
                parallel, fail_fast, source=path)


def show_fleet(plans: dict[str, Plan], fmt: Format) -> None:
    """`show FILE` of a fleet plan file: each environment's plan as apply will apply it."""
    from reconciler.engine.fleet import Finished, plan_row
    from reconciler.render.fleet import heading, section_share

    rows = [plan_row(Finished(name, plan)) for name, plan in plans.items()]
    if fmt is Format.json:
        from reconciler.render.json import plan_document

        documents = {name: plan_document(plan) for name, plan in plans.items()}
        _finish(rows, fmt, "plan", {}, documents, detailed=False)
        return
    if fmt is Format.markdown:
        from reconciler.render.markdown import plan_markdown

        share = section_share(len(plans))
        sections = {n: plan_markdown(p, share) for n, p in plans.items() if p.has_changes}
        _finish(rows, fmt, "plan", sections, {}, detailed=False)
        return
    from reconciler.render.text import plan_lines

    for name, plan in plans.items():
        _emit(heading(name) + plan_lines(plan) + [[]])
    _finish(rows, fmt, "plan", {}, {}, detailed=False)

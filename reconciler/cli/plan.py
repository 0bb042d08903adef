"""validate and plan: load the manifests, observe the vendors, show the plan."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from reconciler.cli.app import (
    Dir,
    EnvOpt,
    ExcludeOpt,
    FailFastOpt,
    ForgetOpt,
    Format,
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
    workspace,
)

if TYPE_CHECKING:
    from reconciler.plan.model import Plan


class CheckFormat(StrEnum):
    text = "text"
    github = "github"  # GitHub Actions annotations: ::error file=…,line=…,col=…::message


@app.command()
@handled
def validate(
    directory: Dir = Path("."),
    fmt: Annotated[CheckFormat, typer.Option(
        "--format", metavar="text|github",
        help="github: also print each problem as a GitHub Actions annotation")] = CheckFormat.text,
    env: EnvOpt = None,
) -> None:
    """Load and check the manifests and reconciler.yaml; no network, no credentials needed
    (every environment, unless --env names some)."""
    from reconciler.errors import ReconcilerError
    from reconciler.manifest.environments import read_declared
    from reconciler.manifest.loader import load_desired
    from reconciler.manifest.settings import load_settings

    declared = read_declared(directory) if directory.is_dir() else None
    if declared:
        from reconciler.cli.fleet import validate_all

        def annotate(exc: Exception) -> None:
            if fmt is CheckFormat.github and isinstance(exc, ReconcilerError):
                from reconciler.render.annotations import github_annotations

                typer.echo(github_annotations(exc, directory))

        names = environments(directory, env, "validate") if env else list(declared.names)
        validate_all(directory, names or [], annotate)
        return
    if env:
        environments(directory, env, "validate")  # says there are none
    try:
        desired = load_desired(load_settings(directory, offline=True, need_state=False))
    except ReconcilerError as exc:
        if fmt is CheckFormat.github:
            from reconciler.render.annotations import github_annotations

            typer.echo(github_annotations(exc, directory))
        raise
    for folder in desired.nested:
        err.print(f"Note: {folder}: another project (it has its own reconciler.yaml): skipped, "
                  "not read as manifests", markup=False)
    typer.echo(f"Valid: {len(desired.objects)} object(s) in {len(desired.documents)} file(s).")


def print_plan(plan: Plan, fmt: Format) -> None:
    """The one place a plan is printed, for plan and show alike."""
    from reconciler.render import show

    show(plan, fmt, use_color())


@app.command()
@handled
def plan(
    directory: Dir = Path("."),
    out: Annotated[Path | None, typer.Option(
        "--out", metavar="FILE", help="Save the plan for apply (and show)")] = None,
    fmt: Annotated[Format, typer.Option(
        "--format", metavar="text|json|markdown", help="Output format")] = Format.text,
    detailed_exitcode: Annotated[bool, typer.Option(
        "--detailed-exitcode", help="Exit 2 when there are changes")] = False,
    target: TargetOpt = None, exclude: ExcludeOpt = None, forget: ForgetOpt = None,
    sandbox: SandboxOpt = False, env: EnvOpt = None, parallel: ParallelOpt = 4,
    fail_fast: FailFastOpt = False, replace: ReplaceOpt = None,
) -> None:
    """Show what apply would change."""

    from reconciler.engine import Scope, run
    from reconciler.plan.planfile import save_plan

    names = environments(directory, env, "plan")
    if names is not None and as_fleet(env, names):
        from reconciler.cli.fleet import plan_fleet

        plan_fleet(directory, names, Scope.of(target, exclude, forget, replace), fmt, out,
                   detailed_exitcode, sandbox, parallel, fail_fast)
        return
    with workspace(directory, sandbox, names[0] if names else None) as ws:
        result = run(ws.plan(Scope.of(target, exclude, forget, replace)))
    print_plan(result, fmt)
    if out is not None:
        save_plan(result, out)
        err.print(f"Saved the plan to {out}; review it with: reconciler show {out}; apply it "
                  f"with: reconciler apply {out}" + (" --sandbox" if sandbox else ""),
                  markup=False)
    if result.refusals or any(v.blocked and not v.overridable for v in result.safety):
        raise typer.Exit(3)  # a refused change: no apply can make this plan (README exit codes)
    if detailed_exitcode and result.has_changes:
        raise typer.Exit(2)

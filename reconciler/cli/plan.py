"""validate and plan: load the manifests, observe the vendors, show the plan."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer

from reconciler.apply.verb import save_plan
from reconciler.cli.app import (
    Dir,
    ExcludeOpt,
    ForgetOpt,
    Format,
    SandboxOpt,
    TargetOpt,
    app,
    err,
    handled,
    use_color,
    workspace,
)
from reconciler.cli.workspace import Workspace
from reconciler.plan.model import Plan
from reconciler.plan.verb import build_plan
from reconciler.render import emit
from reconciler.render.markdown import plan_markdown
from reconciler.render.text import plan_lines


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
        options = ws.plan_options(target, exclude, forget)

        async def run() -> Plan:
            async with ws.connect() as providers:
                return await build_plan(ws.settings, ws.kinds(), providers, desired, state, options)

        result = asyncio.run(run())
    print_plan(result, fmt)
    if out is not None:
        save_plan(result, out)
        err.print(f"Saved the plan to {out}; apply it with: reconciler apply {out}")
    if result.refusals:
        raise typer.Exit(1)
    if detailed_exitcode and result.has_changes:
        raise typer.Exit(2)

"""drift: what changed behind the tool's back, and how to accept it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reconciler.cli.app import (
    Dir,
    Format,
    LockTimeoutOpt,
    SandboxOpt,
    app,
    err,
    handled,
    locked,
    use_color,
    workspace,
)


@app.command()
@handled
def drift(
    directory: Dir = Path("."),
    fmt: Annotated[Format, typer.Option(
        "--format", metavar="text|json|markdown", help="Output format")] = Format.text,
    accept: Annotated[bool, typer.Option(
        "--accept", help="Record the remote values into the state (refresh-only)")] = False,
    write_back: Annotated[bool, typer.Option(
        "--write-back", help="Write the remote values into the manifests (and the state)")] = False,
    lock_timeout: LockTimeoutOpt = 0.0, sandbox: SandboxOpt = False,
) -> None:
    """Compare the remote objects with the last applied state; sends no write to any vendor."""
    import asyncio

    from reconciler.drift.detect import DriftReport, accept_drift, detect_drift
    from reconciler.drift.writeback import write_back as write_back_manifests
    from reconciler.render import emit
    from reconciler.render.drift import drift_lines, drift_markdown
    from reconciler.state.ids import check_recorded_ids

    with workspace(directory, sandbox) as ws:
        state = ws.backend.read()
        check_recorded_ids(state, ws.kinds())

        async def run() -> DriftReport:
            async with ws.connect() as providers:
                observed = await providers.observe(set(ws.kinds()))
            options = ws.plan_options()
            return detect_drift(state, observed, ws.kinds(), options.ignore,
                                options.ignore_unmanaged)

        report = asyncio.run(run())
        if fmt is Format.json:
            from reconciler.render.json import drift_document, dumps

            typer.echo(dumps(drift_document(report)))
        elif fmt is Format.markdown:
            typer.echo(drift_markdown(report))
        else:
            emit(drift_lines(report), use_color())
        if report.items and (accept or write_back):
            desired = ws.desired() if write_back else None
            with locked(ws, "drift", lock_timeout):
                if desired is not None:
                    for file in write_back_manifests(report.items, desired, ws.kinds()):
                        err.print(f"Wrote the remote values into {file}", markup=False)
                accepted = accept_drift(ws.backend, report.items)
            err.print(f"Recorded {accepted} remote change(s) into the state.", markup=False)
            return
    if report.has_drift:
        raise typer.Exit(2)

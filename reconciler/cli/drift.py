"""drift: what changed behind the tool's back, and how to accept it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reconciler.cli.app import (
    Dir,
    EnvOpt,
    FailFastOpt,
    Format,
    LockTimeoutOpt,
    ParallelOpt,
    SandboxOpt,
    app,
    as_fleet,
    environments,
    err,
    handled,
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
    lock_timeout: LockTimeoutOpt = 0.0, sandbox: SandboxOpt = False, env: EnvOpt = None,
    parallel: ParallelOpt = 4, fail_fast: FailFastOpt = False,
) -> None:
    """Compare the remote objects with the last applied state; sends no write to any vendor."""
    from reconciler.engine import run
    from reconciler.render import show

    names = environments(directory, env, "drift")
    if names is not None and as_fleet(env, names):
        from reconciler.cli.fleet import drift_fleet

        drift_fleet(directory, names, fmt, accept, write_back, lock_timeout, sandbox, parallel,
                    fail_fast)
        return
    with workspace(directory, sandbox, names[0] if names else None) as ws:
        report = run(ws.drift())
        show(report, fmt, use_color())
        if report.items and (accept or write_back):
            files, accepted = ws.accept_drift(report, write_back, lock_timeout)
            for file in files:
                err.print(f"Wrote the remote values into {file}", markup=False)
            err.print(f"Recorded {accepted} remote change(s) into the state.", markup=False)
            return
    if report.has_drift:
        raise typer.Exit(2)

"""Inspect and repair the state: list, show, rm, force-unlock."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from reconciler.cli.app import (
    Dir,
    LockTimeoutOpt,
    app,
    handled,
    state_app,
)
from reconciler.cli.workspace import Workspace
from reconciler.errors import ConfigError


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

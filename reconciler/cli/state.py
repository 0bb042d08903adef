"""Inspect and repair the state: list, show, rm, force-unlock."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from reconciler.cli.app import (
    Address,
    Dir,
    LockTimeoutOpt,
    app,
    check_order,
    handled,
    locked,
    state_app,
)
from reconciler.errors import ConfigError

if TYPE_CHECKING:
    from reconciler.cli.workspace import Workspace


def _open(directory: Path) -> Workspace:
    """The state needs no vendor credentials: the workspace is opened offline."""
    from reconciler.cli.workspace import Workspace

    return Workspace.open(directory, offline=True)


@state_app.command("list")
@handled
def state_list(directory: Dir = Path(".")) -> None:
    """List the managed addresses."""
    doc = _open(directory).backend.read()
    for address, resource in sorted(doc.resources.items()):
        typer.echo(f"{address}\t{resource.remote_id or '-'}")


@state_app.command("show")
@handled
def state_show(address: Address, directory: Dir = Path(".")) -> None:
    """Show one managed object as recorded."""
    import json

    check_order(directory, address, "reconciler state show ADDR DIR")
    doc = _open(directory).backend.read()
    resource = doc.resources.get(address)
    if resource is None:
        raise ConfigError(f"{address}: not in the state; see `reconciler state list`")
    typer.echo(json.dumps({"address": address, **resource.to_dict()}, indent=2, default=str))


@state_app.command("rm")
@handled
def state_rm(address: Address, directory: Dir = Path("."),
             lock_timeout: LockTimeoutOpt = 0.0) -> None:
    """Stop managing an address; the remote object is left untouched."""
    check_order(directory, address, "reconciler state rm ADDR DIR")
    ws = _open(directory)
    with locked(ws, "state rm", lock_timeout):
        doc = ws.backend.read()
        if doc.resources.pop(address, None) is None:
            raise ConfigError(f"{address}: not in the state; see `reconciler state list`")
        ws.backend.write(doc)
    typer.echo(f"Removed {address} from the state (the remote object is untouched).")


@app.command("force-unlock")
@handled
def force_unlock(
    lock_id: Annotated[str, typer.Argument(
        metavar="ID", help="The lock's id, as the error naming the holder shows it")],
    directory: Dir = Path("."),
) -> None:
    """Free a lock left by a run that is gone."""
    check_order(directory, lock_id, "reconciler force-unlock ID DIR")
    holder = _open(directory).backend.force_unlock(lock_id)
    typer.echo(f"Removed {holder.describe()}.")

"""Inspect and repair the state: list, show, rm, mv, force-unlock."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from reconciler.cli.app import (
    Address,
    Dir,
    EnvOpt,
    LockTimeoutOpt,
    app,
    check_order,
    handled,
    offline_workspace,
    one_environment,
    state_app,
)
from reconciler.errors import ConfigError
from reconciler.redact import clean

if TYPE_CHECKING:
    from reconciler.engine import Workspace



def _open(directory: Path, env: list[str] | None = None, command: str = "state") -> Workspace:
    """The state of the directory (of the one environment --env names, where there are some)."""
    return offline_workspace(directory, one_environment(directory, env, command))


@state_app.command("list")
@handled
def state_list(directory: Dir = Path("."), env: EnvOpt = None) -> None:
    """List the managed addresses."""
    doc = _open(directory, env, "state list").backend.read()
    for address, resource in sorted(doc.resources.items()):
        typer.echo(f"{address}\t{clean(resource.remote_id or '-')}")  # the vendor's text


@state_app.command("show")
@handled
def state_show(address: Address, directory: Dir = Path("."), env: EnvOpt = None) -> None:
    """Show one managed object as recorded."""
    import json

    check_order(directory, address, "reconciler state show ADDR DIR")
    doc = _open(directory, env, "state show").backend.read()
    resource = doc.resources.get(address)
    if resource is None:
        raise ConfigError(f"{address}: not in the state; see `reconciler state list`")
    typer.echo(json.dumps({"address": address, **resource.to_dict()}, indent=2, default=str))


@state_app.command("rm")
@handled
def state_rm(address: Address, directory: Dir = Path("."),
             lock_timeout: LockTimeoutOpt = 0.0, env: EnvOpt = None) -> None:
    """Stop managing an address; the remote object is left untouched."""
    check_order(directory, address, "reconciler state rm ADDR DIR")
    ws = _open(directory, env, "state rm")
    with ws.lock("state rm", lock_timeout):
        doc = ws.backend.read()
        if doc.resources.pop(address, None) is None:
            raise ConfigError(f"{address}: not in the state; see `reconciler state list`")
        ws.backend.write(doc)
    typer.echo(f"Removed {address} from the state (the remote object is untouched).")


@state_app.command("mv")
@handled
def state_mv(
    source: Annotated[str, typer.Argument(
        metavar="SRC", help="The address the object is recorded under now")],
    destination: Annotated[str, typer.Argument(
        metavar="DST", help="The address to record it under, e.g. outreach.call_purpose.new_key")],
    directory: Dir = Path("."), lock_timeout: LockTimeoutOpt = 0.0, env: EnvOpt = None,
) -> None:
    """Record a managed object under another address (a renamed key); no vendor call."""
    from reconciler.manifest.loader import KEY_PATTERN

    check_order(directory, destination, "reconciler state mv SRC DST DIR")
    kind, _, key = destination.rpartition(".")
    if kind != source.rpartition(".")[0] or not KEY_PATTERN.fullmatch(key):
        raise ConfigError(f"{destination}: must be {source.rpartition('.')[0]}.<key> (same vendor "
                          "and kind; keys are lower-case letters, digits, '_' and '-')")
    ws = _open(directory, env, "state mv")
    with ws.lock("state mv", lock_timeout):
        doc = ws.backend.read()
        if source not in doc.resources:
            raise ConfigError(f"{source}: not in the state; see `reconciler state list`")
        if destination in doc.resources:
            raise ConfigError(f"{destination}: already in the state (remote id "
                              f"{doc.resources[destination].remote_id}); `state rm` it first")
        doc.resources[destination] = doc.resources.pop(source)
        ws.backend.write(doc)
    typer.echo(f"Moved {source} to {destination} in the state (no vendor was called).")


@app.command("force-unlock")
@handled
def force_unlock(
    lock_id: Annotated[str, typer.Argument(
        metavar="ID", help="The lock's id, as the error naming the holder shows it")],
    directory: Dir = Path("."),
    force: Annotated[bool, typer.Option(
        "--force", help="Also when the holder is alive: revoke its lock (it stops before its "
                        "next write)")] = False,
    env: EnvOpt = None,
) -> None:
    """Free a lock left by a run that is gone (a live holder is refused without --force)."""
    from reconciler.cli.app import err

    check_order(directory, lock_id, "reconciler force-unlock ID DIR")
    backend = _open(directory, env, "force-unlock").backend
    holder = backend.force_unlock(lock_id, force=force)
    if force:
        err.print(f"Warning: --force: if {holder.describe()} was still running, its lock is "
                  "revoked and it stops before its next write.", markup=False)
    typer.echo(f"Removed {holder.describe()}.")

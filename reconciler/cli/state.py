"""Inspect and repair the state: list, show, rm, mv, unforget, pull, push, force-unlock."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from reconciler.cli.app import (
    Address,
    Dir,
    EnvOpt,
    LockTimeoutOpt,
    SandboxOpt,
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



def _open(directory: Path, env: list[str] | None = None, command: str = "state",
          sandbox: bool = False) -> Workspace:
    """The state of the directory (of the one environment --env names, where there are some;
    with --sandbox, the one beside the sandboxes' data)."""
    return offline_workspace(directory, sandbox, one_environment(directory, env, command))


def _missing(address: str, where: str) -> ConfigError:
    return ConfigError(f"{address}: not in the state in {where}; see `reconciler state list`")


@state_app.command("list")
@handled
def state_list(directory: Dir = Path("."), sandbox: SandboxOpt = False, env: EnvOpt = None) -> None:
    """List the managed addresses (and the forgotten ones, marked so)."""
    from reconciler.cli.app import err

    backend = _open(directory, env, "state list", sandbox).backend
    doc = backend.read()
    for address, resource in sorted(doc.resources.items()):
        typer.echo(f"{address}\t{clean(resource.remote_id or '-')}")  # the vendor's text
    for address, gone in sorted(doc.forgotten.items()):
        typer.echo(f"{address}\t{clean(gone.remote_id)}\t(forgotten: left alone at the vendor)")
    if not doc.resources and not doc.forgotten:
        hint = "" if sandbox else " (a --sandbox run keeps its own: add --sandbox)"
        err.print(f"The state is empty: nothing is recorded in {backend.describe()}{hint}.",
                  markup=False)


@state_app.command("show")
@handled
def state_show(address: Address, directory: Dir = Path("."), sandbox: SandboxOpt = False,
               env: EnvOpt = None) -> None:
    """Show one managed (or forgotten) object as recorded."""
    import json

    check_order(directory, address, "reconciler state show ADDR DIR")
    backend = _open(directory, env, "state show", sandbox).backend
    doc = backend.read()
    resource = doc.resources.get(address)
    if resource is not None:
        typer.echo(json.dumps({"address": address, **resource.to_dict()}, indent=2, default=str))
    elif address in doc.forgotten:
        typer.echo(json.dumps({"address": address, "forgotten": True,
                               **doc.forgotten[address].model_dump()}, indent=2))
    else:
        raise _missing(address, backend.describe())


@state_app.command("rm")
@handled
def state_rm(address: Address, directory: Dir = Path("."),
             lock_timeout: LockTimeoutOpt = 0.0, sandbox: SandboxOpt = False,
             env: EnvOpt = None) -> None:
    """Stop managing an address; the remote object is left untouched."""
    check_order(directory, address, "reconciler state rm ADDR DIR")
    ws = _open(directory, env, "state rm", sandbox)
    with ws.lock("state rm", lock_timeout):
        doc = ws.backend.read()
        if doc.resources.pop(address, None) is None:
            raise _missing(address, ws.backend.describe())
        ws.backend.write(doc)
    typer.echo(f"Removed {address} from the state (the remote object is untouched).")


@state_app.command("mv")
@handled
def state_mv(
    source: Annotated[str, typer.Argument(
        metavar="SRC", help="The address the object is recorded under now")],
    destination: Annotated[str, typer.Argument(
        metavar="DST", help="The address to record it under, e.g. outreach.call_purpose.new_key")],
    directory: Dir = Path("."), lock_timeout: LockTimeoutOpt = 0.0, sandbox: SandboxOpt = False,
    env: EnvOpt = None,
) -> None:
    """Record a managed object under another address (a renamed key); no vendor call."""
    from reconciler.manifest.loader import KEY_PATTERN

    check_order(directory, destination, "reconciler state mv SRC DST DIR")
    kind, _, key = destination.rpartition(".")
    if kind != source.rpartition(".")[0] or not KEY_PATTERN.fullmatch(key):
        raise ConfigError(f"{destination}: must be {source.rpartition('.')[0]}.<key> (same vendor "
                          "and kind; keys are lower-case letters, digits, '_' and '-')")
    ws = _open(directory, env, "state mv", sandbox)
    with ws.lock("state mv", lock_timeout):
        doc = ws.backend.read()
        if source not in doc.resources:
            raise _missing(source, ws.backend.describe())
        if destination in doc.resources:
            raise ConfigError(f"{destination}: already in the state (remote id "
                              f"{doc.resources[destination].remote_id}); `state rm` it first")
        doc.resources[destination] = doc.resources.pop(source)
        ws.backend.write(doc)
    typer.echo(f"Moved {source} to {destination} in the state (no vendor was called).")


@state_app.command("unforget")
@handled
def state_unforget(address: Address, directory: Dir = Path("."),
                   lock_timeout: LockTimeoutOpt = 0.0, sandbox: SandboxOpt = False,
                   env: EnvOpt = None) -> None:
    """Drop a forgotten object from the state's memory: plan and drift report it as
    unmanaged again (declare it and apply, or `import`, to manage it again)."""
    check_order(directory, address, "reconciler state unforget ADDR DIR")
    ws = _open(directory, env, "state unforget", sandbox)
    with ws.lock("state unforget", lock_timeout):
        doc = ws.backend.read()
        gone = doc.forgotten.pop(address, None)
        if gone is None:
            raise ConfigError(f"{address}: not forgotten in the state in {ws.backend.describe()}; "
                              "`reconciler state list` marks the forgotten ones")
        ws.backend.write(doc)
    typer.echo(f"{address} (remote id {clean(gone.remote_id)}) is no longer forgotten: it is "
               "unmanaged; declare it and apply (it is adopted by its natural key), or import it.")


@state_app.command("pull")
@handled
def state_pull(directory: Dir = Path("."), sandbox: SandboxOpt = False, env: EnvOpt = None) -> None:
    """Print the whole state document (JSON), as `state push` takes it back."""
    typer.echo(_open(directory, env, "state pull", sandbox).backend.read().model_dump_json(indent=1))


@state_app.command("push")
@handled
def state_push(
    source: Annotated[Path, typer.Argument(
        metavar="FILE", help="A state document, as `state pull` printed it")],
    directory: Dir = Path("."), lock_timeout: LockTimeoutOpt = 0.0, sandbox: SandboxOpt = False,
    env: EnvOpt = None,
) -> None:
    """Replace the state with a document: refused if it belongs to another state (lineage)
    or is older than the state now (serial)."""
    from reconciler.state.document import parse_document

    check_order(directory, str(source), "reconciler state push FILE DIR")
    if not source.is_file():
        raise ConfigError(f"{source}: no such file (give the file `state pull` wrote)")
    pushed = parse_document(source, str(source))
    ws = _open(directory, env, "state push", sandbox)
    with ws.lock("state push", lock_timeout):
        now = ws.backend.read()
        if now.lineage and pushed.lineage != now.lineage:
            raise ConfigError(f"{source}: belongs to another state (lineage {pushed.lineage!r}; "
                              f"the state in {ws.backend.describe()} has {now.lineage!r}); "
                              "nothing was written")
        if pushed.serial < now.serial:
            raise ConfigError(f"{source}: older than the state (serial {pushed.serial}, the state "
                              f"in {ws.backend.describe()} is at {now.serial}): it changed since "
                              "it was pulled; pull again, edit, push; nothing was written")
        pushed.serial = now.serial
        pushed.stored_serial = now.stored_serial
        ws.backend.write(pushed)
    typer.echo(f"Pushed {source} to the state in {ws.backend.describe()} (serial {pushed.serial}).")


@app.command("force-unlock")
@handled
def force_unlock(
    lock_id: Annotated[str, typer.Argument(
        metavar="ID", help="The lock's id, as the error naming the holder shows it")],
    directory: Dir = Path("."),
    force: Annotated[bool, typer.Option(
        "--force", help="Also when the holder is alive: revoke its lock (it stops before its "
                        "next write)")] = False,
    sandbox: SandboxOpt = False, env: EnvOpt = None,
) -> None:
    """Free a lock left by a run that is gone (a live holder is refused without --force)."""
    from reconciler.cli.app import err

    check_order(directory, lock_id, "reconciler force-unlock ID DIR")
    backend = _open(directory, env, "force-unlock", sandbox).backend
    holder = backend.force_unlock(lock_id, force=force)
    if force:
        err.print(f"Warning: --force: if {holder.describe()} was still running, its lock is "
                  "revoked and it stops before its next write.", markup=False)
    typer.echo(f"Removed {holder.describe()}.")

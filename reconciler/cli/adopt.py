"""Existing remote objects brought under management: import one, dump a vendor."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from reconciler.authoring.dump import dump_document
from reconciler.cli.app import (
    Dir,
    LockTimeoutOpt,
    SandboxOpt,
    app,
    err,
    handled,
    workspace,
)
from reconciler.errors import ConfigError
from reconciler.providers.base import Kind, RemoteObject
from reconciler.state.importer import import_object


@app.command("import")
@handled
def import_(directory: Dir, address: str, remote_id: Annotated[str, typer.Argument(metavar="ID")],
            lock_timeout: LockTimeoutOpt = 0.0, sandbox: SandboxOpt = False) -> None:
    """Adopt one existing remote object under an address declared in the manifests."""
    with workspace(directory, sandbox) as ws:
        desired = ws.desired()
        obj = desired.objects.get(address)
        if obj is None:
            raise ConfigError(f"{address}: not declared in the manifests; declare it first, then import")

        async def read() -> RemoteObject | None:
            async with ws.connect() as providers:
                return await providers.kind(obj.vendor, obj.kind).read(remote_id)

        remote = asyncio.run(read())
        with ws.backend.lock("import", lock_timeout):
            state = ws.backend.read()
            import_object(state, desired, address, remote, remote_id)
            ws.backend.write(state)
    typer.echo(f"Imported {address} (remote id {remote_id}); run plan to see any differences.")


@app.command()
@handled
def dump(
    directory: Dir = Path("."),
    vendor: Annotated[str, typer.Option("--vendor", help="Vendor to dump")] = "",
    out: Annotated[Path | None, typer.Option("--out", help="Write here instead of stdout")] = None,
    sandbox: SandboxOpt = False,
) -> None:
    """Write a manifest declaring every remote object of a vendor."""
    with workspace(directory, sandbox) as ws:
        if vendor not in ws.settings.providers:
            raise ConfigError(f"--vendor: '{vendor}' is not configured in reconciler.yaml (configured: "
                              f"{', '.join(sorted(ws.settings.providers))})")
        kinds = [k for k in ws.kinds().values() if k.vendor == vendor and k.observable]

        async def run() -> dict[type[Kind], list[RemoteObject]]:
            async with ws.connect() as providers:
                observed = await providers.observe({f"{k.vendor}.{k.name}" for k in kinds})
            return {k: observed.get(f"{k.vendor}.{k.name}", []) for k in kinds}

        text = dump_document(vendor, asyncio.run(run()))
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text)
        err.print(f"Wrote {out}; plan will adopt these objects by their natural keys.", markup=False)

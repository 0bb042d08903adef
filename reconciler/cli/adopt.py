"""Existing remote objects brought under management: import one, dump a vendor."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from reconciler.cli.app import (
    Address,
    Dir,
    LockTimeoutOpt,
    SandboxOpt,
    app,
    check_order,
    err,
    handled,
    locked,
    workspace,
)
from reconciler.errors import ConfigError
from reconciler.files import write_output

if TYPE_CHECKING:
    from reconciler.providers.base import KindSpec, RemoteObject


@app.command("import")
@handled
def import_(directory: Dir, address: Address,
            remote_id: Annotated[str, typer.Argument(
                metavar="ID", help="The object's id at the vendor (as its API shows it)")],
            lock_timeout: LockTimeoutOpt = 0.0, sandbox: SandboxOpt = False) -> None:
    """Adopt one existing remote object under an address declared in the manifests."""
    import asyncio

    from reconciler.providers.ids import shown
    from reconciler.state.importer import import_object

    check_order(directory, address, "reconciler import DIR ADDR ID")
    with workspace(directory, sandbox) as ws:
        desired = ws.desired()
        obj = desired.objects.get(address)
        if obj is None:
            raise ConfigError(f"{address}: not declared in the manifests; declare it first, then import")
        shape = ws.kinds()[obj.kind_address].id_shape
        if shape is not None and not shape.valid(remote_id):
            raise ConfigError(f"{address}: {shown(remote_id)} is not {shape.what}; give the id "
                              "as the vendor's API shows it")

        async def read() -> RemoteObject | None:
            async with ws.connect() as providers:
                return await providers.kind(obj.vendor, obj.kind).read(remote_id)

        remote = asyncio.run(read())
        with locked(ws, "import", lock_timeout):
            state = ws.backend.read()
            import_object(state, desired, address, remote, remote_id)
            ws.backend.write(state)
    typer.echo(f"Imported {address} (remote id {remote_id}); run plan to see any differences.")


@app.command()
@handled
def dump(
    directory: Dir = Path("."),
    vendor: Annotated[str, typer.Option(
        "--vendor", metavar="VENDOR", help="Vendor to dump, e.g. outreach (required)")] = "",
    out: Annotated[Path | None, typer.Option(
        "--out", metavar="FILE", help="Write here instead of stdout")] = None,
    sandbox: SandboxOpt = False,
) -> None:
    """Write a manifest declaring every remote object of a vendor."""
    import asyncio

    from reconciler.authoring.dump import dump_document

    with workspace(directory, sandbox) as ws:
        configured = ", ".join(sorted(ws.settings.providers))
        if not vendor:
            raise ConfigError(f"dump needs --vendor: which vendor to dump (configured in "
                              f"reconciler.yaml: {configured}), e.g. --vendor "
                              f"{min(ws.settings.providers, default='outreach')}")
        if vendor not in ws.settings.providers:
            raise ConfigError(f"--vendor {vendor}: not configured in reconciler.yaml (configured: "
                              f"{configured})")
        kinds = [k for k in ws.kinds().values() if k.vendor == vendor and k.observable]

        async def run() -> dict[type[KindSpec], list[RemoteObject]]:
            async with ws.connect() as providers:
                observed = await providers.observe({f"{k.vendor}.{k.name}" for k in kinds})
            return {k: observed.get(f"{k.vendor}.{k.name}", []) for k in kinds}

        text = dump_document(vendor, asyncio.run(run()))
    if out is None:
        typer.echo(text, nl=False)
    else:
        write_output(out, text, "the dump")
        err.print(f"Wrote {out}; plan will adopt these objects by their natural keys.", markup=False)

"""Existing remote objects brought under management: import one, dump a vendor."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from reconciler.cli.app import (
    Dir,
    EnvOpt,
    LockTimeoutOpt,
    SandboxOpt,
    app,
    check_order,
    err,
    handled,
    one_environment,
    workspace,
)
from reconciler.errors import ConfigError
from reconciler.files import write_output

if TYPE_CHECKING:
    from reconciler.providers.base import KindSpec, RemoteObject


@app.command("import")
@handled
def import_(address: Annotated[str, typer.Argument(
                metavar="ADDR", help="An address declared in the manifests, "
                                     "<vendor>.<kind>.<key>")],
            remote_id: Annotated[str, typer.Argument(
                metavar="ID", help="The object's id at the vendor (as its API shows it)")],
            directory: Annotated[str | None, typer.Argument(
                metavar="DIR", help="Manifest directory (default .). The older order "
                                    "`import DIR ADDR ID` works too when DIR is an existing "
                                    "directory")] = None,
            lock_timeout: LockTimeoutOpt = 0.0, sandbox: SandboxOpt = False,
            env: EnvOpt = None) -> None:
    """Adopt one existing remote object under an address declared in the manifests
    (Terraform's order: import ADDR ID [DIR])."""
    import asyncio

    if directory is not None and Path(address).is_dir() and not Path(directory).is_dir():
        address, remote_id, directory = remote_id, directory, address  # import DIR ADDR ID
    folder = Path(directory or ".")
    check_order(folder, address, "reconciler import ADDR ID DIR")
    with workspace(folder, sandbox, one_environment(folder, env, "import")) as ws:
        asyncio.run(ws.import_object(address, remote_id, lock_timeout))
    typer.echo(f"Imported {address} (remote id {remote_id}); run plan to see any differences.")


@app.command()
@handled
def dump(
    directory: Dir = Path("."),
    vendor: Annotated[str, typer.Option(
        "--vendor", metavar="VENDOR", help="Vendor to dump, e.g. outreach (required)")] = "",
    out: Annotated[Path | None, typer.Option(
        "--out", metavar="FILE", help="Write here instead of stdout")] = None,
    sandbox: SandboxOpt = False, env: EnvOpt = None,
) -> None:
    """Write a manifest declaring every remote object of a vendor."""
    import asyncio

    from reconciler.authoring.dump import dump_document

    with workspace(directory, sandbox, one_environment(directory, env, "dump")) as ws:
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
                observed = await ws.observe({f"{k.vendor}.{k.name}" for k in kinds}, providers)
            return {k: observed.get(f"{k.vendor}.{k.name}", []) for k in kinds}

        text = dump_document(vendor, asyncio.run(run()))
    if out is None:
        typer.echo(text, nl=False)
    else:
        write_output(out, text, "the dump")
        err.print(f"Wrote {out}; plan will adopt these objects by their natural keys.", markup=False)

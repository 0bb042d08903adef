"""sandbox: serve the vendor emulators on loopback."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reconciler.cli.app import (
    app,
    handled,
)
from reconciler.errors import ConfigError


@app.command()
@handled
def sandbox(
    host: Annotated[str, typer.Option(help="Address to listen on (loopback)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8765,
    data: Annotated[Path | None, typer.Option(help="Persist the vendors' data here")] = None,
    faults: Annotated[str, typer.Option(
        help="Faults to inject, e.g. 429=0.2,500=0.1,drop=0.05,latency=20")] = "",
    outreach_rate_limit: Annotated[int, typer.Option(
        help="Outreach requests allowed per hour (the vendor's 10,000; 0 = unlimited)")] = 10_000,
) -> None:
    """Serve the vendor sandboxes on loopback."""
    from reconciler.sandbox.common import Faults
    from reconciler.sandbox.server import SandboxSettings, provider_overrides, serve

    try:
        parsed = Faults.parse(faults)
    except ValueError as exc:
        raise ConfigError(f"--faults: {exc}") from None
    settings = SandboxSettings(data_dir=data, faults=parsed, outreach_rate_limit=outreach_rate_limit)
    base = f"http://{host}:{port}"
    for vendor, values in provider_overrides(base).items():
        typer.echo(f"{vendor}: " + ", ".join(f"{k}={v}" for k, v in values.items()))
    serve(settings, host, port)

"""sandbox: serve the vendor emulators on loopback."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from reconciler.cli.app import (
    app,
    handled,
    vendor_options,
)
from reconciler.errors import ConfigError
from reconciler.net import is_loopback


@app.command()
@handled
def sandbox(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(metavar="HOST", help="Address to listen on (loopback)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(metavar="PORT", help="Port", min=1, max=65535)] = 8765,
    data: Annotated[Path | None, typer.Option(metavar="DIR", help="Persist the vendors' data here")] = None,
    faults: Annotated[str, typer.Option(
        metavar="SPEC", help="Faults to inject, e.g. 429=0.2,500=0.1,drop=0.05,latency=20")] = "",
    allow_remote: Annotated[bool, typer.Option(
        "--allow-remote", help="Allow a --host that is not loopback (the sandboxes accept "
                               "well-known tokens: anyone who reaches them can use them)")] = False,
) -> None:
    """Serve the vendor sandboxes on loopback."""
    _check_loopback(host, allow_remote)
    from reconciler.providers.sandboxes import SandboxSettings, provider_overrides, serve
    from reconciler.sandbox.common import Faults

    parsed = _faults(faults, Faults.parse)
    settings = SandboxSettings(data_dir=data, faults=parsed, options=vendor_options(ctx))
    _check_free(host, port)  # before printing URLs as if it had started
    base = f"http://{host}:{port}"
    for vendor, values in provider_overrides(base).items():
        typer.echo(f"{vendor}: " + ", ".join(f"{k}={v}" for k, v in values.items()))
    try:
        serve(settings, host, port)
    except SystemExit as exc:  # uvicorn exits 3 when it cannot start: not our safety-rail code
        if exc.code not in (0, None):
            raise ConfigError(f"the sandbox could not start on {host}:{port} (see the message "
                              "above); pick another --port or --host") from None
        raise


def _faults(text: str, parse: Callable[[str], Any]) -> Any:
    """--faults, with the value that is wrong named and the ranges checked."""
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, value = item.partition("=")
        try:
            number = float(value)
        except ValueError:
            raise ConfigError(f"--faults: {item!r}: {value!r} is not a number; write NAME=NUMBER, "
                              "e.g. --faults 429=0.2,latency=20") from None
        low, high = (0.0, 1.0) if name in ("429", "500", "503", "drop") else (0.0, 3600_000.0)
        if name != "seed" and not low <= number <= high:  # nan fails this too
            what = "a probability from 0 to 1" if high == 1.0 else f"from {low:g} to {high:g}"
            raise ConfigError(f"--faults: {item!r}: expected {what}")
    try:
        return parse(text)
    except ValueError as exc:
        raise ConfigError(f"--faults: {exc}") from None


def _check_loopback(host: str, allow_remote: bool) -> None:
    """The sandboxes' tokens are printed and published: on any other interface, anyone who can
    reach the machine could read and change the data they hold."""
    if not is_loopback(host) and not allow_remote:
        raise ConfigError(f"--host {host}: not a loopback address; the sandboxes accept "
                          "well-known tokens, so anyone who can reach this address could use "
                          "them. Listen on 127.0.0.1 (the default), ::1 or localhost, or pass "
                          "--allow-remote if you really mean to serve them to other machines")


def _check_free(host: str, port: int) -> None:
    """Refuse a port that is taken (or an address that is not ours) in one clear line."""
    import socket  # start-up: only the sandbox command binds

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            sock.bind((host, port))
        except (OSError, OverflowError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise ConfigError(f"cannot listen on {host}:{port}: {reason}; stop what uses the "
                              "port or choose another with --port") from None

"""The Typer app, the options every command shares, and how a command opens its workspace."""

from __future__ import annotations

import functools
import importlib
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from reconciler import __version__
from reconciler.cli.workspace import Workspace
from reconciler.errors import ReconcilerError
from reconciler.manifest.settings import load_settings

app = typer.Typer(no_args_is_help=True, add_completion=False, rich_markup_mode=None,
                  help="Keep the purposes in your SaaS tools equal to YAML manifests.")
state_app = typer.Typer(no_args_is_help=True, help="Inspect and repair the state.")
app.add_typer(state_app, name="state")
err = Console(stderr=True, highlight=False, soft_wrap=True)
F = TypeVar("F", bound=Callable[..., Any])


class Format(StrEnum):
    text = "text"
    json = "json"
    markdown = "markdown"


Dir = Annotated[Path, typer.Argument(help="Manifest directory (holds reconciler.yaml)")]
SandboxOpt = Annotated[bool, typer.Option(
    "--sandbox", help="Run against vendor sandboxes started on loopback (data in state/sandbox/)")]
TargetOpt = Annotated[list[str] | None, typer.Option(
    "--target", help="Only these addresses (glob, repeatable)")]
ExcludeOpt = Annotated[list[str] | None, typer.Option(
    "--exclude", help="Not these addresses (glob, repeatable)")]
ForgetOpt = Annotated[list[str] | None, typer.Option(
    "--forget", help="Stop managing these addresses when the vendor cannot delete (glob)")]
LockTimeoutOpt = Annotated[float, typer.Option(
    "--lock-timeout", help="Seconds to wait for the state lock")]


def use_color() -> bool:
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def handled(func: F) -> F:
    """Turn ReconcilerError into a clear message and its exit code; never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ReconcilerError as exc:
            err.print(f"Error: {exc}", markup=False)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            err.print("Interrupted; the state holds every change that finished.")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


@contextmanager
def workspace(directory: Path, sandbox: bool) -> Iterator[Workspace]:
    """Open the directory; with --sandbox, first start the sandboxes its data lives in."""
    if not sandbox:
        yield Workspace.open(directory)
        return
    from reconciler.sandbox.server import RunningSandbox, SandboxSettings  # only when asked for

    probe = load_settings(directory, _placeholder_overrides())
    data = probe.sandbox_data
    with RunningSandbox(SandboxSettings(data_dir=data)) as running:
        yield Workspace.open(directory, running.overrides)


@contextmanager
def locked(ws: Workspace, command: str, timeout_s: float) -> Iterator[None]:
    """Take the workspace lock, saying so when it takes over from a run that died."""
    stale = ws.backend.stale_holder()
    if stale is not None:
        err.print(f"Note: taking over a stale lock ({stale.describe()}; that process is gone).",
                  markup=False)
    with ws.backend.lock(command, timeout_s):
        yield


def _placeholder_overrides() -> dict[str, dict[str, Any]]:
    from reconciler.sandbox.server import provider_overrides

    return provider_overrides("http://127.0.0.1:1")


@app.callback()
def main_options(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log HTTP calls")] = False,
    version: Annotated[bool, typer.Option("--version", help="Print the version")] = False,
) -> None:
    if version:
        typer.echo(f"reconciler {__version__}")
        raise typer.Exit(0)
    if verbose:
        logging.basicConfig(level=logging.DEBUG, format="%(name)s: %(message)s")
        logging.getLogger("httpx").setLevel(logging.WARNING)
        logging.getLogger("httpcore").setLevel(logging.WARNING)


# Each command module registers itself on `app` when imported; this order is the order of --help.
for _commands in ("plan", "apply", "drift", "adopt", "state", "sandbox", "authoring"):
    importlib.import_module(f"reconciler.cli.{_commands}")

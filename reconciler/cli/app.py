"""The Typer app, the options every command shares, and how a command opens its workspace."""

from __future__ import annotations

import functools
import importlib
import logging
import math
import os
import sys
import traceback
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
# Typer's own click (bundled or not): its usage error and the exceptions that end a command.
_CLICK = {c.__name__: c for c in typer.BadParameter.__mro__}
# A usage error (unknown option, value that does not parse) exits 1: 2 means changes or drift.
_USAGE_ERROR: Any = _CLICK["UsageError"]
_USAGE_ERROR.exit_code = 1  # a class attribute click reads
_ENDINGS: tuple[type[BaseException], ...] = (typer.Exit, typer.Abort, _CLICK["ClickException"])


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
MAX_LOCK_TIMEOUT_S = 86_400.0


def _lock_seconds(value: float) -> float:
    """--lock-timeout: a finite number of seconds (nan, inf and negatives are mistakes)."""
    if not math.isfinite(value) or not 0 <= value <= MAX_LOCK_TIMEOUT_S:
        raise typer.BadParameter(f"{value} is not a number of seconds from 0 to "
                                 f"{MAX_LOCK_TIMEOUT_S:.0f} (a day); e.g. --lock-timeout 60")
    return value


LockTimeoutOpt = Annotated[float, typer.Option(
    "--lock-timeout", help="Seconds to wait for the state lock", callback=_lock_seconds)]


def use_color() -> bool:
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def handled(func: F) -> F:
    """Turn ReconcilerError into a clear message and its exit code; never a traceback.
    Anything else is a bug: one line saying so (no message text, which could hold a
    value we were not told is secret), the trace only with --verbose."""

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
        except _ENDINGS:
            raise
        except Exception as exc:  # the last resort: a bug, said in one line
            if VERBOSE.enabled:
                err.print("".join(traceback.format_exception(exc)), markup=False)
            err.print(f"Error: internal error ({type(exc).__name__} at {_innermost(exc)}): this is "
                      "a bug in reconciler; please report it. Run again with --verbose to see the "
                      "trace.", markup=False)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


class VERBOSE:
    """Whether --verbose was given (the last-resort handler then prints the trace)."""

    enabled = False


def _innermost(exc: BaseException) -> str:
    """file:line of the deepest frame inside reconciler (else the deepest frame at all)."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if f"{os.sep}reconciler{os.sep}" in f.filename] or frames
    if not ours:
        return "unknown place"
    frame = ours[-1]
    name = frame.filename.split(f"{os.sep}reconciler{os.sep}", 1)[-1]
    return f"reconciler/{name}:{frame.lineno}" if name != frame.filename else \
        f"{os.path.basename(frame.filename)}:{frame.lineno}"


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
        VERBOSE.enabled = True
        logging.basicConfig(level=logging.DEBUG, format="%(name)s: %(message)s")
        logging.getLogger("httpx").setLevel(logging.WARNING)
        logging.getLogger("httpcore").setLevel(logging.WARNING)


# Each command module registers itself on `app` when imported; this order is the order of --help.
for _commands in ("plan", "apply", "drift", "adopt", "state", "sandbox", "authoring"):
    importlib.import_module(f"reconciler.cli.{_commands}")

"""The Typer app, the options every command shares, and how a command opens its workspace."""

from __future__ import annotations

import functools
import importlib
import math
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from typer.core import TyperCommand, TyperGroup

from reconciler import __version__
from reconciler.errors import ReconcilerError
from reconciler.files import explain
from reconciler.redact import clean

if TYPE_CHECKING:  # start-up: each command imports what it uses, when it runs
    from rich.console import Console

    from reconciler.engine import Workspace


class ReconcilerCommand(TyperCommand):
    """Help as Terraform users read it: `import DIR ADDR ID`, not `{directory} {address} {ID}`,
    and `ADDR  An address...`, not `ADDR <str>`."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                name = param.metavar or str(param.name).upper()
                pieces.append(name if param.required else f"[{name}]")
        return pieces

    def format_options(self, ctx: Any, formatter: Any) -> None:
        records = [(p.param_type_name, p.get_help_record(ctx)) for p in self.get_params(ctx)]
        arguments = [(r[0].split(" ", 1)[0], r[1]) for t, r in records if r and t == "argument"]
        options = [r for t, r in records if r and t == "option"]
        for title, rows in (("Arguments", arguments), ("Options", options)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


class ReconcilerGroup(TyperGroup):
    """-v/--no-color/--version are accepted after any command too, not only before it."""

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is not None and not getattr(command, "_reconciler_common", False):
            command.params.extend(_common_params())
            command._reconciler_common = True  # type: ignore[attr-defined]
            if type(command) is TyperCommand:  # every command reads its help the same way
                command.__class__ = ReconcilerCommand
        return command


HELP_OPTIONS = {"help_option_names": ["-h", "--help"]}
app = typer.Typer(cls=ReconcilerGroup, no_args_is_help=True, add_completion=True,
                  rich_markup_mode=None, context_settings=HELP_OPTIONS,
                  help="Keep the purposes in your SaaS tools equal to YAML manifests.")
state_app = typer.Typer(cls=ReconcilerGroup, no_args_is_help=True, rich_markup_mode=None,
                        context_settings=HELP_OPTIONS, help="Inspect and repair the state.")
app.add_typer(state_app, name="state")
F = TypeVar("F", bound=Callable[..., Any])
_NO_COLOR: list[bool] = []  # set by --no-color / RECONCILER_NO_COLOR


class _Stderr:
    """Rich's console on stderr, made on first use: importing Rich costs every command's start-up."""

    _console: Console | None = None

    @property
    def console(self) -> Console:
        if self._console is None:
            from rich.console import Console

            # emoji=False: "file.yaml:1234:7" must not print as "file.yaml🔢7" (:1234: is an emoji code)
            self._console = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False,
                                    no_color=not use_color(sys.stderr))
        return self._console

    def print(self, *objects: Any, **kwargs: Any) -> None:
        """Messages quote vendors, file names and manifests: their control characters and
        ANSI escapes are dropped (a message cannot forge "Apply complete!" or clear the
        screen); credentials are redacted by the stream itself (reconciler.redact)."""
        self.console.print(*(clean(o, newlines=True) if isinstance(o, str) else o
                             for o in objects), **kwargs)


err = _Stderr()
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


Dir = Annotated[Path, typer.Argument(
    metavar="DIR", help="Manifest directory, the one holding reconciler.yaml")]
Address = Annotated[str, typer.Argument(
    metavar="ADDR", help="An address, <vendor>.<kind>.<key>, e.g. outreach.call_purpose.intro")]
SandboxOpt = Annotated[bool, typer.Option(
    "--sandbox", help="Run against vendor sandboxes started on loopback (data in state/sandbox/)")]
TargetOpt = Annotated[list[str] | None, typer.Option(
    "--target", metavar="ADDR", help="Only these addresses (glob, e.g. 'outreach.*'; repeatable)")]
ExcludeOpt = Annotated[list[str] | None, typer.Option(
    "--exclude", metavar="ADDR", help="Not these addresses (glob; repeatable)")]
ForgetOpt = Annotated[list[str] | None, typer.Option(
    "--forget", metavar="ADDR",
    help="Stop managing these addresses when the vendor cannot delete (glob; repeatable)")]
MAX_LOCK_TIMEOUT_S = 86_400.0


def _lock_seconds(value: float) -> float:
    """--lock-timeout: a finite number of seconds (nan, inf and negatives are mistakes)."""
    if not math.isfinite(value) or not 0 <= value <= MAX_LOCK_TIMEOUT_S:
        raise typer.BadParameter(f"{value} is not a number of seconds from 0 to "
                                 f"{MAX_LOCK_TIMEOUT_S:.0f} (a day); e.g. --lock-timeout 60")
    return value


LockTimeoutOpt = Annotated[float, typer.Option(
    "--lock-timeout", metavar="SECONDS", callback=_lock_seconds, envvar="RECONCILER_LOCK_TIMEOUT",
    show_envvar=True, help="Seconds to wait for the state lock held by another run")]


def use_color(stream: Any = None) -> bool:
    """Colour only where a terminal shows it: --no-color and NO_COLOR win, then FORCE_COLOR;
    TERM=dumb or a stream that is not a terminal is plain (no-color.org, force-color.org)."""
    if _NO_COLOR or os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    if os.environ.get("TERM") == "dumb":
        return False
    return bool((stream or sys.stdout).isatty())


def _verbose(value: bool) -> None:
    if value and not VERBOSE.enabled:
        VERBOSE.enabled = True
        import logging  # start-up: only when asked for

        handler = logging.StreamHandler()  # this run's stderr
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        levels = {name: logging.getLogger(name).level for name in ("", "httpx", "httpcore")}
        logging.getLogger().addHandler(handler)
        logging.getLogger().setLevel(logging.DEBUG)
        logging.getLogger("httpx").setLevel(logging.WARNING)
        logging.getLogger("httpcore").setLevel(logging.WARNING)

        def undo() -> None:
            logging.getLogger().removeHandler(handler)
            for name, level in levels.items():
                logging.getLogger(name).setLevel(level)

        VERBOSE.undo = undo


def _no_color(value: bool) -> None:
    if value:
        _NO_COLOR.append(True)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"reconciler {__version__}")
        raise typer.Exit(0)


VerboseOpt = Annotated[bool, typer.Option(
    "--verbose", "-v", callback=_verbose, expose_value=False, envvar="RECONCILER_VERBOSE",
    show_envvar=True, help="Log every HTTP call (method, path, status; never headers)")]
NoColorOpt = Annotated[bool, typer.Option(
    "--no-color", callback=_no_color, expose_value=False, envvar="RECONCILER_NO_COLOR",
    show_envvar=True, help="Plain text, no colour (NO_COLOR=1 does the same)")]
VersionOpt = Annotated[bool, typer.Option(
    "--version", callback=_version, expose_value=False, is_eager=True,
    help="Print the version and exit")]


def _common(verbose: VerboseOpt = False, no_color: NoColorOpt = False,
            version: VersionOpt = False) -> None:
    """The options every command takes, wherever they stand on the command line."""


@functools.cache
def _common_params() -> list[Any]:
    holder = typer.Typer(add_completion=False)
    holder.command()(_common)
    return list(typer.main.get_command(holder).params)


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
        except OSError as exc:  # the machine's doing (disk full, read-only, gone): not a bug
            err.print(f"Error: {explain(exc)}", markup=False)
            raise typer.Exit(1) from None
        except MemoryError:
            err.print("Error: out of memory; free some memory or run on a larger machine "
                      "(limits on answer sizes and YAML aliases are in the README's Reliability "
                      "section)", markup=False)
            raise typer.Exit(1) from None
        except Exception as exc:  # the last resort: a bug, said in one line
            if VERBOSE.enabled:
                import traceback

                err.print("".join(traceback.format_exception(exc)), markup=False)
            err.print(f"Error: internal error ({type(exc).__name__} at {_innermost(exc)}): this is "
                      "a bug in reconciler; please report it. Run again with --verbose to see the "
                      "trace.", markup=False)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


class VERBOSE:
    """Whether --verbose was given (the last-resort handler then prints the trace), and how
    to take its log handler away when the run ends."""

    enabled = False
    undo: Callable[[], None] | None = None


@contextmanager
def run() -> Iterator[None]:
    """One command line's options (--verbose, --no-color), stderr console and log handler last
    as long as the run: a process that runs the CLI more than once (the tests; a service
    later) starts each run as a new process would."""
    _NO_COLOR.clear()
    VERBOSE.enabled, VERBOSE.undo, err._console = False, None, None
    try:
        yield
    finally:
        if VERBOSE.undo is not None:
            VERBOSE.undo()
        _NO_COLOR.clear()
        VERBOSE.enabled, VERBOSE.undo, err._console = False, None, None


def _innermost(exc: BaseException) -> str:
    """file:line of the deepest frame inside reconciler (else the deepest frame at all)."""
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if f"{os.sep}reconciler{os.sep}" in f.filename] or frames
    if not ours:
        return "unknown place"
    frame = ours[-1]
    name = frame.filename.split(f"{os.sep}reconciler{os.sep}", 1)[-1]
    return f"reconciler/{name}:{frame.lineno}" if name != frame.filename else \
        f"{os.path.basename(frame.filename)}:{frame.lineno}"


def notice(message: str) -> None:
    """The engine's notices (lock waits, stale locks) go to stderr."""
    err.print(message, markup=False)


@contextmanager
def workspace(directory: Path, sandbox: bool) -> Iterator[Workspace]:
    """Open the directory for one command; with --sandbox, on sandboxes started for it."""
    from reconciler.engine import Workspace

    with Workspace.session(directory, sandbox, notice=notice) as ws:
        yield ws


def offline_workspace(directory: Path) -> Workspace:
    """The state needs no vendor credentials: the workspace is opened offline."""
    from reconciler.engine import Workspace

    return Workspace.open(directory, offline=True, notice=notice)


def check_order(directory: Path, address: str, usage: str) -> None:
    """Arguments given in the wrong order (an address where the directory goes) are answered
    with the right order, not with "ADDR: not a directory"."""
    from reconciler.errors import ConfigError

    if not directory.is_dir() and Path(address).is_dir():
        raise ConfigError(f"{directory} is not a directory but {address} is: the arguments are "
                          f"swapped; the order is `{usage}`")


@app.callback()
def main_options(verbose: VerboseOpt = False, no_color: NoColorOpt = False,
                 version: VersionOpt = False) -> None:
    """Keep the purposes in your SaaS tools equal to YAML manifests."""


# Each command module registers itself on `app` when imported; this order is the order of --help.
for _commands in ("plan", "show", "apply", "drift", "adopt", "state", "sandbox", "authoring"):
    importlib.import_module(f"reconciler.cli.{_commands}")

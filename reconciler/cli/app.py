"""The Typer app, the options every command shares, and how a command opens its workspace."""

from __future__ import annotations

import functools
import importlib
import inspect
import math
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, TypeVar

import typer
from typer.core import TyperCommand, TyperGroup
from typer.models import CommandInfo

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

    def make_parser(self, ctx: Any) -> Any:
        """Terraform's single-dash spellings are accepted too (`-auto-approve`, `-out=FILE`,
        `-target ADDR`): each --long option answers to -long as well, unlisted in help."""
        parser = super().make_parser(ctx)
        for name, option in list(parser._long_opt.items()):
            if name.startswith("--") and len(name) > 3:
                parser._long_opt.setdefault(name[1:], option)
        return parser

    def format_options(self, ctx: Any, formatter: Any) -> None:
        records = [(p.param_type_name, p.get_help_record(ctx)) for p in self.get_params(ctx)]
        arguments = [(r[0].split(" ", 1)[0], r[1]) for t, r in records if r and t == "argument"]
        options = [r for t, r in records if r and t == "option"]
        for title, rows in (("Arguments", arguments), ("Options", options)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


class _Unbuilt(TyperCommand):
    """A command as the list of commands shows it (name, first line of help), its options not
    built yet: Typer builds a command's options from its signature, evaluating every annotation
    (~0.7 ms a command), and a run needs those of one command only (start-up)."""

    def __init__(self, info: CommandInfo, pretty_exceptions_short: bool, markup: Any) -> None:
        assert info.callback is not None
        super().__init__(info.name or typer.main.get_command_name(info.callback.__name__),
                         help=inspect.getdoc(info.callback) if info.help is None
                         else inspect.cleandoc(info.help),
                         short_help=info.short_help, hidden=info.hidden,
                         deprecated=info.deprecated, rich_markup_mode=markup)
        self.info, self.pretty_exceptions_short = info, pretty_exceptions_short

    def build(self) -> Any:
        return typer.main.get_command_from_info(
            self.info, pretty_exceptions_short=self.pretty_exceptions_short,
            rich_markup_mode=self.rich_markup_mode)


def _not_given_is_false(option: Any) -> Any:
    """A group's flags that Typer leaves at None when not given (-h, --install-completion)
    read False instead: the same answer, but Typer coerces a None through a pydantic
    TypeAdapter, and importing pydantic for that is most of `reconciler plan --help`."""
    if getattr(option, "is_flag", False) and option.default is None:
        option.default = False
    return option


class ReconcilerGroup(TyperGroup):
    """-v/--no-color/--version are accepted after any command too, not only before it."""

    unbuilt: ClassVar[tuple[CommandInfo, ...]] = ()  # set by deferred(): the commands built when resolved
    pretty_exceptions_short = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        listed = [_Unbuilt(info, self.pretty_exceptions_short, self.rich_markup_mode)
                  for info in self.unbuilt]  # before the groups, as Typer orders them
        self.commands = {**{str(c.name): c for c in listed}, **self.commands}

    def get_params(self, ctx: Any) -> list[Any]:
        return [_not_given_is_false(p) for p in super().get_params(ctx)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if isinstance(command, _Unbuilt):  # listed (help, completion): built once resolved
            return command
        if command is not None and not getattr(command, "_reconciler_common", False):
            command.params.extend(_common_params())
            command._reconciler_common = True  # type: ignore[attr-defined]
            if type(command) is TyperCommand:  # every command reads its help the same way
                command.__class__ = ReconcilerCommand
        return command

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        """The command about to run (or show its own help) gets the vendors' options; the
        list of commands (`--help`) never loads the vendor registry (start-up)."""
        name, command, rest = super().resolve_command(ctx, args)
        if isinstance(command, _Unbuilt):
            self.commands[str(name)] = command.build()
            command = self.get_command(ctx, str(name))
        if command is not None and not getattr(command, "_reconciler_vendors", False):
            at = len(command.params) - len(_common_params())  # before -v/--no-color/--version
            command.params[at:at] = _vendor_params(name or "")
            command._reconciler_vendors = True  # type: ignore[attr-defined]
        return name, command, rest


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
EnvOpt = Annotated[list[str] | None, typer.Option(
    "--env", "-e", metavar="NAME", envvar="RECONCILER_ENV", show_envvar=True,
    help="Environment declared in reconciler.yaml (repeatable; globs; '*' for all)")]


def _parallel(value: int) -> int:
    if not 1 <= value <= 256:
        raise typer.BadParameter(f"{value} is not a number of environments from 1 to 256")
    return value


ParallelOpt = Annotated[int, typer.Option(
    "--parallel", metavar="N", callback=_parallel,
    help="Environments run at once (per-vendor limits still hold per tenant)")]
FailFastOpt = Annotated[bool, typer.Option(
    "--fail-fast", help="Start no further environment once one has failed")]
ReplaceOpt = Annotated[list[str] | None, typer.Option(
    "--replace", metavar="ADDR",
    help="Delete and create again (where the vendor deletes; glob; repeatable)")]
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
        logging.getLogger("asyncio").setLevel(logging.WARNING)  # "Using selector: ...": noise

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


def _vendor_params(command: str) -> list[Any]:
    """The options vendors add to this command (Vendor.cli_options); each value is kept for
    the command under the vendor's name (vendor_options())."""
    import inspect

    from reconciler.providers.registry import vendors

    parameters = []
    for vendor in vendors().values():
        for option in vendor.cli_options.get(command, ()):
            declared = typer.Option(option.flag, metavar=option.metavar, help=option.help,
                                    callback=_keeper(vendor.name, option.key), expose_value=False)
            name = option.flag.lstrip("-").replace("-", "_")
            parameters.append(inspect.Parameter(
                name, inspect.Parameter.KEYWORD_ONLY, default=option.default,
                annotation=Annotated[option.type | None, declared]))
    if not parameters:
        return []

    def holder(**_: Any) -> None:
        """Carries the vendors' options."""

    holder.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    carrier = typer.Typer(add_completion=False)
    carrier.command()(holder)
    return list(typer.main.get_command(carrier).params)


_VENDOR_OPTIONS = "reconciler.vendor_options"


def _keeper(vendor: str, key: str) -> Callable[[typer.Context, Any], None]:
    def keep(ctx: typer.Context, value: Any) -> None:
        ctx.meta.setdefault(_VENDOR_OPTIONS, {}).setdefault(vendor, {})[key] = value

    return keep


def vendor_options(ctx: typer.Context) -> dict[str, dict[str, Any]]:
    """The values of the vendors' own options given to the running command, by vendor."""
    return dict(ctx.meta.get(_VENDOR_OPTIONS, {}))


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
def workspace(directory: Path, sandbox: bool, environment: str | None = None) -> Iterator[Workspace]:
    """Open the directory for one command; with --sandbox, on sandboxes started for it."""
    from reconciler.engine import Workspace

    with Workspace.session(directory, sandbox, notice=notice, environment=environment) as ws:
        yield ws


def offline_workspace(directory: Path, sandbox: bool = False,
                      environment: str | None = None) -> Workspace:
    """The state needs no vendor credentials: the workspace is opened offline (with
    --sandbox: the state beside the sandboxes' data)."""
    from reconciler.engine import Workspace

    return Workspace.offline(directory, sandbox, notice=notice, environment=environment)


def environments(directory: Path, given: list[str] | None, command: str) -> list[str] | None:
    """The environments a command runs in: None where the directory declares none (and no
    --env was given); in a directory that declares some, --env (or RECONCILER_ENV) is
    required: explicit beats a surprise against production."""
    from reconciler.errors import ConfigError
    from reconciler.manifest.environments import read_declared, selection

    patterns = selection(given)
    declared = read_declared(directory) if directory.is_dir() else None
    if not declared:
        if patterns:
            raise ConfigError(f"--env {patterns[0]}: {directory} declares no environments "
                              "(environments: or environments_dir: in reconciler.yaml); run "
                              "without --env")
        return None
    if not patterns:
        raise declared.required(command)
    return declared.select(patterns)


def one_environment(directory: Path, given: list[str] | None, command: str) -> str | None:
    """A command that works on one state at a time takes exactly one environment."""
    from reconciler.errors import ConfigError

    names = environments(directory, given, command)
    if names is not None and len(names) != 1:
        raise ConfigError(f"{command} works on one environment at a time; --env matched "
                          f"{len(names)} ({', '.join(names)}): name one")
    return names[0] if names else None


def as_fleet(given: list[str] | None, names: list[str] | None) -> bool:
    """Fleet output (headings, a summary) for several environments, or any glob; one
    environment named plainly prints as a directory without environments does."""
    from reconciler.manifest.environments import selection

    patterns = selection(given)
    return names is not None and (len(names) > 1 or any(c in p for p in patterns for c in "*?["))


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


def deferred(typer_app: typer.Typer) -> None:
    """The app's commands are built when one is resolved, not all whenever the app runs."""
    base = typer_app.info.cls
    assert isinstance(base, type) and issubclass(base, ReconcilerGroup)
    typer_app.info.cls = type(base.__name__, (base,), {
        "unbuilt": tuple(typer_app.registered_commands),
        "pretty_exceptions_short": typer_app.pretty_exceptions_short})
    typer_app.registered_commands = []


# Each command module registers itself on `app` when imported; this order is the order of --help.
for _commands in ("plan", "show", "apply", "drift", "history", "adopt", "state", "sandbox",
                  "authoring", "fleet", "serve"):
    importlib.import_module(f"reconciler.cli.{_commands}")
deferred(app)
deferred(state_app)


@functools.cache
def command() -> Any:
    """`app` as the click command it runs, built once per process: Typer builds it anew on
    every call (~20 ms), which a process running the CLI more than once (the tests) paid
    on every run."""
    return typer.main.get_command(app)

"""The environments one `serve` watches, each opened afresh for every run.

A run reads the manifests and reconciler.yaml as they are on disk now (a fresh Workspace),
so an edit is seen by the next run without a restart. With `--sandbox`, each environment's
sandboxes are started once for the service's life and every run talks to them.

A directory that declares `environments:` (or `environments_dir:`) is watched whole by
default, or the ones `--env` picks (globs); one that declares none is one environment,
named "default" (the name its runs are recorded under).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.engine import Notice, Workspace
from reconciler.errors import ConfigError
from reconciler.history.model import DEFAULT_ENVIRONMENT
from reconciler.manifest.environments import read_declared, selection


@dataclass
class Environment:
    name: str
    directory: Path
    declared: bool = False  # one of the directory's environments (else the directory itself)
    sandbox: bool = False
    vendors: tuple[str, ...] = ()  # the configured providers, for the fleet's columns
    _base: Workspace | None = field(default=None, repr=False)

    @property
    def environment(self) -> str | None:
        """What the engine is asked to open: the environment, or None (no environments)."""
        return self.name if self.declared else None

    def open(self, notice: Notice) -> Workspace:
        """A workspace for one run: the files as they are now."""
        if self._base is not None:  # --sandbox: the running sandboxes' settings and state
            return Workspace(self._base.settings, self._base.backend, sandbox=True, notice=notice,
                             env=self._base.env)
        return Workspace.open(self.directory, notice=notice, environment=self.environment)


def select(directory: Path, given: list[str] | None) -> tuple[list[str], bool]:
    """The environment names `--env` (or RECONCILER_ENV) picks, every declared one by
    default; and whether the directory declares environments at all."""
    patterns = selection(given)
    declared = read_declared(directory) if directory.is_dir() else None
    if declared:
        return declared.select(patterns or ["*"]), True
    if any(p not in ("*", DEFAULT_ENVIRONMENT) for p in patterns):
        raise ConfigError(f"--env {', '.join(patterns)}: {directory} declares no environments "
                          f"(environments: or environments_dir: in reconciler.yaml); its one "
                          f"environment is {DEFAULT_ENVIRONMENT!r}")
    return [DEFAULT_ENVIRONMENT], False


@contextmanager
def opened(directory: Path, given: list[str] | None, sandbox: bool) -> Iterator[list[Environment]]:
    """The chosen environments, each checked once now (a broken one fails the start), and
    two of them never keeping one state."""
    with ExitStack() as stack:
        names, declared = select(directory, given)
        chosen: list[Environment] = []
        states: dict[str, str] = {}
        for name in names:
            environment = name if declared else None
            if sandbox:
                base = stack.enter_context(Workspace.session(directory, sandbox=True,
                                                             environment=environment))
            else:
                base = Workspace.open(directory, environment=environment)
            where = base.backend.describe()
            other = states.setdefault(where, name)
            if other != name:
                raise ConfigError(f"environment {name!r} keeps its state where {other!r} does "
                                  f"({where}); give each environment its own state")
            chosen.append(Environment(name, directory, declared, sandbox,
                                      tuple(base.settings.providers), base if sandbox else None))
        yield chosen

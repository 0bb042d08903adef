"""The environments one `serve` watches, each opened afresh for every run.

A run reads the manifests and reconciler.yaml as they are on disk now (a fresh Workspace),
so an edit is seen by the next run without a restart. With `--sandbox`, the sandboxes are
started once for the service's life and every run talks to them.

Until `environments:` (reconciler.engine.fleet) lands, a directory is one environment,
named "default"; everything above this module already keys its work by environment name.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.engine import Notice, Workspace
from reconciler.errors import ConfigError
from reconciler.history.model import DEFAULT_ENVIRONMENT


@dataclass
class Environment:
    name: str
    directory: Path
    sandbox: bool = False
    vendors: tuple[str, ...] = ()  # the configured providers, for the fleet's columns
    _base: Workspace | None = field(default=None, repr=False)

    def open(self, notice: Notice) -> Workspace:
        """A workspace for one run: the files as they are now."""
        if self._base is not None:  # --sandbox: the running sandboxes' settings and state
            return Workspace(self._base.settings, self._base.backend, sandbox=True, notice=notice)
        return Workspace.open(self.directory, notice=notice)


def select(directory: Path, patterns: list[str]) -> list[str]:
    """The environment names `--env` chooses; without environments, the directory's one."""
    if patterns and any(p not in ("*", DEFAULT_ENVIRONMENT) for p in patterns):
        raise ConfigError(f"--env {', '.join(patterns)}: {directory} declares no environments "
                          f"(its one environment is {DEFAULT_ENVIRONMENT!r})")
    return [DEFAULT_ENVIRONMENT]


@contextmanager
def opened(directory: Path, patterns: list[str], sandbox: bool) -> Iterator[list[Environment]]:
    """The chosen environments, checked once now (a broken reconciler.yaml fails the start)."""
    with ExitStack() as stack:
        chosen = []
        for name in select(directory, patterns):
            if sandbox:
                base = stack.enter_context(Workspace.session(directory, sandbox=True))
            else:
                base = Workspace.open(directory)
            chosen.append(Environment(name, directory, sandbox, tuple(base.settings.providers),
                                      base if sandbox else None))
        yield chosen

"""One manifest directory opened for work: settings, desired objects, state backend, providers.

Every verb (plan, apply, drift, import, ...) starts from a Workspace; the CLI
builds it and the verbs read from it, so no verb re-implements loading.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.manifest.loader import Desired, load_desired
from reconciler.manifest.settings import Settings, load_settings
from reconciler.perf import Sharing
from reconciler.plan.builder import PlanOptions
from reconciler.plan.verb import plan_options
from reconciler.providers.base import Kind
from reconciler.providers.connected import Providers
from reconciler.providers.registry import providers as provider_registry
from reconciler.state.base import StateBackend, StateDoc
from reconciler.state.registry import BACKENDS


@dataclass
class Workspace:
    settings: Settings
    backend: StateBackend
    sandbox: bool = False  # run against sandboxes started by the command, with their own state

    def target(self) -> dict[str, Any]:
        """What a plan made here is bound to (see reconciler/apply/binding.py)."""
        from reconciler.apply.binding import plan_target

        return plan_target(self.settings, self.backend, self.sandbox)

    @classmethod
    def open(cls, directory: Path, overrides: Mapping[str, Mapping[str, Any]] | None = None,
             env: Mapping[str, str] | None = None, offline: bool = False) -> Workspace:
        settings = load_settings(directory, overrides, env, offline)
        return cls(settings, open_backend(settings))

    def desired(self, env: Mapping[str, str] | None = None) -> Desired:
        return load_desired(self.settings, env)

    def state(self, desired: Desired) -> StateDoc:
        """The state, sharing the declared attribute dicts where nothing changed."""
        self.backend.sharing = Sharing({a: o.attributes for a, o in desired.objects.items()})
        return self.backend.read()

    def kinds(self) -> dict[str, type[Kind]]:
        """Kind classes of every configured provider, by kind address."""
        registry = provider_registry()
        return {f"{kind.vendor}.{kind.name}": kind
                for name in self.settings.providers for kind in registry[name].kinds}

    def plan_options(self, targets: list[str] | None = None, excludes: list[str] | None = None,
                     forget: list[str] | None = None) -> PlanOptions:
        return plan_options(self.settings, self.kinds(), targets or [], excludes or [], forget or [])

    def connect(self) -> Providers:
        registry = provider_registry()
        return Providers({name: registry[name](settings)
                          for name, settings in self.settings.providers.items()})


def open_backend(settings: Settings) -> StateBackend:
    return BACKENDS[settings.state.backend].open(settings.state, settings.directory)

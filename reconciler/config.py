"""reconciler.yaml -> Settings: where the state lives and how to reach each vendor."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from reconciler import yamlsource
from reconciler.errors import ConfigError, Diagnostic, ManifestError
from reconciler.providers.base import ProviderSettings
from reconciler.providers.registry import providers as provider_registry
from reconciler.validation import describe, errors, suggest

CONFIG_FILE = "reconciler.yaml"


class StateSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    backend: Literal["local", "postgres"] = Field("local", description="Where the state is kept")
    path: str = Field("state/default.json", description="local: file, relative to reconciler.yaml")
    url: str | None = Field(None, description="postgres: postgresql://user@host/db")
    workspace: str = Field("default", pattern=r"^[A-Za-z0-9_.-]+$",
                           description="postgres: one row per workspace")


class ConfigFile(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    state: StateSettings = Field(default_factory=StateSettings)
    providers: dict[str, dict[str, Any]] = Field(default_factory=dict)


@dataclass
class Settings:
    directory: Path
    config_file: Path
    state: StateSettings
    providers: dict[str, ProviderSettings]
    secrets: list[str]

    @property
    def state_path(self) -> Path:
        return (self.directory / self.state.path).resolve()

    @property
    def sandbox_data(self) -> Path:
        """Where `--sandbox` keeps the emulated vendors' data: beside the local state."""
        if self.state.backend == "local":
            return self.state_path.parent / "sandbox"
        return (self.directory / "state" / "sandbox").resolve()


def load_settings(directory: Path, overrides: Mapping[str, Mapping[str, Any]] | None = None,
                  env: Mapping[str, str] | None = None, offline: bool = False) -> Settings:
    """Read and check reconciler.yaml; `overrides` replace provider fields (used by --sandbox).

    `offline` is for commands that never call a vendor (state list/show/rm, force-unlock):
    they must work without the vendors' credentials in the environment.
    """
    overrides = overrides or {}
    if not directory.is_dir():
        raise ConfigError(f"{directory}: not a directory; pass the manifest directory "
                          f"(the one holding {CONFIG_FILE})")
    path = directory / CONFIG_FILE
    if not path.is_file():
        raise ConfigError(f"{path}: not found; create it (see `reconciler init`) or pass the "
                          f"directory that holds it")
    document = yamlsource.load(path, _display(path), os.environ if env is None else env, 4)
    diagnostics = [d for d in document.diagnostics
                   if not _overridden(d.path, overrides) and not (offline and d.path[:1] == ("providers",))]
    if diagnostics or document.data is None:
        raise ManifestError(diagnostics or document.diagnostics)
    try:
        raw = ConfigFile.model_validate(document.data)
    except ValidationError as exc:
        raise ManifestError([Diagnostic(yamlsource.locate(document, e["loc"]), f"{_dotted(e['loc'])}: "
                                        f"{describe(e, ConfigFile)}") for e in errors(exc)]) from None
    known = provider_registry()
    settings: dict[str, ProviderSettings] = {}
    problems: list[Diagnostic] = []
    for name, values in raw.providers.items():
        if name not in known:
            problems.append(Diagnostic(yamlsource.locate(document, ("providers", name), key=True),
                                       f"providers: unknown vendor '{name}'{suggest(name, known)} "
                                       f"(known: {', '.join(sorted(known))})"))
            continue
        model = known[name].settings_model
        try:
            settings[name] = model.model_validate({**(values or {}), **overrides.get(name, {})})
        except ValidationError as exc:
            problems.extend(
                Diagnostic(yamlsource.locate(document, ("providers", name, *e["loc"])),
                           f"providers.{name}.{_dotted(e['loc'])}: {describe(e, model)}")
                for e in errors(exc))
    if problems:
        raise ManifestError(problems)
    if raw.state.backend == "postgres" and not raw.state.url:
        raise ManifestError([Diagnostic(yamlsource.locate(document, ("state",)),
                                        "state.url: required with backend: postgres")])
    secrets = [s for p in settings.values() for s in p.secrets()]
    if raw.state.url and (password := urlsplit(raw.state.url).password):
        secrets.append(password)
    return Settings(directory, path, raw.state, settings, secrets)


def _overridden(path: tuple[str | int, ...], overrides: Mapping[str, Mapping[str, Any]]) -> bool:
    return len(path) == 3 and path[0] == "providers" and path[2] in overrides.get(str(path[1]), {})


def _dotted(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc)


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)

"""reconciler.yaml -> Settings: where the state lives and how to reach each vendor."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from pydantic_core import ErrorDetails

from reconciler.errors import ConfigError, Diagnostic, ManifestError, Source
from reconciler.history.settings import HistorySettings
from reconciler.manifest import credentials, environments
from reconciler.manifest import source as yamlsource
from reconciler.manifest.environments import EnvironmentBlock
from reconciler.manifest.files import CONFIG_FILE as CONFIG_FILE  # where users' scripts found it
from reconciler.manifest.validation import describe, errors, suggest
from reconciler.providers.base import Provider, ProviderSettings
from reconciler.providers.registry import kinds_by_collection
from reconciler.providers.registry import providers as provider_registry
from reconciler.redact import conninfo_secrets, register
from reconciler.service.settings import Webhook
from reconciler.state.registry import BACKENDS, DEFAULT
from reconciler.state.settings import BackendSettings

_EMPTY = (f"{CONFIG_FILE} is empty; declare at least one vendor under providers: (see the README's "
          "Manifests section)")


StateSettings = BackendSettings
"""`state:` as checked by the chosen backend's own model (reconciler.state.registry)."""

StateChoice = create_model(
    "StateChoice", __config__=ConfigDict(extra="allow", strict=True),
    backend=(Literal.__getitem__(tuple(BACKENDS)),  # type: ignore[arg-type]
             Field(DEFAULT, description="Where the state is kept")))
"""The first step of checking `state:`: which backend; its own model checks the rest."""


class ConfigFile(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    state: StateChoice = Field(default_factory=StateChoice)
    providers: dict[str, dict[str, Any]] = Field(default_factory=dict)
    variables: list[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]] = Field(
        default_factory=list, description=(
            "Environment variables the manifests may use as ${VAR}; any other is an error, so "
            "that a pull request cannot print CI secrets (reconciler.yaml itself reads any)"))
    history: HistorySettings = Field(default_factory=HistorySettings, description=(
        "The run history kept in the state backend (`reconciler history`)"))
    notify: list[Webhook] = Field(default_factory=list, description=(
        "Webhooks `reconciler serve` alerts on drift found, drift resolved and apply failed"))
    environments: dict[str, EnvironmentBlock] | None = Field(None, description=(
        "Named environments (lower-case letters, digits, '-', '_'), each overriding variables, "
        "providers and state; commands then take --env NAME"))
    environments_dir: str | None = Field(None, description=(
        "A folder (relative to this file) whose <name>.yaml files are one environment each, "
        "with the keys of an entry of environments:"))


@dataclass
class Settings:
    directory: Path
    config_file: Path
    state: StateSettings
    providers: dict[str, ProviderSettings]
    secrets: list[str]
    variables: frozenset[str] = frozenset()
    """What manifests may interpolate (`variables:`)."""
    history: HistorySettings = dataclass_field(default_factory=HistorySettings)
    notify: list[Webhook] = dataclass_field(default_factory=list)
    environment: str | None = None
    """The environment these settings are for (None: the top level, or no environments)."""
    environment_variables: Mapping[str, str] = dataclasses.field(default_factory=dict)
    """The environment's `variables:`, read by the manifests over the process environment."""
    environments: tuple[str, ...] = ()
    """Every environment the directory declares."""
    environment_file: Path | None = None
    """The environment's own file (environments_dir), part of the manifests' digest."""
    environments_folder: Path | None = None
    """environments_dir, which the manifest loader skips."""
    states_folder: Path | None = None
    """Where the environments kept apart keep their states (state/ of state/<env>/...): the
    manifest loader skips it whole, and looks only at its own level for misplaced manifests."""

    @property
    def state_path(self) -> Path:
        """The local backend's file (what `state.path` names)."""
        return (self.directory / str(getattr(self.state, "path", ""))).resolve()

    @property
    def sandbox_data(self) -> Path:
        """Where `--sandbox` keeps the emulated vendors' data: beside the local state."""
        folder = self.state.folder(self.directory)
        data = folder / "sandbox" if folder else (self.directory / "state" / "sandbox").resolve()
        return data / self.environment if self.environment else data  # each its own sandbox


def load_settings(directory: Path, overrides: Mapping[str, Mapping[str, Any]] | None = None,
                  env: Mapping[str, str] | None = None, offline: bool = False,
                  need_state: bool = True, environment: str | None = None) -> Settings:
    """Read and check reconciler.yaml; `overrides` replace provider fields (used by --sandbox).

    `offline` is for commands that never call a vendor (validate, state list/show/rm,
    force-unlock): they must work without the vendors' credentials in the environment, and
    a provider whose credentials are unset is still configured (with placeholders never
    sent anywhere). `need_state=False` (validate) does not need the state's settings either.
    `environment` merges that environment's layer over the top level (see environments.py).
    """
    overrides = overrides or {}
    if not directory.is_dir():
        raise ConfigError(f"{directory}: not a directory; pass the manifest directory "
                          f"(the one holding {CONFIG_FILE})")
    path = directory / CONFIG_FILE
    if not path.is_file() and not path.exists() and not path.is_symlink():
        raise ConfigError(f"{path}: not found; create it (see `reconciler init`) or pass the "
                          f"directory that holds it")
    document = yamlsource.load(path, yamlsource.display_path(path), os.environ if env is None else env, 4)
    original = document.data if isinstance(document.data, dict) else {}
    layered = None
    if isinstance(document.data, dict):
        for block in (original.get("environments") or {}).values() \
                if isinstance(original.get("environments"), dict) else ():
            register(credentials.raw_secrets(block))  # every environment's, redacted everywhere
        named = original.get("variables")
        layered = environments.select(document, environment, os.environ if env is None else env,
                                      [v for v in named if isinstance(v, str)]
                                      if isinstance(named, list) else [])
        document = layered.document
    skipped = {("providers",)} if offline else set()
    skipped |= set() if need_state else {("state",)}
    diagnostics = [d for d in document.diagnostics
                   if not _overridden(d.path, overrides) and d.path[:1] not in skipped]
    # Values with an unset ${VAR}: reported once (above), not again as empty or invalid values.
    unresolved = {d.path for d in document.diagnostics if d.path}
    register(credentials.raw_secrets(document.data))  # redacted even if validation fails
    if document.data is None:
        raise ManifestError([Diagnostic(d.source, _EMPTY) if d.message == yamlsource.EMPTY_FILE else d
                             for d in diagnostics or document.diagnostics])
    if not isinstance(document.data, dict):
        raise ManifestError([Diagnostic(Source(document.file, 1, 1), (
            f"expected a mapping with providers: (and optionally state:) at the top of the file, got "
            f"{type(document.data).__name__ if document.data is not None else 'nothing'}"))])
    problems = list(diagnostics)  # all reported together
    try:
        raw = ConfigFile.model_validate({**document.data, **{
            k: original[k] for k in ("environments", "environments_dir") if k in original}})
    except ValidationError as exc:
        raise ManifestError(problems + [Diagnostic(yamlsource.locate(document, e["loc"], _at_key(e)),
                                                   f"{_dotted(e['loc'])}: {describe(e, ConfigFile)}")
                                        for e in errors(exc) if tuple(e["loc"]) not in unresolved]) from None
    known = provider_registry()
    settings: dict[str, ProviderSettings] = {}
    for name, values in raw.providers.items():
        if name not in known:
            problems.append(Diagnostic(yamlsource.locate(document, ("providers", name), key=True),
                                       f"providers: unknown vendor '{name}'{suggest(name, known)} "
                                       f"(known: {', '.join(sorted(known))})"))
            continue
        model = known[name].settings_model
        values = {**(values or {}), **overrides.get(name, {})}
        if offline:
            values.update(_placeholders(name, values, unresolved))
        try:
            settings[name] = model.model_validate(values)
        except ValidationError as exc:
            problems.extend(
                Diagnostic(yamlsource.locate(document, ("providers", name, *e["loc"]), _at_key(e)),
                           f"providers.{name}.{_dotted(e['loc'])}: {describe(e, model)}")
                for e in errors(exc) if ("providers", name, *e["loc"]) not in unresolved)
        else:
            problems.extend(_check_provider(document, name, known[name], settings[name],
                                            offline, unresolved))
    if problems:
        raise ManifestError(problems)
    state = _state(document, raw.state.model_dump(), unresolved, need_state)
    states_folder = None
    if environment is not None and layered is not None and not layered.own_state:
        states_folder = state.folder(directory)
        state = _kept_apart(state, environment)
    secrets = [s for p in settings.values() for s in p.secrets() if s != OFFLINE_VALUE]
    credential = state.credential()
    secrets += conninfo_secrets(credential) if credential else []
    register(secrets)
    problems = credentials.check(document, settings, credential if need_state else None,
                                 secrets, hygiene=not offline)
    if problems:
        raise ManifestError(problems)
    result = Settings(directory, path, state, settings, secrets, frozenset(raw.variables),
                      raw.history, raw.notify)
    if layered is not None:
        result.environment = environment
        result.environment_variables = layered.variables
        result.environments = tuple(layered.declared.names)
        result.environments_folder = layered.declared.folder
        result.states_folder = states_folder
        if environment is not None and layered.document.layers \
                and layered.document.layers[0][0].path != path:
            result.environment_file = layered.document.layers[0][0].path
    return result


def _kept_apart(state: StateSettings, environment: str) -> StateSettings:
    """An environment that does not say where its state is keeps it apart from the others':
    a local file in state/<environment>/, a PostgreSQL workspace <workspace>-<environment>.
    Two environments never share a state or a lock by omission."""
    values = state.model_dump()
    if "path" in values:
        where = Path(str(values["path"]))
        return state.model_copy(update={"path": str(where.parent / environment / where.name)})
    if "workspace" in values:
        return state.model_copy(update={"workspace": f"{values['workspace']}-{environment}"})
    return state


def _state(document: yamlsource.Document, values: dict[str, Any],
           unresolved: set[tuple[str | int, ...]], need_state: bool) -> StateSettings:
    """`state:` checked by the chosen backend's model (the union's second step)."""
    name = values["backend"]
    model = BACKENDS[name].settings_model()
    problems: list[Diagnostic] = []
    try:
        state = model.model_validate(values)
    except ValidationError as exc:
        state = model.model_construct(**values)
        problems = [Diagnostic(yamlsource.locate(document, ("state", *e["loc"]), _at_key(e)),
                               f"state.{_dotted(e['loc'])}: {_other_backend(e, name) or describe(e, model)}")
                    for e in errors(exc) if ("state", *e["loc"]) not in unresolved]
    missing = state.missing()
    if missing and not any(p[:1] == ("state",) for p in unresolved):
        problems.insert(0, Diagnostic(yamlsource.locate(document, ("state",)), missing))
    if problems and need_state:
        raise ManifestError(problems)
    return state


def _other_backend(error: ErrorDetails, name: str) -> str | None:
    """A setting left from another backend (`path:` after switching to postgres) says so."""
    field = str(error["loc"][-1]) if error["loc"] else ""
    owners = [other for other, backend in BACKENDS.items()
              if other != name and field in backend.settings_model().model_fields]
    if error["type"] != "extra_forbidden" or not owners:
        return None
    return f"a setting of backend: {owners[0]}, not of backend: {name}; remove it"


def _check_provider(document: yamlsource.Document, name: str, provider: type[Provider],
                    settings: ProviderSettings, offline: bool,
                    unresolved: set[tuple[str | int, ...]]) -> list[Diagnostic]:
    """What the models cannot check alone: URLs (before any connection), ignore_changes names."""
    problems: list[Diagnostic] = []
    for field, value in settings:
        if field.endswith("url") and isinstance(value, str) and not offline \
                and ("providers", name, field) not in unresolved:
            from reconciler.providers.http import check_url  # httpx: only for commands that connect

            try:
                check_url(name, value, settings.allow_insecure_http)  # what the client will check
            except ConfigError:
                try:
                    parts = urlsplit(value)
                    parts.port  # noqa: B018 (a port that is not a number raises here)
                except ValueError as exc:
                    problems.append(Diagnostic(yamlsource.locate(document, ("providers", name, field)),
                                               f"providers.{name}.{field}: not a valid URL ({exc}); "
                                               "write it as https://host/path"))
                    continue
                if parts.scheme in ("http", "https") and parts.hostname:
                    detail = (f"refusing plain http:// to {parts.hostname}; use https://, or set "
                              "allow_insecure_http: true for this provider if you really mean it")
                else:
                    shown = value.replace(parts.password, "***") if parts.password else value
                    detail = f"{shown!r} is not an http(s) URL; write it as https://host/path"
                problems.append(Diagnostic(yamlsource.locate(document, ("providers", name, field)),
                                           f"providers.{name}.{field}: {detail}"))
    kinds = kinds_by_collection(provider)
    for collection, fields in settings.ignore_changes.items():
        where = ("providers", name, "ignore_changes", collection)
        kind = kinds.get(collection)
        if kind is None:
            problems.append(Diagnostic(yamlsource.locate(document, where, key=True), (
                f"providers.{name}.ignore_changes: unknown collection '{collection}'"
                f"{suggest(collection, kinds)} (known: {', '.join(kinds)})")))
            continue
        problems.extend(
            Diagnostic(yamlsource.locate(document, (*where, i)), (
                f"providers.{name}.ignore_changes.{collection}: unknown field '{f}'"
                f"{suggest(f, kind.schema.model_fields)} (fields: {', '.join(kind.schema.model_fields)})"))
            for i, f in enumerate(fields) if f not in kind.schema.model_fields)
    return problems


def _placeholders(name: str, values: Mapping[str, Any],
                  unresolved: set[tuple[str | int, ...]]) -> dict[str, Any]:
    """Offline, a value read from an unset variable stands in as a placeholder so that the
    provider still loads (its kinds check the manifests); it is never sent anywhere."""
    return {field: OFFLINE_URL if field.endswith("url") else OFFLINE_VALUE
            for field in values if ("providers", name, field) in unresolved}


OFFLINE_URL = "https://offline.invalid"
OFFLINE_VALUE = "offline-placeholder"


def _at_key(error: ErrorDetails) -> bool:
    """An unknown field is shown at its name; any other problem at its value."""
    return error["type"] == "extra_forbidden"


def _overridden(path: tuple[str | int, ...], overrides: Mapping[str, Mapping[str, Any]]) -> bool:
    return len(path) == 3 and path[0] == "providers" and path[2] in overrides.get(str(path[1]), {})


def _dotted(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc)


"""Environments: one manifest set, many tenants.

`reconciler.yaml` may declare `environments:` (a mapping of names to what differs there) or
`environments_dir:` (a folder whose `<name>.yaml` files are one environment each). An
environment overrides `variables` (values the manifests read, over the process
environment), `providers` (merged over the top-level block, vendor by vendor) and `state`
(merged over the top-level one). Selecting one makes a single reconciler.yaml document of
the two layers, so that every check and every `file:line:column` works as for a directory
without environments: an error about a value is shown where that value was written.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from reconciler.errors import ConfigError, Diagnostic, ManifestError, Source
from reconciler.manifest import source as yamlsource
from reconciler.manifest.files import CONFIG_FILE
from reconciler.manifest.validation import describe, errors, suggest

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
NAME_RULE = "lower-case letters, digits, '-' and '_', starting with a letter or digit"
SUFFIXES = (".yaml", ".yml")
ENV_VARIABLE = "RECONCILER_ENV"


class EnvironmentBlock(BaseModel):
    """What differs in one environment (under `environments.<name>` or in its own file)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    variables: dict[str, str | int | float | bool] = Field(default_factory=dict, description=(
        "Values of the variables the manifests read (names listed under the top-level "
        "variables:), in place of the process environment"))
    providers: dict[str, dict[str, Any] | None] = Field(default_factory=dict, description=(
        "Provider settings merged over the top-level providers: block, vendor by vendor "
        "(a tenant URL, a credential variable, prune, limits)"))
    state: dict[str, Any] = Field(default_factory=dict, description=(
        "State settings merged over the top-level state: (its own file or workspace); left "
        "out, the state is kept apart per environment (state/<name>/ or workspace <w>-<name>)"))


@dataclass
class Declared:
    """The environments a directory declares, each with where it is declared."""

    names: dict[str, Source] = field(default_factory=dict)
    folder: Path | None = None  # environments_dir, resolved
    files: dict[str, Path] = field(default_factory=dict)  # the environments of the folder

    def __bool__(self) -> bool:
        return bool(self.names)

    def select(self, patterns: Iterable[str]) -> list[str]:
        """Names matching any of `patterns` (globs; '*' is all), in declared order; a pattern
        matching nothing is an error naming the declared ones."""
        chosen: list[str] = []
        for pattern in patterns:
            matched = [n for n in self.names if fnmatch.fnmatchcase(n, pattern)]
            if not matched:
                raise ConfigError(f"--env {pattern}: {self._no_such(pattern)}")
            chosen += [n for n in matched if n not in chosen]
        return chosen

    def _no_such(self, pattern: str) -> str:
        if not self.names:
            return ("this directory declares no environments (environments: or environments_dir: "
                    "in reconciler.yaml); run without --env")
        return (f"matches no declared environment{suggest(pattern, self.names)} (declared: "
                f"{', '.join(self.names)})")

    def required(self, command: str) -> ConfigError:
        """The error of a command that talks to a vendor or a state without --env."""
        return ConfigError(
            f"{command}: this directory declares environments ({', '.join(self.names)}); say "
            f"which with --env NAME (repeatable, globs; --env '*' for all) or {ENV_VARIABLE}")


def declared(document: yamlsource.Document) -> Declared:
    """The environments reconciler.yaml declares; names and folder problems are errors."""
    data = document.data if isinstance(document.data, dict) else {}
    found = Declared()
    problems: list[Diagnostic] = []
    inline = data.get("environments")
    if isinstance(inline, dict):
        for name in inline:
            if not NAME.fullmatch(str(name)):
                problems.append(Diagnostic(yamlsource.locate(document, ("environments", name), key=True),
                                           f"environments.{name}: invalid environment name; use "
                                           f"{NAME_RULE}"))
            else:  # where its block starts (marks: no second parse of the file per environment)
                found.names[str(name)] = document.marks.get(("environments", name)) \
                    or Source(document.file, 1, 1)
    folder = data.get("environments_dir")
    if isinstance(folder, str) and folder:
        path = (document.path.parent / folder).resolve()
        if not path.is_dir():
            problems.append(Diagnostic(yamlsource.locate(document, ("environments_dir",)), (
                f"environments_dir: {folder!r} is not a folder next to reconciler.yaml; create it "
                "or fix the path")))
        else:
            found.folder = path
            shown_folder = yamlsource.display_path(path)  # once, not once per file
            for file in sorted(path.iterdir()):
                if file.name.startswith(".") or file.suffix not in SUFFIXES:
                    continue
                name = file.stem
                shown = Source(f"{shown_folder}/{file.name}", 1, 1)
                if not NAME.fullmatch(name):
                    problems.append(Diagnostic(shown, f"invalid environment name {name!r} (from "
                                                      f"the file name); use {NAME_RULE}"))
                elif name in found.names:
                    problems.append(Diagnostic(shown, f"environment {name!r} is declared twice "
                                                      f"(also at {found.names[name]}); remove one"))
                else:
                    found.names[name] = shown
                    found.files[name] = file
    if problems:
        raise ManifestError(problems)
    return found


@dataclass
class Layered:
    """reconciler.yaml as one environment sees it."""

    document: yamlsource.Document
    variables: dict[str, str]
    declared: Declared
    own_state: bool  # whether the environment says where its state is


def select(document: yamlsource.Document, environment: str | None, env: Mapping[str, str],
           declared_variables: Iterable[str]) -> Layered:
    """The document with `environment`'s layer merged in; with None, the top level alone
    (the environments' own values are then not checked: they are not used)."""
    found = declared(document)
    base = _without_environments(document)
    if environment is None:
        return Layered(base, {}, found, False)
    if environment not in found.names:
        raise ConfigError(f"environment {environment!r}: {found._no_such(environment)}")
    if environment in found.files:
        path = found.files[environment]
        layer = yamlsource.load(path, yamlsource.display_path(path), env, 4)
        prefix: tuple[str | int, ...] = ()
        raw = layer.data if layer.data is not None else {}
        diagnostics = [d for d in layer.diagnostics if d.message != yamlsource.EMPTY_FILE]
    else:
        layer, prefix = document, ("environments", environment)
        raw = (document.data.get("environments") or {}).get(environment) or {}
        diagnostics = [Diagnostic(d.source, d.message, d.path[2:]) for d in document.diagnostics
                       if d.path[:2] == prefix]
    problems = [d for d in diagnostics if not d.path]  # syntax: the layer is unusable
    block = _check(layer, prefix, raw, problems)
    known = set(declared_variables)
    for name in block.variables:
        if name not in known:
            problems.append(Diagnostic(yamlsource.locate(layer, (*prefix, "variables", name), key=True),
                                       f"variables.{name}: not a variable the manifests may read"
                                       f"{suggest(name, known)}; list it under variables: at the "
                                       f"top of reconciler.yaml first"))
    if problems:
        raise ManifestError(problems)
    merged = dict(base.data) if isinstance(base.data, dict) else {}
    providers = {k: dict(v or {}) for k, v in (merged.get("providers") or {}).items()} \
        if isinstance(merged.get("providers"), dict) else {}
    for vendor, values in block.providers.items():
        providers[vendor] = {**providers.get(vendor, {}), **(values or {})}
    merged["providers"] = providers
    state = dict(merged.get("state") or {}) if isinstance(merged.get("state"), dict) else {}
    replaced = block.state.get("backend", state.get("backend", "local")) != state.get("backend", "local")
    merged["state"] = {**({} if replaced else state), **block.state}  # another backend: its own
    kept = [d for d in base.diagnostics if not _overridden(d.path, block, replaced)]
    result = yamlsource.Document(base.file, base.path, merged, kept + diagnostics,
                                 base.marks, layers=[(layer, prefix)])
    return Layered(result, {k: _text(v) for k, v in block.variables.items()}, found,
                   bool(set(block.state) - {"backend"}))


def _overridden(path: tuple[str | int, ...], block: EnvironmentBlock, state_replaced: bool) -> bool:
    """A top-level value the environment replaces: its unset ${VAR} is no problem here."""
    if path[:1] == ("providers",) and len(path) >= 3:
        return path[2] in (block.providers.get(str(path[1])) or {})
    if path[:1] == ("state",) and len(path) >= 2:
        return state_replaced or path[1] in block.state
    return False


def _check(layer: yamlsource.Document, prefix: tuple[str | int, ...], raw: Any,
           problems: list[Diagnostic]) -> EnvironmentBlock:
    try:
        return EnvironmentBlock.model_validate(raw)
    except ValidationError as exc:
        unresolved = {d.path for d in layer.diagnostics}
        problems.extend(
            Diagnostic(yamlsource.locate(layer, (*prefix, *e["loc"]), e["type"] == "extra_forbidden"),
                       f"{'.'.join(map(str, e['loc'])) or 'environment'}: "
                       f"{describe(e, EnvironmentBlock)}")
            for e in errors(exc) if (*prefix, *e["loc"]) not in unresolved)
        return EnvironmentBlock()


def _without_environments(document: yamlsource.Document) -> yamlsource.Document:
    """The top level alone: problems inside environments are the environments' own."""
    data = document.data
    if isinstance(data, dict) and ("environments" in data or "environments_dir" in data):
        data = {k: v for k, v in data.items() if k not in ("environments", "environments_dir")}
    kept = [d for d in document.diagnostics if d.path[:1] != ("environments",)]
    return yamlsource.Document(document.file, document.path, data, kept, document.marks)


def _text(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def selection(given: Iterable[str] | None) -> list[str]:
    """--env values, else RECONCILER_ENV (comma- or space-separated)."""
    import os

    patterns = [p for value in (given or ()) for p in re.split(r"[,\s]+", value) if p]
    if not patterns:
        patterns = [p for p in re.split(r"[,\s]+", os.environ.get(ENV_VARIABLE, "")) if p]
    return patterns


def read_declared(directory: Path) -> Declared:
    """The environments of a directory, read without credentials or checks beyond names."""
    path = directory / CONFIG_FILE
    if not path.is_file():
        return Declared()
    document = yamlsource.load(path, yamlsource.display_path(path), _Blank(), 2)
    return declared(document)


class _Blank(dict[str, str]):
    """Every variable reads as empty: listing names needs no values."""

    def __contains__(self, key: object) -> bool:
        return True

    def __missing__(self, key: str) -> str:
        return ""

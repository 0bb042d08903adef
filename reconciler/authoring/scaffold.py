"""`reconciler init`: a manifest directory to start from, for the vendors chosen.

It writes reconciler.yaml (the providers, each reading its connection settings from
environment variables named after the vendor and the setting, e.g. ${OUTREACH_TOKEN}),
one example manifest per vendor under purposes/ (each file's first line points editors at
the JSON Schema by its published `$id`, so it never goes stale), and a .gitignore for the
local state. Existing files are never overwritten unless forced.

The settings come from each provider's settings model, so a provider added to the
registry gets a working scaffold too: vendors without a curated example get an empty
collection and a commented template of its fields.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from reconciler import SCHEMA_BASE_URL
from reconciler.errors import ConfigError
from reconciler.manifest.files import CONFIG_FILE
from reconciler.manifest.validation import suggest
from reconciler.providers.base import Provider, ProviderSettings
from reconciler.providers.registry import providers as provider_registry
from reconciler.providers.registry import vendors
from reconciler.state.registry import BACKENDS

# Referenced by their published `$id`: a copy written into the directory would go stale
# when reconciler is upgraded.
MANIFEST_SCHEMA = f"{SCHEMA_BASE_URL}manifest.schema.json"
CONFIG_SCHEMA = f"{SCHEMA_BASE_URL}config.schema.json"
MODELINE = "# yaml-language-server: $schema="
"""The first line of every file, so the YAML language server completes and checks it."""
STATE_PATH = "state/default.json"
Backend = str  # a name in reconciler.state.registry.BACKENDS

_HEADER = ("# Every field, limit and default: `reconciler docs`, or hover a field in an editor "
           "with the\n# YAML language server. `reconciler fmt DIR` lays files out canonically.\n")


@dataclass(frozen=True)
class ScaffoldFile:
    path: str  # relative to the new directory, with '/'
    text: str
    append: bool = False  # .gitignore: add what is missing to an existing file


def choose_vendors(requested: Sequence[str],
                   registry: Mapping[str, type[Provider]] | None = None) -> list[str]:
    """The vendors asked for (all, when none is), known and without repeats."""
    registry = provider_registry() if registry is None else registry
    unknown = [v for v in requested if v not in registry]
    if unknown:
        name = unknown[0]
        starting = [v for v in registry if v.startswith(name)]  # --vendor webex
        hint = suggest(name, registry) or (
            f" — did you mean '{starting[0]}'?" if len(starting) == 1 else "")
        raise ConfigError(f"--vendor: unknown vendor '{name}'{hint} "
                          f"(known: {', '.join(sorted(registry))})")
    return list(dict.fromkeys(requested)) if requested else list(registry)


def scaffold(vendors: Sequence[str] = (), backend: Backend = "local",
             registry: Mapping[str, type[Provider]] | None = None) -> list[ScaffoldFile]:
    """The files of a new manifest directory for `vendors` (default: every vendor)."""
    registry = provider_registry() if registry is None else registry
    chosen = choose_vendors(vendors, registry)
    files = [ScaffoldFile(CONFIG_FILE, config_text(chosen, backend, registry))]
    files += [ScaffoldFile(f"purposes/{v}.yaml", example_text(v, registry[v])) for v in chosen]
    # Every backend: `--sandbox` keeps the sandboxes' data and state in state/sandbox/, and a
    # local state lives in state/ too; never commit them.
    files.append(ScaffoldFile(".gitignore", "# reconciler: the local state and the "
                                            "sandboxes' data; never commit them\n/state/\n",
                              append=True))
    return files


def write_scaffold(directory: Path, files: Sequence[ScaffoldFile], force: bool) -> list[Path]:
    """Write `files` under `directory`; refuses to overwrite any unless `force`."""
    if directory.exists() and not directory.is_dir():
        raise ConfigError(f"{directory}: exists and is not a directory; choose another path")
    taken = [f.path for f in files if not f.append and (directory / f.path).exists()]
    if taken and not force:
        raise ConfigError(f"{directory}: would overwrite {', '.join(taken)}; move them away, "
                          "or pass --force to overwrite them")
    written: list[Path] = []
    for file in files:
        target = directory / file.path
        target.parent.mkdir(parents=True, exist_ok=True)
        if file.append and target.exists():
            existing = target.read_text(encoding="utf-8")
            wanted = [line for line in file.text.splitlines() if not line.startswith("#")]
            if all(line in existing.splitlines() for line in wanted):
                continue
            separator = "" if not existing or existing.endswith("\n") else "\n"
            target.write_text(existing + separator + file.text, encoding="utf-8")
        else:
            target.write_text(file.text, encoding="utf-8")
        written.append(target)
    return written


def variable(vendor: str, setting: str) -> str:
    """The environment variable a scaffold reads a setting from: OUTREACH_TOKEN, ..."""
    return f"{vendor}_{setting}".upper()


def connection_settings(vendor: str, provider: type[Provider]) -> dict[str, str]:
    """The settings a working reconciler.yaml needs for `provider`, as ${VAR} references:
    its required settings, its URLs (with their default, if any), and whatever else its
    model refuses to go without (e.g. the credential of the default auth scheme)."""
    model = provider.settings_model
    own = {name: info for name, info in model.model_fields.items()
           if name not in ProviderSettings.model_fields}
    chosen = {name for name, info in own.items() if info.is_required() or name.endswith("url")}
    while True:
        try:
            model.model_validate(dict.fromkeys(chosen, "x"))
            break
        except ValidationError as exc:
            more = {str(e["loc"][0]) for e in exc.errors() if e["loc"]} & set(own) - chosen
            if not more:
                break
            chosen |= more
    values: dict[str, str] = {}
    for name, info in own.items():
        if name in chosen:
            default = info.default if isinstance(info.default, str) and info.default else None
            values[name] = f"${{{variable(vendor, name)}" + (f":-{default}}}" if default else "}")
    return values


def provider_block(vendor: str, provider: type[Provider]) -> str:
    """`providers.<vendor>` of a reconciler.yaml reading each connection setting from
    ${VENDOR_SETTING} (no defaults): what fixtures and benchmarks point at a sandbox."""
    names = connection_settings(vendor, provider)
    return f"  {vendor}:\n" + "".join(f"    {name}: ${{{variable(vendor, name)}}}\n" for name in names)


def required_variables(vendors: Sequence[str],
                       registry: Mapping[str, type[Provider]] | None = None) -> list[str]:
    """The environment variables without a default that the scaffold's reconciler.yaml reads."""
    registry = provider_registry() if registry is None else registry
    return [variable(v, name) for v in vendors
            for name, value in connection_settings(v, registry[v]).items() if ":-" not in value]


def config_text(vendors: Sequence[str], backend: Backend,
                registry: Mapping[str, type[Provider]]) -> str:
    lines = [f"{MODELINE}{CONFIG_SCHEMA}",
             "# reconciler settings: where the state lives and how to reach each vendor.",
             "# ${VAR} and ${VAR:-default} are read from the environment: keep credentials there.",
             "# Every provider setting (concurrency, timeouts, safety rails...): `reconciler docs`.",
             "state:"]
    lines += [f"  {line}" for line in BACKENDS[backend].init_lines]
    lines.append("providers:")
    for vendor in vendors:
        model = registry[vendor].settings_model
        lines.append(f"  {vendor}:")
        for name, value in connection_settings(vendor, registry[vendor]).items():
            description = model.model_fields[name].description
            lines += textwrap.wrap(description or "", 88, initial_indent="    # ",
                                   subsequent_indent="    # ")
            lines.append(f"    {name}: {value}")
        lines += _builtins(registry[vendor])
    return "\n".join(lines) + "\n"


def _builtins(provider: type[Provider]) -> list[str]:
    """ignore_unmanaged with the objects every tenant of the vendor ships with, so that a
    scheduled drift check does not report them."""
    if not provider.builtin_objects:
        return []
    keys = ", ".join(json.dumps(key) for key in provider.builtin_objects)
    return ["    # Shipped with every tenant: plan and drift do not report them as unmanaged",
            "    # (declare one in a manifest to manage it; it is then adopted).",
            f"    ignore_unmanaged: [{keys}]"]


def example_text(vendor: str, provider: type[Provider],
                 schema_path: str = MANIFEST_SCHEMA) -> str:
    """A manifest for `vendor` starting with the schema line (the published schema's URL)."""
    body = vendors()[vendor].example if vendor in vendors() else None
    if body is None:
        body = _template(vendor, provider)
    return f"{MODELINE}{schema_path}\n" + body.replace("{header}", _HEADER, 1)


def _template(vendor: str, provider: type[Provider]) -> str:
    """An empty collection per kind, with its fields as a commented example."""
    lines = [f"# {vendor}: declare objects under each collection below.", "{header}" + f"{vendor}:"]
    for kind in provider.kinds:
        key = f"my_{kind.name}"
        lines += [f"  {kind.collection}: {{}}",
                  f"  # {kind.collection}:",
                  f"  #   {key}:   # the key: address {vendor}.{kind.name}.{key}"]
        for name, info in kind.schema.model_fields.items():
            need = "required" if info.is_required() else "optional"
            about = f"; {info.description}" if info.description else ""
            lines.append(f"  #     {name}:   # {need}{about}")
    return "\n".join(lines) + "\n"


"""JSON Schemas of the manifest format and of reconciler.yaml, built from the models that
validate them, so editors (the YAML language server) complete and check what the loader
will accept.

One source of truth: every field, type, limit, enum and description comes from the
pydantic models (each kind's `schema`, `Lifecycle`, each provider's `settings_model`,
`StateSettings`); this module only assembles them the way the loader walks a file
(vendor -> collection -> key -> fields) and narrows what the loader checks by hand:
key names, `ignore_changes` field names and the `on_delete` values each kind supports.

What a schema cannot say (the loader still checks it): custom validators (blank names,
URL shapes, record sizes), a vendor declared in a manifest but not configured in
reconciler.yaml, two keys with the same natural key, and JSON's view that 1.0 is an
integer. Draft 7 is used: the dialect editors support best.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from reconciler import SCHEMA_BASE_URL
from reconciler.manifest.loader import KEY_PATTERN, LIFECYCLE_FIELDS, Lifecycle
from reconciler.manifest.settings import ConfigFile
from reconciler.providers.base import DeleteMode, KindSpec, Provider
from reconciler.providers.registry import kinds_by_collection
from reconciler.providers.registry import providers as provider_registry
from reconciler.state.registry import BACKENDS, DEFAULT

DIALECT = "http://json-schema.org/draft-07/schema#"
VARIABLE = r"^\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}$"
"""A setting written as one ${VAR} reference: a string until interpolated, so any type."""
GENERATED = "Generated from reconciler's models by `reconciler schema`; do not edit by hand."
_DATA_KEYWORDS = frozenset({"default", "enum", "const", "examples"})
_NAMED_SCHEMAS = frozenset({"properties", "$defs", "definitions", "patternProperties"})

Registry = Mapping[str, type[Provider]]


def on_delete_values(kind: type[KindSpec]) -> list[str]:
    """The `on_delete` values the loader accepts for `kind` (as manifest.py checks them)."""
    values = []
    if {DeleteMode.HARD, DeleteMode.SOFT} & set(kind.delete_modes):
        values.append("delete")
    if DeleteMode.DEACTIVATE in kind.delete_modes:
        values.append("deactivate")
    return values


class _Models:
    """Model schemas generated together: nested models share one set of definitions
    (pydantic makes their names unique), and are inlined where they are used."""

    def __init__(self, models: list[type[BaseModel]]) -> None:
        unique = list(dict.fromkeys(models))
        refs, top = models_json_schema([(m, "validation") for m in unique],
                                       ref_template="#/$defs/{model}")
        self.defs: dict[str, Any] = top.get("$defs", {})
        self.refs = {m: refs[(m, "validation")] for m in unique}
        self.recursive: set[str] = set()

    def schema(self, model: type[BaseModel]) -> dict[str, Any]:
        """`model`'s own schema, its references inlined (recursive ones stay references)."""
        return self._inline(self.refs[model], ())  # type: ignore[no-any-return]

    def _inline(self, node: Any, seen: tuple[str, ...]) -> Any:
        if isinstance(node, list):
            return [self._inline(item, seen) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            name = ref.rsplit("/", 1)[1]
            if name in seen:
                self.recursive.add(name)
                return dict(node)
            target = self._inline(self.defs[name], (*seen, name))
            siblings = {k: self._inline(v, seen) for k, v in node.items() if k != "$ref"}
            return {**target, **siblings}
        return {k: v if k in _DATA_KEYWORDS else self._inline(v, seen) for k, v in node.items()}

    def definitions(self) -> dict[str, Any]:
        """The definitions still referenced (recursive models only)."""
        return {name: self._inline(self.defs[name], (name,)) for name in sorted(self.recursive)}


def model_schema(model: type[BaseModel]) -> dict[str, Any]:
    """One model's JSON Schema, references inlined and generated titles dropped."""
    return _tidy(_Models([model]).schema(model))  # type: ignore[no-any-return]


def _tidy(node: Any) -> Any:
    """Drop pydantic's generated titles (the property names, capitalised) and wrap a `$ref`
    that has siblings in allOf, which Draft 7 requires."""
    if isinstance(node, list):
        return [_tidy(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "title":
            continue
        if key in _DATA_KEYWORDS:
            out[key] = value
        elif key in _NAMED_SCHEMAS and isinstance(value, dict):
            out[key] = {name: _tidy(sub) for name, sub in value.items()}
        else:
            out[key] = _tidy(value)
    if "$ref" in out and len(out) > 1:
        out = {"allOf": [{"$ref": out.pop("$ref")}], **out}
    return out


def _narrow_enum(node: dict[str, Any], allowed: list[str]) -> dict[str, Any]:
    """`node` with its string enum cut down to `allowed` (a branch left empty is dropped)."""
    node = copy.deepcopy(node)
    if "anyOf" in node:
        branches = [_narrow_enum(b, allowed) for b in node["anyOf"]]
        node["anyOf"] = [b for b in branches if b.get("enum", True)]
        if len(node["anyOf"]) == 1:
            node.update(node.pop("anyOf")[0])
    elif "enum" in node:
        node["enum"] = [v for v in node["enum"] if v in allowed]
    return node


def lifecycle_properties(kind: type[KindSpec], models: _Models) -> dict[str, Any]:
    """Lifecycle's fields, narrowed to what the loader accepts on an object of `kind`."""
    properties: dict[str, Any] = models.schema(Lifecycle)["properties"]
    fields = list(kind.schema.model_fields)
    properties["ignore_changes"]["items"] = {"type": "string", "enum": fields}
    on_delete = _narrow_enum(properties["on_delete"], on_delete_values(kind))
    if not on_delete_values(kind):
        on_delete["description"] += (f"; {kind.vendor}.{kind.name} supports neither (delete: "
                                     f"{', '.join(kind.delete_modes)}), so only null")
    properties["on_delete"] = on_delete
    return {name: properties[name] for name in LIFECYCLE_FIELDS}


def object_schema(kind: type[KindSpec], models: _Models) -> dict[str, Any]:
    """One object of `kind` as written in a manifest: its fields, then the lifecycle fields."""
    body = models.schema(kind.schema)
    body["properties"] = {**body.get("properties", {}), **lifecycle_properties(kind, models)}
    body["additionalProperties"] = False
    return body


def collection_schema(kind: type[KindSpec], models: _Models) -> dict[str, Any]:
    return {
        "type": ["object", "null"],  # left empty (its last entry removed): declares nothing
        "description": (f"{kind.vendor}.{kind.name} objects by key; the key names the object "
                        f"(address {kind.vendor}.{kind.name}.<key>): lower-case letters, "
                        "digits, '_' and '-', starting with a letter or digit; empty declares "
                        "nothing"),
        "propertyNames": {"pattern": KEY_PATTERN.pattern},
        "additionalProperties": object_schema(kind, models),
    }


def vendor_schema(name: str, provider: type[Provider], models: _Models) -> dict[str, Any]:
    collections = kinds_by_collection(provider)
    return {
        "type": ["object", "null"],  # `outreach:` with nothing under it declares nothing
        "description": (f"{name} objects, by collection ({', '.join(collections)}); the vendor "
                        "must also be configured under providers: in reconciler.yaml"),
        "properties": {c: collection_schema(k, models) for c, k in collections.items()},
        "additionalProperties": False,
    }


def _kind_models(registry: Registry) -> list[type[BaseModel]]:
    return [Lifecycle, *(kind.schema for p in registry.values() for kind in p.kinds)]


def manifest_schema(registry: Registry | None = None) -> dict[str, Any]:
    """The JSON Schema of one manifest file: vendor -> collection -> key -> object."""
    registry = provider_registry() if registry is None else registry
    models = _Models(_kind_models(registry))
    vendors = {name: vendor_schema(name, provider, models)
               for name, provider in sorted(registry.items())}
    return _document("manifest", "reconciler manifest", (
        "A reconciler manifest file: vendor -> collection -> key -> fields. "
        "The same models validate it when reconciler loads it."), vendors, models)


def _accepts_variable(node: dict[str, Any]) -> dict[str, Any]:
    """A setting that is not a free string may still be written as a ${VAR} reference: the
    loader interpolates first and converts the text (settings are not strict)."""
    if _free_string(node) or any(_free_string(b) for b in node.get("anyOf", ())):
        return node
    outer: dict[str, Any] = {k: node.pop(k) for k in ("description", "default") if k in node}
    return {**outer, "anyOf": [node, {"type": "string", "pattern": VARIABLE,
                                      "description": "An environment variable reference"}]}


def _free_string(node: dict[str, Any]) -> bool:
    return node.get("type") == "string" and not {"enum", "pattern", "format", "const"} & set(node)


def settings_schema(provider: type[Provider], models: _Models) -> dict[str, Any]:
    body = models.schema(provider.settings_model)
    properties: dict[str, Any] = body.get("properties", {})
    if "ignore_changes" in properties:
        ignore = properties["ignore_changes"]
        properties["ignore_changes"] = {
            **{k: ignore[k] for k in ("description", "default") if k in ignore},
            "type": "object",
            "properties": {c: {"type": "array", "items": {"type": "string",
                                                          "enum": list(k.schema.model_fields)}}
                           for c, k in kinds_by_collection(provider).items()},
            "additionalProperties": False,
        }
    body["properties"] = {n: p if n == "ignore_changes" else _accepts_variable(p)
                          for n, p in properties.items()}
    body["additionalProperties"] = False
    return body


def config_schema(registry: Registry | None = None) -> dict[str, Any]:
    """The JSON Schema of reconciler.yaml: `state` and one settings object per provider."""
    registry = provider_registry() if registry is None else registry
    backends = {name: backend.settings_model() for name, backend in BACKENDS.items()}
    models = _Models([ConfigFile, *backends.values(), *(p.settings_model for p in registry.values())])
    top = models.schema(ConfigFile)
    properties = {
        **top["properties"],
        "state": {"type": "object", "description": "Where the state is kept (default: local, "
                                                   "state/default.json); `backend` picks the other settings",
                  "oneOf": [_backend_schema(name, models.schema(model))
                            for name, model in backends.items()]},
        "providers": {
            "type": "object",
            "description": "How to reach each vendor; ${VAR} and ${VAR:-default} are "
                           "replaced from the environment (credentials belong there)",
            "properties": {name: settings_schema(p, models) for name, p in sorted(registry.items())},
            "additionalProperties": False,
        },
    }
    return _document("config", "reconciler.yaml", "reconciler's settings: where the state lives and how "
                     "to reach each vendor.", properties, models)


def _backend_schema(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    """One branch of `state`: `backend` is its tag (required, except for the default)."""
    schema["properties"] = {n: _accepts_variable(p) for n, p in schema["properties"].items()}
    schema["properties"]["backend"] = {"const": name, "description": BACKENDS[name].about}
    if name != DEFAULT:
        schema["required"] = sorted({*schema.get("required", ()), "backend"})
    schema.pop("title", None)
    return schema


def _document(name: str, title: str, description: str, properties: dict[str, Any],
              models: _Models) -> dict[str, Any]:
    """`name`: the published file, schema/<name>.schema.json, whose URL is the `$id`."""
    document: dict[str, Any] = {
        "$schema": DIALECT,
        "$comment": GENERATED,
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    definitions = models.definitions()
    if definitions:
        document["$defs"] = definitions
    tidy: dict[str, Any] = _tidy(document)
    return {"$schema": DIALECT, "$id": f"{SCHEMA_BASE_URL}{name}.schema.json",
            "title": title, "description": description,
            **{k: v for k, v in tidy.items() if k != "$schema"}}


def render(schema: Mapping[str, Any]) -> str:
    """The schema as committed and written: stable, indented, one trailing newline."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"

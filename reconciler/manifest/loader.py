"""A manifest directory -> Desired: every declared object, validated, with its source.

All files are read and every problem is collected before anything is reported,
so one run shows all mistakes; nothing reaches a vendor unless all is valid.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re
import stat
from collections import ChainMap
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, ValidationError, WrapSerializer

from reconciler import perf
from reconciler.errors import ConfigError, Diagnostic, ManifestError, Source
from reconciler.manifest import source as yamlsource
from reconciler.manifest.files import CONFIG_FILE
from reconciler.manifest.settings import Settings
from reconciler.manifest.source import Document, locate
from reconciler.manifest.validation import describe, errors, suggest
from reconciler.perf import Repeated, paused_gc
from reconciler.providers.base import DeleteMode, KindSpec
from reconciler.providers.registry import kinds_by_collection
from reconciler.providers.registry import providers as provider_registry

KEY_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
LIFECYCLE_FIELDS = ("ignore_changes", "prevent_destroy", "on_delete", "environments")


class Lifecycle(BaseModel):
    """Reconciler settings on one purpose; never sent to a vendor."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    # strict=False: YAML gives a list, and strict mode refuses a list for a tuple
    ignore_changes: tuple[str, ...] = Field((), strict=False,
                                            description="Fields never diffed (owned elsewhere)")
    prevent_destroy: bool = Field(False, description="Refuse any plan that would delete it")
    on_delete: Literal["delete", "deactivate"] | None = Field(
        None, description="What removing it from the manifests does, where the vendor offers both")
    environments: tuple[str, ...] | None = Field(None, strict=False, description=(
        "Only in these environments (names or globs such as 'eu-*', as declared in "
        "reconciler.yaml); elsewhere it is not declared"))

    def declared_in(self, environment: str | None) -> bool:
        """Whether the object exists in `environment` (None: the top level, which has all)."""
        return environment is None or self.environments is None or any(
            fnmatch.fnmatchcase(environment, pattern) for pattern in self.environments)

    def state_meta(self) -> dict[str, Any]:
        """What the state keeps, so it still applies after the manifest entry is gone."""
        return {"prevent_destroy": self.prevent_destroy, "on_delete": self.on_delete,
                "ignore_changes": list(self.ignore_changes)}


NO_LIFECYCLE = Lifecycle()


@dataclass(slots=True)
class DesiredObject:
    address: str
    vendor: str
    kind: str
    attributes: dict[str, Any]
    source: Source
    lifecycle: Lifecycle = NO_LIFECYCLE

    @property
    def key(self) -> str:
        return self.address.rsplit(".", 1)[1]  # keys hold no dots

    @property
    def kind_address(self) -> str:
        return f"{self.vendor}.{self.kind}"


@dataclass
class Desired:
    objects: dict[str, DesiredObject]
    digest: str
    documents: dict[str, Document]
    nested: tuple[str, ...] = ()  # folders below holding their own reconciler.yaml: skipped


def address(vendor: str, kind: str, key: str) -> str:
    return f"{vendor}.{kind}.{key}"


def manifest_files(directory: Path, skip: Path | None = None, guard: bool = False,
                   environments: Path | None = None, states: Path | None = None) -> list[Path]:
    """Every *.yaml / *.yml below the directory, sorted; hidden files and folders (a leading
    '.') and the `skip` folder (the local state's) are left out. Symlinked folders are
    followed, and a folder reached twice (a loop) is an error, as is a manifest name that is
    not a readable regular file (a FIFO would hang the run, a device is never a manifest):
    a manifest never silently vanishes. With `guard` (loading), a `skip` folder holding
    *.yaml files is an error too: they would vanish from the plan. The `environments` folder
    (environments_dir) holds environments, not manifests."""
    return _walked(directory, skip, guard, environments, states).found


def _walked(directory: Path, skip: Path | None, guard: bool, environments: Path | None = None,
            states: Path | None = None) -> _Walk:
    walk = _Walk(directory, skip, guard)
    walk.environments, walk.states = environments, states
    walk.folder(directory, ())
    if walk.problems:
        raise ManifestError(walk.problems)
    return walk


def link_boundary(directory: Path) -> Path:
    """Where a manifest symlink may point: the git repository holding the manifest
    directory, or the directory itself when it is in none."""
    here = directory.resolve()
    for folder in (here, *here.parents):
        if (folder / ".git").exists():
            return folder
    return here


class _Walk:
    environments: Path | None = None
    states: Path | None = None  # the environments' states folder (Settings.states_folder)

    def __init__(self, root: Path, skip: Path | None, guard: bool) -> None:
        self.root, self.skip, self.guard = root, skip, guard
        self.found: list[Path] = []
        self.problems: list[Diagnostic] = []
        self.boundary = link_boundary(root)
        self.nested: list[Path] = []  # another project (its own reconciler.yaml): never read

    def outside(self, entry: os.DirEntry[str], child: Path) -> bool:
        """A symlink whose target lies outside the boundary: reported by name, never read
        (it could be a CI runner's secret file, or /usr to walk whole)."""
        if not entry.is_symlink():
            return False
        target = Path(os.path.realpath(child))
        if target == self.boundary or target.is_relative_to(self.boundary):
            return False
        self.problem(child, f"a symlink to {target}, outside {self.boundary} (the repository "
                            "holding the manifest directory, or the directory itself); links "
                            "are followed only inside it: copy the file in, or remove the link")
        return True

    def problem(self, path: Path, message: str) -> None:
        self.problems.append(Diagnostic(None, f"{yamlsource.display_path(path)}: {message}"))

    def folder(self, path: Path, ancestors: tuple[tuple[int, int], ...]) -> None:
        try:
            info = path.stat()
            entries = sorted(os.scandir(path), key=lambda e: e.name)
        except OSError as exc:
            self.problem(path, f"cannot read this folder ({exc.strerror or exc}); fix its "
                               "permissions or move it out of the manifest directory")
            return
        here = (info.st_dev, info.st_ino)
        if here in ancestors:
            self.problem(path, "a symlink loop (it leads back to a folder that contains it); "
                               "remove the link")
            return
        for entry in entries:
            child = Path(path, entry.name)
            if entry.name.startswith("."):
                continue
            try:
                is_dir = entry.is_dir()  # follows a symlink
            except OSError:
                is_dir = False
            if is_dir:
                if self.skip is not None and child.resolve() == self.skip:
                    if self.guard:
                        self.state(child)
                elif self.environments is not None and child.resolve() == self.environments:
                    continue
                elif self.states is not None and child.resolve() == self.states:
                    if self.guard:  # its own level only: every environment's walk passes here
                        self.state(child, shallow=True)
                elif (child / CONFIG_FILE).is_file():
                    self.nested.append(child)
                elif not self.outside(entry, child):
                    self.folder(child, (*ancestors, here))
            elif entry.name.lower().endswith((".yaml", ".yml")) and not (
                    path == self.root and entry.name == CONFIG_FILE) \
                    and not self.outside(entry, child):
                self.file(child)

    def state(self, path: Path, shallow: bool = False) -> None:
        """The state folder is not read as manifests; one holding manifests would hide them."""
        held = sorted(p for p in path.iterdir() if p.name.endswith((".yaml", ".yml"))) \
            if shallow else manifest_files(path)
        if held:
            self.problem(path, f"the state folder (state.path in {CONFIG_FILE}) holds manifests "
                               f"({yamlsource.display_path(held[0])}), which would vanish: put "
                               "the state in a folder of its own, e.g. state/default.json")

    def file(self, path: Path) -> None:
        try:
            mode = path.stat().st_mode
        except OSError as exc:
            self.problem(path, f"cannot read it ({exc.strerror or exc}; a broken symlink?); fix "
                               "or remove it")
            return
        if not stat.S_ISREG(mode):
            what = "a FIFO" if stat.S_ISFIFO(mode) else "a device or socket"
            self.problem(path, f"not a regular file ({what}); a manifest must be a file: remove "
                               "it or rename it so that it does not end in .yaml/.yml")
        elif not os.access(path, os.R_OK):
            self.problem(path, "not readable (permission denied); fix its permissions, or move "
                               "it out of the manifest directory")
        else:
            self.found.append(path)


def state_folder(settings: Settings) -> Path | None:
    """The folder a backend keeps the state in on disk, skipped by the loader; the manifest
    directory itself (or, found while walking, a folder holding manifests) is a configuration
    error."""
    folder = settings.state.folder(settings.directory)
    if folder == settings.directory.resolve():
        where = getattr(settings.state, "path", "")
        raise ConfigError(f"state.path {where!r} in {CONFIG_FILE} puts the state in "
                          "the manifest directory itself; put it in a folder of its own, e.g. "
                          "state/default.json")
    return folder


def load_desired(settings: Settings, env: Mapping[str, str] | None = None) -> Desired:
    env = os.environ if env is None else env
    if settings.environment_variables:  # the environment's values win over the process's
        env = ChainMap(dict(settings.environment_variables), dict(env))
    walk = _walked(settings.directory, state_folder(settings), guard=True,
                   environments=settings.environments_folder, states=settings.states_folder)
    files = walk.found
    digest = hashlib.sha256()
    own = [settings.environment_file] if settings.environment_file else []
    for path in [settings.config_file, *own, *files]:
        try:
            content = yamlsource.read_regular(path)  # never a FIFO or a device: they block
        except OSError:
            content = b""  # loading the file below reports why it cannot be read
        name = os.path.relpath(path, settings.directory)
        digest.update(name.encode() + b"\0" + content)
    loader = _Loader(settings)
    for path in files:
        with paused_gc():  # file by file, so one file's parsing garbage is reused by the next
            loader.add(yamlsource.load(path, yamlsource.display_path(path), env,
                                       variables=settings.variables,
                                       credentials=settings.secrets))
    for provider in settings.providers.values():
        provider.loaded()
    if loader.diagnostics:
        raise ManifestError(loader.diagnostics)
    return Desired(loader.objects, digest.hexdigest(), loader.documents,
                   tuple(yamlsource.display_path(p) for p in walk.nested))


class _Loader:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.registry = provider_registry()
        self.objects: dict[str, DesiredObject] = {}
        self.documents: dict[str, Document] = {}
        self.diagnostics: list[Diagnostic] = []
        self.identities: dict[tuple[str, str], DesiredObject] = {}
        self.unresolved: set[tuple[Any, ...]] = set()  # values with an unset ${VAR}, already reported
        self.repeated = Repeated()  # one object per distinct text, for the load only

    def error(self, document: Document, path: tuple[Any, ...], message: str, key: bool = False) -> None:
        self.diagnostics.append(Diagnostic(locate(document, path, key), message))

    def add(self, document: Document) -> None:
        self.documents[document.file] = document
        self.diagnostics.extend(document.diagnostics)
        self.unresolved = {d.path for d in document.diagnostics if d.path}
        if document.data is None:
            return
        if not isinstance(document.data, dict):
            self.error(document, (), "expected a mapping of vendor names (outreach:, "
                                     "webex_campaign:, superoffice:) at the top of the file")
            return
        for vendor, collections in document.data.items():
            self.add_vendor(document, vendor, collections)
        # Each object now holds its attributes and source: the parsed tree is not needed again.
        document.data, document.marks, document.tree = None, {}, None

    def add_vendor(self, document: Document, vendor: str, collections: Any) -> None:
        provider = self.registry.get(vendor)
        if provider is None:
            self.error(document, (vendor,), f"unknown vendor '{vendor}'{suggest(vendor, self.registry)} "
                       f"(known: {', '.join(sorted(self.registry))})", key=True)
            return
        if vendor not in self.settings.providers:
            self.error(document, (vendor,), f"{vendor}: not configured; add it under providers: in "
                                            f"{CONFIG_FILE}", key=True)
            return
        kinds = kinds_by_collection(provider)
        if collections is None:
            return  # `outreach:` with nothing under it declares nothing, like `{}`
        if not isinstance(collections, dict):
            self.error(document, (vendor,), f"{vendor}: expected a mapping of "
                                            f"{', '.join(kinds)}")
            return
        for collection, entries in collections.items():
            kind = kinds.get(collection)
            if kind is None:
                self.error(document, (vendor, collection), f"{vendor}: unknown collection "
                           f"'{collection}'{suggest(collection, kinds)} (known: {', '.join(kinds)})",
                           key=True)
            elif entries is None:
                continue  # an empty collection (its last entry removed) declares nothing
            elif not isinstance(entries, dict):
                self.error(document, (vendor, collection), f"{vendor}.{collection}: expected a "
                                                           "mapping of keys to objects (an empty "
                                                           "one is written {})")
            else:
                prepared = _Prepared(kind, self.settings)
                for key, body in entries.items():
                    self.add_object(document, kind, collection, str(key), body, prepared)

    def add_object(self, document: Document, kind: type[KindSpec], collection: str, key: str,
                   body: Any, prepared: _Prepared) -> None:
        path = (kind.vendor, collection, key)
        if not KEY_PATTERN.fullmatch(key):
            self.error(document, path, f"{collection}.{key}: invalid key; use lower-case letters, "
                                       "digits, '_' and '-', starting with a letter or digit",
                       key=True)
            return
        if not isinstance(body, dict):
            self.error(document, path, f"{collection}.{key}: expected a mapping of fields")
            return
        lifecycle: Lifecycle | None = NO_LIFECYCLE
        if body.keys().isdisjoint(LIFECYCLE_FIELDS):  # the common case: no copy, no lookups
            attributes = body
        else:
            attributes = {k: v for k, v in body.items() if k not in LIFECYCLE_FIELDS}
            lifecycle = self.lifecycle(document, kind, path, body)
            if lifecycle is not None and not lifecycle.declared_in(self.settings.environment):
                return  # limited to other environments: not declared here
        try:
            model = prepared.validate(attributes)
        except ValidationError as exc:
            where = f"{collection}.{key}"
            for e in errors(exc):
                loc = (*path, *e["loc"])
                if loc in self.unresolved:
                    continue  # the unset variable is the mistake, not the empty value it left
                spelled = yamlsource.written(document, loc) if e["type"] == "string_type" else None
                self.error(document, loc, f"{where}.{'.'.join(map(str, e['loc']))}: "
                                          f"{describe(e, kind.schema, spelled, LIFECYCLE_FIELDS)}",
                           key=e["type"] == "extra_forbidden")
            return
        if lifecycle is None:
            return
        given = model.__pydantic_fields_set__
        dumped = model.__dict__ if prepared.stored else model.model_dump()
        values = {k: v for k, v in dumped.items() if v is not None or k in given}
        problems = kind.check(values, prepared.settings)
        if problems:
            for problem in problems:
                self.error(document, path, f"{collection}.{key}: {problem}")
            return
        obj = DesiredObject(perf.key(prepared.addresses + key), kind.vendor, kind.name,
                            self.repeated.values(kind.normalise(values)),
                            document.marks.get(path) or locate(document, path),
                            lifecycle)
        self.register(document, kind, obj, path, prepared.kind_address)

    def lifecycle(self, document: Document, kind: type[KindSpec], path: tuple[Any, ...],
                  body: dict[str, Any]) -> Lifecycle | None:
        given = {k: body[k] for k in LIFECYCLE_FIELDS if k in body}
        if not given:
            return NO_LIFECYCLE  # the common case shares one instance: 100k objects, 100k fewer models
        try:
            lifecycle = Lifecycle.model_validate(given)
        except ValidationError as exc:
            for e in errors(exc):
                self.error(document, (*path, *e["loc"]), f"{'.'.join(map(str, path[1:]))}."
                           f"{'.'.join(map(str, e['loc']))}: {describe(e, Lifecycle)}")
            return None
        if lifecycle.environments is not None and not self.known_environments(
                document, path, lifecycle.environments):
            return None
        unknown = [(i, f) for i, f in enumerate(lifecycle.ignore_changes)
                   if f not in kind.schema.model_fields]
        for index, name in unknown:
            self.error(document, (*path, "ignore_changes", index), f"{'.'.join(path[1:])}."
                       f"ignore_changes: unknown field '{name}'{suggest(name, kind.schema.model_fields)} "
                       f"(fields: {', '.join(kind.schema.model_fields)})")
        if (lifecycle.on_delete == "deactivate" and DeleteMode.DEACTIVATE not in kind.delete_modes) \
                or (lifecycle.on_delete == "delete" and not {DeleteMode.HARD, DeleteMode.SOFT} & set(
                    kind.delete_modes)):
            self.error(document, (*path, "on_delete"), _on_delete_message(kind, lifecycle.on_delete))
            return None
        return None if unknown else lifecycle

    def known_environments(self, document: Document, path: tuple[Any, ...],
                           patterns: tuple[str, ...]) -> bool:
        """`environments: [...]` names declared environments (each pattern matches one)."""
        declared = self.settings.environments
        ok = True
        for index, pattern in enumerate(patterns):
            if not any(fnmatch.fnmatchcase(name, pattern) for name in declared):
                hint = (f"{suggest(pattern, declared)} (declared: {', '.join(declared)})" if declared
                        else f"; {CONFIG_FILE} declares no environments (environments: or "
                             "environments_dir:)")
                self.error(document, (*path, "environments", index),
                           f"{'.'.join(path[1:])}.environments: '{pattern}' matches no declared "
                           f"environment{hint}")
                ok = False
        return ok

    def register(self, document: Document, kind: type[KindSpec], obj: DesiredObject,
                 path: tuple[Any, ...], kind_address: str) -> None:
        if (other := self.objects.get(obj.address)) is not None:
            self.error(document, path, f"{obj.address}: declared twice (also at {other.source}); "
                                       "keys must be unique per vendor and collection; rename or "
                                       "remove one", key=True)
            return
        identity = kind.identity(obj.attributes)
        if identity is not None and (twin := self.identities.get((kind_address, identity))):
            self.error(document, path, f"{obj.address}: same {kind.natural_key} {identity!r} as "
                       f"{twin.address} (at {twin.source}); the vendor would see one object; "
                       f"give each a different {kind.natural_key}")
            return
        if identity is not None:
            self.identities[(kind_address, identity)] = obj
        self.objects[obj.address] = obj


class _Prepared:
    """What every object of a collection is loaded with, looked up once for all of them."""

    __slots__ = ("addresses", "kind_address", "settings", "stored", "validate")

    def __init__(self, kind: type[KindSpec], settings: Settings) -> None:
        self.validate = kind.schema.__pydantic_validator__.validate_python  # model_validate's work
        self.stored = dumps_as_stored(kind.schema)
        self.settings = settings.providers[kind.vendor]
        self.kind_address = f"{kind.vendor}.{kind.name}"
        self.addresses = address(kind.vendor, kind.name, "")  # each object's, without its key


@cache
def dumps_as_stored(schema: type[BaseModel]) -> bool:
    """Whether a valid instance's model_dump() is its own __dict__, field for field: fields
    of plain types only (text, whole numbers, booleans, null, literals of these), no
    serializer, alias, exclusion, computed field or extra field. Such a schema's values are
    read from the instance (1 µs less per object of the bundled kinds); any other's are dumped."""
    config = schema.model_config
    if config.get("extra") == "allow" or config.get("serialize_by_alias") \
            or schema.__pydantic_computed_fields__:
        return False
    decorators = schema.__pydantic_decorators__
    if decorators.field_serializers or decorators.model_serializers:
        return False
    return all(not field.exclude and _stored_type(field.annotation) and not any(
        isinstance(m, PlainSerializer | WrapSerializer) for m in field.metadata)
        for field in schema.model_fields.values())


def _stored_type(annotation: Any) -> bool:
    if annotation in (str, int, bool, type(None)):
        return True
    origin = get_origin(annotation)
    if origin is Literal:
        return all(type(a) in (str, int, bool) or a is None for a in get_args(annotation))
    if origin is Union or origin is UnionType:
        return all(_stored_type(a) for a in get_args(annotation))
    return False


def _on_delete_message(kind: type[KindSpec], wanted: str) -> str:
    """on_delete names the manifest's values (delete, deactivate), never the internal modes."""
    values = sorted({"deactivate" if m is DeleteMode.DEACTIVATE else "delete"
                     for m in kind.delete_modes if m is not DeleteMode.UNSUPPORTED})
    if not values:
        return (f"on_delete: {kind.vendor}.{kind.name} cannot be deleted at all ({kind.vendor} "
                f"has no delete API); remove on_delete")
    allowed = "the valid value is" if len(values) == 1 else "valid values:"
    return (f"on_delete: {kind.vendor}.{kind.name} cannot '{wanted}'; {allowed} "
            f"{', '.join(values)}")

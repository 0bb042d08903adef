"""YAML files -> plain Python values, with duplicate keys, ${VAR} interpolation and positions.

Parsing goes through ruamel.yaml's C parser to a node tree and converts it
here, because only the nodes know where each value stands. Positions of
individual fields are looked up again (`locate`) only when an error needs
them, so that loading 100k purposes keeps no per-field marks in memory.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.resolver import VersionedResolver

from reconciler.errors import Diagnostic, Source

_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_TAG = "tag:yaml.org,2002:"
PathPart = str | int
EMPTY_FILE = "file is empty; declare something in it or delete it"


@dataclass
class Document:
    """One parsed file: its data and where each top-level purpose starts."""

    file: str
    path: Path
    data: Any
    diagnostics: list[Diagnostic] = field(default_factory=list)
    marks: dict[tuple[PathPart, ...], Source] = field(default_factory=dict)


class _Resolver(VersionedResolver):
    """ruamel's resolver, minus the cost of finding the YAML version again for every node
    (half of a big plan's parsing time). One YAML() per file, so the version found at the
    first node (after any %YAML directive) holds for the whole document."""

    _per_document: Any = None

    @property
    def versioned_resolver(self) -> Any:
        if self._per_document is None:
            self._per_document = super().versioned_resolver
        return self._per_document


def display_path(path: Path) -> str:
    """How messages name a file: relative to the working directory when it is below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _yaml() -> YAML:
    yaml = YAML(typ="safe", pure=False)
    yaml.Resolver = _Resolver
    return yaml


def _tag(node: Node) -> str:
    """The node's full tag; reads the plain suffix when there is nothing to decode, which
    skips ruamel's per-node Tag formatting."""
    ctag = node.ctag
    if ctag is not None and ctag.handle is None and isinstance(ctag.suffix, str) \
            and "%" not in ctag.suffix:
        return ctag.suffix
    return str(node.tag)


def compose(text: str) -> Node | None:
    return _yaml().compose(text)  # type: ignore[no-any-return]


def source(file: str, node: Node) -> Source:
    return Source(file, node.start_mark.line + 1, node.start_mark.column + 1)


def interpolate(text: str, env: Mapping[str, str]) -> tuple[str, list[str]]:
    """Replace ${VAR} and ${VAR:-default}; `$$` is a literal `$`. Returns (text, missing names)."""
    if "$" not in text:
        return text, []
    missing: list[str] = []

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        missing.append(name)
        return ""

    return _VAR.sub(replace, text), missing


class _Converter:
    def __init__(self, file: str, env: Mapping[str, str], mark_depth: int) -> None:
        self.file = file
        self.env = env
        self.mark_depth = mark_depth
        self.diagnostics: list[Diagnostic] = []
        self.marks: dict[tuple[PathPart, ...], Source] = {}

    def convert(self, node: Node, path: tuple[PathPart, ...]) -> Any:
        if len(path) <= self.mark_depth:
            self.marks[path] = source(self.file, node)
        if isinstance(node, MappingNode):
            return self._mapping(node, path)
        if isinstance(node, SequenceNode):
            return [self.convert(item, (*path, i)) for i, item in enumerate(node.value)]
        return self._scalar(node, path)

    def _mapping(self, node: MappingNode, path: tuple[PathPart, ...]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        first_seen: dict[str, Node] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                self.error(key_node, "keys must be plain scalars, not mappings or lists")
                continue
            key = sys.intern(str(key_node.value))  # field names repeat in every object
            if key in first_seen:
                line = first_seen[key].start_mark.line + 1
                self.error(key_node, f"duplicate key '{key}' (first defined at line {line}); "
                                     "remove one of them")
                continue
            first_seen[key] = key_node
            result[key] = self.convert(value_node, (*path, key))
        return result

    def _scalar(self, node: Node, path: tuple[PathPart, ...]) -> Any:
        tag, value = _tag(node), node.value
        if tag == _TAG + "str" or getattr(node, "style", None) in ("'", '"', "|", ">"):
            text, missing = interpolate(value, self.env)
            for name in missing:
                self.error(node, f"environment variable {name} is not set; set it, or give a "
                                 f"default with ${{{name}:-value}}", path)
            return text
        if tag == _TAG + "int":
            return int(value.replace("_", ""), 0) if value[:2] in ("0x", "0o") else int(value)
        if tag == _TAG + "float":
            return float(value.replace("_", "").replace(".inf", "inf").replace(".nan", "nan"))
        if tag == _TAG + "bool":
            return value.lower() == "true"
        if tag == _TAG + "null":
            return None
        return str(value)

    def error(self, node: Node, message: str, path: tuple[PathPart, ...] = ()) -> None:
        self.diagnostics.append(Diagnostic(source(self.file, node), message, path))


def load(path: Path, display: str, env: Mapping[str, str] | None = None,
         mark_depth: int = 3) -> Document:
    """Parse one file; syntax and interpolation problems land in `diagnostics`, never raise."""
    env = os.environ if env is None else env
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        before = exc.object[: exc.start]
        where = Source(display, before.count(b"\n") + 1, exc.start - before.rfind(b"\n"))
        return Document(display, path, None, [Diagnostic(where, (
            f"not UTF-8 text (byte 0x{exc.object[exc.start]:02x}); save the file as UTF-8, or move "
            "it out of the manifest directory if it is not a manifest"))])
    except OSError as exc:
        return Document(display, path, None, [Diagnostic(Source(display, 1, 1), (
            f"cannot read: {exc.strerror or exc}; check that it is a readable file"))])
    try:
        node = compose(text)
    except MarkedYAMLError as exc:
        return Document(display, path, None, [_syntax_diagnostic(display, exc, text)])
    if node is None:
        return Document(display, path, None, [Diagnostic(
            Source(display, 1, 1), EMPTY_FILE)])
    converter = _Converter(display, env, mark_depth)
    data = converter.convert(node, ())
    return Document(display, path, data, converter.diagnostics, converter.marks)


# ruamel.yaml's wording of a problem -> what to do about it.
_SYNTAX_HINTS = {
    "mapping values are not allowed": "quote the value if it contains ': ', or check this "
                                      "line's indentation",
    "found another document": "a file holds one YAML document; remove the '---' or split the file",
    "undefined alias": "an alias (*name) needs an anchor (&name) defined before it",
    "did not find expected key": "check the indentation and the quotes on this line",
    "cannot start any token": "quote the value (it starts with a reserved character such as @ or `)",
    "did not find expected ',' or": "close the bracket, or separate the items with commas",
    "found unexpected end of stream": "close the quote or bracket",
    "did not find expected '-' indicator": "a list item and a mapping key are mixed at the same "
                                           "indentation; check this line's indentation",
}


def _syntax_diagnostic(display: str, exc: MarkedYAMLError, text: str) -> Diagnostic:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark else 1
    column = mark.column + 1 if mark else 1
    problem = exc.problem or exc.context or "invalid YAML"
    lines = text.splitlines()
    if mark and mark.line < len(lines) and "\t" in lines[mark.line][: mark.column + 1]:
        return Diagnostic(Source(display, line, column),
                          "YAML syntax error: a tab character; YAML indentation must use spaces")
    started = exc.context_mark
    if exc.problem and exc.context and exc.context.startswith("while ") and started \
            and (started.line, started.column) != (line - 1, column - 1):
        problem += f" ({exc.context} that starts at line {started.line + 1}, column {started.column + 1})"
    hint = next((h for key, h in _SYNTAX_HINTS.items() if key in (exc.problem or "")),
                "fix the YAML at this position")
    return Diagnostic(Source(display, line, column), f"YAML syntax error: {problem}; {hint}")


def locate(document: Document, path: tuple[PathPart, ...], key: bool = False) -> Source:
    """Where `path` stands in the file (its key if `key`), or its nearest existing parent."""
    best = document.marks.get(path[:3]) or Source(document.file, 1, 1)
    try:
        node = compose(document.path.read_text(encoding="utf-8"))
    except (OSError, MarkedYAMLError):
        return best
    for depth, part in enumerate(path):
        found: tuple[Node, Node] | None = None
        if isinstance(node, MappingNode):
            found = next(((k, v) for k, v in node.value if str(k.value) == str(part)), None)
        elif isinstance(node, SequenceNode) and isinstance(part, int) and part < len(node.value):
            found = (node.value[part], node.value[part])
        if found is None:
            return best
        key_node, node = found
        best = source(document.file, key_node if key and depth == len(path) - 1 else node)
    return best


def written(document: Document, path: tuple[PathPart, ...]) -> str | None:
    """The scalar at `path` as the file spells it (`+44...`, `007`), for hints; None if not found."""
    try:
        node: Node | None = compose(document.path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, MarkedYAMLError):
        return None
    for part in path:
        if isinstance(node, MappingNode):
            node = next((v for k, v in node.value if str(k.value) == str(part)), None)
        elif isinstance(node, SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            return None
    return str(node.value) if isinstance(node, ScalarNode) else None

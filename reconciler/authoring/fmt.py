"""`reconciler fmt`: rewrite manifests in one canonical layout, keeping every value and comment.

Like `terraform fmt`, it leaves nothing to argue about in review:
- two-space indentation, list items indented under their key (`key:` then `  - item`):
  ruamel.yaml's mapping=2, sequence=4, offset=2, the layout of the Kubernetes and GitHub
  Actions documentation;
- within an object, its fields in the order of the kind's schema model, then fields the
  model does not know (kept: the loader reports them), then the lifecycle fields
  (`ignore_changes`, `prevent_destroy`, `on_delete`). Comment lines right above a field
  move with it; blank lines stay where they are. Vendors, collections and keys keep the
  order they were written in;
- strings quoted only where YAML needs it, with double quotes: where a plain scalar would
  be read as something else by YAML 1.2 or 1.1 (`"1466"`, `"+442071234501"`, `"yes"`) or
  cannot be written plain (`"#Process"`). Block scalars (`|`, `>`) are kept as written;
- `null` spelt out, booleans lower-case, numbers as written; long lines are never folded;
- comments keep their column, except that re-indenting a line takes its comments along
  (a comment at the end of a line, and comment lines aligned with the line below them);
- line ends (LF or CRLF) and a byte-order mark are kept.

A file that does not parse is refused with file:line:column, as are %YAML/%TAG directives
and comments inside [...] / {...} (ruamel.yaml cannot keep them). A file using anchors or
aliases is only re-indented (a reordered or re-quoted anchor could change what its aliases
mean). Before anything is written, the result is parsed again and must hold the same data
and the same comments as the original; a file that would not is refused, never rewritten.
"""

from __future__ import annotations

import functools
import io
import re
from collections import Counter, OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent, DocumentStartEvent
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.representer import RoundTripRepresenter
from ruamel.yaml.resolver import VersionedResolver
from ruamel.yaml.scalarstring import (
    DoubleQuotedScalarString,
    FoldedScalarString,
    LiteralScalarString,
)

from reconciler.errors import ConfigError, Diagnostic, ManifestError, Source
from reconciler.files import atomic_write
from reconciler.manifest import source as yamlsource
from reconciler.manifest.files import CONFIG_FILE
from reconciler.manifest.loader import LIFECYCLE_FIELDS, manifest_files
from reconciler.providers.base import Provider
from reconciler.providers.registry import providers as provider_registry
from reconciler.state.registry import BACKENDS, DEFAULT

INDENT = {"mapping": 2, "sequence": 4, "offset": 2}
_WIDTH = 1 << 30  # never fold a long line
_STR = "tag:yaml.org,2002:str"
_DOCUMENT_START = re.compile(r"^---\s*(#.*)?$")
_SIMPLE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_ .@/()'-]*(?<! )$")
"""Text plain in any context once the resolvers read it as a string (no indicator, no ': ')."""
_RESOLVERS = (VersionedResolver(version=(1, 2)), VersionedResolver(version=(1, 1)))

Orders = Mapping[tuple[str, str], tuple[str, ...]]
"""(vendor, collection) -> the kind's field names, in schema model order."""


def field_orders(registry: Mapping[str, type[Provider]] | None = None) -> dict[tuple[str, str],
                                                                             tuple[str, ...]]:
    registry = provider_registry() if registry is None else registry
    return {(name, kind.collection): tuple(kind.schema.model_fields)
            for name, provider in registry.items() for kind in provider.kinds}


@dataclass
class FmtReport:
    """Files that were (or, when checking, would be) rewritten, and files refused."""

    changed: list[str] = field(default_factory=list)
    problems: list[Diagnostic] = field(default_factory=list)


def format_paths(target: Path, write: bool,
                 registry: Mapping[str, type[Provider]] | None = None) -> FmtReport:
    """Format reconciler.yaml and every manifest under `target` (or the one file `target`)."""
    orders = field_orders(registry)
    report = FmtReport()
    for path in manifest_paths(target):
        display = yamlsource.display_path(path)
        document = yamlsource.load(path, display, _EveryVariable(), mark_depth=0)
        problems = [d for d in document.diagnostics if d.message != yamlsource.EMPTY_FILE]
        if problems or document.data is None:
            report.problems.extend(problems)  # an empty file has nothing to format
            continue
        raw = path.read_bytes().decode("utf-8")  # bytes: read_text would hide CRLF
        bom, text = raw.startswith("\ufeff"), raw.removeprefix("\ufeff")
        crlf = "\r\n" in text
        text = text.replace("\r\n", "\n")
        try:
            formatted = format_text(text, orders, display)
        except ManifestError as exc:
            report.problems.extend(exc.diagnostics)
            continue
        if formatted != text:
            report.changed.append(display)
            if write:
                _write(path, ("\ufeff" if bom else "") +
                       (formatted.replace("\n", "\r\n") if crlf else formatted))
    return report


def manifest_paths(target: Path) -> list[Path]:
    """The files `fmt` looks at: the loader's manifests, plus reconciler.yaml."""
    if target.is_file():
        return [target]
    if not target.is_dir():
        raise ConfigError(f"{target}: no such file or directory; pass a manifest directory "
                          "or a file")
    config = target / CONFIG_FILE
    return ([config] if config.is_file() else []) + manifest_files(target, _state_dir(target))


def format_text(text: str, orders: Orders, display: str = "<text>") -> str:
    """`text` in the canonical layout; raises ManifestError when it cannot be done safely."""
    head, body = _split_head(text)
    offset = head.count("\n")
    try:
        explicit_start, anchors = _inspect(body, display)
        node = yamlsource.compose(body)
        if node is None:
            return text
        reordered = body if anchors else _reorder_blocks(body, node, orders)
        yaml = _yaml(explicit_start)
        data = yaml.load(reordered)
        if not anchors:
            _reorder_flows(data, orders)
            data = _normalise(data, flow=False)
        out = io.StringIO()
        yaml.dump(data, out)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Source(display, offset + mark.line + 1, mark.column + 1) if mark \
            else Source(display, 1, 1)
        raise ManifestError([Diagnostic(where, f"YAML syntax error: {exc.problem or exc}; fix "
                                               "it, then run fmt again")]) from None
    formatted = head + _align_comments(node, out.getvalue())
    _check_same(text, formatted, display)
    return formatted


def _split_head(text: str) -> tuple[str, str]:
    """The comments and `---` line before the document, kept verbatim (ruamel.yaml drops the
    comments before a `---`, and a schema modeline often stands there), and the rest."""
    lines = text.split("\n")
    for index, line in enumerate(lines):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            if _DOCUMENT_START.match(line) and index + 1 < len(lines):
                return "\n".join(lines[:index + 1]) + "\n", "\n".join(lines[index + 1:])
            break
    return "", text


def _check_same(text: str, formatted: str, display: str) -> None:
    """Never lose content: the result must read as the same data with the same comments."""
    before, after = _comments(text), _comments(formatted)
    lost = before - after
    if lost:
        raise ManifestError([Diagnostic(Source(display, 1, 1), (
            f"fmt would lose the comment(s) {', '.join(sorted(lost))}, so it left the file as "
            "it is: a comment inside [...] or {...} cannot be kept; move it to a line of its "
            "own above"))])
    if before != after or _data(formatted) != _data(text):
        raise ManifestError([Diagnostic(Source(display, 1, 1), (
            "fmt cannot lay this file out without changing its data or comments, so it left "
            "it as it is; this is a bug in reconciler fmt, please report it with the file"))])


def _inspect(text: str, display: str) -> tuple[bool, bool]:
    """(the document starts with an explicit ---, it uses anchors or aliases)."""
    explicit = anchors = False
    for event in YAML(typ="safe", pure=False).parse(text):
        if isinstance(event, DocumentStartEvent):
            explicit = bool(event.explicit)
            if getattr(event, "version", None) or getattr(event, "tags", None):
                raise ManifestError([Diagnostic(Source(display, 1, 1), (
                    "fmt does not rewrite files with %YAML or %TAG directives; remove them "
                    "(reconciler reads YAML 1.2)"))])
        elif isinstance(event, AliasEvent) or getattr(event, "anchor", None):
            anchors = True
    return explicit, anchors


# ------------------------------------------------------------- field order ----

def target_order(names: list[str], fields: tuple[str, ...]) -> list[str]:
    """Schema fields in model order, then unknown fields as written, then lifecycle fields."""
    known = [f for f in fields if f in names]
    lifecycle = [f for f in LIFECYCLE_FIELDS if f in names and f not in fields]
    return known + [n for n in names if n not in known and n not in lifecycle] + lifecycle


def _objects(root: Node, orders: Orders) -> Iterator[tuple[Node, MappingNode, tuple[str, ...]]]:
    """(key node, object node, field order) of every object of a known vendor and collection."""
    if not isinstance(root, MappingNode):
        return
    for vendor, collections in root.value:
        if not isinstance(collections, MappingNode):
            continue
        for collection, entries in collections.value:
            fields = orders.get((str(vendor.value), str(collection.value)))
            if fields is None or not isinstance(entries, MappingNode):
                continue
            for key, body in entries.value:
                if isinstance(body, MappingNode):
                    yield key, body, fields


def _reorder_blocks(text: str, root: Node, orders: Orders) -> str:
    """Reorder the fields of block-style objects by moving whole lines: a field's lines run
    from the comment lines right above it to the end of its value; the lines between two
    fields (blank lines, detached comments) stay in place. Each object keeps its line span,
    so objects can be done one after the other on the same line numbers."""
    if any(c in text for c in "\r\x85\u2028\u2029"):
        return text  # line breaks the line arithmetic below does not count; layout only
    lines = text.split("\n")
    for key, body, fields in _objects(root, orders):
        spans = _field_spans(lines, key, body)
        names = [str(k.value) for k, _ in body.value]
        order = target_order(names, fields)
        if spans is None or order == names:
            continue
        chunks = {name: lines[top:last + 1] for name, (top, last) in zip(names, spans, strict=True)}
        gaps = [lines[spans[i][1] + 1:spans[i + 1][0]] for i in range(len(spans) - 1)]
        new: list[str] = []
        for index, name in enumerate(order):
            new += chunks[name] + (gaps[index] if index < len(gaps) else [])
        lines[spans[0][0]:spans[-1][1] + 1] = new
    return "\n".join(lines)


def _field_spans(lines: list[str], key: Node, body: MappingNode) -> list[tuple[int, int]] | None:
    """(first line, last line) of each field, or None when the layout is not one field per
    line run (flow style, complex keys, aliases): such an object keeps its order."""
    if body.flow_style:
        return None
    spans: list[tuple[int, int]] = []
    floor = key.start_mark.line
    for field_key, value in body.value:
        line = field_key.start_mark.line
        if not isinstance(field_key, ScalarNode) or line <= floor \
                or lines[line][:field_key.start_mark.column].strip():
            return None
        last = _last_line(lines, value)
        if value.start_mark.line < line or last < line:
            return None  # the value stands elsewhere
        top = line
        while top - 1 > floor and lines[top - 1].lstrip().startswith("#"):
            top -= 1
        spans.append((top, last))
        floor = last
    return spans


def _last_line(lines: list[str], node: Node) -> int:
    """The last line holding `node`'s content (not the blank lines or comments after it)."""
    if isinstance(node, ScalarNode):
        end = node.end_mark
        if node.style not in ("|", ">"):
            return int(end.line)
        last = end.line - 1 if end.column == 0 else end.line
        header = lines[node.start_mark.line][node.start_mark.column:].split(" ", 1)[0]
        if "+" not in header:  # keep-chomping: trailing blank lines are content
            while last > node.start_mark.line and not lines[last].strip():
                last -= 1
        return int(last)
    if isinstance(node, MappingNode | SequenceNode) and not node.flow_style and node.value:
        child = node.value[-1]
        return _last_line(lines, child[1] if isinstance(child, tuple) else child)
    return int(node.end_mark.line)


def _reorder_flows(data: Any, orders: Orders) -> None:
    """Flow-style objects (`key: {order: 1, name: A}`) hold no comments: reorder in place."""
    if not isinstance(data, CommentedMap):
        return
    for vendor, collections in data.items():
        if not isinstance(collections, CommentedMap):
            continue
        for collection, entries in collections.items():
            fields = orders.get((str(vendor), str(collection)))
            if fields is None or not isinstance(entries, CommentedMap):
                continue
            for body in entries.values():
                if isinstance(body, CommentedMap) and body.fa.flow_style():
                    for name in target_order([str(k) for k in body], fields):
                        body.move_to_end(name)


# ----------------------------------------------------------------- quoting ----

def _normalise(node: Any, flow: bool) -> Any:
    """Plain strings where YAML allows them, double quotes elsewhere; containers in place."""
    if isinstance(node, CommentedMap):
        inner = flow or bool(node.fa.flow_style())
        for index, key in enumerate(list(node)):
            value = _normalise(node[key], inner)
            new_key = _string(key, inner, is_key=True) if isinstance(key, str) else key
            if type(new_key) is not type(key):
                comment = node.ca.items.pop(key, None)
                del node[key]
                node.insert(index, new_key, value)
                if comment is not None:
                    node.ca.items[new_key] = comment
            elif value is not node[key]:
                OrderedDict.__setitem__(node, key, value)  # its own __setitem__ keeps the quotes
        return node
    if isinstance(node, CommentedSeq):
        inner = flow or bool(node.fa.flow_style())
        for index, item in enumerate(node):
            value = _normalise(item, inner)
            if value is not item:
                list.__setitem__(node, index, value)  # its own __setitem__ keeps the quotes
        return node
    if isinstance(node, str):
        return _string(node, flow)
    return node


def _string(value: str, flow: bool, is_key: bool = False) -> str:
    if isinstance(value, LiteralScalarString | FoldedScalarString):
        return value
    if _plain_ok(str(value), flow, is_key):
        return value if type(value) is str else str(value)
    return value if isinstance(value, DoubleQuotedScalarString) else DoubleQuotedScalarString(value)


@functools.lru_cache(maxsize=4096)
def _plain_ok(text: str, flow: bool, is_key: bool) -> bool:
    """Whether `text` may stand unquoted here: read back as the same string by YAML 1.2 and
    1.1, and written plain by the emitter (asked directly: it knows every indicator rule)."""
    if any(r.resolve(ScalarNode, text, (True, False)) != _STR for r in _RESOLVERS):
        return False
    if _SIMPLE.match(text):
        return True
    probe = _probe()
    out = io.StringIO()
    if flow:
        seq = CommentedSeq([text])
        seq.fa.set_flow_style()
        probe.dump(seq, out)
        return out.getvalue() == f"[{text}]\n"
    probe.dump({text: 1} if is_key else {"k": text}, out)
    return out.getvalue() == (f"{text}: 1\n" if is_key else f"k: {text}\n")


@functools.cache
def _probe() -> YAML:
    probe = YAML()
    probe.width = _WIDTH
    return probe


class _Representer(RoundTripRepresenter):
    def represent_none(self, data: Any) -> Any:
        return self.represent_scalar("tag:yaml.org,2002:null", "null")


_Representer.add_representer(type(None), _Representer.represent_none)


def _yaml(explicit_start: bool) -> YAML:
    yaml = YAML()  # round trip: comments, blank lines, flow style and quotes survive
    yaml.Representer = _Representer
    yaml.preserve_quotes = True
    yaml.width = _WIDTH
    yaml.indent(**INDENT)
    yaml.explicit_start = explicit_start
    return yaml


# ---------------------------------------------------------------- comments ----

def _align_comments(original: Node, formatted: str) -> str:
    """ruamel.yaml keeps every comment at its column. Where re-indenting moved a line, move
    its comments with it: a comment line that stood aligned with the line below it is
    re-aligned with that line, and a comment at the end of a line shifts as the line did
    (so comments aligned in a column stay aligned)."""
    before: dict[tuple[str, ...], int] = {}
    _line_starts(original, (), before, {}, set())
    after: dict[int, tuple[tuple[str, ...], int]] = {}
    inside: set[int] = set()
    _line_starts(yamlsource.compose(formatted), (), {}, after, inside)
    lines = formatted.split("\n")
    for line, column in _end_of_line_comments(formatted).items():
        if line in after and after[line][0] in before:
            path, indent = after[line]
            end = len(lines[line][:column].rstrip())
            target = max(column - (before[path] - indent), end + 1)
            lines[line] = lines[line][:end] + " " * (target - end) + lines[line][column:]
    for index in range(len(lines) - 2, -1, -1):
        text = lines[index].lstrip(" ")
        if not text.startswith("#") or index in inside:
            continue
        below = next((j for j in range(index + 1, len(lines))
                      if not lines[j].lstrip(" ").startswith("#") or j in inside), None)
        if below is None or below not in after:
            continue
        path, column = after[below]
        if before.get(path) == len(lines[index]) - len(text):
            lines[index] = " " * column + text
    return "\n".join(lines)


def _end_of_line_comments(text: str) -> dict[int, int]:
    """line -> column of each comment that follows content on its line."""
    found: dict[int, int] = {}
    for index, line, column in _comment_positions(text):
        if text[text.rfind("\n", 0, index) + 1:index].strip():
            found[line] = column
    return found


def _line_starts(node: Node | None, path: tuple[str, ...], columns: dict[tuple[str, ...], int],
                 lines: dict[int, tuple[tuple[str, ...], int]], inside: set[int]) -> None:
    """Every mapping key and list item that starts a line: its column by path, and its path
    and column by line; `inside` gets the lines inside multi-line scalars (not comments)."""
    if isinstance(node, ScalarNode):
        last = node.end_mark.line - (1 if node.end_mark.column == 0 else 0)
        inside.update(range(node.start_mark.line + 1, last + 1))
    elif isinstance(node, MappingNode):
        for key, value in node.value:
            here = (*path, str(key.value))
            if not node.flow_style:
                columns[here] = key.start_mark.column
                lines.setdefault(key.start_mark.line, (here, key.start_mark.column))
            _line_starts(value, here, columns, lines, inside)
    elif isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            here = (*path, str(index))
            if not node.flow_style:
                columns[here] = node.start_mark.column
                lines.setdefault(item.start_mark.line, (here, node.start_mark.column))
            _line_starts(item, here, columns, lines, inside)


# ------------------------------------------------------------------ safety ----

def _data(text: str) -> Any:
    return YAML(typ="safe", pure=False).load(text)


def _comments(text: str) -> Counter[str]:
    """Every comment's text, counted: what a rewrite must keep."""
    found: Counter[str] = Counter()
    for index, _, _ in _comment_positions(text):
        end = text.find("\n", index)
        found[text[index:end if end >= 0 else None].strip()] += 1
    return found


def _comment_positions(text: str) -> Iterator[tuple[int, int, int]]:
    """(index, line, column) of every comment: a `#` in what stands between the scanner's
    tokens (a block scalar is one token, so its text is never taken for a comment)."""
    position, line, line_start = 0, 0, 0
    for token in [*YAML(typ="safe", pure=False).scan(text), None]:
        stop = token.start_mark.index if token is not None else len(text)
        if position < stop:
            gap = text[position:stop]
            offset = 0
            for part in gap.split("\n"):
                if offset:  # a new line began
                    line, line_start = line + 1, position + offset
                if "#" in part:
                    index = position + offset + part.index("#")
                    yield index, line, index - line_start
                offset += len(part) + 1
        if token is not None and token.end_mark.index > position:
            position = token.end_mark.index
            line, line_start = token.end_mark.line, position - token.end_mark.column


# ------------------------------------------------------------------- files ----

class _EveryVariable(Mapping[str, str]):
    """An environment in which every ${VAR} is set (to ""): fmt checks syntax, not variables."""

    def __getitem__(self, key: str) -> str:
        return ""

    def __contains__(self, key: object) -> bool:
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def _state_dir(directory: Path) -> Path | None:
    """The local state folder, which the loader skips too (read leniently: fmt does not need
    a valid reconciler.yaml, nor its variables)."""
    try:
        data = YAML(typ="safe").load((directory / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, YAMLError):
        return None
    state = data.get("state") if isinstance(data, dict) else None
    state = state if isinstance(state, dict) else {}
    backend = BACKENDS.get(state.get("backend", DEFAULT))
    if backend is None or "$" in str(state):
        return None
    try:
        return backend.settings_model().model_validate({"backend": backend.name, **state}).folder(directory)
    except ValidationError:
        return None


def _write(path: Path, text: str) -> None:
    """Replace the file in one step, keeping its permissions (files.atomic_write): a crash
    leaves the old file or the new one, never an empty one."""
    atomic_write(path, text)


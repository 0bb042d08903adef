"""The plain subset of YAML that manifests are mostly written in, read line by line.

Nearly every manifest is block mappings of one-line scalars, with comments and blank lines.
Composing ruamel's node tree makes an event, a node and a resolved tag for every value: two
thirds of a no-op plan's time at 6,000 purposes. Reading such a file line by line gives the
same values and positions at a fraction of the cost. Anything outside the subset (lists,
flow collections, anchors, tags, escapes, multi-line scalars, odd indentation, a duplicate
key, a value with a problem to report) makes `read` return None, and the file is read by
ruamel as before: this reader never decides what a file means when ruamel might disagree.
tests/test_plain_yaml.py checks the two against each other on generated documents.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Protocol

from reconciler import perf
from reconciler.errors import Diagnostic, Source

PathPart = str | int


class Converter(Protocol):
    """What the reader needs of source.py's converter: the values it makes of scalars (text
    with variables replaced, typed values), the marks and problems it collects."""

    file: str
    mark_depth: int
    marks: dict[tuple[PathPart, ...], Source]
    diagnostics: list[Diagnostic]

    def scalar(self, tag: str, value: str, quoted: bool, node: Any,
               path: tuple[PathPart, ...]) -> Any: ...

_KEY_LINE = re.compile(r"( *)([A-Za-z0-9_][A-Za-z0-9_.-]*):(?: +(.*))?")
"""`key:` or `key: rest` at some indentation: the only line (with comments and blank
lines) the subset has. Keys are plain words, as in every manifest."""
_SKIPPED = re.compile(r" *(?:#.*)?")
"""A blank line or a comment line."""
_NO_VALUE = ("", "#")
"""How the rest of a `key:` line starts when the key's value is below it (or empty)."""
_OUTSIDE = "[\t\r\x85\u2028\u2029\ufeff\\\\]|[^\n\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
"""Characters the subset leaves to ruamel: tabs, other line breaks, a byte-order mark,
backslashes (escapes) and whatever YAML does not allow in a file."""
_OUTSIDE_ASCII = re.compile("[\x00-\x09\x0b-\x1f\x7f\\\\]")
"""The same in a text of ASCII only, where a short class is searched much faster (and
compiled faster: the one above is compiled, then cached by `re`, only when needed)."""
_PLAIN_FIRST_REFUSED = frozenset("-?:,[]{}#&*!|>'\"%@` ")
"""What a plain scalar may not start with (YAML's indicators): `-1` aside, left to ruamel."""
MAX_KEY = 1000
"""Longer keys are left to ruamel (YAML limits an implicit key to 1,024 characters)."""


class _Outside(Exception):
    """The file leaves the subset: ruamel reads it."""


def read(text: str, converter: Converter, tag_of: Callable[[str], str],
         max_depth: int) -> Any | None:
    """The file's data (marks and values made by `converter`, as from ruamel's nodes;
    `tag_of` resolves a plain scalar's tag), or None when the file is outside the subset or
    has a problem to report (ruamel's reading then places it)."""
    if (_OUTSIDE_ASCII if text.isascii() else re.compile(_OUTSIDE)).search(text) is not None:
        return None
    try:
        data = _Reader(converter, tag_of, max_depth).read(text)
    except _Outside:
        return None
    return None if converter.diagnostics else data


class _Frame:
    __slots__ = ("indent", "mapping", "marked", "path")

    def __init__(self, indent: int, mapping: dict[str, Any], path: tuple[PathPart, ...],
                 mark_depth: int) -> None:
        self.indent = indent
        self.mapping = mapping
        self.path = path
        self.marked = len(path) < mark_depth  # whether its values' positions are kept


class _Reader:
    def __init__(self, converter: Converter, tag_of: Callable[[str], str], max_depth: int) -> None:
        self.converter = converter
        self.tag_of = tag_of
        self.max_depth = max_depth
        self.marks = converter.marks
        self.mark_depth = converter.mark_depth
        self.file = converter.file

    def read(self, text: str) -> dict[str, Any]:
        root: dict[str, Any] | None = None
        stack: list[_Frame] = []
        open_key: tuple[_Frame, str, int, int] | None = None  # `key:` waiting for its value
        key_line, skipped, intern = _KEY_LINE.fullmatch, _SKIPPED.fullmatch, perf.key
        convert, scalar, mark_depth = self.converter.scalar, self.scalar, self.mark_depth
        for number, line in enumerate(text.split("\n"), 1):
            match = key_line(line)
            if match is None:
                if skipped(line) is None:
                    raise _Outside
                continue
            spaces, key, rest = match.groups()
            indent = len(spaces)
            if open_key is not None:  # (never before the root's first key)
                frame, above, above_line, column = open_key
                open_key = None
                if indent > frame.indent:  # the key's value is this nested mapping
                    if len(stack) >= self.max_depth:
                        raise _Outside
                    path = (*frame.path, above)
                    nested: dict[str, Any] = {}
                    frame.mapping[above] = nested
                    stack.append(_Frame(indent, nested, path, mark_depth))
                    self.mark(path, number, indent + 1)
                else:
                    self.empty(frame, above, above_line, column)
            elif root is None:
                if indent:
                    raise _Outside
                root = {}
                stack.append(_Frame(0, root, (), mark_depth))
                self.mark((), number, 1)
            frame = stack[-1]
            while frame.indent > indent:
                stack.pop()
                frame = stack[-1]
            if frame.indent != indent:
                raise _Outside
            key = intern(key)  # field names repeat in every object
            mapping = frame.mapping
            if key in mapping or len(key) > MAX_KEY:
                raise _Outside  # a duplicate key: ruamel's reading reports where
            if rest is None or rest[:1] in _NO_VALUE or not rest.strip(" "):
                mapping[key] = None  # until its value's lines (or none) come
                open_key = (frame, key, number, match.end(2) + 2)
                continue
            if frame.marked:
                self.mark((*frame.path, key), number, match.start(3) + 1)
            if rest[0] == '"' and rest.find('"', 1) == len(rest) - 1:  # "text", most values
                mapping[key] = convert("", rest[1:-1], True, None, ())
            else:
                mapping[key] = scalar(rest)
        if open_key is not None:
            self.empty(*open_key)
        if root is None:
            raise _Outside  # nothing but comments: ruamel says the file is empty
        return root

    def mark(self, path: tuple[PathPart, ...], line: int, column: int) -> None:
        if len(path) <= self.mark_depth:
            self.marks[path] = Source(self.file, line, column)

    def empty(self, frame: _Frame, key: str, line: int, column: int) -> None:
        """`key:` with nothing under it: an empty (null) value, marked just after the colon."""
        path = (*frame.path, key)
        self.mark(path, line, column)
        frame.mapping[key] = self.converter.scalar(self.tag_of(""), "", False, None, path)

    def scalar(self, rest: str) -> Any:
        """The value after `key: `. Its path is not needed: a problem with it sends the file
        to ruamel, whose reading reports it."""
        first = rest[0]
        if first == '"':
            end = rest.find('"', 1)
            if end < 0:
                raise _Outside
            if end + 1 < len(rest):
                _comment_only(rest[end + 1:])
            return self.converter.scalar("", rest[1:end], True, None, ())
        if first == "'":
            end = 1
            while True:
                end = rest.find("'", end)
                if end < 0:
                    raise _Outside
                if rest[end + 1:end + 2] != "'":
                    break
                end += 2
            if end + 1 < len(rest):
                _comment_only(rest[end + 1:])
            return self.converter.scalar("", rest[1:end].replace("''", "'"), True, None, ())
        cut = rest.find(" #")
        value = (rest if cut < 0 else rest[:cut]).rstrip(" ")
        if first in _PLAIN_FIRST_REFUSED and not (first == "-" and value[1:2].isdigit()):
            raise _Outside
        if "#" in value or ": " in value or value.endswith(":"):
            raise _Outside
        return self.converter.scalar(self.tag_of(value), value, False, None, ())


def _comment_only(tail: str) -> None:
    """After a quoted scalar: nothing, spaces, or spaces and a comment."""
    if tail.startswith("#") or (tail and _SKIPPED.fullmatch(tail) is None):
        raise _Outside

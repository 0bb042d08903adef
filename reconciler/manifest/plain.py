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
from collections.abc import Callable, Iterator
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

    def verbatim(self, text: str) -> bool:
        """Whether every text in `text` (a file of the subset, whose texts are parts of it)
        is its own value: no variable to replace, nothing to refuse."""


MAX_KEY = 1000
"""Longer keys are left to ruamel (YAML limits an implicit key to 1,024 characters)."""
_LINE = re.compile(
    rf'^( *)(?:([A-Za-z0-9_][A-Za-z0-9_.-]{{0,{MAX_KEY - 1}}}):'
    r'(?:( +)(?:"([^"\n]+)"|(0|[1-9][0-9]{0,17})|(.*)))?'
    r"|(?:#.*)?|(.+))$", re.MULTILINE)
"""One line of the subset, matched over the whole text at once (`findall`: one tuple a line,
its parts cut in C): `key:` or `key: rest` at some indentation (the spaces before the
value, a "double-quoted" text or a decimal number alone on the line, or any other rest), a
blank or comment line (no group), or anything else (the last group: outside the subset).
Keys are plain words of at most MAX_KEY characters, as in every manifest."""
_SKIPPED = re.compile(r" *(?:#.*)?")
"""A blank line or a comment line."""
_OUTSIDE = "[\t\r\x85\u2028\u2029\ufeff\\\\]|[^\n\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
"""Characters the subset leaves to ruamel: tabs, other line breaks, a byte-order mark,
backslashes (escapes) and whatever YAML does not allow in a file."""
_INSIDE_ASCII = (bytes(range(0x20, 0x7f)) + b"\n").replace(b"\\", b"")
"""What the subset takes of ASCII: a text of ASCII only is checked by deleting these from
its bytes (`bytes.translate`, five times faster than searching for the others); the
expression above is compiled, then cached by `re`, only for a text that is not ASCII."""
_PLAIN_FIRST_REFUSED = frozenset("-?:,[]{}#&*!|>'\"%@` ")
"""What a plain scalar may not start with (YAML's indicators): `-1` aside, left to ruamel."""


_UNSEEN = object()


class _Outside(Exception):
    """The file leaves the subset: ruamel reads it."""


def read(text: str, converter: Converter, tag_of: Callable[[str], str],
         max_depth: int) -> Any | None:
    """The file's data (marks and values made by `converter`, as from ruamel's nodes;
    `tag_of` resolves a plain scalar's tag), or None when the file is outside the subset or
    has a problem to report (ruamel's reading then places it)."""
    if text.isascii():
        if text.encode().translate(None, _INSIDE_ASCII):
            return None
    elif re.compile(_OUTSIDE).search(text) is not None:
        return None
    try:
        data = _Reader(converter, tag_of, max_depth).read(text)
    except _Outside:
        return None
    return None if converter.diagnostics else data


CHUNK = 1 << 16
"""Characters of a file matched at once (then up to the end of the line): the lines' parts
take nine times the text's size, which a big file never holds all at once."""


def _chunks(text: str) -> Iterator[tuple[list[tuple[str, ...]], int]]:
    """The parts of each line of `text` (_LINE), a chunk of lines at a time, with the number
    of the chunk's first line."""
    start, size, first = 0, len(text), 1
    while True:
        end = text.find("\n", start + CHUNK) if start + CHUNK < size else -1
        end = size if end < 0 else end
        lines = _LINE.findall(text, start, end)  # `^` and `$` match at `start` and `end`
        if len(lines) != text.count("\n", start, end) + 1:
            raise _Outside  # (never: each line is one match)
        yield lines, first
        if end == size:
            return
        start, first = end + 1, first + len(lines)


class _Reader:
    def __init__(self, converter: Converter, tag_of: Callable[[str], str], max_depth: int) -> None:
        self.converter = converter
        self.tag_of = tag_of
        self.max_depth = max_depth
        self.marks = converter.marks
        self.mark_depth = converter.mark_depth
        self.file = converter.file

    def read(self, text: str) -> dict[str, Any]:
        # Every text of a file without `$` or a credential is the text as written: the
        # converter's checks of each one are made once, on the whole file.
        verbatim = self.converter.verbatim(text)
        convert, scalar, intern = self.converter.scalar, self.scalar, perf.key
        marks, file, mark_depth, max_depth = self.marks, self.file, self.mark_depth, self.max_depth
        typed: dict[str, Any] = {}  # values (after `key: `) met before in the file, as read
        root: dict[str, Any] | None = None
        # The mappings open at this line, outermost first: (indentation, mapping, path).
        stack: list[tuple[int, dict[str, Any], tuple[PathPart, ...]]] = []
        # The innermost of them (marked: whether its values' positions are kept).
        path: tuple[PathPart, ...] = ()
        indent_now, mapping, marked = -1, {}, False
        open_key: tuple[str, int, int] | None = None  # `key:` waiting for its value
        for lines, first in _chunks(text):
            for number, (spaces, key, gap, quoted, digits, rest, other) in enumerate(lines, first):
                if not key:
                    if other:
                        raise _Outside
                    continue  # a blank or comment line
                indent = len(spaces)
                if open_key is not None:  # (never before the root's first key)
                    above, above_line, column = open_key
                    open_key = None
                    if indent > indent_now:  # the key's value is this nested mapping
                        if len(stack) >= max_depth:
                            raise _Outside
                        path = (*path, above)
                        nested: dict[str, Any] = {}
                        mapping[above] = mapping = nested
                        indent_now = indent
                        stack.append((indent, nested, path))
                        marked = len(path) < mark_depth
                        if len(path) <= mark_depth:
                            marks[path] = Source(file, number, indent + 1)
                    else:
                        self.empty(mapping, path, above, above_line, column)
                elif root is None:
                    if indent:
                        raise _Outside
                    root = mapping = {}
                    indent_now = 0
                    stack.append((0, root, ()))
                    marked = mark_depth > 0
                    marks[()] = Source(file, number, 1)
                if indent != indent_now:
                    if indent > indent_now:
                        raise _Outside
                    while stack[-1][0] > indent:
                        stack.pop()
                    indent_now, mapping, path = stack[-1]
                    if indent_now != indent:
                        raise _Outside
                    marked = len(path) < mark_depth
                key = intern(key)  # field names repeat in every object
                if key in mapping:
                    raise _Outside  # a duplicate key: ruamel's reading reports where
                if quoted:  # "text", most values
                    value = quoted if verbatim else convert("", quoted, True, None, ())
                elif digits:  # a decimal number, YAML's int in every version
                    value = int(digits)
                elif not rest or rest[0] == "#":
                    mapping[key] = None  # until its value's lines (or none) come
                    open_key = (key, number, indent + len(key) + 2)
                    continue
                else:
                    value = typed.get(rest, _UNSEEN)
                    if value is _UNSEEN:
                        value = typed[rest] = scalar(rest)
                if marked:
                    marks[(*path, key)] = Source(file, number, indent + len(key) + len(gap) + 2)
                mapping[key] = value
        if open_key is not None:
            self.empty(mapping, path, *open_key)
        if root is None:
            raise _Outside  # nothing but comments: ruamel says the file is empty
        return root

    def mark(self, path: tuple[PathPart, ...], line: int, column: int) -> None:
        if len(path) <= self.mark_depth:
            self.marks[path] = Source(self.file, line, column)

    def empty(self, mapping: dict[str, Any], above: tuple[PathPart, ...], key: str, line: int,
              column: int) -> None:
        """`key:` with nothing under it: an empty (null) value, marked just after the colon."""
        path = (*above, key)
        self.mark(path, line, column)
        mapping[key] = self.converter.scalar(self.tag_of(""), "", False, None, path)

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

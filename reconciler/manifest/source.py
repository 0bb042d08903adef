"""YAML files -> plain Python values, with duplicate keys, ${VAR} interpolation and positions.

A file in YAML's plain subset (block mappings of one-line scalars: most manifests) is read
line by line (plain.py); any other goes through ruamel.yaml's C parser to a node tree,
converted here, because only the nodes know where each value stands (composing.py, imported
only then: a plan whose manifests are all plain never imports ruamel). Positions of
individual fields are looked up again (`locate`) only when an error needs
them, so that loading 100k purposes keeps no per-field marks in memory.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler import perf
from reconciler.errors import Diagnostic, Source
from reconciler.manifest import plain, resolver

if TYPE_CHECKING:  # ruamel.yaml is imported by composing.py, for the files that need it
    from ruamel.yaml.error import MarkedYAMLError
    from ruamel.yaml.nodes import MappingNode, Node
    from ruamel.yaml.reader import ReaderError

_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_MALFORMED = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|(\$\{[^}\n]{0,40}\}?)")
"""The same scan, whose third group is a `${` that is no variable: `${ TEAM }`, `${TEAM:?x}`,
`${A-B}`, `${1}`, an unterminated `${TEAM`."""
_TAG = "tag:yaml.org,2002:"
PathPart = str | int
EMPTY_FILE = "file is empty; declare something in it or delete it"
MAX_DEPTH = 64
"""Deepest nesting of mappings and lists in a file (a manifest needs seven)."""
MIN_ALIAS_BUDGET = 100_000
"""Values that aliases (*name) may add to a file, at least; more for a bigger file (one per
two bytes), so that a few hundred bytes of nested aliases cannot expand into gigabytes."""
_SAFE_FLOW_OPENERS = 1_000
_DEEP_BLOCK_PREFIX = re.compile(r"^[ \t?:-]{1000}", re.MULTILINE)


class _Limit(Exception):
    """A file past a nesting or alias limit: one diagnostic, and the file is not used."""

    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


@dataclass
class Document:
    """One parsed file: its data and where each top-level purpose starts."""

    file: str
    path: Path
    data: Any
    diagnostics: list[Diagnostic] = field(default_factory=list)
    marks: dict[tuple[PathPart, ...], Source] = field(default_factory=dict)
    tree: _Index | None = field(default=None, repr=False)  # composed again only to locate errors
    layers: list[tuple[Document, tuple[PathPart, ...]]] = field(default_factory=list, repr=False)
    """Documents some values came from (an environment's block or file, under a prefix): an
    error about such a value is located where it was written."""


class _Index:
    """A file's node tree, composed once for all the errors found in it, with each mapping's
    keys indexed on first use: locating N errors costs one parse and N short walks."""

    def __init__(self, root: Node | None) -> None:
        self.root = root
        self.keys: dict[int, dict[str, tuple[Node, Node]]] = {}

    def child(self, node: Node | None, part: PathPart) -> tuple[Node, Node] | None:
        """(key node, value node) of `part` under `node`; None when it is not there."""
        from reconciler.manifest.composing import MappingNode, SequenceNode

        if isinstance(node, MappingNode):
            table = self.keys.get(id(node))
            if table is None:
                table = {}
                for key_node, value_node in node.value:
                    table.setdefault(str(key_node.value), (key_node, value_node))
                self.keys[id(node)] = table
            return table.get(str(part))
        if isinstance(node, SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            return node.value[part], node.value[part]
        return None


def _tree(document: Document) -> _Index:
    if document.tree is None:
        from reconciler.manifest.composing import MarkedYAMLError, ReaderError

        try:
            text = read_regular(document.path).decode("utf-8")
            _check_depth(text, document.file)
            document.tree = _Index(compose(text))
        except (OSError, UnicodeDecodeError, MarkedYAMLError, ReaderError, _Limit):
            document.tree = _Index(None)
    return document.tree


def display_path(path: Path) -> str:
    """How messages name a file: relative to the working directory when it is below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _tag(node: Node) -> str:
    """The node's full tag; reads the plain suffix when there is nothing to decode, which
    skips ruamel's per-node Tag formatting."""
    ctag = node.ctag
    if ctag is not None and ctag.handle is None and isinstance(ctag.suffix, str) \
            and "%" not in ctag.suffix:
        return ctag.suffix
    return str(node.tag)


def plain_tag(value: str) -> str:
    """The tag YAML gives a plain scalar, by the resolver that composing uses (resolver.py
    holds its table): one reading.
    Short values (the numbers, words and names that repeat) are remembered; a long one is
    not kept by a cache that lives as long as the process."""
    return _short_plain_tag(value) if len(value) <= 64 else _resolved_tag(value)


@lru_cache(maxsize=4096)
def _short_plain_tag(value: str) -> str:
    return _resolved_tag(value)


_resolved_tag = resolver.resolve


def compose(text: str) -> Node | None:
    from reconciler.manifest import composing

    return composing.compose(text)


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


def literal(value: Any) -> Any:
    """A value to write into a manifest (drift --write-back, dump) with every `$` doubled, so
    that loading it gives back exactly this text: what a vendor holds is never a template
    (a name such as `x ${OUTREACH_TOKEN}` must not be expanded by the next plan)."""
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, list):
        return [literal(v) for v in value]
    if isinstance(value, dict):
        return {k: literal(v) for k, v in value.items()}
    return value


def _int(value: str) -> int:
    digits = value.replace("_", "")
    unsigned = digits[1:] if digits[:1] in ("+", "-") else digits
    return int(digits, 0) if unsigned[:2].lower() in ("0x", "0o", "0b") else int(digits)


def _float(value: str) -> float:
    text = value.replace("_", "").lower()
    special = {".inf": "inf", "+.inf": "inf", "-.inf": "-inf", ".nan": "nan"}
    return float(special.get(text, text))


def _bool(value: str) -> bool:
    text = value.lower()
    if text in ("true", "yes", "on", "y"):
        return True
    if text in ("false", "no", "off", "n"):
        return False
    raise ValueError(value)


def _null(value: str) -> None:
    if value not in ("", "~", "null", "Null", "NULL"):
        raise ValueError(value)


_TYPED: dict[str, Callable[[str], Any]] = {
    _TAG + "int": _int, _TAG + "float": _float, _TAG + "bool": _bool, _TAG + "null": _null}
_READ_TAGS = frozenset(_TAG + t for t in (
    "str", "int", "float", "bool", "null", "map", "seq", "merge", "timestamp", "value"))
"""Tags the loader reads: what YAML resolves plain values to (a timestamp or `=` stays
text). Any other (`!!python/object:...`, `!!binary`, `!custom`, `!!set`) is refused."""
_EXAMPLES = {_TAG + "int": "a whole number such as 42", _TAG + "float": "a number such as 1.5",
             _TAG + "bool": "true or false", _TAG + "null": "null"}


class _Converter:
    variables: frozenset[str] | None = None
    """The ${VAR}s a manifest may use (`variables:` in reconciler.yaml); None: any."""
    holding: Callable[[str], object] | None = None
    """Finds a credential of the run in a text (`credential_search`); None: there is none."""
    forms: tuple[str, ...] | None = None
    """The credentials `holding` finds (`credential_forms`), when known: a whole file is
    searched for each by str's own search, several times faster than by `holding`."""

    def __init__(self, file: str, env: Mapping[str, str], mark_depth: int,
                 alias_budget: int = MIN_ALIAS_BUDGET) -> None:
        self.file = file
        self.env = env
        self.mark_depth = mark_depth
        self.diagnostics: list[Diagnostic] = []
        self.marks: dict[tuple[PathPart, ...], Source] = {}
        self.alias_budget = alias_budget
        self.converted: set[int] = set()  # collections met so far: meeting one again is an alias
        self.sizes: dict[int, int] = {}

    def convert(self, node: Node, path: tuple[PathPart, ...]) -> Any:
        from reconciler.manifest.composing import MappingNode, SequenceNode

        depth = len(path)
        if depth <= self.mark_depth:
            self.marks[path] = source(self.file, node)
        tag = _tag(node)
        if tag not in _READ_TAGS:
            self.error(node, f"the YAML tag {tag.replace(_TAG, '!!')!r} is not read here (no "
                             "manifest value takes one); remove it, and quote the value if "
                             "it is text", path)
            return None
        if isinstance(node, MappingNode | SequenceNode):
            self._count(node, depth)
            if isinstance(node, MappingNode):
                return self._mapping(node, path)
            return [self.convert(item, (*path, i)) for i, item in enumerate(node.value)]
        return self._scalar(node, path)

    def _count(self, node: Node, depth: int) -> None:
        """Enforce the nesting limit, and charge a collection met again (through an alias)
        its expanded size against the alias budget."""
        if depth >= MAX_DEPTH:
            raise _Limit(Diagnostic(source(self.file, node), (
                f"nested deeper than {MAX_DEPTH} levels (a manifest needs seven); flatten it, "
                "or remove the alias that refers to its own parent")))
        if id(node) not in self.converted:
            self.converted.add(id(node))
            return
        self.alias_budget -= self._size(node, set())
        if self.alias_budget < 0:
            raise _Limit(Diagnostic(source(self.file, node), (
                "aliases expand to too many values (the anchor defined here is repeated, "
                "directly or through other aliases, past the limit that keeps memory bounded); "
                "write the values out, or use fewer nested aliases")))

    def _size(self, node: Node, open_: set[int]) -> int:
        """Values in `node` once every alias in it is expanded (memoised, cycle-safe)."""
        from reconciler.manifest.composing import MappingNode, SequenceNode

        known = self.sizes.get(id(node))
        if known is not None:
            return known
        if id(node) in open_ or len(open_) >= MAX_DEPTH:
            raise _Limit(Diagnostic(source(self.file, node), (
                "an alias refers to the mapping or list that contains it (an endless value); "
                "remove the alias")))
        open_.add(id(node))
        if isinstance(node, MappingNode):
            size = 1 + sum(1 + self._size(v, open_) for _, v in node.value)
        elif isinstance(node, SequenceNode):
            size = 1 + sum(self._size(v, open_) for v in node.value)
        else:
            size = 1
        open_.discard(id(node))
        self.sizes[id(node)] = size
        return size

    def _mapping(self, node: MappingNode, path: tuple[PathPart, ...]) -> dict[str, Any]:
        from reconciler.manifest.composing import ScalarNode

        result: dict[str, Any] = {}
        first_seen: dict[str, Node] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                self.error(key_node, "keys must be plain scalars, not mappings or lists")
                continue
            key = perf.key(str(key_node.value))  # field names repeat in every object
            if key in first_seen:
                line = first_seen[key].start_mark.line + 1
                self.error(key_node, f"duplicate key '{key}' (first defined at line {line}); "
                                     "remove one of them")
                continue
            first_seen[key] = key_node
            result[key] = self.convert(value_node, (*path, key))
        return result

    def _scalar(self, node: Node, path: tuple[PathPart, ...]) -> Any:
        return self.scalar(_tag(node), node.value,
                           getattr(node, "style", None) in ("'", '"', "|", ">"), node, path)

    def scalar(self, tag: str, value: str, quoted: bool, node: Node | None,
               path: tuple[PathPart, ...]) -> Any:
        """A scalar's value: text (with its variables replaced) or what its tag reads."""
        if quoted or tag == _TAG + "str":
            return self._text(node, value, path)
        if tag in _TYPED:
            try:
                return _TYPED[tag](value)
            except ValueError:
                self.error(node, f"{value!r} is not a valid {tag.removeprefix(_TAG)}; write "
                                 f"{_EXAMPLES[tag]}, or quote it to make it text", path)
                return None
        return str(value)

    def verbatim(self, text: str) -> bool:
        """Whether `_text` keeps every part of `text` as it is (the plain reader's texts are
        parts of the file's text): no `$`, no NUL, no credential in the whole text."""
        if "$" in text or "\x00" in text:
            return False
        if self.holding is None:
            return True
        if self.forms is not None:
            return not any(form in text for form in self.forms)
        return self.holding(text) is None

    def _text(self, node: Node | None, value: str, path: tuple[PathPart, ...]) -> str:
        """A string with its variables replaced: only declared ones, and never into a value
        that then holds a credential (a pull request must not be able to print CI secrets)."""
        if "${" in value:
            bad = [m.group(3) for m in _MALFORMED.finditer(value) if m.group(3)]
            if bad:
                self.error(node, f"{bad[0]!r} is not a variable: write ${{NAME}} or "
                                 "${NAME:-default} (NAME: letters, digits and _, not first a "
                                 "digit), or $$ for a literal $", path)
                return ""
        if self.variables is not None and "${" in value:
            undeclared = sorted({m.group(1) for m in _VAR.finditer(value)
                                 if m.group(1) and m.group(1) not in self.variables})
            for name in undeclared:
                self.error(node, f"${{{name}}}: not a declared variable; manifests may only use "
                                 f"the variables listed under variables: in reconciler.yaml (add "
                                 f"{name} there if it holds no secret)", path)
            if undeclared:
                return ""
        text, missing = interpolate(value, self.env) if "$" in value else (value, ())
        for name in missing:
            self.error(node, f"environment variable {name} is not set; set it, or give a "
                             f"default with ${{{name}:-value}}", path)
        if self.holding is not None and self.holding(text) is not None:
            self.error(node, "this value holds the value of a credential; credentials belong "
                             "only in reconciler.yaml's credential settings, where they are "
                             "never shown; remove it", path)
            return ""
        if "\x00" in text:  # from a "\0" escape or a variable: no vendor or state keeps it
            self.error(node, "this value holds a NUL character (\\0), which neither the vendors "
                             "nor the state can store; remove it", path)
            return ""
        return text

    def error(self, node: Node | None, message: str, path: tuple[PathPart, ...] = ()) -> None:
        """A problem at `node`; without one (the plain reader's), the file is read again by
        ruamel, whose nodes say where."""
        where = Source(self.file, 1, 1) if node is None else source(self.file, node)
        self.diagnostics.append(Diagnostic(where, message, path))


def load(path: Path, display: str, env: Mapping[str, str] | None = None,
         mark_depth: int = 3, variables: Collection[str] | None = None,
         credentials: Collection[str] = ()) -> Document:
    """Parse one file; syntax and interpolation problems land in `diagnostics`, never raise.

    A manifest is loaded with the `variables` it may use and the `credentials` no value may
    contain; reconciler.yaml (variables None) may read any variable."""
    env = os.environ if env is None else env
    try:
        text = read_regular(path).decode("utf-8")
    except UnicodeDecodeError as exc:
        before = exc.object[: exc.start]
        where = Source(display, before.count(b"\n") + 1, exc.start - before.rfind(b"\n"))
        return Document(display, path, None, [Diagnostic(where, (
            f"not UTF-8 text (byte 0x{exc.object[exc.start]:02x}); save the file as UTF-8, or move "
            "it out of the manifest directory if it is not a manifest"))])
    except OSError as exc:
        return Document(display, path, None, [Diagnostic(Source(display, 1, 1), unreadable(exc))])
    shared = _SHARED.get()
    if shared is not None:
        key = (display, path, text, mark_depth, None if variables is None else frozenset(variables),
               tuple((n, env.get(n)) for n in sorted({m.group(1) for m in _VAR.finditer(text)
                                                       if m.group(1)})))
        found = shared.get(key)
        if found is not None and not _holds(found.data, credentials):
            return Document(display, path, found.data, [], found.marks)  # marks: read only
        token = _SHARED.set(None)
        try:
            document = load(path, display, env, mark_depth, variables, credentials)
        finally:
            _SHARED.reset(token)
        if shared.left >= len(text) and not document.diagnostics:
            shared[key] = Document(display, path, document.data, [], dict(document.marks))
            shared.left -= len(text)
        return document
    allowed = None if variables is None else frozenset(variables)
    holding, forms = credential_search(credentials), credential_forms(credentials)

    def converter() -> _Converter:
        made = _Converter(display, env, mark_depth, max(MIN_ALIAS_BUDGET, len(text) // 2))
        made.variables, made.holding, made.forms = allowed, holding, forms
        return made

    fast = converter()
    data = plain.read(text, fast, plain_tag, MAX_DEPTH)
    if data is not None:
        return Document(display, path, data, [], fast.marks)
    from reconciler.manifest.composing import MarkedYAMLError, ReaderError

    try:
        _check_depth(text, display)
        node = compose(text)
        if node is None:
            return Document(display, path, None, [Diagnostic(Source(display, 1, 1), EMPTY_FILE)])
        slow = converter()
        data = slow.convert(node, ())
    except MarkedYAMLError as exc:
        return Document(display, path, None, [_syntax_diagnostic(display, exc, text)])
    except ReaderError as exc:
        return Document(display, path, None, [_reader_diagnostic(display, exc, text)])
    except _Limit as exc:
        return Document(display, path, None, [exc.diagnostic])
    return Document(display, path, data, slow.diagnostics, slow.marks)


class Parsed(dict[Any, Document]):
    """Files parsed during `shared_parses`, with the characters they may still take."""

    left = 64_000_000


_SHARED: ContextVar[Parsed | None] = ContextVar("shared_parses", default=None)


@contextmanager
def shared_parses(parsed: Parsed) -> Iterator[None]:
    """Within it (a fleet's run), a file read again with the same text and the same values of
    the variables it uses is not parsed again: a fleet's environments read the same
    manifests, each as its own Document over the one parsed data (which nothing changes; a
    file with problems is always parsed anew, and one holding a credential of the reader's
    run is refused as usual). Bounded: past 64 million characters, files are parsed as usual."""
    token = _SHARED.set(parsed)
    try:
        yield
    finally:
        _SHARED.reset(token)


def credential_search(credentials: Collection[str]) -> Callable[[str], object] | None:
    """One search for all of the run's credentials (each as given and stripped, of 4
    characters or more) that no manifest value may contain: a text is checked in 0.2 µs,
    not the 0.5 µs of a test per credential (22,000 texts in 6,000 purposes). None when
    there is nothing to look for."""
    forms = credential_forms(credentials)
    return re.compile("|".join(map(re.escape, forms))).search if forms else None


def credential_forms(credentials: Collection[str]) -> tuple[str, ...]:
    """The texts `credential_search` looks for."""
    return tuple(sorted({c for s in credentials for c in (s, s.strip()) if len(c) >= 4}))


def _holds(data: Any, credentials: Collection[str]) -> bool:
    """Whether a string of `data` contains one of `credentials` (the check a parse makes)."""
    holding = credential_search(credentials)
    if holding is None:
        return False
    stack = [data]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            if holding(value) is not None:
                return True
        elif isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return False


def _reader_diagnostic(display: str, exc: ReaderError, text: str) -> Diagnostic:
    """A character YAML does not allow in a file (a control character, mostly)."""
    position = exc.position if isinstance(exc.position, int) else 0
    before = text[:position]
    where = Source(display, before.count("\n") + 1, position - before.rfind("\n"))
    code = exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1] or "?")
    return Diagnostic(where, f"YAML does not allow the character U+{code:04X} in a file (a "
                             "control character); remove it, or write it as an escape in a "
                             'double-quoted string ("\\x1f")')


class NotRegularFile(OSError):
    """A FIFO, device, socket or directory where a file was expected: never read, since
    reading one can block forever (a FIFO) or never end (/dev/zero)."""


MAX_MANIFEST_MB = 16
"""Largest manifest file read: parsing costs several times a file's size in memory."""


class TooLarge(OSError):
    """A manifest (or reconciler.yaml) larger than MAX_MANIFEST_MB."""


def read_regular(path: Path) -> bytes:
    """The bytes of a regular file (through symlinks) of at most MAX_MANIFEST_MB; anything
    else raises OSError."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO opens at once, without a writer
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotRegularFile(f"not a regular file (it is {_file_type(info.st_mode)})")
        limit = MAX_MANIFEST_MB * 2**20
        if info.st_size > limit:
            raise TooLarge(f"larger than {MAX_MANIFEST_MB} MB ({info.st_size / 2**20:.0f} MB), the "
                           "most a manifest file is read with (MAX_MANIFEST_MB); split it into "
                           "several files")
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=False) as handle:
            return handle.read(limit + 1)
    finally:
        os.close(fd)


def _file_type(mode: int) -> str:
    kinds = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a named pipe"),
             (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
             (stat.S_ISSOCK, "a socket"))
    return next((name for test, name in kinds if test(mode)), "not a file")


def unreadable(exc: OSError) -> str:
    """Why a manifest cannot be read, and what to do."""
    if isinstance(exc, NotRegularFile):
        return f"{exc}; only regular files are read: move it out of the manifest directory"
    if isinstance(exc, TooLarge):
        return str(exc)
    if isinstance(exc, FileNotFoundError):
        return "cannot read: it does not exist (a broken symbolic link?); fix or remove the link"
    return f"cannot read: {exc.strerror or exc}; check that it is a readable file"


def _check_depth(text: str, display: str) -> None:
    """Refuse nesting past MAX_DEPTH before composing (the C composer recurses, and crashes
    the process past some ten thousand levels). Most files cannot nest deeply at all: few
    flow brackets and no long run of indicators at a line's start bound their depth, so
    only the others pay for a scan of the parser's events."""
    if text.count("[") + text.count("{") < _SAFE_FLOW_OPENERS and not _DEEP_BLOCK_PREFIX.search(text):
        return
    from reconciler.manifest.composing import CollectionEndEvent, CollectionStartEvent, safe_yaml

    depth = 0
    for event in safe_yaml().parse(text):
        if isinstance(event, CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                mark = event.start_mark
                raise _Limit(Diagnostic(Source(display, mark.line + 1, mark.column + 1), (
                    f"nested deeper than {MAX_DEPTH} levels (a manifest needs seven); "
                    "flatten it")))
        elif isinstance(event, CollectionEndEvent):
            depth -= 1


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


def _found(document: Document, path: tuple[PathPart, ...]) -> int:
    """How many leading parts of `path` the document's file holds."""
    index = _tree(document)
    node = index.root
    for depth, part in enumerate(path):
        found = index.child(node, part)
        if found is None:
            return depth
        node = found[1]
    return len(path)


def _layer(document: Document, path: tuple[PathPart, ...]) -> tuple[Document, tuple[PathPart, ...]]:
    """The document (and path in it) that wrote the value at `path`: the layer holding more of
    the path than the base does (an environment's value over the top level's)."""
    if not document.layers or not path:
        return document, path
    base = _found(document, path)
    for layer, prefix in document.layers:
        inner = _found(layer, (*prefix, *path)) - len(prefix)
        if inner > 0 and inner >= base:
            return layer, (*prefix, *path)
    return document, path


def locate(document: Document, path: tuple[PathPart, ...], key: bool = False) -> Source:
    """Where `path` stands in the file (its key if `key`), or its nearest existing parent."""
    if document.layers:
        layer, inner = _layer(document, path)
        if layer is not document:
            return locate(layer, inner, key)
    best = document.marks.get(path[:3]) or Source(document.file, 1, 1)
    index = _tree(document)
    node = index.root
    for depth, part in enumerate(path):
        found = index.child(node, part)
        if found is None:
            return best
        key_node, node = found
        best = source(document.file, key_node if key and depth == len(path) - 1 else node)
    return best


def written(document: Document, path: tuple[PathPart, ...]) -> str | None:
    """The scalar at `path` as the file spells it (`+44...`, `007`), for hints; None if not found."""
    document, path = _layer(document, path)
    index = _tree(document)
    node = index.root
    for part in path:
        found = index.child(node, part)
        if found is None:
            return None
        node = found[1]
    from reconciler.manifest.composing import ScalarNode

    return str(node.value) if isinstance(node, ScalarNode) else None

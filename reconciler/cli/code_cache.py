"""Code that Python compiles from text at every start, compiled once (issue 23, start-up).

Python writes each dataclass's `__init__`, `__repr__`, `__eq__`, `__setattr__`... as source
text and compiles it when the class is defined (~120 classes on a plan's path: ours,
pydantic's, anyio's, typer's; ~45 ms); `typing` compiles every string annotation it
resolves (~1,000 for pydantic and Typer; ~9 ms), `inspect` those it evaluates for Typer and
`collections` each namedtuple's constructor (~2 ms together); `re` parses each regular
expression into its matcher's codes (~130 patterns: httpx's, h11's, email's, ours; ~17 ms).
What comes out depends on the text alone (a pattern's codes on the pattern and its flags),
so it is kept, by text, in one file beside this package's bytecode and reused by the next
process, as `.pyc` files are for modules. Only the compile step is looked up: the modules
run their own code on what is found (same text, same flags, same namespaces), so what they
make is what they make without it.

When Python writes no bytecode (PYTHONDONTWRITEBYTECODE, -B), nothing of this is used:
the file is neither read nor written and Python compiles as it always does; that is the
switch to turn it off. Nothing is written into a read-only directory; another Python build
(or a damaged file) just compiles again.
"""

from __future__ import annotations

import _sre  # type: ignore[import-not-found]
import atexit
import builtins
import collections
import contextlib
import dataclasses
import importlib.util
import inspect
import marshal
import os
import re
import sys
import typing
from pathlib import Path
from types import CodeType
from typing import Any

CACHE = Path(__file__).with_name("__pycache__") / f"compiled.{sys.implementation.cache_tag}.bin"
_HEADER = importlib.util.MAGIC_NUMBER + f"compiled text, Python {sys.version}\n".encode()
"""Any other Python, down to the patch release and build, compiles everything again: a fix
to its compiler or to `re`'s code generator never meets codes an older release made."""
_MOST = 2000
"""Texts kept at most (a plan uses ~900; the file is read whole at each start, ~4 ms at
this size): past it, the file keeps only what the last process used, or, if that is more
(a test process's), stays as it was."""

_code: dict[str, Any] = {}  # "exec\n" or "eval\n" + the text -> its code; "re ..." -> codes
_used: dict[str, Any] = {}
_compiled = 0


def install() -> None:
    """dataclasses' `exec`, typing's `compile`, inspect's and collections' `eval` (module
    globals, found before the builtins) look the text up first; the rest of these modules runs
    as it is."""
    if getattr(dataclasses, "exec", None) is dataclasses_exec or sys.dont_write_bytecode:
        return  # installed already; or switched off, with bytecode
    _code.update(_read(CACHE))
    dataclasses.exec = dataclasses_exec  # type: ignore[attr-defined]
    typing.compile = typing_compile  # type: ignore[attr-defined]
    inspect.eval = collections.eval = cached_eval  # type: ignore[attr-defined]
    if sys.version_info[:2] == (3, 11):  # the matcher's codes are made as 3.11's re makes them
        re._compiler.compile = regex_compile  # type: ignore[attr-defined]
    atexit.register(_save)


def _compile(text: str, mode: str) -> CodeType:
    """compile(text, "<string>", mode) as dataclasses' exec and typing's compile do it: with
    no __future__ flags (neither module has any; this one's are not passed on)."""
    global _compiled
    key = f"{mode}\n{text}"
    code = _code.get(key)
    if type(code) is not CodeType:  # not kept (or kept damaged: the file is not checked on read)
        code = _code[key] = compile(text, "<string>", mode, dont_inherit=True)
        _compiled += 1
    _used[key] = code
    return code


def dataclasses_exec(source: Any, globals: dict[str, Any] | None = None,
                     locals: Any = None, /) -> None:
    """exec(), the text compiled once (without namespaces: the caller's, as exec's own)."""
    if type(source) is str:  # a subclass may print itself otherwise: never a key
        source = _compile(source, "exec")
    if globals is None:
        caller = sys._getframe(1)
        globals, locals = caller.f_globals, caller.f_locals if locals is None else locals
    exec(source, globals, locals)


def cached_eval(source: Any, globals: dict[str, Any] | None = None, locals: Any = None, /) -> Any:
    """eval(), the text compiled once (without namespaces: the caller's, as eval's own)."""
    if type(source) is str and "\0" not in source:
        source = _compile(source.lstrip(" \t"), "eval")  # eval's own strip, before compiling
    if globals is None:
        caller = sys._getframe(1)
        globals, locals = caller.f_globals, caller.f_locals if locals is None else locals
    return eval(source, globals, locals)


def typing_compile(source: Any, filename: Any, mode: str, *args: Any, **kwargs: Any) -> Any:
    """typing.ForwardRef's `compile(arg, '<string>', 'eval')`; any other call as it was."""
    if args or kwargs or filename != "<string>" or mode != "eval" or type(source) is not str:
        return builtins.compile(source, filename, mode, *args, **kwargs)
    return _compile(source, "eval")


python_regex_compile = re._compiler.compile  # type: ignore[attr-defined]
_REGEX = f"re {re._constants.MAGIC} "  # type: ignore[attr-defined]  # the codes' format
_MAY_WARN = ("[[", "--", "&&", "~~", "||", "(?(")


def regex_compiled_once(pattern: str | bytes) -> bool:
    """Whether a pattern's codes may be kept: not when parsing it may warn (re._parser: a set
    opening with '[', a doubled -&~| in a set, a conditional group's name, a bytes pattern's
    non-ASCII group name), so that every process warns as Python does."""
    text = pattern if isinstance(pattern, str) else pattern.decode("latin-1")
    return not (any(m in text for m in _MAY_WARN) or (isinstance(pattern, bytes) and not text.isascii()))


def regex_compile(p: Any, flags: int = 0) -> Any:
    """re._compiler.compile of Python 3.11 (parse, make the codes, build the matcher), the
    codes kept by pattern and flags. It parses where Python's does, one call below
    re._compile: a warning names the same line."""
    global _compiled
    if not isinstance(p, str | bytes) or flags & re.DEBUG:  # a parsed pattern; a printout
        return python_regex_compile(p, flags)
    key = None
    if type(p) in (str, bytes) and regex_compiled_once(p):  # a subclass may print otherwise
        text = p if isinstance(p, str) else p.decode("latin-1")
        key = f"{_REGEX}{int(flags)} {'s' if isinstance(p, str) else 'b'}\n{text}"
    kept = _code.get(key) if key is not None else None
    if type(kept) is tuple and key is not None:
        # The matcher checks its codes: a damaged entry is made again (the file is not checked).
        with contextlib.suppress(TypeError, ValueError, RuntimeError, OverflowError):
            compiled = _sre.compile(p, *kept)
            _used[key] = kept
            return compiled
    parsed = re._parser.parse(p, flags)  # type: ignore[attr-defined]
    # Plain ints (some are named int constants), as the matcher reads them.
    code = [int(c) for c in re._compiler._code(parsed, flags)]  # type: ignore[attr-defined]
    groupindex = dict(parsed.state.groupdict)
    indexgroup: list[str | None] = [None] * parsed.state.groups
    for name, index in groupindex.items():
        indexgroup[index] = name
    parts = (int(flags | parsed.state.flags), code, parsed.state.groups - 1, groupindex,
             tuple(indexgroup))
    if key is not None:
        _code[key] = _used[key] = parts
        _compiled += 1
    return _sre.compile(p, *parts)


def _read(path: Path) -> dict[str, Any]:
    try:
        data = path.read_bytes()
        found = marshal.loads(data[len(_HEADER):]) if data.startswith(_HEADER) else {}
    except (OSError, ValueError, EOFError, TypeError):
        return {}
    return found if isinstance(found, dict) else {}  # each entry is checked where it is used


def _save() -> None:
    """Add what this process compiled to the file (merged with what others added since)."""
    if not _compiled or sys.dont_write_bytecode:
        return
    kept = {**_read(CACHE), **_code}
    if len(kept) > _MOST:
        kept = dict(_used)
        if len(kept) > _MOST:
            return
    temporary = CACHE.with_name(f"{CACHE.name}.{os.getpid()}.tmp")
    try:
        CACHE.parent.mkdir(exist_ok=True)
        temporary.write_bytes(_HEADER + marshal.dumps(kept))
        os.replace(temporary, CACHE)
    except (OSError, ValueError):  # ValueError: nothing marshal cannot write is ever kept
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)

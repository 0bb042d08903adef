"""Code that Python compiles from text at every start, compiled once (issue 23, start-up).

Python writes each dataclass's `__init__`, `__repr__`, `__eq__`, `__setattr__`... as
source text and compiles it when the class is defined (some 120 classes on a plan's path:
ours, pydantic's, anyio's, typer's; ~45 ms), `typing` compiles every string annotation it
resolves (`"str | None"`, ~1,000 of them for pydantic and typer; ~9 ms), `inspect` those it
evaluates for Typer, and `collections` each namedtuple's constructor (~2 ms together). What is compiled
depends on the text alone, so the code is kept, by text, in one file beside this package's
bytecode and reused by the next process, as `.pyc` files are for modules. Only the compile
step is looked up: the modules run their own code on the code found (same text, same flags,
same namespaces), so what they make is what they make without it.

Nothing is written when Python writes no bytecode (PYTHONDONTWRITEBYTECODE, -B) or the
directory is read-only; another Python version (or a damaged file) just compiles again.
"""

from __future__ import annotations

import atexit
import builtins
import collections
import contextlib
import dataclasses
import importlib.util
import inspect
import marshal
import os
import sys
import typing
from pathlib import Path
from types import CodeType
from typing import Any

CACHE = Path(__file__).with_name("__pycache__") / f"compiled.{sys.implementation.cache_tag}.bin"
_HEADER = importlib.util.MAGIC_NUMBER + b"compiled text\n"
_MOST = 5000
"""Texts kept at most: past it, the file keeps only what the last process used (texts change
only with the classes, so this bounds years of upgrades, not a working size)."""

_code: dict[str, CodeType] = {}  # "exec\n" or "eval\n" + the text -> its code
_used: dict[str, CodeType] = {}
_compiled = 0


def install() -> None:
    """dataclasses' `exec`, typing's `compile`, inspect's and collections' `eval` (module
    globals, found before the builtins) look the text up first; the rest of these modules runs
    as it is."""
    if getattr(dataclasses, "exec", None) is dataclasses_exec:
        return
    _code.update(_read(CACHE))
    dataclasses.exec = dataclasses_exec  # type: ignore[attr-defined]
    typing.compile = typing_compile  # type: ignore[attr-defined]
    inspect.eval = collections.eval = cached_eval  # type: ignore[attr-defined]
    atexit.register(_save)


def _compile(text: str, mode: str) -> CodeType:
    """compile(text, "<string>", mode) as dataclasses' exec and typing's compile do it: with
    no __future__ flags (neither module has any; this one's are not passed on)."""
    global _compiled
    key = f"{mode}\n{text}"
    code = _code.get(key)
    if code is None:
        code = _code[key] = compile(text, "<string>", mode, dont_inherit=True)
        _compiled += 1
    _used[key] = code
    return code


def dataclasses_exec(source: Any, globals: dict[str, Any] | None = None,
                     locals: Any = None, /) -> None:
    """exec(), the text compiled once (without namespaces: the caller's, as exec's own)."""
    if isinstance(source, str):
        source = _compile(source, "exec")
    if globals is None:
        caller = sys._getframe(1)
        globals, locals = caller.f_globals, caller.f_locals if locals is None else locals
    exec(source, globals, locals)


def cached_eval(source: Any, globals: dict[str, Any] | None = None, locals: Any = None, /) -> Any:
    """eval(), the text compiled once (without namespaces: the caller's, as eval's own)."""
    if isinstance(source, str) and "\0" not in source:
        source = _compile(source.lstrip(" \t"), "eval")  # eval's own strip, before compiling
    if globals is None:
        caller = sys._getframe(1)
        globals, locals = caller.f_globals, caller.f_locals if locals is None else locals
    return eval(source, globals, locals)


def typing_compile(source: Any, filename: Any, mode: str, *args: Any, **kwargs: Any) -> Any:
    """typing.ForwardRef's `compile(arg, '<string>', 'eval')`; any other call as it was."""
    if args or kwargs or filename != "<string>" or mode != "eval" or not isinstance(source, str):
        return builtins.compile(source, filename, mode, *args, **kwargs)
    return _compile(source, "eval")


def _read(path: Path) -> dict[str, CodeType]:
    try:
        data = path.read_bytes()
        found = marshal.loads(data[len(_HEADER):]) if data.startswith(_HEADER) else {}
    except (OSError, ValueError, EOFError, TypeError):
        return {}
    if not isinstance(found, dict):
        return {}
    return {k: v for k, v in found.items() if isinstance(k, str) and isinstance(v, CodeType)}


def _save() -> None:
    """Add what this process compiled to the file (merged with what others added since)."""
    if not _compiled or sys.dont_write_bytecode:
        return
    kept = {**_read(CACHE), **_code}
    if len(kept) > _MOST:
        kept = dict(_used)
    temporary = CACHE.with_name(f"{CACHE.name}.{os.getpid()}.tmp")
    try:
        CACHE.parent.mkdir(exist_ok=True)
        temporary.write_bytes(_HEADER + marshal.dumps(kept))
        os.replace(temporary, CACHE)
    except OSError:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)

"""Code that Python compiles from text at every start, compiled once (issue 23, start-up).

CPython 3.11 writes each dataclass's `__init__`, `__repr__`, `__eq__`, `__setattr__`... as
source text and compiles it when the class is defined (some 120 classes on a plan's path:
ours, pydantic's, anyio's, typer's; ~45 ms), and `typing` compiles every string annotation it
resolves (`"str | None"`, ~1,000 of them for pydantic and typer; ~9 ms). What is compiled
depends on the text alone, so the code is kept, by text, in one file beside this package's
bytecode and reused by the next process, as `.pyc` files are for modules. The functions and
forward references made from it are the ones Python makes (same text, same flags, same
namespaces).

Nothing is written when Python writes no bytecode (PYTHONDONTWRITEBYTECODE, -B) or the
directory is read-only; another Python version (or a damaged file) just compiles again.
"""

from __future__ import annotations

import atexit
import builtins
import contextlib
import dataclasses
import importlib.util
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

python_create_fn = dataclasses._create_fn  # type: ignore[attr-defined]
"""The one this module replaces (tests compare the two)."""
_code: dict[str, CodeType] = {}  # "exec\n" or "eval\n" + the text -> its code
_used: dict[str, CodeType] = {}
_compiled = 0


def install() -> None:
    """Look compiled text up first in dataclasses and typing (CPython 3.11 only: later
    versions make dataclass methods differently)."""
    if sys.version_info[:2] != (3, 11) or dataclasses._create_fn is create_fn:  # type: ignore[attr-defined]
        return
    _code.update(_read(CACHE))
    dataclasses._create_fn = create_fn  # type: ignore[attr-defined]
    typing.compile = typing_compile  # type: ignore[attr-defined]  # found before builtins'
    atexit.register(_save)


def _compile(text: str, mode: str) -> CodeType:
    """compile(text, "<string>", mode) as dataclasses' exec and typing call it: with no
    __future__ flags (neither module has any; this one's are not passed on)."""
    global _compiled
    key = f"{mode}\n{text}"
    code = _code.get(key)
    if code is None:
        code = _code[key] = compile(text, "<string>", mode, dont_inherit=True)
        _compiled += 1
    _used[key] = code
    return code


def create_fn(name: str, args: list[str], body: list[str], *,
              globals: dict[str, Any] | None = None, locals: dict[str, Any] | None = None,
              return_type: Any = dataclasses.MISSING) -> Any:
    """dataclasses._create_fn of CPython 3.11, word for word but for the compile."""
    if locals is None:
        locals = {}
    return_annotation = ""
    if return_type is not dataclasses.MISSING:
        locals["_return_type"] = return_type
        return_annotation = "->_return_type"
    arguments = ",".join(args)
    lines = "\n".join(f"  {b}" for b in body)
    txt = f" def {name}({arguments}){return_annotation}:\n{lines}"
    local_vars = ", ".join(locals.keys())
    txt = f"def __create_fn__({local_vars}):\n{txt}\n return {name}"
    ns: dict[str, Any] = {}
    exec(_compile(txt, "exec"), vars(dataclasses) if globals is None else globals, ns)
    return ns["__create_fn__"](**locals)


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

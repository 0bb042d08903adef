"""Reading JSON that someone else wrote (a vendor's answer, a plan file, a state file): what
Python's parser would accept but nothing downstream can use is a clear error naming the
source, never a traceback. NaN and Infinity (and 1e999) are not numbers a vendor may send;
an integer past Python's digit limit is said as such; nesting deeper than the parser's limit
is refused with the limit named.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
from typing import Any

MAX_DEPTH = 64
"""Deepest nesting a recorded or vendor value may have (every kind's values are flat or
nearly; deeper ones would only exhaust the recursion of the code that compares them)."""


def deeper_than(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether a parsed value nests more than `limit` levels (no recursion of its own)."""
    if isinstance(value, dict) and not any(isinstance(v, dict | list) for v in value.values()):
        return False  # flat: the common case, no walk
    todo = [(value, 0)]
    while todo:
        item, depth = todo.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            todo.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            todo.extend((v, depth + 1) for v in item)
    return False


class TooDeepError(Exception):
    """A parsed value nests deeper than MAX_DEPTH; the message names where."""


class JsonLimitError(ValueError):
    """JSON that parses in principle but is refused; the message names the source."""


class _NonFinite(ValueError):
    def __init__(self, token: str) -> None:
        super().__init__(token)
        self.token = token


def _constant(token: str) -> Any:
    raise _NonFinite(token)


def _float(token: str) -> float:
    value = float(token)
    if not math.isfinite(value):
        raise _NonFinite(token)
    return value


def loads(text: str | bytes, source: str) -> Any:
    """`json.loads`, refusing non-finite numbers, huge integers and deep nesting with a
    JsonLimitError that names `source`; other malformed JSON raises ValueError as usual."""
    try:
        return json.loads(text, parse_constant=_constant, parse_float=_float)
    except _NonFinite as exc:
        raise JsonLimitError(f"{source}: {_where_non_finite(text)} is {exc.token}, not a "
                             "finite number") from None
    except RecursionError:
        raise JsonLimitError(f"{source}: nested deeper than the {sys.getrecursionlimit()} "
                             "levels that are read") from None
    except ValueError as exc:
        if "integer string conversion" in str(exc):
            raise JsonLimitError(
                f"{source}: holds an integer of more than {sys.get_int_max_str_digits()} "
                "digits, which is not a value any field takes") from None
        raise


_LABELS = ("name", "Name", "key", "Key", "id", "ConsentPurposeId")


def _where_non_finite(text: str | bytes) -> str:
    """`the field 'order' of the object named 'Intro'`: found by parsing again, only after
    a non-finite number was met (the common case pays nothing)."""
    found: list[str] = []

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(pairs)
        if not found:
            for key, value in pairs:
                if isinstance(value, float) and not math.isfinite(value):
                    label = next((f"{k} {obj[k]!r}" for k in _LABELS
                                  if isinstance(obj.get(k), str | int)), None)
                    found.append(f"the field {key!r}" + (f" of the object with {label}"
                                                          if label else ""))
                    break
        return obj

    with contextlib.suppress(ValueError, RecursionError):
        json.loads(text, object_pairs_hook=hook)
    return found[0] if found else "an array item"

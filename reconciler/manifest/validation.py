"""Pydantic errors -> one readable sentence each, with a did-you-mean for typos."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

_EXPECTED = {
    "int_type": "an integer", "int_parsing": "an integer", "int_from_float": "an integer",
    "string_type": "a string", "bool_type": "true or false", "bool_parsing": "true or false",
    "float_type": "a number", "float_parsing": "a number", "list_type": "a list",
    "dict_type": "a mapping", "model_type": "a mapping", "model_attributes_type": "a mapping",
    "tuple_type": "a list", "set_type": "a list",
}
_BOUNDS = {"greater_than_equal": ("ge", "at least"), "greater_than": ("gt", "greater than"),
           "less_than_equal": ("le", "at most"), "less_than": ("lt", "less than")}


def suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" — did you mean '{close[0]}'?" if close else ""


def show(value: Any) -> str:
    if value is None:  # YAML's empty value or null: say what the user wrote, not Python's None
        return "an empty value"
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def describe(error: ErrorDetails, model: type[BaseModel], written: str | None = None,
             also_allowed: Iterable[str] = ()) -> str:
    """One sentence for one error; `written` is the value as the file spells it (for hints).

    `also_allowed` names fields accepted beside the model's own at the top level (lifecycle)."""
    kind, value, loc = error["type"], error.get("input"), error["loc"]
    name = str(loc[-1]) if loc else ""
    if kind == "extra_forbidden":
        allowed = _fields_at(model, loc[:-1])
        candidates = [*allowed, *also_allowed] if len(loc) == 1 else allowed
        return f"unknown field '{name}'{suggest(name, candidates)} (allowed: {', '.join(sorted(allowed))})"
    if kind == "missing":
        return f"required field '{name}' is missing"
    if kind in _EXPECTED:
        hint = ""
        if kind == "string_type" and isinstance(value, int | float) and not isinstance(value, bool):
            hint = f' (quote it: "{written or value}")'
        return f"expected {_EXPECTED[kind]}, got {show(value)}{hint}"
    if kind in ("string_too_long", "too_long"):
        limit = (error.get("ctx") or {}).get("max_length")
        size = len(value) if isinstance(value, str | list) else "?"
        return f"must be at most {limit} {'characters' if kind == 'string_too_long' else 'items'} " \
               f"(got {size})"
    if kind in _BOUNDS:
        bound, words = _BOUNDS[kind]
        limit = (error.get("ctx") or {}).get(bound)
        limit = int(limit) if isinstance(limit, float) and limit.is_integer() else limit
        return f"must be {words} {limit} (got {show(value)})"
    if kind in ("string_too_short", "too_short"):
        limit = (error.get("ctx") or {}).get("min_length")
        if limit == 1:
            return f"must not be empty (got {show(value)})"
        return f"must be at least {limit} {'characters' if kind == 'string_too_short' else 'items'} " \
               f"(got {len(value) if isinstance(value, str | list) else '?'})"
    if kind in ("literal_error", "enum"):
        expected = (error.get("ctx") or {}).get("expected", "")
        return f"expected one of {expected}, got {show(value)}"
    message = f"{error['msg'][0].lower()}{error['msg'][1:]}"
    return message if value is None or value == "" else f"{message} (got {show(value)})"


def _fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Names allowed at `loc` inside `model`, following nested models."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        field = getattr(current, "model_fields", {}).get(part)
        if field is None:
            return []
        current = _nested_model(field.annotation)
    return list(getattr(current, "model_fields", {}))


def _nested_model(annotation: Any) -> Any:
    for candidate in (annotation, *getattr(annotation, "__args__", ())):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
        inner = _nested_model_args(candidate)
        if inner is not None:
            return inner
    return None


def _nested_model_args(annotation: Any) -> Any:
    for arg in getattr(annotation, "__args__", ()):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return None


def errors(exc: ValidationError) -> list[ErrorDetails]:
    return list(exc.errors(include_url=False))

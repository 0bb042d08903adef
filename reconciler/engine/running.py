"""Running an engine call from synchronous code (the CLI)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class _Boxed(Generic[T]):
    """A result whose repr costs nothing (see `run`)."""

    __slots__ = ("value",)

    def __init__(self, value: T) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "<result>"


def run(call: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(call)`, minus a cost of CPython's: on the way out, asyncio's runner puts
    back its Ctrl-C handler through `signal`'s enum lookup, whose failure message formats the
    main task, result included, in full. For an apply of 6,000 changes that repr took longer
    than a hundred of its requests; a boxed result formats as one word."""

    async def boxed() -> _Boxed[T]:
        return _Boxed(await call)

    return asyncio.run(boxed()).value

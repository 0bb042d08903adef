"""What a kind's remote ids look like, checked wherever one is read.

A vendor's id goes into later request paths and into the state. An id that is not the
shape the vendor documents (`../../admin/users/1`, `1?filter=all`, `1e3`, `-1`) is the
vendor's error, refused where it is read (a listing, a create answer, an `import` argument,
a state file), naming the object and the value, before anything is recorded.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reconciler.errors import AnswerError
from reconciler.redact import clean

_NINETEEN_DIGITS = 10**19 - 1
"""The longest id `valid` takes, whatever the bounds."""


@dataclass(frozen=True)
class IdShape:
    """Decimal integer ids between `low` and `high`, as JSON numbers or, when
    `strings`, as strings of digits. Kept as their canonical string."""

    what: str
    low: int = 1
    high: int = 2**63 - 1
    numbers: bool = True
    strings: bool = True

    def valid(self, text: str) -> bool:
        """Whether `text` is an id of this shape, in its canonical spelling (ASCII digits,
        no leading zero, within bounds; int() only for a number long enough to exceed one)."""
        if not (text.isascii() and text.isdigit()) or (text[0] == "0" and text != "0"):
            return False
        if len(text) < 10 and self.high >= 999_999_999 and self.low <= 1:  # within bounds
            return text != "0" or self.low == 0
        return len(text) <= 19 and self.low <= int(text) <= self.high

    def read(self, raw: Any) -> str | None:
        """The canonical id of a raw JSON value, or None when it is not one."""
        if type(raw) is int and self.numbers and 0 <= self.low <= raw <= self.high \
                and raw <= _NINETEEN_DIGITS:
            return sys.intern(str(raw))  # the common case: str() of such an int is canonical
        if isinstance(raw, bool):
            return None
        if isinstance(raw, int) and self.numbers:
            text = str(raw)
        elif isinstance(raw, str) and self.strings:
            text = raw
        else:
            return None
        return sys.intern(text) if self.valid(text) else None  # one string with the state's

    def require(self, vendor: str, raw: Any, what: str | Callable[[], str]) -> str:
        """The canonical id, or a VendorError naming the object (`what`, made only when
        needed) and the value."""
        found = self.read(raw)
        if found is None:
            named = what if isinstance(what, str) else what()
            raise AnswerError(vendor, None, None, (
                f"{named} has the id {shown(raw)}, which is not {self.what}; refused "
                "before anything is recorded or requested with it"))
        return found

    def describe(self) -> str:
        return self.what


def shown(value: Any) -> str:
    """A vendor value in a message: its repr, cleaned of control characters, cut short."""
    text = clean(repr(value))
    return text if len(text) <= 80 else text[:77] + "..."

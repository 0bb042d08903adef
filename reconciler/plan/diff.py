"""Field-level differences between desired and observed attributes.

Plain equality decides first (cheap, and nearly always true on a no-op plan);
deepdiff only explains nested values that differ.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from reconciler.plan.model import FieldDiff


def field_diffs(desired: dict[str, Any], observed: dict[str, Any],
                ignore: Collection[str] = ()) -> tuple[FieldDiff, ...]:
    diffs: list[FieldDiff] = []
    for name, want in desired.items():
        if name in ignore:
            continue
        have = observed.get(name)
        if want == have and type(want) is type(have):
            continue
        if isinstance(want, dict | list) and isinstance(have, dict | list):
            diffs.extend(_nested(name, have, want))
        else:
            diffs.append(FieldDiff((name,), have, want))
    return tuple(diffs)


def _nested(name: str, before: Any, after: Any) -> list[FieldDiff]:
    from deepdiff import DeepDiff  # imported on first use: most plans never need it

    tree = DeepDiff(before, after, view="tree", verbose_level=2)
    found: list[FieldDiff] = []
    for items in tree.values():
        for item in items:
            path = (name, *item.path(output_format="list"))
            found.append(FieldDiff(path, _value(item.t1), _value(item.t2)))
    return found or [FieldDiff((name,), before, after)]


def _value(value: Any) -> Any:
    return None if type(value).__name__ == "NotPresent" else value

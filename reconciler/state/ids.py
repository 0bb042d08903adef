"""The remote ids a state records, checked when the state is read for a plan or a drift.

An id the kind's shape does not allow (a state written by hand, or by an older version that
believed a vendor's `../admin` id) would go into a request path; one id under two addresses
would plan a plain delete of an object another address still declares. Both are refused,
naming the way out.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from reconciler.errors import StateError
from reconciler.providers.base import KindSpec
from reconciler.providers.ids import shown
from reconciler.state.base import StateDoc

_DECIMALS = re.compile(r"(?:(?:0|[1-9][0-9]{0,18})\n)*")
_LONG_OR_ZERO = re.compile(r"(?m)^(?:[0-9]{10,}|0)$")
"""The only decimal ids a bound can refuse: 0, and those of ten digits or more."""


def check_recorded_ids(state: StateDoc, kinds: Mapping[str, type[KindSpec]],
                       recorded: Mapping[str, Mapping[str, Any]] | None = None) -> None:
    """Raise StateError for a recorded id of the wrong shape, or one id under two addresses
    of one kind. `recorded` (kind address -> remote id -> attributes), when the caller has
    built it anyway, makes this nearly free: a count, then one join and one regular
    expression per kind; only a failing kind is searched for its culprit."""
    if recorded is None:
        built: dict[str, dict[str, Any]] = defaultdict(dict)
        for resource in state.resources.values():
            if resource.remote_id is not None:
                built[f"{resource.vendor}.{resource.kind}"][resource.remote_id] = None
        recorded = built
    for kind_address, ids in recorded.items():
        kind = kinds.get(kind_address)
        shape = kind.id_shape if kind is not None else None
        if shape is None:
            continue
        joined = "\n".join(ids) + "\n"
        if _DECIMALS.fullmatch(joined) is None or any(
                not shape.valid(i) for i in _LONG_OR_ZERO.findall(joined)):
            bad = next(i for i in ids if not shape.valid(i))
            address = _addresses(state, kind_address, bad)[0]
            raise StateError(
                f"the state records {address} with remote id {shown(bad)}, which is not "
                f"{shape.what}; refused before it is used in a request. Remove the record "
                f"with `reconciler state rm {address} DIR` and import the object again")
    if sum(len(ids) for ids in recorded.values()) != sum(
            1 for r in state.resources.values() if r.remote_id is not None):
        seen: dict[tuple[str, str, str], str] = {}
        for address, r in state.resources.items():
            if r.remote_id is None:
                continue
            other = seen.setdefault((r.vendor, r.kind, r.remote_id), address)
            if other != address:
                raise StateError(
                    f"the state records remote id {shown(r.remote_id)} under two addresses, "
                    f"{other} and {address}: a plan would delete an object that the other "
                    f"still declares. Keep one: `reconciler state rm ADDR DIR` the wrong one, "
                    f"or `reconciler state mv SRC DST DIR` it to where it belongs")


def _addresses(state: StateDoc, kind_address: str, remote_id: str) -> list[str]:
    return [a for a, r in state.resources.items()
            if r.remote_id == remote_id and f"{r.vendor}.{r.kind}" == kind_address]

"""The remote ids a state records, checked when the state is read for a plan or a drift.

An id the kind's shape does not allow (a state written by hand, or by an older version that
believed a vendor's `../admin` id) would go into a request path; one id under two addresses
would plan a plain delete of an object another address still declares. Both are refused,
naming the way out.
"""

from __future__ import annotations

from collections.abc import Mapping

from reconciler.errors import StateError
from reconciler.providers.base import KindSpec
from reconciler.providers.ids import shown
from reconciler.state.base import StateDoc


def check_recorded_ids(state: StateDoc, kinds: Mapping[str, type[KindSpec]]) -> None:
    """Raise StateError for a recorded id of the wrong shape, or one id under two addresses
    of one kind."""
    owners: dict[tuple[str, str, str], str] = {}
    for address, resource in state.resources.items():
        remote_id = resource.remote_id
        if remote_id is None:
            continue
        kind = kinds.get(f"{resource.vendor}.{resource.kind}")
        shape = kind.id_shape if kind is not None else None
        if shape is not None and not shape.valid(remote_id):
            raise StateError(
                f"the state records {address} with remote id {shown(remote_id)}, which is not "
                f"{shape.what}; refused before it is used in a request. Remove the record "
                f"with `reconciler state rm {address} DIR` and import the object again")
        other = owners.setdefault((resource.vendor, resource.kind, remote_id), address)
        if other != address:
            raise StateError(
                f"the state records remote id {shown(remote_id)} under two addresses, "
                f"{other} and {address}: a plan would delete an object that the other still "
                f"declares. Keep one: `reconciler state rm ADDR DIR` the wrong one, or "
                f"`reconciler state mv SRC DST DIR` it to where it belongs")

"""Plan inputs built in memory: desired objects, state records, observed remote objects.

Positional-only parameters, so that any field name (`key`, `name`) can be an attribute.
"""

from __future__ import annotations

from typing import Any

from reconciler.errors import Source
from reconciler.manifest.loader import NO_LIFECYCLE, Desired, DesiredObject, Lifecycle
from reconciler.providers.base import RemoteObject, RemoteStatus
from reconciler.state import Pending, Resource, StateDoc


def want(address: str, /, lifecycle: Lifecycle = NO_LIFECYCLE, **attributes: Any) -> DesiredObject:
    """A manifest entry at `address` (<vendor>.<kind>.<key>)."""
    vendor, kind, _ = address.split(".")
    return DesiredObject(address, vendor, kind, attributes, Source("purposes.yaml", 1, 1), lifecycle)


def desired(*objects: DesiredObject) -> Desired:
    return Desired({o.address: o for o in objects}, "digest", {})


def rec(kind_address: str, remote_id: str | None, /, meta: dict[str, Any] | None = None,
        prevent_destroy: bool = False, **attributes: Any) -> Resource:
    """A state record: what reconciler last applied to `remote_id`."""
    vendor, kind = kind_address.split(".")
    return Resource(vendor=vendor, kind=kind, remote_id=remote_id, attributes=attributes,
                    meta=meta or {}, prevent_destroy=prevent_destroy)


def state(resources: dict[str, Resource] | None = None,
          pending: dict[str, Pending] | None = None) -> StateDoc:
    return StateDoc(lineage="lineage-1", serial=7, resources=resources or {}, pending=pending or {})


def remote(remote_id: str, /, status: RemoteStatus = RemoteStatus.PRESENT,
           **attributes: Any) -> RemoteObject:
    return RemoteObject(remote_id, attributes, status)


def interrupted(kind_address: str, identity: str) -> Pending:
    """A create that was started and never recorded (a crash between the call and the state)."""
    vendor, kind = kind_address.split(".")
    return Pending(vendor=vendor, kind=kind, action="create", identity=identity,
                   started_at="2026-01-01T00:00:00+00:00")

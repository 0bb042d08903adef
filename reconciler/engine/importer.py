"""One existing remote object -> a managed address in the state: `reconciler import`."""

from __future__ import annotations

from reconciler.errors import ConfigError
from reconciler.manifest.loader import Desired
from reconciler.providers.base import RemoteObject, RemoteStatus
from reconciler.state import Resource, StateDoc


def import_object(state: StateDoc, desired: Desired, address: str, remote: RemoteObject | None,
                  remote_id: str, schema_version: int = 0) -> Resource:
    obj = desired.objects.get(address)
    if obj is None:
        raise ConfigError(f"{address}: not declared in the manifests; declare it first, then import")
    if address in state.resources:
        current = state.resources[address].remote_id
        raise ConfigError(f"{address}: already managed (remote id {current}); "
                          "`reconciler state rm` it first to import another object")
    if remote is None or remote.status is RemoteStatus.DELETED:
        raise ConfigError(f"{address}: {obj.vendor} has no {obj.kind} with id {remote_id}")
    for other, resource in state.resources.items():
        same_kind = (resource.vendor, resource.kind) == (obj.vendor, obj.kind)
        if same_kind and resource.remote_id == remote.remote_id:
            raise ConfigError(f"{address}: remote id {remote_id} is already managed as {other}")
    meta = {k: v for k, v in obj.lifecycle.state_meta().items() if v}
    resource = Resource(vendor=obj.vendor, kind=obj.kind, remote_id=remote.remote_id,
                        attributes=dict(remote.attributes), meta=meta,
                        prevent_destroy=obj.lifecycle.prevent_destroy, schema_version=schema_version)
    state.resources[address] = resource
    return resource

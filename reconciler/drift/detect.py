"""State x Observed -> DriftReport: what changed remotely since reconciler last wrote it.

Drift compares the remote objects with the state's last applied attributes, not
with the manifests: it answers "did someone change it behind our back?", and
it never sends a write to any vendor.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler.plan.builder import Observed, ignored_unmanaged
from reconciler.plan.diff import field_diffs
from reconciler.plan.model import FieldDiff
from reconciler.providers.base import KindSpec, RemoteObject, RemoteStatus
from reconciler.state import StateDoc
from reconciler.state.base import StateBackend


@dataclass
class DriftItem:
    address: str
    vendor: str
    kind: str
    status: str  # "changed" | "missing"
    remote_id: str | None
    diffs: list[FieldDiff] = field(default_factory=list)
    remote: dict[str, Any] | None = None  # the remote attributes, for --accept / --write-back
    note: str = ""
    recorded: dict[str, Any] | None = None  # the state's last applied attributes (JSON `before`)


@dataclass
class DriftReport:
    items: list[DriftItem] = field(default_factory=list)
    unmanaged: dict[str, list[str]] = field(default_factory=dict)
    not_observable: list[str] = field(default_factory=list)
    checked: int = 0
    forgotten: list[str] = field(default_factory=list)  # let go with --forget: not drift

    @property
    def has_drift(self) -> bool:
        return bool(self.items or self.unmanaged)


def detect_drift(state: StateDoc, observed: Observed, kinds: Mapping[str, type[KindSpec]],
                 ignore: dict[str, tuple[str, ...]],
                 ignore_unmanaged: Mapping[str, Sequence[str]] | None = None) -> DriftReport:
    """`ignore_unmanaged` (vendor -> natural key globs): unmanaged objects not reported."""
    report = DriftReport()
    claimed: dict[str, set[str]] = defaultdict(set)
    by_id = {kind_address: {o.remote_id: o for o in objects}
             for kind_address, objects in observed.items()}
    for address, resource in sorted(state.resources.items()):
        kind_address = f"{resource.vendor}.{resource.kind}"
        kind = kinds.get(kind_address)
        if kind is None:
            continue
        if not kind.observable:
            if kind_address not in report.not_observable:
                report.not_observable.append(kind_address)
            continue
        report.checked += 1
        remote = by_id.get(kind_address, {}).get(resource.remote_id or "")
        if remote is not None:
            claimed[kind_address].add(remote.remote_id)
        item = _compare(address, resource.vendor, resource.kind, resource.remote_id,
                        resource.attributes, remote,
                        (*ignore.get(kind_address, ()), *resource.meta.get("ignore_changes", ())))
        if item is not None:
            report.items.append(item)
    forgotten: dict[str, dict[str, str]] = defaultdict(dict)
    for address, gone in sorted(state.forgotten.items()):
        forgotten[f"{gone.vendor}.{gone.kind}"][gone.remote_id] = address
    for kind_address, objects in sorted(observed.items()):
        kind = kinds[kind_address]
        for obj in objects:
            if (let_go := forgotten[kind_address].get(obj.remote_id)) is not None:
                if obj.remote_id not in claimed[kind_address]:
                    report.forgotten.append(
                        f"{let_go} id={obj.remote_id} {kind.identity(obj.attributes)!r}")
                continue
            if obj.remote_id not in claimed[kind_address] and obj.status is RemoteStatus.PRESENT \
                    and not ignored_unmanaged(kind, obj, (ignore_unmanaged or {}).get(kind.vendor, ())):
                report.unmanaged.setdefault(kind.vendor, []).append(
                    f"{kind_address} id={obj.remote_id} {kind.identity(obj.attributes)!r}")
    return report


def _compare(address: str, vendor: str, kind: str, remote_id: str | None,
             recorded: dict[str, Any], remote: RemoteObject | None,
             ignore: tuple[str, ...]) -> DriftItem | None:
    if remote is None or remote.status is RemoteStatus.DELETED:
        note = "soft-deleted outside reconciler" if remote else "deleted outside reconciler"
        return DriftItem(address, vendor, kind, "missing", remote_id, note=note, recorded=recorded)
    diffs = field_diffs(recorded, remote.attributes, ignore)
    if not diffs:
        return None
    # field_diffs reports (remote -> recorded); drift reads (recorded -> remote).
    flipped = [FieldDiff(d.path, d.after, d.before) for d in diffs]
    return DriftItem(address, vendor, kind, "changed", remote_id, flipped, dict(remote.attributes),
                     recorded=recorded)


def accept_drift(backend: StateBackend, items: list[DriftItem]) -> int:
    """Refresh-only: make the state hold what the vendors hold (call with the lock held)."""
    doc = backend.read()
    for item in items:
        resource = doc.resources.get(item.address)
        if resource is None:
            continue
        if item.status == "missing":
            del doc.resources[item.address]
        elif item.remote is not None:
            resource.attributes = {**resource.attributes, **{
                k: v for k, v in item.remote.items() if k in resource.attributes}}
    backend.write(doc)
    return len(items)

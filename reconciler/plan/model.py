"""The plan as data: small value objects read by the applier and by every renderer."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterable
from dataclasses import asdict, dataclass, field
from enum import IntEnum, StrEnum
from typing import Any

from reconciler.providers.base import DeleteMode

PLAN_FORMAT_VERSION = 1


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    ADOPT = "adopt"  # a remote object with the same natural key becomes managed
    PUSH = "push"  # a write-only kind sends its content again
    FORGET = "forget"  # stop managing; the remote object is left untouched
    MOVE = "move"  # a renamed key: the state entry moves to the new address, no vendor call
    NOOP = "no-op"


class Phase(IntEnum):
    """When a change runs: deletes that free a natural key a create needs, then every
    write, then the other deletes."""

    FREE_KEY = 0
    WRITE = 1
    DELETE = 2


class Safety(StrEnum):
    """A change's verdict from the safety rails (plan.safety says why, per vendor)."""

    OK = "ok"
    THRESHOLD = "blocked: threshold"
    PREVENT_DESTROY = "blocked: prevent_destroy"


Path = tuple[str | int, ...]


@dataclass(frozen=True)
class FieldDiff:
    """One differing value: `path` is where it is (`("records", 0, "msisdn")`), as data."""

    path: Path
    before: Any
    after: Any

    @property
    def field(self) -> str:
        """The path as people read it: `records[0].msisdn`."""
        head, *rest = self.path
        return str(head) + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in rest)

    @property
    def top(self) -> str:
        """The manifest field the difference is in."""
        return str(self.path[0])

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "path": list(self.path), "before": self.before, "after": self.after}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FieldDiff:
        path = data.get("path") or [data["field"]]  # plan files before paths: the label whole
        return cls(tuple(path), data.get("before"), data.get("after"))


@dataclass(frozen=True)
class Verdict:
    vendor: str
    rule: str  # "threshold" | "prevent_destroy"
    blocked: bool
    overridable: bool
    message: str

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class Change:
    address: str
    vendor: str
    kind: str
    action: Action
    reason: str
    remote_id: str | None = None
    identity: str | None = None
    attributes: dict[str, Any] | None = None  # desired, for create / update / adopt / push
    diffs: list[FieldDiff] = field(default_factory=list)
    delete_mode: DeleteMode | None = None
    fingerprint: str | None = None  # of the remote object as observed at plan time
    revive: bool = False  # the remote twin is soft-deleted or inactive
    refused: str | None = None  # why this change must not be applied as planned
    phase: Phase = Phase.WRITE
    meta: dict[str, Any] = field(default_factory=dict)  # kept in state (prevent_destroy, on_delete)
    source: str | None = None
    safety: Safety = Safety.OK
    before: dict[str, Any] | None = None  # the remote object (or last push) as seen at plan time
    moved_from: str | None = None  # MOVE: the address the state entry had before the rename
    state_only: bool = False  # changes only the state (lifecycle settings, a move): no vendor call

    def to_dict(self) -> dict[str, Any]:
        data = dict(vars(self))  # shallow: values are JSON data already, and only read
        data["action"] = str(self.action)
        data["diffs"] = [d.to_dict() for d in self.diffs]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Change:
        values = dict(data)
        values["action"] = Action(values["action"])
        values["diffs"] = [FieldDiff.from_dict(d) for d in values.get("diffs", [])]
        values["phase"] = Phase(values.get("phase", Phase.WRITE))
        values["safety"] = Safety(values.get("safety", Safety.OK))
        mode = values.get("delete_mode")
        values["delete_mode"] = None if mode is None else DeleteMode(mode)
        return cls(**values)


COUNTED = ("create", "update", "delete", "deactivate", "adopt", "move", "push", "forget",
           "state_only", "refused")
"""What plans and applies count, in the order summaries name them."""


def counts(changes: Iterable[Change], adopted: Collection[str] = ()) -> dict[str, int]:
    """The one count of changes, honest: a refused change is counted as refused, not as
    what it would have done; a deactivation as a deactivation, not a delete; a lifecycle-only
    edit as state-only, not an update; a create that found its object (`adopted`) as an
    adoption."""
    found = dict.fromkeys(COUNTED, 0)
    for change in changes:
        if change.refused:
            found["refused"] += 1
        elif change.address in adopted:
            found["adopt"] += 1
        elif change.state_only and change.action is Action.UPDATE:
            found["state_only"] += 1  # lifecycle settings: no vendor call
        elif change.action is Action.DELETE and change.delete_mode == DeleteMode.DEACTIVATE:
            found["deactivate"] += 1
        elif change.action is not Action.NOOP:
            found[str(change.action)] += 1
    return found


@dataclass
class Plan:
    changes: list[Change]
    unchanged: int
    lineage: str
    serial: int
    manifest_digest: str
    directory: str
    unmanaged: dict[str, list[str]] = field(default_factory=dict)
    not_observable: list[str] = field(default_factory=list)
    skipped: int = 0
    refusals: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    safety: list[Verdict] = field(default_factory=list)
    format_version: int = PLAN_FORMAT_VERSION
    # What the plan was made against (absolute directory, state backend, vendor endpoints,
    # sandbox or not): a saved plan applies there and nowhere else.
    target: dict[str, Any] = field(default_factory=dict)
    scope: dict[str, list[str]] = field(default_factory=dict)  # --target/--exclude/--forget used

    def counts(self) -> dict[str, int]:
        return counts(self.changes)

    @property
    def has_changes(self) -> bool:
        return bool(self.changes)

    def body(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version,
            "lineage": self.lineage,
            "serial": self.serial,
            "manifest_digest": self.manifest_digest,
            "directory": self.directory,
            "summary": {**self.counts(), "unchanged": self.unchanged, "skipped": self.skipped},
            "changes": [c.to_dict() for c in self.changes],
            "unmanaged": self.unmanaged,
            "not_observable": self.not_observable,
            "refusals": self.refusals,
            "safety": [v.to_dict() for v in self.safety],
            "warnings": self.warnings,
            "target": self.target,
            "scope": self.scope,
        }

    def checksum(self) -> str:
        """What a reviewer compares: the same plan always gives the same checksum."""
        payload = json.dumps(self.body(), sort_keys=True, default=str, separators=(",", ":"))
        return "sha256:" + hashlib.sha256(payload.encode()).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        return {**self.body(), "checksum": self.checksum()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        summary = data.get("summary", {})
        return cls(
            changes=[Change.from_dict(c) for c in data["changes"]],
            unchanged=int(summary.get("unchanged", 0)),
            lineage=data["lineage"], serial=int(data["serial"]),
            manifest_digest=data["manifest_digest"], directory=data["directory"],
            unmanaged=data.get("unmanaged", {}), not_observable=data.get("not_observable", []),
            skipped=int(summary.get("skipped", 0)), refusals=data.get("refusals", []),
            warnings=data.get("warnings", []),
            safety=[Verdict(**v) for v in data.get("safety", [])],
            format_version=int(data.get("format_version", PLAN_FORMAT_VERSION)),
            target=data.get("target") or {}, scope=data.get("scope") or {},
        )

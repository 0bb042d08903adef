"""The plan as data: small value objects read by the applier and by every renderer."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

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


@dataclass
class FieldDiff:
    field: str
    before: Any
    after: Any


@dataclass
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
    delete_mode: str | None = None
    fingerprint: str | None = None  # of the remote object as observed at plan time
    revive: bool = False  # the remote twin is soft-deleted or inactive
    refused: str | None = None  # why this change must not be applied as planned
    phase: int = 1  # 0: deletes freeing a key a create needs, 1: writes, 2: other deletes
    meta: dict[str, Any] = field(default_factory=dict)  # kept in state (prevent_destroy, on_delete)
    source: str | None = None
    safety: str = "ok"  # or "blocked: <rule>"
    before: dict[str, Any] | None = None  # the remote object (or last push) as seen at plan time
    moved_from: str | None = None  # MOVE: the address the state entry had before the rename
    state_only: bool = False  # changes only the state (lifecycle settings, a move): no vendor call

    def to_dict(self) -> dict[str, Any]:
        data = dict(vars(self))  # shallow: values are JSON data already, and only read
        data["action"] = str(self.action)
        data["diffs"] = [vars(d).copy() for d in self.diffs]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Change:
        values = dict(data)
        values["action"] = Action(values["action"])
        values["diffs"] = [FieldDiff(**d) for d in values.get("diffs", [])]
        return cls(**values)


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
    safety: list[dict[str, Any]] = field(default_factory=list)
    format_version: int = PLAN_FORMAT_VERSION
    # What the plan was made against (absolute directory, state backend, vendor endpoints,
    # sandbox or not): a saved plan applies there and nowhere else.
    target: dict[str, Any] = field(default_factory=dict)
    scope: dict[str, list[str]] = field(default_factory=dict)  # --target/--exclude/--forget used

    def counts(self) -> dict[str, int]:
        """Honest totals: a refused change is counted as refused, not as what it would have
        done; a deactivation as a deactivation, not a delete; a lifecycle-only edit as a
        state-only change, not an update."""
        counts = {str(a): 0 for a in Action if a is not Action.NOOP}
        counts.update(deactivate=0, refused=0, state_only=0)
        for change in self.changes:
            if change.refused:
                counts["refused"] += 1
            elif change.state_only and change.action is Action.UPDATE:
                counts["state_only"] += 1  # lifecycle settings: no vendor call
            elif change.action is Action.DELETE and change.delete_mode == "deactivate":
                counts["deactivate"] += 1
            else:
                counts[str(change.action)] += 1
        return counts

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
            "safety": self.safety,
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
            warnings=data.get("warnings", []), safety=data.get("safety", []),
            format_version=int(data.get("format_version", PLAN_FORMAT_VERSION)),
            target=data.get("target") or {}, scope=data.get("scope") or {},
        )

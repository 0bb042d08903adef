"""A run record: who ran what, when, from which commit, and what it changed, field by field.

Plain frozen dataclasses holding JSON data: a record is written once and only read after,
and the same dict shape is the JSON Lines line, the PostgreSQL row's body and the
`history --format json` output.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

RECORD_VERSION = 1
KINDS = ("plan", "apply", "drift")
OUTCOMES = ("ok", "changes", "drift", "failed", "blocked")
DEFAULT_ENVIRONMENT = "default"


def utc_now() -> str:
    """UTC, ISO 8601 with microseconds: records made in the same second still sort."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def parse_time(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def new_id(at: str | None = None) -> str:
    """ULID-like and sortable: 12 hex digits of milliseconds, then 14 random ones."""
    millis = int((parse_time(at).timestamp() if at else time.time()) * 1000)
    return f"{millis:012x}{os.urandom(7).hex()}"


@dataclass(frozen=True)
class FieldChange:
    """One field's value before and after (`field` as people read it: `records[0].msisdn`)."""

    field: str
    before: Any
    after: Any

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "before": self.before, "after": self.after}


@dataclass(frozen=True)
class ObjectChange:
    """What a run did (or found) to one address. `status`: for an apply `applied`, `failed`
    or `not_attempted`; for a drift `changed`, `missing` or `unmanaged`; for a plan `planned`."""

    address: str
    action: str
    status: str = "planned"
    remote_id: str | None = None
    fields: tuple[FieldChange, ...] = ()
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"address": self.address, "action": self.action, "status": self.status,
                "remote_id": self.remote_id, "fields": [f.to_dict() for f in self.fields],
                "note": self.note}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ObjectChange:
        return cls(address=data["address"], action=data["action"],
                   status=data.get("status", "planned"), remote_id=data.get("remote_id"),
                   fields=tuple(FieldChange(f["field"], f.get("before"), f.get("after"))
                                for f in data.get("fields", ())),
                   note=data.get("note", ""))


@dataclass(frozen=True)
class RunRecord:
    id: str
    kind: str  # plan | apply | drift
    started_at: str
    finished_at: str
    outcome: str  # ok | changes | drift | failed | blocked
    actor: str
    environment: str = DEFAULT_ENVIRONMENT
    commit: str | None = None
    branch: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    changes: tuple[ObjectChange, ...] = ()
    error: str | None = None
    workspace: str | None = None  # where the state lives (backend description, no password)
    version: int = RECORD_VERSION

    def to_dict(self, changes: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id, "kind": self.kind, "environment": self.environment,
            "started_at": self.started_at, "finished_at": self.finished_at,
            "outcome": self.outcome, "actor": self.actor, "commit": self.commit,
            "branch": self.branch, "counts": dict(self.counts), "error": self.error,
            "workspace": self.workspace, "version": self.version}
        if changes:
            data["changes"] = [c.to_dict() for c in self.changes]
        return data

    def public(self) -> dict[str, Any]:
        """The run as `history --format json` (and the service's API) print it: the record,
        with its counts also at the top level (`drifted`, `missing`, `unmanaged`, ...)."""
        data = self.to_dict()
        return {**data, **{k: v for k, v in self.counts.items() if k not in data}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunRecord:
        return cls(id=data["id"], kind=data["kind"], started_at=data["started_at"],
                   finished_at=data["finished_at"], outcome=data["outcome"],
                   actor=data.get("actor", ""),
                   environment=data.get("environment") or DEFAULT_ENVIRONMENT,
                   commit=data.get("commit"), branch=data.get("branch"),
                   counts=dict(data.get("counts") or {}),
                   changes=tuple(ObjectChange.from_dict(c) for c in data.get("changes") or ()),
                   error=data.get("error"), workspace=data.get("workspace"),
                   version=int(data.get("version", RECORD_VERSION)))

    def only(self, address: str) -> RunRecord:
        """This run with only the changes to `address` (for `history --address`)."""
        from dataclasses import replace

        return replace(self, changes=tuple(c for c in self.changes if c.address == address))

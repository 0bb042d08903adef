"""The plan as data: small value objects read by the applier and by every renderer."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterable, Mapping
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
    REPLACE = "replace"  # -replace ADDR: deleted, then created again (Terraform's -/+)
    NOOP = "no-op"


class Phase(IntEnum):
    """When a change runs: deletes that free a natural key a create needs, then every
    write, then the other deletes."""

    FREE_KEY = 0
    WRITE = 1
    DELETE = 2


class Reason(StrEnum):
    """Why the builder planned a change: set once, looked up by renderers (never parsed from
    the prose in `Change.reason`, which is for people)."""

    CREATE_NO_REMOTE_OBJECT = "create_because_no_remote_object"
    CREATE_DELETED_REMOTELY = "create_because_deleted_remotely"
    UPDATE_FIELDS_DIFFER = "update_because_fields_differ"
    UPDATE_REVIVE = "update_because_revive"
    UPDATE_LIFECYCLE_ONLY = "update_because_lifecycle_only"
    UPDATE_IDENTITY_CHANGED = "update_because_identity_changed"
    UPDATE_STATE_REFRESH = "update_because_state_refresh"  # the record only (Terraform's refresh)
    ADOPT_NATURAL_KEY_MATCH = "import_because_natural_key_match"
    PUSH_NEVER_PUSHED = "push_because_never_pushed"
    PUSH_CONTENT_CHANGED = "push_because_content_changed"
    PUSH_MAYBE_WRITTEN = "push_because_maybe_written"
    DELETE_NO_RESOURCE_CONFIG = "delete_because_no_resource_config"
    DELETE_FREES_KEY = "delete_because_frees_natural_key"
    DELETE_UNMANAGED_PRUNE = "delete_because_unmanaged_prune"
    DELETE_INTERRUPTED_RUN = "delete_because_interrupted_run"
    FORGET_NO_DELETE_API = "forget_because_no_delete_api"
    FORGET_GONE_REMOTELY = "forget_because_gone_remotely"
    FORGET_WRITE_ONLY = "forget_because_write_only"
    FORGET_INACTIVE = "forget_because_inactive"
    MOVE_KEY_RENAMED = "move_because_key_renamed"
    REPLACE_BY_REQUEST = "replace_by_request"  # Terraform's code for -replace


class Refusal(StrEnum):
    """Why a change must not be applied as planned (`Change.refused` says it to people)."""

    PREVENT_DESTROY = "prevent_destroy"
    NO_DELETE_API = "no_delete_api"
    IDENTITY_CHANGED = "identity_changed"
    UNIQUE_IN_ANOTHER_CASE = "unique_in_another_case"  # the vendor ignores case: a create would fail


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
    diffs: tuple[FieldDiff, ...] = ()
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
    why: Reason = Reason.UPDATE_FIELDS_DIFFER  # the typed twin of `reason`
    refusal: Refusal | None = None  # the typed twin of `refused`

    def __post_init__(self) -> None:
        object.__setattr__(self, "diffs", tuple(self.diffs))

    def to_dict(self) -> dict[str, Any]:
        data = dict(vars(self))  # shallow: values are JSON data already, and only read
        data["action"] = str(self.action)
        data["diffs"] = [d.to_dict() for d in self.diffs]
        data["why"] = str(self.why)
        data["refusal"] = None if self.refusal is None else str(self.refusal)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Change:
        values = dict(data)
        values["action"] = Action(values["action"])
        values["diffs"] = tuple(FieldDiff.from_dict(d) for d in values.get("diffs", []))
        values["phase"] = Phase(values.get("phase", Phase.WRITE))
        values["safety"] = Safety(values.get("safety", Safety.OK))
        mode = values.get("delete_mode")
        values["delete_mode"] = None if mode is None else DeleteMode(mode)
        values["why"] = Reason(values.get("why", Reason.UPDATE_FIELDS_DIFFER))
        refusal = values.get("refusal")
        values["refusal"] = None if refusal is None else Refusal(refusal)
        return cls(**values)


COUNTED = ("create", "update", "delete", "deactivate", "adopt", "move", "push", "forget",
           "replace", "state_only", "refused")
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


@dataclass(frozen=True)
class Plan:
    """Immutable once built: assessment and scoping make new plans, never edit one."""

    changes: tuple[Change, ...]
    unchanged: int
    lineage: str
    serial: int
    manifest_digest: str
    directory: str
    unmanaged: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    not_observable: tuple[str, ...] = ()
    skipped: int = 0
    refusals: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    safety: tuple[Verdict, ...] = ()
    format_version: int = PLAN_FORMAT_VERSION
    # What the plan was made against (absolute directory, state backend, vendor endpoints,
    # sandbox or not): a saved plan applies there and nowhere else.
    target: Mapping[str, Any] = field(default_factory=dict)
    scope: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # --target/--exclude/--forget

    def __post_init__(self) -> None:
        """Sequences given as lists are kept as tuples: nobody appends to a built plan."""
        for name in ("changes", "not_observable", "refusals", "warnings", "safety"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "unmanaged", {v: tuple(x) for v, x in self.unmanaged.items()})
        object.__setattr__(self, "scope", {k: tuple(v) for k, v in self.scope.items()})

    def counts(self) -> dict[str, int]:
        return counts(self.changes)

    @property
    def has_changes(self) -> bool:
        return bool(self.changes)

    def body(self) -> dict[str, Any]:
        summary = self.counts()
        if not summary["replace"]:  # counted since -replace: plans without one keep their checksum
            del summary["replace"]
        return {
            "format_version": self.format_version,
            "lineage": self.lineage,
            "serial": self.serial,
            "manifest_digest": self.manifest_digest,
            "directory": self.directory,
            "summary": {**summary, "unchanged": self.unchanged, "skipped": self.skipped},
            "changes": [c.to_dict() for c in self.changes],
            "unmanaged": {v: list(x) for v, x in self.unmanaged.items()},
            "not_observable": list(self.not_observable),
            "refusals": list(self.refusals),
            "safety": [v.to_dict() for v in self.safety],
            "warnings": list(self.warnings),
            "target": dict(self.target),
            "scope": {k: list(v) for k, v in self.scope.items()},
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
            changes=tuple(Change.from_dict(c) for c in data["changes"]),
            unchanged=int(summary.get("unchanged", 0)),
            lineage=data["lineage"], serial=int(data["serial"]),
            manifest_digest=data["manifest_digest"], directory=data["directory"],
            unmanaged=data.get("unmanaged", {}), not_observable=tuple(data.get("not_observable", [])),
            skipped=int(summary.get("skipped", 0)), refusals=tuple(data.get("refusals", [])),
            warnings=tuple(data.get("warnings", [])),
            safety=tuple(Verdict(**v) for v in data.get("safety", [])),
            format_version=int(data.get("format_version", PLAN_FORMAT_VERSION)),
            target=data.get("target") or {}, scope=data.get("scope") or {},
        )

"""Plan / ApplyResult / DriftReport -> RunRecord: what each run did, in one shape.

Values are stored as the run saw them (so a later reader can trust them), with two
exceptions: every registered credential is removed (reconciler.redact), and a list of
datastore `records` (personal data, write-only) becomes its digest and count.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler.history.context import actor, git_revision
from reconciler.history.model import (
    DEFAULT_ENVIRONMENT,
    FieldChange,
    ObjectChange,
    RunRecord,
    new_id,
    utc_now,
)
from reconciler.redact import REDACT

if TYPE_CHECKING:  # the builders read these; importing them is the caller's business
    from reconciler.apply.executor import ApplyResult
    from reconciler.drift.detect import DriftReport
    from reconciler.plan.model import Change, Plan

PERSONAL = "records"
"""A list under this field is personal data (Webex Campaign datastore records): stored as
{"digest", "count"}, never as itself."""


def stored(value: Any) -> Any:
    """A value as history keeps it: credentials removed, records reduced to digest + count."""
    if isinstance(value, str):
        return REDACT(value)
    if isinstance(value, dict | list):
        return REDACT.data(_no_records(value))
    return value


def _no_records(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: (_digest(v) if k == PERSONAL and isinstance(v, list) else _no_records(v))
                for k, v in value.items()}
    if isinstance(value, list):
        return [_no_records(v) for v in value]
    return value


def _digest(records: list[Any]) -> dict[str, Any]:
    canonical = json.dumps(records, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return {"digest": "sha256:" + hashlib.sha256(canonical.encode()).hexdigest(),
            "count": len(records)}


def _field(name: str, before: Any, after: Any) -> FieldChange:
    if name == PERSONAL or name.startswith(PERSONAL + "[") or name.startswith(PERSONAL + "."):
        # one record's value: say that it changed, never what it was
        return FieldChange(name, None if before is None else "(personal data)",
                           None if after is None else "(personal data)")
    return FieldChange(name, stored(before), stored(after))


def _record(kind: str, outcome: str, counts: dict[str, int], changes: Iterable[ObjectChange],
            started_at: str, directory: Path | None, environment: str | None,
            workspace: str | None, error: str | None) -> RunRecord:
    commit, branch = git_revision(directory) if directory is not None else (None, None)
    return RunRecord(id=new_id(started_at), kind=kind, started_at=started_at,
                     finished_at=utc_now(), outcome=outcome, actor=actor(),
                     environment=environment or DEFAULT_ENVIRONMENT, commit=commit,
                     branch=branch, counts=counts, changes=tuple(changes),
                     error=REDACT(error) if error else None, workspace=workspace)


def _action(change: Change, adopted: Iterable[str] = ()) -> str:
    from reconciler.plan.model import Action
    from reconciler.providers.base import DeleteMode

    if change.address in adopted:
        return "adopt"
    if change.action is Action.DELETE and change.delete_mode == DeleteMode.DEACTIVATE:
        return "deactivate"
    return str(change.action)


def change_of(change: Change, status: str = "planned", adopted: Iterable[str] = ()) -> ObjectChange:
    """One planned change as history keeps it: the fields it changes, before and after."""
    from reconciler.plan.model import Action

    if change.diffs:
        fields = tuple(_field(d.field, d.before, d.after) for d in change.diffs)
    elif change.action is Action.CREATE and change.attributes:
        fields = tuple(_field(k, None, v) for k, v in sorted(change.attributes.items()))
    elif change.action is Action.DELETE and change.before:
        fields = tuple(_field(k, v, None) for k, v in sorted(change.before.items()))
    else:
        fields = ()
    note = f"moved from {change.moved_from}" if change.moved_from else change.reason
    if change.refused:
        status, note = "refused", change.refused
    return ObjectChange(change.address, _action(change, adopted), status, change.remote_id,
                        fields, REDACT(note))


def from_plan(plan: Plan, *, started_at: str, directory: Path | None = None,
              environment: str | None = None, workspace: str | None = None) -> RunRecord:
    blocked = bool(plan.refusals) or any(v.blocked for v in plan.safety)
    outcome = "blocked" if blocked else "changes" if plan.has_changes else "ok"
    counts = {**plan.counts(), "unchanged": plan.unchanged}
    return _record("plan", outcome, counts, (change_of(c) for c in plan.changes), started_at,
                   directory, environment, workspace, None)


def from_apply(plan: Plan | None, result: ApplyResult | None, *, started_at: str,
               directory: Path | None = None, environment: str | None = None,
               workspace: str | None = None, error: BaseException | None = None) -> RunRecord:
    """An apply: what it did (`result`), or why it did nothing (`error`; exit code 3, a
    safety rail, is `blocked`). `result` None with no error: nothing to change."""
    from reconciler.plan.model import counts as count_changes

    changes: list[ObjectChange] = []
    counts: dict[str, int] = {}
    if plan is not None and result is not None:
        applied = {c.address for c in result.applied}
        failed = {a for a in (_address_of(e) for e in result.errors) if a}
        for change in plan.changes:
            status = ("applied" if change.address in applied else
                      "failed" if change.address in failed else "not_attempted")
            changes.append(change_of(change, status, result.adopted))
        counts = count_changes(result.applied, result.adopted)
        counts.pop("refused", None)
        counts["failed"] = len(result.errors)
        counts["not_attempted"] = result.not_started
    elif plan is not None and error is not None:  # refused before any write
        changes = [change_of(c, "not_attempted") for c in plan.changes]
    if error is not None:
        outcome = "blocked" if getattr(error, "exit_code", 1) == 3 else "failed"
    else:
        outcome = "failed" if result is not None and not result.ok else "ok"
    message = str(error) if error is not None else (
        "; ".join(str(e) for e in result.errors[:3]) if result is not None and result.errors else None)
    return _record("apply", outcome, counts, changes, started_at, directory, environment,
                   workspace, message)


def _address_of(error: BaseException) -> str | None:
    address = getattr(error, "address", None)
    if isinstance(address, str):
        return address
    head = str(error).split(": ", 1)[0]
    return head if head.count(".") >= 2 and " " not in head else None


def from_drift(report: DriftReport, *, started_at: str, directory: Path | None = None,
               environment: str | None = None, workspace: str | None = None) -> RunRecord:
    changes = [ObjectChange(i.address, "drift", i.status, i.remote_id,
                            tuple(_field(d.field, d.before, d.after) for d in i.diffs),
                            REDACT(i.note)) for i in report.items]
    for labels in report.unmanaged.values():
        changes += [_unmanaged(label) for label in labels]
    counts = {"checked": report.checked,
              "drifted": sum(1 for i in report.items if i.status == "changed"),
              "missing": sum(1 for i in report.items if i.status == "missing"),
              "unmanaged": sum(len(v) for v in report.unmanaged.values())}
    return _record("drift", "drift" if report.has_drift else "ok", counts, changes, started_at,
                   directory, environment, workspace, None)


def _unmanaged(label: str) -> ObjectChange:
    """`outreach.call_purpose id=99 'Rogue'` -> the address prune would give it (`.~99`)."""
    kind_address, _, rest = label.partition(" id=")
    remote_id, _, identity = rest.partition(" ")
    return ObjectChange(f"{kind_address}.~{remote_id}", "unmanaged", "unmanaged", remote_id or None,
                        (), REDACT(identity))


def failed(kind: str, error: BaseException, *, started_at: str, directory: Path | None = None,
           environment: str | None = None, workspace: str | None = None) -> RunRecord:
    """A run that ended in an error before it had a plan or report to record."""
    outcome = "blocked" if getattr(error, "exit_code", 1) == 3 else "failed"
    return _record(kind, outcome, {}, (), started_at, directory, environment, workspace, str(error))

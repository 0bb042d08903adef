"""A Plan or a DriftReport as the JSON that pipelines and policy tools read, in Terraform's shape.

`terraform show -json` is what OPA/conftest policies, tfcmt and tf-summarize are written
against, so the public JSON follows it: `resource_changes[]` (and `resource_drift[]`) with
`address`, `mode`, `type`, `name`, `provider_name`, `change.actions`, full `change.before` /
`change.after` and `action_reason`. What Terraform has no word for (safety verdicts,
refusals, unmanaged objects, moves, per-change details) sits under keys of our own at the
top level, so a resource change holds only fields Terraform documents. This is a display
format: the saved plan file is another, separately versioned document
(reconciler/plan/planfile.py).
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from reconciler import SCHEMA_BASE_URL, __version__
from reconciler.plan.model import Action, Change, Plan, Reason

if TYPE_CHECKING:
    from reconciler.drift.detect import DriftItem, DriftReport

FORMAT_VERSION = "2.0"  # major: incompatible changes; minor: additions (Terraform's rule)
SCHEMA_ID = SCHEMA_BASE_URL + "plan.schema.json"

ACTION_REASONS: dict[str, str] = {
    # Terraform's own code, same meaning: the manifests no longer declare the object.
    "delete_because_no_resource_config": "removed from the manifests",
    "delete_because_unmanaged_prune": "never managed, and the provider sets prune: true",
    "delete_because_interrupted_run": "created by an interrupted run and no longer declared",
    "create_because_no_remote_object": "declared, and no remote object has its natural key",
    "create_because_deleted_remotely": "recorded in the state, but deleted outside reconciler",
    "update_because_fields_differ": "declared fields differ from the remote object",
    "update_because_revive": "the remote object is soft-deleted or inactive; it is revived",
    "update_because_lifecycle_only": "only reconciler's lifecycle settings changed (state only)",
    "update_because_state_refresh": "the remote object equals the manifests; only its state "
                                    "record is refreshed (state only)",
    "import_because_natural_key_match": "a remote object with the same natural key is adopted",
    "push_because_never_pushed": "a write-only entry never pushed",
    "push_because_content_changed": "a write-only entry whose content changed since its push",
    "forget_because_no_delete_api": "the vendor cannot delete; only the state forgets it",
    "forget_because_gone_remotely": "removed from the manifests and already gone remotely",
    "forget_because_write_only": "a write-only entry removed from the manifests",
    "forget_because_inactive": "removed from the manifests and already inactive remotely",
    "move_because_key_renamed": "the manifest key was renamed; only the state changes",
    "replace_by_request": "replacement requested with -replace (Terraform's own code)",
}
_LABEL = re.compile(r"^(?P<kind>[A-Za-z0-9_]+\.[A-Za-z0-9_]+) id=(?P<id>\S*) (?P<key>.*)$")


def dumps(document: dict[str, Any]) -> str:
    """One line, as `terraform show -json` prints it (and 4x faster than indented on big
    plans: the C encoder); pipe it to `jq .` to read it."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"), default=str)


def plan_document(plan: Plan) -> dict[str, Any]:
    """`plan --format json` and `show --format json PLANFILE`."""
    write_only = set(plan.not_observable)
    blocked = any(v.blocked for v in plan.safety)
    return {
        "format_version": FORMAT_VERSION,
        "reconciler_version": __version__,
        "applyable": plan.has_changes and not plan.refusals and not blocked,
        "complete": True,
        "errored": False,
        "resource_changes": [resource_change(c, write_only) for c in plan.changes],
        "summary": {**plan.counts(), "unchanged": plan.unchanged, "skipped": plan.skipped},
        "change_details": {c.address: _details(c) for c in plan.changes},
        "moves": [_move(c) for c in plan.changes if str(c.action) == "move"],
        "refusals": [_refusal(r) for r in plan.refusals],
        "safety": [v.to_dict() for v in plan.safety],
        "unmanaged": unmanaged_objects(plan.unmanaged),
        "not_observable": plan.not_observable,
        "warnings": plan.warnings,
        "checksum": plan.checksum(),
        "lineage": plan.lineage,
        "serial": plan.serial,
        "manifest_digest": plan.manifest_digest,
        "directory": plan.directory,
    }


def drift_document(report: DriftReport) -> dict[str, Any]:
    """`drift --format json`: Terraform's `resource_drift`, the state's view against the vendor's."""
    return {
        "format_version": FORMAT_VERSION,
        "reconciler_version": __version__,
        "resource_drift": [drift_change(item) for item in report.items],
        "resource_changes": [],
        "drift_details": {i.address: {"status": i.status, "note": i.note, "remote_id": i.remote_id,
                                      "diffs": [{"field": d.field, "before": d.before,
                                                 "after": d.after} for d in i.diffs]}
                          for i in report.items},
        "checked": report.checked,
        "drifted": len(report.items),
        "unmanaged": unmanaged_objects(report.unmanaged),
        "not_observable": report.not_observable,
        "forgotten": report.forgotten,  # let go with --forget: not drift
    }


def _identity(address: str, vendor: str, kind: str) -> dict[str, Any]:
    prefix = f"{vendor}.{kind}."
    name = address[len(prefix):] if address.startswith(prefix) else address
    return {"address": address, "mode": "managed", "type": f"{vendor}_{kind}", "name": name,
            "provider_name": vendor}


def resource_change(change: Change, write_only: set[str]) -> dict[str, Any]:
    """One change as Terraform's resource change; adoptions carry Terraform's import marker."""
    sensitive = ({"records": True} if f"{change.vendor}.{change.kind}" in write_only else {})
    actions, before, after = _values(change)
    body: dict[str, Any] = {
        "actions": actions, "before": before, "after": after,
        "after_unknown": {"id": True} if after is not None and change.remote_id is None
        and change.action is not Action.PUSH else {},
        "before_sensitive": sensitive if before is not None else False,
        "after_sensitive": sensitive if after is not None else False,
    }
    if change.action is Action.ADOPT:
        body["importing"] = {"id": change.remote_id}
    rc = _identity(change.address, change.vendor, change.kind)
    previous = _previous_address(change)
    if previous:
        rc["previous_address"] = previous
    return {**rc, "change": body, "action_reason": action_reason(change)}


def _values(change: Change) -> tuple[list[str], dict[str, Any] | None, dict[str, Any] | None]:
    """actions, before and after: full objects, the remote id as `id` like Terraform's."""
    ident = {"id": change.remote_id} if change.remote_id is not None else {}
    before = {**change.before, **ident} if change.before is not None else None
    desired = dict(change.attributes or {})
    action = change.action
    if action is Action.CREATE:
        return ["create"], None, desired
    if action is Action.DELETE:
        return ["delete"], before, None
    if action is Action.FORGET:
        return ["forget"], before, None
    if action is Action.REPLACE:
        return ["delete", "create"], before, desired
    if action is Action.PUSH:
        after = {**desired, "records": None}
        return (["update"] if before else ["create"]), before, after
    after = {**(before or {}), **desired, **ident}
    if getattr(change, "state_only", False) or (not change.diffs and not change.revive):
        return ["no-op"], before, after  # adopt as is, state-only or move: no vendor write
    return ["update"], before, after


def action_reason(change: Change) -> str:
    """A code from ACTION_REASONS: the builder's typed reason, looked up (never parsed)."""
    return _REASON_CODES.get(change.why, str(change.why))


# Reasons the display folds into a broader documented code.
_REASON_CODES = {
    Reason.UPDATE_IDENTITY_CHANGED: "update_because_fields_differ",
    Reason.PUSH_MAYBE_WRITTEN: "push_because_content_changed",
    Reason.DELETE_FREES_KEY: "delete_because_no_resource_config",
}


def _previous_address(change: Change) -> str | None:
    for name in ("previous_address", "moved_from", "from_address"):
        value = getattr(change, name, None)
        if isinstance(value, str) and value and value != change.address:
            return value
    return None


def _move(change: Change) -> dict[str, Any]:
    return {"from": _previous_address(change), "to": change.address, "remote_id": change.remote_id}


def _details(change: Change) -> dict[str, Any]:
    """What Terraform has no field for, keyed by address in `change_details`."""
    return {
        "action": str(change.action), "reason": change.reason, "remote_id": change.remote_id,
        "natural_key": change.identity, "source": change.source,
        "delete_mode": change.delete_mode, "revive": change.revive, "safety": change.safety,
        "refused": change.refused, "lifecycle": change.meta,
        "diffs": [{"field": d.field, "before": d.before, "after": d.after} for d in change.diffs],
    }


def _refusal(text: str) -> dict[str, Any]:
    address, sep, message = text.partition(": ")
    if sep and " " not in address and "." in address:
        return {"address": address, "message": message}
    return {"address": None, "message": text}


def unmanaged_objects(unmanaged: Mapping[str, Sequence[str]]) -> list[dict[str, Any]]:
    """`kind id=ID 'natural key'` labels as objects (the planner keeps them as display labels)."""
    found: list[dict[str, Any]] = []
    for vendor, labels in sorted(unmanaged.items()):
        for label in labels:
            match = _LABEL.match(label)
            if match is None:
                found.append({"vendor": vendor, "type": None, "remote_id": None,
                              "natural_key": None, "label": label})
                continue
            kind = match["kind"].split(".", 1)[1]
            found.append({"vendor": vendor, "type": f"{vendor}_{kind}", "remote_id": match["id"],
                          "natural_key": _literal(match["key"]), "label": label})
    return found


def _literal(text: str) -> str | None:
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text
    return value if isinstance(value, str) or value is None else str(value)


def drift_change(item: DriftItem) -> dict[str, Any]:
    """A drifted object as Terraform's resource_drift entry: state (before) -> remote (after)."""
    before = {**(item.recorded or {}), "id": item.remote_id}
    if item.status == "missing":
        actions, after = ["delete"], None
    else:
        actions, after = ["update"], {**before, **(item.remote or {}), "id": item.remote_id}
    return {**_identity(item.address, item.vendor, item.kind),
            "change": {"actions": actions, "before": before, "after": after,
                       "after_unknown": {}, "before_sensitive": {},
                       "after_sensitive": {} if after is not None else False}}

"""A Plan or a DriftReport as the JSON that Terraform 1.x's `terraform show -json` emits.

Tools written for Terraform plans (terraform-json, terrasafe, checkov's terraform_plan
framework, flatplan, OPA/conftest policies) read this document unchanged, so it is
Terraform's JSON output format 1.2, field for field where Terraform has the field:
`format_version`, `terraform_version` (the reconciler's version: no Terraform runs),
`planned_values`, `prior_state`, `configuration` and `resource_changes` (or
`resource_drift`), each resource addressed as Terraform addresses it (`type.name`, e.g.
`outreach_call_purpose.follow_up`) and served by a provider named in Terraform's full form
(`registry.terraform.io/reconciler/<vendor>`). `action_reason` holds only codes from
Terraform's documented list. What Terraform has no word for (our address, our own reason
codes, safety verdicts, refusals, unmanaged objects, moves, summary counts) sits under keys
Terraform does not use: `reconciler_address` on each resource, and top-level keys of our
own. This is a display format: the saved plan file is another, separately versioned
document (reconciler/plan/planfile.py).

The plan lists only objects it changes: `planned_values`, `prior_state` and `configuration`
hold those, and the unchanged ones are only counted (`summary.unchanged`).
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

# Terraform's JSON output format, whose rule is that a reader rejects another major version.
# (The second round's "2.0" made every Terraform-plan reader reject the document.)
FORMAT_VERSION = "1.2"
STATE_FORMAT_VERSION = "1.0"  # of `prior_state`, Terraform's state representation
PROVIDER_HOST = "registry.terraform.io/reconciler"  # full provider names: <host>/<namespace>/<type>
SCHEMA_ID = SCHEMA_BASE_URL + "plan.schema.json"

# Terraform's documented `action_reason` values that can mean something here: the object has
# no manifest entry any more (removed, never declared and pruned, or left by an interrupted
# run). Every other change carries no action_reason, as in Terraform.
TERRAFORM_REASONS = frozenset({"delete_because_no_resource_config"})

ACTION_REASONS: dict[str, str] = {
    # reconciler's own reason codes (`change_details[ADDRESS].reason_code`).
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
_TO_TERRAFORM = {"delete_because_no_resource_config": "delete_because_no_resource_config",
                 "delete_because_unmanaged_prune": "delete_because_no_resource_config",
                 "delete_because_interrupted_run": "delete_because_no_resource_config"}
_LABEL = re.compile(r"^(?P<kind>[A-Za-z0-9_]+\.[A-Za-z0-9_]+) id=(?P<id>\S*) (?P<key>.*)$")


def dumps(document: dict[str, Any]) -> str:
    """One line, as `terraform show -json` prints it (and 4x faster than indented on big
    plans: the C encoder); pipe it to `jq .` to read it."""
    text = json.dumps(document, ensure_ascii=False, separators=(",", ":"), default=str)
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


_UNSAFE = re.compile("[\x7f-\x9f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2069\ufeff]")
"""C1 controls, bidi overrides and invisible characters: escaped as \\uXXXX (still the same
JSON), so that a terminal shows them as what they are instead of obeying them."""


def provider_key(vendor: str) -> str:
    """The provider's local name: Terraform's provider types take dashes, not underscores."""
    return vendor.replace("_", "-")


def provider_name(vendor: str) -> str:
    """Terraform's full provider address, e.g. registry.terraform.io/reconciler/outreach."""
    return f"{PROVIDER_HOST}/{provider_key(vendor)}"


def plan_document(plan: Plan) -> dict[str, Any]:
    """`plan --format json` and `show --format json PLANFILE`."""
    write_only = set(plan.not_observable)
    blocked = any(v.blocked for v in plan.safety)
    changes = [resource_change(c, write_only) for c in plan.changes]
    return {
        "format_version": FORMAT_VERSION,
        "terraform_version": __version__,
        "planned_values": {"root_module": {"resources": [
            _state_resource(rc, rc["change"]["after"], rc["change"]["after_sensitive"])
            for rc in changes if rc["change"]["after"] is not None]}},
        "resource_changes": changes,
        "prior_state": {"format_version": STATE_FORMAT_VERSION, "terraform_version": __version__,
                        "values": {"root_module": {"resources": [
                            _state_resource(rc, rc["change"]["before"],
                                            rc["change"]["before_sensitive"])
                            for rc in changes if rc["change"]["before"] is not None]}}},
        "configuration": _configuration(plan, changes, write_only),
        "applyable": plan.has_changes and not plan.refusals and not blocked,
        "complete": True,
        "errored": False,
        # reconciler's own keys, which Terraform does not use:
        "reconciler_version": __version__,
        "summary": {**plan.counts(), "unchanged": plan.unchanged, "skipped": plan.skipped},
        "change_details": {c.address: _details(c) for c in plan.changes},
        "moves": [_move(c) for c in plan.changes if c.action is Action.MOVE],
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
        "terraform_version": __version__,
        "resource_drift": [drift_change(item) for item in report.items],
        "resource_changes": [],
        "applyable": False,
        "complete": True,
        "errored": False,
        "reconciler_version": __version__,
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
    """Terraform's address (`type.name`), and ours under `reconciler_address`."""
    prefix = f"{vendor}.{kind}."
    name = address[len(prefix):] if address.startswith(prefix) else address
    kind_type = f"{vendor}_{kind}"
    return {"address": f"{kind_type}.{name}", "mode": "managed", "type": kind_type, "name": name,
            "provider_name": provider_name(vendor), "reconciler_address": address}


def _state_resource(rc: dict[str, Any], values: dict[str, Any],
                    sensitive: dict[str, Any] | bool) -> dict[str, Any]:
    """A resource of Terraform's values representation (planned_values, prior_state)."""
    return {"address": rc["address"], "mode": "managed", "type": rc["type"], "name": rc["name"],
            "provider_name": rc["provider_name"], "schema_version": 0, "values": values,
            "sensitive_values": sensitive if isinstance(sensitive, dict) else {},
            "reconciler_address": rc["reconciler_address"]}


def _configuration(plan: Plan, changes: list[dict[str, Any]],
                   write_only: set[str]) -> dict[str, Any]:
    """Terraform's configuration representation: the providers by name only (their settings
    hold credentials), and each declared object's values as constant expressions."""
    vendors = sorted({c.vendor for c in plan.changes})
    resources = []
    for change, rc in zip(plan.changes, changes, strict=True):
        if change.attributes is None or rc["change"]["after"] is None:
            continue
        hidden = f"{change.vendor}.{change.kind}" in write_only
        resources.append({
            "address": rc["address"], "mode": "managed", "type": rc["type"], "name": rc["name"],
            "provider_config_key": provider_key(change.vendor), "schema_version": 0,
            "expressions": {k: {"constant_value": v} for k, v in change.attributes.items()
                            if not (hidden and k == "records")},
        })
    return {"provider_config": {provider_key(v): {"name": provider_key(v),
                                                  "full_name": provider_name(v)} for v in vendors},
            "root_module": {"resources": resources}}


def resource_change(change: Change, write_only: set[str]) -> dict[str, Any]:
    """One change as Terraform's resource change; adoptions carry Terraform's import marker."""
    sensitive = ({"records": True} if f"{change.vendor}.{change.kind}" in write_only else {})
    actions, before, after = _values(change)
    body: dict[str, Any] = {
        "actions": actions, "before": before, "after": after,
        "after_unknown": {"id": True} if after is not None and change.remote_id is None
        and change.action is not Action.PUSH and not change.refused else {},
        "before_sensitive": sensitive if before is not None else False,
        "after_sensitive": sensitive if after is not None else False,
    }
    if change.action is Action.ADOPT:
        body["importing"] = {"id": change.remote_id}
    rc = _identity(change.address, change.vendor, change.kind)
    previous = _previous_address(change)
    if previous:
        moved = _identity(previous, change.vendor, change.kind)
        rc = {**rc, "previous_address": moved["address"], "reconciler_previous_address": previous}
    rc["change"] = body
    if (reason := _action_reason(change)) is not None:
        rc["action_reason"] = reason
    return rc


def _values(change: Change) -> tuple[list[str], dict[str, Any] | None, dict[str, Any] | None]:
    """actions, before and after: full objects, the remote id as `id` like Terraform's. A
    refused change does nothing: it is a no-op (never a delete), whatever it would have done."""
    ident = {"id": change.remote_id} if change.remote_id is not None else {}
    before = {**change.before, **ident} if change.before is not None else None
    desired = dict(change.attributes or {})
    action = change.action
    if change.refused:
        return ["no-op"], before, before
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
    if change.state_only or (not change.diffs and not change.revive):
        return ["no-op"], before, after  # adopt as is, state-only or move: no vendor write
    return ["update"], before, after


def _action_reason(change: Change) -> str | None:
    """Terraform's `action_reason`, only from Terraform's documented list (or none)."""
    reason = _TO_TERRAFORM.get(reason_code(change))
    return reason if reason in TERRAFORM_REASONS and not change.refused else None


def reason_code(change: Change) -> str:
    """A code from ACTION_REASONS: the builder's typed reason, looked up (never parsed)."""
    return _REASON_CODES.get(change.why, str(change.why))


# Reasons the display folds into a broader documented code.
_REASON_CODES = {
    Reason.UPDATE_IDENTITY_CHANGED: "update_because_fields_differ",
    Reason.PUSH_MAYBE_WRITTEN: "push_because_content_changed",
    Reason.DELETE_FREES_KEY: "delete_because_no_resource_config",
}


def _previous_address(change: Change) -> str | None:
    value = change.moved_from
    return value if value and value != change.address else None


def _move(change: Change) -> dict[str, Any]:
    return {"from": _previous_address(change), "to": change.address, "remote_id": change.remote_id}


def _details(change: Change) -> dict[str, Any]:
    """What Terraform has no field for, keyed by our address in `change_details`."""
    return {
        "action": str(change.action), "reason": change.reason, "reason_code": reason_code(change),
        "remote_id": change.remote_id, "natural_key": change.identity, "source": change.source,
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

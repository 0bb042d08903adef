"""A saved plan applies to what it was made against, and only while it still holds.

- The target: the absolute manifest directory, the state backend and workspace, every
  provider endpoint (scheme, host, port, path: the tenant is in it) and the sandbox flag.
  A plan made in stage/ is refused in prod/, and one made against the sandboxes is refused
  against the real vendors, naming what differs.
- The manifests: their digest must be the one the plan was made from.
- The world: the plan is made again from the current state, manifests and remote objects
  before the first write; each saved change must be planned identically (a create whose
  object appeared since becomes an adopt, an update whose object changed gets other
  fingerprints...), or nothing is applied. Safety verdicts and refusals come from that new
  plan, so editing a plan file (and recomputing its checksum) cannot lift them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from reconciler.errors import PlanError, SafetyError, StateError
from reconciler.manifest.loader import Desired
from reconciler.manifest.settings import Settings
from reconciler.plan.model import Action, Change, Plan, Refusal, Safety
from reconciler.plan.safety import assess
from reconciler.providers.base import ProviderSettings
from reconciler.state import StateDoc
from reconciler.state.base import StateBackend

_IGNORED = ("reason", "why", "source", "safety", "before")  # wording and display, not what is done
_WHERE = ("url", "tenant", "environment", "state_api")  # provider settings naming where it writes


def endpoint(url: str) -> str:
    """scheme://host:port/path, so that spelling (case, default port, a final /) is no difference."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    port = parts.port or {"https": 443, "http": 80}.get(scheme, 0)
    return f"{scheme}://{(parts.hostname or '').lower()}:{port}{parts.path.rstrip('/')}"


def endpoints(settings: Settings, sandbox: bool) -> dict[str, dict[str, str]]:
    """Provider -> where it writes (endpoints and tenant); a sandbox by its data folder."""
    found: dict[str, dict[str, str]] = {}
    for name, provider in sorted(settings.providers.items()):
        urls = {field: endpoint(value) if "://" in value else value for field, value in provider
                if field.endswith(_WHERE) and isinstance(value, str) and value}
        # A sandbox listens on a new port each run: what identifies it is its data folder.
        found[name] = {"sandbox": str(settings.sandbox_data)} if sandbox else urls
    return found


def plan_target(settings: Settings, backend: StateBackend, sandbox: bool) -> dict[str, Any]:
    target = {"directory": str(settings.directory.resolve()), "state": backend.describe(),
              "sandbox": sandbox, "endpoints": endpoints(settings, sandbox)}
    if settings.environment is not None:  # a plan of staging is refused in production
        target["environment"] = settings.environment
    return target


def check_bound(state: StateDoc, here: Mapping[str, Any], where: str) -> None:
    """A state is bound to the target it was applied to (StateDoc.target): used against
    another (a sandbox's state against a real tenant, stage's against prod), its recorded
    ids would name other objects. Refused, naming both; a provider new to the state is not
    a difference (its first apply binds it)."""
    differences = [f"{name}: the state was applied to {_where(recorded)}, this run is "
                   f"{_where(here[name])}"
                   for name, recorded in sorted(state.target.items())
                   if name in here and here[name] != recorded]
    if differences:
        raise StateError(
            f"the state in {where} belongs to another target; nothing was read from or written "
            "to any vendor:\n  " + "\n  ".join(differences) + "\nUse the state made for this "
            "target (a sandbox's is in its data folder: add --sandbox), or, if the same tenant "
            "moved to a new address, rewrite \"target\" with `reconciler state pull DIR` / "
            "`state push FILE DIR`")


def _where(target: Mapping[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(target.items())) or "no endpoint"


def check_target(plan: Plan, here: Mapping[str, Any]) -> None:
    """Refuse a plan made for another target, naming what differs."""
    if not plan.target:
        raise PlanError("the plan file records no target (made by an older reconciler): make "
                        "a new one with `reconciler plan DIR --out FILE`")
    planned, now = _flat(plan.target), _flat(here)
    differences = [f"{name}: the plan was made for {value!r}, this run is {now.get(name)!r}"
                   for name, value in planned.items() if now.get(name) != value]
    differences += [f"{name}: not in the plan, this run has {value!r}"
                    for name, value in now.items() if name not in planned]
    if differences:
        hint = (" (apply a plan made with --sandbox with --sandbox, and a real one without)"
                if plan.target.get("sandbox") != here.get("sandbox") else "")
        raise PlanError("the plan was made for another target; nothing was applied:\n  "
                        + "\n  ".join(differences) + f"\nMake a new plan for this target{hint}.")


def check_manifests(plan: Plan, desired: Desired) -> None:
    if plan.manifest_digest != desired.digest:
        raise PlanError(f"the manifests in {plan.target['directory']} changed since the plan was "
                        "made (their digest differs); nothing was applied: run plan again and "
                        "review it")


def _flat(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, Mapping):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def check_state(plan: Plan, state: StateDoc) -> None:
    """The plan was made against this very state: same lineage, same serial."""
    if plan.lineage != state.lineage and not plan.lineage:
        raise PlanError("the plan was made when no state existed yet, and a state was written "
                        "since; run plan again")
    if plan.lineage != state.lineage:
        raise PlanError(f"the plan was made against another state (lineage {plan.lineage}, now "
                        f"{state.lineage}); run plan again")
    if plan.serial != state.serial:
        raise PlanError(f"the state changed since the plan was made (serial {plan.serial}, now "
                        f"{state.serial}); run plan again and review it")


def still_holds(saved: Plan, fresh: Plan, state: StateDoc,
                settings: Mapping[str, ProviderSettings]) -> Plan:
    """The saved plan holds only if `fresh` (planned now, same scope) plans every change it
    makes the same. Returns the saved changes as planned now, with the verdicts of now."""
    now = {c.address: c for c in fresh.changes}
    stale = [_why(change, now.get(change.address)) for change in saved.changes]
    problems = [p for p in stale if p]
    if problems:
        protected = any(now[c.address].refusal is Refusal.PREVENT_DESTROY
                        for c in saved.changes if c.address in now)
        error = SafetyError if protected else PlanError  # an edited file lifting a rail: exit 3
        raise error("the saved plan no longer holds; nothing was applied:\n  "
                    + "\n  ".join(problems) + "\nRun plan again and review it.")
    # The saved plan itself, each change as planned now: what apply prints has the checksum
    # `plan --out` printed (the reviewer matches them), and its verdicts are those of now.
    checked = replace(saved, changes=tuple(replace(now[c.address], safety=Safety.OK)
                                           for c in saved.changes), safety=(), refusals=())
    return assess(checked, state, settings)  # the verdicts of now, on exactly these changes


def _why(saved: Change, current: Change | None) -> str | None:
    if current is None:
        return f"{saved.address}: planned {saved.action}, now nothing to do (changed remotely?)"
    if _essence(saved) == _essence(current):
        return None
    refused = f"; now refused: {current.refused}" if current.refused else ""
    if saved.remote_id and current.action is Action.CREATE:
        return (f"{saved.address}: the remote object (id {saved.remote_id}) is gone since the plan "
                f"was made ({current.reason})")
    if saved.fingerprint and current.fingerprint != saved.fingerprint:
        return (f"{saved.address}: the remote object changed since the plan was made "
                f"(now: {current.action}, {current.reason}{refused})")
    if saved.action != current.action:
        return (f"{saved.address}: planned {saved.action}, now {current.action} "
                f"({current.reason}{refused})")
    return (f"{saved.address}: planned differently than it would be now ({current.reason}"
            f"{refused})")


def _essence(change: Change) -> str:
    data = {k: v for k, v in change.to_dict().items() if k not in _IGNORED}
    return json.dumps(data, sort_keys=True, default=str)

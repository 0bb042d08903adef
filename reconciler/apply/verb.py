"""The apply verb: check a plan can still be applied, run it, and checkpoint the state."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from reconciler.apply.executor import Applier, ApplyResult, Progress
from reconciler.errors import PlanError, RefusedError
from reconciler.manifest.loader import Desired
from reconciler.plan.model import PLAN_FORMAT_VERSION, Plan
from reconciler.plan.safety import enforce
from reconciler.providers.connected import Providers
from reconciler.state import StateDoc
from reconciler.state.base import StateBackend

PLAN_FILE_KIND = "reconciler-plan"


def save_plan(plan: Plan, path: Path) -> None:
    path.write_text(json.dumps({"kind": PLAN_FILE_KIND, **plan.to_dict()}, indent=1, default=str))


def load_plan(path: Path) -> Plan:
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise PlanError(f"{path}: not a plan file (it is not UTF-8 text); make one with "
                        "`reconciler plan --out`") from None
    except OSError as exc:
        raise PlanError(f"{path}: cannot read the plan file: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise PlanError(f"{path}: not a plan file (invalid JSON at line {exc.lineno}, column "
                        f"{exc.colno}); make a new one with `reconciler plan --out`") from None
    if not isinstance(data, dict) or data.get("kind") != PLAN_FILE_KIND:
        raise PlanError(f"{path}: not a reconciler plan file; make one with `reconciler plan --out`")
    version = data.get("format_version")
    if isinstance(version, int) and version > PLAN_FORMAT_VERSION:
        raise PlanError(f"{path}: made by a newer reconciler (plan format {version}, this one reads up "
                        f"to {PLAN_FORMAT_VERSION}); apply it with that version, or make a new plan")
    try:
        plan = Plan.from_dict(data)
    except KeyError as exc:
        raise PlanError(f"{path}: the plan file is damaged (field {exc.args[0]!r} is missing); make a "
                        "new one with `reconciler plan --out`") from None
    except (AttributeError, TypeError, ValueError) as exc:
        raise PlanError(f"{path}: the plan file is damaged ({exc}); make a new one with "
                        "`reconciler plan --out`") from None
    if plan.checksum() != data.get("checksum"):
        raise PlanError(f"{path}: the plan file was modified after it was made (its checksum "
                        "does not match); make a new plan instead of editing one")
    return plan


def check_applicable(plan: Plan, state: StateDoc, force: bool) -> None:
    if plan.refusals:
        raise RefusedError("the plan cannot be applied:\n  " + "\n  ".join(plan.refusals))
    if plan.lineage != state.lineage and not plan.lineage:
        raise PlanError("the plan was made when no state existed yet, and a state was written "
                        "since; run plan again")
    if plan.lineage != state.lineage:
        raise PlanError(f"the plan was made against another state (lineage {plan.lineage}, now "
                        f"{state.lineage}); run plan again")
    if plan.serial != state.serial:
        raise PlanError(f"the state changed since the plan was made (serial {plan.serial}, now "
                        f"{state.serial}); run plan again and review it")
    enforce(plan, force)


async def run_apply(plan: Plan, state: StateDoc, desired: Desired, backend: StateBackend,
                    providers: Providers, progress: Progress | None, verify: bool) -> ApplyResult:
    writer = backend.writer(state)
    try:
        planned = {c.address for c in plan.changes}
        for address in list(state.pending):
            # Planning looked these up by natural key already (adopt, re-create or delete);
            # those the plan acts on are replaced by the change's own intent.
            if address not in planned:
                await writer.resolve(address)
        return await Applier(providers, writer, desired, progress, verify).apply(plan)
    finally:
        writer.checkpoint()

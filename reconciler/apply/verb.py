"""The apply verb: check a plan can still be applied, run it, and checkpoint the state."""

from __future__ import annotations

from pathlib import Path

from reconciler.apply.binding import check_state
from reconciler.apply.executor import Applier, ApplyResult, Progress
from reconciler.errors import PlanError, RefusedError
from reconciler.manifest.loader import Desired
from reconciler.plan import planfile
from reconciler.plan.model import Plan
from reconciler.plan.planfile import PLAN_FILE_KIND as PLAN_FILE_KIND  # re-exported
from reconciler.plan.safety import enforce
from reconciler.providers.connected import Providers
from reconciler.state import StateDoc
from reconciler.state.base import StateBackend


def save_plan(plan: Plan, path: Path) -> None:
    """Write the plan file (its format: reconciler/plan/planfile.py), atomically and readable
    by its owner only (0600): it names the targets and holds the planned values."""
    from reconciler.files import atomic_write

    try:
        atomic_write(path, planfile.encode(plan), mode=0o600)
    except OSError as exc:
        raise PlanError(f"{path}: cannot write the plan file: {exc.strerror or exc}") from None


def load_plan(path: Path) -> Plan:
    """Read a plan file back, refusing anything that is not one, or that was edited."""
    return planfile.decode(planfile.read(path), path)


def check_applicable(plan: Plan, state: StateDoc, force: bool) -> None:
    if plan.refusals:
        raise RefusedError("the plan cannot be applied:\n  " + "\n  ".join(plan.refusals))
    check_state(plan, state)
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

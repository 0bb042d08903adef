"""The plan verb: read state, observe the vendors, compute the plan."""

from __future__ import annotations

from typing import Any

from reconciler.manifest import Desired
from reconciler.model import Plan
from reconciler.planner import PlanOptions, make_plan
from reconciler.providers.base import DeleteMode
from reconciler.safety import assess
from reconciler.state import StateDoc
from reconciler.workspace import Providers, Workspace


def plan_options(workspace: Workspace, targets: list[str], excludes: list[str],
                 forget: list[str]) -> PlanOptions:
    providers = workspace.settings.providers
    ignore: dict[str, tuple[str, ...]] = {}
    delete_modes: dict[str, DeleteMode] = {}
    for kind_address, kind in workspace.kinds().items():
        settings = providers[kind.vendor]
        fields = settings.ignore_changes.get(kind.collection, [])
        if fields:
            ignore[kind_address] = tuple(fields)
        default = settings.default_delete_mode(kind)
        if default is not None:
            delete_modes[kind_address] = default
    return PlanOptions(
        targets=targets, excludes=excludes, forget=forget,
        prune=frozenset(n for n, p in providers.items() if p.prune),
        forget_undeletable=frozenset(
            n for n, p in providers.items() if getattr(p, "forget_undeletable", False)),
        ignore=ignore, delete_modes=delete_modes)


def kinds_in_play(workspace: Workspace, desired: Desired, state: StateDoc) -> set[str]:
    """Kinds with something declared or managed; others are not listed (no needless calls)."""
    used = {obj.kind_address for obj in desired.objects.values()}
    used |= {f"{r.vendor}.{r.kind}" for r in state.resources.values()}
    kinds = workspace.kinds()
    used |= {a for a, k in kinds.items() if workspace.settings.providers[k.vendor].prune}
    return used & set(kinds)


async def build_plan(workspace: Workspace, providers: Providers, desired: Desired,
                     state: StateDoc, options: PlanOptions) -> Plan:
    recorded: dict[str, dict[str, dict[str, Any]]] = {}
    for resource in state.resources.values():
        if resource.remote_id is not None:
            recorded.setdefault(f"{resource.vendor}.{resource.kind}", {})[resource.remote_id] = \
                resource.attributes
    observed = await providers.observe(kinds_in_play(workspace, desired, state), recorded)
    del recorded
    plan = make_plan(desired, state, observed, workspace.kinds(), options,
                     str(workspace.settings.directory))
    assess(plan, state, workspace.settings.providers)
    return plan

"""The plan verb: read state, observe the vendors, compute the plan."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.errors import ConfigError
from reconciler.manifest.loader import Desired
from reconciler.manifest.settings import Settings
from reconciler.plan.builder import PlanOptions, make_plan, unmatched_patterns
from reconciler.plan.model import Plan
from reconciler.plan.safety import assess
from reconciler.providers.base import DeleteMode, KindSpec
from reconciler.providers.connected import Providers
from reconciler.state import StateDoc
from reconciler.state.ids import check_recorded_ids

Kinds = Mapping[str, type[KindSpec]]


def plan_options(settings: Settings, kinds: Kinds, targets: list[str], excludes: list[str],
                 forget: list[str]) -> PlanOptions:
    providers = settings.providers
    ignore: dict[str, tuple[str, ...]] = {}
    delete_modes: dict[str, DeleteMode] = {}
    for kind_address, kind in kinds.items():
        vendor = providers[kind.vendor]
        fields = vendor.ignore_changes.get(kind.collection, [])
        if fields:
            ignore[kind_address] = tuple(fields)
        default = vendor.default_delete_mode(kind)
        if default is not None:
            delete_modes[kind_address] = default
    return PlanOptions(
        targets=targets, excludes=excludes, forget=forget,
        prune=frozenset(n for n, p in providers.items() if p.prune),
        forget_undeletable=frozenset(
            n for n, p in providers.items() if getattr(p, "forget_undeletable", False)),
        ignore=ignore, delete_modes=delete_modes,
        ignore_unmanaged={n: tuple(p.ignore_unmanaged) for n, p in providers.items()
                          if p.ignore_unmanaged})


def kinds_in_play(settings: Settings, kinds: Kinds, desired: Desired, state: StateDoc) -> set[str]:
    """Kinds with something declared or managed; others are not listed (no needless calls)."""
    used = {obj.kind_address for obj in desired.objects.values()}
    used |= {f"{r.vendor}.{r.kind}" for r in state.resources.values()}
    used |= {f"{p.vendor}.{p.kind}" for p in state.pending.values()}  # orphans of a crash
    used |= {a for a, k in kinds.items() if settings.providers[k.vendor].prune}
    return used & set(kinds)


async def build_plan(settings: Settings, kinds: Kinds, providers: Providers, desired: Desired,
                     state: StateDoc, options: PlanOptions) -> Plan:
    if options.targets or options.excludes:
        unmatched = unmatched_patterns(options, [*desired.objects, *state.resources])
        if unmatched:
            raise ConfigError(
                f"{', '.join(unmatched)}: matches no address in the manifests or the state; "
                "check the spelling (addresses are <vendor>.<kind>.<key>, globs like "
                "'outreach.*' match several; `reconciler state list DIR` lists the managed ones)")
    recorded: dict[str, dict[str, dict[str, Any]]] = {}
    for resource in state.resources.values():
        if resource.remote_id is not None:
            recorded.setdefault(f"{resource.vendor}.{resource.kind}", {})[resource.remote_id] = \
                resource.attributes
    check_recorded_ids(state, kinds, recorded)  # before any id of it goes into a request
    observed = await providers.observe(kinds_in_play(settings, kinds, desired, state), recorded)
    del recorded
    plan = make_plan(desired, state, observed, dict(kinds), options, str(settings.directory))
    plan.scope = {"targets": list(options.targets), "excludes": list(options.excludes),
                  "forget": list(options.forget)}
    assess(plan, state, settings.providers)
    return plan

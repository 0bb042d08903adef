"""Safety rails, octoDNS-style: a plan carries its own verdict, shown at plan time, enforced at apply.

- threshold: refuse when updates + deletes exceed a share of a vendor's managed
  objects (30% by default, once at least 10 are managed) or an absolute cap;
  `--force` overrides it. Deletes of objects the state does not hold (prune: true,
  orphans of an interrupted run) count too, and so do the objects they delete in the
  base: 2,400 pruned next to 7 managed is 99.7%, not "within limits". State-only
  changes (a move, lifecycle settings) and refused changes never count.
- prevent_destroy: a delete of a protected object is never applied; the
  protection lives in the state, so removing the manifest entry does not lift it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import replace

from reconciler.errors import SafetyError
from reconciler.plan.model import Action, Change, Plan, Refusal, Safety, Verdict
from reconciler.providers.base import ProviderSettings
from reconciler.state import StateDoc


def assess(plan: Plan, state: StateDoc, settings: Mapping[str, ProviderSettings]) -> Plan:
    """The plan with its verdicts: plan.safety, each change's Safety and the refusals."""
    managed = Counter(r.vendor for r in state.resources.values())
    counted = [c for c in plan.changes if _risky(c)]
    risky = Counter(c.vendor for c in counted)
    unmanaged = Counter(c.vendor for c in counted
                        if c.action is Action.DELETE and c.address not in state.resources)
    verdicts: list[Verdict] = []
    refusals: list[str] = []
    blocked_vendors: set[str] = set()
    for vendor, count in sorted(risky.items()):
        config = settings.get(vendor)
        if config is None:
            continue
        verdict = _threshold(vendor, count, managed[vendor], unmanaged[vendor], config)
        verdicts.append(verdict)
        if verdict.blocked:
            blocked_vendors.add(vendor)
    over = {c.address for c in counted if c.vendor in blocked_vendors}
    judged: list[Change] = []
    for change in plan.changes:
        change = replace(change, safety=Safety.THRESHOLD if change.address in over else Safety.OK)
        if change.refusal is Refusal.PREVENT_DESTROY:
            change = replace(change, safety=Safety.PREVENT_DESTROY)
            verdicts.append(Verdict(change.vendor, "prevent_destroy", True, False,
                                    f"{change.address}: {change.refused}"))
        elif change.refused:
            refusals.append(f"{change.address}: {change.refused}")
        judged.append(change)
    return replace(plan, changes=tuple(judged), safety=tuple(verdicts), refusals=tuple(refusals))


def _risky(change: Change) -> bool:
    """Counts toward the threshold: a vendor write that changes or removes an existing object."""
    writes = change.action in (Action.UPDATE, Action.DELETE, Action.REPLACE) or (
        change.action is Action.MOVE and not change.state_only)
    return writes and not change.state_only and not change.refused


def _threshold(vendor: str, count: int, managed: int, unmanaged: int,
               config: ProviderSettings) -> Verdict:
    base = managed + unmanaged
    share = 100.0 * count / base if base else 100.0
    limit = config.max_change_percent
    over_share = base >= config.threshold_min_objects and share > limit
    over_cap = config.max_changes is not None and count > config.max_changes
    cap = f", cap {config.max_changes}" if config.max_changes is not None else ""
    of = (f"{base} object(s) ({managed} managed + {unmanaged} never managed, deleted by prune)"
          if unmanaged else f"{managed} managed object(s)")
    text = (f"{vendor}: {count} update(s)/delete(s) of {of} "
            f"({share:.0f}%; limit {limit:g}% once {config.threshold_min_objects} are managed{cap})")
    if over_share or over_cap:
        return Verdict(vendor, "threshold", True, True, f"{text}{BLOCKED}")
    return Verdict(vendor, "threshold", False, True, f"{text}: within limits")


BLOCKED = ": blocked; review the plan and apply with --force if intended"
FORCED = ": over the limit, applied because --force was given"


def enforce(plan: Plan, force: bool) -> None:
    blocked = [v for v in plan.safety if v.blocked]
    hard = [v for v in blocked if not v.overridable]
    if hard or (blocked and not force):
        lines = "\n  ".join(v.message for v in (hard or blocked))
        hint = "" if hard else "\nRe-run with --force if this is intended."
        raise SafetyError(f"a safety rail blocked the apply:\n  {lines}{hint}")

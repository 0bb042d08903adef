"""The apply run: settle what an interrupted run left, execute the plan, checkpoint the state."""

from __future__ import annotations

from typing import Any

from reconciler.apply.executor import Applier, ApplyResult, Progress
from reconciler.manifest.loader import Desired
from reconciler.plan.model import Plan
from reconciler.providers.connected import Providers
from reconciler.state import StateDoc
from reconciler.state.base import StateBackend


async def run_apply(plan: Plan, state: StateDoc, desired: Desired, backend: StateBackend,
                    providers: Providers, progress: Progress | None, verify: bool,
                    target: dict[str, Any] | None = None) -> ApplyResult:
    """`target`: where this run writes; the state is bound to it (binding.check_bound)."""
    writer = backend.writer(state)
    try:
        if target is not None:
            await writer.bind({**state.target, **target})
        planned = {c.address for c in plan.changes}
        for address in list(state.pending):
            # Planning looked these up by natural key already (adopt, re-create or delete);
            # those the plan acts on are replaced by the change's own intent.
            if address not in planned:
                await writer.resolve(address)
        return await Applier(providers, writer, desired, progress, verify).apply(plan)
    finally:
        writer.checkpoint()

"""Fixtures of the fast unit tests: the in-memory vendor, a real local state backend, and
the real pipeline between them (observe -> plan -> safety -> check -> apply)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from reconciler.apply.executor import ApplyResult, Progress
from reconciler.apply.verb import run_apply
from reconciler.engine.workspace import check_applicable
from reconciler.manifest.loader import Desired
from reconciler.plan.builder import PlanOptions, make_plan
from reconciler.plan.model import Plan
from reconciler.plan.safety import assess
from reconciler.providers.base import ProviderSettings
from reconciler.providers.connected import Providers
from reconciler.state import StateDoc
from reconciler.state.local import LocalBackend
from tests.unit.memory_provider import KINDS, MemoryProvider, MemorySettings, MemoryStore, SpareProvider


class Pipeline:
    """What `reconciler plan` and `apply` do, minus manifests on disk and the CLI: the
    planner, safety rails, executor and state backend are the real ones; only the vendor
    is the in-memory double."""

    def __init__(self, store: MemoryStore, backend: LocalBackend) -> None:
        self.store = store
        self.backend = backend
        self.settings: dict[str, ProviderSettings] = {"memory": MemorySettings(),
                                                      "spare": MemorySettings()}

    def providers(self) -> Providers:
        return Providers({"memory": MemoryProvider(self.store, self.settings["memory"]),
                          "spare": SpareProvider(self.store, self.settings["spare"])})

    def state(self) -> StateDoc:
        """The state as the next command would read it (a fresh backend: document + journal)."""
        return LocalBackend(self.backend.path).read()

    def plan(self, desired: Desired, options: PlanOptions | None = None) -> Plan:
        state = self.backend.read()

        async def observe() -> Plan:
            async with self.providers() as providers:
                observed = await providers.observe(set(KINDS))
            return make_plan(desired, state, observed, KINDS, options or PlanOptions(), "/d")

        return assess(asyncio.run(observe()), state, self.settings)

    def apply(self, plan: Plan, desired: Desired, verify: bool = False,
              progress: Progress | None = None) -> ApplyResult:
        async def run(state: StateDoc) -> ApplyResult:
            async with self.providers() as providers:
                return await run_apply(plan, state, desired, self.backend, providers, progress, verify)

        with self.backend.lock("apply", timeout_s=5):
            state = self.backend.read()
            check_applicable(plan, state, force=False)
            return asyncio.run(run(state))

    def converge(self, desired: Desired, options: PlanOptions | None = None) -> tuple[Plan, ApplyResult]:
        plan = self.plan(desired, options)
        return plan, self.apply(plan, desired)


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def backend(tmp_path: Path) -> LocalBackend:
    return LocalBackend(tmp_path / "state" / "default.json")


@pytest.fixture
def pipeline(store: MemoryStore, backend: LocalBackend) -> Pipeline:
    return Pipeline(store, backend)

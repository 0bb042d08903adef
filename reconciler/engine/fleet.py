"""Several environments of one directory, run side by side in one event loop.

Every environment is a Workspace of its own (settings, state backend, live providers,
manifests, and with --sandbox its own sandboxes), so a credential, a lock or a plan of one
never reaches another. At most `parallel` environments are open at once; each is opened,
run and released in turn, and its result is handed to the caller as soon as it is done
(`Fleet.each` yields in completion order), so a caller that prints and drops each result
holds at most `parallel` plans however large the fleet. One environment's failure is its
own result; the others go on, unless `fail_fast`, which starts no further environment.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from reconciler.engine.workspace import Notice, Scope, Workspace, _quiet
from reconciler.errors import ConfigError, ReconcilerError, SafetyError
from reconciler.manifest.environments import Declared, read_declared
from reconciler.manifest.source import Parsed, shared_parses

if TYPE_CHECKING:
    from reconciler.drift.detect import DriftReport
    from reconciler.engine.workspace import Applied
    from reconciler.plan.model import Plan

T = TypeVar("T")
DEFAULT_PARALLEL = 4


class Status(StrEnum):
    """One environment's outcome, as the fleet summary shows it (worst first)."""

    FAILED = "failed"
    BLOCKED = "blocked"
    CHANGES = "changes"
    DRIFT = "drift"
    APPLIED = "applied"
    NO_CHANGES = "no changes"
    NO_DRIFT = "no drift"
    SKIPPED = "skipped"


@dataclass
class Finished(Generic[T]):
    """One environment done: its value, or the error that stopped it (or skipped: not started
    because another failed under fail_fast)."""

    environment: str
    value: T | None = None
    error: BaseException | None = None
    skipped: bool = False


@dataclass
class Row:
    """What the summary keeps of an environment once its plan or report is released."""

    environment: str
    status: Status
    counts: dict[str, int] = field(default_factory=dict)  # create, update, delete, adopt
    drift: int | None = None
    error: str | None = None


class Fleet:
    """The chosen environments of one directory."""

    def __init__(self, directory: Path, environments: Sequence[str], *, sandbox: bool = False,
                 parallel: int = DEFAULT_PARALLEL, fail_fast: bool = False,
                 notice: Notice = _quiet, offline: bool = False) -> None:
        if parallel < 1:
            raise ConfigError(f"--parallel {parallel}: run at least one environment at a time")
        self.directory = directory
        self.environments = list(environments)
        self.sandbox = sandbox
        self.parallel = parallel
        self.fail_fast = fail_fast
        self.notice = notice
        self.offline = offline
        self._states: dict[str, str] = {}  # state described -> the environment using it

    @classmethod
    def select(cls, directory: Path, patterns: Iterable[str], **options: object) -> Fleet:
        """The environments matching `patterns` (globs; '*' is every one)."""
        return cls(directory, declared(directory).select(patterns), **options)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ running ----

    def open(self, environment: str) -> Workspace:
        """One environment's workspace, opened now (not for --sandbox: see `each`)."""
        ws = Workspace.open(self.directory, offline=self.offline, notice=self._notice(environment),
                            environment=environment)
        self._own_state(environment, ws)
        return ws

    def _notice(self, environment: str) -> Notice:
        return lambda message: self.notice(f"[{environment}] {message}")

    def _own_state(self, environment: str, ws: Workspace) -> None:
        """Two environments never share a state (nor its lock): the second is refused."""
        where = ws.backend.describe()
        other = self._states.setdefault(where, environment)
        if other != environment:
            raise ConfigError(f"environment {environment!r} keeps its state where {other!r} does "
                              f"({where}); give each environment its own state (state: path: or "
                              "workspace:), or leave state: out to keep them apart")

    async def each(self, job: Callable[[Workspace], Awaitable[T]]) -> AsyncIterator[Finished[T]]:
        """Run `job` on every environment, `parallel` at a time; yield each as it finishes."""
        gate = asyncio.Semaphore(self.parallel)
        parsed = Parsed()  # the environments' manifests, parsed once for all of them
        done: asyncio.Queue[Finished[T]] = asyncio.Queue()
        stop = asyncio.Event()

        async def one(environment: str) -> None:
            async with gate:
                if stop.is_set():
                    await done.put(Finished(environment, skipped=True))
                    return
                try:
                    with shared_parses(parsed), Workspace.session(
                            self.directory, self.sandbox, notice=self._notice(environment),
                            environment=environment) as ws:
                        self._own_state(environment, ws)
                        value = await job(ws)
                except Exception as exc:  # an environment's failure is its own result
                    if self.fail_fast:
                        stop.set()
                    await done.put(Finished(environment, error=exc))
                    return
                await done.put(Finished(environment, value))

        tasks = [asyncio.create_task(one(name)) for name in self.environments]
        try:
            for _ in tasks:
                yield await done.get()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def plan(self, scope: Scope = Scope()) -> AsyncIterator[Finished[Plan]]:
        return self.each(lambda ws: ws.plan(scope))

    def apply(self, saved: Mapping[str, Plan] | None = None, scope: Scope = Scope(),
              force: bool = False, confirm: Callable[[str, Plan], None] | None = None,
              lock_timeout: float = 0.0) -> AsyncIterator[Finished[Applied]]:
        """Apply each environment: plan now (or re-check its saved plan, with every check of
        a single saved plan), under its own lock; `confirm(environment, plan)` sees each."""
        if saved is not None:
            scope.refuse_for_saved()
            missing = [n for n in self.environments if n not in saved]
            if missing:
                raise ConfigError(f"the plan file holds no plan for {', '.join(missing)} (it has "
                                  f"{', '.join(saved) or 'none'}); plan them first")

        async def job(ws: Workspace) -> Applied:
            name = ws.settings.environment or ""
            check = (lambda plan: confirm(name, plan)) if confirm is not None else None
            return await ws.apply(saved=saved[name] if saved is not None else None, scope=scope,
                                  force=force, confirm=check, lock_timeout=lock_timeout)

        return self.each(job)

    def drift(self) -> AsyncIterator[Finished[DriftReport]]:
        return self.each(lambda ws: ws.drift())


def declared(directory: Path) -> Declared:
    return read_declared(directory)


# ---------------------------------------------------------------------- outcomes ----

COUNTED = ("create", "update", "delete", "adopt")


def plan_row(finished: Finished[Plan]) -> Row:
    if (ended := _ended(finished)) is not None:
        return ended
    plan = finished.value
    assert plan is not None  # _ended answered otherwise
    row = _counted(finished.environment, plan)
    if plan.refusals:  # a refusal is exit 3 for one environment: the same over a fleet
        row.status, row.error = Status.BLOCKED, "; ".join(plan.refusals)
    elif any(v.blocked for v in plan.safety):
        row.status = Status.BLOCKED
    elif plan.has_changes:
        row.status = Status.CHANGES
    return row


def apply_row(finished: Finished[Applied]) -> Row:
    if isinstance(finished.error, SafetyError):
        row = _failed(finished)
        row.status = Status.BLOCKED
        return row
    if (ended := _ended(finished)) is not None:
        return ended
    applied = finished.value
    assert applied is not None
    row = _counted(finished.environment, applied.plan)
    if applied.result is not None:
        row.status = Status.APPLIED if applied.result.ok else Status.FAILED
        if not applied.result.ok:
            row.error = f"{len(applied.result.errors)} change(s) failed"
    return row


def drift_row(finished: Finished[DriftReport]) -> Row:
    if (ended := _ended(finished)) is not None:
        return ended
    report = finished.value
    assert report is not None
    return Row(finished.environment, Status.DRIFT if report.has_drift else Status.NO_DRIFT,
               drift=len(report.items))


def _ended(finished: Finished[Any]) -> Row | None:
    """The row of an environment that gave no result (skipped, or failed); None if it did."""
    if finished.skipped:
        return Row(finished.environment, Status.SKIPPED)
    return _failed(finished) if finished.error is not None or finished.value is None else None


def _counted(environment: str, plan: Plan) -> Row:
    counts = plan.counts()
    return Row(environment, Status.NO_CHANGES, {k: counts[k] for k in COUNTED})


def _failed(finished: Finished[Any]) -> Row:
    error = finished.error
    text = str(error) if isinstance(error, ReconcilerError | OSError) else \
        f"internal error ({type(error).__name__}): this is a bug in reconciler; please report it"
    return Row(finished.environment, Status.FAILED, error=text)


def exit_code(rows: Iterable[Row], detailed: bool) -> int:
    """1 if any environment failed (or was skipped by fail_fast), else 3 if a safety rail
    blocked any, else 2 if any has changes or drift (when `detailed`), else 0."""
    statuses = {row.status for row in rows}
    if statuses & {Status.FAILED, Status.SKIPPED}:
        return 1
    if Status.BLOCKED in statuses:
        return 3
    if detailed and statuses & {Status.CHANGES, Status.DRIFT}:
        return 2
    return 0

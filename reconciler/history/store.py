"""What a state backend offers to keep the run history: append, and read back.

A backend exposes its store with `StateBackend.history(settings)`; a third backend needs
only `append` and `runs`. The other queries (what a dashboard calls) have plain
implementations over `runs` here; a backend with an index overrides them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime

from reconciler.history.model import RunRecord, parse_time


@dataclass(frozen=True)
class Query:
    """Which runs: all filters optional; `address` keeps only the runs that touched it, each
    with only its changes to that address."""

    environment: str | None = None
    since: datetime | None = None
    address: str | None = None
    kind: str | None = None
    limit: int | None = None

    def admits(self, run: RunRecord) -> bool:
        return ((self.environment is None or run.environment == self.environment)
                and (self.kind is None or run.kind == self.kind)
                and (self.since is None or parse_time(run.started_at) >= self.since)
                and (self.address is None or any(c.address == self.address for c in run.changes)))


@dataclass(frozen=True)
class DriftPoint:
    """One drift run's counts, for a chart of drifted objects over time."""

    environment: str
    started_at: str
    drifted: int
    missing: int
    unmanaged: int
    outcome: str


class HistoryStore(ABC):
    @abstractmethod
    def append(self, run: RunRecord, retention_days: int | None) -> None:
        """Make `run` durable in one write, and drop runs older than `retention_days`
        (cheaply: this is on every run's path)."""

    @abstractmethod
    def runs(self, query: Query) -> list[RunRecord]:
        """Newest first."""

    def run(self, run_id: str) -> RunRecord | None:
        return next((r for r in self.runs(Query()) if r.id == run_id), None)

    def latest_per_environment(self, kind: str | None = None) -> list[RunRecord]:
        """Each environment's newest run (of `kind`), by environment name; without changes."""
        latest: dict[str, RunRecord] = {}
        for run in self.runs(Query(kind=kind)):
            latest.setdefault(run.environment, run)
        return [_bare(latest[e]) for e in sorted(latest)]

    def drift_series(self, environment: str | None = None,
                     since: datetime | None = None) -> list[DriftPoint]:
        """Drift counts over time, oldest first."""
        runs = self.runs(Query(environment=environment, since=since, kind="drift"))
        return [point(r) for r in reversed(runs)]


def point(run: RunRecord) -> DriftPoint:
    c = run.counts
    return DriftPoint(run.environment, run.started_at, int(c.get("drifted", 0)),
                      int(c.get("missing", 0)), int(c.get("unmanaged", 0)), run.outcome)


def _bare(run: RunRecord) -> RunRecord:
    from dataclasses import replace

    return replace(run, changes=())

"""What the dashboard, the API and the metrics read: the history of the served environments.

Each environment's runs live in its state backend's history store. Environments whose
state shares one PostgreSQL database are read together (one query for the whole fleet,
through the history's indexes, on the one connection it keeps); local histories are read one
file set each. Everything here only reads.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from reconciler.errors import StateError
from reconciler.history.model import RunRecord, parse_time
from reconciler.history.postgres import PostgresHistory
from reconciler.history.store import DriftPoint, HistoryStore, Query

DRIFT_STATUSES = ("changed", "missing", "unmanaged")
COUNT_NAMES = {"changed": "drifted", "missing": "missing", "unmanaged": "unmanaged"}


@dataclass(frozen=True)
class Standing:
    """An environment at a glance: its latest drift (split by vendor) and its latest run."""

    environment: str
    vendors: tuple[str, ...]
    latest_drift: RunRecord | None
    latest_run: RunRecord | None
    by_vendor: dict[str, dict[str, int]] = field(default_factory=dict)  # drifted/missing/unmanaged

    def vendor_state(self, vendor: str) -> str:
        """in sync, drifted, failing, or not checked yet."""
        run = self.latest_drift
        if run is None:
            return "not checked"
        if run.outcome == "failed":
            return "failing"
        return "drifted" if sum(self.by_vendor.get(vendor, {}).values()) else "in sync"

    def drift_total(self) -> int:
        return sum(sum(c.values()) for c in self.by_vendor.values())


class Source:
    """One history store, read through the HistoryStore interface (any backend)."""

    def __init__(self, store: HistoryStore) -> None:
        self.store = store

    def heads(self, query: Query) -> list[RunRecord]:
        return [replace(r, changes=()) for r in self.store.runs(query)]

    def latest(self, names: set[str]) -> tuple[dict[str, RunRecord], dict[str, RunRecord]]:
        """Each environment's latest drift run, and its latest run of any kind."""
        drift = {r.environment: r for r in self.store.latest_per_environment("drift")
                 if r.environment in names}
        latest = {r.environment: r for r in self.store.latest_per_environment(None)
                  if r.environment in names}
        return drift, latest

    def vendor_counts(self, run_ids: list[str]) -> dict[str, dict[str, dict[str, int]]]:
        """Per run: vendor -> drifted / missing / unmanaged."""
        found: dict[str, dict[str, dict[str, int]]] = {}
        for run_id in run_ids:
            run = self.store.run(run_id)
            if run is not None:
                found[run_id] = split_by_vendor(
                    (c.address.split(".", 1)[0], c.status) for c in run.changes)
        return found

    def run(self, run_id: str) -> RunRecord | None:
        return self.store.run(run_id)

    def runs(self, query: Query) -> list[RunRecord]:
        return self.store.runs(query)

    def series(self, environment: str, since: datetime | None,
               bucket: str | None = None) -> list[DriftPoint]:
        points = self.store.drift_series(environment, since)
        return points if bucket is None else most_drifted(points, BUCKETS[bucket])

    def ping(self) -> None:
        """Readable, cheaply: a file store's folder (a probe every few seconds must not parse
        the whole history), else one query."""
        path = getattr(self.store, "path", None)
        if isinstance(path, Path):
            if path.parent.exists() and not os.access(path.parent, os.R_OK | os.X_OK):
                raise StateError(f"{path.parent}: the history's folder cannot be read")
            return
        self.store.runs(Query(limit=1))


BUCKETS = {"hour": 13, "day": 10}  # the ISO timestamp's prefix that names the bucket


def most_drifted(points: list[DriftPoint], prefix: int) -> list[DriftPoint]:
    """One point per bucket: its most drifted run (as PostgreSQL's date_trunc buckets do)."""
    chosen: dict[str, DriftPoint] = {}
    for p in points:
        key = p.started_at[:prefix]
        best = chosen.get(key)
        if best is None or p.drifted + p.missing + p.unmanaged > best.drifted + best.missing + best.unmanaged:
            chosen[key] = p
    return list(chosen.values())


def split_by_vendor(pairs: Any) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for vendor, status in pairs:
        if status in COUNT_NAMES:
            by = counts.setdefault(vendor, {})
            by[COUNT_NAMES[status]] = by.get(COUNT_NAMES[status], 0) + 1
    return counts


class _Served(PostgresHistory):
    """The runs of the served workspaces only: one database may hold other directories'
    states (their environments may have the same names)."""

    def __init__(self, url: str) -> None:
        super().__init__(url, None)
        self.workspaces: set[str] = set()

    def _where(self, query: Query, alias: str = "r") -> tuple[list[str], list[Any]]:
        where, args = super()._where(query, alias)
        return [f"{alias}.workspace = ANY(%s)", *where], [sorted(self.workspaces), *args]

    def run(self, run_id: str) -> RunRecord | None:
        run = super().run(run_id)
        return run if run is not None and run.workspace in self.workspaces else None


class PostgresSource(Source):
    """Every served environment kept in one PostgreSQL database, read with one query a
    question."""

    store: _Served

    def __init__(self, url: str) -> None:
        super().__init__(_Served(url))

    def serve(self, workspace: str | None) -> None:
        self.store.workspaces.add(workspace or "")

    def heads(self, query: Query) -> list[RunRecord]:
        if query.address is not None:
            return super().heads(query)
        from reconciler.history.postgres import _run

        with self.store._reading("reading the history") as conn:
            rows = [] if conn is None else conn.execute(
                *self.store._heads(query, query.limit or 1000)).fetchall()
        return [_run(row, []) for row in rows]

    def runs(self, query: Query) -> list[RunRecord]:
        """An address's runs with the LIMIT in the query: the (address, started_at) index is
        read backwards and stops at the limit (an address of a fleet has thousands)."""
        if query.address is None or query.limit is None or query.since is not None:
            return super().runs(query)
        from reconciler.history.postgres import _RUN, _run

        where, args = self.store._where(query)
        sql = (f"SELECT {_RUN}, c.change FROM reconciler_run_changes c JOIN reconciler_runs r "
               "ON r.id = c.run_id WHERE " + " AND ".join(["c.address = %s", *where])
               + " ORDER BY c.started_at DESC, c.run_id DESC, c.seq LIMIT %s")
        found: dict[str, tuple[Any, list[dict[str, Any]]]] = {}
        with self.store._reading("reading the history") as conn:
            rows: Any = [] if conn is None else conn.execute(sql, [query.address, *args, query.limit])
            for row in rows:
                found.setdefault(row[0], (row[:-1], []))[1].append(row[-1])
        return [_run(head, changes) for head, changes in found.values()]

    def latest(self, names: set[str]) -> tuple[dict[str, RunRecord], dict[str, RunRecord]]:
        """One query: per served environment (no scan for their names), a probe of the
        (environment, started_at) index for its latest drift run and one for its latest run."""
        from reconciler.history.postgres import _RUN, _run

        columns = _RUN.replace("r.", "")
        mine = "r.environment = e.name AND r.workspace = ANY(%s)"
        sql = (f"SELECT e.name, d.*, l.* FROM unnest(%s::text[]) AS e(name) "
               f"LEFT JOIN LATERAL (SELECT {columns} FROM reconciler_runs r WHERE {mine} "
               "AND r.kind = 'drift' ORDER BY r.started_at DESC LIMIT 1) d "
               f"ON true LEFT JOIN LATERAL (SELECT {columns} FROM reconciler_runs r WHERE {mine} "
               "ORDER BY r.started_at DESC LIMIT 1) l ON true")
        width = len(columns.split(","))
        drift: dict[str, RunRecord] = {}
        latest: dict[str, RunRecord] = {}
        with self.store._reading("reading the history") as conn:
            served = sorted(self.store.workspaces)
            rows: Any = [] if conn is None else conn.execute(sql, (sorted(names), served, served))
            for row in rows:
                d, newest = row[1:1 + width], row[1 + width:]
                if d[0] is not None:
                    drift[row[0]] = _run(d, [])
                if newest[0] is not None:
                    latest[row[0]] = _run(newest, [])
        return drift, latest

    def vendor_counts(self, run_ids: list[str]) -> dict[str, dict[str, dict[str, int]]]:
        sql = ("SELECT run_id, split_part(address, '.', 1), status, count(*) "
               "FROM reconciler_run_changes WHERE run_id = ANY(%s) AND status = ANY(%s) "
               "GROUP BY 1, 2, 3")
        found: dict[str, dict[str, dict[str, int]]] = {r: {} for r in run_ids}
        with self.store._reading("reading the history") as conn:
            rows: Any = [] if conn is None else conn.execute(sql, (run_ids, list(DRIFT_STATUSES)))
            for run_id, vendor, status, count in rows:
                by = found[run_id].setdefault(vendor, {})
                by[COUNT_NAMES[status]] = int(count)
        return found

    def series(self, environment: str, since: datetime | None,
               bucket: str | None = None) -> list[DriftPoint]:
        return self.store.drift_series(environment, since, bucket)

    def ping(self) -> None:
        with self.store._reading("checking the history") as conn:
            if conn is not None:
                conn.execute("SELECT 1")

    def close(self) -> None:
        self.store.close()


class Archive:
    """The served environments' history, whichever stores it lives in."""

    def __init__(self, environments: dict[str, tuple[tuple[str, ...], HistoryStore | None]]) -> None:
        self.vendors = {name: vendors for name, (vendors, _) in environments.items()}
        self.names = sorted(environments)
        self._sources: list[tuple[Source, set[str]]] = []
        by_url: dict[str, tuple[PostgresSource, set[str]]] = {}
        for name, (_, store) in sorted(environments.items()):
            if store is None:
                continue
            if isinstance(store, PostgresHistory):
                entry = by_url.setdefault(store.url, (PostgresSource(store.url), set()))
                if len(entry[1]) == 0:
                    self._sources.append(entry)
                entry[1].add(name)
                entry[0].serve(store.workspace)
            else:
                self._sources.append((Source(store), {name}))

    def close(self) -> None:
        for source, _ in self._sources:
            if isinstance(source, PostgresSource):
                source.close()

    def _of(self, environment: str) -> Source | None:
        return next((s for s, names in self._sources if environment in names), None)

    def standings(self) -> list[Standing]:
        drift: dict[str, RunRecord] = {}
        latest: dict[str, RunRecord] = {}
        counts: dict[str, dict[str, dict[str, int]]] = {}
        for source, names in self._sources:
            found, newest = source.latest(names)
            drift.update(found)
            latest.update(newest)
            counts.update(source.vendor_counts([r.id for r in found.values()]))
        return [Standing(name, self.vendors[name], drift.get(name), latest.get(name),
                         counts.get(drift[name].id, {}) if name in drift else {})
                for name in self.names]

    def runs(self, environment: str | None = None, kind: str | None = None,
             limit: int = 50) -> list[RunRecord]:
        """Newest first, without their changes."""
        found: list[RunRecord] = []
        for source, names in self._sources:
            if environment is not None and environment not in names:
                continue
            found += [r for r in source.heads(Query(environment=environment, kind=kind, limit=limit))
                      if r.environment in names]
        found.sort(key=lambda r: (r.started_at, r.id), reverse=True)
        return found[:limit]

    def run(self, run_id: str) -> RunRecord | None:
        for source, names in self._sources:
            run = source.run(run_id)
            if run is not None and run.environment in names:
                return run
        return None

    def latest_drift(self, environment: str) -> RunRecord | None:
        source = self._of(environment)
        runs = source.runs(Query(environment=environment, kind="drift", limit=1)) if source else []
        return runs[0] if runs else None

    def address(self, address: str, limit: int = 200) -> list[RunRecord]:
        found: list[RunRecord] = []
        for source, names in self._sources:
            found += [r for r in source.runs(Query(address=address, limit=limit))
                      if r.environment in names]
        found.sort(key=lambda r: (r.started_at, r.id), reverse=True)
        return found[:limit]

    def series(self, environment: str, since: datetime | None = None,
               bucket: str | None = None) -> list[DriftPoint]:
        """Drift counts, oldest first: one point per run, or per `bucket` (hour, day): its
        most drifted run."""
        source = self._of(environment)
        return source.series(environment, since, bucket) if source else []

    def last_success(self, environment: str) -> float | None:
        """When the environment's last drift run that did not fail started."""
        source = self._of(environment)
        for run in source.heads(Query(environment=environment, kind="drift", limit=50)) if source else ():
            if run.outcome != "failed":
                return parse_time(run.started_at).timestamp()
        return None

    def ping(self) -> None:
        for source, _ in self._sources:
            source.ping()

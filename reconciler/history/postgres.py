"""Run history in PostgreSQL, in tables beside the state's, created by versioned migrations.

    reconciler_history_schema  the migrations applied (version, applied_at)
    reconciler_runs            one row per run
    reconciler_run_changes     one row per object a run changed or found, its fields as JSONB

Recording a run is one transaction: the run's row, its changes by COPY, and the deletion
of the environment's runs past the retention (an index range, empty on most runs).
Readers never run DDL: before the tables exist they see no runs.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb, set_json_loads
from pydantic_core import from_json

from reconciler.errors import StateError
from reconciler.history.model import RunRecord
from reconciler.history.store import DriftPoint, HistoryStore, Query
from reconciler.state.pgerrors import connect_error, explain, redact_url

MIGRATIONS: tuple[tuple[int, str], ...] = (
    (1, """
CREATE TABLE reconciler_runs (
    id text PRIMARY KEY,
    workspace text NOT NULL,
    environment text NOT NULL,
    kind text NOT NULL,
    started_at timestamptz NOT NULL,
    finished_at timestamptz NOT NULL,
    outcome text NOT NULL,
    actor text NOT NULL,
    git_commit text,
    git_branch text,
    counts jsonb NOT NULL,
    drifted integer,
    missing integer,
    unmanaged integer,
    error text,
    record jsonb NOT NULL);
CREATE INDEX reconciler_runs_environment_started ON reconciler_runs (environment, started_at);
CREATE INDEX reconciler_runs_started ON reconciler_runs (started_at);
CREATE TABLE reconciler_run_changes (
    run_id text NOT NULL REFERENCES reconciler_runs (id) ON DELETE CASCADE,
    seq integer NOT NULL,
    address text NOT NULL,
    started_at timestamptz NOT NULL,
    action text NOT NULL,
    status text NOT NULL,
    change jsonb NOT NULL,
    PRIMARY KEY (run_id, seq));
CREATE INDEX reconciler_run_changes_address_started ON reconciler_run_changes (address, started_at);
"""),
)
"""Append only: a new version adds a migration, never edits one that shipped."""
LATEST = MIGRATIONS[-1][0]
TABLES = ("reconciler_history_schema", "reconciler_runs", "reconciler_run_changes")
HISTORY_LOCK = (0x52454348, 0)  # "RECH": migrations; apart from the state's advisory keys
_READS = "SELECT on " + ", ".join(TABLES)
_WRITES = ("SELECT and INSERT on reconciler_runs and reconciler_run_changes, DELETE on them "
           "(retention), and CREATE on the schema once (to create " + ", ".join(TABLES) + ")")
_COLUMNS = ("id, workspace, environment, kind, started_at, finished_at, outcome, actor, "
            "git_commit, git_branch, counts, drifted, missing, unmanaged, error, record")
_CHARTED = ("drifted", "missing", "unmanaged")
"""A drift run's counts, also as columns: a fleet's chart reads them without JSON."""
_RUN = ("r.id, r.environment, r.kind, r.started_at, r.finished_at, r.outcome, r.actor, "
        "r.git_commit, r.git_branch, r.counts, r.error, r.workspace")


class PostgresHistory(HistoryStore):
    def __init__(self, url: str, workspace: str | None) -> None:
        """`workspace` None reads every workspace's runs (a fleet's dashboard)."""
        self.url = url
        self.workspace = workspace
        self._migrated = False
        self._reader: psycopg.Connection[Any] | None = None  # kept between reads (a dashboard)
        self._guard = threading.Lock()
        self._readable = False  # the tables exist (asked once, then trusted)

    def close(self) -> None:
        with self._guard:
            if self._reader is not None:
                self._reader.close()
                self._reader = None

    @contextmanager
    def _connected(self, action: str, needs: str) -> Iterator[psycopg.Connection[Any]]:
        try:
            conn = psycopg.connect(self.url, connect_timeout=10)
        except psycopg.Error as exc:
            raise connect_error(self.url, exc) from None
        try:
            with conn:
                yield conn
        except psycopg.Error as exc:
            raise StateError(redact_url(self.url, explain(exc, action, needs))) from None

    def migrate(self, conn: psycopg.Connection[Any]) -> None:
        """Apply the migrations this version knows and the database lacks, once, under a
        transaction-level advisory lock (two first writers never both run one)."""
        if self._migrated or self._version(conn) >= LATEST:
            self._migrated = True
            return
        with conn.transaction():
            conn.execute("SET LOCAL lock_timeout = '30s'")
            conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", HISTORY_LOCK)
            conn.execute("CREATE TABLE IF NOT EXISTS reconciler_history_schema ("
                         "version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())")
            done = self._version(conn)
            for version, ddl in MIGRATIONS:
                if version > done:
                    conn.execute(ddl)
                    conn.execute("INSERT INTO reconciler_history_schema (version) VALUES (%s)",
                                 (version,))
        self._migrated = True

    @staticmethod
    def _version(conn: psycopg.Connection[Any]) -> int:
        row = conn.execute("SELECT to_regclass('reconciler_history_schema') IS NOT NULL").fetchone()
        if not (row and row[0]):
            return 0
        row = conn.execute("SELECT coalesce(max(version), 0) FROM reconciler_history_schema").fetchone()
        return int(row[0]) if row else 0

    def append(self, run: RunRecord, retention_days: int | None) -> None:
        with self._connected("recording the run in the history", _WRITES) as conn:
            self.migrate(conn)
            with conn.transaction():
                body = run.to_dict(changes=False)
                conn.execute(
                    f"INSERT INTO reconciler_runs ({_COLUMNS}) VALUES "
                    "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    (run.id, run.workspace or self.workspace or "", run.environment, run.kind,
                     run.started_at, run.finished_at, run.outcome, run.actor, run.commit,
                     run.branch, Jsonb(run.counts), *(run.counts.get(k) for k in _CHARTED),
                     run.error, Jsonb(body)))
                if run.changes:
                    with conn.cursor().copy(
                            "COPY reconciler_run_changes (run_id, seq, address, started_at, action, "
                            "status, change) FROM STDIN") as copy:
                        for seq, change in enumerate(run.changes):
                            copy.write_row((run.id, seq, change.address, run.started_at,
                                            change.action, change.status,
                                            json.dumps(change.to_dict(), ensure_ascii=False)))
                if retention_days is not None:
                    conn.execute("DELETE FROM reconciler_runs WHERE environment = %s AND "
                                 "started_at < now() - make_interval(days => %s)",
                                 (run.environment, retention_days))

    @contextmanager
    def _reading(self, action: str) -> Iterator[psycopg.Connection[Any] | None]:
        """One connection kept for every read (in autocommit: each query sees the latest
        runs), opened again after an error; None until the tables exist."""
        with self._guard:
            try:
                if self._reader is None or self._reader.closed:
                    try:
                        self._reader = psycopg.connect(self.url, connect_timeout=10, autocommit=True)
                    except psycopg.Error as exc:
                        raise connect_error(self.url, exc) from None
                    # pydantic's JSON parser: three times the standard library's on JSONB rows
                    set_json_loads(from_json, self._reader)
                conn = self._reader
                self._readable = self._readable or self._version(conn) >= 1
                yield conn if self._readable else None
            except psycopg.Error as exc:
                if self._reader is not None:
                    self._reader.close()
                    self._reader = None
                raise StateError(redact_url(self.url, explain(exc, action, _READS))) from None

    def _where(self, query: Query, alias: str = "r") -> tuple[list[str], list[Any]]:
        where: list[str] = []
        args: list[Any] = []
        for column, value in (("workspace", self.workspace), ("environment", query.environment),
                              ("kind", query.kind)):
            if value is not None:
                where.append(f"{alias}.{column} = %s")
                args.append(value)
        return where, args

    def _heads(self, query: Query, limit: int | None) -> tuple[str, list[Any]]:
        """The query (SQL, arguments) of the runs `query` selects, newest first, without
        their changes."""
        where, args = self._where(query)
        if query.since is not None:
            where.append("r.started_at >= %s")
            args.append(query.since)
        sql = (f"SELECT {_RUN} FROM reconciler_runs r"
               + (" WHERE " + " AND ".join(where) if where else "")
               + " ORDER BY r.started_at DESC, r.id DESC")
        if limit is not None:
            sql += " LIMIT %s"
            args.append(limit)
        return sql, args

    def runs(self, query: Query) -> list[RunRecord]:
        with self._reading("reading the history") as conn:
            if conn is None:
                return []
            if query.address is not None:
                return self._address_runs(conn, query)
            heads = conn.execute(*self._heads(query, query.limit)).fetchall()
            changes: dict[str, list[dict[str, Any]]] = {}
            for run_id, change in conn.execute(
                    "SELECT run_id, change FROM reconciler_run_changes WHERE run_id = ANY(%s) "
                    "ORDER BY run_id, seq", ([h[0] for h in heads],)).fetchall():
                changes.setdefault(run_id, []).append(change)
        return [_run(h, changes.get(h[0], [])) for h in heads]

    def _address_runs(self, conn: psycopg.Connection[Any], query: Query) -> list[RunRecord]:
        """Through the (address, started_at) index: the changes first, then their runs."""
        where, args = self._where(query)
        where.insert(0, "c.address = %s")
        args.insert(0, query.address)
        if query.since is not None:
            where.append("c.started_at >= %s")
            args.append(query.since)
        sql = (f"SELECT {_RUN}, c.change FROM reconciler_run_changes c JOIN reconciler_runs r "
               "ON r.id = c.run_id WHERE " + " AND ".join(where)
               + " ORDER BY c.started_at DESC, c.run_id DESC, c.seq")
        found: dict[str, tuple[Any, list[dict[str, Any]]]] = {}
        for row in conn.execute(sql, args):
            head, change = row[:-1], row[-1]
            if head[0] not in found:
                if query.limit is not None and len(found) >= query.limit:
                    break
                found[head[0]] = (head, [])
            found[head[0]][1].append(change)
        return [_run(head, changes) for head, changes in found.values()]

    def run(self, run_id: str) -> RunRecord | None:
        with self._reading("reading the history") as conn:
            if conn is None:
                return None
            head = conn.execute(f"SELECT {_RUN} FROM reconciler_runs r WHERE r.id = %s",
                                (run_id,)).fetchone()
            if head is None:
                return None
            changes = [c for (c,) in conn.execute(
                "SELECT change FROM reconciler_run_changes WHERE run_id = %s ORDER BY seq",
                (run_id,))]
        return _run(head, changes)

    def latest_per_environment(self, kind: str | None = None) -> list[RunRecord]:
        """A loose index scan over (environment, started_at): one probe per environment,
        not a scan of every run."""
        where, args = self._where(Query(kind=kind))
        extra = "".join(f" AND {w}" for w in where)
        sql = f"""
            WITH RECURSIVE envs(environment) AS (
                (SELECT r.environment FROM reconciler_runs r ORDER BY r.environment LIMIT 1)
                UNION ALL
                SELECT (SELECT r.environment FROM reconciler_runs r
                        WHERE r.environment > envs.environment ORDER BY r.environment LIMIT 1)
                FROM envs WHERE envs.environment IS NOT NULL)
            SELECT {_RUN.replace('r.', 'l.')} FROM envs, LATERAL (
                SELECT * FROM reconciler_runs r WHERE r.environment = envs.environment{extra}
                ORDER BY r.started_at DESC LIMIT 1) l
            WHERE envs.environment IS NOT NULL ORDER BY l.environment"""
        with self._reading("reading the history") as conn:
            rows = [] if conn is None else conn.execute(sql, args).fetchall()
        return [_run(row, []) for row in rows]

    def drift_series(self, environment: str | None = None, since: datetime | None = None,
                     bucket: str | None = None) -> list[DriftPoint]:
        """The counts come from their own columns (no JSON read). `bucket` (`hour`, `day`,
        `week`) gives one point per environment and bucket, the most drifted in it: a
        fleet's 90 days are 216,000 runs, a chart of them a few thousand points."""
        where, args = self._where(Query(environment=environment, kind="drift"))
        if since is not None:
            where.append("r.started_at >= %s")
            args.append(since)
        d, m, u = (f"coalesce(r.{k}, 0)" for k in _CHARTED)
        if bucket is None:
            sql = (f"SELECT r.environment, r.started_at, {d}, {m}, {u}, r.outcome "
                   "FROM reconciler_runs r WHERE " + " AND ".join(where)
                   + " ORDER BY r.started_at, r.id")
        else:
            if bucket not in ("hour", "day", "week"):
                raise ValueError(f"bucket: {bucket!r} is not hour, day or week")
            sql = (f"SELECT r.environment, date_trunc('{bucket}', r.started_at) AS at, max({d}), "
                   f"max({m}), max({u}), CASE WHEN bool_or(r.outcome = 'drift') THEN 'drift' "
                   "ELSE 'ok' END FROM reconciler_runs r WHERE " + " AND ".join(where)
                   + " GROUP BY r.environment, at ORDER BY at, r.environment")
        with self._reading("reading the history") as conn:
            rows = [] if conn is None else conn.execute(sql, args).fetchall()
        return [DriftPoint(e, _iso(at), int(dr), int(mi), int(un), outcome)
                for e, at, dr, mi, un, outcome in rows]


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _run(head: Any, changes: list[dict[str, Any]]) -> RunRecord:
    (run_id, environment, kind, started, finished, outcome, actor, commit, branch, counts,
     error, workspace) = head[:12]
    return RunRecord.from_dict({
        "id": run_id, "environment": environment, "kind": kind, "started_at": _iso(started),
        "finished_at": _iso(finished), "outcome": outcome, "actor": actor, "commit": commit,
        "branch": branch, "counts": counts, "error": error, "workspace": workspace,
        "changes": changes})

"""State in PostgreSQL, for teams whose pipelines run on several machines.

    reconciler_state    one row per workspace: lineage, serial, the document (JSONB)
    reconciler_journal  changes recorded during an apply, one row each, folded in at the end
    reconciler_lock     who holds a workspace's lock (so force-unlock works from anywhere)

Writes of the document are compare-and-swap on serial. The lock is a
session-level advisory lock held on one dedicated connection: PostgreSQL frees
it when the holder's connection dies, so a crashed run never blocks the next.
"""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

import psycopg
import psycopg.errors
from psycopg.types.json import Jsonb
from pydantic import Field

from reconciler.errors import LockError, StateError
from reconciler.redact import REDACT, refuse_credentials
from reconciler.state.base import LockInfo, StateBackend, StateDoc, StateWriter
from reconciler.state.document import parse_document
from reconciler.state.pgerrors import connect_error, explain, redact_url, shown_conninfo
from reconciler.state.settings import BackendSettings

if TYPE_CHECKING:
    from reconciler.history.settings import HistorySettings
    from reconciler.history.store import HistoryStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS reconciler_state (
    workspace text PRIMARY KEY,
    lineage text NOT NULL,
    serial bigint NOT NULL,
    document jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS reconciler_journal (
    workspace text NOT NULL,
    serial bigint NOT NULL,
    entry jsonb NOT NULL,
    PRIMARY KEY (workspace, serial));
CREATE TABLE IF NOT EXISTS reconciler_lock (
    workspace text PRIMARY KEY,
    lock_id text NOT NULL,
    holder jsonb NOT NULL);
"""


WORKSPACE_LOCKS = 0x52454357  # "RECW": the first key of every workspace's advisory lock
SCHEMA_LOCK = (0x52454353, 0)  # "RECS": creating the tables; no workspace key can equal it
TABLES = ("reconciler_state", "reconciler_journal", "reconciler_lock")


def lock_key(workspace: str) -> tuple[int, int]:
    """A workspace's advisory lock, in PostgreSQL's two-key form: the first key says it is
    a workspace lock, so whatever the workspace is called it never meets the schema lock."""
    return WORKSPACE_LOCKS, zlib.crc32(f"reconciler:{workspace}".encode()) & 0x7FFFFFFF


_READS = "SELECT on " + ", ".join(TABLES)
_WRITES = "SELECT, INSERT, UPDATE and DELETE on " + ", ".join(TABLES)
_CREATES = "CREATE on the schema (once, to create " + ", ".join(TABLES) + ")"


class PostgresWriter(StateWriter):
    def __init__(self, doc: StateDoc, backend: PostgresBackend, base_serial: int) -> None:
        super().__init__(doc)
        self.backend = backend
        self.base_serial = base_serial
        self._conn: psycopg.Connection[Any] | None = None  # one connection for the whole apply

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = self.backend.connect()
        return self._conn

    def append(self, entries: list[dict[str, Any]]) -> None:
        with self.backend.mapped("recording a change in the journal", _WRITES):
            conn = self._connection()
            with conn.transaction():
                self.backend.fence(conn)
                self.backend.ensure_row(conn, self.doc, self.base_serial)
                conn.cursor().executemany(
                    "INSERT INTO reconciler_journal (workspace, serial, entry) VALUES (%s, %s, %s)",
                    [(self.backend.workspace, e["serial"], Jsonb(e)) for e in entries])

    def checkpoint(self) -> None:
        with self.backend.mapped("writing the state", _WRITES):
            self._checkpoint()

    def _checkpoint(self) -> None:
        document = self.doc.model_dump()
        if REDACT.secrets:  # stored as is, or not at all
            refuse_credentials(json.dumps(document, default=str), "the state")
        conn, self._conn = self._connection(), None
        with conn, conn.transaction():
            self.backend.fence(conn)
            self.backend.ensure_row(conn, self.doc, self.base_serial)
            cur = conn.execute(
                "UPDATE reconciler_state SET lineage = %s, serial = %s, document = %s, "
                "updated_at = now() WHERE workspace = %s AND lineage = %s AND serial = %s",
                (self.doc.lineage, self.doc.serial, Jsonb(document),
                 self.backend.workspace, self.doc.lineage, self.base_serial))
            if cur.rowcount != 1:
                raise StateError(f"state workspace {self.backend.workspace!r} was changed by "
                                 "another writer (serial moved); run plan again")
            conn.execute("DELETE FROM reconciler_journal WHERE workspace = %s AND serial <= %s",
                         (self.backend.workspace, self.doc.serial))
        self.base_serial = self.doc.serial


class PostgresBackend(StateBackend):
    name = "postgres"

    def __init__(self, url: str, workspace: str) -> None:
        self.url = url
        self.workspace = workspace
        self._schema_ready = False

    @contextmanager
    def mapped(self, action: str, needs: str) -> Iterator[None]:
        """Every psycopg error inside becomes a StateError with a clear message."""
        try:
            yield
        except psycopg.Error as exc:
            raise StateError(redact_url(self.url, explain(exc, action, needs))) from None

    def connect(self, create: bool = True) -> psycopg.Connection[Any]:
        """A connection; the tables are created first if missing and `create` (writers). A
        reader never runs DDL, so a read-only role can plan, drift and list the state."""
        try:
            conn = psycopg.connect(self.url, connect_timeout=10)
        except psycopg.Error as exc:
            raise connect_error(self.url, exc) from None
        if create and not self._schema_ready:
            try:
                with self.mapped("creating the state tables", _CREATES):
                    self._create_schema(conn)
            except StateError:
                conn.close()
                raise
        return conn

    def _tables_exist(self, conn: psycopg.Connection[Any]) -> bool:
        row = conn.execute("SELECT " + " AND ".join(
            f"to_regclass('{t}') IS NOT NULL" for t in TABLES)).fetchone()
        return bool(row and row[0])

    def _create_schema(self, conn: psycopg.Connection[Any]) -> None:
        """Once, and only when a table is missing: the DDL needs CREATE on the schema, which
        a role that only reads and writes the state does not have."""
        if not self._tables_exist(conn):
            with conn.transaction():
                conn.execute("SET LOCAL lock_timeout = '30s'")
                conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", SCHEMA_LOCK)
                conn.execute(SCHEMA)
        conn.commit()
        self._schema_ready = True

    @contextmanager
    def reading(self, action: str) -> Iterator[psycopg.Connection[Any] | None]:
        """A connection for a reader, or None when the tables do not exist yet (empty state)."""
        with self.mapped(action, _READS), self.connect(create=False) as conn:
            exists = self._schema_ready or self._tables_exist(conn)
            conn.commit()  # end the check's transaction: a reader may set its own isolation
            yield conn if exists else None

    def ensure_row(self, conn: psycopg.Connection[Any], doc: StateDoc, base_serial: int) -> None:
        """The first write of a workspace creates its row (only if nobody else did)."""
        if base_serial == 0:
            conn.execute(
                "INSERT INTO reconciler_state (workspace, lineage, serial, document) "
                "VALUES (%s, %s, 0, %s) ON CONFLICT (workspace) DO NOTHING",
                (self.workspace, doc.lineage, Jsonb(StateDoc(lineage=doc.lineage).model_dump())))

    def read(self) -> StateDoc:
        with self.reading("reading the state") as conn:
            return StateDoc() if conn is None else self._read(conn)

    def _read(self, conn: psycopg.Connection[Any]) -> StateDoc:
        with conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            # As text: the loader streams it, rather than psycopg building the whole tree first.
            row = conn.execute("SELECT document::text FROM reconciler_state WHERE workspace = %s",
                               (self.workspace,)).fetchone()
            doc = (parse_document(row[0], f"postgres workspace {self.workspace!r}", self.sharing)
                   if row else StateDoc())
            journal = conn.execute(
                "SELECT entry FROM reconciler_journal WHERE workspace = %s AND serial > %s "
                "ORDER BY serial", (self.workspace, doc.serial)).fetchall()
        for (entry,) in journal:
            doc.apply_entry(entry)
        doc.stored_serial = doc.serial - len(journal)
        return doc

    def writer(self, doc: StateDoc) -> PostgresWriter:
        return PostgresWriter(doc, self, doc.stored_serial)

    def history(self, settings: HistorySettings) -> HistoryStore:
        from reconciler.history.postgres import PostgresHistory

        return PostgresHistory(self.url, self.workspace)

    def describe(self) -> str:
        try:
            if "not shown" in shown_conninfo(self.url):
                raise ValueError("does not parse cleanly")
            parts = urlsplit(self.url)
            return (f"postgres {parts.hostname or 'localhost'}:{parts.port or 5432}"
                    f"{parts.path or '/'} workspace {self.workspace}")
        except ValueError:
            return f"postgres (state.url is not a valid URL) workspace {self.workspace}"

    def fence(self, conn: psycopg.Connection[Any] | None = None) -> None:
        """Inside the writing transaction: the lock row still names this run (FOR SHARE, so a
        force-unlock waits for the write in flight, then the next write sees it revoked)."""
        if self.held is None:
            return
        query = "SELECT lock_id FROM reconciler_lock WHERE workspace = %s FOR SHARE"
        if conn is None:
            with self.mapped("checking the state lock", _WRITES), self.connect() as own:
                row = own.execute(query, (self.workspace,)).fetchone()
        else:
            row = conn.execute(query, (self.workspace,)).fetchone()
        if row is None or row[0] != self.held.id:
            raise LockError(f"state workspace {self.workspace!r}: this run's lock {self.held.id} "
                            "was taken over by force-unlock; it stops before its next write "
                            "(the journal keeps every change it made)")

    @contextmanager
    def lock(self, command: str, timeout_s: float) -> Iterator[LockInfo]:
        conn = self.connect()
        conn.autocommit = True
        try:
            with self.mapped("taking the state lock", _WRITES):
                if not self._acquire(conn, timeout_s):
                    holder = self.lock_holder()
                    who = holder.describe() if holder else "another session"
                    raise LockError(
                        f"state workspace {self.workspace!r} is locked: {who}. Wait for it, retry "
                        f"with --lock-timeout, or if it is gone run `reconciler force-unlock "
                        f"{holder.id if holder else 'ID'} {self.directory}`")
                info = LockInfo(command=command)
                conn.execute("INSERT INTO reconciler_lock (workspace, lock_id, holder) VALUES "
                             "(%s, %s, %s) ON CONFLICT (workspace) DO UPDATE SET lock_id = "
                             "EXCLUDED.lock_id, holder = EXCLUDED.holder",
                             (self.workspace, info.id, Jsonb(info.model_dump())))
            self.held = info
            try:
                yield info
            finally:
                self.held = None
                with self.mapped("releasing the state lock", _WRITES):
                    conn.execute("DELETE FROM reconciler_lock WHERE workspace = %s AND "
                                 "lock_id = %s", (self.workspace, info.id))
                    conn.execute("SELECT pg_advisory_unlock(%s, %s)", lock_key(self.workspace))
        finally:
            conn.close()

    def _acquire(self, conn: psycopg.Connection[Any], timeout_s: float) -> bool:
        """The workspace's advisory lock; a wait is the server's (lock_timeout), so a blocked
        run never outlives --lock-timeout and needs no polling."""
        key = lock_key(self.workspace)
        if timeout_s <= 0:
            row = conn.execute("SELECT pg_try_advisory_lock(%s, %s)", key).fetchone()
            return bool(row and row[0])
        conn.execute("SELECT set_config('lock_timeout', %s, false)", (f"{int(timeout_s * 1000)}ms",))
        try:
            conn.execute("SELECT pg_advisory_lock(%s, %s)", key)
        except psycopg.errors.LockNotAvailable:
            return False
        finally:
            conn.execute("SELECT set_config('lock_timeout', '0', false)")
        return True

    def lock_holder(self) -> LockInfo | None:
        with self.reading("reading the state lock") as conn:
            row = None if conn is None else conn.execute(
                "SELECT holder FROM reconciler_lock WHERE workspace = %s",
                (self.workspace,)).fetchone()
        return LockInfo.model_validate(row[0]) if row else None

    def stale_holder(self) -> LockInfo | None:
        holder = self.lock_holder()
        if holder is None:
            return None
        with self.reading("checking the state lock") as conn:
            assert conn is not None  # a holder row was just read: the tables exist
            row = conn.execute("SELECT pg_try_advisory_lock(%s, %s)",
                               lock_key(self.workspace)).fetchone()
            if row and row[0]:
                conn.execute("SELECT pg_advisory_unlock(%s, %s)", lock_key(self.workspace))
                return holder
        return None

    def force_unlock(self, lock_id: str, force: bool = False, wait_s: float = 10.0) -> LockInfo:
        """Remove the holder row; a live holder (its session holds the advisory lock) is refused
        unless `force`: then the row is revoked (the holder stops before its next write), and a
        session still holding the lock after `wait_s` is ended."""
        holder = self.lock_holder()
        if holder is None or holder.id != lock_id:
            current = f"the current lock is {holder.id}" if holder else "it is not locked"
            raise LockError(f"state workspace {self.workspace!r}: no lock {lock_id} to remove "
                            f"({current})")
        with self.mapped("removing the state lock", _WRITES), self.connect() as conn:
            conn.autocommit = True
            sessions = self._holders(conn)
            if sessions and not force:
                raise LockError(f"{holder.describe()}: not freed, the holder is alive (its "
                                f"PostgreSQL session {sessions[0]} holds the lock). Two applies "
                                "at once create duplicates: wait for it to finish. If it is "
                                f"stuck, `reconciler force-unlock {lock_id} {self.directory} "
                                "--force` revokes the lock: the holder stops before its next "
                                "write")
            conn.execute("DELETE FROM reconciler_lock WHERE workspace = %s AND lock_id = %s",
                         (self.workspace, lock_id))
            deadline = time.monotonic() + wait_s
            while sessions and time.monotonic() < deadline:
                time.sleep(0.05)
                sessions = self._holders(conn)
            for pid in sessions:
                conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
        return holder

    def _holders(self, conn: psycopg.Connection[Any]) -> list[int]:
        """Backend pids of the sessions holding this workspace's advisory lock."""
        rows = conn.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2 "
            "AND classid::bigint = %s AND objid::bigint = %s AND granted "
            "AND pid <> pg_backend_pid()", lock_key(self.workspace)).fetchall()
        return [int(r[0]) for r in rows]


class Settings(BackendSettings):
    """`backend: postgres`: one row per workspace, locks held by the session."""

    backend: Literal["postgres"] = "postgres"
    url: str | None = Field(None, description="postgres: postgresql://user@host/db")
    workspace: str = Field("default", pattern=r"^[A-Za-z0-9_.-]+$",
                           description="postgres: one row per workspace")


    def credential(self) -> str | None:
        return self.url

    def missing(self) -> str | None:
        return None if self.url else "state.url: required with backend: postgres"


def open_backend(settings: BackendSettings, directory: Path) -> PostgresBackend:
    assert isinstance(settings, Settings)
    if not settings.url:
        raise StateError("state.url: required with backend: postgres")
    return PostgresBackend(settings.url, settings.workspace)


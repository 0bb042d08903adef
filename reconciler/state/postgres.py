"""State in PostgreSQL, for teams whose pipelines run on several machines.

    reconciler_state    one row per workspace: lineage, serial, the document (JSONB)
    reconciler_journal  changes recorded during an apply, one row each, folded in at the end
    reconciler_lock     who holds a workspace's lock (so force-unlock works from anywhere)

Writes of the document are compare-and-swap on serial. The lock is a
session-level advisory lock held on one dedicated connection: PostgreSQL frees
it when the holder's connection dies, so a crashed run never blocks the next.
"""

from __future__ import annotations

import re
import time
import zlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg.types.json import Jsonb

from reconciler.errors import LockError, StateError
from reconciler.redact import Redactor, conninfo_secrets
from reconciler.state.base import LockInfo, StateBackend, StateDoc, StateWriter
from reconciler.state.local import parse_document

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


def redact_url(url: str, text: str | None = None) -> str:
    """`text` (by default the connection string itself) with every password of `url` replaced
    by ***: the URL's user:password, `?password=` and the keyword form `password=...`, found
    by psycopg's own conninfo parser, so that what libpq reads is what is hidden."""
    text = url if text is None else text
    if text is url and "://" in url:
        parts = urlsplit(url)
        if parts.password:
            netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
            text = urlunsplit(parts._replace(netloc=netloc))
        text = re.sub(r"(?i)([?&]password=)[^&#]*", r"\1***", text)
    elif text is url:
        text = re.sub(r"(?i)(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", r"\1***", text)
    return Redactor(conninfo_secrets(url))(text)


def lock_key(workspace: str) -> int:
    """A stable 32-bit advisory-lock key per workspace."""
    return zlib.crc32(f"reconciler:{workspace}".encode()) - 2**31


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
        conn = self._connection()
        with conn.transaction():
            self.backend.fence(conn)
            self.backend.ensure_row(conn, self.doc, self.base_serial)
            conn.cursor().executemany(
                "INSERT INTO reconciler_journal (workspace, serial, entry) VALUES (%s, %s, %s)",
                [(self.backend.workspace, e["serial"], Jsonb(e)) for e in entries])

    def checkpoint(self) -> None:
        conn, self._conn = self._connection(), None
        with conn, conn.transaction():
            self.backend.fence(conn)
            self.backend.ensure_row(conn, self.doc, self.base_serial)
            cur = conn.execute(
                "UPDATE reconciler_state SET lineage = %s, serial = %s, document = %s, "
                "updated_at = now() WHERE workspace = %s AND lineage = %s AND serial = %s",
                (self.doc.lineage, self.doc.serial, Jsonb(self.doc.model_dump()),
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

    def connect(self) -> psycopg.Connection[Any]:
        try:
            conn = psycopg.connect(self.url, connect_timeout=10)
        except psycopg.Error as exc:
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            message = redact_url(self.url, message)  # libpq may quote the connection string
            raise StateError(f"cannot connect to the PostgreSQL state at {redact_url(self.url)}: "
                             f"{message}") from None
        if not self._schema_ready:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key("schema"),))
                conn.execute(SCHEMA)
            self._schema_ready = True
        return conn

    def ensure_row(self, conn: psycopg.Connection[Any], doc: StateDoc, base_serial: int) -> None:
        """The first write of a workspace creates its row (only if nobody else did)."""
        if base_serial == 0:
            conn.execute(
                "INSERT INTO reconciler_state (workspace, lineage, serial, document) "
                "VALUES (%s, %s, 0, %s) ON CONFLICT (workspace) DO NOTHING",
                (self.workspace, doc.lineage, Jsonb(StateDoc(lineage=doc.lineage).model_dump())))

    def read(self, declared: Mapping[str, dict[str, Any]] | None = None) -> StateDoc:
        with self.connect() as conn, conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            # As text: the loader streams it, rather than psycopg building the whole tree first.
            row = conn.execute("SELECT document::text FROM reconciler_state WHERE workspace = %s",
                               (self.workspace,)).fetchone()
            doc = (parse_document(row[0], f"postgres workspace {self.workspace!r}", declared)
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

    def describe(self) -> str:
        parts = urlsplit(self.url)
        return (f"postgres {parts.hostname or 'localhost'}:{parts.port or 5432}"
                f"{parts.path or '/'} workspace {self.workspace}")

    def fence(self, conn: psycopg.Connection[Any] | None = None) -> None:
        """Inside the writing transaction: the lock row still names this run (FOR SHARE, so a
        force-unlock waits for the write in flight, then the next write sees it revoked)."""
        if self.held is None:
            return
        query = "SELECT lock_id FROM reconciler_lock WHERE workspace = %s FOR SHARE"
        if conn is None:
            with self.connect() as own:
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
            deadline = time.monotonic() + max(timeout_s, 0.0)
            while not conn.execute("SELECT pg_try_advisory_lock(%s)",
                                   (lock_key(self.workspace),)).fetchone()[0]:  # type: ignore[index]
                if time.monotonic() >= deadline:
                    holder = self.lock_holder()
                    who = holder.describe() if holder else "another session"
                    raise LockError(
                        f"state workspace {self.workspace!r} is locked: {who}. Wait for it, retry "
                        f"with --lock-timeout, or if it is gone run `reconciler force-unlock "
                        f"{holder.id if holder else 'ID'} DIR`")
                time.sleep(0.1)
            info = LockInfo(command=command)
            conn.execute("INSERT INTO reconciler_lock (workspace, lock_id, holder) VALUES (%s, %s, %s) "
                         "ON CONFLICT (workspace) DO UPDATE SET lock_id = EXCLUDED.lock_id, "
                         "holder = EXCLUDED.holder",
                         (self.workspace, info.id, Jsonb(info.model_dump())))
            self.held = info
            try:
                yield info
            finally:
                self.held = None
                conn.execute("DELETE FROM reconciler_lock WHERE workspace = %s AND lock_id = %s",
                             (self.workspace, info.id))
                conn.execute("SELECT pg_advisory_unlock(%s)", (lock_key(self.workspace),))
        finally:
            conn.close()

    def lock_holder(self) -> LockInfo | None:
        with self.connect() as conn:
            row = conn.execute("SELECT holder FROM reconciler_lock WHERE workspace = %s",
                               (self.workspace,)).fetchone()
        return LockInfo.model_validate(row[0]) if row else None

    def stale_holder(self) -> LockInfo | None:
        holder = self.lock_holder()
        if holder is None:
            return None
        with self.connect() as conn:
            row = conn.execute("SELECT pg_try_advisory_lock(%s)", (lock_key(self.workspace),)).fetchone()
            if row and row[0]:
                conn.execute("SELECT pg_advisory_unlock(%s)", (lock_key(self.workspace),))
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
        with self.connect() as conn:
            conn.autocommit = True
            sessions = self._holders(conn)
            if sessions and not force:
                raise LockError(f"{holder.describe()}: not freed, the holder is alive (its "
                                f"PostgreSQL session {sessions[0]} holds the lock). Two applies "
                                "at once create duplicates: wait for it to finish. If it is "
                                f"stuck, `reconciler force-unlock {lock_id} DIR --force` revokes "
                                "the lock: the holder stops before its next write")
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
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1 "
            "AND ((classid::bigint << 32) | objid::bigint) = %s AND granted "
            "AND pid <> pg_backend_pid()", (lock_key(self.workspace),)).fetchall()
        return [int(r[0]) for r in rows]

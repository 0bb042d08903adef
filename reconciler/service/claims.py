"""One run per environment at a time: within a process, and across `serve` replicas.

Replicas on one PostgreSQL backend claim each scheduled run with a session-level advisory
lock on a connection of their own, held for the run: the replica that gets it runs, the
others skip (and find the run recorded when they next look). A replica that dies loses
its connection, and with it its claims: PostgreSQL frees them, and the next replica whose
turn comes runs that environment.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager

from reconciler.state.base import StateBackend

SCHEDULE_LOCKS = 0x52454353  # "RECS": apart from the state's (RECW) and history's (RECH) keys


def _key(workspace: str) -> int:
    """A workspace's second advisory key, as a signed 32-bit integer."""
    value = zlib.crc32(workspace.encode())
    return value - (1 << 32) if value >= 1 << 31 else value


class Claims:
    """Claims by workspace (its state, described): in this process, and in the database
    when the state is kept in PostgreSQL."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._held: set[str] = set()

    @contextmanager
    def claim(self, backend: StateBackend) -> Iterator[bool]:
        """True and held until the block ends, or False: someone runs it now."""
        workspace = backend.describe()
        with self._guard:
            got = workspace not in self._held
            self._held.add(workspace)
        if not got:
            yield False
            return
        try:
            with self._across(workspace, backend) as shared:
                yield shared
        finally:
            with self._guard:
                self._held.discard(workspace)

    @contextmanager
    def _across(self, workspace: str, backend: StateBackend) -> Iterator[bool]:
        from reconciler.state.postgres import PostgresBackend

        if not isinstance(backend, PostgresBackend):
            yield True
            return
        import psycopg

        with psycopg.connect(backend.url, autocommit=True, connect_timeout=10,
                             application_name="reconciler serve") as conn:
            key = (SCHEDULE_LOCKS, _key(workspace))
            row = conn.execute("SELECT pg_try_advisory_lock(%s, %s)", key).fetchone()
            if not (row and row[0]):
                yield False
                return
            try:
                yield True
            finally:
                if not conn.closed:
                    conn.execute("SELECT pg_advisory_unlock(%s, %s)", key)

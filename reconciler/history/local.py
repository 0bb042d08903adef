"""Run history in JSON Lines beside the local state file.

    state/default.history.jsonl       one run per line, appended with one write + fsync
    state/default.history.jsonl.1..N  rotated files (past `max_file_mb`; `keep_files` kept)
    state/default.history.jsonl.lock  held while appending or rotating

A crash can leave a torn last line: readers skip any line that is not a whole record, and
the next append starts on a fresh line.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from filelock import FileLock

from reconciler.history.model import RunRecord, parse_time
from reconciler.history.store import HistoryStore, Query

REWRITE_SLACK = timedelta(days=1)
"""The live file is rewritten for retention only once its oldest run is this much past the
limit: at most one rewrite a day, not one per run."""


def history_path(state_path: Path) -> Path:
    """`state/default.json` -> `state/default.history.jsonl`."""
    return state_path.with_name(state_path.stem + ".history.jsonl")


class JsonLinesHistory(HistoryStore):
    def __init__(self, path: Path, max_bytes: int = 16 << 20, keep_files: int = 5) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.keep_files = keep_files

    def rotated(self, number: int) -> Path:
        return self.path.with_name(f"{self.path.name}.{number}")

    def append(self, run: RunRecord, retention_days: int | None) -> None:
        data = (json.dumps(run.to_dict(), ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(self.path.with_name(self.path.name + ".lock"), mode=0o600):
            size = self.path.stat().st_size if self.path.exists() else 0
            if size and size + len(data) > self.max_bytes:
                self._rotate()
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                size = os.fstat(fd).st_size
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    data = b"\n" + data  # a torn tail from a crash: never glue a run to it
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            finally:
                os.close(fd)
            if retention_days is not None:
                self._prune(datetime.now(UTC) - timedelta(days=retention_days))

    def _rotate(self) -> None:
        """.N-1 -> .N, ..., live -> .1; past `keep_files` the oldest is deleted."""
        if self.keep_files <= 0:
            os.unlink(self.path)
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.rotated(self.keep_files))
        for number in range(self.keep_files - 1, 0, -1):
            with contextlib.suppress(FileNotFoundError):
                os.replace(self.rotated(number), self.rotated(number + 1))
        os.replace(self.path, self.rotated(1))

    def _prune(self, cutoff: datetime) -> None:
        """Rotated files whose last write is older than `cutoff` go whole (a stat each); the
        live file loses its old runs only when its first run is a day past the limit."""
        for number in range(1, self.keep_files + 1):
            path = self.rotated(number)
            with contextlib.suppress(FileNotFoundError):
                if datetime.fromtimestamp(path.stat().st_mtime, UTC) < cutoff:
                    os.unlink(path)
        first = _first_start(self.path)
        if first is None or first >= cutoff - REWRITE_SLACK:
            return
        kept = [line for line in _lines(self.path)
                if (run := _parse(line)) is not None and parse_time(run.started_at) >= cutoff]
        temporary = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.writelines(kept)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)

    def files(self, since: datetime | None = None) -> list[Path]:
        """Oldest first; a rotated file last written before `since` holds nothing newer."""
        found = [self.rotated(n) for n in range(self.keep_files, 0, -1)] + [self.path]
        kept = []
        for path in found:
            try:
                modified = datetime.fromtimestamp(path.stat().st_mtime, UTC)
            except FileNotFoundError:
                continue
            if since is None or path == self.path or modified >= since:
                kept.append(path)
        return kept

    def runs(self, query: Query) -> list[RunRecord]:
        """Lines that cannot match (another address, too old) are passed over before any
        JSON is parsed: a year of runs is read at the speed of the disk."""
        found: list[RunRecord] = []
        needle = json.dumps(query.address, ensure_ascii=False).encode() if query.address else b""
        for path in self.files(query.since):
            for line in _lines(path):
                if needle and needle not in line:
                    continue
                if query.since is not None:
                    started = _STARTED.search(line, 0, 1024)
                    if started and parse_time(started.group(1).decode()) < query.since:
                        continue
                run = _parse(line)
                if run is not None and query.admits(run):
                    found.append(run.only(query.address) if query.address else run)
        found.sort(key=lambda r: (r.started_at, r.id), reverse=True)
        return found[:query.limit] if query.limit is not None else found


def _lines(path: Path) -> Iterator[bytes]:
    try:
        with path.open("rb") as handle:
            yield from handle
    except FileNotFoundError:
        return


def _parse(line: bytes) -> RunRecord | None:
    """A whole record, or None for a line torn by a crash (or otherwise not a run)."""
    try:
        data = json.loads(line)
        return RunRecord.from_dict(data) if isinstance(data, dict) else None
    except (ValueError, KeyError, TypeError):
        return None


_STARTED = re.compile(rb'"started_at":"([^"]+)"')


def _first_start(path: Path) -> datetime | None:
    """When the file's first run started, from the head of its line (a record's first
    fields): no run is parsed whole, however many changes it holds."""
    try:
        with path.open("rb") as handle:
            head = handle.read(1024)
    except FileNotFoundError:
        return None
    match = _STARTED.search(head)
    try:
        return parse_time(match.group(1).decode()) if match else None
    except ValueError:
        return None

"""State in a local JSON file, a journal beside it, and a flock-based lock.

    state/default.json          the document (mode 0600), rewritten atomically
    state/default.json.journal  JSON lines appended during an apply, fsynced
    state/default.json.backup   the previous document
    state/default.json.lock     held with flock while a writer runs; the kernel frees it
                                when the holder dies, so a dead process never blocks anyone
    state/default.json.lock.json  who holds (or last held) the lock
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, ValidationError

from reconciler.errors import LockError, StateError
from reconciler.files import atomic_write, explain
from reconciler.state.base import (
    LockInfo,
    StateBackend,
    StateDoc,
    StateWriter,
)
from reconciler.state.document import parse_document
from reconciler.state.settings import BackendSettings

if TYPE_CHECKING:
    from reconciler.history.settings import HistorySettings
    from reconciler.history.store import HistoryStore


def _entry(line: str) -> dict[str, Any] | None:
    """One journal line; a torn line is None, and an entry glued after a torn fragment (by a
    journal written before appends started on a fresh line) is still read."""
    try:
        entry = json.loads(line)
    except json.JSONDecodeError:
        start = line.rfind('{"op":')
        if start <= 0:
            return None
        return _entry(line[start:])
    return entry if isinstance(entry, dict) else None


_JOURNAL_LOST = ("the change in flight may have been made at the vendor without being "
                 "recorded: once the disk is fixed, the next plan finds it by its natural key")
_JOURNAL_KEPT = ("the changes made so far stay in the journal beside it, read back by the next "
                 "run (one whose entry could not be written either is found by its natural key)")


@contextmanager
def writing(path: Path, what: str, consequence: str) -> Iterator[None]:
    """An OSError while writing the state becomes a StateError saying which file, why, and
    what it means for the changes."""
    try:
        yield
    except OSError as exc:
        from filelock import Timeout  # start-up: imported by the lock, which raised it

        if isinstance(exc, Timeout):
            raise  # a lock held by another run (filelock's Timeout is an OSError): not a disk problem
        raise StateError(f"cannot write {what}: {explain(exc, path)}; {consequence}") from None


class LocalWriter(StateWriter):
    def __init__(self, doc: StateDoc, path: Path, backend: LocalBackend | None = None) -> None:
        super().__init__(doc)
        self.path = path
        self.journal_path = path.with_name(path.name + ".journal")
        self._journal: Any = None
        self.backend = backend

    def append(self, entries: list[dict[str, Any]]) -> None:
        if self.backend is not None:
            self.backend.fence()
        with writing(self.journal_path, "the state journal", _JOURNAL_LOST):
            if self._journal is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.journal_path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
                self._journal = os.fdopen(fd, "a", encoding="utf-8")
                size = os.fstat(fd).st_size
                if size == 0:
                    self._journal.write(json.dumps({"lineage": self.doc.lineage}) + "\n")
                elif os.pread(fd, 1, size - 1) != b"\n":
                    self._journal.write("\n")  # a torn tail from a crash: never glue an entry to it
            self._journal.write("".join(json.dumps(e, separators=(",", ":")) + "\n" for e in entries))
            self._journal.flush()
            os.fsync(self._journal.fileno())

    def checkpoint(self) -> None:
        if self.backend is not None:
            self.backend.fence()
        with writing(self.path, "the state", _JOURNAL_KEPT):
            atomic_write(self.path, self.doc.model_dump_json(indent=1), backup=True, make_folder=True)
        if self._journal is not None:
            self._journal.close()
            self._journal = None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.journal_path)


def _regular_or_absent(path: Path) -> None:
    """A state file that is a FIFO or a device would block or never end: refused, named."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return  # absent (or unreadable: reading it says why)
    if not stat.S_ISREG(mode):
        raise StateError(f"{path}: not a regular file (a directory, device or named pipe); "
                         "state.path in reconciler.yaml must name a regular file, or a place "
                         "for one")


class LocalBackend(StateBackend):
    name = "local"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.journal_path = path.with_name(path.name + ".journal")
        self.lock_path = path.with_name(path.name + ".lock")
        self.holder_path = path.with_name(path.name + ".lock.json")

    def read(self) -> StateDoc:
        for path in (self.path, self.journal_path):
            _regular_or_absent(path)
        doc = parse_document(self.path, str(self.path), self.sharing) if self.path.exists() \
            else StateDoc()
        if self.journal_path.exists():
            self._replay(doc)
        return doc

    def _bytes(self, path: Path) -> bytes:
        try:
            return path.read_bytes()
        except OSError as exc:
            raise StateError(f"{path}: cannot read: {exc.strerror or exc}; check that "
                             "state.path in reconciler.yaml names a readable file") from None

    def _text(self, path: Path) -> str:
        try:
            return self._bytes(path).decode("utf-8")
        except UnicodeDecodeError:
            raise StateError(f"{path}: not a state file (it is not UTF-8 text); restore it from "
                             f"{self.path}.backup or from version control") from None

    def _damaged(self, number: int) -> StateError:
        return StateError(
            f"{self.journal_path}: line {number} is not a valid journal entry; the journal is damaged. "
            f"It holds the changes applied since {self.path} was last written: move it aside to go "
            "back to that state (the next plan adopts objects it created by their natural keys)")

    def _replay(self, doc: StateDoc) -> None:
        lines = self._text(self.journal_path).splitlines()
        try:
            header = json.loads(lines[0]) if lines else {}
        except json.JSONDecodeError:
            if len(lines) == 1:
                return  # torn by a crash during the first append: no entry was acknowledged
            raise self._damaged(1) from None
        if not isinstance(header, dict):
            raise self._damaged(1)
        if header.get("lineage") not in (None, doc.lineage) and self.path.exists():
            raise StateError(f"{self.journal_path}: belongs to another state (lineage "
                             f"{header.get('lineage')}); move it away if that state is gone")
        if header.get("lineage"):
            doc.lineage = header["lineage"]
        for number, line in enumerate(lines[1:], start=2):
            entry = _entry(line)
            if entry is None:
                continue  # a line torn by a crash mid-append: never acknowledged, so skipped
            try:
                if entry.get("serial", 0) > doc.serial:
                    doc.apply_entry(entry)
            except (AttributeError, KeyError, TypeError, ValueError):  # ValidationError is a ValueError
                raise self._damaged(number) from None

    def writer(self, doc: StateDoc) -> LocalWriter:
        return LocalWriter(doc, self.path, self)

    def describe(self) -> str:
        return f"local {self.path}"

    def history(self, settings: HistorySettings) -> HistoryStore:
        from reconciler.history.local import JsonLinesHistory, history_path

        return JsonLinesHistory(history_path(self.path), int(settings.max_file_mb * (1 << 20)),
                                settings.keep_files)

    _fenced: tuple[int, ...] | None = None
    """The holder file's identity (inode, size, times) when it last read as ours."""

    def fence(self) -> None:
        """Checked before every journal write: one stat while the holder file is the one this
        run wrote (a takeover unlinks it, a new holder is written under a new inode and
        time), else read and compared."""
        if self.held is None:
            return
        try:
            found = os.stat(self.holder_path)
            signature = (found.st_dev, found.st_ino, found.st_size, found.st_mtime_ns,
                         found.st_ctime_ns)
        except OSError:
            signature = None
        if signature is not None and signature == self._fenced:
            return
        current = self.lock_holder()
        if current is not None and current.id == self.held.id:
            self._fenced = signature
            return
        taker = f" ({current.describe()})" if current else ""
        raise LockError(f"state {self.path}: this run's lock {self.held.id} was taken over "
                        f"by force-unlock{taker}; it stops before its next write (the "
                        "journal keeps every change it made)")

    @contextmanager
    def lock(self, command: str, timeout_s: float) -> Iterator[LockInfo]:
        from filelock import FileLock, Timeout  # start-up: only a run that writes takes the lock

        lock = FileLock(self.lock_path, mode=0o600)
        try:
            with writing(self.lock_path, "the state lock", "nothing was changed"):
                self.lock_path.parent.mkdir(parents=True, exist_ok=True)
                lock.acquire(timeout=max(timeout_s, 0.0), poll_interval=0.05)
        except Timeout:
            holder = self.lock_holder()
            who = holder.describe() if holder else "another process"
            raise LockError(f"state {self.path} is locked: {who}. Wait for it to finish, retry "
                            f"with --lock-timeout, or if it is gone run `reconciler force-unlock "
                            f"{holder.id if holder else 'ID'} {self.directory}`") from None
        info = LockInfo(command=command)
        try:
            with writing(self.holder_path, "the state lock", "nothing was changed"):
                atomic_write(self.holder_path, info.model_dump_json(), mode=0o600, make_folder=True)
        except StateError:
            lock.release()
            raise
        self.held = info
        self._fenced = None
        try:
            yield info
        finally:
            self.held = None
            self._fenced = None
            current = self.lock_holder()
            if current is not None and current.id == info.id:  # not a successor's record
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.holder_path)
            lock.release()

    def lock_holder(self) -> LockInfo | None:
        try:
            return LockInfo.model_validate_json(self.holder_path.read_text())
        except (FileNotFoundError, ValidationError, ValueError):
            return None

    def stale_holder(self) -> LockInfo | None:
        """A holder file left by a process that died without releasing (the flock is free)."""
        holder = self.lock_holder()
        if holder is None or self._flock_held():
            return None
        return holder

    def _flock_held(self) -> bool:
        """Whether a live process holds the lock (the kernel frees a dead one's flock)."""
        if not self.lock_path.exists():
            return False
        from filelock import FileLock, Timeout

        probe = FileLock(self.lock_path, is_singleton=False)
        try:
            probe.acquire(timeout=0)
        except Timeout:
            return True
        probe.release()
        return False

    def force_unlock(self, lock_id: str, force: bool = False, wait_s: float = 10.0) -> LockInfo:
        holder = self.lock_holder()
        if holder is None or holder.id != lock_id:
            current = f"the current lock is {holder.id}" if holder else "it is not locked"
            raise LockError(f"state {self.path}: no lock {lock_id} to remove ({current})")
        if self._flock_held():
            if not force:
                raise LockError(live_holder(holder, lock_id, self.directory))
            os.unlink(self.holder_path)  # the fence: the holder stops before its next write
            deadline = time.monotonic() + wait_s
            while self._flock_held() and time.monotonic() < deadline:
                time.sleep(0.05)
        for path in (self.holder_path, self.lock_path):  # a holder still stuck loses the file
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        return holder


def live_holder(holder: LockInfo, lock_id: str, directory: str = "DIR") -> str:
    """Why force-unlock refuses: the holder is running, and two applies at once duplicate."""
    here = holder.host == socket.gethostname()
    alive = here and _pid_alive(holder.pid)
    where = (f"pid {holder.pid} is running on this host" if alive
             else f"its process (pid {holder.pid} on {holder.host}) still holds the lock")
    return (f"{holder.describe()}: not freed, the holder is alive ({where}). Two applies at once "
            "create duplicates: wait for it to finish. If it is stuck, `reconciler force-unlock "
            f"{lock_id} {directory} --force` revokes the lock: the holder stops before its next "
            "write")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Settings(BackendSettings):
    """`backend: local`: the state is a JSON file (with a journal and a lock file beside it)."""

    backend: Literal["local"] = "local"
    path: str = Field("state/default.json", description="local: file, relative to reconciler.yaml")

    def folder(self, directory: Path) -> Path | None:
        return (directory / self.path).resolve().parent


def open_backend(settings: BackendSettings, directory: Path) -> LocalBackend:
    assert isinstance(settings, Settings)
    return LocalBackend((directory / settings.path).resolve())


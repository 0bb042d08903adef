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
import io
import json
import os
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import ijson  # type: ignore[import-untyped]
from filelock import FileLock, Timeout
from pydantic import ValidationError

from reconciler.errors import LockError, StateError
from reconciler.perf import paused_gc
from reconciler.state.base import (
    FORMAT_VERSION,
    NO_META,
    LockInfo,
    Pending,
    Resource,
    StateBackend,
    StateDoc,
    StateWriter,
)


def atomic_write(path: Path, text: str, backup: bool = False) -> None:
    """Temp file in the same directory, fsync, rename, fsync the directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if backup and path.exists():
            os.replace(path, path.with_name(path.name + ".backup"))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


Declared = Mapping[str, dict[str, Any]]
"""Address -> attributes the manifests declare; a recorded copy equal to them is shared."""


def parse_document(data: str | bytes | Path, origin: str,
                   declared: Declared | None = None) -> StateDoc:
    """Build resources one at a time as the parser reaches them (from the file itself when
    given a path), and let a resource whose recorded attributes equal the declared ones
    share the declared dict: in the common case (nothing changed) a state of 300,000
    objects then costs a few hundred bytes per object, not a second copy of every
    manifest value. Only a document that fails is read again as a whole, to say
    precisely what is wrong with it."""
    try:
        with paused_gc():
            doc = _stream(data, declared or {})
    except OSError as exc:
        raise StateError(f"{origin}: cannot read: {exc.strerror or exc}; check that state.path "
                         "in reconciler.yaml names a readable file") from None
    except (ijson.JSONError, ValidationError, TypeError, ValueError, KeyError):
        raw = data.read_bytes() if isinstance(data, Path) else data
        try:
            text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        except UnicodeDecodeError:
            raise StateError(f"{origin}: not a state file (it is not UTF-8 text); restore it "
                             f"from {origin}.backup or from version control") from None
        return _diagnose(text, origin)
    if doc.version > FORMAT_VERSION:
        raise _newer(origin, doc.version)
    return doc


_HEAD = ("version", "lineage", "serial")


@contextmanager
def _opened(data: str | bytes | Path) -> Iterator[BinaryIO]:
    if isinstance(data, Path):
        with data.open("rb") as handle:
            yield handle
    else:
        yield io.BytesIO(data.encode() if isinstance(data, str) else data)


def _stream(data: str | bytes | Path, declared: Declared) -> StateDoc:
    head: dict[str, Any] = {}
    keys: list[str] = []
    with _opened(data) as handle:
        for prefix, event, value in ijson.parse(handle):
            if prefix == "" and event == "map_key":
                keys.append(value)
                if value == "resources":
                    break
            elif prefix in _HEAD:
                head[prefix] = value
            elif prefix == "" and event != "start_map":
                raise ValueError("not a JSON object")
    if not set(keys) <= set(StateDoc.model_fields):
        raise ValueError("unknown top-level field")
    if "resources" not in keys:  # no resources: small, validated whole
        with _opened(data) as handle:
            return StateDoc.model_validate_json(handle.read())
    doc = StateDoc.model_validate(head)
    if doc.version > FORMAT_VERSION:
        return doc
    with _opened(data) as handle:
        for address, body in ijson.kvitems(handle, "resources", use_float=True):
            resource = Resource(**body)  # validation copies the attributes
            wanted = declared.get(address)
            if wanted is not None and resource.attributes == wanted:
                resource.attributes = wanted
            if not resource.meta:
                resource.meta = NO_META
            doc.resources[sys.intern(address)] = resource  # the manifests' address string
    with _opened(data) as handle:
        for address, body in ijson.kvitems(handle, "pending", use_float=True):
            doc.pending[address] = Pending.model_validate(body)
    return doc


def _newer(origin: str, version: int) -> StateError:
    return StateError(f"{origin}: written by a newer reconciler (state format {version}, this one "
                      f"reads up to {FORMAT_VERSION}); upgrade reconciler")


def _diagnose(text: str, origin: str) -> StateDoc:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise StateError(f"{origin}: not valid JSON (line {exc.lineno}, column {exc.colno}): the "
                         f"file is corrupt or truncated; restore it from {origin}.backup or from "
                         f"version control") from None
    if not isinstance(raw, dict):
        raise StateError(f"{origin}: not a reconciler state document (expected a JSON object with "
                         f"version, lineage, serial and resources); restore it from {origin}.backup "
                         "or from version control")
    version = raw.get("version")
    if isinstance(version, int) and version > FORMAT_VERSION:
        raise _newer(origin, version)
    try:
        return StateDoc.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise StateError(f"{origin}: invalid state document at {where}: {first['msg']}; restore "
                         f"it from {origin}.backup") from None


class LocalWriter(StateWriter):
    def __init__(self, doc: StateDoc, path: Path) -> None:
        super().__init__(doc)
        self.path = path
        self.journal_path = path.with_name(path.name + ".journal")
        self._journal: Any = None

    def append(self, entries: list[dict[str, Any]]) -> None:
        if self._journal is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.journal_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            self._journal = os.fdopen(fd, "a", encoding="utf-8")
            if os.fstat(fd).st_size == 0:
                self._journal.write(json.dumps({"lineage": self.doc.lineage}) + "\n")
        self._journal.write("".join(json.dumps(e, separators=(",", ":")) + "\n" for e in entries))
        self._journal.flush()
        os.fsync(self._journal.fileno())

    def checkpoint(self) -> None:
        atomic_write(self.path, self.doc.model_dump_json(indent=1), backup=True)
        if self._journal is not None:
            self._journal.close()
            self._journal = None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.journal_path)


class LocalBackend(StateBackend):
    name = "local"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.journal_path = path.with_name(path.name + ".journal")
        self.lock_path = path.with_name(path.name + ".lock")
        self.holder_path = path.with_name(path.name + ".lock.json")

    def read(self, declared: Declared | None = None) -> StateDoc:
        doc = parse_document(self.path, str(self.path), declared) if self.path.exists() \
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
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                break  # a torn last line from a crash mid-append: it was never acknowledged
            try:
                if entry.get("serial", 0) > doc.serial:
                    doc.apply_entry(entry)
            except (AttributeError, KeyError, TypeError, ValueError):  # ValidationError is a ValueError
                raise self._damaged(number) from None

    def writer(self, doc: StateDoc) -> LocalWriter:
        return LocalWriter(doc, self.path)

    @contextmanager
    def lock(self, command: str, timeout_s: float) -> Iterator[LockInfo]:
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(self.lock_path, mode=0o600)
        try:
            lock.acquire(timeout=max(timeout_s, 0.0), poll_interval=0.05)
        except Timeout:
            holder = self.lock_holder()
            who = holder.describe() if holder else "another process"
            raise LockError(f"state {self.path} is locked: {who}. Wait for it to finish, retry "
                            f"with --lock-timeout, or if it is gone run `reconciler force-unlock "
                            f"{holder.id if holder else 'ID'} DIR`") from None
        info = LockInfo(command=command)
        atomic_write(self.holder_path, info.model_dump_json())
        try:
            yield info
        finally:
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
        if holder is None:
            return None
        probe = FileLock(self.lock_path)
        try:
            probe.acquire(timeout=0)
        except Timeout:
            return None
        probe.release()
        return holder

    def force_unlock(self, lock_id: str) -> LockInfo:
        holder = self.lock_holder()
        if holder is None or holder.id != lock_id:
            current = f"the current lock is {holder.id}" if holder else "it is not locked"
            raise LockError(f"state {self.path}: no lock {lock_id} to remove ({current})")
        for path in (self.holder_path, self.lock_path):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        return holder

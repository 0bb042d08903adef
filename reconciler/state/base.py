"""The state document, and the interface every backend keeps.

A write is never O(size of the state): an apply appends small journal entries
(group-committed, fsynced) and rewrites the whole document once at the end.
Reading replays the journal, so a crash at any instant leaves a readable state
that includes every change whose remote call succeeded.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import os
import socket
import sys
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, PrivateAttr
from pydantic.dataclasses import dataclass as pydantic_dataclass

from reconciler.perf import EMPTY, NO_SHARING, Sharing
from reconciler.redact import REDACT, refuse_credentials

if TYPE_CHECKING:
    from reconciler.history.settings import HistorySettings
    from reconciler.history.store import HistoryStore

FORMAT_VERSION = 1


NO_META = EMPTY  # every resource without lifecycle settings (most of them) shares it: read-only


@pydantic_dataclass(slots=True, config=ConfigDict(extra="forbid"))
class Resource:
    """One managed object: where it lives remotely and what was last applied to it.

    A slotted dataclass, not a BaseModel: a state holds one per managed object, and a
    model's per-instance dict and fields-set cost about 1 KB each (300 MB at 300k)."""

    vendor: str
    kind: str
    remote_id: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    meta: Annotated[Mapping[str, Any], PlainSerializer(dict)] = field(default_factory=dict)
    prevent_destroy: bool = False
    schema_version: int = 0  # of the kind's recorded attributes (KindSpec.schema_version)

    def to_dict(self) -> dict[str, Any]:
        return {"vendor": self.vendor, "kind": self.kind, "remote_id": self.remote_id,
                "attributes": self.attributes, "meta": dict(self.meta),
                "prevent_destroy": self.prevent_destroy, "schema_version": self.schema_version}


class Pending(BaseModel):
    """A remote write that was started; resolved on the next run if it never finished."""

    model_config = ConfigDict(extra="forbid")

    vendor: str
    kind: str
    action: str
    identity: str | None = None
    remote_id: str | None = None
    started_at: str


class Forgotten(BaseModel):
    """An object reconciler stopped managing without deleting it (`--forget`, a vendor with
    no delete API): remembered so that plan and drift call it forgotten, not unmanaged."""

    model_config = ConfigDict(extra="forbid")

    vendor: str
    kind: str
    remote_id: str
    identity: str | None = None
    forgotten_at: str = ""


class StateDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = FORMAT_VERSION
    lineage: str = ""  # fixed at the first write; empty means "no state yet"
    serial: int = 0
    # Where it was applied: provider -> its endpoints and tenant (or its sandbox's data folder);
    # a state is never used against another target (reconciler/apply/binding.py). Both are
    # small and written before `resources`, which a reader streams.
    target: dict[str, Any] = Field(default_factory=dict)
    forgotten: dict[str, Forgotten] = Field(default_factory=dict)
    resources: dict[str, Resource] = Field(default_factory=dict)
    pending: dict[str, Pending] = Field(default_factory=dict)
    _stored_serial: int = PrivateAttr(0)  # serial of the stored document (compare-and-swap)

    @property
    def stored_serial(self) -> int:
        return self._stored_serial

    @stored_serial.setter
    def stored_serial(self, value: int) -> None:
        self._stored_serial = value

    def apply_entry(self, entry: dict[str, Any]) -> None:
        """Replay one journal entry (idempotent: replaying twice gives the same document)."""
        address, op = entry["address"], entry["op"]
        if op == "put":
            self.resources[address] = Resource(**entry["resource"])
            self.pending.pop(address, None)
            self.forgotten.pop(address, None)
        elif op == "remove":
            self.resources.pop(address, None)
            self.pending.pop(address, None)
        elif op == "move":  # one entry, so that a crash never leaves both addresses or neither
            self.resources.pop(entry["from"], None)
            self.resources[address] = Resource(**entry["resource"])
        elif op == "intent":
            self.pending[address] = Pending.model_validate(entry["pending"])
        elif op == "resolve":
            self.pending.pop(address, None)
        elif op == "forget":
            self.resources.pop(address, None)
            self.pending.pop(address, None)
            self.forgotten[address] = Forgotten.model_validate(entry["forgotten"])
        elif op == "bind":
            self.target = dict(entry["target"])
        self.serial = max(self.serial, int(entry["serial"]))


class LockInfo(BaseModel):
    id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    pid: int = Field(default_factory=os.getpid)
    host: str = Field(default_factory=socket.gethostname)
    user: str = Field(default_factory=lambda: _user())
    command: str = Field(default_factory=lambda: " ".join(sys.argv[:3]))
    started_at: str = Field(default_factory=lambda: now())

    def describe(self) -> str:
        return (f"lock {self.id} held by {self.user}@{self.host} pid {self.pid} "
                f"running '{self.command}' since {self.started_at}")


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class StateWriter(ABC):
    """Records changes during an apply; every `await` returns once the entry is durable."""

    def __init__(self, doc: StateDoc) -> None:
        self.doc = doc
        if not doc.lineage:
            doc.lineage = str(uuid.uuid4())
        self._batch: list[dict[str, Any]] = []
        self._done: asyncio.Future[None] | None = None
        self._flusher: asyncio.Task[None] | None = None

    async def put(self, address: str, resource: Resource) -> None:
        self.doc.resources[address] = resource  # already validated: not rebuilt from the entry
        self.doc.pending.pop(address, None)
        self.doc.forgotten.pop(address, None)
        await self._record({"op": "put", "address": address, "resource": resource.to_dict()},
                           applied=True)

    async def forget(self, address: str, forgotten: Forgotten | None) -> None:
        """Stop managing; with `forgotten`, remember the remote object that stays."""
        if forgotten is None:
            await self.remove(address)
        else:
            await self._record({"op": "forget", "address": address,
                                "forgotten": forgotten.model_dump()})

    async def bind(self, target: dict[str, Any]) -> None:
        """Record the target this state is applied to (said once, when it changes)."""
        if target != self.doc.target:
            await self._record({"op": "bind", "address": "", "target": target})

    async def remove(self, address: str) -> None:
        await self._record({"op": "remove", "address": address})

    async def move(self, source: str, address: str, resource: Resource) -> None:
        await self._record({"op": "move", "address": address, "from": source,
                            "resource": resource.to_dict()})

    async def intend(self, address: str, pending: Pending) -> None:
        await self._record({"op": "intent", "address": address, "pending": pending.model_dump()})

    async def resolve(self, address: str) -> None:
        await self._record({"op": "resolve", "address": address})

    async def _record(self, entry: dict[str, Any], applied: bool = False) -> None:
        """Group commit: entries recorded while a batch is being made durable share the next
        durable write, and the event loop keeps sending requests during the fsync."""
        if REDACT.secrets and "resource" in entry:  # stored as is, or not at all
            refuse_credentials(json.dumps(entry["resource"]), f"the state record of {entry['address']}")
        self.doc.serial += 1
        entry["serial"] = self.doc.serial
        if not applied:
            self.doc.apply_entry(entry)
        self._batch.append(entry)
        if self._done is None:
            self._done = asyncio.get_running_loop().create_future()
        done = self._done
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush())
        await asyncio.shield(done)

    async def _flush(self) -> None:
        try:
            while self._batch:
                batch, done = self._batch, self._done
                self._batch, self._done = [], None
                assert done is not None
                try:
                    await asyncio.to_thread(self.append, batch)
                except Exception as exc:
                    done.set_exception(exc)
                else:
                    done.set_result(None)
        finally:
            self._flusher = None

    @abstractmethod
    def append(self, entries: list[dict[str, Any]]) -> None:
        """Make entries durable (journal append + fsync, or one transaction)."""

    @abstractmethod
    def checkpoint(self) -> None:
        """Write the whole document and drop the journal."""


class StateBackend(ABC):
    name: str
    held: LockInfo | None = None  # the lock this process holds, checked before every write

    @abstractmethod
    def describe(self) -> str:
        """Where the state lives, for a saved plan's target (no password)."""

    @abstractmethod
    def fence(self) -> None:
        """Raise LockError unless the lock this process took is still the current one: a run
        whose lock was taken over (force-unlock --force) stops before its next write."""

    directory: str = "DIR"
    """The manifest directory as the user gave it, for the commands hints spell out."""

    sharing: Sharing = NO_SHARING
    """Set before `read` to let each record equal to what the manifests declare share the
    declared dict (reconciler.perf: one copy of each object's values, not two)."""

    @abstractmethod
    def read(self) -> StateDoc:
        """The state, every record passed through `self.sharing` as it is built."""

    @abstractmethod
    def writer(self, doc: StateDoc) -> StateWriter: ...

    @abstractmethod
    @contextmanager
    def lock(self, command: str, timeout_s: float) -> Iterator[LockInfo]: ...

    @abstractmethod
    def lock_holder(self) -> LockInfo | None: ...

    @abstractmethod
    def force_unlock(self, lock_id: str, force: bool = False, wait_s: float = 10.0) -> LockInfo:
        """Free a lock whose holder is gone; a live holder is refused unless `force`, which
        revokes the lock (the holder stops before its next write) and waits `wait_s` for it
        to let go before breaking the lock."""

    @abstractmethod
    def stale_holder(self) -> LockInfo | None:
        """A holder record left by a run that died without releasing its lock."""

    def history(self, settings: HistorySettings) -> HistoryStore | None:
        """Where this backend keeps the run history (reconciler.history); None: it keeps none."""
        return None

    def write(self, doc: StateDoc) -> None:
        """Replace the whole document (state rm, drift --accept, import)."""
        doc.serial += 1
        writer = self.writer(doc)
        writer.checkpoint()

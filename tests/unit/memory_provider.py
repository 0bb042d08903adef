"""An in-memory vendor: a test double of a *vendor* API, never of our own components.

`MemoryStore` is the remote side: objects by id per kind, a log of every write, and
switches that make the vendor misbehave the way real ones do (an answer lost after the
write, a refused update). The kinds keep the contract of reconciler.providers.base, so
the real planner, executor and state backends run against it in-process, in milliseconds.

Kinds (vendor `memory`, plus `spare` for a second, independent vendor):
- gadget  (natural key `name`, hard delete; names unique only if `store.unique` says so):
  an Outreach-like object.
- plaque  (natural key `name`, unique, no delete API): a Webex Campaign purpose.
- toggle  (natural key `key`, deactivate or soft delete, an `active` switch): a
  SuperOffice consent purpose.
- note    (write-only: pushed, never listed): Webex Campaign datastore records.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import httpx

from reconciler.errors import AmbiguousWriteError, ConflictError, VendorError
from reconciler.providers.base import (
    DeleteMode,
    Kind,
    Provider,
    ProviderSettings,
    PushResult,
    RemoteObject,
    RemoteStatus,
    Schema,
)
from reconciler.providers.http import VendorClient

VENDOR = "memory"
Lost = Literal["before", "after"]
"""Where a create's connection breaks: before the vendor wrote it, or after (answer lost)."""


class Killed(BaseException):
    """The reconciler process dies (kill -9, power cut) right after the vendor wrote: not an
    error any code path handles, so nothing after the call runs except `finally` blocks."""


class Gadget(Schema):
    name: str
    colour: str
    size: int | None = None


class Plaque(Schema):
    name: str
    text: str


class Toggle(Schema):
    key: str
    label: str
    active: bool = True


class Note(Schema):
    feed: str
    lines: list[str]


@dataclass
class MemoryStore:
    """The vendor's data and switches, shared by every kind of every memory provider."""

    objects: dict[str, dict[str, RemoteObject]] = field(default_factory=dict)  # kind address -> id ->
    calls: list[tuple[str, str, str]] = field(default_factory=list)  # (op, kind address, id or key)
    pushed: list[dict[str, Any]] = field(default_factory=list)
    lose_create: dict[str, Lost] = field(default_factory=dict)  # natural key -> once
    refuse_create: set[str] = field(default_factory=set)  # natural keys: 422 on create
    kill_after_create: set[str] = field(default_factory=set)  # natural keys: written, then Killed
    refuse_update: set[str] = field(default_factory=set)  # natural keys: 422 on update
    refuse_delete: set[str] = field(default_factory=set)  # remote ids: 422 on delete
    unique: set[str] = field(default_factory=set)  # kind addresses that also refuse a taken key
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(100))

    def of(self, kind_address: str) -> dict[str, RemoteObject]:
        return self.objects.setdefault(kind_address, {})

    def seed(self, kind_address: str, remote_id: str, status: RemoteStatus = RemoteStatus.PRESENT,
             **attributes: Any) -> RemoteObject:
        """An object that exists remotely before the test starts (made in the vendor's UI)."""
        obj = RemoteObject(remote_id, attributes, status)
        self.of(kind_address)[remote_id] = obj
        return obj

    def named(self, kind_address: str, identity: str) -> list[RemoteObject]:
        return [o for o in self.of(kind_address).values()
                if str(o.attributes.get(_KEYS[kind_address.split(".")[1]])) == identity]

    def writes(self) -> list[tuple[str, str]]:
        """(op, id or key) of every write, in the order the vendor received them."""
        return [(op, what) for op, _, what in self.calls]


_KEYS = {"gadget": "name", "plaque": "name", "toggle": "key", "note": "feed"}


def _refused(what: str) -> VendorError:
    return VendorError(VENDOR, 422, "invalid", f"{what} refused by the memory vendor")


class MemoryKind(Kind):
    """Objects kept in the store; `list` shows soft-deleted ones too, as real vendors do."""

    store: MemoryStore

    @property
    def address(self) -> str:
        return f"{self.vendor}.{self.name}"

    async def list(self) -> list[RemoteObject]:
        return list(self.store.of(self.address).values())

    async def create(self, attributes: dict[str, Any]) -> RemoteObject:
        identity = self.identity(attributes) or ""
        if identity in self.store.refuse_create:
            raise _refused(f"create of {identity!r}")
        lost = self.store.lose_create.pop(identity, None)
        if lost == "before":
            raise AmbiguousWriteError(VENDOR, None, None, "connection reset before the answer")
        unique = self.unique_natural_key or self.address in self.store.unique
        if unique and any(o.status is RemoteStatus.PRESENT for o in self.store.named(self.address, identity)):
            raise ConflictError(VENDOR, 409, "taken", f"{identity!r} already exists")
        remote_id = str(next(self.store.ids))
        obj = RemoteObject(remote_id, dict(attributes), self.desired_status(attributes))
        self.store.of(self.address)[remote_id] = obj
        self.store.calls.append(("create", self.address, identity))
        if lost == "after":
            raise AmbiguousWriteError(VENDOR, None, None, "connection reset after sending")
        if identity in self.store.kill_after_create:
            raise Killed(identity)
        return obj

    async def update(self, remote_id: str, attributes: dict[str, Any],
                     changed: frozenset[str], current: RemoteObject | None) -> RemoteObject:
        objects = self.store.of(self.address)
        if remote_id not in objects:
            raise VendorError(VENDOR, 404, "not_found", f"no object {remote_id}")
        if (self.identity(attributes) or "") in self.store.refuse_update:
            raise _refused(f"update of {remote_id}")
        merged = {**objects[remote_id].attributes, **attributes}
        obj = RemoteObject(remote_id, merged, self.desired_status(merged))
        objects[remote_id] = obj
        self.store.calls.append(("update", self.address, remote_id))
        return obj

    async def delete(self, remote_id: str, mode: DeleteMode, current: RemoteObject | None) -> None:
        if mode is DeleteMode.UNSUPPORTED or mode not in self.delete_modes:
            raise VendorError(VENDOR, 405, "no_delete", f"{self.address} cannot be deleted ({mode})")
        if remote_id in self.store.refuse_delete:
            raise _refused(f"delete of {remote_id}")
        objects = self.store.of(self.address)
        self.store.calls.append((f"delete:{mode}", self.address, remote_id))
        old = objects.get(remote_id)
        if old is None or mode is DeleteMode.HARD:
            objects.pop(remote_id, None)  # deleting what is already gone is a success
        elif mode is DeleteMode.SOFT:
            objects[remote_id] = RemoteObject(remote_id, old.attributes, RemoteStatus.DELETED)
        else:
            objects[remote_id] = RemoteObject(remote_id, {**old.attributes, "active": False},
                                              RemoteStatus.INACTIVE)


class GadgetKind(MemoryKind):
    vendor = VENDOR
    name = "gadget"
    collection = "gadgets"
    schema = Gadget
    natural_key = "name"
    delete_modes = (DeleteMode.HARD,)


class PlaqueKind(MemoryKind):
    vendor = VENDOR
    name = "plaque"
    collection = "plaques"
    schema = Plaque
    natural_key = "name"
    delete_modes = (DeleteMode.UNSUPPORTED,)
    unique_natural_key = True


class ToggleKind(MemoryKind):
    vendor = VENDOR
    name = "toggle"
    collection = "toggles"
    schema = Toggle
    natural_key = "key"
    delete_modes = (DeleteMode.DEACTIVATE, DeleteMode.SOFT)
    unique_natural_key = True

    @classmethod
    def desired_status(cls, attributes: dict[str, Any]) -> RemoteStatus:
        return RemoteStatus.INACTIVE if attributes.get("active") is False else RemoteStatus.PRESENT


class NoteKind(MemoryKind):
    vendor = VENDOR
    name = "note"
    collection = "notes"
    schema = Note
    natural_key = "feed"
    observable = False

    @classmethod
    def identity(cls, attributes: dict[str, Any]) -> str | None:
        return None

    @classmethod
    def state_attributes(cls, attributes: dict[str, Any]) -> dict[str, Any]:
        """Like the Webex records: the state keeps a digest and a count, never the content."""
        lines = attributes.get("lines", [])
        digest = hashlib.sha256(json.dumps(lines).encode()).hexdigest()[:16]
        return {"feed": attributes["feed"], "count": len(lines), "digest": digest}

    async def push(self, attributes: dict[str, Any]) -> PushResult:
        self.store.pushed.append(dict(attributes))
        self.store.calls.append(("push", self.address, str(attributes["feed"])))
        return PushResult({"pushes": len(self.store.pushed)})


class SpareGadgetKind(GadgetKind):
    vendor = "spare"


KINDS: dict[str, type[Kind]] = {f"{k.vendor}.{k.name}": k for k in (
    GadgetKind, PlaqueKind, ToggleKind, NoteKind, SpareGadgetKind)}


class MemorySettings(ProviderSettings):
    pass


def _no_error_body(response: httpx.Response) -> tuple[str | None, str]:
    return None, response.reason_phrase


def _nothing_is_sent(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"the memory vendor sends no HTTP request ({request.method} {request.url})")


class MemoryProvider(Provider):
    name = VENDOR
    settings_model = MemorySettings
    kinds: ClassVar[tuple[type[Kind], ...]] = (GadgetKind, PlaqueKind, ToggleKind, NoteKind)

    def __init__(self, store: MemoryStore, settings: ProviderSettings | None = None) -> None:
        super().__init__(settings or MemorySettings())
        self.store = store
        for kind in self.kind_objects.values():
            assert isinstance(kind, MemoryKind)
            kind.store = store

    def make_client(self, settings: ProviderSettings) -> VendorClient:
        """Never used to send anything: the kinds talk to the store. (A transport of its own
        also spares building a TLS context, ~85 ms, for every provider of every test.)"""
        return VendorClient(self.name, "http://127.0.0.1:9", {}, secrets=(),
                            parse_error=_no_error_body, concurrency=settings.concurrency,
                            max_attempts=settings.max_attempts,
                            transport=httpx.MockTransport(_nothing_is_sent))


class SpareProvider(MemoryProvider):
    name = "spare"
    kinds: ClassVar[tuple[type[Kind], ...]] = (SpareGadgetKind,)

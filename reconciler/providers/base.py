"""The contract between the engine and a vendor.

A `Provider` turns its settings (from reconciler.yaml) into an HTTP client and
a set of `Kind`s. A `Kind` knows one vendor object type: its manifest schema,
its natural key, how a remote object is normalised, and how to list, create,
update and delete. The engine does the rest (planning, ordering, state).

What a failure means, so that crash recovery can reason about it:
- `create` raising means nothing was created, except `AmbiguousWriteError`
  (the connection broke after sending): the object may exist, and the engine
  looks it up by natural key before trying again.
- `update` raising means the object is as before or partially written; running
  the same update again is safe.
- `delete` raising means the object is assumed to still exist. Deleting an
  object that is already gone is a success, not an error.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

from reconciler.perf import EMPTY, prefer
from reconciler.providers.ids import IdShape

if TYPE_CHECKING:  # the HTTP client (httpx) is loaded by commands that connect, not by validate
    from reconciler.providers.http import VendorClient


class DeleteMode(StrEnum):
    HARD = "hard"  # the object is gone
    SOFT = "soft"  # the vendor keeps it, marked deleted
    DEACTIVATE = "deactivate"  # the object is kept, switched off
    UNSUPPORTED = "unsupported"  # the vendor has no delete API


class RemoteStatus(StrEnum):
    PRESENT = "present"
    INACTIVE = "inactive"
    DELETED = "deleted"  # soft-deleted: still listed by the vendor, not a live object


@dataclass(frozen=True, slots=True)
class RemoteObject:
    """A vendor object in manifest terms: snake_case fields, normalised values."""

    remote_id: str
    attributes: dict[str, Any]
    status: RemoteStatus = RemoteStatus.PRESENT

    def fingerprint(self) -> str:
        return fingerprint(self.attributes, self.status)


def fingerprint(attributes: dict[str, Any], status: str = RemoteStatus.PRESENT) -> str:
    payload = json.dumps([attributes, status], sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


class Schema(BaseModel):
    """Base of every kind's manifest model: unknown fields are errors, types are strict."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def not_blank(value: str) -> str:
    """A field validator (`field_validator("name")(not_blank)`): a value of spaces only would
    show as nothing, and no vendor keeps it as written."""
    if not value.strip():
        raise PydanticCustomError("blank", "must not be blank (it holds only spaces)")
    return value


@dataclass
class PushResult:
    """What a write-only kind remembers about its last push (no secrets, no record content)."""

    meta: dict[str, Any] = field(default_factory=dict)


class KindSpec:
    """The pure half of a kind: what its objects are and how their values compare. The
    loader, the planner, drift detection and the docs read only this half; nothing in it
    does I/O, so they never load an HTTP client."""

    vendor: ClassVar[str]
    name: ClassVar[str]  # singular, in addresses: outreach.call_purpose.<key>
    collection: ClassVar[str]  # plural, in manifests: outreach: {call_purposes: {...}}
    schema: ClassVar[type[Schema]]
    natural_key: ClassVar[str]
    read_only: ClassVar[tuple[str, ...]] = ()  # vendor fields never diffed (for docs)
    delete_modes: ClassVar[tuple[DeleteMode, ...]] = (DeleteMode.HARD,)
    observable: ClassVar[bool] = True  # False for write-only APIs: no list, no drift
    unique_natural_key: ClassVar[bool] = False  # the vendor refuses two objects with one key
    # What the state records of this kind changes shape with this number; a state recorded
    # at an older version is passed through `upgrade` when read (Terraform's
    # UpgradeResourceState), and records the current version at its next write.
    schema_version: ClassVar[int] = 0
    unique_ignoring_case: ClassVar[tuple[str, ...]] = ()
    """Fields the vendor keeps unique without regard to case: a create whose value equals a
    remote object's in another case fails at the vendor, so the plan refuses it."""
    id_shape: ClassVar[IdShape | None] = None
    """What the vendor's ids look like (reconciler.providers.ids); None: any id (third-party
    kinds that declare none), still percent-encoded in every path."""

    @classmethod
    def identity(cls, attributes: dict[str, Any]) -> str | None:
        """The natural key value that finds this object remotely (for adoption)."""
        value = attributes.get(cls.natural_key)
        return None if value is None else str(value)

    @classmethod
    def check(cls, attributes: dict[str, Any], settings: ProviderSettings) -> list[str]:
        """Problems only the provider's settings can reveal (configured limits), found while
        loading the manifests so that nothing is sent; empty when all is well."""
        return []

    @classmethod
    def desired_status(cls, attributes: dict[str, Any]) -> RemoteStatus:
        """The status the manifest asks for (a kind with an `active` switch may want INACTIVE)."""
        return RemoteStatus.PRESENT

    @classmethod
    def needs_revive(cls, attributes: dict[str, Any], remote: RemoteObject) -> bool:
        """The remote object is soft-deleted or switched off, and the manifest wants it live."""
        return remote.status is not RemoteStatus.PRESENT and (
            remote.status is not cls.desired_status(attributes))

    @classmethod
    def normalise(cls, attributes: dict[str, Any]) -> dict[str, Any]:
        """Make desired attributes comparable with observed ones (same rules both ways)."""
        return attributes

    @classmethod
    def same_value(cls, field: str, recorded: Any, observed: Any) -> bool:
        """One value the state records and the vendor holds, the same to the vendor: a plan
        refreshes a record only for a difference that is real (a Webex group's case is not)."""
        return bool(recorded == observed)

    @classmethod
    def state_attributes(cls, attributes: dict[str, Any]) -> dict[str, Any]:
        """What the state remembers of the desired attributes after a write."""
        return attributes

    @classmethod
    def upgrade(cls, attributes: dict[str, Any], version: int) -> dict[str, Any]:
        """Recorded attributes of schema `version` (< schema_version) in today's shape; a
        kind that changes what it records raises schema_version and says how here."""
        return attributes


class Kind(KindSpec, ABC):
    """The I/O half: list, read, create, update, delete through the vendor's client, called
    only by the observer and the executor. What each failure means: see the module docstring."""

    def __init__(self, client: VendorClient, settings: ProviderSettings) -> None:
        self.client = client
        self.settings = settings
        # What the state records of this kind (remote id -> attributes), set by the observer
        # before it lists: a kind may use it to find what a list leaves out, or to keep a
        # recorded spelling. Read-only here.
        self.recorded: Mapping[str, dict[str, Any]] = EMPTY
        # What the manifests of this run declare of this kind (normalised attributes), set
        # when the providers connect; None when the caller does not know (drift, import). A
        # kind may use it to show what it reads the way the manifests spell it, or to skip a
        # read that can only find undeclared objects. Per instance: runs never share it.
        self.declared: Sequence[Mapping[str, Any]] | None = None

    def shared(self, obj: RemoteObject) -> RemoteObject:
        """`obj`, holding its record's dict when they are equal (reconciler.perf): a kind
        calls it on each object as it lists, so a long list never holds a second copy of
        what the state holds (the observer does it after the list for kinds that do not)."""
        attributes = prefer(self.recorded.get(obj.remote_id), obj.attributes)
        return obj if attributes is obj.attributes else RemoteObject(obj.remote_id, attributes,
                                                                      obj.status)

    def remote(self, remote_id: str, attributes: dict[str, Any],
               status: RemoteStatus = RemoteStatus.PRESENT) -> RemoteObject:
        """A listed object, made once and already shared (`shared` without the second object):
        what a kind's listing loop calls for each item."""
        return RemoteObject(remote_id, prefer(self.recorded.get(remote_id), attributes), status)

    @abstractmethod
    async def list(self) -> list[RemoteObject]: ...

    async def lookup(self, identity: str) -> RemoteObject | None:
        """Find a remote object by natural key; kinds with a server-side filter override this."""
        return next((o for o in await self.list() if self.identity(o.attributes) == identity), None)

    async def read(self, remote_id: str) -> RemoteObject | None:
        return next((o for o in await self.list() if o.remote_id == remote_id), None)

    @abstractmethod
    async def create(self, attributes: dict[str, Any]) -> RemoteObject: ...

    @abstractmethod
    async def update(self, remote_id: str, attributes: dict[str, Any],
                     changed: frozenset[str], current: RemoteObject | None) -> RemoteObject: ...

    async def delete(self, remote_id: str, mode: DeleteMode,
                     current: RemoteObject | None) -> None:
        raise NotImplementedError(f"{self.vendor}.{self.name} cannot delete")

    async def push(self, attributes: dict[str, Any]) -> PushResult:
        raise NotImplementedError(f"{self.vendor}.{self.name} is not write-only")


class ProviderSettings(BaseModel):
    """Settings every provider takes in reconciler.yaml, besides its connection fields."""

    model_config = ConfigDict(extra="forbid")

    concurrency: int = Field(8, ge=1, le=64, description="Requests in flight at once")
    timeout_s: float = Field(30.0, gt=0, description="Timeout of each request, in seconds")
    max_attempts: int = Field(8, ge=1, le=20, description="Tries per request on 429/5xx/network")
    request_deadline_s: float = Field(
        120.0, gt=0, le=86_400, allow_inf_nan=False,
        description="Most seconds one request may take, connection, headers and body together")
    max_retry_wait_s: float = Field(
        300.0, ge=0, le=86_400, allow_inf_nan=False,
        description="Most seconds one run waits on this vendor between tries (Retry-After, "
                    "rate-limit resets, backoff), all requests together")
    max_response_mb: float = Field(
        16.0, gt=0, le=4_096, allow_inf_nan=False,
        description="Largest answer read whole, in MB (list answers stream item by item)")
    max_list_items: int = Field(
        200_000, ge=1, le=100_000_000,
        description="Most items in one list answer (each item kept costs memory)")
    allow_insecure_http: bool = Field(False, description="Allow http:// to non-loopback hosts")
    prune: bool = Field(False, description="Also delete remote objects never managed by the tool")
    ignore_changes: dict[str, list[str]] = Field(
        default_factory=dict, description="Per kind collection: fields never diffed")
    ignore_unmanaged: list[str] = Field(
        default_factory=list, description=(
            "Natural keys (globs) of remote objects never managed by reconciler that plan and "
            "drift do not report, e.g. the objects a tenant ships with"))
    max_change_percent: float = Field(
        30.0, ge=0, le=100, description="Safety: most updates+deletes, as % of managed objects")
    threshold_min_objects: int = Field(
        10, ge=0, description="Safety: the percentage applies once this many objects are managed")
    max_changes: int | None = Field(
        None, ge=0, description="Safety: most updates+deletes in one apply (none by default)")

    def secrets(self) -> list[str]:
        """Every credential value, so that messages can be scrubbed of them."""
        return []

    def loaded(self) -> None:
        """Called once every manifest is checked: drop what `Kind.check` kept to compare
        objects with each other (it is not needed after loading, and a plan's peak memory
        comes later, while the state and the vendors' lists are read)."""

    def default_delete_mode(self, kind: type[KindSpec]) -> DeleteMode | None:
        """What removing an object of `kind` does unless the object says (on_delete); None: the
        kind's first delete mode."""
        return None

    def forgets_undeletable(self) -> bool:
        """Whether removing an object the vendor cannot delete only forgets it (a provider
        whose kinds cannot delete declares a setting for it); else such a plan is refused."""
        return False


class Provider(ABC):
    name: ClassVar[str]
    settings_model: ClassVar[type[ProviderSettings]]
    kinds: ClassVar[tuple[type[Kind], ...]]
    builtin_objects: ClassVar[tuple[str, ...]] = ()  # natural keys every tenant ships with

    def __init__(self, settings: ProviderSettings) -> None:
        self.settings = settings
        self.client = self.make_client(settings)
        self.client.bound(settings.request_deadline_s, settings.max_retry_wait_s,
                          settings.max_response_mb, settings.max_list_items)
        self.kind_objects = {kind.name: kind(self.client, settings) for kind in self.kinds}

    @abstractmethod
    def make_client(self, settings: ProviderSettings) -> VendorClient: ...

    async def aclose(self) -> None:
        await self.client.aclose()

"""Plan -> provider calls -> State, one change at a time, vendors in parallel.

Each vendor runs its phases in order (deletes that free a key, then writes,
then other deletes); within a phase its changes run concurrently, bounded by
the vendor client. The first error of a vendor stops that vendor's remaining
changes; other vendors carry on, and every finished change is in the state.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

from reconciler.errors import (
    AmbiguousWriteError,
    AnswerError,
    ConflictError,
    PlanError,
    ReconcilerError,
)
from reconciler.manifest.loader import Desired
from reconciler.plan.diff import field_diffs
from reconciler.plan.model import Action, Change, Plan, Reason, counts
from reconciler.providers.base import DeleteMode, Kind, RemoteObject, RemoteStatus
from reconciler.providers.connected import Providers
from reconciler.state.base import Forgotten, Pending, Resource, StateWriter, now

MAX_CREATE_ATTEMPTS = 4
Progress = Callable[[Change, str | None], None]
"""Called after each change with None on success or the error message. A progress that also
has `timed(change, remote_id, seconds, adopted)` is told, first, what each success took."""


@dataclass
class ApplyResult:
    applied: list[Change] = field(default_factory=list)
    errors: list[ReconcilerError] = field(default_factory=list)
    not_started: int = 0
    adopted: set[str] = field(default_factory=set)  # creates that found the object (409, lost answer)

    @property
    def ok(self) -> bool:
        return not self.errors

    def tally(self) -> dict[str, int]:
        """What was done, honestly: a create that found its object is adopted, a deactivation
        is not a delete, a move is neither."""
        done = counts(self.applied, self.adopted)
        done["update"] += done.pop("state_only")  # applied: its record was written
        del done["refused"]  # a refused change is never applied
        return {_DONE[category]: n for category, n in done.items()}


_DONE = {"create": "created", "update": "updated", "delete": "deleted", "deactivate": "deactivated",
         "adopt": "adopted", "move": "moved", "push": "pushed", "forget": "forgotten",
         "replace": "replaced"}


class Applier:
    def __init__(self, providers: Providers, writer: StateWriter, desired: Desired,
                 progress: Progress | None = None, verify: bool = False) -> None:
        self.providers = providers
        self.writer = writer
        self.desired = desired  # write-only content is read from the manifests, not the plan
        self.progress = progress
        self.verify = verify  # re-read each touched object and compare fingerprints first
        self.adopted: set[str] = set()
        self._owners: dict[tuple[str, str, str], str] | None = None  # remote id -> address

    async def apply(self, plan: Plan) -> ApplyResult:
        result = ApplyResult()
        by_vendor: dict[str, list[Change]] = defaultdict(list)
        for change in plan.changes:
            by_vendor[change.vendor].append(change)
        await asyncio.gather(*(self._vendor(changes, result) for changes in by_vendor.values()))
        result.adopted = self.adopted
        return result

    async def _vendor(self, changes: list[Change], result: ApplyResult) -> None:
        """As many workers as the vendor takes requests at once, each taking the next change:
        only changes in flight have an intent in the journal and a coroutine in memory."""
        failed: list[ReconcilerError] = []
        width = max(1, self.providers.by_name[changes[0].vendor].settings.concurrency)
        for phase in sorted({c.phase for c in changes}):
            batch = iter([c for c in changes if c.phase == phase])
            await asyncio.gather(*(self._worker(batch, failed, result) for _ in range(width)))
            if failed:
                result.not_started += sum(1 for c in changes if c.phase > phase)
                return

    async def _worker(self, todo: Iterator[Change], failed: list[ReconcilerError],
                      result: ApplyResult) -> None:
        for change in todo:  # one iterator shared by the workers: each change is taken once
            await self._guarded(change, failed, result)

    async def _guarded(self, change: Change, failed: list[ReconcilerError],
                       result: ApplyResult) -> None:
        if failed:
            result.not_started += 1
            return
        started = time.monotonic()
        try:
            await self.execute(change)
        except ReconcilerError as exc:
            error = exc.at(change.address)
            failed.append(error)
            result.errors.append(error)
            self._report(change, str(error))
            return
        result.applied.append(change)
        timed = getattr(self.progress, "timed", None)
        if timed is not None:
            recorded = self.writer.doc.resources.get(change.address)
            timed(change, recorded.remote_id if recorded else change.remote_id,
                  time.monotonic() - started, change.address in self.adopted)
        # A create that found its object (a lost answer, a 409) is reported as the summary
        # counts it: adopted.
        self._report(replace(change, action=Action.ADOPT) if change.action is Action.CREATE
                     and change.address in self.adopted else change, None)

    def _report(self, change: Change, error: str | None) -> None:
        if self.progress:
            self.progress(change, error)

    async def execute(self, change: Change) -> None:
        kind = self.providers.kind(change.vendor, change.kind)
        if self.verify and change.fingerprint and change.remote_id:
            await verify_fingerprint(kind, change)
        match change.action:
            case Action.CREATE:
                await self._create(kind, change)
            case Action.ADOPT | Action.UPDATE:
                await self._update(kind, change)
            case Action.DELETE:
                await self._delete(kind, change)
            case Action.FORGET:
                await self.writer.forget(change.address, _remembered(change))
            case Action.MOVE:
                await self._move(kind, change)
            case Action.REPLACE:
                await self._replace(kind, change)
            case Action.PUSH:
                await self._push(kind, change)
            case Action.NOOP:
                pass

    def _owner(self, change: Change, remote_id: str) -> str | None:
        """The address already recorded with this remote id of the same kind (built once, on
        the first question, and kept current by `_record`)."""
        if self._owners is None:
            self._owners = {(r.vendor, r.kind, r.remote_id): a
                            for a, r in self.writer.doc.resources.items() if r.remote_id}
        return self._owners.get((change.vendor, change.kind, remote_id))

    async def _record(self, change: Change, remote: RemoteObject) -> None:
        if self._owners is not None:
            self._owners[(change.vendor, change.kind, remote.remote_id)] = change.address
        await self.writer.put(change.address, Resource(
            vendor=change.vendor, kind=change.kind, remote_id=remote.remote_id,
            attributes=remote.attributes, meta={k: v for k, v in change.meta.items() if v},
            prevent_destroy=bool(change.meta.get("prevent_destroy")),
            schema_version=self.providers.kind(change.vendor, change.kind).schema_version))

    async def _create(self, kind: Kind, change: Change) -> None:
        assert change.attributes is not None
        await self.writer.intend(change.address, Pending(
            vendor=change.vendor, kind=change.kind, action="create", identity=change.identity,
            started_at=now()))
        remote: RemoteObject | None = None
        attempts = max(MAX_CREATE_ATTEMPTS, kind.settings.max_attempts)
        for attempt in range(1, attempts + 1):
            try:
                remote = await kind.create(change.attributes)
                break
            except (AmbiguousWriteError, ConflictError) as exc:
                # The object may exist (lost response) or does exist (409): find it by key.
                found = await exact_lookup(kind, change.identity) if change.identity else None
                if found is not None:
                    remote = found
                    self.adopted.add(change.address)
                    break
                if isinstance(exc, ConflictError) or attempt == attempts:
                    raise
                await asyncio.sleep(min(0.05 * 2 ** attempt, 5.0))
        assert remote is not None
        owner = self._owner(change, remote.remote_id)
        if owner is not None and owner != change.address:
            raise AnswerError(change.vendor, None, None, (
                f"the create answer names remote id {remote.remote_id}, which the state already "
                f"records as {owner}; not recorded (one remote object cannot be two addresses: "
                f"check the object in {change.vendor})"))
        await self._record(change, remote)
        if field_diffs(change.attributes, remote.attributes) or kind.needs_revive(change.attributes, remote):
            updated = await kind.update(remote.remote_id, change.attributes,
                                        frozenset(change.attributes), remote)
            await self._record(change, about(change, remote.remote_id, updated))

    async def _update(self, kind: Kind, change: Change) -> None:
        assert change.attributes is not None and change.remote_id is not None
        # The object as observed at plan time, whole: a vendor whose update replaces the object
        # (a PUT) must send back what it is not changing, never a partial object.
        seen = change.before if change.before is not None else {
            d.top: d.before for d in change.diffs if len(d.path) == 1}
        current = RemoteObject(change.remote_id, dict(seen))
        if change.action is Action.ADOPT:
            # Managed from now on, recorded whole as observed: should the update below fail,
            # the state holds the object (natural key included), not the fields about to change.
            await self._record(change, RemoteObject(change.remote_id, dict(
                change.before if change.before is not None else current.attributes)))
        if not change.diffs and not change.revive:
            # Only lifecycle settings changed: nothing to send. The record is the object as
            # observed, not the manifest: an ignored field keeps the value it really has.
            resource_remote = RemoteObject(change.remote_id, dict(
                change.before if change.before is not None else change.attributes))
            await self._record(change, resource_remote)
            return
        if change.revive:
            current = await kind.read(change.remote_id) or current
        changed = frozenset(d.top for d in change.diffs)
        updated = await kind.update(change.remote_id, change.attributes, changed, current)
        await self._record(change, about(change, change.remote_id, updated))

    async def _move(self, kind: Kind, change: Change) -> None:
        """A renamed key: one journal entry moves the state record (a crash never leaves it
        under both addresses, where the old one would be deleted, or under neither)."""
        assert change.moved_from is not None and change.remote_id is not None
        old = self.writer.doc.resources.get(change.moved_from)
        if old is None or old.remote_id != change.remote_id:
            raise PlanError(f"{change.moved_from} is no longer recorded with remote id "
                            f"{change.remote_id}; run plan again")
        await self.writer.move(change.moved_from, change.address, Resource(
            vendor=change.vendor, kind=change.kind, remote_id=change.remote_id,
            attributes=old.attributes, meta={k: v for k, v in change.meta.items() if v},
            prevent_destroy=bool(change.meta.get("prevent_destroy")),
            schema_version=old.schema_version))
        if not change.state_only:
            await self._update(kind, change)

    async def _delete(self, kind: Kind, change: Change) -> None:
        assert change.remote_id is not None
        await self.writer.intend(change.address, Pending(
            vendor=change.vendor, kind=change.kind, action="delete", identity=change.identity,
            remote_id=change.remote_id, started_at=now()))
        current = await kind.read(change.remote_id) if change.delete_mode == "deactivate" else None
        await kind.delete(change.remote_id, DeleteMode(change.delete_mode or "hard"), current)
        await self.writer.remove(change.address)

    async def _replace(self, kind: Kind, change: Change) -> None:
        """-replace: delete, then create under the same address. Each step has its intent in
        the journal: interrupted between them, the next plan creates (or adopts) it again."""
        assert change.remote_id is not None
        await self.writer.intend(change.address, Pending(
            vendor=change.vendor, kind=change.kind, action="delete", identity=change.identity,
            remote_id=change.remote_id, started_at=now()))
        await kind.delete(change.remote_id, DeleteMode.HARD, None)
        await self._create(kind, change)

    async def _push(self, kind: Kind, change: Change) -> None:
        """The plan holds only a digest of write-only content (it may be personal data); the
        content comes from the manifests, and must still match that digest."""
        obj = self.desired.objects.get(change.address)
        if obj is None or kind.state_attributes(obj.attributes) != change.attributes:
            raise PlanError("its content in the manifests changed since the plan was made; "
                            "run plan again")
        await self.writer.intend(change.address, Pending(
            vendor=change.vendor, kind=change.kind, action="push", started_at=now()))
        try:
            pushed = await kind.push(obj.attributes)
        except AmbiguousWriteError:
            raise  # the intent stays: the next plan says the records may have been written
        except ReconcilerError:
            await self.writer.resolve(change.address)  # refused: nothing was written
            raise
        meta = {**{k: v for k, v in change.meta.items() if v}, **pushed.meta}
        await self.writer.put(change.address, Resource(
            vendor=change.vendor, kind=change.kind, remote_id=None,
            attributes=dict(change.attributes), meta=meta,
            prevent_destroy=bool(change.meta.get("prevent_destroy")),
            schema_version=kind.schema_version))


def about(change: Change, remote_id: str, answer: RemoteObject) -> RemoteObject:
    """The answer to a write, when it is about the object addressed; an answer naming another
    object is not believed (the state keeps the address's own id)."""
    if answer.remote_id != remote_id:
        raise AnswerError(change.vendor, None, None, (
            f"the answer to the update of remote id {remote_id} is about remote id "
            f"{answer.remote_id}; not believed, the state keeps {remote_id} (check both objects "
            f"in {change.vendor})"))
    return answer


def _remembered(change: Change) -> Forgotten | None:
    """A forgotten object that stays at the vendor is remembered (drift calls it forgotten,
    not unmanaged); one already gone, or write-only content, is not."""
    if change.remote_id is None or change.why not in (Reason.FORGET_NO_DELETE_API,
                                                      Reason.FORGET_INACTIVE):
        return None
    return Forgotten(vendor=change.vendor, kind=change.kind, remote_id=change.remote_id,
                     identity=change.identity, forgotten_at=now())


async def exact_lookup(kind: Kind, identity: str) -> RemoteObject | None:
    """A natural-key lookup that accepts only an exact match: a vendor's search may match
    loosely (Outreach's filter[name] reads `,` as a list), so a near miss is never adopted;
    then the full listing is scanned, preferring a live object."""
    found = await kind.lookup(identity)
    if found is not None and kind.identity(found.attributes) == identity:
        return found
    matches = [o for o in await kind.list() if kind.identity(o.attributes) == identity]
    matches.sort(key=lambda o: o.status is RemoteStatus.PRESENT)
    return matches[-1] if matches else None


async def verify_fingerprint(kind: Kind, change: Change) -> None:
    """Refuse to write an object that changed remotely since the plan was made. (The message
    leaves out the address: the applier puts it in front of every change's error.)"""
    assert change.remote_id is not None
    current = await kind.read(change.remote_id)
    if current is None:
        raise PlanError(f"the remote object {change.remote_id} is gone since the plan was made; "
                        "run plan again")
    if current.fingerprint() != change.fingerprint:
        raise PlanError(f"the remote object changed since the plan was made "
                        f"(now {current.attributes}); run plan again and review it")

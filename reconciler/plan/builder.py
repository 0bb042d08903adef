"""Desired x State x Observed -> Plan. Pure: no I/O, no vendor knowledge beyond Kind's contract."""

from __future__ import annotations

import fnmatch
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from reconciler.manifest.loader import Desired, DesiredObject
from reconciler.plan.diff import field_diffs
from reconciler.plan.model import Action, Change, FieldDiff, Phase, Plan, Reason, Refusal
from reconciler.providers.base import DeleteMode, KindSpec, RemoteObject, RemoteStatus
from reconciler.state import Pending, Resource, StateDoc

Observed = dict[str, list[RemoteObject]]
"""kind address ("outreach.call_purpose") -> every remote object of that kind."""


@dataclass(frozen=True)
class PlanOptions:
    """Everything that shapes a plan besides its three inputs; scope included, so a plan is
    scoped as it is built, never trimmed afterwards."""

    targets: Sequence[str] = ()
    excludes: Sequence[str] = ()
    forget: Sequence[str] = ()  # addresses to stop managing when the vendor cannot delete
    replace: Sequence[str] = ()  # -replace: delete and create again (where the vendor deletes)
    prune: frozenset[str] = frozenset()  # vendors whose unmanaged objects are deleted
    forget_undeletable: frozenset[str] = frozenset()  # vendors configured to forget instead
    ignore: dict[str, tuple[str, ...]] = field(default_factory=dict)  # kind address -> fields
    delete_modes: dict[str, DeleteMode] = field(default_factory=dict)  # kind address -> default
    ignore_unmanaged: dict[str, tuple[str, ...]] = field(default_factory=dict)  # vendor -> globs


def ignored_unmanaged(kind: type[KindSpec], obj: RemoteObject, patterns: Sequence[str]) -> bool:
    """An unmanaged object the provider settings leave unreported (ignore_unmanaged): a glob
    matching its natural key's value (`#Process`) or its identity (`name:Rogue`)."""
    if not patterns:
        return False
    value = obj.attributes.get(kind.natural_key)
    candidates = [str(value)] if value is not None else []
    identity = kind.identity(obj.attributes)
    candidates += [identity] if identity is not None else []
    return any(fnmatch.fnmatchcase(c, p) for c in candidates for p in patterns)


def unmatched_patterns(options: PlanOptions, addresses: Iterable[str]) -> list[str]:
    """--target/--exclude patterns that match no address: a typo that would scope the plan to
    nothing (or exclude nothing) must be an error, not a silent "No changes"."""
    flagged = [(f"--target {p}", p) for p in options.targets]
    flagged += [(f"--exclude {p}", p) for p in options.excludes]
    flagged += [(f"--replace {p}", p) for p in options.replace]
    left = dict(flagged)
    for address in addresses:
        for name, pattern in list(left.items()):
            if fnmatch.fnmatchcase(address, pattern):
                del left[name]
        if not left:
            break
    return list(left)


_LOOK_ALIKE = str.maketrans(
    "аеорсухіјѕԁӏвкмнтαβεζηικμνοτυχρ",
    "aeopcyxijsdlbkmhtabezhikmnotyxp")
"""Cyrillic and Greek letters drawn like Latin ones (after casefold)."""


def looks(text: str) -> str:
    """What a name looks like: Unicode compatibility form, case, outer and repeated spaces,
    look-alike letters all set aside (for warnings, never for matching)."""
    folded = unicodedata.normalize("NFKC", text).casefold().translate(_LOOK_ALIKE)
    return " ".join(folded.split())


def in_scope(address: str, options: PlanOptions) -> bool:
    if options.targets and not any(fnmatch.fnmatchcase(address, p) for p in options.targets):
        return False
    return not any(fnmatch.fnmatchcase(address, p) for p in options.excludes)


@dataclass
class _Draft:
    """The plan while it is built; make_plan hands out a frozen Plan made from it."""

    changes: list[Change] = field(default_factory=list)
    unchanged: int = 0
    skipped: int = 0
    unmanaged: dict[str, list[str]] = field(default_factory=dict)
    not_observable: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def make_plan(desired: Desired, state: StateDoc, observed: Observed,
              kinds: dict[str, type[KindSpec]], options: PlanOptions, directory: str,
              target: dict[str, Any] | None = None) -> Plan:
    plan = _Draft()
    plan.warnings += [f"{folder}: another project (it has its own reconciler.yaml): skipped, "
                      "not read as manifests" for folder in desired.nested]
    wanted: dict[str, list[DesiredObject]] = defaultdict(list)
    for obj in desired.objects.values():
        wanted[obj.kind_address].append(obj)
    managed: dict[str, dict[str, Resource]] = defaultdict(dict)
    for address, resource in state.resources.items():
        managed[f"{resource.vendor}.{resource.kind}"][address] = resource
    # Kinds with only a trace (an interrupted create's orphan, never-managed objects a pruned
    # vendor holds) are planned too: otherwise their objects are never deleted nor reported.
    traces = {f"{p.vendor}.{p.kind}" for a, p in state.pending.items() if a not in state.resources}
    traces |= {a for a in observed if a in kinds and kinds[a].vendor in options.prune}
    for kind_address in sorted(set(wanted) | set(managed) | (traces & set(kinds))):
        kind = kinds.get(kind_address)
        if kind is None:
            plan.warnings.append(f"{kind_address}: in state but its provider is not configured; "
                                 "left alone")
            continue
        interrupted = {a: p for a, p in state.pending.items()
                       if f"{p.vendor}.{p.kind}" == kind_address and a not in state.resources}
        planner = _KindPlanner(kind, kind_address, plan, options)
        planner.maybe_pushed = {a for a, p in state.pending.items()
                                if p.action == "push" and f"{p.vendor}.{p.kind}" == kind_address}
        planner.forgotten = {f.remote_id for f in state.forgotten.values()
                             if f"{f.vendor}.{f.kind}" == kind_address}
        planner.run(
            wanted.get(kind_address, []), managed.get(kind_address, {}),
            observed.get(kind_address, []), interrupted)
    plan.changes.sort(key=lambda c: (c.phase, c.address))
    scope = {"targets": tuple(options.targets), "excludes": tuple(options.excludes),
             "forget": tuple(options.forget)}
    if options.replace:  # only when given: plans without it keep their checksum
        scope["replace"] = tuple(options.replace)
    return Plan(tuple(plan.changes), plan.unchanged, state.lineage, state.serial, desired.digest,
                directory, unmanaged={v: tuple(x) for v, x in plan.unmanaged.items()},
                not_observable=tuple(plan.not_observable),
                skipped=plan.skipped, warnings=tuple(plan.warnings), target=target or {},
                scope=scope)


def _refresh_reason(stale: Sequence[FieldDiff]) -> str:
    """Terraform's refresh: the vendor already holds the manifests' values (an update that
    landed, but whose record an interrupted run never wrote); only the record is written."""
    fields = ", ".join(sorted({d.top for d in stale}))
    return (f"refresh (state only): the remote object already equals the manifests, but the "
            f"state recorded other values ({fields}); its record is refreshed, no vendor call")


class _KindPlanner:
    def __init__(self, kind: type[KindSpec], kind_address: str, plan: _Draft, options: PlanOptions) -> None:
        self.kind = kind
        self.kind_address = kind_address
        self.plan = plan
        self.options = options
        self.ignore = options.ignore.get(kind_address, ())
        self.maybe_pushed: set[str] = set()  # write-only pushes whose outcome is unknown
        self.forgotten: set[str] = set()  # remote ids let go with --forget: not unmanaged

    def run(self, wanted: list[DesiredObject], managed: dict[str, Resource],
            remote: list[RemoteObject], interrupted: dict[str, Pending]) -> None:
        self.remote = remote
        self._folded: dict[tuple[str, str], list[RemoteObject]] | None = None  # on first create
        self._by_identity: dict[str, RemoteObject] | None = None  # on first create or orphan
        by_id = {o.remote_id: o for o in remote}
        claimed = {r.remote_id for r in managed.values() if r.remote_id in by_id}
        wanted_addresses = {obj.address for obj in wanted}
        moves = self.pair_moves(wanted, managed, wanted_addresses, by_id)
        creates: set[str] = set()
        scoped = bool(self.options.targets or self.options.excludes)  # else all are in scope
        self._metas: dict[int, dict[str, Any]] = {}  # lifecycle -> its state_meta(), read only
        for obj in wanted:
            if scoped and not in_scope(obj.address, self.options):
                self.plan.skipped += 1
                continue
            old = moves.get(obj.address)
            resource = managed[old] if old else managed.get(obj.address)
            change = self.plan_object(obj, resource, by_id, claimed)
            if old is not None:
                change = self._as_move(obj, old, resource, change, by_id)
            if change is None:
                self.plan.unchanged += 1
            else:
                if change.action is Action.CREATE and change.identity:
                    creates.add(change.identity)
                self.plan.changes.append(change)
        moved = set(moves.values())
        for address, resource in sorted(managed.items()):
            if address in wanted_addresses or address in moved:
                continue
            if not in_scope(address, self.options):
                self.plan.skipped += 1
                continue
            self.plan_removal(address, resource, by_id.get(resource.remote_id or ""), creates)
        for address, pending in sorted(interrupted.items()):
            if address not in wanted_addresses and in_scope(address, self.options):
                self.plan_orphan(address, pending, claimed)
        if self.kind.observable:
            self.plan_unmanaged(remote, claimed)
        else:
            self.plan.not_observable.append(self.kind_address)

    def by_identity(self) -> dict[str, RemoteObject]:
        """The remote objects by natural key (a live one where several share it), made when a
        create or an orphan first needs it: a no-op plan computes no key."""
        if self._by_identity is None:
            self._by_identity = {}
            for o in self.remote:
                identity = self.kind.identity(o.attributes)
                if identity is not None and (identity not in self._by_identity
                                             or o.status is RemoteStatus.PRESENT):
                    self._by_identity[identity] = o
        return self._by_identity

    def pair_moves(self, wanted: list[DesiredObject], managed: dict[str, Resource],
                   wanted_addresses: set[str], by_id: dict[str, RemoteObject]) -> dict[str, str]:
        """A key renamed in the manifests: an address gone from them and a new one with the same
        natural key are one object, moved in the state (new address -> old address)."""
        if managed.keys() <= wanted_addresses:  # nothing gone from the manifests: no key computed
            return {}
        gone: dict[str, str] = {}
        for address, resource in managed.items():
            identity = self.kind.identity(resource.attributes)
            if address not in wanted_addresses and identity is not None and self.kind.observable \
                    and resource.remote_id in by_id and in_scope(address, self.options):
                gone.setdefault(identity, address)
        moves: dict[str, str] = {}
        for obj in wanted:
            identity = self.kind.identity(obj.attributes)
            old = gone.pop(identity, None) if identity is not None else None
            if old is not None and obj.address not in managed and in_scope(obj.address, self.options):
                moves[obj.address] = old
        return moves

    def _as_move(self, obj: DesiredObject, old: str, resource: Resource | None,
                 change: Change | None, by_id: dict[str, RemoteObject]) -> Change:
        """The planned change of the renamed object, shown and applied as a move."""
        assert resource is not None and resource.remote_id is not None
        if change is None:
            current = by_id[resource.remote_id]
            change = Change(address=obj.address, vendor=obj.vendor, kind=obj.kind,
                            action=Action.MOVE, reason="", remote_id=resource.remote_id,
                            why=Reason.MOVE_KEY_RENAMED,
                            identity=self.kind.identity(obj.attributes), attributes=obj.attributes,
                            meta=obj.lifecycle.state_meta(), source=str(obj.source),
                            fingerprint=current.fingerprint(), before=current.attributes)
        state_only = not change.diffs and not change.revive
        return replace(change, action=Action.MOVE, moved_from=old, state_only=state_only,
                       why=Reason.MOVE_KEY_RENAMED, reason=(
            f"key renamed in the manifests ({old} -> {obj.address}); same "
            f"{self.kind.natural_key} {change.identity!r}, so the state entry moves"
            + ("" if state_only else " and the fields below are updated")))

    def plan_object(self, obj: DesiredObject, resource: Resource | None,
                    by_id: dict[str, RemoteObject], claimed: set[str]) -> Change | None:
        meta = self._metas.get(id(obj.lifecycle))  # most objects share one (no lifecycle block)
        if meta is None:
            meta = self._metas[id(obj.lifecycle)] = obj.lifecycle.state_meta()

        def base(**fields: Any) -> Change:  # made only for a change: most objects have none
            return Change(**{"address": obj.address, "vendor": obj.vendor, "kind": obj.kind,
                             "identity": self.kind.identity(obj.attributes),
                             "attributes": obj.attributes, "meta": obj.lifecycle.state_meta(),
                             "source": str(obj.source), **fields})

        if not self.kind.observable:
            pushed = self.kind.state_attributes(obj.attributes)
            if resource is not None and resource.attributes == pushed:
                return None
            reason = "content changed since the last push" if resource else "never pushed"
            why = Reason.PUSH_CONTENT_CHANGED if resource else Reason.PUSH_NEVER_PUSHED
            if obj.address in self.maybe_pushed:
                reason = ("an earlier push may have been written (its answer was lost); pushing "
                          "again may write records twice: check the vendor first")
                why = Reason.PUSH_MAYBE_WRITTEN
            return base(action=Action.PUSH, reason=reason, why=why, remote_id=None, attributes=pushed,
                        diffs=field_diffs(pushed, resource.attributes if resource else {}),
                        before=resource.attributes if resource else None)
        current = by_id.get(resource.remote_id or "") if resource else None
        if current is None:
            identity = self.kind.identity(obj.attributes)
            twin = self.by_identity().get(identity) if identity else None
            if twin is not None and twin.remote_id not in claimed:
                claimed.add(twin.remote_id)
                return self._adopt(obj, twin, base)
            reason = ("recorded in state but gone remotely (deleted outside reconciler)"
                      if resource else "declared in the manifests; no remote object")
            refused = self.look_alikes(obj.address, obj.attributes, claimed)
            return base(action=Action.CREATE, reason=reason, why=Reason.CREATE_DELETED_REMOTELY
                        if resource else Reason.CREATE_NO_REMOTE_OBJECT, refused=refused,
                        refusal=Refusal.UNIQUE_IN_ANOTHER_CASE if refused else None)
        ignore = (*self.ignore, *obj.lifecycle.ignore_changes) \
            if self.ignore or obj.lifecycle.ignore_changes else ()
        # One dict for both (reconciler.perf shares an equal listing's): equal, not compared.
        diffs = () if obj.attributes is current.attributes else field_diffs(
            obj.attributes, current.attributes, ignore)
        revive = self.kind.needs_revive(obj.attributes, current)
        assert resource is not None
        if self.options.replace and any(fnmatch.fnmatchcase(obj.address, p) for p in self.options.replace):
            return self._replace(obj, resource, current, base)
        # A natural key changed behind a recorded id is drift like any other field: the state
        # is bound to its target (reconciler/apply/binding.py), so the id names our object.
        state_meta_changed = resource is not None and (resource.meta or any(meta.values())) and any(
            resource.meta.get(k) != v for k, v in meta.items() if v or k in resource.meta)
        if not diffs and not revive:
            if state_meta_changed:
                return base(action=Action.UPDATE, reason="lifecycle settings changed (state only)",
                            why=Reason.UPDATE_LIFECYCLE_ONLY,
                              remote_id=current.remote_id, fingerprint=current.fingerprint(),
                              state_only=True,
                              before=current.attributes)
            # Shared dicts are equal (reconciler.perf): the common no-op costs no comparison.
            if resource.attributes is not obj.attributes \
                    and resource.attributes is not current.attributes \
                    and (stale := self.stale_record(resource, current, ignore)):
                return base(action=Action.UPDATE, why=Reason.UPDATE_STATE_REFRESH,
                            reason=_refresh_reason(stale), remote_id=current.remote_id,
                            fingerprint=current.fingerprint(), state_only=True,
                            before=current.attributes)
            return None
        reason = f"revive: remote object is {current.status}" if revive else "fields differ"
        return base(action=Action.UPDATE, reason=reason, remote_id=current.remote_id,
                    why=Reason.UPDATE_REVIVE if revive else Reason.UPDATE_FIELDS_DIFFER,
                      diffs=diffs, fingerprint=current.fingerprint(), revive=revive,
                      before=current.attributes)

    def look_alikes(self, address: str, attributes: dict[str, Any],
                    claimed: set[str]) -> str | None:
        """Before a create: a remote object whose value differs only in case where the vendor
        ignores case (the create would fail: the refusal), or whose natural key only looks
        the same (case, spaces, Unicode form, a Cyrillic letter: a warning naming both)."""
        if self._folded is None:
            self._folded = defaultdict(list)
            for o in self.remote:
                if o.status is not RemoteStatus.DELETED:
                    for field_name in {self.kind.natural_key, *self.kind.unique_ignoring_case}:
                        value = o.attributes.get(field_name)
                        if isinstance(value, str):
                            self._folded[(field_name, looks(value))].append(o)
        for field_name in self.kind.unique_ignoring_case:
            value = attributes.get(field_name)
            if not isinstance(value, str):
                continue
            for other in self._folded.get((field_name, looks(value)), ()):
                theirs = other.attributes.get(field_name)
                if isinstance(theirs, str) and theirs.casefold() == value.casefold():
                    return (f"remote object {other.remote_id} has {field_name} {theirs!r}, and "
                            f"{self.kind.vendor} keeps each {field_name} unique without regard "
                            f"to case, so creating {value!r} would fail: declare that object's "
                            f"exact {field_name} to adopt it, or choose another")
        value = attributes.get(self.kind.natural_key)
        if isinstance(value, str):
            for other in self._folded.get((self.kind.natural_key, looks(value)), ()):
                theirs = other.attributes.get(self.kind.natural_key)
                if theirs != value:
                    self.plan.warnings.append(
                        f"{address}: creates {self.kind.natural_key} {value!r}, which looks "
                        f"like {theirs!r} of remote object {other.remote_id} (they differ only "
                        "in case, spaces, Unicode form or look-alike letters); if they are "
                        "the same, declare the remote spelling to adopt it")
                    break
        return None

    def stale_record(self, resource: Resource, current: RemoteObject,
                     ignore: Sequence[str]) -> list[FieldDiff]:
        """Where the record differs from the remote object, as the vendor compares values."""
        return [d for d in field_diffs(resource.attributes, current.attributes, ignore)
                if len(d.path) > 1 or not self.kind.same_value(d.top, d.after, d.before)]

    def _replace(self, obj: DesiredObject, resource: Resource, current: RemoteObject,
                 base: Callable[..., Change]) -> Change:
        """-replace: the object is deleted and created again, where the vendor deletes for
        real (a deactivation or a soft delete would leave the natural key taken)."""
        change = base(action=Action.REPLACE, why=Reason.REPLACE_BY_REQUEST,
                      reason="replacement requested (-replace): deleted, then created again",
                      remote_id=current.remote_id, delete_mode=DeleteMode.HARD,
                      fingerprint=current.fingerprint(), before=current.attributes)
        if DeleteMode.HARD not in self.kind.delete_modes:
            return replace(change, refusal=Refusal.NO_DELETE_API, refused=(
                f"cannot be replaced: {self.kind.vendor} cannot delete a {self.kind.name} (only "
                f"{', '.join(str(m) for m in self.kind.delete_modes)}); drop -replace"))
        if resource.meta.get("prevent_destroy") or resource.prevent_destroy \
                or obj.lifecycle.prevent_destroy:
            return replace(change, refusal=Refusal.PREVENT_DESTROY, refused=(
                "prevent_destroy is set on it: a replacement deletes it first"))
        return change

    def _adopt(self, obj: DesiredObject, twin: RemoteObject, base: Callable[..., Change]) -> Change:
        ignore = (*self.ignore, *obj.lifecycle.ignore_changes)
        revive = self.kind.needs_revive(obj.attributes, twin)
        reason = f"a remote object with the same {self.kind.natural_key} exists"
        if revive:
            reason += f" ({twin.status}: it will be revived)"
        return base(action=Action.ADOPT, reason=reason, remote_id=twin.remote_id,
                    why=Reason.ADOPT_NATURAL_KEY_MATCH,
                      diffs=field_diffs(obj.attributes, twin.attributes, ignore),
                      fingerprint=twin.fingerprint(), revive=revive, before=twin.attributes)

    def plan_removal(self, address: str, resource: Resource, current: RemoteObject | None,
                     creates: set[str]) -> None:
        base = partial(Change, address=address, vendor=resource.vendor, kind=resource.kind,
                       remote_id=resource.remote_id,
                       identity=self.kind.identity(resource.attributes), meta=dict(resource.meta),
                       before=resource.attributes)
        if not self.kind.observable:
            self.plan.changes.append(base(action=Action.FORGET, why=Reason.FORGET_WRITE_ONLY, reason=(
                "removed from the manifests; a write-only API cannot delete what it pushed, so "
                "it is only removed from state")))
            return
        if current is None or current.status is RemoteStatus.DELETED:
            self.plan.changes.append(base(action=Action.FORGET, why=Reason.FORGET_GONE_REMOTELY, reason=(
                "removed from the manifests and already gone remotely")))
            return
        mode = self._delete_mode(resource)
        if mode is DeleteMode.DEACTIVATE and current.status is RemoteStatus.INACTIVE:
            self.plan.changes.append(base(action=Action.FORGET, why=Reason.FORGET_INACTIVE, reason=(
                "removed from the manifests and already inactive remotely")))
            return
        change = base(action=Action.DELETE, reason="removed from the manifests",
                      why=Reason.DELETE_NO_RESOURCE_CONFIG,
                      delete_mode=mode, fingerprint=current.fingerprint(),
                      before=current.attributes)
        if resource.meta.get("prevent_destroy") or resource.prevent_destroy:
            change = replace(change, refusal=Refusal.PREVENT_DESTROY, refused=(
                "prevent_destroy is set on it (kept in state after the manifest entry was "
                "removed); put the entry back, or set prevent_destroy: false and apply before "
                "removing it"))
        elif mode is DeleteMode.UNSUPPORTED and self._forgettable(address, resource.vendor):
            change = replace(change, action=Action.FORGET, delete_mode=None,
                             why=Reason.FORGET_NO_DELETE_API,
                             reason=(f"removed from the manifests; {resource.vendor} has no delete "
                                     "API, so it is only removed from state (the remote object stays)"))
        elif mode is DeleteMode.UNSUPPORTED:
            change = replace(change, refusal=Refusal.NO_DELETE_API, refused=(
                f"cannot delete ({resource.vendor} has no delete API); keep it in the manifests, "
                f"or stop managing it with --forget {address} (the remote object stays untouched)"))
        elif change.identity and change.identity in creates:
            change = replace(change, phase=Phase.FREE_KEY, why=Reason.DELETE_FREES_KEY, reason=(
                f"{change.reason}; deleted first to free {self.kind.natural_key} {change.identity!r}"))
        else:
            change = replace(change, phase=Phase.DELETE)
        self.plan.changes.append(change)

    def plan_orphan(self, address: str, pending: Pending, claimed: set[str]) -> None:
        """An interrupted run created this object but never recorded it, and it is no longer
        declared: it is ours, so it is removed rather than left as an orphan."""
        twin = self.by_identity().get(pending.identity or "")
        if twin is None or twin.remote_id in claimed or twin.status is not RemoteStatus.PRESENT:
            return
        claimed.add(twin.remote_id)
        mode = self.options.delete_modes.get(self.kind_address, self.kind.delete_modes[0])
        if mode is DeleteMode.UNSUPPORTED:
            return
        self.plan.changes.append(Change(
            address=address, vendor=self.kind.vendor, kind=self.kind.name, action=Action.DELETE,
            reason="created by an interrupted run and no longer declared", phase=Phase.DELETE,
            why=Reason.DELETE_INTERRUPTED_RUN,
            remote_id=twin.remote_id, identity=pending.identity, delete_mode=mode,
            fingerprint=twin.fingerprint(), before=twin.attributes))

    def _delete_mode(self, resource: Resource) -> DeleteMode:
        wanted = resource.meta.get("on_delete")
        if wanted == "deactivate" and DeleteMode.DEACTIVATE in self.kind.delete_modes:
            return DeleteMode.DEACTIVATE
        if wanted == "delete":
            for mode in (DeleteMode.HARD, DeleteMode.SOFT):
                if mode in self.kind.delete_modes:
                    return mode
        return self.options.delete_modes.get(self.kind_address, self.kind.delete_modes[0])

    def _forgettable(self, address: str, vendor: str) -> bool:
        return vendor in self.options.forget_undeletable or any(
            fnmatch.fnmatchcase(address, p) for p in self.options.forget)

    def plan_unmanaged(self, remote: list[RemoteObject], claimed: set[str]) -> None:
        ignored = self.options.ignore_unmanaged.get(self.kind.vendor, ())
        for obj in remote:
            if obj.remote_id in claimed or obj.status is not RemoteStatus.PRESENT:
                continue  # soft-deleted or switched off: not a live object anyone manages
            if obj.remote_id in self.forgotten:
                continue  # let go on purpose (--forget): neither reported nor pruned
            if ignored and ignored_unmanaged(self.kind, obj, ignored):
                continue  # e.g. a tenant's built-ins: neither reported nor pruned
            label = f"{self.kind_address} id={obj.remote_id} {self.kind.identity(obj.attributes)!r}"
            vendor = self.kind.vendor
            mode = self.options.delete_modes.get(self.kind_address, self.kind.delete_modes[0])
            address = f"{self.kind_address}.~{obj.remote_id}"
            if vendor in self.options.prune and mode is not DeleteMode.UNSUPPORTED \
                    and in_scope(address, self.options):  # --target never prunes elsewhere
                self.plan.changes.append(Change(
                    address=address, vendor=vendor,
                    kind=self.kind.name, action=Action.DELETE, delete_mode=mode,
                    remote_id=obj.remote_id,
                    identity=self.kind.identity(obj.attributes), fingerprint=obj.fingerprint(),
                    before=obj.attributes,
                    reason="never managed by reconciler, and the provider sets prune: true",
                    why=Reason.DELETE_UNMANAGED_PRUNE,
                    phase=Phase.DELETE))
            else:
                self.plan.unmanaged.setdefault(vendor, []).append(label)

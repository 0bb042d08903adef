"""One manifest directory opened for work, and the runs made on it.

A Workspace holds the settings, the state backend and (while a run talks to vendors) the
live providers; its methods are the sequences every front end needs: plan (observe,
build, assess), apply (lock, re-plan or re-check a saved plan, confirm, execute,
checkpoint), drift (observe, compare; accept or write back under the lock) and import.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler.errors import ConfigError, ManifestError, ReconcilerError, RefusedError, StateError
from reconciler.manifest.loader import Desired, load_desired
from reconciler.manifest.settings import Settings, load_settings
from reconciler.perf import Sharing
from reconciler.plan.builder import Observed, PlanOptions, make_plan, unmatched_patterns
from reconciler.plan.model import Plan
from reconciler.plan.safety import assess, enforce
from reconciler.providers.base import DeleteMode, Kind, KindSpec
from reconciler.providers.connected import Providers
from reconciler.providers.registry import providers as provider_registry
from reconciler.state.base import Resource, StateBackend, StateDoc
from reconciler.state.registry import BACKENDS

if TYPE_CHECKING:
    from reconciler.apply.executor import ApplyResult, Progress
    from reconciler.drift.detect import DriftReport
    from reconciler.history.model import RunRecord

Notice = Callable[[str], None]
"""Where a run says what people should know while it waits (a lock held, a stale lock)."""

SANDBOX_STATE = "reconciler-state.json"
"""`--sandbox` runs keep their state here, inside the sandboxes' data folder."""


def _quiet(_: str) -> None:
    """The default Notice: say nothing."""


@dataclass(frozen=True)
class Scope:
    """--target / --exclude / --forget: inputs of building a plan, never applied to one after."""

    targets: tuple[str, ...] = ()
    excludes: tuple[str, ...] = ()
    forget: tuple[str, ...] = ()
    replace: tuple[str, ...] = ()  # -replace: recreate these (where the vendor deletes)

    @classmethod
    def of(cls, targets: list[str] | None = None, excludes: list[str] | None = None,
           forget: list[str] | None = None, replace: list[str] | None = None) -> Scope:
        return cls(tuple(targets or ()), tuple(excludes or ()), tuple(forget or ()),
                   tuple(replace or ()))

    @classmethod
    def saved(cls, plan: Plan) -> Scope:
        scope = plan.scope
        return cls(tuple(scope.get("targets", ())), tuple(scope.get("excludes", ())),
                   tuple(scope.get("forget", ())), tuple(scope.get("replace", ())))

    def __bool__(self) -> bool:
        return bool(self.targets or self.excludes or self.forget or self.replace)

    def refuse_for_saved(self) -> None:
        if self:
            raise ConfigError("--target/--exclude/--forget/--replace cannot change a saved plan: "
                              "it applies as reviewed; make a new plan with them instead")


@dataclass(frozen=True)
class Applied:
    """What apply did: the plan it executed (as checked now) and its result; no result when
    the plan had nothing to do."""

    plan: Plan
    result: ApplyResult | None


class Workspace:
    def __init__(self, settings: Settings, backend: StateBackend, sandbox: bool = False,
                 notice: Notice = _quiet, env: Mapping[str, str] | None = None) -> None:
        self.settings = settings
        self.env = env  # where the manifests' variables come from; None: the process environment
        self.backend = backend
        self.sandbox = sandbox  # run against sandboxes started by the caller, with their own state
        self.notice = notice
        self._desired: Desired | None = None
        self.last_run: RunRecord | None = None  # the record of the latest plan, apply or drift
        self.last_run_stored = False  # ... and whether the history holds it

    @property
    def environment(self) -> str | None:
        """Its name where reconciler.yaml declares environments."""
        return self.settings.environment

    # ---------------------------------------------------------------- opening ----

    @classmethod
    def open(cls, directory: Path, overrides: Mapping[str, Mapping[str, Any]] | None = None,
             env: Mapping[str, str] | None = None, offline: bool = False,
             notice: Notice = _quiet, environment: str | None = None) -> Workspace:
        """`environment`: one of the directory's environments (reconciler/engine/fleet.py
        opens several)."""
        settings = load_settings(directory, overrides, env, offline, environment=environment)
        return cls(settings, open_backend(settings), notice=notice, env=env)

    @classmethod
    def offline(cls, directory: Path, sandbox: bool = False, notice: Notice = _quiet,
                environment: str | None = None) -> Workspace:
        """For the state alone (state commands, force-unlock): no vendor credentials, no
        sandbox started; with `sandbox`, the state `--sandbox` runs keep beside its data."""
        if not sandbox:
            return cls.open(directory, offline=True, notice=notice, environment=environment)
        from reconciler.providers.sandboxes import provider_overrides
        from reconciler.state.local import LocalBackend

        settings = load_settings(directory, provider_overrides("http://127.0.0.1:1"),
                                 need_state=False, environment=environment)
        backend = LocalBackend(settings.sandbox_data / SANDBOX_STATE)
        backend.directory = _shell(directory) + " --sandbox"
        return cls(settings, backend, sandbox=True, notice=notice)

    @classmethod
    @contextmanager
    def session(cls, directory: Path, sandbox: bool = False, notice: Notice = _quiet,
                environment: str | None = None) -> Iterator[Workspace]:
        """Open the directory; with `sandbox`, first start the sandboxes its data lives in
        (their ids then live in a state of their own beside their data, never in the
        configured backend: sandbox and real ids must never meet in one state)."""
        if not sandbox:
            yield cls.open(directory, notice=notice, environment=environment)
            return
        from reconciler.providers.sandboxes import RunningSandbox, SandboxSettings, provider_overrides
        from reconciler.state.local import LocalBackend

        probe = load_settings(directory, provider_overrides("http://127.0.0.1:1"), need_state=False,
                              environment=environment)
        data = probe.sandbox_data
        with RunningSandbox(SandboxSettings(data_dir=data)) as running:
            settings = load_settings(directory, running.overrides, need_state=False,
                                     environment=environment)
            backend = LocalBackend(data / SANDBOX_STATE)
            backend.directory = _shell(directory) + " --sandbox"
            yield cls(settings, backend, sandbox=True, notice=notice)

    # ---------------------------------------------------------------- inputs ----

    def desired(self, env: Mapping[str, str] | None = None) -> Desired:
        """The manifests, loaded once per workspace (with `env`, loaded again from it)."""
        if env is not None:
            return load_desired(self.settings, env)
        if self._desired is None:
            self._desired = load_desired(self.settings, self.env)
        return self._desired

    def read_state(self, desired: Desired | None = None) -> StateDoc:
        """The state; given the manifests, sharing their attribute dicts where nothing changed."""
        if desired is not None:
            self.backend.sharing = Sharing({a: o.attributes for a, o in desired.objects.items()})
        return upgrade_state(self.backend.read(), self.kinds())

    def kinds(self) -> dict[str, type[Kind]]:
        """Kind classes of every configured provider, by kind address."""
        registry = provider_registry()
        return {f"{kind.vendor}.{kind.name}": kind
                for name in self.settings.providers for kind in registry[name].kinds}

    def target(self) -> dict[str, Any]:
        """What a plan made here is bound to (see reconciler/apply/binding.py)."""
        from reconciler.apply.binding import plan_target

        return plan_target(self.settings, self.backend, self.sandbox)

    def bound_to(self) -> dict[str, Any]:
        """What the state records it is applied to (see binding.check_bound)."""
        from reconciler.apply.binding import endpoints

        return dict(endpoints(self.settings, self.sandbox))

    def check_bound(self, state: StateDoc) -> None:
        from reconciler.apply.binding import check_bound

        check_bound(state, self.bound_to(), self.backend.describe())

    def plan_options(self, scope: Scope = Scope()) -> PlanOptions:
        providers = self.settings.providers
        ignore: dict[str, tuple[str, ...]] = {}
        delete_modes: dict[str, DeleteMode] = {}
        for kind_address, kind in self.kinds().items():
            vendor = providers[kind.vendor]
            fields = vendor.ignore_changes.get(kind.collection, [])
            if fields:
                ignore[kind_address] = tuple(fields)
            default = vendor.default_delete_mode(kind)
            if default is not None:
                delete_modes[kind_address] = default
        return PlanOptions(
            targets=scope.targets, excludes=scope.excludes, forget=scope.forget,
            replace=scope.replace,
            prune=frozenset(n for n, p in providers.items() if p.prune),
            forget_undeletable=frozenset(n for n, p in providers.items() if p.forgets_undeletable()),
            ignore=ignore, delete_modes=delete_modes,
            ignore_unmanaged={n: tuple(p.ignore_unmanaged) for n, p in providers.items()
                              if p.ignore_unmanaged})

    def connect(self, desired: Desired | None = None) -> Providers:
        """Live providers for one run (`async with`); they know what `desired` declares."""
        registry = provider_registry()
        declared: dict[str, list[dict[str, Any]]] = {}
        for obj in (desired.objects.values() if desired is not None else ()):
            declared.setdefault(obj.kind_address, []).append(obj.attributes)
        return Providers({name: registry[name](settings)
                          for name, settings in self.settings.providers.items()}, declared)

    @contextmanager
    def lock(self, command: str, timeout_s: float) -> Iterator[None]:
        """Take the workspace lock, saying so when it waits or takes over from a run that died."""
        from reconciler.manifest.loader import state_folder

        state_folder(self.settings)  # a refused state path is refused before its lock file is made
        stale = self.backend.stale_holder()
        holder = None if stale is not None or timeout_s <= 0 else self.backend.lock_holder()
        if stale is not None:
            self.notice(f"Note: taking over a stale lock ({stale.describe()}; that process is gone).")
        elif holder is not None:  # Terraform's "Acquiring state lock", said only when it waits
            self.notice(f"Acquiring state lock… waiting up to {timeout_s:g}s for the "
                        f"{holder.describe()}")
        with self.backend.lock(command, timeout_s):
            if holder is not None:
                self.notice("State lock acquired.")
            yield

    # ---------------------------------------------------------------- runs ----

    async def observe(self, kind_addresses: set[str], providers: Providers,
                      state: StateDoc | None = None) -> Observed:
        """List the kinds asked for; given the state, its recorded ids are checked first
        (state/ids.py: never a malformed or doubled id in a request path)."""
        from reconciler.state.ids import check_recorded_ids

        recorded: dict[str, dict[str, dict[str, Any]]] = {}
        for resource in (state.resources.values() if state is not None else ()):
            if resource.remote_id is not None:
                recorded.setdefault(f"{resource.vendor}.{resource.kind}", {})[resource.remote_id] \
                    = resource.attributes
        if state is not None:
            check_recorded_ids(state, self.kinds(), recorded)
        return await providers.observe(kind_addresses, recorded)

    async def plan(self, scope: Scope = Scope()) -> Plan:
        """Observe the vendors and build the plan, with its safety verdicts; the plan is
        bound to this workspace's target. Recorded in the run history."""
        from reconciler.history import failed, from_plan, utc_now

        started = utc_now()
        try:
            made = await self._plan(scope)
        except ReconcilerError as exc:
            self._remember(partial(failed, "plan", exc, **self._run(started)), exc)
            raise
        self._remember(lambda: from_plan(made, **self._run(started)))
        return made

    async def _plan(self, scope: Scope = Scope(), *, providers: Providers | None = None,
                    state: StateDoc | None = None) -> Plan:
        desired = self.desired()
        if state is None:
            state = self.read_state(desired)
        if providers is None:
            async with self.connect(desired) as live:
                return await self._plan(scope, providers=live, state=state)
        self.check_bound(state)
        options = self.plan_options(scope)
        if options.targets or options.excludes or options.replace:
            unmatched = unmatched_patterns(options, [*desired.objects, *state.resources])
            if unmatched:
                raise ConfigError(
                    f"{', '.join(unmatched)}: matches no address in the manifests or the state; "
                    "check the spelling (addresses are <vendor>.<kind>.<key>, globs like "
                    f"'outreach.*' match several; `reconciler state list {_shell(self.settings.directory)}` "
                    "lists the managed ones)")
        kinds = self.kinds()
        observed = await self.observe(_in_play(self.settings, kinds, desired, state), providers, state)
        built = make_plan(desired, state, observed, dict(kinds), options,
                          str(self.settings.directory), self.target())
        del observed
        return assess(built, state, self.settings.providers)

    async def apply(self, plan: Plan | None = None, *, saved: Plan | None = None,
                    scope: Scope = Scope(), force: bool = False,
                    confirm: Callable[[Plan], None] | None = None,
                    progress: Progress | None = None, lock_timeout: float = 0.0) -> Applied:
        """Under the lock: plan now (or re-check `saved`, a plan file's plan, against now),
        refuse what a rail blocks, let `confirm` see the plan (it raises to cancel), execute.
        `plan`, a plan made by this workspace moments ago, is checked against the state as
        it is under the lock (same lineage and serial). Recorded in the run history."""
        from reconciler.history import from_apply, utc_now

        started = utc_now()
        try:
            applied = await self._apply(plan, saved, scope, force, confirm, progress, lock_timeout)
        except ReconcilerError as exc:
            self._remember(partial(from_apply, None, None, error=exc, **self._run(started)), exc)
            raise
        self._remember(lambda: from_apply(applied.plan, applied.result, **self._run(started)))
        return applied

    async def _apply(self, plan: Plan | None, saved: Plan | None, scope: Scope, force: bool,
                     confirm: Callable[[Plan], None] | None, progress: Progress | None,
                     lock_timeout: float) -> Applied:
        if saved is not None:
            scope.refuse_for_saved()
        with self.lock("apply", lock_timeout):
            desired = self.desired()
            state = self.read_state(desired)
            async with self.connect(desired) as providers:
                if saved is not None:
                    current = await self.recheck(saved, providers, state)
                elif plan is not None:
                    current = plan
                else:
                    current = await self._plan(scope, providers=providers, state=state)
                check_applicable(current, state, force)
                if not current.has_changes:
                    return Applied(current, None)
                if confirm is not None:
                    confirm(current)
                from reconciler.apply.verb import run_apply

                self.check_bound(state)
                result = await run_apply(current, state, desired, self.backend, providers, progress,
                                         verify=saved is not None, target=self.bound_to())
                return Applied(current, result)

    async def recheck(self, saved: Plan, providers: Providers, state: StateDoc) -> Plan:
        """Every check of a saved plan (reconciler/apply/binding.py), the world last: the plan
        is made again now and must plan each saved change identically."""
        from reconciler.apply.binding import check_manifests, check_state, check_target, still_holds

        check_target(saved, self.target())
        check_state(saved, state)
        check_manifests(saved, self.desired())
        fresh = await self._plan(Scope.saved(saved), providers=providers, state=state)
        return still_holds(saved, fresh, state, self.settings.providers)

    async def drift(self) -> DriftReport:
        """Compare the remote objects with the last applied state; writes nothing but the
        run's record in the history."""
        from reconciler.history import failed, from_drift, utc_now

        started = utc_now()
        try:
            report = await self._drift()
        except ReconcilerError as exc:
            self._remember(partial(failed, "drift", exc, **self._run(started)), exc)
            raise
        self._remember(lambda: from_drift(report, **self._run(started)))
        return report

    async def _drift(self) -> DriftReport:
        from reconciler.drift.detect import detect_drift

        state = self.read_state()
        self.check_bound(state)
        async with self.connect() as providers:
            # The records let a vendor spell a value as recorded (a Webex group stored in
            # capitals for a declared "Default" is no drift), as the plan observes; observing
            # with the state checks its recorded ids first (state/ids.py).
            observed = await self.observe(set(self.kinds()), providers, state)
        options = self.plan_options()
        return detect_drift(state, observed, self.kinds(), options.ignore, options.ignore_unmanaged)

    def accept_drift(self, report: DriftReport, write_back: bool = False,
                     lock_timeout: float = 0.0) -> tuple[list[str], int]:
        """Record the remote values into the state (and, with `write_back`, into the
        manifests) under the lock: the files written and the number of changes recorded."""
        from reconciler.authoring.writeback import write_back as write_back_manifests
        from reconciler.drift.detect import accept_drift

        desired = self.desired() if write_back else None
        with self.lock("drift", lock_timeout):
            files = write_back_manifests(report.items, desired, self.kinds()) if desired else []
            return files, accept_drift(self.backend, report.items)

    async def import_object(self, address: str, remote_id: str, lock_timeout: float = 0.0) -> Resource:
        """Adopt one existing remote object under an address the manifests declare."""
        from reconciler.engine.importer import import_object
        from reconciler.providers.ids import shown

        desired = self.desired()
        obj = desired.objects.get(address)
        if obj is None:
            raise ConfigError(f"{address}: not declared in the manifests; declare it first, then import")
        shape = self.kinds()[obj.kind_address].id_shape
        if shape is not None and not shape.valid(remote_id):
            raise ConfigError(f"{address}: {shown(remote_id)} is not {shape.what}; give the id "
                              "as the vendor's API shows it")
        async with self.connect(desired) as providers:
            kind = providers.kind(obj.vendor, obj.kind)
            remote = await kind.read(remote_id)
        with self.lock("import", lock_timeout):
            state = self.read_state()
            self.check_bound(state)
            state.target = {**state.target, **self.bound_to()}
            resource = import_object(state, desired, address, remote, remote_id, kind.schema_version)
            self.backend.write(state)
        return resource

    # ---------------------------------------------------------------- history ----

    def _run(self, started: str) -> dict[str, Any]:
        """What every run record of this workspace says of where it ran."""
        return {"started_at": started, "directory": self.settings.directory,
                "environment": self.environment}

    def _remember(self, build: Callable[[], RunRecord], error: ReconcilerError | None = None) -> None:
        """Record a run in the history (and keep it as `last_run`, which the service reads
        for its metrics and alerts); a history that cannot be written is a notice, never a
        failed run. A run that failed on the state itself is not stored: the history is kept
        beside the state, and the run's own error already says what is wrong there."""
        from reconciler.manifest.loader import state_folder

        self.last_run_stored = False
        try:
            run = self.last_run = build()
            if isinstance(error, StateError | ManifestError):
                return  # bad manifests are said at once, and change nothing, not even the history
            try:
                state_folder(self.settings)
            except ReconcilerError:
                return  # a refused place for the state gets no history beside it either
            from reconciler.history import record

            record(self.backend, run, self.settings.history)
            self.last_run_stored = True
        except Exception as exc:  # the run succeeded or failed on its own
            self.notice(f"Warning: this run was not recorded in the history: {exc}")


def upgrade_state(state: StateDoc, kinds: Mapping[str, type[KindSpec]]) -> StateDoc:
    """Records of an older kind schema are read in today's shape (KindSpec.upgrade), in
    memory: the next write of each records the current version. A record newer than the
    kind installed here is refused, never guessed at."""
    by_name = {(kind.vendor, kind.name): kind for kind in kinds.values()}
    if not any(kind.schema_version for kind in by_name.values()) \
            and not any(r.schema_version for r in state.resources.values()):
        return state  # the common case, every kind and record at version 0: one quick pass
    for address, resource in state.resources.items():
        kind = by_name.get((resource.vendor, resource.kind))
        if kind is None or resource.schema_version == kind.schema_version:
            continue
        if resource.schema_version > kind.schema_version:
            raise StateError(
                f"{address}: recorded with schema version {resource.schema_version} of "
                f"{resource.vendor}.{resource.kind}, newer than this reconciler's "
                f"({kind.schema_version}); upgrade reconciler (or the vendor's plug-in)")
        resource.attributes = kind.upgrade(dict(resource.attributes), resource.schema_version)
        resource.schema_version = kind.schema_version
    return state


def check_applicable(plan: Plan, state: StateDoc, force: bool) -> None:
    """The last checks before the first write: nothing refused, the very state the plan was
    made against, no safety rail blocking (unless forced where a rail allows it)."""
    from reconciler.apply.binding import check_state

    if plan.refusals:
        raise RefusedError("the plan cannot be applied:\n  " + "\n  ".join(plan.refusals))
    check_state(plan, state)
    enforce(plan, force)


def open_backend(settings: Settings) -> StateBackend:
    backend = BACKENDS[settings.state.backend].open(settings.state, settings.directory)
    backend.directory = _shell(settings.directory)
    return backend


def _shell(path: Path) -> str:
    """A path as the user would type it again in a hint."""
    import shlex

    return shlex.quote(str(path))


def _in_play(settings: Settings, kinds: Mapping[str, type[Kind]], desired: Desired,
             state: StateDoc) -> set[str]:
    """Kinds with something declared or managed; others are not listed (no needless calls)."""
    used = {obj.kind_address for obj in desired.objects.values()}
    used |= {f"{r.vendor}.{r.kind}" for r in state.resources.values()}
    used |= {f"{p.vendor}.{p.kind}" for p in state.pending.values()}  # orphans of a crash
    used |= {a for a, k in kinds.items() if settings.providers[k.vendor].prune}
    return used & set(kinds)

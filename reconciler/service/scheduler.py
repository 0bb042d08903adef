"""Each environment's drift on its schedule, and with --auto-apply its apply on a change.

The scheduler runs in a thread of its own with its own event loop, calling the engine
in-process (Workspace.drift / Workspace.apply); the web server's loop never waits for a
vendor. Per environment:

- drift every `every` seconds, jittered (±10 %, and a first run spread over the first
  interval) so that a fleet does not call every vendor at the same second;
- one run at a time: a run is claimed first (reconciler/service/claims.py, across
  replicas), and a drift another replica recorded less than half an interval ago is not
  made again;
- a CLI apply holding the state lock is waited for, and the log says who holds it;
- every run is recorded in the history, counted in the metrics, and alerted on.

With auto-apply, a change of the manifests on disk (their content) makes a plan and an
apply, within every safety rail: a rail that blocks is reported (history, log, alert),
never forced.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from reconciler.engine import Workspace
from reconciler.errors import ReconcilerError
from reconciler.history import failed, from_apply, record, utc_now
from reconciler.history.model import RunRecord, parse_time
from reconciler.redact import REDACT, clean
from reconciler.service.archive import Archive
from reconciler.service.claims import Claims
from reconciler.service.environments import Environment
from reconciler.service.metrics import Metrics
from reconciler.service.notify import Notifier
from reconciler.service.settings import Event

log = logging.getLogger("reconciler.serve")
JITTER = 0.1
RETRY_CLAIM_S = 5.0  # another replica runs it: look again soon (it may die mid-run), and
# never later than an interval
MANIFEST_SUFFIXES = (".yaml", ".yml")
STOP_WAIT_S = 600.0  # a running apply finishes before the process exits (up to this long)


@dataclass
class Live:
    """What this process knows of an environment right now (the pages show it)."""

    running: str | None = None  # "drift" or "apply"
    waiting: str | None = None  # who holds the state lock we wait for
    next_drift: float | None = None  # epoch seconds


def manifest_digest(directory: Path) -> str:
    """The content of every YAML file in the directory (not in hidden folders or state/)."""
    digest = hashlib.sha256()
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory)
        if path.suffix not in MANIFEST_SUFFIXES or not path.is_file() or any(
                part.startswith(".") or part == "state" for part in relative.parts[:-1]):
            continue
        digest.update(str(relative).encode() + b"\0")
        try:
            digest.update(path.read_bytes())
        except OSError:
            continue
        digest.update(b"\0")
    return digest.hexdigest()


class Scheduler:
    def __init__(self, environments: list[Environment], every: float, *, archive: Archive,
                 metrics: Metrics, notifier: Notifier, claims: Claims, auto_apply: bool = False,
                 parallel: int = 4, watch_every: float = 2.0, lock_poll: float = 2.0,
                 say: Callable[[str], None] | None = None) -> None:
        self.environments = environments
        self.every = every
        self.archive = archive
        self.metrics = metrics
        self.notifier = notifier
        self.claims = claims
        self.auto_apply = auto_apply
        self.parallel = parallel
        self.watch_every = watch_every
        self.lock_poll = lock_poll
        self.say = say or (lambda message: log.info("%s", message))
        self.live = {env.name: Live() for env in environments}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._applying: set[asyncio.Task[bool]] = set()
        self.started = threading.Event()

    # ---------------------------------------------------------------- lifecycle ----

    def start(self) -> None:
        self._thread = threading.Thread(target=lambda: asyncio.run(self.run()),
                                        name="reconciler-scheduler", daemon=True)
        self._thread.start()
        self.started.wait(10)

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(STOP_WAIT_S)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._gate = asyncio.Semaphore(self.parallel)
        tasks = [asyncio.create_task(self._drifts(env)) for env in self.environments]
        if self.auto_apply:
            tasks += [asyncio.create_task(self._watch(env)) for env in self.environments]
        self.started.set()
        await self._stop.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._applying:  # a drift is dropped midway (it writes nothing); an apply is not
            self.say("stopping: waiting for the running apply to finish")
            await asyncio.gather(*self._applying, return_exceptions=True)

    async def _sleep(self, seconds: float) -> bool:
        """Sleep, or return True at once when stopping."""
        assert self._stop is not None
        try:
            await asyncio.wait_for(self._stop.wait(), max(0.0, seconds))
        except TimeoutError:
            return False
        return True

    # ---------------------------------------------------------------- drift ----

    def _due_in(self, last_start: float | None) -> float:
        """Seconds until the next drift: an interval after the last (jittered); at the
        start, spread over the first interval's tenth."""
        if last_start is None:
            return random.uniform(0, min(self.every * JITTER, 30.0))
        wait = last_start + self.every * random.uniform(1 - JITTER, 1 + JITTER) - time.time()
        return max(0.0, wait)

    async def _drifts(self, env: Environment) -> None:
        last = await asyncio.to_thread(self._last_drift_start, env.name)
        delay = self._due_in(last)
        while True:
            self.live[env.name].next_drift = time.time() + delay
            if await self._sleep(delay):
                return
            try:
                ran = await self._drift(env)
            except Exception as exc:  # the schedule goes on; the log says why
                self.say(f"[{env.name}] drift could not run: {_said(exc)}")
                ran = time.time()
            delay = min(RETRY_CLAIM_S, self.every) if ran is None else self._due_in(ran)

    def _last_drift_start(self, environment: str) -> float | None:
        try:
            runs = self.archive.runs(environment, "drift", limit=1)
        except ReconcilerError:
            return None
        return parse_time(runs[0].started_at).timestamp() if runs else None

    async def _drift(self, env: Environment) -> float | None:
        """Run one drift if it is ours to run: the start time of the latest drift (ours, or
        another replica's found recorded), or None when another replica runs it now."""
        async with self._gate:
            ws = env.open(self._notice(env))
            with self.claims.claim(ws.backend) as mine:
                if not mine:
                    return None
                last = self._last_drift_start(env.name)
                if last is not None and time.time() - last < self.every / 2:
                    return last  # another replica ran it moments ago
                await self._wait_for_lock(env, ws)
                previous = self._previous_drift(env.name)
                self.live[env.name].running = "drift"
                started, clock = utc_now(), time.monotonic()
                run: RunRecord | None = None
                try:
                    await ws.drift()  # the engine records the run (ws.last_run)
                except Exception as exc:  # a failure the engine could not record: recorded here
                    if ws.last_run is None:
                        run = failed("drift", exc, started_at=started, directory=env.directory,
                                     environment=env.name)
                finally:
                    self.live[env.name].running = None
                run = self._finish(env, ws, run or ws.last_run, time.monotonic() - clock,
                                   not ws.last_run_stored)
                await self._alert_drift(run, previous)
                return parse_time(started).timestamp()

    def _previous_drift(self, environment: str) -> RunRecord | None:
        """The latest drift that did not fail, with its changes (what an alert compares with)."""
        try:
            for head in self.archive.runs(environment, "drift", limit=20):
                if head.outcome != "failed":
                    return self.archive.run(head.id)
        except ReconcilerError:
            pass
        return None

    async def _alert_drift(self, run: RunRecord, previous: RunRecord | None) -> None:
        if run.outcome == "drift":
            before = {c.address for c in previous.changes} if previous is not None else set()
            new = sorted({c.address for c in run.changes} - before)
            if new:
                counts = run.counts
                detail = (f"{counts.get('drifted', 0)} drifted, {counts.get('missing', 0)} "
                          f"missing, {counts.get('unmanaged', 0)} unmanaged; new: "
                          + ", ".join(new[:5]) + (" …" if len(new) > 5 else ""))
                await self.notifier.send(Event.drift_found, run, detail)
        elif run.outcome == "ok" and previous is not None and previous.outcome == "drift":
            await self.notifier.send(Event.drift_resolved, run)

    # ---------------------------------------------------------------- apply ----

    async def _watch(self, env: Environment) -> None:
        seen = await asyncio.to_thread(manifest_digest, env.directory)
        while not await self._sleep(self.watch_every):
            now = await asyncio.to_thread(manifest_digest, env.directory)
            if now == seen:
                continue
            self.say(f"[{env.name}] the manifests changed: planning and applying")
            task = asyncio.create_task(self._apply(env))
            self._applying.add(task)
            task.add_done_callback(self._applying.discard)
            try:
                if await asyncio.shield(task):
                    seen = now
            except Exception as exc:
                self.say(f"[{env.name}] auto-apply could not run: {_said(exc)}")
                seen = now

    async def _apply(self, env: Environment) -> bool:
        """Plan and apply within every rail; False when another run holds the claim."""
        async with self._gate:
            ws = env.open(self._notice(env))
            with self.claims.claim(ws.backend) as mine:
                if not mine:
                    return False
                await self._wait_for_lock(env, ws)
                self.live[env.name].running = "apply"
                started, clock = utc_now(), time.monotonic()
                run: RunRecord | None = None
                try:
                    await ws.apply(lock_timeout=60.0)  # the engine records the run (ws.last_run)
                except Exception as exc:  # a failure the engine could not record: recorded here
                    if ws.last_run is None:
                        run = from_apply(None, None, started_at=started, directory=env.directory,
                                         environment=env.name, error=exc)
                finally:
                    self.live[env.name].running = None
                run = self._finish(env, ws, run or ws.last_run, time.monotonic() - clock,
                                   not ws.last_run_stored)
                if run.outcome in ("failed", "blocked"):
                    why = "blocked by a safety rail (not forced)" if run.outcome == "blocked" else "failed"
                    self.say(f"[{env.name}] auto-apply {why}: {_said(run.error or '')}")
                    await self.notifier.send(Event.apply_failed, run, f"{why}: {run.error or ''}")
                else:
                    self.say(f"[{env.name}] auto-apply done: {_counts(run)}")
                return True

    # ---------------------------------------------------------------- shared ----

    def _notice(self, env: Environment) -> Callable[[str], None]:
        return lambda message: self.say(f"[{env.name}] {message}")

    async def _wait_for_lock(self, env: Environment, ws: Workspace) -> None:
        """A CLI apply holds the state lock: wait for it to finish, saying so once."""
        said = False
        while True:
            holder = ws.backend.lock_holder()
            if holder is None or ws.backend.stale_holder() is not None:
                break
            if not said:
                self.say(f"[{env.name}] waiting: an apply holds the state lock ({holder.describe()})")
                said = True
            self.live[env.name].waiting = holder.describe()
            if await self._sleep(self.lock_poll):
                break
        if said:
            self.say(f"[{env.name}] the state lock is free again")
        self.live[env.name].waiting = None

    def _finish(self, env: Environment, ws: Workspace, run: RunRecord | None, seconds: float,
                unrecorded: bool) -> RunRecord:
        """Count, log (and, when the engine could not, record) a finished run."""
        assert run is not None  # the engine's record, or ours when the engine had none
        if unrecorded:
            try:
                record(ws.backend, run, ws.settings.history)
            except Exception as exc:  # the run happened; the log says it is unrecorded
                self.say(f"[{env.name}] warning: the {run.kind} run was not recorded in the "
                         f"history: {_said(exc)}")
        self.metrics.ran(env.name, run.kind, run.outcome, seconds)
        line = f"[{env.name}] {run.kind} {run.outcome} in {seconds:.1f}s ({_counts(run)})"
        if run.error:
            line += f": {_said(run.error)}"
        self.say(line)
        return run


def _counts(run: RunRecord) -> str:
    return ", ".join(f"{k} {v}" for k, v in run.counts.items()) or "no counts"


def _said(error: object) -> str:
    return REDACT(clean(str(error)))

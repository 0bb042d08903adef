"""The provider conformance kit: one suite every vendor passes against its own sandbox.

A vendor author (bundled or third-party) writes, in a test module::

    from reconciler.testing import ProviderConformance

    class TestWidgets(ProviderConformance):
        vendor = "widgets"

and pytest runs list / create / read / update / delete / adopt / ambiguous create / error
cases for every kind of the vendor, against the vendor's sandbox served over loopback
HTTP. Test objects are made from the vendor's own `init` example (its first object per
collection, made unique per case); override `sample` and `changed` when that is not enough.

What the cases hold a provider to is the contract in reconciler.providers.base: a failed
create created nothing (except AmbiguousWriteError), delete of a missing object succeeds,
`lookup` returns only an exact natural-key match, errors are ReconcilerErrors.

pytest runs the kit but importing it does not need pytest (a plain install can import it):
pytest is imported when a case runs, and `pip install 'purpose-reconciler[testing]'` brings it.
"""

from __future__ import annotations

import asyncio
import io
import itertools
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from ruamel.yaml import YAML

from reconciler.errors import AmbiguousWriteError, ReconcilerError
from reconciler.providers.base import DeleteMode, Kind, Provider, RemoteObject, RemoteStatus
from reconciler.providers.registry import vendors
from reconciler.providers.sandboxes import RunningSandbox, SandboxSettings
from reconciler.sandbox.common import Faults

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])
_serial = itertools.count(1)


def _fixture(function: F) -> F:
    """pytest's fixture where pytest is installed (it runs the kit); without it, the plain
    method, so that `import reconciler.testing` works in a plain install."""
    try:
        import pytest
    except ImportError:
        return function
    return pytest.fixture(function)  # type: ignore[return-value]


class ProviderConformance:
    vendor: ClassVar[str]
    sandbox_options: ClassVar[dict[str, Any]] = {}  # this vendor's sandbox switches

    # ---------------------------------------------------------------- fixtures ----

    @_fixture
    def running(self, tmp_path: Path) -> Iterator[RunningSandbox]:
        settings = SandboxSettings(data_dir=tmp_path / "sandbox", faults=Faults(),
                                   options={self.vendor: dict(self.sandbox_options)})
        with RunningSandbox(settings) as running:
            yield running

    def run(self, running: RunningSandbox, body: Callable[[Provider], Awaitable[T]],
            **settings: Any) -> T:
        """Run `body` with a provider connected to the sandbox (settings override the sandbox's)."""
        provider_class = vendors()[self.vendor].load_provider()
        values = {**running.overrides[self.vendor], "max_attempts": 2, **settings}

        async def main() -> T:
            provider = provider_class(provider_class.settings_model.model_validate(values))
            try:
                return await body(provider)
            finally:
                await provider.aclose()

        return asyncio.run(main())

    def kinds(self, observable: bool = True) -> list[type[Kind]]:
        provider = vendors()[self.vendor].load_provider()
        return [k for k in provider.kinds if k.observable == observable]

    # ------------------------------------------------------------- test objects ----

    def sample(self, kind: type[Kind]) -> dict[str, Any]:
        """Valid attributes for a new object of `kind`, unique to this call."""
        example = vendors()[self.vendor].example
        if example is None:
            raise NotImplementedError(f"{self.vendor} has no init example: override sample()")
        document = YAML(typ="safe").load(io.StringIO(example.replace("{header}", "")))
        first = dict(next(iter(document[self.vendor][kind.collection].values())))
        return kind.schema.model_validate(
            self.unique(kind, first, f" conformance {next(_serial)}")).model_dump(exclude_none=True)

    @staticmethod
    def unique(kind: type[Kind], attributes: dict[str, Any], suffix: str) -> dict[str, Any]:
        """The natural key, and a display name (which vendors often keep unique too), suffixed."""
        return {k: v + suffix if k in (kind.natural_key, "name") and isinstance(v, str) else v
                for k, v in attributes.items()}

    def changed(self, kind: type[Kind], attributes: dict[str, Any]) -> dict[str, Any]:
        """The same object with one updatable field changed (not the natural key): the last
        plain text or number, which in the examples is a description or an order."""
        for name, value in reversed(attributes.items()):
            if name != kind.natural_key and isinstance(value, str) and not value.startswith("http"):
                return {**attributes, name: value + " (changed)"}
            if name != kind.natural_key and isinstance(value, int) and not isinstance(value, bool):
                return {**attributes, name: value + 1}
        raise NotImplementedError(f"{kind.vendor}.{kind.name}: override changed()")

    @staticmethod
    def declared(kind: type[Kind], remote: RemoteObject, attributes: dict[str, Any]) -> None:
        """Every declared field reads back as declared (normalised the same way)."""
        want = kind.normalise(dict(attributes))
        got = {k: remote.attributes.get(k) for k in want}
        assert got == want, f"{kind.vendor}.{kind.name}: read back {got}, declared {want}"

    # ------------------------------------------------------------------- cases ----

    def test_create_read_list(self, running: RunningSandbox) -> None:
        for kind_class in self.kinds():
            attributes = self.sample(kind_class)

            async def body(provider: Provider, kind_class: type[Kind] = kind_class,
                           attributes: dict[str, Any] = attributes) -> None:
                kind = provider.kind_objects[kind_class.name]
                created = await kind.create(attributes)
                assert isinstance(created.remote_id, str) and created.remote_id
                read = await kind.read(created.remote_id)
                assert read is not None and read.remote_id == created.remote_id
                self.declared(kind_class, read, attributes)
                listed = [o for o in await kind.list() if o.remote_id == created.remote_id]
                assert len(listed) == 1, "a created object is listed exactly once"
                self.declared(kind_class, listed[0], attributes)

            self.run(running, body)

    def test_update_changes_only_what_changed(self, running: RunningSandbox) -> None:
        for kind_class in self.kinds():
            before = self.sample(kind_class)
            after = self.changed(kind_class, before)

            async def body(provider: Provider, kind_class: type[Kind] = kind_class,
                           before: dict[str, Any] = before, after: dict[str, Any] = after) -> None:
                kind = provider.kind_objects[kind_class.name]
                created = await kind.create(before)
                current = await kind.read(created.remote_id)
                changed = frozenset(k for k in after if after[k] != before.get(k))
                await kind.update(created.remote_id, after, changed, current)
                read = await kind.read(created.remote_id)
                assert read is not None
                self.declared(kind_class, read, after)

            self.run(running, body)

    def test_delete_then_delete_again(self, running: RunningSandbox) -> None:
        for kind_class in self.kinds():
            for mode in kind_class.delete_modes:
                if mode is DeleteMode.UNSUPPORTED:
                    continue
                attributes = self.sample(kind_class)

                async def body(provider: Provider, kind_class: type[Kind] = kind_class,
                               mode: DeleteMode = mode, attributes: dict[str, Any] = attributes) -> None:
                    kind = provider.kind_objects[kind_class.name]
                    created = await kind.create(attributes)
                    current = await kind.read(created.remote_id)
                    await kind.delete(created.remote_id, mode, current)
                    gone = await kind.read(created.remote_id)
                    assert gone is None or gone.status is not RemoteStatus.PRESENT, (
                        f"{kind_class.vendor}.{kind_class.name}: still present after a {mode} delete")
                    await kind.delete(created.remote_id, mode, gone)  # already gone: a success

                self.run(running, body)

    def test_lookup_is_an_exact_natural_key_match(self, running: RunningSandbox) -> None:
        for kind_class in self.kinds():
            attributes = self.sample(kind_class)
            value = attributes[kind_class.natural_key]
            if not isinstance(value, str):
                continue
            longer = self.unique(kind_class, attributes, " and more")
            identity = str(kind_class.identity(attributes))

            async def body(provider: Provider, kind_class: type[Kind] = kind_class,
                           attributes: dict[str, Any] = attributes, longer: dict[str, Any] = longer,
                           identity: str = identity) -> None:
                kind = provider.kind_objects[kind_class.name]
                await kind.create(longer)
                assert await kind.lookup(identity) is None, "a longer key is not a match"
                created = await kind.create(attributes)
                found = await kind.lookup(identity)
                assert found is not None and found.remote_id == created.remote_id
                assert kind_class.identity(found.attributes) == identity

            self.run(running, body)

    def test_ambiguous_create_is_found_again(self, running: RunningSandbox) -> None:
        import pytest

        for kind_class in self.kinds():
            attributes = self.sample(kind_class)
            key = str(kind_class.identity(attributes))

            async def create(provider: Provider, kind_class: type[Kind] = kind_class,
                             attributes: dict[str, Any] = attributes) -> None:
                with pytest.raises(AmbiguousWriteError):
                    await provider.kind_objects[kind_class.name].create(attributes)

            async def adopt(provider: Provider, kind_class: type[Kind] = kind_class,
                            key: str = key) -> None:
                kind = provider.kind_objects[kind_class.name]
                found = await kind.lookup(key)
                assert found is not None, "the write happened: lookup finds it"
                same = [o for o in await kind.list() if kind_class.identity(o.attributes) == key]
                assert len(same) == 1, "one object, not a duplicate"

            faults = running.settings.faults
            faults.rate_drop = 1.0
            try:
                self.run(running, create, max_attempts=1)
            finally:
                faults.rate_drop = 0.0
            self.run(running, adopt)

    def test_errors_are_reconciler_errors(self, running: RunningSandbox) -> None:
        import pytest

        for kind_class in self.kinds():
            async def unknown(provider: Provider, kind_class: type[Kind] = kind_class) -> None:
                assert await provider.kind_objects[kind_class.name].read("987654321") is None

            async def refused(provider: Provider, kind_class: type[Kind] = kind_class) -> None:
                with pytest.raises(ReconcilerError):
                    await provider.kind_objects[kind_class.name].list()

            self.run(running, unknown)
            credentials = {name: "wrong-credential" for name in ("token", "api_key", "password")
                           if name in running.overrides[self.vendor]}
            self.run(running, refused, **credentials)


_HOLDER = """
import json, sys, time
from pathlib import Path
from reconciler.state.registry import BACKENDS
name, settings, directory, seconds = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], sys.argv[4]
backend_type = BACKENDS[name]
backend = backend_type.open(backend_type.settings_model().model_validate(settings), Path(directory))
with backend.lock("holder", 0) as info:
    print(info.id, flush=True)
    time.sleep(float(seconds))
"""


class StateBackendConformance:
    """The state-backend conformance kit: what every backend (bundled or installed through the
    `reconciler.state_backends` entry points) holds to. A backend author writes::

        class TestMyBackend(StateBackendConformance):
            backend = "mybackend"

            def settings(self, tmp_path, request):
                return {"backend": "mybackend", "dsn": ...}

    and pytest runs journal, serial, lock, stale-lock and force-unlock cases; the lock cases
    hold the lock from another process, opened through the registry like any command."""

    backend: ClassVar[str]

    def settings(self, tmp_path: Path, request: Any) -> dict[str, Any]:
        """`state:` as reconciler.yaml would give it (one fresh workspace per test)."""
        raise NotImplementedError

    def open(self, tmp_path: Path, request: Any) -> tuple[Any, dict[str, Any]]:
        from reconciler.state.registry import BACKENDS

        settings = self.settings(tmp_path, request)
        backend_type = BACKENDS[self.backend]
        model = backend_type.settings_model().model_validate(settings)
        return backend_type.open(model, tmp_path), settings

    # ---------------------------------------------------------------- helpers ----

    @staticmethod
    def _resource(remote_id: str) -> Any:
        from reconciler.state.base import Resource

        return Resource(vendor="outreach", kind="call_purpose", remote_id=remote_id,
                        attributes={"name": remote_id})

    def _record(self, backend: Any, doc: Any, addresses: list[str], checkpoint: bool) -> None:
        async def record() -> None:
            writer = backend.writer(doc)
            await asyncio.gather(*(writer.put(a, self._resource(a)) for a in addresses))
            if checkpoint:
                writer.checkpoint()

        asyncio.run(record())

    def _holder(self, settings: dict[str, Any], tmp_path: Path, seconds: float) -> tuple[Any, str]:
        import json
        import subprocess
        import sys

        proc = subprocess.Popen([sys.executable, "-c", _HOLDER, self.backend, json.dumps(settings),
                                 str(tmp_path), str(seconds)], stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        return proc, proc.stdout.readline().strip()

    # ---------------------------------------------------------------- cases ----

    def test_journal_entries_survive_without_checkpoint(self, tmp_path: Path, request: Any) -> None:
        backend, _ = self.open(tmp_path, request)
        doc = backend.read()
        assert doc.serial == 0 and doc.lineage == ""
        self._record(backend, doc, ["a", "b", "c"], checkpoint=False)
        recovered = backend.read()  # as after a crash: nothing folded in yet
        assert sorted(recovered.resources) == ["a", "b", "c"]
        assert recovered.serial == 3 and recovered.lineage == doc.lineage
        self._record(backend, recovered, ["d"], checkpoint=True)
        final = backend.read()
        assert sorted(final.resources) == ["a", "b", "c", "d"] and final.serial == 4
        assert final.lineage == doc.lineage

    def test_whole_document_write_bumps_serial(self, tmp_path: Path, request: Any) -> None:
        backend, _ = self.open(tmp_path, request)
        self._record(backend, backend.read(), ["a"], checkpoint=True)
        doc = backend.read()
        del doc.resources["a"]
        backend.write(doc)
        again = backend.read()
        assert again.resources == {} and again.serial == 2

    def test_lock_names_its_holder_and_force_unlock(self, tmp_path: Path, request: Any) -> None:
        import os

        import pytest

        from reconciler.errors import LockError

        backend, _ = self.open(tmp_path, request)
        with backend.lock("apply", 0) as info:
            with pytest.raises(LockError) as caught, backend.lock("apply", 0.3):
                pass
            message = str(caught.value)
            assert info.id in message and f"pid {os.getpid()}" in message
            holder = backend.lock_holder()
            assert holder is not None and holder.id == info.id
            with pytest.raises(LockError, match="no lock nope to remove"):
                backend.force_unlock("nope")
        assert backend.lock_holder() is None

    def test_second_writer_waits_for_the_lock(self, tmp_path: Path, request: Any) -> None:
        import time

        backend, settings = self.open(tmp_path, request)
        proc, lock_id = self._holder(settings, tmp_path, 1.0)
        try:
            start = time.monotonic()
            with backend.lock("apply", 20) as info:
                assert info.id != lock_id
            assert time.monotonic() - start > 0.3
        finally:
            proc.wait(10)

    def test_lock_of_a_killed_process_is_stale_and_taken_over(self, tmp_path: Path,
                                                               request: Any) -> None:
        import os
        import signal
        import time

        backend, settings = self.open(tmp_path, request)
        proc, lock_id = self._holder(settings, tmp_path, 60)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        deadline = time.monotonic() + 10
        stale = backend.stale_holder()
        while stale is None and time.monotonic() < deadline:  # a server notices the closed session
            time.sleep(0.1)
            stale = backend.stale_holder()
        assert stale is not None and stale.id == lock_id and stale.pid == proc.pid
        with backend.lock("apply", 5) as info:
            assert backend.lock_holder() == info

    def test_force_unlock_from_elsewhere_frees_a_live_holder(self, tmp_path: Path,
                                                             request: Any) -> None:
        import pytest

        from reconciler.errors import LockError

        backend, settings = self.open(tmp_path, request)
        proc, lock_id = self._holder(settings, tmp_path, 60)
        try:
            with pytest.raises(LockError, match="the holder is alive"):
                backend.force_unlock(lock_id)  # refused while it runs: two writers duplicate
            released = backend.force_unlock(lock_id, force=True, wait_s=0.2)
            assert released.id == lock_id
            with backend.lock("apply", 5):
                pass
        finally:
            proc.kill()
            proc.wait(10)

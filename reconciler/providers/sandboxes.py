"""All vendor sandboxes on one loopback port, each under its own path prefix.

The registry hands the vendors' sandboxes over: this module composes them, beside the
registry, so that the sandbox machinery (reconciler/sandbox/) never imports a provider.

`start_in_thread` serves them from inside the reconciler process (for
`--sandbox` and tests); `serve` runs them in the foreground (`reconciler sandbox`).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from reconciler.providers.registry import vendors
from reconciler.sandbox.common import Faults, RequestLog, SandboxContext, Table, VendorSandbox


def vendor_sandboxes() -> dict[str, VendorSandbox]:
    """Every registered vendor that ships a sandbox."""
    found = {name: vendor.load_sandbox() for name, vendor in vendors().items()}
    return {name: sandbox for name, sandbox in found.items() if sandbox is not None}


class SandboxSettings:
    """Where the sandboxes keep their data, which faults they inject, and each vendor's
    switches: `options={"outreach": {"rate_limit": 0}}`, or as a keyword named
    `<vendor>_<switch>` (`outreach_rate_limit=0`)."""

    def __init__(self, data_dir: Path | None = None, faults: Faults | None = None,
                 options: dict[str, dict[str, Any]] | None = None, **switches: Any) -> None:
        self.data_dir = data_dir
        self.faults = faults or Faults()
        self.options: dict[str, dict[str, Any]] = {k: dict(v) for k, v in (options or {}).items()}
        sandboxes = vendor_sandboxes()
        for keyword, value in switches.items():
            vendor = next((v for v in sandboxes if keyword.startswith(v + "_")), None)
            switch = keyword[len(vendor) + 1:] if vendor else ""
            if vendor is None or switch not in sandboxes[vendor].options:
                raise TypeError(f"unknown sandbox switch {keyword!r}")
            self.options.setdefault(vendor, {})[switch] = value


def provider_overrides(base_url: str) -> dict[str, dict[str, Any]]:
    """Connection settings that point each provider at sandboxes served at `base_url`."""
    return {name: sandbox.overrides(base_url) for name, sandbox in vendor_sandboxes().items()}


def environment(base_url: str) -> dict[str, str]:
    """The sandbox's settings as the environment variables `init` and the fixtures read
    (OUTREACH_BASE_URL, OUTREACH_TOKEN, ...)."""
    return {f"{vendor}_{name}".upper(): str(value)
            for vendor, settings in provider_overrides(base_url).items()
            for name, value in settings.items() if value}


def create_app(settings: SandboxSettings) -> Starlette:
    log = RequestLog()
    tables: list[Table] = []

    def table(name: str) -> Table:
        made = Table(settings.data_dir / f"{name}.json" if settings.data_dir else None)
        tables.append(made)
        return made

    mounts = [route for name, sandbox in vendor_sandboxes().items()
              for route in sandbox.mount(SandboxContext(table, settings.faults, log,
                                                        settings.options.get(name, {})))]

    async def requests(_: Request) -> Response:
        return JSONResponse(log.counts)

    async def concurrency(_: Request) -> Response:
        return JSONResponse({"most_vendors_at_once": log.most_vendors_at_once})

    app = Starlette(routes=[Route("/_sandbox/requests", requests),
                            Route("/_sandbox/concurrency", concurrency), *mounts])
    app.state.request_log = log
    app.state.tables = tables
    return app


def flush(app: Starlette) -> None:
    """Write every vendor's data to disk now (at shutdown)."""
    for table in app.state.tables:
        table.flush()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class _PromptServer(uvicorn.Server):
    """uvicorn's server, stopped as soon as asked: uvicorn looks at `should_exit` every 0.1 s
    and then sleeps 0.1 s more before it closes, which every --sandbox run and every test
    paid (~0.2 s each). Here a stop wakes the loop and the shutdown waits only for the
    connections still open."""

    _wake: asyncio.Event
    _loop: asyncio.AbstractEventLoop

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self._wake, self._loop = asyncio.Event(), asyncio.get_running_loop()
        await super().startup(sockets)

    async def main_loop(self) -> None:
        counter = 0
        while not await self.on_tick(counter):  # uvicorn's tick: the Date header, should_exit
            counter = (counter + 1) % 864_000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 0.1)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()  # idle ones close now, busy ones after their answer
        while self.server_state.connections or self.server_state.tasks:
            await asyncio.sleep(0.005)
        for server in self.servers:
            await server.wait_closed()
        await self.lifespan.shutdown()

    def stop(self) -> None:
        """From another thread: exit now, not at the next tick."""
        self.should_exit = True
        if hasattr(self, "_loop") and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # closed in between
                self._loop.call_soon_threadsafe(self._wake.set)


class RunningSandbox:
    """A sandbox server running in a background thread; `stop()` shuts it down."""

    def __init__(self, settings: SandboxSettings, host: str = "127.0.0.1", port: int = 0) -> None:
        self.settings = settings
        self.app = create_app(settings)
        self.port = port or free_port(host)
        self.url = f"http://{host}:{self.port}"
        config = uvicorn.Config(self.app, host=host, port=self.port, log_level="critical",
                                access_log=False, lifespan="off")
        self.server = _PromptServer(config)
        self.thread = threading.Thread(target=self._run, name="sandbox", daemon=True)

    def _run(self) -> None:
        asyncio.run(self.server.serve())

    def start(self) -> RunningSandbox:
        self.thread.start()
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError(f"sandbox could not start on {self.url}")
            threading.Event().wait(0.01)
        return self

    def stop(self) -> None:
        if isinstance(self.server, _PromptServer):
            self.server.stop()
        else:  # a subclass serving another app with uvicorn's own server: its next tick
            self.server.should_exit = True
        self.thread.join(timeout=5)
        flush(self.app)

    @property
    def overrides(self) -> dict[str, dict[str, Any]]:
        return provider_overrides(self.url)

    def __enter__(self) -> RunningSandbox:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def serve(settings: SandboxSettings, host: str, port: int) -> None:
    app = create_app(settings)
    try:
        uvicorn.run(app, host=host, port=port, log_level="info", lifespan="off")
    finally:
        flush(app)

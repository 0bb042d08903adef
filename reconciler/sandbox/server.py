"""All vendor sandboxes on one loopback port, each under its own path prefix.

`start_in_thread` serves them from inside the reconciler process (for
`--sandbox` and tests); `serve` runs them in the foreground (`reconciler sandbox`).
"""

from __future__ import annotations

import asyncio
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from reconciler.providers.outreach import sandbox as outreach
from reconciler.providers.superoffice import sandbox as superoffice
from reconciler.providers.webex_campaign import sandbox as webex_campaign
from reconciler.sandbox.common import Faults, RequestLog, Table

OUTREACH_PREFIX = "/outreach/api/v2"
WEBEX_HUB_PREFIX = "/webex/v1"
WEBEX_TENANT_PREFIX = "/webex-tenant/campaignapi/resources/v3"
SUPEROFFICE_PREFIX = "/superoffice/Cust12345/api/v1"

# Credentials the sandboxes accept; `--sandbox` hands them to the providers.
# They are not secrets: the sandboxes only listen on loopback.
OUTREACH_TOKEN = "sandbox-outreach-token"
WEBEX_KEYS = ("sandbox-webex-key", "sandbox-webex-key-rotated")
WEBEX_EXPIRED_KEY = "sandbox-webex-expired"
SUPEROFFICE_TOKEN = "sandbox-superoffice-token"
SUPEROFFICE_READ_ONLY_TOKEN = "sandbox-superoffice-read-only"
SUPEROFFICE_TICKET = "sandbox-ticket"
SUPEROFFICE_APP_TOKEN = "sandbox-app-token"
SUPEROFFICE_USER = ("sandbox", "sandbox-password")


@dataclass
class SandboxSettings:
    data_dir: Path | None = None
    faults: Faults = field(default_factory=Faults)
    outreach_rate_limit: int = 10_000
    outreach_rate_window_s: float = 3600.0
    outreach_name_max: int = outreach.NAME_MAX
    webex_rate_limit: int = 0
    webex_rate_window_s: float = 1.0
    webex_deployments: dict[str, int] = field(default_factory=dict)
    superoffice_builtins: bool = True


def provider_overrides(base_url: str) -> dict[str, dict[str, Any]]:
    """Connection settings that point each provider at sandboxes served at `base_url`."""
    return {
        "outreach": {"base_url": base_url + OUTREACH_PREFIX, "token": OUTREACH_TOKEN},
        "webex_campaign": {"base_url": base_url + WEBEX_HUB_PREFIX,
                           "tenant_url": base_url + WEBEX_TENANT_PREFIX, "token": WEBEX_KEYS[0]},
        "superoffice": {"base_url": base_url + SUPEROFFICE_PREFIX, "auth": "bearer",
                        "token": SUPEROFFICE_TOKEN, "ticket": "", "app_token": "", "username": "",
                        "password": ""},
    }


def _table(settings: SandboxSettings, name: str, tables: list[Table]) -> Table:
    table = Table(settings.data_dir / f"{name}.json" if settings.data_dir else None)
    tables.append(table)
    return table


def create_app(settings: SandboxSettings) -> Starlette:
    log = RequestLog()
    tables: list[Table] = []
    webex_config = webex_campaign.WebexSandboxConfig(
        api_keys=set(WEBEX_KEYS), expired_keys={WEBEX_EXPIRED_KEY},
        rate_limit=settings.webex_rate_limit, rate_window_s=settings.webex_rate_window_s,
        deployments=settings.webex_deployments)
    webex = webex_campaign.create_apps(_table(settings, "webex_campaign", tables), webex_config,
                                       settings.faults, log)
    superoffice_table = _table(settings, "superoffice", tables)
    if settings.superoffice_builtins:
        superoffice.seed_builtins(superoffice_table)
    superoffice_config = superoffice.SuperOfficeSandboxConfig(
        bearer_tokens={SUPEROFFICE_TOKEN}, tickets={SUPEROFFICE_TICKET},
        app_tokens={SUPEROFFICE_APP_TOKEN}, basic_users={SUPEROFFICE_USER[0]: SUPEROFFICE_USER[1]},
        read_only_bearer_tokens={SUPEROFFICE_READ_ONLY_TOKEN})
    mounts = [
        Mount(OUTREACH_PREFIX, outreach.create_app(
            _table(settings, "outreach", tables), {OUTREACH_TOKEN}, settings.faults, log,
            settings.outreach_rate_limit, settings.outreach_rate_window_s, settings.outreach_name_max)),
        Mount(WEBEX_HUB_PREFIX, webex.hub),
        Mount(WEBEX_TENANT_PREFIX, webex.tenant),
        Mount("/_sandbox/webex_campaign", routes=webex.admin),
        Mount(SUPEROFFICE_PREFIX, superoffice.create_app(
            superoffice_table, superoffice_config, settings.faults, log)),
    ]

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


class RunningSandbox:
    """A sandbox server running in a background thread; `stop()` shuts it down."""

    def __init__(self, settings: SandboxSettings, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = create_app(settings)
        self.port = port or free_port(host)
        self.url = f"http://{host}:{self.port}"
        config = uvicorn.Config(self.app, host=host, port=self.port, log_level="critical",
                                access_log=False, lifespan="off")
        self.server = uvicorn.Server(config)
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

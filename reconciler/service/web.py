"""The service's HTTP face: dashboard pages, JSON API, /metrics, /healthz, /readyz.

Read-only (GET and HEAD only). Every answer carries a Content-Security-Policy that allows
no script at all and only this origin's stylesheet, so even a value that escaped escaping
could not run. With a token (required off loopback), every path but the health checks
needs `Authorization: Bearer <token>`, compared in constant time.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reconciler.errors import ReconcilerError
from reconciler.history.model import RunRecord
from reconciler.service import pages
from reconciler.service.archive import Archive, Standing
from reconciler.service.metrics import CONTENT_TYPE, Metrics

CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; "
       "form-action 'none'; frame-ancestors 'none'")
HEADERS = [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
           (b"referrer-policy", b"no-referrer"), (b"x-frame-options", b"DENY"),
           (b"cache-control", b"no-store")]
OPEN_PATHS = ("/healthz", "/readyz")
MAX_LIMIT = 1000


class Guard:
    """ASGI middleware: the security headers on every answer, and the bearer token."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token.encode() if token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *HEADERS]
            await send(message)

        if self.token is not None and scope["path"] not in OPEN_PATHS and not self._allowed(scope):
            response = PlainTextResponse("401 Unauthorized: send Authorization: Bearer <token>\n",
                                         401, headers={"WWW-Authenticate": 'Bearer realm="reconciler"'})
            await response(scope, receive, secured)
            return
        await self.app(scope, receive, secured)

    def _allowed(self, scope: Scope) -> bool:
        assert self.token is not None
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                scheme, _, given = value.partition(b" ")
                return scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), self.token)
        return False


def _public(run: RunRecord, changes: bool) -> dict[str, Any]:
    data = run.public()
    if not changes:
        data.pop("changes", None)
    return data


def _standing(s: Standing, live: dict[str, Any]) -> dict[str, Any]:
    counts = {k: sum(c.get(k, 0) for c in s.by_vendor.values()) for k in ("drifted", "missing", "unmanaged")}
    return {
        "name": s.environment,
        "vendors": {v: {"state": s.vendor_state(v), **{k: s.by_vendor.get(v, {}).get(k, 0)
                                                       for k in ("drifted", "missing", "unmanaged")}}
                    for v in s.vendors},
        **counts,
        "latest_drift": _public(s.latest_drift, False) if s.latest_drift else None,
        "latest_run": _public(s.latest_run, False) if s.latest_run else None,
        "running": live.get("running"), "waiting_for_lock": live.get("waiting"),
        "next_drift_at": datetime.fromtimestamp(live["next_drift"], UTC).isoformat()
        if live.get("next_drift") else None,
    }


def _limit(request: Request, default: int) -> int:
    try:
        return max(1, min(int(request.query_params.get("limit", default)), MAX_LIMIT))
    except ValueError:
        return default


def build_app(archive: Archive, metrics: Metrics, live: Callable[[], dict[str, dict[str, Any]]],
              ready: Callable[[], bool], token: str | None = None) -> ASGIApp:
    """`live()`: what the scheduler is doing now, per environment."""

    def html(text: str, status: int = 200) -> HTMLResponse:
        return HTMLResponse(text, status)

    def fleet(request: Request) -> Response:
        return html(pages.fleet(archive.standings(), live(), archive.runs(limit=20)))

    def environment(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in archive.names:
            return html(pages.not_found(f"No environment named {name!r} is served here."), 404)
        try:
            days = max(1, min(int(request.query_params.get("days", 7)), 400))
        except ValueError:
            days = 7
        since = datetime.now(UTC) - timedelta(days=days)
        return html(pages.environment(name, archive.latest_drift(name),
                                      archive.series(name, since, pages.bucket_for(days)),
                                      archive.runs(name, limit=20), days, live().get(name, {})))

    def runs(request: Request) -> Response:
        env, kind = request.query_params.get("environment"), request.query_params.get("kind")
        return html(pages.runs_page(archive.runs(env, kind, _limit(request, 100)), env, kind))

    def run(request: Request) -> Response:
        found = archive.run(request.path_params["id"])
        if found is None:
            return html(pages.not_found("No such run."), 404)
        return html(pages.run_page(found))

    def address(request: Request) -> Response:
        name = request.path_params["address"]
        return html(pages.address_page(name, archive.address(name, _limit(request, 100))))

    def style(request: Request) -> Response:
        return Response(pages.STYLE, media_type="text/css")

    def api_environments(request: Request) -> Response:
        now = live()
        return JSONResponse({"environments": [_standing(s, now.get(s.environment, {}))
                                              for s in archive.standings()]})

    def api_runs(request: Request) -> Response:
        env, kind = request.query_params.get("environment"), request.query_params.get("kind")
        return JSONResponse({"runs": [_public(r, False)
                                      for r in archive.runs(env, kind, _limit(request, 100))]})

    def api_run(request: Request) -> Response:
        found = archive.run(request.path_params["id"])
        if found is None:
            return JSONResponse({"error": "no such run"}, 404)
        return JSONResponse(_public(found, True))

    def api_series(request: Request) -> Response:
        name = request.path_params["name"]
        return JSONResponse({"environment": name, "points": [
            {"started_at": p.started_at, "drifted": p.drifted, "missing": p.missing,
             "unmanaged": p.unmanaged, "outcome": p.outcome} for p in archive.series(name)]})

    def prometheus(request: Request) -> Response:
        return Response(metrics.exposition(), media_type=CONTENT_TYPE)

    def healthz(request: Request) -> Response:
        return PlainTextResponse("ok\n")

    def readyz(request: Request) -> Response:
        try:
            archive.ping()
        except ReconcilerError as exc:
            return PlainTextResponse(f"not ready: the history cannot be read ({exc})\n", 503)
        if not ready():
            return PlainTextResponse("not ready: the scheduler is not running\n", 503)
        return PlainTextResponse("ready\n")

    routes = [Route(path, handler, methods=["GET", "HEAD"]) for path, handler in (
        ("/", fleet), ("/environments/{name}", environment), ("/runs", runs),
        ("/runs/{id}", run), ("/addresses/{address:path}", address), ("/assets/style.css", style),
        ("/api/v1/environments", api_environments), ("/api/v1/runs", api_runs),
        ("/api/v1/runs/{id}", api_run), ("/api/v1/environments/{name}/drift", api_series),
        ("/metrics", prometheus), ("/healthz", healthz), ("/readyz", readyz))]
    return Guard(Starlette(routes=routes), token)

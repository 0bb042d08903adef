"""A misbehaving vendor for tests: one HTTP server on loopback whose behaviour is a mode.

It answers on any path and for any vendor (Outreach, Webex Campaign, SuperOffice): the
reconciler is pointed at it through the provider's base_url, and every request it
receives is recorded (method, path, query, Host, Authorization, body) so that a test can
assert what was sent where -- e.g. that nothing reached a second, "foreign" server:

    with HostileVendor("next_foreign") as vendor, HostileVendor("ok") as foreign:
        vendor.options["foreign"] = foreign.url
        ... run the CLI with OUTREACH_BASE_URL=vendor.url ...
        assert foreign.requests == []

Adding a mode: write `async def my_mode(request: Request, vendor: HostileVendor) -> Response`
and register it with `@mode("my_mode")`. A handler may read `vendor.options` (set by the
test before the run) and the helpers below: `auth(request)` is the credential the client
sent, `error_body(text)` a 4xx body every provider parses as its vendor's error shape,
`empty_list(request)` the empty list answer of the vendor the path belongs to.
"""

from __future__ import annotations

import asyncio
import html
import json
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

Handler = Callable[[Request, "HostileVendor"], Awaitable[Response]]
MODES: dict[str, Handler] = {}


def mode(name: str) -> Callable[[Handler], Handler]:
    """Register a handler under a mode name."""

    def register(handler: Handler) -> Handler:
        MODES[name] = handler
        return handler

    return register


@dataclass
class Seen:
    """One request as the server received it."""

    method: str
    path: str
    query: str
    host: str
    authorization: str | None
    headers: dict[str, str]
    body: bytes


# ------------------------------------------------------------------ helpers ----

def auth(request: Request) -> str:
    """What the client sent as its credential (the whole Authorization header)."""
    return request.headers.get("authorization", "")


def error_body(text: str) -> dict[str, Any]:
    """A 4xx body read as an error by every provider: JSON:API `errors` (Outreach), `code` +
    `description` (Webex Campaign), `Error` + `ErrorType` (SuperOffice)."""
    return {"errors": [{"id": "hostile", "title": "Refused", "detail": text}],
            "code": "499", "description": text, "Error": text, "ErrorType": "Hostile"}


def empty_list(request: Request) -> Response:
    """The empty list answer of the vendor whose path this is (so a plan can proceed)."""
    path = request.url.path
    if path.endswith("/callPurposes"):
        return JSONResponse({"data": [], "links": {}, "meta": {"count": 0}})
    return JSONResponse([])


def outreach_page(items: list[dict[str, Any]], next_url: str | None) -> Response:
    links = {"next": next_url} if next_url else {}
    return JSONResponse({"data": items, "links": links})


def outreach_item(remote_id: int, name: str) -> dict[str, Any]:
    return {"type": "callPurpose", "id": remote_id, "attributes": {"name": name, "order": 1}}


def long_text(secret: str) -> str:
    """An error text longer than 300 characters with the secret straddling character 300."""
    return "x" * 290 + secret + "y" * 40


# ------------------------------------------------------------------ modes ----

@mode("ok")
async def _ok(request: Request, vendor: HostileVendor) -> Response:
    """A well-behaved empty vendor: every list is empty."""
    return empty_list(request)


@mode("echo_200_text")
async def _echo_200_text(request: Request, vendor: HostileVendor) -> Response:
    """200 with a non-JSON body quoting the credential."""
    return PlainTextResponse(f"welcome {auth(request)} !")


@mode("echo_4xx_json")
async def _echo_4xx_json(request: Request, vendor: HostileVendor) -> Response:
    return JSONResponse(error_body(f"bad credential {auth(request)}"), status_code=400)


@mode("echo_4xx_text")
async def _echo_4xx_text(request: Request, vendor: HostileVendor) -> Response:
    return PlainTextResponse(f"denied for {auth(request)}", status_code=403)


@mode("echo_html")
async def _echo_html(request: Request, vendor: HostileVendor) -> Response:
    return Response(f"<p>denied for {html.escape(auth(request))}</p>", status_code=400,
                    media_type="text/html")


@mode("echo_html_json")
async def _echo_html_json(request: Request, vendor: HostileVendor) -> Response:
    return JSONResponse(error_body(html.escape(auth(request))), status_code=400)


@mode("echo_url")
async def _echo_url(request: Request, vendor: HostileVendor) -> Response:
    return JSONResponse(error_body("see /login?t=" + quote(auth(request), safe="")), status_code=400)


@mode("echo_json_escaped")
async def _echo_json_escaped(request: Request, vendor: HostileVendor) -> Response:
    """The credential as a JSON string literal inside a text body (quotes, backslashes escaped)."""
    return PlainTextResponse(json.dumps({"you_sent": auth(request)}), status_code=400)


@mode("echo_json_unicode")
async def _echo_json_unicode(request: Request, vendor: HostileVendor) -> Response:
    """The credential with every non-alphanumeric character written as a \\uXXXX escape."""
    escaped = "".join(c if c.isalnum() else f"\\u{ord(c):04x}" for c in auth(request))
    return PlainTextResponse(f'{{"you_sent": "{escaped}"}}', status_code=400)


@mode("echo_long")
async def _echo_long(request: Request, vendor: HostileVendor) -> Response:
    """A text error over 300 characters that a client cuts inside the credential."""
    return PlainTextResponse(long_text(auth(request)), status_code=400)


@mode("echo_long_json")
async def _echo_long_json(request: Request, vendor: HostileVendor) -> Response:
    return JSONResponse(error_body(long_text(auth(request))), status_code=400)


@mode("echo_5xx")
async def _echo_5xx(request: Request, vendor: HostileVendor) -> Response:
    return PlainTextResponse(f"upstream said {auth(request)}", status_code=503)


@mode("echo_in_name")
async def _echo_in_name(request: Request, vendor: HostileVendor) -> Response:
    """A list whose one object is named after the credential (a vendor-side rename)."""
    name = vendor.options.get("name", "leak {auth}").replace("{auth}", auth(request))
    if request.url.path.endswith("/callPurposes"):
        return outreach_page([outreach_item(7, name)], None)
    return empty_list(request)


@mode("next_foreign")
async def _next_foreign(request: Request, vendor: HostileVendor) -> Response:
    """An Outreach page whose links.next points at `options["foreign"]` (another origin)."""
    if request.url.path.endswith("/callPurposes"):
        return outreach_page([outreach_item(1, "first")],
                             vendor.options["foreign"] + "/api/v2/callPurposes?page=2")
    return empty_list(request)


@mode("next_scheme")
async def _next_scheme(request: Request, vendor: HostileVendor) -> Response:
    """links.next on the same host and port, but another scheme (https)."""
    if request.url.path.endswith("/callPurposes"):
        return outreach_page([], f"https://{request.url.netloc}/api/v2/callPurposes?page=2")
    return empty_list(request)


@mode("next_userinfo")
async def _next_userinfo(request: Request, vendor: HostileVendor) -> Response:
    """links.next that looks like our host but is another: http://ours@foreign/."""
    if request.url.path.endswith("/callPurposes"):
        foreign = vendor.options["foreign"].split("://", 1)[1]
        return outreach_page([], f"http://{request.url.netloc}@{foreign}/callPurposes")
    return empty_list(request)


@mode("redirect_foreign")
async def _redirect_foreign(request: Request, vendor: HostileVendor) -> Response:
    return RedirectResponse(vendor.options["foreign"] + request.url.path, status_code=302)


@mode("redirect_same")
async def _redirect_same(request: Request, vendor: HostileVendor) -> Response:
    """A redirect to the same origin: still not followed with credentials."""
    return RedirectResponse(str(request.url.replace(path="/elsewhere" + request.url.path)),
                            status_code=307)


# ------------------------------------------------------------------ server ----

@dataclass
class HostileVendor:
    """The server, started as a context manager on 127.0.0.1 and a free port."""

    mode: str
    options: dict[str, Any] = field(default_factory=dict)
    requests: list[Seen] = field(default_factory=list)
    url: str = ""

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r} (known: {', '.join(sorted(MODES))})")
        app = Starlette(routes=[Route("/{path:path}", self._handle,
                                      methods=["GET", "POST", "PUT", "PATCH", "DELETE"])])
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="critical",
                                access_log=False, lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=lambda: asyncio.run(self.server.serve()),
                                       name=f"hostile-{self.mode}", daemon=True)

    async def _handle(self, request: Request) -> Response:
        self.requests.append(Seen(request.method, request.url.path, request.url.query,
                                  request.headers.get("host", ""),
                                  request.headers.get("authorization"),
                                  dict(request.headers), await request.body()))
        return await MODES[self.mode](request, self)

    def __enter__(self) -> HostileVendor:
        self.thread.start()
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("hostile vendor could not start")
            threading.Event().wait(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)

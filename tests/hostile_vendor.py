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
import contextlib
import email.utils
import html
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route

Handler = Callable[[Request, "HostileVendor"], Awaitable[Response]]
# A client that stops reading a huge answer (as it should) makes asyncio log every later
# write of the stream as "socket.send() raised exception": expected here, not news.
logging.getLogger("asyncio").setLevel(logging.ERROR)
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


def outreach_item(remote_id: Any, name: str) -> dict[str, Any]:
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


@mode("echo_200_on_write")
async def _echo_200_on_write(request: Request, vendor: HostileVendor) -> Response:
    """Lists are empty; a write succeeds with a non-JSON body quoting the credential."""
    if request.method == "GET":
        return empty_list(request)
    return PlainTextResponse(f"created for {auth(request)} !", status_code=201
                             if request.url.path.endswith("/callPurposes") else 200)


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


@mode("echo_utf16")
async def _echo_utf16(request: Request, vendor: HostileVendor) -> Response:
    """The echo in UTF-16, where a byte scan for an ASCII credential finds nothing."""
    return Response(f"denied for {auth(request)}".encode("utf-16"), status_code=400,
                    media_type="text/plain; charset=utf-16")


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
    if request.url.path.endswith("/callPurposes/7"):
        return JSONResponse({"data": outreach_item(7, name)})
    if request.url.path.endswith("/purposes"):  # Webex Campaign: a bare array, streamed
        return escaped_json([{"id": 5, "name": name, "description": name}], vendor)
    if request.url.path.endswith("/ConsentPurpose/Items"):  # SuperOffice: streamed too
        return escaped_json([{"ConsentPurposeId": 5, "Name": name, "Key": "#k",
                              "ConsentText": name, "Active": 1}], vendor)
    return empty_list(request)


def escaped_json(value: Any, vendor: HostileVendor) -> Response:
    """JSON; with `options["escape"]`, every character of every string is written as a
    \\uXXXX escape (valid JSON that hides the text from a scan of the bytes)."""
    text = _escaped(value) if vendor.options.get("escape") else json.dumps(value)
    return Response(text, media_type="application/json")


def _escaped(value: Any) -> str:
    if isinstance(value, str):
        return '"' + "".join(f"\\u{ord(c):04x}" for c in value) + '"'
    if isinstance(value, dict):
        return "{" + ",".join(f"{_escaped(k)}:{_escaped(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_escaped(v) for v in value) + "]"
    return json.dumps(value)


@mode("echo_ansi")
async def _echo_ansi(request: Request, vendor: HostileVendor) -> Response:
    """An error text that would clear the screen and print a green "Apply complete!"."""
    text = ("\x1b[2J\x1b[H\x1b[32mApply complete!\x1b[0m \x9b31m\u202e\x07 "
            f"\x1b]0;{auth(request)}\x07")
    return JSONResponse(error_body(text), status_code=400)


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


# ---------------------------------------------- broken answers (robustness) ----
# Options: `slow_bytes` (slow_body), `size_mb` (huge_*), `wait_s` (retry_after_*, reset_ms).

def _outreach_or(request: Request, answer: Response) -> Response:
    """`answer` for the Outreach list; the other vendors' lists stay empty and well formed."""
    return answer if request.url.path.endswith("/callPurposes") else empty_list(request)


@mode("slow_body")
async def _slow_body(request: Request, vendor: HostileVendor) -> Response:
    """A valid answer sent one byte per second: every read is quick, the whole is not."""
    body = b" " * 60 + (json.dumps({"data": [], "links": {}}).encode() if request.url.path.endswith(
        "/callPurposes") else b"[]")

    async def trickle() -> AsyncIterator[bytes]:
        for byte in body[: vendor.options.get("slow_bytes", len(body))]:
            yield bytes([byte])
            await asyncio.sleep(1)

    return StreamingResponse(trickle(), media_type="application/json")


@mode("invalid_json")
async def _invalid_json(request: Request, vendor: HostileVendor) -> Response:
    return Response('{"data": [{"id": 1, "attributes": {"name": "x"', media_type="application/json")


@mode("html_200")
async def _html_200(request: Request, vendor: HostileVendor) -> Response:
    """A login or maintenance page answered with 200 on every path."""
    return Response("<html><body><h1>Maintenance</h1></body></html>", media_type="text/html")


@mode("array_for_object")
async def _array_for_object(request: Request, vendor: HostileVendor) -> Response:
    """A JSON array where the API documents an object (and an object where it documents an
    array, for the vendors whose lists are arrays)."""
    if request.url.path.endswith("/callPurposes"):
        return JSONResponse([{"id": 1}])
    return JSONResponse({"items": []})


@mode("data_object")
async def _data_object(request: Request, vendor: HostileVendor) -> Response:
    return _outreach_or(request, JSONResponse({"data": {"id": 1, "type": "callPurpose"},
                                               "links": {}}))


@mode("item_without_id")
async def _item_without_id(request: Request, vendor: HostileVendor) -> Response:
    """List items with no id (Outreach), or list items that are not objects (the others)."""
    if request.url.path.endswith("/callPurposes"):
        return outreach_page([{"type": "callPurpose", "attributes": {"name": "x"}}], None)
    return JSONResponse([{"name": "no id"}, 7])


@mode("corrupt_gzip")
async def _corrupt_gzip(request: Request, vendor: HostileVendor) -> Response:
    return Response(b"\x1f\x8b\x08\x00garbage-not-deflate" * 4, media_type="application/json",
                    headers={"Content-Encoding": "gzip"})


@mode("next_same")
async def _next_same(request: Request, vendor: HostileVendor) -> Response:
    """links.next pointing at the very page just served."""
    return _outreach_or(request, outreach_page([outreach_item(1, "loop")], str(request.url)))


@mode("next_cursor_loop")
async def _next_cursor_loop(request: Request, vendor: HostileVendor) -> Response:
    """links.next with the same cursor every time, under a new extra parameter."""
    count = len(vendor.requests)
    url = f"{vendor.url}{request.url.path}?page[size]=10&page[after]=abc&n={count}"
    return _outreach_or(request, outreach_page([outreach_item(count, f"p{count}")], url))


@mode("next_invalid")
async def _next_invalid(request: Request, vendor: HostileVendor) -> Response:
    """links.next that no URL parser accepts."""
    return _outreach_or(request, outreach_page([outreach_item(1, "first")], "http://[::1/x"))


@mode("next_endless")
async def _next_endless(request: Request, vendor: HostileVendor) -> Response:
    """A new page, with a new cursor, for ever."""
    count = len(vendor.requests)
    url = f"{vendor.url}{request.url.path}?page[size]=1&page[after]=c{count}"
    return _outreach_or(request, outreach_page([outreach_item(count, f"p{count}")], url))


@mode("retry_after_huge")
async def _retry_after_huge(request: Request, vendor: HostileVendor) -> Response:
    return JSONResponse(error_body("slow down"), status_code=429,
                        headers={"Retry-After": str(vendor.options.get("wait_s", 999999))})


@mode("retry_after_date")
async def _retry_after_date(request: Request, vendor: HostileVendor) -> Response:
    """Retry-After as an HTTP date (a day from now unless `wait_s`)."""
    when = email.utils.formatdate(time.time() + vendor.options.get("wait_s", 86400), usegmt=True)
    return JSONResponse(error_body("slow down"), status_code=503, headers={"Retry-After": when})


@mode("reset_ms")
async def _reset_ms(request: Request, vendor: HostileVendor) -> Response:
    """429 with X-RateLimit-Reset as an epoch in milliseconds (`wait_s` from now)."""
    reset_ms = int((time.time() + vendor.options.get("wait_s", 600)) * 1000)
    return JSONResponse(error_body("rate limit"), status_code=429,
                        headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset_ms)})


def _huge(size_mb: float, head: bytes, item: bytes, tail: bytes) -> AsyncIterator[bytes]:
    """`size_mb` of JSON generated as it is sent: the server never holds the whole body."""

    async def chunks() -> AsyncIterator[bytes]:
        yield head
        block = item * max(1, (1 << 16) // len(item))
        for _ in range(int(size_mb * (1 << 20)) // len(block)):
            yield block
        yield tail

    return chunks()


@mode("huge_body")
async def _huge_body(request: Request, vendor: HostileVendor) -> Response:
    """A list answer of `size_mb` MB (default 300): an endless stream of callPurposes."""
    size = vendor.options.get("size_mb", 300)
    if request.url.path.endswith("/callPurposes"):
        item = b'{"type":"callPurpose","id":1,"attributes":{"name":"x"}},'
        body = _huge(size, b'{"data":[', item, b'{"type":"callPurpose","id":2}],"links":{}}')
    else:
        body = _huge(size, b"[", b'{"id":1,"name":"x"},', b'{"id":2,"name":"y"}]')
    return StreamingResponse(body, media_type="application/json")


@mode("huge_error")
async def _huge_error(request: Request, vendor: HostileVendor) -> Response:
    """A 400 whose error text is `size_mb` MB long."""
    body = _huge(vendor.options.get("size_mb", 300), b'{"errors":[{"id":"x","detail":"', b"x" * 64,
                 b'"}]}')
    return StreamingResponse(body, status_code=400, media_type="application/json")


@mode("ids")
async def _ids(request: Request, vendor: HostileVendor) -> Response:
    """A vendor that chooses ids: lists show `options["listed"]` ([id, name] pairs, for
    every vendor's list path); an Outreach create answers `options["create_id"]` (else the
    next free number); an update answers `options["answer_id"]` named
    `options["answer_name"]` (else the object addressed). Anything else is an empty list."""
    path, listed = request.url.path, vendor.options.get("listed", [])
    if request.method == "GET" and path.endswith("/callPurposes"):
        return outreach_page([outreach_item(i, n) for i, n in listed], None)
    if request.method == "GET" and path.endswith("/purposes"):
        return JSONResponse([{"id": i, "name": n, "description": ""} for i, n in listed])
    if request.method == "GET" and path.endswith("/ConsentPurpose/Items"):
        return JSONResponse([{"ConsentPurposeId": i, "Name": n, "Key": f"#{n}", "Active": 1}
                             for i, n in listed])
    if request.method == "GET" and "/callPurposes/" in path:
        found = [outreach_item(i, n) for i, n in listed if path.endswith(f"/{i}")]
        return JSONResponse({"data": found[0]} if found else error_body("no such id"),
                            status_code=200 if found else 404)
    if request.method in ("POST", "PATCH"):
        sent = json.loads(await request.body() or b"{}").get("data", {})
        name = sent.get("attributes", {}).get("name", "?")
        if request.method == "POST":
            vendor.options["created"] = vendor.options.get("created", 100) + 1
            remote_id = vendor.options.get("create_id", vendor.options["created"])
            return JSONResponse({"data": outreach_item(remote_id, name)}, status_code=201)
        remote_id = vendor.options.get("answer_id", sent.get("id"))
        return JSONResponse({"data": outreach_item(remote_id, vendor.options.get(
            "answer_name", name))})
    if request.method == "DELETE":
        return Response(status_code=204)
    return empty_list(request)


@mode("body")
async def _body(request: Request, vendor: HostileVendor) -> Response:
    """200 with `options["body"]` (text written as given: NaN, huge numbers, deep nesting)."""
    return Response(vendor.options["body"], media_type="application/json")


@mode("recording")
async def _recording(request: Request, vendor: HostileVendor) -> Response:
    """A well-behaved Outreach that keeps its call purposes in `options["store"]` (id ->
    attributes), except that each create answers the next id of `options["ids"]` (any JSON
    value: the test chooses what a vendor might say), or, with `options["lose_creates"]`,
    creates and answers 503. Every request is recorded as usual."""
    store: dict[str, dict[str, Any]] = vendor.options.setdefault("store", {})
    path = request.url.path
    base = "/api/v2/callPurposes"
    if request.method == "GET" and path == base:
        return outreach_page([{"type": "callPurpose", "id": int(i), "attributes": a}
                              for i, a in store.items()], None)
    if request.method == "POST" and path == base:
        sent = json.loads(await request.body())["data"]["attributes"]
        remote_id = vendor.options["ids"].pop(0)
        attributes = {"name": sent["name"], "order": sent.get("order")}
        if str(remote_id).isdigit():
            store[str(remote_id)] = attributes
        if vendor.options.get("lose_creates"):  # created, but the answer is lost (a 503)
            return PlainTextResponse("upstream timed out", status_code=503)
        return JSONResponse({"data": {"type": "callPurpose", "id": remote_id,
                                      "attributes": attributes}}, status_code=201)
    remote_id = path.removeprefix(base + "/")
    if path.startswith(base + "/") and remote_id in store:
        if request.method == "PATCH":
            store[remote_id].update(json.loads(await request.body())["data"]["attributes"])
        if request.method == "DELETE":
            del store[remote_id]
            return Response(status_code=204)
        return JSONResponse({"data": {"type": "callPurpose", "id": int(remote_id),
                                      "attributes": store[remote_id]}})
    return JSONResponse(error_body(f"no route {request.method} {path}"), status_code=404)


# ------------------------------------------------------------------ server ----

class _PromptServer(uvicorn.Server):
    """uvicorn's server, stopped as soon as asked: uvicorn looks at `should_exit` every 0.1 s
    and its shutdown then sleeps 0.1 s before waiting for connections, ~0.15 s per vendor
    (the hostile catalogues start hundreds). The same steps without the fixed waits."""

    async def startup(self, sockets: Any = None) -> None:
        self._stop = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        await super().startup(sockets)

    async def main_loop(self) -> None:
        counter = 0
        await self.on_tick(counter)  # the Date header, refreshed each second as uvicorn does
        while not self.should_exit:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.1):
                    await self._stop.wait()
            counter += 1
            await self.on_tick(counter)

    def stop(self) -> None:
        """From another thread."""
        self.should_exit = True
        self._loop.call_soon_threadsafe(self._stop.set)

    async def shutdown(self, sockets: Any = None) -> None:
        for server in self.servers:
            server.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        while self.server_state.connections or self.server_state.tasks:  # as uvicorn waits
            await asyncio.sleep(0.005)
        for server in self.servers:
            await server.wait_closed()


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
        self.server = _PromptServer(config)
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
        self.server.stop()
        self.thread.join(timeout=5)

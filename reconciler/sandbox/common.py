"""What every vendor sandbox shares: persisted tables, fault injection, rate limits, request log.

A vendor module builds a Starlette app from a `VendorSandbox`; only the wire
format of errors differs between vendors, so each passes its own `ErrorBody`.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reconciler.files import atomic_write

ErrorBody = Callable[[int, str], Response]
"""(status, message) -> a response in the vendor's own error format."""


class Answer(Exception):
    """An answer given before a handler's work (not authorised, not found, a bad body): a
    check raises it with the vendor's own error response, and the app sends that response
    (EARLY_ANSWERS), so handlers read as their happy path."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


async def _early(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, Answer)
    return exc.response


EARLY_ANSWERS: Mapping[Any, Callable[[Request, Exception], Awaitable[Response]]] = {Answer: _early}
"""`Starlette(exception_handlers=EARLY_ANSWERS)` in every vendor's sandbox app."""


@dataclass
class Faults:
    """Probabilities (0..1) of injected failures, and added latency, for one sandbox."""

    rate_429: float = 0.0
    rate_500: float = 0.0
    rate_503: float = 0.0
    rate_drop: float = 0.0
    latency_ms: float = 0.0
    retry_after_s: float = 0.05
    seed: int | None = None

    @classmethod
    def parse(cls, text: str) -> Faults:
        """Parse `429=0.2,500=0.1,503=0.05,drop=0.05,latency=20,retry_after=0.1,seed=1`."""
        faults = cls()
        names = {"429": "rate_429", "500": "rate_500", "503": "rate_503", "drop": "rate_drop",
                 "latency": "latency_ms", "retry_after": "retry_after_s", "seed": "seed"}
        for item in filter(None, (part.strip() for part in text.split(","))):
            name, _, value = item.partition("=")
            if name not in names or not value:
                raise ValueError(f"unknown fault {item!r}; expected one of {', '.join(names)} as NAME=VALUE")
            setattr(faults, names[name], int(value) if name == "seed" else float(value))
        return faults

    def active(self) -> bool:
        return any((self.rate_429, self.rate_500, self.rate_503, self.rate_drop, self.latency_ms))


class RateLimiter:
    """A fixed window of `limit` requests per `window_s`, like Outreach's hourly quota."""

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit = limit
        self.window_s = window_s
        self._start = time.monotonic()
        self._count = 0

    def take(self) -> tuple[bool, int, float]:
        """Count one request: (allowed, remaining, seconds until the window resets)."""
        now = time.monotonic()
        if now - self._start >= self.window_s:
            self._start, self._count = now, 0
        reset_in = max(0.0, self.window_s - (now - self._start))
        if self.limit <= 0:
            return True, 1_000_000, reset_in
        if self._count >= self.limit:
            return False, 0, reset_in
        self._count += 1
        return True, self.limit - self._count, reset_in


class Table:
    """One vendor's persisted objects: a JSON file, rewritten atomically.

    Writes are coalesced: `save()` marks the table dirty and the file is
    rewritten at most every `FLUSH_DELAY_S` (in the server's event loop, so no
    other thread sees the data mid-change), and once more by `flush()` at
    shutdown. Rewriting a 10k-object file after every request would make the
    emulator, not the reconciler, the bottleneck.
    """

    FLUSH_DELAY_S = 0.25

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.data: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._dirty = False
        self._scheduled = False
        if path is not None and path.exists():
            self.data = json.loads(path.read_text())

    def save(self) -> None:
        if self.path is None:
            return
        self._dirty = True
        if self._scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        self._scheduled = True
        loop.call_later(self.FLUSH_DELAY_S, self.flush)

    def flush(self) -> None:
        self._scheduled = False
        if self.path is None or not self._dirty:
            return
        with self._lock:
            self._dirty = False
            # the vendor's data, as a vendor keeps it: whatever a client sent, credentials too
            atomic_write(self.path, json.dumps(self.data), make_folder=True, ours=False)


@dataclass
class RequestLog:
    """Counts of requests per (vendor, method), so tests can prove a command wrote nothing."""

    counts: dict[str, int] = field(default_factory=dict)
    in_flight: dict[str, int] = field(default_factory=dict)
    most_vendors_at_once: int = 0  # shows whether a client works on vendors in parallel

    def add(self, vendor: str, method: str) -> None:
        key = f"{vendor} {method}"
        self.counts[key] = self.counts.get(key, 0) + 1

    def enter(self, vendor: str) -> None:
        self.in_flight[vendor] = self.in_flight.get(vendor, 0) + 1
        busy = sum(1 for n in self.in_flight.values() if n)
        self.most_vendors_at_once = max(self.most_vendors_at_once, busy)

    def leave(self, vendor: str) -> None:
        self.in_flight[vendor] -= 1


class FaultMiddleware:
    """Injects latency, throttling, server errors and dropped connections before the vendor app.

    A "drop" lets the vendor handle the request, then breaks the connection in
    the middle of the response: the client cannot tell whether the write
    happened, which is the ambiguous failure a reconciler must survive.
    """

    def __init__(self, app: ASGIApp, vendor: str, faults: Faults, log: RequestLog,
                 error_body: ErrorBody, limiter: RateLimiter | None = None,
                 rate_headers: bool = False) -> None:
        self.app = app
        self.vendor = vendor
        self.faults = faults
        self.log = log
        self.error_body = error_body
        self.limiter = limiter
        self.rate_headers = rate_headers
        self.random = random.Random(faults.seed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.log.add(self.vendor, scope["method"])
        self.log.enter(self.vendor)
        try:
            await self._handle(scope, receive, send)
        finally:
            self.log.leave(self.vendor)

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        faults = self.faults
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000 * self.random.uniform(0.5, 1.5))
        headers: dict[str, str] = {}
        if self.limiter is not None:
            allowed, remaining, reset_in = self.limiter.take()
            if self.rate_headers:
                headers = {"X-RateLimit-Limit": str(self.limiter.limit),
                           "X-RateLimit-Remaining": str(remaining),
                           "X-RateLimit-Reset": str(int(time.time() + reset_in))}
            if not allowed:
                headers["Retry-After"] = f"{max(reset_in, 0.001):.3f}"
                await self._reply(scope, receive, send, self.error_body(429, "rate limit exceeded"),
                                  headers)
                return
        roll = self.random.random()
        for threshold, status in ((faults.rate_429, 429), (faults.rate_500, 500), (faults.rate_503, 503)):
            if roll < threshold:
                extra = {"Retry-After": f"{faults.retry_after_s:g}"} if status in (429, 503) else {}
                await self._reply(scope, receive, send,
                                  self.error_body(status, "injected fault"), {**headers, **extra})
                return
            roll -= threshold
        if roll < faults.rate_drop:
            await self.app(scope, receive, _DroppingSend(send))
            return
        await self.app(scope, receive, _with_headers(send, headers))

    async def _reply(self, scope: Scope, receive: Receive, send: Send, response: Response,
                     headers: dict[str, str]) -> None:
        response.headers.update(headers)
        await response(scope, receive, send)


def _with_headers(send: Send, headers: dict[str, str]) -> Send:
    if not headers:
        return send
    encoded = [(k.lower().encode(), v.encode()) for k, v in headers.items()]

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *encoded]}
        await send(message)

    return wrapped


class DroppedConnection(Exception):
    """Raised inside the server to make uvicorn close the socket mid-response."""


class _DroppingSend:
    def __init__(self, send: Send) -> None:
        self.send = send

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"content-length"]
            await self.send({**message, "headers": [*headers, (b"content-length", b"100000")]})
            return
        raise DroppedConnection("sandbox fault: connection dropped after the request was handled")


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


async def json_body(request: Request) -> Any:
    """The request's JSON, or raise ValueError with what was wrong."""
    raw = await request.body()
    if not raw:
        raise ValueError("empty body")
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON: {exc}") from exc


Handler = Callable[[Request], Awaitable[Response]]


def json_response(payload: Any, status: int = 200, media_type: str = "application/json") -> Response:
    return JSONResponse(payload, status_code=status, media_type=media_type)


@dataclass(frozen=True)
class SandboxContext:
    """What the server hands a vendor sandbox when mounting it."""

    table: Callable[[str], Table]  # a persisted table by name (one JSON file each)
    faults: Faults
    log: RequestLog
    options: Mapping[str, Any]  # this vendor's switches (SandboxSettings.options[vendor])

    def option(self, name: str, default: Any) -> Any:
        return self.options.get(name, default)


@dataclass(frozen=True)
class VendorSandbox:
    """A vendor's emulator, as its package declares it (see reconciler.providers.plugin).

    `mount` returns the routes to serve under the server's root (each at the vendor's own
    path prefix); `overrides` gives the provider settings (URLs, the sandbox's well-known
    credentials) that point the vendor's provider at a server running at a base URL."""

    name: str
    mount: Callable[[SandboxContext], list[BaseRoute]]
    overrides: Callable[[str], dict[str, Any]]
    options: tuple[str, ...] = ()  # the switches `mount` reads, for error messages

"""The one HTTP client every provider uses: timeouts, bounded concurrency, retries with
backoff that honours Retry-After and rate-limit headers, client-side pacing, and error
messages scrubbed of secrets.

Retries use tenacity. What is retried: 429, 5xx, and network failures where the
request cannot have been processed. A non-idempotent write (POST) that fails
ambiguously (connection lost after sending, or a 5xx) is not retried here: it
raises `AmbiguousWriteError`, and the engine looks the object up before trying again.
"""

from __future__ import annotations

import asyncio
import functools
import json as jsonlib
import logging
import math
import os
import random
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import ijson  # type: ignore[import-untyped]

from reconciler.errors import (
    AmbiguousWriteError,
    AnswerError,
    ConfigError,
    OriginError,
    VendorError,
)
from reconciler.jsonread import JsonLimitError, loads
from reconciler.net import is_loopback
from reconciler.providers.limits import Bounds, reset_in, seconds_until, too_many_items
from reconciler.redact import REDACT, Redactor, clean, register, shorten

log = logging.getLogger("reconciler.http")
T = TypeVar("T")
R = TypeVar("R")

ErrorParser = Callable[[httpx.Response], tuple[str | None, str]]
"""A failed response -> (vendor error code, readable message)."""
BodyCheck = Callable[[httpx.Response], tuple[str, str] | None]
"""A successful-status response -> (code, message) when its body says it failed."""

Observer = Callable[[str, str], None]
OBSERVERS: list[Observer] = []
"""Who hears of each answer and retry, as (vendor, status code or "retry" or "network"):
the service's metrics (reconciler/service/metrics.py). Empty on the CLI: one list check."""


def _observe(vendor: str, event: str) -> None:
    for observer in OBSERVERS:
        observer(vendor, event)


_SENT_UNKNOWN = (httpx.ReadError, httpx.RemoteProtocolError, httpx.ReadTimeout,
                 httpx.WriteError, httpx.WriteTimeout)
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_BAD_ITEM = (KeyError, TypeError, AttributeError, ValueError, IndexError)


class _ChunkReader:
    """The async `read()` ijson wants, over the chunks of a streamed response."""

    def __init__(self, head: bytes, chunks: AsyncIterator[bytes]) -> None:
        self._head = head
        self._chunks = chunks

    async def read(self, size: int = -1) -> bytes:
        if size == 0:
            return b""  # ijson asks for nothing first, to learn whether it gets bytes or str
        if self._head:
            head, self._head = self._head, b""
            return head
        return await anext(self._chunks, b"")


WHOLE_ARRAY_BYTES = 4 << 20
"""A list answer up to this size is parsed in one call of Python's JSON reader (C, twice
as fast as the stream for the bench's 2,000-purpose lists), holding at most this many
bytes and their parsed items besides the converted objects; a larger one streams item by
item, as before (the 300,000-object plan's lists are all larger, or paged)."""

_INT64 = 18
"""Digits of an integer both readers take alike (the stream refuses one past 64 bits)."""


class _Unlike(ValueError):
    """A value the stream would read otherwise: the answer is left to the stream."""


def _int64(text: str) -> int:
    if len(text) > _INT64:
        raise _Unlike(text)
    return int(text)


def _finite(text: str) -> float:
    value = float(text)
    if value in (math.inf, -math.inf):
        raise _Unlike(text)
    return value


def _constant(text: str) -> Any:
    raise _Unlike(text)


def _whole_array(body: bytes) -> list[Any] | None:
    """The items of a JSON array exactly as ijson's stream reads them, or None (the stream
    then reads it, and says what is wrong) for anything the two could read differently:
    NaN and Infinity, 1e999 and integers past 64 bits (the stream refuses them), \\u
    escapes (the stream reads a lone surrogate as "?"), deep nesting, any malformed JSON."""
    if b"\\u" in body:
        return None
    try:
        items = jsonlib.loads(body.decode("utf-8"), parse_int=_int64, parse_float=_finite,
                              parse_constant=_constant)  # UTF-8 only: never a guessed UTF-16
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError included
        return None
    return items if type(items) is list else None


class _Retryable(Exception):
    def __init__(self, reason: str, retry_after: float | None = None,
                 error: VendorError | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after
        self.error = error


__all__ = ["Redactor", "VendorClient", "check_url", "json_body"]


def json_body(vendor: str, response: httpx.Response,
              expect: type[dict[str, Any]] | type[list[Any]], where: str) -> Any:
    """The JSON body, or a clear VendorError when it is not the shape the API documents."""
    try:
        body = loads(response.text, f"{where}the answer")
    except JsonLimitError as exc:
        raise AnswerError(vendor, response.status_code, None, clean(REDACT(str(exc)))) from None
    except ValueError:
        body = None
    if not isinstance(body, expect):
        shown = clean(REDACT(response.text.strip()))[:120] or "an empty body"  # redacted, then cut
        raise VendorError(vendor, response.status_code, None, (
            f"{where}expected a JSON {'object' if expect is dict else 'array'}, got {shown!r}"))
    return body


def origin(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of a URL, with the scheme's default port filled in."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "", "", -1  # not a URL: an origin nothing equals
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = -1
    return scheme, (parts.hostname or "").lower(), port or {"http": 80, "https": 443}.get(scheme, 0)


def show_origin(value: tuple[str, str, int]) -> str:
    scheme, host, port = value
    return f"{scheme}://{host}:{port}"


_BYTE_SAFE = frozenset({"utf-8", "utf8", "ascii", "us-ascii", "iso-8859-1", "latin-1", "latin1"})
"""Encodings in which an ASCII credential is the same bytes (others are decoded first)."""


def _byte_safe(response: httpx.Response) -> bool:
    """Whether the answer's text is its bytes read as a byte-safe encoding. Without a charset
    in Content-Type, httpx reads it as the client's default encoding: known without parsing
    the header (which httpx does with an email.message.Message, per answer)."""
    if not hasattr(response, "_encoding") and isinstance(response.default_encoding, str) \
            and "charset" not in response.headers.get("content-type", "").lower():
        encoding = response.default_encoding
    else:
        encoding = response.encoding or "utf-8"
    return encoding.lower().replace("_", "-") in _BYTE_SAFE


def scrubbed(response: httpx.Response) -> httpx.Response:
    """A failed answer with every credential it quotes redacted, before a provider reads its
    message (and cuts it to 300 characters). JSON is redacted value by value, so escapes
    (\\u0041) hide nothing. A successful answer is data, never rewritten: a credential in it
    is redacted where people read it, and refused where a file would keep it."""
    if not REDACT.secrets or not response.content or response.is_success:
        return response  # a successful answer is data: never rewritten (files refuse it)
    if _byte_safe(response) \
            and b"\\u" not in response.content and not REDACT.found_in(response.content):
        return response  # the common case: one scan of the bytes, nothing decoded
    text = response.text
    if "\\u" not in text and not REDACT.found(text):
        return response
    encoding = response.encoding or "utf-8"  # the headers still name it
    try:
        content = jsonlib.dumps(REDACT.data(jsonlib.loads(text))).encode(encoding, "replace")
    except ValueError:
        content = REDACT(text).encode(encoding, "replace")
    headers = [(k, REDACT(v)) for k, v in response.headers.multi_items()
               if k.lower() not in ("content-encoding", "content-length")]
    return httpx.Response(response.status_code, headers=headers, content=content,
                          request=response.request)


def check_headers(vendor: str, headers: dict[str, str]) -> None:
    """Credentials in headers must be plain printable ASCII: anything else would fail deep in
    the HTTP library, with the value in its message. Never shows the value."""
    for name, value in headers.items():
        if not value.isascii() or any(ord(c) < 32 or ord(c) == 127 for c in value) \
                or value != value.strip():
            raise ConfigError(f"providers.{vendor}: the {name} header made from its credentials "
                              "holds spaces at its ends, control or non-ASCII characters; check "
                              "the credential settings and the environment variables they read")


def check_url(vendor: str, url: str, allow_insecure_http: bool) -> None:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (a port that is not a number raises here)
    except ValueError as exc:
        raise ConfigError(f"providers.{vendor}.base_url: not a valid URL ({exc}); write it as "
                          "https://host/path") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"providers.{vendor}.base_url: {url!r} is not an http(s) URL")
    if parts.scheme == "http" and not allow_insecure_http and not is_loopback(parts.hostname):
        raise ConfigError(
            f"providers.{vendor}: refusing plain http:// to {parts.hostname}; use https://, "
            f"or set allow_insecure_http: true for this provider if you really mean it")


def tls_context() -> ssl.SSLContext:
    """The verifying TLS context every client of the run shares: httpx's own default (the
    CA bundle, or SSL_CERT_FILE / SSL_CERT_DIR), built once instead of once per client
    (loading the CA bundle is most of a client's construction, five clients a run)."""
    return _tls_context(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


@functools.cache
def _tls_context(_cert_file: str | None, _cert_dir: str | None) -> ssl.SSLContext:
    return httpx.create_ssl_context(verify=True, trust_env=True)


_url = functools.lru_cache(maxsize=256)(httpx.URL)
"""A request's URL, parsed once: every create of a kind posts to the same one (httpx parses
a string URL with every request, and checks it character by character)."""


class _Cookies(httpx.Cookies):
    """Cookies read only from an answer that sets some: httpx reads every answer through
    urllib's cookie jar, building a urllib request for it first, to find none."""

    def extract_cookies(self, response: httpx.Response) -> None:
        if "set-cookie" in response.headers or "set-cookie2" in response.headers:
            super().extract_cookies(response)


class _Client(httpx.AsyncClient):
    """httpx's client, with `_Cookies`: the same cookies, kept and sent as httpx does."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cookies = kwargs.get("cookies") or {}

    @property
    def cookies(self) -> httpx.Cookies:
        return self._jar

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        self._jar = _Cookies(cookies)


def _proxied() -> bool:
    """Whether an HTTP proxy is configured (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY; on macOS and
    Windows also the system's settings): httpx honours it, NO_PROXY included, only with its
    own transport, so such a client goes through httpx's pool instead of lanes (an egress
    proxy on a CI runner keeps working, at the previous speed)."""
    from urllib.request import getproxies  # what httpx reads too

    return any(scheme != "no" for scheme in getproxies())


class VendorClient:
    def __init__(self, vendor: str, base_url: str, headers: dict[str, str], *,
                 secrets: Iterable[str], parse_error: ErrorParser,
                 check_body: BodyCheck | None = None, concurrency: int = 8,
                 timeout_s: float = 30.0, max_attempts: int = 8,
                 allow_insecure_http: bool = False,
                 transport: httpx.AsyncBaseTransport | None = None,
                 url_setting: str = "base_url") -> None:
        check_url(vendor, base_url, allow_insecure_http)
        self.url_setting = url_setting  # what a connection error tells the user to check
        check_headers(vendor, headers)
        self.vendor = vendor
        register(secrets)
        self.redact: Redactor = REDACT  # knows every credential of the run, not only ours
        self.origin = origin(base_url)
        self.parse_error = parse_error
        self.check_body = check_body
        self.max_attempts = max_attempts
        self.concurrency = concurrency
        self.semaphore = asyncio.Semaphore(concurrency)
        self.base_url = base_url.rstrip("/")
        # Plain HTTP (a sandbox on loopback) makes no TLS connection: every URL it
        # requests has the configured origin (_followed), so no CA bundle is loaded.
        verify = tls_context() if self.origin[0] == "https" else False
        from reconciler.providers.lanes import Lanes  # httpcore: only where a client is made

        self.http = _Client(
            base_url=base_url.rstrip("/"), headers=headers, timeout=httpx.Timeout(timeout_s),
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
            transport=transport or (None if _proxied() else Lanes(max(1, concurrency), verify=verify)),
            follow_redirects=False, verify=verify)
        self._pace_until = 0.0
        self._pace_gap = 0.0
        self.requests_sent = 0
        self.bounds = Bounds(vendor)

    def bound(self, deadline_s: float, retry_budget_s: float, max_response_mb: float,
              max_list_items: int = Bounds.max_list_items) -> None:
        """Apply the provider's limits (request_deadline_s, max_retry_wait_s, max_response_mb,
        max_list_items)."""
        self.bounds = Bounds(self.vendor, deadline_s, retry_budget_s, max_response_mb,
                             max_list_items)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def request(self, method: str, url: str, *, json: Any = None,
                      params: dict[str, Any] | None = None, ok: tuple[int, ...] = (200,),
                      idempotent: bool | None = None) -> httpx.Response:
        """Send one request, retrying what is safe to retry; raise VendorError otherwise."""
        safe = method != "POST" if idempotent is None else idempotent
        return await self._retried(method, url, lambda: self._once(method, url, json, params, ok, safe))

    async def get_array(self, url: str, convert: Callable[[Any], T | None]) -> list[T]:
        """GET a JSON array, converting each element as it arrives (None drops it).

        A list answer of 100,000 objects then never exists whole in memory, neither as
        the body nor as its parsed tree: only the converted objects are kept."""
        return await self._retried("GET", url, lambda: self._once_array(url, convert))

    async def _retried(self, method: str, url: str, once: Callable[[], Awaitable[R]]) -> R:
        try:
            return await once()  # the common case pays for no retry machinery
        except _Retryable as exc:
            if self.max_attempts <= 1:
                raise self._gave_up(method, url, exc) from None
            await asyncio.sleep(self._delay(exc, 1))
        # start-up: tenacity (11 modules, 4 ms) is imported by the first retry of a run
        from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.max_attempts - 1), reraise=True,
            retry=retry_if_exception_type(_Retryable),
            # tenacity asks for the wait before it checks the stop: no wait (and no charge to
            # the retry budget, no "waiting" line) after the last attempt
            wait=lambda state: 0.0 if state.attempt_number >= self.max_attempts - 1 else
            self._delay(state.outcome.exception() if state.outcome else None,
                        state.attempt_number + 1))
        try:
            async for attempt in retrying:
                with attempt:
                    return await once()
        except _Retryable as exc:
            raise self._gave_up(method, url, exc) from None
        raise AssertionError("unreachable")

    def _gave_up(self, method: str, url: str, exc: _Retryable) -> VendorError:
        return exc.error or VendorError(self.vendor, None, None, self.redact(
            f"{method} {url}: {exc} (gave up after {self.max_attempts} attempts)"))

    @asynccontextmanager
    async def _exchange(self, method: str, url: str, json: Any, params: dict[str, Any] | None,
                        safe: bool, stream: bool = False) -> AsyncIterator[httpx.Response]:
        """One request inside the concurrency limit; network failures become retryable
        (or ambiguous, for a write that may have been processed), also while streaming."""
        await self._pace()
        # An absolute URL spares httpx re-parsing its base URL with every request.
        target = self.base_url + url if url.startswith("/") else self._followed(method, url)
        async with self.semaphore:
            self.requests_sent += 1
            try:
                async with asyncio.timeout(self.bounds.deadline_s):  # connect + headers + body
                    async with self.http.stream(method, _url(target), json=json,
                                                params=params) as raw:
                        self._received(method, url, raw)
                        if stream:
                            yield raw
                            return
                        response = scrubbed(await self._read(method, url, raw))
                    yield response
            except TimeoutError:
                if safe:  # not retried: the deadline bounds the whole request, retries included
                    raise VendorError(self.vendor, None, None,
                                      self.bounds.deadline_error(method, url)) from None
                raise AmbiguousWriteError(self.vendor, None, None,
                                          self.bounds.deadline_error(method, url)) from None
            except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
                raise VendorError(self.vendor, None, None, self.redact(clean(
                    f"{method} {shorten(url)}: not a URL that can be requested ({exc})"))) from None
            except httpx.DecodingError:
                raise VendorError(self.vendor, None, None, (
                    f"{method} {url}: the answer's compressed body is corrupt (its "
                    "Content-Encoding does not decode); try again later")) from None
            except _NOT_SENT as exc:
                _observe(self.vendor, "network")
                raise _Retryable(f"cannot connect to {show_origin(self.origin)} "
                                 f"({type(exc).__name__}); check providers.{self.vendor}.{self.url_setting} "
                                 "and the network") from None
            except _SENT_UNKNOWN as exc:
                _observe(self.vendor, "network")
                reason = f"connection lost after sending ({type(exc).__name__})"
                if safe:
                    raise _Retryable(reason) from None
                raise AmbiguousWriteError(self.vendor, None, None,
                                          f"{method} {url}: {reason}") from None

    def _followed(self, method: str, url: str) -> str:
        """A URL the vendor gave us (links.next): followed only on the configured origin
        (scheme, host and port), so that the credentials never go anywhere else."""
        try:
            parts = urlsplit(url)
        except ValueError:
            raise VendorError(self.vendor, None, None, self.redact(clean(
                f"{method}: the vendor's answer points to {shorten(url)!r}, which is not a valid "
                "URL; not followed"))) from None
        if not parts.scheme and not parts.netloc:
            return url  # relative: resolved against base_url
        found = origin(url if parts.scheme else f"{self.origin[0]}:{url}")
        if found != self.origin or parts.username is not None:
            raise OriginError(self.vendor, None, None, self.redact(clean(
                f"{method} {show_origin(found)}: the vendor's answer points to another origin "
                f"than the configured {show_origin(self.origin)}; not followed, so that the "
                f"credentials stay with {show_origin(self.origin)} (if the API really moved, "
                f"change providers.{self.vendor}.base_url)")))
        return url

    def _redirected(self, method: str, url: str, response: httpx.Response) -> OriginError:
        location = response.headers.get("location", "")
        where = show_origin(origin(location)) + urlsplit(location).path if "://" in location \
            else urlsplit(location).path or "nowhere"
        return OriginError(self.vendor, response.status_code, None, self.redact(clean(
            f"{method} {url}: the vendor redirects to {where}; redirects are never followed, "
            f"because the credentials would go with them (if the API moved, change "
            f"providers.{self.vendor}.base_url)")))

    async def _read(self, method: str, url: str, response: httpx.Response) -> httpx.Response:
        """The whole body, refused past max_response_mb (counted after decompression)."""
        cap = self.bounds.max_response_bytes
        length = response.headers.get("content-length", "")
        if length.isdigit() and int(length) <= cap and "content-encoding" not in response.headers:
            await response.aread()  # the common case: a small answer of known size
            return response
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > cap:
                raise self.bounds.too_big(method, url, response.status_code)
            chunks.append(chunk)
        headers = [(k, v) for k, v in response.headers.multi_items()
                   if k.lower() not in ("content-encoding", "content-length")]
        return httpx.Response(response.status_code, headers=headers, content=b"".join(chunks),
                              request=response.request)

    def _received(self, method: str, url: str, response: httpx.Response) -> None:
        if OBSERVERS:
            _observe(self.vendor, str(response.status_code))
        self._note_rate_limit(response)
        log.debug("%s %s %s -> %s", self.vendor, method, url, response.status_code)

    async def _once(self, method: str, url: str, json: Any, params: dict[str, Any] | None,
                    ok: tuple[int, ...], safe: bool) -> httpx.Response:
        async with self._exchange(method, url, json, params, safe) as response:
            pass
        return self._settle(method, url, response, ok, safe)

    async def _once_array(self, url: str, convert: Callable[[Any], T | None]) -> list[T]:
        async with self._exchange("GET", url, None, None, True, stream=True) as response:
            if response.status_code == 200:
                chunks = response.aiter_bytes()
                head = b""
                while not head.strip() and (chunk := await anext(chunks, b"")):
                    head += chunk
                if head.lstrip()[:1] == b"[":
                    return await self._parse_array(url, response, head, chunks, convert)
                rest: list[bytes] = []  # not an array: judged whole, within max_response_mb
                size = len(head)
                async for chunk in chunks:
                    size += len(chunk)
                    if size > self.bounds.max_response_bytes:
                        raise self.bounds.too_big("GET", url, response.status_code)
                    rest.append(chunk)
                headers = [(k, v) for k, v in response.headers.multi_items()
                           if k.lower() not in ("content-encoding", "content-length")]
                response = scrubbed(httpx.Response(response.status_code, headers=headers,
                                                   content=head + b"".join(rest),
                                                   request=response.request))
            else:
                response = scrubbed(await self._read("GET", url, response))
        self._settle("GET", url, response, (200,), True)
        raise self._error(response, (None, f"GET {url}: expected a JSON array, got "
                                           f"{shorten(response.text.strip())!r}"))

    async def _parse_array(self, url: str, response: httpx.Response, head: bytes,
                           chunks: AsyncIterator[bytes], convert: Callable[[Any], T | None]) -> list[T]:
        parts = [head]
        size = len(head)
        while size <= WHOLE_ARRAY_BYTES and (chunk := await anext(chunks, b"")):
            parts.append(chunk)
            size += len(chunk)
        body = b"".join(parts)
        del parts
        if size <= WHOLE_ARRAY_BYTES:  # the whole answer is here: one parse, if it is alike
            items = _whole_array(body)
            if items is not None:
                if len(items) > self.bounds.max_list_items:
                    raise too_many_items(self.bounds, url)
                return self._converted(url, response, items, convert)
        return await self._streamed(url, response, body, chunks, convert)

    def _converted(self, url: str, response: httpx.Response, items: Iterable[Any],
                   convert: Callable[[Any], T | None]) -> list[T]:
        found: list[T] = []
        for item in items:
            try:
                converted = convert(item)
            except _BAD_ITEM:
                raise self._bad_item(url, response, len(found), item) from None
            if converted is not None:
                found.append(converted)
        return found

    def _bad_item(self, url: str, response: httpx.Response, kept: int, item: Any) -> VendorError:
        return self._error(response, (None, (
            f"GET {url}: item {kept + 1} of the answer is not a valid "
            f"{self.vendor} object (a field is missing or of the wrong type): "
            f"{shorten(repr(item))}")))

    async def _streamed(self, url: str, response: httpx.Response, head: bytes,
                        chunks: AsyncIterator[bytes], convert: Callable[[Any], T | None]) -> list[T]:
        reader = _ChunkReader(head, chunks)
        found: list[T] = []
        seen = 0
        try:
            async for item in ijson.items_async(reader, "item", use_float=True):
                seen += 1
                if seen > self.bounds.max_list_items:
                    raise too_many_items(self.bounds, url)
                try:
                    converted = convert(item)
                except _BAD_ITEM:
                    raise self._bad_item(url, response, len(found), item) from None
                if converted is not None:
                    found.append(converted)
        except ijson.JSONError as exc:
            raise self._error(response, (None, f"GET {url}: the JSON array in the answer is "
                                               f"malformed ({exc})")) from None
        return found

    def _settle(self, method: str, url: str, response: httpx.Response, ok: tuple[int, ...],
                safe: bool) -> httpx.Response:
        if 300 <= response.status_code < 400:
            raise self._redirected(method, url, response)
        if response.status_code in ok:
            if self.check_body and (failure := self.check_body(response)):
                raise self._error(response, failure)
            return response
        return self._fail(method, url, response, safe)

    def _fail(self, method: str, url: str, response: httpx.Response, safe: bool) -> httpx.Response:
        status = response.status_code
        error = self._error(response, self.parse_error(response))
        if status == 429:
            raise _Retryable("throttled (429)", self._retry_after(response), error)
        if status >= 500:
            if safe:
                raise _Retryable(f"server error ({status})", self._retry_after(response), error)
            raise AmbiguousWriteError(self.vendor, status, error.code, error.detail)
        raise error

    def _error(self, response: httpx.Response, failure: tuple[str | None, str]) -> VendorError:
        code, message = failure
        return VendorError(self.vendor, response.status_code, code, self.redact(clean(message)))

    @staticmethod
    def _retry_after(response: httpx.Response) -> float | None:
        """Seconds the vendor asks to wait: Retry-After (seconds or an HTTP date), else the
        rate-limit reset when no request is left (epoch seconds, milliseconds or a delta)."""
        wait = seconds_until(response.headers.get("Retry-After"))
        if wait is None and response.headers.get("X-RateLimit-Remaining") == "0":
            wait = reset_in(response.headers.get("X-RateLimit-Reset"))
        return wait

    def _delay(self, exc: BaseException | None, failures: int) -> float:
        """Retry-After when the vendor says; otherwise exponential backoff from 50 ms,
        capped at 5 s, with up to 100 ms of jitter. Every wait is charged to the run's
        retry budget (max_retry_wait_s): past it, the request fails saying so."""
        if OBSERVERS:
            _observe(self.vendor, "retry")
        if isinstance(exc, _Retryable) and exc.retry_after is not None:
            return self.bounds.grant(exc.retry_after, f"{exc}, and the vendor asks to wait "
                                                      f"{exc.retry_after:.0f} s")
        wait = min(0.05 * 2.0 ** (failures - 1), 5.0) + random.uniform(0, 0.1)
        return self.bounds.grant(wait, str(exc))

    def _note_rate_limit(self, response: httpx.Response) -> None:
        """Spread the remaining quota over the time left, so a big run slows before a 429."""
        remaining = response.headers.get("X-RateLimit-Remaining")
        window = reset_in(response.headers.get("X-RateLimit-Reset"))
        if remaining is None or window is None:
            return
        try:
            left = int(remaining)
        except ValueError:
            return
        low_water = 4 * self.concurrency + 20
        if window > 0 and left < low_water:
            self._pace_gap = window / max(left, 1)
            self._pace_until = time.time() + window
        else:
            self._pace_gap = 0.0

    async def _pace(self) -> None:
        """Slow down before a 429; the waits come out of the retry budget, and past it the
        requests go out unpaced (the vendor's 429s then end the run, saying why)."""
        if self._pace_gap and time.time() < self._pace_until:
            gap = min(self._pace_gap, self.bounds.left())
            if gap > 0:
                await asyncio.sleep(self.bounds.grant(gap, "pacing requests to the vendor's "
                                                           "rate limit (X-RateLimit-Remaining)"))

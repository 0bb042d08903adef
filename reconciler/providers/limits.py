"""Deadlines, budgets and caps that bound every conversation with a vendor, whatever it
answers: a total deadline per request, a per-run budget of time spent waiting (Retry-After,
rate-limit resets, backoff), a cap on buffered answers, and pagination loop detection.

Every limit is a provider setting (see `ProviderSettings`) whose default a user never needs
to touch; the message when one is hit names the setting.
"""

from __future__ import annotations

import email.utils
import logging
import math
import time
from dataclasses import dataclass
from datetime import UTC
from urllib.parse import parse_qsl, urlsplit

import httpx

from reconciler.errors import AnswerError, VendorError
from reconciler.redact import shorten

log = logging.getLogger("reconciler.http")
SAME_WAIT_S = 1.0
"""A wait ending this close after one already granted is that same wait (the requests in
flight were told to wait together): granting the first and refusing the next would print
"waiting N s" for a run that then fails anyway."""

DEFAULT_DEADLINE_S = 120.0
DEFAULT_RETRY_BUDGET_S = 300.0
DEFAULT_MAX_RESPONSE_MB = 16.0
DEFAULT_MAX_LIST_ITEMS = 200_000
_EPOCH_MS = 1e11  # above this an epoch is in milliseconds (1e11 s is the year 5138)
_EPOCH_S = 1e9  # below this a reset is a number of seconds from now (1e9 s is 2001)


@dataclass
class Bounds:
    """One client's limits, and the waiting it has done so far in this run."""

    vendor: str
    deadline_s: float = DEFAULT_DEADLINE_S
    retry_budget_s: float = DEFAULT_RETRY_BUDGET_S
    max_response_mb: float = DEFAULT_MAX_RESPONSE_MB
    max_list_items: int = DEFAULT_MAX_LIST_ITEMS
    waited_s: float = 0.0
    _horizon: float = 0.0  # when the last wait granted ends (monotonic)

    @property
    def max_response_bytes(self) -> int:
        return int(self.max_response_mb * 2**20)

    def setting(self, name: str) -> str:
        return f"providers.{self.vendor}.{name}"

    def left(self) -> float:
        return max(self.retry_budget_s - self.waited_s, 0.0)

    def grant(self, wait: float, why: str) -> float:
        """Charge a wait to the run's budget (overlapping waits of concurrent requests count
        once), or raise VendorError naming the setting when it does not fit."""
        now = time.monotonic()
        extra = max(now + wait - max(now, self._horizon), 0.0)
        if extra > self.left() and self._horizon > now and extra <= SAME_WAIT_S:
            extra = self.left()  # concurrent requests told to wait the same time: one wait
        if extra > self.left():
            raise VendorError(self.vendor, None, None, (
                f"{why}; waiting {wait:.0f} s more would exceed the retry budget of this run "
                f"({self.retry_budget_s:g} s, {self.setting('max_retry_wait_s')}; "
                f"{self.waited_s:.0f} s already waited). Try again later, or raise the setting"))
        self.waited_s += extra
        self._horizon = max(self._horizon, now + wait)
        if wait >= 5:
            log.warning("%s: %s; waiting %.0f s (retry budget left: %.0f s)",
                        self.vendor, why, wait, self.left())
        return wait

    def deadline_error(self, method: str, url: str) -> str:
        return (f"{method} {url}: no complete answer within {self.deadline_s:g} s "
                f"({self.setting('request_deadline_s')}); the vendor is too slow or its answer "
                "too long. Try again later, or raise the setting")

    def too_big(self, method: str, url: str, status: int) -> VendorError:
        return VendorError(self.vendor, status, None, (
            f"{method} {url}: the answer is larger than {self.max_response_mb:g} MB "
            f"({self.setting('max_response_mb')}); a vendor answer that big is not expected. "
            "If it is right, raise the setting"))


def too_many_items(bounds: Bounds, url: str) -> VendorError:
    """A streamed list is never held whole, but every item kept costs memory: past
    max_list_items the answer is refused (a tenant holds thousands of purposes, not millions)."""
    return VendorError(bounds.vendor, 200, None, (
        f"GET {url}: the list answer holds more than {bounds.max_list_items:,} items "
        f"({bounds.setting('max_list_items')}); a list that long is not expected. If it is "
        "right, raise the setting"))


def seconds_until(value: str | None) -> float | None:
    """Retry-After: a number of seconds, or an HTTP date; None when it is neither."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - time.time()
    if math.isnan(seconds):
        return None
    return max(seconds, 0.0)


def reset_in(value: str | None) -> float | None:
    """X-RateLimit-Reset as seconds from now, whatever the vendor's unit: an epoch in seconds,
    an epoch in milliseconds, or a number of seconds from now."""
    if not value:
        return None
    try:
        reset = float(value)
    except ValueError:
        return seconds_until(value)
    if not math.isfinite(reset):
        return None
    if reset >= _EPOCH_MS:
        reset /= 1000.0
    if reset < _EPOCH_S:
        return max(reset, 0.0)
    return max(reset - time.time(), 0.0)


def _cursor_like(name: str) -> bool:
    lowered = name.lower()
    return "cursor" in lowered or "after" in lowered or "token" in lowered


class Pages:
    """The pages of one list already asked for: a URL or cursor seen again is the vendor's
    pagination going round in circles, reported instead of followed."""

    def __init__(self, vendor: str, base_url: str) -> None:
        self.vendor = vendor
        self.base_url = base_url.rstrip("/")
        self.seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
        self.cursors: set[tuple[str, str]] = set()

    def visit(self, url: str, params: dict[str, object] | None = None) -> None:
        """Record the page about to be asked for; raise VendorError if it was asked before."""
        absolute = self.base_url + url if url.startswith("/") else url
        try:
            full = httpx.URL(absolute, params={k: str(v) for k, v in (params or {}).items()}) \
                if params else httpx.URL(absolute)
            parts = urlsplit(str(full))
        except (ValueError, httpx.InvalidURL):
            raise AnswerError(self.vendor, 200, None, (
                f"the vendor's next page link {shorten(url)!r} is not a valid URL; the list "
                "cannot be read to its end")) from None
        query = tuple(sorted(parse_qsl(parts.query, keep_blank_values=True)))
        key = (parts.path.rstrip("/"), query)
        cursors = {(k, v) for k, v in query if _cursor_like(k)}
        if key in self.seen or (cursors and cursors <= self.cursors):
            raise AnswerError(self.vendor, 200, None, (
                f"GET {parts.path}: the vendor's next page ({len(self.seen) + 1}) repeats a page "
                "already read; its pagination loops, so the list cannot be trusted. Try again "
                "later, or report it to the vendor"))
        self.seen.add(key)
        self.cursors |= cursors

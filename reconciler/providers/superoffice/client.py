"""Where a SuperOffice tenant's WebAPI lives, and following it when it moves.

SuperOffice Online moves tenants between hosts (sod2 -> sod3) to balance load; a request
to the old host is answered 421 Misdirected Request. The public state API,
`GET https://{environment}.superoffice.com/api/state/{tenant}`, gives the current root in
its `Api` field (`/v1` is added). With `tenant` and `environment` set, the root is resolved
there when `base_url` is not given, and again, once, when a request is answered 421; the
request is then sent to the new root. The new root must be on the state API's domain
(`*.superoffice.com`), so that an answer cannot send the credentials elsewhere.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

from reconciler.errors import ConfigError, VendorError
from reconciler.providers.http import VendorClient, check_url, origin

T = TypeVar("T")
MISDIRECTED = 421
STATE_API = "https://{environment}.superoffice.com/api/state/{tenant}"


def same_domain(host: str, other: str) -> bool:
    """`host` is `other`, or both end in the same last two labels (sod3.superoffice.com and
    online.superoffice.com)."""
    if host == other:
        return True
    tail = ".".join(other.split(".")[-2:])
    return "." in tail and host.endswith("." + tail)


class TenantClient(VendorClient):
    """A VendorClient whose root follows the tenant (see the module docstring)."""

    def __init__(self, vendor: str, base_url: str | None, *args: Any, state_api: str | None,
                 **kwargs: Any) -> None:
        """Without `base_url`, the root is resolved from `state_api` before the first call."""
        super().__init__(vendor, base_url or state_api or "", *args, **kwargs)
        self.allow_insecure_http = bool(kwargs.get("allow_insecure_http"))
        self.state_api = state_api
        self.resolved = bool(base_url)
        self._lock = asyncio.Lock()
        self.moves = 0

    async def resolve(self) -> str:
        """Ask the state API for the tenant's current WebAPI root and use it from now on."""
        assert self.state_api is not None
        async with httpx.AsyncClient(timeout=self.http.timeout, follow_redirects=False) as plain:
            try:
                response = await plain.get(self.state_api, headers={"Accept": "application/json"})
            except httpx.HTTPError as exc:
                raise VendorError(self.vendor, None, None, (
                    f"GET {self.state_api}: {type(exc).__name__}; check providers.{self.vendor}."
                    "tenant and environment")) from None
        root = self._root(response)
        self._rebase(root)
        self.resolved = True
        return root

    def _root(self, response: httpx.Response) -> str:
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        api = body.get("Api") if isinstance(body, dict) else None
        if response.status_code != 200 or not isinstance(api, str) or not api:
            raise VendorError(self.vendor, response.status_code, None, (
                f"GET {self.state_api}: the state API gave no Api root for this tenant; check "
                f"providers.{self.vendor}.tenant (the context identifier, Cust12345) and "
                "environment (sod, online, ...)"))
        root = api.rstrip("/") + "/v1"
        host, known = urlsplit(root).hostname or "", urlsplit(self.state_api or "").hostname or ""
        if not same_domain(host.lower(), known.lower()):
            raise VendorError(self.vendor, response.status_code, None, (
                f"GET {self.state_api}: the state API points to {host}, outside {known}'s domain; "
                "not followed, so that the credentials stay with SuperOffice"))
        return root

    def _rebase(self, root: str) -> None:
        try:
            check_url(self.vendor, root, self.allow_insecure_http)
        except ConfigError as exc:
            raise VendorError(self.vendor, None, None, f"the state API's root: {exc}") from None
        self.base_url = root.rstrip("/")
        self.origin = origin(root)
        self.http.base_url = httpx.URL(self.base_url)

    async def _following(self, send: Callable[[], Awaitable[T]]) -> T:
        if not self.resolved:
            async with self._lock:
                if not self.resolved:
                    await self.resolve()
        try:
            return await send()
        except VendorError as exc:
            if exc.status != MISDIRECTED or self.state_api is None:
                raise
            stale = self.base_url
        async with self._lock:
            if self.base_url == stale:
                await self.resolve()
                self.moves += 1
        return await send()  # once: a second 421 is the vendor's answer

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        send = super().request
        return await self._following(lambda: send(method, url, **kwargs))

    async def get_array(self, url: str, convert: Callable[[Any], T | None]) -> list[T]:
        send = super().get_array
        return await self._following(lambda: send(url, convert))

"""Clients whose Bearer token is minted or refreshed during the run (Webex Campaign's
client-credentials tokens, Outreach's refresh tokens): one mechanism for every vendor."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import httpx

from reconciler.errors import VendorError
from reconciler.providers.http import VendorClient, check_headers


class TokenSource(Protocol):
    """The run's current token; `stale` names one the vendor refused, to be replaced."""

    async def current(self, stale: str | None = None) -> str: ...


class TokenClient(VendorClient):
    """A VendorClient whose Bearer token comes from a TokenSource: set before the first
    request, and renewed once (then the request is sent again) when the vendor refuses it
    as expired. A refused token means the request was not processed, so resending is safe."""

    def __init__(self, *args: Any, tokens: TokenSource | None = None,
                 expired: Callable[[VendorError], bool], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tokens = tokens
        self.expired = expired
        self._sent: str | None = None

    async def _use(self, stale: str | None = None) -> None:
        assert self.tokens is not None
        token = await self.tokens.current(stale)
        if token != self._sent:
            header = f"Bearer {token}"
            check_headers(self.vendor, {"Authorization": header})
            self.http.headers["Authorization"] = header
            self._sent = token

    async def _renewing(self, send: Callable[[], Awaitable[Any]]) -> Any:
        if self.tokens is None:
            return await send()
        await self._use()
        used = self._sent  # a sibling may replace it meanwhile: only this one is stale
        try:
            return await send()
        except VendorError as exc:
            if not self.expired(exc):
                raise
        await self._use(stale=used)
        return await send()

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        send = super().request
        response: httpx.Response = await self._renewing(lambda: send(method, url, **kwargs))
        return response

    async def get_array(self, url: str, convert: Callable[[Any], Any]) -> list[Any]:
        send = super().get_array
        found: list[Any] = await self._renewing(lambda: send(url, convert))
        return found

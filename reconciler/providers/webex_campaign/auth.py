"""Webex Campaign access tokens: a static API secret key, or a client-credentials token
minted on the tenant host, cached, and minted again when it expires or the vendor answers
498 ("Invalid token or Access token expired").

The API hub page documents the mint: `POST {tenant_url}/oauth/token?grant_type=
client_credentials` with `isGoldenAuthkey: true`, `Authorization: Basic <authorization
key>` and a JSON body `{clientId, clientSecret, grantType}`. The answer's shape is not
documented: `access_token` (or `accessToken`, `token`) is the token, `expires_in` (or
`expiresIn`, seconds) its lifetime when given; without a lifetime the token is kept until
a 498.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from reconciler.errors import VendorError
from reconciler.providers.http import VendorClient, check_headers
from reconciler.redact import register

EXPIRED = "498"
RENEW_EARLY_S = 60.0
"""A token this close to its announced expiry is minted again before it is used."""
TOKEN_FIELDS = ("access_token", "accessToken", "token")
LIFETIME_FIELDS = ("expires_in", "expiresIn")


class TokenSource:
    """One run's access token: minted on first use, shared by every client of the run."""

    def __init__(self, mint: Callable[[], Awaitable[httpx.Response]], vendor: str) -> None:
        self._mint = mint
        self.vendor = vendor
        self._lock = asyncio.Lock()
        self.value: str | None = None
        self.expires_at: float | None = None
        self.minted = 0

    def fresh(self) -> bool:
        return self.value is not None and (
            self.expires_at is None or time.monotonic() < self.expires_at - RENEW_EARLY_S)

    async def current(self, stale: str | None = None) -> str:
        """The token to send; minted again when none is cached, it is about to expire, or it
        is `stale` (the one a 498 refused) and nobody has replaced it meanwhile."""
        async with self._lock:
            if self.fresh() and (stale is None or self.value != stale):
                assert self.value is not None
                return self.value
            response = await self._mint()
            self.value, self.expires_at = self._read(response)
            self.minted += 1
            return self.value

    def _read(self, response: httpx.Response) -> tuple[str, float | None]:
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        body = body if isinstance(body, dict) else {}
        token = next((body[k] for k in TOKEN_FIELDS if isinstance(body.get(k), str) and body[k]),
                     None)
        if token is None:
            raise VendorError(self.vendor, response.status_code, None, (
                "the token endpoint answered without an access_token; check the client "
                "credentials settings (client_id, client_secret, auth_key, token_path)"))
        register([token])
        lifetime = next((body[k] for k in LIFETIME_FIELDS if isinstance(body.get(k), int | float)
                         and not isinstance(body.get(k), bool)), None)
        return token, None if lifetime is None else time.monotonic() + float(lifetime)


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


def is_expired(exc: VendorError) -> bool:
    """Webex answers 498 (HTTP 401) for an invalid or expired token."""
    return exc.code == EXPIRED

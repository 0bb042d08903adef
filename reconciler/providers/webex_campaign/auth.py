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


def is_expired(exc: VendorError) -> bool:
    """Webex answers 498 (HTTP 401) for an invalid or expired token."""
    return exc.code == EXPIRED

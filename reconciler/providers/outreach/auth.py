"""Outreach access tokens from a refresh token (OAuth 2.0 refresh-token grant).

Access tokens live about two hours, so CI runs hold a refresh token instead, as the public
connectors do (singer-io/tap-outreach, Airbyte source-outreach): `POST {token_endpoint}` with
`grant_type=refresh_token`, `client_id`, `client_secret`, `refresh_token` (and
`redirect_uri` when set). The answer's `access_token` is used until a call is answered
401, then refreshed once and the call sent again (a refused token means the call was not
processed). A rotated `refresh_token` in the answer replaces the old one for the rest of
the run; every token is registered as a secret, so none reaches a message.
"""

from __future__ import annotations

import asyncio
from typing import Any, TypeVar

import httpx

from reconciler.errors import VendorError
from reconciler.providers.http import VendorClient
from reconciler.providers.outreach.errors import parse_error
from reconciler.redact import register

T = TypeVar("T")


class Refresher:
    """The run's access token, refreshed on demand (one refresh at a time)."""

    def __init__(self, vendor: str, token_url: str, form: dict[str, str], *,
                 timeout_s: float, allow_insecure_http: bool) -> None:
        self.vendor = vendor
        self.token_url = token_url
        self.form = form
        self.timeout_s = timeout_s
        self.allow_insecure_http = allow_insecure_http
        self.value: str | None = None
        self.refreshed = 0
        self._lock = asyncio.Lock()

    async def current(self, stale: str | None = None) -> str:
        async with self._lock:
            if self.value is not None and self.value != stale:
                return self.value
            answer = await self._grant()
            token = answer.get("access_token")
            if not isinstance(token, str) or not token:
                raise VendorError(self.vendor, None, None, (
                    f"POST {self.token_url}: the answer has no access_token; check "
                    f"providers.{self.vendor}.refresh_token, client_id and client_secret"))
            rotated = answer.get("refresh_token")
            register([token, *([rotated] if isinstance(rotated, str) and rotated else [])])
            if isinstance(rotated, str) and rotated:
                self.form["refresh_token"] = rotated
            self.value = token
            self.refreshed += 1
            return token

    async def _grant(self) -> dict[str, Any]:
        client = VendorClient(self.vendor, self.token_url, {"Accept": "application/json"},
                              secrets=[self.form["client_secret"], self.form["refresh_token"]],
                              parse_error=parse_error,
                              concurrency=1, timeout_s=self.timeout_s, max_attempts=3,
                              allow_insecure_http=self.allow_insecure_http)
        try:
            response = await client.http.post(self.token_url, data=self.form)
        except httpx.HTTPError as exc:
            raise VendorError(self.vendor, None, None, (
                f"POST {self.token_url}: {type(exc).__name__}; check "
                f"providers.{self.vendor}.token_endpoint and the network")) from None
        finally:
            await client.aclose()
        if response.status_code != 200:
            code, message = parse_error(response)
            raise VendorError(self.vendor, response.status_code, code, client.redact(
                f"POST {self.token_url}: {message} (the refresh token was refused: check "
                f"providers.{self.vendor}.refresh_token, client_id, client_secret and "
                "redirect_uri)"))
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        return body if isinstance(body, dict) else {}

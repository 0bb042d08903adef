"""Webex Campaign's wire rules shared by every API: error codes and what to do about them,
the body code every answer carries (HTTP 200 may still be a failure; 1001/1002 and
1101-1108 are rejections whatever the status), and the client each host gets, which
sends the run's token (a static key, or a client-credentials token; see `auth.py`).
"""

from __future__ import annotations

from typing import Any

import httpx

from reconciler.providers.http import BodyCheck, ErrorParser, VendorClient
from reconciler.providers.tokens import TokenClient
from reconciler.providers.webex_campaign.auth import TokenSource, is_expired
from reconciler.providers.webex_campaign.datastore import OK
from reconciler.providers.webex_campaign.settings import MEDIA_TYPE, WebexCampaignSettings

VENDOR = "webex_campaign"
MAX_ERROR_TEXT = 300
SUCCESS_CODES = frozenset({"0", "200", "1100"})
"""Body codes that mean success (datastore statuscode 0, notify 1100)."""
DEFINITE_CODES = frozenset({"1001", "1002", *(str(c) for c in range(1101, 1109))})
"""Body codes that are rejections whatever the HTTP status (the tables most likely give them
HTTP 500): never retried, never reported as "may have been written"."""

TOKEN_SETTING = f"providers.{VENDOR}.token (e.g. WEBEX_CAMPAIGN_TOKEN)"
BUG = "this is a bug in reconciler — please report it (with the method and path above)"
HINTS: dict[str, str] = {
    "400": "a purpose needs a non-empty name",
    "401": (f"check the API key in {TOKEN_SETTING}, that it is enabled for this API, and "
            "renew it if it has expired"),
    "404": (f"check providers.{VENDOR}.base_url / tenant_url and the paths; a purpose may have "
            "been removed in Webex Campaign (run plan again)"),
    "405": (f"Webex Campaign has no such operation (purposes cannot be deleted); check "
            f"providers.{VENDOR}.base_url, tenant_url, datastore_path and notify_path"),
    "409": "purpose names are unique in the tenant",
    "429": (f"throttled: reconciler retried with backoff and gave up; try again later, or "
            f"lower providers.{VENDOR}.concurrency or raise max_attempts"),
    "430": f"check the API key in {TOKEN_SETTING} and that it is enabled for this API",
    "498": (f"the token is invalid or expired: renew the API key (or access token) in Webex "
            f"Campaign and update {TOKEN_SETTING}; with client_id, client_secret and auth_key, "
            f"a new token was minted once and refused too: check them"),
    "499": ("the description says why; for datastore records, check that their fields match "
            "the datastore's fields"),
    "500": "Webex Campaign failed internally; try again later",
    "1001": "Webex Campaign could not read the JSON reconciler sent: " + BUG,
    "1002": "reconciler sent no datastore-id, feed-id or records: " + BUG,
    "1010": ("check that datastore_id and feed_id exist in this tenant and that the API key "
             "may write to them"),
}
"""What to do about each documented code (and bare HTTP statuses without a body code)."""



# ------------------------------------------------------------------ errors ----

def body_code(response: httpx.Response) -> tuple[str | None, str | None]:
    """(code, description) from any body: `code`, else `statuscode`, else `result.status`.
    Never raises: bodies may be non-JSON, codes int or string, fields missing."""
    if response.content[:64].lstrip()[:1] != b"{":
        return None, None  # only an object carries a code; a list is not parsed twice
    try:
        body: Any = response.json()
    except ValueError:
        return None, None
    if not isinstance(body, dict):
        return None, None
    result = _mapping(body.get("result"))
    code = _code(body.get("code"))
    if code is None or code in SUCCESS_CODES:
        code = next((c for c in (_code(body.get("statuscode")), _code(result.get("status")))
                     if c is not None and c not in SUCCESS_CODES), code)
    text = next((str(v) for v in (body.get("description"), result.get("description"),
                                  body.get("message")) if v), None)
    return code, text


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _code(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | str):
        text = str(value).strip()
        return text or None
    return None


def _where(response: httpx.Response) -> str:
    try:
        request = response.request
    except RuntimeError:  # a response built by hand has no request
        return ""
    return f"{request.method} {request.url.path}: "


def _raw_text(response: httpx.Response) -> str:
    """A body that is not JSON (a proxy's HTML page), cut short; else the HTTP reason."""
    try:
        response.json()
    except ValueError:
        raw = response.text.strip()
        if raw:
            return raw[:MAX_ERROR_TEXT] + ("..." if len(raw) > MAX_ERROR_TEXT else "")
    return response.reason_phrase or f"HTTP {response.status_code}"


def make_parser(hints: dict[str, str]) -> ErrorParser:
    """An ErrorParser: method, path, the vendor's description, and what to do about its code."""

    def parse(response: httpx.Response) -> tuple[str | None, str]:
        code, text = body_code(response)
        text = text or _raw_text(response)
        if code is None:
            hint = hints.get(str(response.status_code))
        else:
            hint = hints.get(code, f"Webex Campaign code {code} is not documented; its "
                                   "description says why")
        return code, f"{_where(response)}{text}" + (f" — {hint}" if hint else "")

    return parse


def make_body_check(parse: ErrorParser) -> BodyCheck:
    """A BodyCheck: a successful status whose body carries a failure code is a failure."""

    def check(response: httpx.Response) -> tuple[str, str] | None:
        if not response.is_success:
            return None  # a non-2xx status the caller accepts (a 404 on read) is an answer
        code, _ = body_code(response)
        if code is None or code in SUCCESS_CODES:
            return None
        _, message = parse(response)
        return code, message

    return check


parse_error = make_parser(HINTS)
check_body = make_body_check(parse_error)


class WebexClient(TokenClient):
    """Checks every answer's body code; a documented rejection code is definite whatever
    the HTTP status (a 500 with 1001 is not retried, nor reported as maybe written)."""

    def _fail(self, method: str, url: str, response: httpx.Response,
              safe: bool) -> httpx.Response:
        code, _ = body_code(response)
        if code in DEFINITE_CODES:
            raise self._error(response, self.parse_error(response))
        return super()._fail(method, url, response, safe)


def token_source(settings: WebexCampaignSettings,
                 transport: httpx.AsyncBaseTransport | None = None) -> TokenSource | None:
    """Client-credentials tokens for this run, or None when a static key is used."""
    if not settings.client_credentials:
        return None

    async def mint() -> httpx.Response:
        headers = {"Authorization": f"Basic {settings.auth_key}", "isGoldenAuthkey": "true",
                   "Content-Type": MEDIA_TYPE, "Accept": MEDIA_TYPE}
        client = WebexClient(
            VENDOR, settings.tenant_url, headers, secrets=settings.secrets(),
            parse_error=parse_error, check_body=check_body, expired=is_expired,
            concurrency=1, timeout_s=settings.timeout_s, max_attempts=settings.max_attempts,
            allow_insecure_http=settings.allow_insecure_http, transport=transport)
        try:
            return await client.request(
                "POST", settings.token_path, params={"grant_type": "client_credentials"},
                json={"clientId": settings.client_id, "clientSecret": settings.client_secret,
                      "grantType": "client_credentials"}, ok=OK, idempotent=True)
        finally:
            await client.aclose()

    return TokenSource(mint, VENDOR)


def vendor_client(settings: WebexCampaignSettings, base_url: str, *,
                  parse: ErrorParser = parse_error, tokens: TokenSource | None = None,
                  transport: httpx.AsyncBaseTransport | None = None) -> VendorClient:
    """A client for one host (hub or tenant) that checks every answer's body code and,
    with client credentials, sends (and renews) the run's access token."""
    return WebexClient(
        VENDOR, base_url, settings.headers(), secrets=settings.secrets(), parse_error=parse,
        check_body=make_body_check(parse), concurrency=settings.concurrency,
        timeout_s=settings.timeout_s, max_attempts=settings.max_attempts,
        allow_insecure_http=settings.allow_insecure_http, transport=transport,
        tokens=tokens or token_source(settings, transport), expired=is_expired,
        url_setting="tenant_url" if base_url == settings.tenant_url else "base_url")

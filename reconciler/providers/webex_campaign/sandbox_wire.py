"""What the Webex Campaign sandbox's hosts share: the documented codes and texts, the
switches (see sandbox.py), and the vendor's error body."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp

from reconciler.sandbox.common import EARLY_ANSWERS, json_body, json_response

VENDOR = "webex_campaign"
TENANT_NAME = "sandbox"
FIRST_PURPOSE_ID = 700
DEFAULT_GROUP = "Default"
UNSPECIFIED_DATASTORE = "(unspecified)"
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
NOTIFY_ERROR_STATUS = 200
"""HTTP status of the notify codes 1101..1108: our assumption, the document leaves it blank."""
FORCEABLE_CODES = frozenset({1102, 1103, 1104, 1105})

DESCRIPTIONS: dict[int, str] = {
    400: "Please enter the Purpose Name",
    404: "Not found",
    405: "Method not supported",
    409: "This Purpose already exists. Please enter a different Purpose value to save.",
    429: "Too many requests. Throttle limit reached for the time window.",
    430: "Authorization failed. This resource is not allowed to access using this TOKEN or KEY",
    498: "Invalid token or Access token expired",
    499: "Request failed. Check the exact reason of failure in application code and "
         "description of error stream.",
    500: "Internal server error",
    1001: "Invalid input JSON",
    1002: "Mandatory field missing",
    1010: "The request was not processed.",
    1100: "The Response has been notified successfully",
    1101: "Mandatory params cannot be null or empty",
    1102: "No actions are mapped for the given deployment",
    1103: "Action type(sync/async) is not present for the used action",
    1104: "Only actions having async types can be used",
    1105: "Only onetime and recurring deployments are allowed",
    1108: "Only 531 and or 532 response status is allowed",
}
_HTTP_STATUS = {430: 401, 498: 401, 1001: 500, 1002: 500, 1010: 200,
                **{code: NOTIFY_ERROR_STATUS for code in range(1101, 1109)}}
BODY_ONLY_CODES = frozenset({1001, 1002, *range(1101, 1109)})
"""Codes whose HTTP status the tables leave blank."""
CLIENT_ID, CLIENT_SECRET, AUTH_KEY = ("sandbox-client", "sandbox-client-secret",
                                      "sandbox-auth-key")
TOKEN_PATH = "/oauth/token"
_TIME_SHAPE = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")


@dataclass
class WebexSandboxConfig:
    """Credentials, limits, the tenant paths the vendor does not document, and one switch
    per ambiguity of the references (see the module docstring)."""

    api_keys: set[str]
    expired_keys: set[str]
    rate_limit: int = 0
    rate_window_s: float = 1.0
    datastore_path: str = "/datastore/records"
    notify_path: str = "/notifytransactionstate"
    apply_delay_s: float = 0.05
    known_datastores: dict[str, set[str]] | None = None
    deployments: dict[str, int] = field(default_factory=dict)
    by_id: str = "array"
    success_status: int = 200
    body_code_status: int | None = None
    duplicate_names: str = "exact"
    group_case: str = "as_sent"
    records: str = "append"
    records_fail_after_write: int = 0
    token_ttl_s: float = 3600.0
    token_expiry_announced: bool = True
    token_uses: int = 0
    uses: dict[str, int] = field(default_factory=dict)
    datastore_columns: dict[str, dict[str, int]] = field(default_factory=dict)
    datastore_attributes: str = "object"
    minted: dict[str, float] = field(default_factory=dict)


@dataclass
class WebexApps:
    """The hub and tenant hosts (each its own ASGI app) plus the admin inspection routes."""

    hub: ASGIApp
    tenant: ASGIApp
    admin: list[BaseRoute]
    metadata: ASGIApp


def error(status: int, message: str) -> Response:
    """The vendor body for a status (used by FaultMiddleware): documented text when there is one."""
    return json_response({"code": status, "description": DESCRIPTIONS.get(status, message)}, status)


def fail(code: int, config: WebexSandboxConfig | None = None) -> Response:
    """The vendor body for a documented code, with the HTTP status the tables give it (or
    the one the `body_code_status` switch chooses for the body-only codes)."""
    status = _HTTP_STATUS.get(code, code)
    if config is not None and config.body_code_status and code in BODY_ONLY_CODES:
        status = config.body_code_status
    return json_response({"code": code, "description": DESCRIPTIONS[code]}, status)


def _now() -> str:
    return datetime.now(UTC).strftime(TIME_FORMAT)


def _is_default_group(group: str) -> bool:
    """The vendor treats group names case-insensitively: "DEFAULT" is the default group."""
    return group.casefold() == DEFAULT_GROUP.casefold()


async def _http_error(_: Request, exc: Exception) -> Response:
    """Routing failures (404, 405) and crashes in the vendor's format instead of plain text."""
    status = getattr(exc, "status_code", 500)
    response = fail(status if status in (404, 405) else 500)
    response.headers.update(getattr(exc, "headers", None) or {})
    return response


_EXCEPTION_HANDLERS = {**EARLY_ANSWERS, 404: _http_error, 405: _http_error,
                       Exception: _http_error}


async def _object_body(request: Request) -> dict[str, Any] | None:
    """The JSON object sent, or None when the body is not one (the vendor's 1001)."""
    try:
        body = await json_body(request)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None

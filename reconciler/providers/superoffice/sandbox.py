"""SuperOffice WebAPI consent purposes (vendor doc 004): the `List/ConsentPurpose/Items` agent.

Mounted at `/{tenant}/api/v1`. What the emulator deliberately reproduces, because
a reconciler has to cope with it on a real tenant:

* the list returns every item, soft-deleted ones included, with no paging;
* DELETE is a soft delete (`Deleted: true`) and a PUT with `Deleted: false` revives;
* PUT is a full replace: a field missing from the body falls back to its default;
* `Active` is an int32, not a bool;
* the server owns `ConsentPurposeId`, `UpdatedDate`, `UpdatedBy`, `TableRight` and
  `FieldProperties`, and ignores whatever a client sends for them.

Real tenants ship two reserved purposes, `#Process` and `#Emarketing`; call
`seed_builtins` to start a sandbox the way a real tenant starts.

The vendor does not document its error body, so `error` invents a small one.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp

from reconciler.sandbox.common import (
    FaultMiddleware,
    Faults,
    Handler,
    RequestLog,
    SandboxContext,
    Table,
    VendorSandbox,
    json_response,
)

MEDIA_TYPE = "application/json; charset=utf-8"
MISSING_BODY = "Entity to save is not in request body"
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1

SANDBOX_ASSOCIATE: dict[str, Any] = {
    "AssociateId": 5, "Name": "SANDBOX", "FullName": "Sandbox API user", "Type": 1,
}
"""The associate every save is attributed to (`UpdatedBy`)."""

STRING_FIELDS = ("Name", "ConsentText", "FormText", "Key", "Tooltip",
                 "PrivacyStatementDesc", "PrivacyStatementUrl")
WRITABLE_DEFAULTS: dict[str, Any] = {
    **dict.fromkeys(STRING_FIELDS, ""), "Active": 1, "Deleted": False, "Rank": 0,
}
"""Client-writable fields and the value each takes when a POST or PUT body omits it."""

# (FieldType, FieldLength) per entity field. The document shows only the shape;
# the string lengths are the sandbox's guesses and are not enforced.
_FIELD_TYPES: dict[str, tuple[str, int]] = {
    "ConsentPurposeId": ("System.Int32", 0),
    "Name": ("System.String", 254),
    "ConsentText": ("System.String", 2047),
    "FormText": ("System.String", 2047),
    "Key": ("System.String", 254),
    "Tooltip": ("System.String", 254),
    "Active": ("System.Int32", 0),
    "UpdatedDate": ("System.DateTime", 0),
    "UpdatedBy": ("SuperOffice.CRM.Services.Associate", 0),
    "Deleted": ("System.Boolean", 0),
    "Rank": ("System.Int32", 0),
    "PrivacyStatementDesc": ("System.String", 254),
    "PrivacyStatementUrl": ("System.String", 1023),
}
FIELD_PROPERTIES: dict[str, Any] = {
    name: {"FieldRight": {"Mask": "FULL", "Reason": ""}, "FieldType": kind, "FieldLength": length}
    for name, (kind, length) in _FIELD_TYPES.items()
}
TABLE_RIGHT: dict[str, str] = {"Mask": "Select, Insert, Update, Delete", "Reason": ""}

_ERROR_TYPES = {400: "SoException", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
                405: "MethodNotAllowed", 429: "TooManyRequests", 500: "SoException",
                503: "ServiceUnavailable"}
_WRITE_METHODS = frozenset({"POST", "PUT", "DELETE"})

BUILTINS: tuple[dict[str, Any], ...] = (
    {"Key": "#Process", "Name": "Process", "ConsentText": "Storing and processing", "Rank": 1},
    {"Key": "#Emarketing", "Name": "E-marketing", "Rank": 2},
)
"""The reserved purposes a real tenant ships with (see `seed_builtins`)."""


@dataclass
class SuperOfficeSandboxConfig:
    """Credentials the sandbox accepts, one set per documented Authorization scheme."""

    bearer_tokens: set[str]
    tickets: set[str]
    app_tokens: set[str]
    basic_users: dict[str, str]
    read_only_bearer_tokens: set[str] = field(default_factory=set)


def error(status: int, message: str) -> Response:
    """The sandbox's error body; the real one is undocumented, so clients must parse leniently."""
    body = {"Error": message, "ErrorType": _ERROR_TYPES.get(status, "SoException"),
            "ErrorSource": "SandboxWebApi"}
    return json_response(body, status, MEDIA_TYPE)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _purposes(table: Table) -> dict[str, dict[str, Any]]:
    table.data.setdefault("next_id", 1)
    return table.data.setdefault("consent_purposes", {})  # type: ignore[no-any-return]


def _insert(table: Table, fields: dict[str, Any]) -> dict[str, Any]:
    """Store a new item under the next sequential id, stamped as saved now."""
    purposes = _purposes(table)
    pid = int(table.data["next_id"])
    table.data["next_id"] = pid + 1
    record = {"ConsentPurposeId": pid, **fields, "UpdatedDate": _now(),
              "UpdatedBy": dict(SANDBOX_ASSOCIATE)}
    purposes[str(pid)] = record
    return record


def seed_builtins(table: Table) -> None:
    """Add `#Process` and `#Emarketing`, as on a real tenant, but only into an empty table."""
    if _purposes(table):
        return
    for builtin in BUILTINS:
        _insert(table, {**WRITABLE_DEFAULTS, **builtin})
    table.save()


def _type_error(name: str, value: Any) -> str | None:
    """Why `value` cannot be stored in writable field `name`, or None when it can."""
    if name in STRING_FIELDS:
        return None if value is None or isinstance(value, str) else f"{name} must be a string"
    if name == "Deleted":
        return None if isinstance(value, bool) else "Deleted must be a boolean"
    if isinstance(value, bool) or not isinstance(value, int):
        return f"{name} must be an int32 integer"
    if not INT32_MIN <= value <= INT32_MAX:
        return f"{name} is outside the int32 range"
    return None


def parse_entity(body: Any) -> dict[str, Any] | str:
    """The writable fields of a POST/PUT body, defaults filled in, or an error message.

    Property names match case-insensitively and unknown or server-owned
    properties are ignored, as the .NET JSON binder behind the real API does.
    """
    if body is None:
        return MISSING_BODY
    if not isinstance(body, dict):
        return "Entity to save must be a JSON object"
    canonical = {name.lower(): name for name in WRITABLE_DEFAULTS}
    fields = dict(WRITABLE_DEFAULTS)
    for key, value in body.items():
        name = canonical.get(key.lower())
        if name is None:
            continue
        if problem := _type_error(name, value):
            return problem
        fields[name] = "" if value is None else value
    return fields


class SuperOfficeSandbox:
    """Route handlers over one tenant's consent purposes, persisted in `table`."""

    def __init__(self, table: Table, config: SuperOfficeSandboxConfig) -> None:
        self.table = table
        self.config = config
        _purposes(table)

    @property
    def purposes(self) -> dict[str, dict[str, Any]]:
        return _purposes(self.table)

    def authorize(self, request: Request) -> Response | None:
        """401 unless some documented scheme authenticates; 403 for writes by read-only tokens."""
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        scheme, value = scheme.lower(), value.strip()
        config = self.config
        if scheme == "bearer" and value in config.read_only_bearer_tokens:
            if request.method in _WRITE_METHODS:
                return error(403, "This token may only read consent purposes")
            return None
        if scheme == "bearer" and value in config.bearer_tokens:
            return None
        if scheme == "soticket" and value in config.tickets:
            if request.headers.get("so-apptoken", "").strip() in config.app_tokens:
                return None
            return error(401, "SOTicket authentication requires a valid SO-AppToken header")
        if scheme == "basic" and self._basic_ok(value):
            return None
        return error(401, "Authorization header is missing or its credentials are not valid")

    def _basic_ok(self, value: str) -> bool:
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        user, colon, password = decoded.partition(":")
        return bool(colon) and user in self.config.basic_users \
            and self.config.basic_users[user] == password

    @staticmethod
    def wire(record: dict[str, Any]) -> dict[str, Any]:
        """A stored item as the API returns it, with the response-only rights attached."""
        return {**record, "TableRight": dict(TABLE_RIGHT), "FieldProperties": FIELD_PROPERTIES}

    def _find(self, request: Request) -> dict[str, Any] | Response:
        raw = request.path_params["id"]
        known = raw.isascii() and raw.isdigit()
        record = self.purposes.get(str(int(raw))) if known else None
        if record is None:
            return error(404, f"ConsentPurpose with id {raw} was not found")
        return record

    async def _entity(self, request: Request) -> dict[str, Any] | Response:
        """Parse the body of a save; a missing or `null` body is the documented 400."""
        raw = await request.body()
        if not raw.strip():
            return error(400, MISSING_BODY)
        try:
            body = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return error(400, f"Request body is not valid JSON: {exc}")
        fields = parse_entity(body)
        return error(400, fields) if isinstance(fields, str) else fields

    async def list(self, request: Request) -> Response:
        if denied := self.authorize(request):
            return denied
        records = sorted(self.purposes.values(), key=lambda r: int(r["ConsentPurposeId"]))
        return json_response([self.wire(r) for r in records], media_type=MEDIA_TYPE)

    async def create(self, request: Request) -> Response:
        if denied := self.authorize(request):
            return denied
        fields = await self._entity(request)
        if isinstance(fields, Response):
            return fields
        record = _insert(self.table, fields)
        self.table.save()
        return json_response(self.wire(record), media_type=MEDIA_TYPE)

    async def get(self, request: Request) -> Response:
        if denied := self.authorize(request):
            return denied
        record = self._find(request)
        if isinstance(record, Response):
            return record
        return json_response(self.wire(record), media_type=MEDIA_TYPE)

    async def replace(self, request: Request) -> Response:
        """PUT: a full replace of the writable fields; the body is checked before the id."""
        if denied := self.authorize(request):
            return denied
        fields = await self._entity(request)
        if isinstance(fields, Response):
            return fields
        record = self._find(request)
        if isinstance(record, Response):
            return record
        record.update(fields, UpdatedDate=_now(), UpdatedBy=dict(SANDBOX_ASSOCIATE))
        self.table.save()
        return json_response(self.wire(record), media_type=MEDIA_TYPE)

    async def delete(self, request: Request) -> Response:
        """Soft delete: the item stays listed with `Deleted: true`; repeating it is harmless."""
        if denied := self.authorize(request):
            return denied
        record = self._find(request)
        if isinstance(record, Response):
            return record
        record.update(Deleted=True, UpdatedDate=_now(), UpdatedBy=dict(SANDBOX_ASSOCIATE))
        self.table.save()
        return Response(status_code=204)


async def _http_error(_: Request, exc: Exception) -> Response:
    """Routing 404s and 405s in the same body as every other error, keeping `Allow`."""
    assert isinstance(exc, HTTPException)
    response = error(exc.status_code, exc.detail)
    response.headers.update(exc.headers or {})
    return response


def _route(path: str, handlers: dict[str, Handler]) -> Route:
    """One route per path, so a 405 lists every allowed method in `Allow`."""

    async def dispatch(request: Request) -> Response:
        return await handlers[request.method if request.method != "HEAD" else "GET"](request)

    return Route(path, dispatch, methods=list(handlers))


def create_app(table: Table, config: SuperOfficeSandboxConfig, faults: Faults,
               log: RequestLog) -> ASGIApp:
    """The consent-purpose API, to be mounted at `/superoffice/{tenant}/api/v1`."""
    sandbox = SuperOfficeSandbox(table, config)
    items, item = "/List/ConsentPurpose/Items", "/List/ConsentPurpose/Items/{id:str}"
    app = Starlette(routes=[
        _route(items, {"GET": sandbox.list, "POST": sandbox.create}),
        _route(item, {"GET": sandbox.get, "PUT": sandbox.replace, "DELETE": sandbox.delete}),
    ], exception_handlers={HTTPException: _http_error})
    return FaultMiddleware(app, "superoffice", faults, log, error, None)


PREFIX = "/superoffice/Cust12345/api/v1"
TOKEN = "sandbox-superoffice-token"
READ_ONLY_TOKEN = "sandbox-superoffice-read-only"
TICKET = "sandbox-ticket"
APP_TOKEN = "sandbox-app-token"
USER = ("sandbox", "sandbox-password")
"""The sandbox's well-known credentials: not secrets, the sandbox only listens on loopback."""


def _mount(context: SandboxContext) -> list[BaseRoute]:
    table = context.table("superoffice")
    if context.option("builtins", True):
        seed_builtins(table)
    config = SuperOfficeSandboxConfig(
        bearer_tokens={TOKEN}, tickets={TICKET}, app_tokens={APP_TOKEN},
        basic_users={USER[0]: USER[1]}, read_only_bearer_tokens={READ_ONLY_TOKEN})
    return [Mount(PREFIX, create_app(table, config, context.faults, context.log))]


SANDBOX = VendorSandbox(
    name="superoffice", mount=_mount,
    overrides=lambda base_url: {"base_url": base_url + PREFIX, "auth": "bearer", "token": TOKEN,
                                "ticket": "", "app_token": "", "username": "", "password": ""},
    options=("builtins",))

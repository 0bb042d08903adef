"""SuperOffice WebAPI consent purposes (docs/vendors/superoffice.md): the `List/ConsentPurpose/Items` agent.

Mounted at `/{tenant}/api/v1`. What the emulator deliberately reproduces, because
a reconciler has to cope with it on a real tenant:

* the list has no paging; whether it shows soft-deleted items is the switch
  `list_deleted` (default false: "deleted rows should not be shown in lists"); a read by
  id always finds them;
* `Name` and `Key` have unique indexes (soft-deleted rows included): a save that would
  repeat one answers `unique_status` (400 by default, or 500), comparing without regard
  to case unless `unique_case` is "sensitive";
* multi-language values (`US:"Newsletter";GE:"Rundbrief"`) are stored whole and read in
  the `Accept-Language` asked for (en -> US, de -> GE); without the header they are read
  whole;
* the tenant moves (switch `moved`): the old root answers 421 Misdirected Request, and the
  state API (`/superoffice/api/state/{tenant}`) gives the new one in `Api`;
* answers carry no `_Links` by default (no response table of the reference lists it;
  switch `links`: true adds them, as the REST reference's samples show);
* the state API's answer carries `ValidUntil` (how long its answer holds);
* DELETE is a soft delete (`Deleted: true`) and a PUT with `Deleted: false` revives;
* PUT is a full replace: a field missing from the body falls back to its default;
* `Active` is an int32, not a bool;
* the server owns `ConsentPurposeId`, `UpdatedDate`, `UpdatedBy`, `TableRight` and
  `FieldProperties`, and ignores whatever a client sends for them.

Real tenants ship two reserved purposes, `#Process` and `#Emarketing`; call
`seed_builtins` to start a sandbox the way a real tenant starts.

The vendor does not document its error body, so `error` invents a small one. The
entity, its defaults and the error body are in `sandbox_entity.py`.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp

from reconciler.providers.superoffice.sandbox_entity import (
    _WRITE_METHODS,
    FIELD_PROPERTIES,
    MEDIA_TYPE,
    MISSING_BODY,
    SANDBOX_ASSOCIATE,
    STRING_FIELDS,
    TABLE_RIGHT,
    SuperOfficeSandboxConfig,
    _insert,
    _now,
    _purposes,
    error,
    in_language,
    parse_entity,
    refused,
    seed_builtins,
)
from reconciler.sandbox.common import (
    EARLY_ANSWERS,
    FaultMiddleware,
    Faults,
    Handler,
    RequestLog,
    SandboxContext,
    Table,
    VendorSandbox,
    json_response,
)


class SuperOfficeSandbox:
    """Route handlers over one tenant's consent purposes, persisted in `table`."""

    def __init__(self, table: Table, config: SuperOfficeSandboxConfig) -> None:
        self.table = table
        self.config = config
        _purposes(table)

    @property
    def purposes(self) -> dict[str, dict[str, Any]]:
        return _purposes(self.table)

    def authorize(self, request: Request) -> None:
        """401 unless some documented scheme authenticates; 403 for writes by read-only tokens."""
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        scheme, value = scheme.lower(), value.strip()
        config = self.config
        if scheme == "bearer" and value in config.read_only_bearer_tokens:
            if request.method in _WRITE_METHODS:
                raise refused(403, "This token may only read consent purposes")
            return None
        if scheme == "bearer" and value in config.bearer_tokens:
            return None
        if scheme == "soticket" and value in config.tickets:
            if request.headers.get("so-apptoken", "").strip() in config.app_tokens:
                return None
            raise refused(401, "SOTicket authentication requires a valid SO-AppToken header")
        if scheme == "basic" and self._basic_ok(value):
            return None
        raise refused(401, "Authorization header is missing or its credentials are not valid")

    def _basic_ok(self, value: str) -> bool:
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        user, colon, password = decoded.partition(":")
        return bool(colon) and user in self.config.basic_users \
            and self.config.basic_users[user] == password

    def wire(self, record: dict[str, Any], request: Request | None = None) -> dict[str, Any]:
        """A stored item as the API returns it, in the language asked for, with the
        response-only rights (and, with the switch `links`, `_Links`) attached."""
        language = request.headers.get("accept-language") if request is not None else None
        shown = {k: in_language(v, language) if k in STRING_FIELDS else v
                 for k, v in record.items()}
        shown = {**shown, "TableRight": dict(TABLE_RIGHT), "FieldProperties": FIELD_PROPERTIES}
        if self.config.links:
            shown["_Links"] = {"Self": f"List/ConsentPurpose/Items/{record['ConsentPurposeId']}"}
        return shown

    def _taken(self, fields: dict[str, Any], own: int | None) -> Response | None:
        """The unique indexes on Name and Key, soft-deleted rows included."""
        def same(a: Any, b: Any) -> bool:
            if self.config.unique_case == "sensitive":
                return bool(a) and a == b
            return bool(a) and str(a).casefold() == str(b).casefold()

        for record in self.purposes.values():
            if record["ConsentPurposeId"] == own:
                continue
            for column in ("Name", "Key"):
                if same(fields.get(column), record.get(column)):
                    return error(self.config.unique_status, (
                        f"Cannot insert duplicate key row in object 'dbo.consentpurpose' with "
                        f"unique index 'IDX_consentpurpose_{column.lower()}'. The duplicate key "
                        f"value is ({fields[column]})."))
        return None

    def _find(self, request: Request) -> dict[str, Any]:
        raw = request.path_params["id"]
        known = raw.isascii() and raw.isdigit()
        record = self.purposes.get(str(int(raw))) if known else None
        if record is None:
            raise refused(404, f"ConsentPurpose with id {raw} was not found")
        return record

    async def _entity(self, request: Request) -> dict[str, Any]:
        """Parse the body of a save; a missing or `null` body is the documented 400."""
        raw = await request.body()
        if not raw.strip():
            raise refused(400, MISSING_BODY)
        try:
            body = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise refused(400, f"Request body is not valid JSON: {exc}") from None
        fields = parse_entity(body)
        if isinstance(fields, str):
            raise refused(400, fields)
        return fields

    async def list(self, request: Request) -> Response:
        self.authorize(request)
        records = sorted(self.purposes.values(), key=lambda r: int(r["ConsentPurposeId"]))
        shown = [r for r in records if self.config.list_deleted or not r.get("Deleted")]
        return json_response([self.wire(r, request) for r in shown], media_type=MEDIA_TYPE)

    async def mdo_items(self, request: Request) -> Response:
        """GET MDOItems?flat=true: every item with its Deleted flag; deleted ones only with
        the switch `mdo_deleted` (default true: the page's answer has the flag, but whether
        a real tenant lists deleted items here is an assumption)."""
        self.authorize(request)
        records = sorted((r for r in self.purposes.values()
                          if self.config.mdo_deleted or not r.get("Deleted")),
                         key=lambda r: int(r["ConsentPurposeId"]))
        language = request.headers.get("accept-language")
        return json_response([
            {"Id": r["ConsentPurposeId"], "Name": in_language(r["Name"], language),
             "ToolTip": r["Tooltip"], "Deleted": r["Deleted"], "Rank": r["Rank"], "Type": "",
             "ChildItems": [], "IconHint": "", "ColorBlock": 0, "ExtraInfo": "",
             "StyleHint": "", "FullName": in_language(r["Name"], language)}
            for r in records], media_type=MEDIA_TYPE)

    async def create(self, request: Request) -> Response:
        self.authorize(request)
        fields = await self._entity(request)
        if taken := self._taken(fields, None):
            return taken
        record = _insert(self.table, fields)
        self.table.save()
        return json_response(self.wire(record, request), media_type=MEDIA_TYPE)

    async def get(self, request: Request) -> Response:
        self.authorize(request)
        record = self._find(request)
        return json_response(self.wire(record, request), media_type=MEDIA_TYPE)

    async def replace(self, request: Request) -> Response:
        """PUT: a full replace of the writable fields; the body is checked before the id."""
        self.authorize(request)
        fields = await self._entity(request)
        record = self._find(request)
        if taken := self._taken(fields, record["ConsentPurposeId"]):
            return taken
        self.config.last_put.clear()
        self.config.last_put.update(json.loads(await request.body()))
        record.update(fields, UpdatedDate=_now(), UpdatedBy=dict(SANDBOX_ASSOCIATE))
        self.table.save()
        return json_response(self.wire(record, request), media_type=MEDIA_TYPE)

    async def delete(self, request: Request) -> Response:
        """Soft delete: the item stays listed with `Deleted: true`; repeating it is harmless."""
        self.authorize(request)
        record = self._find(request)
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
        _route("/List/ConsentPurpose/MDOItems", {"GET": sandbox.mdo_items}),
        _route(item, {"GET": sandbox.get, "PUT": sandbox.replace, "DELETE": sandbox.delete}),
    ], exception_handlers={**EARLY_ANSWERS, HTTPException: _http_error})
    return FaultMiddleware(app, "superoffice", faults, log, error, None)


PREFIX = "/superoffice/Cust12345/api/v1"
TOKEN = "sandbox-superoffice-token"
READ_ONLY_TOKEN = "sandbox-superoffice-read-only"
TICKET = "sandbox-ticket"
APP_TOKEN = "sandbox-app-token"
USER = ("sandbox", "sandbox-password")
"""The sandbox's well-known credentials: not secrets, the sandbox only listens on loopback."""


TENANT = "Cust12345"
MOVED_PREFIX = f"/superoffice-sod3/{TENANT}/api/v1"
"""Where the tenant lives once it has moved (switch `moved`)."""
STATE_PATH = "/superoffice/api/state/{tenant}"


async def _misdirected(_: Request) -> Response:
    return error(421, "Misdirected Request: this tenant is served from another host; ask the "
                      "state API where")


def _state_api(moved: bool) -> Route:
    """The public state API: where the tenant's WebAPI lives now (`Api`, without /v1)."""

    async def state(request: Request) -> Response:
        tenant = request.path_params["tenant"]
        if tenant != TENANT:
            return json_response({"ContextIdentifier": tenant, "State": "Unknown"}, 404)
        root = str(request.base_url).rstrip("/") + (MOVED_PREFIX if moved else PREFIX)
        valid = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
        return json_response({"ContextIdentifier": TENANT, "State": "Running",
                              "Endpoint": root.removesuffix("/api/v1"),
                              "Api": root.removesuffix("/v1"), "IsRunning": True,
                              "ValidUntil": valid.isoformat().replace("+00:00", "Z")})

    return Route(STATE_PATH, state, methods=["GET"])


def _admin(table: Table, config: SuperOfficeSandboxConfig) -> Mount:
    """Inspection routes for tests: what is stored, and the last PUT body received."""

    async def purposes(_: Request) -> Response:
        return json_response(_purposes(table))

    async def last_put(_: Request) -> Response:
        return json_response(config.last_put)

    return Mount("/_sandbox/superoffice", routes=[Route("/purposes", purposes),
                                                  Route("/last_put", last_put)])


def _mount(context: SandboxContext) -> list[BaseRoute]:
    table = context.table("superoffice")
    if context.option("builtins", True):
        seed_builtins(table)
    config = SuperOfficeSandboxConfig(
        bearer_tokens={TOKEN}, tickets={TICKET}, app_tokens={APP_TOKEN},
        basic_users={USER[0]: USER[1]}, read_only_bearer_tokens={READ_ONLY_TOKEN},
        list_deleted=context.option("list_deleted", False),
        mdo_deleted=context.option("mdo_deleted", True),
        unique_status=context.option("unique_status", 400),
        unique_case=context.option("unique_case", "insensitive"),
        links=bool(context.option("links", False)))
    app = create_app(table, config, context.faults, context.log)
    moved = bool(context.option("moved", False))
    served = [Mount(MOVED_PREFIX, app),
              Mount(PREFIX, routes=[Route("/{path:path}", _misdirected, methods=[
                  "GET", "POST", "PUT", "DELETE"])])] if moved else [Mount(PREFIX, app)]
    return [_state_api(moved), _admin(table, config), *served]


SANDBOX = VendorSandbox(
    name="superoffice", mount=_mount,
    overrides=lambda base_url: {"base_url": base_url + PREFIX, "auth": "bearer", "token": TOKEN,
                                "ticket": "", "app_token": "", "username": "", "password": ""},
    options=("builtins", "list_deleted", "mdo_deleted", "unique_status", "unique_case",
             "moved", "links"))


__all__ = ["FIELD_PROPERTIES", "SANDBOX", "SANDBOX_ASSOCIATE", "SuperOfficeSandboxConfig",
           "create_app", "seed_builtins"]

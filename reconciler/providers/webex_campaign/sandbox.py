"""Webex Campaign: purposes on the API hub, datastore records and notify
transaction state on the tenant host (docs/vendors/webex_campaign.md).

Every failure is `{"code", "description"}` with the texts of the documents' tables. The
tenant APIs also fail with HTTP 200 and a code in the body (1010, 1101..1108), so a
client must read the body's code, not only the status. The admin routes are ours, not
the vendor's: plain JSON views of the stored state for tests.

Where the documents are silent, this sandbox chooses (the reconciler must not rely on more):
- the HTTP status of body codes 1001/1002 and 1101..1108 (switch `body_code_status`,
  200 or 500): the tables leave it blank under the 500 row; by default 1001/1002 come with
  500 and the notify codes with 200;
- the success status of create, update, add-records and notify (switch `success_status`,
  200 or 201): no page states it;
- a read by id answers, like the GET page's example, a one-element array (the default) or
  an object (switch `by_id`: "array" or "object");
- whether duplicate names ignore case (switch `duplicate_names`: "exact" or "casefold"),
  and whether groups are stored as sent or upper-cased (switch `group_case`);
- client-credentials tokens (POST {tenant}/oauth/token, Basic auth key, isGoldenAuthkey)
  live `token_ttl_s` (and serve at most `token_uses` requests, when set);
  `token_expiry_announced` says whether the answer gives expires_in.
  An expired token answers 498;
- the API key is checked before routing, so an unknown path or method without a valid
  key answers 430/498, not 404/405; throttling (429) comes before the key check;
- no response carries Retry-After, not even injected faults: Webex documents none;
- purpose ids are sequential from 700; timestamps are UTC; a purpose created without
  description has `"description": null`; PUT moves a purpose whose body has no group to
  the default group (the update page says so) and leaves an absent description
  unchanged; a non-string group or description is 500/1001 "Invalid input JSON";
- duplicate names are checked on create only;
- datastore records are applied `apply_delay_s` after the ACK and appended (switch
  `records`: "append", the default, since nothing documents an upsert) or upserted by
  `msisdn` ("upsert"). `records_fail_after_write` makes that many add-records calls store
  their records and then answer 500: the ambiguous failure a client must not resend.
  The datastore-attributes API answers the reference's datastore object (`datastore-id`,
  `datastore-name`, `columns`) for `datastore_columns` (by datastore id), or a list of
  such objects (switch `datastore_attributes`: "object", the default, or "list").
  A request without datastore-id is filed under the datastore whose feeds contain the
  feed-id (or `UNSPECIFIED_DATASTORE` when any datastore is accepted);
- the trans_id / transaction-id are random hex strings; request Content-Type is not
  enforced; a notification is stored as the received body plus `receivedAt` and the
  `transaction-id` it was given.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reconciler.providers.webex_campaign.sandbox_tenant import _mint, _Tenant
from reconciler.providers.webex_campaign.sandbox_wire import (
    _EXCEPTION_HANDLERS,
    DEFAULT_GROUP,
    FIRST_PURPOSE_ID,
    FORCEABLE_CODES,
    TENANT_NAME,
    TOKEN_PATH,
    VENDOR,
    WebexApps,
    WebexSandboxConfig,
    _is_default_group,
    _now,
    _object_body,
    error,
    fail,
)
from reconciler.sandbox.common import (
    Answer,
    FaultMiddleware,
    Faults,
    RateLimiter,
    RequestLog,
    SandboxContext,
    Table,
    VendorSandbox,
    bearer_token,
    json_response,
)


class _BearerAuth:
    """Checks the API key before routing, as a gateway would: 498 expired, 430 anything else.

    Reads the config on every request so a test can rotate keys on a running sandbox.
    """

    def __init__(self, app: ASGIApp, config: WebexSandboxConfig) -> None:
        self.app = app
        self.config = config

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["path"].endswith(TOKEN_PATH):
            key = bearer_token(Request(scope))
            if key not in self.config.api_keys and not self._minted(key):
                expired = key in self.config.expired_keys or key in self.config.minted
                await fail(498 if expired else 430)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _minted(self, key: str | None) -> bool:
        """A client-credentials token that has not expired yet (nor served `token_uses`
        requests, which makes expiry deterministic for tests)."""
        expires = self.config.minted.get(key or "")
        if expires is None or time.monotonic() >= expires:
            return False
        used = self.config.uses[key or ""] = self.config.uses.get(key or "", 0) + 1
        return not self.config.token_uses or used <= self.config.token_uses


class _NoRetryAfterFaults(FaultMiddleware):
    """FaultMiddleware whose responses never carry Retry-After: Webex documents none."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return

        async def stripped(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [h for h in message.get("headers", []) if h[0].lower() != b"retry-after"]
                message = {**message, "headers": kept}
            await send(message)

        await super().__call__(scope, receive, stripped)


class _Purposes:
    """The hub's /purposes: list, get, create and update; there is no delete API."""

    def __init__(self, table: Table, config: WebexSandboxConfig) -> None:
        self.table = table
        self.config = config
        table.data.setdefault("purposes", {})
        table.data.setdefault("next_purpose_id", FIRST_PURPOSE_ID)

    @property
    def records(self) -> dict[str, dict[str, Any]]:
        return self.table.data["purposes"]  # type: ignore[no-any-return]

    async def list(self, _: Request) -> Response:
        """The GET example's form: numeric id, createdDate, imageUrl; group only if not default."""
        items = []
        for record in sorted(self.records.values(), key=lambda r: int(r["id"])):
            item = {"tenantName": TENANT_NAME, "name": record["name"], "id": record["id"],
                    "description": record["description"], "createdDate": record["createdOn"],
                    "imageUrl": None}
            if not _is_default_group(record["group"]):
                item["group"] = record["group"]
            items.append(item)
        return json_response(items)

    async def get(self, request: Request) -> Response:
        """The parameter table's form: numeric id, createdOn and always a group."""
        record = self.records.get(request.path_params["id"])
        if record is None:
            return fail(404)
        item = {"tenantName": TENANT_NAME, "name": record["name"], "id": record["id"],
                "group": record["group"], "createdOn": record["createdOn"],
                "description": record["description"]}
        return json_response([item] if self.config.by_id == "array" else item)

    def _same_name(self, a: str, b: str) -> bool:
        return a.casefold() == b.casefold() if self.config.duplicate_names == "casefold" \
            else a == b

    def _group(self, group: str | None) -> str:
        group = group or DEFAULT_GROUP
        return group.upper() if self.config.group_case == "upper" else group

    async def create(self, request: Request) -> Response:
        body = await self._body(request)
        if any(self._same_name(record["name"], body["name"]) for record in self.records.values()):
            return fail(409)
        rid = int(self.table.data["next_purpose_id"])
        self.table.data["next_purpose_id"] = rid + 1
        record = {"id": rid, "name": body["name"], "group": self._group(body.get("group")),
                  "description": body.get("description"), "createdOn": _now()}
        self.records[str(rid)] = record
        self.table.save()
        return self._saved(record, self.config.success_status)

    async def update(self, request: Request) -> Response:
        """Renames freely (409 is documented for create only); an absent group is the default
        group (the update page says so); an absent description stays."""
        record = self.records.get(request.path_params["id"])
        if record is None:
            return fail(404)
        body = await self._body(request)
        record["name"] = body["name"]
        record["group"] = self._group(body.get("group"))
        if body.get("description") is not None:
            record["description"] = body["description"]
        self.table.save()
        return self._saved(record, self.config.success_status)

    async def _body(self, request: Request) -> dict[str, Any]:
        body = await _object_body(request)
        if body is None:
            raise Answer(fail(1001, self.config))
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise Answer(fail(400))
        if any(body.get(key) is not None and not isinstance(body[key], str)
               for key in ("group", "description")):
            raise Answer(fail(1001, self.config))
        return body

    @staticmethod
    def _saved(record: dict[str, Any], status: int) -> Response:
        """Create and update answer alike, with the id as a STRING (unlike the GETs)."""
        return json_response({"id": str(record["id"]), "name": record["name"],
                              "message": "Purpose added/updated successfully."}, status)


def _admin_routes(table: Table, tenant: _Tenant) -> list[BaseRoute]:
    """Inspection routes for tests and demos: no auth, not part of the vendor API."""

    async def datastores(_: Request) -> Response:
        tenant.apply_due()
        return json_response(table.data.get("datastores", {}))

    async def notifications(_: Request) -> Response:
        return json_response(table.data.get("notifications", []))

    async def purposes(_: Request) -> Response:
        return json_response(table.data.get("purposes", {}))

    async def tokens(_: Request) -> Response:
        return json_response({"minted": len(tenant.config.minted)})

    return [Route("/datastores", datastores, methods=["GET"]),
            Route("/notifications", notifications, methods=["GET"]),
            Route("/purposes", purposes, methods=["GET"]),
            Route("/tokens", tokens, methods=["GET"])]


def _check_config(config: WebexSandboxConfig) -> None:
    """Fail at start-up, not mid-test, on a path or forced code the sandbox cannot serve."""
    for path in (config.datastore_path, config.notify_path):
        if not path.startswith("/"):
            raise ValueError(f"webex_campaign tenant path {path!r} must start with '/'")
    for deployment, code in config.deployments.items():
        if code != 0 and code not in FORCEABLE_CODES:
            raise ValueError(f"webex_campaign deployment {deployment!r}: code {code} is not 0 "
                             f"or one of {sorted(FORCEABLE_CODES)}")


def create_apps(table: Table, config: WebexSandboxConfig, faults: Faults,
                log: RequestLog) -> WebexApps:
    """The hub and tenant apps (each with its own rate window) and the admin routes."""
    _check_config(config)
    purposes, tenant = _Purposes(table, config), _Tenant(table, config)
    hub = Starlette(routes=[
        Route("/purposes", purposes.list, methods=["GET"]),
        Route("/purposes", purposes.create, methods=["POST"]),
        Route("/purposes/{id}", purposes.get, methods=["GET"]),
        Route("/purposes/{id}", purposes.update, methods=["PUT"]),
    ], exception_handlers=_EXCEPTION_HANDLERS)
    tenant_app = Starlette(routes=[
        Route(config.datastore_path, tenant.add_records, methods=["POST"]),
        Route(config.notify_path, tenant.notify, methods=["POST"]),
        Route(TOKEN_PATH, _mint, methods=["POST"]),
    ], exception_handlers=_EXCEPTION_HANDLERS)
    tenant_app.state.config = config
    metadata = Starlette(routes=[Route("/{id}", tenant.columns, methods=["GET"])],
                         exception_handlers=_EXCEPTION_HANDLERS)

    def wrap(app: ASGIApp) -> ASGIApp:
        limiter = RateLimiter(config.rate_limit, config.rate_window_s)
        return _NoRetryAfterFaults(_BearerAuth(app, config), VENDOR, faults, log, error,
                                   limiter if config.rate_limit else None, rate_headers=False)

    return WebexApps(hub=wrap(hub), tenant=wrap(tenant_app), admin=_admin_routes(table, tenant),
                     metadata=wrap(metadata))


HUB_PREFIX = "/webex/v1"
TENANT_PREFIX = "/webex-tenant/campaignapi/resources/v3"
METADATA_PREFIX = "/webex-tenant/campaignapi/metadata/v3/datastore"
KEYS = ("sandbox-webex-key", "sandbox-webex-key-rotated")
EXPIRED_KEY = "sandbox-webex-expired"
"""The sandbox's well-known credentials: not secrets, the sandbox only listens on loopback."""


def _mount(context: SandboxContext) -> list[BaseRoute]:
    config = WebexSandboxConfig(
        api_keys=set(KEYS), expired_keys={EXPIRED_KEY},
        rate_limit=context.option("rate_limit", 0), rate_window_s=context.option("rate_window_s", 1.0),
        deployments=dict(context.option("deployments", {})),
        **{name: context.option(name, default) for name, default in SWITCHES.items()})
    apps = create_apps(context.table(VENDOR), config, context.faults, context.log)
    return [Mount(HUB_PREFIX, apps.hub), Mount(METADATA_PREFIX, apps.metadata),
            Mount(TENANT_PREFIX, apps.tenant), Mount("/_sandbox/webex_campaign", routes=apps.admin)]


SWITCHES: dict[str, Any] = {
    "by_id": "array", "success_status": 200, "body_code_status": None,
    "duplicate_names": "exact", "group_case": "as_sent", "records": "append",
    "records_fail_after_write": 0, "token_ttl_s": 3600.0, "token_expiry_announced": True,
    "token_uses": 0,
    "datastore_columns": {}, "datastore_attributes": "object",
}
"""The switches of the references' ambiguities, with the sandbox's default reading."""


SANDBOX = VendorSandbox(
    name=VENDOR, mount=_mount,
    overrides=lambda base_url: {"base_url": base_url + HUB_PREFIX,
                                "tenant_url": base_url + TENANT_PREFIX, "token": KEYS[0]},
    options=("rate_limit", "rate_window_s", "deployments", *SWITCHES))

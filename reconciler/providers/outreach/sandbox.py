"""Outreach API v2 call purposes (docs/vendors/outreach.md), JSON:API over `application/vnd.api+json`.

Switches for what the references leave open (docs/vendors/outreach.md):
- `links`: links.next "absolute" (default), "path" (/outreach/api/v2/callPurposes?...) or
  "relative" (callPurposes?...);
- `filter_syntax`: "outreach" (default: `,` separates a list of names, `a..b` is a range)
  or "literal";
- `error_field`: the error text in "detail" (default) or "details" (the 415 example);
- `token_uses`: an access token minted from a refresh token (POST /outreach/oauth/token)
  serves this many requests, then answers 401 "expired" (0: no limit);
- `drop_creates`: names whose first create is processed, then answered 500 (the client
  cannot tell whether the purpose was created).
"""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from reconciler.sandbox.common import (
    EARLY_ANSWERS,
    Answer,
    FaultMiddleware,
    Faults,
    RateLimiter,
    RequestLog,
    SandboxContext,
    Table,
    VendorSandbox,
    bearer_token,
    json_body,
    json_response,
)

MEDIA_TYPE = "application/vnd.api+json"
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 50
NAME_MAX = 255
_ERROR_IDS = {400: "badRequest", 401: "unauthorized", 403: "forbidden", 404: "resourceNotFound",
              415: "unsupportedMediaType", 422: "validationError", 429: "rateLimitExceeded",
              500: "internalServerError", 503: "serviceUnavailable"}
_TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Resource Not Found",
           415: "Unsupported Media Type", 422: "Validation Error", 429: "Rate Limit Exceeded",
           500: "Internal Server Error", 503: "Service Unavailable"}


ERROR_FIELD = {"name": "detail"}
"""Where error texts go (switch `error_field`); one sandbox per process runs at a time."""
CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN = ("sandbox-outreach-app", "sandbox-outreach-secret",
                                           "sandbox-outreach-refresh")


def refused(status: int, detail: str, pointer: str | None = None) -> Answer:
    """The vendor's error answer, raised early (sandbox.common.Answer)."""
    return Answer(error(status, detail, pointer))


def error(status: int, detail: str, pointer: str | None = None) -> Response:
    item: dict[str, Any] = {"id": _ERROR_IDS.get(status, "error"), "title": _TITLES.get(status, "Error"),
                            ERROR_FIELD["name"]: detail}
    if pointer:
        item["source"] = {"pointer": pointer}
    return json_response({"errors": [item]}, status, MEDIA_TYPE)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class OutreachSandbox:
    def __init__(self, table: Table, tokens: set[str], name_max: int = NAME_MAX,
                 switches: dict[str, Any] | None = None) -> None:
        self.table = table
        self.tokens = tokens
        self.name_max = name_max
        self.switches: dict[str, Any] = {**SWITCHES, **(switches or {})}
        self.minted: dict[str, int] = {}  # access token -> requests it served
        self.refresh_tokens = {REFRESH_TOKEN}
        table.data.setdefault("next_id", 1)
        table.data.setdefault("call_purposes", {})

    @property
    def purposes(self) -> dict[str, dict[str, Any]]:
        return self.table.data["call_purposes"]  # type: ignore[no-any-return]

    def resource(self, request: Request, record: dict[str, Any]) -> dict[str, Any]:
        base = str(request.base_url).rstrip("/") + request.scope.get("root_path", "")
        rid = record["id"]
        return {
            "type": "callPurpose",
            "id": rid,
            "attributes": {k: record[k] for k in ("createdAt", "name", "order", "updatedAt")},
            "relationships": {
                "calls": {"links": {"related": f"{base}/calls?filter[callPurpose][id]={rid}"}},
                "creator": {"data": {"type": "user", "id": record["creatorId"]}},
            },
            "links": {"self": f"{base}/callPurposes/{rid}"},
        }

    def authorize(self, request: Request) -> None:
        token = bearer_token(request) or ""
        if token in self.minted:
            self.minted[token] += 1
            limit = self.switches["token_uses"]
            if limit and self.minted[token] > limit:
                raise refused(401, "The access token expired.")
        elif token not in self.tokens:
            raise refused(401, "The access token is missing, invalid or expired.")
        if request.method in ("POST", "PATCH"):
            media = request.headers.get("content-type", "").split(";")[0].strip()
            if media != MEDIA_TYPE:
                raise refused(415, f"Content-Type must be {MEDIA_TYPE}")
        return None

    async def list(self, request: Request) -> Response:
        self.authorize(request)
        query = request.query_params
        try:
            size = int(query.get("page[size]", DEFAULT_PAGE_SIZE))
        except ValueError:
            return error(400, "page[size] must be an integer", None)
        if not 1 <= size <= MAX_PAGE_SIZE:
            return error(400, f"page[size] must be between 1 and {MAX_PAGE_SIZE}")
        after = 0
        if cursor := query.get("page[after]"):
            try:
                after = int(base64.urlsafe_b64decode(cursor.encode()).decode())
            except ValueError:
                return error(400, "page[after] is not a valid cursor")
        records = [r for r in self.purposes.values() if r["id"] > after]
        if name := query.get("filter[name]"):
            records = [r for r in records if self._matches(r["name"], name)]
        records.sort(key=lambda r: r["id"])
        page = records[:size]
        base = str(request.url).split("?")[0]
        links = {"first": f"{base}?page[size]={size}"}
        if len(records) > size:
            cursor = base64.urlsafe_b64encode(str(page[-1]["id"]).encode()).decode()
            links["next"] = f"{self._link(request, base)}?page[size]={size}&page[after]={cursor}"
            if name:
                links["next"] += f"&filter[name]={name}"
        return json_response({"data": [self.resource(request, r) for r in page], "links": links},
                             media_type=MEDIA_TYPE)

    def _matches(self, value: str, wanted: str) -> bool:
        """Outreach filter syntax: `a,b` is a list of values, `a..b` a range."""
        if self.switches["filter_syntax"] == "literal":
            return value == wanted
        for item in wanted.split(","):
            low, dots, high = item.partition("..")
            if (dots and low <= value <= (high or "\uffff")) or (not dots and value == item):
                return True
        return False

    def _link(self, request: Request, base: str) -> str:
        """links.next as absolute, path-absolute or relative (switch `links`)."""
        kind = self.switches["links"]
        if kind == "path":
            return urlsplit(base).path
        if kind == "relative":
            return urlsplit(base).path.rsplit("/", 1)[-1]
        return base

    async def mint(self, request: Request) -> Response:
        """The refresh-token grant (form or JSON body); every answer rotates the refresh token."""
        raw = (await request.body()).decode()
        form: Any = dict(parse_qsl(raw)) if "form" in request.headers.get(
            "content-type", "") else await json_body(request)
        if form.get("grant_type") != "refresh_token" or form.get("client_id") != CLIENT_ID \
                or form.get("client_secret") != CLIENT_SECRET \
                or form.get("refresh_token") not in self.refresh_tokens:
            return json_response({"error": "invalid_grant"}, 400)
        token = "minted-" + base64.urlsafe_b64encode(os.urandom(12)).decode()
        rotated = "refresh-" + base64.urlsafe_b64encode(os.urandom(12)).decode()
        self.minted[token] = 0
        self.refresh_tokens.add(rotated)
        return json_response({"access_token": token, "token_type": "bearer", "expires_in": 7200,
                              "refresh_token": rotated, "scope": "callPurposes.all"})

    def _validate(self, attributes: Any) -> None:
        if not isinstance(attributes, dict):
            raise refused(422, "attributes must be an object", "/data/attributes")
        unknown = set(attributes) - {"name", "order"}
        if unknown:
            field = sorted(unknown)[0]
            raise refused(422, f"{field} is not a writable attribute", f"/data/attributes/{field}")
        name = attributes.get("name")
        if name is not None and (not isinstance(name, str) or len(name) > self.name_max):
            raise refused(422, f"name is too long (maximum is {self.name_max} characters)",
                         "/data/attributes/name")
        order = attributes.get("order")
        if order is not None and (isinstance(order, bool) or not isinstance(order, int)):
            raise refused(422, "order must be an integer", "/data/attributes/order")
        return None

    async def _data(self, request: Request) -> dict[str, Any]:
        try:
            body = await json_body(request)
        except ValueError as exc:
            raise refused(400, str(exc)) from None
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict):
            raise refused(422, "data must be an object", "/data")
        if data.get("type") != "callPurpose":
            raise refused(422, "type must be callPurpose", "/data/type")
        return data

    async def create(self, request: Request) -> Response:
        self.authorize(request)
        data = await self._data(request)
        attributes = data.get("attributes", {})
        self._validate(attributes)
        rid = self.table.data["next_id"]
        self.table.data["next_id"] = rid + 1
        now = _now()
        record = {"id": rid, "name": attributes.get("name"), "order": attributes.get("order"),
                  "createdAt": now, "updatedAt": now, "creatorId": 1}
        self.purposes[str(rid)] = record
        self.table.save()
        if record["name"] in self.switches["drop_creates"]:
            self.switches["drop_creates"].remove(record["name"])
            return error(500, "created, but the answer was lost (sandbox switch drop_creates)")
        return json_response({"data": self.resource(request, record)}, 201, MEDIA_TYPE)

    def _find(self, request: Request) -> dict[str, Any]:
        rid = request.path_params["id"]
        record = self.purposes.get(rid)
        if record is None:
            raise refused(404, f"Could not find 'callPurpose' with ID '{rid}'.")
        return record

    async def get(self, request: Request) -> Response:
        self.authorize(request)
        record = self._find(request)
        return json_response({"data": self.resource(request, record)}, media_type=MEDIA_TYPE)

    async def update(self, request: Request) -> Response:
        self.authorize(request)
        record = self._find(request)
        data = await self._data(request)
        if str(data.get("id")) != str(record["id"]):
            return error(422, "data.id must match the id in the URL", "/data/id")
        attributes = data.get("attributes", {})
        self._validate(attributes)
        record.update(attributes)
        record["updatedAt"] = _now()
        self.table.save()
        return json_response({"data": self.resource(request, record)}, media_type=MEDIA_TYPE)

    async def delete(self, request: Request) -> Response:
        self.authorize(request)
        record = self._find(request)
        del self.purposes[str(record["id"])]
        self.table.save()
        return Response(status_code=204)


def create_app(table: Table, tokens: set[str], faults: Faults, log: RequestLog,
               rate_limit: int = 10_000, rate_window_s: float = 3600.0,
               name_max: int = NAME_MAX, switches: dict[str, Any] | None = None,
               ) -> FaultMiddleware:
    sandbox = OutreachSandbox(table, tokens, name_max, switches)
    app = Starlette(routes=[
        Route("/callPurposes", sandbox.list, methods=["GET"]),
        Route("/callPurposes", sandbox.create, methods=["POST"]),
        Route("/callPurposes/{id:str}", sandbox.get, methods=["GET"]),
        Route("/callPurposes/{id:str}", sandbox.update, methods=["PATCH"]),
        Route("/callPurposes/{id:str}", sandbox.delete, methods=["DELETE"]),
        Route(TOKEN_ROUTE, sandbox.mint, methods=["POST"]),
    ], exception_handlers=EARLY_ANSWERS)
    return FaultMiddleware(app, "outreach", faults, log, error,
                           RateLimiter(rate_limit, rate_window_s), rate_headers=True)


PREFIX = "/outreach/api/v2"
TOKEN_ROUTE = "/oauth/token"
"""Served under PREFIX/..: the sandbox's refresh-token endpoint is PREFIX + TOKEN_ROUTE."""
SWITCHES: dict[str, Any] = {"links": "absolute", "filter_syntax": "outreach",
                            "error_field": "detail", "token_uses": 0, "drop_creates": []}
TOKEN = "sandbox-outreach-token"
"""The sandbox's well-known credential: not a secret, the sandbox only listens on loopback."""


def _mount(context: SandboxContext) -> list[BaseRoute]:
    switches = {name: context.option(name, default) for name, default in SWITCHES.items()}
    switches["drop_creates"] = list(switches["drop_creates"])
    ERROR_FIELD["name"] = switches["error_field"]
    return [Mount(PREFIX, create_app(
        context.table("outreach"), {TOKEN}, context.faults, context.log,
        context.option("rate_limit", 10_000), context.option("rate_window_s", 3600.0),
        context.option("name_max", NAME_MAX), switches))]


SANDBOX = VendorSandbox(
    name="outreach", mount=_mount,
    overrides=lambda base_url: {"base_url": base_url + PREFIX, "token": TOKEN,
                                "token_endpoint": base_url + PREFIX + TOKEN_ROUTE},
    options=("rate_limit", "rate_window_s", "name_max", *SWITCHES))

"""A fast fake of every vendor, for measuring the reconciler's own cost per request.

The Starlette sandboxes (`reconciler sandbox`, bench/serve_sandbox.py) follow the vendors'
references closely, and spend more CPU per request than the reconciler does: measured
against them, a client's own per-request cost hides behind the emulator's. This server
answers the calls the providers make (list, read, create, update, delete) from memory,
in the shapes the sandboxes give, with none of their checks beyond the bearer token: a
hand-written HTTP/1.1 keep-alive loop on a bare asyncio.Protocol, no framework, no
access log, every lookup a dict access (a Webex name check is an index, not a scan).

One process serves many tenants: every vendor is under the sandbox's own path prefix
(/outreach/api/v2, /webex/v1, /superoffice/Cust12345/api/v1), either at the root
(tenant "") or under `/t/<tenant>` (http://host:port/t/acme/outreach/api/v2/...). A
tenant is made on its first request. `reconciler.providers.sandboxes.provider_overrides(url)`
therefore points the providers at tenant "" of `url`, or at tenant "acme" of
`url + "/t/acme"`.

    python bench/fast_fake.py --port 8766 [--data DIR]

`--data DIR` seeds tenant "" from the sandbox data files (outreach.json,
webex_campaign.json, superoffice.json), as bench/run.py --plan-only writes them.
`GET /_sandbox/requests` counts requests per "vendor METHOD" over all tenants, as the
sandbox does; `GET /_fake/tenants` counts objects per tenant and vendor.

Not for tests of behaviour: no faults, no validation, no rate limits, no persistence.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import bisect
import contextlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

JSON = b"application/json"
JSONAPI = b"application/vnd.api+json"
REASONS = {200: b"OK", 201: b"Created", 204: b"No Content", 400: b"Bad Request",
           401: b"Unauthorized", 404: b"Not Found", 405: b"Method Not Allowed",
           409: b"Conflict", 500: b"Internal Server Error"}
TOKENS = {"outreach": "sandbox-outreach-token", "webex_campaign": "sandbox-webex-key",
          "superoffice": "sandbox-superoffice-token"}
"""The sandboxes' well-known bearer tokens (their provider_overrides)."""
PREFIXES = (("outreach", "/outreach/api/v2"), ("webex_campaign", "/webex/v1"),
            ("superoffice", "/superoffice/Cust12345/api/v1"))
Answer = tuple[int, bytes, Any]
"""(status, content type, JSON-able body or None)."""


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _body(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


class Outreach:
    """/callPurposes: JSON:API, cursor pages (page[after] is the last id, base64)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.records: dict[int, dict[str, Any]] = {}
        self.next_id = 1

    def seed(self, data: dict[str, Any]) -> None:
        for record in data.get("call_purposes", {}).values():
            self.records[int(record["id"])] = dict(record)
        self.next_id = int(data.get("next_id", max(self.records, default=0) + 1))

    def resource(self, r: dict[str, Any]) -> dict[str, Any]:
        rid = r["id"]
        return {"type": "callPurpose", "id": rid,
                "attributes": {"createdAt": r["createdAt"], "name": r["name"], "order": r["order"],
                               "updatedAt": r["updatedAt"]},
                "relationships": {
                    "calls": {"links": {"related": f"{self.base}/calls?filter[callPurpose][id]={rid}"}},
                    "creator": {"data": {"type": "user", "id": 1}}},
                "links": {"self": f"{self.base}/callPurposes/{rid}"}}

    @staticmethod
    def missing(rid: str) -> Answer:
        return 404, JSONAPI, {"errors": [{"id": "resourceNotFound", "title": "Resource Not Found",
                                          "detail": f"Could not find 'callPurpose' with ID '{rid}'."}]}

    def handle(self, method: str, path: str, query: str, raw: bytes) -> Answer:
        if path == "/callPurposes":
            if method == "GET":
                return self.list(dict(parse_qsl(query)))
            if method == "POST":
                attributes = ((_body(raw) or {}).get("data") or {}).get("attributes") or {}
                stamp = _now()
                record = {"id": self.next_id, "name": attributes.get("name"),
                          "order": attributes.get("order", 0), "createdAt": stamp,
                          "updatedAt": stamp}
                self.records[self.next_id] = record
                self.next_id += 1
                return 201, JSONAPI, {"data": self.resource(record)}
        elif path.startswith("/callPurposes/"):
            rid = path[len("/callPurposes/"):]
            record = self.records.get(int(rid)) if rid.isdigit() else None
            if record is None:
                return (204, JSONAPI, None) if method == "DELETE" else self.missing(rid)
            if method == "GET":
                return 200, JSONAPI, {"data": self.resource(record)}
            if method == "PATCH":
                attributes = ((_body(raw) or {}).get("data") or {}).get("attributes") or {}
                record.update({k: v for k, v in attributes.items() if k in ("name", "order")},
                              updatedAt=_now())
                return 200, JSONAPI, {"data": self.resource(record)}
            if method == "DELETE":
                del self.records[record["id"]]
                return 204, JSONAPI, None
        return 404, JSONAPI, {"errors": [{"id": "notFound", "title": "Not Found"}]}

    def list(self, query: dict[str, str]) -> Answer:
        size = int(query.get("page[size]", 50))
        after = int(base64.urlsafe_b64decode(query["page[after]"]).decode()) \
            if query.get("page[after]") else 0
        name = query.get("filter[name]")
        ids = sorted(self.records) if name is None else sorted(
            rid for rid, r in self.records.items() if r["name"] == name)
        start = 0
        if after:  # ids are sorted: skip to the first one after the cursor
            start = bisect.bisect_right(ids, after)
        page = [self.records[rid] for rid in ids[start:start + size]]
        links = {"first": f"{self.base}/callPurposes?page[size]={size}"}
        if start + size < len(ids):
            cursor = base64.urlsafe_b64encode(str(page[-1]["id"]).encode()).decode()
            links["next"] = f"{self.base}/callPurposes?page[size]={size}&page[after]={cursor}" + (
                f"&filter[name]={name}" if name else "")
        return 200, JSONAPI, {"data": [self.resource(r) for r in page], "links": links}


class Webex:
    """/purposes: a bare array (numeric ids, no group for the default one); POST and PUT
    answer string ids; 409 on a taken name (an index, not a scan)."""

    def __init__(self) -> None:
        self.records: dict[int, dict[str, Any]] = {}
        self.names: dict[str, int] = {}
        self.next_id = 700

    def seed(self, data: dict[str, Any]) -> None:
        for record in data.get("purposes", {}).values():
            self.records[int(record["id"])] = dict(record)
            self.names[record["name"]] = int(record["id"])
        self.next_id = int(data.get("next_purpose_id", max(self.records, default=699) + 1))

    @staticmethod
    def item(r: dict[str, Any]) -> dict[str, Any]:
        item = {"tenantName": "sandbox", "name": r["name"], "id": r["id"],
                "description": r["description"], "createdDate": r["createdOn"], "imageUrl": None}
        if (r["group"] or "DEFAULT").upper() != "DEFAULT":
            item["group"] = r["group"]
        return item

    def handle(self, method: str, path: str, query: str, raw: bytes) -> Answer:
        if path == "/purposes":
            if method == "GET":
                return 200, JSON, [self.item(self.records[rid]) for rid in sorted(self.records)]
            if method == "POST":
                body = _body(raw) or {}
                if body.get("name") in self.names:
                    return 409, JSON, {"code": "409", "description": "Purpose name already exists"}
                record = {"id": self.next_id, "name": body.get("name"),
                          "group": body.get("group") or "DEFAULT",
                          "description": body.get("description"), "createdOn": _now()}
                self.records[self.next_id] = record
                self.names[record["name"]] = self.next_id
                self.next_id += 1
                return 200, JSON, {"id": str(record["id"]), "name": record["name"],
                                   "message": "Purpose added/updated successfully."}
        elif path.startswith("/purposes/"):
            rid = path[len("/purposes/"):]
            record = self.records.get(int(rid)) if rid.isdigit() else None
            if record is None:
                return 404, JSON, {"code": "404", "description": "Purpose not found"}
            if method == "GET":
                return 200, JSON, {"tenantName": "sandbox", "name": record["name"], "id": record["id"],
                                   "group": record["group"], "createdOn": record["createdOn"],
                                   "description": record["description"]}
            if method == "PUT":
                body = _body(raw) or {}
                self.names.pop(record["name"], None)
                record["name"] = body.get("name")
                record["group"] = body.get("group") or "DEFAULT"
                if body.get("description") is not None:
                    record["description"] = body["description"]
                self.names[record["name"]] = record["id"]
                return 200, JSON, {"id": str(record["id"]), "name": record["name"],
                                   "message": "Purpose added/updated successfully."}
            return 405, JSON, {"code": "405", "description": "Method not allowed"}
        return 404, JSON, {"code": "404", "description": "Not found"}


SO_WRITABLE = {"Name": "", "Key": "", "ConsentText": "", "FormText": "", "Tooltip": "", "Active": 1,
               "Deleted": False, "Rank": 0, "PrivacyStatementDesc": "", "PrivacyStatementUrl": ""}
SO_USER = {"AssociateId": 5, "Name": "SANDBOX", "FullName": "Sandbox API user", "Type": 1}
SO_RIGHT = {"Mask": "Read, Update, Delete", "Reason": ""}


class SuperOffice:
    """/List/ConsentPurpose/Items and MDOItems: plain JSON entities in PascalCase."""

    ITEMS = "/List/ConsentPurpose/Items"

    def __init__(self) -> None:
        self.records: dict[int, dict[str, Any]] = {}
        self.next_id = 1

    def seed(self, data: dict[str, Any]) -> None:
        for record in data.get("consent_purposes", {}).values():
            self.records[int(record["ConsentPurposeId"])] = dict(record)
        self.next_id = int(data.get("next_id", max(self.records, default=0) + 1))

    @staticmethod
    def wire(r: dict[str, Any]) -> dict[str, Any]:
        return {**r, "TableRight": SO_RIGHT, "FieldProperties": {},
                "_Links": {"Self": f"List/ConsentPurpose/Items/{r['ConsentPurposeId']}"}}

    @staticmethod
    def fields(raw: bytes) -> dict[str, Any]:
        body = _body(raw)
        body = body if isinstance(body, dict) else {}
        return {k: ("" if body.get(k) is None else body[k]) if k in body else v
                for k, v in SO_WRITABLE.items()}

    def handle(self, method: str, path: str, query: str, raw: bytes) -> Answer:
        if path == self.ITEMS:
            if method == "GET":
                return 200, JSON, [self.wire(self.records[rid]) for rid in sorted(self.records)
                                   if not self.records[rid].get("Deleted")]
            if method == "POST":
                record = {"ConsentPurposeId": self.next_id, **self.fields(raw), "UpdatedDate": _now(),
                          "UpdatedBy": SO_USER}
                self.records[self.next_id] = record
                self.next_id += 1
                return 200, JSON, self.wire(record)
        elif path == "/List/ConsentPurpose/MDOItems" and method == "GET":
            return 200, JSON, [{"Id": r["ConsentPurposeId"], "Name": r["Name"], "ToolTip": r["Tooltip"],
                                "Deleted": r["Deleted"], "Rank": r["Rank"], "Type": "", "ChildItems": [],
                                "IconHint": "", "ColorBlock": 0, "ExtraInfo": "", "StyleHint": "",
                                "FullName": r["Name"]} for _, r in sorted(self.records.items())]
        elif path.startswith(self.ITEMS + "/"):
            rid = path[len(self.ITEMS) + 1:]
            record = self.records.get(int(rid)) if rid.isdigit() else None
            if record is None:
                return 404, JSON, {"Error": True, "ErrorType": "NotFound",
                                   "Message": f"ConsentPurpose with id {rid} was not found"}
            if method == "GET":
                return 200, JSON, self.wire(record)
            if method == "PUT":
                record.update(self.fields(raw), UpdatedDate=_now())
                return 200, JSON, self.wire(record)
            if method == "DELETE":
                record.update(Deleted=True, UpdatedDate=_now())
                return 204, JSON, None
        return 404, JSON, {"Error": True, "ErrorType": "NotFound", "Message": "Not found"}


class Tenant:
    def __init__(self, root: str) -> None:
        self.vendors: dict[str, Any] = {
            "outreach": Outreach(root + PREFIXES[0][1]), "webex_campaign": Webex(),
            "superoffice": SuperOffice()}

    def seed(self, data_dir: Path) -> None:
        for name, vendor in self.vendors.items():
            path = data_dir / f"{name}.json"
            if path.exists():
                vendor.seed(json.loads(path.read_text()))


class Fake:
    """Every tenant, and the request counts."""

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.tenants: dict[str, Tenant] = {}
        self.counts: dict[str, int] = {}

    def tenant(self, name: str) -> Tenant:
        found = self.tenants.get(name)
        if found is None:
            found = self.tenants[name] = Tenant(self.origin + (f"/t/{name}" if name else ""))
        return found

    def handle(self, method: str, target: str, headers: dict[bytes, bytes], raw: bytes) -> Answer:
        path, _, query = target.partition("?")
        tenant = ""
        if path.startswith("/t/"):
            tenant, slash, rest = path[3:].partition("/")
            path = slash + rest
        elif path.startswith("/_"):
            return self.admin(path)
        for vendor, prefix in PREFIXES:
            if path.startswith(prefix):
                key = f"{vendor} {method}"
                self.counts[key] = self.counts.get(key, 0) + 1
                if headers.get(b"authorization", b"")[7:].decode() != TOKENS[vendor]:
                    return 401, JSON, {"error": "unauthorized"}
                handler: Callable[[str, str, str, bytes], Answer] = \
                    self.tenant(tenant).vendors[vendor].handle
                return handler(method, path[len(prefix):], query, raw)
        return 404, JSON, {"error": "no such vendor path"}

    def admin(self, path: str) -> Answer:
        if path == "/_sandbox/requests":
            return 200, JSON, self.counts
        if path == "/_fake/tenants":
            return 200, JSON, {name: {v: len(o.records) for v, o in t.vendors.items()}
                               for name, t in self.tenants.items()}
        return 404, JSON, None


class Connection(asyncio.Protocol):
    """HTTP/1.1 with keep-alive; bodies by Content-Length (the clients send no chunked bodies)."""

    def __init__(self, fake: Fake) -> None:
        self.fake = fake
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].split(b"\r\n")
            headers: dict[bytes, bytes] = {}
            for line in head[1:]:
                name, _, value = line.partition(b":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get(b"content-length", b"0"))
            if len(self.buffer) < end + 4 + length:
                return
            raw = self.buffer[end + 4:end + 4 + length]
            self.buffer = self.buffer[end + 4 + length:]
            method, target, _version = head[0].decode("latin-1").split(" ", 2)
            try:
                status, media, body = self.fake.handle(method, target, headers, raw)
            except Exception as exc:  # a fake's bug must not hang the client
                status, media, body = 500, JSON, {"error": repr(exc)}
            payload = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
            close = headers.get(b"connection", b"").lower() == b"close"
            assert self.transport is not None
            self.transport.write(b"HTTP/1.1 %d %s\r\ncontent-type: %s\r\ncontent-length: %d\r\n%s\r\n%s" % (
                status, REASONS.get(status, b"Unknown"), media, len(payload),
                b"connection: close\r\n" if close else b"", payload))
            if close:
                self.transport.close()
                return


async def serve(host: str, port: int, data: Path | None) -> None:
    fake = Fake(f"http://{host}:{port}")
    if data is not None:
        fake.tenant("").seed(data)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Connection(fake), host, port, backlog=1024)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--data", type=Path, help="seed tenant '' from these sandbox data files")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.host, args.port, args.data))


if __name__ == "__main__":
    main()

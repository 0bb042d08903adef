"""The Webex Campaign sandbox's tenant host: datastore records (ACK now, applied later),
transaction notifications, and the client-credentials token endpoint."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from reconciler.providers.webex_campaign.sandbox_wire import (
    AUTH_KEY,
    CLIENT_ID,
    CLIENT_SECRET,
    DESCRIPTIONS,
    TIME_FORMAT,
    UNSPECIFIED_DATASTORE,
    WebexSandboxConfig,
    _now,
    _object_body,
    fail,
)
from reconciler.sandbox.common import Table, json_response

_TIME_SHAPE = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")

async def _mint(request: Request) -> Response:
    """The API hub page's token endpoint: Basic <auth key>, isGoldenAuthkey: true, and the
    client id and secret in the body."""
    config: WebexSandboxConfig = request.app.state.config
    body = await _object_body(request)
    basic = request.headers.get("authorization", "")
    if request.query_params.get("grant_type") != "client_credentials" or body is None \
            or request.headers.get("isgoldenauthkey", "").lower() != "true":
        return fail(1002)
    if basic != f"Basic {AUTH_KEY}" or body.get("clientId") != CLIENT_ID \
            or body.get("clientSecret") != CLIENT_SECRET:
        return fail(430)
    token = "minted-" + uuid.uuid4().hex
    config.minted[token] = time.monotonic() + config.token_ttl_s
    answer: dict[str, Any] = {"access_token": token, "token_type": "Bearer"}
    if config.token_expiry_announced:
        answer["expires_in"] = config.token_ttl_s
    return json_response(answer)


def _ident(value: Any) -> str | None:
    """A datastore or feed id: the docs type them String; numbers are accepted as text."""
    if isinstance(value, str) and value.strip():
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _flat_records(value: Any) -> list[dict[str, Any]] | None:
    """The records as a list of flat objects of scalars, or None when they are anything else."""
    scalar = (str, int, float, bool, type(None))
    if not isinstance(value, list):
        return None
    if all(isinstance(row, dict) and all(isinstance(v, scalar) for v in row.values())
           for row in value):
        return value
    return None


def _upsert(rows: list[dict[str, Any]], record: dict[str, Any], upsert: bool) -> None:
    """With `upsert`, merge into the row with the same msisdn; else append."""
    key = record.get("msisdn")
    if upsert and key is not None:
        for row in rows:
            if row.get("msisdn") == key:
                row.update(record)
                return
    rows.append(dict(record))


def _valid_time(value: Any) -> bool:
    if value is None:
        return True
    if not isinstance(value, str) or not _TIME_SHAPE.fullmatch(value):
        return False
    try:
        datetime.strptime(value, TIME_FORMAT)
    except ValueError:
        return False
    return True


def _valid_info(value: Any) -> bool:
    """additionalInfo is a JSON *string* holding an object (responseCode, responseDesc)."""
    if value is None:
        return True
    if not isinstance(value, str):
        return False
    try:
        return isinstance(json.loads(value), dict)
    except json.JSONDecodeError:
        return False


@dataclass(eq=False)
class _Batch:
    """Records waiting to be applied; compared by identity so equal batches both apply."""

    datastore: str
    feed: str
    records: list[dict[str, Any]]
    due: float


class _Tenant:
    """The tenant's datastore records (ACK now, apply later) and transaction notifications."""

    def __init__(self, table: Table, config: WebexSandboxConfig) -> None:
        self.table = table
        self.config = config
        self.pending: list[_Batch] = []
        table.data.setdefault("datastores", {})
        table.data.setdefault("notifications", [])

    async def add_records(self, request: Request) -> Response:
        body = await _object_body(request)
        if body is None:
            return fail(1001, self.config)
        feed, datastore = _ident(body.get("feed-id")), _ident(body.get("datastore-id"))
        if feed is None or (datastore is None and body.get("records") is None):
            return fail(1002, self.config)
        records = _flat_records(body.get("records", []))
        if records is None:
            return fail(499)
        target = self._resolve(datastore, feed)
        if target is None:
            result = {"status": 1010, "description": DESCRIPTIONS[1010], "correlation_id": None}
            return json_response({"statuscode": 1010, "description": DESCRIPTIONS[1010],
                                  "result": result})
        self._schedule(_Batch(target, feed, records, time.monotonic() + self.config.apply_delay_s))
        if self.config.records_fail_after_write > 0:
            self.config.records_fail_after_write -= 1
            return fail(500)  # written, but the client cannot know: the ambiguous case
        return json_response({"result": {"correlation_id": str(uuid.uuid4()), "description": "",
                                         "status": 0},
                              "statuscode": 0, "description": "", "trans_id": uuid.uuid4().hex},
                             self.config.success_status)

    async def columns(self, request: Request) -> Response:
        """The datastore-attributes API: the datastore object of the reference (`datastore-id`,
        `datastore-name`, `columns` with name, datatype, id and max-length), or, with the
        switch `datastore_attributes: list`, a list of such objects."""
        known = self.config.datastore_columns.get(request.path_params["id"])
        if known is None:
            return fail(404)
        ident = request.path_params["id"]
        found = {"datastore-id": ident, "datastore-name": f"Datastore {ident}",
                 "columns": [{"datatype": "STRING", "id": str(i), "name": name, "max-length": limit}
                             for i, (name, limit) in enumerate(known.items(), start=1)]}
        if self.config.datastore_attributes == "list":  # "returns a list of Datastores"
            other = {"datastore-id": ident + "0", "datastore-name": "Another", "columns": []}
            return json_response([other, found])
        return json_response(found)

    def _resolve(self, datastore: str | None, feed: str) -> str | None:
        """The datastore the records go to, or None when the tenant has no such datastore/feed."""
        known = self.config.known_datastores
        if known is None:
            return datastore or UNSPECIFIED_DATASTORE
        if datastore is None:
            return next((name for name, feeds in known.items() if feed in feeds), None)
        return datastore if feed in known.get(datastore, set()) else None

    def _schedule(self, batch: _Batch) -> None:
        self.pending.append(batch)
        asyncio.get_running_loop().call_later(self.config.apply_delay_s, self._apply, batch)

    def _apply(self, batch: _Batch) -> None:
        if batch not in self.pending:
            return
        self.pending.remove(batch)
        feeds = self.table.data["datastores"].setdefault(batch.datastore, {})
        rows = feeds.setdefault(batch.feed, [])
        for record in batch.records:
            _upsert(rows, record, self.config.records == "upsert")
        self.table.save()

    def apply_due(self) -> None:
        """Apply overdue batches whose timer could not fire (e.g. its event loop has ended)."""
        now = time.monotonic()
        for batch in [b for b in self.pending if b.due <= now]:
            self._apply(batch)

    async def notify(self, request: Request) -> Response:
        body = await _object_body(request)
        if body is None:
            return fail(1001, self.config)
        if code := self._notify_error(body):
            return fail(code, self.config)
        transaction_id = uuid.uuid4().hex
        self.table.data["notifications"].append(
            {**body, "receivedAt": _now(), "transaction-id": transaction_id})
        self.table.save()
        return json_response({"code": 1100, "description": DESCRIPTIONS[1100],
                              "transaction-id": transaction_id}, self.config.success_status)

    def _notify_error(self, body: dict[str, Any]) -> int | None:
        mandatory = [body.get(key) for key in ("responseState", "refTransId", "deploymentId")]
        if any(value is None or not str(value).strip() for value in mandatory):
            return 1101
        if str(body["responseState"]) not in ("531", "532"):
            return 1108
        forced = self.config.deployments.get(str(body["deploymentId"]), 0)
        if forced:
            return forced
        if not _valid_time(body.get("responseTime")) or not _valid_info(body.get("additionalInfo")):
            return 1101
        return None

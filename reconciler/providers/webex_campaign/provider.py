"""Webex Campaign: purposes on the API hub (vendor doc 000) and datastore records on the
tenant host (doc 001). Notify Transaction State (doc 003) is in `webex_notify`.

Two hosts, one key: purposes live on the API hub (`base_url`, .../v1), datastores and
notifications on the tenant (`tenant_url`, .../campaignapi/resources/v3). Both take the
same Bearer API secret key (`token`), so the provider holds one client per host.

Purposes (`webex_campaign.purpose.<key>`): GET /purposes (a bare array, no paging),
GET /purposes/{id}, POST /purposes, PUT /purposes/{id}. The documents disagree with each
other, so both forms are read and the documented form is written:
- ids are numbers in GETs and strings in POST/PUT answers: always strings here;
- `createdOn` (parameter table) / `createdDate` (GET example), `tenantName` and
  `imageUrl` are read-only: never kept, never diffed;
- `group` is absent from the GET list for the default group, and the vendor treats
  "Default" and "DEFAULT" as one group. Decision: `normalise()` upper-cases the group on
  both the desired and the observed side, a missing group is "DEFAULT", and the manifest
  field defaults to "DEFAULT". So a change of case alone is never a change, and the group
  is sent upper-case (a manifest's "Sales" is written as "SALES");
- `description`: a purpose created without one reads back as null. null and "" are the
  same here (both "" after normalise), because PUT leaves a null description unchanged
  while "" clears it. A description left out of the manifest is not managed: its remote
  value is kept (and re-sent on PUT, in case PUT replaces the whole purpose).
- names are compared exactly, as the vendor's duplicate check (409) does.
There is no delete API (405): removing a purpose from the manifests is refused at plan
time unless it is forgotten (`--forget ADDR`, or `forget_undeletable: true`).

Datastore records (`webex_campaign.datastore_records.<key>`): an asynchronous, write-only
API (ACK + trans_id, no read-back, no status endpoint), so the kind is not observable.
The state keeps a sha256 digest and a count of the records, never the records (they are
personal data); a push happens when the digest changes. The path is undocumented, hence
the `datastore_path` setting.

Errors are `{"code", "description"}`; the tenant APIs also fail with HTTP 200 and a code
in the body (1010), so every answer's code is checked, whatever the HTTP status. Codes
are parsed leniently (int or string, missing fields, non-JSON bodies).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar

import httpx
from pydantic import AfterValidator, Field, StringConstraints, field_validator
from pydantic_core import PydanticCustomError

from reconciler.errors import AmbiguousWriteError, ConfigError, ConflictError, VendorError
from reconciler.providers.base import (
    DeleteMode,
    Kind,
    Provider,
    ProviderSettings,
    PushResult,
    RemoteObject,
    Schema,
)
from reconciler.providers.http import BodyCheck, ErrorParser, VendorClient, json_body

VENDOR = "webex_campaign"
PURPOSES = "/purposes"
DEFAULT_GROUP = "DEFAULT"
MEDIA_TYPE = "application/json"
MAX_ERROR_TEXT = 300
HARD_MAX_RECORDS = 100_000
"""The most `max_records` may be raised to: the schema refuses more whatever the settings."""
HARD_MAX_RECORD_BYTES = 65_536
"""The most `max_record_bytes` may be raised to."""
SUCCESS_CODES = frozenset({"0", "200", "1100"})
"""Body codes that mean success (datastore statuscode 0, notify 1100)."""

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
    "409": "purpose names are unique in the tenant (compared case-sensitively)",
    "429": (f"throttled: reconciler retried with backoff and gave up; try again later, or "
            f"lower providers.{VENDOR}.concurrency or raise max_attempts"),
    "430": f"check the API key in {TOKEN_SETTING} and that it is enabled for this API",
    "498": (f"the token is invalid or expired: renew the API key (or access token) in Webex "
            f"Campaign and update {TOKEN_SETTING}"),
    "499": ("the description says why; for datastore records, check that their fields match "
            "the datastore's fields"),
    "500": "Webex Campaign failed internally; try again later",
    "1001": "Webex Campaign could not read the JSON reconciler sent: " + BUG,
    "1002": "reconciler sent no datastore-id, feed-id or records: " + BUG,
    "1010": ("check that datastore_id and feed_id exist in this tenant and that the API key "
             "may write to them"),
}
"""What to do about each documented code (and bare HTTP statuses without a body code)."""


class WebexCampaignSettings(ProviderSettings):
    """How to reach one Webex Campaign tenant; the API key comes from an environment variable."""

    base_url: str = Field(description=(
        "API hub root, https://<apihub>/v1 (purposes); it depends on the login domain"))
    tenant_url: str = Field(description=(
        "Tenant API root, https://<tenant>.webexcampaign.io/campaignapi/resources/v3 "
        "(datastore records, transaction notifications)"))
    token: str = Field(min_length=1, description=(
        "API secret key (or hub OAuth access token), sent as Bearer; from an environment "
        "variable such as WEBEX_CAMPAIGN_TOKEN"))
    datastore_path: str = Field("/datastore/records", pattern=r"^/", description=(
        "Path of the add-records API under tenant_url (the vendor documents no path: take it "
        "from your tenant's Postman collection)"))
    notify_path: str = Field("/notifytransactionstate", pattern=r"^/", description=(
        "Path of the Notify Transaction State API under tenant_url"))
    forget_undeletable: bool = Field(False, description=(
        "Purposes removed from the manifests are only removed from state (Webex Campaign has "
        "no delete API); without it such a plan is refused"))
    max_records: int = Field(10_000, ge=1, le=HARD_MAX_RECORDS, description=(
        "Most records in one datastore_records entry (one request)"))
    max_record_bytes: int = Field(4096, ge=16, le=HARD_MAX_RECORD_BYTES, description=(
        "Most bytes of one record, as compact UTF-8 JSON"))
    notify_deployment_id: str | None = Field(None, description=(
        "Report each apply's outcome to this External Action deployment (Notify Transaction "
        "State); same as apply --notify-webex-deployment"))
    notify_ref_trans_id: str | None = Field(None, description=(
        "The transaction id Webex Campaign gave the External Action run, usually "
        "${WEBEX_REF_TRANS_ID}; same as apply --notify-webex-transaction"))

    def secrets(self) -> list[str]:
        return [self.token]

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Content-Type": MEDIA_TYPE,
                "Accept": MEDIA_TYPE}


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


def vendor_client(settings: WebexCampaignSettings, base_url: str, *,
                parse: ErrorParser = parse_error,
                transport: httpx.AsyncBaseTransport | None = None) -> VendorClient:
    """A client for one host (hub or tenant) that checks every answer's body code."""
    return VendorClient(
        VENDOR, base_url, settings.headers(), secrets=settings.secrets(), parse_error=parse,
        check_body=make_body_check(parse), concurrency=settings.concurrency,
        timeout_s=settings.timeout_s, max_attempts=settings.max_attempts,
        allow_insecure_http=settings.allow_insecure_http, transport=transport)


def _json(response: httpx.Response, expect: type[dict[str, Any]] | type[list[Any]]) -> Any:
    return json_body(VENDOR, response, expect, _where(response))


# ---------------------------------------------------------------- purposes ----

def _not_blank(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("blank", "must not be blank")
    return value


class Purpose(Schema):
    """A Webex Campaign purpose: why a contact may be messaged (marketing, updates, ...)."""

    name: str = Field(min_length=1, description=(
        "Purpose name (Webex `name`); unique in the tenant, compared case-sensitively, and "
        "the key that finds an existing purpose to adopt"))
    group: str = Field(DEFAULT_GROUP, min_length=1, description=(
        "Purpose group (Webex `group`); compared and sent upper-case, as the vendor treats "
        "group names case-insensitively; DEFAULT is the vendor's default group"))
    description: str | None = Field(None, description=(
        "Purpose description (Webex `description`); left out, the remote one is kept"))

    _names = field_validator("name", "group")(_not_blank)


def _remote_purpose(item: dict[str, Any]) -> RemoteObject:
    return RemoteObject(str(item["id"]), PurposeKind.normalise({
        "name": item.get("name"), "group": item.get("group"),
        "description": item.get("description")}))


def _purpose_wire(attributes: dict[str, Any]) -> dict[str, Any]:
    """The documented request body: name, group and (when managed) description."""
    body = {"name": attributes["name"], "group": attributes.get("group") or DEFAULT_GROUP}
    if attributes.get("description") is not None:
        body["description"] = attributes["description"]
    return body


class PurposeKind(Kind):
    """Purposes: listed whole (no paging, no filter), adopted by exact name, never deleted."""

    vendor = VENDOR
    name = "purpose"
    collection = "purposes"
    schema = Purpose
    natural_key = "name"
    read_only: ClassVar[tuple[str, ...]] = (
        "id", "tenantName", "createdOn", "createdDate", "imageUrl")
    delete_modes = (DeleteMode.UNSUPPORTED,)
    unique_natural_key = True

    @classmethod
    def normalise(cls, attributes: dict[str, Any]) -> dict[str, Any]:
        """Group upper-case (missing: DEFAULT); a null description is "" (see the module)."""
        out = dict(attributes)
        out["group"] = str(out.get("group") or DEFAULT_GROUP).upper()
        if "description" in out and out["description"] is None:
            out["description"] = ""
        return out

    async def list(self) -> list[RemoteObject]:
        return await self.client.get_array(PURPOSES, lambda item: _remote_purpose(item) if isinstance(
            item, dict) and item.get("id") is not None else None)

    async def read(self, remote_id: str) -> RemoteObject | None:
        response = await self.client.request("GET", f"{PURPOSES}/{remote_id}", ok=(200, 404))
        if response.status_code == 404:
            return None
        item: dict[str, Any] = _json(response, dict)
        return _remote_purpose({"id": remote_id, **item})

    async def create(self, attributes: dict[str, Any]) -> RemoteObject:
        """POST; a 409 (the name is taken) is a ConflictError, so the applier adopts by name."""
        body = _purpose_wire(attributes)
        try:
            response = await self.client.request("POST", PURPOSES, json=body)
        except VendorError as exc:
            if exc.status == 409 or exc.code == "409":
                raise ConflictError(exc.vendor, exc.status, exc.code, exc.detail) from None
            raise
        saved: dict[str, Any] = _json(response, dict)
        if saved.get("id") is None:
            # Created or not, we cannot tell which id: the applier looks it up by name.
            raise AmbiguousWriteError(VENDOR, response.status_code, None, (
                f"{_where(response)}the answer has no id"))
        return _remote_purpose({**body, "description": body.get("description"),
                                "name": saved.get("name") or body["name"], "id": saved["id"]})

    async def update(self, remote_id: str, attributes: dict[str, Any],
                     changed: frozenset[str], current: RemoteObject | None) -> RemoteObject:
        """PUT the whole purpose: name is mandatory, and an unmanaged description is re-sent
        as the server has it, in case PUT replaces what it is not given."""
        body = _purpose_wire(attributes)
        if "description" not in body:
            now = await self.read(remote_id)
            if now is None:
                raise VendorError(VENDOR, 404, "404", f"purpose {remote_id} no longer exists in "
                                                      "Webex Campaign; run plan again")
            if now.attributes.get("description"):
                body["description"] = now.attributes["description"]
        response = await self.client.request("PUT", f"{PURPOSES}/{remote_id}", json=body)
        _json(response, dict)
        return _remote_purpose({**body, "description": body.get("description"), "id": remote_id})


# -------------------------------------------------------- datastore records ----

def _record_size(record: dict[str, str]) -> dict[str, str]:
    size = record_bytes(record)
    if size > HARD_MAX_RECORD_BYTES:
        raise PydanticCustomError("record_too_large", "is {size} bytes as JSON, more than "
                                  "{limit}", {"size": size, "limit": HARD_MAX_RECORD_BYTES})
    return record


RecordKey = Annotated[str, StringConstraints(min_length=1)]
Record = Annotated[dict[RecordKey, str], AfterValidator(_record_size)]


class DatastoreRecords(Schema):
    """Contacts added (upserted by msisdn) to one datastore feed; write-only, personal data."""

    datastore_id: str = Field(min_length=1, description=(
        "Datastore id (Webex `datastore-id`), as text: quote it (\"1466\")"))
    feed_id: str = Field(min_length=1, description="Feed id (Webex `feed-id`), as text")
    records: list[Record] = Field(min_length=1, max_length=HARD_MAX_RECORDS, description=(
        "The records: flat mappings of field name to text (e.g. msisdn, firstname, emailid); "
        "quote numbers and phone numbers. Limits: providers.webex_campaign.max_records and "
        "max_record_bytes"))

    _ids = field_validator("datastore_id", "feed_id")(_not_blank)


def record_bytes(record: dict[str, Any]) -> int:
    return len(json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode())


def records_digest(records: list[dict[str, Any]]) -> str:
    """sha256 of the canonical JSON (sorted keys, compact, UTF-8); record order counts."""
    canonical = json.dumps(records, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def check_limits(attributes: dict[str, Any], settings: WebexCampaignSettings) -> None:
    """The configured limits, checked before anything is sent."""
    records = attributes["records"]
    where = f"datastore_records for datastore {attributes['datastore_id']}, feed " \
            f"{attributes['feed_id']}"
    if len(records) > settings.max_records:
        raise ConfigError(f"{where}: {len(records)} records, more than providers.{VENDOR}."
                          f"max_records ({settings.max_records}); split them into several "
                          "entries or raise the limit")
    for index, record in enumerate(records):
        if (size := record_bytes(record)) > settings.max_record_bytes:
            raise ConfigError(f"{where}: records[{index}] is {size} bytes as JSON, more than "
                              f"providers.{VENDOR}.max_record_bytes ({settings.max_record_bytes})")


class DatastoreRecordsKind(Kind):
    """Write-only: pushed when the records' digest differs from the state's; never listed.

    The identity is None, not the feed: two entries may feed the same datastore feed, and
    there is nothing remote to adopt."""

    vendor = VENDOR
    name = "datastore_records"
    collection = "datastore_records"
    schema = DatastoreRecords
    natural_key = "feed_id"
    observable = False

    @classmethod
    def identity(cls, attributes: dict[str, Any]) -> str | None:
        return None

    @classmethod
    def check(cls, attributes: dict[str, Any], settings: ProviderSettings) -> list[str]:
        assert isinstance(settings, WebexCampaignSettings)
        try:
            check_limits(attributes, settings)
        except ConfigError as exc:
            return [str(exc)]
        return []

    @classmethod
    def state_attributes(cls, attributes: dict[str, Any]) -> dict[str, Any]:
        """Ids, digest and count: never the records, which are personal data."""
        records = attributes.get("records") or []
        return {"datastore_id": attributes.get("datastore_id"),
                "feed_id": attributes.get("feed_id"),
                "records_digest": records_digest(records), "record_count": len(records)}

    async def list(self) -> list[RemoteObject]:
        return []

    async def read(self, remote_id: str) -> RemoteObject | None:
        return None

    async def create(self, attributes: dict[str, Any]) -> RemoteObject:
        raise NotImplementedError(f"{VENDOR}.{self.name} is write-only: the engine pushes it")

    async def update(self, remote_id: str, attributes: dict[str, Any],
                     changed: frozenset[str], current: RemoteObject | None) -> RemoteObject:
        raise NotImplementedError(f"{VENDOR}.{self.name} is write-only: the engine pushes it")

    async def push(self, attributes: dict[str, Any]) -> PushResult:
        """POST the records. Retried like an idempotent call only when every record has an
        msisdn (the vendor upserts by it); otherwise a resend would append duplicates."""
        assert isinstance(self.settings, WebexCampaignSettings)
        check_limits(attributes, self.settings)
        records = attributes["records"]
        body = {"datastore-id": attributes["datastore_id"], "feed-id": attributes["feed_id"],
                "records": records}
        upsert = all(record.get("msisdn") for record in records)
        response = await self.client.request("POST", self.settings.datastore_path, json=body,
                                             idempotent=upsert)
        ack: dict[str, Any] = _json(response, dict)
        result = _mapping(ack.get("result"))
        return PushResult(meta={
            "trans_id": ack.get("trans_id"), "correlation_id": result.get("correlation_id"),
            "pushed_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")})


class WebexCampaignProvider(Provider):
    """Purposes go through the hub client, datastore records through the tenant client."""

    name = VENDOR
    settings_model = WebexCampaignSettings
    kinds = (PurposeKind, DatastoreRecordsKind)

    def __init__(self, settings: ProviderSettings) -> None:
        super().__init__(settings)
        assert isinstance(settings, WebexCampaignSettings)
        self.tenant_client = vendor_client(settings, settings.tenant_url)
        self.kind_objects[DatastoreRecordsKind.name] = DatastoreRecordsKind(
            self.tenant_client, settings)

    def make_client(self, settings: ProviderSettings) -> VendorClient:
        assert isinstance(settings, WebexCampaignSettings)
        return vendor_client(settings, settings.base_url)

    async def aclose(self) -> None:
        await asyncio.gather(self.client.aclose(), self.tenant_client.aclose())

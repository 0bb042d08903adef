"""Webex Campaign datastore records (`webex_campaign.datastore_records.<key>`): the
add-to-datastore API on the tenant host, asynchronous and write-only (ACK + trans_id, no
read-back, no status endpoint), so the kind is not observable.

The state keeps a sha256 digest and a count of the records, never the records (they are
personal data); a push happens when the digest changes. Nothing documents that the vendor
upserts, or by which column, so a push is never sent again automatically: after an
ambiguous failure (a lost answer, a 5xx) the records may or may not have been written, and
the error says so and how to push again. Large entries go in batches of `batch_size`
records; with `datastore_metadata` set, records are checked against the datastore's
columns (names and `max-length`) before anything is sent.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AfterValidator, Field, StringConstraints, field_validator
from pydantic_core import PydanticCustomError

from reconciler.errors import AmbiguousWriteError, ConfigError, VendorError
from reconciler.providers.base import Kind, ProviderSettings, PushResult, RemoteObject, Schema, not_blank
from reconciler.providers.paths import under
from reconciler.providers.webex_campaign.settings import (
    HARD_MAX_RECORD_BYTES,
    HARD_MAX_RECORDS,
    WebexCampaignSettings,
)

if TYPE_CHECKING:
    from reconciler.providers.http import VendorClient

VENDOR = "webex_campaign"
OK = tuple(range(200, 300))


def _record_size(record: dict[str, str]) -> dict[str, str]:
    size = record_bytes(record)
    if size > HARD_MAX_RECORD_BYTES:
        raise PydanticCustomError("record_too_large", "is {size} bytes as JSON, more than "
                                  "{limit}", {"size": size, "limit": HARD_MAX_RECORD_BYTES})
    return record


RecordKey = Annotated[str, StringConstraints(min_length=1)]
Record = Annotated[dict[RecordKey, str], AfterValidator(_record_size)]


class DatastoreRecords(Schema):
    """Contacts added to one datastore feed; write-only, personal data."""

    datastore_id: str = Field(min_length=1, description=(
        "Datastore id (Webex `datastore-id`), as text: quote it (\"1466\")"))
    feed_id: str = Field(min_length=1, description="Feed id (Webex `feed-id`), as text")
    records: list[Record] = Field(min_length=1, max_length=HARD_MAX_RECORDS, description=(
        "The records: flat mappings of field name to text (e.g. msisdn, firstname, emailid); "
        "quote numbers and phone numbers. Limits: providers.webex_campaign.max_records and "
        "max_record_bytes; sent in batches of batch_size"))

    _ids = field_validator("datastore_id", "feed_id")(not_blank)


def record_bytes(record: dict[str, Any]) -> int:
    return len(json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode())


def records_digest(records: list[dict[str, Any]]) -> str:
    """sha256 of the canonical JSON (sorted keys, compact, UTF-8); record order counts."""
    canonical = json.dumps(records, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def _where(attributes: dict[str, Any]) -> str:
    return f"datastore_records for datastore {attributes['datastore_id']}, feed " \
           f"{attributes['feed_id']}"


def check_limits(attributes: dict[str, Any], settings: WebexCampaignSettings) -> None:
    """The configured limits, checked before anything is sent."""
    records = attributes["records"]
    where = _where(attributes)
    if len(records) > settings.max_records:
        raise ConfigError(f"{where}: {len(records)} records, more than providers.{VENDOR}."
                          f"max_records ({settings.max_records}); split them into several "
                          "entries or raise the limit")
    for index, record in enumerate(records):
        if (size := record_bytes(record)) > settings.max_record_bytes:
            raise ConfigError(f"{where}: records[{index}] is {size} bytes as JSON, more than "
                              f"providers.{VENDOR}.max_record_bytes ({settings.max_record_bytes})")


def columns(answer: Any, datastore_id: str) -> dict[str, int | None] | None:
    """Column name -> max-length from a datastore-attributes answer, read as the reference
    documents it: a datastore object (`datastore-id`, `datastore-name`, `columns`), or a
    list of such objects (the one whose id was asked for). A bare list is not read as the
    columns (the reference never shows one). None when unreadable."""
    if isinstance(answer, list):
        answer = next((item for item in answer if isinstance(item, dict)
                       and isinstance(item.get("columns"), list)
                       and str(item.get("datastore-id")) == str(datastore_id)), None)
    if not isinstance(answer, dict) or not isinstance(answer.get("columns"), list):
        return None
    if answer.get("datastore-id") not in (None, "") and str(answer["datastore-id"]) != str(datastore_id):
        return None  # another datastore's columns
    found: dict[str, int | None] = {}
    for column in answer["columns"]:
        if isinstance(column, dict) and isinstance(column.get("name"), str):
            limit = column.get("max-length", column.get("maxLength"))
            found[column["name"]] = int(limit) if isinstance(limit, int | str) and str(
                limit).isdigit() else None
    return found


def check_columns(attributes: dict[str, Any], known: dict[str, int | None]) -> None:
    """Every record field must be a column of the datastore and fit its max-length."""
    folded = {name.casefold(): (name, limit) for name, limit in known.items()}
    for index, record in enumerate(attributes["records"]):
        for field, value in record.items():
            column = folded.get(field.casefold())
            if column is None:
                raise ConfigError(f"{_where(attributes)}: records[{index}].{field} is not a "
                                  f"column of datastore {attributes['datastore_id']} (columns: "
                                  f"{', '.join(sorted(known))}); nothing was sent")
            name, limit = column
            if limit and len(value) > limit:
                raise ConfigError(f"{_where(attributes)}: records[{index}].{field} has "
                                  f"{len(value)} characters, more than the max-length {limit} "
                                  f"of column {name}; nothing was sent")


def repush_hint(address_hint: str) -> str:
    return (f"the records may have been written, in part or whole: Webex Campaign does not say "
            f"whether it upserts, so reconciler does not send them again by itself; check the "
            f"datastore, then push again with `reconciler apply` ({address_hint} is still "
            f"planned as a push), or drop the records already written from the entry first")


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

    def __init__(self, client: VendorClient, settings: ProviderSettings,
                 metadata: VendorClient | None = None) -> None:
        super().__init__(client, settings)
        self.metadata = metadata

    @classmethod
    def identity(cls, attributes: dict[str, Any]) -> str | None:
        return None

    @classmethod
    def check(cls, attributes: dict[str, Any], settings: ProviderSettings) -> list[str]:
        try:
            check_limits(attributes, settings)  # type: ignore[arg-type]
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

    async def _check_columns(self, attributes: dict[str, Any]) -> None:
        if self.metadata is None:
            return
        response = await self.metadata.request("GET", under("", attributes["datastore_id"]), ok=OK)
        try:
            known = columns(response.json(), str(attributes["datastore_id"]))
        except ValueError:
            known = None
        if not known:
            raise VendorError(VENDOR, response.status_code, None, (
                f"{_where(attributes)}: the datastore-attributes API gave no column list; check "
                f"providers.{VENDOR}.datastore_metadata (nothing was sent)"))
        check_columns(attributes, known)

    async def push(self, attributes: dict[str, Any]) -> PushResult:
        """POST the records in batches, each sent once: a failure is never retried here (a
        429 is: nothing was written), an ambiguous one says the records may be written."""
        settings: WebexCampaignSettings = self.settings  # type: ignore[assignment]
        check_limits(attributes, settings)
        await self._check_columns(attributes)
        records = attributes["records"]
        size = settings.batch_size
        batches = [records[i:i + size] for i in range(0, len(records), size)]
        acks: list[dict[str, Any]] = []
        for number, batch in enumerate(batches, 1):
            body = {"datastore-id": attributes["datastore_id"], "feed-id": attributes["feed_id"],
                    "records": batch}
            try:
                response = await self.client.request("POST", settings.datastore_path, json=body,
                                                     ok=OK, idempotent=False)
            except AmbiguousWriteError as exc:
                done = f"batches 1-{number - 1} of {len(batches)} were accepted; " if number > 1 \
                    else ""
                raise AmbiguousWriteError(exc.vendor, exc.status, exc.code, (
                    f"{exc.detail}: batch {number} of {len(batches)} ({len(batch)} records): "
                    f"{done}{repush_hint('the entry')}")) from None
            except VendorError as exc:
                if number == 1:
                    raise
                raise VendorError(exc.vendor, exc.status, exc.code, (
                    f"{exc.detail} (batch {number} of {len(batches)}; batches 1-{number - 1} "
                    f"were accepted and will be sent again by the next push)")) from None
            acks.append(_ack(response.json()))
        return PushResult(meta={
            "trans_id": acks[-1].get("trans_id"), "correlation_id": acks[-1].get("correlation_id"),
            "batches": len(batches),
            "pushed_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")})


def _ack(answer: Any) -> dict[str, Any]:
    answer = answer if isinstance(answer, dict) else {}
    result = answer.get("result") if isinstance(answer.get("result"), dict) else {}
    return {"trans_id": answer.get("trans_id"), "correlation_id": result.get("correlation_id")}

"""Outreach API v2: call purposes (JSON:API, vendor doc 002).

Wire format: `application/vnd.api+json`, resources `{type: "callPurpose", id: <int>,
attributes: {name, order, createdAt, updatedAt}, relationships: {...}}`, cursor
paging through `links.next`, errors `{"errors": [{id, title, detail, source.pointer}]}`.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

import httpx
from pydantic import Field

from reconciler.providers.base import (
    DeleteMode,
    Kind,
    Provider,
    ProviderSettings,
    RemoteObject,
    Schema,
)
from reconciler.providers.http import VendorClient

MEDIA_TYPE = "application/vnd.api+json"
PAGE_SIZE = 1000  # the largest page the API accepts (see vendor-docs/README.md)


class OutreachSettings(ProviderSettings):
    base_url: str = Field("https://api.outreach.io/api/v2", description="API v2 root")
    token: str = Field(min_length=1,
                       description="OAuth access token (Bearer); from an environment variable")
    page_size: int = Field(PAGE_SIZE, ge=1, le=PAGE_SIZE, description="page[size] when listing")

    def secrets(self) -> list[str]:
        return [self.token]


class CallPurpose(Schema):
    """An Outreach call purpose, which categorises call logs."""

    name: Annotated[str, Field(min_length=1, max_length=255,
                               description="Display name (Outreach `name`, at most 255 characters)")]
    order: Annotated[int | None, Field(None, ge=0, le=2_147_483_647,
                                       description="Display order (Outreach `order`)")]


def parse_error(response: httpx.Response) -> tuple[str | None, str]:
    """JSON:API errors -> one line: error id, title, detail, source.pointer."""
    try:
        errors = response.json().get("errors") or []
    except (ValueError, AttributeError):
        errors = []
    if not errors or not isinstance(errors[0], dict):
        return None, response.text[:300] or response.reason_phrase
    first = errors[0]
    parts = [str(first.get(k)) for k in ("title", "detail") if first.get(k)]
    pointer = (first.get("source") or {}).get("pointer")
    if pointer:
        parts.append(f"at {pointer}")
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return first.get("id"), ": ".join(parts) + more


def _remote(resource: dict[str, Any]) -> RemoteObject:
    attributes = resource.get("attributes") or {}
    return RemoteObject(str(resource["id"]), {"name": attributes.get("name"),
                                              "order": attributes.get("order")})


class CallPurposeKind(Kind):
    vendor = "outreach"
    name = "call_purpose"
    collection = "call_purposes"
    schema = CallPurpose
    natural_key = "name"
    read_only: ClassVar[tuple[str, ...]] = ("createdAt", "updatedAt", "relationships")
    delete_modes = (DeleteMode.HARD,)

    async def _pages(self, params: dict[str, Any]) -> list[RemoteObject]:
        found: list[RemoteObject] = []
        url: str | None = "/callPurposes"
        assert isinstance(self.settings, OutreachSettings)
        query: dict[str, Any] | None = {"page[size]": self.settings.page_size, **params}
        while url:
            body = (await self.client.request("GET", url, params=query)).json()
            found.extend(_remote(item) for item in body.get("data") or [])
            url, query = (body.get("links") or {}).get("next"), None
        return found

    async def list(self) -> list[RemoteObject]:
        return await self._pages({})

    async def lookup(self, identity: str) -> RemoteObject | None:
        matches = await self._pages({"filter[name]": identity})
        return matches[0] if matches else None

    async def read(self, remote_id: str) -> RemoteObject | None:
        response = await self.client.request("GET", f"/callPurposes/{remote_id}", ok=(200, 404))
        return None if response.status_code == 404 else _remote(response.json()["data"])

    async def create(self, attributes: dict[str, Any]) -> RemoteObject:
        body = {"data": {"type": "callPurpose", "attributes": _wire(attributes)}}
        response = await self.client.request("POST", "/callPurposes", json=body, ok=(201, 200))
        return _remote(response.json()["data"])

    async def update(self, remote_id: str, attributes: dict[str, Any],
                     changed: frozenset[str], current: RemoteObject | None) -> RemoteObject:
        wire = {k: v for k, v in _wire(attributes).items() if k in changed}
        body = {"data": {"type": "callPurpose", "id": int(remote_id), "attributes": wire}}
        response = await self.client.request("PATCH", f"/callPurposes/{remote_id}", json=body)
        return _remote(response.json()["data"])

    async def delete(self, remote_id: str, mode: DeleteMode,
                     current: RemoteObject | None) -> None:
        await self.client.request("DELETE", f"/callPurposes/{remote_id}", ok=(204, 200, 404))


def _wire(attributes: dict[str, Any]) -> dict[str, Any]:
    return {k: attributes[k] for k in ("name", "order") if k in attributes}


class OutreachProvider(Provider):
    name = "outreach"
    settings_model = OutreachSettings
    kinds = (CallPurposeKind,)

    def make_client(self, settings: ProviderSettings) -> VendorClient:
        assert isinstance(settings, OutreachSettings)
        return VendorClient(
            "outreach", settings.base_url,
            {"Authorization": f"Bearer {settings.token}", "Content-Type": MEDIA_TYPE,
             "Accept": MEDIA_TYPE},
            secrets=settings.secrets(), parse_error=parse_error,
            concurrency=settings.concurrency, timeout_s=settings.timeout_s,
            max_attempts=settings.max_attempts, allow_insecure_http=settings.allow_insecure_http)

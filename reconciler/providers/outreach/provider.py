"""Outreach API v2: call purposes (JSON:API, vendor doc 002).

Wire format: `application/vnd.api+json`, resources `{type: "callPurpose", id: <int>,
attributes: {name, order, createdAt, updatedAt}, relationships: {...}}`, cursor
paging through `links.next`, errors `{"errors": [{id, title, detail, source.pointer}]}`.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

import httpx
from pydantic import Field

from reconciler.errors import VendorError
from reconciler.providers.base import (
    DeleteMode,
    Kind,
    Provider,
    ProviderSettings,
    RemoteObject,
    Schema,
)
from reconciler.providers.http import VendorClient, json_body
from reconciler.providers.limits import Pages
from reconciler.redact import clean

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
    if not isinstance(errors, list) or not errors or not isinstance(errors[0], dict):
        return None, response.text[:300] or response.reason_phrase
    first = errors[0]
    parts = [str(first.get(k)) for k in ("title", "detail") if first.get(k)]
    source = first.get("source")
    pointer = source.get("pointer") if isinstance(source, dict) else None
    if pointer:
        parts.append(f"at {pointer}")
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return first.get("id"), ": ".join(parts) + more


def _remote(resource: Any, where: str) -> RemoteObject:
    """A JSON:API resource -> RemoteObject; anything else is the vendor's mistake, said so."""
    attributes = resource.get("attributes") if isinstance(resource, dict) else None
    if not isinstance(resource, dict) or resource.get("id") in (None, "") \
            or not isinstance(resource.get("id"), int | str) \
            or not isinstance(attributes if attributes is not None else {}, dict):
        shown = clean(repr(resource))[:120]
        raise VendorError("outreach", None, None, (
            f"{where}: expected a callPurpose resource with an id and attributes, got {shown}"))
    attributes = attributes or {}
    return RemoteObject(str(resource["id"]), {"name": attributes.get("name"),
                                              "order": attributes.get("order")})


def _document(response: httpx.Response, where: str) -> dict[str, Any]:
    """The JSON:API document of a successful answer (a JSON object), or a clear VendorError."""
    body: dict[str, Any] = json_body("outreach", response, dict, f"{where}: ")
    return body


def _resource(response: httpx.Response, where: str) -> RemoteObject:
    return _remote(_document(response, where).get("data"), where)


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
        pages = Pages("outreach", self.client.base_url)
        while url:
            pages.visit(url, query)  # a next link back to a page already read is an error
            body = _document(await self.client.request("GET", url, params=query), f"GET {url}")
            data = body.get("data")
            if not isinstance(data, list):
                raise VendorError("outreach", 200, None, (
                    f"GET {url}: expected data to be a list of callPurpose resources, got "
                    f"{clean(repr(data))[:120]}"))
            found.extend(_remote(item, f"GET {url}") for item in data)
            links = body.get("links")
            url = links.get("next") if isinstance(links, dict) else None
            if url is not None and not isinstance(url, str):
                raise VendorError("outreach", 200, None, f"GET /callPurposes: links.next is not "
                                                         f"a URL: {clean(repr(url))[:120]}")
            query = None
        return found

    async def list(self) -> list[RemoteObject]:
        return await self._pages({})

    async def lookup(self, identity: str) -> RemoteObject | None:
        matches = await self._pages({"filter[name]": identity})
        return matches[0] if matches else None

    async def read(self, remote_id: str) -> RemoteObject | None:
        response = await self.client.request("GET", f"/callPurposes/{remote_id}", ok=(200, 404))
        return None if response.status_code == 404 else _resource(
            response, f"GET /callPurposes/{remote_id}")

    async def create(self, attributes: dict[str, Any]) -> RemoteObject:
        body = {"data": {"type": "callPurpose", "attributes": _wire(attributes)}}
        response = await self.client.request("POST", "/callPurposes", json=body, ok=(201, 200))
        return _resource(response, "POST /callPurposes")

    async def update(self, remote_id: str, attributes: dict[str, Any],
                     changed: frozenset[str], current: RemoteObject | None) -> RemoteObject:
        wire = {k: v for k, v in _wire(attributes).items() if k in changed}
        body = {"data": {"type": "callPurpose", "id": int(remote_id), "attributes": wire}}
        response = await self.client.request("PATCH", f"/callPurposes/{remote_id}", json=body)
        return _resource(response, f"PATCH /callPurposes/{remote_id}")

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

"""Outreach API v2: call purposes (JSON:API; docs/vendors/outreach.md).

Wire format: `application/vnd.api+json`, resources `{type: "callPurpose", id: <int>,
attributes: {name, order, createdAt, updatedAt}, relationships: {...}}`, cursor
paging through `links.next` (a relative link is resolved against the page it came on;
another origin is refused), errors `{"errors": [{id, title, detail, source.pointer}]}`
(the 415 example says `details`: both are read).

Adoption takes only an exact name: `filter[name]` treats `,` as a list and `..` as a
range, so a name holding either is found by scanning the listing, and a filter result is
compared before it is adopted. Tokens: a ready access token (`token`), or a refresh token
that the provider exchanges and renews on a 401 (see `auth.py`).
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar
from urllib.parse import urljoin

import httpx
from pydantic import Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from reconciler.errors import AnswerError, VendorError
from reconciler.providers.base import (
    DeleteMode,
    Kind,
    Provider,
    ProviderSettings,
    RemoteObject,
    Schema,
    not_blank,
)
from reconciler.providers.http import VendorClient, json_body
from reconciler.providers.ids import IdShape, shown
from reconciler.providers.limits import Pages, too_many_items
from reconciler.providers.outreach.auth import Refresher
from reconciler.providers.outreach.errors import parse_error
from reconciler.providers.paths import under
from reconciler.providers.tokens import TokenClient
from reconciler.redact import shorten

MEDIA_TYPE = "application/vnd.api+json"
PAGE_SIZE = 1000  # the largest page the Airbyte connector asks for (docs/vendors/outreach.md)
ID_SHAPE = IdShape("an Outreach id (a JSON:API integer id, per the vendor's OpenAPI description)")
FILTER_SYNTAX = (",", "..")
"""What `filter[name]` reads as a list (`,`) or a range (`..`): such names are not filtered."""


class OutreachSettings(ProviderSettings):
    base_url: str = Field("https://api.outreach.io/api/v2", description="API v2 root")
    refresh_token: str | None = Field(None, description=(
        "OAuth refresh token: access tokens are then obtained from token_endpoint and renewed on "
        "a 401 (they live about two hours); from an environment variable"))
    client_id: str | None = Field(None, description=(
        "OAuth application id, needed with refresh_token"))
    client_secret: str | None = Field(None, description=(
        "OAuth application secret, needed with refresh_token; from an environment variable"))
    redirect_uri: str | None = Field(None, description=(
        "Redirect URI of the OAuth application, sent with the refresh grant when set"))
    token_endpoint: str = Field("https://api.outreach.io/oauth/token", description=(
        "Token endpoint of the refresh grant"))
    token: str | None = Field(None, min_length=1, validate_default=True, description=(
        "OAuth access token (Bearer); from an environment variable. Not needed with "
        "refresh_token"))
    page_size: int = Field(PAGE_SIZE, ge=1, le=PAGE_SIZE, description="page[size] when listing")

    @field_validator("token")
    @classmethod
    def _one_credential(cls, value: str | None, info: ValidationInfo) -> str | None:
        """An access token, or a refresh token with its application's id and secret."""
        if info.data.get("refresh_token"):
            missing = [n for n in ("client_id", "client_secret") if not info.data.get(n)]
            if missing:
                raise PydanticCustomError("missing_credential", (
                    f"refresh_token needs {' and '.join(missing)} (the OAuth application's); "
                    "set them from environment variables"))
        elif value is None:
            raise PydanticCustomError("missing_credential", (
                "set token (an access token, e.g. ${OUTREACH_TOKEN}), or refresh_token, "
                "client_id and client_secret so that reconciler obtains and renews one"))
        return value

    def secrets(self) -> list[str]:
        return [v for v in (self.token, self.refresh_token, self.client_secret) if v]

    def refresher(self) -> Refresher | None:
        if not self.refresh_token:
            return None
        form = {"grant_type": "refresh_token", "client_id": self.client_id or "",
                "client_secret": self.client_secret or "", "refresh_token": self.refresh_token}
        if self.redirect_uri:
            form["redirect_uri"] = self.redirect_uri
        return Refresher("outreach", self.token_endpoint, form, timeout_s=self.timeout_s,
                         allow_insecure_http=self.allow_insecure_http)


class CallPurpose(Schema):
    """An Outreach call purpose, which categorises call logs."""

    name: Annotated[str, Field(min_length=1, max_length=255,
                               description="Display name (Outreach `name`, at most 255 characters)")]
    # Nullable in the vendor's own OpenAPI description (`{"type": "integer", "nullable": true}`).
    order: Annotated[int | None, Field(None, ge=0, le=2_147_483_647, description=(
        "Display order (Outreach `order`, a nullable integer): `order: null` clears it; left "
        "out, the vendor's is kept"))]

    _name = field_validator("name")(not_blank)


def _remote(resource: Any, where: str, kind: Kind | None = None) -> RemoteObject:
    """A JSON:API resource -> RemoteObject; anything else is the vendor's mistake, said so.
    Given the listing `kind`, sharing its record's dict when equal (Kind.remote)."""
    attributes = resource.get("attributes") if isinstance(resource, dict) else None
    if not isinstance(resource, dict) or resource.get("id") in (None, "") \
            or not isinstance(attributes if attributes is not None else {}, dict):
        raise VendorError("outreach", None, None, (
            f"{where}: expected a callPurpose resource with an id and attributes, got "
            f"{shorten(repr(resource))}"))
    attributes = attributes or {}
    values = {"name": attributes.get("name"), "order": attributes.get("order")}
    remote_id = ID_SHAPE.require("outreach", resource["id"], lambda: (
        f"{where}: the callPurpose named {shown(values['name'])}"))
    return kind.remote(remote_id, values) if kind is not None else RemoteObject(remote_id, values)


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
    id_shape = ID_SHAPE

    async def _pages(self, params: dict[str, Any]) -> list[RemoteObject]:
        found: list[RemoteObject] = []
        url: str | None = "/callPurposes"
        here = self.client.base_url + "/callPurposes"
        assert isinstance(self.settings, OutreachSettings)
        # count=false: the total is never read, and Outreach skips counting a large table.
        query: dict[str, Any] | None = {"page[size]": self.settings.page_size, "count": "false",
                                        **params}
        pages = Pages("outreach", self.client.base_url)
        while url:
            pages.visit(url, query)  # a next link back to a page already read is an error
            body = _document(await self.client.request("GET", url, params=query), f"GET {url}")
            data = body.get("data")
            if not isinstance(data, list):
                raise VendorError("outreach", 200, None, (
                    f"GET {url}: expected data to be a list of callPurpose resources, got "
                    f"{shorten(repr(data))}"))
            where = f"GET {url}"
            found.extend([_remote(item, where, self) for item in data])
            if len(found) + len(pages.seen) > self.client.bounds.max_list_items:
                raise too_many_items(self.client.bounds, "/callPurposes")  # or endless empty pages
            links = body.get("links")
            url = links.get("next") if isinstance(links, dict) else None
            if url is not None and not isinstance(url, str):
                raise VendorError("outreach", 200, None, f"GET /callPurposes: links.next is not "
                                                         f"a URL: {shorten(repr(url))}")
            if url is not None:
                try:
                    url = here = urljoin(here, url)  # relative: against the page it came on
                except ValueError:
                    raise VendorError("outreach", 200, None, f"GET /callPurposes: links.next is "
                                      f"not a valid URL: {shorten(url)!r}") from None
            query = None
        return found

    async def list(self) -> list[RemoteObject]:
        return await self._pages({})

    async def lookup(self, identity: str) -> RemoteObject | None:
        """An exact name match only: `filter[name]` cannot express a name with `,` or `..`
        (the listing is scanned instead), and its matches are compared before adoption."""
        if any(mark in identity for mark in FILTER_SYNTAX):
            matches = await self._pages({})
        else:
            matches = await self._pages({"filter[name]": identity})
        return next((m for m in matches if m.attributes.get("name") == identity), None)

    async def read(self, remote_id: str) -> RemoteObject | None:
        path = under("/callPurposes", remote_id)
        response = await self.client.request("GET", path, ok=(200, 404))
        return None if response.status_code == 404 else _resource(response, f"GET {path}")

    async def create(self, attributes: dict[str, Any]) -> RemoteObject:
        body = {"data": {"type": "callPurpose", "attributes": _wire(attributes)}}
        response = await self.client.request("POST", "/callPurposes", json=body, ok=(201, 200))
        return _resource(response, "POST /callPurposes")

    async def update(self, remote_id: str, attributes: dict[str, Any],
                     changed: frozenset[str], current: RemoteObject | None) -> RemoteObject:
        wire = {k: v for k, v in _wire(attributes).items() if k in changed}
        body = {"data": {"type": "callPurpose", "id": int(remote_id), "attributes": wire}}
        path = under("/callPurposes", remote_id)
        response = await self.client.request("PATCH", path, json=body)
        return _resource(response, f"PATCH {path}")

    async def delete(self, remote_id: str, mode: DeleteMode,
                     current: RemoteObject | None) -> None:
        path = under("/callPurposes", remote_id)
        response = await self.client.request("DELETE", path, ok=(204, 200, 404))
        answered_about(response, remote_id, f"DELETE {path}")


def answered_about(response: httpx.Response, remote_id: str, where: str) -> None:
    """A delete answer that carries a resource must be about the object addressed."""
    if response.status_code != 200 or not response.content.strip():
        return
    try:
        data = response.json().get("data")
    except (ValueError, AttributeError):
        return
    if isinstance(data, dict) and data.get("id") is not None \
            and ID_SHAPE.read(data["id"]) != remote_id:
        raise AnswerError("outreach", 200, None, (
            f"{where}: the answer is about callPurpose {shown(data['id'])}, not {remote_id}; "
            "the vendor's answer is not believed"))


def _wire(attributes: dict[str, Any]) -> dict[str, Any]:
    return {k: attributes[k] for k in ("name", "order") if k in attributes}


class OutreachProvider(Provider):
    name = "outreach"
    settings_model = OutreachSettings
    kinds = (CallPurposeKind,)

    def make_client(self, settings: ProviderSettings) -> VendorClient:
        """With refresh_token, the Authorization header comes from the refresher."""
        assert isinstance(settings, OutreachSettings)
        refresher = settings.refresher()
        headers = {"Content-Type": MEDIA_TYPE, "Accept": MEDIA_TYPE}
        if refresher is None:
            headers["Authorization"] = f"Bearer {settings.token}"
        return TokenClient(
            "outreach", settings.base_url, headers, secrets=settings.secrets(),
            parse_error=parse_error, concurrency=settings.concurrency,
            timeout_s=settings.timeout_s, max_attempts=settings.max_attempts,
            allow_insecure_http=settings.allow_insecure_http, tokens=refresher,
            expired=lambda exc: exc.status == 401)  # a refresh token's access token lapsed

"""The Widgets API: plain JSON, `GET/POST /widgets`, `GET/PUT/DELETE /widgets/{id}`."""

from __future__ import annotations

from typing import Annotated, Any

import httpx
from pydantic import Field

from reconciler.providers.base import DeleteMode, Kind, Provider, ProviderSettings, RemoteObject, Schema
from reconciler.providers.http import VendorClient


class WidgetsSettings(ProviderSettings):
    base_url: str = Field(description="API root")
    token: str = Field(min_length=1, description="Bearer token")

    def secrets(self) -> list[str]:
        return [self.token]


class Widget(Schema):
    name: Annotated[str, Field(min_length=1, max_length=100, description="Unique name")]
    colour: Annotated[str, Field(description="Colour")]
    size: Annotated[int | None, Field(None, ge=0, description="Size")]


def _remote(item: dict[str, Any]) -> RemoteObject:
    return RemoteObject(str(item["id"]), {k: item.get(k) for k in ("name", "colour", "size")})


def _parse_error(response: httpx.Response) -> tuple[str | None, str]:
    try:
        return None, str(response.json().get("error"))
    except (ValueError, AttributeError):
        return None, response.reason_phrase


class WidgetKind(Kind):
    vendor = "widgets"
    name = "widget"
    collection = "widgets"
    schema = Widget
    natural_key = "name"
    delete_modes = (DeleteMode.HARD,)

    async def list(self) -> list[RemoteObject]:
        return [_remote(item) for item in (await self.client.request("GET", "/widgets")).json()]

    async def read(self, remote_id: str) -> RemoteObject | None:
        response = await self.client.request("GET", f"/widgets/{remote_id}", ok=(200, 404))
        return None if response.status_code == 404 else _remote(response.json())

    async def create(self, attributes: dict[str, Any]) -> RemoteObject:
        return _remote((await self.client.request("POST", "/widgets", json=attributes, ok=(201, 200))).json())

    async def update(self, remote_id: str, attributes: dict[str, Any],
                     changed: frozenset[str], current: RemoteObject | None) -> RemoteObject:
        body = {**(current.attributes if current else {}), **attributes}
        return _remote((await self.client.request("PUT", f"/widgets/{remote_id}", json=body)).json())

    async def delete(self, remote_id: str, mode: DeleteMode, current: RemoteObject | None) -> None:
        await self.client.request("DELETE", f"/widgets/{remote_id}", ok=(204, 404))


class WidgetsProvider(Provider):
    name = "widgets"
    settings_model = WidgetsSettings
    kinds = (WidgetKind,)

    def make_client(self, settings: ProviderSettings) -> VendorClient:
        assert isinstance(settings, WidgetsSettings)
        return VendorClient("widgets", settings.base_url, {"Authorization": f"Bearer {settings.token}"},
                            secrets=settings.secrets(), parse_error=_parse_error,
                            concurrency=settings.concurrency, timeout_s=settings.timeout_s,
                            max_attempts=settings.max_attempts)

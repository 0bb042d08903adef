"""SuperOffice's MDO list (the one that shows soft-deleted purposes a plain list may hide) is
read only when it can matter: when a purpose the manifests declare is neither listed nor
recorded in the state, or when nobody said what is declared (drift, import)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from reconciler.providers.http import VendorClient
from reconciler.providers.superoffice.provider import ConsentPurposeKind, SuperOfficeSettings, parse_error

BASE = "https://online.superoffice.com/Cust1/api/v1"


def entity(pid: int, key: str, deleted: bool = False) -> dict[str, Any]:
    return {"ConsentPurposeId": pid, "Name": f"Purpose {key}", "Key": key, "ConsentText": "",
            "FormText": "", "Tooltip": "", "Active": 1, "Deleted": deleted, "Rank": 0,
            "PrivacyStatementDesc": "", "PrivacyStatementUrl": ""}


class Vendor:
    """Purposes 1 and 2 are listed; 3 is soft-deleted, hidden from the list, shown by MDO."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.items = {1: entity(1, "#One"), 2: entity(2, "#Two"), 3: entity(3, "#Three", deleted=True)}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/Cust1/api/v1")
        self.paths.append(path)
        if path == "/List/ConsentPurpose/Items":
            return httpx.Response(200, json=[e for e in self.items.values() if not e["Deleted"]])
        if path == "/List/ConsentPurpose/MDOItems":
            return httpx.Response(200, json=[{"Id": e["ConsentPurposeId"], "Deleted": e["Deleted"]}
                                             for e in self.items.values()])
        found = self.items.get(int(path.rsplit("/", 1)[1]))
        return httpx.Response(200, json=found) if found else httpx.Response(404, json={"Error": "gone"})


def listed(declared: set[str] | None, recorded: dict[str, dict[str, Any]] | None = None,
           ) -> tuple[list[str], set[str]]:
    """(paths asked for, remote ids found) of one list."""
    vendor = Vendor()
    settings = SuperOfficeSettings(base_url=BASE, token="tok-1234")
    client = VendorClient("superoffice", settings.base_url, settings.headers(), secrets=settings.secrets(),
                          parse_error=parse_error(settings), transport=httpx.MockTransport(vendor))
    kind = ConsentPurposeKind(client, settings)
    kind.declared = None if declared is None else [{"key": k.removeprefix("key:")} for k in declared]
    kind.recorded = recorded or {}

    async def run() -> set[str]:
        try:
            return {o.remote_id for o in await kind.list()}
        finally:
            await client.aclose()

    found = asyncio.run(run())
    return vendor.paths, found


MDO = "/List/ConsentPurpose/MDOItems"


def test_not_read_when_every_declared_purpose_is_listed() -> None:
    paths, found = listed({"key:#One", "key:#Two"})
    assert MDO not in paths and found == {"1", "2"}


def test_not_read_when_a_declared_purpose_missing_from_the_list_is_in_the_state() -> None:
    recorded = {"3": {"name": "Purpose #Three", "key": "#Three"}}
    paths, found = listed({"key:#One", "key:#Three"}, recorded)
    assert MDO not in paths
    assert found == {"1", "2", "3"}  # the recorded one is read by id, as before


def test_read_when_a_declared_purpose_is_neither_listed_nor_recorded() -> None:
    paths, found = listed({"key:#One", "key:#Three"})
    assert MDO in paths and found == {"1", "2", "3"}  # the hidden one is found, to be revived


def test_read_when_nobody_said_what_is_declared() -> None:
    paths, found = listed(None)
    assert MDO in paths and found == {"1", "2", "3"}

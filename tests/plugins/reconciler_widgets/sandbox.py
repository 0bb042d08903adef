"""The Widgets emulator, served by `reconciler sandbox` beside the bundled vendors."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from reconciler.sandbox.common import (
    FaultMiddleware,
    SandboxContext,
    Table,
    VendorSandbox,
    bearer_token,
    json_body,
)

PREFIX = "/widgets/api"
TOKEN = "sandbox-widgets-token"


def _error(status: int, message: str) -> Response:
    return JSONResponse({"error": message}, status_code=status)


class Widgets:
    def __init__(self, table: Table) -> None:
        self.table = table
        self.items: dict[str, dict[str, Any]] = table.data.setdefault("widgets", {})

    async def _checked(self, request: Request) -> dict[str, Any] | Response:
        if bearer_token(request) != TOKEN:
            return _error(401, "unauthorized")
        if request.method not in ("POST", "PUT"):
            return {}
        try:
            body = await json_body(request)
        except ValueError as exc:
            return _error(400, str(exc))
        if not isinstance(body, dict) or not isinstance(body.get("name"), str):
            return _error(400, "name is required")
        clash = [w for w in self.items.values()
                 if w["name"] == body["name"] and str(w["id"]) != request.path_params.get("id")]
        return _error(409, "name taken") if clash else body

    async def list(self, request: Request) -> Response:
        checked = await self._checked(request)
        return checked if isinstance(checked, Response) else JSONResponse(list(self.items.values()))

    async def create(self, request: Request) -> Response:
        body = await self._checked(request)
        if isinstance(body, Response):
            return body
        new_id = max((int(k) for k in self.items), default=0) + 1
        self.items[str(new_id)] = {"id": new_id, **{k: body.get(k) for k in ("name", "colour", "size")}}
        self.table.save()
        return JSONResponse(self.items[str(new_id)], status_code=201)

    async def item(self, request: Request) -> Response:
        body = await self._checked(request)
        if isinstance(body, Response):
            return body
        found = self.items.get(request.path_params["id"])
        if found is None:
            return _error(404, "no such widget")
        if request.method == "DELETE":
            del self.items[request.path_params["id"]]
            self.table.save()
            return Response(status_code=204)
        if request.method == "PUT":
            found.update({k: body.get(k) for k in ("name", "colour", "size")})
            self.table.save()
        return JSONResponse(found)


def _mount(context: SandboxContext) -> list[BaseRoute]:
    widgets = Widgets(context.table("widgets"))
    app = Starlette(routes=[
        Route("/widgets", widgets.list, methods=["GET"]),
        Route("/widgets", widgets.create, methods=["POST"]),
        Route("/widgets/{id}", widgets.item, methods=["GET", "PUT", "DELETE"]),
    ])
    return [Mount(PREFIX, FaultMiddleware(app, "widgets", context.faults, context.log, _error))]


SANDBOX = VendorSandbox(name="widgets", mount=_mount,
                        overrides=lambda base_url: {"base_url": base_url + PREFIX, "token": TOKEN})

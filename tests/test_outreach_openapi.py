"""Every request the Outreach provider sends, and every answer the Outreach sandbox gives,
checked against the vendor's own OpenAPI description of call purposes
(tests/vendor/outreach-callpurposes.openapi.json, the vendor's OAS 3.0.3 description) by a kept OpenAPI
validator (openapi-core), on real traffic: the CLI plans and applies creates, updates
(`order: null` included: the description makes `order` nullable), an adoption, deletes
and a drift check against the sandbox over loopback HTTP, with the validator reading the
wire at the sandbox's door."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse

from reconciler.providers.sandboxes import RunningSandbox, SandboxSettings
from tests.conftest import REPO, Project, Sandbox

DESCRIPTION = REPO / "tests" / "vendor" / "outreach-callpurposes.openapi.json"
"""Outreach's own OpenAPI description of call purposes, kept in the repository unchanged so
that a clean clone (CI) checks against it."""
PREFIX = "/outreach/api/v2"
VENDOR_HOST = "https://api.outreach.io"  # the description's server: https://api.outreach.io/api/v2

ASGI = Callable[..., Any]


class Witness:
    """An ASGI layer in front of the sandbox: each call-purpose request and its answer are
    validated against the description; what does not conform is recorded."""

    def __init__(self, app: ASGI) -> None:
        self.app = app
        self.openapi = OpenAPI.from_file_path(str(DESCRIPTION))
        self.lock = threading.Lock()
        self.seen: list[str] = []
        self.request_errors: list[str] = []
        self.response_errors: list[str] = []

    async def __call__(self, scope: dict[str, Any], receive: ASGI, send: ASGI) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(PREFIX + "/callPurposes"):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        answer: dict[str, Any] = {"body": b""}

        async def receiving() -> Any:
            message = await receive()
            if message["type"] == "http.request":
                chunks.append(message.get("body", b""))
            return message

        async def sending(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
                answer["headers"] = {k.decode().lower(): v.decode() for k, v in message["headers"]}
            elif message["type"] == "http.response.body":
                answer["body"] += message.get("body", b"")
                if not message.get("more_body", False):  # judged before the client has it
                    self.check(scope, b"".join(chunks), answer)
            await send(message)

        await self.app(scope, receiving, sending)

    def check(self, scope: dict[str, Any], body: bytes, answer: dict[str, Any]) -> None:
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        query = httpx.QueryParams(scope.get("query_string", b"").decode())
        path = "/api/v2" + scope["path"][len(PREFIX):]
        request = MockRequest(VENDOR_HOST, scope["method"].lower(), path, args=dict(query),
                              headers=headers, data=body or None,
                              content_type=headers.get("content-type", "").split(";")[0] or "application/json")
        response = MockResponse(answer["body"], status_code=answer["status"], headers=answer["headers"],
                                content_type=answer["headers"].get("content-type", "").split(";")[0])
        label = f"{scope['method']} {path} -> {answer['status']}"
        with self.lock:
            self.seen.append(label)
            try:
                self.openapi.validate_request(request)
            except Exception as error:  # openapi-core's validation errors: recorded, read below
                self.request_errors.append(f"{label}: {error!r} {getattr(error, '__cause__', '')!r} {body[:200]!r}")
            if answer["status"] == 204 and not answer["body"]:
                return  # HTTP forbids a 204 body; the description's 204 media type has no schema
            try:
                self.openapi.validate_response(request, response)
            except Exception as error:
                self.response_errors.append(f"{label}: {error!r} {getattr(error, '__cause__', '')!r} "
                                            f"{answer['body'][:300]!r}")


@pytest.fixture
def witnessed(tmp_path: Path) -> Iterator[tuple[Project, Witness]]:
    running = RunningSandbox(SandboxSettings(data_dir=tmp_path / "sandbox"))
    witness = Witness(running.app)
    running.server.config.app = witness  # uvicorn serves the witness, which serves the sandbox
    root = tmp_path / "manifests"
    root.mkdir()
    with running:
        project = Project(root, Sandbox(running))
        project.configure()
        yield project, witness


def test_every_request_and_answer_conforms_to_outreachs_description(
        witnessed: tuple[Project, Witness]) -> None:
    project, witness = witnessed
    project.sandbox.outreach("POST", "/callPurposes", {"data": {
        "type": "callPurpose", "attributes": {"name": "Found", "order": 9}}})
    project.write("p.yaml", """\
        outreach:
          call_purposes:
            a: {name: "Sales, EMEA", order: 1}
            b: {name: Beta}
            c: {name: Gamma, order: 3}
            found: {name: Found, order: 9}
        """)
    assert project.apply().code == 0
    project.write("p.yaml", """\
        outreach:
          call_purposes:
            a: {name: "Sales, EMEA", order: null}
            b: {name: Beta, order: 2}
            found: {name: Found, order: 9}
        """)
    assert project.apply().code == 0
    assert project.plan().code == 0
    assert project.cli("drift", str(project.root)).code == 0
    methods = {label.split(" ", 1)[0] for label in witness.seen}
    assert methods >= {"GET", "POST", "PATCH", "DELETE"}, witness.seen
    assert witness.request_errors == []
    assert witness.response_errors == []
    orders = {p["attributes"]["name"]: p["attributes"]["order"] for p in project.sandbox.outreach_purposes()}
    assert orders == {"Sales, EMEA": None, "Beta": 2, "Found": 9}


def test_the_witness_sees_a_request_that_does_not_conform(witnessed: tuple[Project, Witness]) -> None:
    """The check is live: an order that is not an integer breaks the description."""
    project, witness = witnessed
    answer = project.sandbox.outreach("POST", "/callPurposes", {"data": {
        "type": "callPurpose", "attributes": {"name": "Bad", "order": "first"}}})
    assert answer.status_code == 422
    assert len(witness.request_errors) == 1 and "POST /api/v2/callPurposes" in witness.request_errors[0]
    assert witness.response_errors == []  # the sandbox's 422 is the documented error document
    json.dumps(witness.seen)

"""Secrets never leave the environment: not in any output, log line, error message, state, journal,
backup, lock, plan or dump file. TLS verification is always on, and plain http:// to a host that is
not loopback is refused unless a provider says `allow_insecure_http: true`.

The sandboxes accept only their own tokens (reconciler/providers/sandboxes.py), so the successful
workflow scans for those exact values; failing runs use distinctive wrong tokens.
"""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from reconciler.errors import ConfigError, VendorError
from reconciler.providers.http import VendorClient
from reconciler.providers.outreach import provider as outreach_provider
from reconciler.providers.registry import providers as provider_registry
from reconciler.providers.sandboxes import RunningSandbox, SandboxSettings
from reconciler.sandbox.common import Faults
from tests.certs import self_signed
from tests.conftest import REPO, CliResult, Project, Sandbox

HAVE_SUPEROFFICE = "superoffice" in provider_registry()
HAVE_WEBEX = "webex_campaign" in provider_registry()
VENDORS = ("outreach", *(("superoffice",) if HAVE_SUPEROFFICE else ()),
           *(("webex_campaign",) if HAVE_WEBEX else ()))
TOKEN_VARS = {"outreach": "OUTREACH_TOKEN", "superoffice": "SUPEROFFICE_TOKEN",
              "webex_campaign": "WEBEX_CAMPAIGN_TOKEN"}
WRONG = {"outreach": "S3CR3T-outreach-7f9c2b", "superoffice": "S3CR3T-superoffice-41d0aa",
         "webex_campaign": "S3CR3T-webex-93be55"}

MANIFESTS = {
    "outreach": """\
outreach:
  call_purposes:
    initial_contact: {name: Initial Contact, order: 1}
    follow_up: {name: Follow Up, order: 2}
""",
    "superoffice": """\
superoffice:
  consent_purposes:
    emarketing:
      name: E-marketing
      key: "#Emarketing"
      consent_text: I want to receive newsletters
      privacy_statement_url: https://example.com/privacy
""",
    "webex_campaign": """\
webex_campaign:
  purposes:
    marketing: {name: Marketing_Purpose, group: DEFAULT, description: Marketing purpose}
  datastore_records:
    seed_contacts:
      datastore_id: "1466"
      feed_id: "1499"
      records:
        - {msisdn: "+442332223424", firstname: John Smith, emailid: john@example.com}
""",
}


class Scan:
    """Everything a run showed, and every file it left, searched for secret values."""

    def __init__(self, secrets: list[str]) -> None:
        self.secrets = secrets
        self.outputs: list[tuple[str, str]] = []

    def run(self, project: Project, *args: str, expect: int | tuple[int, ...],
            env: dict[str, str] | None = None) -> CliResult:
        result = project.cli(*args, env=env)
        expected = expect if isinstance(expect, tuple) else (expect,)
        assert result.code in expected, f"{args}: {result.text}"
        assert "Traceback" not in result.text, result.text
        self.outputs.append((" ".join(args), result.text))
        return result

    def check_outputs(self) -> None:
        for command, text in self.outputs:
            for secret in self.secrets:
                assert secret not in text, f"`{command}` printed a secret:\n{text}"

    def check_files(self, *roots: Path) -> int:
        scanned = 0
        for root in roots:
            for path in sorted(root.rglob("*")):
                if path.is_file():
                    scanned += 1
                    content = path.read_bytes()
                    for secret in self.secrets:
                        assert secret.encode() not in content, f"{path} holds a secret"
        return scanned


def configure(project: Project, vendors: tuple[str, ...] = VENDORS) -> None:
    project.configure(vendors)
    for vendor in vendors:
        project.write(f"purposes/{vendor}.yaml", MANIFESTS[vendor])


def sandbox_secrets(sandbox: Sandbox) -> list[str]:
    env = sandbox.env()
    return [env[TOKEN_VARS[v]] for v in VENDORS]


def test_plan_and_apply_leak_no_secret(project: Project, tmp_path: Path) -> None:
    configure(project)
    scan = Scan(sandbox_secrets(project.sandbox))
    assert all(len(s) >= 8 for s in scan.secrets)
    root, out = str(project.root), tmp_path / "out"
    out.mkdir()
    plan_file = out / "plan.json"

    scan.run(project, "validate", root, expect=0)
    scan.run(project, "plan", root, "--format", "json", expect=0)
    scan.run(project, "plan", root, "--format", "markdown", expect=0)
    scan.run(project, "-v", "plan", root, "--out", str(plan_file), "--detailed-exitcode", expect=2)
    applied = scan.run(project, "-v", "apply", str(plan_file), expect=0)
    assert "Apply complete!" in applied.out
    assert "outreach POST /callPurposes -> 201" in applied.err, "-v logs every call"
    project.write("purposes/outreach.yaml", MANIFESTS["outreach"].replace("order: 2", "order: 5"))
    scan.run(project, "-v", "apply", root, "--auto-approve", expect=0)
    # A failing run, with the real tokens still in the environment.
    project.write("purposes/broken.yaml", "outreach:\n  call_purposes:\n    Bad Key: {name: 1}\n")
    invalid = scan.run(project, "-v", "plan", root, expect=1)
    assert "broken.yaml:3:5: call_purposes.Bad Key: invalid key" in invalid.err

    scan.check_outputs()
    assert scan.check_files(project.root, out) >= 6  # manifests, reconciler.yaml, state, backup, plan
    assert (project.root / "state" / "default.json.backup").exists()


def test_drift_state_and_dump_leak_no_secret(project: Project, tmp_path: Path) -> None:
    configure(project)
    scan = Scan(sandbox_secrets(project.sandbox))
    root, out = str(project.root), tmp_path / "out"
    out.mkdir()
    scan.run(project, "apply", root, "--auto-approve", expect=0)
    follow_up = next(p for p in project.sandbox.outreach_purposes() if p["attributes"]["name"] == "Follow Up")
    project.sandbox.outreach("PATCH", f"/callPurposes/{follow_up['id']}", {
        "data": {"type": "callPurpose", "id": follow_up["id"], "attributes": {"order": 9}}})
    scan.run(project, "drift", root, expect=2)
    scan.run(project, "-v", "drift", root, "--format", "json", expect=2)
    scan.run(project, "state", "list", root, expect=0)
    scan.run(project, "state", "show", "outreach.call_purpose.follow_up", root, expect=0)
    scan.run(project, "dump", root, "--vendor", "outreach", expect=0)
    scan.run(project, "dump", root, "--vendor", VENDORS[-1], "--out", str(out / "dump.yaml"), expect=0)
    scan.check_outputs()
    assert scan.check_files(project.root, out) >= 5


WRONG_TOKEN_RUNS = [pytest.param(v, ("plan", "apply", "drift") if v == "outreach" else ("plan",), id=v)
                    for v in VENDORS]


@pytest.mark.parametrize(("vendor", "commands"), WRONG_TOKEN_RUNS)
def test_wrong_token_is_not_echoed(vendor: str, commands: tuple[str, ...], project: Project) -> None:
    """A 401 with a wrong token: the message says what failed, never the token."""
    configure(project, (vendor,))
    wrong = WRONG[vendor]
    scan = Scan([wrong, *sandbox_secrets(project.sandbox)])
    env = {TOKEN_VARS[vendor]: wrong}
    for command in commands:
        extra = ("--auto-approve",) if command == "apply" else ()
        result = scan.run(project, "-v", command, str(project.root), *extra, expect=1, env=env)
        assert "HTTP 401" in result.err and f"{vendor} refused the request" in result.err, result.err
    scan.check_outputs()
    scan.check_files(project.root)


@pytest.mark.skipif(not HAVE_SUPEROFFICE, reason="no SuperOffice provider")
def test_wrong_basic_password_is_not_echoed(project: Project) -> None:
    from reconciler.providers.superoffice.sandbox import USER as SUPEROFFICE_USER

    user, password = SUPEROFFICE_USER[0], "S3CR3T-password-5be1"
    project.configure(("outreach",), extra=(
        "  superoffice:\n    base_url: ${SUPEROFFICE_BASE_URL}\n    auth: basic\n"
        "    username: ${SO_USER}\n    password: ${SO_PASSWORD}\n"))
    project.write("purposes/superoffice.yaml", MANIFESTS["superoffice"])
    basic = base64.b64encode(f"{user}:{password}".encode()).decode()
    scan = Scan([password, basic])
    result = scan.run(project, "-v", "plan", str(project.root), expect=1,
                      env={"SO_USER": user, "SO_PASSWORD": password})
    assert "HTTP 401" in result.err and "auth: basic was used" in result.err, result.err
    scan.check_outputs()
    scan.check_files(project.root)


@pytest.fixture
def slow_sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    settings = SandboxSettings(data_dir=tmp_path / "slow-data", faults=Faults(latency_ms=150, seed=3),
                               superoffice_builtins=False)
    with RunningSandbox(settings) as running:
        yield Sandbox(running)


def test_journal_and_lock_of_a_killed_apply_hold_no_secret(tmp_path: Path, slow_sandbox: Sandbox) -> None:
    """Kill an apply mid-way: the journal and the lock holder it leaves are scanned too."""
    root = tmp_path / "m"
    root.mkdir()
    project = Project(root, slow_sandbox)
    project.configure()
    project.write("p.yaml", "outreach:\n  call_purposes:\n" + "".join(
        f"    p{i}: {{name: P{i}, order: {i}}}\n" for i in range(40)))
    state_dir = root / "state"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OUTREACH_", "WEBEX_", "SUPEROFFICE_"))}
    env.update({**slow_sandbox.env(), "NO_COLOR": "1"})
    proc = subprocess.Popen([sys.executable, "-m", "reconciler", "-v", "apply", str(root), "--auto-approve"],
                            env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    journal = state_dir / "default.json.journal"
    deadline = time.monotonic() + 60
    while not journal.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    output = proc.communicate(timeout=10)[0].decode()
    assert journal.exists(), f"the apply should be killed mid-way:\n{output}"
    assert (state_dir / "default.json.lock.json").exists()
    scan = Scan(sandbox_secrets(slow_sandbox))
    scan.outputs.append(("apply (killed)", output))
    scan.run(project, "state", "list", str(root), expect=0)  # replays the journal
    scan.check_outputs()
    assert scan.check_files(state_dir) >= 2


# --- the HTTP client ----------------------------------------------------------------------

def echo_app() -> Starlette:
    """A vendor that quotes the credentials it was sent back in its error messages."""

    async def refuse(request: Request) -> JSONResponse:
        auth = request.headers.get("authorization", "")
        return JSONResponse({"errors": [{"id": "unauthorized", "title": "Unauthorized",
                                         "detail": f"credentials '{auth}' are not valid for {request.url}"}]},
                            status_code=int(request.query_params.get("status", "401")))

    return Starlette(routes=[Route("/{path:path}", refuse, methods=["GET", "POST"])])


def client(secret: str, base_url: str = "http://127.0.0.1:9/api",
           transport: httpx.AsyncBaseTransport | None = None, headers: dict[str, str] | None = None,
           secrets: list[str] | None = None) -> VendorClient:
    return VendorClient("outreach", base_url, headers or {"Authorization": f"Bearer {secret}"},
                        secrets=secrets or [secret], parse_error=outreach_provider.parse_error,
                        max_attempts=2, transport=transport or httpx.ASGITransport(app=echo_app()))


@pytest.mark.parametrize("status", [401, 422, 503])
def test_vendor_message_echoing_the_token_is_redacted(status: int) -> None:
    secret = "S3CR3T-outreach-7f9c2b"

    async def call() -> VendorError:
        vendor = client(secret)
        try:
            with pytest.raises(VendorError) as caught:
                await vendor.request("GET", "/callPurposes", params={"status": status})
            return caught.value
        finally:
            await vendor.aclose()

    error = asyncio.run(call())
    assert error.status == status
    assert secret not in str(error) and secret not in error.detail
    assert "credentials 'Bearer ***' are not valid" in str(error)


@pytest.mark.skipif(not HAVE_SUPEROFFICE, reason="no SuperOffice provider")
def test_basic_credentials_echoed_back_are_redacted() -> None:
    from reconciler.providers.superoffice.provider import SuperOfficeSettings

    settings = SuperOfficeSettings(base_url="https://online.superoffice.com/Cust1/api/v1", auth="basic",
                                   username="ops", password="S3CR3T-pw-0c11")
    basic = base64.b64encode(b"ops:S3CR3T-pw-0c11").decode()

    async def call() -> VendorError:
        vendor = client("unused", headers=settings.headers(), secrets=settings.secrets())
        try:
            with pytest.raises(VendorError) as caught:
                await vendor.request("GET", "/List/ConsentPurpose/Items")
            return caught.value
        finally:
            await vendor.aclose()

    error = asyncio.run(call())
    assert basic not in str(error) and "S3CR3T-pw-0c11" not in str(error)
    assert "credentials 'Basic ***'" in str(error)


def test_every_provider_client_verifies_tls() -> None:
    """Through the client objects themselves: certificate and host name checks are on."""
    env = {"base_url": "https://vendor.example/api", "tenant_url": "https://tenant.example/api",
           "token": "t-123456"}
    for name, provider_class in provider_registry().items():
        model = provider_class.settings_model
        settings = model.model_validate({k: v for k, v in env.items() if k in model.model_fields})
        clients = [v for v in vars(provider_class(settings)).values() if isinstance(v, VendorClient)]
        try:
            assert clients, name
            for vendor_client in clients:
                transports = [vendor_client.http._transport, *vendor_client.http._mounts.values()]
                for transport in transports:
                    context = transport._pool._ssl_context  # type: ignore[union-attr]
                    assert context.verify_mode == ssl.CERT_REQUIRED, name
                    assert context.check_hostname, name
        finally:
            for vendor_client in clients:
                asyncio.run(vendor_client.aclose())
    assert "verify=False" not in "".join(p.read_text() for p in (REPO / "reconciler").rglob("*.py"))


@pytest.fixture
def self_signed_server(tmp_path: Path) -> Iterator[str]:
    """An HTTPS server on loopback with a certificate nobody trusts."""
    key, cert = self_signed(tmp_path)
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"data": []}')

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        assert hits == [], "a request got through an untrusted certificate"


def test_untrusted_certificate_is_refused(self_signed_server: str) -> None:
    async def call() -> VendorError:
        vendor = VendorClient("outreach", self_signed_server, {"Authorization": "Bearer S3CR3T-tls-1"},
                              secrets=["S3CR3T-tls-1"], parse_error=outreach_provider.parse_error,
                              max_attempts=1)
        try:
            with pytest.raises(VendorError) as caught:
                await vendor.request("GET", "/callPurposes")
            return caught.value
        finally:
            await vendor.aclose()

    error = asyncio.run(call())
    assert error.status is None and "cannot connect" in str(error)


# --- plain http:// ------------------------------------------------------------------------

def test_plain_http_is_refused_for_a_remote_host(project: Project) -> None:
    project.configure(("outreach",))
    project.write("p.yaml", MANIFESTS["outreach"])
    env = {"OUTREACH_BASE_URL": "http://example.invalid/api/v2"}
    refused = project.cli("plan", str(project.root), env=env)  # validate is offline: no URL check
    assert refused.code == 1, refused.text
    assert "Traceback" not in refused.text
    assert (f"{project.root / 'reconciler.yaml'}:6:15: providers.outreach.base_url: refusing plain http:// to "
            "example.invalid; use https://, or set allow_insecure_http: true") in refused.err

    project.extra_provider_settings["outreach"] = "    allow_insecure_http: true\n"
    project.configure(("outreach",))
    allowed = project.cli("validate", str(project.root), env=env)
    assert allowed.code == 0, allowed.text
    assert "Valid: 2 object(s)" in allowed.out


def test_plain_http_is_allowed_to_loopback_only() -> None:
    for url in ("http://127.0.0.1:9/api", "http://localhost:9/api", "http://[::1]:9/api"):
        asyncio.run(client("t-loopback", base_url=url).aclose())
    for url in ("http://example.invalid/api", "http://10.0.0.1/api", "http://127.0.0.1.nip.io/api"):
        with pytest.raises(ConfigError, match="refusing plain http://"):
            client("t-remote", base_url=url)
    allowed = VendorClient("outreach", "http://example.invalid/api", {}, secrets=[],
                           parse_error=outreach_provider.parse_error, allow_insecure_http=True)
    asyncio.run(allowed.aclose())

"""Property-based hostile inputs (issue 14), with Hypothesis on a fixed seed.

Manifests are generated valid from the kinds' schemas (and must validate), then mutated as
text and as data; vendor answers are generated (status, headers, body) and served on
loopback. Whatever is generated: no traceback, no "internal error", an exit code in 0..3,
and no hang (an interval timer interrupts any example past its bound).

For speed the CLI runs in-process in Typer's CliRunner isolation (the same `app`, options
and `handled` wrapper as the command), its command line built once as a process builds it
once (CliRunner.invoke builds it anew each time: a third of an example's time);
`derandomize=True` keeps every run identical.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import signal
import socket
import string
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
import typer.main
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML
from starlette.requests import Request
from starlette.responses import Response
from typer.testing import CliRunner

from reconciler.cli.app import app
from tests.hostile_vendor import HostileVendor, mode

BOUND_S = 10
SETTINGS = settings(derandomize=True, max_examples=50, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
TOKENS = {"OUTREACH_TOKEN": "prop-outreach-token", "WEBEX_CAMPAIGN_TOKEN": "prop-webex-key",
          "SUPEROFFICE_TOKEN": "prop-superoffice-token"}
CONFIG = """\
state:
  backend: local
  path: state/default.json
providers:
  outreach:
    base_url: {url}/api/v2
    token: ${{OUTREACH_TOKEN}}
    max_attempts: 2
    max_retry_wait_s: 0.3
    request_deadline_s: 5
    max_response_mb: 1
  webex_campaign:
    base_url: {url}/webex/v1
    tenant_url: {url}/tenant/v3
    token: ${{WEBEX_CAMPAIGN_TOKEN}}
    max_attempts: 2
    max_retry_wait_s: 0.3
    request_deadline_s: 5
  superoffice:
    base_url: {url}/so/api/v1
    token: ${{SUPEROFFICE_TOKEN}}
    max_attempts: 2
    max_retry_wait_s: 0.3
    request_deadline_s: 5
"""


class Hang(BaseException):
    """An example ran past its bound (a BaseException, so no handler can swallow it)."""


@contextlib.contextmanager
def bounded(seconds: float) -> Iterator[None]:
    def expire(signum: int, frame: FrameType | None) -> None:
        raise Hang(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


COMMAND = typer.main.get_command(app)


def run(*args: str) -> tuple[int, str]:
    """The command in-process; asserts the properties every outcome must have."""
    runner = CliRunner()
    escaped: Exception | None = None
    with bounded(BOUND_S), runner.isolation(env={**TOKENS, "NO_COLOR": "1"}) as (_, _, both):
        try:  # as CliRunner.invoke runs it
            COMMAND.main(args=list(args), prog_name=runner.get_default_prog_name(COMMAND))
            exit_code = 0
        except SystemExit as exc:
            exit_code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
        except Exception as exc:
            escaped, exit_code = exc, 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
        output = both.getvalue().decode(runner.charset, "replace").replace("\r\n", "\n")
    if escaped is not None:
        raise AssertionError(f"{args}: escaped {escaped!r}\n{output}")
    assert "Traceback" not in output, output
    assert "internal error" not in output, output
    assert 0 <= exit_code <= 3, (exit_code, output)
    return exit_code, output


# ------------------------------------------------------------------ manifests ----

KEYS = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,12}", fullmatch=True)
TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=40).filter(
    str.strip)  # a blank name is refused (issue 21)
ORDER = st.integers(min_value=0, max_value=2_147_483_647)
URL = st.from_regex(r"https://[a-z]{1,10}\.example/[a-z]{0,8}", fullmatch=True)
LIFECYCLE = st.fixed_dictionaries({}, optional={"prevent_destroy": st.booleans()})


def _purposes(fields: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """Up to four purposes with distinct keys and names (names are natural keys)."""
    return st.dictionaries(KEYS, fields, max_size=4).filter(
        lambda d: len({v["name"] for v in d.values()}) == len(d))


OUTREACH = st.fixed_dictionaries({"name": TEXT}, optional={"order": ORDER}).flatmap(
    lambda d: LIFECYCLE.map(lambda lc: {**d, **lc}))
WEBEX = st.fixed_dictionaries({"name": TEXT}, optional={
    "group": st.sampled_from(["DEFAULT", "default", "Marketing"]), "description": TEXT})
SUPEROFFICE = st.fixed_dictionaries({"name": TEXT}, optional={
    "key": st.from_regex(r"#[A-Za-z]{1,12}", fullmatch=True), "consent_text": TEXT,
    "form_text": TEXT, "tooltip": TEXT, "active": st.booleans(),
    "rank": st.integers(min_value=0, max_value=1000), "privacy_statement_desc": TEXT,
    "privacy_statement_url": URL})
MANIFEST = st.fixed_dictionaries({}, optional={
    "outreach": _purposes(OUTREACH).map(lambda p: {"call_purposes": p}),
    "webex_campaign": _purposes(WEBEX).map(lambda p: {"purposes": p}),
    "superoffice": _purposes(SUPEROFFICE).filter(
        lambda d: len({v.get("key") or v["name"] for v in d.values()}) == len(d)).map(
        lambda p: {"consent_purposes": p}),
}).filter(bool)

JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=3),
    max_leaves=10)
SNIPPETS = st.sampled_from([
    "\t", ": ", "- ", "[", "]", "{", "}", "&a ", "*a", "*missing", "!!int x", "!!float y",
    "!!bool maybe", "!!binary x", "!python/object:os.system", "%YAML 1.1\n", "---\n", "...\n",
    "'", '"', "\\", "${UNSET_VAR}", "${", "#", "\n", "\x00", "\ufeff", "<<: *a\n", "? ",
    "[" * 80, "- " * 80, "x: &b [*b]\n"]) | st.text(max_size=6)


def dump(data: Any) -> str:
    stream = __import__("io").StringIO()
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.dump(data, stream)
    return stream.getvalue()


@contextlib.contextmanager
def directory(files: dict[str, str | bytes], url: str = "http://127.0.0.1:9") -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="reconciler-prop-") as tmp:
        root = Path(tmp)
        (root / "reconciler.yaml").write_text(CONFIG.format(url=url))
        for name, content in files.items():
            path = root / name
            path.write_bytes(content if isinstance(content, bytes) else content.encode())
        yield root


@SETTINGS
@given(MANIFEST)
def test_valid_manifests_validate(data: dict[str, Any]) -> None:
    with directory({"purposes.yaml": dump(data)}) as root:
        code, output = run("validate", str(root))
    assert code == 0, output


@st.composite
def text_mutations(draw: st.DrawFn) -> str:
    """A valid manifest, then a few insertions, deletions and duplicated lines."""
    text = dump(draw(MANIFEST))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        at = draw(st.integers(min_value=0, max_value=len(text)))
        action = draw(st.sampled_from(["insert", "delete", "duplicate"]))
        if action == "insert":
            text = text[:at] + draw(SNIPPETS) + text[at:]
        elif action == "delete":
            text = text[:at] + text[at + draw(st.integers(min_value=1, max_value=10)):]
        else:
            lines = text.splitlines(keepends=True)
            index = draw(st.integers(min_value=0, max_value=max(len(lines) - 1, 0)))
            text = "".join(lines[:index + 1] + lines[index:])
    return text


@SETTINGS
@given(text_mutations())
def test_mutated_manifest_text(text: str) -> None:
    with directory({"purposes.yaml": text}) as root:
        code, _ = run("validate", str(root))
    assert code in (0, 1)


@st.composite
def data_mutations(draw: st.DrawFn) -> Any:
    """A valid manifest with one value, key or level replaced by arbitrary JSON-like data."""
    data = draw(MANIFEST)
    node: Any = data
    path: list[Any] = []
    while isinstance(node, dict) and node and draw(st.booleans()):
        key = draw(st.sampled_from(sorted(node)))
        path.append(key)
        node = node[key]
    replacement = draw(JSONISH)
    if not path:
        return replacement if draw(st.booleans()) else {**data, draw(st.text(max_size=8)): replacement}
    parent = data
    for key in path[:-1]:
        parent = parent[key]
    if draw(st.booleans()):
        parent[path[-1]] = replacement
    else:
        parent[draw(st.text(max_size=8))] = replacement
    return data


@SETTINGS
@given(data_mutations())
def test_mutated_manifest_data(data: Any) -> None:
    with directory({"purposes.yaml": dump(data)}) as root:
        code, _ = run("validate", str(root))
    assert code in (0, 1)


@SETTINGS
@given(st.binary(max_size=200))
def test_arbitrary_bytes_as_a_manifest(content: bytes) -> None:
    with directory({"purposes.yaml": content}) as root:
        code, _ = run("validate", str(root))
    assert code in (0, 1)


# ------------------------------------------------------------- vendor answers ----

@mode("scripted")
async def _scripted(request: Request, vendor: HostileVendor) -> Response:
    """Whatever the test drew: status, headers and body, on every path."""
    status, headers, body = vendor.options["answer"]
    return Response(body, status_code=status, headers=headers)


RETRY_AFTER = st.sampled_from(["0", "1", "0.2", "-5", "999999", "nan", "inf", "soon", "",
                               "Wed, 21 Oct 2015 07:28:00 GMT", "Fri, 31 Dec 9999 23:59:59 GMT"])
RESET = st.sampled_from(["0", "1", "5", "1700000000", "99999999999999", "-1", "x", ""])
HEADERS = st.fixed_dictionaries({}, optional={
    "Retry-After": RETRY_AFTER, "X-RateLimit-Remaining": st.sampled_from(["0", "1", "-1", "x"]),
    "X-RateLimit-Reset": RESET,
    "Content-Type": st.sampled_from(["application/json", "application/vnd.api+json",
                                     "text/html", "text/plain"])})
ITEM = st.fixed_dictionaries({}, optional={
    "id": st.none() | st.integers() | st.text(max_size=5) | st.lists(st.integers(), max_size=2),
    "type": st.just("callPurpose"), "attributes": JSONISH | st.fixed_dictionaries(
        {"name": st.text(max_size=10) | st.integers(), "order": st.integers() | st.none()}),
    "name": st.text(max_size=10) | st.integers(), "ConsentPurposeId": st.integers() | st.text(max_size=3),
    "Name": st.text(max_size=10), "Key": st.text(max_size=6), "Active": st.integers(-1, 2)})
DOCUMENT = st.one_of(
    st.fixed_dictionaries({"data": st.lists(ITEM, max_size=4) | JSONISH},
                          optional={"links": st.fixed_dictionaries({}, optional={
                              "next": st.none() | st.sampled_from(["/api/v2/callPurposes",
                                                                   "http://elsewhere.invalid/x",
                                                                   "http://[::1/x", "//x:y/z"])
                              | st.text(max_size=20) | st.integers()}),
                                    "errors": JSONISH}),
    st.lists(ITEM, max_size=4), JSONISH)


@st.composite
def answers(draw: st.DrawFn) -> tuple[int, dict[str, str], bytes]:
    status = draw(st.sampled_from([200, 201, 204, 301, 400, 401, 403, 404, 409, 415, 422, 429,
                                   498, 500, 503]))
    headers = draw(HEADERS)
    body = json.dumps(draw(DOCUMENT)).encode()
    shape = draw(st.sampled_from(["json", "truncated", "bytes", "gzip", "corrupt-gzip"]))
    if shape == "truncated":
        body = body[: draw(st.integers(min_value=0, max_value=len(body)))]
    elif shape == "bytes":
        body = draw(st.binary(max_size=64))
    elif shape == "gzip":
        body, headers = gzip.compress(body), {**headers, "Content-Encoding": "gzip"}
    elif shape == "corrupt-gzip":
        body, headers = gzip.compress(body)[:-6] + b"xx", {**headers, "Content-Encoding": "gzip"}
    if status in (301,):
        headers = {**headers, "Location": draw(st.sampled_from(["/x", "http://elsewhere.invalid/"]))}
    return status, headers, body


PURPOSES = {
    "outreach": "outreach:\n  call_purposes:\n    intro: {name: Intro, order: 1}\n",
    "webex_campaign": "webex_campaign:\n  purposes:\n    marketing: {name: Marketing}\n",
    "superoffice": "superoffice:\n  consent_purposes:\n    news: {name: News, key: '#News'}\n",
}
VENDOR = st.sampled_from(sorted(PURPOSES))


@pytest.fixture(scope="module")
def server() -> Iterator[HostileVendor]:
    """One scripted vendor for all examples; each example sets its answer."""
    with HostileVendor("scripted", options={"answer": (200, {}, b"[]")}) as vendor:
        yield vendor


@settings(SETTINGS, max_examples=40)
@given(answer=answers(), vendor=VENDOR)
def test_generated_vendor_answers_plan(server: HostileVendor,
                                       answer: tuple[int, dict[str, str], bytes], vendor: str) -> None:
    server.options["answer"] = answer
    with directory({"purposes.yaml": PURPOSES[vendor]}, server.url) as root:
        run("plan", str(root))


@settings(SETTINGS, max_examples=25)
@given(answer=answers(), vendor=VENDOR)
def test_generated_vendor_answers_apply(server: HostileVendor,
                                        answer: tuple[int, dict[str, str], bytes], vendor: str) -> None:
    """Apply meets the answer on its list and on its writes (POST, PATCH, PUT)."""
    server.options["answer"] = answer
    with directory({"purposes.yaml": PURPOSES[vendor]}, server.url) as root:
        run("apply", str(root), "--auto-approve")


@pytest.fixture(scope="module")
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


@SETTINGS
@given(lock_timeout=st.text(string.printable, max_size=12),
       faults=st.text(string.printable, max_size=30))
def test_generated_options(busy_port: int, lock_timeout: str, faults: str) -> None:
    """Options that parse or not: a usage error is exit 1, never a traceback."""
    with directory({"purposes.yaml": PURPOSES["outreach"]}) as root:
        code, _ = run("state", "rm", "outreach.call_purpose.intro", str(root),
                      "--lock-timeout", lock_timeout)
        assert code == 1  # never in the state, or an invalid timeout
    code, _ = run("sandbox", "--port", str(busy_port), "--faults", faults)
    assert code == 1  # a bad --faults, or the busy port: never a server

"""Hostile cases: vendors that echo credentials in every encoding or send us elsewhere, pull
requests that try to print CI secrets, malformed credentials, libpq connection strings, and
terminal injection. Every case runs the real CLI (with --verbose, so logs are scanned too)
and then checks, whatever happened, that no credential -- nor the first 8 characters of
one, raw or encoded -- is in any stdout, stderr or file left in the project (manifests,
plan files, state, dumps), and that a second, "foreign" server received nothing.
"""

from __future__ import annotations

import html
import json
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from tests.conftest import CliResult, Project, Sandbox, run_cli
from tests.hostile_vendor import HostileVendor

# Credentials full of characters that every encoding changes (& / " < > + ' =).
TOKENS = {"outreach": 'tok&S3CR3T/"out+1<x>', "webex_campaign": "wbx&S3CR3T/'hub=2<y>",
          "superoffice": "so&S3CR3T/<so>+3\"z"}
TOKEN_VARS = {"outreach": "OUTREACH_TOKEN", "webex_campaign": "WEBEX_CAMPAIGN_TOKEN",
              "superoffice": "SUPEROFFICE_TOKEN"}
CONFIG = {
    "outreach": "  outreach:\n    base_url: ${OUTREACH_BASE_URL}\n    token: ${OUTREACH_TOKEN}\n",
    "webex_campaign": ("  webex_campaign:\n    base_url: ${WEBEX_CAMPAIGN_BASE_URL}\n"
                       "    tenant_url: ${WEBEX_CAMPAIGN_TENANT_URL}\n"
                       "    token: ${WEBEX_CAMPAIGN_TOKEN}\n"),
    "superoffice": "  superoffice:\n    base_url: ${SUPEROFFICE_BASE_URL}\n    token: ${SUPEROFFICE_TOKEN}\n",
}
MANIFEST = {
    "outreach": "outreach:\n  call_purposes:\n    intro: {name: Intro, order: 1}\n",
    "webex_campaign": "webex_campaign:\n  purposes:\n    marketing: {name: Marketing, description: M}\n",
    "superoffice": ("superoffice:\n  consent_purposes:\n    news:\n      name: News\n"
                    "      key: \"#News\"\n      consent_text: I want news\n"),
}
STATE = "state:\n  backend: local\n  path: state/default.json\n"


def forms(secret: str) -> set[str]:
    """How a credential may show: raw, trimmed, URL-, HTML-, JSON-escaped."""
    raw = {secret, secret.strip()}
    found = set(raw)
    for s in raw:
        found |= {quote(s, safe=""), quote(s), quote_plus(s), html.escape(s), html.escape(s, quote=False),
                  json.dumps(s)[1:-1]}
    return found


@dataclass
class Scan:
    """Everything the runs of one case showed or left behind, searched for credentials."""

    secrets: list[str]
    outputs: list[tuple[str, str]] = field(default_factory=list)

    def run(self, *args: str, env: dict[str, str], expect: int | tuple[int, ...]) -> CliResult:
        result = run_cli(*args, env=env)
        expected = expect if isinstance(expect, tuple) else (expect,)
        assert result.code in expected, f"{args} -> {result.code}:\n{result.text}"
        assert "Traceback" not in result.text, result.text
        self.outputs.append((" ".join(args), result.text))
        return result

    def needles(self) -> set[str]:
        """Each form in full and its first 8 characters (any longer prefix contains those)."""
        return {n for s in self.secrets for f in forms(s) for n in (f, f[:8]) if len(n) >= 4}

    def check(self, *roots: Path) -> None:
        needles = self.needles()
        for command, text in self.outputs:
            for needle in needles:
                assert needle not in text, f"`{command}` showed {needle!r}:\n{text}"
        for root in roots:
            for path in sorted(root.rglob("*")):
                if path.is_file():
                    content = path.read_bytes().decode("utf-8", "replace")
                    for needle in needles:
                        assert needle not in content, f"{path} holds {needle!r}"


@dataclass
class Case:
    """A manifest directory whose vendors are hostile servers (or the sandboxes)."""

    root: Path
    env: dict[str, str]
    scan: Scan

    def cli(self, *args: str, expect: int | tuple[int, ...] = 1,
            env: dict[str, str] | None = None) -> CliResult:
        return self.scan.run("-v", *args, env={**self.env, **(env or {})}, expect=expect)

    def plan(self, *args: str, expect: int | tuple[int, ...] = 1) -> CliResult:
        return self.cli("plan", str(self.root), *args, expect=expect)

    def check(self, *foreign: HostileVendor) -> None:
        self.scan.check(self.root)
        for server in foreign:
            assert server.requests == [], f"{server.url} was sent {server.requests}"


def hostile_case(root: Path, vendor: str, url: str, extra: str = "") -> Case:
    root.mkdir(exist_ok=True)
    (root / "reconciler.yaml").write_text(f"{STATE}providers:\n{CONFIG[vendor]}{extra}")
    (root / "p.yaml").write_text(MANIFEST[vendor])
    env = {"OUTREACH_BASE_URL": url + "/api/v2", "WEBEX_CAMPAIGN_BASE_URL": url + "/v1",
           "WEBEX_CAMPAIGN_TENANT_URL": url + "/campaignapi/resources/v3",
           "SUPEROFFICE_BASE_URL": url + "/Cust1/api/v1", **{TOKEN_VARS[v]: t for v, t in TOKENS.items()}}
    return Case(root, env, Scan(list(TOKENS.values())))


@pytest.fixture
def foreign() -> Iterator[HostileVendor]:
    """Another origin: a well-behaved server that must never hear from us."""
    with HostileVendor("ok") as server:
        yield server


def serve(mode: str, foreign: HostileVendor, **options: str) -> HostileVendor:
    vendor = HostileVendor(mode, options={"foreign": foreign.url, **options})
    return vendor


# --- 1-17: vendors that echo the credential back, in every encoding ------------------------

ECHOES = [
    ("echo_200_text", "webex_campaign", "expected a JSON"),
    ("echo_200_text", "superoffice", "expected a JSON"),
    ("echo_4xx_json", "outreach", "HTTP 400"),
    ("echo_4xx_json", "webex_campaign", "HTTP 400"),
    ("echo_4xx_json", "superoffice", "HTTP 400"),
    ("echo_4xx_text", "outreach", "HTTP 403"),
    ("echo_html", "outreach", "HTTP 400"),
    ("echo_html", "superoffice", "HTTP 400"),
    ("echo_html_json", "webex_campaign", "HTTP 400"),
    ("echo_url", "outreach", "HTTP 400"),
    ("echo_json_escaped", "outreach", "HTTP 400"),
    ("echo_json_unicode", "superoffice", "HTTP 400"),
    ("echo_utf16", "outreach", "HTTP 400"),
    ("echo_utf16", "superoffice", "HTTP 400"),
    ("echo_long", "outreach", "HTTP 400"),
    ("echo_long", "webex_campaign", "HTTP 400"),
    ("echo_long", "superoffice", "HTTP 400"),
    ("echo_long_json", "outreach", "HTTP 400"),
    ("echo_5xx", "outreach", "HTTP 503"),
]


@pytest.mark.parametrize(("mode", "vendor", "says"), ECHOES, ids=[f"{m}-{v}" for m, v, _ in ECHOES])
def test_echoed_credential_is_redacted(mode: str, vendor: str, says: str, tmp_path: Path,
                                       foreign: HostileVendor) -> None:
    extra = "    max_attempts: 2\n" if mode == "echo_5xx" else ""
    with serve(mode, foreign) as server:
        case = hostile_case(tmp_path / "m", vendor, server.url, extra)
        result = case.plan("--format", "json")
        assert says in result.err and "***" in result.err, result.err
        assert server.requests and server.requests[0].authorization, "the vendor was called"
    case.check(foreign)


@pytest.mark.parametrize("vendor", ["outreach", "webex_campaign", "superoffice"])
def test_non_json_answer_to_a_write_is_redacted(vendor: str, tmp_path: Path,
                                                foreign: HostileVendor) -> None:
    with serve("echo_200_on_write", foreign) as server:
        case = hostile_case(tmp_path / "m", vendor, server.url)
        result = case.cli("apply", str(case.root), "--auto-approve")
        assert "***" in result.err and [r for r in server.requests if r.method != "GET"], result.err
    case.check(foreign)


def test_non_json_200_from_outreach_leaks_nothing(tmp_path: Path, foreign: HostileVendor) -> None:
    with serve("echo_200_text", foreign) as server:
        case = hostile_case(tmp_path / "m", "outreach", server.url)
        case.plan()
    case.check(foreign)


# --- 18-19: a vendor-side name holding the credential or a ${VAR} template ------------------

REFUSED_FILE = "would hold a credential of this run"


def test_remote_name_holding_the_token_is_redacted_in_plan_and_refused_in_a_dump(
        tmp_path: Path, foreign: HostileVendor) -> None:
    """What people read is redacted; a file that would keep the credential is refused whole
    (issue 21: redaction never changes data), and nothing is left behind."""
    with serve("echo_in_name", foreign) as server:
        case = hostile_case(tmp_path / "m", "outreach", server.url)
        case.plan("--format", "markdown", expect=0)
        shown = case.plan("--format", "json", expect=0)
        assert "leak Bearer ***" in shown.out, shown.out
        refusal = case.cli("dump", str(case.root), "--vendor", "outreach", "--out",
                           str(case.root / "dumped.yaml"), expect=1)
        assert REFUSED_FILE in refusal.err and "dumped.yaml" in refusal.err, refusal.err
        assert not (case.root / "dumped.yaml").exists()
    case.check(foreign)


STREAMED = [("webex_campaign", ""), ("webex_campaign", "escape"), ("superoffice", ""),
            ("superoffice", "escape")]


@pytest.mark.parametrize(("vendor", "escape"), STREAMED, ids=[f"{v}-{e or 'plain'}" for v, e in STREAMED])
def test_streamed_list_holding_the_token_is_redacted(vendor: str, escape: str, tmp_path: Path,
                                                     foreign: HostileVendor) -> None:
    """Big lists are parsed item by item as they stream in; an item quoting the credential
    (even spelled as \\u escapes) is redacted in every output and refused by every file."""
    with serve("echo_in_name", foreign, escape=escape) as server:
        case = hostile_case(tmp_path / "m", vendor, server.url)
        refusal = case.cli("dump", str(case.root), "--vendor", vendor, "--out",
                           str(case.root / "d.yaml"), expect=1)
        assert REFUSED_FILE in refusal.err, refusal.err
        case.plan("--format", "json", expect=0)
    case.check(foreign)


def test_dumped_template_is_not_interpolated(tmp_path: Path, foreign: HostileVendor) -> None:
    """A vendor names a purpose `x ${OUTREACH_TOKEN} $$`: dump writes it with `$` doubled, and
    the next plan reads it back literally (no change, no token)."""
    with serve("echo_in_name", foreign, name="x ${OUTREACH_TOKEN} $$") as server:
        case = hostile_case(tmp_path / "m", "outreach", server.url)
        (case.root / "p.yaml").unlink()
        case.cli("dump", str(case.root), "--vendor", "outreach", "--out", str(case.root / "d.yaml"),
                 expect=0)
        assert "x $${OUTREACH_TOKEN} $$$$" in (case.root / "d.yaml").read_text()
        shown = case.plan("--format", "json", expect=0)
        assert '"x ${OUTREACH_TOKEN} $$"' in shown.out
    case.check(foreign)


def test_write_back_escapes_a_remote_template(project: Project) -> None:
    project.write("p.yaml", MANIFEST["outreach"])
    case = Case(project.root, project.sandbox.env(), Scan([project.sandbox.env()["OUTREACH_TOKEN"]]))
    case.cli("apply", str(case.root), "--auto-approve", expect=0)
    remote = project.sandbox.outreach_purposes()[0]
    project.sandbox.outreach("PATCH", f"/callPurposes/{remote['id']}", {"data": {
        "type": "callPurpose", "id": remote["id"], "attributes": {"name": "x ${OUTREACH_TOKEN} $$"}}})
    (case.root / "p.yaml").chmod(0o640)
    case.cli("drift", str(case.root), "--write-back", expect=(0, 2))
    assert "x $${OUTREACH_TOKEN} $$$$" in (case.root / "p.yaml").read_text()
    assert stat.S_IMODE((case.root / "p.yaml").stat().st_mode) == 0o640, "write-back keeps the mode"
    case.plan("--detailed-exitcode", expect=0)  # the manifest now says what the vendor holds
    case.check()


# --- 20-24: links and redirects to another origin ---------------------------------------

ORIGINS = [
    ("next_foreign", "outreach", "points to another origin"),
    ("next_scheme", "outreach", "points to another origin"),
    ("next_userinfo", "outreach", "points to another origin"),
    ("redirect_foreign", "outreach", "redirects are never followed"),
    ("redirect_foreign", "webex_campaign", "redirects are never followed"),
    ("redirect_foreign", "superoffice", "redirects are never followed"),
    ("redirect_same", "outreach", "redirects are never followed"),
]


@pytest.mark.parametrize(("mode", "vendor", "says"), ORIGINS, ids=[f"{m}-{v}" for m, v, _ in ORIGINS])
def test_nothing_is_sent_to_another_origin(mode: str, vendor: str, says: str, tmp_path: Path,
                                           foreign: HostileVendor) -> None:
    with serve(mode, foreign) as server:
        case = hostile_case(tmp_path / "m", vendor, server.url)
        result = case.plan()
        assert says in result.err, result.err
        assert len(server.requests) == 1, "one request; neither the link nor the redirect followed"
    case.check(foreign)


# --- 25-29: pull requests that try to print or send CI secrets ----------------------------

def sandbox_case(project: Project) -> Case:
    env = project.sandbox.env()
    return Case(project.root, env, Scan([env["OUTREACH_TOKEN"]]))


def test_undeclared_variable_in_a_manifest_is_refused(project: Project) -> None:
    project.write("p.yaml", 'outreach:\n  call_purposes:\n    x: {name: "leak ${OUTREACH_TOKEN}"}\n')
    case = sandbox_case(project)
    for command in ("validate", "plan"):
        result = case.cli(command, str(case.root))
        assert "p.yaml:3:15: ${OUTREACH_TOKEN}: not a declared variable" in result.err, result.err
    assert project.sandbox.writes() == 0
    case.check()


def test_declared_variable_holding_a_credential_is_refused(project: Project) -> None:
    project.configure(extra="variables: [TEAM]\n")
    project.write("p.yaml", 'outreach:\n  call_purposes:\n    x: {name: "team ${TEAM}"}\n')
    case = sandbox_case(project)
    result = case.cli("plan", str(case.root), env={"TEAM": case.env["OUTREACH_TOKEN"]})
    assert "p.yaml:3:15: this value holds the value of a credential" in result.err, result.err
    assert project.sandbox.writes() == 0
    case.check()


def test_credential_pasted_into_a_manifest_is_refused(project: Project) -> None:
    case = sandbox_case(project)
    project.write("p.yaml", f'outreach:\n  call_purposes:\n    x: {{name: "{case.env["OUTREACH_TOKEN"]}"}}\n')
    result = case.cli("apply", str(case.root), "--auto-approve")
    assert "holds the value of a credential" in result.err, result.err
    assert project.sandbox.writes() == 0
    (case.root / "p.yaml").unlink()  # the file the test wrote holds it, of course
    case.check()


def test_credential_in_another_setting_is_refused(tmp_path: Path, foreign: HostileVendor) -> None:
    """A base_url carrying the token (it would be logged and bound into plan files)."""
    case = hostile_case(tmp_path / "m", "outreach", foreign.url)
    (case.root / "reconciler.yaml").write_text(
        f"{STATE}providers:\n  outreach:\n    base_url: {foreign.url}/api/v2?key=${{OUTREACH_TOKEN}}\n"
        "    token: ${OUTREACH_TOKEN}\n")
    result = case.plan()
    assert "reconciler.yaml:6:15: providers.outreach.base_url: holds the value of a credential" \
        in result.err, result.err
    case.check(foreign)


def test_state_holding_a_credential_is_shown_redacted_and_never_rewritten(project: Project) -> None:
    """A state written by an older version (or by hand) that holds a credential: `state show`
    and plans print it redacted; the next apply refuses to write the state (never a redacted
    copy, whose value would differ from the vendor's forever), naming the way out."""
    project.configure(("outreach", "webex_campaign"))
    project.write("p.yaml", MANIFEST["outreach"])
    project.write("w.yaml", MANIFEST["webex_campaign"])
    case = sandbox_case(project)
    case.cli("apply", str(case.root), "--auto-approve", expect=0)
    state = case.root / "state" / "default.json"
    token = case.env["OUTREACH_TOKEN"]
    clean_state = state.read_text()
    state.write_text(clean_state.replace('"M"', f'"M {token} tail"'))
    address = "webex_campaign.purpose.marketing"
    shown = case.cli("state", "show", address, str(case.root), expect=0)
    assert "M *** tail" in shown.out, shown.out
    case.cli("plan", str(case.root), "--format", "json", expect=0)
    project.write("p.yaml", MANIFEST["outreach"].replace("order: 1", "order: 2"))
    case.cli("apply", str(case.root), "--auto-approve", expect=0)
    # Written back without it: the record differed from the remote object, which equals the
    # manifest, so the apply refreshed it to what the vendor holds (issue 24).
    assert token not in state.read_text() and '"description": "M"' in state.read_text()
    (case.root / "state" / "default.json.backup").unlink(missing_ok=True)  # the test's own
    case.check()


def test_plan_and_dump_files_are_private(project: Project, tmp_path: Path) -> None:
    project.write("p.yaml", MANIFEST["outreach"])
    case = sandbox_case(project)
    out = tmp_path / "out"
    out.mkdir()
    case.cli("plan", str(case.root), "--out", str(out / "plan.bin"), expect=0)
    case.cli("dump", str(case.root), "--vendor", "outreach", "--out", str(out / "dump.yaml"), expect=0)
    for name in ("plan.bin", "dump.yaml"):
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o600, name
    case.scan.check(out)
    case.check()


# --- 30-34: malformed credentials ---------------------------------------------------------

MALFORMED = [
    ("trailing-newline", "outreach", "tok-S3CR3T-abcdef\n", "trimming it would fix it"),
    ("spaces-around", "webex_campaign", "  wbx-S3CR3T-abcdef ", "trimming it would fix it"),
    ("carriage-return-inside", "outreach", "tok-S3CR3T\r-abcdef", "trimming would not fix it"),
    ("non-ascii", "superoffice", "so-S3CR3T-ünïcode", "non-ASCII"),
    ("newline-and-control", "outreach", "tok-S3CR3T-\x07abc\n", "trimming would not fix it"),
]


@pytest.mark.parametrize(("vendor", "token", "says"), [m[1:] for m in MALFORMED],
                         ids=[m[0] for m in MALFORMED])
def test_malformed_credential_is_a_configuration_error(vendor: str, token: str, says: str,
                                                       tmp_path: Path, foreign: HostileVendor) -> None:
    with serve("ok", foreign) as server:
        case = hostile_case(tmp_path / "m", vendor, server.url)
        case.env[TOKEN_VARS[vendor]] = token
        case.scan.secrets.append(token)
        result = case.plan()
        assert f"the credential from the environment variable {TOKEN_VARS[vendor]}" in result.err
        assert says in result.err and "the value is not shown" in result.err, result.err
        assert server.requests == [], "nothing is sent with a malformed credential"
    case.check(foreign)


# --- 35-37: PostgreSQL connection strings -------------------------------------------------

PG_PASSWORD = "pg&S3CR3T-pass/word"
CONNINFOS = [
    ("keyword-form", f"host=127.0.0.1 port=1 user=me password='{PG_PASSWORD}' dbname=x"),
    ("url-userinfo", f"postgresql://me:{quote(PG_PASSWORD, safe='')}@127.0.0.1:1/x"),
    ("url-query", f"postgresql://me@127.0.0.1:1/x?password={quote(PG_PASSWORD, safe='')}"),
    # issue 21: forms whose password libpq reads differently, or not at all
    ("url-unescaped-slash", f"postgresql://me:{PG_PASSWORD}@127.0.0.1:1/x"),
    ("url-unescaped-at", "postgresql://me:pg&S3CR3T@pass/word@127.0.0.1:1/x"),
    ("url-unparsable", f"postgresql://me:{quote(PG_PASSWORD, safe='')}@[::1/x"),
    ("url-misspelled-keyword", f"postgresql://me@127.0.0.1:1/x?passwrd={quote(PG_PASSWORD, safe='')}"),
    ("keyword-misspelled", f"host=127.0.0.1 port=1 user=me passwrd='{PG_PASSWORD}' dbname=x"),
]
PG_UNSHOWN = ("pass/word", "S3CR3T", "S3CR3T-pass", "word@127", "'pass'", "'me'")


@pytest.mark.parametrize("conninfo", [c[1] for c in CONNINFOS], ids=[c[0] for c in CONNINFOS])
def test_postgres_password_is_redacted(conninfo: str, tmp_path: Path, foreign: HostileVendor) -> None:
    case = hostile_case(tmp_path / "m", "outreach", foreign.url)
    (case.root / "reconciler.yaml").write_text(
        "state:\n  backend: postgres\n  url: ${STATE_URL}\nproviders:\n" + CONFIG["outreach"])
    case.env["STATE_URL"] = conninfo
    case.scan.secrets.append(PG_PASSWORD)
    for command in ("state", "list"), ("plan",):  # offline, and with every check
        result = case.cli(*command, str(case.root))
        assert "PostgreSQL state" in result.err or "state.url" in result.err, result.err
        for part in PG_UNSHOWN:  # no piece of it either, however libpq split it
            assert part not in result.text, result.text
    case.check(foreign)


def test_postgres_url_with_a_trailing_newline_is_named_not_shown(tmp_path: Path,
                                                                 foreign: HostileVendor) -> None:
    case = hostile_case(tmp_path / "m", "outreach", foreign.url)
    (case.root / "reconciler.yaml").write_text(
        "state:\n  backend: postgres\n  url: ${STATE_URL}\nproviders:\n" + CONFIG["outreach"])
    case.env["STATE_URL"] = CONNINFOS[0][1] + "\n"
    case.scan.secrets.append(PG_PASSWORD)
    result = case.plan()
    assert "state.url: the connection string from the environment variable STATE_URL has a " \
           "trailing newline; trimming it would fix it" in result.err, result.err
    case.check(foreign)


# --- 38-41: terminal injection ------------------------------------------------------------

ESCAPES = ("\x1b", "\x9b", "\u202e", "\x07")


def test_vendor_error_cannot_drive_the_terminal(tmp_path: Path, foreign: HostileVendor) -> None:
    with serve("echo_ansi", foreign) as server:
        case = hostile_case(tmp_path / "m", "outreach", server.url)
        result = case.plan()
        assert "Apply complete!" in result.err  # the text is kept, its escapes are not
        assert not any(e in result.err for e in ESCAPES), repr(result.err)
    case.check(foreign)


def test_file_name_cannot_drive_the_terminal(project: Project) -> None:
    project.write("\x1b[2J\x1b[32mok\u202e.yaml", "outreach:\n  call_purposes:\n    Bad Key: {}\n")
    case = sandbox_case(project)
    result = case.cli("validate", str(case.root))
    assert "invalid key" in result.err and not any(e in result.err for e in ESCAPES), repr(result.err)
    case.check()


@pytest.mark.parametrize("color", ["plain", "color"])
def test_remote_name_cannot_drive_the_terminal(color: str, project: Project) -> None:
    project.write("p.yaml", MANIFEST["outreach"])
    case = sandbox_case(project)
    case.cli("apply", str(case.root), "--auto-approve", expect=0)
    remote = project.sandbox.outreach_purposes()[0]
    project.sandbox.outreach("PATCH", f"/callPurposes/{remote['id']}", {"data": {
        "type": "callPurpose", "id": remote["id"], "attributes": {"name": "Evil\x9b2J\u202eemag"}}})
    env = {"FORCE_COLOR": "1", "NO_COLOR": ""} if color == "color" else {}
    result = case.cli("plan", str(case.root), expect=0, env=env)  # a rename: planned back
    assert "Evil2Jemag" in result.out and not any(e in result.out for e in ESCAPES[1:]), repr(result.out)
    if color == "plain":
        assert "\x1b" not in result.out
    case.check()


HOSTILE_MARKDOWN = '</details><img src=x onerror=alert(1)> `x` | a | ${{ secrets.X }}'


def test_manifest_value_cannot_break_the_pull_request_comment(project: Project) -> None:
    """A pull request's purpose name full of HTML: the Markdown plan shows it as text."""
    literal = HOSTILE_MARKDOWN.replace("$", "$$")  # `${{` is no variable: written as text
    project.write("p.yaml", f"outreach:\n  call_purposes:\n    x: {{name: '{literal}'}}\n")
    case = sandbox_case(project)
    result = case.cli("plan", str(case.root), "--format", "markdown", expect=0)
    assert "&lt;img" in result.out and "<img" not in result.out, result.out
    assert result.out.count("</details>") == result.out.count("<details>"), result.out
    case.check()


def test_recorded_remote_id_cannot_drive_the_terminal(project: Project) -> None:
    """Remote ids are the vendor's text: `state list` prints them without their escapes."""
    project.write("p.yaml", MANIFEST["outreach"])
    case = sandbox_case(project)
    case.cli("apply", str(case.root), "--auto-approve", expect=0)
    state = case.root / "state" / "default.json"
    state.write_text(state.read_text().replace('"remote_id": "1"', '"remote_id": "1\\u001b[2J\\u202e"'))
    listed = case.cli("state", "list", str(case.root), expect=0)
    assert "outreach.call_purpose.intro\t1\n" in listed.out, repr(listed.out)
    assert not any(e in listed.text for e in ESCAPES), repr(listed.text)
    case.check()


def test_remote_value_cannot_break_the_drift_comment(project: Project) -> None:
    """A vendor-side rename full of HTML, reported by `drift --format markdown` (a scheduled
    job may post it as an issue)."""
    project.write("p.yaml", MANIFEST["outreach"])
    case = sandbox_case(project)
    case.cli("apply", str(case.root), "--auto-approve", expect=0)
    remote = project.sandbox.outreach_purposes()[0]
    project.sandbox.outreach("PATCH", f"/callPurposes/{remote['id']}", {"data": {
        "type": "callPurpose", "id": remote["id"], "attributes": {"name": HOSTILE_MARKDOWN}}})
    result = case.cli("drift", str(case.root), "--format", "markdown", expect=2)
    assert "&lt;img" in result.out and "<img" not in result.out, result.out
    assert result.out.count("</details>") == result.out.count("<details>"), result.out
    case.check()


# --- the sandbox on other interfaces ------------------------------------------------

def test_sandbox_refuses_a_non_loopback_host() -> None:
    result = run_cli("sandbox", "--host", "0.0.0.0", "--port", "1")
    assert result.code == 1 and "--host 0.0.0.0: not a loopback address" in result.err
    assert "--allow-remote" in result.err and "sandbox-" not in result.out, result.text


def test_sandbox_allow_remote_lifts_only_the_loopback_check(foreign: HostileVendor) -> None:
    port = foreign.url.rsplit(":", 1)[1]  # taken: the command stops right after the check
    result = run_cli("sandbox", "--host", "0.0.0.0", "--allow-remote", "--port", port)
    assert result.code == 1 and "not a loopback address" not in result.err, result.text
    assert f"cannot listen on 0.0.0.0:{port}" in result.err, result.text


def test_the_catalogue_holds_at_least_thirty_cases() -> None:
    """Each parameter of a parametrized test is one case; this test is not one."""
    cases = 0
    for name, function in globals().items():
        if name.startswith("test_") and name != "test_the_catalogue_holds_at_least_thirty_cases":
            marks = [m for m in getattr(function, "pytestmark", []) if m.name == "parametrize"]
            cases += len(marks[0].args[1]) if marks else 1
    assert cases >= 30, cases


# --- issue 21: redaction never changes data ------------------------------------------------

def test_a_name_beginning_like_the_token_converges_in_one_apply(tmp_path: Path,
                                                                 sandbox: Sandbox) -> None:
    """`sandbox-team purpose` under the sandbox's `sandbox-outreach-token`, in a manifest
    directory whose path begins like the token too: stored as written, the second plan is
    empty, and a saved plan stays applicable (its file is never rewritten)."""
    root = tmp_path / "sandbox-outreach-team" / "manifests"
    root.mkdir(parents=True)
    project = Project(root, sandbox)
    project.configure()
    name = "sandbox-team purpose"
    project.write("p.yaml", f"outreach:\n  call_purposes:\n    team: {{name: {name}, order: 1}}\n"
                            f"    outreach: {{name: sandbox-outreach purpose, order: 2}}\n")
    saved = tmp_path / "sandbox-outreach.plan"
    planned = project.plan("--out", str(saved))
    assert planned.code == 2, planned.text
    applied = project.cli("apply", str(saved))
    assert applied.code == 0, applied.text
    names = {r["attributes"]["name"] for r in project.state()["resources"].values()}
    assert names == {name, "sandbox-outreach purpose"}, names
    again = project.plan()
    assert again.code == 0, again.text
    assert "***" not in again.text


@pytest.mark.parametrize(("text", "shown"), [
    ("sandbox-team purpose", "sandbox-team purpose"),  # shares 8 characters: an ordinary word
    ("sandbox-outreach purpose", "sandbox-outreach purpose"),
    ("token sandbox-outreach-token here", "token *** here"),
    ("quoted sandbox-outreach-to", "quoted ***"),  # cut short where the text ends
    ("'sandbox-outreach-tok...'\nnext line", "'***...'\nnext line"),  # cut, then closed
    ("said sandbox-outreach-tok)", "said ***)"),
    ("sandbox-outreach-token%20x", "***%20x"),
    ("pre sandbox%2Doutreach-token", "pre sandbox%2Doutreach-token"),  # not an encoding of it
])
def test_display_redaction_matches_credentials_and_their_cuts_only(text: str, shown: str) -> None:
    from reconciler.redact import Redactor

    assert Redactor(["sandbox-outreach-token"])(text) == shown


def test_files_refuse_whole_credentials_only() -> None:
    from reconciler.redact import Redactor

    redactor = Redactor(['tok&S3CR3T/"out+1<x>'])
    assert redactor.holds('{"name": "tok&amp;S3CR3T/&quot;out+1&lt;x&gt;"}')
    assert redactor.holds("x tok%26S3CR3T%2F%22out%2B1%3Cx%3E")
    assert not redactor.holds("tok&S3CR3T team")  # begins like it: data, kept as written
    assert not redactor.holds("tok&S3CR3T/")


def test_our_cuts_redact_first() -> None:
    from reconciler.redact import REDACT, register, shorten

    register(["cut-me-secret-value-123"])
    try:
        text = "x" * 110 + "cut-me-secret-value-123" + "y" * 40
        assert "cut-me-s" not in shorten(text, 120)
        assert shorten(text, 120).startswith("x" * 110 + "***")
    finally:
        REDACT.secrets.discard("cut-me-secret-value-123")


def test_plan_file_that_would_hold_a_credential_is_refused(tmp_path: Path,
                                                           foreign: HostileVendor) -> None:
    """An unmanaged remote object quoting the token: the plan is shown redacted, the plan
    file is refused whole (never written redacted, which no apply could then verify)."""
    with serve("echo_in_name", foreign) as server:
        case = hostile_case(tmp_path / "m", "outreach", server.url)
        out = case.root / "saved.plan"
        refusal = case.plan("--out", str(out), expect=1)
        assert REFUSED_FILE in refusal.err and "saved.plan" in refusal.err, refusal.err
        assert not out.exists()
    case.check(foreign)


def test_json_output_escapes_c1_and_bidi_characters(tmp_path: Path, foreign: HostileVendor) -> None:
    """`--format json` prints U+202E, U+200B and U+009B as \\uXXXX (the same JSON): a
    terminal shows them instead of obeying them."""
    name = "evil\u202eexe.txt\u200b\x9b31m"
    with serve("echo_in_name", foreign, name=name) as server:
        case = hostile_case(tmp_path / "m", "outreach", server.url)
        shown = case.plan("--format", "json", expect=0)
    assert not any(c in shown.out for c in "\u202e\u200b\x9b"), ascii(shown.out)
    assert "evil\\u202eexe.txt\\u200b\\u009b31m" in shown.out, shown.out
    assert name in json.dumps(json.loads(shown.out), ensure_ascii=False)
    case.check(foreign)

"""The hostile-input catalogue (issue 14): whatever a vendor answers, whatever the files,
YAML, options or PostgreSQL do, the command ends within its bound with exit 1 (or 3), one
clear message saying what to do, and never a traceback.

Every case runs the real CLI as a process of its own (forked from a preloaded server,
tests/forked.py: no interpreter start per case); the process's timeout is the bound (a hang
is killed and fails the case with TimeoutExpired, no timing assertion). Vendors are `tests/hostile_vendor.py`
on loopback, PostgreSQL is the real server of the `postgres_url` fixture.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest

from reconciler.providers.sandboxes import RunningSandbox, SandboxSettings
from reconciler.sandbox.common import Faults
from reconciler.state.postgres import lock_key
from tests import forked
from tests.conftest import REPO, CliResult
from tests.hostile_vendor import HostileVendor

BOUND_S = 30  # every case finishes well within this (a case that hangs fails here)
TOKENS = {"OUTREACH_TOKEN": "hostile-outreach-token", "WEBEX_CAMPAIGN_TOKEN": "hostile-webex-key",
          "SUPEROFFICE_TOKEN": "hostile-superoffice-token"}
PURPOSES = {
    "outreach": "outreach:\n  call_purposes:\n    intro: {name: Intro, order: 1}\n",
    "webex_campaign": "webex_campaign:\n  purposes:\n    marketing: {name: Marketing, group: DEFAULT}\n",
    "superoffice": "superoffice:\n  consent_purposes:\n    news: {name: News, key: '#News'}\n",
}


def cli(*args: str, env: dict[str, str] | None = None, bound: float = BOUND_S) -> CliResult:
    """The CLI in a process of its own, killed past `bound` seconds (TimeoutExpired fails the
    case)."""
    full = {k: v for k, v in os.environ.items()
            if not k.startswith(("OUTREACH_", "WEBEX_", "SUPEROFFICE_"))}
    full.update({"NO_COLOR": "1", "COLUMNS": "200", **TOKENS, **(env or {})})
    proc = forked.run([sys.executable, "-m", "reconciler", *args], capture_output=True,
                      text=True, env=full, cwd=REPO, timeout=bound)
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def refused(result: CliResult, *needles: str, codes: tuple[int, ...] = (1,)) -> None:
    """Exit 1 (or 3), no traceback, not reported as a bug, and the right message."""
    assert result.code in codes, result.text
    assert "Traceback" not in result.text, result.text
    assert "internal error" not in result.text, result.text
    for needle in needles:
        assert needle in result.text, result.text


def config(vendors: dict[str, str], state: str = "", extra: str = "") -> str:
    """reconciler.yaml pointing each vendor at a URL, with `extra` settings for each."""
    blocks = {
        "outreach": "  outreach:\n    base_url: {url}/api/v2\n    token: ${{OUTREACH_TOKEN}}\n",
        "webex_campaign": ("  webex_campaign:\n    base_url: {url}/webex/v1\n"
                           "    tenant_url: {url}/tenant/v3\n    token: ${{WEBEX_CAMPAIGN_TOKEN}}\n"),
        "superoffice": ("  superoffice:\n    base_url: {url}/so/api/v1\n"
                        "    token: ${{SUPEROFFICE_TOKEN}}\n"),
    }
    state = state or "state:\n  backend: local\n  path: state/default.json\n"
    body = "".join(blocks[v].format(url=url) + textwrap.indent(extra, "    ")
                   for v, url in vendors.items())
    return f"{state}providers:\n{body}"


def manifests(root: Path, vendors: dict[str, str], state: str = "", extra: str = "") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "reconciler.yaml").write_text(config(vendors, state, extra))
    for vendor in vendors:
        (root / f"{vendor}.yaml").write_text(PURPOSES[vendor])
    return root


# ------------------------------------------------------------- vendor answers ----

@dataclass
class Answer:
    id: str
    mode: str
    message: tuple[str, ...]
    vendor: str = "outreach"
    options: dict[str, Any] = field(default_factory=dict)
    settings: str = ""
    deadline_s: int = 3  # the slow bodies' 1 s: their whole answer takes a minute


LIMITS = "request_deadline_s: {deadline}\nmax_retry_wait_s: 5\n"
ANSWERS = [
    Answer("html-200", "html_200", ("expected a JSON object", "Maintenance")),
    Answer("invalid-json", "invalid_json", ("expected a JSON object",)),
    Answer("array-for-object", "array_for_object", ("expected a JSON object",)),
    Answer("data-as-object", "data_object", ("expected data to be a list",)),
    Answer("item-without-id", "item_without_id", ("with an id",)),
    Answer("corrupt-gzip", "corrupt_gzip", ("compressed body is corrupt",)),
    Answer("next-same-page", "next_same", ("pagination loops", "outreach's answer is refused")),
    Answer("next-same-cursor", "next_cursor_loop", ("pagination loops", "answer is refused")),
    Answer("next-not-a-url", "next_invalid", ("not a valid URL",)),
    Answer("endless-pages", "next_endless", ("more than 40 items", "max_list_items"),
           settings="max_list_items: 40\n"),
    Answer("webex-endless-list", "huge_body", ("more than 1,000 items", "max_list_items"),
           vendor="webex_campaign", options={"size_mb": 20}, settings="max_list_items: 1000\n"),
    Answer("retry-after-huge", "retry_after_huge", ("999999 s", "retry budget", "max_retry_wait_s")),
    Answer("retry-after-announced", "retry_after_huge", ("waiting 5 s", "slow down"),
           options={"wait_s": 5}, settings="max_attempts: 2\n"),
    Answer("retry-after-http-date", "retry_after_date", ("the vendor asks to wait", "retry budget"),
           options={"wait_s": 3600}),
    Answer("reset-epoch-ms", "reset_ms", ("asks to wait 600 s", "retry budget", "max_retry_wait_s")),
    Answer("one-byte-per-second", "slow_body", ("no complete answer within 1 s", "request_deadline_s"),
           deadline_s=1),
    Answer("huge-body", "huge_body", ("larger than 16 MB", "max_response_mb"), options={"size_mb": 40}),
    Answer("huge-error-body", "huge_error", ("larger than 16 MB", "max_response_mb"),
           options={"size_mb": 40}),
    Answer("small-cap", "huge_body", ("larger than 1 MB", "max_response_mb"),
           options={"size_mb": 3}, settings="max_response_mb: 1\n"),
    Answer("webex-html-200", "html_200", ("expected a JSON array",), vendor="webex_campaign"),
    Answer("webex-object-for-array", "array_for_object", ("expected a JSON array",),
           vendor="webex_campaign"),
    Answer("webex-corrupt-gzip", "corrupt_gzip", ("compressed body is corrupt",),
           vendor="webex_campaign"),
    Answer("webex-one-byte-per-second", "slow_body", ("no complete answer within 1 s",),
           vendor="webex_campaign", deadline_s=1),
    Answer("webex-retry-after-huge", "retry_after_huge", ("retry budget", "max_retry_wait_s"),
           vendor="webex_campaign"),
    Answer("superoffice-invalid-json", "invalid_json", ("expected a JSON array",),
           vendor="superoffice"),
    Answer("superoffice-html-200", "html_200", ("expected a JSON array",), vendor="superoffice"),
    Answer("superoffice-corrupt-gzip", "corrupt_gzip", ("compressed body is corrupt",),
           vendor="superoffice"),
]


@pytest.mark.parametrize("case", ANSWERS, ids=[a.id for a in ANSWERS])
def test_vendor_answer(case: Answer, tmp_path: Path) -> None:
    with HostileVendor(case.mode, options=dict(case.options)) as vendor:
        root = manifests(tmp_path / "m", {case.vendor: vendor.url}, extra=LIMITS.format(deadline=case.deadline_s) + case.settings)
        result = cli("plan", str(root))
    refused(result, *case.message)
    assert "hostile-" not in result.text  # no credential in any message


def test_vendor_unreachable(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        root = manifests(tmp_path / "m", {"outreach": f"http://127.0.0.1:{port}"},
                         extra="max_attempts: 3\n")
        refused(cli("plan", str(root)), "cannot connect", "gave up after 3 attempts")


def test_reset_in_epoch_ms_is_not_a_120_s_stall(tmp_path: Path) -> None:
    """The rate-limit reset in milliseconds a second ahead: a second's wait, said as a wait."""
    with HostileVendor("reset_ms", options={"wait_s": 1}) as vendor:
        root = manifests(tmp_path / "m", {"outreach": vendor.url},
                         extra="max_attempts: 2\nmax_retry_wait_s: 20\n")
        result = cli("plan", str(root), bound=15)  # the old reading waited 120 s per try
    refused(result, "rate limit", "HTTP 429")
    assert len(vendor.requests) == 2


@pytest.mark.parametrize("url", ["http://[::1", "https://host:port/api"], ids=["ipv6", "port"])
def test_base_url_that_is_not_a_url(url: str, tmp_path: Path) -> None:
    root = manifests(tmp_path / "m", {"outreach": "x"})
    (root / "reconciler.yaml").write_text(config({"outreach": url}).replace(url + "/api/v2", url))
    refused(cli("plan", str(root)), "reconciler.yaml:", "not a valid URL")


def test_state_url_that_is_not_a_url(tmp_path: Path) -> None:
    state = "state:\n  backend: postgres\n  url: 'postgresql://[::1'\n"
    root = manifests(tmp_path / "m", {"outreach": "http://127.0.0.1:9"}, state=state)
    refused(cli("state", "list", str(root)), "cannot connect to the PostgreSQL state")


# ----------------------------------------------------------------------- files ----

def _outreach_dir(tmp_path: Path, url: str = "http://127.0.0.1:9") -> Path:
    return manifests(tmp_path / "m", {"outreach": url})


def test_manifest_fifo_is_not_read(tmp_path: Path) -> None:
    root = _outreach_dir(tmp_path)
    os.mkfifo(root / "x.yaml")
    refused(cli("validate", str(root), bound=15), "x.yaml", "not a regular file")


def test_manifest_symlink_to_dev_zero(tmp_path: Path) -> None:
    root = _outreach_dir(tmp_path)
    (root / "zero.yaml").symlink_to("/dev/zero")
    refused(cli("validate", str(root), bound=15), "zero.yaml", "a symlink to /dev/zero, outside")


def test_manifest_dangling_symlink(tmp_path: Path) -> None:
    root = _outreach_dir(tmp_path)
    (root / "gone.yaml").symlink_to(root / "nowhere.yaml")
    refused(cli("validate", str(root)), "gone.yaml", "broken")


def test_config_file_is_a_fifo(tmp_path: Path) -> None:
    root = tmp_path / "m"
    root.mkdir()
    os.mkfifo(root / "reconciler.yaml")
    refused(cli("validate", str(root), bound=15), "reconciler.yaml", "not a regular file")


def test_local_state_is_a_fifo(tmp_path: Path) -> None:
    root = _outreach_dir(tmp_path)
    (root / "state").mkdir()
    os.mkfifo(root / "state" / "default.json")
    refused(cli("state", "list", str(root), bound=15), "default.json", "not a regular file")


@pytest.fixture
def ok_vendor() -> Iterator[HostileVendor]:
    with HostileVendor("ok") as vendor:
        yield vendor


def test_plan_out_onto_a_directory(tmp_path: Path, ok_vendor: HostileVendor) -> None:
    root = _outreach_dir(tmp_path, ok_vendor.url)
    (tmp_path / "dir").mkdir()
    refused(cli("plan", str(root), "--out", str(tmp_path / "dir")), "directory")


@pytest.mark.skipif(os.geteuid() != 0, reason="making a device node needs root")
def test_plan_out_onto_a_device_leaves_it_a_device(tmp_path: Path, ok_vendor: HostileVendor) -> None:
    """A rename over /dev/full would replace the device with a file: refused beforehand."""
    device = tmp_path / "full"
    os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 7))
    root = _outreach_dir(tmp_path, ok_vendor.url)
    refused(cli("plan", str(root), "--out", str(device)), "not a regular file")
    assert stat.S_ISCHR(os.stat(device).st_mode)


@pytest.mark.parametrize(("target", "message"), [
    ("afile/dump.yaml", "not a folder"),  # a missing folder is made (one rule for --out)
    ("dir", "directory"),
    ("/dev/full", "no space left"),
], ids=["file-as-folder", "directory", "dev-full"])
def test_dump_out(target: str, message: str, tmp_path: Path, ok_vendor: HostileVendor) -> None:
    root = _outreach_dir(tmp_path, ok_vendor.url)
    (tmp_path / "dir").mkdir()
    (tmp_path / "afile").write_text("")
    out = target if target.startswith("/") else str(tmp_path / target)
    refused(cli("dump", str(root), "--vendor", "outreach", "--out", out), "the dump", message)


def test_schema_out_dev_full() -> None:
    refused(cli("schema", "--out", "/dev/full"), "/dev/full", "no space left")


@contextlib.contextmanager
def mounted(path: Path, options: str) -> Iterator[None]:
    """A small tmpfs at `path` (read-only or tiny): a real full or read-only file system."""
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                          capture_output=True)
    if done.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root in a mount namespace)")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_read_only_state_folder(tmp_path: Path, ok_vendor: HostileVendor) -> None:
    root = _outreach_dir(tmp_path, ok_vendor.url)
    with mounted(root / "state", "size=64k,ro"):
        refused(cli("apply", str(root), "--auto-approve"), "read-only", "nothing was changed")


def test_disk_full_during_apply(tmp_path: Path) -> None:
    with RunningSandbox(SandboxSettings(data_dir=tmp_path / "data",
                                        superoffice_builtins=False)) as sandbox:
        root = manifests(tmp_path / "m", {"outreach": sandbox.url + "/outreach"})
        long = "y" * 200
        (root / "outreach.yaml").write_text("outreach:\n  call_purposes:\n" + "".join(
            f"    p{i}: {{name: P{i} {long}}}\n" for i in range(150)))
        with mounted(root / "state", "size=16k"):
            result = cli("apply", str(root), "--auto-approve", env={
                "OUTREACH_TOKEN": sandbox.overrides["outreach"]["token"]}, bound=60)
    refused(result, "no space left")


# ------------------------------------------------------------------------ YAML ----

def _bomb(levels: int) -> str:
    lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x"]']
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


YAMLS = [
    ("alias-bomb-9-levels", _bomb(9), ("p.yaml:", "aliases expand to too many values")),
    ("alias-bomb-7-levels", _bomb(7), ("aliases expand to too many values",)),
    ("recursive-alias", "a: &a [1, *a]\n", ("refers to the mapping or list that contains it",)),
    ("500-nested-brackets", "x: " + "[" * 500 + "]" * 500 + "\n", ("p.yaml:1:", "nested deeper")),
    ("50000-nested-brackets", "x: " + "[" * 50000 + "]" * 50000 + "\n", ("nested deeper",)),
    ("30000-nested-dashes", "x:\n" + "- " * 30000 + "a\n", ("nested deeper",)),
    ("float-abc", "outreach: {call_purposes: {a: {name: x, order: !!float abc}}}\n",
     ("p.yaml:1:", "'abc' is not a valid float")),
    ("int-abc", "outreach: {call_purposes: {a: {name: x, order: !!int 12abc}}}\n",
     ("'12abc' is not a valid int",)),
    ("bool-maybe", "outreach: {call_purposes: {a: {name: x, prevent_destroy: !!bool maybe}}}\n",
     ("'maybe' is not a valid bool",)),
    ("null-something", "outreach: {call_purposes: {a: {name: x, order: !!null zero}}}\n",
     ("'zero' is not a valid null",)),
    ("nul-character", 'outreach: {call_purposes: {a: {name: "x\\0y"}}}\n', ("NUL character",)),
    ("tab-indent", "outreach:\n\tcall_purposes: {}\n", ("tab",)),
]


@pytest.mark.parametrize(("text", "message"), [(t, m) for _, t, m in YAMLS],
                         ids=[i for i, _, _ in YAMLS])
def test_yaml(text: str, message: tuple[str, ...], tmp_path: Path) -> None:
    root = _outreach_dir(tmp_path)
    (root / "outreach.yaml").unlink()
    (root / "p.yaml").write_text(text)
    refused(cli("validate", str(root), bound=20), *message)


def test_binary_int_is_a_number(tmp_path: Path) -> None:
    """`!!int 0b101` is 5 (it used to be a ValueError traceback)."""
    root = _outreach_dir(tmp_path)
    (root / "outreach.yaml").write_text(
        "outreach: {call_purposes: {a: {name: x, order: !!int 0b101}}}\n")
    result = cli("validate", str(root))
    assert result.code == 0, result.text


def test_many_errors_are_located_in_linear_time(tmp_path: Path) -> None:
    """2,000 purposes with two errors each: locating them re-parsed the file per error
    (quadratic: minutes); one parse per file makes it seconds."""
    root = _outreach_dir(tmp_path)
    (root / "outreach.yaml").write_text("outreach:\n  call_purposes:\n" + "".join(
        f"    p{i}:\n      name: P{i}\n      order: first\n      colour: red\n"
        for i in range(2000)))
    result = cli("validate", str(root), bound=30)
    refused(result, "outreach.yaml:6:7: call_purposes.p0.colour: unknown field 'colour'",
            "outreach.yaml:5:14", "... and 3950 more problem(s)")
    assert result.text.count("outreach.yaml:") == 50  # the first 50 of 4,000 (issue 24)


# --------------------------------------------------------------------- options ----

OPTIONS = [
    ("lock-timeout-nan", ("apply", "{dir}", "--lock-timeout", "nan"), ("--lock-timeout", "nan")),
    ("lock-timeout-negative", ("apply", "{dir}", "--lock-timeout", "-5"), ("-5",)),
    ("lock-timeout-inf", ("state", "rm", "x.y.z", "{dir}", "--lock-timeout", "inf"), ("inf",)),
    ("lock-timeout-text", ("apply", "{dir}", "--lock-timeout", "soon"), ("--lock-timeout",)),
    ("faults-not-a-number", ("sandbox", "--faults", "429=abc"), ("'abc' is not a number",)),
    ("faults-not-a-probability", ("sandbox", "--faults", "429=7"), ("probability from 0 to 1",)),
    ("faults-unknown", ("sandbox", "--faults", "boom=1"), ("unknown fault",)),
    ("port-out-of-range", ("sandbox", "--port", "70000"), ("--port",)),
    ("unknown-option", ("plan", "{dir}", "--colour"), ("No such option",)),
    ("unknown-format", ("plan", "{dir}", "--format", "xml"), ("--format",)),
]


@pytest.mark.parametrize(("args", "message"), [(a, m) for _, a, m in OPTIONS],
                         ids=[i for i, _, _ in OPTIONS])
def test_option(args: tuple[str, ...], message: tuple[str, ...], tmp_path: Path) -> None:
    root = _outreach_dir(tmp_path)
    refused(cli(*(a.format(dir=root) for a in args)), *message)


def test_sandbox_on_a_busy_port() -> None:
    """Refused before printing any URL, with exit 1 (not 3, the safety-rail code)."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = cli("sandbox", "--port", str(port), bound=15)
    refused(result, f"cannot listen on 127.0.0.1:{port}", "--port")
    assert "base_url" not in result.out


# ------------------------------------------------------------------ PostgreSQL ----

def _admin(url: str, *statements: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for sql in statements:
            conn.execute(sql)  # type: ignore[arg-type]


def _with(url: str, user: str | None = None, database: str | None = None) -> str:
    base, _, _ = url.rpartition("/")
    if user:
        base = base.replace("postgres@", f"{user}@")
    return f"{base}/{database or url.rpartition('/')[2]}"


@pytest.fixture
def fresh_db(postgres_url: str) -> Iterator[str]:
    """A database of its own (the schema missing), as the superuser."""
    name = "h" + uuid.uuid4().hex[:12]
    _admin(postgres_url, f"CREATE DATABASE {name}")
    yield _with(postgres_url, database=name)
    _admin(postgres_url, f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture
def pg_sandbox(tmp_path: Path) -> Iterator[RunningSandbox]:
    with RunningSandbox(SandboxSettings(data_dir=tmp_path / "data",
                                        superoffice_builtins=False)) as running:
        yield running


def _pg_project(tmp_path: Path, sandbox: RunningSandbox, url: str, workspace: str = "prod",
                name: str = "m") -> tuple[Path, dict[str, str]]:
    state = f"state:\n  backend: postgres\n  url: {url}\n  workspace: {workspace}\n"
    root = manifests(tmp_path / name, {"outreach": sandbox.url + "/outreach"}, state=state)
    return root, {"OUTREACH_TOKEN": sandbox.overrides["outreach"]["token"]}


def _role(admin_url: str, grants: str) -> str:
    """A login role with only `grants` (run in the database of `admin_url`)."""
    role = "r" + uuid.uuid4().hex[:10]
    _admin(admin_url, f"CREATE ROLE {role} LOGIN", "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
           *(g.format(role=role) for g in grants.split(";") if g))
    return role


TABLES = "reconciler_state, reconciler_journal, reconciler_lock"


def test_read_only_role_plans_drifts_and_lists(tmp_path: Path, fresh_db: str,
                                              pg_sandbox: RunningSandbox) -> None:
    root, env = _pg_project(tmp_path, pg_sandbox, fresh_db)
    assert cli("apply", str(root), "--auto-approve", env=env).code == 0
    role = _role(fresh_db, f"GRANT SELECT ON {TABLES} TO {{role}}")
    ro_root, _ = _pg_project(tmp_path, pg_sandbox, _with(fresh_db, user=role), name="ro")
    for args in (("plan", str(ro_root)), ("drift", str(ro_root)), ("state", "list", str(ro_root))):
        result = cli(*args, env=env)
        assert result.code == 0, result.text
    assert "outreach.call_purpose.intro" in result.out
    (ro_root / "outreach.yaml").write_text(PURPOSES["outreach"].replace("order: 1", "order: 2"))
    refused(cli("apply", str(ro_root), "--auto-approve", env=env),
            "permission denied", "the role needs SELECT, INSERT, UPDATE and DELETE")


def test_role_without_select(tmp_path: Path, fresh_db: str, pg_sandbox: RunningSandbox) -> None:
    root, env = _pg_project(tmp_path, pg_sandbox, fresh_db)
    assert cli("apply", str(root), "--auto-approve", env=env).code == 0
    role = _role(fresh_db, "")
    ro_root, _ = _pg_project(tmp_path, pg_sandbox, _with(fresh_db, user=role), name="ro")
    refused(cli("state", "list", str(ro_root), env=env), "permission denied",
            "the role needs SELECT on reconciler_state")


def test_read_only_role_on_an_empty_database(tmp_path: Path, fresh_db: str,
                                             pg_sandbox: RunningSandbox) -> None:
    """No tables yet: readers see an empty state (no DDL); a writer names CREATE."""
    role = _role(fresh_db, "")
    root, env = _pg_project(tmp_path, pg_sandbox, _with(fresh_db, user=role))
    listed = cli("state", "list", str(root), env=env)
    assert listed.code == 0 and listed.out == "", listed.text
    refused(cli("apply", str(root), "--auto-approve", env=env), "creating the state tables",
            "CREATE on the schema")


def test_workspace_named_schema_never_blocks_schema_creation(
        tmp_path: Path, fresh_db: str, pg_sandbox: RunningSandbox) -> None:
    """Another session holds workspace 'schema''s lock while a first run creates the tables:
    with one key space for both, the run waited forever, whatever --lock-timeout said."""
    with psycopg.connect(fresh_db, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s, %s)", lock_key("schema"))
        root, env = _pg_project(tmp_path, pg_sandbox, fresh_db, workspace="other")
        result = cli("apply", str(root), "--auto-approve", "--lock-timeout", "1", env=env)
    assert result.code == 0, result.text


def test_lock_timeout_is_honoured(tmp_path: Path, fresh_db: str, pg_sandbox: RunningSandbox) -> None:
    root, env = _pg_project(tmp_path, pg_sandbox, fresh_db, workspace="schema")
    assert cli("apply", str(root), "--auto-approve", env=env).code == 0
    with psycopg.connect(fresh_db, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s, %s)", lock_key("schema"))
        result = cli("state", "rm", "outreach.call_purpose.intro", str(root), "--lock-timeout", "2",
                     env=env, bound=20)
    refused(result, "is locked")


def test_nul_from_a_vendor_reaches_postgres(tmp_path: Path, fresh_db: str,
                                            pg_sandbox: RunningSandbox) -> None:
    """A vendor renames a purpose to a name holding NUL; recording it is refused clearly."""
    root, env = _pg_project(tmp_path, pg_sandbox, fresh_db)
    assert cli("apply", str(root), "--auto-approve", env=env).code == 0
    outreach = pg_sandbox.overrides["outreach"]
    import httpx

    headers = {"Authorization": f"Bearer {outreach['token']}",
               "Content-Type": "application/vnd.api+json"}
    listed = httpx.get(outreach["base_url"] + "/callPurposes", headers=headers).json()
    remote_id = listed["data"][0]["id"]
    patched = httpx.patch(f"{outreach['base_url']}/callPurposes/{remote_id}", headers=headers, json={
        "data": {"type": "callPurpose", "id": remote_id, "attributes": {"name": "In\u0000tro"}}})
    assert patched.status_code == 200, patched.text
    refused(cli("drift", str(root), "--accept", env=env), "cannot store", "NUL")


def test_server_ends_the_session_holding_the_lock(tmp_path: Path, fresh_db: str) -> None:
    """pg_terminate_backend on every reconciler session mid-apply (AdminShutdown)."""
    faults = Faults(latency_ms=1500)
    with RunningSandbox(SandboxSettings(data_dir=tmp_path / "data", faults=faults,
                                        superoffice_builtins=False)) as sandbox:
        root, env = _pg_project(tmp_path, sandbox, fresh_db)
        full = {k: v for k, v in os.environ.items() if not k.startswith("OUTREACH_")}
        proc = forked.Popen([sys.executable, "-m", "reconciler", "apply", str(root),
                             "--auto-approve"], env={**full, "NO_COLOR": "1", **env},
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            _terminate_lock_holder(fresh_db, lock_key("prod"))
            out, err = proc.communicate(timeout=BOUND_S)
        finally:
            proc.kill()
    refused(CliResult(proc.returncode, out, err), "connection was lost", "Run the command again")


def _terminate_lock_holder(url: str, key: tuple[int, int]) -> None:
    deadline = time.monotonic() + BOUND_S
    with psycopg.connect(url, autocommit=True) as admin:
        while time.monotonic() < deadline:
            rows = admin.execute(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2 "
                "AND classid::bigint = %s AND objid::bigint = %s AND granted", key).fetchall()
            if rows:
                for (pid,) in rows:
                    admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
                return
            time.sleep(0.05)
    raise AssertionError("the apply never took its lock")


def test_postgres_unreachable(tmp_path: Path, pg_sandbox: RunningSandbox) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"postgresql://nobody@127.0.0.1:{sock.getsockname()[1]}/none"
        root, env = _pg_project(tmp_path, pg_sandbox, url)
        refused(cli("state", "list", str(root), env=env), "cannot connect to the PostgreSQL state")


# ------------------------------------------------------------- the last resort ----

def test_a_bug_is_one_line_and_its_trace_is_behind_verbose(capsys: pytest.CaptureFixture[str]) -> None:
    """What no handler expects (a bug) is said in one line, exit 1; --verbose adds the trace."""
    import typer

    from reconciler.cli.app import VERBOSE, handled

    @handled
    def broken() -> None:
        raise KeyError("secret-looking-value")

    with pytest.raises(typer.Exit) as ended:
        broken()
    assert ended.value.exit_code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "internal error (KeyError at " in err and "this is a bug" in err and "--verbose" in err
    assert "Traceback" not in err and "secret-looking-value" not in err
    VERBOSE.enabled = True
    try:
        with pytest.raises(typer.Exit):
            broken()
    finally:
        VERBOSE.enabled = False
    assert "Traceback" in capsys.readouterr().err


# ------------------------------------------- ids and write answers (issue 21) ----

def inproc(*args: str, env: dict[str, str] | None = None) -> CliResult:
    """The CLI in-process (Typer's runner): the same app and error handling, no start-up."""
    from typer.testing import CliRunner

    from reconciler.cli.app import app

    result = CliRunner().invoke(app, list(args), env={**TOKENS, "NO_COLOR": "1", **(env or {})})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"{args}: escaped {result.exception!r}\n{result.output}")
    return CliResult(result.exit_code, result.output, "")


OWN_PATHS = {"outreach": ("/api/v2/callPurposes",), "webex_campaign": ("/webex/v1/purposes",),
             "superoffice": ("/so/api/v1/List/ConsentPurpose/Items",
                             "/so/api/v1/List/ConsentPurpose/MDOItems")}


def own_paths_only(vendor: HostileVendor, name: str) -> None:
    """Every request went to the kind's collection or to one numeric id under it."""
    for seen in vendor.requests:
        base, _, tail = seen.path.rpartition("/")
        assert seen.path in OWN_PATHS[name] or (base in OWN_PATHS[name] and tail.isdigit()), \
            f"{seen.method} {seen.path}?{seen.query}"


BAD_IDS = [("traversal", "../../../admin/users/1"), ("query", "1?filter=all"),
           ("float", 1.5), ("negative", -3), ("leading-zero", "01"), ("empty-ish", " 7"),
           ("fragment", "7#x")]


@pytest.mark.parametrize("vendor_name", ["outreach", "webex_campaign", "superoffice"])
@pytest.mark.parametrize(("label", "bad"), BAD_IDS, ids=[b[0] for b in BAD_IDS])
def test_listed_id_of_the_wrong_shape_is_refused(vendor_name: str, label: str, bad: Any,
                                                 tmp_path: Path) -> None:
    name = {"outreach": "Intro", "webex_campaign": "Marketing", "superoffice": "News"}[vendor_name]
    with HostileVendor("ids", options={"listed": [[bad, name]]}) as vendor:
        root = manifests(tmp_path / "m", {vendor_name: vendor.url})
        result = inproc("apply", str(root), "--auto-approve")
    refused(result, repr(bad), "which is not", "id", name)
    own_paths_only(vendor, vendor_name)
    assert not (root / "state" / "default.json").exists()


@pytest.mark.parametrize(("label", "bad"), BAD_IDS[:3], ids=[b[0] for b in BAD_IDS[:3]])
def test_created_id_of_the_wrong_shape_is_refused_before_it_is_recorded(
        label: str, bad: Any, tmp_path: Path) -> None:
    with HostileVendor("ids", options={"create_id": bad}) as vendor:
        root = manifests(tmp_path / "m", {"outreach": vendor.url})
        refused(inproc("apply", str(root), "--auto-approve"), repr(bad), "callPurpose named 'Intro'")
        refused(inproc("plan", str(root)), codes=(0,))  # nothing recorded: a create again
    own_paths_only(vendor, "outreach")
    assert "outreach.call_purpose.intro" not in inproc("state", "list", str(root)).text


def test_update_answer_about_another_object_is_not_believed(tmp_path: Path) -> None:
    """PATCH /callPurposes/1 answered with id 777 "Someone Else": an error naming both ids,
    and the state keeps 1, so the next apply does not rename object 777."""
    with HostileVendor("ids", options={"listed": [[1, "Intro"]], "answer_id": 777,
                                       "answer_name": "Someone Else"}) as vendor:
        root = manifests(tmp_path / "m", {"outreach": vendor.url})
        refused(inproc("import", str(root), "outreach.call_purpose.intro", "1"), codes=(0,))
        (root / "outreach.yaml").write_text(PURPOSES["outreach"].replace("order: 1", "order: 2"))
        result = inproc("apply", str(root), "--auto-approve")
        refused(result, "remote id 1 is about remote id 777", "the state keeps 1")
        shown = inproc("state", "show", "outreach.call_purpose.intro", str(root))
        assert "777" not in shown.text and "Someone Else" not in shown.text, shown.text
    assert [s.path for s in vendor.requests if s.method == "PATCH"] == ["/api/v2/callPurposes/1"]


def test_create_answer_naming_a_recorded_id_is_refused(tmp_path: Path) -> None:
    """A vendor answering every create with id 1: the second address is not recorded."""
    with HostileVendor("ids", options={"create_id": 1}) as vendor:
        root = manifests(tmp_path / "m", {"outreach": vendor.url},
                         extra="concurrency: 1\n")
        (root / "outreach.yaml").write_text(
            "outreach:\n  call_purposes:\n    a: {name: A, order: 1}\n    b: {name: B, order: 1}\n")
        result = inproc("apply", str(root), "--auto-approve")
    refused(result, "remote id 1, which the state already records as outreach.call_purpose.a")
    listed = inproc("state", "list", str(root)).text
    assert "outreach.call_purpose.a" in listed and "outreach.call_purpose.b" not in listed


def _state_with(root: Path, records: dict[str, str]) -> None:
    from reconciler.state import Resource, StateDoc
    from reconciler.state.local import LocalBackend

    doc = StateDoc(resources={a: Resource(vendor="outreach", kind="call_purpose", remote_id=i,
                                          attributes={"name": "Intro", "order": 1})
                              for a, i in records.items()})
    (root / "state").mkdir(exist_ok=True)
    LocalBackend(root / "state" / "default.json").write(doc)


def test_state_holding_one_id_under_two_addresses_is_refused(tmp_path: Path) -> None:
    with HostileVendor("ids", options={"listed": [[1, "Intro"]]}) as vendor:
        root = manifests(tmp_path / "m", {"outreach": vendor.url})
        _state_with(root, {"outreach.call_purpose.intro": "1", "outreach.call_purpose.old": "1"})
        for command in ("plan", "drift"):
            refused(inproc(command, str(root)), "remote id '1' under two addresses",
                    "outreach.call_purpose.intro", "outreach.call_purpose.old", "state rm",
                    "state mv")
    assert vendor.requests == []  # refused when read, before anything was asked


def test_state_holding_an_id_of_the_wrong_shape_is_refused(tmp_path: Path) -> None:
    with HostileVendor("ids") as vendor:
        root = manifests(tmp_path / "m", {"outreach": vendor.url})
        _state_with(root, {"outreach.call_purpose.intro": "../../admin/users/1"})
        refused(inproc("plan", str(root)), "'../../admin/users/1'", "which is not an Outreach id",
                "state rm outreach.call_purpose.intro")
    assert vendor.requests == []


def test_import_argument_of_the_wrong_shape_is_refused(tmp_path: Path) -> None:
    with HostileVendor("ids", options={"listed": [[1, "Intro"]]}) as vendor:
        root = manifests(tmp_path / "m", {"outreach": vendor.url})
        refused(inproc("import", str(root), "outreach.call_purpose.intro", "1?x=1"),
                "'1?x=1' is not an Outreach id")
    assert vendor.requests == []


@pytest.mark.parametrize(("value", "encoded"), [
    ("../../admin", "..%2F..%2Fadmin"), ("..", "%2E%2E"), (".", "%2E"), ("1?x=1", "1%3Fx%3D1"),
    ("a#b", "a%23b"), ("é", "%C3%A9"), ("a b", "a%20b"), (42, "42")])
def test_every_path_segment_is_encoded_by_one_helper(value: object, encoded: str) -> None:
    from reconciler.providers.paths import segment, under

    assert segment(value) == encoded
    assert under("/callPurposes", value) == f"/callPurposes/{encoded}"


# ------------------------------------------------ numbers and nesting (issue 21) ----

DEEP = 100_000
ODD_NUMBERS = [
    ("nan", '{"data": [{"type": "callPurpose", "id": 1, "attributes": {"name": "Intro", '
            '"order": NaN}}]}', ("the field 'order' of the object with name 'Intro' is NaN",
                                 "not a finite number")),
    ("infinity", '{"data": [{"type": "callPurpose", "id": 1, "attributes": {"name": "Intro", '
                 '"order": -Infinity}}]}', ("'order'", "is -Infinity")),
    ("overflow", '{"data": [{"type": "callPurpose", "id": 1, "attributes": {"name": "Intro", '
                 '"order": 1e999}}]}', ("'order'", "is 1e999")),
    ("huge-integer", '{"data": [{"type": "callPurpose", "id": 1, "attributes": {"name": "Intro", '
                     '"order": 1' + "0" * 100_000 + '}}]}', ("an integer of more than 4300 digits",)),
    ("deep", '{"data": ' + "[" * DEEP + "]" * DEEP + "}", ("nested deeper than", "levels")),
]


@pytest.mark.parametrize(("label", "body", "says"), ODD_NUMBERS, ids=[n[0] for n in ODD_NUMBERS])
def test_vendor_json_that_nothing_can_use_is_a_vendor_error(label: str, body: str,
                                                            says: tuple[str, ...],
                                                            tmp_path: Path) -> None:
    with HostileVendor("body", options={"body": body}) as vendor:
        root = manifests(tmp_path / "m", {"outreach": vendor.url})
        for command in ("plan", "drift"):
            result = inproc(command, str(root), "--format", "json")
            refused(result, "outreach's answer is refused", "GET /callPurposes", *says)
            assert "NaN" not in result.text.replace("is NaN", ""), result.text


def test_deep_plan_file_is_a_clear_error(tmp_path: Path) -> None:
    plan = tmp_path / "deep.plan"
    plan.write_text('{"kind": ' + "[" * DEEP + "]" * DEEP + "}")
    for command in ("show", "apply"):
        refused(inproc(command, str(plan)), str(plan), "nested deeper than", "levels")


@pytest.mark.parametrize("depth", [200, 5000])
def test_deep_state_file_is_a_clear_error(depth: int, tmp_path: Path) -> None:
    root = manifests(tmp_path / "m", {"outreach": "http://127.0.0.1:9"})
    (root / "state").mkdir()
    state = root / "state" / "default.json"
    state.write_text('{"version": 1, "lineage": "x", "serial": 1, "resources": {'
                     '"outreach.call_purpose.intro": {"vendor": "outreach", "kind": "call_purpose",'
                     ' "remote_id": "1", "attributes": {"name": ' + "[" * depth + "]" * depth
                     + "}}}}")
    for args in (("plan", str(root)), ("state", "show", "outreach.call_purpose.intro", str(root))):
        refused(inproc(*args), str(state), "deeper than")


# ------------------------------------------------------------ show (issue 21) ----

@pytest.mark.parametrize("command", ["show", "apply"])
def test_plan_file_that_is_a_fifo_or_a_device_is_refused(command: str, tmp_path: Path) -> None:
    fifo = tmp_path / "plan.fifo"
    os.mkfifo(fifo)
    refused(inproc(command, str(fifo)), str(fifo), "not a plan file but a named pipe",
            "plan --out")
    refused(inproc(command, "/dev/zero"), "/dev/zero: not a plan file but a device")


def test_oversized_plan_file_is_refused_by_its_limit(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from reconciler.plan import planfile

    monkeypatch.setattr(planfile, "MAX_PLAN_MB", 1)
    big = tmp_path / "big.plan"
    big.write_bytes(b" " * (2 * 2**20))
    refused(inproc("show", str(big)), "larger than 1 MB, the most a plan file is read with")


# ------------------------------------------------------- manifest files (issue 21) ----

SECRET_CONTENT = "outreach:\n  ghp_SECRETCONTENT0123456789: {}\n"


@pytest.mark.parametrize("kind", ["file", "folder", "folder-of-a-repo-elsewhere"])
def test_manifest_symlink_outside_the_repository_is_refused_by_name(kind: str,
                                                                    tmp_path: Path) -> None:
    """Links are followed only inside the repository holding the manifest directory (or the
    directory itself): another target is an error naming the link, never its content."""
    repo = tmp_path / "repo"
    root = manifests(repo / "m", {"outreach": "http://127.0.0.1:9"})
    (repo / ".git").mkdir()
    elsewhere = tmp_path / "runner"
    elsewhere.mkdir()
    (elsewhere / "secret.json").write_text(SECRET_CONTENT)
    if kind == "file":
        (root / "x.yaml").symlink_to(elsewhere / "secret.json")
    elif kind == "folder":
        (root / "usr").symlink_to(elsewhere, target_is_directory=True)
        (elsewhere / "a.yaml").write_text(SECRET_CONTENT)
    else:
        (elsewhere / ".git").mkdir()
        (elsewhere / "a.yaml").write_text(SECRET_CONTENT)
        (root / "shared").symlink_to(elsewhere, target_is_directory=True)
    result = inproc("validate", str(root))
    refused(result, "a symlink to", "outside", "links are followed only inside")
    assert "ghp_" not in result.text and "SECRETCONTENT" not in result.text, result.text


def test_manifest_symlinks_inside_the_repository_are_followed(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    root = manifests(repo / "m", {"outreach": "http://127.0.0.1:9"})
    (repo / ".git").mkdir()
    (repo / "shared").mkdir()
    (repo / "shared" / "more.yaml").write_text(
        "outreach:\n  call_purposes:\n    more: {name: More, order: 2}\n")
    (root / "more").symlink_to(repo / "shared", target_is_directory=True)
    result = inproc("validate", str(root))
    assert result.code == 0 and "2 object(s)" in result.text, result.text


def test_manifest_directory_outside_a_repository_is_its_own_boundary(tmp_path: Path) -> None:
    root = manifests(tmp_path / "m", {"outreach": "http://127.0.0.1:9"})
    (tmp_path / "next.yaml").write_text(PURPOSES["outreach"])
    (root / "next.yaml").symlink_to(tmp_path / "next.yaml")
    refused(inproc("validate", str(root)), "next.yaml: a symlink to", "outside")


def test_upper_case_extension_is_read(tmp_path: Path) -> None:
    """`O.YAML` is a manifest like `o.yaml` (renaming a file that way must not delete its
    purposes)."""
    root = manifests(tmp_path / "m", {"outreach": "http://127.0.0.1:9"})
    (root / "outreach.yaml").rename(root / "O.YAML")
    result = inproc("validate", str(root))
    assert result.code == 0 and "1 object(s) in 1 file(s)" in result.text, result.text


def test_manifest_file_size_limit_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from reconciler.manifest import source

    monkeypatch.setattr(source, "MAX_MANIFEST_MB", 1)
    root = manifests(tmp_path / "m", {"outreach": "http://127.0.0.1:9"})
    (root / "big.yaml").write_text("x: '" + "y" * (2 * 2**20) + "'\n")
    refused(inproc("validate", str(root)), "big.yaml", "larger than 1 MB",
            "the most a manifest file is read with")


# -------------------------------------------------- manifest values (issue 21) ----

MALFORMED_VARIABLES = ["${ TEAM }", "${TEAM:?x}", "${A-B}", "${1}", "${TEAM"]


@pytest.mark.parametrize("text", MALFORMED_VARIABLES)
def test_malformed_variable_is_an_error_at_its_position(text: str, tmp_path: Path) -> None:
    root = manifests(tmp_path / "m", {"outreach": "http://127.0.0.1:9"}, extra="")
    (root / "reconciler.yaml").write_text((root / "reconciler.yaml").read_text()
                                          + "variables: [TEAM]\n")
    (root / "outreach.yaml").write_text(
        f"outreach:\n  call_purposes:\n    intro: {{name: 'Team {text} x', order: 1}}\n")
    refused(inproc("validate", str(root), env={"TEAM": "t"}), "outreach.yaml:3:", f"'{text}",
            "is not a variable")


@pytest.mark.parametrize("tag", ["!!python/object:os.system", "!custom", "!!binary", "!!set"])
def test_unknown_yaml_tag_is_refused(tag: str, tmp_path: Path) -> None:
    root = manifests(tmp_path / "m", {"outreach": "http://127.0.0.1:9"})
    value = "aGVsbG8=" if tag == "!!binary" else "{a}" if tag == "!!set" else "Intro"
    (root / "outreach.yaml").write_text(
        f"outreach:\n  call_purposes:\n    intro: {{name: {tag} {value}, order: 1}}\n")
    refused(inproc("validate", str(root)), "outreach.yaml:3:", "the YAML tag", "is not read here")


@pytest.mark.parametrize("vendor", ["outreach", "superoffice"])
def test_blank_name_is_refused(vendor: str, tmp_path: Path) -> None:
    root = manifests(tmp_path / "m", {vendor: "http://127.0.0.1:9"})
    (root / f"{vendor}.yaml").write_text(PURPOSES[vendor].replace(
        "name: Intro" if vendor == "outreach" else "name: News", 'name: "   "'))
    refused(inproc("validate", str(root)), "must not be blank")


def test_refused_state_path_leaves_no_lock_file(tmp_path: Path) -> None:
    root = manifests(tmp_path / "m", {"outreach": "http://127.0.0.1:9"},
                     state="state:\n  backend: local\n  path: state.json\n")
    for args in (("apply", str(root), "--auto-approve"), ("state", "rm", "outreach.call_purpose.intro",
                                                          str(root))):
        refused(inproc(*args), "puts the state in the manifest directory itself")
    assert sorted(p.name for p in root.iterdir()) == ["outreach.yaml", "reconciler.yaml"]


def test_lost_create_is_reported_as_adopted_per_object_and_in_the_summary(tmp_path: Path) -> None:
    with HostileVendor("recording", options={"ids": [5], "lose_creates": True}) as vendor:
        root = manifests(tmp_path / "m", {"outreach": vendor.url})
        result = inproc("apply", str(root), "--auto-approve")
    assert result.code == 0, result.text
    assert "outreach.call_purpose.intro: Adoption complete" in result.text, result.text
    assert "outreach.call_purpose.intro: Creation complete" not in result.text, result.text
    assert "1 adopted" in result.text, result.text


# -------------------------------------------------- look-alike names (issue 21) ----

LOOK_ALIKES = [("cyrillic", "\u0406ntro"), ("nfd", "Cafe\u0301"), ("case", "INTRO"),
               ("trailing-space", "Intro ")]


@pytest.mark.parametrize(("label", "remote"), LOOK_ALIKES, ids=[x[0] for x in LOOK_ALIKES])
def test_look_alike_name_is_warned_at_plan_time(label: str, remote: str, tmp_path: Path) -> None:
    declared = "Caf\u00e9" if label == "nfd" else "Intro"
    with HostileVendor("ids", options={"listed": [[9, remote]]}) as vendor:
        root = manifests(tmp_path / "m", {"outreach": vendor.url})
        (root / "outreach.yaml").write_text(
            f"outreach:\n  call_purposes:\n    intro: {{name: '{declared}', order: 1}}\n")
        result = inproc("plan", str(root))
    assert result.code == 0, result.text
    assert f"creates name {declared!r}, which looks like {remote!r} of remote object 9" \
        in result.text, result.text


def test_superoffice_name_in_another_case_is_refused_at_plan_time(tmp_path: Path) -> None:
    """SuperOffice's unique index on Name ignores case: `name: process` against the
    tenant's "Process" would fail at apply, so the plan already says so."""
    with HostileVendor("ids", options={"listed": [[3, "Process"]]}) as vendor:
        root = manifests(tmp_path / "m", {"superoffice": vendor.url})
        (root / "superoffice.yaml").write_text(
            "superoffice:\n  consent_purposes:\n    p: {name: process, key: '#Mine'}\n")
        result = inproc("plan", str(root))
    refused(result, "remote object 3 has name 'Process'", "without regard to case", codes=(3,))
    assert not [s for s in vendor.requests if s.method != "GET"]


def test_concurrent_requests_told_to_wait_together_share_one_wait() -> None:
    """Two requests in flight both answered `Retry-After: 300` with a budget of 300 s: one
    wait, granted to both; the second is not refused after "waiting 300 s" was printed."""
    from reconciler.providers.limits import Bounds

    bounds = Bounds("outreach", retry_budget_s=300)
    assert bounds.grant(300, "throttled (429)") == 300
    assert bounds.grant(300, "throttled (429)") == 300
    assert bounds.left() == 0
    with pytest.raises(Exception, match="would exceed the retry budget"):
        bounds.grant(305, "throttled (429)")  # ends 5 s after: a wait of its own

"""Speed at scale: time `reconciler plan`, `apply` and `drift` against the least work any tool must do.

    python bench/run.py --sizes 1000,10000 --json results.json
    python bench/run.py --sizes 100000 --vendors outreach --plan-only
    python bench/run.py --sizes 10000 --vendors outreach --profile prof/

For each size N (objects per vendor) the harness starts the vendor sandboxes in a
separate process on loopback (bench/serve_sandbox.py: no rate limits, no
persistence), generates manifests declaring N purposes per vendor, and measures:

- write_floor_s: N POSTs per vendor sent by plain httpx, 8 in flight per vendor, into an
  empty sandbox;
- create_apply_s: `reconciler apply DIR --auto-approve` into another empty sandbox with
  no state (this run also seeds the no-op scenario: afterwards manifests, state and
  remote agree);
- noop_plan_s: `reconciler plan DIR --detailed-exitcode` (must exit 0);
- floor_s: every list page of every vendor fetched by plain httpx (8 in flight per vendor,
  Outreach page[size]=1000), the JSON parsed, and every manifest parsed with ruamel's C
  loader; this runs in the harness process, with its imports already done;
- drift_s: `reconciler drift DIR` (must exit 0);
- rss_mb: peak resident memory of the `plan` process (from os.wait4's rusage of that
  very child, reaped by the small bench/measure.py launcher so that the harness's own
  memory is not counted; neither the sandbox nor other commands are mixed in).

Read commands (floor, plan, drift) are repeated `--repeat` times and the fastest run is
kept. `--plan-only` skips the writes and seeds the sandbox data files and the state
file directly (for sizes where N creates would take too long).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import platform
import pstats
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from ruamel.yaml import YAML

# reconciler's own modules are imported where used: bench/startup.py runs the floors in a
# fresh process through this module, and a raw tool's start-up is Python, httpx and ruamel.

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
KEYS = ("target", "size", "floor_s", "list_floor_s", "noop_plan_s", "plan_ratio", "plan_list_ratio",
        "plan_list_cpu_ratio", "create_apply_s", "write_floor_s", "apply_ratio", "apply_cpu_ratio",
        "drift_s", "rss_mb")
TIMES = ("floor_s", "list_floor_s", "noop_plan_s", "create_apply_s", "write_floor_s", "drift_s")
CPU_TIMES = ("noop_plan_cpu_s", "create_apply_cpu_s", "write_floor_cpu_s")
"""CPU seconds, kept beside the wall times for growth: steadier on a busy machine."""
PROFILE_LIBS = ("/reconciler/", "/pydantic/", "/pydantic_core/", "/ruamel/", "/httpx/", "/httpcore/",
                "/rich/", "/deepdiff/", "/json/", "_ruamel_yaml", "_json")


# --------------------------------------------------------------------------------------------
# Vendors: what a manifest entry, a sandbox record, a list call and a create call look like.
# --------------------------------------------------------------------------------------------

@dataclass
class Vendor:
    name: str
    collection: str
    fields: Callable[[int], dict[str, Any]]  # manifest fields of purpose i (1-based)
    seed: Callable[[int], dict[str, Any]]  # the sandbox data file holding purposes 1..n
    remote_id: Callable[[int], str]  # the id the sandbox gives purpose i when seeded
    list_all: Callable[[httpx.AsyncClient, dict[str, Any], asyncio.Semaphore], Any]
    create: Callable[[httpx.AsyncClient, dict[str, Any], int], Any]


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# Outreach: JSON:API, cursor paging (sequential by nature: each page names the next).

def _outreach_fields(i: int) -> dict[str, Any]:
    return {"name": f"Purpose {i:06d}", "order": i}


def _outreach_seed(n: int) -> dict[str, Any]:
    now = _stamp()
    records = {str(i): {"id": i, **_outreach_fields(i), "createdAt": now, "updatedAt": now,
                        "creatorId": 1} for i in range(1, n + 1)}
    return {"next_id": n + 1, "call_purposes": records}


def _outreach_headers(o: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {o['token']}", "Accept": "application/vnd.api+json",
            "Content-Type": "application/vnd.api+json"}


async def _outreach_list(client: httpx.AsyncClient, o: dict[str, Any], sem: asyncio.Semaphore) -> int:
    count = 0
    url: str | None = o["base_url"] + "/callPurposes?page[size]=1000"
    while url:
        async with sem:
            response = await client.get(url, headers=_outreach_headers(o))
        response.raise_for_status()
        body = response.json()
        count += len(body["data"])
        url = body["links"].get("next")
    return count


async def _outreach_create(client: httpx.AsyncClient, o: dict[str, Any], i: int) -> None:
    body = {"data": {"type": "callPurpose", "attributes": _outreach_fields(i)}}
    response = await client.post(o["base_url"] + "/callPurposes", json=body, headers=_outreach_headers(o))
    if response.status_code != 201:
        raise RuntimeError(f"outreach POST: {response.status_code} {response.text[:200]}")
    response.json()


# Webex Campaign: the list is one bare array (no paging); 409 on a duplicate name.

WEBEX_FIRST_ID = 700


def _webex_fields(i: int) -> dict[str, Any]:
    return {"name": f"Purpose_{i:06d}", "group": "Marketing", "description": f"Benchmark purpose {i}"}


def _webex_seed(n: int) -> dict[str, Any]:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    records = {}
    for i in range(1, n + 1):
        rid = WEBEX_FIRST_ID + i - 1
        records[str(rid)] = {"id": rid, **_webex_fields(i), "createdOn": now}
    return {"purposes": records, "next_purpose_id": WEBEX_FIRST_ID + n, "datastores": {},
            "notifications": []}


def _webex_headers(o: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {o['token']}", "Accept": "application/json"}


async def _webex_list(client: httpx.AsyncClient, o: dict[str, Any], sem: asyncio.Semaphore) -> int:
    async with sem:
        response = await client.get(o["base_url"] + "/purposes", headers=_webex_headers(o))
    response.raise_for_status()
    return len(response.json())


async def _webex_create(client: httpx.AsyncClient, o: dict[str, Any], i: int) -> None:
    response = await client.post(o["base_url"] + "/purposes", json=_webex_fields(i),
                                 headers=_webex_headers(o))
    if response.status_code != 200:
        raise RuntimeError(f"webex POST: {response.status_code} {response.text[:200]}")
    response.json()


# SuperOffice: the list returns every item in one array (no paging); POST creates.

def _superoffice_fields(i: int) -> dict[str, Any]:
    return {"name": f"Purpose {i:06d}", "key": f"#bench{i:06d}", "consent_text": f"Consent {i}",
            "form_text": f"Form text {i}", "tooltip": f"Tooltip {i}", "active": True, "rank": i % 65536,
            "privacy_statement_desc": "Privacy statement",
            "privacy_statement_url": "https://example.com/privacy"}


def _superoffice_wire(i: int) -> dict[str, Any]:
    f = _superoffice_fields(i)
    return {"Name": f["name"], "Key": f["key"], "ConsentText": f["consent_text"],
            "FormText": f["form_text"], "Tooltip": f["tooltip"], "Active": 1, "Deleted": False,
            "Rank": f["rank"], "PrivacyStatementDesc": f["privacy_statement_desc"],
            "PrivacyStatementUrl": f["privacy_statement_url"]}


def _superoffice_seed(n: int) -> dict[str, Any]:
    now = _stamp()
    user = {"AssociateId": 5, "Name": "SANDBOX", "FullName": "Sandbox API user", "Type": 1}
    records = {str(i): {"ConsentPurposeId": i, **_superoffice_wire(i), "UpdatedDate": now,
                        "UpdatedBy": dict(user)} for i in range(1, n + 1)}
    return {"next_id": n + 1, "consent_purposes": records}


def _superoffice_headers(o: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {o['token']}", "Accept": "application/json"}


async def _superoffice_list(client: httpx.AsyncClient, o: dict[str, Any], sem: asyncio.Semaphore) -> int:
    async with sem:
        response = await client.get(o["base_url"] + "/List/ConsentPurpose/Items",
                                    headers=_superoffice_headers(o))
    response.raise_for_status()
    return len(response.json())


async def _superoffice_create(client: httpx.AsyncClient, o: dict[str, Any], i: int) -> None:
    response = await client.post(o["base_url"] + "/List/ConsentPurpose/Items", json=_superoffice_wire(i),
                                 headers=_superoffice_headers(o))
    if response.status_code not in (200, 201):
        raise RuntimeError(f"superoffice POST: {response.status_code} {response.text[:200]}")
    response.json()


VENDORS: dict[str, Vendor] = {
    "outreach": Vendor(
        "outreach", "call_purposes",
        _outreach_fields, _outreach_seed, str, _outreach_list, _outreach_create),
    "webex_campaign": Vendor(
        "webex_campaign", "purposes",
        _webex_fields, _webex_seed, lambda i: str(WEBEX_FIRST_ID + i - 1), _webex_list, _webex_create),
    "superoffice": Vendor(
        "superoffice", "consent_purposes",
        _superoffice_fields, _superoffice_seed, str, _superoffice_list, _superoffice_create),
}


# --------------------------------------------------------------------------------------------
# Manifests and direct seeding
# --------------------------------------------------------------------------------------------

def _yaml_scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(value)  # a JSON string is a valid double-quoted YAML scalar


def write_manifests(root: Path, vendors: list[Vendor], n: int, per_file: int) -> None:
    from reconciler.authoring.scaffold import provider_block
    from reconciler.providers.registry import providers as provider_registry

    registry = provider_registry()
    providers = "".join(provider_block(v.name, registry[v.name]) for v in vendors)
    (root / "reconciler.yaml").write_text(
        f"state:\n  backend: local\n  path: state/default.json\nproviders:\n{providers}")
    for vendor in vendors:
        for start in range(1, n + 1, per_file):
            lines = [f"{vendor.name}:", f"  {vendor.collection}:"]
            for i in range(start, min(start + per_file, n + 1)):
                lines.append(f"    p{i:06d}:")
                lines.extend(f"      {k}: {_yaml_scalar(v)}" for k, v in vendor.fields(i).items())
            path = root / "purposes" / f"{vendor.name}-{start // per_file + 1:04d}.yaml"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("\n".join(lines) + "\n")


def seed_directly(data_dir: Path, manifests: Path, vendors: list[Vendor], n: int) -> None:
    """Sandbox data files holding purposes 1..n, and a state file that manages them.

    The state's attributes are what the manifest loader would make of each entry (the
    kind's schema, then its `normalise`), so plan and drift see nothing to do.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    from reconciler.providers.registry import kinds_by_collection
    from reconciler.providers.registry import providers as provider_registry

    registry = provider_registry()
    resources: dict[str, Any] = {}
    for vendor in vendors:
        (data_dir / f"{vendor.name}.json").write_text(json.dumps(vendor.seed(n)))
        kind = kinds_by_collection(registry[vendor.name])[vendor.collection]
        for i in range(1, n + 1):
            model = kind.schema.model_validate(vendor.fields(i))
            values = {k: v for k, v in model.model_dump().items()
                      if v is not None or k in model.model_fields_set}
            resources[f"{vendor.name}.{kind.name}.p{i:06d}"] = {
                "vendor": vendor.name, "kind": kind.name, "remote_id": vendor.remote_id(i),
                "attributes": kind.normalise(values), "meta": {}, "prevent_destroy": False}
    state = {"version": 1, "lineage": str(uuid.uuid4()), "serial": 1, "resources": resources,
             "pending": {}}
    path = manifests / "state" / "default.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(state))


# --------------------------------------------------------------------------------------------
# Processes: the sandbox, and reconciler commands measured with their own rusage
# --------------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Sandbox:
    """bench/serve_sandbox.py in its own process, so its CPU time is not charged to us."""

    script = "serve_sandbox.py"
    name = "sandbox"

    def __init__(self, data_dir: Path, log: Path) -> None:
        self.data_dir = data_dir
        self.log = log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        from reconciler.providers.sandboxes import provider_overrides

        self.overrides = provider_overrides(self.url)
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Sandbox:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, str(BENCH / self.script), "--port", str(self.port),
                 "--data", str(self.data_dir)], stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, cwd=REPO)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the sandbox exited with {self.proc.returncode}; see {self.log}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/_sandbox/requests", timeout=2).status_code == 200:
                    return self
            time.sleep(0.1)
        raise RuntimeError(f"the sandbox did not start on {self.url}; see {self.log}")

    def __exit__(self, *_: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def env(self) -> dict[str, str]:
        from reconciler.providers.sandboxes import environment

        return environment(self.url)

    def requests(self) -> dict[str, int]:
        return httpx.get(self.url + "/_sandbox/requests", timeout=30).json()  # type: ignore[no-any-return]


class FastFake(Sandbox):
    """bench/fast_fake.py: the same paths and shapes, answered from memory in well under a
    millisecond, so that what is measured against it is the client's own cost."""

    script = "fast_fake.py"
    name = "fake"


TARGETS: dict[str, type[Sandbox]] = {"fake": FastFake, "sandbox": Sandbox}


@dataclass
class Run:
    code: int
    wall_s: float
    cpu_s: float
    rss_mb: float
    log: Path


def run_reconciler(args: list[str], env: dict[str, str], log: Path, timeout_s: float,
                   prefix: list[str] | None = None) -> Run:
    """One command under bench/measure.py; its wall time, peak RSS and CPU are that
    command's own (os.wait4 in the small launcher, not in this large process)."""
    # Bytecode caching on, as an installed tool has it: with PYTHONDONTWRITEBYTECODE (set in
    # some shells and CI images) every command would compile the reconciler's modules anew.
    full_env = {k: v for k, v in os.environ.items()
                if not k.startswith(("OUTREACH_", "WEBEX_", "SUPEROFFICE_"))
                and k != "PYTHONDONTWRITEBYTECODE"}
    full_env.update({"NO_COLOR": "1", "COLUMNS": "200", **env})
    figures = log.with_suffix(".measure.json")
    command = [sys.executable, str(BENCH / "measure.py"), str(figures), "--",
               sys.executable, *(prefix or []), "-m", "reconciler", *args]
    with log.open("wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=full_env, cwd=REPO, start_new_session=True)
        killer = threading.Timer(timeout_s, lambda: os.killpg(proc.pid, signal.SIGKILL))
        killer.start()
        try:
            proc.wait()
        finally:
            killer.cancel()
    measured = json.loads(figures.read_text()) if figures.exists() else {}
    if not measured:
        return Run(proc.returncode, float(timeout_s), 0.0, 0.0, log)
    return Run(measured["code"], measured["wall_s"], measured["cpu_s"], measured["rss_mb"], log)


def expect(run: Run, codes: tuple[int, ...], what: str) -> Run:
    if run.code not in codes:
        tail = run.log.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"{what}: exit code {run.code} (expected {codes}); last output:\n{tail}")
    return run


# --------------------------------------------------------------------------------------------
# Floors: plain httpx + ruamel's C loader, in this process
# --------------------------------------------------------------------------------------------

def _client(concurrency: int) -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=120, limits=httpx.Limits(
        max_connections=concurrency, max_keepalive_connections=concurrency))


async def _fetch_all(vendors: list[Vendor], sandbox: Sandbox, concurrency: int) -> dict[str, int]:
    async def one(vendor: Vendor) -> int:
        async with _client(concurrency) as client:
            return int(await vendor.list_all(client, sandbox.overrides[vendor.name],
                                             asyncio.Semaphore(concurrency)))

    counts = await asyncio.gather(*(one(v) for v in vendors))
    return dict(zip((v.name for v in vendors), counts, strict=True))


def read_floor(manifests: Path, vendors: list[Vendor], sandbox: Sandbox, concurrency: int,
               n: int) -> float:
    return read_floors(manifests, vendors, sandbox, concurrency, n)[0]


def read_floors(manifests: Path, vendors: list[Vendor], sandbox: Sandbox, concurrency: int,
                n: int) -> tuple[float, float, float]:
    """(manifests parsed + every vendor listed, the listing alone, the listing's CPU seconds)."""
    start = time.perf_counter()
    yaml = YAML(typ="safe", pure=False)
    for path in sorted(manifests.rglob("*.yaml")):
        if "state" not in path.relative_to(manifests).parts:
            yaml.load(path.read_text(encoding="utf-8"))
    listing, cpu = time.perf_counter(), _cpu()
    counts = asyncio.run(_fetch_all(vendors, sandbox, concurrency))
    end = time.perf_counter()
    cpu = _cpu() - cpu
    if any(c != n for c in counts.values()):
        raise RuntimeError(f"floor: listed {counts}, expected {n} per vendor")
    return end - start, end - listing, cpu


async def _post_all(vendors: list[Vendor], sandbox: Sandbox, concurrency: int, n: int) -> None:
    async def one(vendor: Vendor) -> None:
        semaphore = asyncio.Semaphore(concurrency)
        overrides = sandbox.overrides[vendor.name]
        async with _client(concurrency) as client:
            async def post(i: int) -> None:
                async with semaphore:
                    await vendor.create(client, overrides, i)

            await asyncio.gather(*(post(i) for i in range(1, n + 1)))

    await asyncio.gather(*(one(v) for v in vendors))


def write_floor(vendors: list[Vendor], sandbox: Sandbox, concurrency: int, n: int) -> float:
    return write_floors(vendors, sandbox, concurrency, n)[0]


def write_floors(vendors: list[Vendor], sandbox: Sandbox, concurrency: int, n: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of the N POSTs per vendor."""
    start, cpu = time.perf_counter(), _cpu()
    asyncio.run(_post_all(vendors, sandbox, concurrency, n))
    return time.perf_counter() - start, _cpu() - cpu


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --------------------------------------------------------------------------------------------
# Profiles
# --------------------------------------------------------------------------------------------

def profile_summary(path: Path, top: int = 15) -> str:
    """The top entries by cumulative and by own time, limited to reconciler/ and its libraries."""
    out = io.StringIO()
    stats = pstats.Stats(str(path), stream=out)
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    rows = []
    total = float(stats.total_tt)  # type: ignore[attr-defined]
    for (filename, line, func), (_cc, ncalls, tottime, cumtime, _callers) in raw.items():
        if any(lib in filename for lib in PROFILE_LIBS):
            short = filename.split("site-packages/")[-1].replace(str(REPO) + "/", "")
            rows.append((cumtime, tottime, ncalls, f"{short}:{line}({func})"))
    lines = [f"{path.name}: total {total:.2f}s"]
    for title, index in (("cumulative", 0), ("tottime", 1)):
        lines.append(f"  top {top} by {title}:   cumtime   tottime    ncalls  function")
        for row in sorted(rows, key=lambda r: r[index], reverse=True)[:top]:
            lines.append(f"    {row[0]:10.3f} {row[1]:9.3f} {row[2]:9d}  {row[3]}")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# One size
# --------------------------------------------------------------------------------------------

@dataclass
class Options:
    vendors: list[Vendor]
    concurrency: int
    repeat: int
    per_file: int
    plan_only: bool
    timeout_s: float
    profile: Path | None
    work: Path
    notes: list[str] = field(default_factory=list)


def startup_s(repeat: int) -> float:
    """The fastest `reconciler --help`: interpreter start and imports, which every command pays."""
    return min(expect(run_reconciler(["--help"], {}, Path(os.devnull), 60), (0,), "--help").wall_s
               for _ in range(max(repeat, 3)))


def drift_available() -> bool:
    return run_reconciler(["drift", "--help"], {}, Path(os.devnull), 60).code == 0


def measure(n: int, opt: Options, has_drift: bool, target: str,
            profile: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """Every figure of one size against one target (the fast fake or the sandboxes)."""
    server = TARGETS[target]
    root = opt.work / f"n{n}" / target
    shutil.rmtree(root, ignore_errors=True)
    manifests = root / "manifests"
    manifests.mkdir(parents=True)
    write_manifests(manifests, opt.vendors, n, opt.per_file)
    result: dict[str, Any] = dict.fromkeys(KEYS)
    result["size"] = n
    result["target"] = target
    detail: dict[str, Any] = {"size": n, "target": target}
    logs = root / "logs"
    logs.mkdir()
    say = _progress(f"{n} {target}")

    if not opt.plan_only:
        with server(root / "write-floor-data", logs / "sandbox-write-floor.log") as sandbox:
            say("write floor")
            result["write_floor_s"], detail["write_floor_cpu_s"] = write_floors(
                opt.vendors, sandbox, opt.concurrency, n)
            detail["write_floor_requests"] = sandbox.requests()
        data = root / "data"
    else:
        data = root / "seeded-data"
        say("seeding data files and state directly")
        seed_directly(data, manifests, opt.vendors, n)

    with server(data, logs / "sandbox.log") as sandbox:
        env = sandbox.env()
        if not opt.plan_only:
            say("create apply")
            run = expect(run_reconciler(["apply", str(manifests), "--auto-approve"], env,
                                        logs / "apply.log", opt.timeout_s), (0,), "apply")
            result["create_apply_s"] = run.wall_s
            detail.update(apply_cpu_s=run.cpu_s, apply_rss_mb=run.rss_mb,
                          apply_requests=sandbox.requests())
        plans, floors, drifts = [], [], []
        for attempt in range(opt.repeat):
            say(f"no-op plan ({attempt + 1}/{opt.repeat})")
            plans.append(expect(run_reconciler(["plan", str(manifests), "--detailed-exitcode"], env,
                                               logs / "plan.log", opt.timeout_s), (0,), "no-op plan"))
            say(f"floor ({attempt + 1}/{opt.repeat})")
            floors.append(read_floors(manifests, opt.vendors, sandbox, opt.concurrency, n))
            if has_drift:
                say(f"drift ({attempt + 1}/{opt.repeat})")
                drifts.append(expect(run_reconciler(["drift", str(manifests)], env, logs / "drift.log",
                                                    opt.timeout_s), (0,), "drift"))
        best = min(plans, key=lambda r: r.wall_s)
        result.update(noop_plan_s=best.wall_s, floor_s=min(f[0] for f in floors),
                      list_floor_s=min(f[1] for f in floors), rss_mb=max(r.rss_mb for r in plans))
        detail.update(plan_runs_s=[r.wall_s for r in plans], plan_cpu_s=min(r.cpu_s for r in plans),
                      list_floor_cpu_s=min(f[2] for f in floors),
                      floor_runs_s=floors)
        if drifts:
            result["drift_s"] = min(r.wall_s for r in drifts)
            detail.update(drift_runs_s=[r.wall_s for r in drifts], drift_rss_mb=max(r.rss_mb for r in drifts))
        if opt.profile is not None and profile:
            say("profiling the no-op plan")
            prof = opt.profile / f"noop_plan-{n}.prof"
            expect(run_reconciler(["plan", str(manifests), "--detailed-exitcode"], env,
                                  logs / "plan-prof.log", opt.timeout_s,
                                  ["-m", "cProfile", "-o", str(prof)]), (0,), "profiled plan")
            if has_drift:
                say("profiling drift")
                prof = opt.profile / f"drift-{n}.prof"
                expect(run_reconciler(["drift", str(manifests)], env, logs / "drift-prof.log", opt.timeout_s,
                                      ["-m", "cProfile", "-o", str(prof)]), (0,), "profiled drift")

    if opt.profile is not None and profile and not opt.plan_only:
        say("profiling the create apply")
        shutil.rmtree(manifests / "state")
        with server(root / "profile-data", logs / "sandbox-profile.log") as sandbox:
            prof = opt.profile / f"create_apply-{n}.prof"
            expect(run_reconciler(["apply", str(manifests), "--auto-approve"], sandbox.env(),
                                  logs / "apply-prof.log", opt.timeout_s,
                                  ["-m", "cProfile", "-o", str(prof)]), (0,), "profiled apply")

    result["plan_ratio"] = _ratio(result["noop_plan_s"], result["floor_s"])
    result["plan_list_ratio"] = _ratio(result["noop_plan_s"], result["list_floor_s"])
    result["apply_ratio"] = _ratio(result["create_apply_s"], result["write_floor_s"])
    result["apply_cpu_ratio"] = _ratio(detail.get("apply_cpu_s"), detail.get("write_floor_cpu_s"))
    result.update(noop_plan_cpu_s=detail.get("plan_cpu_s"), create_apply_cpu_s=detail.get("apply_cpu_s"),
                  write_floor_cpu_s=detail.get("write_floor_cpu_s"))
    result["plan_list_cpu_ratio"] = _ratio(detail.get("plan_cpu_s"), detail.get("list_floor_cpu_s"))
    return result, detail


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def _progress(n: str) -> Callable[[str], None]:
    def say(what: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] N={n}: {what}", file=sys.stderr, flush=True)

    return say


def growth(results: list[dict[str, Any]]) -> dict[str, Any]:
    """(time at the largest N / time at the smallest N) / (largest N / smallest N); 1.0 is linear.
    `results` are one target's."""
    if len(results) < 2:
        return {"from_size": None, "to_size": None, **dict.fromkeys(TIMES)}
    low, high = min(results, key=lambda r: r["size"]), max(results, key=lambda r: r["size"])
    scale = high["size"] / low["size"]
    found: dict[str, Any] = {"from_size": low["size"], "to_size": high["size"]}
    for key in TIMES + CPU_TIMES:
        a, b = low.get(key), high.get(key)
        found[key] = None if a is None or b is None or not a else (b / a) / scale
    return found


def machine() -> dict[str, Any]:
    return {"platform": platform.platform(), "cpu_count": os.cpu_count(),
            "python": sys.version.split()[0], "implementation": platform.python_implementation(),
            "loadavg_at_start": list(os.getloadavg())}


def git_commit() -> str | None:
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+dirty" if dirty else "")


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def table(results: list[dict[str, Any]], grows: dict[str, dict[str, Any]]) -> str:
    header = ("target", "N", "floor s", "list s", "plan s", "plan/floor", "plan/list", "cpu plan/list",
              "apply s", "wfloor s", "apply/wfloor", "cpu apply/wfloor", "drift s", "RSS MB")
    rows = [header] + [tuple(_fmt(r[k]) for k in KEYS) for r in results]
    for target, grow in grows.items():
        if grow.get("from_size"):
            rows.append((target, f"growth {grow['from_size']}->{grow['to_size']}", _fmt(grow["floor_s"]),
                         _fmt(grow["list_floor_s"]), _fmt(grow["noop_plan_s"]), "", "", "",
                         _fmt(grow["create_apply_s"]), _fmt(grow["write_floor_s"]), "", "",
                         _fmt(grow["drift_s"]), ""))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join("  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)) for row in rows)


def main() -> None:
    from reconciler.providers.registry import providers as provider_registry

    registered = [name for name in provider_registry() if name in VENDORS]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000", help="objects per vendor, comma-separated")
    parser.add_argument("--vendors", default=",".join(registered),
                        help=f"comma-separated (default: every registered one: {','.join(registered)})")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each read; the fastest is kept")
    parser.add_argument("--concurrency", type=int, default=8,
                        help="requests in flight per vendor for the floors (the reconciler's default: 8)")
    parser.add_argument("--per-file", type=int, default=1000, help="purposes per manifest file")
    parser.add_argument("--plan-only", action="store_true",
                        help="seed data files and state directly; measure plan, floor and drift only")
    parser.add_argument("--profile", type=Path,
                        help="also run plan and apply under cProfile; .prof files go here")
    parser.add_argument("--skip", default="", help="comma-separated measurements to skip: drift")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds before a command is killed")
    parser.add_argument("--targets", default="fake,sandbox",
                        help="what the vendors are: fake (bench/fast_fake.py: the client's own cost), "
                             "sandbox (bench/serve_sandbox.py); comma-separated, run in this order")
    parser.add_argument("--work", type=Path, help="working directory (default: a temporary one, removed)")
    args = parser.parse_args()

    names = [v.strip() for v in args.vendors.split(",") if v.strip()]
    unknown = [v for v in names if v not in VENDORS or v not in provider_registry()]
    if unknown or not names:
        parser.error(f"--vendors: not registered or unknown to the harness: {', '.join(unknown) or '(none)'}"
                     f" (registered: {', '.join(registered)})")
    sizes = sorted(int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip())
    work = args.work or Path(tempfile.mkdtemp(prefix="reconciler-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
        args.profile = args.profile.resolve()
    opt = Options([VENDORS[v] for v in names], args.concurrency, max(args.repeat, 1), args.per_file,
                  args.plan_only, args.timeout, args.profile, work.resolve())
    info = machine()
    has_drift = drift_available()
    if not has_drift:
        opt.notes.append("`reconciler drift --help` failed: drift_s is null")
    elif "drift" in args.skip.split(","):
        opt.notes.append("drift skipped (--skip drift): drift_s is null")
        has_drift = False
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    if not targets or any(t not in TARGETS for t in targets):
        parser.error(f"--targets: choose among {', '.join(TARGETS)}")
    info["startup_s"] = startup_s(opt.repeat)
    results, details = [], []
    try:
        for n in sizes:
            for index, target in enumerate(targets):
                result, detail = measure(n, opt, has_drift, target, profile=index == 0)
                results.append(result)
                details.append(detail)
                print(table(results, {}), file=sys.stderr, flush=True)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    grow = {t: growth([r for r in results if r["target"] == t]) for t in targets}
    info["loadavg_at_end"] = list(os.getloadavg())
    print(f"vendors: {', '.join(names)}; {opt.concurrency} in flight per vendor; fastest of "
          f"{opt.repeat} for reads; {info['cpu_count']} CPUs; load average "
          f"{info['loadavg_at_start'][0]:.2f} at start, {info['loadavg_at_end'][0]:.2f} at end")
    print(table(results, grow))
    for target, found in grow.items():
        if found.get("from_size"):
            print(f"{target}: growth {found['from_size']}->{found['to_size']} in CPU seconds: "
                  + ", ".join(f"{key.removesuffix('_cpu_s')} {_fmt(found[key])}" for key in CPU_TIMES))
    print(f"startup (reconciler --help, fastest of {max(opt.repeat, 3)}): {info['startup_s']:.2f} s")
    for note in opt.notes:
        print("note:", note)
    if args.profile:
        for prof in sorted(args.profile.glob("*.prof")):
            print(profile_summary(prof))
    if args.json:
        document = {"results": results, "growth": grow, "machine": info, "commit": git_commit(),
                    "vendors": names, "targets": targets, "plan_only": opt.plan_only,
                    "concurrency": opt.concurrency,
                    "repeat": opt.repeat,
                    "rss_source": "os.wait4 rusage of the plan process (ru_maxrss), via bench/measure.py",
                    "notes": opt.notes, "details": details}
        args.json.write_text(json.dumps(document, indent=1) + "\n")


if __name__ == "__main__":
    main()

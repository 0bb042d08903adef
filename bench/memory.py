"""Peak memory of the CLI against hostile inputs (issue 14): a 300 MB vendor answer (an
Outreach list page, an Outreach error body, a Webex Campaign list) and YAML alias bombs.
Each must end in a clear error, well under 150 MB of peak RSS.

The hostile vendor (tests/hostile_vendor.py) runs in this process and generates its answers
as it sends them; each command runs under a small launcher process, which reports
`resource.getrusage(RUSAGE_CHILDREN).ru_maxrss` for the command alone (the launcher's own
pages, and this process's, are not counted).

    .venv/bin/python bench/memory.py [--size-mb 300] [--json bench/memory.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.hostile_vendor import HostileVendor  # noqa: E402

TOKENS = {"OUTREACH_TOKEN": "bench-outreach-token", "WEBEX_CAMPAIGN_TOKEN": "bench-webex-key"}
CONFIG = """\
state:
  backend: local
  path: state/default.json
providers:
  {vendor}:
    base_url: {url}
    {extra}token: ${{{token}}}
"""
PURPOSES = {
    "outreach": "outreach:\n  call_purposes:\n    intro: {name: Intro}\n",
    "webex_campaign": "webex_campaign:\n  purposes:\n    marketing: {name: Marketing}\n",
}


@dataclass
class Scenario:
    name: str
    command: str  # plan | validate
    vendor: str = "outreach"
    mode: str = ""
    yaml: str = ""


def bomb(levels: int) -> str:
    """A few hundred bytes that expand to 9**(levels+1) strings if aliases are followed."""
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


SCENARIOS = [
    Scenario("outreach list page", "plan", mode="huge_body"),
    Scenario("outreach error body", "plan", mode="huge_error"),
    Scenario("webex_campaign list", "plan", vendor="webex_campaign", mode="huge_body"),
    Scenario("YAML alias bomb, 9 levels", "validate", yaml=bomb(9)),
    Scenario("YAML alias bomb, 7 levels", "validate", yaml=bomb(7)),
]


def launch(command: list[str]) -> None:
    """In the launcher: run the command, then print its exit code and peak RSS as JSON."""
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True,
                          env={**os.environ, **TOKENS, "NO_COLOR": "1"})
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    last = (proc.stdout + proc.stderr).strip().splitlines()[-1:] or [""]
    print(json.dumps({"code": proc.returncode, "rss_mb": usage.ru_maxrss / 1024,
                      "wall_s": time.perf_counter() - start, "message": last[0],
                      "traceback": "Traceback" in proc.stdout + proc.stderr}))


def measure(scenario: Scenario, size_mb: float, root: Path) -> dict[str, Any]:
    root.mkdir(parents=True)
    with HostileVendor(scenario.mode or "ok", options={"size_mb": size_mb}) as vendor:
        url = vendor.url + ("/api/v2" if scenario.vendor == "outreach" else "/webex/v1")
        extra = f"tenant_url: {vendor.url}/tenant/v3\n    " if scenario.vendor != "outreach" else ""
        token = "OUTREACH_TOKEN" if scenario.vendor == "outreach" else "WEBEX_CAMPAIGN_TOKEN"
        (root / "reconciler.yaml").write_text(CONFIG.format(vendor=scenario.vendor, url=url,
                                                            extra=extra, token=token))
        (root / "purposes.yaml").write_text(scenario.yaml or PURPOSES[scenario.vendor])
        command = [sys.executable, "-m", "reconciler", scenario.command, str(root)]
        done = subprocess.run([sys.executable, __file__, "--launch", "--", *command],
                              capture_output=True, text=True, cwd=REPO, check=False)
    if done.returncode != 0 or not done.stdout.strip():
        raise RuntimeError(f"launcher failed: {done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout)
    result["scenario"] = scenario.name
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=float, default=300.0, help="size of the hostile answers")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--launch", action="store_true", help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args()
    if args.launch:
        launch(rest[1:] if rest[:1] == ["--"] else rest)
        return
    results = []
    with tempfile.TemporaryDirectory(prefix="reconciler-memory-") as tmp:
        for index, scenario in enumerate(SCENARIOS):
            results.append(measure(scenario, args.size_mb, Path(tmp) / str(index)))
    print(f"| input ({args.size_mb:g} MB answers) | exit | peak RSS MB | s | message |")
    print("|---|---:|---:|---:|---|")
    for r in results:
        print(f"| {r['scenario']} | {r['code']} | {r['rss_mb']:.0f} | {r['wall_s']:.1f} | "
              f"{r['message'][:110]} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()

"""Start-up and small runs: what a person waits for at the terminal.

    python bench/startup.py                     # --runs 10 --size 500 --repeat 3
    python bench/startup.py --json bench/startup-results.json

1. Start-up: `python -c pass`, `reconciler --help` and `reconciler validate
   examples/quickstart` (no vendor credentials in the environment: validate needs none),
   --runs times each, interleaved; the median of each, and each as a ratio to
   `python -c pass` measured in the same run. Goals: --help <= 0.15 s, validate <= 0.3 s.
2. Small runs, N = --size purposes per vendor, every side in a fresh process so that
   start-up counts on both sides:
   - write floor: a fresh Python process importing httpx and sending the N POSTs per
     vendor (bench/run.py's write_floor: 8 in flight per vendor) into an empty sandbox;
   - create apply: `reconciler apply DIR --auto-approve` into another empty sandbox;
   - read floor: a fresh process parsing the manifests with ruamel's C loader and listing
     every vendor (bench/run.py's read_floor);
   - no-op plan: `reconciler plan DIR --detailed-exitcode` against the applied sandbox.
   Each --repeat times (every apply and write floor into a new empty sandbox), median
   kept. Goals: apply <= 1.5x its floor, no-op plan <= 2x its floor.

Every time is a process's wall time from start to exit, taken by bench/measure.py.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def timed(command: list[str], env: dict[str, str], log: Path, codes: tuple[int, ...] = (0,)) -> float:
    """Wall seconds of one command in a fresh process, start to exit (bench/measure.py)."""
    figures = log.with_suffix(".measure.json")
    with log.open("wb") as out:
        subprocess.run([sys.executable, str(BENCH / "measure.py"), str(figures), "--", *command],
                       stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                       cwd=REPO, timeout=1800, check=False)
    measured = json.loads(figures.read_text())
    if measured["code"] not in codes:
        tail = log.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"{' '.join(command[:4])}: exit {measured['code']}; output:\n{tail}")
    return float(measured["wall_s"])


def reconciler() -> list[str]:
    """The command a person types: the console script beside this Python, else -m."""
    script = Path(sys.executable).with_name("reconciler")
    return [str(script)] if script.exists() else [sys.executable, "-m", "reconciler"]


def base_env() -> dict[str, str]:
    """No credentials, no colour; and bytecode caching on, as a user's Python has it (an
    environment with PYTHONDONTWRITEBYTECODE would recompile every module at every start)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OUTREACH_", "WEBEX_", "SUPEROFFICE_", "RECONCILER_"))
           and k != "PYTHONDONTWRITEBYTECODE"}
    env.update({"NO_COLOR": "1", "COLUMNS": "200"})
    return env


def startup(runs: int, work: Path) -> dict[str, Any]:
    commands = {"python_pass": [sys.executable, "-c", "pass"],
                "help": [*reconciler(), "--help"],
                "version": [*reconciler(), "--version"],
                "validate": [*reconciler(), "validate", "examples/quickstart"]}
    times: dict[str, list[float]] = {name: [] for name in commands}
    for name, command in commands.items():  # warm-up: bytecode written, files in the page cache
        timed(command, base_env(), work / f"{name}.log")
    for _ in range(runs):  # interleaved, so that a busy moment hits every command alike
        for name, command in commands.items():
            times[name].append(timed(command, base_env(), work / f"{name}.log"))
    medians = {name: statistics.median(values) for name, values in times.items()}
    floor = medians["python_pass"]
    return {"runs": runs, "median_s": medians, "runs_s": times,
            "ratio_to_python": {name: medians[name] / floor for name in ("help", "version", "validate")}}


def floor_command(kind: str, url: str, n: int, vendors: list[str], manifests: Path) -> list[str]:
    spec = json.dumps({"kind": kind, "url": url, "n": n, "vendors": vendors,
                       "manifests": str(manifests)})
    return [sys.executable, str(BENCH / "startup.py"), "floor", spec]


def run_floor(spec_text: str) -> None:
    """The child: only what a raw tool needs (httpx, ruamel) is imported, here, timed."""
    from bench.run import VENDORS, read_floor, write_floor

    spec = json.loads(spec_text)
    vendors = [VENDORS[name] for name in spec["vendors"]]
    overrides = json.loads(os.environ["BENCH_OVERRIDES"])
    sandbox: Any = SimpleNamespace(overrides=overrides)
    if spec["kind"] == "write":
        write_floor(vendors, sandbox, 8, spec["n"])
    else:
        read_floor(Path(spec["manifests"]), vendors, sandbox, 8, spec["n"])


def small_runs(n: int, repeat: int, vendors: list[str], work: Path) -> dict[str, Any]:
    from bench.run import VENDORS, Sandbox, write_manifests

    manifests = work / "manifests"
    manifests.mkdir()
    write_manifests(manifests, [VENDORS[v] for v in vendors], n, 1000)
    logs = work / "logs"
    logs.mkdir()
    floors_w, applies, floors_r, plans = [], [], [], []
    with contextlib.ExitStack() as last:
        for attempt in range(repeat):
            with Sandbox(work / f"write-floor-{attempt}", logs / "sandbox.log") as sandbox:
                env = {**base_env(), "BENCH_OVERRIDES": json.dumps(sandbox.overrides)}
                floors_w.append(timed(floor_command("write", sandbox.url, n, vendors, manifests),
                                      env, logs / "write-floor.log"))
            shutil.rmtree(manifests / "state", ignore_errors=True)
            stack = last if attempt == repeat - 1 else contextlib.ExitStack()
            with stack:
                sandbox = stack.enter_context(Sandbox(work / f"apply-{attempt}", logs / "sandbox.log"))
                applies.append(timed([*reconciler(), "apply", str(manifests), "--auto-approve"],
                                     {**base_env(), **sandbox.env()}, logs / "apply.log"))
                if attempt < repeat - 1:
                    continue
                for _ in range(repeat):  # the reads, against the last apply's sandbox and state
                    plans.append(timed([*reconciler(), "plan", str(manifests), "--detailed-exitcode"],
                                       {**base_env(), **sandbox.env()}, logs / "plan.log"))
                    env = {**base_env(), "BENCH_OVERRIDES": json.dumps(sandbox.overrides)}
                    floors_r.append(timed(floor_command("read", sandbox.url, n, vendors, manifests),
                                          env, logs / "read-floor.log"))
    m = statistics.median
    return {"size": n, "vendors": vendors, "repeat": repeat,
            "write_floor_s": m(floors_w), "create_apply_s": m(applies),
            "apply_ratio": m(applies) / m(floors_w),
            "read_floor_s": m(floors_r), "noop_plan_s": m(plans), "plan_ratio": m(plans) / m(floors_r),
            "runs_s": {"write_floor": floors_w, "create_apply": applies, "read_floor": floors_r,
                       "noop_plan": plans}}


def report(result: dict[str, Any]) -> str:
    s, small = result["startup"], result["small"]
    lines = [f"start-up, median of {s['runs']} runs:",
             f"  python -c pass                          {s['median_s']['python_pass']:.3f} s",
             f"  reconciler --help                       {s['median_s']['help']:.3f} s"
             f"  ({s['ratio_to_python']['help']:.2f}x python -c pass)",
             f"  reconciler --version                    {s['median_s']['version']:.3f} s"
             f"  ({s['ratio_to_python']['version']:.2f}x python -c pass)",
             f"  reconciler validate examples/quickstart {s['median_s']['validate']:.3f} s"
             f"  ({s['ratio_to_python']['validate']:.2f}x python -c pass)"]
    if small:
        lines += [f"{small['size']} purposes per vendor ({', '.join(small['vendors'])}), median of "
                  f"{small['repeat']}, fresh processes on both sides:",
                  f"  create apply {small['create_apply_s']:.2f} s / write floor "
                  f"{small['write_floor_s']:.2f} s = {small['apply_ratio']:.2f}",
                  f"  no-op plan   {small['noop_plan_s']:.2f} s / read floor  "
                  f"{small['read_floor_s']:.2f} s = {small['plan_ratio']:.2f}"]
    return "\n".join(lines)


def main() -> None:
    if sys.argv[1:2] == ["floor"]:
        run_floor(sys.argv[2])
        return
    from bench.run import VENDORS, git_commit, machine

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="start-up runs of each command")
    parser.add_argument("--size", type=int, default=500, help="purposes per vendor (0: skip)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each small-run figure")
    parser.add_argument("--vendors", default=",".join(VENDORS))
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    result: dict[str, Any] = {"machine": machine(), "commit": git_commit()}
    with tempfile.TemporaryDirectory(prefix="reconciler-startup-") as tmp:
        work = Path(tmp)
        result["startup"] = startup(args.runs, work)
        small = work / "small"
        small.mkdir()
        result["small"] = small_runs(args.size, args.repeat, args.vendors.split(","), small) \
            if args.size else None
    result["machine"]["loadavg_at_end"] = list(os.getloadavg())
    print(report(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()

"""Fleet benchmark: many environments in one process against the fast fake vendor.

    .venv/bin/python bench/fleet.py                       # 200 environments x 3 vendors x 50
    .venv/bin/python bench/fleet.py --envs 20 --per-env 10 --repeat 1   # smoke run

One bench/fast_fake.py process serves every tenant under its own path (/t/<env>/...).
Measured, each a `python -m reconciler` process (wall time, CPU, peak RSS):

1. `fleet_create_apply_s`: `apply DIR --env '*' --auto-approve` into empty tenants
   (envs x vendors x per-env creates).
2. `fleet_noop_plan_s`: `plan DIR --env '*' --detailed-exitcode` (must exit 0), the
   fastest of --repeat runs; `single_noop_plan_s`: the same number of objects planned as
   one environment (vendors x envs*per-env purposes, seeded into tenant "" and a state file
   directly, as bench/run.py --plan-only does); `plan_ratio` = fleet / single (goal <= 1.5).
3. `fleet_update_apply_s`: every purpose renamed in the manifests, then `apply --env '*'
   --force` (a rename of every object is past each environment's change threshold)
   (envs x vendors x per-env updates); `update_floor_s`: as many requests by plain httpx
   (a write each, into fresh tenants; SuperOffice's update is a read and a write, so its
   floor is a POST and a GET), with the fleet's concurrency: --parallel environments at
   once, 8 in flight per vendor and tenant; `apply_ratio` = apply / floor (goal <= 1.5).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.run import (  # the repository root is put on the path first
    VENDORS,
    FastFake,
    Vendor,
    _client,
    _cpu,
    expect,
    run_reconciler,
    seed_directly,
    write_manifests,
)


def _renamed(vendor: Vendor) -> Vendor:
    """The same purposes, each with another name: every one is an update."""
    fields = vendor.fields

    def changed(i: int) -> dict[str, Any]:
        values = dict(fields(i))
        values["name"] = f"{values['name']} v2"
        return values

    return Vendor(vendor.name, vendor.collection, changed, vendor.seed, vendor.remote_id,
                  vendor.list_all, vendor.create)


def fleet_directory(root: Path, fake: FastFake, vendors: list[Vendor], envs: int, per_env: int,
                    rename: bool = False) -> list[str]:
    """Manifests for `per_env` purposes per vendor, and one environments/<name>.yaml per
    environment pointing every vendor at its own tenant of the fake."""
    from reconciler.providers.sandboxes import provider_overrides

    write_manifests(root, [_renamed(v) for v in vendors] if rename else vendors, per_env, 1000)
    config = root / "reconciler.yaml"
    config.write_text(config.read_text() + "environments_dir: environments\n")
    names = [f"e{i:04d}" for i in range(1, envs + 1)]
    (root / "environments").mkdir(exist_ok=True)
    for name in names:
        overrides = provider_overrides(f"{fake.url}/t/{name}")
        lines = ["providers:"]
        for vendor in vendors:
            lines.append(f"  {vendor.name}:")
            lines += [f"    {field}: {value}" for field, value in overrides[vendor.name].items()
                      if isinstance(value, str) and value.startswith("http")]
        (root / "environments" / f"{name}.yaml").write_text("\n".join(lines) + "\n")
    return names


async def _floor(fake: FastFake, vendors: list[Vendor], names: list[str], per_env: int,
                 parallel: int, concurrency: int) -> None:
    from reconciler.providers.sandboxes import provider_overrides

    gate = asyncio.Semaphore(parallel)

    async def tenant(name: str) -> None:
        async with gate:
            overrides = provider_overrides(f"{fake.url}/t/{name}")

            async def vendor_writes(vendor: Vendor) -> None:
                semaphore = asyncio.Semaphore(concurrency)
                async with _client(concurrency) as client:
                    async def post(i: int) -> None:
                        async with semaphore:
                            if vendor.name == "superoffice":  # an update reads the entity first
                                await _superoffice_read_write(client, overrides[vendor.name], i)
                            else:
                                await vendor.create(client, overrides[vendor.name], i)

                    await asyncio.gather(*(post(i) for i in range(1, per_env + 1)))

            await asyncio.gather(*(vendor_writes(v) for v in vendors))

    await asyncio.gather(*(tenant(f"floor-{n}") for n in names))


async def _superoffice_read_write(client: Any, o: dict[str, Any], i: int) -> None:
    """SuperOffice's PUT replaces the whole entity, so an update reads it first (GET, then
    PUT): the floor makes the same two requests (a POST, then a GET of what it made)."""
    from bench.run import _superoffice_headers, _superoffice_wire

    items = o["base_url"] + "/List/ConsentPurpose/Items"
    made = await client.post(items, json=_superoffice_wire(i), headers=_superoffice_headers(o))
    made.raise_for_status()
    read = await client.get(f"{items}/{made.json()['ConsentPurposeId']}", headers=_superoffice_headers(o))
    read.raise_for_status()
    read.json()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--envs", type=int, default=200)
    parser.add_argument("--per-env", type=int, default=50, help="purposes per vendor per environment")
    parser.add_argument("--vendors", default="outreach,webex_campaign,superoffice")
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--work", type=Path)
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--skip-update", action="store_true",
                        help="measure creates and the no-op plans only (no update apply, no floor)")
    args = parser.parse_args()
    vendors = [VENDORS[v.strip()] for v in args.vendors.split(",") if v.strip()]
    work = args.work or Path(tempfile.mkdtemp(prefix="fleet-bench-"))
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"envs": args.envs, "per_env": args.per_env,
                              "vendors": [v.name for v in vendors], "parallel": args.parallel,
                              "objects": args.envs * args.per_env * len(vendors)}

    def say(what: str) -> None:
        print(f"[fleet] {what}", file=sys.stderr, flush=True)

    try:
        fleet = work / "fleet"
        shutil.rmtree(fleet, ignore_errors=True)
        fleet.mkdir()
        with FastFake(work / "fleet-data", logs / "fake-fleet.log") as fake:
            names = fleet_directory(fleet, fake, vendors, args.envs, args.per_env)
            env = fake.env()
            parallel = ["--parallel", str(args.parallel)]
            say("fleet create apply")
            run = expect(run_reconciler(["apply", str(fleet), "--env", "*", "--auto-approve", *parallel],
                                        env, logs / "fleet-create.log", args.timeout), (0,), "fleet apply")
            result["fleet_create_apply_s"], result["fleet_create_rss_mb"] = run.wall_s, run.rss_mb
            plans = []
            for i in range(args.repeat):
                say(f"fleet no-op plan {i + 1}")
                plans.append(expect(run_reconciler(["plan", str(fleet), "--env", "*",
                                                    "--detailed-exitcode", *parallel], env,
                                                   logs / f"fleet-plan-{i}.log", args.timeout),
                                    (0,), "fleet no-op plan"))
            best = min(plans, key=lambda r: r.wall_s)
            result["fleet_noop_plan_s"], result["fleet_noop_plan_cpu_s"] = best.wall_s, best.cpu_s
            result["fleet_noop_plan_rss_mb"] = max(r.rss_mb for r in plans)
            if not args.skip_update:
                say("fleet update apply")
                fleet_directory(fleet, fake, vendors, args.envs, args.per_env, rename=True)
                run = expect(run_reconciler(["apply", str(fleet), "--env", "*", "--auto-approve", "--force",
                                             *parallel], env, logs / "fleet-update.log", args.timeout),
                             (0,), "fleet update")
                result["fleet_update_apply_s"], result["fleet_update_cpu_s"] = run.wall_s, run.cpu_s
                say("update floor")
                start, cpu = time.perf_counter(), _cpu()
                asyncio.run(_floor(fake, vendors, names, args.per_env, args.parallel, 8))
                result["update_floor_s"] = time.perf_counter() - start
                result["update_floor_cpu_s"] = _cpu() - cpu

        single = work / "single"
        shutil.rmtree(single, ignore_errors=True)
        single.mkdir()
        n = args.envs * args.per_env
        write_manifests(single, vendors, n, 1000)
        seed_directly(work / "single-data", single, vendors, n)
        with FastFake(work / "single-data", logs / "fake-single.log") as fake:
            runs = []
            for i in range(args.repeat):
                say(f"single-environment no-op plan {i + 1}")
                runs.append(expect(run_reconciler(["plan", str(single), "--detailed-exitcode"], fake.env(),
                                                  logs / f"single-plan-{i}.log", args.timeout),
                                   (0,), "single no-op plan"))
            best = min(runs, key=lambda r: r.wall_s)
            result["single_noop_plan_s"], result["single_noop_plan_cpu_s"] = best.wall_s, best.cpu_s
            result["single_noop_plan_rss_mb"] = max(r.rss_mb for r in runs)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    result["plan_ratio"] = round(result["fleet_noop_plan_s"] / result["single_noop_plan_s"], 2)
    # CPU beside wall time: on a busy machine the wall ratios carry other people's load
    result["plan_cpu_ratio"] = round(result["fleet_noop_plan_cpu_s"] / result["single_noop_plan_cpu_s"], 2)
    if not args.skip_update:
        result["apply_ratio"] = round(result["fleet_update_apply_s"] / result["update_floor_s"], 2)
        result["apply_cpu_ratio"] = round(result["fleet_update_cpu_s"] / result["update_floor_cpu_s"], 2)
    width = max(len(k) for k in result)
    for key, value in result.items():
        shown = f"{value:.2f}" if isinstance(value, float) else str(value)
        print(f"{key.ljust(width)}  {shown}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()

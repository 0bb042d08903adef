"""Run history at fleet scale: 100 environments x 90 days of hourly drift runs in PostgreSQL.

    python bench/history.py                       # starts a throwaway PostgreSQL (tests/pg.py)
    python bench/history.py --url postgresql://... --json FILE

1. Load: 216,000 drift runs (100 environments x 90 days x 24 hours) and their changes,
   by COPY, into the tables the history's migrations create (an environment has 300
   consent purposes; each run finds 0-3 drifted, and `superoffice.consent_purpose.newsletter`
   drifts for a few hours now and then, as a real object does until someone fixes it).
2. `reconciler history DIR --address superoffice.consent_purpose.newsletter --since <a year>
   --format json`, a whole process from start to exit (bench/measure.py), --runs times:
   p50 and p95. Goal: < 1 s.
3. What a dashboard calls, in-process, --queries times each: p50 and p95 of the latest run
   per environment, the 50 most recent runs (with their changes), one address's history,
   one environment's drift counts over 90 days (one point per run), every environment's
   (one point per environment and day, and one per run: 216,000 points, 3 times).
4. Recording one run (3 changes, retention pruning on) into the loaded tables: p50 / p95.
5. With --cost N: what recording costs a run. `apply --sandbox` of N Outreach creates, then
   a no-op `plan --sandbox` and a `drift --sandbox`, each in a fresh directory with
   `history: {enabled: true}` and with `enabled: false`, interleaved, --cost-repeat times:
   the medians of wall and CPU time, and their ratios (goal: recording < 5 % of a run).
"""

from __future__ import annotations

import argparse
import io
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.startup import reconciler  # noqa: E402 (after the path is set)

ADDRESS = "superoffice.consent_purpose.newsletter"
WORKSPACE = "bench"


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def load(url: str, environments: int, days: int, seed: int = 7) -> dict[str, int]:
    """Bulk-load the runs by COPY (the store's own migrations create the tables first)."""
    import psycopg

    from reconciler.history.model import new_id
    from reconciler.history.postgres import PostgresHistory

    rng = random.Random(seed)
    store = PostgresHistory(url, WORKSPACE)
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(days=days)
    hours = days * 24
    runs = changes = 0
    with psycopg.connect(url) as conn:
        store.migrate(conn)
        for e in range(environments):
            env = f"env-{e:03d}"
            episodes = {h for s in rng.sample(range(hours), 6) for h in range(s, s + rng.randint(1, 8))}
            run_rows, change_rows = io.StringIO(), io.StringIO()
            for h in range(hours):
                at = (start + timedelta(hours=h, seconds=rng.randint(0, 300))).isoformat(
                    timespec="microseconds")
                finished = at  # the bench does not need durations
                drifted = sorted({f"superoffice.consent_purpose.p{rng.randrange(300)}"
                                  for _ in range(rng.choice((0, 0, 0, 1, 1, 2, 3)))})
                if h in episodes:
                    drifted.append(ADDRESS)
                run_id = new_id(at)
                counts = {"checked": 300, "drifted": len(drifted), "missing": 0, "unmanaged": 0}
                outcome = "drift" if drifted else "ok"
                body = {"id": run_id, "kind": "drift", "environment": env, "started_at": at,
                        "finished_at": finished, "outcome": outcome, "actor": "scheduler",
                        "commit": "0" * 40, "branch": "main", "counts": counts, "error": None,
                        "workspace": WORKSPACE, "version": 1}
                run_rows.write("\t".join((run_id, WORKSPACE, env, "drift", at, finished, outcome,
                                          "scheduler", "0" * 40, "main", _copy(counts),
                                          str(len(drifted)), "0", "0", "\\N", _copy(body))) + "\n")
                for seq, address in enumerate(drifted):
                    change = {"address": address, "action": "drift", "status": "changed",
                              "remote_id": str(seq + 1), "note": "",
                              "fields": [{"field": "consent_text", "before": "Monthly news",
                                          "after": f"Edited by hand {h}"}]}
                    change_rows.write("\t".join((run_id, str(seq), address, at, "drift", "changed",
                                                 _copy(change))) + "\n")
                    changes += 1
                runs += 1
            with conn.cursor() as cur:
                with cur.copy("COPY reconciler_runs (id, workspace, environment, kind, started_at, "
                              "finished_at, outcome, actor, git_commit, git_branch, counts, drifted, "
                              "missing, unmanaged, error, record) FROM STDIN") as copy:
                    copy.write(run_rows.getvalue())
                with cur.copy("COPY reconciler_run_changes (run_id, seq, address, started_at, "
                              "action, status, change) FROM STDIN") as copy:
                    copy.write(change_rows.getvalue())
            conn.commit()
        conn.execute("ANALYZE reconciler_runs")
        conn.execute("ANALYZE reconciler_run_changes")
        conn.commit()
    return {"runs": runs, "changes": changes}


def _copy(value: Any) -> str:
    """JSON as one COPY text field (backslashes doubled; JSON has no raw tabs or newlines)."""
    return json.dumps(value, separators=(",", ":")).replace("\\", "\\\\")


def measured(command: list[str], out: Path) -> tuple[float, float]:
    """(wall, CPU) seconds of one command in a fresh process (bench/measure.py)."""
    import subprocess

    figures = out.with_suffix(".measure.json")
    with out.open("wb") as handle:
        subprocess.run([sys.executable, str(BENCH / "measure.py"), str(figures), "--", *command],
                       stdout=handle, stderr=subprocess.PIPE, env=_env(), cwd=REPO, timeout=600,
                       check=True)
    got = json.loads(figures.read_text())
    return float(got["wall_s"]), float(got["cpu_s"])


def repeat(call: Callable[[], Any], times: int) -> dict[str, float]:
    samples = []
    for _ in range(times):
        began = time.perf_counter()
        call()
        samples.append(time.perf_counter() - began)
    return {"p50_ms": round(statistics.median(samples) * 1000, 2),
            "p95_ms": round(p95(samples) * 1000, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a PostgreSQL to use (default: start one, tests/pg.py)")
    parser.add_argument("--environments", type=int, default=100)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--runs", type=int, default=10, help="`history --address` processes")
    parser.add_argument("--queries", type=int, default=50, help="repetitions of each query")
    parser.add_argument("--json", type=Path, help="write the results")
    parser.add_argument("--loaded", action="store_true",
                        help="--url already holds the runs (from an earlier load): time only")
    parser.add_argument("--cost", type=int, default=0, metavar="N",
                        help="also measure recording's cost on runs of N creates (local backend)")
    parser.add_argument("--cost-repeat", type=int, default=3)
    parser.add_argument("--skip-fleet", action="store_true", help="only --cost")
    args = parser.parse_args()

    results: dict[str, Any] = {}
    if args.cost:
        results["recording_cost"] = cost(args.cost, args.cost_repeat)
    if not args.skip_fleet:
        results.update(on_database(args.url, lambda url: run(url, args)))
    report(results, args.json)


def on_database(url: str | None, job: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
    """`job(url)`; without a URL, against a PostgreSQL server started for it (tests/pg.py)."""
    if url is not None:
        return job(url)
    from tests.pg import PostgresServer

    server = PostgresServer().start()
    try:
        return job(server.url)
    finally:
        server.stop()


def report(results: dict[str, Any], out: Path | None) -> None:
    print(json.dumps(results, indent=2))
    if out:
        out.write_text(json.dumps(results, indent=2) + "\n")


def run(url: str, args: argparse.Namespace) -> dict[str, Any]:
    from reconciler.history.model import ObjectChange, RunRecord, new_id, utc_now
    from reconciler.history.postgres import PostgresHistory
    from reconciler.history.store import Query

    results: dict[str, Any] = {}
    if not args.loaded:
        began = time.perf_counter()
        results["loaded"] = load(url, args.environments, args.days)
        results["load_s"] = round(time.perf_counter() - began, 1)

    with tempfile.TemporaryDirectory(prefix="reconciler-history-bench-") as work:
        directory = Path(work)
        (directory / "reconciler.yaml").write_text(
            f"state:\n  backend: postgres\n  url: {url}\n  workspace: {WORKSPACE}\n"
            "providers:\n  superoffice:\n    base_url: https://sod.superoffice.com/Cust1/api/v1\n"
            "    token: ${SUPEROFFICE_TOKEN}\n")
        since = f"{datetime.now(UTC).year - 1}-12-07"
        command = [*reconciler(), "history", str(directory), "--address", ADDRESS, "--since",
                   since, "--format", "json"]
        out = directory / "history.out"
        measured(command, out)  # warm-up
        answered = len(json.loads(out.read_text())["runs"])
        samples = [measured(command, out) for _ in range(args.runs)]
        walls, cpus = [w for w, _ in samples], [c for _, c in samples]
        results["history_address"] = {
            "command": " ".join(["reconciler", *command[len(reconciler()):]]).replace(url, "URL"),
            "runs_answered": answered, "p50_s": round(statistics.median(walls), 3),
            "p95_s": round(p95(walls), 3), "cpu_p95_s": round(p95(cpus), 3), "goal_s": 1.0}
    import os

    results["load_average"] = [round(x, 2) for x in os.getloadavg()]

    store = PostgresHistory(url, WORKSPACE)
    year = datetime.now(UTC) - timedelta(days=365)
    quarter = datetime.now(UTC) - timedelta(days=args.days)
    n = args.queries
    results["dashboard_queries"] = {
        "latest_run_per_environment": repeat(lambda: store.latest_per_environment(kind="drift"), n),
        "recent_runs_50_with_changes": repeat(lambda: store.runs(Query(limit=50)), n),
        "address_history_a_year": repeat(lambda: store.runs(Query(address=ADDRESS, since=year)), n),
        "drift_counts_one_environment_90d": repeat(
            lambda: store.drift_series("env-042", since=quarter), args.queries),
        "drift_counts_every_environment_90d_daily": repeat(
            lambda: store.drift_series(None, since=quarter, bucket="day"), max(5, n // 5)),
        "drift_counts_every_environment_90d_every_run": repeat(
            lambda: store.drift_series(None, since=quarter), 3),
    }

    def record() -> None:
        at = utc_now()
        store.append(RunRecord(id=new_id(at), kind="drift", started_at=at, finished_at=at,
                               outcome="drift", actor="bench", environment="env-007",
                               counts={"drifted": 3},
                               changes=tuple(ObjectChange(f"superoffice.consent_purpose.p{i}",
                                                          "drift", "changed") for i in range(3))),
                     retention_days=args.days)

    results["record_one_run"] = repeat(record, args.queries)
    return results


def cost(size: int, times: int) -> dict[str, Any]:
    """The same runs with history on and off, interleaved; medians of each command."""
    samples: dict[tuple[str, bool], list[tuple[float, float]]] = {}
    purposes = "".join(f"    p{i}:\n      name: Purpose {i}\n      order: {i}\n" for i in range(size))
    for _ in range(times):
        for enabled in (True, False):
            with tempfile.TemporaryDirectory(prefix="reconciler-history-cost-") as work:
                directory = Path(work)
                (directory / "reconciler.yaml").write_text(
                    "state:\n  backend: local\n  path: state/default.json\nproviders:\n"
                    "  outreach:\n    token: ${OUTREACH_TOKEN}\n"
                    f"history:\n  enabled: {str(enabled).lower()}\n")
                (directory / "purposes.yaml").write_text("outreach:\n  call_purposes:\n" + purposes)
                out = directory / "out.log"
                for name, command in (("apply", ["apply", "--auto-approve"]), ("plan", ["plan"]),
                                      ("drift", ["drift"])):
                    samples.setdefault((name, enabled), []).append(measured(
                        [*reconciler(), command[0], str(directory), "--sandbox", *command[1:]], out))
    found: dict[str, Any] = {"creates": size, "repeat": times}
    for name in ("apply", "plan", "drift"):
        on, off = samples[(name, True)], samples[(name, False)]
        wall = (statistics.median(w for w, _ in on), statistics.median(w for w, _ in off))
        cpu = (statistics.median(c for _, c in on), statistics.median(c for _, c in off))
        found[name] = {"wall_s_on_off": [round(x, 3) for x in wall],
                       "cpu_s_on_off": [round(x, 3) for x in cpu],
                       "wall_ratio": round(wall[0] / wall[1], 3), "cpu_ratio": round(cpu[0] / cpu[1], 3)}
    return found


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("SUPEROFFICE_")} | {"NO_COLOR": "1"}


if __name__ == "__main__":
    main()

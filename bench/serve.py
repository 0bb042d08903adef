"""The dashboard at fleet scale: 100 environments x 90 days of hourly drift runs (216,000
runs) in PostgreSQL, every page asked over real HTTP.

    python bench/serve.py                       # starts a throwaway PostgreSQL (tests/pg.py)
    python bench/serve.py --url postgresql://... --requests 50 --json FILE

The runs are bulk-loaded by bench/history.py's loader. The service's web app (the same
build_app `reconciler serve` runs: archive, pages, chart, metrics) then serves them with
uvicorn on a loopback port, and each page is asked --requests times, one at a time, after
a warm-up: p50 and p95 of the whole answer (request sent to body read). Goal: p95 < 100 ms.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.history import (  # noqa: E402 (after the path is set)
    ADDRESS,
    WORKSPACE,
    load,
    on_database,
    p95,
    report,
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_fleet(url: str, environments: int) -> tuple[Any, str]:
    """The service's app over the loaded history, on a loopback port (no scheduler)."""
    import uvicorn

    from reconciler.history.postgres import PostgresHistory
    from reconciler.service.archive import Archive
    from reconciler.service.metrics import Metrics, drift_gauges
    from reconciler.service.web import build_app

    archive = Archive({f"env-{e:03d}": (("superoffice",), PostgresHistory(url, WORKSPACE))
                       for e in range(environments)})
    metrics = Metrics(lambda: drift_gauges(archive))
    app = build_app(archive, metrics, dict, lambda: True)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    return server, f"http://127.0.0.1:{port}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a PostgreSQL to use (default: start one, tests/pg.py)")
    parser.add_argument("--environments", type=int, default=100)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--requests", type=int, default=50, help="requests per page")
    parser.add_argument("--json", type=Path, help="write the results")
    parser.add_argument("--loaded", action="store_true",
                        help="--url already holds the runs (a previous bench/history.py load)")
    args = parser.parse_args()

    report(on_database(args.url, lambda url: run(url, args)), args.json)


def run(url: str, args: argparse.Namespace) -> dict[str, Any]:
    import httpx

    began = time.perf_counter()
    loaded = None if args.loaded else load(url, args.environments, args.days)
    results: dict[str, Any] = {"loaded": loaded, "load_s": round(time.perf_counter() - began, 1),
                               "requests_per_page": args.requests, "pages_ms": {},
                               "load_average_1m": round(os.getloadavg()[0], 1)}
    web, base = serve_fleet(url, args.environments)
    try:
        with httpx.Client(base_url=base, timeout=60) as client:
            runs = client.get("/api/v1/runs?limit=100").json()["runs"]
            drifted = next(r["id"] for r in runs if r["outcome"] == "drift")
            env = f"env-{min(42, args.environments - 1):03d}"
            pages = {
                "fleet /": "/",
                "environment (7 days, 168 points)": f"/environments/{env}",
                "environment (30 days, hourly points)": f"/environments/{env}?days=30",
                "environment (90 days, daily points)": f"/environments/{env}?days=90",
                "runs /runs": "/runs",
                "run /runs/{id}": f"/runs/{drifted}",
                "address history (100 environments)": f"/addresses/{ADDRESS}",
                "api environments": "/api/v1/environments",
                "api runs": "/api/v1/runs",
                "api run": f"/api/v1/runs/{drifted}",
                "metrics": "/metrics",
            }
            for name, path in pages.items():
                for _ in range(3):  # warm-up
                    assert client.get(path).status_code == 200, path
                samples = []
                size = 0
                for _ in range(args.requests):
                    start = time.perf_counter()
                    response = client.get(path)
                    size = len(response.content)
                    samples.append((time.perf_counter() - start) * 1000)
                    assert response.status_code == 200, path
                ordered = sorted(samples)
                results["pages_ms"][name] = {"p50": round(ordered[len(ordered) // 2], 1),
                                             "p95": round(p95(samples), 1), "bytes": size}
                print(f"{name:40s} p50 {results['pages_ms'][name]['p50']:7.1f} ms  "
                      f"p95 {results['pages_ms'][name]['p95']:7.1f} ms  {size:>8} bytes",
                      file=sys.stderr)
    finally:
        web.should_exit = True
    return results


if __name__ == "__main__":
    main()

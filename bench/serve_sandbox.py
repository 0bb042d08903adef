"""Serve every vendor sandbox on one loopback port, without rate limits, for the benchmark.

`reconciler sandbox` has no option to lift Outreach's 10,000 requests/hour quota, which
a 10,000-create run would hit, so this wrapper builds the settings itself
(a `--rate-limit` option on `reconciler sandbox` would be cleaner). It also:

- does not persist writes unless `--persist` is given: the sandbox tables rewrite their
  whole JSON file after every write (O(N) per request, O(N^2) per run), which at 10,000
  objects would make the emulator, not the client, the thing being measured. The data
  files in `--data` are still *read* at start, which is how the harness seeds objects;
- turns uvicorn's access log off: one log line per request competes for the same two
  cores as the process being measured;
- keeps idle connections open for 2 minutes (uvicorn closes them after 5 s): on a busy
  machine a pooled connection can sit idle that long between two requests, and the raw
  floor, which has no retries, then failed with a ReadError when the server closed it
  just as a request was sent.

    python bench/serve_sandbox.py --port 8765 --data /tmp/bench-data
"""

from __future__ import annotations

import argparse
from pathlib import Path

import uvicorn

from reconciler.providers.sandboxes import SandboxSettings, create_app
from reconciler.sandbox import common


def _no_save(self: common.Table) -> None:
    """Keep the table in memory only (see the module docstring)."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--data", type=Path, default=None,
                        help="read (and with --persist, write) the vendors' data files here")
    parser.add_argument("--persist", action="store_true",
                        help="write every change back to the data files, as `reconciler sandbox` does")
    args = parser.parse_args()
    if not args.persist:
        common.Table.save = _no_save  # type: ignore[method-assign]
    settings = SandboxSettings(data_dir=args.data, outreach_rate_limit=0, webex_campaign_rate_limit=0,
                               superoffice_builtins=False)
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="warning",
                access_log=False, lifespan="off", timeout_keep_alive=120)


if __name__ == "__main__":
    main()

"""Run one command and write its wall time, CPU and peak RSS as JSON.

The harness holds the generated manifests and seeds in memory (hundreds of MB at
N = 100,000), and a child's ru_maxrss counts the parent's pages it maps between
fork and exec: measured from the harness, `python -c pass` "peaks" at the harness's
size. This small launcher forks the measured command instead, so its figure is the
command's own.

    python bench/measure.py RESULT.json -- COMMAND...
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time


def main() -> None:
    result, separator, *command = sys.argv[1:]
    assert separator == "--" and command, __doc__
    start = time.perf_counter()
    proc = subprocess.Popen(command)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    with open(result, "w", encoding="utf-8") as out:
        json.dump({"code": code, "wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime,
                   "rss_mb": usage.ru_maxrss / 1024}, out)
    sys.exit(code)


if __name__ == "__main__":
    main()

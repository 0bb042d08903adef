"""The CLI run inside the test process, as `python -m reconciler` would run it, without the
start of a process (~0.5 s each, 40 % of the suite's tests): the same entry point
(`reconciler.cli.main`, which installs redaction), the environment, working directory, argv
and standard streams of the call, bytes decoded as `subprocess.run(text=True)` decodes a
child's, and the exit code from SystemExit. Anything the run leaves behind in the process
would be a leak of reconciler's (its state lives in the run: `reconciler.cli.app.run`,
`reconciler.redact.run_scope`); the tests that need a real process say so
(`run_cli(..., process=True)`)."""

from __future__ import annotations

import contextlib
import io
import os
import sys
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path


def _exit_code(code: object) -> tuple[int, str]:
    """What the interpreter makes of `SystemExit(code)`: an int as is, None as 0, anything
    else printed on stderr with status 1."""
    if code is None:
        return 0, ""
    if isinstance(code, int):
        return code, ""
    return 1, f"{code}\n"


def _decoded(stream: io.TextIOWrapper) -> str:
    """The bytes written, read back as a parent reads a child's pipe in text mode."""
    stream.flush()
    data = stream.buffer.getvalue()  # type: ignore[attr-defined]
    return data.decode("utf-8", "replace").replace("\r\n", "\n").replace("\r", "\n")


def run_in_process(args: Sequence[str], env: Mapping[str, str], cwd: Path,
                   stdin: str | None) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `reconciler *args` run in this process."""
    import reconciler
    from reconciler.cli import main

    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict", write_through=True)
    err = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="backslashreplace",
                           write_through=True)
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    saved_streams, saved_argv = (sys.stdin, sys.stdout, sys.stderr), sys.argv
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    sys.stdin = io.TextIOWrapper(io.BytesIO((stdin or "").encode()), encoding="utf-8")
    sys.stdout, sys.stderr = out, err
    sys.argv = [str(Path(reconciler.__file__).with_name("__main__.py")), *args]  # as `-m` sets it
    tail = ""
    try:
        main()
        code = 0
    except SystemExit as exc:
        code, tail = _exit_code(exc.code)
    except Exception:  # the interpreter would print the trace and exit 1 (Ctrl-C stops pytest)
        code, tail = 1, traceback.format_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):  # as the interpreter does at exit
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        sys.stdin, sys.stdout, sys.stderr = saved_streams
        sys.argv = saved_argv
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
    err.write(tail)
    return code, _decoded(out), _decoded(err)

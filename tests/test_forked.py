"""tests/forked.py starts a real process per run, as the hostile-input, crash and interrupt
tests need: its own pid, its streams, its exit code; killed past a timeout; signals as for
`python -m reconciler`; interpreter settings still honoured (by an exec'd start)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reconciler.providers.sandboxes import free_port
from tests import forked

ENV = {**os.environ, "NO_COLOR": "1"}


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "reconciler", *args]


def gone(pid: int) -> bool:
    """The process has ended and was reaped (by the fork server), within a few seconds."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.01)
    return False


def serving(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(0.02)
    raise AssertionError(f"nothing listens on {port}")


def test_a_run_has_its_own_streams_and_exit_code(tmp_path: Path) -> None:
    ok = forked.run(command("--version"), capture_output=True, text=True, env=ENV, timeout=30)
    assert (ok.returncode, ok.stdout, ok.stderr) == (0, f"reconciler {_version()}\n", "")
    bad = forked.run(command("nope"), capture_output=True, text=True, env=ENV, timeout=30,
                     cwd=tmp_path)
    assert bad.returncode == 1 and bad.stdout == "", bad
    assert "Usage: reconciler" in bad.stderr and "No such command 'nope'" in bad.stderr


@pytest.mark.parametrize(("stop", "code"), [(signal.SIGINT, 0), (signal.SIGTERM, -signal.SIGTERM),
                                            (signal.SIGKILL, -signal.SIGKILL)],
                         ids=["int", "term", "kill"])
def test_a_hang_is_bounded_and_signals_act_as_on_python_m(stop: signal.Signals, code: int,
                                                          tmp_path: Path) -> None:
    """`reconciler sandbox` serves until stopped: the timeout expires, the signal ends it as
    it ends `python -m reconciler sandbox` (Ctrl-C: a clean exit 0)."""
    port = free_port()
    with forked.Popen(command("sandbox", "--port", str(port), "--data", str(tmp_path)),
                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV) as proc:
        assert proc.pid != os.getpid()
        serving(port)
        with pytest.raises(subprocess.TimeoutExpired):
            proc.communicate(timeout=0.1)
        assert proc.poll() is None
        proc.send_signal(stop)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == code, err
    assert f"127.0.0.1:{port}" in out + err
    assert gone(proc.pid)


def test_an_interpreter_setting_gets_an_interpreter_of_its_own(tmp_path: Path) -> None:
    """PYTHONPATH is read when the interpreter starts, which a forked run never does: that
    run is exec'd (here: a `reconciler` package on PYTHONPATH shadows the installed one)."""
    fake = tmp_path / "reconciler"
    fake.mkdir()
    (fake / "__init__.py").write_text("")
    (fake / "__main__.py").write_text("print('the PYTHONPATH one')\n")
    (tmp_path / "run").mkdir()  # not the repository, whose own package -m would find first
    done = forked.run(command("--version"), capture_output=True, text=True, timeout=30,
                      env={**ENV, "PYTHONPATH": str(tmp_path)}, cwd=tmp_path / "run")
    assert done.stdout == "the PYTHONPATH one\n", done


def _version() -> str:
    from reconciler import __version__

    return __version__

"""`python -m reconciler` as a real OS process per run, without an interpreter start per run.

Starting `python -m reconciler` costs ~0.45 s before the command begins (interpreter, site,
imports). The hostile-input and crash tests run the CLI hundreds of times as a process for
*containment* (a bound that kills a hang, a signal, a kill that must not corrupt state), not
to test start-up. So one server per test process (`python -m tests.forked`, started on first
use) imports the CLI once, never runs it, holds no thread, and forks a child per run.

The child is a separate process like any other: its own pid, memory, fds 0/1/2 (dup2'd, so
C-level writes reach the test's pipes too), environment (os.environ, so libpq's getenv sees
it), working directory, sys.path[0] and argv. It runs `reconciler` as `-m` runs it (runpy:
sys.argv[0] is reconciler/__main__.py) and ends through the interpreter's own exit: a
SystemExit code, an uncaught exception's traceback and status 1, Ctrl-C's re-raised SIGINT,
atexit, joins of threads, flushes. Signals reach it as they reach `python -m reconciler`
(SIGINT raises KeyboardInterrupt, SIGPIPE is ignored, SIGTERM and SIGKILL are the defaults).
`Popen` below is subprocess.Popen with only the start and the wait replaced: the test's
timeouts, kills, pipes and signals are subprocess's own. `random` reseeds itself in a forked
child; uuid4 and secrets read os.urandom. What differs from an exec'd start: children share
the server's hash seed, every module is already imported (from this repository, whatever
the run's directory holds; and frozen out of the collector, gc.freeze), and the parent pid
is the server's.

A command that is not `sys.executable -m reconciler`, a `preexec_fn`, or an environment that
changes what the interpreter reads at start-up (PYTHON*, LANG, LC_*) is started with exec as
before: a fork would not see those. Start-up and the entry point themselves are tested by
real `python -m reconciler` processes (tests/test_entry_point.py, `run_cli(process=True)`).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import gc
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
COMMAND = [sys.executable, "-m", "reconciler"]
STATUS = struct.Struct("i")


def _set_limits(rlimits: Mapping[int, tuple[int, int]]) -> None:
    import resource

    for which, (soft, hard) in rlimits.items():
        resource.setrlimit(which, (soft, hard))


def _startup(env: Mapping[str, str]) -> dict[str, str]:
    """What the interpreter reads from the environment when it starts (not after a fork)."""
    return {k: v for k, v in env.items() if k.startswith(("PYTHON", "LC_")) or k == "LANG"}


# ------------------------------------------------------------------ the client ----

class _Server:
    """The fork server of this test process, on one end of a socket pair."""

    def __init__(self) -> None:
        self.env = dict(os.environ)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.process = subprocess.Popen([sys.executable, "-m", "tests.forked", str(theirs.fileno())],
                                        pass_fds=[theirs.fileno()], cwd=REPO, env=self.env,
                                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        theirs.close()
        self.control = ours
        self.lock = threading.Lock()
        atexit.register(self.close)

    def start(self, args: Sequence[str], env: Mapping[str, str], cwd: str,
              fds: tuple[int, int, int], rlimits: Mapping[int, tuple[int, int]]
              ) -> tuple[int, socket.socket]:
        """Fork a child running `reconciler *args`: its pid and the socket its status comes on."""
        reply, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        request = json.dumps({"args": list(args), "env": dict(env), "cwd": cwd,
                              "rlimits": list(rlimits.items())}).encode()
        try:
            with self.lock:
                socket.send_fds(self.control, [request], [child_end.fileno(), *fds])
        finally:
            child_end.close()
        answer = reply.recv(STATUS.size)
        if not answer:
            reply.close()
            raise RuntimeError(f"the fork server ended (status {self.process.poll()})")
        return STATUS.unpack(answer)[0], reply

    def close(self) -> None:
        self.control.close()  # the server ends on end of file
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)


_server: _Server | None = None
_server_lock = threading.Lock()


def _the_server() -> _Server:
    global _server
    with _server_lock:
        if _server is None or _server.process.poll() is not None:
            _server = _Server()
        return _server


class Popen(subprocess.Popen[Any]):
    """subprocess.Popen for `[sys.executable, "-m", "reconciler", *args]`, the child forked
    from the preloaded server (module docstring); anything else is exec'd as usual."""

    _reply: socket.socket | None = None

    def __init__(self, args: Sequence[str], *, rlimits: Mapping[int, tuple[int, int]] | None = None,
                 **kwargs: Any) -> None:
        """`rlimits`: resource limits the child sets on itself (resource.setrlimit) before it
        runs the command, as a `preexec_fn` would."""
        self._rlimits = dict(rlimits or {})
        super().__init__(args, **kwargs)

    def _execute_child(self, args: Any, executable: Any, preexec_fn: Any, close_fds: Any,
                       pass_fds: Any, cwd: Any, env: Any, startupinfo: Any, creationflags: Any,
                       shell: Any, p2cread: int, p2cwrite: int, c2pread: int, c2pwrite: int,
                       errread: int, errwrite: int, *rest: Any) -> None:
        full_env = dict(os.environ if env is None else env)
        plain = not (shell or executable or preexec_fn or pass_fds) and list(args[:3]) == COMMAND
        server = _the_server() if plain else None
        if server is None or _startup(full_env) != _startup(server.env):
            if self._rlimits and preexec_fn is None:
                preexec_fn = functools.partial(_set_limits, self._rlimits)
            super()._execute_child(  # type: ignore[misc]
                args, executable, preexec_fn, close_fds, pass_fds, cwd, env, startupinfo,
                creationflags, shell, p2cread, p2cwrite, c2pread, c2pwrite, errread, errwrite, *rest)
            return
        fds = (p2cread if p2cread != -1 else 0, c2pwrite if c2pwrite != -1 else 1,
               errwrite if errwrite != -1 else 2)
        try:
            self.pid, self._reply = server.start(args[3:], full_env, os.fspath(cwd or os.getcwd()),
                                                 fds, self._rlimits)
            self._child_created = True
        finally:
            self._close_pipe_fds(p2cread, p2cwrite, c2pread, c2pwrite, errread, errwrite)

    def _status(self, timeout: float | None) -> int | None:
        """The exit status the server sends once it reaped the child (None: not yet)."""
        if self.returncode is None and self._reply is not None:
            if not select.select([self._reply], [], [], timeout)[0]:
                return None
            answer = self._reply.recv(STATUS.size)
            self._reply.close()
            if not answer:
                raise RuntimeError("the fork server ended before the run did")
            self.returncode = STATUS.unpack(answer)[0]
        return self.returncode

    def _internal_poll(self, _deadstate: int | None = None, **_: Any) -> int | None:
        if self._reply is None:
            return super()._internal_poll(_deadstate)  # type: ignore[misc,no-any-return]
        if not self._waitpid_lock.acquire(False):  # type: ignore[attr-defined]
            return None  # another thread waits for it (as subprocess's poll answers)
        try:
            return self._status(0)
        finally:
            self._waitpid_lock.release()  # type: ignore[attr-defined]

    def _wait(self, timeout: float | None) -> int:
        if self._reply is None:
            return super()._wait(timeout)  # type: ignore[misc,no-any-return]
        code = None
        if self._waitpid_lock.acquire(timeout=-1 if timeout is None else timeout):  # type: ignore[attr-defined]
            try:
                code = self._status(timeout)
            finally:
                self._waitpid_lock.release()  # type: ignore[attr-defined]
        if code is None:
            raise subprocess.TimeoutExpired(self.args, timeout)  # type: ignore[arg-type]
        return code


def run(args: Sequence[str], *, input: str | None = None, timeout: float | None = None,
        capture_output: bool = False, **kwargs: Any) -> subprocess.CompletedProcess[Any]:
    """subprocess.run with this Popen: past `timeout` the child is killed, TimeoutExpired raised."""
    if input is not None:
        kwargs["stdin"] = subprocess.PIPE
    if capture_output:
        kwargs["stdout"] = kwargs["stderr"] = subprocess.PIPE
    with Popen(list(args), **kwargs) as process:
        try:
            out, err = process.communicate(input, timeout=timeout)
        except BaseException:
            process.kill()
            raise
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


# ------------------------------------------------------------------ the server ----

# What a run imports on first use beyond reconciler's modules (its console, HTTP transport).
LAZY = ["rich.console", "httpcore", "anyio._backends._asyncio", "certifi", "h11",
        "pydantic.type_adapter", "typer._adapters", "typer._click.decorators"]


def _preload() -> None:
    """Every module the CLI may import, imported once (importing runs no command)."""
    import importlib
    import pkgutil

    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]  # as reconciler.cli.main does
    import reconciler

    names = [m.name for m in pkgutil.walk_packages(reconciler.__path__, "reconciler.")
             if m.name not in ("reconciler.__main__", "reconciler.testing")]
    for name in names + LAZY:
        with contextlib.suppress(ImportError):  # an optional extra: the run fails alike
            importlib.import_module(name)
    if threading.active_count() != 1:
        raise SystemExit("tests.forked: importing the CLI started a thread; no fork is safe")
    # What was imported lives as long as a child does: out of the collector's sight (as the
    # gc.freeze documentation advises before forking), a child's collections and its exit
    # no longer touch, and so copy, every page of the server's heap (0.15 s a run).
    gc.collect()
    gc.freeze()


def serve(control: socket.socket) -> dict[str, Any] | None:
    """Fork a child per request until the client's end closes. Returns only in a child,
    with its request, its fds 0/1/2, environment and directory already in place."""
    _preload()
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # the wake-up fd says a child ended
    running: dict[int, socket.socket] = {}
    while True:
        ready = select.select([control, wake_r], [], [])[0]
        if wake_r in ready:
            os.read(wake_r, 4096)
            while running:
                pid, status = os.waitpid(-1, os.WNOHANG)
                if not pid:
                    break
                with contextlib.suppress(OSError), running.pop(pid) as reply:
                    reply.send(STATUS.pack(os.waitstatus_to_exitcode(status)))
        if control not in ready:
            continue
        message, fds, _, _ = socket.recv_fds(control, 1 << 20, 4)
        if not message:  # the test process has ended
            for pid in running:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            return None
        reply = socket.socket(fileno=fds[0])
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            for sock in (control, reply, *running.values()):
                sock.close()
            os.close(wake_r)
            os.close(wake_w)
            for target, fd in enumerate(fds[1:]):
                os.dup2(fd, target)
            for fd in set(fds[1:]):
                os.close(fd)
            request: dict[str, Any] = json.loads(message)
            os.environ.clear()
            os.environ.update(request["env"])
            os.chdir(request["cwd"])
            _set_limits({which: tuple(limit) for which, limit in request["rlimits"]})
            return request
        for fd in fds[1:]:
            os.close(fd)
        running[pid] = reply
        with contextlib.suppress(OSError):
            reply.send(STATUS.pack(pid))


def _main() -> None:
    try:
        request = serve(socket.socket(fileno=int(sys.argv[1])))
    except KeyboardInterrupt:  # Ctrl-C on the test run (its process group): end quietly
        return
    if request is None:
        return
    # The child: the rest is what `python -m reconciler ARGS` does in directory `cwd`.
    import runpy

    sys.path[0] = os.getcwd()  # -m puts the working directory first
    for stream in (sys.stdin, sys.stdout, sys.stderr):
        if stream.isatty():  # the interpreter line-buffers a terminal
            stream.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    sys.argv = ["-m", *request["args"]]
    del request
    runpy.run_module("reconciler", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    _main()

"""Helpers for the service's tests: `reconciler serve` as a real process on a free port, a
local webhook receiver, and Chromium from the Debian packages driven by Playwright."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import REPO

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
INSTALL_HINT = ("the browser tests need Chromium from the Debian packages: run "
                "`apt-get install -y chromium` as root (or `make browser`)")
ARTIFACTS = REPO / "tests" / "artifacts"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check: Callable[[], Any], timeout: float = 60.0, what: str = "the condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@dataclass
class Served:
    url: str
    process: subprocess.Popen[str]
    log_path: Path
    token: str | None = None

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return httpx.get(self.url + path, headers=headers, timeout=30, **kwargs)

    def json(self, path: str) -> Any:
        response = self.get(path)
        assert response.status_code == 200, response.text
        return response.json()

    def runs(self, kind: str | None = None) -> list[dict[str, Any]]:
        runs: list[dict[str, Any]] = self.json("/api/v1/runs?limit=1000" + (f"&kind={kind}" if kind else ""))["runs"]
        return runs

    def wait_runs(self, count: int, kind: str = "drift", timeout: float = 90) -> list[dict[str, Any]]:
        return wait_for(lambda: (lambda r: r if len(r) >= count else None)(self.runs(kind)),  # type: ignore[no-any-return]
                        timeout, f"{count} {kind} runs")

    @property
    def log(self) -> str:
        return self.log_path.read_text()

    def wait_ready(self) -> None:
        def up() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"serve exited with {self.process.returncode}:\n{self.log}")
            try:
                return self.get("/readyz").status_code == 200
            except httpx.TransportError:
                return False

        wait_for(up, 60, "serve to be ready")


@contextmanager
def serving(directory: Path, env: dict[str, str], *args: str, host: str = "127.0.0.1",
            token: str | None = None, log_path: Path | None = None,
            ready: bool = True) -> Iterator[Served]:
    """`reconciler serve DIRECTORY ...` on a free port, until the block ends (SIGTERM);
    `ready=False` returns at once (processes started together; `wait_ready()` then)."""
    port = free_port()
    log_path = log_path or directory.parent / f"serve-{port}.log"
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("OUTREACH_", "WEBEX_", "SUPEROFFICE_"))}
    full_env.update({"NO_COLOR": "1", "COLUMNS": "200", **env})
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "serve", str(directory), "--host", host,
             "--port", str(port), *args], stdout=log, stderr=subprocess.STDOUT, text=True,
            env=full_env, cwd=REPO)
    served = Served(f"http://{host}:{port}", process, log_path, token)
    try:
        if ready:
            served.wait_ready()
        yield served
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@dataclass
class Receiver:
    """A local webhook endpoint that records every alert posted to it."""

    url: str
    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def bodies(self, path: str) -> list[dict[str, Any]]:
        return [body for p, body in self.received if p == path]


@contextmanager
def webhook_receiver(fail_first: int = 0) -> Iterator[Receiver]:
    """`fail_first` answers 503 that many times first (the sender must retry)."""
    state = {"failures": fail_first}
    receiver = Receiver("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if state["failures"] > 0:
                state["failures"] -= 1
                self.send_response(503)
                self.end_headers()
                return
            receiver.received.append((self.path, json.loads(body)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


def chromium_or_skip() -> str:
    """Chromium's path; installs it with apt-get when missing and we may (root), else skips
    saying exactly what to install."""
    import pytest

    if Path(CHROMIUM).exists():
        return CHROMIUM
    if os.geteuid() == 0 and shutil.which("apt-get"):
        done = subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], capture_output=True,
                              text=True, timeout=900, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        if done.returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], capture_output=True, timeout=600)
            subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], capture_output=True,
                           timeout=900, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    if Path(CHROMIUM).exists():
        return CHROMIUM
    pytest.skip(INSTALL_HINT)
    raise AssertionError("unreachable")

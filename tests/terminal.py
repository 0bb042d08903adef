"""Run the CLI on a real pseudo-terminal and return what a person would read."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07")
STYLE_WORDS = re.compile(r"^\s*(bold|dim|italic|underline|red|green|yellow|blue|magenta|cyan|white)+\s*$",
                         re.M)


class TerminalRun:
    """A CLI process whose stdin/stdout/stderr are one pty, as in a terminal emulator."""

    def __init__(self, *args: str, env: dict[str, str], cwd: Path) -> None:
        self.master, slave = pty.openpty()
        full = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
        full.update({"TERM": "xterm-256color", "COLUMNS": "160", "LINES": "50"})
        full.update(env)
        self.proc = subprocess.Popen([sys.executable, "-m", "reconciler", *args], stdin=slave,
                                     stdout=slave, stderr=slave, env=full, cwd=cwd, close_fds=True)
        os.close(slave)
        self.raw = b""

    def read_until(self, needle: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while needle not in self.screen():
            if not self._read(deadline - time.monotonic()):
                break
        return self.screen()

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def finish(self, timeout: float = 120) -> int:
        deadline = time.monotonic() + timeout
        while self._read(deadline - time.monotonic()):
            pass
        code = self.proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        os.close(self.master)
        return code

    def _read(self, remaining: float) -> bool:
        if remaining <= 0:
            return False
        ready, _, _ = select.select([self.master], [], [], min(remaining, 1.0))
        if not ready:
            return self.proc.poll() is None
        try:
            chunk = os.read(self.master, 65536)
        except OSError:  # EIO: the child closed its side
            return False
        self.raw += chunk
        return bool(chunk)

    def screen(self) -> str:
        """The text with colours and carriage returns removed."""
        return ANSI.sub("", self.raw.decode(errors="replace")).replace("\r", "")

"""The one redaction layer: every credential of the run, and everything that leaves the process.

A credential can reach an output along many paths: a vendor echoing it (raw, URL-, HTML- or
JSON-escaped, cut short after 300 characters), an exception message, a log line. Rather than
scrub each path, the run's credentials are registered here once (`register`, from the
settings) and every sink passes through one `Redactor`: stdout and stderr (`install`, which
also covers logs, JSON, Markdown and `state show`), vendor answers before anything parses
them (`providers/http.py`), so that nothing a vendor quotes reaches a plan, state, dump or
manifest; manifests may not hold credentials at all (`manifest/credentials.py`,
`manifest/source.py`). Redaction happens
before any truncation, and also catches any prefix of 8 characters or more of every
encoding, so a message cut inside a credential leaks nothing either.

`clean` is the other half of safe output: values from a vendor, a file name or a manifest
lose their control characters and ANSI escapes before they reach a terminal.
"""

from __future__ import annotations

import copy
import html
import io
import json
import re
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO
from urllib.parse import quote, quote_plus, unquote, urlsplit

MASK = "***"
MIN_PREFIX = 8
"""A run of this many leading characters of a credential (in any encoding) is redacted."""
MIN_SECRET = 4
"""Shorter values are not treated as secrets: redacting them would mangle ordinary text."""


def encodings(secret: str) -> set[str]:
    """The forms a credential takes when something quotes it back."""
    forms = {secret, secret.strip()}
    for raw in list(forms):
        json_form = json.dumps(raw)[1:-1]
        forms |= {quote(raw, safe=""), quote(raw), quote_plus(raw), html.escape(raw),
                  html.escape(raw, quote=False), json_form, json_form.replace("/", "\\/"),
                  "".join(c if c.isalnum() else f"\\u{ord(c):04x}" for c in raw)}
        forms |= {re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), f) for f in list(forms)}
    return {f for f in forms if len(f) >= MIN_SECRET}


class Redactor:
    """Replaces every known credential, in every encoding, and every long enough prefix of
    one, with `***`."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets: set[str] = set()
        self._forms: dict[str, list[str]] = {}  # head -> forms starting with it, longest first
        self._heads: re.Pattern[str] | None = None
        self._byte_heads: re.Pattern[bytes] | None = None
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        new = {s for s in secrets if s and len(s.strip()) >= MIN_SECRET} - self.secrets
        if not new:
            return
        self.secrets |= new
        for secret in new:
            for form in encodings(secret):
                head = form[:MIN_PREFIX]
                self._forms.setdefault(head, []).append(form)
        for forms in self._forms.values():
            forms.sort(key=len, reverse=True)
        heads = sorted(self._forms, key=len, reverse=True)
        self._heads = re.compile("|".join(re.escape(h) for h in heads))
        self._byte_heads = re.compile(b"|".join(re.escape(h.encode()) for h in heads))

    def __call__(self, text: str) -> str:
        if self._heads is None or not text:
            return text
        match = self._heads.search(text)
        if match is None:
            return text
        out: list[str] = []
        pos = 0
        while match is not None:
            start = match.start()
            end = self._extent(text, start, match.group(0))
            if end is None:
                match = self._heads.search(text, start + 1)
                continue
            out.append(text[pos:start])
            out.append(MASK)
            pos = end
            match = self._heads.search(text, end)
        out.append(text[pos:])
        return "".join(out)

    def _extent(self, text: str, start: int, head: str) -> int | None:
        """Where the longest credential form (or prefix of one) at `start` ends."""
        best: int | None = None
        for form in self._forms.get(head, ()):
            n = len(head)
            while n < len(form) and start + n < len(text) and text[start + n] == form[n]:
                n += 1
            if n == len(form) or n >= MIN_PREFIX:
                best = max(best or 0, start + n)
        return best

    def found(self, text: str) -> bool:
        """Whether `text` holds a credential (or a prefix of one)."""
        return self(text) != text

    def found_in(self, data: bytes) -> bool:
        """Whether UTF-8 (or ASCII) bytes hold a credential or a prefix of one, without
        decoding them: a clean answer costs one scan."""
        return self._byte_heads is not None and self._byte_heads.search(data) is not None

    def data(self, value: Any) -> Any:
        """A parsed JSON value with every string (keys too) redacted."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, dict):
            return {self(k) if isinstance(k, str) else k: self.data(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.data(v) for v in value]
        return value


REDACT = Redactor()
"""The run's redactor: every credential `register`ed so far."""


@contextmanager
def run_scope() -> Iterator[None]:
    """A command line's run knows the credentials it registers, no others: as in a new
    process, it starts with none, and the process forgets them when it ends (a process that
    runs the CLI more than once: the tests, a service later)."""
    saved = copy.deepcopy(vars(REDACT))
    vars(REDACT).clear()
    REDACT.__init__()  # type: ignore[misc]
    try:
        yield
    finally:
        vars(REDACT).clear()
        vars(REDACT).update(saved)


def register(secrets: Iterable[str]) -> None:
    REDACT.add(secrets)


def redact(text: str) -> str:
    return REDACT(text)


def conninfo_secrets(conninfo: str) -> list[str]:
    """The passwords in a PostgreSQL connection string, in URL or keyword form (`host=...
    password=...`), as libpq itself reads them (psycopg's parser), plus the URL's own."""
    found: list[str] = []
    try:
        parts = urlsplit(conninfo) if "://" in conninfo else None
    except ValueError:  # not a URL libpq can read either: connecting says so
        parts = None
    if parts is not None and parts.password:
        found += [parts.password, unquote(parts.password)]
    try:
        from psycopg.conninfo import conninfo_to_dict

        password = conninfo_to_dict(conninfo).get("password")
    except Exception:  # unparsable: read it as a person would
        password = None
        match = re.search(r"password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)", conninfo)
        if match:
            password = match.group(1).strip("'")
    if password:
        found.append(str(password))
    return found


# ------------------------------------------------------------------ terminal ----

_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_NEWLINE = re.compile(r"[\n\t]")


def clean(text: str, newlines: bool = False) -> str:
    """`text` without ANSI escapes and control characters (also bidi overrides), which a
    hostile value could use to forge or hide terminal output. Newlines and tabs are kept
    only when `newlines` (a multi-line message); otherwise they become spaces."""
    if _CONTROL.search(text) is not None:  # the common case costs one scan
        text = _CONTROL.sub("", _ANSI.sub("", text))
    return text if newlines else _NEWLINE.sub(" ", text)


class RedactingStream(io.TextIOBase):
    """A text stream that redacts whole lines before passing them on (a credential split
    over two writes is still caught); `flush` passes any partial line on."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self._stream = stream
        self._pending = ""

    def write(self, text: str) -> int:
        self._pending += text
        if "\n" in self._pending:
            done, _, self._pending = self._pending.rpartition("\n")
            self._stream.write(redact(done + "\n"))
        return len(text)

    def flush(self) -> None:
        if self._pending:
            self._stream.write(redact(self._pending))
            self._pending = ""
        self._stream.flush()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._stream, "encoding", "utf-8")

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return getattr(self._stream, "errors", None)

    def writable(self) -> bool:
        return True


def install() -> None:
    """Route stdout and stderr (and so every print, log line and traceback) through
    redaction, once per process."""
    if not isinstance(sys.stdout, RedactingStream):
        sys.stdout = RedactingStream(sys.stdout)
    if not isinstance(sys.stderr, RedactingStream):
        sys.stderr = RedactingStream(sys.stderr)

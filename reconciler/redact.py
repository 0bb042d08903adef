"""The one redaction layer: what people read never shows a credential of the run, and what
is stored or sent is never changed by it.

The run's credentials are registered here once (`register`, from the settings), and every
text a person reads passes through one `Redactor`: stdout and stderr (`install`, which also
covers logs, JSON, Markdown and `state show`) and every error message. It replaces each
credential in every encoding a vendor might quote it in (raw, URL-, HTML-, JSON-escaped), and
also a credential cut short where a text ends (a vendor that cuts its message at 300
characters, inside the token): a prefix of 8 characters or more counts only there, so an
ordinary word that merely begins like a token (`sandbox-team` under `sandbox-...`) is left
alone. Our own cuts redact first (`shorten`), so they never leave part of a credential.

Data is another matter: state, plan files, write-back and dumps are written as they are, or
not at all. A file that would hold a credential is refused (`holds`, `files.py`); vendor
answers are never rewritten (an error body is redacted only for its message); manifests may
not hold credentials at all (`manifest/credentials.py`).

`clean` is the other half of safe output: values from a vendor, a file name or a manifest
lose their control characters and ANSI escapes before they reach a terminal.
"""

from __future__ import annotations

import copy
import io
import re
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO
from urllib.parse import quote, quote_plus, unquote, urlsplit

from reconciler.errors import ReconcilerError

MASK = "***"
MIN_PREFIX = 8
"""A credential cut short where a text ends is redacted from this many characters on."""
MIN_SECRET = 4
"""Shorter values are not treated as secrets: redacting them would mangle ordinary text."""


def encodings(secret: str) -> set[str]:
    """The forms a credential takes when something quotes it back."""
    import html  # start-up: only a run that registers a credential needs these
    import json

    forms = {secret, secret.strip()}
    for raw in list(forms):
        json_form = json.dumps(raw)[1:-1]
        forms |= {quote(raw, safe=""), quote(raw), quote_plus(raw), html.escape(raw),
                  html.escape(raw, quote=False), json_form, json_form.replace("/", "\\/"),
                  "".join(c if c.isalnum() else f"\\u{ord(c):04x}" for c in raw)}
        forms |= {re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), f) for f in list(forms)}
    return {f for f in forms if len(f) >= MIN_SECRET}


_CUT_TAIL = re.compile(r"(?:\.\.\.|…|[\"'`)\]}>.,;:])*[ \t]*(?:\r?\n|$)")
"""What may follow a credential cut short: the end of the text (or line), after the quotes,
brackets or ellipsis that close a cut value."""


class Redactor:
    """Replaces every known credential, in every encoding, with `***`; also a credential cut
    short (8 characters or more of one) where a text or line ends."""

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
        """`text` as a person may read it."""
        if self._heads is None or not text:
            return text
        match = self._heads.search(text)
        if match is None:
            return text
        out: list[str] = []
        pos = 0
        while match is not None:
            start = match.start()
            end = self._extent(text, start, match.group(0), cut=True)
            if end is None:
                match = self._heads.search(text, start + 1)
                continue
            out.append(text[pos:start])
            out.append(MASK)
            pos = end
            match = self._heads.search(text, end)
        out.append(text[pos:])
        return "".join(out)

    def _extent(self, text: str, start: int, head: str, cut: bool) -> int | None:
        """Where the longest credential form at `start` ends; with `cut`, also a form cut
        short (MIN_PREFIX characters or more) where the text or a line ends."""
        best: int | None = None
        for form in self._forms.get(head, ()):
            n = len(head)
            while n < len(form) and start + n < len(text) and text[start + n] == form[n]:
                n += 1
            if n == len(form) or (cut and n >= MIN_PREFIX and (
                    start + n == len(text) or _CUT_TAIL.match(text, start + n))):
                best = max(best or 0, start + n)
        return best

    def found(self, text: str) -> bool:
        """Whether redaction would change `text` (a credential, or one cut short at its end)."""
        return self(text) != text

    def holds(self, text: str) -> bool:
        """Whether `text` holds a whole credential in any encoding (what a file must not)."""
        if self._heads is None or not text:
            return False
        match = self._heads.search(text)
        while match is not None:
            if self._extent(text, match.start(), match.group(0), cut=False) is not None:
                return True
            match = self._heads.search(text, match.start() + 1)
        return False

    def found_in(self, data: bytes) -> bool:
        """Whether UTF-8 (or ASCII) bytes may hold a credential (they hold the start of one),
        without decoding them: a clean answer costs one scan."""
        return self._byte_heads is not None and self._byte_heads.search(data) is not None

    def data(self, value: Any) -> Any:
        """A parsed JSON value with every string (keys too) redacted (for messages only)."""
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


def shorten(text: str, limit: int = 120) -> str:
    """A long value as a message shows it: redacted and cleaned first, then cut (with `...`),
    so that a cut never leaves part of a credential behind."""
    text = clean(REDACT(text))
    return text if len(text) <= limit else text[:limit - 3] + "..."


class CredentialInFileError(ReconcilerError):
    """A file about to be written would hold a credential of the run."""


def refuse_credentials(text: str, what: str) -> None:
    """Raise CredentialInFileError when `text` (about to be stored as `what`) holds a
    credential: it is refused whole, never stored redacted (a changed value would never
    converge, a changed plan file would no longer match its digest)."""
    if REDACT.holds(text):
        raise CredentialInFileError(
            f"{what} would hold a credential of this run (a token, secret or password from "
            "the settings), so it is not written; a value quoted from a vendor or an older "
            "state holds it: find it with `reconciler state show`, and rename the object at "
            "the vendor or `reconciler state rm` its record")


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
    _, sep, rest = conninfo.partition("://")  # as written, however libpq reads it
    userinfo = rest.rpartition("@")[0] if sep else ""
    if ":" in userinfo:
        raw = userinfo.partition(":")[2]
        found += [raw, unquote(raw)]
    for match in re.finditer(r"(?i)\bpas\w*\s*=\s*('(?:[^'\\]|\\.)*'|[^&\s#]+)", conninfo):
        found += [match.group(1).strip("'"), unquote(match.group(1).strip("'"))]
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

"""The redaction layer on its own: every encoding, prefixes, split writes, libpq strings, and
the terminal cleaning of hostile text."""

from __future__ import annotations

import html
import io
import json
import re
from urllib.parse import quote, quote_plus

import pytest

from reconciler.redact import RedactingStream, Redactor, clean, conninfo_secrets, register

SECRET = 'tok&S3CR3T/"x+y<z>\'w=1'


@pytest.mark.parametrize("shown", [
    SECRET, quote(SECRET, safe=""), quote(SECRET), quote_plus(SECRET), html.escape(SECRET),
    html.escape(SECRET, quote=False), json.dumps(SECRET)[1:-1], json.dumps(SECRET)[1:-1].replace("/", "\\/"),
    re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), quote(SECRET, safe="")),
], ids=["raw", "url", "url-path", "url-plus", "html", "html-noquote", "json", "json-slash", "url-lower"])
def test_every_encoding_is_redacted(shown: str) -> None:
    assert Redactor([SECRET])(f"before {shown} after") == "before *** after"


def test_any_prefix_of_eight_characters_is_redacted_and_shorter_ones_are_not() -> None:
    redact = Redactor([SECRET])
    for n in range(8, len(SECRET)):
        assert redact(f"cut: {SECRET[:n]}...") == "cut: ***...", n
    assert redact(f"cut: {SECRET[:7]}") == f"cut: {SECRET[:7]}"


def test_short_secrets_are_redacted_whole_only_and_tiny_ones_not_at_all() -> None:
    assert Redactor(["abcd12"])("x abcd12 abcd1") == "x *** abcd1"
    assert Redactor(["ab"])("ab") == "ab"


def test_parsed_json_is_redacted_keys_and_values() -> None:
    data = {SECRET: [f"a {SECRET}", 1, None, {"k": SECRET[:9]}]}
    assert Redactor([SECRET]).data(data) == {"***": ["a ***", 1, None, {"k": "***"}]}


def test_stream_redacts_a_secret_split_over_two_writes() -> None:
    register(["split-S3CR3T-value"])
    sink = io.StringIO()
    stream = RedactingStream(sink)
    stream.write("token: split-S3C")
    stream.write("R3T-value and more\nnext ")
    assert sink.getvalue() == "token: *** and more\n"
    stream.flush()
    assert sink.getvalue() == "token: *** and more\nnext "


@pytest.mark.parametrize(("conninfo", "password"), [
    ("host=h password=s3cr3t-pw dbname=x", "s3cr3t-pw"),
    ("host=h password='s3 cr3t' dbname=x", "s3 cr3t"),
    ("postgresql://u:p%40ss-w0rd@h/db", "p@ss-w0rd"),
    ("postgresql://u@h/db?password=q-s3cr3t&sslmode=disable", "q-s3cr3t"),
])
def test_conninfo_passwords_are_found_as_libpq_reads_them(conninfo: str, password: str) -> None:
    assert password in conninfo_secrets(conninfo)


def test_clean_drops_escapes_and_controls_but_keeps_the_text() -> None:
    hostile = "\x1b[2J\x1b[H\x1b[32mApply complete!\x1b[0m\x9b31m\u202e\x07\x1b]0;title\x07 ok"
    assert clean(hostile) == "Apply complete!31m ok"
    assert clean("a\nb\tc") == "a b c" and clean("a\nb", newlines=True) == "a\nb"
    assert clean("Café ✓ plain") == "Café ✓ plain"

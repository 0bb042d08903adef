"""A small state's records are read in one call of pydantic's JSON reader instead of being
streamed by ijson (issue 23: a no-op plan's speed). The two readers must never differ: every
document below reads the same, or fails with the same message, either way; where they could
differ (NaN, 1e999, integers past 64 bits, \\u escapes, a key given twice, deep nesting),
the stream reads it, as it always did."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reconciler.errors import StateError
from reconciler.perf import Sharing
from reconciler.state import document
from reconciler.state.base import NO_META
from reconciler.state.document import _whole, parse_document

HEAD = '{"version": 1, "lineage": "l", "serial": 2, "target": {"outreach": {"url": "u"}}, '


def record(attributes: str, meta: str = "{}", address: str = "outreach.call_purpose.a") -> str:
    return (f'"{address}": {{"vendor": "outreach", "kind": "call_purpose", "remote_id": "7", '
            f'"attributes": {attributes}, "meta": {meta}, "prevent_destroy": false}}')


def doc(*records: str, pending: str = '"pending": {}', tail: str = "") -> str:
    return HEAD + '"resources": {' + ", ".join(records) + "}" + (", " + pending if pending else "") \
        + tail + "}"


PENDING = ('"pending": {"outreach.call_purpose.b": {"vendor": "outreach", "kind": "call_purpose", '
           '"action": "create", "started_at": "t"}}')
DEEP = "[" * 70 + "]" * 70

DOCUMENTS = {
    "plain": doc(record('{"name": "A", "order": 1, "x": 1.5e3, "y": -0.0}'), record(
        '{"name": "B"}', address="outreach.call_purpose.b")),
    "pending": doc(record('{"name": "A"}'), pending=PENDING),
    "no-pending": doc(record('{"name": "A"}'), pending=""),
    "lifecycle-meta": doc(record('{"name": "A"}', '{"prevent_destroy": true, "ignore_changes": ["name"]}')),
    "nested": doc(record('{"name": "A", "tags": [{"k": [1, 2.5, null, true]}]}')),
    "non-ascii": doc(record('{"name": "Zweck für Ärzte ✓"}')),
    "escapes": doc(record('{"name": "A \\" \\\\ \\/ \\n \\t"}')),
    "unicode-escape": doc(record('{"name": "\\u00e9"}')),
    "lone-surrogate": doc(record('{"name": "\\ud800"}')),
    "escaped-key": doc(record('{"name": "A"}'), tail=', "resourc\\u0065s": {' + record(
        '{"name": "Z"}', address="outreach.call_purpose.z") + "}"),
    "nan": doc(record('{"name": "A", "order": NaN}')),
    "infinity": doc(record('{"name": "A", "order": -Infinity}')),
    "overflow": doc(record('{"name": "A", "order": 1e999}')),
    "overflow-digits": doc(record('{"name": "A", "order": ' + "9" * 320 + '.0}')),
    "int64": doc(record('{"name": "A", "order": 9223372036854775807}')),
    "past-int64": doc(record('{"name": "A", "order": 9223372036854775808}')),
    "int64-min": doc(record('{"name": "A", "order": -9223372036854775808}')),
    "huge-integer": doc(record('{"name": "A", "order": 1' + "0" * 5000 + "}")),
    "deep": doc(record('{"name": ' + DEEP + "}")),
    "deep-meta": doc(record('{"name": "A"}', '{"x": ' + DEEP + "}")),
    "twice-resources": doc(record('{"name": "A"}'), tail=', "resources": {' + record(
        '{"name": "Z"}', address="outreach.call_purpose.z") + "}"),
    "twice-pending": doc(record('{"name": "A"}'), pending=PENDING, tail=", " + PENDING.replace(
        "call_purpose.b", "call_purpose.c")),
    "twice-record": doc(record('{"name": "A"}'), record('{"name": "B"}')),
    "unknown-field-after": doc(record('{"name": "A"}'), tail=', "extra": 1'),
    "unknown-record-field": doc(record('{"name": "A"}').replace('"meta"', '"colour": 1, "meta"')),
    "wrong-type": doc(record('{"name": "A"}').replace('"remote_id": "7"', '"remote_id": 7')),
    "form-feed": doc(record('{"name":\f"A"}')),
    "truncated": doc(record('{"name": "A"}'))[:-20],
    "trailing-garbage": doc(record('{"name": "A"}')) + " x",
    "newer-after": doc(record('{"name": "A"}'), tail=', "version": 99'),
}


def read(text: str, tmp_path: Path, sharing: Sharing) -> Any:
    """What parse_document makes of it, from the file: the document, or its error."""
    path = tmp_path / "state.json"
    path.write_text(text)
    try:
        parsed = parse_document(path, "state.json", sharing)
    except StateError as exc:
        return ("error", str(exc))
    return ("read", parsed.model_dump(), list(parsed.resources), list(parsed.pending),
            {a: (r.attributes is sharing.known.get(a), r.meta is NO_META)
             for a, r in parsed.resources.items()})


@pytest.mark.parametrize("name", DOCUMENTS)
def test_one_call_reads_what_the_stream_reads(name: str, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    sharing = Sharing({"outreach.call_purpose.a": {"name": "A"}})
    text = DOCUMENTS[name]
    fast = read(text, tmp_path, sharing)
    monkeypatch.setattr(document, "WHOLE_MAX_BYTES", 0)  # every state streamed, as before
    assert read(text, tmp_path, sharing) == fast


def test_a_small_plain_state_is_read_in_one_call(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text(DOCUMENTS["plain"])
    declared = {"name": "B"}
    records = _whole(path, Sharing({"outreach.call_purpose.b": declared}))
    assert records is not None
    resources, pending = records
    assert list(resources) == ["outreach.call_purpose.a", "outreach.call_purpose.b"]
    assert resources["outreach.call_purpose.b"].attributes is declared
    assert resources["outreach.call_purpose.a"].meta is NO_META and pending == {}


@pytest.mark.parametrize("name", ["nan", "overflow", "overflow-digits", "past-int64", "int64-min",
                                  "deep", "deep-meta", "unicode-escape", "escaped-key",
                                  "twice-resources", "twice-pending", "form-feed"])
def test_what_the_readers_could_differ_on_is_left_to_the_stream(name: str, tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text(DOCUMENTS[name])
    assert _whole(path, Sharing()) is None


def test_a_state_past_the_size_is_streamed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "state.json"
    path.write_text(DOCUMENTS["plain"])
    monkeypatch.setattr(document, "WHOLE_MAX_BYTES", len(DOCUMENTS["plain"]) - 1)
    assert _whole(path, Sharing()) is None
    assert parse_document(path, "s").model_dump() == json.loads(DOCUMENTS["plain"]) | {
        "forgotten": {}, "resources": {a: r | {"schema_version": 0} for a, r in json.loads(
            DOCUMENTS["plain"])["resources"].items()}}

"""A list answer small enough to be parsed whole (providers/http.py, WHOLE_ARRAY_BYTES) is
read exactly as the item-by-item stream reads it: the same items, and the same refusals
(NaN, 1e999, integers past 64 bits, malformed JSON), with the same messages. Each answer
is sent twice over real loopback HTTP: once read whole, once with the limit set below any
answer (streamed, as every answer was before), and the two outcomes must be equal."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from reconciler.errors import VendorError
from reconciler.providers import http as vendor_http
from tests.test_http_streaming import get_array, http

BODIES = [
    b'[{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]',
    b'[{"a": 1e999}]',
    b'[{"a": -1e999}]',
    b'[{"a": 123456789012345678901234567890}]',
    b'[{"a": 9223372036854775807}, {"a": -9223372036854775808}]',
    b'[{"a": NaN}]',
    b'[{"a": Infinity}]',
    b'[{"a": "\\ud800"}]',
    b'[{"a": "\\u00e9\\ud83d\\ude00"}]',
    b'[{"a": 1, "a": 2}]',
    b'[{"a": 1}] trailing',
    b'[{"a": 1},]',
    b'[{"a": 1.5, "b": 1E2, "c": -0, "d": 2.5e-320, "e": 1e-400}]',
    b'[{"a": "\xff"}]',
    b'[' + b'[' * 3000 + b']' * 3000 + b']',  # past json's recursion: streamed
    b'[' + b'[' * 500 + b']' * 500 + b']',
    b'[1, "two", null, true, {"x": [1, 2]}]',
    b'[{"ok": 1}, {"ok": 2}, {"bad": 3}]',
]


def _outcome(body: bytes) -> tuple[str, Any]:
    def convert(item: Any) -> Any:
        if isinstance(item, dict) and "bad" in item:
            raise KeyError("bad")  # the vendor's object is not valid
        return item if not isinstance(item, list) else ("a list", len(item))  # (deep ones too)

    try:
        return "items", asyncio.run(get_array(lambda _: http(body), convert))
    except VendorError as exc:
        return "error", str(exc)


@pytest.mark.parametrize("body", BODIES)
def test_whole_and_streamed_answers_read_alike(body: bytes,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    whole = _outcome(body)
    monkeypatch.setattr(vendor_http, "WHOLE_ARRAY_BYTES", -1)  # every answer streamed
    streamed = _outcome(body)
    assert repr(whole) == repr(streamed)


def test_the_whole_reader_leaves_to_the_stream_what_it_could_read_otherwise() -> None:
    for body in (b'[1e999]', b'[12345678901234567890]', b'[NaN]', b'["\\ud800"]', b'[1,]',
                 b'["\xff"]', b'[' * 5000 + b']' * 5000):
        assert vendor_http._whole_array(body) is None, body
    assert vendor_http._whole_array(b'[{"a": 1, "b": [1.5, null]}]') == [{"a": 1, "b": [1.5, None]}]

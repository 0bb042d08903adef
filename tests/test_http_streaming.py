"""VendorClient.get_array over real HTTP on loopback: big arrays are converted item by
item, and what is not a well-formed array is a clear error, or a retry when the
connection drops mid-answer."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from reconciler.errors import VendorError
from reconciler.providers.http import VendorClient

Answer = Callable[[int], bytes]
"""Attempt number (1, 2, ...) -> the raw HTTP answer to send."""


def http(body: bytes, status: str = "200 OK", length: int | None = None) -> bytes:
    size = len(body) if length is None else length
    return (f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {size}\r\n"
            f"\r\n").encode() + body


async def serve(answer: Answer) -> AsyncIterator[str]:
    attempts = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal attempts
        await reader.readuntil(b"\r\n\r\n")
        attempts += 1
        writer.write(answer(attempts))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()


async def get_array(answer: Answer, convert: Callable[[Any], Any] = lambda x: x) -> list[Any]:
    async for url in serve(answer):
        client = VendorClient("vendor", url, {}, secrets=[], max_attempts=3,
                              parse_error=lambda r: (None, r.text[:80]))
        try:
            return await client.get_array("/items", convert)
        finally:
            await client.aclose()
    raise AssertionError("unreachable")


def test_a_large_array_is_converted_item_by_item() -> None:
    items = [{"id": i, "name": f"n{i}", "nested": {"deep": [i, i + 0.5]}} for i in range(20_000)]
    body = json.dumps(items).encode()
    got = asyncio.run(get_array(lambda _: http(b"  \n" + body),
                                lambda x: x["id"] if x["id"] % 2 else None))
    assert got == list(range(1, 20_000, 2))


def test_numbers_stay_ints_and_floats() -> None:
    got = asyncio.run(get_array(lambda _: http(b'[{"a": 1, "b": 2.5, "c": null, "d": "\\u00e9"}]')))
    assert got == [{"a": 1, "b": 2.5, "c": None, "d": "é"}]
    assert type(got[0]["a"]) is int and type(got[0]["b"]) is float


def test_a_malformed_array_is_a_clear_error() -> None:
    with pytest.raises(VendorError, match="the JSON array in the answer is malformed"):
        asyncio.run(get_array(lambda _: http(b'[{"id": 1}, {"id": ]')))


def test_an_object_instead_of_an_array_is_a_clear_error() -> None:
    with pytest.raises(VendorError, match=r"expected a JSON array, got '\{\"code\": 1010\}'"):
        asyncio.run(get_array(lambda _: http(b'{"code": 1010}')))


def test_an_error_status_goes_through_the_vendor_parser() -> None:
    with pytest.raises(VendorError, match="HTTP 403") as caught:
        asyncio.run(get_array(lambda _: http(b'{"message": "no"}', "403 Forbidden")))
    assert "no" in str(caught.value)


def test_a_connection_cut_mid_array_is_retried_from_the_start() -> None:
    body = json.dumps([{"id": i} for i in range(5000)]).encode()

    def answer(attempt: int) -> bytes:
        if attempt == 1:  # promises the whole body, sends half, hangs up
            return http(body[: len(body) // 2], length=len(body))
        return http(body)

    got = asyncio.run(get_array(answer, lambda x: x["id"]))
    assert got == list(range(5000))

"""A vendor's cookies are kept and sent back as httpx does (the client reads an answer's
cookies only when it sets some): over real HTTP on loopback."""

from __future__ import annotations

import asyncio

from reconciler.providers.http import VendorClient


def test_a_cookie_the_vendor_sets_is_sent_back_and_answers_without_one_keep_it() -> None:
    seen: list[str] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                lines = head.decode().split("\r\n")
                seen.append(next((line.split(":", 1)[1].strip() for line in lines
                                  if line.lower().startswith("cookie:")), ""))
                extra = b"Set-Cookie: affinity=node-7; Path=/\r\n" if len(seen) == 1 else b""
                writer.write(b"HTTP/1.1 200 OK\r\n" + extra + b"Content-Length: 2\r\n\r\n{}")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def run() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/api"
        vendor = VendorClient("vendor", url, {}, secrets=[], concurrency=1,
                              parse_error=lambda r: (None, r.text))
        try:
            for _ in range(3):
                await vendor.request("GET", "/items")
        finally:
            await vendor.aclose()
            server.close()

    asyncio.run(run())
    assert seen == ["", "affinity=node-7", "affinity=node-7"]

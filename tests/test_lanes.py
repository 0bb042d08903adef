"""reconciler.providers.lanes over real HTTP on loopback: at most `width` connections, each
kept alive and reused; a lane is free again after an answer, a failure, a pool timeout or a
cancelled wait, so no request ever waits for a lane nobody holds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest

from reconciler.providers.http import VendorClient
from reconciler.providers.lanes import Lanes


@dataclass
class Server:
    url: str
    opened: int = 0
    open_now: int = 0
    most_open: int = 0
    hang_up_next: bool = False  # close the next request's connection without answering


@asynccontextmanager
async def keep_alive_server() -> AsyncIterator[Server]:
    """Answers every request with its own path, on persistent connections."""
    server = Server("")

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        server.opened += 1
        server.open_now += 1
        server.most_open = max(server.most_open, server.open_now)
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                lines = head.decode().split("\r\n")
                length = next((int(line.split(":")[1]) for line in lines
                               if line.lower().startswith("content-length:")), 0)
                await reader.readexactly(length)
                if server.hang_up_next:
                    server.hang_up_next = False
                    return
                path = lines[0].split()[1].encode()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(path), path))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            server.open_now -= 1
            writer.close()

    listening = await asyncio.start_server(handle, "127.0.0.1", 0)
    server.url = f"http://127.0.0.1:{listening.sockets[0].getsockname()[1]}"
    try:
        yield server
    finally:
        listening.close()


def client(width: int, pool_s: float = 5.0) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=Lanes(width, verify=False),
                             timeout=httpx.Timeout(5.0, pool=pool_s))


def test_at_most_width_connections_each_kept_alive() -> None:
    async def run() -> tuple[list[str], Server]:
        async with keep_alive_server() as server, client(3) as http:
            answers = await asyncio.gather(*(http.post(f"{server.url}/{i}", json={"i": i})
                                             for i in range(40)))
            return [a.text for a in answers], server

    texts, server = asyncio.run(run())
    assert texts == [f"/{i}" for i in range(40)]
    assert server.most_open <= 3 and server.opened <= 3


def test_a_failed_request_frees_its_lane() -> None:
    async def run() -> str:
        async with keep_alive_server() as server, client(1) as http:
            server.hang_up_next = True
            with pytest.raises(httpx.RemoteProtocolError):
                await http.get(f"{server.url}/first")
            return (await asyncio.wait_for(http.get(f"{server.url}/second"), 10)).text

    assert asyncio.run(run()) == "/second"


def test_a_lane_held_past_the_pool_timeout_is_a_pool_timeout_then_free_again() -> None:
    async def run() -> str:
        async with keep_alive_server() as server, client(1, pool_s=0.05) as http:
            async with http.stream("GET", f"{server.url}/held") as held:
                with pytest.raises(httpx.PoolTimeout):
                    await http.get(f"{server.url}/waits")
                await held.aread()
            return (await asyncio.wait_for(http.get(f"{server.url}/after"), 10)).text

    assert asyncio.run(run()) == "/after"


def test_a_cancelled_wait_loses_no_lane() -> None:
    async def run() -> list[str]:
        async with keep_alive_server() as server, client(1) as http:
            async with http.stream("GET", f"{server.url}/held") as held:
                waiting = asyncio.create_task(http.get(f"{server.url}/cancelled"))
                await asyncio.sleep(0.01)
                waiting.cancel()
                queued = asyncio.create_task(http.get(f"{server.url}/queued"))
                await asyncio.sleep(0.01)
                await held.aread()
            second = await asyncio.wait_for(queued, 10)
            third = await asyncio.wait_for(http.get(f"{server.url}/third"), 10)
            assert waiting.cancelled()
            return [second.text, third.text]

    assert asyncio.run(run()) == ["/queued", "/third"]


PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                   "all_proxy")


def test_vendor_clients_send_through_lanes_of_their_concurrency(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:  # a runner's own proxy settings would send through httpx's pool
        monkeypatch.delenv(name, raising=False)

    async def run() -> tuple[list[str], Server, object]:
        async with keep_alive_server() as server:
            vendor = VendorClient("vendor", server.url, {}, secrets=[], concurrency=4,
                                  parse_error=lambda r: (None, r.text))
            try:
                answers = await asyncio.gather(*(vendor.request("GET", f"/{i}") for i in range(30)))
                return [a.text for a in answers], server, vendor.http._transport
            finally:
                await vendor.aclose()

    texts, server, transport = asyncio.run(run())
    assert texts == [f"/{i}" for i in range(30)]
    assert isinstance(transport, Lanes) and len(transport.lanes) == 4
    assert server.most_open <= 4 and server.opened <= 4


def test_a_proxy_from_the_environment_is_still_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runners behind an egress proxy set HTTP(S)_PROXY: httpx honours it only with its own
    transport, so a client with such variables set must not send through lanes (which go
    direct). The vendor's address here has nothing listening: only the proxy can answer."""

    async def run() -> tuple[str, list[str]]:
        async with keep_alive_server() as proxy:
            for name in (*PROXY_VARIABLES, "NO_PROXY", "no_proxy"):
                monkeypatch.delenv(name, raising=False)
            for name in ("HTTP_PROXY", "http_proxy"):
                monkeypatch.setenv(name, proxy.url)
            vendor = VendorClient("vendor", "http://127.0.0.1:9/api", {}, secrets=[],
                                  parse_error=lambda r: (None, r.text))
            try:
                answer = await vendor.request("GET", "/purposes")
                return answer.text, [type(t).__name__ for t in vendor.http._mounts.values()]
            finally:
                await vendor.aclose()

    path, mounts = asyncio.run(run())
    assert path == "http://127.0.0.1:9/api/purposes"  # the proxy got the absolute-form request
    assert mounts, "httpx mounted no proxy transport"

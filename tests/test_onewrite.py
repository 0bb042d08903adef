"""reconciler.providers.onewrite over real HTTP (and HTTPS) on loopback: a request's head and
body reach the server together, a body larger than what is held arrives whole, and a
connection kept alive carries the next request the same way."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from reconciler.providers.lanes import Lanes
from reconciler.providers.onewrite import HOLD_BYTES
from tests.certs import self_signed


class Recorder(asyncio.Protocol):
    """Answers each request with the size of its body; keeps every chunk it was sent."""

    def __init__(self, chunks: list[list[bytes]]) -> None:
        self.mine: list[bytes] = []
        chunks.append(self.mine)
        self.buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.mine.append(data)
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            head, _, rest = self.buffer.partition(b"\r\n\r\n")
            length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            if len(rest) < length:
                return
            self.buffer = rest[length:]
            answer = str(length).encode()
            self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s"
                                 % (len(answer), answer))


@asynccontextmanager
async def recording_server(tls: ssl.SSLContext | None = None) -> AsyncIterator[
        tuple[str, list[list[bytes]]]]:
    chunks: list[list[bytes]] = []
    server = await asyncio.get_running_loop().create_server(
        lambda: Recorder(chunks), "127.0.0.1", 0, ssl=tls)
    scheme = "https" if tls else "http"
    try:
        yield f"{scheme}://127.0.0.1:{server.sockets[0].getsockname()[1]}", chunks
    finally:
        server.close()


def blocking_server(chunks: list[bytes]) -> tuple[str, socket.socket]:
    """A server in a thread, blocked in recv: it wakes for the first piece that arrives
    (a request sent in two writes is seen in two pieces)."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            buffer = b""
            while data := conn.recv(65536):
                chunks.append(data)
                buffer += data
                while b"\r\n\r\n" in buffer:
                    head, _, rest = buffer.partition(b"\r\n\r\n")
                    length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                                   if line.lower().startswith(b"content-length:")), 0)
                    if len(rest) < length:
                        break
                    buffer = rest[length:]
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    threading.Thread(target=serve, daemon=True).start()
    return f"http://127.0.0.1:{listener.getsockname()[1]}", listener


def test_head_and_body_arrive_in_one_piece_on_a_kept_alive_connection() -> None:
    chunks: list[bytes] = []
    url, listener = blocking_server(chunks)
    body = {"name": "Purpose 000001", "description": "x" * 200}

    async def run() -> list[str]:
        async with httpx.AsyncClient(transport=Lanes(1, verify=False)) as http:
            return [(await http.post(f"{url}/items", json=body)).text for _ in range(5)]

    with listener:
        assert asyncio.run(run()) == ["ok"] * 5
    encoded = json.dumps(body, separators=(",", ":")).encode()
    assert len(chunks) == 5, chunks  # one connection, one piece per request
    assert all(c.startswith(b"POST /items ") and c.endswith(encoded) for c in chunks)


def test_a_body_larger_than_what_is_held_arrives_whole() -> None:
    body = b"y" * (3 * HOLD_BYTES + 17)

    async def run() -> list[str]:
        async with recording_server() as (url, _), \
                httpx.AsyncClient(transport=Lanes(1, verify=False)) as http:
            return [(await http.post(f"{url}/big", content=body)).text,
                    (await http.get(f"{url}/after")).text]

    assert asyncio.run(run()) == [str(len(body)), "0"]


def test_over_tls_the_request_is_one_piece_too(tmp_path: Path) -> None:
    key, cert = self_signed(tmp_path)
    serving = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    serving.load_cert_chain(cert, key)
    trusting = ssl.create_default_context(cafile=str(cert))

    async def run() -> tuple[str, list[list[bytes]]]:
        async with recording_server(serving) as (url, chunks), \
                httpx.AsyncClient(transport=Lanes(1, verify=trusting)) as http:
            return (await http.post(f"{url}/items", json={"a": 1})).text, chunks

    answer, chunks = asyncio.run(run())
    assert answer == str(len(b'{"a":1}'))
    assert len(chunks) == 1 and len(chunks[0]) == 1 and chunks[0][0].endswith(b'{"a":1}')


def test_an_idle_connection_the_server_closed_is_not_reused() -> None:
    """httpcore asks whether an idle connection is readable (closed by the server) before
    reusing it; the stream answers from its socket, looked up once."""
    closed = asyncio.Event()
    opened: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        opened.append(1)
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")  # no Connection: close
        await writer.drain()
        writer.close()
        await writer.wait_closed()
        closed.set()

    async def run() -> list[str]:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        try:
            async with httpx.AsyncClient(transport=Lanes(1, verify=False)) as http:
                first = (await http.get(f"{url}/one")).text
                await closed.wait()
                await asyncio.sleep(0.05)  # the FIN reaches the client's socket
                return [first, (await http.get(f"{url}/two")).text]
        finally:
            server.close()

    assert asyncio.run(run()) == ["ok", "ok"]
    assert len(opened) == 2

"""Slow clients: the real server closes connections whose request headers are late, and only those."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .test_crash import Server

HEADER_TIMEOUT = 1
KEEPALIVE = 1
SLOW_CLIENTS = 150
# Generous against a busy machine, yet far below "held for 12 s and more".
CLOSED_WITHIN = HEADER_TIMEOUT + 3
HEALTHZ_WITHIN = 1.0


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """`python main.py serve` on its own SQLite database, with short connection deadlines."""
    running = Server(f"sqlite:///{tmp_path / 'test.db'}", tmp_path)
    running.environ |= {
        "HTTP_HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT),
        "HTTP_KEEPALIVE_SECONDS": str(KEEPALIVE),
    }
    running.start()
    try:
        yield running
    finally:
        running.kill()


async def healthz_seconds(port: int) -> float:
    """One GET /healthz on a fresh connection: how long until the whole answer arrived."""
    start = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        answer = await asyncio.wait_for(reader.read(), timeout=10)
    finally:
        writer.close()
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"ok")
    return time.monotonic() - start


async def read_until_closed(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes (a reset after its answer ends it too)."""
    received = b""
    with contextlib.suppress(OSError):
        while chunk := await reader.read(65536):
            received += chunk
    return received


async def trickle_headers(port: int, *, send_nothing: bool = False) -> tuple[float, bytes]:
    """Open a connection and send a request's headers a line at a time, never ending them.

    Returns how long the server kept the connection open and what it answered; gives up
    (returning infinity) after CLOSED_WITHIN + 5 seconds, so the test always ends.
    """
    start = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    async def keep_sending() -> None:
        with contextlib.suppress(OSError):
            if send_nothing:
                return
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            while True:
                await asyncio.sleep(0.2)
                writer.write(b"X-Slow: a\r\n")
                await writer.drain()

    sending = asyncio.create_task(keep_sending())
    try:
        answer = await asyncio.wait_for(read_until_closed(reader), timeout=CLOSED_WITHIN + 5)
        return time.monotonic() - start, answer
    except TimeoutError:
        return float("inf"), b""
    finally:
        sending.cancel()
        writer.close()


@pytest.mark.slow
async def test_slow_request_headers_are_cut_off_at_the_deadline_while_healthz_answers_quickly(
    server: Server,
) -> None:
    slow = [asyncio.create_task(trickle_headers(server.port)) for _ in range(SLOW_CLIENTS)]
    silent = [asyncio.create_task(trickle_headers(server.port, send_nothing=True)) for _ in range(20)]
    await asyncio.sleep(0.5)  # every slow connection is open and trickling
    latencies = []
    for _ in range(10):
        latencies.append(await healthz_seconds(server.port))
        await asyncio.sleep(0.1)
    results = await asyncio.gather(*slow, *silent)
    assert max(latencies) < HEALTHZ_WITHIN, f"/healthz took {max(latencies):.2f} s beside slow clients"
    held = sorted(seconds for seconds, _ in results)
    assert held[-1] < CLOSED_WITHIN, f"a slow connection was held {held[-1]:.1f} s"
    assert held[0] >= HEADER_TIMEOUT * 0.9, "no connection is cut before its deadline"
    assert all(answer.startswith(b"HTTP/1.1 408") for _, answer in results)


@pytest.mark.slow
async def test_a_client_within_the_deadline_is_answered_and_an_idle_kept_alive_connection_is_closed(
    server: Server,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        # Slow, but within the deadline: answered as usual.
        for line in (b"GET /healthz HTTP/1.1\r\n", b"Host: 127.0.0.1\r\n"):
            writer.write(line)
            await asyncio.sleep(HEADER_TIMEOUT * 0.3)
        writer.write(b"\r\n")
        answer = await asyncio.wait_for(reader.readuntil(b"ok"), timeout=5)
        assert answer.startswith(b"HTTP/1.1 200")
        # Then idle: closed after HTTP_KEEPALIVE_SECONDS, with nothing more said.
        start = time.monotonic()
        assert await asyncio.wait_for(reader.read(), timeout=KEEPALIVE + 5) == b""
        assert KEEPALIVE * 0.9 <= time.monotonic() - start < KEEPALIVE + 3
    finally:
        writer.close()


@pytest.mark.slow
async def test_a_next_request_trickled_on_a_kept_alive_connection_is_cut_off_at_the_deadline(
    server: Server,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert (await asyncio.wait_for(reader.readuntil(b"ok"), timeout=5)).startswith(b"HTTP/1.1 200")
        start = time.monotonic()
        reading = asyncio.create_task(read_until_closed(reader))
        writer.write(b"GET /healthz HTTP/1.1\r\n")
        with contextlib.suppress(OSError):
            for _ in range(int((CLOSED_WITHIN + 2) / 0.2)):
                await asyncio.sleep(0.2)
                if reading.done():
                    break
                writer.write(b"X-Slow: a\r\n")
        answer = await asyncio.wait_for(reading, timeout=5)
        assert answer.startswith(b"HTTP/1.1 408")
        assert time.monotonic() - start < CLOSED_WITHIN
    finally:
        writer.close()

"""Slow clients (a slowloris): many connections trickling request headers, and /healthz meanwhile.

Starts the service on 127.0.0.1, measures /healthz latency on fresh connections alone, then
opens `--connections` connections that each send a request line and one header byte every
`--interval` seconds, and measures /healthz again while they trickle. Reports how long the
trickling connections were held (the service closes them at HTTP_HEADER_TIMEOUT_SECONDS)
and the /healthz latencies. Bounded: it stops by itself after `--seconds`.

    .venv/bin/python bench/slow_clients.py --connections 900 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from run import free_port, start_service, stop, wait_until_up  # beside this script


async def healthz_latencies(port: int, count: int) -> list[float]:
    """Milliseconds for `count` GET /healthz, each on a fresh connection."""
    found = []
    for _ in range(count):
        started = time.perf_counter()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        await writer.drain()
        await reader.read()
        writer.close()
        found.append((time.perf_counter() - started) * 1000)
        await asyncio.sleep(0.05)
    return found


async def trickle(port: int, interval: float, until: float) -> float | None:
    """Send headers a byte at a time; seconds until the service closed the connection (None: it never did)."""
    started = time.monotonic()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return None
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        while time.monotonic() < until:
            writer.write(b"X")
            await writer.drain()
            try:
                if await asyncio.wait_for(reader.read(1024), timeout=interval) == b"":
                    return time.monotonic() - started
            except TimeoutError:
                continue
            return time.monotonic() - started  # an answer (408) arrived: the service is closing it
        return None
    except (ConnectionError, OSError):
        return time.monotonic() - started
    finally:
        writer.close()


def summary(name: str, values: list[float]) -> str:
    values = sorted(values)
    p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
    return f"{name}: median {statistics.median(values):.1f} ms, p99 {p99:.1f} ms, max {values[-1]:.1f} ms"


async def measure(port: int, connections: int, interval: float, seconds: float) -> None:
    alone = await healthz_latencies(port, 40)
    until = time.monotonic() + seconds
    tasks = [asyncio.create_task(trickle(port, interval, until)) for _ in range(connections)]
    await asyncio.sleep(1)
    during = await healthz_latencies(port, 40)
    held = await asyncio.gather(*tasks)
    closed = [value for value in held if value is not None]
    print(summary("/healthz alone", alone))
    print(summary(f"/healthz with {connections} trickling connections", during))
    if closed:
        print(
            f"trickling connections closed by the service: {len(closed)} of {connections},"
            f" after {min(closed):.1f} to {max(closed):.1f} s"
        )
    print(f"still open when the run ended ({seconds:.0f} s): {connections - len(closed)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=900)
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between header bytes")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long the trickle lasts at most")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        port = free_port()
        process = start_service(port, Path(folder), Path(folder) / "service.log", smtp_port=free_port())
        try:
            wait_until_up(f"http://127.0.0.1:{port}/healthz", process)
            asyncio.run(measure(port, args.connections, args.interval, args.seconds))
        finally:
            stop(process)


if __name__ == "__main__":
    main()

"""The email route under load, end to end: ask for a code, read it from a local SMTP sink, verify.

wrk cannot read mail, so this workload is driven from Python: `concurrency` signers at
once, each with a fresh work address and its own keep-alive connection, each signing start
to finish as fast as the service lets it. The sink is a real SMTP server (aiosmtpd) on
127.0.0.1 that the service sends to. The HTTP client is a few lines over asyncio streams:
httpx's connection pool costs more CPU than the service it would measure.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import statistics
import threading
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope

CODE = re.compile(rb"\b([0-9A-Z]{4}-[0-9A-Z]{4})\b")


class CodeSink:
    """An SMTP server (in its own thread) that hands each delivered code to whoever waits for its address."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.waiting: dict[str, asyncio.Future[str]] = {}
        self.lock = threading.Lock()
        self.controller = Controller(self, hostname="127.0.0.1", port=port)

    async def handle_DATA(self, server: object, session: object, envelope: Envelope) -> str:
        match = CODE.search(envelope.original_content or b"")
        code = match.group(1).decode() if match else ""
        with self.lock:
            futures = [self.waiting.pop(to, None) for to in envelope.rcpt_tos]
        for future in futures:
            if future is not None:
                future.get_loop().call_soon_threadsafe(_settle, future, code)
        return "250 OK"

    def expect(self, address: str) -> asyncio.Future[str]:
        """A future for the code that will arrive at `address` (ask before the mail can arrive)."""
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        with self.lock:
            self.waiting[address] = future
        return future

    def __enter__(self) -> CodeSink:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


def _settle(future: asyncio.Future[str], code: str) -> None:
    if not future.done():
        future.set_result(code)


_addresses = itertools.count()


class Connection:
    """One keep-alive HTTP/1.1 connection that posts JSON and reads the answer."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def post(self, path: str, payload: dict[str, str]) -> tuple[int, dict[str, str]]:
        body = json.dumps(payload).encode()
        head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        self.writer.write(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
        status = int((await self.reader.readline()).split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        return status, json.loads(await self.reader.readexactly(length)) if length else {}

    def close(self) -> None:
        self.writer.close()


async def _sign_once(connection: Connection, sink: CodeSink, slug: str) -> float:
    """One signature by email, start to finish; its seconds."""
    address = f"signer{next(_addresses)}@example.org"
    arriving = sink.expect(address)
    started = time.monotonic()
    status, asked = await connection.post(f"/api/v1/petitions/{slug}/signatures", {"email": address})
    if status != 202:
        raise RuntimeError(f"asking for a code answered {status}: {asked}")
    try:
        code = await asyncio.wait_for(arriving, timeout=30)
    except TimeoutError:
        raise RuntimeError("a code email never arrived") from None
    body = {"attempt": asked["attempt"], "code": code}
    status, verified = await connection.post(f"/api/v1/petitions/{slug}/signatures/verify", body)
    if status != 201:
        raise RuntimeError(f"verifying answered {status}: {verified}")
    return time.monotonic() - started


async def run(port: int, sink: CodeSink, slug: str, seconds: float, concurrency: int) -> tuple[float, float, float]:
    """(signatures per second, p50 ms, p99 ms) over `seconds` of load."""
    durations: list[float] = []
    connections = [await Connection.open(port) for _ in range(concurrency)]
    started = time.monotonic()
    deadline = started + seconds

    async def signer(connection: Connection) -> None:
        while time.monotonic() < deadline:
            durations.append(await _sign_once(connection, sink, slug))

    try:
        await asyncio.gather(*(signer(connection) for connection in connections))
    finally:
        for connection in connections:
            connection.close()
    elapsed = time.monotonic() - started
    if not durations:
        raise RuntimeError("no signature completed")
    cuts = statistics.quantiles(durations, n=100)
    return len(durations) / elapsed, cuts[49] * 1000, cuts[98] * 1000


class BackgroundSigner:
    """Signs with printed codes at a steady rate in a thread of its own, while other workloads run.

    Real traffic mixes reads with signing: batches close, counts move and the caches
    empty now and then. This keeps that going during the read workloads.
    """

    def __init__(self, port: int, slug: str, codes: list[str], per_second: float) -> None:
        self.port, self.slug, self.codes, self.per_second = port, slug, codes, per_second
        self.signed = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    async def _run(self) -> None:
        connection = await Connection.open(self.port)
        try:
            while not self._stop.is_set() and self.codes:
                status, answer = await connection.post(
                    f"/api/v1/petitions/{self.slug}/signatures", {"code": self.codes.pop()}
                )
                if status != 201:
                    raise RuntimeError(f"background signing answered {status}: {answer}")
                self.signed += 1
                await asyncio.sleep(1 / self.per_second)
        finally:
            connection.close()

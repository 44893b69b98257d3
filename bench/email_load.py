"""The email route under load, end to end: ask for a code, read it from a local SMTP sink, verify.

wrk cannot read mail, so this workload is driven from Python: `concurrency` signers at
once, each with a fresh work address, each signing start to finish as fast as the service
lets it. The sink is a real SMTP server (aiosmtpd) on 127.0.0.1 that the service sends to.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import statistics
import threading
import time
from email import message_from_bytes, policy

import httpx
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope

CODE = re.compile(rb"\b([0-9A-Z]{4}-[0-9A-Z]{4})\b")


class CodeSink:
    """An SMTP server that hands each delivered code to whoever waits for its address."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.codes: dict[str, str] = {}
        self.lock = threading.Lock()
        self.controller = Controller(self, hostname="127.0.0.1", port=port)

    async def handle_DATA(self, server: object, session: object, envelope: Envelope) -> str:
        body = message_from_bytes(envelope.original_content or b"", policy=policy.default).get_body()
        match = CODE.search(str(body.get_content() if body else "").encode())
        with self.lock:
            for to in envelope.rcpt_tos:
                self.codes[to] = match.group(1).decode() if match else ""
        return "250 OK"

    def take(self, address: str) -> str | None:
        with self.lock:
            return self.codes.pop(address, None)

    def __enter__(self) -> CodeSink:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


_addresses = itertools.count()


async def _sign_once(client: httpx.AsyncClient, sink: CodeSink, slug: str, deadline: float) -> float | None:
    """One signature by email, start to finish; its seconds, or None when the deadline came first."""
    address = f"signer{next(_addresses)}@example.org"
    started = time.monotonic()
    asked = await client.post(f"/api/v1/petitions/{slug}/signatures", json={"email": address})
    if asked.status_code != 202:
        raise RuntimeError(f"asking for a code answered {asked.status_code}: {asked.text}")
    code = sink.take(address)
    while code is None:
        if time.monotonic() > deadline + 30:
            raise RuntimeError("a code email never arrived")
        await asyncio.sleep(0.002)
        code = sink.take(address)
    body = {"attempt": asked.json()["attempt"], "code": code}
    verified = await client.post(f"/api/v1/petitions/{slug}/signatures/verify", json=body)
    if verified.status_code != 201:
        raise RuntimeError(f"verifying answered {verified.status_code}: {verified.text}")
    return time.monotonic() - started


async def run(base_url: str, sink: CodeSink, slug: str, seconds: float, concurrency: int) -> tuple[float, float, float]:
    """(signatures per second, p50 ms, p99 ms) over `seconds` of load."""
    durations: list[float] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60) as client:
        started = time.monotonic()
        deadline = started + seconds

        async def signer() -> None:
            while time.monotonic() < deadline:
                took = await _sign_once(client, sink, slug, deadline)
                if took is not None:
                    durations.append(took)

        await asyncio.gather(*(signer() for _ in range(concurrency)))
        elapsed = time.monotonic() - started
    if not durations:
        raise RuntimeError("no signature completed")
    cuts = statistics.quantiles(durations, n=100)
    return len(durations) / elapsed, cuts[49] * 1000, cuts[98] * 1000

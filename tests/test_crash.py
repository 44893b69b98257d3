"""Nothing acknowledged is lost: the real server, killed with SIGKILL while signatures are in flight.

The server runs as a subprocess on the test's database. Several clients sign at once, each
keeping the receipt of every 201 it was given; the server is killed at a random moment,
restarted, and killed again, CRASH_TEST_KILLS times (20 unless set). At the end every
acknowledged signature must still be there and end up counted, the count must equal the
stored signatures with nothing counted twice, and SQLite must pass its integrity check.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from petition.database import Database

from .conftest import free_port

pytestmark = pytest.mark.slow  # a server process killed and started again and again

ROOT = Path(__file__).resolve().parent.parent
# Each kill costs a server start (about 2.5 s): 12 keep the suite's time in check and still kill the
# service mid-commit many times; CRASH_TEST_KILLS=100 for a long hunt.
KILLS = int(os.environ.get("CRASH_TEST_KILLS", "12"))
SIGNERS = 8


class Server:
    """`python main.py serve` on the test's database, started and SIGKILLed at will."""

    def __init__(self, db_url: str, data_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.environ = {
            **os.environ,
            "DATABASE_URL": db_url,
            "DATA_DIR": str(data_dir),
            "BASE_URL": self.url,
            "LOG_BATCH_SECONDS": "1",
            "LOG_BATCH_MIN": "1",
            "RATE_LIMIT_SIGNING_PER_CLIENT": "1000000",
            "LOG_LEVEL": "WARNING",
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.log = data_dir / "server.log"

    def run(self, *arguments: str, stdin: str = "") -> str:
        command = [sys.executable, str(ROOT / "main.py"), *arguments]
        done = subprocess.run(command, input=stdin, env=self.environ, capture_output=True, text=True, check=True)
        return done.stdout

    def start(self, *arguments: str) -> None:
        command = [sys.executable, str(ROOT / "main.py"), "serve", "--port", str(self.port), *arguments]
        with self.log.open("ab") as log:
            # A session of its own, so that killing it kills every worker process it started too.
            self.process = subprocess.Popen(
                command, env=self.environ, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the server exited while starting:\n{self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise AssertionError("the server did not start")

    def kill(self) -> None:
        """SIGKILL the server and every process it started (its workers)."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):  # already gone, workers and all
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


async def sign_until_killed(url: str, slug: str, codes: list[str], acknowledged: list[str]) -> None:
    """Sign with the next code until the server goes away; keep the receipt of every 201."""
    async with httpx.AsyncClient(base_url=url, timeout=5) as client:
        while codes:
            code = codes.pop()
            try:
                response = await client.post(f"/api/v1/petitions/{slug}/signatures", json={"code": code})
            except httpx.HTTPError:
                return
            if response.status_code == 201:
                acknowledged.append(response.json()["receipt"])


async def test_acknowledged_signatures_survive_sigkill_and_are_counted_once(
    db_url: str, tmp_path: Path, dialect: str
) -> None:
    server = Server(db_url, tmp_path)
    server.run("migrate")
    server.run("create-organizer", "crash@example.org", stdin="a passphrase for the crash test\n")
    token = server.run("create-token", "crash@example.org").strip().splitlines()[-1]
    headers = {"authorization": f"Bearer {token}"}
    server.start()
    try:
        slug, codes = await open_petition_with_codes(server.url, headers)
        acknowledged: list[str] = []
        rounds = random.Random(7)
        for kill in range(KILLS):
            if kill:
                server.start()
            signers = [
                asyncio.create_task(sign_until_killed(server.url, slug, codes, acknowledged)) for _ in range(SIGNERS)
            ]
            # Kill at a random moment once this life of the server has acknowledged a signature:
            # a slow machine then still kills a server that took signatures, never one starting.
            await until_acknowledged(acknowledged, len(acknowledged) + 1)
            await asyncio.sleep(rounds.uniform(0.0, 0.3))
            server.kill()  # while requests are in flight
            await asyncio.gather(*signers)
        server.start()
        statuses = await wait_until_counted(server.url, slug, acknowledged)
        assert set(statuses) == {"counted"}, "every acknowledged signature is there, and counted"
    finally:
        server.kill()
    await check_the_books(db_url, dialect, slug, len(acknowledged))


async def until_acknowledged(acknowledged: list[str], count: int, seconds: float = 20) -> None:
    """Wait until `count` signatures were acknowledged; fail after `seconds`."""
    deadline = time.monotonic() + seconds
    while len(acknowledged) < count:
        assert time.monotonic() < deadline, "no signature was acknowledged by the restarted server"
        await asyncio.sleep(0.01)


async def open_petition_with_codes(url: str, headers: dict[str, str]) -> tuple[str, list[str]]:
    petition = {"title": "Crash test", "summary": "Signed while killed.", "target": "The board", "goal": 100}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=10) as admin:
        created = await admin.post("/api/v1/petitions", json={**petition, "verification": ["code"]})
        slug = created.json()["slug"]
        assert (await admin.post(f"/api/v1/petitions/{created.json()['id']}/publish")).status_code == 200
        codes = (await admin.post(f"/api/v1/petitions/{slug}/codes", json={"count": 5000})).json()["codes"]
    return str(slug), list(codes)


async def wait_until_counted(url: str, slug: str, receipts: list[str], seconds: float = 60) -> list[str]:
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        deadline = time.monotonic() + seconds
        while True:
            statuses = []
            for receipt in receipts:
                answer = await client.post(f"/api/v1/petitions/{slug}/signatures/status", json={"receipt": receipt})
                statuses.append(answer.json().get("status", str(answer.status_code)))
            if set(statuses) == {"counted"} or time.monotonic() > deadline:
                return statuses
            await asyncio.sleep(0.5)


async def check_the_books(db_url: str, dialect: str, slug: str, acknowledged: int) -> None:
    database = Database(db_url)
    await database.connect()
    try:
        petition = await database.fetch_one(
            "SELECT id, signature_count, count_code FROM petitions WHERE slug = :slug", {"slug": slug}
        )
        assert petition is not None
        key = {"id": petition["id"]}
        stored = await database.fetch_val("SELECT COUNT(*) FROM signatures WHERE petition_id = :id", key)
        waiting = await database.fetch_val("SELECT COUNT(*) FROM pending_signatures WHERE petition_id = :id", key)
        by_hour = await database.fetch_val("SELECT SUM(signed) FROM hourly_counts WHERE petition_id = :id", key)
        used = await database.fetch_val("SELECT COUNT(*) FROM signing_codes WHERE state = 1")
        used_by_batch = await database.fetch_val("SELECT SUM(used) FROM code_batches")
        assert stored >= acknowledged, "no acknowledged signature was lost"
        assert waiting == 0, "every accepted signature was counted"
        assert petition["signature_count"] == petition["count_code"] == stored, "the count is the rows"
        assert by_hour == stored, "nothing was counted twice"
        assert used == stored, "every spent code made exactly one signature"
        assert used_by_batch == used, "each batch counted its own spent codes"
        if dialect == "sqlite":
            assert await database.fetch_val("PRAGMA integrity_check") == "ok"
    finally:
        await database.disconnect()

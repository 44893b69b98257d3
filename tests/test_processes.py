"""Several processes on one PostgreSQL: the real server with two workers, signing and withdrawing at once.

Every flyer batch is its own code batch, so signatures arrive with codes of several batches in
random order; a group commit in each process must never wait on the other's (a deadlock), and
no signer may get an error from a lock. Codes used twice at once, and withdrawals of one receipt
sent at once, race across the two processes. At the end: no 5xx, every code signed once, and
the count exactly the signatures less the withdrawals.
"""

from __future__ import annotations

import asyncio
import random
import secrets
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from petition.database import Database

from .conftest import TEST_DATABASE_URL
from .system_services import POSTGRESQL, need
from .test_crash import Server, wait_until_counted

pytestmark = pytest.mark.slow  # server processes

BATCHES = 5
CODES_PER_BATCH = 60
CLIENTS = 32


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A fresh schema of the test PostgreSQL: several processes need it (SQLite serves one)."""
    need(POSTGRESQL, there=bool(TEST_DATABASE_URL))
    schema = f"test_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(TEST_DATABASE_URL)
    try:
        await admin.execute(f"CREATE SCHEMA {schema}")
        yield f"{TEST_DATABASE_URL}{'&' if '?' in TEST_DATABASE_URL else '?'}search_path={schema}"
    finally:
        await admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await admin.close()


async def test_two_processes_sign_with_codes_of_several_batches_and_race_withdrawals_without_an_error(
    postgres_url: str, tmp_path: Path
) -> None:
    server = Server(postgres_url, tmp_path)
    server.environ.update({"LOG_BATCH_MIN": "5", "LOG_LEVEL": "WARNING"})
    server.run("migrate")
    server.run("create-organizer", "two@example.org", stdin="a passphrase for two processes\n")
    token = server.run("create-token", "two@example.org").strip().splitlines()[-1]
    server.start("--workers", "2")
    try:
        async with httpx.AsyncClient(
            base_url=server.url, headers={"authorization": f"Bearer {token}"}, timeout=30
        ) as admin:
            petition = {"title": "Two processes", "summary": "Signed at once.", "target": "The board", "goal": 1000}
            created = (await admin.post("/api/v1/petitions", json={**petition, "verification": ["code"]})).json()
            slug = created["slug"]
            assert (await admin.post(f"/api/v1/petitions/{created['id']}/publish")).status_code == 200
            codes: list[str] = []
            for _ in range(BATCHES):
                made = await admin.post(f"/api/v1/petitions/{slug}/codes", json={"count": CODES_PER_BATCH})
                codes += made.json()["codes"]
        order = random.Random(16)
        order.shuffle(codes)
        # Twenty codes are sent twice at once: one use signs, the other is refused.
        queue = [*codes, *codes[:20]]
        order.shuffle(queue)
        statuses: Counter[int] = Counter()
        receipts: list[str] = []

        async def signer() -> None:
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
                while queue:
                    code = queue.pop()
                    answer = await client.post(f"/api/v1/petitions/{slug}/signatures", json={"code": code})
                    statuses[answer.status_code] += 1
                    if answer.status_code == 201:
                        receipts.append(answer.json()["receipt"])

        await asyncio.gather(*(signer() for _ in range(CLIENTS)))
        assert statuses == {201: len(codes), 422: 20}, "every code signed once, and no error"
        # Each of forty receipts withdrawn three times at once: one 200, two 409, nothing else.
        withdrawn = order.sample(receipts, 40)
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            answers = await asyncio.gather(
                *(
                    client.post(f"/api/v1/petitions/{slug}/signatures/withdraw", json={"receipt": receipt})
                    for receipt in withdrawn * 3
                )
            )
        by_receipt: dict[str, list[int]] = {}
        for receipt, answer in zip(withdrawn * 3, answers, strict=True):
            by_receipt.setdefault(receipt, []).append(answer.status_code)
        assert all(sorted(codes) == [200, 409, 409] for codes in by_receipt.values()), by_receipt
        # Withdrawals of counted signatures ride along with the next batch: five more make one.
        async with httpx.AsyncClient(
            base_url=server.url, headers={"authorization": f"Bearer {token}"}, timeout=30
        ) as admin:
            more = (await admin.post(f"/api/v1/petitions/{slug}/codes", json={"count": 5})).json()["codes"]
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            for code in more:
                answer = await client.post(f"/api/v1/petitions/{slug}/signatures", json={"code": code})
                assert answer.status_code == 201
                receipts.append(answer.json()["receipt"])
        codes += more
        kept = [receipt for receipt in receipts if receipt not in set(withdrawn)]
        assert set(await wait_until_counted(server.url, slug, kept)) == {"counted"}
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            for _ in range(100):  # the last batch may close a moment after the statuses say counted
                count = (await client.get(f"/api/v1/petitions/{slug}")).json()["signature_count"]
                if count == len(kept):
                    break
                await asyncio.sleep(0.2)
        assert count == len(kept), "the count is exactly the signatures less the withdrawals"
    finally:
        server.kill()
    assert "Traceback" not in server.log.read_text() and "deadlock" not in server.log.read_text().lower()
    db = Database(postgres_url)
    await db.connect()
    try:
        assert await db.fetch_val("SELECT COUNT(*) FROM signing_codes WHERE state = 1") == len(codes)
        assert await db.fetch_val("SELECT SUM(used) FROM code_batches") == len(codes)
        assert await db.fetch_val("SELECT COUNT(*) FROM signatures") == len(codes)
        assert await db.fetch_val("SELECT COUNT(*) FROM signatures WHERE withdrawn = 1") == len(withdrawn)
    finally:
        await db.disconnect()

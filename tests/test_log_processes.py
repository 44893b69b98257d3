"""Several processes appending to one petition's log on one PostgreSQL at once: every batch enters once.

The real server runs with two workers: both accept signatures and make code batches (each an
append, with its own checkpoint), and the worker that holds the batcher's lease closes batches
every second. Meanwhile this test's own process closes the petition's batch as fast as it can,
so two processes take each batch's pending entries and append at the same moment. At the end:
every signature entered the log exactly once (no commitment twice, none missing), the log's size
is its entries, check-log finds the count equal to the log, and every stored checkpoint is
consistent with the next.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import random
from pathlib import Path

import httpx
import pytest

from petition import log_check, merkle, tlog
from petition.batcher import close_batch
from petition.database import Database

from .conftest import make_settings
from .test_crash import Server, wait_until_counted
from .test_processes import postgres_url as postgres_url  # the fixture: a fresh schema of its own

pytestmark = pytest.mark.slow  # server processes

CODES = 240
SIGNERS = 16
MORE_BATCHES = 20  # code batches made by each of two clients, each an append of its own


def secret(value: bytes) -> str:
    return base64.urlsafe_b64encode(value).decode().rstrip("=")


async def test_two_processes_signing_and_closing_batches_at_once_append_each_batch_exactly_once(
    postgres_url: str, tmp_path: Path
) -> None:
    server = Server(postgres_url, tmp_path)
    # This process closes batches too: it unseals and signs with the server's own secrets.
    settings = make_settings(tmp_path, database_url=postgres_url, base_url=server.url)
    secrets = {"SECRET_KEY": settings.secret_key, "PEPPER": settings.pepper}
    secrets |= {"ENCRYPTION_KEY": settings.encryption_key, "SIGNING_KEY": settings.signing_key}
    server.environ.update({name: secret(value) for name, value in secrets.items()})
    server.run("migrate")
    server.run("create-organizer", "log@example.org", stdin="a passphrase for the log test\n")
    token = server.run("create-token", "log@example.org").strip().splitlines()[-1]
    server.start("--workers", "2")
    db = Database(postgres_url)
    await db.connect()
    try:
        headers = {"authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30) as admin:
            petition = {"title": "One log", "summary": "Appended at once.", "target": "The board", "goal": 1000}
            created = (await admin.post("/api/v1/petitions", json={**petition, "verification": ["code"]})).json()
            slug, pid = created["slug"], created["id"]
            assert (await admin.post(f"/api/v1/petitions/{pid}/publish")).status_code == 200
            codes = (await admin.post(f"/api/v1/petitions/{slug}/codes", json={"count": CODES})).json()["codes"]
        random.Random(4).shuffle(codes)
        receipts: list[str] = []
        signing = True

        async def signer() -> None:
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
                while codes:
                    answer = await client.post(f"/api/v1/petitions/{slug}/signatures", json={"code": codes.pop()})
                    assert answer.status_code == 201, answer.text
                    receipts.append(answer.json()["receipt"])

        async def code_batches() -> None:
            async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30) as admin:
                for _ in range(MORE_BATCHES):
                    made = await admin.post(f"/api/v1/petitions/{slug}/codes", json={"count": 3})
                    assert made.status_code == 201, made.text

        async def closer() -> None:
            while signing:
                await close_batch(db, settings, pid)
                await asyncio.sleep(0.01)

        closing = asyncio.create_task(closer())
        await asyncio.gather(*(signer() for _ in range(SIGNERS)), code_batches(), code_batches())
        # Withdrawals of counted signatures ride along with the batches that close next.
        await wait_until_counted(server.url, slug, receipts[:40])
        withdrawn = receipts[:10]
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            for receipt in withdrawn:
                answer = await client.post(f"/api/v1/petitions/{slug}/signatures/withdraw", json={"receipt": receipt})
                assert answer.status_code == 200, answer.text
        await asyncio.sleep(1.5)  # the server's batcher and this closer, both at work
        signing = False
        await closing
        await close_batch(db, settings, pid)
    finally:
        server.kill()
        await db.disconnect()
    assert "Traceback" not in server.log.read_text()

    db = Database(postgres_url)
    await db.connect()
    try:
        rows = await db.fetch_all(
            "SELECT idx, data, commitment FROM log_entries WHERE petition_id = :p ORDER BY idx", {"p": pid}
        )
        head = await db.fetch_one("SELECT signature_count, log_size FROM petitions WHERE id = :p", {"p": pid})
        assert head is not None
        assert [int(row["idx"]) for row in rows] == list(range(head["log_size"])), "log_size = entries"
        entered = [bytes(row["commitment"]) for row in rows if row["commitment"] is not None]
        assert sorted(entered) == sorted(tlog.commitment(receipt) for receipt in receipts), "each exactly once"
        kinds = [bytes(row["data"])[0] for row in rows]
        assert kinds.count(tlog.WITHDRAWAL) == len(withdrawn)
        assert kinds.count(tlog.CODE_BATCH) == 1 + 2 * MORE_BATCHES
        assert head["signature_count"] == len(receipts) - len(withdrawn)
        verdicts = [verdict.line async for verdict in log_check.check(db, settings, slug)]
        assert verdicts == [f"ok {slug} size={len(rows)} count={len(receipts) - len(withdrawn)}"]
        keys = log_check.verifier_keys(settings)
        stored = await db.fetch_all("SELECT note FROM log_checkpoints WHERE petition_id = :p ORDER BY size", {"p": pid})
        heads = [log_check.checkpoint_of(row["note"], keys)[1:] for row in stored]
        reader = tlog.LogReader(db)
        for (first, first_root), (second, second_root) in itertools.pairwise(heads):
            if first == 0:  # the empty tree (the checkpoint at publishing) is a prefix of any
                assert first_root == merkle.EMPTY_ROOT
                continue
            proof = await reader.consistency_proof(pid, first, second)
            merkle.verify_consistency(first, second, proof, first_root, second_root)
    finally:
        await db.disconnect()

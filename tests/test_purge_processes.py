"""The retention purge with several processes on one PostgreSQL: exactly once.

Two command-line purges run at once against a server of two workers whose batcher job purges
too (the petition's retention period is 0 days): the log gets exactly one purge record, the
audit trail one row, and the count stays.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from petition import purge, tlog
from petition.database import Database

from .test_crash import ROOT, Server
from .test_processes import postgres_url as postgres_url  # the fixture: a fresh schema of its own

pytestmark = pytest.mark.slow  # server processes


async def test_two_processes_and_the_job_purge_a_petition_exactly_once_on_postgresql(
    postgres_url: str, tmp_path: Path
) -> None:
    server = Server(postgres_url, tmp_path)
    server.run("migrate")
    server.run("create-organizer", "purge@example.org", stdin="a passphrase for the purge test\n")
    token = server.run("create-token", "purge@example.org").strip().splitlines()[-1]
    server.start("--workers", "2")
    try:
        headers = {"authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30) as admin:
            petition = {
                "title": "Once",
                "summary": "Purged once.",
                "target": "The board",
                "goal": 10,
                "verification": ["code"],
            }
            created = (await admin.post("/api/v1/petitions", json=petition)).json()
            slug, pid = created["slug"], created["id"]
            assert (await admin.post(f"/api/v1/petitions/{pid}/publish")).status_code == 200
            codes = (await admin.post(f"/api/v1/petitions/{slug}/codes", json={"count": 3})).json()["codes"]
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as signer:
                for code in codes[:2]:
                    assert (
                        await signer.post(f"/api/v1/petitions/{slug}/signatures", json={"code": code})
                    ).status_code == 201
            db = Database(postgres_url)
            await db.connect()
            try:
                await db.write(
                    lambda tx: tx.execute("UPDATE petitions SET retention_days = 0 WHERE id = :p", {"p": pid})
                )
            finally:
                await db.disconnect()
            assert (await admin.post(f"/api/v1/petitions/{slug}/close")).status_code == 200
        # Two command-line purges at once, while the server's job (under the batcher's lease) purges too.
        command = [sys.executable, str(ROOT / "main.py"), "purge", slug]
        runs = [
            subprocess.Popen(command, env=server.environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)
        ]
        results = [(run.wait(60), *run.communicate()) for run in runs]
        await asyncio.sleep(1.5)  # the job's next rounds find it purged
    finally:
        server.kill()
    assert "Traceback" not in server.log.read_text()
    for status, _out, err in results:
        assert status in (0, 1) and "Traceback" not in err, err
        assert status == 0 or "already destroyed" in err
    db = Database(postgres_url)
    await db.connect()
    try:
        entries = await db.fetch_all("SELECT data FROM log_entries WHERE petition_id = :p", {"p": pid})
        assert [bytes(row["data"])[0] for row in entries].count(tlog.PURGE) == 1
        audited = await db.fetch_val("SELECT COUNT(*) FROM audit_log WHERE action = :a", {"a": purge.AUDIT_ACTION})
        assert audited == 1
        row = await db.fetch_one("SELECT signature_count, purged_at FROM petitions WHERE id = :p", {"p": pid})
        assert row is not None and row["purged_at"] is not None and row["signature_count"] == 2
        assert await db.fetch_val("SELECT COUNT(*) FROM signing_codes") == 0
    finally:
        await db.disconnect()

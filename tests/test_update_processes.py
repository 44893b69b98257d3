"""Two server processes on one PostgreSQL queue and send an update's email exactly once each.

Its own file: the updates tests' module-wide organizer fixture would run it once per dialect,
and several processes need PostgreSQL.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from petition.database import Database
from petition.settings import load_settings

from .conftest import SmtpSink
from .test_crash import Server
from .test_petition_updates import add_contacts, received, updates_to
from .test_petitions import bearer
from .test_processes import postgres_url as postgres_url  # the fixture: a fresh schema of its own

pytestmark = pytest.mark.slow  # server processes


async def test_two_processes_queue_and_send_an_update_exactly_once_on_postgresql(
    postgres_url: str, tmp_path: Path, smtp: SmtpSink
) -> None:
    server = Server(postgres_url, tmp_path)
    server.environ.update(
        {
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(smtp.port),
            "SMTP_TLS": "none",
            "SMTP_FROM": "updates@example.net",
            "UPDATE_EMAILS_PER_MINUTE": "100000",
        }
    )
    server.run("migrate")
    server.run("create-organizer", "two@example.org", stdin="a passphrase for two senders\n")
    token = server.run("create-token", "two@example.org").strip().splitlines()[-1]
    settings = load_settings(server.environ, env_file=tmp_path / "no.env")
    contacts = [f"twice{n:03}@elsewhere.org" for n in range(450)]  # three chunks
    server.start("--workers", "2")
    try:
        async with httpx.AsyncClient(base_url=server.url, headers=bearer(token), timeout=30) as admin:
            fields = {"title": "Two", "summary": "Two senders.", "target": "Us", "goal": 10, "verification": ["code"]}
            created = (await admin.post("/api/v1/petitions", json=fields)).json()
            assert (await admin.post(f"/api/v1/petitions/{created['id']}/publish")).status_code == 200
            db = Database(postgres_url)
            await db.connect()
            try:
                await add_contacts(db, settings, created["id"], contacts)
            finally:
                await db.disconnect()
            for number in range(2):  # two updates at once, each process woken by one
                update = {"title": f"Twice {number}", "body": "Once each.", "email_subscribers": True}
                assert (
                    await admin.post(f"/api/v1/petitions/{created['slug']}/updates", json=update)
                ).status_code == 201
            await received(smtp, 2 * len(contacts), "Twice", seconds=60)
            await asyncio.sleep(1)
    finally:
        server.kill()
    assert "Traceback" not in server.log.read_text()
    for number in range(2):
        got = sorted(message["to"] for message in updates_to(smtp, f"Twice {number}"))
        assert got == sorted(contacts), "each contact once, however many processes queue and send"

"""An update's email survives SIGKILL: the real server, killed while it sends an update to 30 contacts.

The server runs as a subprocess on the test's database and sends through a real SMTP server in
the test. It is killed twice while the update's messages arrive, and restarted each time: in
the end every contact got the update, with at most one extra copy per kill (the message a
process was sending when it died), and every copy carries the same Message-ID as its original.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from pathlib import Path

import httpx
import pytest

from petition import update_mail
from petition.settings import load_settings

from .conftest import SmtpSink
from .test_crash import Server
from .test_petition_updates import add_contacts
from .test_signing import petition_id

pytestmark = pytest.mark.slow  # a server process killed and started again

CONTACTS = 30
TITLE = "Killed while sending"


def arrived(smtp: SmtpSink) -> list[dict]:
    return [message for message in smtp.messages if TITLE in message["subject"]]


async def until_arrived(smtp: SmtpSink, count: int, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while len({message["to"] for message in arrived(smtp)}) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.01)


async def test_a_send_killed_midway_ends_with_every_contact_emailed_and_a_copy_at_most_per_kill(
    db_url: str, tmp_path: Path, smtp: SmtpSink
) -> None:
    from petition.database import Database

    server = Server(db_url, tmp_path)
    server.environ.update(
        {
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(smtp.port),
            "SMTP_TLS": "none",
            "SMTP_FROM": "updates@example.net",
            "UPDATE_EMAILS_PER_MINUTE": "600",  # ten a second: 30 take three seconds
            "OUTBOX_CLAIM_SECONDS": "1",  # what a killed process had claimed comes back at once
            "OUTBOX_POLL_SECONDS": "1",
        }
    )
    server.run("migrate")
    server.run("create-organizer", "updates@example.org", stdin="a passphrase for the update crash test\n")
    token = server.run("create-token", "updates@example.org").strip().splitlines()[-1]
    settings = load_settings(server.environ, env_file=tmp_path / "no.env")
    kills = 0
    server.start()
    try:
        headers = {"authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30) as admin:
            fields = {
                "title": "Crash",
                "summary": "Updates.",
                "target": "The board",
                "goal": 10,
                "verification": ["code"],
            }
            created = (await admin.post("/api/v1/petitions", json=fields)).json()
            assert (await admin.post(f"/api/v1/petitions/{created['id']}/publish")).status_code == 200
            slug = created["slug"]
            db = Database(db_url)
            await db.connect()
            try:
                addresses = [f"crash{n:02}@elsewhere.org" for n in range(CONTACTS)]
                keys = await add_contacts(db, settings, await petition_id(db, slug), addresses)
            finally:
                await db.disconnect()
            update = {"title": TITLE, "body": "Sent through two kills.", "email_subscribers": True}
            posted = await admin.post(f"/api/v1/petitions/{slug}/updates", json=update)
            assert posted.status_code == 201 and posted.json()["recipients"] == CONTACTS
            update_id = posted.json()["id"]
        for after in (6, 18):
            await until_arrived(smtp, after)
            server.kill()
            kills += 1
            server.start()
        await until_arrived(smtp, CONTACTS)
    finally:
        server.kill()
    assert "Traceback" not in server.log.read_text()
    copies: dict[str, list[str]] = defaultdict(list)
    for message in arrived(smtp):
        copies[message["to"]].append(str(message["message"]["Message-ID"]))
    assert sorted(copies) == sorted(addresses), "every contact got the update"
    assert sum(len(ids) for ids in copies.values()) - CONTACTS <= kills, "at most one extra copy per kill"
    for address, ids in copies.items():
        # Every copy carries the one Message-ID of its update and contact (update_mail.message_id).
        expected = update_mail.message_id(settings, update_id=update_id, contact_key=keys[address])
        assert ids == [expected] * len(ids), "a copy has its original's Message-ID"

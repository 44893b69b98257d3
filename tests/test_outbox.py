"""The outbox: mail is durable before it is sent, sent once by competing senders, retried, and dropped when stale."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from petition import outbox, queries
from petition.addresses import parse
from petition.database import Database, Transaction
from petition.mailer import make_mailer
from petition.outbox import Sender
from petition.settings import Settings

from .conftest import Mailbox, SmtpSink, make_settings, smtp_settings


@pytest.fixture
def settings(tmp_path: Path, db_url: str, smtp: SmtpSink) -> Settings:
    return make_settings(tmp_path, database_url=db_url, outbox_retry_seconds=1, **smtp_settings(smtp))


async def queue_mail(db: Database, settings: Settings, addresses: list[str], expires_in: int = 600) -> None:
    async def unit(tx: Transaction) -> None:
        for address in addresses:
            to = parse(address)
            await outbox.queue(
                tx, settings, to=to, subject="Hello", body=f"For {address}", petition_id=None, expires_in=expires_in
            )

    await db.write(unit)


async def waiting(db: Database) -> int:
    return int(await db.fetch_val(queries.COUNT_OUTBOX))


async def test_senders_in_several_processes_send_each_message_once(
    db: Database, settings: Settings, smtp: SmtpSink
) -> None:
    addresses = [f"worker{n}@example.com" for n in range(40)]
    await queue_mail(db, settings, addresses)
    processes = []
    for _ in range(3):  # three processes, each with its own connections and sender
        database = Database(settings.database_url)
        await database.connect()
        processes.append(database)
    try:
        senders = [Sender(database, settings, make_mailer(settings)) for database in processes]
        await asyncio.gather(*(sender.drain() for sender in senders))
    finally:
        for database in processes:
            await database.disconnect()
    for _ in range(100):
        if len(smtp.messages) >= len(addresses):
            break
        await asyncio.sleep(0.01)
    assert sorted(message["to"] for message in smtp.messages) == sorted(addresses)
    assert await waiting(db) == 0, "a sent message is deleted"


async def test_a_failed_send_is_retried_later_and_a_stale_message_is_dropped(
    db: Database, settings: Settings, smtp: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The sender's clock stands still until the test moves it: however slow the machine, the
    # message is not due again within the drain that failed to send it.
    clock = [outbox.now()]
    monkeypatch.setattr(outbox, "now", lambda: clock[0])
    smtp.stop()
    sender = Sender(db, settings, make_mailer(settings))
    await queue_mail(db, settings, ["late@example.com"])
    await sender.drain()
    assert await waiting(db) == 1 and smtp.messages == []
    row = await db.fetch_one("SELECT attempts, due_at FROM outbox")
    assert row is not None and row["attempts"] == 1
    await sender.drain()
    assert smtp.messages == [], "not due again before OUTBOX_RETRY_SECONDS"
    smtp.start()
    clock[0] += settings.outbox_retry_seconds
    await sender.drain()
    assert [m["to"] for m in smtp.messages] == ["late@example.com"] and await waiting(db) == 0
    await queue_mail(db, settings, ["stale@example.com"], expires_in=0)
    await sender.drain()
    assert await waiting(db) == 0 and [m["to"] for m in smtp.messages] == ["late@example.com"]


async def test_a_message_is_encrypted_until_sent(db: Database, settings: Settings) -> None:
    await queue_mail(db, settings, ["secret.sentinel@example.com"])
    sealed = await db.fetch_val("SELECT sealed FROM outbox")
    assert sealed.startswith("v1.") and "sentinel" not in sealed and "Hello" not in sealed
    box = Mailbox()
    await Sender(db, settings, box).drain()
    assert box.messages == [
        {"to": "secret.sentinel@example.com", "subject": "Hello", "body": "For secret.sentinel@example.com"}
    ]


async def test_a_refused_recipient_waits_for_a_retry_while_the_others_go(
    db: Database, settings: Settings, smtp: SmtpSink
) -> None:
    smtp.refuse.add("refused@example.com")
    addresses = [f"worker{n}@example.com" for n in range(9)]
    await queue_mail(db, settings, [*addresses[:4], "refused@example.com", *addresses[4:]])
    await Sender(db, settings, make_mailer(settings)).drain()
    for _ in range(100):
        if len(smtp.messages) >= len(addresses):
            break
        await asyncio.sleep(0.01)
    assert sorted(message["to"] for message in smtp.messages) == sorted(addresses)
    assert await waiting(db) == 1

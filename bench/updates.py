"""Benchmark: posting an update to many contacts: the post's answer, the queueing, memory while sending.

    .venv/bin/python bench/updates.py [--contacts 10000] [--database-url postgresql://...]

On a fresh database (SQLite in a temporary folder by default, or a fresh schema of the given
PostgreSQL database) it writes `--contacts` confirmed contacts for one published petition,
directly and encrypted as the batcher writes them, starts the app (its lifespan: the queueing
job and the outbox's sender run as in production, with UPDATE_EMAILS_PER_MINUTE raised to its
highest) with a mail transport that accepts every message at once, and posts an update with
`email_subscribers` through the API. It prints: the time for the POST to answer (it returns at
once; the queueing runs in the background), the time until every message is queued, the time
until every message is sent, and the process's resident memory (RSS) sampled every 50 ms while
sending: at the start, its peak, and at the end, to show it flat (contacts are queued and sent a
chunk or a message at a time, never all in memory).
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from log import SETTINGS, fresh_database  # noqa: E402 (beside this script)

from petition import accounts, petitions  # noqa: E402
from petition.app import create_app  # noqa: E402
from petition.database import Database, Transaction  # noqa: E402
from petition.encryption import ADDRESS_PAD, encrypt  # noqa: E402
from petition.mailer import Mail  # noqa: E402
from petition.migrations import migrate  # noqa: E402
from petition.settings import Settings  # noqa: E402

SAMPLE_SECONDS = 0.05
WRITE_CHUNK = 1000  # contacts written per transaction while building


class Accepting:
    """A mail transport that accepts every message at once and counts them."""

    def __init__(self) -> None:
        self.sent = 0

    async def send_all(self, messages: list[Mail]) -> list[Exception | None]:
        self.sent += len(messages)
        return [None] * len(messages)


def rss_mib() -> float:
    """This process's resident memory now, MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def build(url: str, settings: Settings, contacts: int) -> tuple[str, str]:
    """A published petition with `contacts` confirmed contacts, and an organizer's API token."""
    db = Database(url)
    await db.connect()
    try:
        await migrate(db)
        await accounts.create_organizer(db, email="bench@example.org", password="x" * 16, admin=True)
        token = await accounts.create_token_for(db, email="bench@example.org", name="bench")
        organizer = await db.fetch_val("SELECT id FROM organizers")
        data = petitions.PetitionCreate(
            title="Updates",
            summary="A benchmark",
            target="Us",
            goal=1_000_000,
            slug="updates-bench",
            verification=["code"],
        )
        petition_id = await petitions.create(db, settings, organizer_id=organizer, data=data)
        await petitions.publish(db, settings, organizer_id=organizer, slug=petition_id)
        for start in range(0, contacts, WRITE_CHUNK):
            rows = []
            for n in range(start, min(start + WRITE_CHUNK, contacts)):
                key = secrets.token_hex(32)
                sealed = encrypt(
                    settings.encryption_key, f"signer{n}@elsewhere.org", f"contact/{key}", pad_to=ADDRESS_PAD
                )
                rows.append({"k": key, "p": petition_id, "s": sealed})

            async def unit(tx: Transaction, rows: list[dict[str, str]] = rows) -> None:
                await tx.execute_many(
                    "INSERT INTO contacts (contact_key, petition_id, sealed) VALUES (:k, :p, :s)", rows
                )

            await db.write(unit)
        return "updates-bench", str(token)
    finally:
        await db.disconnect()


async def run(url: str, data_dir: Path, contacts: int) -> None:
    settings = Settings(
        data_dir=data_dir,
        database_url=url,
        update_emails_per_minute=100_000,
        **SETTINGS,  # type: ignore[arg-type]
    )
    slug, token = await build(url, settings, contacts)
    app = create_app(settings)
    transport = Accepting()
    app.state.sender.transport = transport
    db: Database = app.state.db
    async with app.router.lifespan_context(app):
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench")
        async with client:
            began = time.perf_counter()
            answer = await client.post(
                f"/api/v1/petitions/{slug}/updates",
                json={"title": "News", "body": "An update for everyone.", "email_subscribers": True},
                headers={"authorization": f"Bearer {token}"},
            )
            answered = time.perf_counter() - began
        assert answer.status_code == 201, answer.text
        assert answer.json()["recipients"] == contacts
        update_id = answer.json()["id"]
        queued_at = None
        samples: list[float] = [rss_mib()]
        while True:
            row = await db.fetch_one(
                "SELECT queueing, queued, sent FROM petition_updates WHERE id = :id", {"id": update_id}
            )
            assert row is not None
            if queued_at is None and not row["queueing"]:
                queued_at = time.perf_counter() - began
            samples.append(rss_mib())
            if row["sent"] >= contacts:
                break
            await asyncio.sleep(SAMPLE_SECONDS)
        finished = time.perf_counter() - began
    dialect = "PostgreSQL" if url.startswith("postgres") else "SQLite"
    print(f"{dialect}, {contacts:,} contacts, UPDATE_EMAILS_PER_MINUTE=100,000, a transport that accepts at once")
    print(f"  POST answered in            {answered * 1000:8.1f} ms (recipients {contacts:,})")
    print(f"  all queued after            {queued_at or 0:8.2f} s")
    print(f"  all sent after              {finished:8.2f} s ({transport.sent:,} messages)")
    print(f"  RSS while sending: start {samples[0]:.1f} MiB, peak {max(samples):.1f} MiB, end {samples[-1]:.1f} MiB")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        async with fresh_database(args.database_url, Path(folder)) as url:
            await run(url, Path(folder), args.contacts)


if __name__ == "__main__":
    asyncio.run(main())

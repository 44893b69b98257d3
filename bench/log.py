"""Benchmark: the transparency log's appends, checkpoints, stored bytes and proofs, without HTTP.

    .venv/bin/python bench/log.py [--entries 1000000] [--batch 1000] [--database-url postgresql://...]

Builds one petition's log of `--entries` signature entries on a fresh database (SQLite in a
temporary folder by default, or a fresh schema of the given PostgreSQL database), appending
batches of `--batch` entries exactly as the batcher does (one write each: the entries, their
tiles, a signed checkpoint), and prints: entries appended per second, the time of one append of a
batch, the time to sign one checkpoint, the bytes stored per entry (entries, their commitment
index, tiles, checkpoints), and what inclusion and consistency proofs cost in-process, with the
tile cache cold and warm. `bench/run.py` serves the same log over HTTP beside `/healthz`
(`build_log` here makes it). Everything it makes, it removes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from petition import accounts, checkpoints, petitions, tlog  # noqa: E402
from petition.database import Database, Transaction  # noqa: E402
from petition.migrations import migrate  # noqa: E402
from petition.settings import Settings  # noqa: E402

SETTINGS = dict(secret_key=b"s" * 32, pepper=b"p" * 32, encryption_key=b"e" * 32, signing_key=b"k" * 32)


async def build_log(db: Database, settings: Settings, entries: int, batch: int, *, slug: str = "log-bench") -> str:
    """A published petition whose log holds `entries` signature entries appended `batch` at a time;
    its id. Returns the seconds of each append in `build_log.times`."""
    email = "log-bench@example.org"
    organizer = await db.fetch_val("SELECT id FROM organizers WHERE email = :email", {"email": email})
    if organizer is None:
        await accounts.create_organizer(db, email=email, password="x" * 16, admin=True)
        organizer = await db.fetch_val("SELECT id FROM organizers WHERE email = :email", {"email": email})
    data = petitions.PetitionCreate(
        title="A long log", summary="A benchmark", target="Us", goal=1_000_000, slug=slug, verification=["code"]
    )
    petition_id = await petitions.create(db, settings, organizer_id=organizer, data=data)
    await petitions.publish(db, settings, organizer_id=organizer, slug=petition_id)
    times: list[float] = []
    for start in range(0, entries, batch):
        items = [
            (tlog.signature_entry("email", commit), commit)
            for commit in (secrets.token_bytes(32) for _ in range(min(batch, entries - start)))
        ]

        async def unit(tx: Transaction, items: list[tuple[bytes, bytes | None]] = items) -> None:
            await tlog.append(tx, settings, petition_id, items)

        began = time.perf_counter()
        await db.write(unit)
        times.append(time.perf_counter() - began)
    # The count the log says, as the batcher would have moved it.
    count = "UPDATE petitions SET signature_count = :n, count_email = :n WHERE id = :id"
    await db.write(lambda tx: tx.execute(count, {"n": entries, "id": petition_id}))
    build_log.times = times  # type: ignore[attr-defined]
    return str(petition_id)


async def stored_bytes(db: Database, petition_id: str) -> int:
    """Bytes the log's tables and indexes take (the benchmark's database holds this one log)."""
    if db.dialect == "sqlite":
        names = "('log_entries', 'log_tiles', 'log_checkpoints', 'log_entries_by_commitment')"
        return int(await db.fetch_val(f"SELECT SUM(pgsize) FROM dbstat WHERE name IN {names}"))
    total = 0
    for table in ("log_entries", "log_tiles", "log_checkpoints"):
        total += int(await db.fetch_val(f"SELECT pg_total_relation_size('{table}')"))
    return total


async def proofs(db: Database, petition_id: str, size: int, count: int) -> tuple[float, float]:
    """Microseconds per inclusion proof and per consistency proof (warm cache), after a cold pass."""
    reader = tlog.LogReader(db)
    rng = random.Random(1)
    started = time.perf_counter()
    for _ in range(count):
        await reader.inclusion_proof(petition_id, rng.randrange(size), size)
    cold = (time.perf_counter() - started) / count * 1e6
    for index in range(0, size, tlog.TILE_WIDTH):  # warm every tile
        await reader.inclusion_proof(petition_id, index, size)
    started = time.perf_counter()
    for _ in range(count):
        await reader.inclusion_proof(petition_id, rng.randrange(size), size)
    inclusion = (time.perf_counter() - started) / count * 1e6
    started = time.perf_counter()
    for _ in range(count):
        await reader.consistency_proof(petition_id, rng.randrange(1, size), size)
    consistency = (time.perf_counter() - started) / count * 1e6
    print(f"inclusion proof: {cold:.0f} µs cold, {inclusion:.0f} µs warm; consistency proof {consistency:.0f} µs warm")
    return inclusion, consistency


async def run(url: str, data_dir: Path, entries: int, batch: int) -> None:
    settings = Settings(data_dir=data_dir, database_url=url, **SETTINGS)  # type: ignore[arg-type]
    db = Database(url)
    await db.connect()
    try:
        await migrate(db)
        began = time.perf_counter()
        petition_id = await build_log(db, settings, entries, batch)
        elapsed = time.perf_counter() - began
        times = build_log.times  # type: ignore[attr-defined]
        print(
            f"appended {entries:,} entries in {elapsed:.1f} s ({entries / elapsed:,.0f} entries/s); one append of"
            f" {batch:,}: median {statistics.median(times) * 1000:.1f} ms, last {times[-1] * 1000:.1f} ms"
        )
        signer = checkpoints.signer(settings.signing_key, settings.base_url)
        started = time.perf_counter()
        for _ in range(1000):
            signer.checkpoint("example.org/p/x", entries, b"r" * 32)
        print(f"signing one checkpoint: {(time.perf_counter() - started) * 1000:.0f} µs")  # 1,000 of them, in ms
        size = await stored_bytes(db, petition_id)
        print(f"stored: {size:,} bytes, {size / entries:.0f} bytes per entry")
        await proofs(db, petition_id, entries, 2000)
    finally:
        await db.disconnect()


@contextlib.asynccontextmanager
async def fresh_database(postgresql_url: str, folder: Path) -> AsyncIterator[str]:
    """The URL of a database of its own: SQLite in `folder`, or (given a PostgreSQL URL) a fresh
    schema of that database, dropped afterwards."""
    if not postgresql_url:
        yield f"sqlite:///{folder / 'petition.db'}"
        return
    schema = f"bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(postgresql_url)
    await admin.execute(f"CREATE SCHEMA {schema}")
    await admin.close()
    try:
        yield f"{postgresql_url}{'&' if '?' in postgresql_url else '?'}search_path={schema}"
    finally:
        admin = await asyncpg.connect(postgresql_url)
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        await admin.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        async with fresh_database(args.database_url, Path(folder)) as url:
            await run(url, Path(folder), args.entries, args.batch)


if __name__ == "__main__":
    asyncio.run(main())

"""Benchmark: what closing one batch costs, and the WAL checkpoint after it.

    .venv/bin/python bench/batch_close.py [--signatures 1000] [--rounds 3] [--database-url postgresql://...]

Signs `--signatures` times with printed codes (every tenth with a name, a reason and
an updates address), through the same functions the routes call, on a fresh
database (SQLite in a temporary folder by default, or a fresh schema of the given
PostgreSQL database), then times closing the batch that counts them all (one
transaction writing every permanent row, each table in key order) and the
`wal_checkpoint(TRUNCATE)` after it (SQLite), with the WAL's size before it.
Prints one line per round and the median. Everything it makes, it removes.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from log import fresh_database  # noqa: E402 (beside this script)

from petition import accounts, codes, petitions, signatures  # noqa: E402
from petition.batcher import close_batch  # noqa: E402
from petition.database import Database  # noqa: E402
from petition.migrations import migrate  # noqa: E402
from petition.settings import Settings  # noqa: E402


async def one_round(url: str, data_dir: Path, count: int) -> tuple[float, float, int]:
    """(ms to close the batch, ms to checkpoint, WAL bytes before the checkpoint)."""
    settings = Settings(
        data_dir=data_dir,
        database_url=url,
        secret_key=b"s" * 32,
        pepper=b"p" * 32,
        encryption_key=b"e" * 32,
        signing_key=b"k" * 32,
        max_codes_per_batch=max(count, 1000),
    )
    db = Database(url)
    await db.connect()
    try:
        await migrate(db)
        await accounts.create_organizer(db, email="bench@example.org", password="x" * 16, admin=True)
        organizer = await db.fetch_val("SELECT id FROM organizers")
        data = petitions.PetitionCreate(
            title="Batch close",
            summary="A benchmark",
            target="Us",
            goal=10_000,
            verification=["code"],
            show_names=True,
            reasons_enabled=True,
        )
        petition_id = await petitions.create(db, settings, organizer_id=organizer, data=data)
        # A draft is addressed by its id.
        await petitions.publish(db, settings, organizer_id=organizer, slug=petition_id)
        petition = await db.fetch_one("SELECT * FROM petitions WHERE id = :id", {"id": petition_id})
        _, made = await codes.make_batch(
            db, settings, petition=petition, organizer_id=organizer, count=count, label="", keep_for_download=False
        )

        async def sign(number: int, code: str) -> None:
            extra = {}
            if number % 10 == 0:
                extra = {
                    "name": f"Colleague {number}",
                    "show_name": True,
                    "reason": "Because",
                    "updates": f"h{number}@example.org",
                }
            body = signatures.SignatureCreate(code=code, **extra)
            await signatures.sign_with_code(db, settings, petition=petition, data=body)

        for start in range(0, count, 100):
            await asyncio.gather(*(sign(start + i, code) for i, code in enumerate(made[start : start + 100])))
        wal = Path(f"{url.removeprefix('sqlite:///')}-wal")
        started = time.perf_counter()
        await close_batch(db, settings, petition_id, final=False)
        closed = time.perf_counter()
        wal_bytes = wal.stat().st_size if db.dialect == "sqlite" and wal.exists() else 0
        assert await db.checkpoint()
        checkpointed = time.perf_counter()
        assert await db.fetch_val("SELECT signature_count FROM petitions WHERE id = :id", {"id": petition_id}) == count
        return (closed - started) * 1000, (checkpointed - closed) * 1000, wal_bytes
    finally:
        await db.disconnect()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signatures", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    results = []
    for number in range(args.rounds):
        with tempfile.TemporaryDirectory() as folder:
            async with fresh_database(args.database_url, Path(folder)) as url:
                result = await one_round(url, Path(folder), args.signatures)
        results.append(result)
        close_ms, checkpoint_ms, wal_bytes = result
        print(
            f"round {number + 1}: close {close_ms:.1f} ms, checkpoint {checkpoint_ms:.1f} ms, WAL {wal_bytes:,} bytes"
        )
    close_ms = statistics.median(r[0] for r in results)
    checkpoint_ms = statistics.median(r[1] for r in results)
    print(
        f"median of {args.rounds}: closing a batch of {args.signatures:,} signatures {close_ms:.1f} ms,"
        f" its checkpoint {checkpoint_ms:.1f} ms"
    )


if __name__ == "__main__":
    asyncio.run(main())

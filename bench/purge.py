"""Benchmark: what purging a closed petition costs, and how long signing elsewhere waits for it.

    .venv/bin/python bench/purge.py [--signatures 10000] [--rounds 3] [--database-url postgresql://...]
                                    [--statements]

Builds a closed petition of `--signatures` counted signatures on a fresh database (SQLite in a
temporary folder by default, or a fresh schema of the given PostgreSQL database), through the
same functions the routes call: four in five by work email (ask for a code, read it from the
mail, verify: dedupe tags, code-email counters), one in five by printed code (with a tenth more
codes left unused), every tenth with a shown name, a reason and an updates address (confirmed
with its code, so it becomes a contact, except one in ten left waiting for its code). Batches
close every `CHUNK` signatures and the WAL is checkpointed after each, as the batcher does; the
outbox is sent (to a transport that keeps the codes) after every step.

Then it purges the petition with `purge.purge` while a stream of printed-code signatures goes
to another open petition, and prints per round: the purge's transaction (ms), the WAL checkpoint
(SQLite) or VACUUM (PostgreSQL) after it (ms), the database file and WAL sizes before the purge,
after its commit and after the checkpoint (SQLite; on PostgreSQL the purged tables' size and the
WAL the server wrote), the longest a signature on the other petition waited while the purge ran,
from when it arrived to its answer (against the longest in the second before), and the longest
the event loop was held. `--statements` also
prints the purge transaction's slowest statements. Then the median. Everything it makes, it
removes.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from log import SETTINGS, fresh_database  # noqa: E402 (beside this script)

from petition import accounts, codes, email_signing, petitions, signatures, updates  # noqa: E402
from petition import purge as purging  # noqa: E402
from petition.batcher import close_batch  # noqa: E402
from petition.database import Database, Transaction  # noqa: E402
from petition.mailer import Mail  # noqa: E402
from petition.migrations import migrate  # noqa: E402
from petition.outbox import Sender  # noqa: E402
from petition.settings import Settings  # noqa: E402

# A code as the code email writes it.
CODE = re.compile(r"\b([0-9A-Z]{4}-[0-9A-Z]{4})\b")
# Signatures per batch while building (the batcher closes one a minute; a busy minute is this).
CHUNK = 2000
# Signers at once while building, as a group commit would gather them.
AT_ONCE = 100
# The stream on the other petition: signers at once, and each one's pause between signatures.
STREAM_SIGNERS = 4
STREAM_PAUSE_SECONDS = 0.005
STREAM_CODES = 10_000
# How long the stream runs before the purge starts, to know its usual longest wait.
BASELINE_SECONDS = 1.0
# The event loop's probe: how late a sleep of this long wakes is how long the loop was held.
TICK_SECONDS = 0.005


class CodeMail:
    """A mail transport that sends nothing and keeps the code each address was sent."""

    def __init__(self) -> None:
        self.codes: dict[str, str] = {}

    async def send_all(self, messages: list[Mail]) -> list[Exception | None]:
        for mail in messages:
            found = CODE.search(mail.body)
            if found:
                self.codes[mail.to] = found.group(1)
        return [None] * len(messages)


@dataclass
class Round:
    """What one round measured (ms, bytes)."""

    transaction_ms: float = 0.0
    erase_ms: float = 0.0
    file_before: int = 0
    wal_before: int = 0
    file_committed: int = 0
    wal_committed: int = 0
    file_after: int = 0
    wal_after: int = 0
    wait_before_ms: float = 0.0
    wait_during_ms: float = 0.0
    loop_held_ms: float = 0.0
    signed_during: int = 0
    statements: list[tuple[float, str]] = field(default_factory=list)


class TimedTransaction:
    """A transaction that times each statement it runs (the purge's, for `--statements`)."""

    def __init__(self, tx: Transaction, times: list[tuple[float, str]]) -> None:
        self._tx, self._times = tx, times

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._tx, name)
        if name not in ("fetch_one", "fetch_all", "fetch_val", "execute", "execute_many"):
            return method

        async def timed(sql: str, *args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await method(sql, *args, **kwargs)
            finally:
                self._times.append(((time.perf_counter() - started) * 1000, " ".join(sql.split())[:90]))

        return timed


def settings_for(url: str, data_dir: Path, count: int) -> Settings:
    return Settings(
        data_dir=data_dir,
        database_url=url,
        max_codes_per_batch=max(count, STREAM_CODES),
        **SETTINGS,  # type: ignore[arg-type]
    )


async def new_petition(
    db: Database, settings: Settings, organizer: str, title: str, methods: list[str]
) -> dict[str, Any]:
    data = petitions.PetitionCreate(
        title=title,
        summary="A benchmark",
        target="Us",
        goal=1_000_000,
        verification=methods,
        allowed_domains=["example.org"],
        show_names=True,
        reasons_enabled=True,
    )
    petition_id = await petitions.create(db, settings, organizer_id=organizer, data=data)
    # A draft is addressed by its id.
    await petitions.publish(db, settings, organizer_id=organizer, slug=petition_id)
    return await db.fetch_one("SELECT * FROM petitions WHERE id = :id", {"id": petition_id})


async def in_groups(calls: list[Awaitable[Any]]) -> list[Any]:
    """Await the calls AT_ONCE at a time; their results, in order."""
    results = []
    for start in range(0, len(calls), AT_ONCE):
        results += await asyncio.gather(*calls[start : start + AT_ONCE])
    return results


@dataclass
class Signers:
    """The signers of the purged petition: signature `number` signs by printed code when it is in
    `codes`, else by work email; every tenth leaves a name, a reason and an updates address."""

    db: Database
    settings: Settings
    petition: dict[str, Any]
    codes: dict[int, str]
    tag: str
    mail: CodeMail = field(default_factory=CodeMail)

    def work(self, number: int) -> str:
        return f"worker-{self.tag}-{number}@example.org"

    def home(self, number: int) -> str:
        return f"home-{self.tag}-{number}@example.net"

    def fields(self, number: int) -> dict[str, Any]:
        if number % 10:
            return {}
        return {
            "name": f"Colleague {number}",
            "show_name": True,
            "reason": "Because it matters to all of us.",
            "updates": self.home(number),
        }

    async def ask(self, number: int) -> str:
        body = signatures.SignatureCreate(email=self.work(number), **self.fields(number))
        return await email_signing.ask_for_code(self.db, self.settings, petition=self.petition, data=body)

    async def sign(self, number: int, attempt: str | None) -> str:
        if attempt is not None:
            code = self.mail.codes[self.work(number)]
            return await email_signing.verify(
                self.db, self.settings, petition=self.petition, attempt=attempt, code=code
            )
        body = signatures.SignatureCreate(code=self.codes[number], **self.fields(number))
        return await signatures.sign_with_code(self.db, self.settings, petition=self.petition, data=body)

    async def confirm(self, number: int, receipt: str) -> None:
        code = self.mail.codes[self.home(number)]
        await updates.confirm(self.db, self.settings, petition=self.petition, receipt=receipt, code=code)


async def build(db: Database, settings: Settings, organizer: str, count: int, tag: str) -> dict[str, Any]:
    """A closed petition with `count` counted signatures, made as described in the module."""
    petition = await new_petition(db, settings, organizer, "Purge", ["email", "code"])
    by_code = [number for number in range(count) if number % 5 == 4]
    _, printed = await codes.make_batch(
        db,
        settings,
        petition=petition,
        organizer_id=organizer,
        count=len(by_code) + len(by_code) // 10 + 1,
        label="",
        keep_for_download=False,
    )
    signers = Signers(db, settings, petition, dict(zip(by_code, printed, strict=False)), tag)
    sender = Sender(db, settings, signers.mail)
    for start in range(0, count, CHUNK):
        numbers = range(start, min(start + CHUNK, count))
        by_email = [number for number in numbers if number not in signers.codes]
        attempts = dict(zip(by_email, await in_groups([signers.ask(number) for number in by_email]), strict=True))
        await sender.drain(timeout=600)
        made = await in_groups([signers.sign(number, attempts.get(number)) for number in numbers])
        receipts = dict(zip(numbers, made, strict=True))
        await sender.drain(timeout=600)
        # One in ten updates addresses is left waiting for its code.
        await in_groups([signers.confirm(n, receipts[n]) for n in numbers if n % 10 == 0 and n % 100])
        await close_batch(db, settings, petition["id"])
        await db.checkpoint()
    await petitions.close(db, organizer_id=organizer, slug=petition["id"])
    counted = await db.fetch_val("SELECT signature_count FROM petitions WHERE id = :id", {"id": petition["id"]})
    assert counted == count, (counted, count)
    return petition


async def sizes(db: Database, url: str) -> tuple[int, int]:
    """SQLite: (database file bytes, WAL bytes). PostgreSQL: (the purged tables' bytes, WAL position)."""
    if db.dialect == "sqlite":
        path = Path(url.removeprefix("sqlite:///"))
        wal = Path(f"{path}-wal")
        return path.stat().st_size, wal.stat().st_size if wal.exists() else 0
    tables = " + ".join(f"pg_total_relation_size('{table}')" for table in purging.PURGED_TABLES)
    size = await db.fetch_val(f"SELECT {tables}")
    position = await db.fetch_val("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')")
    return int(size), int(position)


async def one_round(url: str, data_dir: Path, count: int, tag: str) -> Round:
    settings = settings_for(url, data_dir, count)
    db = Database(url)
    await db.connect()
    result = Round()
    try:
        await migrate(db)
        await accounts.create_organizer(db, email="bench@example.org", password="x" * 16, admin=True)
        organizer = await db.fetch_val("SELECT id FROM organizers")
        petition = await build(db, settings, organizer, count, tag)
        other = await new_petition(db, settings, organizer, "Elsewhere", ["code"])
        _, spare = await codes.make_batch(
            db, settings, petition=other, organizer_id=organizer, count=STREAM_CODES, label="", keep_for_download=False
        )
        await db.checkpoint()
        # Building churned through pending entries, attempts and mail in minutes; in service,
        # autovacuum clears that long before a purge. Cleared here too, so that the VACUUM after
        # the purge has only the purge's own dead rows to clear (PostgreSQL).
        await db.vacuum(purging.PURGED_TABLES)

        # The stream of signatures elsewhere: (arrived, answered) of each. A signature arrives
        # when its pause ends, not when the event loop next gets to it: a loop held by the purge
        # keeps a request from even being read, and that is part of its wait.
        waits: list[tuple[float, float]] = []
        ticks: list[tuple[float, float]] = []
        stop = asyncio.Event()

        async def signer() -> None:
            arrives = time.perf_counter()
            while not stop.is_set() and spare:
                body = signatures.SignatureCreate(code=spare.pop())
                await signatures.sign_with_code(db, settings, petition=other, data=body)
                answered = time.perf_counter()
                waits.append((arrives, answered))
                arrives = answered + STREAM_PAUSE_SECONDS
                await asyncio.sleep(STREAM_PAUSE_SECONDS)

        async def probe() -> None:
            while not stop.is_set():
                started = time.perf_counter()
                await asyncio.sleep(TICK_SECONDS)
                woke = time.perf_counter()
                ticks.append((started, woke, woke - started - TICK_SECONDS))

        # The purge's own steps, timed: its transaction (in the writer) and what erases after it.
        marks: dict[str, float] = {}
        erase = purging.erase_traces
        write = db.write

        async def timed_erase(db: Database) -> None:
            marks["committed"] = time.perf_counter()
            result.file_committed, result.wal_committed = await sizes(db, url)
            marks["erasing"] = time.perf_counter()
            await erase(db)
            marks["erased"] = time.perf_counter()

        async def timed_write(unit: Any, *, lock_key: str | None = None) -> Any:
            if getattr(unit, "__module__", "") != purging.__name__:
                return await write(unit, lock_key=lock_key)

            async def timed_unit(tx: Transaction) -> Any:
                result.statements.clear()  # a unit may run again
                return await unit(TimedTransaction(tx, result.statements))

            marks["queued"] = time.perf_counter()
            return await write(timed_unit, lock_key=lock_key)

        tasks = [asyncio.create_task(signer()) for _ in range(STREAM_SIGNERS)] + [asyncio.create_task(probe())]
        await asyncio.sleep(BASELINE_SECONDS)
        baseline_ended = time.perf_counter()
        await db.checkpoint()  # as the batcher does every LOG_BATCH_SECONDS / 2
        result.file_before, result.wal_before = await sizes(db, url)
        purging.erase_traces = timed_erase  # type: ignore[assignment]
        db.write = timed_write  # type: ignore[method-assign]
        try:
            began = time.perf_counter()
            await purging.purge(db, settings, petition_id=petition["id"], organizer_id=organizer, why="benchmark")
            ended = time.perf_counter()
        finally:
            purging.erase_traces = erase
            db.write = write  # type: ignore[method-assign]
            stop.set()
            await asyncio.gather(*tasks)
        if not spare:
            print("  (the stream ran out of codes: raise STREAM_CODES)")
        result.file_after, result.wal_after = await sizes(db, url)
        result.transaction_ms = (marks["committed"] - marks["queued"]) * 1000
        result.erase_ms = (marks["erased"] - marks["erasing"]) * 1000
        result.wait_before_ms = max((end - start for start, end in waits if end < baseline_ended), default=0) * 1000
        during = [end - start for start, end in waits if end >= began and start <= ended]
        result.signed_during = len(during)
        result.wait_during_ms = max(during, default=0) * 1000
        result.loop_held_ms = (
            max((late for start, woke, late in ticks if woke >= began and start <= ended), default=0) * 1000
        )
        key = {"id": petition["id"]}
        row = await db.fetch_one("SELECT purged_at, signature_count FROM petitions WHERE id = :id", key)
        assert row["purged_at"] is not None and row["signature_count"] == count
        left = await db.fetch_val("SELECT COUNT(*) FROM email_dedupe WHERE petition_id = :id", key)
        left += await db.fetch_val("SELECT COUNT(*) FROM contacts WHERE petition_id = :id", key)
        assert left == 0, left
        return result
    finally:
        await db.disconnect()


def megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def describe(result: Round, dialect: str) -> str:
    if dialect == "sqlite":
        disk = (
            f"file {megabytes(result.file_before)} -> {megabytes(result.file_after)},"
            f" WAL {megabytes(result.wal_before)} -> {megabytes(result.wal_committed)} at commit"
            f" -> {megabytes(result.wal_after)}"
        )
        erase = "checkpoint"
    else:
        disk = (
            f"purged tables {megabytes(result.file_before)} -> {megabytes(result.file_committed)} at commit"
            f" -> {megabytes(result.file_after)} vacuumed;"
            f" WAL written {megabytes(result.wal_committed - result.wal_before)}"
            f" + {megabytes(result.wal_after - result.wal_committed)}"
        )
        erase = "VACUUM"
    return (
        f"transaction {result.transaction_ms:.0f} ms, {erase} {result.erase_ms:.0f} ms; {disk};"
        f" a signature elsewhere waited at most {result.wait_during_ms:.0f} ms during it"
        f" ({result.signed_during} signed; {result.wait_before_ms:.0f} ms before it),"
        f" the event loop held {result.loop_held_ms:.0f} ms"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signatures", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--statements", action="store_true", help="print the purge's slowest statements")
    args = parser.parse_args()
    results = []
    dialect = "postgresql" if args.database_url else "sqlite"
    for number in range(args.rounds):
        with tempfile.TemporaryDirectory() as folder:
            async with fresh_database(args.database_url, Path(folder)) as url:
                began = time.perf_counter()
                result = await one_round(url, Path(folder), args.signatures, f"r{number}")
        results.append(result)
        print(
            f"round {number + 1} (built and purged in {time.perf_counter() - began:.0f} s): {describe(result, dialect)}"
        )
        if args.statements:
            for ms, sql in sorted(result.statements, reverse=True)[:6]:
                print(f"    {ms:8.1f} ms  {sql}")
    print(
        f"median of {args.rounds}, {args.signatures:,} signatures:"
        f" transaction {statistics.median(r.transaction_ms for r in results):.0f} ms,"
        f" {'checkpoint' if dialect == 'sqlite' else 'VACUUM'} {statistics.median(r.erase_ms for r in results):.0f} ms,"
        f" longest wait elsewhere {statistics.median(r.wait_during_ms for r in results):.0f} ms"
        f" (before it {statistics.median(r.wait_before_ms for r in results):.0f} ms),"
        f" event loop held {statistics.median(r.loop_held_ms for r in results):.0f} ms"
    )


if __name__ == "__main__":
    asyncio.run(main())

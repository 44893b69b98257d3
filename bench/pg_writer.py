"""The PostgreSQL writer's cost per write, and the readers' cost per read, measured on one process.

    .venv/bin/python bench/pg_writer.py [--url postgresql://postgres@127.0.0.1:5432/test]
        [--writes 10000] [--callers 64] [--rounds 3] [--tree DIR]

Makes a schema of its own (dropped at the end) with three small tables, then runs `--writes`
write units through `Database.write` from `--callers` callers at once, so they share group
commits as requests do. Each unit is shaped like signing with a printed code: spend a code
(UPDATE ... RETURNING), count it in its batch (UPDATE), insert the signature (INSERT). Then
as many reads (one row by key) from the same callers through `Database.fetch_one`.

Runs on uvloop, as the service does. Prints, per round and as the median of the rounds:
writes/s, wall and client CPU µs per write, writes per group commit, the share of samples in
which the writer's server process was "idle in transaction" (waiting for the client; polled
from another process every 2 ms), reads/s with client CPU µs per read; and statements sent
per write (each one round trip once prepared; counted in a separate pass with asyncpg's
query logger).

`--tree` imports `petition` from another checkout, to measure an older commit with the same
script: `git worktree add /tmp/before 49ffc5a`, then `--tree /tmp/before`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg
import uvloop

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
BATCHES = 100  # code batches: each write bumps one, so the counters are not one hot row
SAMPLE_SECONDS = 0.002  # how often the sampler looks at the writer's server process

SPEND_CODE = """
UPDATE codes SET state = 'used', used_at = :now
WHERE code_hash = :code_hash AND state = 'unused' RETURNING batch_id
"""
COUNT_USED = "UPDATE batches SET used = used + 1 WHERE id = :batch_id"
INSERT_SIGNATURE = """
INSERT INTO signatures (receipt_hash, petition_id, method, accepted_hour)
VALUES (:receipt_hash, :petition_id, 'code', :accepted_hour)
"""
SELECT_BATCH = "SELECT id, used FROM batches WHERE id = :id"
SCHEMA = (
    "CREATE TABLE codes (code_hash TEXT PRIMARY KEY, batch_id TEXT NOT NULL, state TEXT NOT NULL, used_at BIGINT)",
    "CREATE TABLE batches (id TEXT PRIMARY KEY, used BIGINT NOT NULL DEFAULT 0)",
    "CREATE TABLE signatures (receipt_hash TEXT PRIMARY KEY, petition_id TEXT NOT NULL, method TEXT NOT NULL,"
    " accepted_hour BIGINT NOT NULL)",
)


def spend(code_hash: str):  # type: ignore[no-untyped-def]
    """A write unit: spend a code, count it, insert the signature; the code's batch."""

    async def unit(tx: Any) -> str:
        moment = int(time.time())
        used = await tx.fetch_one(SPEND_CODE, {"code_hash": code_hash, "now": moment})
        await tx.execute(COUNT_USED, {"batch_id": used["batch_id"]})
        await tx.execute(
            INSERT_SIGNATURE,
            {"receipt_hash": secrets.token_hex(16), "petition_id": "p1", "accepted_hour": moment // 3600 * 3600},
        )
        return str(used["batch_id"])

    return unit


def writer_connection(db: Any) -> asyncpg.Connection:
    """The writer's asyncpg connection, whether held through `databases` (older commits) or straight."""
    conn = db._writer.conn
    return getattr(conn, "raw_connection", conn)


async def run_callers(callers: int, jobs: list[Any]) -> None:
    """Run `jobs` (coroutine functions) from `callers` tasks at once, each taking the next job."""
    queue = iter(jobs)

    async def caller() -> None:
        for job in queue:
            await job()

    await asyncio.gather(*(caller() for _ in range(callers)))


def start_sampler(url: str, pid: int) -> subprocess.Popen[str]:
    command = [sys.executable, __file__, "--sample", str(pid), "--url", url]
    return subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def stop_sampler(sampler: subprocess.Popen[str]) -> float:
    """The share of samples in which the writer was idle in transaction."""
    output, _ = sampler.communicate("stop\n", timeout=30)
    idle, total = (int(n) for n in output.split())
    return idle / total if total else 0.0


async def sample(url: str, pid: int) -> None:
    """In the sampler process: poll one server process's state until stdin says stop."""
    conn = await asyncpg.connect(url)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_reader(sys.stdin.fileno(), stop.set)
    idle = total = 0
    while not stop.is_set():
        state = await conn.fetchval("SELECT state FROM pg_stat_activity WHERE pid = $1", pid)
        total += 1
        idle += state == "idle in transaction"
        await asyncio.sleep(SAMPLE_SECONDS)
    await conn.close()
    print(idle, total)


async def one_round(db: Any, admin: asyncpg.Connection, url: str, writes: int, callers: int) -> dict[str, float]:
    hashes = [secrets.token_hex(16) for _ in range(writes)]
    await admin.executemany(
        "INSERT INTO codes (code_hash, batch_id, state) VALUES ($1, $2, 'unused')",
        [(code_hash, f"b{i % BATCHES}") for i, code_hash in enumerate(hashes)],
    )
    writer_pid = writer_connection(db).get_server_pid()
    sampler = start_sampler(url, writer_pid)
    await asyncio.sleep(0.3)  # let the sampler connect
    commits = db.commits
    cpu, wall = time.process_time(), time.perf_counter()
    await run_callers(callers, [lambda h=h: db.write(spend(h)) for h in hashes])
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    idle = stop_sampler(sampler)
    groups = db.commits - commits
    read_cpu, read_wall = time.process_time(), time.perf_counter()
    await run_callers(
        callers, [lambda i=i: db.fetch_one(SELECT_BATCH, {"id": f"b{i % BATCHES}"}) for i in range(writes)]
    )
    read_cpu, read_wall = time.process_time() - read_cpu, time.perf_counter() - read_wall
    return {
        "writes/s": writes / wall,
        "µs/write": wall / writes * 1e6,
        "CPU µs/write": cpu / writes * 1e6,
        "writes/commit": writes / groups,
        "idle in tx": idle,
        "reads/s": writes / read_wall,
        "CPU µs/read": read_cpu / writes * 1e6,
    }


async def count_statements(db: Any, admin: asyncpg.Connection, writes: int, callers: int) -> float:
    """Statements the writer sends per write (BEGIN and COMMIT included), with asyncpg's query logger."""
    hashes = [secrets.token_hex(16) for _ in range(writes)]
    await admin.executemany(
        "INSERT INTO codes (code_hash, batch_id, state) VALUES ($1, $2, 'unused')",
        [(code_hash, f"b{i % BATCHES}") for i, code_hash in enumerate(hashes)],
    )
    sent = 0

    def count(record: object) -> None:
        nonlocal sent
        sent += 1

    raw = writer_connection(db)
    raw.add_query_logger(count)
    try:
        await run_callers(callers, [lambda h=h: db.write(spend(h)) for h in hashes])
        await asyncio.sleep(0.1)  # the logger's callbacks run soon after each statement
    finally:
        raw.remove_query_logger(count)
    return sent / writes


async def main(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(Path(args.tree).resolve()))
    from petition.database import Database

    schema = f"bench_writer_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(args.url)
    await admin.execute(f"CREATE SCHEMA {schema}")
    await admin.execute(f"SET search_path = {schema}")
    try:
        for statement in SCHEMA:
            await admin.execute(statement)
        await admin.executemany("INSERT INTO batches (id) VALUES ($1)", [(f"b{i}",) for i in range(BATCHES)])
        separator = "&" if "?" in args.url else "?"
        db = Database(f"{args.url}{separator}search_path={schema}")
        await db.connect()
        try:
            import petition.database

            print(f"petition.database from {petition.database.__file__}")
            await one_round(db, admin, args.url, min(args.writes, 1000), args.callers)  # warm up
            results = []
            for number in range(args.rounds):
                result = await one_round(db, admin, args.url, args.writes, args.callers)
                results.append(result)
                print(f"round {number + 1}: " + ", ".join(f"{key} {value:.3g}" for key, value in result.items()))
            statements = await count_statements(db, admin, min(args.writes, 2000), args.callers)
        finally:
            await db.disconnect()
        print(f"median of {args.rounds} rounds, {args.writes} writes each from {args.callers} callers:")
        for key in results[0]:
            print(f"  {key:>14}: {statistics.median(r[key] for r in results):.3g}")
        print(f"  {'statements/write':>14}: {statements:.3g}")
    finally:
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("TEST_DATABASE_URL") or DEFAULT_URL)
    parser.add_argument("--writes", type=int, default=10_000)
    parser.add_argument("--callers", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tree", default=str(ROOT), help="the checkout whose `petition` package is measured")
    parser.add_argument("--sample", type=int, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    # uvloop, as the service runs.
    if arguments.sample:
        uvloop.run(sample(arguments.url, arguments.sample))
    else:
        uvloop.run(main(arguments))

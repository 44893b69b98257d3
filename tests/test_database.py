"""The database module: group commit, acknowledgement after durability, readers that never wait."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sqlite3
from pathlib import Path

import asyncpg
import pytest

from petition import leases
from petition.database import Database, DatabaseError, Transaction, _numbered, _sqlite_path

CREATE_ITEMS = "CREATE TABLE items (key TEXT PRIMARY KEY, value BIGINT NOT NULL)"
INSERT_ITEM = "INSERT INTO items (key, value) VALUES (:key, :value)"


async def create_items(db: Database) -> None:
    async with db.exclusive() as tx:
        await tx.execute(CREATE_ITEMS)


def insert(key: str, value: int):  # type: ignore[no-untyped-def]
    async def unit(tx: Transaction) -> str:
        await tx.execute(INSERT_ITEM, {"key": key, "value": value})
        return key

    return unit


async def test_concurrent_writes_share_commits_and_all_succeed(db: Database) -> None:
    await create_items(db)
    commits_before = db.commits
    keys = await asyncio.gather(*(db.write(insert(f"k{i}", i)) for i in range(300)))
    assert keys == [f"k{i}" for i in range(300)]
    assert await db.fetch_val("SELECT COUNT(*) AS n FROM items") == 300
    assert await db.fetch_val("SELECT SUM(value) AS total FROM items") == sum(range(300))
    assert db.commits - commits_before < 300 / 10, "300 concurrent writes should share a few commits"


async def test_a_failing_write_is_undone_without_harming_the_others_in_its_commit(db: Database) -> None:
    await create_items(db)

    async def half_then_fail(tx: Transaction) -> None:
        await tx.execute(INSERT_ITEM, {"key": "partial", "value": 1})
        await tx.execute(INSERT_ITEM, {"key": "partial", "value": 2})  # duplicate key: fails

    results = await asyncio.gather(
        db.write(insert("before", 1)),
        db.write(half_then_fail),
        db.write(insert("after", 2)),
        return_exceptions=True,
    )
    assert results[0] == "before" and results[2] == "after"
    assert isinstance(results[1], Exception)
    rows = await db.fetch_all("SELECT key FROM items ORDER BY key")
    assert [row["key"] for row in rows] == ["after", "before"]


async def test_a_group_with_a_failing_write_runs_again_each_write_in_a_savepoint(db: Database) -> None:
    # Writes run without savepoints (cheaper); when one fails, the group is undone and run again
    # with a savepoint each, and the group after it is careful from the start.
    await create_items(db)
    runs: list[str] = []

    def counted(key: str, *, fail: bool = False):  # type: ignore[no-untyped-def]
        async def unit(tx: Transaction) -> str:
            runs.append(key)
            await tx.execute(INSERT_ITEM, {"key": key, "value": 1})
            if fail:
                raise ValueError("refused")
            return key

        return unit

    first = await asyncio.gather(
        db.write(counted("a")), db.write(counted("bad", fail=True)), db.write(counted("b")), return_exceptions=True
    )
    assert first[0] == "a" and first[2] == "b" and isinstance(first[1], ValueError)
    assert runs == ["a", "bad", "a", "bad", "b"], "undone at the failure, then each write once more"
    runs.clear()
    second = await asyncio.gather(db.write(counted("c")), db.write(counted("d")), return_exceptions=True)
    assert second == ["c", "d"] and runs == ["c", "d"], "the next group ran carefully, once"
    runs.clear()
    await asyncio.gather(db.write(counted("e")), db.write(counted("bad2", fail=True)), return_exceptions=True)
    assert runs == ["e", "bad2", "e", "bad2"], "after a clean group, writes run without savepoints again"
    rows = await db.fetch_all("SELECT key FROM items ORDER BY key")
    assert [row["key"] for row in rows] == ["a", "b", "c", "d", "e"], "each write stands once; failed ones not at all"


async def test_a_domain_error_reaches_the_caller_and_writes_nothing(db: Database) -> None:
    await create_items(db)

    class CodeAlreadyUsed(Exception):
        pass

    async def refuse(tx: Transaction) -> None:
        await tx.execute(INSERT_ITEM, {"key": "refused", "value": 1})
        raise CodeAlreadyUsed()

    with pytest.raises(CodeAlreadyUsed):
        await db.write(refuse)
    assert await db.fetch_val("SELECT COUNT(*) AS n FROM items") == 0


async def test_a_write_is_acknowledged_only_after_its_commit(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    await create_items(db)
    writer = db._writer
    assert writer is not None
    original_commit = writer.commit
    commit_started = asyncio.Event()
    release_commit = asyncio.Event()

    async def slow_commit() -> None:
        commit_started.set()
        await release_commit.wait()
        await original_commit()

    monkeypatch.setattr(writer, "commit", slow_commit)
    pending = asyncio.create_task(db.write(insert("durable", 1)))
    await asyncio.wait_for(commit_started.wait(), 5)
    await asyncio.sleep(0.05)
    assert not pending.done(), "the write was acknowledged before its commit finished"
    release_commit.set()
    assert await asyncio.wait_for(pending, 5) == "durable"


async def test_a_failed_commit_acknowledges_nothing(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    await create_items(db)
    writer = db._writer
    assert writer is not None

    async def failing_commit() -> None:
        raise OSError("disk full")

    monkeypatch.setattr(writer, "commit", failing_commit)
    results = await asyncio.gather(*(db.write(insert(f"k{i}", i)) for i in range(5)), return_exceptions=True)
    assert all(isinstance(result, DatabaseError) for result in results)
    monkeypatch.undo()
    assert await db.fetch_val("SELECT COUNT(*) AS n FROM items") == 0
    assert await db.write(insert("later", 1)) == "later", "the writer recovers after a failed commit"


async def test_reads_do_not_wait_for_a_writer_holding_its_transaction(db: Database) -> None:
    await create_items(db)
    await db.write(insert("visible", 1))
    inside = asyncio.Event()
    leave = asyncio.Event()

    async def hold_transaction() -> None:
        async with db.exclusive() as tx:
            await tx.execute(INSERT_ITEM, {"key": "uncommitted", "value": 2})
            inside.set()
            await leave.wait()

    holder = asyncio.create_task(hold_transaction())
    await asyncio.wait_for(inside.wait(), 5)
    rows = await asyncio.wait_for(db.fetch_all("SELECT key FROM items"), 2)
    assert [row["key"] for row in rows] == ["visible"], "readers see only committed data, without waiting"
    leave.set()
    await holder


async def test_rows_come_back_as_plain_dicts(db: Database) -> None:
    await create_items(db)
    await db.write(insert("a", 1))
    assert await db.fetch_one("SELECT key, value FROM items") == {"key": "a", "value": 1}
    assert await db.fetch_one("SELECT key FROM items WHERE key = :key", {"key": "missing"}) is None


async def test_sqlite_connections_are_durable_and_readers_cannot_write(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'p.db'}")
    await db.connect()
    try:
        writer = db._writer
        assert writer is not None
        conn = writer.conn  # type: ignore[union-attr]
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert conn.execute("PRAGMA secure_delete").fetchone()[0] == 1
        assert await db.fetch_val("PRAGMA foreign_keys") == 1
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            await db.fetch_all("CREATE TABLE sneaky (x TEXT)")
    finally:
        await db.disconnect()


async def test_an_unreachable_postgresql_is_a_one_line_error() -> None:
    db = Database("postgresql://nobody@127.0.0.1:1/petition")
    with pytest.raises(DatabaseError) as error:
        await db.connect()
    assert str(error.value).startswith("cannot open PostgreSQL at 127.0.0.1:1/petition:")
    assert "\n" not in str(error.value)


async def test_an_unopenable_sqlite_file_is_a_one_line_error(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'missing-folder' / 'p.db'}")
    with pytest.raises(DatabaseError, match="cannot open SQLite database"):
        await db.connect()


async def test_writes_are_refused_before_connecting(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'p.db'}")
    with pytest.raises(DatabaseError, match="not connected"):
        await db.write(insert("x", 1))


async def test_queued_writes_finish_before_disconnect(db_url: str) -> None:
    db = Database(db_url)
    await db.connect()
    await create_items(db)
    tasks = [asyncio.create_task(db.write(insert(f"k{i}", i))) for i in range(50)]
    await asyncio.sleep(0)
    await db.disconnect()
    assert all(task.done() and not task.exception() for task in tasks)
    await db.connect()
    try:
        assert await db.fetch_val("SELECT COUNT(*) AS n FROM items") == 50
    finally:
        await db.disconnect()


async def holders(db: Database, db_url: str, count: int) -> list[Database]:
    """Where `count` more lease holders run: other processes (PostgreSQL), or this one (SQLite: one process)."""
    if db.dialect == "sqlite":
        return [db] * count
    others = [Database(db_url) for _ in range(count)]
    for other in others:
        await other.connect()
    return others


async def test_only_one_holder_holds_a_lease_until_it_runs_out(db: Database, db_url: str) -> None:
    [other] = await holders(db, db_url, 1)
    try:
        assert await leases.take(db, name="batcher", holder="process-a", seconds=60, at=1000)
        assert not await leases.take(other, name="batcher", holder="process-b", seconds=60, at=1030)
        assert await leases.take(db, name="batcher", holder="process-a", seconds=60, at=1030), "the holder renews"
        assert await leases.take(other, name="batcher", holder="process-b", seconds=60, at=1091), "expired"
        await leases.release(other, name="batcher", holder="process-b")
        assert await leases.take(db, name="batcher", holder="process-a", seconds=60, at=1092)
    finally:
        if other is not db:
            await other.disconnect()


async def test_concurrent_lease_takers_get_exactly_one_winner(db: Database, db_url: str) -> None:
    others = await holders(db, db_url, 3)
    try:
        results = await asyncio.gather(
            *(leases.take(d, name="purge", holder=f"p{i}", seconds=60) for i, d in enumerate([db, *others]))
        )
        assert sorted(results) == [False, False, False, True]
    finally:
        for other in others:
            if other is not db:
                await other.disconnect()


async def test_leases_live_in_memory_on_sqlite_and_in_rows_on_postgresql(db: Database) -> None:
    commits = db.commits
    assert await leases.take(db, name="batcher", holder="a", seconds=60, at=1000)
    rows = await db.fetch_val("SELECT COUNT(*) AS n FROM leases")
    if db.dialect == "sqlite":  # one process: a row renewed every few seconds would only leave times in the WAL
        assert db.commits == commits and rows == 0
    else:
        assert db.commits == commits + 1 and rows == 1


# -- lock order, retries after a deadlock --------------------------------------------------------

CREATE_COUNTERS = "CREATE TABLE counters (key TEXT PRIMARY KEY, value BIGINT NOT NULL)"
BUMP_COUNTER = "UPDATE counters SET value = value + 1 WHERE key = :key"


class FakeDeadlock(Exception):
    """What asyncpg raises when PostgreSQL chose this transaction to end a deadlock."""

    sqlstate = "40P01"


async def shorten_deadlock_checks(db: Database) -> None:
    """PostgreSQL looks for a deadlock after `deadlock_timeout` (1 s by default); tests need not wait that long."""
    with contextlib.suppress(asyncpg.InsufficientPrivilegeError):  # a superuser's setting: else 1 s it is
        await db._writer.conn.execute("SET deadlock_timeout = '50ms'")  # type: ignore[union-attr]


def bump_both(first: str, second: str):  # type: ignore[no-untyped-def]
    async def unit(tx: Transaction) -> str:
        await tx.execute(BUMP_COUNTER, {"key": first})
        await asyncio.sleep(0.002)  # the other process's writer takes its first row meanwhile
        await tx.execute(BUMP_COUNTER, {"key": second})
        return first + second

    return unit


@pytest.mark.parametrize("dialect", ["postgresql"], indirect=True)  # SQLite serves one process
@pytest.mark.parametrize("careful", [False, True], ids=["plain", "savepoints"])
async def test_two_writers_locking_rows_in_opposite_orders_both_succeed(
    db: Database, db_url: str, careful: bool
) -> None:
    # Two Database objects are two processes, each with its writer. Each group locks row x then
    # y in one, y then x in the other: PostgreSQL ends the deadlock by failing one transaction,
    # which is run again, whole, after the other's commit, in either mode of running units.
    other = Database(db_url)
    await other.connect()
    try:
        async with db.exclusive() as tx:
            await tx.execute(CREATE_COUNTERS)
            await tx.execute("INSERT INTO counters (key, value) VALUES ('x', 0), ('y', 0)")
        for database in (db, other):
            await shorten_deadlock_checks(database)
        waves, per_wave = 3, 20
        for _ in range(waves):
            db._careful = other._careful = careful  # as after a group in which a write failed
            results = await asyncio.gather(
                *(db.write(bump_both("x", "y")) for _ in range(per_wave)),
                *(other.write(bump_both("y", "x")) for _ in range(per_wave)),
            )
            assert results == ["xy"] * per_wave + ["yx"] * per_wave
        rows = await db.fetch_all("SELECT key, value FROM counters ORDER BY key")
        assert rows == [{"key": "x", "value": 2 * waves * per_wave}, {"key": "y", "value": 2 * waves * per_wave}]
        assert db.group_retries + other.group_retries >= 1, "the groups were meant to deadlock"
    finally:
        await other.disconnect()


async def test_a_group_that_lost_a_deadlock_runs_again_whole_and_logs_one_line(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    await create_items(db)
    runs: list[str] = []
    undone: list[str] = []

    def unit(key: str, *, deadlocks: int = 0):  # type: ignore[no-untyped-def]
        async def run(tx: Transaction) -> str:
            runs.append(key)
            tx.on_rollback(lambda: undone.append(key))
            await tx.execute(INSERT_ITEM, {"key": key, "value": 1})
            if runs.count(key) <= deadlocks:
                raise ValueError("could not finish") from FakeDeadlock()  # a unit's own error, from the driver's
            return key

        return run

    with caplog.at_level("WARNING", logger="petition.database"):
        results = await asyncio.gather(db.write(unit("a")), db.write(unit("victim", deadlocks=1)), db.write(unit("b")))
    assert results == ["a", "victim", "b"], "nobody saw the deadlock"
    assert runs == ["a", "victim", "a", "victim", "b"], "the whole group again, without savepoints"
    assert undone == ["victim", "a"], "every unit's statements were undone, so its hooks were too"
    assert db.group_retries == 1
    warnings = [record.getMessage() for record in caplog.records if record.name == "petition.database"]
    assert len(warnings) == 1 and "40P01" in warnings[0] and "victim" not in warnings[0]
    rows = await db.fetch_all("SELECT key FROM items ORDER BY key")
    assert [row["key"] for row in rows] == ["a", "b", "victim"]


async def test_a_write_that_keeps_losing_its_locks_fails_alone_after_five_more_runs(db: Database) -> None:
    await create_items(db)
    runs: list[str] = []

    async def always_deadlocks(tx: Transaction) -> None:
        runs.append("loser")
        raise FakeDeadlock()

    results = await asyncio.gather(db.write(insert("a", 1)), db.write(always_deadlocks), return_exceptions=True)
    assert results[0] == "a" and isinstance(results[1], FakeDeadlock)
    # Once, five times again, then as any failing write: the group is undone and run with savepoints.
    assert len(runs) == 1 + 5 + 1
    assert db.group_retries == 5
    assert await db.fetch_val("SELECT COUNT(*) AS n FROM items") == 1


@pytest.mark.parametrize("dialect", ["postgresql"], indirect=True)
async def test_a_table_changed_by_another_process_does_not_fail_the_next_write(db: Database, db_url: str) -> None:
    # The writer keeps each statement prepared; when another process changes the table under it
    # (a migration while others serve), the statement fails once inside the transaction, and the
    # group is run again with the statement prepared afresh.
    await create_items(db)
    await db.write(insert("a", 1))

    async def read_all(tx: Transaction) -> list[dict[str, object]]:
        return await tx.fetch_all("SELECT * FROM items ORDER BY key")

    assert await db.write(read_all) == [{"key": "a", "value": 1}]
    other = Database(db_url)
    await other.connect()
    try:
        async with other.exclusive() as tx:
            await tx.execute("ALTER TABLE items ADD COLUMN note TEXT")
    finally:
        await other.disconnect()
    assert await db.write(read_all) == [{"key": "a", "value": 1, "note": None}]
    assert db.group_retries == 1


async def test_a_group_runs_keyed_writes_in_key_order_after_the_others(db: Database) -> None:
    await create_items(db)
    order: list[str] = []

    def unit(key: str):  # type: ignore[no-untyped-def]
        async def run(tx: Transaction) -> str:
            order.append(key)
            await tx.execute(INSERT_ITEM, {"key": key, "value": 1})
            return key

        return run

    commits = db.commits
    results = await asyncio.gather(
        db.write(unit("k3"), lock_key="c"),
        db.write(unit("free1")),
        db.write(unit("k1"), lock_key="a"),
        db.write(unit("free2")),
        db.write(unit("k2"), lock_key="b"),
    )
    assert db.commits == commits + 1, "one group"
    assert order == ["free1", "free2", "k1", "k2", "k3"], "keyless as they came, then keyed in key order"
    assert results == ["k3", "free1", "k1", "free2", "k2"], "each caller gets its own result"


# -- hooks ---------------------------------------------------------------------------------------


async def test_after_commit_hooks_run_once_the_commit_returned_and_never_for_a_failed_write(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    await create_items(db)
    events: list[str] = []
    writer = db._writer
    assert writer is not None
    original_commit = writer.commit

    async def commit() -> None:
        await original_commit()
        events.append("COMMIT")

    monkeypatch.setattr(writer, "commit", commit)

    async def succeeds(tx: Transaction) -> str:
        await tx.execute(INSERT_ITEM, {"key": "kept", "value": 1})
        tx.after_commit(lambda: events.append("kept: after commit"))
        tx.on_rollback(lambda: events.append("kept: rolled back"))
        events.append("kept: ran")
        return "kept"

    async def fails(tx: Transaction) -> None:
        await tx.execute(INSERT_ITEM, {"key": "refused", "value": 1})
        tx.after_commit(lambda: events.append("refused: after commit"))
        raise ValueError("refused")

    assert await db.write(succeeds) == "kept"
    assert events == ["kept: ran", "COMMIT", "kept: after commit"]
    events.clear()
    with pytest.raises(ValueError):
        await db.write(fails)
    assert "refused: after commit" not in events


async def test_a_failing_write_in_a_savepoint_group_undoes_only_its_own_hooks(db: Database) -> None:
    await create_items(db)
    events: list[str] = []

    def unit(key: str, *, fail: bool = False):  # type: ignore[no-untyped-def]
        async def run(tx: Transaction) -> str:
            await tx.execute(INSERT_ITEM, {"key": key, "value": 1})
            tx.on_rollback(lambda: events.append(f"{key}: rolled back"))
            tx.after_commit(lambda: events.append(f"{key}: after commit"))
            if fail:
                raise ValueError("refused")
            return key

        return run

    db._careful = True  # as after a group in which a write failed: each write in a savepoint
    results = await asyncio.gather(
        db.write(unit("a")), db.write(unit("bad", fail=True)), db.write(unit("b")), return_exceptions=True
    )
    assert results[0] == "a" and isinstance(results[1], ValueError) and results[2] == "b"
    assert events == ["bad: rolled back", "a: after commit", "b: after commit"]


async def test_a_failed_commit_runs_every_rollback_hook_and_no_after_commit_hook(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    await create_items(db)
    events: list[str] = []
    writer = db._writer
    assert writer is not None

    async def failing_commit() -> None:
        raise OSError("disk full")

    monkeypatch.setattr(writer, "commit", failing_commit)

    def unit(key: str):  # type: ignore[no-untyped-def]
        async def run(tx: Transaction) -> str:
            await tx.execute(INSERT_ITEM, {"key": key, "value": 1})
            tx.on_rollback(lambda: events.append(f"{key}: rolled back"))
            tx.after_commit(lambda: events.append(f"{key}: after commit"))
            return key

        return run

    results = await asyncio.gather(*(db.write(unit(key)) for key in "abc"), return_exceptions=True)
    assert all(isinstance(result, DatabaseError) for result in results)
    assert sorted(events) == ["a: rolled back", "b: rolled back", "c: rolled back"]


# -- checkpoint ----------------------------------------------------------------------------------


async def test_a_checkpoint_empties_the_wal_into_the_database_file(db: Database, tmp_path: Path) -> None:
    await create_items(db)
    await asyncio.gather(*(db.write(insert(f"k{i}", i)) for i in range(100)))
    assert await db.checkpoint() is True
    if db.dialect == "postgresql":
        assert await db.fetch_val("SELECT COUNT(*) AS n FROM items") == 100, "nothing to do, nothing lost"
        return
    path = Path(_sqlite_path(db.url))
    assert Path(f"{path}-wal").stat().st_size == 0
    copy = tmp_path / "main-file-only.db"  # the main file alone, without the WAL beside it
    shutil.copyfile(path, copy)
    with contextlib.closing(sqlite3.connect(copy)) as alone:
        assert alone.execute("SELECT COUNT(*) FROM items").fetchone()[0] == 100
    assert await db.write(insert("after", 1)) == "after", "writes go on after a checkpoint"


async def test_a_checkpoint_held_up_by_a_reader_gives_up_quickly_and_writes_go_on(tmp_path: Path) -> None:
    """SQLite: a reader on an older snapshot (a backup's VACUUM INTO) keeps a TRUNCATE checkpoint
    from finishing; it must not hold the write lock for the whole busy timeout meanwhile."""
    path = tmp_path / "p.db"
    db = Database(f"sqlite:///{path}")
    await db.connect()
    try:
        await create_items(db)
        await db.write(insert("before", 1))
        with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as reader:
            reader.execute("BEGIN")
            assert reader.execute("SELECT COUNT(*) FROM items").fetchone()[0] == 1  # its snapshot starts here
            await db.write(insert("during", 2))  # a frame the reader does not see: the WAL cannot be cut
            started = asyncio.get_running_loop().time()
            assert await db.checkpoint() is False, "a checkpoint cannot finish under an older snapshot"
            waited = asyncio.get_running_loop().time() - started
            assert waited < 1.0, f"the checkpoint held the write lock for {waited:.1f} s"
            assert await db.write(insert("after", 3)) == "after", "writes go on while the reader reads"
            reader.execute("COMMIT")
        assert await db.checkpoint() is True, "the next round finishes it"
        assert Path(f"{path}-wal").stat().st_size == 0
    finally:
        await db.disconnect()


# -- the PostgreSQL writer's statements ----------------------------------------------------------


def test_named_parameters_become_numbered_once_each_outside_quotes_comments_and_casts() -> None:
    sql = "SELECT :a, :b, :a WHERE x::text = 'it''s :not' AND \"odd:name\" = :c -- :nor\n AND d = :d"
    assert _numbered(sql) == (
        "SELECT $1, $2, $1 WHERE x::text = 'it''s :not' AND \"odd:name\" = $3 -- :nor\n AND d = $4",
        ("a", "b", "c", "d"),
    )
    assert _numbered("SELECT 1") == ("SELECT 1", ())


async def test_statements_inside_a_write_give_plain_dicts_as_readers_do(db: Database) -> None:
    await create_items(db)

    async def unit(tx: Transaction) -> tuple[object, ...]:
        await tx.execute_many(INSERT_ITEM, [{"key": f"k{i}", "value": i} for i in range(3)])
        await tx.execute_many(INSERT_ITEM, [])
        return (
            await tx.fetch_all("SELECT key, value FROM items WHERE key <> 'a :colon' ORDER BY key"),
            await tx.fetch_one("SELECT key, value FROM items WHERE key = :key", {"key": "k1"}),
            await tx.fetch_one("SELECT key FROM items WHERE key = :key", {"key": "missing"}),
            await tx.fetch_val("SELECT SUM(value) AS total FROM items WHERE value >= :low", {"low": 1}),
            await tx.fetch_val("SELECT key FROM items WHERE key = :key", {"key": "missing"}),
            await tx.fetch_one("UPDATE items SET value = value + 10 RETURNING key"),
        )

    every, one, none, total, no_value, returned = await db.write(unit)
    assert every == [{"key": "k0", "value": 0}, {"key": "k1", "value": 1}, {"key": "k2", "value": 2}]
    assert all(type(row) is dict for row in every) and type(one) is dict
    assert one == {"key": "k1", "value": 1} and none is None and total == 3 and no_value is None
    assert returned is not None
    assert await db.fetch_val("SELECT SUM(value) AS total FROM items") == 33, "RETURNING changed every row"
    rows = await db.fetch_all("SELECT key FROM items WHERE value > :value ORDER BY key", {"value": 10})
    assert rows == [{"key": "k1"}, {"key": "k2"}] and all(type(row) is dict for row in rows)


async def test_a_bool_is_stored_as_an_integer_as_before(db: Database) -> None:
    # Flags are SMALLINT columns on both databases; asyncpg takes a Python bool for an integer
    # parameter, as it did through `databases` (which passed values unconverted).
    await create_items(db)
    await db.write(insert("yes", True))  # type: ignore[arg-type]
    await db.write(insert("no", False))  # type: ignore[arg-type]
    rows = await db.fetch_all(
        "SELECT key, value FROM items WHERE value = :flag OR key = 'no' ORDER BY key", {"flag": True}
    )
    assert rows == [{"key": "no", "value": 0}, {"key": "yes", "value": 1}]

"""Migrations: numbered files applied once, in order, each whole or not at all."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from petition.database import Database
from petition.migrations import (
    MIGRATIONS_DIR,
    MigrationError,
    check_current,
    discover,
    for_dialect,
    migrate,
    split_statements,
)


def write_migrations(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(exist_ok=True)
    for name, sql in files.items():
        (folder / name).write_text(sql)
    return folder


@pytest.fixture
async def empty_db(empty_db_url: str) -> Database:
    database = Database(empty_db_url)
    await database.connect()
    yield database
    await database.disconnect()


async def table_exists(db: Database, table: str) -> bool:
    try:
        await db.fetch_all(f"SELECT * FROM {table}")
    except Exception:
        return False
    return True


async def test_project_migrations_apply_once_and_are_recorded(empty_db: Database) -> None:
    applied = await migrate(empty_db)
    assert [m.filename for m in applied] == [m.filename for m in discover(MIGRATIONS_DIR)]
    assert await migrate(empty_db) == []
    assert await check_current(empty_db) == discover(MIGRATIONS_DIR)[-1].version


async def test_migrations_apply_in_number_order(empty_db: Database, tmp_path: Path) -> None:
    folder = write_migrations(
        tmp_path / "m",
        {
            "0002_add_column.sql": "ALTER TABLE things ADD COLUMN colour TEXT;",
            "0001_things.sql": "CREATE TABLE things (id TEXT PRIMARY KEY);",
        },
    )
    applied = await migrate(empty_db, folder)
    assert [m.filename for m in applied] == ["0001_things.sql", "0002_add_column.sql"]
    assert await empty_db.fetch_all("SELECT id, colour FROM things") == []


async def test_a_migration_failing_halfway_leaves_nothing_of_itself(empty_db: Database, tmp_path: Path) -> None:
    folder = write_migrations(
        tmp_path / "m",
        {
            "0001_good.sql": "CREATE TABLE good (id TEXT PRIMARY KEY);",
            "0002_bad.sql": "CREATE TABLE half (id TEXT PRIMARY KEY);\nINSERT INTO no_such_table VALUES (1);",
        },
    )
    with pytest.raises(MigrationError) as error:
        await migrate(empty_db, folder)
    message = str(error.value)
    assert message.startswith("migration 0002_bad.sql failed at statement 2")
    assert "\n" not in message
    assert await table_exists(empty_db, "good")
    assert not await table_exists(empty_db, "half"), "the failed migration's first statement was kept"
    with pytest.raises(MigrationError, match=r"1 migration\(s\) pending \(0002_bad.sql\)"):
        await check_current(empty_db, folder)


async def test_an_applied_migration_that_was_edited_is_refused(empty_db: Database, tmp_path: Path) -> None:
    folder = write_migrations(tmp_path / "m", {"0001_things.sql": "CREATE TABLE things (id TEXT PRIMARY KEY);"})
    await migrate(empty_db, folder)
    (folder / "0001_things.sql").write_text("CREATE TABLE things (id TEXT PRIMARY KEY, extra TEXT);")
    with pytest.raises(MigrationError, match=r"0001_things.sql was changed after it was applied"):
        await migrate(empty_db, folder)
    with pytest.raises(MigrationError, match="changed after it was applied"):
        await check_current(empty_db, folder)


async def test_a_database_newer_than_the_code_is_refused(empty_db: Database, tmp_path: Path) -> None:
    newer = write_migrations(
        tmp_path / "newer",
        {"0001_a.sql": "CREATE TABLE a (id TEXT PRIMARY KEY);", "0002_b.sql": "CREATE TABLE b (id TEXT PRIMARY KEY);"},
    )
    await migrate(empty_db, newer)
    older = write_migrations(tmp_path / "older", {"0001_a.sql": "CREATE TABLE a (id TEXT PRIMARY KEY);"})
    with pytest.raises(MigrationError, match=r"has migration 0002_b.sql, which this version does not have"):
        await check_current(empty_db, older)


async def test_concurrent_migrators_apply_each_migration_once(empty_db_url: str, tmp_path: Path) -> None:
    folder = write_migrations(
        tmp_path / "m",
        {
            "0001_a.sql": "CREATE TABLE a (id TEXT PRIMARY KEY);",
            "0002_b.sql": "CREATE TABLE b (id TEXT PRIMARY KEY);",
        },
    )
    databases = [Database(empty_db_url) for _ in range(3)]
    for database in databases:
        await database.connect()
    try:
        results = await asyncio.gather(*(migrate(database, folder) for database in databases))
        applied = sorted(m.filename for result in results for m in result)
        assert applied == ["0001_a.sql", "0002_b.sql"]
    finally:
        for database in databases:
            await database.disconnect()


async def test_without_rowid_tables_work_on_both_databases(empty_db: Database, tmp_path: Path) -> None:
    folder = write_migrations(
        tmp_path / "m", {"0001_private.sql": "CREATE TABLE private (key TEXT PRIMARY KEY, v TEXT) WITHOUT ROWID;"}
    )
    await migrate(empty_db, folder)
    assert await empty_db.fetch_all("SELECT key FROM private") == []
    if empty_db.dialect == "sqlite":
        with pytest.raises(Exception, match="rowid"):
            await empty_db.fetch_all("SELECT rowid FROM private")


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"1_short.sql": "SELECT 1;"}, "migration files are named like 0002_add_petitions.sql"),
        ({"0001_a.sql": "SELECT 1;", "0001_b.sql": "SELECT 1;"}, "have the same number"),
    ],
)
def test_misnamed_or_duplicate_migration_files_are_refused(tmp_path: Path, files: dict[str, str], message: str) -> None:
    with pytest.raises(MigrationError, match=message):
        discover(write_migrations(tmp_path / "m", files))


def test_statements_split_on_semicolons_outside_quotes_and_comments() -> None:
    sql = """
    -- a comment; with a semicolon
    CREATE TABLE t (note TEXT DEFAULT 'a;b', other TEXT DEFAULT 'it''s; fine');
    INSERT INTO t (note) VALUES ('x'); -- trailing comment
    """
    assert split_statements(sql) == [
        "CREATE TABLE t (note TEXT DEFAULT 'a;b', other TEXT DEFAULT 'it''s; fine')",
        "INSERT INTO t (note) VALUES ('x')",
    ]


async def migrate_before(db: Database, version: int, folder: Path) -> None:
    """Apply the project's migrations numbered below `version`: a database as an older release left it."""
    folder.mkdir()
    for migration in discover(MIGRATIONS_DIR):
        if migration.version < version:
            (folder / migration.filename).write_text(migration.sql)
    await migrate(db, folder)


async def test_codes_spent_before_the_batch_counter_existed_are_counted(empty_db: Database, tmp_path: Path) -> None:
    # A database as it was before 0009: codes spent, no counter on the batch yet.
    await migrate_before(empty_db, 9, tmp_path / "older")
    async with empty_db.exclusive() as tx:
        await tx.execute(
            "INSERT INTO organizers (id, email, password_hash, created_at) VALUES ('o', 'o@example.org', 'x', 0)"
        )
        await tx.execute(
            "INSERT INTO petitions (id, slug, state, title, summary, body, target, goal, allowed_domains,"
            " verification, show_names, reasons_enabled, timeline_floor, retention_days, created_by, created_at)"
            " VALUES ('p', 'p', 'open', 'T', 'S', '', 'Board', 10, '[]', '[\"code\"]', 0, 0, 'day', 30, 'o', 0)"
        )
        for batch in ("b1", "b2"):
            await tx.execute(
                "INSERT INTO code_batches (id, petition_id, label, size, created_by, created_at)"
                " VALUES (:id, 'p', '', 3, 'o', 0)",
                {"id": batch},
            )
        spent = [("c1", "b1", "used"), ("c2", "b1", "used"), ("c3", "b1", "unused"), ("c4", "b2", "revoked")]
        for code, batch, state in spent:
            await tx.execute(
                "INSERT INTO signing_codes (code_hash, batch_id, state) VALUES (:c, :b, :s)",
                {"c": code, "b": batch, "s": state},
            )
    await migrate(empty_db)
    rows = await empty_db.fetch_all("SELECT id, used FROM code_batches ORDER BY id")
    assert rows == [{"id": "b1", "used": 2}, {"id": "b2", "used": 0}]


async def test_signatures_keep_their_state_when_keyed_by_it(empty_db: Database, tmp_path: Path) -> None:
    # Before 0010 signatures were keyed by receipt hash alone; every state must come through 0010,
    # and 0012 counts what waited (counted = 0, or withdrawn = 1) as a batch closing then would.
    await migrate_before(empty_db, 10, tmp_path / "older")
    states = [("r1", 0, 0), ("r2", 1, 0), ("r3", 0, 1), ("r4", 1, 1), ("r5", 1, 2)]
    async with empty_db.exclusive() as tx:
        await tx.execute(
            "INSERT INTO organizers (id, email, password_hash, created_at) VALUES ('o', 'o@example.org', 'x', 0)"
        )
        await tx.execute(
            "INSERT INTO petitions (id, slug, state, title, summary, body, target, goal, allowed_domains,"
            " verification, show_names, reasons_enabled, timeline_floor, retention_days, created_by, created_at,"
            " signature_count, count_code) VALUES ('p', 'p', 'open', 't', '', '', '', 10, '[]', '[\"code\"]',"
            " 0, 0, 'day', 30, 'o', 0, 2, 2)"
        )
        for receipt_hash, counted, withdrawn in states:
            await tx.execute(
                "INSERT INTO signatures (receipt_hash, petition_id, method, counted, withdrawn, accepted_hour)"
                " VALUES (:h, 'p', 'code', :c, :w, 3600)",
                {"h": receipt_hash, "c": counted, "w": withdrawn},
            )
        await tx.execute("INSERT INTO pending_details (id, petition_id, sealed) VALUES ('d1', 'p', 'sealed')")
    await migrate(empty_db)
    rows = await empty_db.fetch_all("SELECT * FROM signatures ORDER BY receipt_hash")
    assert rows == [
        {"receipt_hash": h, "petition_id": "p", "method": "code", "withdrawn": int(w > 0)} for h, _, w in states
    ], "every signature, keyed as before, with no time of its own"
    # Counted before: r2, r4, r5, less r5's withdrawal (2). Waiting: r1 and r3 to count, r3's and r4's
    # withdrawals: 2 + 2 - 2 = 2.
    petition = await empty_db.fetch_one("SELECT signature_count, count_code FROM petitions WHERE id = 'p'")
    assert petition == {"signature_count": 2, "count_code": 2}
    hourly = await empty_db.fetch_all("SELECT signed, withdrawn FROM hourly_counts WHERE petition_id = 'p'")
    assert hourly == [{"signed": 2, "withdrawn": 2}]
    waiting = await empty_db.fetch_all("SELECT pending_key, petition_id, kind, sealed FROM pending_signatures")
    assert waiting == [{"pending_key": "d1", "petition_id": "p", "kind": 3, "sealed": "sealed"}]


async def test_petitions_and_what_refers_to_them_survive_the_draft_slugs_migration(
    empty_db: Database, tmp_path: Path
) -> None:
    # 0011 rebuilds the petitions table on SQLite; rows and the rows referring to them must come through.
    await migrate_before(empty_db, 11, tmp_path / "older")
    async with empty_db.exclusive() as tx:
        await tx.execute(
            "INSERT INTO organizers (id, email, password_hash, created_at) VALUES ('o', 'o@example.org', 'x', 0)"
        )
        for petition_id, state in (("p", "open"), ("d", "draft")):
            await tx.execute(
                "INSERT INTO petitions (id, slug, state, title, summary, body, target, goal, allowed_domains,"
                " verification, show_names, reasons_enabled, timeline_floor, retention_days, created_by, created_at)"
                " VALUES (:id, :id, :state, 'T', 'S', '', 'Board', 10, '[]', '[]', 0, 0, 'day', 30, 'o', 0)",
                {"id": petition_id, "state": state},
            )
            await tx.execute(
                "INSERT INTO petition_organizers (petition_id, organizer_id) VALUES (:id, 'o')", {"id": petition_id}
            )
    await migrate(empty_db)
    rows = await empty_db.fetch_all("SELECT id, slug, state FROM petitions ORDER BY id")
    assert rows == [{"id": "d", "slug": "d", "state": "draft"}, {"id": "p", "slug": "p", "state": "open"}]
    assert len(await empty_db.fetch_all("SELECT * FROM petition_organizers")) == 2
    with pytest.raises(Exception, match=r"(?i)foreign|violat"):
        async with empty_db.exclusive() as tx:
            await tx.execute("DELETE FROM petitions WHERE id = 'p'")


def test_a_migration_section_for_one_database_is_left_out_of_the_other() -> None:
    sql = "A;\n-- only sqlite:\nB;\n-- only postgresql:\nC;\n-- every database:\nD;\n"
    assert split_statements(for_dialect(sql, "sqlite")) == ["A", "B", "D"]
    assert split_statements(for_dialect(sql, "postgresql")) == ["A", "C", "D"]


@pytest.mark.parametrize(
    ("before", "column", "value"),
    [(13, "time_zone", "UTC"), (14, "language", "en")],
    ids=["time zones: counted by the UTC day", "languages: English"],
)
async def test_petitions_made_before_a_new_setting_take_its_old_behaviour(
    empty_db: Database, tmp_path: Path, before: int, column: str, value: str
) -> None:
    await migrate_before(empty_db, before, tmp_path / "older")
    async with empty_db.exclusive() as tx:
        await tx.execute(
            "INSERT INTO organizers (id, email, password_hash, created_at) VALUES ('o', 'o@example.org', 'x', 0)"
        )
        await tx.execute(
            "INSERT INTO petitions (id, slug, state, title, summary, body, target, goal, allowed_domains,"
            " verification, show_names, reasons_enabled, timeline_floor, retention_days, created_by, created_at)"
            " VALUES ('p', 'p', 'open', 'T', 'S', '', 'Board', 10, '[]', '[\"code\"]', 0, 0, 'day', 30, 'o', 0)"
        )
    await migrate(empty_db)
    assert await empty_db.fetch_all(f"SELECT id, {column} FROM petitions") == [{"id": "p", column: value}]

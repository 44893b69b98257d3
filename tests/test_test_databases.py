"""The databases tests run on: each test's own, as `migrate()` leaves a new one, whatever tests ran before."""

from __future__ import annotations

import asyncpg
import pytest

from petition.database import Database
from petition.migrations import check_current, migrate

from . import migrated
from .conftest import TEST_DATABASE_URL


async def contents(url: str) -> dict[str, list[dict[str, object]]]:
    """Table -> its rows (schema_migrations without its time), of the database at `url`."""
    database = Database(url)
    await database.connect()
    try:
        await check_current(database)
        if database.dialect == "sqlite":
            sql = "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
        else:
            sql = "SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1"
        tables = [row["name"] for row in await database.fetch_all(sql)]
        found = {}
        for table in tables:
            columns = "version, name, checksum" if table == "schema_migrations" else "*"
            rows = await database.fetch_all(f"SELECT {columns} FROM {table}")
            found[table] = sorted(rows, key=repr)
        return found
    finally:
        await database.disconnect()


async def test_a_tests_database_is_what_migrate_makes_of_an_empty_one(db_url: str, empty_db_url: str) -> None:
    database = Database(empty_db_url)
    await database.connect()
    try:
        await migrate(database)
    finally:
        await database.disconnect()
    assert await contents(db_url) == await contents(empty_db_url)


async def write_a_row(url: str) -> None:
    database = Database(url)
    await database.connect()
    try:
        await database.write(
            lambda tx: tx.execute("INSERT INTO leases (name, holder, expires_at) VALUES ('job', 'me', 1)")
        )
    finally:
        await database.disconnect()


@pytest.fixture
async def postgres_admin(dialect: str) -> asyncpg.Connection | None:
    if dialect == "sqlite":
        yield None
        return
    admin = await asyncpg.connect(TEST_DATABASE_URL)
    yield admin
    await admin.close()


async def next_sqlite_contents(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, object]]]:
    """What the next SQLite test's database holds when it starts."""
    following = tmp_path_factory.mktemp("following") / "test.db"
    await migrated.copy_migrated_sqlite(following, tmp_path_factory.getbasetemp())
    return await contents(f"sqlite:///{following}")


async def test_rows_a_test_wrote_are_gone_for_the_next_test(
    db_url: str, dialect: str, tmp_path_factory: pytest.TempPathFactory, postgres_admin: asyncpg.Connection | None
) -> None:
    before = await contents(db_url)
    await write_a_row(db_url)
    assert await contents(db_url) != before
    if postgres_admin is None:
        assert await next_sqlite_contents(tmp_path_factory) == before
        return
    pool = await migrated.postgres_pool(postgres_admin, TEST_DATABASE_URL)
    schema = await pool.take(postgres_admin)
    url = migrated.with_search_path(TEST_DATABASE_URL, schema)
    await write_a_row(url)
    await pool.give_back(postgres_admin, schema)
    assert schema in pool.free, "an emptied schema is used again"
    again = await pool.take(postgres_admin)
    try:
        assert again == schema
        assert await contents(url) == before
    finally:
        await pool.give_back(postgres_admin, again)


async def test_a_database_whose_tables_a_test_changed_is_never_used_again(
    db_url: str, tmp_path_factory: pytest.TempPathFactory, postgres_admin: asyncpg.Connection | None
) -> None:
    before = await contents(db_url)
    database = Database(db_url)
    await database.connect()
    try:
        await database.write(lambda tx: tx.execute("CREATE TABLE extra (id TEXT PRIMARY KEY)"))
        await database.write(lambda tx: tx.execute("CREATE INDEX leases_by_holder ON leases (holder)"))
    finally:
        await database.disconnect()
    if postgres_admin is None:
        assert await next_sqlite_contents(tmp_path_factory) == before
        return
    pool = await migrated.postgres_pool(postgres_admin, TEST_DATABASE_URL)
    for change in ("CREATE TABLE {}.extra (id TEXT)", "ALTER TABLE {}.leases ALTER COLUMN holder DROP NOT NULL"):
        schema = await pool.take(postgres_admin)
        await postgres_admin.execute(change.format(schema))
        await pool.give_back(postgres_admin, schema)
        assert schema not in pool.free
        exists = "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)"
        assert not await postgres_admin.fetchval(exists, schema), "a changed schema is dropped"

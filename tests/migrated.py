"""Migrated databases for tests, made cheaply: the migrations run once per session, not per test.

Running every migration for every test cost most of a database test's setup (on PostgreSQL, 14
transactions of DDL whose catalog churn also bloats the server's catalogs; on SQLite, 14 fsynced
commits). So `migrate()` itself runs, as the service would run it, into a template, and every test
gets its own copy of the result:

- SQLite: a byte copy of the template file. WAL mode and the page size are in the file and come
  with it; what a connection sets (secure_delete, synchronous and the rest) is set again when the
  service opens the copy, as on any migrated file.
- PostgreSQL: a schema of a small pool. Each was migrated by `migrate()` when the pool had none free;
  after its test every row is deleted and the rows the migrations wrote are copied back from a
  pristine migrated schema, so the next test finds it exactly as `migrate()` left it. A schema whose
  definition the test changed (a table added, a column altered: compared with the pristine one's)
  is dropped, never reused.

Both belong to one process: each pytest-xdist worker makes its own template (in its own base temporary
folder) and its own pool (schemas under random names, which only that pool drops when its session
ends). Both follow `migrations/` as it is when the session starts: a new migration file is picked up with
nothing to regenerate. Tests of the migrations themselves ask for an empty database instead.
"""

from __future__ import annotations

import secrets
import shutil
import sqlite3
from pathlib import Path

import asyncpg

from petition.database import Database
from petition.migrations import migrate

_sqlite_template: Path | None = None
_postgres_pool: PostgresPool | None = None


async def copy_migrated_sqlite(path: Path, template_dir: Path) -> None:
    """Write at `path` a SQLite file as `migrate()` leaves a new one (the template made once per session)."""
    global _sqlite_template
    if _sqlite_template is None:
        template = template_dir / "migrated.db"
        database = Database(f"sqlite:///{template}")
        await database.connect()
        try:
            await migrate(database)
        finally:
            await database.disconnect()
        # Closing the last connection copies the WAL into the file; make sure nothing is left beside it.
        with sqlite3.connect(template) as conn:
            busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        assert not busy, "the template's WAL could not be emptied"
        _sqlite_template = template
    shutil.copyfile(_sqlite_template, path)


# One text per object of a schema, with the schema's own name left out: two schemas that
# `migrate()` made give the same texts, and any DDL a test ran in one makes them differ.
DEFINITION_OF_SCHEMA = """
SELECT replace(d, $2 || '.', '') AS d FROM (
    SELECT 'relation ' || c.relname || ' ' || c.relkind::text || ' ' || coalesce((
        SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || ' ' || a.attnotnull::text
            || ' ' || coalesce(pg_get_expr(ad.adbin, ad.adrelid), ''), ', ' ORDER BY a.attnum)
        FROM pg_attribute a LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
        WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '') AS d
    FROM pg_class c WHERE c.relnamespace = $1
    UNION ALL SELECT 'index ' || pg_get_indexdef(i.indexrelid)
    FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relnamespace = $1
    UNION ALL SELECT 'constraint ' || conname || ' ' || pg_get_constraintdef(oid)
    FROM pg_constraint WHERE connamespace = $1
    UNION ALL SELECT 'trigger ' || t.tgname
    FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid WHERE c.relnamespace = $1 AND NOT t.tgisinternal
    UNION ALL SELECT 'function ' || proname FROM pg_proc WHERE pronamespace = $1
    UNION ALL SELECT 'type ' || typname FROM pg_type WHERE typnamespace = $1
) AS definitions ORDER BY 1
"""


class PostgresPool:
    """Migrated schemas for tests, each used by one test at a time, and a pristine one to reset them from."""

    def __init__(self, url: str, pristine: str, definition: list[str], tables: list[str], seeded: list[str]) -> None:
        self.url = url
        self.pristine = pristine
        self.definition = definition
        self.free: list[str] = []
        self.made: set[str] = {pristine}
        # Foreign keys are not checked while every table is emptied (they all end up empty); a
        # connection the test left open and holding a lock fails the reset instead of hanging it.
        self.reset_script = (
            "SET LOCAL session_replication_role = replica;\nSET LOCAL lock_timeout = '10s';\n"
            + "".join(f"DELETE FROM {{schema}}.{table};\n" for table in tables)
            + "".join(f"INSERT INTO {{schema}}.{table} SELECT * FROM {pristine}.{table};\n" for table in seeded)
        )

    @classmethod
    async def make(cls, admin: asyncpg.Connection, url: str) -> PostgresPool:
        pristine = f"test_pristine_{secrets.token_hex(6)}"
        await migrated_schema(admin, url, pristine)
        definition = await definition_of(admin, pristine)
        tables = [
            row["tablename"]
            for row in await admin.fetch("SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY 1", pristine)
        ]
        seeded = [
            table for table in tables if await admin.fetchval(f"SELECT EXISTS (SELECT 1 FROM {pristine}.{table})")
        ]
        return cls(url, pristine, definition, tables, seeded)

    async def take(self, admin: asyncpg.Connection) -> str:
        """A migrated schema for one test: a free one, or a new one."""
        if self.free:
            return self.free.pop()
        schema = f"test_{secrets.token_hex(6)}"
        self.made.add(schema)
        await migrated_schema(admin, self.url, schema)
        return schema

    async def give_back(self, admin: asyncpg.Connection, schema: str) -> None:
        """Empty a schema a test used and make it free again; drop it if the test changed its definition."""
        if await definition_of(admin, schema) != self.definition:
            await self.drop(admin, schema)
            return
        try:
            async with admin.transaction():
                await admin.execute(self.reset_script.format(schema=schema))
        except Exception:
            await self.drop(admin, schema)
            raise
        self.free.append(schema)

    async def drop(self, admin: asyncpg.Connection, schema: str) -> None:
        self.made.discard(schema)
        await admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")

    async def drop_all(self, admin: asyncpg.Connection) -> None:
        """Drop every schema the pool made, the pristine one too (at the end of the session)."""
        for schema in sorted(self.made):
            await self.drop(admin, schema)
        self.free.clear()


async def migrated_schema(admin: asyncpg.Connection, url: str, schema: str) -> None:
    """Create `schema` in the database at `url` (which `admin` is connected to) and run `migrate()` in it."""
    await admin.execute(f"CREATE SCHEMA {schema}")
    database = Database(with_search_path(url, schema))
    await database.connect()
    try:
        await migrate(database)
    finally:
        await database.disconnect()


async def definition_of(admin: asyncpg.Connection, schema: str) -> list[str]:
    """What a schema holds (tables, columns, indexes, constraints...), without its name."""
    oid = await admin.fetchval("SELECT oid FROM pg_namespace WHERE nspname = $1", schema)
    return [row["d"] for row in await admin.fetch(DEFINITION_OF_SCHEMA, oid, schema)]


async def postgres_pool(admin: asyncpg.Connection, url: str) -> PostgresPool:
    """The session's pool of migrated schemas in the database at `url`, which `admin` is connected to."""
    global _postgres_pool
    if _postgres_pool is None:
        _postgres_pool = await PostgresPool.make(admin, url)
    return _postgres_pool


async def drop_postgres_pool(url: str) -> None:
    """Drop the schemas of the session's pool, if it made any."""
    global _postgres_pool
    if _postgres_pool is None:
        return
    admin = await asyncpg.connect(url)
    try:
        await _postgres_pool.drop_all(admin)
    finally:
        await admin.close()
    _postgres_pool = None


def with_search_path(url: str, schema: str) -> str:
    """A PostgreSQL URL whose connections use `schema`."""
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}search_path={schema}"

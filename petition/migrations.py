"""Schema migrations: numbered plain-SQL files in `migrations/`, applied in order and recorded.

The same files serve SQLite and PostgreSQL. Each file runs in its own
transaction, so a failure leaves nothing of it behind; a checksum of each
applied file is kept, so an edit to one that already ran is caught.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from . import queries
from .database import Database, now

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# SQLite's WITHOUT ROWID (no hidden insertion order) is the one clause
# PostgreSQL lacks; its heap tables have no rowid to hide, so it is dropped there.
WITHOUT_ROWID = re.compile(r"\)\s*WITHOUT\s+ROWID\s*$", re.IGNORECASE)
# A line `-- only sqlite:` or `-- only postgresql:` starts statements for that database alone,
# `-- every database:` ends them: where the two cannot share SQL (dropping a UNIQUE, say).
DIALECT_LINE = re.compile(r"^-- (?:only (sqlite|postgresql)|every database):\s*$", re.MULTILINE)


class MigrationError(Exception):
    """A migration cannot be found, checked or applied; the message is one line."""


@dataclass(frozen=True)
class Migration:
    version: int
    filename: str
    sql: str
    checksum: str

    def statements(self, dialect: str) -> list[str]:
        """The file's statements, adapted to the dialect."""
        statements = split_statements(for_dialect(self.sql, dialect))
        if dialect == "postgresql":
            statements = [WITHOUT_ROWID.sub(")", statement) for statement in statements]
        return statements


def for_dialect(sql: str, dialect: str) -> str:
    """The SQL of a migration without the sections marked for the other database."""
    kept: list[str] = []
    section = None
    position = 0
    for match in DIALECT_LINE.finditer(sql):
        if section in (None, dialect):
            kept.append(sql[position : match.start()])
        section, position = match.group(1), match.end()
    if section in (None, dialect):
        kept.append(sql[position:])
    return "".join(kept)


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migration files of a folder, in order; raises MigrationError on a misnamed or duplicate file."""
    if not directory.is_dir():
        raise MigrationError(f"no migrations folder at {directory}")
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = FILE_NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named like 0002_add_petitions.sql")
        version = int(match.group(1))
        if version in found:
            raise MigrationError(f"{path.name} and {found[version].filename} have the same number")
        data = path.read_bytes()
        found[version] = Migration(version, path.name, data.decode("utf-8"), hashlib.sha256(data).hexdigest())
    return [found[version] for version in sorted(found)]


def split_statements(sql: str) -> list[str]:
    """SQL text -> its statements, without comments; semicolons inside quotes do not split."""
    statements: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(sql):
        char = sql[i]
        if char == "'":
            end = sql.find("'", i + 1)
            while end != -1 and sql[end + 1 : end + 2] == "'":  # '' is an escaped quote
                end = sql.find("'", end + 2)
            end = len(sql) if end == -1 else end + 1
            current.append(sql[i:end])
            i = end
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            i = len(sql) if end == -1 else end
        elif char == ";":
            statements.append("".join(current))
            current = []
            i += 1
        else:
            current.append(char)
            i += 1
    statements.append("".join(current))
    return [statement.strip() for statement in statements if statement.strip()]


async def applied_migrations(db: Database) -> dict[int, dict[str, str]]:
    """Version -> recorded row, for every migration the database has; empty for a new database."""
    try:
        rows = await db.fetch_all(queries.SELECT_APPLIED_MIGRATIONS)
    except Exception:  # no bookkeeping table yet: a new database
        return {}
    return {row["version"]: row for row in rows}


def check_history(applied: dict[int, dict[str, str]], migrations: list[Migration]) -> None:
    """Refuse a database that ran migrations this code lacks, or files edited after they ran."""
    known = {migration.version: migration for migration in migrations}
    for version, row in sorted(applied.items()):
        migration = known.get(version)
        if migration is None:
            raise MigrationError(
                f"the database has migration {row['name']}, which this version does not have; "
                "run the newer version of the service"
            )
        if migration.checksum != row["checksum"]:
            raise MigrationError(f"migrations/{migration.filename} was changed after it was applied; restore it")


async def migrate(db: Database, directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Apply every pending migration, each in its own transaction; the ones applied now."""
    migrations = discover(directory)
    async with db.exclusive() as tx:
        await tx.execute(queries.CREATE_SCHEMA_MIGRATIONS)
    done: list[Migration] = []
    for migration in migrations:
        # Another process may be migrating too: the exclusive transaction waits
        # for it, then reads what is applied before deciding.
        async with db.exclusive() as tx:
            applied = {row["version"]: row for row in await tx.fetch_all(queries.SELECT_APPLIED_MIGRATIONS)}
            check_history(applied, migrations)
            if migration.version in applied:
                continue
            for number, statement in enumerate(migration.statements(db.dialect), start=1):
                try:
                    await tx.execute(statement)
                except Exception as error:
                    reason = " ".join(str(error).split()) or type(error).__name__
                    raise MigrationError(
                        f"migration {migration.filename} failed at statement {number} ({reason}); "
                        "none of it was applied"
                    ) from None
            await tx.execute(
                queries.INSERT_MIGRATION,
                {
                    "version": migration.version,
                    "name": migration.filename,
                    "checksum": migration.checksum,
                    "applied_at": now(),
                },
            )
        done.append(migration)
    return done


async def check_current(db: Database, directory: Path = MIGRATIONS_DIR) -> int:
    """The schema version; raises MigrationError when migrations are pending or the history differs."""
    migrations = discover(directory)
    applied = await applied_migrations(db)
    check_history(applied, migrations)
    pending = [m.filename for m in migrations if m.version not in applied]
    if pending:
        raise MigrationError(f"{len(pending)} migration(s) pending ({', '.join(pending)}); run: python main.py migrate")
    return max(applied, default=0)

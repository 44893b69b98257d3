"""The one module that holds database connections: held readers, one group-committing writer.

Everything else calls `fetch_one` / `fetch_all` / `fetch_val` for reads and
`write(unit)` for changes, with SQL from `queries.py` and `:named` parameters
that SQLite and PostgreSQL both accept. Rows come back as plain dicts.

Why it is shaped like this (measured on a 2-core machine):
- `databases` opens a new SQLite connection for every query made outside a
  held connection (about 2 ms, and the PRAGMAs are lost), so readers are held
  for the life of the process, each with its PRAGMAs, and lent out one at a time.
- Every statement through `databases` + aiosqlite costs a thread hop (200 to 900 µs),
  while the statement itself takes about 15 µs. A signature is several
  statements, so the SQLite writer runs its statements directly on its own
  `sqlite3` connection; only BEGIN and COMMIT (which may wait on a lock or an
  fsync) leave the event loop.
- A durable commit costs an fsync. The single writer commits every write that
  is waiting in one transaction (group commit) and answers each caller only
  after COMMIT has returned: nothing is acknowledged before it is durable.
- On PostgreSQL, statements (the writer's and the readers') go straight to asyncpg:
  `:name` parameters become `$1..$n` once per SQL text, and asyncpg prepares each text
  once per connection, so a statement is one round trip with no SQLAlchemy compile, and a
  reader given back to the pool is not reset (no `RESET ALL` round trip). Against going
  through `databases` (bench/pg_writer.py), the client's work per write fell from about
  200 to 60 µs and per read from 115 to 35 µs.
- One failing write must not undo the others of its group, but a savepoint per
  write costs each signature about 4% of its work, and writes rarely fail. So a
  group first runs without savepoints; when a write in it fails, the group is
  rolled back and run again with a savepoint for each write (and so is the next
  group, so that failing writes sent on purpose cannot double every group's
  work).
- Several processes share one PostgreSQL server, each with its own writer, so two
  groups can wait on each other's row locks. Keyed units run in key order to make that
  rare; when it happens anyway (a deadlock, a serialization failure, a lock not had in
  time), the whole group is rolled back and run again after a short random wait, up to
  GROUP_RETRIES times, before any caller sees an error.
- A write unit may therefore run more than once, and changes nothing but the
  database (or, through `tx.after_commit` and `tx.on_rollback`, what it is told).
- In WAL mode (SQLite) and under MVCC (PostgreSQL) readers never wait for the writer.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import random
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any, NamedTuple, Protocol, TypeVar
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import asyncpg
import databases
import databases.core

logger = logging.getLogger("petition.database")
QUIET_LOGGERS = ("databases", "aiosqlite", "asyncpg")

Row = dict[str, Any]
T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_SECONDS = 5.0
# A WAL checkpoint waits this long for readers before giving up until the next round.
CHECKPOINT_BUSY_TIMEOUT_MS = 200
POSTGRES_CONNECT_TIMEOUT_SECONDS = 10.0
# A group commit holds at most this many writes; more wait for the next one.
MAX_WRITES_PER_COMMIT = 512
# Exclusive sections (migrations) on PostgreSQL serialise on this advisory lock key.
POSTGRES_EXCLUSIVE_LOCK_KEY = 0x5E7171
SQLITE_WRITER_PRAGMAS = (
    "PRAGMA journal_mode = WAL",
    # FULL: the WAL is synced at every commit, so an acknowledged write survives power loss.
    "PRAGMA synchronous = FULL",
    "PRAGMA foreign_keys = ON",
    # Deleted rows are overwritten with zeros, so purged data is not left in free pages.
    "PRAGMA secure_delete = ON",
    # Copy the WAL into the database file every 10,000 pages (40 MB) rather than 1,000: a page
    # written many times meanwhile (a count, an inner page of an index) is copied once. Measured
    # with signing under load: 5 to 15% less CPU per signature.
    "PRAGMA wal_autocheckpoint = 10000",
    # The batcher empties the WAL to nothing (checkpoint TRUNCATE) after every batch and at least
    # every LOG_BATCH_SECONDS / 2; between those, a WAL that starts over after an automatic
    # checkpoint is cut back to the automatic checkpoint's size, so frames of older commits (each
    # a whole page as it was, rows since deleted included) cannot pile up beyond it. Cutting it to
    # nothing at every restart measured 15 to 20% fewer signatures per second under load.
    "PRAGMA journal_size_limit = 40960000",
    # Statement journals and temporary tables stay in memory, never in a file beside the database.
    "PRAGMA temp_store = MEMORY",
)
SQLITE_READER_PRAGMAS = (
    "PRAGMA foreign_keys = ON",
    "PRAGMA temp_store = MEMORY",
    # Readers can never write: every change goes through the writer.
    "PRAGMA query_only = ON",
)


# PostgreSQL's SQLSTATE for unique_violation (asyncpg's exceptions carry it as `sqlstate`).
UNIQUE_VIOLATION = "23505"
# SQLSTATEs after which a group is run again from the start: it lost a deadlock (40P01), a
# serialization check (40001) or the wait for a lock (55P03). Its transaction is aborted, so
# nothing of it stands, and once the other transaction has finished it goes through.
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001", "55P03"})
# How many times a group is run again after such a failure before its writes fail.
GROUP_RETRIES = 5
# The first wait before running a group again is up to this long, each next one up to twice
# the last: random, so two processes' writers that collided do not collide again in step.
RETRY_BACKOFF_SECONDS = 0.01
# Prepared statements asyncpg keeps per PostgreSQL connection (its default is 100; the service
# has more SQL texts than that, and one pushed out must be prepared again: a round trip more).
POSTGRES_STATEMENT_CACHE_SIZE = 1024


class DatabaseError(Exception):
    """The database cannot be reached or used; the message is one line for the operator."""


class Transaction(Protocol):
    """What a write unit may do inside the writer's transaction."""

    async def fetch_one(self, sql: str, values: dict[str, Any] | None = None) -> Row | None: ...
    async def fetch_all(self, sql: str, values: dict[str, Any] | None = None) -> list[Row]: ...
    async def fetch_val(self, sql: str, values: dict[str, Any] | None = None) -> Any: ...
    async def execute(self, sql: str, values: dict[str, Any] | None = None) -> None: ...
    async def execute_many(self, sql: str, values: Sequence[dict[str, Any]]) -> None: ...
    def after_commit(self, callback: Callable[[], object]) -> None: ...
    def on_rollback(self, callback: Callable[[], object]) -> None: ...


WriteUnit = Callable[[Transaction], Awaitable[T]]


class Reads(Protocol):
    """What reads need: a Database, a write's Transaction, or a snapshot."""

    async def fetch_one(self, sql: str, values: dict[str, Any] | None = None) -> Row | None: ...
    async def fetch_all(self, sql: str, values: dict[str, Any] | None = None) -> list[Row]: ...
    async def fetch_val(self, sql: str, values: dict[str, Any] | None = None) -> Any: ...


class _Hooks:
    """What a write unit asks to happen once its statements are committed, or undone.

    For state kept in memory beside the database (one process's pending dedupe tags): a unit
    changes it at once, so the units after it in the same group see the change, and says how
    to undo it should its statements be rolled back; or it asks for a change only once the
    commit is durable.
    """

    def __init__(self) -> None:
        self._after_commit: list[Callable[[], object]] = []
        self._on_rollback: list[Callable[[], object]] = []

    def after_commit(self, callback: Callable[[], object]) -> None:
        """Call `callback()` once this transaction's commit is durable (never if it is rolled back)."""
        self._after_commit.append(callback)

    def on_rollback(self, callback: Callable[[], object]) -> None:
        """Call `callback()` if the statements run so far by this unit are rolled back."""
        self._on_rollback.append(callback)

    def _mark(self) -> tuple[int, int]:
        return len(self._after_commit), len(self._on_rollback)

    def _undo_to(self, mark: tuple[int, int]) -> None:
        del self._after_commit[mark[0] :]
        undo, self._on_rollback[mark[1] :] = self._on_rollback[mark[1] :], []
        for callback in reversed(undo):
            callback()

    def _committed(self) -> None:
        done, self._after_commit, self._on_rollback = self._after_commit, [], []
        for callback in done:
            callback()


class _FetchShortcuts:
    """`fetch_one` and `fetch_val`, for anything that has `fetch_all`."""

    async def fetch_all(self, sql: str, values: dict[str, Any] | None = None) -> list[Row]:
        raise NotImplementedError

    async def fetch_one(self, sql: str, values: dict[str, Any] | None = None) -> Row | None:
        """The first row, or None."""
        rows = await self.fetch_all(sql, values)
        return rows[0] if rows else None

    async def fetch_val(self, sql: str, values: dict[str, Any] | None = None) -> Any:
        """The first column of the first row, or None."""
        row = await self.fetch_one(sql, values)
        return next(iter(row.values())) if row else None


def dialect_of(url: str) -> str:
    """A DATABASE_URL -> "sqlite" or "postgresql"."""
    return "sqlite" if urlsplit(url).scheme == "sqlite" else "postgresql"


class Database(_FetchShortcuts):
    """Held reader connections plus one writer that commits many writes at once."""

    def __init__(self, url: str, *, readers: int = 2) -> None:
        self.url = url
        self.dialect = dialect_of(url)
        self._reader_count = readers
        self._readers: asyncio.Queue[_Reader] = asyncio.Queue()
        self._held: list[databases.core.Connection] = []
        self._engine: databases.Database | None = None  # SQLite's readers
        self._pool: asyncpg.Pool | None = None  # PostgreSQL's readers and writer
        self._writer: _SQLiteWriter | _PostgresWriter | None = None
        self._queue: asyncio.Queue[_Write | None] = asyncio.Queue()
        self._writer_task: asyncio.Task[None] | None = None
        # Held by the writer for each group commit, and by `exclusive()`.
        self._write_lock = asyncio.Lock()
        # Set after a group in which a write failed: the next group runs each write in a savepoint.
        self._careful = False
        self.commits = 0  # group commits so far (for benchmarks and tests)
        self.group_retries = 0  # groups run again after a deadlock or lock failure (for tests)

    # -- lifecycle -------------------------------------------------------------

    async def connect(self) -> None:
        """Open the writer and the held readers; raises DatabaseError with a one-line reason."""
        # The drivers' debug lines quote every query's arguments (names, reasons, sealed
        # addresses): never let them through, whatever LOG_LEVEL says.
        for name in QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.INFO)
        try:
            if self.dialect == "sqlite":
                await self._connect_sqlite()
            else:
                await self._connect_postgres()
        except DatabaseError:
            await self.disconnect()
            raise
        except (TimeoutError, OSError, sqlite3.Error, Exception) as error:
            await self.disconnect()
            raise DatabaseError(f"cannot open {self.describe()}: {_one_line(error)}") from None
        self._writer_task = asyncio.create_task(self._run_writer(), name="database-writer")

    async def disconnect(self) -> None:
        """Finish the writes already queued, then close every connection."""
        if self._writer_task is not None:
            self._queue.put_nowait(None)
            await self._writer_task
            self._writer_task = None
        for conn in self._held:
            with contextlib.suppress(Exception):  # closing after a failure: nothing more to do
                await conn.__aexit__(None, None, None)
        self._held.clear()
        self._readers = asyncio.Queue()
        if self._writer is not None:
            await self._writer.close()
            self._writer = None
        if self._engine is not None and self._engine.is_connected:
            await self._engine.disconnect()
        self._engine = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    def describe(self) -> str:
        """Where the database is, without any password."""
        parts = urlsplit(self.url)
        if self.dialect == "sqlite":
            return f"SQLite database {_sqlite_path(self.url)!r}"
        return f"PostgreSQL at {parts.hostname}:{parts.port or 5432}{parts.path}"

    async def _connect_sqlite(self) -> None:
        path = _sqlite_path(self.url)
        self._writer = await _SQLiteWriter.open(path)
        # aiosqlite passes `timeout` to sqlite3.connect: the busy timeout.
        self._engine = databases.Database(f"sqlite:///{path}", timeout=SQLITE_BUSY_TIMEOUT_SECONDS)
        await self._engine.connect()
        for _ in range(self._reader_count):
            conn = await self._hold()
            for pragma in SQLITE_READER_PRAGMAS:
                await conn.execute(pragma)
            self._readers.put_nowait(_Reader(conn))

    async def _connect_postgres(self) -> None:
        dsn, options = _postgres_options(self.url)
        size = self._reader_count + 1  # readers, plus the writer's held connection
        # asyncpg's own pool, not `databases`: reads borrow a connection (about 20 µs, and it
        # replaces broken ones) and run on it as the writer's statements do (see
        # _PostgresTransaction), at a third of the client's work per read through `databases`.
        self._pool = await asyncio.wait_for(
            asyncpg.create_pool(
                dsn,
                min_size=size,
                max_size=size,
                timeout=POSTGRES_CONNECT_TIMEOUT_SECONDS,
                statement_cache_size=POSTGRES_STATEMENT_CACHE_SIZE,
                reset=_keep_session,
                **options,
            ),
            POSTGRES_CONNECT_TIMEOUT_SECONDS,
        )
        self._writer = await _PostgresWriter.open(self._pool)

    async def _hold(self) -> databases.core.Connection:
        """A connection of SQLite's engine, held for the life of the process."""
        assert self._engine is not None
        # A Connection of our own (not the per-task one `databases` hands out), kept open.
        conn = databases.core.Connection(self._engine, self._engine._backend)
        await conn.__aenter__()
        self._held.append(conn)
        return conn

    # -- reads -----------------------------------------------------------------

    async def fetch_all(self, sql: str, values: dict[str, Any] | None = None) -> list[Row]:
        """Rows of a read, from a reader connection (never the writer's)."""
        if self.dialect == "postgresql":
            assert self._pool is not None
            query, arguments = _positional(sql, values)
            async with self._pool.acquire() as conn:
                return [dict(record) for record in await conn.fetch(query, *arguments)]
        reader = await self._readers.get()
        try:
            return await reader.fetch_all(sql, values)
        finally:
            self._readers.put_nowait(reader)

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[Reads]:
        """Reads that all see the database as one moment left it, whatever commits meanwhile
        (for a check that reads a whole log in many queries while the service appends to it):
        a reader in a read transaction (SQLite's WAL snapshot; PostgreSQL's REPEATABLE READ)."""
        if self.dialect == "postgresql":
            assert self._pool is not None
            async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
                yield _PostgresReads(conn)
            return
        reader = await self._readers.get()
        try:
            async with reader.conn.transaction():
                yield reader
        finally:
            self._readers.put_nowait(reader)

    # -- writes ----------------------------------------------------------------

    async def write(self, unit: WriteUnit[T], *, lock_key: str | None = None) -> T:
        """Run `unit(tx)` in the next group commit; its result once the commit is durable.

        A unit does database work only (it holds up every write behind it), and may run
        more than once (see the module's docstring), so it changes nothing outside the database
        except through `tx.after_commit` and `tx.on_rollback`. When it raises, its own
        statements are rolled back and the exception reaches the caller; the other writes
        of the group are unaffected.

        `lock_key` names the one row others may also be changing that the unit locks (a
        code's hash, a dedupe tag): a group runs its keyed units in key order, after the
        others, so two processes' groups take their row locks in one order and cannot wait
        on each other.
        """
        if self._writer_task is None or self._writer_task.done():
            raise DatabaseError("the database is not connected")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Write(unit, future, lock_key))
        return await future

    @asynccontextmanager
    async def between_commits(self) -> AsyncIterator[None]:
        """Hold the writer between two group commits: no write runs until this ends (for tests
        that copy the database's files, so that no copy races a commit)."""
        async with self._write_lock:
            yield

    async def checkpoint(self) -> bool:
        """SQLite: copy every committed page of the WAL into the database file and cut the WAL to
        nothing (`PRAGMA wal_checkpoint(TRUNCATE)`), between group commits; False when a reader
        kept it from finishing. PostgreSQL: nothing to do (True)."""
        if self.dialect != "sqlite" or self._writer is None:
            return True
        writer = self._writer
        assert isinstance(writer, _SQLiteWriter)
        async with self._write_lock:
            return await writer.checkpoint()

    async def vacuum(self, tables: Sequence[str]) -> None:
        """PostgreSQL: `VACUUM` each of `tables` (names from our own code, never from a request),
        so that the row versions a purge deleted are removed from their pages and the space
        reused. VACUUM cannot run inside a transaction, so it runs on a reader's connection of
        its own, outside group commit. SQLite: nothing (`secure_delete` zeroes deleted rows at
        once; see `checkpoint`). Raises DatabaseError with a one-line reason."""
        if self.dialect != "postgresql" or self._pool is None:
            return
        for table in tables:
            if not re.fullmatch(r"[a-z_]+", table):
                raise ValueError(f"not a table name: {table!r}")
        try:
            async with self._pool.acquire() as conn:
                for table in tables:
                    await conn.execute(f"VACUUM {table}")
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            raise DatabaseError(f"VACUUM failed: {_one_line(error)}") from None

    async def _run_writer(self) -> None:
        stopping = False
        while not stopping:
            item = await self._queue.get()
            if item is None:
                break
            group = [item]
            while len(group) < MAX_WRITES_PER_COMMIT and not self._queue.empty():
                item = self._queue.get_nowait()
                if item is None:
                    stopping = True
                    break
                group.append(item)
            async with self._write_lock:
                await self._commit_group(group)

    async def _commit_group(self, group: list[_Write]) -> None:
        # Units without a lock key first, as they came; then the keyed ones in key order.
        group.sort(key=lambda item: (item.lock_key is not None, item.lock_key or ""))
        for attempt in range(GROUP_RETRIES + 1):
            # A caller that went away before its turn (a dropped request) writes nothing.
            group = [item for item in group if not item.future.cancelled()]
            if not group:
                return
            assert self._writer is not None
            writer = self._writer
            try:
                outcomes = await self._run_group(writer, group, retry=attempt < GROUP_RETRIES)
            except _RunAgain as again:
                # Another transaction held what this one needed: none of the group stands.
                writer.tx._undo_to((0, 0))
                await writer.rollback_quietly()
                self.group_retries += 1
                logger.warning(
                    "group commit of %d writes failed with SQLSTATE %s (%s); running it again (%d of %d)",
                    len(group),
                    again.sqlstate,
                    type(again.error).__name__,
                    attempt + 1,
                    GROUP_RETRIES,
                )
                await asyncio.sleep(random.uniform(0, RETRY_BACKOFF_SECONDS * 2**attempt))  # noqa: S311 (not a secret)
                continue
            except BaseException as error:
                # The commit itself failed (disk full, connection lost): nothing in it is acknowledged.
                writer.tx._undo_to((0, 0))
                await writer.rollback_quietly()
                if isinstance(writer, _PostgresWriter) and writer.is_closed():
                    await self._replace_postgres_writer()
                logger.error("group commit of %d writes failed: %s", len(group), _one_line(error))
                failure = DatabaseError("the database could not save this change; please try again")
                for item in group:
                    if not item.future.done():
                        item.future.set_exception(failure)
                if not isinstance(error, Exception):
                    raise
                return
            break
        try:
            writer.tx._committed()
        except Exception as error:  # a callback's fault must not leave the callers waiting
            logger.error("after a commit: %s", type(error).__name__)
        for future, ok, value in outcomes:
            if future.done():
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

    async def _run_group(
        self, writer: _SQLiteWriter | _PostgresWriter, group: list[_Write], *, retry: bool
    ) -> list[tuple[asyncio.Future[Any], bool, Any]]:
        """One transaction of the group, committed; each unit's outcome. With `retry`, _RunAgain
        when the group must be run again from the start (see RETRYABLE_SQLSTATES)."""
        await writer.begin()
        outcomes = None if self._careful else await self._run_units(writer, group, savepoints=False, retry=retry)
        if outcomes is None:
            if not self._careful:  # a unit failed: none of the group stands; again, each in a savepoint
                writer.tx._undo_to((0, 0))
                await writer.rollback()
                await writer.begin()
            outcomes = await self._run_units(writer, group, savepoints=True, retry=retry)
        # After a failure the next group goes carefully too, so failing writes sent on
        # purpose cannot make every group run twice.
        self._careful = not all(ok for _, ok, _ in outcomes)
        try:
            await writer.commit()
        except Exception as error:
            sqlstate = _retryable_sqlstate(error) if retry else None
            if sqlstate is not None:
                raise _RunAgain(error, sqlstate) from error
            raise
        self.commits += 1
        return outcomes

    @staticmethod
    async def _run_units(
        writer: _SQLiteWriter | _PostgresWriter,
        group: list[_Write],
        *,
        savepoints: bool,
        retry: bool,
    ) -> list[tuple[asyncio.Future[Any], bool, Any]] | None:
        """Each unit's (future, succeeded, result or exception); None at the first failure without savepoints.

        With `retry`, a unit that failed for want of a lock raises _RunAgain, savepoint or not:
        the locks it waited on may be held by another process's group that waits on locks this
        group took in earlier units, so only undoing the whole group lets both go through.
        """
        outcomes: list[tuple[asyncio.Future[Any], bool, Any]] = []
        for unit, future, _ in group:
            if savepoints:
                await writer.savepoint()
            mark = writer.tx._mark()
            try:
                result = await unit(writer.tx)
            except Exception as error:
                sqlstate = _retryable_sqlstate(error) if retry else None
                if sqlstate is not None:
                    raise _RunAgain(error, sqlstate) from error
                if not savepoints:
                    return None
                writer.tx._undo_to(mark)
                await writer.rollback_to_savepoint()
                outcomes.append((future, False, error))
            else:
                if savepoints:
                    await writer.release_savepoint()
                outcomes.append((future, True, result))
        return outcomes

    async def _replace_postgres_writer(self) -> None:
        """After the server dropped the writer's connection, hold a fresh one."""
        assert isinstance(self._writer, _PostgresWriter) and self._pool is not None
        await self._writer.close()
        try:
            self._writer = await _PostgresWriter.open(self._pool)
        except Exception as error:  # still down: the next group tries again
            logger.error("cannot reconnect the writer: %s", _one_line(error))

    @asynccontextmanager
    async def exclusive(self):  # type: ignore[no-untyped-def]
        """One transaction outside group commit that no other process runs at the same time.

        For schema migrations: SQLite takes its write lock at BEGIN IMMEDIATE;
        PostgreSQL takes an advisory lock held until COMMIT.
        """
        if self._writer is None:
            raise DatabaseError("the database is not connected")
        async with self._write_lock:
            writer = self._writer
            await writer.begin()
            try:
                if self.dialect == "postgresql":
                    await writer.tx.execute("SELECT pg_advisory_xact_lock(:key)", {"key": POSTGRES_EXCLUSIVE_LOCK_KEY})
                yield writer.tx
            except BaseException:
                await writer.rollback_quietly()
                raise
            await writer.commit()


class _RunAgain(Exception):
    """The group's transaction failed for want of a lock (see RETRYABLE_SQLSTATES): run it all again."""

    def __init__(self, error: BaseException, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.error = error
        self.sqlstate = sqlstate


def _retryable_sqlstate(error: BaseException) -> str | None:
    """The SQLSTATE that makes a group worth running again, found in `error` or what it was raised from; or None.

    A unit may have turned the driver's error into one of its own (`raise ... from error`).
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        sqlstate = getattr(current, "sqlstate", None)
        if sqlstate in RETRYABLE_SQLSTATES:
            return str(sqlstate)
        # Another process changed a table this connection had prepared a statement on (a
        # migration while others serve): asyncpg has dropped its prepared statements, and
        # inside a transaction it cannot prepare again by itself. The next run prepares afresh.
        if isinstance(current, asyncpg.exceptions.InvalidCachedStatementError):
            return str(current.sqlstate)
        current = current.__cause__ or current.__context__
    return None


class _Write(NamedTuple):
    """One write waiting for its group commit."""

    unit: WriteUnit[Any]
    future: asyncio.Future[Any]
    lock_key: str | None


class _Reader(_FetchShortcuts):
    """A held `databases` connection that returns rows as dicts."""

    def __init__(self, conn: databases.core.Connection) -> None:
        self.conn = conn

    async def fetch_all(self, sql: str, values: dict[str, Any] | None = None) -> list[Row]:
        return [dict(record._mapping) for record in await self.conn.fetch_all(sql, values)]

    async def execute(self, sql: str, values: dict[str, Any] | None = None) -> None:
        await self.conn.execute(sql, values)

    async def execute_many(self, sql: str, values: Sequence[dict[str, Any]]) -> None:
        for item in values:
            await self.conn.execute(sql, item)


class _PostgresReads(_FetchShortcuts):
    """Reads on one borrowed asyncpg connection (inside `snapshot`'s transaction)."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def fetch_all(self, sql: str, values: dict[str, Any] | None = None) -> list[Row]:
        query, arguments = _positional(sql, values)
        return [dict(record) for record in await self.conn.fetch(query, *arguments)]


class _PostgresTransaction(_Hooks):
    """The writer's statements, straight on its held asyncpg connection.

    `:name` parameters become `$1..$n` once per SQL text (see `_numbered`), and asyncpg
    prepares each text once per connection and keeps it: a statement costs one round trip
    (Bind, Execute, Sync) and no SQLAlchemy compile. The values go to asyncpg as `databases`
    passed them (it converted none for a text query), so the same types are accepted.
    """

    def __init__(self, raw: asyncpg.Connection) -> None:
        _Hooks.__init__(self)
        self.raw = raw

    async def fetch_all(self, sql: str, values: dict[str, Any] | None = None) -> list[Row]:
        query, arguments = _positional(sql, values)
        return [dict(record) for record in await self.raw.fetch(query, *arguments)]

    async def fetch_one(self, sql: str, values: dict[str, Any] | None = None) -> Row | None:
        query, arguments = _positional(sql, values)
        # PostgreSQL runs an UPDATE ... RETURNING to its end even when only one row is read.
        record = await self.raw.fetchrow(query, *arguments)
        return None if record is None else dict(record)

    async def fetch_val(self, sql: str, values: dict[str, Any] | None = None) -> Any:
        query, arguments = _positional(sql, values)
        return await self.raw.fetchval(query, *arguments)

    async def execute(self, sql: str, values: dict[str, Any] | None = None) -> None:
        query, arguments = _positional(sql, values)
        await self.raw.execute(query, *arguments)

    async def execute_many(self, sql: str, values: Sequence[dict[str, Any]]) -> None:
        if not values:
            return
        query, names = _numbered(sql)
        # One round trip for them all: asyncpg sends every Bind and Execute, then one Sync.
        await self.raw.executemany(query, [_arguments(names, item) for item in values])


class _SQLiteTransaction(_FetchShortcuts, _Hooks):
    """Statements on the writer's own sqlite3 connection, run directly on the event loop.

    Inside BEGIN IMMEDIATE the writer already holds the write lock and WAL writes
    never wait on readers, so each statement takes microseconds.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        _Hooks.__init__(self)
        self.conn = conn

    async def fetch_all(self, sql: str, values: dict[str, Any] | None = None) -> list[Row]:
        cursor = self.conn.execute(sql, values or {})
        if cursor.description is None:
            return []
        columns = [column[0] for column in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]

    async def fetch_one(self, sql: str, values: dict[str, Any] | None = None) -> Row | None:
        cursor = self.conn.execute(sql, values or {})
        row = cursor.fetchone()
        if row is None:
            return None
        result = dict(zip([column[0] for column in cursor.description], row, strict=True))
        cursor.fetchall()  # run the statement to its end (an UPDATE ... RETURNING changes every row)
        return result

    async def execute(self, sql: str, values: dict[str, Any] | None = None) -> None:
        self.conn.execute(sql, values or {})

    async def execute_many(self, sql: str, values: Sequence[dict[str, Any]]) -> None:
        self.conn.executemany(sql, values)


class _SQLiteWriter:
    """The writer's sqlite3 connection; BEGIN and COMMIT run on a thread of their own."""

    def __init__(self, conn: sqlite3.Connection, thread: ThreadPoolExecutor) -> None:
        self.conn = conn
        self.tx = _SQLiteTransaction(conn)
        self._thread = thread

    @classmethod
    async def open(cls, path: str) -> _SQLiteWriter:
        thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")

        def connect() -> sqlite3.Connection:
            conn = sqlite3.connect(
                path, isolation_level=None, check_same_thread=False, timeout=SQLITE_BUSY_TIMEOUT_SECONDS
            )
            try:
                for pragma in SQLITE_WRITER_PRAGMAS:
                    conn.execute(pragma)
            except sqlite3.Error:
                conn.close()
                raise
            return conn

        try:
            conn = await asyncio.get_running_loop().run_in_executor(thread, connect)
        except BaseException:
            thread.shutdown(wait=False)
            raise
        return cls(conn, thread)

    async def _run(self, sql: str) -> None:
        await asyncio.get_running_loop().run_in_executor(self._thread, self.conn.execute, sql)

    async def begin(self) -> None:
        # IMMEDIATE: take the write lock now (waiting up to the busy timeout for
        # another process), not halfway through a unit.
        await self._run("BEGIN IMMEDIATE")

    async def commit(self) -> None:
        await self._run("COMMIT")

    async def checkpoint(self) -> bool:
        def run() -> bool:
            # A TRUNCATE checkpoint holds the write lock while it waits for readers on older
            # snapshots (a backup's VACUUM INTO reads for seconds): it waits only briefly, and the
            # batcher's next round tries again, so signing never stalls behind a reader.
            self.conn.execute(f"PRAGMA busy_timeout = {CHECKPOINT_BUSY_TIMEOUT_MS}")
            try:
                busy, _, _ = self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            finally:
                self.conn.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT_SECONDS * 1000)}")
            return not busy

        try:
            return await asyncio.get_running_loop().run_in_executor(self._thread, run)
        except sqlite3.Error as error:
            logger.error("checkpoint failed: %s", _one_line(error))
            return False

    async def savepoint(self) -> None:
        self.conn.execute("SAVEPOINT unit")

    async def release_savepoint(self) -> None:
        self.conn.execute("RELEASE SAVEPOINT unit")

    async def rollback_to_savepoint(self) -> None:
        self.conn.execute("ROLLBACK TO SAVEPOINT unit")
        self.conn.execute("RELEASE SAVEPOINT unit")

    async def rollback(self) -> None:
        self.conn.execute("ROLLBACK")  # nothing to sync: the WAL is left as it was

    async def rollback_quietly(self) -> None:
        if self.conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                await self._run("ROLLBACK")

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._thread, self.conn.close)
        self._thread.shutdown(wait=True)


class _PostgresWriter:
    """The writer's connection, held from the pool for the life of the process (or of the connection)."""

    def __init__(self, pool: asyncpg.Pool, conn: asyncpg.Connection) -> None:
        self._pool = pool
        # Transaction control goes to asyncpg as simple queries (one round trip, nothing to prepare).
        self.conn = conn
        self.tx = _PostgresTransaction(conn)
        self._in_transaction = False
        self._released = False

    @classmethod
    async def open(cls, pool: asyncpg.Pool) -> _PostgresWriter:
        return cls(pool, await pool.acquire(timeout=POSTGRES_CONNECT_TIMEOUT_SECONDS))

    async def begin(self) -> None:
        await self.conn.execute("BEGIN")
        self._in_transaction = True

    async def commit(self) -> None:
        await self.conn.execute("COMMIT")
        self._in_transaction = False

    async def savepoint(self) -> None:
        await self.conn.execute("SAVEPOINT unit")

    async def release_savepoint(self) -> None:
        await self.conn.execute("RELEASE SAVEPOINT unit")

    async def rollback_to_savepoint(self) -> None:
        await self.conn.execute("ROLLBACK TO SAVEPOINT unit; RELEASE SAVEPOINT unit")

    async def rollback(self) -> None:
        await self.conn.execute("ROLLBACK")
        self._in_transaction = False

    async def rollback_quietly(self) -> None:
        if self._in_transaction:
            self._in_transaction = False
            with contextlib.suppress(Exception):  # the connection may be gone: nothing to undo then
                await self.conn.execute("ROLLBACK")

    def is_closed(self) -> bool:
        return bool(self.conn.is_closed())

    async def close(self) -> None:
        """Give the connection back to the pool (which closes a broken one), once."""
        if not self._released:
            self._released = True
            with contextlib.suppress(Exception):  # broken: the pool has let it go already
                await self._pool.release(self.conn)


def sqlite_vacuum_into(url: str, target: str) -> None:
    """Write a consistent copy of the SQLite database at `url` into `target`, an empty file
    that exists (SQLite fills an empty file; it refuses one with anything in it).

    `VACUUM INTO` reads one snapshot (so the copy holds whole commits, whatever the service
    commits meanwhile) and writes each table in the order of its key, live rows only: no
    deleted row, free page or WAL frame of the original, and no trace of the order rows came
    in. The connection is read-only, so it can neither create nor change the database. Raises
    DatabaseError with a one-line reason.
    """
    path = _sqlite_path(url)
    if not os.path.isfile(path):
        raise DatabaseError(f"no SQLite database at {path!r}")
    try:
        # The path as a URI (mode=ro), so a name with ? or # in it is still the file's name.
        conn = sqlite3.connect(
            f"file:{quote(os.path.abspath(path))}?mode=ro",
            uri=True,
            isolation_level=None,
            timeout=SQLITE_BUSY_TIMEOUT_SECONDS,
        )
    except sqlite3.Error as error:
        raise DatabaseError(f"cannot open SQLite database {path!r}: {_one_line(error)}") from None
    try:
        # Sorting for the copy's indexes stays in memory, never in a temporary file.
        conn.execute("PRAGMA temp_store = MEMORY")
        conn.execute("VACUUM INTO ?", (target,))
    except sqlite3.Error as error:
        raise DatabaseError(f"cannot copy SQLite database {path!r}: {_one_line(error)}") from None
    finally:
        conn.close()


def _sqlite_path(url: str) -> str:
    """sqlite:///relative.db -> relative.db; sqlite:////abs/path.db -> /abs/path.db."""
    return urlsplit(url).path[1:]


def _postgres_options(url: str) -> tuple[str, dict[str, Any]]:
    """A PostgreSQL URL -> (the DSN for asyncpg, options for its pool).

    `?search_path=` becomes a server setting; `?ssl=` (true, false or a mode) is read as
    `databases` read it; `min_size` and `max_size` are ours to choose.
    """
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    options: dict[str, Any] = {}
    if "search_path" in query:
        options["server_settings"] = {"search_path": query.pop("search_path")}
    if "ssl" in query:
        ssl = query.pop("ssl").lower()
        options["ssl"] = {"true": True, "false": False}.get(ssl, ssl)
    query.pop("min_size", None)
    query.pop("max_size", None)
    return urlunsplit(parts._replace(scheme="postgresql", query=urlencode(query))), options


async def _keep_session(conn: asyncpg.Connection) -> None:
    """What a connection given back to the pool needs reset: nothing.

    Readers only read (no SET, LISTEN, cursor or session lock), and the writer's advisory
    lock ends with its transaction, so asyncpg's default (`RESET ALL` and the rest, one round
    trip more for every read) is left out. asyncpg still rolls back a transaction left open.
    """


# What may hold `:word` in SQL without its being a parameter: quoted strings and names,
# comments, dollar-quoted bodies, `::` casts. The last group is a parameter, read as
# SQLAlchemy's text() reads one (not after a colon, a word character or a backslash; not
# before a colon), but never inside quotes or comments.
_SQL_PARTS = re.compile(
    r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|/\*.*?\*/|\$(\w*)\$.*?\$\1\$|::|(?<![:\w\\]):(\w+)(?!:)""",
    re.DOTALL,
)


@functools.lru_cache(maxsize=1024)
def _numbered(sql: str) -> tuple[str, tuple[str, ...]]:
    """SQL with `:name` parameters -> (the same SQL with `$1..$n`, the names in number order).

    A name used twice keeps one number. Cached: the service's SQL texts are constants, and
    code batches add a few more of different lengths.
    """
    numbers: dict[str, int] = {}

    def number(match: re.Match[str]) -> str:
        name = match.group(2)
        if name is None:
            return match.group(0)
        return f"${numbers.setdefault(name, len(numbers) + 1)}"

    return _SQL_PARTS.sub(number, sql), tuple(numbers)


def _arguments(names: tuple[str, ...], values: dict[str, Any] | None) -> list[Any]:
    """The values of `names`, in order; KeyError names a parameter the SQL needs and `values` lacks."""
    if not names:
        return []
    if values is None:
        raise KeyError(names[0])
    return [values[name] for name in names]


def _positional(sql: str, values: dict[str, Any] | None) -> tuple[str, list[Any]]:
    """SQL with `:name` parameters and their values -> SQL with `$1..$n` and the values in order."""
    query, names = _numbered(sql)
    return query, _arguments(names, values)


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text


def is_unique_violation(error: BaseException) -> bool:
    """Whether a write failed on a UNIQUE constraint or index (SQLite or PostgreSQL).

    For the rare check that cannot be an `ON CONFLICT` clause: an UPDATE racing another
    process's UPDATE on PostgreSQL, where the index, not our own check, sees the second.
    """
    if isinstance(error, sqlite3.IntegrityError):
        return "UNIQUE" in str(error)
    return getattr(error, "sqlstate", None) == UNIQUE_VIOLATION


def now() -> int:
    """The current time in whole seconds since the epoch: how every time is stored."""
    return int(time.time())

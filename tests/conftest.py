"""Shared fixtures: every database test runs on SQLite, and on PostgreSQL when TEST_DATABASE_URL is set."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope
from argon2 import PasswordHasher
from starlette.applications import Starlette

from petition import accounts, passwords
from petition.app import create_app
from petition.database import Database, _sqlite_path, dialect_of
from petition.mailer import Mail, OneByOne
from petition.migrations import migrate
from petition.settings import Settings

from .migrated import copy_migrated_sqlite, drop_postgres_pool, postgres_pool, with_search_path
from .system_services import POSTGRESQL, need
from .system_services import pytest_runtest_makereport as pytest_runtest_makereport

pytest_plugins = ["pytester"]

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")
# Every database test runs on both; without TEST_DATABASE_URL the PostgreSQL half skips (fails in CI).
DIALECTS = ["sqlite", "postgresql"]
BASE_URL = "http://127.0.0.1:8000"


def pytest_configure(config: pytest.Config) -> None:
    if TEST_DATABASE_URL and urlsplit(TEST_DATABASE_URL).scheme not in ("postgresql", "postgres"):
        raise pytest.UsageError("TEST_DATABASE_URL must be a postgresql:// URL")


# The suite runs on WORKERS processes (pytest-xdist), unless the command line says how many (`-n 0`, `-n 4`),
# turns them off (`-p no:xdist`, or `-s`, whose output only shows without workers), or names only files or
# tests (a worker's start costs more than it saves on a few files). A third less time on two cores:
# much of a test's time is a server process starting or a browser waiting. Everything a worker keeps (the
# migrated SQLite template, the pool of PostgreSQL schemas, servers' ports) is its own: see migrated.py.
WORKERS = 2


def names_only_files(config: pytest.Config) -> bool:
    """Whether the command line named test files or tests only (no folder, not the whole suite)."""
    if config.args_source != pytest.Config.ArgsSource.ARGS:
        return False
    return all((config.invocation_params.dir / arg.split("::")[0]).is_file() for arg in config.args)


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """Turn on the workers when the command line did not say how many (never inside a worker)."""
    if not config.pluginmanager.hasplugin("xdist") or hasattr(config, "workerinput"):
        return
    if config.option.numprocesses is not None or config.option.capture == "no" or names_only_files(config):
        return
    config.option.numprocesses = "auto"  # how many: pytest_xdist_auto_num_workers below
    if config.option.dist == "no":
        # One test at a time to whichever worker is free, the slow ones first (see
        # pytest_collection_modifyitems): the run never ends with one worker on a long test alone.
        config.option.dist = "load"
        if config.option.maxschedchunk is None:
            config.option.maxschedchunk = 1


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """`-n auto`: WORKERS, or fewer on a machine with fewer processors; PYTEST_XDIST_AUTO_NUM_WORKERS wins."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None  # pytest-xdist's own hook reads it
    processors = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(WORKERS, processors))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In a worker, the tests marked slow (a server process, a browser, a crash loop) come first, in their
    usual order: the workers take them on while there is plenty else to do, not at the end."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        items.sort(key=lambda item: item.get_closest_marker("slow") is None)


# argon2id at OWASP's cost takes about 50 ms of CPU, and every app start, organizer and login here
# makes one: in-process tests hash with the same algorithm at its lowest cost (servers started as
# processes keep the real one; test_login checks that the service's own is OWASP's).
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passwords, "HASHER", CHEAP_HASHER)
    monkeypatch.setattr(accounts, "HASHER", CHEAP_HASHER)


@pytest.fixture(params=DIALECTS)
def dialect(request: pytest.FixtureRequest) -> str:
    if request.param == "postgresql":
        need(POSTGRESQL, there=bool(TEST_DATABASE_URL))
    return str(request.param)


@pytest.fixture
async def empty_db_url(dialect: str, tmp_path: Path) -> AsyncIterator[str]:
    """A URL to an empty database of the dialect: a SQLite file, or a fresh PostgreSQL schema."""
    if dialect == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    schema = f"test_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(TEST_DATABASE_URL)
    try:
        await admin.execute(f"CREATE SCHEMA {schema}")
        yield with_search_path(TEST_DATABASE_URL, schema)
    finally:
        await admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await admin.close()


@pytest.fixture
async def db_url(dialect: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """A URL to a migrated database of the dialect, this test's own: a SQLite file, or a PostgreSQL
    schema no other test is using, with only what the migrations wrote in it (see migrated.py)."""
    if dialect == "sqlite":
        path = tmp_path / "test.db"
        await copy_migrated_sqlite(path, tmp_path_factory.getbasetemp())
        yield f"sqlite:///{path}"
        return
    admin = await asyncpg.connect(TEST_DATABASE_URL)
    try:
        pool = await postgres_pool(admin, TEST_DATABASE_URL)
        schema = await pool.take(admin)
        try:
            yield with_search_path(TEST_DATABASE_URL, schema)
        finally:
            await pool.give_back(admin, schema)
    finally:
        await admin.close()


def pytest_sessionfinish(session: pytest.Session) -> None:
    if TEST_DATABASE_URL:
        asyncio.run(drop_postgres_pool(TEST_DATABASE_URL))


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    """A connected, migrated database."""
    database = Database(db_url)
    await database.connect()
    try:
        yield database
    finally:
        await database.disconnect()


def make_settings(tmp_path: Path, **changes: object) -> Settings:
    """Settings for tests: fixed secrets, a temporary DATA_DIR, no file written."""
    base = Settings(
        data_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'test.db'}",
        base_url=BASE_URL,
        secret_key=b"s" * 32,
        pepper=b"p" * 32,
        encryption_key=b"e" * 32,
        signing_key=b"k" * 32,
        # On in tests (off by default), so every test also checks what the access log would hold.
        access_log=True,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return make_settings(tmp_path, database_url=db_url)


async def start_app(settings: Settings) -> tuple[Starlette, object]:
    """A running app (its lifespan entered) on a migrated database; returns (app, lifespan).

    db_url's database is migrated already; a SQLite file not there yet (in a data folder a test
    made of its own) is migrated first, as `python main.py` would."""
    if dialect_of(settings.database_url) == "sqlite" and not Path(_sqlite_path(settings.database_url)).exists():
        database = Database(settings.database_url)
        await database.connect()
        try:
            await migrate(database)
        finally:
            await database.disconnect()
    app = create_app(settings)
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    return app, lifespan


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Starlette]:
    """The app, started on a migrated database."""
    application, lifespan = await start_app(settings)
    try:
        yield application
    finally:
        await lifespan.__aexit__(None, None, None)  # type: ignore[attr-defined]


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to the app in process."""
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 51000))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        yield http


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Everything the service logs during a test, at every level."""
    caplog.set_level(logging.DEBUG)
    yield caplog


ORGANIZER_PASSWORD = "correct horse battery staple"


@pytest.fixture
async def organizer(app: Starlette) -> str:
    """An admin organizer, alice@example.org, with ORGANIZER_PASSWORD."""
    from petition import accounts

    assert await accounts.create_organizer(
        app.state.db, email="alice@example.org", password=ORGANIZER_PASSWORD, admin=True
    )
    return "alice@example.org"


@pytest.fixture
async def token(app: Starlette, organizer: str) -> str:
    """An API token of the organizer fixture's account."""
    from petition import accounts

    value = await accounts.create_token_for(app.state.db, email=organizer, name="tests")
    assert value
    return value


class Mailbox(OneByOne):
    """Stands in for SMTP behind the outbox: keeps every message it is given."""

    def __init__(self) -> None:
        self.messages: list[dict[str, str]] = []
        self.mails: list[Mail] = []  # the same messages whole, with their HTML part and headers

    async def send(self, mail: Mail) -> None:
        self.messages.append({"to": mail.to, "subject": mail.subject, "body": mail.body})
        self.mails.append(mail)


@pytest.fixture
def mailbox(app: Starlette) -> Mailbox:
    box = Mailbox()
    app.state.sender.transport = box
    return box


async def delivered(app: Starlette, mailbox: Mailbox) -> list[dict[str, str]]:
    """Every message sent so far, once the outbox has sent what is due."""
    await app.state.sender.drain()
    return mailbox.messages


class SmtpSink:
    """A real SMTP server on 127.0.0.1 (aiosmtpd, in its own thread) that keeps what it receives."""

    def __init__(self) -> None:
        self.port = free_port()
        self.messages: list[dict[str, Any]] = []  # "message": the whole parsed message, headers and parts
        self.envelopes: list[list[str]] = []  # each message's envelope recipients, as the server got them
        self.refuse: set[str] = set()  # recipients answered with 550
        self.controller: Controller | None = None

    async def handle_RCPT(
        self, server: object, session: object, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return "550 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: object, session: object, envelope: Envelope) -> str:
        parsed = message_from_bytes(envelope.original_content or b"", policy=policy.default)
        body = parsed.get_body(preferencelist=("plain",))
        self.envelopes.append(list(envelope.rcpt_tos))
        self.messages.extend(
            {
                "to": to,
                "to_header": str(parsed["To"]),
                "subject": str(parsed["Subject"]),
                "body": body.get_content() if body else "",
                "message": parsed,
            }
            for to in envelope.rcpt_tos
        )
        return "250 OK"

    def start(self) -> None:
        # SMTPUTF8, as mail servers have it today: internationalized addresses go through.
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port, enable_SMTPUTF8=True)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def to(self, address: str) -> list[dict[str, Any]]:
        return [message for message in self.messages if message["to"] == address]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    sink.start()
    try:
        yield sink
    finally:
        sink.stop()


def smtp_settings(sink: SmtpSink) -> dict[str, object]:
    """Settings that send through the sink."""
    return {"smtp_host": "127.0.0.1", "smtp_port": sink.port, "smtp_tls": "none", "smtp_from": "codes@example.net"}

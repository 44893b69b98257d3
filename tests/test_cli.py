"""The command line, run as an operator would: `python main.py ...` in a fresh folder."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from petition import pending
from petition.encryption import encrypt

from .conftest import TEST_DATABASE_URL
from .system_services import POSTGRESQL, need

MAIN = Path(__file__).resolve().parent.parent / "main.py"


def run(tmp_path: Path, *args: str, timeout: float = 60, **environ: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(MAIN), *args],
        cwd=tmp_path,
        env=clean_environ(tmp_path, environ),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def clean_environ(tmp_path: Path, environ: dict[str, str]) -> dict[str, str]:
    """The test's environment without any of the service's settings, plus `environ`."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "SYSTEMROOT")}
    return {**keep, "DATA_DIR": str(tmp_path / "data"), **environ}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line, got: {result.stderr!r}"
    assert "Traceback" not in result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_help_lists_the_commands(tmp_path: Path) -> None:
    result = run(tmp_path, "--help")
    assert result.returncode == 0
    for command in ("serve", "migrate", "generate-secrets"):
        assert command in result.stdout
    serve_help = run(tmp_path, "serve", "--help").stdout
    for option in ("--host", "--port", "--workers"):
        assert option in serve_help


def test_serve_on_sqlite_refuses_several_workers(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(MAIN), "--port", str(free_port()), "--workers", "2"],
        cwd=tmp_path,
        env=clean_environ(tmp_path, {}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0 and "SQLite serves one process" in done.stderr
    assert "Traceback" not in done.stderr


def test_serve_refuses_in_one_line_when_encryption_key_does_not_open_the_waiting_signatures(tmp_path: Path) -> None:
    """A database restored beside the wrong secrets: its waiting signatures could never be counted."""
    assert run(tmp_path, "migrate").returncode == 0
    other_key = b"o" * 32
    sealed = encrypt(other_key, "{}", pending._bound(pending.SIGNATURE, "k" * 64, "p" * 24))
    with contextlib.closing(sqlite3.connect(tmp_path / "data" / "petition.db")) as conn:
        conn.execute(
            "INSERT INTO pending_signatures (pending_key, petition_id, kind, sealed) VALUES (?, ?, 0, ?)",
            ("k" * 64, "p" * 24, sealed),
        )
        conn.commit()
    result = run(tmp_path, "--port", str(free_port()))
    assert result.returncode == 2
    assert "ENCRYPTION_KEY does not open the signatures waiting" in one_error_line(result)


def test_serve_starts_on_a_fresh_folder_with_private_secrets_and_database(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(MAIN), "--port", str(port)],
        cwd=tmp_path,
        env=clean_environ(tmp_path, {}),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        status = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and status is None:
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/api/v1/status", timeout=1).json()
            except httpx.HTTPError:
                time.sleep(0.1)
        assert status is not None, "the service did not answer within 30 seconds"
        assert status["schema_version"] >= 1
        data = tmp_path / "data"
        assert stat.S_IMODE((data / "secrets.env").stat().st_mode) == 0o600
        assert stat.S_IMODE((data / "petition.db").stat().st_mode) == 0o600
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=20)
    assert "applied migration 0001_initial.sql" in stderr
    assert f"Serving Petitions on http://127.0.0.1:{port}" in stderr
    assert re.search(rf"^Setup link: http://127\.0\.0\.1:{port}/setup/[A-Za-z0-9_-]{{43}}$", stderr, re.M)
    assert "Traceback" not in stderr


def test_migrate_applies_then_reports_up_to_date(tmp_path: Path) -> None:
    first = run(tmp_path, "migrate")
    assert first.returncode == 0, first.stderr
    assert "applied migration 0001_initial.sql" in first.stdout
    second = run(tmp_path, "migrate")
    assert second.returncode == 0
    assert "up to date" in second.stdout


def test_generated_secrets_satisfy_production(tmp_path: Path) -> None:
    result = run(tmp_path, "generate-secrets")
    assert result.returncode == 0
    secrets = dict(line.split("=", 1) for line in result.stdout.splitlines() if not line.startswith("#"))
    assert set(secrets) == {"SECRET_KEY", "PEPPER", "ENCRYPTION_KEY", "SIGNING_KEY"}
    production = {"ENV": "production", "BASE_URL": "https://petitions.example.org", "SMTP_HOST": "mail.example.org"}
    migrated = run(tmp_path, "migrate", SMTP_FROM="petitions@example.org", **production, **secrets)
    assert migrated.returncode == 0, migrated.stderr
    assert not (tmp_path / "data" / "secrets.env").exists(), "production never generates secrets"


def test_production_without_secrets_exits_naming_what_is_missing(tmp_path: Path) -> None:
    result = run(tmp_path, "migrate", ENV="production", BASE_URL="http://petitions.example.org")
    assert result.returncode == 2
    line = one_error_line(result)
    assert "BASE_URL must start with https://" in line
    assert "SECRET_KEY (or SECRET_KEY_FILE)" in line and "SIGNING_KEY (or SIGNING_KEY_FILE)" in line
    assert "SMTP_HOST (and SMTP_FROM) are needed in production" in line


@pytest.mark.parametrize(
    ("environ", "status", "message"),
    [
        ({"DATABASE_URL": "mysql://localhost/petition"}, 2, "DATABASE_URL must start with sqlite:/// or postgresql://"),
        ({"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/petition"}, 1, "cannot open PostgreSQL at 127.0.0.1:1"),
        ({"MIN_CELL_SIZE": "lots"}, 2, "MIN_CELL_SIZE must be a whole number"),
        ({"DATA_DIR": "/proc/version/data"}, 2, "DATA_DIR '/proc/version/data' is not writable"),
    ],
    ids=["bad-database-url", "unreachable-postgresql", "malformed-setting", "unwritable-data-dir"],
)
def test_bad_configuration_exits_with_one_clear_line(
    tmp_path: Path, environ: dict[str, str], status: int, message: str
) -> None:
    for command in ("migrate", "serve"):
        result = run(tmp_path, command, **environ)
        assert result.returncode == status
        assert message in one_error_line(result)


def test_an_unwritable_sqlite_folder_exits_with_one_clear_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = run(tmp_path, "migrate", DATABASE_URL=f"sqlite:///{blocker}/petition.db")
    assert result.returncode == 1
    assert "the database folder" in one_error_line(result)


def test_migrate_runs_against_postgresql(tmp_path: Path) -> None:
    need(POSTGRESQL, there=bool(TEST_DATABASE_URL))
    import asyncio

    import asyncpg

    async def schema(sql: str) -> None:
        conn = await asyncpg.connect(TEST_DATABASE_URL)
        await conn.execute(sql)
        await conn.close()

    asyncio.run(schema("DROP SCHEMA IF EXISTS cli_test CASCADE; CREATE SCHEMA cli_test"))
    try:
        separator = "&" if "?" in TEST_DATABASE_URL else "?"
        url = f"{TEST_DATABASE_URL}{separator}search_path=cli_test"
        result = run(tmp_path, "migrate", DATABASE_URL=url)
        assert result.returncode == 0, result.stderr
        assert "applied migration 0001_initial.sql" in result.stdout
    finally:
        asyncio.run(schema("DROP SCHEMA IF EXISTS cli_test CASCADE"))

"""`python main.py backup PATH`: a consistent, private copy of a live SQLite database, and every refusal.

Backups are of SQLite files, so these tests run on SQLite whatever TEST_DATABASE_URL says; on
PostgreSQL the command only says how to run pg_dump, which the last test checks there.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import httpx
import pytest

from petition.tlog import commitment
from petition.tokens import receipt_key

from .conftest import TEST_DATABASE_URL
from .migrated import with_search_path
from .system_services import POSTGRESQL, need
from .test_cli import MAIN, clean_environ, one_error_line, run
from .test_crash import Server, open_petition_with_codes
from .test_verify_live import wait_for_count

SIGNERS = 4
BACKUPS_WHILE_SIGNING = 4
SIGNATURE_ENTRY = 0x01  # the log entry kind of a signature (petition/verify.py)


def listing(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` with its bytes, to prove a refusal changed nothing."""
    return {str(path.relative_to(folder)): path.read_bytes() for path in folder.rglob("*") if path.is_file()}


def migrated_folder(tmp_path: Path) -> Path:
    """A working folder whose DATA_DIR (./data) holds a migrated SQLite database."""
    done = run(tmp_path, "migrate")
    assert done.returncode == 0, done.stderr
    return tmp_path / "data" / "petition.db"


def read_only(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


async def sign_until_told(
    url: str, slug: str, codes: list[str], acknowledged: list[str], stop: asyncio.Event, slowest: list[float]
) -> None:
    """Sign with the next code until `stop`; keep every receipt the service acknowledged (201)."""
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        while codes and not stop.is_set():
            started = time.monotonic()
            answer = await client.post(f"/api/v1/petitions/{slug}/signatures", json={"code": codes.pop()})
            slowest.append(time.monotonic() - started)
            assert answer.status_code == 201, answer.text
            acknowledged.append(answer.json()["receipt"])


async def backup_of(url: str, target: Path, data_dir: Path) -> subprocess.CompletedProcess[str]:
    """`python main.py backup target` against the running server's database, without blocking the loop."""
    environ = {**clean_environ(data_dir.parent, {}), "DATABASE_URL": url, "DATA_DIR": str(data_dir)}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(MAIN),
        "backup",
        str(target),
        cwd=data_dir.parent,
        env=environ,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return subprocess.CompletedProcess([], process.returncode, out.decode(), err.decode())


def check_backup_holds_an_acknowledged_state(path: Path, slug: str, acknowledged: list[str]) -> int:
    """Open a backup and check it is whole and holds only what the service acknowledged; its count."""
    assert stat.S_IMODE(path.stat().st_mode) == 0o600, "only the owner may read a backup"
    signed = {receipt_key("sig/v1", receipt) for receipt in acknowledged}
    waiting = {receipt_key("pending/v1", receipt) for receipt in acknowledged}
    committed = {commitment(receipt) for receipt in acknowledged}
    with read_only(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",), "one file, no WAL to carry along"
        assert conn.execute("PRAGMA freelist_count").fetchone() == (0,), "no free page, so no deleted row"
        petition_id, count, by_code = conn.execute(
            "SELECT id, signature_count, count_code FROM petitions WHERE slug = ?", (slug,)
        ).fetchone()
        mine = (petition_id,)
        stored = {key for (key,) in conn.execute("SELECT receipt_hash FROM signatures WHERE petition_id = ?", mine)}
        pending = {
            key
            for (key,) in conn.execute(
                "SELECT pending_key FROM pending_signatures WHERE petition_id = ? AND kind = 0", mine
            )
        }
        entries = [
            bytes(data)
            for (data,) in conn.execute("SELECT data FROM log_entries WHERE petition_id = ?", mine)
            if bytes(data)[0] == SIGNATURE_ENTRY
        ]
        by_hour = conn.execute("SELECT COALESCE(SUM(signed), 0) FROM hourly_counts WHERE petition_id = ?", mine)
        used_by_batch = conn.execute("SELECT COALESCE(SUM(used), 0) FROM code_batches WHERE petition_id = ?", mine)
        spent = conn.execute("SELECT COUNT(*) FROM signing_codes WHERE state = 1").fetchone()[0]
        assert stored <= signed, "every counted signature in the backup was acknowledged to its signer"
        assert pending <= waiting, "every waiting signature in the backup was acknowledged to its signer"
        assert {entry[2:] for entry in entries} <= committed, "every log entry is an acknowledged receipt's"
        assert count == by_code == len(stored) == len(entries), "the count is the backup's own rows"
        assert by_hour.fetchone()[0] == used_by_batch.fetchone()[0] == count, "its counters agree with its rows"
        assert spent == len(stored) + len(pending), "every spent code made one signature, counted or waiting"
    return int(count)


@pytest.mark.slow  # a server process
async def test_a_backup_taken_while_signing_is_whole_private_and_holds_only_acknowledged_signatures(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    url = f"sqlite:///{data_dir / 'petition.db'}"
    server = Server(url, data_dir.parent)
    server.environ["DATA_DIR"] = str(data_dir)
    server.log = tmp_path / "server.log"
    server.run("migrate")
    server.run("create-organizer", "backup@example.org", stdin="a passphrase for the backup test\n")
    token = server.run("create-token", "backup@example.org").strip().splitlines()[-1]
    server.start()
    backups = tmp_path / "backups"
    backups.mkdir()
    try:
        slug, codes = await open_petition_with_codes(server.url, {"authorization": f"Bearer {token}"})
        acknowledged: list[str] = []
        slowest: list[float] = []
        stop = asyncio.Event()
        signers = [
            asyncio.create_task(sign_until_told(server.url, slug, codes, acknowledged, stop, slowest))
            for _ in range(SIGNERS)
        ]
        taken: list[Path] = []
        try:
            for number in range(BACKUPS_WHILE_SIGNING):
                # Batches close every second (LOG_BATCH_SECONDS=1): backups fall before, during and
                # after them, with signatures waiting and counted.
                await asyncio.sleep(0.5)
                before = len(acknowledged)
                target = backups / f"backup-{number}.db"
                done = await backup_of(url, target, data_dir)
                assert done.returncode == 0, done.stderr
                assert len(acknowledged) > before, "the service kept signing while the backup was taken"
                assert f"to {str(target)!r}" in done.stdout and "RETENTION_DAYS" in done.stdout
                taken.append(target)
        finally:
            stop.set()
            await asyncio.gather(*signers)
        counts = [check_backup_holds_an_acknowledged_state(path, slug, acknowledged) for path in taken]
        assert counts[-1] > 0, "a backup holds counted signatures"
        assert max(slowest) < 5, f"no signature waited on a backup for long ({max(slowest):.2f} s)"
        await wait_for_count(server.url, slug, len(acknowledged))
    finally:
        server.kill()
    assert "Traceback" not in server.log.read_text()
    await restore_and_serve(taken[-1], data_dir / "secrets.env", tmp_path / "restored", slug, counts[-1])


async def restore_and_serve(backup: Path, secrets: Path, data_dir: Path, slug: str, count: int) -> None:
    """Restore as the README says (the file copied in place as petition.db, no -wal or -shm beside
    it, the same secrets), start the service on it, and find the count the backup held."""
    data_dir.mkdir(mode=0o700)
    shutil.copyfile(backup, data_dir / "petition.db")
    # Development keeps its secrets in DATA_DIR; a backup is useless without them, and kept apart.
    shutil.copy(secrets, data_dir / "secrets.env")
    server = Server(f"sqlite:///{data_dir / 'petition.db'}", data_dir.parent)
    server.environ["DATA_DIR"] = str(data_dir)
    server.log = data_dir.parent / "restored.log"
    server.start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            assert (await client.get(f"/api/v1/petitions/{slug}")).json()["signature_count"] == count
    finally:
        server.kill()
    assert stat.S_IMODE((data_dir / "petition.db").stat().st_mode) == 0o600


def test_a_backup_holds_no_deleted_row(tmp_path: Path) -> None:
    database = migrated_folder(tmp_path)
    sentinel = "a reason deleted before the backup, 7f3a9c"
    with sqlite3.connect(database) as conn:
        # Without secure_delete the deleted cell stays in the database file: VACUUM INTO must not copy it.
        conn.execute("PRAGMA secure_delete = OFF")
        conn.execute("CREATE TABLE scratch (k TEXT PRIMARY KEY, v TEXT) WITHOUT ROWID")
        conn.execute("INSERT INTO scratch VALUES ('a', ?), ('b', 'kept')", (sentinel,))
        conn.commit()
        conn.execute("DELETE FROM scratch WHERE k = 'a'")
        conn.commit()
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert sentinel.encode() in database.read_bytes(), "the deleted row is still in the live file"
    done = run(tmp_path, "backup", "copy.db")
    assert done.returncode == 0, done.stderr
    copy = tmp_path / "copy.db"
    assert sentinel.encode() not in copy.read_bytes()
    with read_only(copy) as conn:
        assert conn.execute("SELECT v FROM scratch").fetchall() == [("kept",)]


def test_a_backup_is_mode_0600_whatever_the_umask(tmp_path: Path) -> None:
    migrated_folder(tmp_path)
    for number, umask in enumerate((0o000, 0o022, 0o277)):
        done = subprocess.run(
            [sys.executable, str(MAIN), "backup", f"copy-{number}.db"],
            cwd=tmp_path,
            env=clean_environ(tmp_path, {}),
            capture_output=True,
            text=True,
            timeout=60,
            umask=umask,
        )
        assert done.returncode == 0, done.stderr
        assert stat.S_IMODE((tmp_path / f"copy-{number}.db").stat().st_mode) == 0o600, oct(umask)
        assert not (tmp_path / f"copy-{number}.db-journal").exists()


def test_backup_says_where_it_wrote_the_size_and_how_long_to_keep_it(tmp_path: Path) -> None:
    migrated_folder(tmp_path)
    done = run(tmp_path, "backup", "copy.db")
    assert done.returncode == 0 and done.stderr == ""
    size = (tmp_path / "copy.db").stat().st_size
    where, reminder = done.stdout.strip().splitlines()
    assert str(tmp_path / "data" / "petition.db") in where and f"to {str(tmp_path / 'copy.db')!r}" in where
    assert f"{size:,} bytes" in where and "mode 0600" in where
    assert "retention" in reminder and "RETENTION_DAYS" in reminder and "purge" in reminder
    assert "apart from the secrets" in reminder and "PEPPER" in reminder and "ENCRYPTION_KEY" in reminder


def test_a_backup_written_beside_the_development_secrets_is_told_to_move(tmp_path: Path) -> None:
    migrated_folder(tmp_path)
    done = run(tmp_path, "backup", "data/inside.db")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1].startswith("Note: ") and "secrets.env" in done.stdout
    assert "Note:" not in run(tmp_path, "backup", "outside.db").stdout


@pytest.mark.slow  # the command line, run many times
def test_backup_refuses_a_path_that_exists_is_a_folder_or_is_no_name_and_changes_nothing(tmp_path: Path) -> None:
    migrated_folder(tmp_path)
    (tmp_path / "earlier.db").write_bytes(b"an earlier backup")
    (tmp_path / "folder").mkdir()
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere.db")
    before = listing(tmp_path)
    for path, says in (
        ("earlier.db", "exists"),
        ("folder", "names a folder"),
        ("dangling", "exists"),
        ("data/petition.db", "exists"),
        ("", "no PATH given"),
        ("  ", "no PATH given"),
        ("copy\n.db", "control character"),
        ("new-folder/", "names a folder"),
    ):
        done = run(tmp_path, "backup", path)
        assert done.returncode == 2, (path, done.stderr)
        assert says in one_error_line(done) and done.stdout == ""
        assert listing(tmp_path) == before, f"backup {path} changed nothing"
    assert not (tmp_path / "nowhere.db").exists(), "a link is never followed"


def test_backup_refuses_a_path_it_cannot_write_and_creates_nothing(tmp_path: Path) -> None:
    migrated_folder(tmp_path)
    (tmp_path / "a-file").write_text("not a folder")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    cases = [("missing/copy.db", "does not exist"), ("a-file/copy.db", "is not a folder")]
    if os.geteuid() != 0:  # root writes in a read-only folder anyway
        cases.append(("locked/copy.db", "Permission denied"))
    before = listing(tmp_path)
    for path, says in cases:
        done = run(tmp_path, "backup", path)
        assert done.returncode == 2, (path, done.stderr)
        assert says in one_error_line(done)
        assert listing(tmp_path) == before and not (tmp_path / "missing").exists()


def test_a_copy_that_fails_leaves_no_file(tmp_path: Path) -> None:
    (tmp_path / "broken.db").write_bytes(b"this is not a SQLite database" * 200)
    before = listing(tmp_path)
    done = run(tmp_path, "backup", "copy.db", DATABASE_URL=f"sqlite:///{tmp_path / 'broken.db'}")
    assert done.returncode == 1
    assert "cannot copy" in one_error_line(done)
    assert not (tmp_path / "copy.db").exists() and not (tmp_path / "copy.db-journal").exists()
    assert {name: data for name, data in listing(tmp_path).items() if not name.startswith("data")} == before


def test_backup_of_a_missing_database_creates_nothing(tmp_path: Path) -> None:
    done = run(tmp_path, "backup", "copy.db", DATABASE_URL=f"sqlite:///{tmp_path / 'none.db'}")
    assert done.returncode == 1 and "no SQLite database" in one_error_line(done)
    assert not (tmp_path / "copy.db").exists() and not (tmp_path / "none.db").exists()


def test_backup_on_postgresql_says_to_use_pg_dump_and_writes_nothing(tmp_path: Path) -> None:
    # The command never connects, so it is checked with a made-up server (whose password must not
    # be printed) and, where there is one, with the real one.
    made_up = "postgresql://petition:a-password-never-shown@db.internal:5433/petitions?search_path=campaigns"
    advice = {made_up: "--host=db.internal --port=5433 --username=petition --dbname=petitions --schema=campaigns"}
    if TEST_DATABASE_URL:
        advice[TEST_DATABASE_URL] = "--host=127.0.0.1"
    for url, flags in advice.items():
        before = listing(tmp_path)
        done = run(tmp_path, "backup", "copy.dump", DATABASE_URL=url)
        assert done.returncode == 2 and done.stdout == ""
        first, how = done.stderr.strip().splitlines()
        assert first.startswith("error: ") and "pg_dump" in first
        assert how.strip().startswith(f"(umask 077 && pg_dump --format=custom --file={tmp_path / 'copy.dump'}")
        assert flags in how
        assert "a-password-never-shown" not in done.stderr and "Traceback" not in done.stderr
        # (DATA_DIR gets its development secrets, as with any command: that is settings' doing.)
        assert listing(tmp_path).keys() - before.keys() <= {"data/secrets.env"}, "nothing written"
    # pg_dump would overwrite: a PATH that exists, names a folder or is empty is refused first.
    (tmp_path / "earlier.dump").write_bytes(b"an earlier dump")
    for path, says in (("earlier.dump", "exists"), ("data", "names a folder"), ("", "no PATH given")):
        done = run(tmp_path, "backup", path, DATABASE_URL=made_up)
        assert done.returncode == 2 and says in one_error_line(done) and "pg_dump" not in done.stderr
    assert (tmp_path / "earlier.dump").read_bytes() == b"an earlier dump"


async def test_the_pg_dump_command_it_gives_backs_up_the_service_schema_privately(tmp_path: Path) -> None:
    # pg_dump and pg_restore come with PostgreSQL (Debian's postgresql package brings its client).
    need(POSTGRESQL, there=bool(TEST_DATABASE_URL))
    schema = f"test_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(TEST_DATABASE_URL)
    try:
        await admin.execute(f"CREATE SCHEMA {schema}")
        url = with_search_path(TEST_DATABASE_URL, schema)
        assert run(tmp_path, "migrate", DATABASE_URL=url).returncode == 0
        done = run(tmp_path, "backup", "petition.dump", DATABASE_URL=url)
        assert done.returncode == 2
        command = done.stderr.strip().splitlines()[-1].strip()
        dumped = subprocess.run(["bash", "-c", command], cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert dumped.returncode == 0, dumped.stderr
    finally:
        await admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await admin.close()
    dump = tmp_path / "petition.dump"
    assert stat.S_IMODE(dump.stat().st_mode) == 0o600, "only the owner may read a dump"
    listed = subprocess.run(["pg_restore", "--list", str(dump)], capture_output=True, text=True, timeout=60).stdout
    assert f"TABLE DATA {schema} signatures" in listed and f"TABLE DATA {schema} log_entries" in listed


def test_help_lists_backup(tmp_path: Path) -> None:
    assert "backup" in run(tmp_path, "--help").stdout
    assert "PATH" in run(tmp_path, "backup", "--help").stdout

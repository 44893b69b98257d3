"""Backups of the database, for `python main.py backup PATH`.

On SQLite, a consistent copy of the live database, taken while the service serves and signs,
into a new file only its owner can read. On PostgreSQL, backups are `pg_dump`'s job: this
module only says how to run it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shlex
import stat
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from .database import DatabaseError, sqlite_vacuum_into

# Only the service's own user may read a backup, as only it may read the database.
BACKUP_MODE = 0o600


class BackupRefused(Exception):
    """PATH cannot take a backup (it exists, is a folder, or cannot be written); nothing was
    written. The message is one line."""


class BackupFailed(Exception):
    """The copy failed (no database, unreadable, disk full); the partial file was removed. The
    message is one line."""


@dataclass(frozen=True)
class Backup:
    """A backup written: where (an absolute path), and its size in bytes."""

    path: Path
    size: int


def write_sqlite_backup(database_url: str, target: str | Path) -> Backup:
    """Copy the SQLite database at `database_url` into the new file `target`, mode 0600.

    The file is created first (never overwritten: an existing PATH, even a dangling link, is
    refused), then filled by `VACUUM INTO` (see database.sqlite_vacuum_into) and synced to disk
    with its folder. Raises BackupRefused for a PATH that exists, is a folder, or cannot be
    created; BackupFailed when the copy fails, after removing what it wrote.
    """
    path = checked_path(target)
    journal = Path(f"{path}-journal")
    journal_was_there = os.path.lexists(journal)
    _create_private(path)
    try:
        sqlite_vacuum_into(database_url, str(path))
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode != BACKUP_MODE:
            raise BackupFailed(f"{str(path)!r} has mode {mode:04o}, not {BACKUP_MODE:04o}")
        _sync(path)
        size = path.stat().st_size
    except BaseException as error:
        # Nothing half-written stays: a partial copy still holds signers' data.
        with contextlib.suppress(OSError):
            path.unlink()
        if not journal_was_there:
            with contextlib.suppress(OSError):
                journal.unlink()
        if isinstance(error, DatabaseError):
            raise BackupFailed(str(error)) from None
        if isinstance(error, OSError):
            raise BackupFailed(f"cannot write {str(path)!r}: {error.strerror or error}") from None
        raise
    return Backup(path=path, size=size)


def checked_path(target: str | Path) -> Path:
    """PATH as the absolute path of a new file, on either database; BackupRefused (one line) when
    it is empty, holds a control character, names a folder (a trailing slash does too), exists
    (even as a dangling link: a backup never overwrites), or its folder does not exist."""
    text = str(target)
    if not text.strip():
        raise BackupRefused("no PATH given; give the name of a new file for the backup")
    if any(ord(char) < 32 or ord(char) == 127 for char in text):
        raise BackupRefused(f"{text!r} holds a control character; give a plain file name")
    path = Path(os.path.abspath(text))
    if path.is_dir() or text.endswith(os.sep):
        raise BackupRefused(f"{text!r} names a folder; give the name of a new file in it")
    if os.path.lexists(path):
        raise BackupRefused(f"{str(path)!r} exists; a backup never overwrites a file, give a new name")
    if not path.parent.is_dir():
        what = "is not a folder" if os.path.lexists(path.parent) else "does not exist"
        raise BackupRefused(f"cannot write {str(path)!r}: {str(path.parent)!r} {what}")
    return path


def _create_private(path: Path) -> None:
    """Create `path` empty, mode 0600 whatever the umask; BackupRefused if it cannot be."""
    try:
        # O_EXCL: fails on anything already there, a symbolic link included (it is not followed).
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, BACKUP_MODE)
    except OSError as error:
        if error.errno == errno.EEXIST:
            raise BackupRefused(f"{str(path)!r} exists; a backup never overwrites a file, give a new name") from None
        if not path.parent.is_dir():
            what = "is not a folder" if os.path.lexists(path.parent) else "does not exist"
            raise BackupRefused(f"cannot write {str(path)!r}: {str(path.parent)!r} {what}") from None
        raise BackupRefused(f"cannot write {str(path)!r}: {error.strerror or error}") from None
    try:
        # The umask may have taken the owner's write bit: the file must be 0600, no more, no less.
        os.fchmod(fd, BACKUP_MODE)
    finally:
        os.close(fd)


def _sync(path: Path) -> None:
    """fsync the file and its folder, so that the backup and its name survive a power loss."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def pg_dump_command(database_url: str, target: str) -> str:
    """The shell command that backs up the PostgreSQL database at `database_url` into `target`
    with pg_dump (custom format, for pg_restore), under umask 077 so that only its owner can
    read the dump; never with the password, which pg_dump asks for or reads from PGPASSWORD or
    ~/.pgpass."""
    parts = urlsplit(database_url)
    words = ["pg_dump", "--format=custom", f"--file={target}"]
    if parts.hostname:
        words.append(f"--host={parts.hostname}")
    if parts.port:
        words.append(f"--port={parts.port}")
    if parts.username:
        words.append(f"--username={unquote(parts.username)}")
    if dbname := unquote(parts.path.lstrip("/")):
        words.append(f"--dbname={dbname}")
    # pg_dump does not read ?search_path= from a URL: the service's schema becomes --schema.
    if schema := dict(parse_qsl(parts.query)).get("search_path"):
        words.append(f"--schema={schema.split(',')[0].strip()}")
    return f"(umask 077 && {shlex.join(words)})"

"""The command line: `python main.py [serve|migrate|generate-secrets|check-log|purge|backup] ...`.

Every failure an operator can cause (a bad setting, an unreachable database, a
failing migration) ends with one line on stderr and a non-zero exit, never a
traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from . import accounts, api_tokens, backups, log_check, organizers, pending, petitions, purge
from .database import Database, DatabaseError, dialect_of
from .logs import configure_logging, logging_config
from .migrations import MigrationError, check_current, migrate
from .passwords import password_problem
from .settings import SECRET_LENGTHS, Settings, SettingsError, load_settings, new_secret

T = TypeVar("T")
EXIT_CONFIG = 2  # a setting is missing or malformed
EXIT_FAILURE = 1  # the database or a migration failed


class CommandError(Exception):
    """A failure to report on one line, with its exit status."""

    def __init__(self, message: str, status: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.status = status


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python main.py",
        description="A privacy-first petition service. With no command, it serves.",
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    serve = commands.add_parser("serve", help="apply pending migrations, then serve HTTP (the default)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    serve.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    serve.set_defaults(run=run_serve)

    migrate_cmd = commands.add_parser("migrate", help="apply pending database migrations and exit")
    migrate_cmd.set_defaults(run=run_migrate)

    secrets_cmd = commands.add_parser("generate-secrets", help="print a fresh set of secrets for production")
    secrets_cmd.set_defaults(run=run_generate_secrets)

    organizer_cmd = commands.add_parser(
        "create-organizer",
        help="create an organizer (the password is read from stdin, or asked twice at a terminal)",
    )
    organizer_cmd.add_argument("email")
    organizer_cmd.add_argument("--admin", action="store_true", help="make an administrator (the first one always is)")
    organizer_cmd.set_defaults(run=run_create_organizer)

    token_cmd = commands.add_parser("create-token", help="make an API token for an organizer; printed last")
    token_cmd.add_argument("email")
    token_cmd.add_argument("--name", default="command line", help="what the token is for")
    token_cmd.set_defaults(run=run_create_token)

    check_log_cmd = commands.add_parser(
        "check-log",
        help="recompute every published petition's transparency log (or one's) from its entries; read-only",
    )
    check_log_cmd.add_argument("slug", nargs="?", help="only this petition")
    check_log_cmd.set_defaults(run=run_check_log)

    purge_cmd = commands.add_parser(
        "purge",
        help="destroy a closed petition's identifying data now (the retention purge); cannot be undone",
    )
    purge_cmd.add_argument("slug", help="the petition's slug")
    purge_cmd.set_defaults(run=run_purge)

    backup_cmd = commands.add_parser(
        "backup",
        help="write a consistent copy of the SQLite database, while the service runs, to a new file (mode 0600)",
    )
    backup_cmd.add_argument("path", metavar="PATH", help="the new file (never overwritten)")
    backup_cmd.set_defaults(run=run_backup)
    return parser


def main(argv: list[str]) -> int:
    """Command-line arguments -> exit status."""
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv = ["serve", *argv]
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except CommandError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.status
    except KeyboardInterrupt:
        return 130


def run_serve(args: argparse.Namespace) -> int:
    if args.workers < 1:
        raise CommandError("--workers must be at least 1", EXIT_CONFIG)
    if not 0 < args.port < 65536:
        raise CommandError("--port must be between 1 and 65535", EXIT_CONFIG)
    if "BASE_URL" not in os.environ and not _env_file_sets("BASE_URL"):
        # Links the service prints (a setup link, a QR code) should reach this server.
        host = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host  # noqa: S104
        os.environ["BASE_URL"] = f"http://{host}:{args.port}"
    settings = settings_or_exit()
    if args.workers > 1 and dialect_of(settings.database_url) == "sqlite":
        # Leases and the waiting signatures' dedupe tags live in the one process's memory.
        raise CommandError(
            f"SQLite serves one process; --workers {args.workers} needs DATABASE_URL=postgresql://... "
            "(see the README: Running on PostgreSQL)",
            EXIT_CONFIG,
        )
    applied = prepare_database(settings)
    for name in applied:
        print(f"applied migration {name}", file=sys.stderr)
    if problem := with_database(settings, lambda db: pending.key_problem(db, settings)):
        raise CommandError(problem, EXIT_CONFIG)
    setup_token = with_database(settings, accounts.setup_link_if_needed)
    if setup_token:
        print(f"Setup link: {settings.base_url}/setup/{setup_token}", file=sys.stderr)
    print(
        f"Serving {settings.site_name} on http://{args.host}:{args.port} "
        f"({settings.env}, {Database(settings.database_url).describe()}, {args.workers} worker(s))",
        file=sys.stderr,
    )
    if not settings.smtp_host:
        print("No SMTP_HOST: mail is printed here, not sent (development only).", file=sys.stderr)

    import uvicorn

    from .connections import protocol

    uvicorn.run(
        "petition.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        # uvloop and httptools: measured, plain asyncio with several workers
        # adds a flat 44 ms to every request. httptools with a deadline for request headers,
        # which uvicorn lacks: a slow client is closed, not waited for.
        loop="uvloop",
        http=protocol(settings.http_header_timeout_seconds),
        timeout_keep_alive=settings.http_keepalive_seconds,
        lifespan="on",
        # Our access log names routes; uvicorn's would write addresses and query strings.
        access_log=False,
        log_config=logging_config(settings.log_level),
        # X-Forwarded-For is read only from TRUSTED_PROXIES, by the service itself.
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=10,
    )
    return 0


def run_migrate(args: argparse.Namespace) -> int:
    settings = settings_or_exit()
    applied = prepare_database(settings)
    for name in applied:
        print(f"applied migration {name}")
    if not applied:
        print("the database schema is up to date")
    return 0


def run_generate_secrets(args: argparse.Namespace) -> int:
    print("# Fresh secrets for production. Keep them outside the database and its backups.")
    for name in SECRET_LENGTHS:
        print(f"{name}={new_secret()}")
    return 0


def run_create_organizer(args: argparse.Namespace) -> int:
    settings = settings_or_exit()
    prepare_database(settings)
    email = organizers.login_email(args.email)
    if problem := organizers.email_problem(email):
        raise CommandError(problem, EXIT_CONFIG)
    password = read_new_password()

    async def create(db: Database) -> bool:
        return await accounts.create_organizer(db, email=email, password=password, admin=args.admin)

    if not with_database(settings, create):
        raise CommandError(f"an organizer with the address {email} already exists")
    print(f"created organizer {email}")
    return 0


def read_new_password() -> str:
    """A new password from stdin, or asked twice at a terminal; CommandError when unacceptable."""
    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Password again: ") != password:
            raise CommandError("the two passwords differ", EXIT_CONFIG)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if problem := password_problem(password):
        raise CommandError(problem, EXIT_CONFIG)
    return password


def run_create_token(args: argparse.Namespace) -> int:
    settings = settings_or_exit()
    prepare_database(settings)
    name = args.name.strip()
    if problem := api_tokens.name_problem(name):
        raise CommandError(f"--name: {problem}", EXIT_CONFIG)

    async def create(db: Database) -> str | None:
        return await accounts.create_token_for(db, email=args.email, name=name)

    token = with_database(settings, create)
    if token is None:
        raise CommandError(f"no active organizer has the address {organizers.login_email(args.email)}")
    print(f"API token {name!r} for {organizers.login_email(args.email)} (shown once):")
    print(token)
    return 0


def run_check_log(args: argparse.Namespace) -> int:
    """One line per petition, `ok <slug> size=<n> count=<n>` or `FAIL <slug> <what>`; 1 on any FAIL."""
    settings = settings_or_exit()

    async def check(db: Database) -> int:
        # Read-only: an unmigrated database is reported, never migrated.
        try:
            await check_current(db)
        except MigrationError as error:
            raise CommandError(str(error)) from None
        failed = 0
        try:
            async for verdict in log_check.check(db, settings, args.slug):
                print(verdict.line, flush=True)
                failed += verdict.problem is not None
        except log_check.UnknownPetition as error:
            raise CommandError(str(error), EXIT_CONFIG) from None
        return EXIT_FAILURE if failed else 0

    return with_database(settings, check)


def run_purge(args: argparse.Namespace) -> int:
    """`purged <slug>` on stdout; an unknown slug exits 2, a petition that cannot be purged (a draft,
    open, or purged already) 1, each with one line on stderr and nothing changed."""
    settings = settings_or_exit()
    prepare_database(settings)

    async def destroy(db: Database) -> str:
        row = await petitions.find(db, args.slug)
        if row is None:
            raise CommandError(f"no petition has the slug {args.slug!r}", EXIT_CONFIG)
        try:
            await purge.purge(db, settings, petition_id=row["id"], organizer_id=None, why="from the command line")
        except petitions.PetitionError as error:
            raise CommandError(error.message) from None
        return str(row["slug"])

    print(f"purged {with_database(settings, destroy)}: its identifying data is destroyed")
    return 0


def run_backup(args: argparse.Namespace) -> int:
    """Where the backup went, its size, and how long to keep it; exit 2 for a PATH refused or a
    PostgreSQL database (with the pg_dump command to run instead), 1 when the copy fails."""
    settings = settings_or_exit()
    try:
        if settings.database_dialect != "sqlite":
            # pg_dump overwrites: the same PATH rules, before it is given the path.
            path = backups.checked_path(args.path)
            raise CommandError(
                f"{args.path!r} not written: on PostgreSQL, back up with pg_dump, which takes a consistent "
                f"snapshot while the service runs:\n  {backups.pg_dump_command(settings.database_url, str(path))}",
                EXIT_CONFIG,
            )
        backup = backups.write_sqlite_backup(settings.database_url, args.path)
    except backups.BackupRefused as error:
        raise CommandError(str(error), EXIT_CONFIG) from None
    except backups.BackupFailed as error:
        raise CommandError(str(error)) from None
    source = Database(settings.database_url).describe()
    print(f"wrote a backup of {source} to {str(backup.path)!r}: {size_in_words(backup.size)}, mode 0600")
    print(
        "Keep it for less than the shortest retention period of the petitions it holds (RETENTION_DAYS, "
        "unless a petition chose another retention_days; with 0, not past a petition's close): a backup "
        "still holds what a later purge destroys. Store it apart from the secrets "
        f"({', '.join(SECRET_LENGTHS)}): with them, it tells whether a given address signed."
    )
    secrets_file = settings.data_dir / "secrets.env"
    if secrets_file.exists() and backup.path.parent.resolve() == settings.data_dir.resolve():
        print(f"Note: {str(backup.path.parent)!r} also holds {secrets_file.name}: move the backup elsewhere.")
    return 0


def size_in_words(size: int) -> str:
    """A size in bytes -> `812 bytes`, `3.4 MB (3,407,872 bytes)` (decimal units)."""
    if size < 1000:
        return f"{size} bytes"
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit} ({size:,} bytes)"
    raise AssertionError("unreachable")


def with_database(settings: Settings, action: Callable[[Database], Awaitable[T]]) -> T:
    """Run `action(db)` on a connected database; one-line errors."""

    async def run() -> T:
        db = Database(settings.database_url, readers=1)
        await db.connect()
        try:
            return await action(db)
        finally:
            await db.disconnect()

    try:
        return asyncio.run(run())
    except DatabaseError as error:
        raise CommandError(str(error)) from None


def settings_or_exit() -> Settings:
    try:
        settings = load_settings()
    except SettingsError as error:
        raise CommandError(str(error), EXIT_CONFIG) from None
    configure_logging(settings.log_level)
    return settings


def prepare_database(settings: Settings) -> list[str]:
    """Make sure the SQLite folder is writable, connect, and apply pending migrations."""
    sqlite_file = Path(urlsplit(settings.database_url).path[1:]) if settings.database_dialect == "sqlite" else None
    if sqlite_file is not None:
        ensure_writable_dir(sqlite_file.parent, "the database folder")

    async def connect_and_migrate() -> list[str]:
        db = Database(settings.database_url, readers=1)
        await db.connect()
        try:
            return [migration.filename for migration in await migrate(db)]
        finally:
            await db.disconnect()

    try:
        applied = asyncio.run(connect_and_migrate())
    except (DatabaseError, MigrationError) as error:
        raise CommandError(str(error)) from None
    if sqlite_file is not None:
        # Only the service's own user may read the database (SQLite gives its WAL the same mode).
        sqlite_file.chmod(0o600)
    return applied


def ensure_writable_dir(path: Path, what: str) -> None:
    """Create a folder if needed and prove we can write in it; CommandError if not."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as error:
        raise CommandError(f"{what} {str(path)!r} is not writable: {error.strerror or error}") from None


def _env_file_sets(name: str) -> bool:
    env_file = Path(".env")
    if not env_file.is_file():
        return False
    return any(line.split("=", 1)[0].strip() == name for line in env_file.read_text().splitlines())

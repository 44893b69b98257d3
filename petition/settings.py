"""Settings: read once, from the environment and `.env`, into one frozen object.

Every setting is listed in the README's configuration table; a test fails when
one is missing there. Nothing here runs at import time.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
import re
import secrets
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from starlette.config import Config

from .text import text_problem

ENVIRONMENTS = ("development", "production")
SMTP_TLS_MODES = ("starttls", "tls", "none")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
# What could identify signers is kept at most a year after a petition closes (migration 0016
# caps stored periods there too).
MAX_RETENTION_DAYS = 365
# Dedupe tags live while a petition is open, so every petition must end: ten years is the longest
# an operator may let one stay open (and keeps every deadline far inside what a date can hold).
MAX_OPEN_DAYS_LIMIT = 3650

# The four secrets, and the least number of random bytes each must hold.
# ENCRYPTION_KEY is an AES-256-GCM key and SIGNING_KEY an Ed25519 seed, so
# both are exactly 32 bytes; the HMAC keys may be longer.
SECRET_LENGTHS = {
    "SECRET_KEY": (32, None),
    "PEPPER": (32, None),
    "ENCRYPTION_KEY": (32, 32),
    "SIGNING_KEY": (32, 32),
}
# A C2SP verifier key of an Ed25519 key: <name>+<8 hex digits of key id>+<base64 of 0x01 and 32 bytes>.
VKEY = re.compile(r"[^\s+]+\+[0-9a-f]{8}\+A[Q-Za-f][A-Za-z0-9+/]{42}")
# In development, missing secrets are generated once into this file in DATA_DIR.
DEV_SECRETS_FILE = "secrets.env"
SECRET_FILE_MODE = 0o600


class SettingsError(Exception):
    """A setting is missing or malformed; the message says which and why, on one line."""


@dataclass(frozen=True)
class Settings:
    env: str = "development"
    site_name: str = "Petitions"
    base_url: str = "http://127.0.0.1:8000"
    data_dir: Path = Path("data")
    database_url: str = "sqlite:///data/petition.db"
    database_readers: int = 2
    secret_key: bytes = field(default=b"", repr=False)
    pepper: bytes = field(default=b"", repr=False)
    encryption_key: bytes = field(default=b"", repr=False)
    signing_key: bytes = field(default=b"", repr=False)
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_from: str = ""
    smtp_user: str = ""
    smtp_password: str = field(default="", repr=False)
    smtp_tls: str = "starttls"
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    max_body_bytes: int = 256 * 1024
    max_code_emails_per_day: int = 5
    log_batch_seconds: int = 60
    log_batch_min: int = 5
    min_cell_size: int = 5
    # A feedback round's results are recomputed at most this often (seconds), and only once
    # MIN_CELL_SIZE participants voted since the last computation.
    round_results_seconds: int = 300
    max_codes_per_batch: int = 5000
    session_idle_minutes: int = 60
    session_max_hours: int = 12
    rate_limit_window_seconds: int = 900
    rate_limit_login_per_account: int = 10
    rate_limit_login_per_client: int = 100
    rate_limit_signing_per_client: int = 1000
    rate_limit_code_emails_per_client: int = 300
    outbox_poll_seconds: float = 2.0
    outbox_retry_seconds: int = 10
    # How long a sender's claim on a message lasts: a message claimed by a process that died is
    # tried again after it.
    outbox_claim_seconds: int = 120
    # Update emails the whole service sends a minute at most, however many updates are sending.
    update_emails_per_minute: int = 60
    password_hash_concurrency: int = 2
    log_level: str = "INFO"
    access_log: bool = False
    http_header_timeout_seconds: int = 10
    http_keepalive_seconds: int = 5
    # The retention period a new petition gets when none is given, in days after it closes.
    retention_days: int = 30
    # The longest a petition stays open, in days after it opened; one without a deadline closes then.
    max_open_days: int = 365
    # Verifier keys (C2SP vkeys) of signing keys used before SIGNING_KEY, still published.
    signing_keys_retired: tuple[str, ...] = ()

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def is_https(self) -> bool:
        return self.base_url.startswith("https://")

    @property
    def origin(self) -> str:
        """BASE_URL's scheme, host and port, as browsers send it in `Origin`."""
        parts = urlsplit(self.base_url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def database_dialect(self) -> str:
        return "sqlite" if self.database_url.startswith("sqlite") else "postgresql"


def load_settings(environ: Mapping[str, str] | None = None, env_file: str | Path = ".env") -> Settings:
    """Environment (over `.env`) -> Settings; raises SettingsError listing every problem."""
    environ = os.environ if environ is None else environ
    config = Config(env_file if Path(env_file).is_file() else None, environ=environ)
    problems: list[str] = []

    def read(name: str, default: str) -> str:
        return config(name, default=default).strip()

    def read_int(name: str, default: int, minimum: int, maximum: int | None = None) -> int:
        raw = read(name, str(default))
        try:
            value = int(raw)
        except ValueError:
            problems.append(f"{name} must be a whole number, not {raw!r}")
            return default
        if maximum is not None and not minimum <= value <= maximum:
            problems.append(f"{name} must be from {minimum} to {maximum}, not {value}")
            return default
        if value < minimum:
            problems.append(f"{name} must be at least {minimum}, not {value}")
            return default
        return value

    def read_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
        value = read(name, default)
        if value not in choices:
            problems.append(f"{name} must be one of {', '.join(choices)}, not {value!r}")
            return default
        return value

    env = read_choice("ENV", "development", ENVIRONMENTS)
    production = env == "production"

    base_url = read("BASE_URL", "http://127.0.0.1:8000").rstrip("/")
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        problems.append(f"BASE_URL must be an http(s) URL like https://petitions.example.org, not {base_url!r}")
    elif production and parts.scheme != "https":
        problems.append("BASE_URL must start with https:// in production")

    data_dir = Path(read("DATA_DIR", "data"))
    database_url = read("DATABASE_URL", "") or f"sqlite:///{data_dir / 'petition.db'}"
    problem = check_database_url(database_url)
    if problem:
        problems.append(problem)

    # Off by default: even without addresses, the times of signing requests are metadata.
    access_log = read("ACCESS_LOG", "false").lower()
    if access_log not in ("true", "false", "1", "0", "yes", "no"):
        problems.append(f"ACCESS_LOG must be true or false, not {access_log!r}")

    proxies = []
    for item in filter(None, (p.strip() for p in read("TRUSTED_PROXIES", "").split(","))):
        try:
            proxies.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            problems.append(f"TRUSTED_PROXIES holds {item!r}, which is not an IP address or network")

    retired = tuple(filter(None, (item.strip() for item in read("SIGNING_KEYS_RETIRED", "").split(","))))
    for vkey in retired:
        if not VKEY.fullmatch(vkey):
            problems.append(
                f"SIGNING_KEYS_RETIRED holds {vkey[:40]!r}, which is not a verifier key (<name>+<key id>+<key>); "
                "GET /api/v1/log/key shows the current one in that form"
            )

    smtp_host = read("SMTP_HOST", "")
    site_name = read("SITE_NAME", "Petitions")
    if not 1 <= len(site_name) <= 80:
        problems.append("SITE_NAME must be 1 to 80 characters")
    elif problem := text_problem(site_name):
        problems.append(f"SITE_NAME {problem}")
    values = dict(
        env=env,
        site_name=site_name,
        base_url=base_url,
        data_dir=data_dir,
        database_url=database_url,
        database_readers=read_int("DATABASE_READERS", 2, 1),
        smtp_host=smtp_host,
        smtp_port=read_int("SMTP_PORT", 587, 1),
        smtp_from=read("SMTP_FROM", ""),
        smtp_user=read("SMTP_USER", ""),
        smtp_password=config("SMTP_PASSWORD", default=""),
        smtp_tls=read_choice("SMTP_TLS", "starttls", SMTP_TLS_MODES),
        trusted_proxies=tuple(proxies),
        max_body_bytes=read_int("MAX_BODY_BYTES", 256 * 1024, 1024),
        max_code_emails_per_day=read_int("MAX_CODE_EMAILS_PER_DAY", 5, 1),
        log_batch_seconds=read_int("LOG_BATCH_SECONDS", 60, 1),
        log_batch_min=read_int("LOG_BATCH_MIN", 5, 1),
        min_cell_size=read_int("MIN_CELL_SIZE", 5, 1),
        round_results_seconds=read_int("ROUND_RESULTS_SECONDS", 300, 1),
        max_codes_per_batch=read_int("MAX_CODES_PER_BATCH", 5000, 1),
        session_idle_minutes=read_int("SESSION_IDLE_MINUTES", 60, 1),
        session_max_hours=read_int("SESSION_MAX_HOURS", 12, 1),
        rate_limit_window_seconds=read_int("RATE_LIMIT_WINDOW_SECONDS", 900, 1),
        rate_limit_login_per_account=read_int("RATE_LIMIT_LOGIN_PER_ACCOUNT", 10, 1),
        rate_limit_login_per_client=read_int("RATE_LIMIT_LOGIN_PER_CLIENT", 100, 1),
        rate_limit_signing_per_client=read_int("RATE_LIMIT_SIGNING_PER_CLIENT", 1000, 1),
        rate_limit_code_emails_per_client=read_int("RATE_LIMIT_CODE_EMAILS_PER_CLIENT", 300, 1),
        outbox_poll_seconds=read_int("OUTBOX_POLL_SECONDS", 2, 1),
        outbox_retry_seconds=read_int("OUTBOX_RETRY_SECONDS", 10, 1),
        outbox_claim_seconds=read_int("OUTBOX_CLAIM_SECONDS", 120, 1, 3600),
        update_emails_per_minute=read_int("UPDATE_EMAILS_PER_MINUTE", 60, 1, 100_000),
        password_hash_concurrency=read_int("PASSWORD_HASH_CONCURRENCY", 2, 1),
        log_level=read_choice("LOG_LEVEL", "INFO", LOG_LEVELS),
        access_log=access_log in ("true", "1", "yes"),
        http_header_timeout_seconds=read_int("HTTP_HEADER_TIMEOUT_SECONDS", 10, 1),
        http_keepalive_seconds=read_int("HTTP_KEEPALIVE_SECONDS", 5, 1),
        retention_days=read_int("RETENTION_DAYS", 30, 0, MAX_RETENTION_DAYS),
        max_open_days=read_int("MAX_OPEN_DAYS", 365, 1, MAX_OPEN_DAYS_LIMIT),
        signing_keys_retired=retired,
    )
    if smtp_host and not values["smtp_from"]:
        problems.append("SMTP_FROM is needed when SMTP_HOST is set")
    if production and not smtp_host:
        # Without it, password-reset and invitation links would be printed to the log.
        problems.append("SMTP_HOST (and SMTP_FROM) are needed in production")

    secret_values = _read_secrets(config, production, data_dir, problems)
    if problems:
        raise SettingsError("; ".join(problems))
    return Settings(**values, **secret_values)


def check_database_url(url: str) -> str | None:
    """A DATABASE_URL -> None when usable, else a one-line reason."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        if not parts.path.strip("/"):
            return f"DATABASE_URL {url!r} names no file; use sqlite:///path/to/file.db"
        return None
    if parts.scheme in ("postgresql", "postgres"):
        if not parts.hostname or not parts.path.strip("/"):
            return "DATABASE_URL must name a host and a database, like postgresql://user@host:5432/petition"
        return None
    return f"DATABASE_URL must start with sqlite:/// or postgresql://, not {parts.scheme or url!r}:"


def _read_secrets(config: Config, production: bool, data_dir: Path, problems: list[str]) -> dict[str, bytes]:
    """Each secret from NAME, or the file named by NAME_FILE; in development, generate what is missing."""
    found: dict[str, str] = {}
    missing: list[str] = []
    for name in SECRET_LENGTHS:
        value = config(name, default="").strip()
        path = config(f"{name}_FILE", default="").strip()
        if value and path:
            problems.append(f"set {name} or {name}_FILE, not both")
        elif path:
            try:
                value = read_secret_file(Path(path))
            except SettingsError as error:
                problems.append(f"{name}_FILE: {error}")
                continue
        if value:
            found[name] = value
        else:
            missing.append(name)

    if missing and production:
        problems.append("production needs explicit secrets: set " + ", ".join(f"{n} (or {n}_FILE)" for n in missing))
    elif missing:
        try:
            found.update(_development_secrets(data_dir, missing))
        except SettingsError as error:
            problems.append(str(error))
            return {}
        except OSError as error:
            problems.append(f"DATA_DIR {str(data_dir)!r} is not writable: {error.strerror or error}")
            return {}

    decoded = {}
    for name, value in found.items():
        try:
            decoded[name.lower()] = decode_secret(name, value)
        except SettingsError as error:
            problems.append(str(error))
    return decoded


def decode_secret(name: str, value: str) -> bytes:
    """A base64 secret -> its bytes, checked against the length the secret needs."""
    try:
        standard = value.rstrip("=").replace("-", "+").replace("_", "/")
        raw = base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise SettingsError(f"{name} is not base64; make one with: python main.py generate-secrets") from None
    least, most = SECRET_LENGTHS[name]
    if len(raw) < least or (most is not None and len(raw) > most):
        size = f"{least}" if least == most else f"at least {least}"
        raise SettingsError(f"{name} must hold {size} random bytes (base64), not {len(raw)}")
    return raw


def new_secret() -> str:
    """A fresh 32-byte secret, as unpadded URL-safe base64."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


def read_secret_file(path: Path) -> str:
    """The first line of a secrets file that only its owner may read."""
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise SettingsError(f"{path} can be read by others; run: chmod 600 {path}")
        return path.read_text(encoding="utf-8").strip()
    except OSError as error:
        raise SettingsError(f"cannot read {path}: {error.strerror or error}") from None


def _development_secrets(data_dir: Path, names: list[str]) -> dict[str, str]:
    """Read the development secrets file, adding (once) any secret it lacks."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = data_dir / DEV_SECRETS_FILE
    stored: dict[str, str] = {}
    if path.exists():
        for line in read_secret_file_lines(path):
            key, _, value = line.partition("=")
            stored[key.strip()] = value.strip()
    added = {name: new_secret() for name in names if name not in stored}
    if added:
        # O_EXCL-free append, but the file is created 0600 before anything is written.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, SECRET_FILE_MODE)
        with os.fdopen(fd, "a", encoding="utf-8") as out:
            if not stored:
                out.write("# Development secrets, generated once. Never use these in production.\n")
            out.writelines(f"{name}={value}\n" for name, value in added.items())
        stored.update(added)
    return {name: stored[name] for name in names}


def read_secret_file_lines(path: Path) -> list[str]:
    """The non-comment lines of a KEY=value secrets file, refusing one others can read."""
    if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SettingsError(f"{path} can be read by others; run: chmod 600 {path}")
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip() and not line.startswith("#")]

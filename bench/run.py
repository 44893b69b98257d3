"""Benchmark: the service beside a bare Starlette app, loaded with wrk, in one run.

    .venv/bin/python bench/run.py [--duration 10] [--connections 64] [--rounds 2]

Starts both servers on 127.0.0.1 (the service on a fresh SQLite database in a
temporary folder), loads each workload with wrk for a bounded time, and prints
one table: requests/s, p50, p99, and the ratios to the bare app and to /healthz.
The petition reads spread over many petitions (a wrk script picks one at
random for each request), made through the API before the load starts. The
signing workload spends a fresh printed code at every request (codes made
through the API beforehand); each 201 comes after its commit is on disk. The
email workload signs end to end with fresh work addresses (ask for a code, read
it from a local SMTP sink, verify) and counts signatures per second. Every
other workload runs with printed-code signing going on beside it (50 a second),
so batches close and caches empty as they would in real use. The timeline,
badge and count workloads run spread over the same petitions, and on two
petitions with 1,000 and 1,000,000 signatures over 90 days (their counters
written straight into the database) to show their cost does not grow with the
count. The reasons list runs spread over the same petitions, each with 25 approved reasons
(written straight into their table), so every answer is a full page of 20 with a cursor.
The votes workload PUTs participants' votes (random participant, statement and word) on a round
of 200 statements and 2,000 participants written straight into the database (bench/votes.py);
with `--postgresql`, on PostgreSQL too. The table ends with each server's peak memory. With `--postgresql URL` (or
BENCH_POSTGRESQL_URL) two more rows sign with printed codes on PostgreSQL, with one worker
process and with two, each service on a fresh schema of that database, its codes made in
several batches and spent in mixed order (as signatures from many flyers arrive).
The transparency log's workloads ask random inclusion proofs, consistency proofs and full
tiles of one petition's log of 1,000,000 entries, appended before the service starts exactly
as the batcher appends (bench/log.py); with `--postgresql`, proofs and tiles of such a log are
also read from the PostgreSQL services. The dashboard workload asks, with an organizer's token, for the
dashboard JSON of a petition with code and flyer batches, a feedback round, an update and 90 days of
hourly counters (written straight into the database).

This machine is noisy (the same server measures 6,000 to 11,000 requests/s a
minute apart), so: servers run pinned to one core and wrk to the other; the
workloads take turns in short slices, round after round; and a ratio is the
median over rounds of the ratio within each round, so slow noise cancels.
Everything it starts, it stops.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import email_load  # beside this script
import httpx
import log as log_bench  # beside this script
import votes as votes_bench  # beside this script

ROOT = Path(__file__).resolve().parent.parent
WRK_THREADS = 1
CODES_PER_BATCH = 5000
SIGNING = "sign with a code (durable)"
POSTGRESQL_SIGNING = "sign with a code on PostgreSQL, codes of 12 batches mixed"
EMAIL = "sign with a work-email code, end to end (signatures/s)"
EMAIL_SIGNERS = 32  # signers at once in the email workload
VOTES = "vote on a statement (durable), round of 200 statements"
POSTGRESQL_VOTES = "vote on a statement on PostgreSQL, round of 200 statements"
API = "/api/v1/petitions"
REASONS_PER_PETITION = 25  # approved reasons on each spread petition: a full first page and a cursor
BACKGROUND_SIGNATURES_PER_SECOND = 50  # printed-code signatures during every other workload
LOG_ENTRIES = 1_000_000  # the transparency log the proof and tile workloads read
LOG_WORKLOADS = {
    "inclusion": "inclusion proof, log of 1,000,000",
    "consistency": "consistency proof, log of 1,000,000",
    "tile": "tile, log of 1,000,000",
}
POSTGRESQL_LOG_WORKLOADS = {
    "inclusion": "inclusion proof on PostgreSQL, log of 1,000,000",
    "tile": "tile on PostgreSQL, log of 1,000,000",
}
# A feedback round's results, served from the cache: a round of this many participants and statements.
ROUND_PARTICIPANTS, ROUND_STATEMENTS = 1000, 50
ROUND_RESULTS_JSON = f"round results JSON, {ROUND_PARTICIPANTS:,} participants x {ROUND_STATEMENTS} statements"
ROUND_RESULTS_PAGE = f"round results page with its map, {ROUND_PARTICIPANTS:,} participants"
DASHBOARD = "dashboard JSON (an organizer's token), 3 code batches, 2 flyer batches, a round, 90 days"
# With two or more cores and taskset, servers run on one core and wrk on another.
PIN = shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2
SERVER_CPU, WRK_CPU = "1", "0"


def pinned(command: list[str], cpu: str) -> list[str]:
    return ["taskset", "-c", cpu, *command] if PIN else command


@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int = 0
    memory_mb: float = 0.0


def ensure_wrk() -> str:
    """The path to wrk, installing Debian's package when it is missing."""
    found = shutil.which("wrk")
    if found:
        return found
    print("installing wrk from Debian's packages", file=sys.stderr)
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "wrk"], check=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    )
    found = shutil.which("wrk")
    if not found:
        sys.exit("wrk could not be installed")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(url: str, process: subprocess.Popen[bytes], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"server exited early while starting ({url})")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    sys.exit(f"server did not answer {url} within {seconds} s")


def start_bare(port: int, log: Path) -> subprocess.Popen[bytes]:
    command = [
        sys.executable, "-m", "uvicorn", "bench.bare_app:app", "--port", str(port),
        "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--no-server-header", "--log-level", "warning",
    ]  # fmt: skip
    return subprocess.Popen(pinned(command, SERVER_CPU), cwd=ROOT, stdout=log.open("wb"), stderr=subprocess.STDOUT)


def start_service(
    port: int, data_dir: Path, log: Path, smtp_port: int, *, database_url: str = "", workers: int = 1
) -> subprocess.Popen[bytes]:
    environ = {
        **os.environ,
        "DATA_DIR": str(data_dir),
        "BASE_URL": f"http://127.0.0.1:{port}",
        # Mail goes to the benchmark's own SMTP sink; every client is 127.0.0.1 here, so the
        # per-client limits (generous for an office, not for a load generator) are raised.
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp_port),
        "SMTP_TLS": "none",
        "SMTP_FROM": "bench@example.org",
        "RATE_LIMIT_SIGNING_PER_CLIENT": "1000000000",
        "RATE_LIMIT_CODE_EMAILS_PER_CLIENT": "1000000000",
    }
    environ.pop("DATABASE_URL", None)
    if database_url:
        environ["DATABASE_URL"] = database_url
    command = [sys.executable, str(ROOT / "main.py"), "serve", "--port", str(port), "--workers", str(workers)]
    return subprocess.Popen(
        pinned(command, SERVER_CPU), cwd=data_dir, env=environ, stdout=log.open("wb"), stderr=subprocess.STDOUT
    )


def run_wrk(
    wrk: str, url: str, duration: int, connections: int, script: Path | None = None, offset: int | None = None
) -> Result:
    command = [wrk, f"-t{WRK_THREADS}", f"-c{connections}", f"-d{duration}s", "--latency"]
    command += ["-s", str(script)] if script else []
    arguments = ["--", str(offset)] if offset is not None else []
    output = subprocess.run(
        pinned([*command, url, *arguments], WRK_CPU),
        capture_output=True,
        text=True,
        check=True,
        timeout=duration + 30,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    sent = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if errors:
        sys.exit(f"{url} answered {errors.group(1)} errors under load")
    return Result(rps, latency(output, "50%"), latency(output, "99%"), sent)


def publish(client: httpx.Client, base: str, headers: dict[str, str], petition: dict[str, object]) -> str:
    """Create `petition` through the API and publish it; its slug."""
    draft = client.post(base, json=petition, headers=headers).raise_for_status().json()
    # A draft is addressed by its id; its slug is its own once published.
    client.post(f"{base}/{draft['id']}/publish", headers=headers).raise_for_status()
    return str(draft["slug"])


def wanted_any(only: str, names: dict[str, str]) -> bool:
    """Whether `--only` (comma-separated parts of names; empty: everything) asks for any of `names`."""
    wanted = [part.strip() for part in only.split(",") if part.strip()]
    return not wanted or any(part in name for part in wanted for name in names.values())


def seed_log(port: int, data_dir: Path, database_url: str = "") -> str:
    """Before its service starts: a petition whose transparency log holds LOG_ENTRIES signature
    entries, appended 1,000 at a time as the batcher appends (bench/log.py), signed with the key the
    service will use; its slug."""
    environ = {"DATA_DIR": str(data_dir), "BASE_URL": f"http://127.0.0.1:{port}"}
    if database_url:
        environ["DATABASE_URL"] = database_url
    main_py = str(ROOT / "main.py")
    subprocess.run([sys.executable, main_py, "migrate"], env={**os.environ, **environ}, check=True, capture_output=True)
    sys.path.insert(0, str(ROOT))
    from petition.database import Database  # the server's own modules, only where needed
    from petition.settings import load_settings

    settings = load_settings(environ, env_file=data_dir / ".env")

    async def build() -> None:
        db = Database(settings.database_url)
        await db.connect()
        try:
            await log_bench.build_log(db, settings, LOG_ENTRIES, 1000, slug="a-long-log")
        finally:
            await db.disconnect()

    asyncio.run(build())
    return "a-long-log"


def log_script(folder: Path, name: str, slug: str, kind: str) -> Path:
    """A wrk Lua script asking, at every request, for a random proof or tile of `slug`'s log."""
    size = LOG_ENTRIES
    requests = {
        "inclusion": f'string.format("{API}/{slug}/log/inclusion?index=%d&tree_size={size}", '
        f"math.random(0, {size - 1}))",
        "consistency": f'string.format("{API}/{slug}/log/consistency?first=%d&second={size}", '
        f"math.random(1, {size - 1}))",
        # a full tile of level 0, its index as C2SP tlog-tiles writes it (x001/234 for 1234)
        "tile": f"tile_path(math.random(0, {size // 256 - 1}))",
    }
    script = folder / f"{name}.lua"
    script.write_text(
        "local function tile_path(n)\n"
        '  if n < 1000 then return string.format("/p/' + slug + '/log/tile/0/%03d", n) end\n'
        '  return string.format("/p/' + slug + '/log/tile/0/x%03d/%03d", math.floor(n / 1000), n % 1000)\n'
        "end\n"
        "request = function()\n"
        f'  return wrk.format("GET", {requests[kind]})\n'
        "end\n"
    )
    return script


def seed_petitions(service_port: int, data_dir: Path, count: int) -> list[str]:
    """An organizer, a token, and `count` open petitions; their slugs."""
    environ = {**os.environ, "DATA_DIR": str(data_dir)}
    environ.pop("DATABASE_URL", None)
    main_py = str(ROOT / "main.py")
    password = "bench password that is long enough\n"
    subprocess.run(
        [sys.executable, main_py, "create-organizer", "bench@example.org"],
        input=password, text=True, cwd=data_dir, env=environ, check=True, capture_output=True,
    )  # fmt: skip
    token = subprocess.run(
        [sys.executable, main_py, "create-token", "bench@example.org"],
        text=True, cwd=data_dir, env=environ, check=True, capture_output=True,
    ).stdout.strip().splitlines()[-1]  # fmt: skip
    headers = {"authorization": f"Bearer {token}"}
    base = f"http://127.0.0.1:{service_port}/api/v1/petitions"
    slugs = []
    with httpx.Client(timeout=30) as client:
        for number in range(count):
            petition = {
                "title": f"Benchmark petition number {number}",
                "summary": "A petition made for the benchmark.",
                "body": "Paragraph one of the text.\n\nParagraph two, with https://example.org/a-link.",
                "target": "The board",
                "goal": 1000,
                "allowed_domains": ["example.org"],
            }
            slugs.append(publish(client, base, headers, petition))
    return slugs


def seed_email_petition(service_port: int, data_dir: Path) -> str:
    """An open petition that takes work addresses at example.org."""
    headers = {"authorization": f"Bearer {bench_token(data_dir)}"}
    base = f"http://127.0.0.1:{service_port}/api/v1/petitions"
    petition = {
        "title": "Benchmark email petition",
        "summary": "Signed by the benchmark with work addresses.",
        "target": "The board",
        "goal": 1_000_000,
        "verification": ["email"],
        "allowed_domains": ["example.org"],
    }
    with httpx.Client(timeout=60) as client:
        return publish(client, base, headers, petition)


def seed_timeline_petition(service_port: int, data_dir: Path, signatures: int) -> str:
    """An open petition with `signatures` counted over 90 days, written straight into its counters."""
    headers = {"authorization": f"Bearer {bench_token(data_dir)}"}
    base = f"http://127.0.0.1:{service_port}/api/v1/petitions"
    petition = {
        "title": f"Benchmark timeline with {signatures:,} signatures",
        "summary": "Counted over ninety days.",
        "target": "The board",
        "goal": signatures // 2 or 1,
        "verification": ["code"],
    }
    with httpx.Client(timeout=60) as client:
        slug = publish(client, base, headers, petition)
    hours = 90 * 24
    opened = int(time.time()) // 3600 * 3600 - hours * 3600
    per_hour = [signatures // hours + (1 if hour < signatures % hours else 0) for hour in range(hours)]
    with sqlite3.connect(data_dir / "petition.db", timeout=30) as db:
        (petition_id,) = db.execute("SELECT id FROM petitions WHERE slug = ?", (slug,)).fetchone()
        db.execute(
            "UPDATE petitions SET opened_at = ?, signature_count = ?, count_code = ? WHERE id = ?",
            (opened, signatures, signatures, petition_id),
        )
        db.executemany(
            "INSERT INTO hourly_counts (petition_id, hour, signed, withdrawn, invalidated) VALUES (?, ?, ?, 0, 0)",
            [(petition_id, opened + hour * 3600, count) for hour, count in enumerate(per_hour)],
        )
        db.execute("UPDATE cache_version SET version = version + 1")
    return str(slug)


def seed_dashboard(service_port: int, data_dir: Path) -> tuple[str, str]:
    """An open petition with 3 code batches, 2 flyer batches, a feedback round, an update and 90 days of
    hourly counters (written straight into the database), as its organizers' dashboard reads it; (its
    slug, a wrk Lua script asking for its dashboard with a token)."""
    token = bench_token(data_dir)
    headers = {"authorization": f"Bearer {token}"}
    base = f"http://127.0.0.1:{service_port}/api/v1/petitions"
    petition = {
        "title": "Benchmark dashboard petition",
        "summary": "Its organizers watch it.",
        "target": "The board",
        "goal": 5000,
        "verification": ["email", "code"],
        "allowed_domains": ["example.org"],
    }
    with httpx.Client(timeout=60) as client:
        slug = publish(client, base, headers, petition)
        for label in ("Canteen", "Loading bay", "Third floor"):
            client.post(f"{base}/{slug}/codes", json={"count": 200, "label": label}, headers=headers).raise_for_status()
        for label in ("Canteen wall", "Lifts"):
            flyer = {"label": label, "layout": "poster", "paper_size": "a4"}
            client.post(f"{base}/{slug}/flyers", json=flyer, headers=headers).raise_for_status()
        made = {"question": "What should a fair opt-out look like?", "statements": ["Opting out takes one click."]}
        client.post(f"{base}/{slug}/rounds", json=made, headers=headers).raise_for_status()
        update = {"title": "We met the board", "body": "They listened."}
        client.post(f"{base}/{slug}/updates", json=update, headers=headers).raise_for_status()
    hours = 90 * 24
    opened = int(time.time()) // 3600 * 3600 - hours * 3600
    with sqlite3.connect(data_dir / "petition.db", timeout=30) as db:
        (petition_id,) = db.execute("SELECT id FROM petitions WHERE slug = ?", (slug,)).fetchone()
        db.execute("UPDATE petitions SET opened_at = ?, signature_count = ?, count_code = ? WHERE id = ?",
                   (opened, hours * 2, hours * 2, petition_id))  # fmt: skip
        db.executemany(
            "INSERT INTO hourly_counts (petition_id, hour, signed, withdrawn, invalidated) VALUES (?, ?, 2, 0, 0)",
            [(petition_id, opened + hour * 3600) for hour in range(hours)],
        )
        db.execute("UPDATE code_batches SET used = 60 WHERE petition_id = ?", (petition_id,))
    script = data_dir / "dashboard.lua"
    script.write_text(
        f'wrk.path = "/api/v1/petitions/{slug}/dashboard"\nwrk.headers["Authorization"] = "Bearer {token}"\n'
    )
    return slug, script


def seed_round_results(data_dir: Path, slug: str, participants: int, statements: int) -> str:
    """An open feedback round on `slug` with public results, computed (as the service's job would) from
    planted votes of `participants` on `statements` and written straight into round_results; its id."""
    sys.path.insert(0, str(ROOT))
    import numpy as np  # the server's own dependencies and modules, only where needed

    from petition.feedback.results import compute
    from petition.feedback.results_job import results_body

    rng = np.random.default_rng(3)
    leanings = rng.choice([-1, 0, 1], size=(3, statements))
    votes = [
        (participant, statement, int(leanings[participant % 3, statement]) if rng.random() > 0.1 else 0)
        for participant in range(participants)
        for statement in range(statements)
        if rng.random() < 0.7
    ]
    results = compute(votes, range(statements), min_cell_size=5)
    assert results is not None
    round_id = secrets.token_hex(12)
    statement_ids = sorted(secrets.token_hex(12) for _ in range(statements))
    body = json.dumps(results_body(results, statement_ids), separators=(",", ":"))
    moment = int(time.time())
    with sqlite3.connect(data_dir / "petition.db", timeout=30) as db:
        (petition_id,) = db.execute("SELECT id FROM petitions WHERE slug = ?", (slug,)).fetchone()
        (organizer_id,) = db.execute("SELECT id FROM organizers LIMIT 1").fetchone()
        db.execute(
            "INSERT INTO rounds (id, petition_id, question, description, state, allow_statements, "
            "moderate_statements, results, created_by, created_at, opened_at, participant_count) "
            "VALUES (?, ?, 'What should a fair opt-out look like?', 'Vote on each statement.', 'open', 1, 1, "
            "'public', ?, ?, ?, ?)",
            (round_id, petition_id, organizer_id, moment, moment, participants),
        )
        db.executemany(
            "INSERT INTO round_statements (id, round_id, text, status, seed, votes) VALUES (?, ?, ?, 'approved', 1, 0)",
            [(sid, round_id, f"Statement {n}: opting out should be simple.") for n, sid in enumerate(statement_ids)],
        )
        db.execute(
            "INSERT INTO round_results (round_id, computed_at, participants, body) VALUES (?, ?, ?, ?)",
            (round_id, moment, len(results.participants), body),
        )
        db.execute("UPDATE cache_version SET version = version + 1")
    return round_id


def seed_reasons(data_dir: Path, slugs: list[str], per_petition: int) -> None:
    """`per_petition` approved reasons on each petition, written straight into their table (as the
    batcher and a moderation would leave them: random keys and ids, order keys of 32 random bytes)."""
    with sqlite3.connect(data_dir / "petition.db", timeout=30) as db:
        for slug in slugs:
            (petition_id,) = db.execute("SELECT id FROM petitions WHERE slug = ?", (slug,)).fetchone()
            rows = [
                (
                    secrets.token_hex(32),
                    petition_id,
                    f"Reason number {number} why I signed: the program exposed our data. " * 3,
                    secrets.token_urlsafe(16),
                    secrets.token_hex(32),
                )
                for number in range(per_petition)
            ]
            db.executemany(
                "INSERT INTO signer_reasons (reason_key, petition_id, reason, status, public_id, order_key) "
                "VALUES (?, ?, ?, 'approved', ?, ?)",
                sorted(rows),
            )
            db.execute("UPDATE petitions SET reason_count = ? WHERE id = ?", (per_petition, petition_id))
        db.execute("UPDATE cache_version SET version = version + 1")


def seed_codes(
    service_port: int, data_dir: Path, count: int, name: str = "signing", *, token: str = "", mixed: bool = False
) -> tuple[str, Path]:
    """An open petition that takes printed codes, and a file of `count` fresh codes for it (`mixed`:
    the codes of all its batches shuffled together, as signatures from many flyers arrive)."""
    token = token or bench_token(data_dir)
    headers = {"authorization": f"Bearer {token}"}
    base = f"http://127.0.0.1:{service_port}/api/v1/petitions"
    petition = {
        "title": f"Benchmark {name} petition",
        "summary": "Signed by the benchmark.",
        "target": "The board",
        "goal": 1_000_000,
        "verification": ["code"],
    }
    codes: list[str] = []
    with httpx.Client(timeout=60) as client:
        slug = publish(client, base, headers, petition)
        while len(codes) < count:
            size = min(CODES_PER_BATCH, count - len(codes))
            made = client.post(f"{base}/{slug}/codes", json={"count": size}, headers=headers).raise_for_status()
            codes += made.json()["codes"]
    if mixed:
        random.Random(1).shuffle(codes)
    path = data_dir / f"{name}-codes.txt"
    path.write_text("\n".join(codes) + "\n")
    return slug, path


def postgresql_service(
    base_url: str, workers: int, folder: Path, smtp_port: int, codes: int, *, log: bool = False
) -> tuple[subprocess.Popen[bytes], str, str, Path, str, str]:
    """A service on a fresh schema of `base_url` with `workers` processes, and codes of several
    batches mixed; with `log`, a petition with a long transparency log too; (process, its URL, the
    petition's slug, the codes file, the schema, the long log's petition's slug or "")."""
    schema = f"bench_{secrets.token_hex(4)}"
    subprocess.run(["psql", base_url, "-qc", f"CREATE SCHEMA {schema}"], check=True, capture_output=True)
    url = postgresql_url(base_url, schema)
    data_dir = folder / f"postgresql-{workers}"
    data_dir.mkdir()
    environ = {**os.environ, "DATA_DIR": str(data_dir), "DATABASE_URL": url}
    main_py = str(ROOT / "main.py")
    subprocess.run([sys.executable, main_py, "migrate"], env=environ, check=True, capture_output=True)
    subprocess.run(
        [sys.executable, main_py, "create-organizer", "bench@example.org"],
        input="bench password that is long enough\n", text=True, env=environ, check=True, capture_output=True,
    )  # fmt: skip
    token = subprocess.run(
        [sys.executable, main_py, "create-token", "bench@example.org"],
        text=True, env=environ, check=True, capture_output=True,
    ).stdout.strip().splitlines()[-1]  # fmt: skip
    port = free_port()
    log_slug = seed_log(port, data_dir, url) if log else ""
    process = start_service(port, data_dir, data_dir / "service.log", smtp_port, database_url=url, workers=workers)
    wait_until_up(f"http://127.0.0.1:{port}/healthz", process)
    slug, path = seed_codes(port, data_dir, codes, f"postgresql-{workers}", token=token, mixed=True)
    return process, f"http://127.0.0.1:{port}", slug, path, schema, log_slug


def postgresql_url(base_url: str, schema: str) -> str:
    """The URL of `base_url`'s database with `schema` as its search path."""
    return f"{base_url}{'&' if '?' in base_url else '?'}search_path={schema}"


def bench_token(data_dir: Path) -> str:
    environ = {**os.environ, "DATA_DIR": str(data_dir)}
    environ.pop("DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "create-token", "bench@example.org"],
        text=True, cwd=data_dir, env=environ, check=True, capture_output=True,
    ).stdout.strip().splitlines()[-1]  # fmt: skip


def signing_script(folder: Path, slug: str, codes: Path, name: str = "sign") -> Path:
    """A wrk Lua script that signs with the next unused code at every request."""
    script = folder / f"{name}.lua"
    script.write_text(
        "local codes = {}\n"
        f'for line in io.lines("{codes}") do codes[#codes + 1] = line end\n'
        "local next_code = 0\n"
        "init = function(args) next_code = tonumber(args[1]) end\n"
        "request = function()\n"
        "  next_code = next_code + 1\n"
        f'  return wrk.format("POST", "/api/v1/petitions/{slug}/signatures",\n'
        '    {["Content-Type"] = "application/json"}, \'{"code": "\' .. codes[next_code] .. \'"}\')\n'
        "end\n"
    )
    return script


def spread_script(folder: Path, name: str, pattern: str, slugs: list[str]) -> Path:
    """A wrk Lua script whose every request asks for a random one of `slugs`, as `pattern` % slug."""
    listed = ", ".join(f'"{slug}"' for slug in slugs)
    script = folder / f"{name}.lua"
    script.write_text(
        f"local slugs = {{{listed}}}\n"
        "request = function()\n"
        f'  return wrk.format("GET", string.format("{pattern}", slugs[math.random(#slugs)]))\n'
        "end\n"
    )
    return script


def latency(output: str, percentile: str) -> float:
    """A wrk latency percentile, in milliseconds."""
    value, unit = re.search(rf"^\s+{percentile}\s+([\d.]+)(us|ms|s)\s*$", output, re.M).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def peak_memory_mb(pid: int) -> float:
    """The peak resident memory of a process, in MiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024  # type: ignore[union-attr]


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=3, help="seconds of load per workload and round")
    parser.add_argument("--connections", type=int, default=64, help="open connections")
    parser.add_argument("--rounds", type=int, default=8, help="rounds in which every workload takes a turn")
    parser.add_argument("--verbose", action="store_true", help="print each round's figures")
    parser.add_argument("--petitions", type=int, default=200, help="open petitions the reads spread over")
    parser.add_argument("--codes", type=int, default=150_000, help="printed codes made for the signing workload")
    parser.add_argument("--background-codes", type=int, default=30_000, help="codes for the background signing")
    parser.add_argument("--only", default="", help="comma-separated parts of workload names to run (and the baselines)")
    parser.add_argument(
        "--postgresql",
        default=os.environ.get("BENCH_POSTGRESQL_URL", ""),
        help="a PostgreSQL URL whose database may get schemas: adds printed-code signing on PostgreSQL, "
        "one process and two (default: $BENCH_POSTGRESQL_URL; none: those rows are left out)",
    )
    parser.add_argument("--postgresql-codes", type=int, default=150_000, help="printed codes for each PostgreSQL row")
    args = parser.parse_args()
    wrk = ensure_wrk()
    if PIN:  # this process drives the email workload and runs its SMTP sink: beside wrk, not the servers
        os.sched_setaffinity(0, {int(WRK_CPU)})

    with tempfile.TemporaryDirectory(prefix="petition-bench-") as folder, email_load.CodeSink(free_port()) as sink:
        folder_path = Path(folder)
        bare_port, service_port = free_port(), free_port()
        bare = start_bare(bare_port, folder_path / "bare.log")
        log_slug = seed_log(service_port, folder_path) if wanted_any(args.only, LOG_WORKLOADS) else ""
        service = start_service(service_port, folder_path, folder_path / "service.log", sink.port)
        # (process, schema) of each PostgreSQL service, stopped and dropped at the end.
        postgresql: list[tuple[subprocess.Popen[bytes], str]] = []
        try:
            wait_until_up(f"http://127.0.0.1:{bare_port}/healthz", bare)
            wait_until_up(f"http://127.0.0.1:{service_port}/healthz", service)
            slugs = seed_petitions(service_port, folder_path, args.petitions)
            seed_reasons(folder_path, slugs, REASONS_PER_PETITION)
            signing_slug, code_file = seed_codes(service_port, folder_path, args.codes)
            background_slug, background_codes = seed_codes(
                service_port, folder_path, args.background_codes, "background"
            )
            background = email_load.BackgroundSigner(
                service_port, background_slug, background_codes.read_text().split(), BACKGROUND_SIGNATURES_PER_SECOND
            )
            email_slug = seed_email_petition(service_port, folder_path)
            small = seed_timeline_petition(service_port, folder_path, 1_000)
            large = seed_timeline_petition(service_port, folder_path, 1_000_000)
            round_id = seed_round_results(folder_path, slugs[0], ROUND_PARTICIPANTS, ROUND_STATEMENTS)
            _, dashboard_script = seed_dashboard(service_port, folder_path)
            service_url = f"http://127.0.0.1:{service_port}"
            sqlite_url = f"sqlite:///{folder_path / 'petition.db'}"
            round_file = votes_bench.seed_round(sqlite_url, slugs[0], folder_path, "votes")
            workloads: dict[str, tuple[str, Path | None]] = {
                "bare Starlette app": (f"http://127.0.0.1:{bare_port}/healthz", None),
                "/healthz": (f"{service_url}/healthz", None),
                "petition JSON": (service_url, spread_script(folder_path, "json", "/api/v1/petitions/%s", slugs)),
                "petition page": (service_url, spread_script(folder_path, "page", "/p/%s", slugs)),
                SIGNING: (service_url, signing_script(folder_path, signing_slug, code_file)),
                VOTES: (service_url, votes_bench.vote_script(folder_path, "votes", round_file)),
                EMAIL: (service_url, None),
                "timeline JSON, spread": (
                    service_url,
                    spread_script(folder_path, "tl", "/api/v1/petitions/%s/timeline", slugs),
                ),
                "badge, spread": (service_url, spread_script(folder_path, "badge", "/p/%s/badge.svg", slugs)),
                "count, spread": (
                    service_url,
                    spread_script(folder_path, "count", "/api/v1/petitions/%s/count", slugs),
                ),
                "reasons list, spread": (
                    service_url,
                    spread_script(folder_path, "reasons", "/api/v1/petitions/%s/reasons", slugs),
                ),
                "timeline JSON, 1,000 signatures": (f"{service_url}/api/v1/petitions/{small}/timeline", None),
                "timeline JSON, 1,000,000 signatures": (f"{service_url}/api/v1/petitions/{large}/timeline", None),
                "badge, 1,000 signatures": (f"{service_url}/p/{small}/badge.svg", None),
                "badge, 1,000,000 signatures": (f"{service_url}/p/{large}/badge.svg", None),
                "count, 1,000,000 signatures": (f"{service_url}/api/v1/petitions/{large}/count", None),
                "chart page, 1,000 signatures": (f"{service_url}/p/{small}", None),
                "chart page, 1,000,000 signatures": (f"{service_url}/p/{large}", None),
                ROUND_RESULTS_JSON: (f"{service_url}/api/v1/rounds/{round_id}/results", None),
                ROUND_RESULTS_PAGE: (f"{service_url}/r/{round_id}/results", None),
                DASHBOARD: (service_url, dashboard_script),
            }
            if log_slug:
                for kind, name in LOG_WORKLOADS.items():
                    workloads[name] = (service_url, log_script(folder_path, kind, log_slug, kind))
            signing_rows = {SIGNING: args.codes}
            servers: dict[str, subprocess.Popen[bytes]] = {}  # a workload's own server, when not the service
            wanted = [part.strip() for part in args.only.split(",") if part.strip()]
            postgresql_log = wanted_any(args.only, POSTGRESQL_LOG_WORKLOADS)
            postgresql_votes = wanted_any(args.only, {"": POSTGRESQL_VOTES})
            postgresql_signing = wanted_any(args.only, {"": POSTGRESQL_SIGNING})
            if args.postgresql and (postgresql_signing or postgresql_log or postgresql_votes):
                for workers in (1, 2):
                    process, url, slug, path, schema, log_slug = postgresql_service(
                        args.postgresql, workers, folder_path, sink.port, args.postgresql_codes, log=postgresql_log
                    )
                    for kind, name in POSTGRESQL_LOG_WORKLOADS.items():
                        if log_slug:
                            servers[f"{name}, {workers} process{'es' if workers > 1 else ''}"] = process
                            workloads[f"{name}, {workers} process{'es' if workers > 1 else ''}"] = (
                                url,
                                log_script(folder_path, f"postgresql-{workers}-{kind}", log_slug, kind),
                            )
                    postgresql.append((process, schema))
                    if postgresql_votes:
                        votes_name = f"{POSTGRESQL_VOTES}, {workers} process{'es' if workers > 1 else ''}"
                        seeded = votes_bench.seed_round(
                            postgresql_url(args.postgresql, schema), slug, folder_path, f"postgresql-{workers}"
                        )
                        servers[votes_name] = process
                        workloads[votes_name] = (
                            url,
                            votes_bench.vote_script(folder_path, f"postgresql-{workers}-votes", seeded),
                        )
                    name = f"{POSTGRESQL_SIGNING}, {workers} process{'es' if workers > 1 else ''}"
                    servers[name] = process
                    workloads[name] = (url, signing_script(folder_path, slug, path, path.stem))
                    signing_rows[name] = args.postgresql_codes
            if args.only:
                baselines = ("bare Starlette app", "/healthz")
                workloads = {
                    name: spec
                    for name, spec in workloads.items()
                    if name in baselines or any(part in name for part in wanted)
                }
            # A signing workload spends each code once: every run starts past the codes the runs
            # before it may have used (requests sent, plus what was still in flight).
            codes_used = dict.fromkeys(signing_rows, 0)

            def measure(name: str, url: str, script: Path | None, duration: int) -> Result:
                if name in codes_used or name == EMAIL:
                    result = measure_alone(name, url, script, duration)
                else:  # every other workload runs with signing going on beside it
                    background.start()
                    try:
                        result = measure_alone(name, url, script, duration)
                    finally:
                        background.stop()
                server = servers.get(name, bare if name == "bare Starlette app" else service)
                result.memory_mb = peak_memory_mb(server.pid)
                return result

            def measure_alone(name: str, url: str, script: Path | None, duration: int) -> Result:
                if name == EMAIL:
                    load = email_load.run(service_port, sink, email_slug, duration, EMAIL_SIGNERS)
                    return Result(*asyncio.run(load))
                offset = codes_used.get(name)
                result = run_wrk(wrk, url, duration, args.connections, script, offset)
                if name in codes_used:
                    codes_used[name] += result.requests + 2 * args.connections
                    if codes_used[name] >= signing_rows[name]:
                        sys.exit(f"{name} ran out of codes: raise --codes or --postgresql-codes")
                return result

            for name, (url, script) in workloads.items():  # warm up (and fill the caches)
                measure(name, url, script, 2)
            results: dict[str, list[Result]] = {name: [] for name in workloads}
            for _ in range(args.rounds):
                for name, (url, script) in workloads.items():
                    results[name].append(measure(name, url, script, args.duration))
                if args.verbose:
                    print(" ".join(f"{name}: {runs[-1].rps:,.0f}" for name, runs in results.items()), file=sys.stderr)
            memory = peak_memory_mb(service.pid)
        finally:
            stop(service)
            stop(bare)
            for process, schema in postgresql:
                stop(process)
                subprocess.run(["psql", args.postgresql, "-qc", f"DROP SCHEMA {schema} CASCADE"], capture_output=True)

    bare_runs = results["bare Starlette app"]
    health_runs = results["/healthz"]
    print(
        f"\n{args.rounds} rounds of {args.duration} s per workload, {args.connections} connections, wrk -t{WRK_THREADS}"
    )
    print(f"servers pinned to CPU {SERVER_CPU}, wrk to CPU {WRK_CPU}" if PIN else "not pinned (no taskset)")
    print(f"signing in the background at {BACKGROUND_SIGNATURES_PER_SECOND}/s during every other workload")
    print(f"service peak memory: {memory:.0f} MiB\n")
    print("| workload | requests/s | p50 | p99 | ratio to bare | ratio to /healthz | server peak memory |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, runs in results.items():
        result = median(runs)
        print(
            f"| {name} | {result.rps:,.0f} | {result.p50_ms:.2f} ms | {result.p99_ms:.2f} ms "
            f"| {paired_ratio(runs, bare_runs):.2f} | {paired_ratio(runs, health_runs):.2f} "
            f"| {max(r.memory_mb for r in runs):.0f} MiB |"
        )


def paired_ratio(runs: list[Result], baseline: list[Result]) -> float:
    """The median, over rounds, of the ratio of requests/s within each round."""
    return statistics.median(run.rps / base.rps for run, base in zip(runs, baseline, strict=True))


def median(runs: list[Result]) -> Result:
    return Result(
        statistics.median(r.rps for r in runs),
        statistics.median(r.p50_ms for r in runs),
        statistics.median(r.p99_ms for r in runs),
    )


if __name__ == "__main__":
    main()

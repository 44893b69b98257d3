"""`python main.py check-log`: every stored part of a log recomputed from its entries, run as an operator would."""

from __future__ import annotations

import asyncio
import base64
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from petition import checkpoints, log_check, tlog
from petition.database import Database, Transaction

from .test_cli import MAIN, clean_environ
from .test_log_upgrade import forget_the_log
from .test_signing import count_everything, make_codes, open_petition, petition_id, sign

pytestmark = pytest.mark.usefixtures("organizer")

PADDING = 260  # code batch entries of one code each: the log crosses a tile, and has a level-1 tile


def check_log(settings: object, tmp_path: Path, *args: str, **environ: str) -> subprocess.CompletedProcess[str]:
    """`python main.py check-log ARGS` on the app's database, with its signing key and base URL."""
    key = base64.urlsafe_b64encode(settings.signing_key).decode().rstrip("=")  # type: ignore[attr-defined]
    base = {"DATABASE_URL": settings.database_url, "BASE_URL": settings.base_url, "SIGNING_KEY": key}  # type: ignore[attr-defined]
    return subprocess.run(
        [sys.executable, str(MAIN), "check-log", *args],
        cwd=tmp_path,
        env=clean_environ(tmp_path, {**base, **environ}),
        capture_output=True,
        text=True,
        timeout=120,
    )


async def withdraw(client: httpx.AsyncClient, slug: str, receipt: str) -> None:
    answer = await client.post(f"/api/v1/petitions/{slug}/signatures/withdraw", json={"receipt": receipt})
    assert answer.status_code == 200, answer.text


async def a_log_of_every_kind(app: Starlette, client: httpx.AsyncClient, token: str) -> tuple[str, str]:
    """A published petition whose log holds every kind of entry and more than a tile: 6 signatures
    counted before the log existed (entry 0), a code batch, PADDING more, signatures, a withdrawal
    of a carried-over signature and one of a signature entry. (slug, petition id); count 11."""
    db: Database = app.state.db
    settings = app.state.settings
    slug = await open_petition(client, token)
    pid = await petition_id(db, slug)
    codes = await make_codes(client, token, slug, 20)
    before = [(await sign(client, slug, code)).json()["receipt"] for code in codes[:6]]
    await count_everything(app)
    await forget_the_log(db, pid)
    assert await tlog.start_missing(db, settings) == 1

    async def pad(tx: Transaction) -> None:
        await tlog.append(tx, settings, pid, [(tlog.code_batch_entry(1), None)] * PADDING)
        await tx.execute(
            "UPDATE petitions SET codes_issued = codes_issued + :n WHERE id = :id", {"n": PADDING, "id": pid}
        )

    await db.write(pad)
    after = [(await sign(client, slug, code)).json()["receipt"] for code in codes[6:12]]
    await withdraw(client, slug, before[0])
    await count_everything(app)
    await withdraw(client, slug, after[0])
    await sign(client, slug, codes[12])
    await count_everything(app)
    return slug, pid


async def test_check_log_says_ok_with_the_size_and_count_of_a_good_log(
    app: Starlette, client: httpx.AsyncClient, token: str, tmp_path: Path
) -> None:
    slug, _ = await a_log_of_every_kind(app, client, token)
    other = await open_petition(client, token, slug="another-petition")
    result = check_log(app.state.settings, tmp_path, slug)
    assert (result.returncode, result.stdout, result.stderr) == (0, f"ok {slug} size={2 + PADDING + 9} count=11\n", "")
    every = check_log(app.state.settings, tmp_path)
    assert every.returncode == 0, every.stdout + every.stderr
    assert every.stdout.splitlines() == sorted([f"ok {slug} size=271 count=11", f"ok {other} size=0 count=0"])


async def test_check_log_refuses_an_unknown_slug_with_a_usage_error(
    app: Starlette, client: httpx.AsyncClient, token: str, tmp_path: Path
) -> None:
    from .test_petitions import create

    draft = (await create(client, token, slug="still-a-draft")).json()
    for slug in ("no-such-petition", draft["slug"]):
        result = check_log(app.state.settings, tmp_path, slug)
        assert result.returncode == 2 and result.stdout == ""
        assert result.stderr == f"error: no published petition has the slug '{slug}'\n"


async def test_check_log_verifies_checkpoints_signed_with_a_retired_key_and_refuses_unknown_keys(
    app: Starlette, client: httpx.AsyncClient, token: str, tmp_path: Path
) -> None:
    slug = await open_petition(client, token)
    settings = app.state.settings
    old = checkpoints.signer(settings.signing_key, settings.base_url).vkey
    new_key = base64.urlsafe_b64encode(b"n" * 32).decode().rstrip("=")
    rotated = check_log(settings, tmp_path, slug, SIGNING_KEY=new_key, SIGNING_KEYS_RETIRED=old)
    assert (rotated.returncode, rotated.stdout) == (0, f"ok {slug} size=0 count=0\n"), rotated.stderr
    unknown = check_log(settings, tmp_path, slug, SIGNING_KEY=new_key)
    assert (unknown.returncode, unknown.stdout) == (1, f"FAIL {slug} checkpoint 0 signature does not verify\n")


def flipped(value: bytes, at: int) -> bytes:
    """`value` with the byte at `at` (negative: from the end) changed in its lowest bit."""
    changed = bytearray(value)
    changed[at] ^= 0x01
    return bytes(changed)


def flipped_text(value: str, at: int) -> str:
    """`value` with its character at `at` changed: another base64 letter for a base64 letter (so a
    signature stays well formed), else in its lowest bit."""
    char = value[at]
    changed = (
        ("B" if char == "A" else "A") if char.isascii() and (char.isalnum() or char in "+/") else chr(ord(char) ^ 1)
    )
    return value[:at] + changed + value[at + 1 :]


async def entry_index(db: Database, pid: str, kind: int, nth: int = 0) -> int:
    rows = await db.fetch_all("SELECT idx, data FROM log_entries WHERE petition_id = :p ORDER BY idx", {"p": pid})
    return [int(row["idx"]) for row in rows if bytes(row["data"])[0] == kind][nth]


async def flip_entry(db: Database, pid: str, kind: int, at: int, nth: int = 0) -> None:
    index = await entry_index(db, pid, kind, nth)
    key = {"p": pid, "i": index}
    data = bytes(await db.fetch_val("SELECT data FROM log_entries WHERE petition_id = :p AND idx = :i", key))
    await db.write(
        lambda tx: tx.execute(
            "UPDATE log_entries SET data = :d WHERE petition_id = :p AND idx = :i", {**key, "d": flipped(data, at)}
        )
    )


async def flip_commitment(db: Database, pid: str) -> None:
    index = await entry_index(db, pid, tlog.SIGNATURE, 3)
    key = {"p": pid, "i": index}
    commit = bytes(await db.fetch_val("SELECT commitment FROM log_entries WHERE petition_id = :p AND idx = :i", key))
    await db.write(
        lambda tx: tx.execute(
            "UPDATE log_entries SET commitment = :c WHERE petition_id = :p AND idx = :i",
            {**key, "c": flipped(commit, 5)},
        )
    )


async def flip_tile(db: Database, pid: str, level: int, index: int, at: int) -> None:
    key = {"p": pid, "l": level, "i": index}
    hashes = bytes(
        await db.fetch_val("SELECT hashes FROM log_tiles WHERE petition_id = :p AND level = :l AND idx = :i", key)
    )
    await db.write(
        lambda tx: tx.execute(
            "UPDATE log_tiles SET hashes = :h WHERE petition_id = :p AND level = :l AND idx = :i",
            {**key, "h": flipped(hashes, at)},
        )
    )


async def flip_checkpoint(db: Database, pid: str, size: int | None, line: int, at: int) -> None:
    """A byte of line `line` of the checkpoint of `size` (None: the latest, on the petition's row too)."""
    if size is None:
        size = int(await db.fetch_val("SELECT log_size FROM petitions WHERE id = :p", {"p": pid}))
    key = {"p": pid, "s": size}
    note = await db.fetch_val("SELECT note FROM log_checkpoints WHERE petition_id = :p AND size = :s", key)
    assert note is not None, f"no checkpoint of size {size}"
    start = sum(len(item) + 1 for item in note.split("\n")[:line])
    changed = flipped_text(note, start + at)

    async def unit(tx: Transaction) -> None:
        await tx.execute(
            "UPDATE log_checkpoints SET note = :n WHERE petition_id = :p AND size = :s", {**key, "n": changed}
        )
        await tx.execute(
            "UPDATE petitions SET log_checkpoint = :n WHERE id = :p AND log_checkpoint = :o",
            {**key, "n": changed, "o": note},
        )

    await db.write(unit)


async def flip_column(db: Database, pid: str, column: str, bit: int = 0) -> None:
    """The petition's `column` with its bit `bit` flipped."""
    value = int(await db.fetch_val(f"SELECT {column} FROM petitions WHERE id = :p", {"p": pid}))
    await db.write(
        lambda tx: tx.execute(f"UPDATE petitions SET {column} = :v WHERE id = :p", {"p": pid, "v": value ^ 1 << bit})
    )


async def flip_head_checkpoint(db: Database, pid: str) -> None:
    note = str(await db.fetch_val("SELECT log_checkpoint FROM petitions WHERE id = :p", {"p": pid}))
    await db.write(
        lambda tx: tx.execute(
            "UPDATE petitions SET log_checkpoint = :n WHERE id = :p", {"p": pid, "n": flipped_text(note, len(note) - 5)}
        )
    )


FLIPS = {
    "carried-over entry": (lambda db, pid: flip_entry(db, pid, tlog.CARRIED_OVER, -1), "checkpoint 2 root differs"),
    "code batch entry": (lambda db, pid: flip_entry(db, pid, tlog.CODE_BATCH, -1, 7), "tile 0/0 differs"),
    "signature entry": (lambda db, pid: flip_entry(db, pid, tlog.SIGNATURE, 20, 2), "commitment differs"),
    "signature entry's method": (lambda db, pid: flip_entry(db, pid, tlog.SIGNATURE, 1, 4), "by method 0x03"),
    "withdrawal entry": (
        lambda db, pid: flip_entry(db, pid, tlog.WITHDRAWAL, 1, 1),
        "which does not come before it",
    ),
    "carried-over withdrawal": (lambda db, pid: flip_entry(db, pid, tlog.WITHDRAWAL, -1, 0), "not a signature"),
    "entry kind": (lambda db, pid: flip_entry(db, pid, tlog.CODE_BATCH, 0, 3), "is a withdrawal of 5 bytes, not 9"),
    "commitment": (flip_commitment, "commitment differs"),
    "full tile": (lambda db, pid: flip_tile(db, pid, 0, 0, 100), "tile 0/0 differs"),
    "partial tile": (lambda db, pid: flip_tile(db, pid, 0, 1, -1), "tile 0/1 differs"),
    "level-1 tile": (lambda db, pid: flip_tile(db, pid, 1, 0, 0), "tile 1/0 differs"),
    "checkpoint origin": (lambda db, pid: flip_checkpoint(db, pid, 2, 0, 3), "checkpoint 2 signature does not verify"),
    "checkpoint size": (lambda db, pid: flip_checkpoint(db, pid, 262, 1, 2), "checkpoint 262 "),
    "checkpoint root": (lambda db, pid: flip_checkpoint(db, pid, 2, 2, 10), "checkpoint 2 "),
    "checkpoint signature": (lambda db, pid: flip_checkpoint(db, pid, None, 4, 30), "signature does not verify"),
    "the petition's checkpoint": (flip_head_checkpoint, "the petition's checkpoint is not the latest stored"),
    "count": (lambda db, pid: flip_column(db, pid, "signature_count"), "count 10 but the log says 11"),
    "count by email": (
        lambda db, pid: flip_column(db, pid, "count_email"),
        "count_email and count_code add up to 12, not the count 11",
    ),
    "count by code": (lambda db, pid: flip_column(db, pid, "count_code"), "count"),
    "codes issued": (lambda db, pid: flip_column(db, pid, "codes_issued"), "codes_issued 281 but the log says 280"),
    "carried over": (lambda db, pid: flip_column(db, pid, "log_carried_over"), "log_carried_over 7 but the log says 6"),
    "carried over withdrawn": (
        lambda db, pid: flip_column(db, pid, "log_carried_withdrawn"),
        "log_carried_withdrawn 0",
    ),
    "log size": (lambda db, pid: flip_column(db, pid, "log_size"), "log"),
    "log size, a high bit": (
        lambda db, pid: flip_column(db, pid, "log_size", 40),
        "log_size 1099511628047 but the log",
    ),
}


@pytest.mark.parametrize("flip", list(FLIPS))
async def test_check_log_catches_one_flipped_byte_in_anything_stored(
    app: Starlette, client: httpx.AsyncClient, token: str, tmp_path: Path, flip: str
) -> None:
    slug, pid = await a_log_of_every_kind(app, client, token)
    change, what = FLIPS[flip]
    await change(app.state.db, pid)
    result = check_log(app.state.settings, tmp_path, slug)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.startswith(f"FAIL {slug} ") and what in result.stdout, result.stdout
    assert result.stdout.count("\n") == 1 and result.stderr == ""


async def test_check_log_reads_each_log_in_one_snapshot_while_the_service_appends(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db: Database = app.state.db
    settings = app.state.settings
    slug = await open_petition(client, token)
    pid = await petition_id(db, slug)
    appending = True

    async def append_code_batches() -> None:
        while appending:

            async def unit(tx: Transaction) -> None:
                await tlog.append_code_batch(tx, settings, pid, 1)

            await db.write(unit)

    appender = asyncio.create_task(append_code_batches())
    verdicts: list[log_check.Verdict] = []
    try:
        while len({verdict.size for verdict in verdicts}) < 20:
            verdicts += [verdict async for verdict in log_check.check(db, settings, slug)]
            await asyncio.sleep(0.001)  # the appender's commits come between checks, and during them
    finally:
        appending = False
        await appender
    assert [verdict.problem for verdict in verdicts] == [None] * len(verdicts)


async def test_check_log_fails_a_published_petition_whose_log_has_not_started(
    app: Starlette, client: httpx.AsyncClient, token: str, tmp_path: Path
) -> None:
    slug = await open_petition(client, token)
    await forget_the_log(app.state.db, await petition_id(app.state.db, slug))
    result = check_log(app.state.settings, tmp_path)
    assert (result.returncode, result.stdout) == (1, f"FAIL {slug} the log has not started\n")


async def test_check_log_needs_the_signing_key_not_the_address_the_service_had_when_it_signed(
    app: Starlette, client: httpx.AsyncClient, token: str, tmp_path: Path
) -> None:
    slug, _ = await a_log_of_every_kind(app, client, token)
    result = check_log(app.state.settings, tmp_path, slug, BASE_URL="http://127.0.0.1:9")
    assert result.returncode == 0 and result.stdout.startswith(f"ok {slug} "), result.stdout + result.stderr


async def test_a_stored_value_of_the_wrong_type_is_a_failure_line_not_a_crash(
    app: Starlette, client: httpx.AsyncClient, token: str, tmp_path: Path
) -> None:
    slug, pid = await a_log_of_every_kind(app, client, token)
    db: Database = app.state.db
    await db.write(
        lambda tx: tx.execute(
            "UPDATE log_entries SET data = :d WHERE petition_id = :p AND idx = 0", {"p": pid, "d": b""}
        )
    )
    if db.dialect == "sqlite":  # a text where bytes belong (PostgreSQL's types refuse it)
        await db.write(
            lambda tx: tx.execute("UPDATE log_entries SET data = 'text' WHERE petition_id = :p AND idx = 0", {"p": pid})
        )
    result = check_log(app.state.settings, tmp_path, slug)
    assert result.returncode == 1 and result.stdout.startswith(f"FAIL {slug} "), result.stdout + result.stderr
    assert "Traceback" not in result.stderr


# -- The purge record --------------------------------------------------------------------------

COMMIT = bytes(range(32))


async def a_signed_log(app: Starlette, client: httpx.AsyncClient, token: str) -> tuple[str, str]:
    """A published petition whose log is a code batch of 3 and 2 signatures: (slug, id); count 2."""
    slug = await open_petition(client, token)
    for code in (await make_codes(client, token, slug, 3))[:2]:
        assert (await sign(client, slug, code)).status_code == 201
    await count_everything(app)
    return slug, await petition_id(app.state.db, slug)


async def append_after_the_log(
    app: Starlette, pid: str, entries: list[tuple[bytes, bytes | None]], *, purged: bool
) -> None:
    """`entries` appended and signed by the service's key; purged_at set too when `purged` (as the
    purge sets it, in the same write)."""
    settings = app.state.settings

    async def unit(tx: Transaction) -> None:
        if entries:
            await tlog.append(tx, settings, pid, entries)
        if purged:
            await tx.execute("UPDATE petitions SET purged_at = :t WHERE id = :p", {"t": 1_780_000_000, "p": pid})

    await app.state.db.write(unit)


async def test_check_log_accepts_and_reports_a_purge_record_with_the_count_unchanged(
    app: Starlette, client: httpx.AsyncClient, token: str, tmp_path: Path
) -> None:
    slug, pid = await a_signed_log(app, client, token)
    assert check_log(app.state.settings, tmp_path, slug).stdout == f"ok {slug} size=3 count=2\n"
    await append_after_the_log(app, pid, [(tlog.purge_entry(), None)], purged=True)
    result = check_log(app.state.settings, tmp_path, slug)
    assert (result.returncode, result.stdout, result.stderr) == (0, f"ok {slug} size=4 count=2 purged=3\n", "")


PURGE = (tlog.purge_entry(), None)
BROKEN_PURGES = {
    "a purge record of 2 bytes": ([(b"\x04\x00", None)], True, "entry 3 is a purge record of 2 bytes, not 1"),
    "two purge records": (
        [PURGE, PURGE],
        True,
        "entry 4 is a second purge record (entry 3 was the first): identifying data is destroyed once",
    ),
    "a signature after the purge": (
        [PURGE, (tlog.signature_entry("email", COMMIT), COMMIT)],
        True,
        "entry 4 is a signature after the purge record (entry 3): ",
    ),
    "a withdrawal after the purge": (
        [PURGE, (tlog.withdrawal_entry(1), None)],
        True,
        "entry 4 is a withdrawal after the purge record (entry 3): ",
    ),
    "a code batch after the purge": (
        [PURGE, (tlog.code_batch_entry(1), None)],
        True,
        "entry 4 is a code batch after the purge record (entry 3): ",
    ),
    "purged_at without a purge record": ([], True, "purged_at is set but the log holds no purge record"),
    "a purge record without purged_at": ([PURGE], False, "the log records a purge (entry 3) but purged_at is not set"),
}


@pytest.mark.parametrize("broken", list(BROKEN_PURGES))
async def test_check_log_fails_a_purge_record_that_breaks_the_logs_rules(
    app: Starlette, client: httpx.AsyncClient, token: str, tmp_path: Path, broken: str
) -> None:
    entries, purged, what = BROKEN_PURGES[broken]
    slug, pid = await a_signed_log(app, client, token)
    await append_after_the_log(app, pid, entries, purged=purged)
    result = check_log(app.state.settings, tmp_path, slug)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.startswith(f"FAIL {slug} {what}"), result.stdout
    assert result.stdout.count("\n") == 1 and result.stderr == ""

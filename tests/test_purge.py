"""The retention purge: a closed petition's identifying data is destroyed, bytes and all, once.

A petition is signed by work email (a shown name, an unapproved reason, a confirmed updates
address) and by printed code (an approved reason), with one code left unused and one attempt
left unverified. After the purge its sentinels (the work address's dedupe tag, computed here
from PEPPER; the updates address's sealed bytes; the unapproved reason; the unused code's hash)
are in no table, and on SQLite in neither the database file nor its WAL; what is kept (count,
timeline, approved reasons, shown names, the log with its 0x04 entry and a checkpoint at the
new size, receipts with their inclusion proofs) is unchanged. Every refusal changes nothing.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from starlette.applications import Starlette

from petition import checkpoints, log_check, merkle, pending, purge, queries, signatures, tlog
from petition.batcher import close_batch
from petition.cli import main
from petition.csrf import FORM_FIELD
from petition.database import Database, Transaction, now
from petition.petitions import PetitionError
from petition.settings import Settings

from .conftest import ORGANIZER_PASSWORD, SmtpSink, make_settings, smtp_settings
from .test_email_signing import ask, codes_for, verify
from .test_leaks import database_bytes
from .test_login import csrf_of, log_in
from .test_petitions import bearer, create, other_organizer_token
from .test_processes import postgres_url as postgres_url  # the fixture: a fresh schema of its own

pytestmark = pytest.mark.usefixtures("organizer")

WORKER = "purge.worker.sentinel@example.com"
WAITING = "purge.waiting.sentinel@example.com"
UPDATES = "purge.updates.sentinel@elsewhere.org"
SHOWN_NAME = "Kept Shownname"
HIDDEN_REASON = "qz-purged-unapproved-reason"
APPROVED_REASON = "qz-kept-approved-reason"
DAY = 86400
# Rows of these tables that belong to the petition are what a purge destroys.
DESTROYED = (
    "email_dedupe",
    "contacts",
    "contact_confirmations",
    "sign_attempts",
    "pending_signatures",
    "outbox",
    "code_email_counts",
)


@pytest.fixture
def settings(tmp_path: Path, db_url: str, smtp: SmtpSink) -> Settings:
    # LOG_BATCH_SECONDS 2: the batcher's job (which purges too) looks every second.
    return make_settings(
        tmp_path, database_url=db_url, outbox_retry_seconds=1, log_batch_seconds=2, **smtp_settings(smtp)
    )


@dataclass
class Signed:
    slug: str
    id: str
    receipts: list[str]
    tag: str
    sealed_contact: str
    unused_code_hash: str


async def seed(app: Starlette, client: httpx.AsyncClient, smtp: SmtpSink, token: str, *, close: bool = True) -> Signed:
    """A petition signed both ways, its batch counted, a reason approved, then (by default) closed."""
    fields = {"verification": ["email", "code"], "allowed_domains": ["example.com"]}
    draft = (await create(client, token, show_names=True, reasons_enabled=True, **fields)).json()
    slug, pid = draft["slug"], draft["id"]
    assert (await client.post(f"/api/v1/petitions/{pid}/publish", headers=bearer(token))).status_code == 200
    used, _unused = (
        await client.post(f"/api/v1/petitions/{slug}/codes", json={"count": 2}, headers=bearer(token))
    ).json()["codes"]
    api = f"/api/v1/petitions/{slug}/signatures"
    extra = {"name": SHOWN_NAME, "show_name": True, "reason": HIDDEN_REASON, "updates": UPDATES}
    attempt = (await ask(client, slug, WORKER, **extra)).json()["attempt"]
    [code] = await codes_for(app, smtp, WORKER)
    by_email = (await verify(client, slug, attempt, code)).json()["receipt"]
    [updates_code] = await codes_for(app, smtp, UPDATES)
    confirmed = await client.post(f"{api}/updates/confirm", json={"receipt": by_email, "code": updates_code})
    assert confirmed.status_code == 200
    by_code = (await client.post(api, json={"code": used, "reason": APPROVED_REASON})).json()["receipt"]
    # An updates address never confirmed: it waits with its code.
    asked = await client.post(f"{api}/updates", json={"receipt": by_code, "address": "unconfirmed@elsewhere.org"})
    assert asked.status_code == 202, asked.text
    db: Database = app.state.db
    settings: Settings = app.state.settings
    await close_batch(db, settings, pid)
    await db.write(
        lambda tx: tx.execute(
            "UPDATE signer_reasons SET status = 'approved' WHERE reason = :reason", {"reason": APPROVED_REASON}
        )
    )
    # An attempt never verified, and mail about the petition not sent yet.
    assert (await ask(client, slug, WAITING)).status_code == 202
    await db.write(queue_unsent(pid))
    await app.state.sender.drain()  # what is due goes now, so that only the unsent message waits
    if close:
        assert (await client.post(f"/api/v1/petitions/{slug}/close", headers=bearer(token))).status_code == 200
    # The tag exactly as the service computes it: HMAC-SHA256(PEPPER, "dedupe/v2" | petition | address).
    tag = hmac.new(settings.pepper, f"dedupe/v2|{pid}|{WORKER}".encode(), hashlib.sha256).hexdigest()
    sealed = await db.fetch_val("SELECT sealed FROM contacts WHERE petition_id = :p", {"p": pid})
    unused_hash = await db.fetch_val("SELECT code_hash FROM signing_codes WHERE state = 0")
    assert sealed and unused_hash
    return Signed(slug, pid, [by_email, by_code], tag, sealed, unused_hash)


def queue_unsent(pid: str) -> Any:
    async def unit(tx: Transaction) -> None:
        values = {"id": f"unsent-{pid}", "sealed": "v1.x", "due_at": now() + 10 * DAY, "expires_at": now() + 20 * DAY}
        await tx.execute(queries.INSERT_OUTBOX, {**values, "petition_id": pid, "update_id": None})

    return unit


async def sentinels_on_disk(app: Starlette, signed: Signed, dialect: str) -> dict[str, bool]:
    """Which sentinels the database holds: on SQLite read from the raw bytes of its file and WAL."""
    stored = await database_bytes(app.state.db, app.state.settings, dialect)
    values = {
        "dedupe tag": signed.tag,
        "updates address (sealed)": signed.sealed_contact,
        "unapproved reason": HIDDEN_REASON,
        "unused code hash": signed.unused_code_hash,
    }
    return {what: value.encode() in stored for what, value in values.items()}


async def snapshot(app: Starlette, client: httpx.AsyncClient, signed: Signed) -> dict[str, Any]:
    """What a purge must not change, and must: counts, timeline, kept rows, and the destroyed tables."""
    db: Database = app.state.db
    app.state.public_cache.clear()
    public = (await client.get(f"/api/v1/petitions/{signed.slug}")).json()
    timeline = (await client.get(f"/api/v1/petitions/{signed.slug}/timeline")).json()
    key = {"p": signed.id}
    return {
        "public": public,
        "timeline": timeline,
        "approved": await db.fetch_all("SELECT reason FROM signer_reasons WHERE status = 'approved'"),
        "names": await db.fetch_all("SELECT name FROM signer_names WHERE petition_id = :p", key),
        "signatures": await db.fetch_all("SELECT receipt_hash, withdrawn FROM signatures ORDER BY receipt_hash"),
        "head": await db.fetch_one("SELECT log_size, log_checkpoint, purged_at FROM petitions WHERE id = :p", key),
        "reasons": await db.fetch_val("SELECT COUNT(*) FROM signer_reasons"),
        "codes": await db.fetch_val("SELECT COUNT(*) FROM signing_codes"),
        "audit": await db.fetch_val("SELECT COUNT(*) FROM audit_log WHERE action = :a", {"a": purge.AUDIT_ACTION}),
        **{
            table: await db.fetch_val(f"SELECT COUNT(*) FROM {table} WHERE petition_id = :p", key)
            for table in DESTROYED
        },
    }


async def test_a_purge_destroys_identifying_data_from_disk_and_keeps_count_timeline_log_and_receipts(
    app: Starlette, client: httpx.AsyncClient, smtp: SmtpSink, token: str, dialect: str
) -> None:
    signed = await seed(app, client, smtp, token)
    db: Database = app.state.db
    assert await db.checkpoint()
    assert all((await sentinels_on_disk(app, signed, dialect)).values()), "each sentinel is found before the purge"
    before = await snapshot(app, client, signed)
    # Pending entries were taken by the final batch, which the purge closes first if need be.
    assert all(before[table] for table in DESTROYED if table != "pending_signatures"), before

    answer = await client.post(f"/api/v1/petitions/{signed.slug}/purge", headers=bearer(token))
    assert answer.status_code == 200, answer.text
    assert answer.json()["purged_at"] is not None and answer.json()["state"] == "closed"
    assert answer.json()["retention_days"] == 30, "the organizer's view"

    assert not any((found := await sentinels_on_disk(app, signed, dialect)).values()), found
    after = await snapshot(app, client, signed)
    assert all(after[table] == 0 for table in DESTROYED), after
    assert after["codes"] == 0, "used codes' hashes go too"
    assert await db.fetch_val("SELECT COUNT(*) FROM code_batches WHERE plaintext IS NOT NULL") == 0
    assert await db.fetch_val("SELECT used FROM code_batches WHERE petition_id = :p", {"p": signed.id}) == 1
    if dialect == "postgresql":
        assert await db.fetch_val("SELECT COUNT(*) FROM pending_dedupe") == 0
    for kept in ("approved", "names", "signatures"):
        assert after[kept] == before[kept], kept
    # The timeline keeps every bucket and event, and gains the purge.
    assert after["timeline"]["buckets"] == before["timeline"]["buckets"]
    assert after["timeline"]["events"][:-1] == before["timeline"]["events"]
    assert after["timeline"]["events"][-1]["kind"] == "purged"
    assert after["public"]["signature_count"] == before["public"]["signature_count"] == 2
    assert after["public"]["purged_at"] is not None and before["public"]["purged_at"] is None
    assert after["reasons"] == 1 and after["audit"] == before["audit"] + 1

    # The log: one 0x04 entry at its end, with a checkpoint at the new size.
    size = after["head"]["log_size"]
    assert size == before["head"]["log_size"] + 1
    last = await db.fetch_val(
        "SELECT data FROM log_entries WHERE petition_id = :p AND idx = :i", {"p": signed.id, "i": size - 1}
    )
    assert bytes(last) == tlog.purge_entry() == b"\x04"
    assert checkpoints.root_of(after["head"]["log_checkpoint"])[1] == size
    stored = await db.fetch_val(
        "SELECT note FROM log_checkpoints WHERE petition_id = :p AND size = :s", {"p": signed.id, "s": size}
    )
    assert stored == after["head"]["log_checkpoint"]
    # The whole log verifies, with the verifier's own rules, and records the purge.
    [verdict] = [verdict async for verdict in log_check.check(db, app.state.settings, signed.slug)]
    assert verdict.line == f"ok {signed.slug} size={size} count=2 purged={size - 1}"

    # Receipts still get their status and an inclusion proof in the tree that holds the purge.
    entries = await db.fetch_all("SELECT data FROM log_entries WHERE petition_id = :p ORDER BY idx", {"p": signed.id})
    leaves = [merkle.leaf_hash(bytes(row["data"])) for row in entries]
    for receipt in signed.receipts:
        status = await client.post(f"/api/v1/petitions/{signed.slug}/signatures/status", json={"receipt": receipt})
        body = status.json()
        assert status.status_code == 200 and body["status"] == "counted", body
        assert body["tree_size"] == size
        assert [base64.b64decode(item) for item in body["proof"]] == merkle.inclusion_proof(body["leaf_index"], leaves)
    assert merkle.root(leaves) == checkpoints.root_of(after["head"]["log_checkpoint"])[2]


async def test_every_refused_purge_changes_nothing(
    app: Starlette, client: httpx.AsyncClient, smtp: SmtpSink, token: str
) -> None:
    signed = await seed(app, client, smtp, token, close=False)
    before = await snapshot(app, client, signed)
    url = f"/api/v1/petitions/{signed.slug}/purge"
    still_open = await client.post(url, headers=bearer(token))
    assert still_open.status_code == 409 and "open: close it first" in still_open.json()["error"]["message"]
    draft = (await create(client, token, slug="a-draft-to-purge")).json()
    refused = await client.post(f"/api/v1/petitions/{draft['id']}/purge", headers=bearer(token))
    assert refused.status_code == 409 and "draft" in refused.json()["error"]["message"]
    assert (await client.post("/api/v1/petitions/no-such-petition/purge", headers=bearer(token))).status_code == 404
    assert (await client.post(url)).status_code == 401
    bob = await other_organizer_token(app)
    assert (await client.post(url, headers=bearer(bob))).status_code == 404
    assert await snapshot(app, client, signed) == before

    assert (await client.post(f"/api/v1/petitions/{signed.slug}/close", headers=bearer(token))).status_code == 200
    assert (await client.post(f"/api/v1/petitions/{signed.slug}/purge", headers=bearer(bob))).status_code == 404
    assert (await client.post(url, headers=bearer(token))).status_code == 200
    purged = await snapshot(app, client, signed)
    twice = await client.post(url, headers=bearer(token))
    assert twice.status_code == 409
    message = twice.json()["error"]["message"]
    assert message.startswith("This petition's identifying data was already destroyed on ") and message.endswith(".")
    assert await snapshot(app, client, signed) == purged


async def test_after_a_purge_no_updates_address_is_taken(
    app: Starlette, client: httpx.AsyncClient, smtp: SmtpSink, token: str, db_url: str
) -> None:
    signed = await seed(app, client, smtp, token)
    url = f"/api/v1/petitions/{signed.slug}/signatures/updates"
    if app.state.db.dialect == "postgresql":
        # While another process's purge holds the petition's purge lock, an address is refused too.
        purging = await asyncpg.connect(db_url)
        try:
            async with purging.transaction():
                await purging.execute(
                    "SELECT pg_advisory_xact_lock(hashtextextended('petition-purge/' || $1, 0))", signed.id
                )
                body = {"receipt": signed.receipts[1], "address": "racing.sentinel@elsewhere.org"}
                answer = await client.post(url, json=body)
                assert answer.status_code == 409 and "destroyed" in answer.json()["error"]["message"]
        finally:
            await purging.close()
        assert await app.state.db.fetch_val("SELECT COUNT(*) FROM contact_confirmations") == 1, "only seed's"
    assert (await client.post(f"/api/v1/petitions/{signed.slug}/purge", headers=bearer(token))).status_code == 200
    answer = await client.post(url, json={"receipt": signed.receipts[1], "address": "late.sentinel@elsewhere.org"})
    assert answer.status_code == 409 and "destroyed" in answer.json()["error"]["message"]
    assert await app.state.db.fetch_val("SELECT COUNT(*) FROM contact_confirmations") == 0


async def test_after_a_purge_the_receipt_pages_offer_no_updates(
    app: Starlette, client: httpx.AsyncClient, smtp: SmtpSink, token: str
) -> None:
    signed = await seed(app, client, smtp, token, close=False)
    [code] = (
        await client.post(f"/api/v1/petitions/{signed.slug}/codes", json={"count": 1}, headers=bearer(token))
    ).json()["codes"]
    # Signed on the page with an updates address: this device's receipt page offers to confirm it.
    answer = await client.post(f"/p/{signed.slug}/sign", data={"code": code, "updates": "late.updates@elsewhere.org"})
    assert answer.status_code == 303 and answer.headers["location"] == f"/p/{signed.slug}/signed"
    assert "Confirm your updates address" in (await client.get(f"/p/{signed.slug}/signed")).text
    receipt_page = f"/p/{signed.slug}/receipt"
    before = (await client.post(receipt_page, data={"receipt": signed.receipts[0]})).text
    assert "Stop updates" in before and "Updates by email" in before
    assert (await client.post(f"/api/v1/petitions/{signed.slug}/close", headers=bearer(token))).status_code == 200
    assert (await client.post(f"/api/v1/petitions/{signed.slug}/purge", headers=bearer(token))).status_code == 200
    after_signing = (await client.get(f"/p/{signed.slug}/signed")).text
    assert "Your receipt" in after_signing and "Confirm your updates address" not in after_signing
    assert f'action="/p/{signed.slug}/updates"' not in after_signing
    for receipt in signed.receipts:
        after = await client.post(receipt_page, data={"receipt": receipt})
        assert after.status_code == 200 and "counted" in after.text
        assert "Stop updates" not in after.text and "Updates by email" not in after.text
        assert f'action="/p/{signed.slug}/updates"' not in after.text
        assert "it keeps no updates addresses, and sends no updates" in after.text
    # The refusals stay, for a form sent from a page loaded before the purge.
    stop = await client.post(receipt_page, data={"receipt": signed.receipts[0], "action": "unsubscribe"})
    assert stop.status_code == 409 and "Stop updates" not in stop.text
    give = await client.post(
        f"/p/{signed.slug}/updates", data={"receipt": signed.receipts[0], "address": "later@elsewhere.org"}
    )
    assert give.status_code == 409 and "Updates by email" not in give.text


async def test_the_job_purges_when_the_retention_period_ends_not_a_second_early(
    app: Starlette, client: httpx.AsyncClient, smtp: SmtpSink, token: str
) -> None:
    db: Database = app.state.db
    settings: Settings = app.state.settings
    signed = await seed(app, client, smtp, token)
    closed_at = int(await db.fetch_val("SELECT closed_at FROM petitions WHERE id = :p", {"p": signed.id}))
    # An open petition past its deadline counts as closed at its deadline, stamped or not.
    deadline = now() + 3600
    late = (await create(client, token, slug="ends-by-deadline", retention_days=2)).json()
    assert (await client.post(f"/api/v1/petitions/{late['id']}/publish", headers=bearer(token))).status_code == 200
    await db.write(
        lambda tx: tx.execute("UPDATE petitions SET closes_at = :d WHERE id = :p", {"d": deadline, "p": late["id"]})
    )

    assert await purge.purge_due(db, settings, at=deadline + 2 * DAY - 1) == []
    assert await db.fetch_val("SELECT COUNT(*) FROM petitions WHERE purged_at IS NOT NULL") == 0
    assert await purge.purge_due(db, settings, at=deadline + 2 * DAY) == ["ends-by-deadline"]
    assert await purge.purge_due(db, settings, at=closed_at + 30 * DAY - 1) == []
    assert await purge.purge_due(db, settings, at=closed_at + 30 * DAY) == [signed.slug]
    assert await purge.purge_due(db, settings, at=closed_at + 60 * DAY) == [], "never twice"
    purged_at = await db.fetch_val("SELECT purged_at FROM petitions WHERE id = :p", {"p": signed.id})
    assert purged_at == closed_at + 30 * DAY
    kinds = [
        bytes(r["data"])[0]
        for r in await db.fetch_all("SELECT data FROM log_entries WHERE petition_id = :p", {"p": signed.id})
    ]
    assert kinds.count(tlog.PURGE) == 1


async def test_a_purge_that_fails_halfway_leaves_the_petition_as_it_was_and_the_job_tries_again(
    app: Starlette, client: httpx.AsyncClient, smtp: SmtpSink, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db: Database = app.state.db
    settings: Settings = app.state.settings
    signed = await seed(app, client, smtp, token)
    before = await snapshot(app, client, signed)

    async def broken_append(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the disk went away after the deletes")

    monkeypatch.setattr(purge.tlog, "append", broken_append)
    later = now() + 31 * DAY
    assert await purge.purge_due(db, settings, at=later) == []
    assert await snapshot(app, client, signed) == before, "every delete rolled back with it"
    monkeypatch.undo()
    assert await purge.purge_due(db, settings, at=later) == [signed.slug]
    assert (await snapshot(app, client, signed))["email_dedupe"] == 0


async def test_a_petition_waiting_for_its_final_batch_is_counted_before_it_is_purged(
    app: Starlette, client: httpx.AsyncClient, smtp: SmtpSink, token: str
) -> None:
    db: Database = app.state.db
    signed = await seed(app, client, smtp, token, close=False)
    [spare] = (
        await client.post(f"/api/v1/petitions/{signed.slug}/codes", json={"count": 1}, headers=bearer(token))
    ).json()["codes"]
    late = (await client.post(f"/api/v1/petitions/{signed.slug}/signatures", json={"code": spare})).json()["receipt"]
    assert (await client.post(f"/api/v1/petitions/{signed.slug}/close", headers=bearer(token))).status_code == 200
    assert (await client.post(f"/api/v1/petitions/{signed.slug}/purge", headers=bearer(token))).status_code == 200
    assert await db.fetch_val("SELECT signature_count FROM petitions WHERE id = :p", {"p": signed.id}) == 3
    status = await client.post(f"/api/v1/petitions/{signed.slug}/signatures/status", json={"receipt": late})
    assert status.json()["status"] == "counted"


async def test_the_organizer_page_asks_then_destroys_and_says_when(
    app: Starlette, client: httpx.AsyncClient, smtp: SmtpSink, token: str
) -> None:
    signed = await seed(app, client, smtp, token)
    assert (await log_in(client, "alice@example.org", ORGANIZER_PASSWORD)).status_code == 303
    overview = await client.get(f"/organize/petitions/{signed.id}")
    assert "Destroy identifying data now…" in overview.text
    ask_page = await client.get(f"/organize/petitions/{signed.id}/purge")
    assert ask_page.status_code == 200
    for words in (
        "keyed hashes of the work addresses",
        "updates",
        "printed signing code",
        "not approved",
        "What stays",
        "cannot be undone",
    ):
        assert words in ask_page.text, words
    csrf = await csrf_of(client, f"/organize/petitions/{signed.id}/purge")
    done = await client.post(f"/organize/petitions/{signed.id}/purge", data={FORM_FIELD: csrf})
    assert done.status_code == 303 and done.headers["location"].endswith("?done=purged")
    page = await client.get(done.headers["location"])
    assert "Its identifying data was destroyed on " in page.text and "Destroy identifying data now" not in page.text
    again = await client.get(f"/organize/petitions/{signed.id}/purge")
    assert again.status_code == 409 and "already destroyed" in again.text


async def test_the_command_line_purges_a_closed_petition_and_refuses_the_rest(
    app: Starlette,
    client: httpx.AsyncClient,
    smtp: SmtpSink,
    token: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings: Settings = app.state.settings
    environment = {
        "DATABASE_URL": settings.database_url,
        "DATA_DIR": str(settings.data_dir),
        "BASE_URL": settings.base_url,
    }
    for name in ("secret_key", "pepper", "encryption_key", "signing_key"):
        environment[name.upper()] = base64.b64encode(getattr(settings, name)).decode()
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    signed = await seed(app, client, smtp, token, close=False)
    capsys.readouterr()
    before = await snapshot(app, client, signed)

    def run(*argv: str) -> tuple[int, str, list[str]]:
        """Exit status, stdout, and the lines stderr says as errors (the app's access log writes there too)."""
        app.state.access_log.flush()
        capsys.readouterr()
        status = main(list(argv))
        out, err = capsys.readouterr()
        return status, out, [line for line in err.splitlines() if line.startswith("error:")]

    unknown = await asyncio.to_thread(run, "purge", "no-such-slug")
    assert unknown == (2, "", ["error: no petition has the slug 'no-such-slug'"])
    status, out, errors = await asyncio.to_thread(run, "purge", signed.slug)
    open_line = "error: This petition is open: close it first. Identifying data is destroyed only once it has closed."
    assert (status, out, errors) == (1, "", [open_line])
    assert await snapshot(app, client, signed) == before
    assert (await client.post(f"/api/v1/petitions/{signed.slug}/close", headers=bearer(token))).status_code == 200
    status, out, errors = await asyncio.to_thread(run, "purge", signed.slug)
    assert (status, out, errors) == (0, f"purged {signed.slug}: its identifying data is destroyed\n", [])
    status, out, errors = await asyncio.to_thread(run, "purge", signed.slug)
    assert status == 1 and len(errors) == 1 and "already destroyed on" in errors[0]


async def test_the_batcher_job_purges_a_petition_whose_retention_period_is_over(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    draft = (await create(client, token, verification=["code"])).json()
    assert (await client.post(f"/api/v1/petitions/{draft['id']}/publish", headers=bearer(token))).status_code == 200
    await app.state.db.write(
        lambda tx: tx.execute("UPDATE petitions SET retention_days = 0 WHERE id = :p", {"p": draft["id"]})
    )
    assert (await client.post(f"/api/v1/petitions/{draft['id']}/close", headers=bearer(token))).status_code == 200
    for _ in range(100):  # the batcher's job looks every second (LOG_BATCH_SECONDS / 2)
        if (await client.get(f"/api/v1/petitions/{draft['slug']}")).json()["purged_at"]:
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the job did not purge the petition")


async def test_a_purged_petition_takes_nothing_more_even_from_a_write_that_read_the_time_before_its_deadline(
    app: Starlette, client: httpx.AsyncClient, smtp: SmtpSink, token: str
) -> None:
    """Purged at its deadline, before the job stamped it closed: a signature whose write read the
    time earlier (or whose clock is behind) must still be refused, and the log takes nothing after
    its purge record."""
    db: Database = app.state.db
    settings: Settings = app.state.settings
    signed = await seed(app, client, smtp, token, close=False)
    [spare] = (
        await client.post(f"/api/v1/petitions/{signed.slug}/codes", json={"count": 1}, headers=bearer(token))
    ).json()["codes"]
    deadline = now() + 3600
    await db.write(
        lambda tx: tx.execute("UPDATE petitions SET closes_at = :d WHERE id = :p", {"d": deadline, "p": signed.id})
    )
    await purge.purge(db, settings, petition_id=signed.id, organizer_id=None, why="a test", at=deadline)
    size = await db.fetch_val("SELECT log_size FROM petitions WHERE id = :p", {"p": signed.id})

    answer = await client.post(f"/api/v1/petitions/{signed.slug}/signatures", json={"code": spare})
    assert answer.status_code == 409, answer.text
    assert await db.fetch_val("SELECT COUNT(*) FROM pending_signatures") == 0
    page = await client.get(f"/p/{signed.slug}")
    assert "Identifying data destroyed" in page.text

    async def late_entry(tx: Transaction) -> None:
        await tlog.append(tx, settings, signed.id, [(tlog.withdrawal_entry(1), None)])

    with pytest.raises(tlog.LogError, match="takes no more entries"):
        await db.write(late_entry)
    assert await db.fetch_val("SELECT log_size FROM petitions WHERE id = :p", {"p": signed.id}) == size


async def test_a_purge_waits_for_a_signature_still_being_accepted_and_refuses_until_it_is_counted(
    app: Starlette,
    client: httpx.AsyncClient,
    smtp: SmtpSink,
    token: str,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On PostgreSQL another process's write may have accepted a signature just before the close
    and not committed yet: the purge waits for it (the petition's purge lock), then sees it waiting
    and refuses, so no accepted signature is destroyed uncounted. (On SQLite the one writer runs
    the two in turn: the purge sees it all the same.)"""
    db: Database = app.state.db
    settings: Settings = app.state.settings
    signed = await seed(app, client, smtp, token)
    petition = await db.fetch_one(queries.SELECT_PETITION_BY_ID, {"id": signed.id})
    assert petition is not None
    receipt = "in-flight-receipt"
    key = pending.signature_key(receipt)
    content = signatures.signature_content(petition, receipt, "email", {}, None)
    sealed = pending.seal(settings, kind=pending.SIGNATURE, key=key, petition=petition, content=content)
    insert = "INSERT INTO pending_signatures (pending_key, petition_id, kind, sealed) VALUES ($1, $2, 0, $3)"

    if db.dialect == "postgresql":
        in_flight = await asyncpg.connect(db_url)
        try:
            accepting = in_flight.transaction()
            await accepting.start()
            await in_flight.execute(
                "SELECT pg_advisory_xact_lock_shared(hashtextextended('petition-purge/' || $1, 0))", signed.id
            )
            await in_flight.execute(insert, key, signed.id, sealed)
            purging = asyncio.create_task(
                purge.purge(db, settings, petition_id=signed.id, organizer_id=None, why="a test")
            )
            await asyncio.sleep(0.5)
            assert not purging.done(), "the purge waits for the write in flight"
            await accepting.commit()
            with pytest.raises(PetitionError) as refused:
                await purging
        finally:
            await in_flight.close()
    else:
        sqlite_insert = "INSERT INTO pending_signatures (pending_key, petition_id, kind, sealed) VALUES (:k, :p, 0, :s)"
        await db.write(lambda tx: tx.execute(sqlite_insert, {"k": key, "p": signed.id, "s": sealed}))

        async def arrives_after_the_first_look(*args: object, **kwargs: object) -> None:
            return None  # as if the entry came after the purge closed the final batch

        monkeypatch.setattr(purge.batcher, "close_batch", arrives_after_the_first_look)
        with pytest.raises(PetitionError) as refused:
            await purge.purge(db, settings, petition_id=signed.id, organizer_id=None, why="a test")
        monkeypatch.undo()
    assert refused.value.status == 409 and "wait" in refused.value.message
    assert await db.fetch_val("SELECT purged_at FROM petitions WHERE id = :p", {"p": signed.id}) is None
    assert await db.fetch_val("SELECT COUNT(*) FROM email_dedupe") == 1, "nothing destroyed"
    # Once it is counted, the purge goes through, and the signature is in the count and the log.
    await purge.purge(db, settings, petition_id=signed.id, organizer_id=None, why="a test")
    assert await db.fetch_val("SELECT signature_count FROM petitions WHERE id = :p", {"p": signed.id}) == 3

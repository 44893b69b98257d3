"""Signing with a work-email code, against a real SMTP server: no enumeration, limits, updates, the outbox."""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from petition.batcher import close_batch
from petition.database import Database
from petition.settings import Settings

from .conftest import SmtpSink, make_settings, smtp_settings
from .test_petitions import bearer, create
from .test_signing import count_everything, petition_id, status

pytestmark = pytest.mark.usefixtures("organizer")
TITLE = "Fair rotas for the night shift"
WORKER = "rosalind.sentinel@example.com"
PERSONAL = "rosalind.home.sentinel@elsewhere.org"
CODE = re.compile(r"\b([0-9A-Z]{4}-[0-9A-Z]{4})\b")


@pytest.fixture
def settings(tmp_path: Path, db_url: str, smtp: SmtpSink) -> Settings:
    """Mail goes to the test SMTP server; the day's cap is raised where a test says so."""
    return make_settings(tmp_path, database_url=db_url, outbox_retry_seconds=1, **smtp_settings(smtp))


async def email_petition(client: httpx.AsyncClient, token: str, **changes: object) -> str:
    fields = {
        "title": TITLE,
        "verification": ["email", "code"],
        "allowed_domains": ["example.com"],
        "show_names": True,
        "reasons_enabled": True,
    }
    draft = (await create(client, token, **{**fields, **changes})).json()
    slug = draft["slug"]
    assert (await client.post(f"/api/v1/petitions/{draft['id']}/publish", headers=bearer(token))).status_code == 200
    return str(slug)


async def ask(client: httpx.AsyncClient, slug: str, email: str = WORKER, **fields: object) -> httpx.Response:
    return await client.post(f"/api/v1/petitions/{slug}/signatures", json={"email": email, **fields})


async def verify(client: httpx.AsyncClient, slug: str, attempt: str, code: str) -> httpx.Response:
    return await client.post(f"/api/v1/petitions/{slug}/signatures/verify", json={"attempt": attempt, "code": code})


async def codes_for(app: Starlette, smtp: SmtpSink, address: str) -> list[str]:
    """The codes delivered to an address so far, oldest first (after the outbox sent what is due)."""
    await app.state.sender.drain()
    for _ in range(100):  # the server thread may still be handing the last one over
        found = [CODE.search(message["body"]) for message in smtp.to(address)]
        if all(found):
            return [match.group(1) for match in found if match]
        await asyncio.sleep(0.01)
    raise AssertionError("a code email without a code")


async def sign_by_email(app: Starlette, client: httpx.AsyncClient, smtp: SmtpSink, slug: str, **fields: object) -> str:
    attempt = (await ask(client, slug, **fields)).json()["attempt"]
    code = (await codes_for(app, smtp, str(fields.get("email", WORKER))))[-1]
    response = await verify(client, slug, attempt, code)
    assert response.status_code == 201, response.text
    return str(response.json()["receipt"])


async def rows(db: Database, table: str) -> int:
    return int(await db.fetch_val(f"SELECT COUNT(*) FROM {table}"))


async def test_an_emailed_code_signs_once_and_the_email_is_neutral(
    app: Starlette, client: httpx.AsyncClient, smtp: SmtpSink, token: str
) -> None:
    slug = await email_petition(client, token)
    typed = "Rosalind.Sentinel+petition@Example.com"
    asked = await ask(client, slug, typed)
    assert asked.status_code == 202 and asked.headers["cache-control"] == "no-store"
    assert asked.json()["status"] == "check_email" and len(asked.json()["attempt"]) >= 32
    # Sent as typed (some servers heed case and tags), the domain in its normal form.
    [message] = await _one_message(app, smtp, "Rosalind.Sentinel+petition@example.com")
    assert message["subject"] == "Your verification code"
    for revealing in (TITLE, slug, "petition", "http", "sign"):
        assert revealing.lower() not in (message["subject"] + message["body"]).lower()
    [code] = await codes_for(app, smtp, "Rosalind.Sentinel+petition@example.com")
    signed = await verify(client, slug, asked.json()["attempt"], code.lower().replace("-", ""))
    assert signed.status_code == 201 and signed.json()["status"] == "pending"
    receipt = signed.json()["receipt"]
    again = await verify(client, slug, asked.json()["attempt"], code)
    assert again.status_code == 409, "a code signs once: the address has signed"
    db: Database = app.state.db
    assert await rows(db, "sign_attempts") == 1, "the write that signed changed no row with a time in it"
    await count_everything(app)
    assert await rows(db, "sign_attempts") == 0, "the batch that counted the signature deleted its attempt"
    assert await rows(db, "outbox") == 0
    await close_batch(db, app.state.settings, await petition_id(db, slug))
    app.state.public_cache.clear()
    assert await status(client, slug, receipt) == "counted"
    view = (await client.get(f"/api/v1/petitions/{slug}")).json()
    assert view["signature_count"] == 1 and view["signature_count_by_method"] == {"email": 1, "code": 0}


async def _one_message(app: Starlette, smtp: SmtpSink, address: str) -> list[dict[str, str]]:
    await codes_for(app, smtp, address)
    return smtp.to(address)


async def test_new_signed_and_over_cap_addresses_get_the_same_answer(
    app: Starlette, client: httpx.AsyncClient, smtp: SmtpSink, token: str
) -> None:
    app.state.settings = replace(app.state.settings, max_code_emails_per_day=2)
    slug = await email_petition(client, token)
    await sign_by_email(app, client, smtp, slug)  # WORKER signed, and one of its two emails today is spent
    signed = await ask(client, slug, WORKER)  # its second email today: sent, though it already signed
    new = await ask(client, slug, "newcomer@example.com")
    over_cap = await ask(client, slug, WORKER)  # its third: answered the same, nothing sent
    answers = [signed, new, over_cap]
    assert {a.status_code for a in answers} == {202}
    assert len({tuple(sorted(a.json())) for a in answers}) == 1
    assert len({tuple(sorted(a.headers.keys())) for a in answers}) == 1
    assert len({a.json()["status"] for a in answers}) == 1
    assert len(await codes_for(app, smtp, WORKER)) == 2, "no email past the cap"
    assert len(await codes_for(app, smtp, "newcomer@example.com")) == 1
    # "Already signed" is said only after the right code, which only the mailbox holder has.
    code = (await codes_for(app, smtp, WORKER))[-1]
    already = await verify(client, slug, signed.json()["attempt"], code)
    assert already.status_code == 409 and "already signed" in already.json()["error"]["message"]
    assert (await verify(client, slug, over_cap.json()["attempt"], code)).status_code == 422


async def test_fifty_concurrent_requests_for_one_address_end_in_one_signature(
    app: Starlette, client: httpx.AsyncClient, smtp: SmtpSink, token: str
) -> None:
    app.state.settings = replace(app.state.settings, max_code_emails_per_day=100)
    slug = await email_petition(client, token)
    asked = await asyncio.gather(*(ask(client, slug) for _ in range(50)))
    assert {a.status_code for a in asked} == {202}
    codes = await codes_for(app, smtp, WORKER)
    assert len(codes) == 50
    # Each attempt's code is bound to it: pair them through the HMAC the service keeps.
    db: Database = app.state.db
    by_attempt = await _pair_codes(app, [a.json()["attempt"] for a in asked], codes)
    results = await asyncio.gather(*(verify(client, slug, attempt, code) for attempt, code in by_attempt))
    assert sorted(r.status_code for r in results) == [201] + [409] * 49
    await count_everything(app)
    assert await rows(db, "signatures") == 1 and await rows(db, "email_dedupe") == 1


async def _pair_codes(app: Starlette, attempts: list[str], codes: list[str]) -> list[tuple[str, str]]:
    from petition import email_codes
    from petition.tokens import receipt_key

    settings, db = app.state.settings, app.state.db
    pairs = []
    for attempt in attempts:
        attempt_hash = receipt_key("attempt/v1", attempt)
        kept = await db.fetch_val("SELECT code_hash FROM sign_attempts WHERE attempt_hash = :h", {"h": attempt_hash})
        [code] = [c for c in codes if email_codes.matches(kept, settings, attempt_hash, c)]
        pairs.append((attempt, code))
    return pairs


async def test_five_wrong_tries_then_the_code_is_refused_until_a_new_one_is_sent(
    app: Starlette, client: httpx.AsyncClient, smtp: SmtpSink, token: str
) -> None:
    slug = await email_petition(client, token)
    attempt = (await ask(client, slug)).json()["attempt"]
    [code] = await codes_for(app, smtp, WORKER)
    wrong = "0000-0000" if code != "0000-0000" else "1111-1111"
    for _ in range(5):
        response = await verify(client, slug, attempt, wrong)
        assert response.status_code == 422 and "not right" in response.json()["error"]["message"]
    sixth = await verify(client, slug, attempt, code)
    assert sixth.status_code == 429 and "5 times" in sixth.json()["error"]["message"]
    resent = await client.post(f"/api/v1/petitions/{slug}/signatures/resend", json={"attempt": attempt})
    assert resent.status_code == 202 and resent.json() == {"status": "check_email", "attempt": attempt}
    old, new = await codes_for(app, smtp, WORKER)
    assert old == code and new != code
    assert (await verify(client, slug, attempt, old)).status_code == 422, "a resent code replaces the old one"
    assert (await verify(client, slug, attempt, new)).status_code == 201


async def test_codes_of_other_attempts_expired_codes_and_missing_attempts_do_not_sign(
    app: Starlette, client: httpx.AsyncClient, smtp: SmtpSink, token: str
) -> None:
    slug = await email_petition(client, token)
    first = (await ask(client, slug)).json()["attempt"]
    second = (await ask(client, slug, "colleague@example.com")).json()["attempt"]
    [colleague_code] = await codes_for(app, smtp, "colleague@example.com")
    assert (await verify(client, slug, first, colleague_code)).status_code == 422
    missing = await client.post(f"/api/v1/petitions/{slug}/signatures/verify", json={"code": colleague_code})
    assert missing.status_code == 422
    assert (await verify(client, slug, "no-such-attempt", colleague_code)).status_code == 404
    db: Database = app.state.db

    async def expire(tx: object) -> None:
        await tx.execute("UPDATE sign_attempts SET expires_at = 0")  # type: ignore[attr-defined]

    await db.write(expire)
    expired = await verify(client, slug, second, colleague_code)
    assert expired.status_code == 404 and "expired" in expired.json()["error"]["message"]
    from petition.email_signing import purge_expired

    await purge_expired(db)
    assert await rows(db, "sign_attempts") == 0 and await rows(db, "signatures") == 0
    assert await rows(db, "pending_signatures") == 0


async def test_bad_addresses_and_petitions_closed_to_email_are_refused_and_store_nothing(
    app: Starlette, client: httpx.AsyncClient, smtp: SmtpSink, token: str
) -> None:
    slug = await email_petition(client, token)
    code_only = await email_petition(client, token, verification=["code"], allowed_domains=[])
    draft = (await create(client, token, verification=["email"], allowed_domains=["example.com"])).json()["slug"]
    cases = {
        "someone@example.org": (slug, 422),  # another domain
        "someone@sub.example.com": (slug, 422),  # only the exact domain
        "not an address": (slug, 422),
        WORKER: (code_only, 409),
    }
    for email, (target, expected) in cases.items():
        response = await ask(client, target, email)
        assert response.status_code == expected, (email, response.text)
        assert response.json()["error"]["message"]
    assert (await ask(client, draft)).status_code == 404
    both = await client.post(f"/api/v1/petitions/{slug}/signatures", json={"email": WORKER, "code": "ABCD"})
    assert both.status_code == 422
    db: Database = app.state.db
    assert await client.post(f"/api/v1/petitions/{slug}/close", headers=bearer(token))
    app.state.public_cache.clear()
    assert (await ask(client, slug)).status_code == 409
    for table in ("sign_attempts", "outbox", "code_email_counts", "signatures", "pending_signatures"):
        assert await rows(db, table) == 0, table
    assert smtp.messages == []


async def test_withdrawing_frees_the_address_to_sign_again(
    app: Starlette, client: httpx.AsyncClient, smtp: SmtpSink, token: str
) -> None:
    slug = await email_petition(client, token)
    receipt = await sign_by_email(app, client, smtp, slug)
    withdrawn = await client.post(f"/api/v1/petitions/{slug}/signatures/withdraw", json={"receipt": receipt})
    assert withdrawn.status_code == 200
    db: Database = app.state.db
    assert await rows(db, "email_dedupe") == 0
    again = await sign_by_email(app, client, smtp, slug)
    await count_everything(app)
    assert again != receipt and await rows(db, "email_dedupe") == 1


async def test_an_updates_address_is_confirmed_by_its_code_kept_encrypted_and_deleted_on_unsubscribe(
    app: Starlette, client: httpx.AsyncClient, smtp: SmtpSink, token: str
) -> None:
    slug = await email_petition(client, token)
    receipt = await sign_by_email(app, client, smtp, slug, updates=PERSONAL)
    [code] = await codes_for(app, smtp, PERSONAL)
    db: Database = app.state.db
    assert await rows(db, "contacts") == 0, "nothing is kept until the address is confirmed"
    url = f"/api/v1/petitions/{slug}/signatures/updates"
    wrong = await client.post(f"{url}/confirm", json={"receipt": receipt, "code": "0000-0000"})
    assert wrong.status_code == 422
    confirmed = await client.post(f"{url}/confirm", json={"receipt": receipt, "code": code})
    assert confirmed.status_code == 200 and confirmed.json() == {"status": "subscribed"}
    assert await rows(db, "contacts") == 0, "written by the batcher, not by the confirming write"
    await close_batch(db, app.state.settings, await petition_id(db, slug))
    sealed = await db.fetch_val("SELECT sealed FROM contacts")
    assert sealed.startswith("v1.") and "sentinel" not in sealed
    first = await client.post(f"{url}/unsubscribe", json={"receipt": receipt})
    assert first.status_code == 200 and first.json() == {"status": "unsubscribed"}
    assert await rows(db, "contacts") == 0
    twice = await client.post(f"{url}/unsubscribe", json={"receipt": receipt})
    assert twice.status_code == 409 and "already removed" in twice.json()["error"]["message"]


async def test_withdrawal_deletes_the_updates_address_wherever_it_waits(
    app: Starlette, client: httpx.AsyncClient, smtp: SmtpSink, token: str
) -> None:
    slug = await email_petition(client, token, verification=["code"], allowed_domains=[])
    response = await client.post(f"/api/v1/petitions/{slug}/codes", json={"count": 2}, headers=bearer(token))
    first_code, second_code = response.json()["codes"]
    url = f"/api/v1/petitions/{slug}/signatures"
    waiting = (await client.post(url, json={"code": first_code, "updates": PERSONAL})).json()["receipt"]
    confirmed = (await client.post(url, json={"code": second_code, "updates": "other.sentinel@elsewhere.org"})).json()
    [code] = await codes_for(app, smtp, "other.sentinel@elsewhere.org")
    confirm = await client.post(f"{url}/updates/confirm", json={"receipt": confirmed["receipt"], "code": code})
    assert confirm.status_code == 200
    db: Database = app.state.db
    for receipt in (waiting, confirmed["receipt"]):
        assert (await client.post(f"{url}/withdraw", json={"receipt": receipt})).status_code == 200
    await close_batch(db, app.state.settings, await petition_id(db, slug))
    for table in ("contacts", "contact_confirmations", "pending_signatures"):
        assert await rows(db, table) == 0, table


async def test_an_smtp_outage_delays_but_loses_no_email(
    app: Starlette, client: httpx.AsyncClient, smtp: SmtpSink, token: str
) -> None:
    slug = await email_petition(client, token)
    smtp.stop()
    attempt = (await ask(client, slug)).json()["attempt"]
    await app.state.sender.drain()
    db: Database = app.state.db
    assert await rows(db, "outbox") == 1, "kept while SMTP is down"
    smtp.start()
    for _ in range(50):  # retried after OUTBOX_RETRY_SECONDS (1 s here)
        await asyncio.sleep(0.1)
        if smtp.to(WORKER):
            break
    [code] = await codes_for(app, smtp, WORKER)
    assert (await verify(client, slug, attempt, code)).status_code == 201
    assert await rows(db, "outbox") == 0


async def test_a_client_over_the_signing_limit_is_told_to_wait(
    app: Starlette, client: httpx.AsyncClient, smtp: SmtpSink, token: str
) -> None:
    app.state.settings = replace(app.state.settings, rate_limit_code_emails_per_client=2)
    slug = await email_petition(client, token)
    assert [(await ask(client, slug)).status_code for _ in range(3)] == [202, 202, 429]
    refused = await ask(client, slug)
    assert "wait" in refused.json()["error"]["message"] and refused.json()["error"]["code"] == "rate_limited"
    assert len(await codes_for(app, smtp, WORKER)) == 2


async def test_signing_with_an_emailed_code_on_the_page(
    app: Starlette, client: httpx.AsyncClient, smtp: SmtpSink, token: str
) -> None:
    slug = await email_petition(client, token)
    page = await client.get(f"/p/{slug}")
    assert "employer's mail system" in page.text and f'href="/p/{slug}/sign/email"' in page.text
    form = await client.get(f"/p/{slug}/sign/email")
    assert "employer's mail system will see" in form.text and "printed code" in form.text
    asked = await client.post(f"/p/{slug}/sign", data={"email": WORKER, "updates": PERSONAL})
    assert asked.status_code == 303 and asked.headers["location"] == f"/p/{slug}/check-email", "POST, then redirect"
    assert asked.headers["cache-control"] == "no-store"
    shown = await client.get(f"/p/{slug}/check-email")
    assert shown.status_code == 200 and "Check your email" in shown.text
    assert shown.headers["cache-control"] == "no-store"
    assert 'name="attempt"' not in shown.text, "the attempt rides in its cookie, not the page"
    resent = await client.post(f"/p/{slug}/resend")
    assert resent.status_code == 303 and resent.headers["location"] == f"/p/{slug}/check-email?sent=again"
    assert "A new code is on its way" in (await client.get(resent.headers["location"])).text
    code = (await codes_for(app, smtp, WORKER))[-1]
    wrong = await client.post(f"/p/{slug}/verify", data={"code": "0000-0000"})
    assert wrong.status_code == 422 and "not right" in wrong.text and "There is a problem" in wrong.text
    signed = await client.post(f"/p/{slug}/verify", data={"code": code}, follow_redirects=True)
    assert [answer.status_code for answer in signed.history] == [303], "POST, then redirect"
    assert signed.status_code == 200 and "Your receipt" in signed.text and "Confirm your updates address" in signed.text
    receipt = re.search(r'<code class="secret">([^<]+)</code>', signed.text).group(1)  # type: ignore[union-attr]
    [updates_code] = await codes_for(app, smtp, PERSONAL)
    confirmed = await client.post(f"/p/{slug}/updates", data={"receipt": receipt, "code": updates_code})
    assert "Your updates address is confirmed" in confirmed.text
    stopped = await client.post(f"/p/{slug}/receipt", data={"receipt": receipt, "action": "unsubscribe"})
    assert "no more updates" in stopped.text
    refused = await client.post(f"/p/{slug}/sign", data={"email": "x@example.org"})
    assert refused.status_code == 422 and "takes addresses at example.com" in refused.text


async def test_no_address_is_in_the_database_file_or_the_logs(
    app: Starlette, client: httpx.AsyncClient, smtp: SmtpSink, token: str, logs: pytest.LogCaptureFixture, dialect: str
) -> None:
    slug = await email_petition(client, token)
    receipt = await sign_by_email(app, client, smtp, slug, updates=PERSONAL)
    [code] = await codes_for(app, smtp, PERSONAL)
    url = f"/api/v1/petitions/{slug}/signatures/updates/confirm"
    assert (await client.post(url, json={"receipt": receipt, "code": code})).status_code == 200
    db: Database = app.state.db
    await close_batch(db, app.state.settings, await petition_id(db, slug))
    from petition.email_signing import purge_expired

    await purge_expired(db)
    sentinels = [b"sentinel", WORKER.encode(), PERSONAL.encode(), receipt.encode()]
    # Everything but the test SMTP server's own log (aiosmtpd's "mail.log") is the service's.
    logged = "\n".join(r.getMessage() for r in logs.records if not r.name.startswith("mail.")).encode()
    assert not [s for s in sentinels if s in logged]
    if dialect == "sqlite":
        path = Path(app.state.settings.database_url.removeprefix("sqlite:///"))
        for file in (path, Path(f"{path}-wal")):
            if file.exists():
                assert not [s for s in sentinels if s in file.read_bytes()], file
    else:
        tables = [
            r["table_name"]
            for r in await db.fetch_all(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
            )
        ]
        for table in tables:
            for row in await db.fetch_all(f"SELECT * FROM {table}"):
                text = repr(dict(row)).encode()
                assert not [s for s in sentinels if s in text], table


async def test_the_api_document_shows_both_answers_of_signing(client: httpx.AsyncClient) -> None:
    document = (await client.get("/api/openapi.json")).json()
    answers = document["paths"]["/api/v1/petitions/{slug}/signatures"]["post"]["responses"]
    assert {"201", "202"} <= set(answers)
    assert "CheckEmail" in answers["202"]["content"]["application/json"]["schema"]["$ref"]
    for path in ("verify", "resend", "updates", "updates/confirm", "updates/unsubscribe"):
        assert f"/api/v1/petitions/{{slug}}/signatures/{path}" in document["paths"]


async def test_allowed_domains_are_shown_to_people_in_their_unicode_form_and_matched_in_ascii(
    client: httpx.AsyncClient, token: str
) -> None:
    slug = await email_petition(client, token, allowed_domains=["example.com", "Bücher.DE"])
    refused = await ask(client, slug, "someone@elsewhere.org")
    assert refused.status_code == 422
    message = refused.json()["error"]["message"]
    assert "example.com, bücher.de" in message and "xn--" not in message
    page = await client.get(f"/p/{slug}")
    assert "(at example.com, bücher.de)" in page.text and "xn--" not in page.text
    form = await client.post(f"/p/{slug}/sign", data={"email": "someone@elsewhere.org"})
    assert form.status_code == 422 and "example.com, bücher.de" in form.text and "xn--" not in form.text
    assert (await ask(client, slug, "leser@bücher.de")).status_code == 202, "matched in the ASCII form"


@pytest.mark.parametrize("field", ["email", "updates"])
async def test_an_address_too_long_gets_the_one_address_message(
    client: httpx.AsyncClient, token: str, field: str
) -> None:
    from petition.addresses import REFUSED

    slug = await email_petition(client, token)
    long_address = "a" * 290 + "@example.com"
    body = {"email": WORKER, field: long_address}
    answer = await client.post(f"/api/v1/petitions/{slug}/signatures", json=body)
    assert answer.status_code == 422
    assert answer.json()["error"]["fields"] == [{"field": field, "message": REFUSED}]
    form = await client.post(f"/p/{slug}/sign", data=body)
    assert form.status_code == 422 and REFUSED in form.text and "String should" not in form.text


async def test_a_closed_petitions_small_last_batch_keeps_an_updates_address_of_a_signature_counted_before(
    app: Starlette, client: httpx.AsyncClient, smtp: SmtpSink, token: str
) -> None:
    from petition.batcher import Batcher

    slug = await email_petition(client, token, verification=["code"], allowed_domains=[])
    made = await client.post(f"/api/v1/petitions/{slug}/codes", json={"count": 6}, headers=bearer(token))
    first, *others = made.json()["codes"]
    url = f"/api/v1/petitions/{slug}/signatures"
    receipt = (await client.post(url, json={"code": first, "updates": PERSONAL})).json()["receipt"]
    for code in others[:4]:
        assert (await client.post(url, json={"code": code})).status_code == 201
    await count_everything(app)
    late = (await client.post(url, json={"code": others[4], "updates": "late.sentinel@elsewhere.org"})).json()
    assert (await client.post(f"/api/v1/petitions/{slug}/close", headers=bearer(token))).status_code == 200
    [code] = await codes_for(app, smtp, PERSONAL)
    confirmed = await client.post(f"{url}/updates/confirm", json={"receipt": receipt, "code": code})
    assert confirmed.status_code == 200, "confirmed after its signature was counted, and after the close"
    [late_code] = await codes_for(app, smtp, "late.sentinel@elsewhere.org")
    assert (
        await client.post(f"{url}/updates/confirm", json={"receipt": late["receipt"], "code": late_code})
    ).status_code == 200
    db: Database = app.state.db
    assert await Batcher(app.state.settings).run_once(db) == 1
    assert await rows(db, "contacts") == 1, "the earlier signature's address is kept; the last batch's own is not"
    assert await status(client, slug, late["receipt"]) == "counted"

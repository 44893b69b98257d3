"""Nothing about a signer leaks: not through any route, header, log line, email, or the database file.

One service is seeded with sentinel values (addresses, hidden names, reasons, client
addresses, a user agent, receipts, attempt ids, printed and emailed codes), then every route
in the app's route list is requested, as an anonymous visitor and as an organizer of another
petition, and every answer, log line, email and database byte is searched for each sentinel
in every encoding a leak could take.
"""

from __future__ import annotations

import asyncio
import base64
import io
import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, quote_plus

import httpx
import pytest
from pypdf import PdfReader
from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount, Route

from petition import accounts, addresses, email_signing, organizers, outbox, queries, unsubscribe, update_mail
from petition.batcher import close_batch
from petition.csrf import FORM_FIELD
from petition.database import Database, Transaction
from petition.feedback import results_job
from petition.feedback.join_batches import close_join_batch
from petition.mailer import Mail
from petition.settings import Settings
from petition.tokens import receipt_key

from .conftest import BASE_URL, ORGANIZER_PASSWORD, SmtpSink, make_settings, smtp_settings
from .feedback.factories import add_participant, add_statement
from .feedback.test_joins import round_codes
from .feedback.test_results_job import CAMP_A, CAMP_B, STATEMENTS, IdleWorker, InProcessWorker, vote
from .printed import text as pdfium_text
from .test_email_signing import codes_for
from .test_login import csrf_of, log_in
from .test_petitions import bearer, create
from .test_signing import petition_id

pytestmark = pytest.mark.usefixtures("organizer")

WORKER = "leaky.worker.sentinel@example.com"
PENDING_WORKER = "pending.worker.sentinel@example.com"
UPDATES = "leaky.updates.sentinel@elsewhere.org"
HIDDEN_NAME = "Hiddenname Sentinelperson"
# Shown, counted, then hidden by its signer with the receipt.
HIDDEN_LATER = "Shownthen Hiddenlater"
REASON = "Sentinel reason about the qz7 rota"
APPROVED_REASON = "An approved reason, public by design"
# A draft round's question (its organizers' own until it opens) and a participant's statement
# waiting for moderation: neither is shown to anyone else.
DRAFT_ROUND_QUESTION = "Sentinel draft round question about the qz8 plan"
WAITING_STATEMENT = "Sentinel waiting statement about the qz9 desk"
# A participant's statement added through the API, waiting for moderation.
ADDED_STATEMENT = "Sentinel statement about the qz9 canteen"
PEER = "198.51.100.77"
FORWARDED = "203.0.113.99"
PROXY = "10.9.8.7"
USER_AGENT = "SentinelBrowser/9.9 (leakcheck)"
ROUND_WORKER = "round.worker.sentinel@example.com"
# `path`: under a petition's log (C2SP tlog-tiles), the start of its first entry bundle.
PATH_VALUES = {"token": "no-such-token-value", "action": "publish", "path": "tile/entries/000.p/2"}
# Queries that make a route answer with what it holds (entries, proofs), not a refusal.
QUERIES = {
    "/api/v1/petitions/{slug}/log/entries": "?start=0&end=2",
    "/api/v1/petitions/{slug}/log/inclusion": "?index=1&tree_size=2",
    "/api/v1/petitions/{slug}/log/consistency": "?first=1&second=2",
}
# What a column name must not be about: network identifiers and fingerprints.
NETWORK_WORDS = {"ip", "ips", "addr", "address", "agent", "useragent", "fingerprint", "host", "mac"}


@pytest.fixture
def settings(tmp_path: Path, db_url: str, smtp: SmtpSink) -> Settings:
    proxies = (ipaddress.ip_network("10.0.0.0/8"),)
    return make_settings(tmp_path, database_url=db_url, trusted_proxies=proxies, **smtp_settings(smtp))


@dataclass
class Seeded:
    slug: str
    batch_id: str
    flyer: dict[str, object] = field(default_factory=dict)
    update_id: str = ""  # an update emailed to the updates address
    round_id: str = ""  # an open round with a waiting statement and a batch of round codes
    round_batch_id: str = ""
    statement_id: str = ""  # an approved statement of the round, voted on
    participant_token: str = ""
    secrets: dict[str, str] = field(default_factory=dict)  # what -> sentinel value
    mailboxes: dict[str, list[str]] = field(default_factory=dict)  # address -> sentinels meant for it


def encodings(value: str) -> set[bytes]:
    """The forms a leaked value could take in a response."""
    raw = value.encode()
    forms = {raw, value.lower().encode(), quote(value).encode(), quote_plus(value).encode(), raw.hex().encode()}
    forms.add(raw.hex().upper().encode())
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        forms.add(encode(raw))
        forms.add(encode(raw).rstrip(b"="))
    return {form for form in forms if len(form) >= 6}


def leaks_in(data: bytes, sentinels: dict[str, str]) -> list[str]:
    return [what for what, value in sentinels.items() if any(form in data for form in encodings(value))]


def signer_client(app: Starlette, peer: str, forwarded: str | None = None) -> httpx.AsyncClient:
    headers = {"user-agent": USER_AGENT}
    if forwarded:
        headers["x-forwarded-for"] = forwarded
    transport = httpx.ASGITransport(app=app, client=(peer, 40000))
    return httpx.AsyncClient(transport=transport, base_url=BASE_URL, headers=headers)


async def seed(app: Starlette, client: httpx.AsyncClient, smtp: SmtpSink, token: str) -> Seeded:
    fields = {"verification": ["email", "code"], "allowed_domains": ["example.com"], "show_names": True}
    draft = (await create(client, token, **fields, reasons_enabled=True)).json()
    slug = draft["slug"]
    assert (await client.post(f"/api/v1/petitions/{draft['id']}/publish", headers=bearer(token))).status_code == 200
    # An edit after publishing: the versions page and its JSON have an earlier text to show.
    clearer = {"summary": "A clearer summary."}
    edited = await client.patch(f"/api/v1/petitions/{slug}", json=clearer, headers=bearer(token))
    assert edited.status_code == 200
    made = await client.post(f"/api/v1/petitions/{slug}/codes", json={"count": 4}, headers=bearer(token))
    used_code, unused_code, shown_code, approved_code = made.json()["codes"]
    seeded = Seeded(slug=slug, batch_id=made.json()["batch"])
    flyer = await client.post(
        f"/api/v1/petitions/{slug}/flyers", json={"layout": "tearoff", "paper_size": "a4"}, headers=bearer(token)
    )
    seeded.flyer = flyer.json()
    url = f"/api/v1/petitions/{slug}/signatures"
    async with signer_client(app, PROXY, FORWARDED) as behind_proxy, signer_client(app, PEER) as direct:
        asked = await behind_proxy.post(
            url, json={"email": WORKER, "name": HIDDEN_NAME, "reason": REASON, "updates": UPDATES}
        )
        attempt = asked.json()["attempt"]
        [email_code] = await codes_for(app, smtp, WORKER)
        verified = await behind_proxy.post(f"{url}/verify", json={"attempt": attempt, "code": email_code})
        email_receipt = verified.json()["receipt"]
        [updates_code] = await codes_for(app, smtp, UPDATES)
        confirmed = await behind_proxy.post(
            f"{url}/updates/confirm", json={"receipt": email_receipt, "code": updates_code}
        )
        assert confirmed.status_code == 200
        signed = await direct.post(url, json={"code": used_code, "name": HIDDEN_NAME, "reason": REASON})
        code_receipt = signed.json()["receipt"]
        shown = await direct.post(url, json={"code": shown_code, "name": HIDDEN_LATER, "show_name": True})
        shown_receipt = shown.json()["receipt"]
        approved = await direct.post(url, json={"code": approved_code, "reason": APPROVED_REASON})
        approved_receipt = approved.json()["receipt"]
        pending = (await direct.post(url, json={"email": PENDING_WORKER})).json()["attempt"]
        [pending_code] = await codes_for(app, smtp, PENDING_WORKER)
    db: Database = app.state.db
    await close_batch(db, app.state.settings, await petition_id(db, slug))
    app.state.public_cache.clear()
    # An update email to the confirmed updates address: its unsubscribe token goes to that mailbox
    # only, and the database keeps only its hash.
    unsubscribe_token = await send_update_email(app, slug, contact_key=receipt_key("contact/v1", email_receipt))
    # One reason approved, so the public list and page show it: by its public id, never its storage key.
    queue = (await client.get(f"/api/v1/petitions/{slug}/reasons/queue", headers=bearer(token))).json()["reasons"]
    [public_id] = [item["id"] for item in queue if item["text"] == APPROVED_REASON]
    moderated = await client.post(f"/api/v1/petitions/{slug}/reasons/{public_id}/approve", headers=bearer(token))
    assert moderated.status_code == 200
    # An update emailed to the one updates address: its organizers see counts, never the address.
    update = {"title": "Update for the leak scan", "body": "Sent to whoever asked.", "email_subscribers": True}
    posted = await client.post(f"/api/v1/petitions/{slug}/updates", json=update, headers=bearer(token))
    assert posted.status_code == 201 and posted.json()["recipients"] == 1
    seeded.update_id = posted.json()["id"]
    await app.state.update_queuer.drain()
    for _ in range(300):  # its turn comes within a second (rounded up to the next whole one)
        await app.state.sender.drain()
        if any(message["subject"].endswith(update["title"]) for message in smtp.to(UPDATES)):
            break
        await asyncio.sleep(0.01)
    hidden = await client.post(f"{url}/hide-name", json={"receipt": shown_receipt})
    assert hidden.json() == {"status": "counted", "name_shown": False}
    made_round_codes = await seed_rounds(app, client, token, seeded)
    # A participant of that round votes and adds a statement that waits for moderation.
    listed = await client.get(f"/api/v1/rounds/{seeded.round_id}/statements")
    seeded.statement_id = listed.json()["statements"][0]["id"]
    participant_key, seeded.participant_token = await add_participant(db, seeded.round_id)
    as_participant = {"authorization": f"Bearer {seeded.participant_token}"}
    statements_url = f"/api/v1/rounds/{seeded.round_id}/statements"
    voted = await client.put(
        f"{statements_url}/{seeded.statement_id}/vote", json={"vote": "disagree"}, headers=as_participant
    )
    assert voted.status_code == 200
    added = await client.post(statements_url, json={"text": ADDED_STATEMENT}, headers=as_participant)
    assert added.json()["status"] == "waiting"
    seeded.secrets = {
        "work address": WORKER,
        "pending work address": PENDING_WORKER,
        "updates address": UPDATES,
        "hidden name": HIDDEN_NAME,
        "name hidden after it was shown": HIDDEN_LATER,
        "reason": REASON,
        "client address (peer)": PEER,
        "client address (forwarded)": FORWARDED,
        "user agent": USER_AGENT,
        # A reason's storage key, which anyone holding the receipt could compute: never shown (its public
        # id is random), and in the database only as the key of the reason's own row.
        "reason storage key (email)": receipt_key("reason/v1", email_receipt),
        "reason storage key (code)": receipt_key("reason/v1", code_receipt),
        "approved reason's storage key": receipt_key("reason/v1", approved_receipt),
        "receipt (approved reason)": approved_receipt,
        "printed code (approved reason)": approved_code,
        "receipt (email)": email_receipt,
        "receipt (code)": code_receipt,
        "receipt (name hidden)": shown_receipt,
        "printed code (name hidden)": shown_code,
        "attempt id": attempt,
        "pending attempt id": pending,
        "printed code (used)": used_code,
        "printed code (unused)": unused_code,
        "emailed code": email_code,
        "pending emailed code": pending_code,
        "updates code": updates_code,
        "unsubscribe token": unsubscribe_token,
        "draft round question": DRAFT_ROUND_QUESTION,
        "waiting statement": WAITING_STATEMENT,
        "round code": made_round_codes[0],
        "round code (revoked batch)": made_round_codes[1],
        "participant token": seeded.participant_token,
        "participant key": participant_key,
        "added statement": ADDED_STATEMENT,
    }
    seeded.secrets.update(await seed_results(app, seeded))
    seeded.mailboxes = {WORKER: [WORKER, email_code], UPDATES: [UPDATES, updates_code, unsubscribe_token]}
    seeded.mailboxes[PENDING_WORKER] = [PENDING_WORKER, pending_code]
    await seed_round(app, client, smtp, token, seeded)
    return seeded


async def seed_round(app: Starlette, client: httpx.AsyncClient, smtp: SmtpSink, token: str, seeded: Seeded) -> None:
    """A feedback round on the petition, joined with printed codes and a work address (a batch of
    them counted, one join still waiting): its codes, address, attempt and tokens are sentinels."""
    db: Database = app.state.db
    # The open round seed_rounds made through the API.
    url = f"/api/v1/rounds/{seeded.round_id}/participants"
    printed = await round_codes(app, seeded.round_id, app.state.settings.min_cell_size + 1)
    async with signer_client(app, PEER) as direct:
        held = [(await direct.post(url, json={"code": code})).json()["participant_token"] for code in printed[:-1]]
        attempt = (await direct.post(url, json={"email": ROUND_WORKER})).json()["attempt"]
        [code] = await codes_for(app, smtp, ROUND_WORKER)
        joined = await direct.post(f"{url}/verify", json={"attempt": attempt, "code": code})
        assert await close_join_batch(db, app.state.settings, seeded.round_id) == len(held) + 1
        waiting = (await direct.post(url, json={"code": printed[-1]})).json()["participant_token"]
        replaced = (await direct.post(f"{url}/token", headers=bearer(held[1]))).json()["participant_token"]
    seeded.secrets |= {
        "round work address": ROUND_WORKER,
        "round attempt id": attempt,
        "round emailed code": code,
        "printed round code (counted)": printed[0],
        "printed round code (waiting)": printed[-1],
        "participant token (code)": held[0],
        "participant token (email)": joined.json()["participant_token"],
        "participant token (waiting)": waiting,
        "participant token (replaced)": held[1],
        "participant token (replacing)": replaced,
    }
    seeded.mailboxes[ROUND_WORKER] = [ROUND_WORKER, code]


async def seed_rounds(app: Starlette, client: httpx.AsyncClient, token: str, seeded: Seeded) -> list[str]:
    """A draft round and an open one on the petition, the open one with a participant's statement
    waiting for moderation and two batches of round codes (one revoked); a code of each batch."""
    rounds_url = f"/api/v1/petitions/{seeded.slug}/rounds"
    draft = await client.post(rounds_url, json={"question": DRAFT_ROUND_QUESTION}, headers=bearer(token))
    assert draft.status_code == 201
    made = await client.post(
        rounds_url, json={"question": "Open round", "statements": list(STATEMENTS)}, headers=bearer(token)
    )
    seeded.round_id = made.json()["id"]
    assert (await client.post(f"/api/v1/rounds/{seeded.round_id}/open", headers=bearer(token))).status_code == 200
    await add_statement(app.state.db, seeded.round_id, WAITING_STATEMENT, status="waiting", seed=0)
    codes_url = f"/api/v1/rounds/{seeded.round_id}/codes"
    first = (await client.post(codes_url, json={"count": 2}, headers=bearer(token))).json()
    revoked = (await client.post(codes_url, json={"count": 2}, headers=bearer(token))).json()
    assert (await client.post(f"{codes_url}/{revoked['batch']}/revoke", headers=bearer(token))).status_code == 200
    seeded.round_batch_id = first["batch"]
    return [first["codes"][0], revoked["codes"][0]]


async def seed_results(app: Starlette, seeded: Seeded) -> dict[str, str]:
    """Participants of the open round who voted, and its results computed: their keys and tokens,
    which no answer may hold (results are aggregates only)."""
    db: Database = app.state.db
    app.state.results_worker = IdleWorker()  # the results are computed below, once every vote is in
    listed = await db.fetch_all(
        "SELECT id, text FROM round_statements WHERE round_id = :id AND status = 'approved'", {"id": seeded.round_id}
    )
    by_text = {row["text"]: row["id"] for row in listed}
    statement_ids = [by_text[text] for text in STATEMENTS]
    secrets = {}
    for number, camp in enumerate([CAMP_A] * 3 + [CAMP_B] * 3):
        key, participant_token = await add_participant(db, seeded.round_id)
        for statement_id, value in zip(statement_ids, camp, strict=True):
            await vote(db, seeded.round_id, key, statement_id, value)
        secrets[f"participant key {number}"] = key
        secrets[f"participant token {number}"] = participant_token
    assert await results_job.run_once(db, app.state.settings, InProcessWorker())
    app.state.public_cache.clear()
    return secrets


async def send_update_email(app: Starlette, slug: str, *, contact_key: str) -> str:
    """Queue an update's email to the UPDATES contact; the token of its unsubscribe link."""
    db: Database = app.state.db
    settings: Settings = app.state.settings
    petition = await db.fetch_one(queries.SELECT_PETITION_BY_ID, {"id": await petition_id(db, slug)})
    update = {"id": "leak-update", "title": "An update", "body": "News."}

    async def unit(tx: Transaction) -> Mail:
        mail = await update_mail.message_for(
            tx, settings, petition=petition, update=update, contact_key=contact_key, address=UPDATES
        )
        await outbox.queue(
            tx,
            settings,
            to=addresses.parse(mail.to),
            subject=mail.subject,
            body=mail.body,
            petition_id=petition["id"],
            html=mail.html,
            headers=mail.headers,
        )
        return mail

    mail = await db.write(unit)
    [link] = [value for name, value in mail.headers if name == "List-Unsubscribe"]
    token = link.strip("<>").rsplit("/u/", 1)[1]
    assert token == unsubscribe.token_for(settings, contact_key)
    return token


def concrete_paths(route: BaseRoute, values: dict[str, str]) -> list[tuple[str, str, str]]:
    """(method, path, route key) for each method of a route, its parameters filled with seeded values."""
    if isinstance(route, Mount):
        return [("GET", f"{route.path}/style.css", route.path)]
    assert isinstance(route, Route)
    path = re.sub(r"{(\w+)(?::\w+)?}", lambda m: values[m.group(1)], route.path) + QUERIES.get(route.path, "")
    return [(method, path, f"{method} {route.path}") for method in sorted(route.methods or ()) if method != "HEAD"]


async def visit_every_route(app: Starlette, client: httpx.AsyncClient, values: dict[str, str]) -> dict[str, bytes]:
    """Every route and method, with an empty body: the answers, keyed by route and method."""
    answers: dict[str, bytes] = {}
    csrf = await csrf_of(client, "/organize") if "authorization" in client.headers else ""
    every = [visit for route in app.routes for visit in concrete_paths(route, values)]
    # Logging out last, so an organizer stays signed in for every other route.
    for method, path, key in sorted(every, key=lambda visit: visit[1] == "/logout"):
        if method == "GET":
            response = await client.get(path)
        elif path.startswith("/api/"):
            response = await client.request(method, path, json={})
        else:
            response = await client.request(method, path, data={FORM_FIELD: csrf} if csrf else {})
        assert response.status_code < 500, (key, response.status_code)
        head = "\n".join(f"{name}: {value}" for name, value in response.headers.items())
        answers[key] = head.encode() + b"\n\n" + response.content
    return answers


async def route_values(db: Database, seeded: Seeded) -> dict[str, str]:
    """A value for every path parameter of the route list, real where a real one matters (the
    seeded petition and its batches, alice's organizer and token ids, a reason and an update)."""
    alice = await organizers.find_by_email(db, "alice@example.org")
    assert alice is not None
    token_id = await db.fetch_val("SELECT id FROM api_tokens WHERE organizer_id = :id", {"id": alice.id})
    return {
        **PATH_VALUES,
        "slug": seeded.slug,
        "batch_id": seeded.batch_id,
        "organizer_id": alice.id,
        "token_id": str(token_id),
        "flyer_id": str(seeded.flyer["id"]),
        "batch_code": str(seeded.flyer["batch_code"]),
        "kind": "pdf",
        "method": "email",
        # A waiting reason's real id: its approval and hiding are refused to everyone but its organizers.
        "reason_id": await reason_id_of(db, seeded.slug),
        "update_id": seeded.update_id,
        # An open round (its draft sibling is listed under the petition) and its batch of round codes.
        "id": seeded.round_id,
        "batch": seeded.round_batch_id,
        "sid": seeded.statement_id,
    }


async def test_no_sentinel_reaches_any_route_log_email_or_the_database(
    app: Starlette,
    client: httpx.AsyncClient,
    smtp: SmtpSink,
    token: str,
    logs: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    dialect: str,
) -> None:
    seeded = await seed(app, client, smtp, token)
    db: Database = app.state.db
    assert await accounts.create_organizer(db, email="bob@example.org", password=ORGANIZER_PASSWORD, admin=False)
    bob_token = await accounts.create_token_for(db, email="bob@example.org", name="bob")
    assert bob_token
    values = await route_values(db, seeded)
    routes_in_list = {key for route in app.routes for _, _, key in concrete_paths(route, values)}

    anonymous = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL)
    bob = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL)
    async with anonymous, bob:
        assert (await log_in(bob, "bob@example.org", ORGANIZER_PASSWORD)).status_code == 303
        bob.headers["authorization"] = bearer(bob_token)["authorization"]
        bob_slug = (await create(bob, bob_token)).json()["slug"]
        assert bob_slug
        for who, visitor in (("anonymous", anonymous), ("another petition's organizer", bob)):
            answers = await visit_every_route(app, visitor, values)
            assert set(answers) == routes_in_list, "every route in the list was visited"
            # The public record of the petition's text and of its organizers' public actions.
            for key in ("GET /p/{slug}/versions", "GET /api/v1/petitions/{slug}/versions"):
                assert b"A clearer summary." in answers[key], (who, key)
            for key, answer in answers.items():
                assert not leaks_in(answer, seeded.secrets), f"{who}: {key}"
    # The petition's own organizers see an emailed update's progress: counts, never the address;
    # and their rounds' pages: their draft round's question (their own words), a waiting statement's
    # count and round code batches' used counts, never the statement, a code, a join or a participant.
    alice_pages = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL)
    theirs = {what: value for what, value in seeded.secrets.items() if what != "draft round question"}
    async with alice_pages:
        assert (await log_in(alice_pages, "alice@example.org", ORGANIZER_PASSWORD)).status_code == 303
        pid = await petition_id(db, seeded.slug)
        for path in (
            f"/organize/petitions/{pid}/updates",
            f"/organize/petitions/{pid}",
            f"/organize/petitions/{pid}/rounds",
            f"/organize/rounds/{seeded.round_id}",
            f"/organize/rounds/{seeded.round_id}/codes",
            f"/organize/rounds/{seeded.round_id}/close",
            f"/r/{seeded.round_id}/results",
            # The delivery certificate: shown names and approved reasons only, never a hidden one.
            f"/organize/petitions/{pid}/certificate.note",
        ):
            page = await alice_pages.get(path)
            assert page.status_code == 200 and not leaks_in(page.content, theirs), path
        # Their round's statements page shows the statements waiting for them (that is its job), and
        # nothing else: no code, join, participant or vote.
        waiting = {"waiting statement", "added statement"}
        statement_pages = f"/organize/rounds/{seeded.round_id}/statements"
        for status in ("waiting", "approved", "hidden"):
            page = await alice_pages.get(f"{statement_pages}?status={status}")
            shown = {what: value for what, value in theirs.items() if what not in waiting}
            assert page.status_code == 200 and not leaks_in(page.content, shown), status
            assert (WAITING_STATEMENT in page.text) == (status == "waiting"), status
    # The delivery certificate as a PDF, to its organizers: what signers chose to make public, never
    # a sentinel, searched in the words read back out of the PDF (its streams are compressed).
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as alice_pdf:
        assert (await log_in(alice_pdf, "alice@example.org", ORGANIZER_PASSWORD)).status_code == 303
        pid = await petition_id(db, seeded.slug)
        for answer in (
            await client.get(f"/api/v1/petitions/{seeded.slug}/certificate.pdf", headers=bearer(token)),
            await alice_pdf.get(f"/organize/petitions/{pid}/certificate.pdf?paper=letter"),
        ):
            assert answer.status_code == 200 and answer.headers["content-type"] == "application/pdf"
            words = pdf_words(answer.content)
            assert not leaks_in(answer.content + words.encode(), seeded.secrets), "certificate.pdf"
    for path in (
        f"/api/v1/petitions/{seeded.slug}/updates/{seeded.update_id}",
        f"/api/v1/petitions/{seeded.slug}/updates",
        # A round's results, to its organizers too: aggregates only, never a participant.
        f"/api/v1/rounds/{seeded.round_id}/results",
        f"/api/v1/rounds/{seeded.round_id}/results.csv",
        # The delivery certificate, to its organizers: what signers chose to make public, nothing else.
        f"/api/v1/petitions/{seeded.slug}/certificate.note",
    ):
        answer = await client.get(path, headers=bearer(token))
        assert answer.status_code == 200 and not leaks_in(answer.content, seeded.secrets), path
    # The dashboard's JSON (its page is among alice's pages above): counts, the floor's timeline, their
    # own draft round's question and audit trail; never a signer, a code, an address or a participant.
    answer = await client.get(f"/api/v1/petitions/{seeded.slug}/dashboard", headers=bearer(token))
    assert answer.status_code == 200 and not leaks_in(answer.content, theirs)
    assert DRAFT_ROUND_QUESTION.encode() in answer.content, "their rounds, drafts included"
    assert (
        b'"sent":1'
        in (
            await client.get(f"/api/v1/petitions/{seeded.slug}/updates/{seeded.update_id}", headers=bearer(token))
        ).content
    )

    # A participant's own answers say whether they voted on each statement, never how, and never
    # hold their token or key.
    as_participant = {"authorization": f"Bearer {seeded.participant_token}"}
    listed = await client.get(f"/api/v1/rounds/{seeded.round_id}/statements", headers=as_participant)
    assert listed.status_code == 200 and b'"voted":true' in listed.content and b"disagree" not in listed.content
    participant_page = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL)
    async with participant_page:
        participant_page.cookies.set("participant", seeded.participant_token)
        page = await participant_page.get(f"/r/{seeded.round_id}")
    assert page.status_code == 200 and re.search(r"statements? left", page.text)
    for answer in (listed.content, page.content):
        assert not leaks_in(answer, seeded.secrets)

    await app.state.sender.drain()
    await email_signing.purge_expired(db)
    app.state.access_log.flush()
    records = "\n".join(r.getMessage() for r in logs.records if not r.name.startswith("mail."))
    logged = (records + "\n" + capsys.readouterr().err).encode()  # the access log writes to stderr
    assert "petition.access: GET /p/{slug}" in logged.decode(), "the access log was captured"
    assert not leaks_in(logged, seeded.secrets), "a sentinel reached a log line"
    for message in smtp.messages:
        meant = seeded.mailboxes.get(message["to"], [])
        others = {what: value for what, value in seeded.secrets.items() if value not in meant}
        assert not leaks_in(f"{message['subject']}\n{message['body']}".encode(), others), message["to"]
    # Reasons are kept by design (in their own table, joined to nothing) for the organizers to
    # moderate; everything else must be absent, or only a keyed hash or ciphertext of itself.
    # Participants' keys are the keys of their votes (random, joined to no verification and no signature).
    participant_keys = {what for what in seeded.secrets if what.startswith("participant key")}
    kept_by_design = {
        # A participant's key keys their votes; a waiting statement waits for its organizers.
        "participant key",
        "waiting statement",
        "added statement",
        *participant_keys,
        "reason",
        "draft round question",
        "reason storage key (email)",
        "reason storage key (code)",
        "approved reason's storage key",
    }
    # A hidden name's row is deleted (and zeroed) at once, but the WAL keeps the batch that wrote
    # it until the next checkpoint (the batcher's round makes one at least every LOG_BATCH_SECONDS).
    until_checkpoint = {"name hidden after it was shown"}
    unkept = {what: value for what, value in seeded.secrets.items() if what not in kept_by_design | until_checkpoint}
    stored = await database_bytes(db, app.state.settings, dialect)
    assert not leaks_in(stored, unkept), "a sentinel is in the database"
    assert await db.checkpoint()
    hidden = {what: seeded.secrets[what] for what in until_checkpoint}
    assert not leaks_in(await database_bytes(db, app.state.settings, dialect), hidden), "a hidden name is kept"
    # Once the petition is purged, not even its reason is kept (it was never approved).
    assert (await client.post(f"/api/v1/petitions/{seeded.slug}/close", headers=bearer(token))).status_code == 200
    assert (await client.post(f"/api/v1/petitions/{seeded.slug}/purge", headers=bearer(token))).status_code == 200
    stored = await database_bytes(db, app.state.settings, dialect)
    # An approved reason stays, keyed as before (the key a receipt holder computes: its own row's), and
    # so does a draft round's question (an organizer's text, about no one) and participants' random keys
    # (their votes on approved statements are what results are made of); waiting statements go.
    outliving = {"approved reason's storage key", "draft round question", *participant_keys}
    purged = {what: value for what, value in seeded.secrets.items() if what not in outliving}
    assert not leaks_in(stored, purged), "a sentinel outlived the purge"


def pdf_words(pdf: bytes) -> str:
    """The words of a PDF as two readers find them (pypdf, and PDFium for shaped scripts)."""
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages) + "\n" + pdfium_text(pdf)


async def reason_id_of(db: Database, slug: str) -> str:
    """The public id of one of the petition's reasons."""
    sql = "SELECT public_id FROM signer_reasons WHERE petition_id = :id ORDER BY order_key LIMIT 1"
    return str(await db.fetch_val(sql, {"id": await petition_id(db, slug)}))


async def database_bytes(db: Database, settings: Settings, dialect: str) -> bytes:
    """The database as bytes: the SQLite file and its WAL; on PostgreSQL, every row of every table."""
    if dialect == "sqlite":
        path = Path(settings.database_url.removeprefix("sqlite:///"))
        return b"".join(file.read_bytes() for file in (path, Path(f"{path}-wal")) if file.exists())
    rows = []
    for table in await table_names(db, dialect):
        rows += [repr(dict(row)) for row in await db.fetch_all(f"SELECT * FROM {table}")]
    return "\n".join(rows).encode()


async def table_names(db: Database, dialect: str) -> list[str]:
    if dialect == "sqlite":
        sql = "SELECT name FROM sqlite_master WHERE type = 'table' AND substr(name, 1, 7) != 'sqlite_'"
    else:
        sql = "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema()"
    return sorted(row["name"] for row in await db.fetch_all(sql))


async def column_names(db: Database, dialect: str, table: str) -> list[str]:
    if dialect == "sqlite":
        return [row["name"] for row in await db.fetch_all(f"SELECT name FROM pragma_table_info('{table}')")]
    sql = "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = :t"
    return [row["column_name"] for row in await db.fetch_all(sql, {"t": table})]


async def test_no_column_is_named_for_a_network_identifier_and_every_table_is_in_the_inventory(
    db: Database, dialect: str
) -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    inventory = readme.split("### Data inventory", 1)[1].split("\n### ", 1)[0]
    for table in await table_names(db, dialect):
        assert f"| `{table}` |" in inventory, f"{table} is missing from the README's data inventory"
        for column in await column_names(db, dialect, table):
            words = set(column.lower().split("_"))
            assert not words & NETWORK_WORDS, f"{table}.{column} sounds like a network identifier"

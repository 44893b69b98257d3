"""Updates organizers post: the API, the pages and feed, and their email to the signers who asked for
updates, through a real SMTP server: one message per confirmed contact, at the service's pace."""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from petition import petition_updates
from petition.csrf import FORM_FIELD
from petition.database import Database, Transaction
from petition.encryption import ADDRESS_PAD, encrypt
from petition.settings import Settings, SettingsError, load_settings

from .conftest import ORGANIZER_PASSWORD, SmtpSink, make_settings, smtp_settings
from .test_email_signing import codes_for
from .test_login import csrf_of, log_in
from .test_petitions import bearer, create
from .test_signing import count_everything, petition_id

pytestmark = pytest.mark.usefixtures("organizer")
UPDATE = {"title": "We met the board", "body": "They listened.\n\nNext meeting on Friday."}


@pytest.fixture
def settings(tmp_path: Path, db_url: str, smtp: SmtpSink) -> Settings:
    """Mail goes to the test SMTP server, as fast as it may (a test lowers the pace where it says so)."""
    return make_settings(
        tmp_path, database_url=db_url, outbox_retry_seconds=1, update_emails_per_minute=100_000, **smtp_settings(smtp)
    )


async def code_petition(client: httpx.AsyncClient, token: str, codes: int = 0) -> tuple[str, list[str]]:
    """A published petition signed with printed codes; its slug and `codes` unused codes."""
    draft = (await create(client, token, verification=["code"])).json()
    assert (await client.post(f"/api/v1/petitions/{draft['id']}/publish", headers=bearer(token))).status_code == 200
    made: list[str] = []
    if codes:
        answer = await client.post(
            f"/api/v1/petitions/{draft['slug']}/codes", json={"count": codes}, headers=bearer(token)
        )
        made = answer.json()["codes"]
    return str(draft["slug"]), made


async def sign_for_updates(
    app: Starlette,
    client: httpx.AsyncClient,
    smtp: SmtpSink,
    slug: str,
    code: str,
    address: str,
    *,
    confirm: bool = True,
) -> str:
    """Sign with a printed code, give an updates address and (unless told not to) type its code; the receipt."""
    url = f"/api/v1/petitions/{slug}/signatures"
    receipt = str((await client.post(url, json={"code": code, "updates": address})).json()["receipt"])
    if confirm:
        [typed] = await codes_for(app, smtp, address)
        assert (
            await client.post(f"{url}/updates/confirm", json={"receipt": receipt, "code": typed})
        ).status_code == 200
    return receipt


async def post(client: httpx.AsyncClient, token: str, slug: str, **fields: object) -> httpx.Response:
    return await client.post(f"/api/v1/petitions/{slug}/updates", json={**UPDATE, **fields}, headers=bearer(token))


def updates_to(smtp: SmtpSink, title: str = UPDATE["title"]) -> list[dict]:
    return [message for message in smtp.messages if title in message["subject"]]


async def send_everything(app: Starlette) -> None:
    await app.state.update_queuer.drain()
    await app.state.sender.drain()


async def received(smtp: SmtpSink, count: int, title: str = UPDATE["title"], seconds: float = 5) -> list[dict]:
    """The update's messages once `count` arrived (the server thread hands each over a moment later)."""
    deadline = time.monotonic() + seconds
    while len(updates_to(smtp, title)) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    return updates_to(smtp, title)


async def progress_of(
    client: httpx.AsyncClient, token: str, slug: str, update_id: str, expected: tuple[int, int, int]
) -> tuple[int, int, int]:
    """(recipients, sent, failed) of an update once they are `expected`, or as they are after 5 s
    (a message's turn is rounded up to the next whole second)."""
    deadline = time.monotonic() + 5
    while True:
        answer = (await client.get(f"/api/v1/petitions/{slug}/updates/{update_id}", headers=bearer(token))).json()
        got = (answer["recipients"], answer["sent"], answer["failed"])
        if got == expected or time.monotonic() > deadline:
            return got
        await asyncio.sleep(0.05)


async def add_contacts(db: Database, settings: Settings, petition: str, addresses: list[str]) -> dict[str, str]:
    """Confirmed contacts written as the batcher writes them (for tests that need many); address -> contact key."""
    keys = {address: secrets.token_hex(32) for address in addresses}

    async def unit(tx: Transaction) -> None:
        for address, key in keys.items():
            sealed = encrypt(settings.encryption_key, address, f"contact/{key}", pad_to=ADDRESS_PAD)
            await tx.execute(
                "INSERT INTO contacts (contact_key, petition_id, sealed) VALUES (:k, :p, :s)",
                {"k": key, "p": petition, "s": sealed},
            )

    await db.write(unit)
    return keys


async def test_an_update_is_emailed_once_to_each_confirmed_contact_and_to_no_one_else(
    app: Starlette, client: httpx.AsyncClient, smtp: SmtpSink, token: str
) -> None:
    slug, codes = await code_petition(client, token, codes=6)
    kept = ["ada.kept@elsewhere.org", "grace.kept@elsewhere.org"]
    receipts = {}
    for code, address in zip(codes, [*kept, "unsubscribed@elsewhere.org", "withdrawn@elsewhere.org"], strict=False):
        receipts[address] = await sign_for_updates(app, client, smtp, slug, code, address)
    await sign_for_updates(app, client, smtp, slug, codes[4], "unconfirmed@elsewhere.org", confirm=False)
    await count_everything(app)
    url = f"/api/v1/petitions/{slug}/signatures"
    assert (
        await client.post(f"{url}/updates/unsubscribe", json={"receipt": receipts["unsubscribed@elsewhere.org"]})
    ).status_code == 200
    assert (
        await client.post(f"{url}/withdraw", json={"receipt": receipts["withdrawn@elsewhere.org"]})
    ).status_code == 200

    posted = await post(client, token, slug, email_subscribers=True)
    assert posted.status_code == 201, posted.text
    answer = posted.json()
    assert answer["recipients"] == 2
    assert set(answer) == {"id", "title", "body", "posted_on", "recipients"}
    await send_everything(app)
    messages = await received(smtp, 2)
    assert sorted(message["to"] for message in messages) == sorted(kept)
    await asyncio.sleep(0.2)
    assert len(updates_to(smtp)) == 2, "exactly one each"
    assert all(message["message"]["Message-ID"] for message in messages)
    assert await progress_of(client, token, slug, answer["id"], (2, 2, 0)) == (2, 2, 0)
    cursor = await app.state.db.fetch_val("SELECT queue_after FROM petition_updates")
    assert cursor == "", "no contact key kept once queued"


async def test_posting_without_email_sends_nothing_and_lists_the_update_newest_first(
    app: Starlette, client: httpx.AsyncClient, smtp: SmtpSink, token: str
) -> None:
    slug, codes = await code_petition(client, token, codes=1)
    await sign_for_updates(app, client, smtp, slug, codes[0], "quiet@elsewhere.org")
    await count_everything(app)
    first = await post(client, token, slug, title="First")
    second = await post(client, token, slug, title="Second")
    assert first.status_code == second.status_code == 201
    assert first.json()["recipients"] == 0
    await send_everything(app)
    assert not updates_to(smtp, "First") and not updates_to(smtp, "Second")
    listed = await client.get(f"/api/v1/petitions/{slug}/updates")
    assert listed.status_code == 200
    titles = [update["title"] for update in listed.json()["updates"]]
    assert set(titles) == {"First", "Second"}
    assert listed.json()["updates"][0]["posted_on"].endswith("T00:00:00Z"), "dated to the day"
    page = await client.get(f"/p/{slug}")
    assert "First" in page.text and "Second" in page.text and 'id="updates"' in page.text
    feed = await client.get(f"/p/{slug}/feed.atom")
    assert f"#update-{first.json()['id']}</id>" in feed.text and "<title xml:lang" in feed.text


async def test_the_public_list_is_paginated_with_a_cursor(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug, _ = await code_petition(client, token)
    for number in range(petition_updates.PAGE_SIZE + 2):
        assert (await post(client, token, slug, title=f"Update {number}")).status_code == 201
    first = (await client.get(f"/api/v1/petitions/{slug}/updates")).json()
    assert len(first["updates"]) == petition_updates.PAGE_SIZE and first["next_cursor"]
    rest = (await client.get(f"/api/v1/petitions/{slug}/updates", params={"cursor": first["next_cursor"]})).json()
    seen = {update["id"] for update in first["updates"] + rest["updates"]}
    assert len(seen) == petition_updates.PAGE_SIZE + 2
    bad = await client.get(f"/api/v1/petitions/{slug}/updates", params={"cursor": "nonsense"})
    assert bad.status_code == 422


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"title": ""}, "title"),
        ({"title": "x" * 121}, "title"),
        ({"title": "two\nlines"}, "title"),
        ({"body": ""}, "body"),
        ({"body": "   \n  "}, "body"),
        ({"body": "x" * 5001}, "body"),
        ({"body": "bad \x00 byte"}, "body"),
        ({"email_subscribers": "yes"}, "email_subscribers"),
        ({"unknown": 1}, "unknown"),
    ],
)
async def test_a_bad_update_is_refused_with_a_clear_message_and_changes_nothing(
    app: Starlette, client: httpx.AsyncClient, token: str, fields: dict, problem: str
) -> None:
    slug, _ = await code_petition(client, token)
    refused = await post(client, token, slug, **fields)
    assert refused.status_code == 422
    assert problem in refused.json()["error"]["message"]
    assert (await client.get(f"/api/v1/petitions/{slug}/updates")).json()["updates"] == []


async def test_an_update_on_a_draft_is_refused_with_409_and_on_another_organizers_petition_with_404(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    from petition import accounts

    draft = (await create(client, token)).json()
    refused = await post(client, token, draft["id"])
    assert refused.status_code == 409 and "publish" in refused.json()["error"]["message"]
    assert (await client.get(f"/api/v1/petitions/{draft['id']}/updates")).status_code == 404
    slug, _ = await code_petition(client, token)
    assert await accounts.create_organizer(
        app.state.db, email="bob@example.org", password="a passphrase for bob", admin=False
    )
    bob = await accounts.create_token_for(app.state.db, email="bob@example.org", name="bob")
    assert (await post(client, str(bob), slug)).status_code == 404
    assert (await post(client, token, "no-such-petition")).status_code == 404
    posted = (await post(client, token, slug)).json()
    assert (
        await client.get(f"/api/v1/petitions/{slug}/updates/{posted['id']}", headers=bearer(str(bob)))
    ).status_code == 404
    assert (await client.get(f"/api/v1/petitions/{slug}/updates/nope", headers=bearer(token))).status_code == 404
    rows = await app.state.db.fetch_val("SELECT COUNT(*) FROM petition_updates")
    assert rows == 1


async def test_emailing_an_update_after_the_purge_is_refused_but_posting_it_is_fine(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug, _ = await code_petition(client, token)
    assert (await client.post(f"/api/v1/petitions/{slug}/close", headers=bearer(token))).status_code == 200
    assert (await client.post(f"/api/v1/petitions/{slug}/purge", headers=bearer(token))).status_code == 200
    refused = await post(client, token, slug, email_subscribers=True)
    assert refused.status_code == 409 and "destroyed" in refused.json()["error"]["message"]
    assert (await client.get(f"/api/v1/petitions/{slug}/updates")).json()["updates"] == []
    assert (await post(client, token, slug)).status_code == 201


async def test_posting_is_in_the_audit_trail_with_counts_only(
    app: Starlette, client: httpx.AsyncClient, token: str, settings: Settings
) -> None:
    slug, _ = await code_petition(client, token)
    db: Database = app.state.db
    await add_contacts(db, settings, await petition_id(db, slug), ["audited.sentinel@elsewhere.org"])
    assert (await post(client, token, slug, email_subscribers=True)).json()["recipients"] == 1
    [row] = await db.fetch_all("SELECT detail FROM audit_log WHERE action = :a", {"a": petition_updates.AUDIT_ACTION})
    assert row["detail"] == f"{slug}: emailed to 1"


async def test_a_message_whose_signer_unsubscribed_before_its_turn_is_dropped(
    app: Starlette, client: httpx.AsyncClient, smtp: SmtpSink, token: str
) -> None:
    app.state.settings = app.state.sender.settings = app.state.update_queuer.settings = make_settings(
        Path(app.state.settings.data_dir),
        database_url=app.state.settings.database_url,
        update_emails_per_minute=1,  # the second message is due a minute after the first
        **smtp_settings(smtp),
    )
    slug, codes = await code_petition(client, token, codes=2)
    receipts = {
        address: await sign_for_updates(app, client, smtp, slug, code, address)
        for code, address in zip(codes, ["first.turn@elsewhere.org", "second.turn@elsewhere.org"], strict=True)
    }
    await count_everything(app)
    posted = (await post(client, token, slug, email_subscribers=True)).json()
    assert posted["recipients"] == 2
    await send_everything(app)
    [first] = await received(smtp, 1)
    [later] = [address for address in receipts if address != first["to"]]
    url = f"/api/v1/petitions/{slug}/signatures/updates/unsubscribe"
    assert (await client.post(url, json={"receipt": receipts[later]})).status_code == 200
    db: Database = app.state.db
    due = await db.fetch_val("SELECT due_at FROM outbox WHERE update_id = :u", {"u": posted["id"]})
    assert due >= time.time() + 30, "paced: a minute after the first"
    await db.write(lambda tx: tx.execute("UPDATE outbox SET due_at = 0 WHERE update_id = :u", {"u": posted["id"]}))
    await app.state.sender.drain()
    await asyncio.sleep(0.2)
    assert len(updates_to(smtp)) == 1, "nothing for a signer who unsubscribed"
    assert await progress_of(client, token, slug, posted["id"], (1, 1, 0)) == (1, 1, 0)


async def test_update_emails_are_scheduled_at_the_services_pace_across_updates(
    app: Starlette, client: httpx.AsyncClient, token: str, settings: Settings, smtp: SmtpSink
) -> None:
    # 60 a minute: one a second, the second update's after the first's.
    paced = make_settings(
        Path(settings.data_dir), database_url=settings.database_url, update_emails_per_minute=60, **smtp_settings(smtp)
    )
    app.state.update_queuer.settings = paced
    db: Database = app.state.db
    slug, _ = await code_petition(client, token)
    await add_contacts(db, settings, await petition_id(db, slug), [f"paced{n}@elsewhere.org" for n in range(4)])
    other, _ = await code_petition(client, token)
    await add_contacts(db, settings, await petition_id(db, other), [f"other{n}@elsewhere.org" for n in range(3)])
    start = int(time.time())
    first = (await post(client, token, slug, email_subscribers=True, title="Paced one")).json()
    second = (await post(client, token, other, email_subscribers=True, title="Paced two")).json()
    await app.state.update_queuer.drain()
    dues = [
        int(row["due_at"])
        for update in (first, second)
        for row in await db.fetch_all(
            "SELECT due_at FROM outbox WHERE update_id = :u ORDER BY due_at", {"u": update["id"]}
        )
    ]
    # The one due now may be claimed already (its due_at then the claim's end): look at the rest.
    assert len(dues) == 7
    later = sorted(dues)[1:]
    assert all(b - a == 1 for a, b in itertools.pairwise(later)), dues
    assert later[-1] - start >= 6


async def test_the_pace_holds_in_real_time(
    app: Starlette, client: httpx.AsyncClient, token: str, settings: Settings, smtp: SmtpSink
) -> None:
    # 120 a minute: arrivals at least about half a second apart.
    paced = make_settings(
        Path(settings.data_dir), database_url=settings.database_url, update_emails_per_minute=120, **smtp_settings(smtp)
    )
    app.state.update_queuer.settings = app.state.sender.settings = paced
    db: Database = app.state.db
    slug, _ = await code_petition(client, token)
    await add_contacts(db, settings, await petition_id(db, slug), [f"timed{n}@elsewhere.org" for n in range(4)])
    arrivals: list[float] = []
    assert (await post(client, token, slug, email_subscribers=True, title="Timed")).status_code == 201
    deadline = time.monotonic() + 10
    while len(arrivals) < 4 and time.monotonic() < deadline:
        if len(updates_to(smtp, "Timed")) > len(arrivals):
            arrivals.append(time.monotonic())
            continue
        await asyncio.sleep(0.005)
    assert len(arrivals) == 4
    assert arrivals[-1] - arrivals[0] >= 1.4, arrivals
    assert all(b - a >= 0.3 for a, b in itertools.pairwise(arrivals)), arrivals


async def test_a_failing_message_counts_as_failed_then_sent_once_it_goes_through(
    app: Starlette, client: httpx.AsyncClient, token: str, settings: Settings, smtp: SmtpSink
) -> None:
    db: Database = app.state.db
    slug, _ = await code_petition(client, token)
    await add_contacts(db, settings, await petition_id(db, slug), ["refused.once@elsewhere.org"])
    smtp.refuse.add("refused.once@elsewhere.org")
    posted = (await post(client, token, slug, email_subscribers=True)).json()
    await send_everything(app)
    assert await progress_of(client, token, slug, posted["id"], (1, 0, 1)) == (1, 0, 1)
    smtp.refuse.clear()
    await db.write(lambda tx: tx.execute("UPDATE outbox SET due_at = 0 WHERE update_id = :u", {"u": posted["id"]}))
    assert await progress_of(client, token, slug, posted["id"], (1, 1, 0)) == (1, 1, 0)


def test_progress_in_words() -> None:
    base = {"id": "u", "title": "t", "body": "b", "posted_on": "2026-01-01T00:00:00Z", "emailed": True}
    words = petition_updates.progress_words
    assert words(petition_updates.UpdateProgress(**base, recipients=1200, sent=0, failed=0, queueing=True)) == "queued"
    assert (
        words(petition_updates.UpdateProgress(**base, recipients=1200, sent=340, failed=2, queueing=False))
        == "sent 340 of 1,200; 2 failed, retrying"
    )
    assert (
        words(petition_updates.UpdateProgress(**base, recipients=1200, sent=1200, failed=0, queueing=False))
        == "all 1,200 sent"
    )


async def test_the_organizer_page_posts_an_update_emails_it_and_shows_its_progress_in_words(
    app: Starlette, client: httpx.AsyncClient, token: str, settings: Settings, smtp: SmtpSink
) -> None:
    db: Database = app.state.db
    slug, _ = await code_petition(client, token)
    pid = await petition_id(db, slug)
    await add_contacts(db, settings, pid, ["page.one.sentinel@elsewhere.org", "page.two.sentinel@elsewhere.org"])
    assert (await log_in(client, "alice@example.org", ORGANIZER_PASSWORD)).status_code == 303
    path = f"/organize/petitions/{pid}/updates"
    page = await client.get(path)
    assert page.status_code == 200
    assert "Also email the 2 people who asked for updates" in page.text
    csrf = await csrf_of(client, path)
    form = {FORM_FIELD: csrf, "title": "From the page", "body": "Posted with the form.", "email_subscribers": "yes"}
    posted = await client.post(path, data=form)
    assert posted.status_code == 303 and posted.headers["location"].endswith("?done=update-emailed")
    await app.state.update_queuer.drain()
    await received(smtp, 2, "From the page")
    shown = ""
    for _ in range(100):
        shown = (await client.get(path)).text
        if "all 2 sent" in shown:
            break
        await asyncio.sleep(0.05)
    assert "From the page" in shown and "all 2 sent" in shown
    assert "sentinel" not in shown, "no address on the organizers' page"


async def test_the_organizer_page_refuses_a_bad_update_with_an_error_summary_and_changes_nothing(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db: Database = app.state.db
    slug, _ = await code_petition(client, token)
    pid = await petition_id(db, slug)
    assert (await log_in(client, "alice@example.org", ORGANIZER_PASSWORD)).status_code == 303
    path = f"/organize/petitions/{pid}/updates"
    page = await client.get(path)
    assert "Also email" not in page.text, "no checkbox when no one asked for updates"
    csrf = await csrf_of(client, path)
    refused = await client.post(path, data={FORM_FIELD: csrf, "title": "", "body": "x" * 5001})
    assert refused.status_code == 422
    assert "There is a problem" in refused.text and 'href="#title"' in refused.text and 'href="#body"' in refused.text
    assert "5,000 characters or fewer" in refused.text
    assert await db.fetch_val("SELECT COUNT(*) FROM petition_updates") == 0
    no_csrf = await client.post(path, data={"title": "Forged", "body": "No token."})
    assert no_csrf.status_code == 403
    assert await db.fetch_val("SELECT COUNT(*) FROM petition_updates") == 0


@pytest.mark.parametrize("value", ["0", "100001", "fast"])
def test_a_bad_update_pace_stops_start_up_with_one_line(tmp_path: Path, value: str) -> None:
    with pytest.raises(SettingsError) as error:
        load_settings({"DATA_DIR": str(tmp_path), "UPDATE_EMAILS_PER_MINUTE": value}, env_file=tmp_path / "no.env")
    assert "UPDATE_EMAILS_PER_MINUTE must be" in str(error.value) and "\n" not in str(error.value)
    paced = load_settings({"DATA_DIR": str(tmp_path), "UPDATE_EMAILS_PER_MINUTE": "120"}, env_file=tmp_path / "no.env")
    assert paced.update_emails_per_minute == 120
    assert load_settings({"DATA_DIR": str(tmp_path)}, env_file=tmp_path / "no.env").update_emails_per_minute == 60


async def test_a_message_that_expires_unsent_counts_as_failed_for_good(
    app: Starlette, client: httpx.AsyncClient, token: str, settings: Settings, smtp: SmtpSink
) -> None:
    db: Database = app.state.db
    slug, _ = await code_petition(client, token)
    await add_contacts(db, settings, await petition_id(db, slug), ["never.reached@elsewhere.org"])
    smtp.refuse.add("never.reached@elsewhere.org")
    posted = (await post(client, token, slug, email_subscribers=True)).json()
    await app.state.update_queuer.drain()
    assert await progress_of(client, token, slug, posted["id"], (1, 0, 1)) == (1, 0, 1)
    await db.write(
        lambda tx: tx.execute("UPDATE outbox SET expires_at = 0, due_at = 0 WHERE update_id = :u", {"u": posted["id"]})
    )
    await app.state.sender.drain()
    assert await db.fetch_val("SELECT COUNT(*) FROM outbox WHERE update_id = :u", {"u": posted["id"]}) == 0
    assert await db.fetch_val("SELECT given_up FROM petition_updates WHERE id = :u", {"u": posted["id"]}) == 1
    assert await progress_of(client, token, slug, posted["id"], (1, 0, 1)) == (1, 0, 1)

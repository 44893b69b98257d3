"""The update email (plain and HTML parts, its unsubscribe link and headers), one-click unsubscribe
at /u/{token}, and updates addresses at the petition's own work domains refused where given."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from starlette.applications import Starlette

from petition import addresses, outbox, queries, unsubscribe, update_mail
from petition.batcher import close_batch
from petition.database import Database, Transaction
from petition.mailer import Mail
from petition.settings import Settings
from petition.tokens import receipt_key

from .conftest import BASE_URL, SmtpSink, make_settings, smtp_settings
from .test_email_signing import codes_for, email_petition, rows
from .test_leaks import database_bytes, leaks_in
from .test_sign_pages import form_token
from .test_signing import make_codes, petition_id, status

pytestmark = pytest.mark.usefixtures("organizer")
PERSONAL = "unsub.home.sentinel@elsewhere.org"
OTHER = "unsub.other.sentinel@elsewhere.org"
UPDATE = {"id": "u1d2a3t4e5", "title": "We met the director", "body": "She listened.\n\nNext: the rota vote."}
TITLE = "Fair rotas for the night shift"
WORK_DOMAIN_MESSAGE = (
    "Give a personal address: updates name the petition, and example.com's mail server would see them."
)
WORK_DOMAIN_ON_PAGE = WORK_DOMAIN_MESSAGE.replace("'", "&#39;")  # as Jinja escapes it


@pytest.fixture
def settings(tmp_path: Path, db_url: str, smtp: SmtpSink) -> Settings:
    return make_settings(tmp_path, database_url=db_url, outbox_retry_seconds=1, **smtp_settings(smtp))


@dataclass
class Subscribed:
    slug: str
    receipt: str
    contact_key: str


async def subscribe(
    app: Starlette, client: httpx.AsyncClient, smtp: SmtpSink, token: str, addresses_: tuple[str, ...] = (PERSONAL,)
) -> list[Subscribed]:
    """A petition (work domain example.com) signed with printed codes, each signature with a
    confirmed updates address, written to `contacts` by its batch."""
    slug = await email_petition(client, token)
    found = []
    for code, address in zip(await make_codes(client, token, slug, len(addresses_)), addresses_, strict=True):
        url = f"/api/v1/petitions/{slug}/signatures"
        signed = await client.post(url, json={"code": code, "updates": address})
        assert signed.status_code == 201, signed.text
        receipt = signed.json()["receipt"]
        [updates_code] = await codes_for(app, smtp, address)
        confirmed = await client.post(f"{url}/updates/confirm", json={"receipt": receipt, "code": updates_code})
        assert confirmed.status_code == 200
        found.append(Subscribed(slug, receipt, receipt_key("contact/v1", receipt)))
    db: Database = app.state.db
    await close_batch(db, app.state.settings, await petition_id(db, slug))
    assert await rows(db, "contacts") == len(addresses_)
    return found


async def message(
    app: Starlette, slug: str, contact_key: str, address: str = PERSONAL, update: Mapping[str, Any] = UPDATE
) -> Mail:
    """The update email `message_for` makes, in a write of its own (as the sender's queueing does)."""
    db: Database = app.state.db
    row = await db.fetch_one(queries.SELECT_PETITION_BY_ID, {"id": await petition_id(db, slug)})

    async def unit(tx: Transaction) -> Mail:
        return await update_mail.message_for(
            tx, app.state.settings, petition=row, update=update, contact_key=contact_key, address=address
        )

    return await db.write(unit)


async def send(app: Starlette, smtp: SmtpSink, mail: Mail, slug: str) -> EmailMessage:
    """`mail` through the outbox and a real SMTP server; the message as the server received it."""
    db: Database = app.state.db
    pid = await petition_id(db, slug)

    async def unit(tx: Transaction) -> None:
        await outbox.queue(
            tx,
            app.state.settings,
            to=addresses.parse(mail.to),
            subject=mail.subject,
            body=mail.body,
            petition_id=pid,
            html=mail.html,
            headers=mail.headers,
        )

    before = len(smtp.to(mail.to))
    await db.write(unit)
    await app.state.sender.drain()
    received = smtp.to(mail.to)
    assert len(received) == before + 1
    return received[-1]["message"]


def path_of(link: str) -> str:
    assert link.startswith(f"{BASE_URL}/u/"), link
    return urlsplit(link).path


def header_link(mail: Mail) -> str:
    [value] = [value for name, value in mail.headers if name == "List-Unsubscribe"]
    assert value.startswith("<") and value.endswith(">")
    return value[1:-1]


def header(mail: Mail, name: str) -> str:
    [value] = [value for found, value in mail.headers if found == name]
    return value


def stranger(app: Starlette) -> httpx.AsyncClient:
    """A client with no cookie, as a mail provider's server posting a one-click unsubscribe is."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL)


# -- the message ------------------------------------------------------------------------------


async def test_an_update_email_reaches_a_real_smtp_server_with_both_parts_and_working_unsubscribe_headers(
    app: Starlette, client: httpx.AsyncClient, smtp: SmtpSink, token: str
) -> None:
    [signer] = await subscribe(app, client, smtp, token)
    received = await send(app, smtp, await message(app, signer.slug, signer.contact_key), signer.slug)
    assert received.get_content_type() == "multipart/alternative"
    assert f"“{TITLE}”" in str(received["Subject"]) and UPDATE["title"] in str(received["Subject"])
    plain = received.get_body(preferencelist=("plain",))
    html = received.get_body(preferencelist=("html",))
    assert plain is not None and html is not None
    text, page = plain.get_content(), html.get_content()
    link = str(received["List-Unsubscribe"]).strip("<>")
    for words in (UPDATE["title"], "She listened.", "Next: the rota vote.", TITLE, f"{BASE_URL}/p/{signer.slug}"):
        assert words in text and words in page, words
    assert "you asked for updates when you signed" in text and link in text and "receipt" in text
    assert f'href="{link}"' in page and "<img" not in page and "<script" not in page and "style" not in page
    assert all(len(line) <= 78 for line in text.splitlines() if " " in line), "prose lines are wrapped"
    assert str(received["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"
    assert re.fullmatch(r"<[0-9a-f]{32}\.update@127\.0\.0\.1>", str(received["Message-ID"])), received["Message-ID"]
    assert str(received["Precedence"]) == "bulk" and received["Auto-Submitted"] is None
    # RFC 8058: the mail client POSTs the header's link, with no cookie and no form token.
    async with stranger(app) as mail_client:
        clicked = await mail_client.post(path_of(link), data={"List-Unsubscribe": "One-Click"})
    assert clicked.status_code == 200 and "You are unsubscribed" in clicked.text
    assert await rows(app.state.db, "contacts") == 0


async def test_organizer_text_is_escaped_in_the_html_part_and_one_line_in_the_subject(
    app: Starlette, client: httpx.AsyncClient, smtp: SmtpSink, token: str
) -> None:
    [signer] = await subscribe(app, client, smtp, token)
    nasty = {"id": "x1", "title": "<script>alert(\"hi\")</script> & 'quoted'", "body": "a <b>bold</b>\nline & more"}
    mail = await message(app, signer.slug, signer.contact_key, update=nasty)
    assert mail.html is not None
    assert "<script>" not in mail.html and "<b>" not in mail.html
    assert "&lt;script&gt;alert(&quot;hi&quot;)&lt;/script&gt; &amp; &#x27;quoted&#x27;" in mail.html
    assert "a &lt;b&gt;bold&lt;/b&gt;<br>line &amp; more" in mail.html
    assert "\n" not in mail.subject and nasty["title"] in mail.subject, "the plain part and subject are text"
    received = await send(app, smtp, mail, signer.slug)
    html = received.get_body(preferencelist=("html",))
    assert html is not None and "<script>" not in html.get_content()


async def test_the_same_update_and_contact_get_the_same_message_id_and_link_and_others_get_their_own(
    app: Starlette, client: httpx.AsyncClient, smtp: SmtpSink, token: str
) -> None:
    first, second = await subscribe(app, client, smtp, token, (PERSONAL, OTHER))
    once = await message(app, first.slug, first.contact_key)
    again = await message(app, first.slug, first.contact_key)
    assert once == again, "a resend is the very same message"
    later = await message(app, first.slug, first.contact_key, update={**UPDATE, "id": "another-update"})
    other = await message(app, second.slug, second.contact_key, OTHER)
    assert header_link(later) == header_link(once), "every update email to a contact carries its one link"
    assert header(later, "Message-ID") != header(once, "Message-ID")
    assert header_link(other) != header_link(once) and header(other, "Message-ID") != header(once, "Message-ID")
    for mail in (once, later, other):
        token_part = path_of(header_link(mail)).removeprefix("/u/")
        assert len(base64.urlsafe_b64decode(token_part)) * 8 >= 128 + 64 and unsubscribe.is_ours(
            app.state.settings, token_part
        )
        assert first.contact_key not in header(mail, "Message-ID") and UPDATE["id"] not in header(mail, "Message-ID")


async def test_the_token_is_kept_only_as_its_hash_on_the_contact_row(
    app: Starlette, client: httpx.AsyncClient, smtp: SmtpSink, token: str, dialect: str
) -> None:
    [signer] = await subscribe(app, client, smtp, token)
    db: Database = app.state.db
    before = await db.fetch_val("SELECT unsubscribe_hash FROM contacts")
    assert before is None, "written when an update email first needs it"
    link = header_link(await message(app, signer.slug, signer.contact_key))
    plain = path_of(link).removeprefix("/u/")
    kept = await db.fetch_val("SELECT unsubscribe_hash FROM contacts")
    assert kept == hashlib.sha256(plain.encode()).hexdigest()
    await db.checkpoint()
    stored = await database_bytes(db, app.state.settings, dialect)
    assert not leaks_in(stored, {"unsubscribe token": plain}), "the token itself is in no table"


# -- the link ---------------------------------------------------------------------------------


async def test_opening_the_link_asks_with_a_post_form_and_changes_nothing(
    app: Starlette, client: httpx.AsyncClient, smtp: SmtpSink, token: str
) -> None:
    [signer] = await subscribe(app, client, smtp, token)
    path = path_of(header_link(await message(app, signer.slug, signer.contact_key)))
    async with stranger(app) as scanner:
        for _ in range(2):  # a mail scanner opens every link, maybe twice
            page = await scanner.get(path)
            assert page.status_code == 200 and "Stop updates?" in page.text
    assert TITLE in page.text and PERSONAL not in page.text and "sentinel" not in page.text
    assert f'<form method="post" action="{path}">' in page.text
    assert page.headers["cache-control"] == "no-store" and "noindex" in page.headers["x-robots-tag"]
    assert page.headers["referrer-policy"] == "no-referrer"
    assert await rows(app.state.db, "contacts") == 1


@pytest.mark.parametrize("form", ["urlencoded", "multipart", "confirm page"])
async def test_a_one_click_post_without_cookie_or_csrf_token_unsubscribes_and_a_second_says_already_done(
    app: Starlette, client: httpx.AsyncClient, smtp: SmtpSink, token: str, form: str
) -> None:
    [signer] = await subscribe(app, client, smtp, token)
    path = path_of(header_link(await message(app, signer.slug, signer.contact_key)))
    one_click = {"List-Unsubscribe": "One-Click"}
    async with stranger(app) as mail_client:
        if form == "urlencoded":
            done = await mail_client.post(path, data=one_click)
        elif form == "multipart":  # a webmail page on another origin, as RFC 8058 allows
            cross = {"origin": "https://webmail.example", "sec-fetch-site": "cross-site"}
            done = await mail_client.post(path, files={"List-Unsubscribe": (None, "One-Click")}, headers=cross)
        else:
            done = await mail_client.post(path)  # the confirm page's button sends no field
        assert done.status_code == 200, done.text
        assert "You are unsubscribed" in done.text and TITLE in done.text and PERSONAL not in done.text
        assert await rows(app.state.db, "contacts") == 0, "deleted at once"
        for again in (await mail_client.post(path, data=one_click), await mail_client.get(path)):
            assert again.status_code == 200 and unsubscribe.ALREADY in again.text
            assert TITLE not in again.text, "a link whose contact is gone leads to nothing"
    assert await status(client, signer.slug, signer.receipt) == "counted", "the signature stays"
    again_by_receipt = await client.post(
        f"/api/v1/petitions/{signer.slug}/signatures/updates/unsubscribe", json={"receipt": signer.receipt}
    )
    assert again_by_receipt.status_code == 409, "the receipt finds no address either"


async def test_a_link_whose_signature_was_withdrawn_says_already_unsubscribed(
    app: Starlette, client: httpx.AsyncClient, smtp: SmtpSink, token: str
) -> None:
    [signer] = await subscribe(app, client, smtp, token)
    path = path_of(header_link(await message(app, signer.slug, signer.contact_key)))
    url = f"/api/v1/petitions/{signer.slug}/signatures/withdraw"
    assert (await client.post(url, json={"receipt": signer.receipt})).status_code == 200
    async with stranger(app) as mail_client:
        for answer in (
            await mail_client.get(path),
            await mail_client.post(path, data={"List-Unsubscribe": "One-Click"}),
        ):
            assert answer.status_code == 200 and unsubscribe.ALREADY in answer.text


@pytest.mark.parametrize(
    "bad",
    [
        "forged",  # the right shape, but not a token we made
        "cut",  # a real token missing its last character
        "changed",  # a real token with one character changed
        "no-such-token-value",
        "a" * 200,
    ],
)
async def test_a_forged_or_malformed_link_is_404_and_changes_nothing(
    app: Starlette, client: httpx.AsyncClient, smtp: SmtpSink, token: str, bad: str
) -> None:
    [signer] = await subscribe(app, client, smtp, token)
    real = path_of(header_link(await message(app, signer.slug, signer.contact_key))).removeprefix("/u/")
    typed = {
        "forged": base64.urlsafe_b64encode(secrets.token_bytes(unsubscribe.TOKEN_BYTES)).decode(),
        "cut": real[:-1],
        "changed": real[:5] + ("A" if real[5] != "A" else "B") + real[6:],
    }.get(bad, bad)
    async with stranger(app) as visitor:
        for answer in (
            await visitor.get(f"/u/{typed}"),
            await visitor.post(f"/u/{typed}", data={"List-Unsubscribe": "One-Click"}),
        ):
            assert answer.status_code == 404 and "not one of ours, or it was copied wrong" in answer.text
            assert answer.headers["cache-control"] == "no-store"
    assert await rows(app.state.db, "contacts") == 1


# -- no updates to the employer ---------------------------------------------------------------

WORK_ADDRESSES = ["ada@example.com", "Ada@EXAMPLE.COM", "ada@mail.example.com", "ada@Deep.Mail.Example.Com"]


async def nothing_kept(db: Database) -> None:
    for table in ("contact_confirmations", "contacts", "outbox", "pending_signatures", "sign_attempts"):
        assert await rows(db, table) == 0, table


@pytest.mark.parametrize("address", WORK_ADDRESSES)
async def test_an_updates_address_at_a_work_domain_is_refused_when_signing_through_the_api(
    app: Starlette, client: httpx.AsyncClient, token: str, address: str
) -> None:
    slug = await email_petition(client, token)
    [code] = await make_codes(client, token, slug, 1)
    url = f"/api/v1/petitions/{slug}/signatures"
    for fields in ({"code": code}, {"email": "worker.sentinel@example.com"}):
        refused = await client.post(url, json={**fields, "updates": address})
        assert refused.status_code == 422, refused.text
        error = refused.json()["error"]
        assert error["message"] == WORK_DOMAIN_MESSAGE
        assert error["fields"] == [{"field": "updates", "message": WORK_DOMAIN_MESSAGE}]
    await nothing_kept(app.state.db)
    signed = await client.post(url, json={"code": code, "updates": "ada@example.com.elsewhere.org"})
    assert signed.status_code == 201, "the code was not spent, and a look-alike personal domain is fine"


@pytest.mark.parametrize("method", ["code", "email"])
async def test_an_updates_address_at_a_work_domain_is_refused_beside_its_field_on_the_signing_page(
    app: Starlette, client: httpx.AsyncClient, token: str, method: str
) -> None:
    slug = await email_petition(client, token)
    [code] = await make_codes(client, token, slug, 1)
    route = {"code": code} if method == "code" else {"email": "worker.sentinel@example.com"}
    form = {"method": method, "token": await form_token(client, slug, method), **route, "updates": WORK_ADDRESSES[2]}
    page = await client.post(f"/p/{slug}/sign", data=form)
    assert page.status_code == 422
    beside = f'<p class="error" id="{method}-updates-error"><span class="visually-hidden">Error: </span>'
    assert beside + WORK_DOMAIN_ON_PAGE in page.text
    assert f'value="{WORK_ADDRESSES[2]}"' in page.text, "the form keeps what was typed"
    await nothing_kept(app.state.db)


async def test_an_updates_address_at_a_work_domain_is_refused_when_given_with_the_receipt(
    app: Starlette, client: httpx.AsyncClient, smtp: SmtpSink, token: str
) -> None:
    slug = await email_petition(client, token)
    [code] = await make_codes(client, token, slug, 1)
    receipt = (await client.post(f"/api/v1/petitions/{slug}/signatures", json={"code": code})).json()["receipt"]
    for address in WORK_ADDRESSES:
        api = await client.post(
            f"/api/v1/petitions/{slug}/signatures/updates", json={"receipt": receipt, "address": address}
        )
        assert api.status_code == 422 and api.json()["error"]["fields"][0]["field"] == "address"
        page = await client.post(f"/p/{slug}/updates", data={"receipt": receipt, "address": address})
        assert page.status_code == 422
        assert '<p class="error" id="updates-address-error">Give a personal address' in page.text
        assert "example.com&#39;s mail server would see them" in page.text
    db: Database = app.state.db
    assert await rows(db, "contact_confirmations") == 0 and await rows(db, "outbox") == 0

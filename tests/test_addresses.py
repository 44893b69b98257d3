"""Work addresses: one strict parser, one canonical form, one envelope recipient per message (real SMTP)."""

from __future__ import annotations

import json
import secrets
import unicodedata
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from petition import addresses, email_codes, queries
from petition.addresses import AddressRefused, parse
from petition.csrf import FORM_FIELD
from petition.database import Database, Transaction
from petition.email_signing import check_domain
from petition.petitions import PetitionError
from petition.settings import Settings

from .conftest import SmtpSink, make_settings, smtp_settings
from .test_email_signing import ask, codes_for, email_petition, rows, verify
from .test_login import csrf_of, log_in
from .test_signing import count_everything

pytestmark = pytest.mark.usefixtures("organizer")
FORGED = "=?utf-8?q?attacker=40evil.org?=,nobody7@example.com"
ONE_MAILBOX = ["bob@example.com", "bob(1)@example.com", '"bob"@example.com', "x,bob@example.com"]
NFC = unicodedata.normalize("NFC", "josé@example.com")
NFD = unicodedata.normalize("NFD", "josé@example.com")


@pytest.fixture
def settings(tmp_path: Path, db_url: str, smtp: SmtpSink) -> Settings:
    return make_settings(tmp_path, database_url=db_url, outbox_retry_seconds=1, **smtp_settings(smtp))


# -- the parser ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "mailbox", "canonical"),
    [
        ("bob@example.com", "bob@example.com", "bob@example.com"),
        ("  Bob.Smith+News@Example.COM ", "Bob.Smith+News@example.com", "bob.smith@example.com"),
        ("o'brien@example.com", "o'brien@example.com", "o'brien@example.com"),
        (NFD, NFC, NFC),
        ("a@Bücher.DE", "a@xn--bcher-kva.de", "a@xn--bcher-kva.de"),
        ("a@xn--bcher-kva.de", "a@xn--bcher-kva.de", "a@xn--bcher-kva.de"),
        ("alice.smith@gmail.com", "alice.smith@gmail.com", "alicesmith@gmail.com"),
        ("Alice.Smith+x@googlemail.com", "Alice.Smith+x@googlemail.com", "alicesmith@gmail.com"),
        ("a.b+c@example.com", "a.b+c@example.com", "a.b@example.com"),
        ("ｂob@example.com", "ｂob@example.com", "bob@example.com"),
    ],
)
def test_an_address_is_kept_as_typed_and_counted_in_its_canonical_form(
    typed: str, mailbox: str, canonical: str
) -> None:
    address = parse(typed)
    assert (address.mailbox, address.canonical) == (mailbox, canonical)


@pytest.mark.parametrize(
    "typed",
    [
        FORGED,
        "=?utf-8?q?bob?=@example.com",
        "bob(1)@example.com",
        '"bob"@example.com',
        "x,bob@example.com",
        "Bob <bob@example.com>",
        "bob@example.com, eve@evil.org",
        "bob@example.com\r\nBcc: eve@evil.org",
        "bob smith@example.com",
        "bob\t@example.com",
        "b\u200bob@example.com",
        "\u202ebob@example.com",
        "bob\x00@example.com",
        "bob%evil.org@example.com",
        "evil.org!bob@example.com",
        "+bob@example.com",
        ".bob@example.com",
        "bob..smith@example.com",
        "bob@[127.0.0.1]",
        "bob@localhost",
        "bob@example",
        "bob@example.com.",
        "bob@@example.com",
        "@example.com",
        "bob@",
        "",
        "b" * 65 + "@example.com",
        "bob@" + "a" * 250 + ".com",
    ],
)
def test_anything_but_one_plain_address_is_refused_with_one_message(typed: str) -> None:
    with pytest.raises(AddressRefused) as refused:
        parse(typed)
    assert str(refused.value) == addresses.REFUSED


def test_allowed_domains_are_normalised_as_addresses_domains_are() -> None:
    assert addresses.normalise_domain(" Bücher.DE") == parse("a@bücher.de").domain == "xn--bcher-kva.de"
    assert addresses.normalise_domain("EXAMPLE.com") == "example.com"
    for bad in ("localhost", "example.com.", "*.example.com", "ex ample.com", "ex\u200bample.com"):
        with pytest.raises(ValueError, match="must be a domain"):
            addresses.normalise_domain(bad)


# -- signing, through the service and a real SMTP server -------------------------------------


async def messages_sent(app: Starlette, smtp: SmtpSink) -> list[list[str]]:
    """The envelope recipients of every message the SMTP server received, once the outbox sent what is due."""
    await app.state.sender.drain()
    return smtp.envelopes


async def test_an_encoded_word_with_a_comma_is_refused_and_nothing_is_sent(
    app: Starlette, client: httpx.AsyncClient, smtp: SmtpSink, token: str
) -> None:
    slug = await email_petition(client, token)
    refused = await ask(client, slug, FORGED)
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["code"] and addresses.REFUSED in refused.json()["error"]["message"]
    page = await client.post(f"/p/{slug}/sign", data={"email": FORGED})
    assert page.status_code == 422 and "Enter one plain email address" in page.text
    assert await messages_sent(app, smtp) == []
    db: Database = app.state.db
    assert await rows(db, "sign_attempts") == 0 and await rows(db, "outbox") == 0


async def test_spellings_of_one_mailbox_are_refused_or_one_signature(
    app: Starlette, client: httpx.AsyncClient, smtp: SmtpSink, token: str
) -> None:
    slug = await email_petition(client, token)
    signed = 0
    for typed in ONE_MAILBOX:
        asked = await ask(client, slug, typed)
        if asked.status_code == 422:
            continue
        assert asked.status_code == 202
        [code] = await codes_for(app, smtp, "bob@example.com")
        signed += (await verify(client, slug, asked.json()["attempt"], code)).status_code == 201
        smtp.messages.clear()
    assert signed == 1
    await count_everything(app)
    assert await rows(app.state.db, "email_dedupe") == 1
    assert all(len(envelope) == 1 for envelope in await messages_sent(app, smtp))


async def test_spellings_of_one_mailbox_share_its_daily_cap(
    app: Starlette, client: httpx.AsyncClient, smtp: SmtpSink, token: str
) -> None:
    app.state.settings = replace(app.state.settings, max_code_emails_per_day=2)
    slug = await email_petition(client, token)
    for typed in [*ONE_MAILBOX, "Bob@Example.com", "bob+1@example.com", "BOB+2@example.com"]:
        assert (await ask(client, slug, typed)).status_code in (202, 422)
    assert len(await messages_sent(app, smtp)) == 2, "one mailbox, one cap"


async def test_composed_and_decomposed_spellings_are_one_signature(
    app: Starlette, client: httpx.AsyncClient, smtp: SmtpSink, token: str
) -> None:
    slug = await email_petition(client, token)
    first = await ask(client, slug, NFC)
    [code] = await codes_for(app, smtp, NFC)
    assert (await verify(client, slug, first.json()["attempt"], code)).status_code == 201
    second = await ask(client, slug, NFD)
    assert second.status_code == 202
    code = (await codes_for(app, smtp, NFC))[-1]
    already = await verify(client, slug, second.json()["attempt"], code)
    assert already.status_code == 409 and "already signed" in already.json()["error"]["message"]
    assert await messages_sent(app, smtp) == [[NFC], [NFC]]


async def test_dotted_and_tagged_gmail_spellings_are_one_signature(
    app: Starlette, client: httpx.AsyncClient, smtp: SmtpSink, token: str
) -> None:
    slug = await email_petition(client, token, allowed_domains=["gmail.com", "googlemail.com"])
    spellings = ["alice.smith@gmail.com", "alicesmith@gmail.com", "Alice.Smith+x@googlemail.com"]
    outcomes = []
    for typed in spellings:
        asked = await ask(client, slug, typed)
        assert asked.status_code == 202
        code = (await codes_for(app, smtp, typed))[-1]
        outcomes.append((await verify(client, slug, asked.json()["attempt"], code)).status_code)
    assert outcomes == [201, 409, 409]
    assert await messages_sent(app, smtp) == [[typed] for typed in spellings], "each went where it was typed"


async def test_every_message_goes_to_one_envelope_recipient_the_address_as_typed(
    app: Starlette, client: httpx.AsyncClient, smtp: SmtpSink, token: str
) -> None:
    slug = await email_petition(client, token)
    typed = "Rosalind.Sentinel+Petition@Example.COM"
    sent_to = "Rosalind.Sentinel+Petition@example.com"
    asked = await ask(client, slug, typed, updates=" Ros.Home+news@Elsewhere.org ")
    [first_code] = await codes_for(app, smtp, sent_to)
    resent = await client.post(f"/api/v1/petitions/{slug}/signatures/resend", json={"attempt": asked.json()["attempt"]})
    assert resent.status_code == 202
    [code] = [code for code in await codes_for(app, smtp, sent_to) if code != first_code]
    receipt = (await verify(client, slug, asked.json()["attempt"], code)).json()["receipt"]  # queues the updates code
    again = await client.post(
        f"/api/v1/petitions/{slug}/signatures/updates", json={"receipt": receipt, "address": "Other+x@Elsewhere.org"}
    )
    assert again.status_code == 202
    await log_in(client, "alice@example.org")
    csrf = await csrf_of(client, "/organize/admin")
    invited = await client.post("/organize/admin/invite", data={FORM_FIELD: csrf, "email": "Bob.New+Org@Example.org"})
    assert invited.status_code == 200
    await client.post("/logout", data={FORM_FIELD: await csrf_of(client, "/organize")})
    await client.post("/reset", data={FORM_FIELD: await csrf_of(client, "/reset"), "email": "Alice@Example.org"})
    expected = [
        [sent_to],  # the code
        [sent_to],  # the resent code
        ["Ros.Home+news@elsewhere.org"],  # the updates address's code
        ["Other+x@elsewhere.org"],  # the changed updates address's code
        ["Bob.New+Org@example.org"],  # the invitation
        ["alice@example.org"],  # the reset link, to the account's address
    ]
    assert sorted(await messages_sent(app, smtp)) == sorted(expected)
    assert {message["to"] == message["to_header"] for message in smtp.messages} == {True}


async def test_a_refused_address_is_refused_the_same_whether_or_not_it_signed(
    app: Starlette, client: httpx.AsyncClient, smtp: SmtpSink, token: str
) -> None:
    slug = await email_petition(client, token)
    asked = await ask(client, slug, "bob@example.com")
    [code] = await codes_for(app, smtp, "bob@example.com")
    assert (await verify(client, slug, asked.json()["attempt"], code)).status_code == 201
    signed = await ask(client, slug, '"bob"@example.com')
    never = await ask(client, slug, '"nobody"@example.com')
    assert signed.status_code == never.status_code == 422
    assert signed.json() == never.json() and signed.headers.keys() == never.headers.keys()


async def test_an_updates_address_is_parsed_strictly_too(
    app: Starlette, client: httpx.AsyncClient, smtp: SmtpSink, token: str
) -> None:
    slug = await email_petition(client, token)
    refused = await ask(client, slug, "bob@example.com", updates=FORGED)
    assert refused.status_code == 422
    asked = await ask(client, slug, "bob@example.com")
    [code] = await codes_for(app, smtp, "bob@example.com")
    receipt = (await verify(client, slug, asked.json()["attempt"], code)).json()["receipt"]
    url = f"/api/v1/petitions/{slug}/signatures/updates"
    assert (await client.post(url, json={"receipt": receipt, "address": FORGED})).status_code == 422
    page = await client.post(f"/p/{slug}/updates", data={"receipt": receipt, "address": FORGED})
    assert page.status_code == 422
    assert await messages_sent(app, smtp) == [["bob@example.com"]]


async def test_allowed_domains_are_matched_after_idna_normalisation(
    app: Starlette, client: httpx.AsyncClient, smtp: SmtpSink, token: str
) -> None:
    slug = await email_petition(client, token, allowed_domains=["Bücher.DE"])
    db: Database = app.state.db
    stored = await db.fetch_val("SELECT allowed_domains FROM petitions WHERE slug = :slug", {"slug": slug})
    assert json.loads(stored) == ["xn--bcher-kva.de"]
    for typed in ("anna@bücher.de", "Ben@BÜCHER.de", "carla@xn--bcher-kva.de"):
        assert (await ask(client, slug, typed)).status_code == 202, typed
    assert (await ask(client, slug, "anna@bucher.de")).status_code == 422
    sent = sorted(await messages_sent(app, smtp))
    assert sent == sorted([["anna@xn--bcher-kva.de"], ["Ben@xn--bcher-kva.de"], ["carla@xn--bcher-kva.de"]])


async def signed_under_v1(db: Database, petition_id: str, tag: str) -> None:
    """A signature stored before dedupe/v2: only its v1 tag is there."""

    async def unit(tx: Transaction) -> None:
        values = {"tag": tag, "petition_id": petition_id, "withdraw_key": secrets.token_hex(32)}
        await tx.execute(queries.INSERT_EMAIL_DEDUPE, values)

    await db.write(unit)


async def test_an_address_under_a_v1_tag_cannot_sign_again(
    app: Starlette, client: httpx.AsyncClient, smtp: SmtpSink, token: str
) -> None:
    slug = await email_petition(client, token)
    db: Database = app.state.db
    petition_id = await db.fetch_val("SELECT id FROM petitions WHERE slug = :slug", {"slug": slug})
    [v1_tag] = email_codes.earlier_dedupe_tags(app.state.settings, petition_id, parse("bob@example.com"))
    assert v1_tag == email_codes._mac(app.state.settings, f"dedupe/v1|{petition_id}|bob@example.com")
    await signed_under_v1(db, petition_id, v1_tag)
    asked = await ask(client, slug, "Bob+again@example.com")
    code = (await codes_for(app, smtp, "Bob+again@example.com"))[-1]
    assert (await verify(client, slug, asked.json()["attempt"], code)).status_code == 409


async def test_an_international_address_under_a_v1_tag_cannot_sign_again(
    app: Starlette, client: httpx.AsyncClient, smtp: SmtpSink, token: str
) -> None:
    slug = await email_petition(client, token, allowed_domains=["bücher.de"])
    db: Database = app.state.db
    petition_id = await db.fetch_val("SELECT id FROM petitions WHERE slug = :slug", {"slug": slug})
    # v1 hashed the domain as typed, so a signer who typed it in Unicode holds this tag.
    v1_tag = email_codes._mac(app.state.settings, f"dedupe/v1|{petition_id}|dan@bücher.de")
    assert v1_tag in email_codes.earlier_dedupe_tags(app.state.settings, petition_id, parse("Dan@Bücher.de"))
    await signed_under_v1(db, petition_id, v1_tag)
    asked = await ask(client, slug, "dan@bücher.de")
    code = (await codes_for(app, smtp, "dan@xn--bcher-kva.de"))[-1]
    assert (await verify(client, slug, asked.json()["attempt"], code)).status_code == 409


# -- organizers ---------------------------------------------------------------------------------


async def test_an_invitation_to_a_forged_address_is_refused_and_nothing_is_sent(
    app: Starlette, client: httpx.AsyncClient, smtp: SmtpSink
) -> None:
    await log_in(client, "alice@example.org")
    csrf = await csrf_of(client, "/organize/admin")
    page = await client.post("/organize/admin/invite", data={FORM_FIELD: csrf, "email": FORGED})
    assert page.status_code == 422 and "Enter one plain email address" in page.text
    assert await messages_sent(app, smtp) == []


async def test_login_limit_counts_spellings_of_one_address_together(
    settings: Settings, app: Starlette, client: httpx.AsyncClient
) -> None:
    spellings = ["alice@example.org", "Alice+1@example.org", "alice+2@Example.org"]
    for n in range(settings.rate_limit_login_per_account):
        assert (await log_in(client, spellings[n % len(spellings)], "wrong password here")).status_code == 400
    assert (await log_in(client, "ALICE+3@example.org", "wrong password here")).status_code == 429


async def test_an_overlong_updates_address_is_refused_not_cut_into_another(
    app: Starlette, client: httpx.AsyncClient, smtp: SmtpSink, token: str
) -> None:
    slug = await email_petition(client, token)
    asked = await ask(client, slug, "bob@example.com")
    [code] = await codes_for(app, smtp, "bob@example.com")
    receipt = (await verify(client, slug, asked.json()["attempt"], code)).json()["receipt"]
    cut = "bob@" + ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 55]) + ".co"
    assert len(cut) == addresses.MAX_LENGTH and parse(cut)
    page = await client.post(f"/p/{slug}/updates", data={"receipt": receipt, "address": cut + "m"})
    assert page.status_code == 422
    assert await messages_sent(app, smtp) == [["bob@example.com"]]


def test_domains_saved_before_normalisation_are_matched_in_their_normal_form() -> None:
    petition = {"allowed_domains": json.dumps(["EXAMPLE.com", "corp.local"])}
    check_domain(petition, parse("bob@example.com"))
    with pytest.raises(PetitionError) as refused:
        check_domain(petition, parse("bob@example.org"))
    assert refused.value.status == 422

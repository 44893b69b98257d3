"""The signer's pages: read then sign, a form per method, double taps, the emailed code's step, errors, dead ends."""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from petition import receipt_cookie, sign_tokens
from petition.batcher import close_batch
from petition.petition_pages import BODY_SHOWN_CHARACTERS, body_parts
from petition.settings import Settings

from .conftest import BASE_URL, SmtpSink, make_settings, smtp_settings
from .test_email_signing import WORKER, codes_for, email_petition
from .test_petitions import bearer
from .test_signing import count_of, make_codes, petition_id

pytestmark = pytest.mark.usefixtures("organizer")
PYDANTIC_WORDS = ("should", "Value error", "Field required", "Input")
RECEIPT = re.compile(r'<code class="secret">([^<]+)</code>')
LONG_BODY = "We ask for rotas four weeks ahead. " * 10 + "\n\n" + "Every night shift needs two nurses. " * 30


@pytest.fixture
def settings(tmp_path: Path, db_url: str, smtp: SmtpSink) -> Settings:
    return make_settings(tmp_path, database_url=db_url, outbox_retry_seconds=1, **smtp_settings(smtp))


def hidden(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found, name
    return found.group(1)


async def form_token(client: httpx.AsyncClient, slug: str, method: str) -> str:
    page = await client.get(f"/p/{slug}/sign/{method}")
    assert page.status_code == 200, page.text
    return hidden(page.text, "token")


def visitor(app: Starlette, cookies: httpx.Cookies | None = None) -> httpx.AsyncClient:
    """A client of its own (its own cookies), as another tab or device would be."""
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 51000))
    return httpx.AsyncClient(transport=transport, base_url=BASE_URL, cookies=cookies)


async def receipt_behind(app: Starlette, answer: httpx.Response, slug: str) -> str:
    """The receipt a signing answer's redirect leads to (its page, read with that answer's cookie)."""
    assert answer.status_code == 303 and answer.headers["location"] == f"/p/{slug}/signed", answer.text
    async with visitor(app, answer.cookies) as device:
        page = await device.get(f"/p/{slug}/signed")
    found = RECEIPT.search(page.text)
    assert found, page.text
    return found.group(1)


async def waiting(app: Starlette) -> int:
    return int(await app.state.db.fetch_val("SELECT COUNT(*) FROM pending_signatures"))


async def counted_after_batch(app: Starlette, client: httpx.AsyncClient, slug: str) -> int:
    await close_batch(app.state.db, app.state.settings, await petition_id(app.state.db, slug))
    app.state.public_cache.clear()
    return await count_of(client, slug)


# -- read, then sign -----------------------------------------------------------------------------


async def test_the_petition_page_shows_the_petition_before_one_link_per_way_to_sign(
    client: httpx.AsyncClient, token: str
) -> None:
    slug = await email_petition(client, token, body=LONG_BODY)
    page = (await client.get(f"/p/{slug}")).text
    main = page.split('id="main"')[1]
    assert main.index("petition-title") < main.index("Every night shift") < main.index("Sign this petition")
    assert '<form method="post"' not in main and 'name="code"' not in main, "no form on the petition's page"
    assert f'<a class="button" href="/p/{slug}/sign/code">Sign with a printed code</a>' in main
    assert f'<a class="button" href="/p/{slug}/sign/email">Sign with your work email</a>' in main
    assert "a code from a flyer or slip an organizer gave you" in main
    assert "We email a code to your work address" in main and "employer's mail system will see" in main
    assert "We keep no record of who you are" in main and f'href="/p/{slug}/receipt"' in main


async def test_a_long_body_shows_its_first_paragraph_and_folds_the_rest(client: httpx.AsyncClient, token: str) -> None:
    shown, folded = body_parts(LONG_BODY)
    assert shown == LONG_BODY.split("\n\n")[0].strip() and folded == LONG_BODY.split("\n\n")[1].strip()
    assert body_parts("Short.") == ("Short.", "")
    one_long_paragraph = "word " * 400
    shown, folded = body_parts(one_long_paragraph)
    assert len(shown) <= BODY_SHOWN_CHARACTERS + 2 and shown.endswith("…") and folded.startswith("word")
    slug = await email_petition(client, token, body=LONG_BODY)
    page = (await client.get(f"/p/{slug}")).text
    assert '<details class="body-rest"><summary lang="en" dir="ltr">Read the whole petition</summary>' in page
    assert page.index("We ask for rotas") < page.index("<details") < page.index("Every night shift")


async def test_each_method_page_has_only_its_own_fields_and_is_never_cached(
    client: httpx.AsyncClient, token: str
) -> None:
    slug = await email_petition(client, token)
    code_page = await client.get(f"/p/{slug}/sign/code")
    email_page = await client.get(f"/p/{slug}/sign/email")
    for page in (code_page, email_page):
        assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
        assert f'action="/p/{slug}/sign"' in page.text and f'href="/p/{slug}">Back to the petition' in page.text
        assert 'name="name"' in page.text and 'name="reason"' in page.text and 'name="updates"' in page.text
    assert 'name="code"' in code_page.text and 'name="email"' not in code_page.text
    assert 'name="email"' in email_page.text and 'name="code"' not in email_page.text
    assert "employer's mail system will see" in email_page.text
    assert hidden(code_page.text, "method") == "code" and hidden(email_page.text, "method") == "email"


async def test_a_method_the_petition_does_not_take_is_not_found_and_a_closed_petition_says_so(
    client: httpx.AsyncClient, token: str
) -> None:
    slug = await email_petition(client, token, verification=["code"], allowed_domains=[])
    assert (await client.get(f"/p/{slug}/sign/email")).status_code == 404
    assert (await client.get(f"/p/{slug}/sign/anything")).status_code == 404
    assert (await client.post(f"/api/v1/petitions/{slug}/close", headers=bearer(token))).status_code == 200
    closed = await client.get(f"/p/{slug}/sign/code")
    assert closed.status_code == 409 and "This petition is closed" in closed.text and "<form" not in closed.text


async def test_a_tab_code_goes_to_the_code_form_filled_in_and_the_flyer_mark_comes_along(
    client: httpx.AsyncClient, token: str
) -> None:
    slug = await email_petition(client, token)
    [code] = await make_codes(client, token, slug, 1)
    tab = await client.get(f"/p/{slug}?code={code}&f=FLYER1")
    assert tab.status_code == 303 and tab.headers["location"] == f"/p/{slug}/sign/code?code={code}&f=FLYER1"
    assert tab.headers["cache-control"] == "no-store"
    form = await client.get(tab.headers["location"])
    assert f'id="code-code" name="code" value="{code}"' in form.text and hidden(form.text, "flyer") == "FLYER1"
    marked = await client.get(f"/p/{slug}?f=FLYER1")
    assert f'href="/p/{slug}/sign/email?f=FLYER1"' in marked.text, "the method links carry the mark"
    assert hidden((await client.get(f"/p/{slug}/sign/email?f=FLYER1")).text, "flyer") == "FLYER1"


# -- double taps ---------------------------------------------------------------------------------


async def test_a_code_form_sent_twice_shows_the_same_receipt_and_signs_once(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await email_petition(client, token)
    [code] = await make_codes(client, token, slug, 1)
    form = {"method": "code", "token": await form_token(client, slug, "code"), "code": code}
    first = await client.post(f"/p/{slug}/sign", data=form)
    again = await client.post(f"/p/{slug}/sign", data=form)
    receipt = await receipt_behind(app, first, slug)
    assert await receipt_behind(app, again, slug) == receipt, "the same receipt, not 'already used'"
    assert await waiting(app) == 1
    assert await counted_after_batch(app, client, slug) == 1
    after_its_batch = await client.post(f"/p/{slug}/sign", data=form)
    assert await receipt_behind(app, after_its_batch, slug) == receipt, "counted, still the same answer"
    assert await counted_after_batch(app, client, slug) == 1


async def test_two_racing_posts_of_one_code_form_show_one_receipt_and_sign_once(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await email_petition(client, token)
    codes = await make_codes(client, token, slug, 2)
    for updates in ("", "twin.sentinel@elsewhere.org"):  # PostgreSQL spends a code two ways: without, with updates
        form = {
            "method": "code",
            "token": await form_token(client, slug, "code"),
            "code": codes.pop(),
            "updates": updates,
        }
        async with visitor(app) as one, visitor(app) as two:
            answers = await asyncio.gather(*(tab.post(f"/p/{slug}/sign", data=form) for tab in (one, two)))
        assert len({await receipt_behind(app, answer, slug) for answer in answers}) == 1, updates
    assert await waiting(app) == 2
    assert await counted_after_batch(app, client, slug) == 2


async def test_a_code_form_sent_again_with_another_code_spends_nothing(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await email_petition(client, token)
    first_code, second_code = await make_codes(client, token, slug, 2)
    form = {"method": "code", "token": await form_token(client, slug, "code"), "code": first_code}
    receipt = await receipt_behind(app, await client.post(f"/p/{slug}/sign", data=form), slug)
    changed = await client.post(f"/p/{slug}/sign", data={**form, "code": second_code})
    assert await receipt_behind(app, changed, slug) == receipt
    unused = await client.post(f"/api/v1/petitions/{slug}/signatures", json={"code": second_code})
    assert unused.status_code == 201, "the second code was not spent"


@pytest.mark.parametrize("kind", ["missing", "forged", "expired", "another method's"])
async def test_a_form_without_a_good_token_still_signs_with_a_fresh_receipt(
    app: Starlette, client: httpx.AsyncClient, token: str, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    slug = await email_petition(client, token)
    codes = await make_codes(client, token, slug, 2)
    good = await form_token(client, slug, "code")
    form_token_of = {
        "missing": "",
        "forged": good[:-4] + "AAAA",
        "expired": good,
        "another method's": await form_token(client, slug, "email"),
    }[kind]
    if kind == "expired":
        monkeypatch.setattr(receipt_cookie, "now", lambda: 10**12)
    receipts = set()
    for code in codes:
        answer = await client.post(f"/p/{slug}/sign", data={"method": "code", "token": form_token_of, "code": code})
        receipts.add(await receipt_behind(app, answer, slug))
    assert len(receipts) == 2 and await waiting(app) == 2, "each its own receipt"


def test_a_form_token_opens_only_for_its_petition_and_method_until_it_expires(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    minted = sign_tokens.new("email")
    sealed = sign_tokens.seal(settings, minted, petition_id="p1", method="email")
    assert minted.receipt not in sealed and minted.attempt not in sealed
    assert sign_tokens.open_token(settings, sealed, petition_id="p1", method="email") == minted
    assert sign_tokens.open_token(settings, sealed, petition_id="p2", method="email") is None
    assert sign_tokens.open_token(settings, sealed, petition_id="p1", method="code") is None
    other_key = replace(settings, encryption_key=bytes(32))
    assert sign_tokens.open_token(other_key, sealed, petition_id="p1", method="email") is None
    monkeypatch.setattr(receipt_cookie, "now", lambda: 10**12)
    assert sign_tokens.open_token(settings, sealed, petition_id="p1", method="email") is None


async def test_the_api_keeps_minting_its_own_receipts(client: httpx.AsyncClient, token: str) -> None:
    slug = await email_petition(client, token)
    [code] = await make_codes(client, token, slug, 1)
    url = f"/api/v1/petitions/{slug}/signatures"
    first = await client.post(url, json={"code": code})
    assert first.status_code == 201 and set(first.json()) == {"receipt", "status"}
    assert (await client.post(url, json={"code": code})).status_code == 422


# -- the emailed code's step ---------------------------------------------------------------------


async def test_the_email_form_sent_twice_sends_one_email_and_both_go_to_the_check_email_page(
    app: Starlette, client: httpx.AsyncClient, smtp: SmtpSink, token: str
) -> None:
    slug = await email_petition(client, token)
    form = {"method": "email", "token": await form_token(client, slug, "email"), "email": WORKER}
    first = await client.post(f"/p/{slug}/sign", data=form)
    async with visitor(app) as one, visitor(app) as two:
        racing = await asyncio.gather(*(tab.post(f"/p/{slug}/sign", data=form) for tab in (one, two)))
    for answer in (first, *racing):
        assert answer.status_code == 303 and answer.headers["location"] == f"/p/{slug}/check-email"
    assert len(await codes_for(app, smtp, WORKER)) == 1, "one email"
    assert await app.state.db.fetch_val("SELECT COUNT(*) FROM sign_attempts") == 1


async def test_the_attempt_rides_in_a_sealed_cookie_sent_only_to_the_emailed_codes_step(
    client: httpx.AsyncClient, token: str
) -> None:
    slug = await email_petition(client, token)
    asked = await client.post(f"/p/{slug}/sign", data={"email": WORKER})
    cookies = asked.headers.get_list("set-cookie")
    paths = sorted(re.search(r"Path=([^;]+)", cookie).group(1) for cookie in cookies)  # type: ignore[union-attr]
    assert paths == [f"/p/{slug}/check-email", f"/p/{slug}/resend", f"/p/{slug}/verify"]
    assert all("HttpOnly" in cookie and "SameSite=strict" in cookie for cookie in cookies)
    assert WORKER not in " ".join(cookies) and "attempt" not in asked.headers["location"]
    page = await client.get(f"/p/{slug}/check-email")
    assert page.status_code == 200 and (await client.get(f"/p/{slug}/check-email")).text == page.text, "a reload"
    assert (await client.get(f"/p/{slug}")).request.headers.get("cookie") is None, "not sent to the public page"


async def test_the_emailed_code_sent_twice_or_racing_gives_one_receipt_and_one_signature(
    app: Starlette, client: httpx.AsyncClient, smtp: SmtpSink, token: str
) -> None:
    slug = await email_petition(client, token)
    await client.post(f"/p/{slug}/sign", data={"email": WORKER})
    [code] = await codes_for(app, smtp, WORKER)
    first = await client.post(f"/p/{slug}/verify", data={"code": code})
    receipt = await receipt_behind(app, first, slug)
    assert await receipt_behind(app, await client.post(f"/p/{slug}/verify", data={"code": code}), slug) == receipt
    back = await client.get(f"/p/{slug}/check-email")
    assert await receipt_behind(app, back, slug) == receipt, "Back to the code's page after signing: the receipt"
    other = "second.sentinel@example.com"
    async with visitor(app) as device:
        await device.post(f"/p/{slug}/sign", data={"email": other})
        [other_code] = await codes_for(app, smtp, other)
        answers = await asyncio.gather(*(device.post(f"/p/{slug}/verify", data={"code": other_code}) for _ in "ab"))
    assert len({await receipt_behind(app, answer, slug) for answer in answers}) == 1
    assert await waiting(app) == 2
    assert await counted_after_batch(app, client, slug) == 2


async def test_a_new_code_redirects_back_with_a_notice_and_a_wrong_code_is_marked(
    app: Starlette, client: httpx.AsyncClient, smtp: SmtpSink, token: str
) -> None:
    slug = await email_petition(client, token)
    await client.post(f"/p/{slug}/sign", data={"email": WORKER})
    resent = await client.post(f"/p/{slug}/resend")
    assert resent.status_code == 303 and resent.headers["location"] == f"/p/{slug}/check-email?sent=again"
    assert "A new code is on its way" in (await client.get(resent.headers["location"])).text
    assert len(await codes_for(app, smtp, WORKER)) == 2
    wrong = await client.post(f"/p/{slug}/verify", data={"code": "0000-0000"})
    assert wrong.status_code == 422 and "There is a problem" in wrong.text and 'href="#verify-code"' in wrong.text
    assert 'aria-describedby="verify-code-error"' in wrong.text
    empty = await client.post(f"/p/{slug}/verify", data={"code": ""})
    assert empty.status_code == 422 and "Enter the code from the email" in empty.text


# -- dead ends -----------------------------------------------------------------------------------


async def test_an_address_that_signed_already_gets_its_own_page_with_the_way_to_its_receipt(
    app: Starlette, client: httpx.AsyncClient, smtp: SmtpSink, token: str
) -> None:
    slug = await email_petition(client, token)
    for _ in range(2):
        async with visitor(app) as device:
            await device.post(f"/p/{slug}/sign", data={"email": WORKER})
            code = (await codes_for(app, smtp, WORKER))[-1]
            answer = await device.post(f"/p/{slug}/verify", data={"code": code})
    assert answer.status_code == 409 and "You have already signed this petition" in answer.text
    assert f'href="/p/{slug}/receipt"' in answer.text and 'id="verify-code"' not in answer.text
    assert await waiting(app) == 1


async def test_an_expired_attempt_gets_its_own_page_with_a_link_to_start_again(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await email_petition(client, token)
    for path in ("check-email", "verify", "resend"):  # a device holding no attempt
        method = client.get if path == "check-email" else client.post
        answer = await method(f"/p/{slug}/{path}")
        assert answer.status_code == 404 and "Your signing attempt has expired" in answer.text, path
        assert f'href="/p/{slug}/sign/email"' in answer.text and 'id="verify-code"' not in answer.text, path
    await client.post(f"/p/{slug}/sign", data={"email": WORKER})
    await app.state.db.write(lambda tx: tx.execute("UPDATE sign_attempts SET expires_at = 0", {}))
    for answer in (
        await client.get(f"/p/{slug}/check-email"),
        await client.post(f"/p/{slug}/verify", data={"code": "x"}),
    ):
        assert answer.status_code == 404 and "Your signing attempt has expired" in answer.text


async def test_forgetting_the_receipt_forgets_the_emailed_attempt_too(
    app: Starlette, client: httpx.AsyncClient, smtp: SmtpSink, token: str
) -> None:
    slug = await email_petition(client, token)
    await client.post(f"/p/{slug}/sign", data={"email": WORKER})
    [code] = await codes_for(app, smtp, WORKER)
    await client.post(f"/p/{slug}/verify", data={"code": code})
    forgotten = await client.post(f"/p/{slug}/signed/forget")
    paths = {re.search(r"Path=([^;]+)", c).group(1) for c in forgotten.headers.get_list("set-cookie")}  # type: ignore[union-attr]
    assert {f"/p/{slug}/signed", f"/p/{slug}/check-email", f"/p/{slug}/verify", f"/p/{slug}/resend"} <= paths
    assert "Your signing attempt has expired" in (await client.get(f"/p/{slug}/check-email")).text


# -- errors people can act on ---------------------------------------------------------------------


async def test_a_refused_form_lists_its_problems_at_the_top_and_keeps_every_typed_value_and_ticked_box(
    client: httpx.AsyncClient, token: str
) -> None:
    slug = await email_petition(client, token)
    typed = {"name": "Ada <b>", "role": "Night shift", "show_name": "on", "reason": "Two nurses", "updates": "nope"}
    form = {"method": "code", "token": await form_token(client, slug, "code"), "code": "ABCD", **typed}
    page = await client.post(f"/p/{slug}/sign", data=form)
    assert page.status_code == 422 and page.headers["cache-control"] == "no-store"
    summary = page.text.split('class="error-summary"')[1].split("</div>")[0]
    assert 'href="#code-name"' in summary and 'href="#code-updates"' in summary and "autofocus" in page.text
    assert "<title>Error: " in page.text
    assert 'id="code-show_name" name="show_name" type="checkbox" checked' in page.text, "the ticked box stays ticked"
    for value in ("Ada &lt;b&gt;", "Night shift", "Two nurses", "nope", "ABCD"):
        assert value in page.text.split("</h1>")[1], value
    name_input = page.text.split('id="code-name"')[1].split(">")[0]
    assert 'aria-invalid="true"' in name_input and 'aria-describedby="code-name-error"' in name_input
    assert hidden(page.text, "token") != "" and hidden(page.text, "method") == "code"


BAD_INPUTS = [
    {"code": ""},
    {"code": "x" * 41},
    {"code": "\u0000"},
    {"code": "WRONG-CODE"},
    {"code": "ABCD", "name": "n" * 81},
    {"code": "ABCD", "name": "<script>"},
    {"code": "ABCD", "role": "\u202e"},
    {"code": "ABCD", "reason": "r" * 501},
    {"code": "ABCD", "updates": "not an address"},
    {"code": "ABCD", "updates": "a" * 300 + "@example.org"},
    {"email": ""},
    {"email": "nobody"},
    {"email": "someone@elsewhere.org"},
    {"email": "a" * 300 + "@example.com"},
    {"email": WORKER, "updates": "x@"},
    {"email": WORKER, "name": "\u0007bell"},
    {"code": "ABCD", "email": WORKER},
]


async def test_no_pydantic_wording_reaches_a_signing_page_for_any_bad_input(
    client: httpx.AsyncClient, token: str
) -> None:
    slug = await email_petition(client, token)
    for bad in BAD_INPUTS:
        method = "email" if "email" in bad else "code"
        answer = await client.post(f"/p/{slug}/sign", data={"method": method, **bad})
        assert answer.status_code in (422, 409), bad
        assert "There is a problem" in answer.text, bad
        words = re.sub(r"<[^>]+>", " ", answer.text.split("</header>")[1])
        assert not [word for word in PYDANTIC_WORDS if word in words], (bad, words)


async def test_a_form_whose_signature_was_withdrawn_signs_anew_and_its_receipt_page_says_withdrawn(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await email_petition(client, token)
    first_code, second_code = await make_codes(client, token, slug, 2)
    form = {"method": "code", "token": await form_token(client, slug, "code"), "code": first_code}
    async with visitor(app) as phone:
        signed = await phone.post(f"/p/{slug}/sign", data=form)
        receipt = await receipt_behind(app, signed, slug)
        withdrawn = await client.post(f"/api/v1/petitions/{slug}/signatures/withdraw", json={"receipt": receipt})
        assert withdrawn.json()["status"] == "withdrawn"
        page = (await phone.get(f"/p/{slug}/signed")).text
        assert "This signature is withdrawn" in page and "your signature is in" not in page
        # The old tab sent again, with another code: a new signature, never the withdrawn one's answer.
        again = await phone.post(f"/p/{slug}/sign", data={**form, "code": second_code})
        new_receipt = await receipt_behind(app, again, slug)
    assert new_receipt != receipt
    status = await client.post(f"/api/v1/petitions/{slug}/signatures/status", json={"receipt": new_receipt})
    assert status.json()["status"] == "pending"
    spent = await client.post(f"/p/{slug}/sign", data={"method": "code", "code": second_code})
    assert spent.status_code == 422, "the second code was spent by the new signature"

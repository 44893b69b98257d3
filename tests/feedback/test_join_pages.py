"""The join pages: the choices, a printed code, the emailed code's page, the token shown once and
kept in a cookie of the round's path, carrying it to another device, and every error path."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import Response

from petition import codes
from petition.csrf import FORM_FIELD
from petition.database import now
from petition.feedback import join_pages, joins, participants, round_pages, rounds
from petition.settings import Settings

from ..conftest import SmtpSink, make_settings, smtp_settings
from ..test_email_signing import codes_for
from ..test_login import csrf_of
from ..test_signing import open_petition
from .factories import make_round
from .test_joins import MIN_CELL, WORKER, round_codes

pytestmark = pytest.mark.usefixtures("organizer")


@pytest.fixture
def settings(tmp_path: Path, db_url: str, smtp: SmtpSink) -> Settings:
    return make_settings(
        tmp_path, database_url=db_url, outbox_retry_seconds=1, min_cell_size=MIN_CELL, **smtp_settings(smtp)
    )


def cookie_of(response: httpx.Response, name: str) -> str:
    [cookie] = [value for value in response.headers.get_list("set-cookie") if value.startswith(f"{name}=")]
    return cookie


def token_on(page: httpx.Response) -> str:
    match = re.search(r'id="participant-token"[^>]*value="(pt_[^"]+)"', page.text)
    assert match, "the joined page shows the token"
    return match.group(1)


async def post(client: httpx.AsyncClient, round_id: str, path: str, **fields: str) -> httpx.Response:
    csrf = await csrf_of(client, f"/r/{round_id}/token")
    return await client.post(f"/r/{round_id}/{path}", data={FORM_FIELD: csrf, **fields})


async def holder(app: Starlette, round_id: str, token: str) -> str | None:
    found = await rounds.find(app.state.db, round_id)
    assert found is not None
    return await participants.participant_of(app.state.db, found, token, settings=app.state.settings)


async def test_the_join_page_offers_the_petitions_ways_in_says_what_is_kept_and_prefills_a_printed_code(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    round_id, _ = await make_round(app, client, token)
    code = codes.new_code()
    page = await client.get(f"/r/{round_id}/join", params={"code": code})
    assert page.status_code == 200
    text = page.text
    assert "What should a fair opt-out look like?" in text
    assert f'value="{code}"' in text, "a printed round code's QR code fills in the form"
    assert "your employer&#39;s mail system will see" in text or "your employer's mail system will see" in text
    assert "A random key" in text and "Nothing links you to your address, your code or a signature" in text
    assert text.count(f'name="{FORM_FIELD}"') == 2
    refused = await client.get(f"/r/{round_id}/join", params={"code": "<script>"})
    assert "&lt;script" not in refused.text and "<script>" not in refused.text
    codes_only = await open_petition(client, token, verification=["code"])
    code_round, _ = await make_round(app, client, token, slug=codes_only)
    only = (await client.get(f"/r/{code_round}/join")).text
    assert 'name="code"' in only and 'name="email"' not in only


async def test_a_printed_code_on_the_page_shows_the_token_once_and_sets_the_rounds_cookie(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    round_id, _ = await make_round(app, client, token)
    [code] = await round_codes(app, round_id, 1)
    joined = await post(client, round_id, "join", method="code", code=code)
    assert joined.status_code == 201 and joined.headers["cache-control"] == "no-store"
    held = token_on(joined)
    assert "Keep this to vote from another device" in joined.text and f'href="/r/{round_id}"' in joined.text
    cookie = cookie_of(joined, participants.COOKIE)
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert cookie.startswith(f"{participants.COOKIE}={held};")
    assert f"Path=/r/{round_id}" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
    assert not attributes & {"max-age", "expires", "secure"}, "a session cookie, not Secure over http"
    assert await holder(app, round_id, held) is not None
    # The token is shown on no other page.
    for path in ("join", "token"):
        assert held not in (await client.get(f"/r/{round_id}/{path}")).text


def test_the_participant_cookie_is_secure_over_https(settings: Settings) -> None:
    request = SimpleNamespace(
        app=SimpleNamespace(state=SimpleNamespace(settings=replace(settings, base_url="https://x.example")))
    )
    found = rounds.Found({"id": "abc"}, {})
    response = Response()
    join_pages.set_participant(response, request, found, "pt_x")  # type: ignore[arg-type]
    assert "Secure" in response.headers["set-cookie"] and "Path=/r/abc" in response.headers["set-cookie"]


async def test_a_refused_printed_code_shows_the_form_again_with_its_error(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    round_id, _ = await make_round(app, client, token)
    wrong = await post(client, round_id, "join", method="code", code=codes.new_code())
    assert wrong.status_code == 422 and joins.NOT_A_CODE in wrong.text
    assert 'class="error-summary"' in wrong.text and 'href="#join-code"' in wrong.text
    assert participants.COOKIE not in wrong.headers.get("set-cookie", "")
    empty = await post(client, round_id, "join", method="code", code="")
    assert empty.status_code == 422 and join_pages.ENTER_CODE in empty.text
    elsewhere = await post(client, round_id, "join", method="email", email="someone@elsewhere.org")
    assert elsewhere.status_code == 422 and 'href="#join-email"' in elsewhere.text
    no_csrf = await client.post(f"/r/{round_id}/join", data={"method": "code", "code": codes.new_code()})
    assert no_csrf.status_code == 403
    assert await app.state.db.fetch_val("SELECT COUNT(*) FROM pending_joins") == 0


async def test_joining_by_email_goes_through_the_code_page_and_a_second_join_is_told_after_the_code(
    app: Starlette, client: httpx.AsyncClient, token: str, smtp: SmtpSink
) -> None:
    round_id, _ = await make_round(app, client, token)
    asked = await post(client, round_id, "join", method="email", email=WORKER)
    assert asked.status_code == 303 and asked.headers["location"] == f"/r/{round_id}/check-email"
    assert f"Path=/r/{round_id}" in cookie_of(asked, join_pages.ATTEMPT_COOKIE)
    page = await client.get(f"/r/{round_id}/check-email")
    assert page.status_code == 200 and "Check your email" in page.text
    [code] = await codes_for(app, smtp, WORKER)
    wrong = await post(client, round_id, "verify", code="0000-0000" if code != "0000-0000" else "1111-1111")
    assert wrong.status_code == 422 and 'href="#round-code"' in wrong.text
    blank = await post(client, round_id, "verify", code="")
    assert blank.status_code == 422 and join_pages.ENTER_EMAILED_CODE in blank.text
    resent = await post(client, round_id, "resend")
    assert resent.status_code == 303 and resent.headers["location"].endswith("/check-email?sent=again")
    assert join_pages.RESENT_NOTICE in (await client.get(resent.headers["location"])).text
    newest = (await codes_for(app, smtp, WORKER))[-1]
    joined = await post(client, round_id, "verify", code=newest)
    assert joined.status_code == 201 and await holder(app, round_id, token_on(joined)) is not None
    assert 'join_attempt=""' in joined.headers.get("set-cookie", "") or "Max-Age=0" in str(
        joined.headers.get_list("set-cookie")
    )
    client.cookies.delete(join_pages.ATTEMPT_COOKIE)
    assert (await client.get(f"/r/{round_id}/check-email")).status_code == 404, "no attempt: start again"
    repeated = await post(client, round_id, "verify", code=newest)
    assert repeated.status_code == 303, "this device holds the token: it is told it joined, not to start again"
    assert (await post(client, round_id, "resend")).status_code == 404
    client.cookies.delete(participants.COOKIE)  # another device, or this one after its browser closed
    await post(client, round_id, "join", method="email", email=WORKER)
    again = (await codes_for(app, smtp, WORKER))[-1]
    already = await post(client, round_id, "verify", code=again)
    assert already.status_code == 409 and "already joined this round" in already.text


async def test_a_token_pasted_on_another_device_is_kept_and_forgetting_clears_it(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    round_id, _ = await make_round(app, client, token)
    [code] = await round_codes(app, round_id, 1)
    held = (await client.post(f"/api/v1/rounds/{round_id}/participants", json={"code": code})).json()[
        "participant_token"
    ]
    page = await client.get(f"/r/{round_id}/token")
    assert page.status_code == 200 and "Forget this device" not in page.text
    blank = await post(client, round_id, "token", token="")
    assert blank.status_code == 422 and join_pages.ENTER_TOKEN in blank.text
    for wrong in ("not a token", participants.new_token()):
        refused = await post(client, round_id, "token", token=wrong)
        assert refused.status_code == 422 and 'href="#round-token"' in refused.text and wrong not in refused.text
    kept = await post(client, round_id, "token", token=f"  {held} ")
    assert kept.status_code == 303 and kept.headers["location"] == f"/r/{round_id}"
    assert cookie_of(kept, participants.COOKIE).startswith(f"{participants.COOKIE}={held};")
    assert kept.headers["cache-control"] == "no-store"
    assert "Forget this device" in (await client.get(f"/r/{round_id}/token")).text
    forgotten = await post(client, round_id, "token", action="forget")
    assert forgotten.status_code == 200 and join_pages.FORGOTTEN in forgotten.text
    assert participants.COOKIE not in client.cookies


async def test_join_pages_of_draft_unknown_and_closed_rounds_are_refused(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    draft, _ = await make_round(app, client, token, state="draft")
    closed, _ = await make_round(app, client, token, state="closed")
    past, _ = await make_round(app, client, token, closes_at=now() - 1)
    for round_id in (draft, "no-such-round"):
        for path in ("join", "check-email", "token"):
            assert (await client.get(f"/r/{round_id}/{path}")).status_code == 404, (round_id, path)
    for round_id in (closed, past):
        assert (await client.get(f"/r/{round_id}/join")).status_code == 409
        sent = await post(client, closed, "join", method="code", code=codes.new_code())
        assert sent.status_code == 409 and "not open for joining" in sent.text


async def test_a_repeated_join_from_a_device_that_joined_goes_to_the_round_saying_so(
    app: Starlette, client: httpx.AsyncClient, token: str, smtp: SmtpSink
) -> None:
    round_id, _ = await make_round(app, client, token)
    [code] = await round_codes(app, round_id, 1)
    assert (await post(client, round_id, "join", method="code", code=code)).status_code == 201
    # A double tap whose second post carries the cookie the first answer set: the code is spent.
    again = await post(client, round_id, "join", method="code", code=code)
    assert again.status_code == 303 and again.headers["location"] == f"/r/{round_id}?joined=already"
    assert participants.COOKIE not in again.headers.get("set-cookie", ""), "the token this device holds stays"
    page = await client.get(again.headers["location"])
    assert round_pages.JOINED_NOTICE in page.text and 'name="vote"' in page.text
    client.cookies.clear()
    refused = await post(client, round_id, "join", method="code", code=code)
    assert refused.status_code == 422 and joins.NOT_A_CODE in refused.text, "a device without its token is told"
    await post(client, round_id, "join", method="email", email=WORKER)
    [emailed] = await codes_for(app, smtp, WORKER)
    attempt = client.cookies[join_pages.ATTEMPT_COOKIE]
    assert (await post(client, round_id, "verify", code=emailed)).status_code == 201
    twice = await post(client, round_id, "verify", code=emailed)  # the joined page forgot the attempt
    assert twice.status_code == 303 and twice.headers["location"] == f"/r/{round_id}?joined=already"
    client.cookies.set(join_pages.ATTEMPT_COOKIE, attempt)  # a second post sent with the attempt still held
    raced = await post(client, round_id, "verify", code=emailed)
    assert raced.status_code == 303 and raced.headers["location"] == f"/r/{round_id}?joined=already"
    assert round_pages.JOINED_NOTICE not in (await client.get(f"/r/{round_id}")).text
    assert await app.state.db.fetch_val("SELECT COUNT(*) FROM pending_joins") == 2


async def test_the_join_page_of_a_closed_round_says_it_is_closed_and_links_its_public_results(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    public, _ = await make_round(app, client, token, state="closed")
    private, _ = await make_round(app, client, token, state="closed", results="organizers")
    for round_id, results in ((public, True), (private, False)):
        for path in ("join", "check-email"):
            page = await client.get(f"/r/{round_id}/{path}")
            assert page.status_code == 409 and "This round is closed" in page.text, path
            assert "nothing you sent" not in page.text and 'role="alert"' not in page.text, "a GET sent nothing"
            assert (f'href="/r/{round_id}/results"' in page.text) == results
            assert ("Only the organizers see the results of this round." in page.text) == (not results)
    sent = await post(client, public, "join", method="code", code=codes.new_code())
    assert sent.status_code == 409 and "so nothing you sent was taken" in sent.text


async def test_the_token_page_offers_to_forget_only_a_token_this_device_holds(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    round_id, _ = await make_round(app, client, token)
    assert "Forget this device" not in (await client.get(f"/r/{round_id}/token")).text
    [code] = await round_codes(app, round_id, 1)
    held = token_on(await post(client, round_id, "join", method="code", code=code))
    assert "Forget this device" in (await client.get(f"/r/{round_id}/token")).text
    replaced = await client.post(
        f"/api/v1/rounds/{round_id}/participants/token", headers={"authorization": f"Bearer {held}"}
    )
    assert replaced.status_code == 201
    stale = (await client.get(f"/r/{round_id}/token")).text
    assert "Forget this device" in stale and "no longer valid in this round" in stale, "a replaced token can go"
    forgotten = await post(client, round_id, "token", action="forget")
    assert join_pages.FORGOTTEN in forgotten.text and "Forget this device" not in forgotten.text
    assert participants.COOKIE not in client.cookies


async def test_the_join_page_promises_results_only_for_groups_of_min_cell_size_peoples_votes(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    # No more than the results keep: someone holding MIN_CELL - 1 participants could still work out
    # one colleague's votes (README, "What this does not stop"), so no "never one person's votes".
    round_id, _ = await make_round(app, client, token)
    text = re.sub(r"\s+", " ", (await client.get(f"/r/{round_id}/join")).text)
    assert f"Results are only ever shown for groups of at least {MIN_CELL} people's votes." in text
    assert "never one person" not in text

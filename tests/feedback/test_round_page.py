"""The round page: one statement at a time with Agree / Disagree / Pass (plain form posts), adding a
statement, and what a visitor who has not joined, a closed round and a draft show."""

from __future__ import annotations

import re

import httpx
import pytest
from starlette.applications import Starlette

from petition.csrf import FORM_FIELD
from petition.database import Database
from petition.feedback import participants, round_pages, statements

from ..test_login import csrf_of
from .factories import add_participant, make_round
from .test_round_organizer_pages import signed_in

pytestmark = pytest.mark.usefixtures("organizer")

TEXTS = ("Opting out takes one click.", "Managers never see who opted out.")


def shown_statement(page: httpx.Response) -> str | None:
    """The id of the statement the page asks to vote on, or None."""
    found = re.search(r'name="statement" value="([^"]+)"', page.text)
    return found.group(1) if found else None


async def joined(app: Starlette, client: httpx.AsyncClient, round_id: str) -> str:
    """A participant of the round whose token is in the client's cookie; their key."""
    key, held = await add_participant(app.state.db, round_id)
    client.cookies.set(participants.COOKIE, held)
    return key


async def post_vote(client: httpx.AsyncClient, round_id: str, statement_id: str, vote: str) -> httpx.Response:
    # The login page's form: a round page that shows no form (closed, not joined) has no token to read.
    csrf = await csrf_of(client, "/login")
    return await client.post(f"/r/{round_id}/vote", data={FORM_FIELD: csrf, "statement": statement_id, "vote": vote})


async def test_a_participant_votes_on_one_statement_at_a_time_until_none_remain(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db: Database = app.state.db
    round_id, ids = await make_round(app, client, token, statements=TEXTS)
    key = await joined(app, client, round_id)
    page = await client.get(f"/r/{round_id}")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert "What should a fair opt-out look like?" in page.text and "2 statements left" in page.text
    for word in ("Agree", "Disagree", "Pass"):
        assert f">{word}</button>" in page.text
    first = shown_statement(page)
    assert first in ids
    answer = await post_vote(client, round_id, first, "disagree")
    assert answer.status_code == 303 and answer.headers["location"] == f"/r/{round_id}"
    assert await db.fetch_val("SELECT vote FROM round_votes WHERE participant_key = :k", {"k": key}) == -1
    page = await client.get(f"/r/{round_id}")
    second = shown_statement(page)
    assert second in ids and second != first and "1 statement left" in page.text
    assert (await post_vote(client, round_id, second, "pass")).status_code == 303
    done = await client.get(f"/r/{round_id}")
    assert shown_statement(done) is None
    assert "You have voted on every statement" in done.text and f'href="/r/{round_id}/results"' in done.text


async def test_a_bad_vote_from_the_page_shows_the_error_summary_and_changes_nothing(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db: Database = app.state.db
    round_id, [first, _] = await make_round(app, client, token, statements=TEXTS)
    await joined(app, client, round_id)
    for statement_id, vote, status in ((first, "maybe", 422), ("no-such-statement", "agree", 404), ("", "agree", 422)):
        answer = await post_vote(client, round_id, statement_id, vote)
        assert answer.status_code == status and 'class="error-summary"' in answer.text, (statement_id, vote)
    assert await db.fetch_val("SELECT COUNT(*) FROM round_votes") == 0


async def test_a_visitor_who_has_not_joined_is_offered_to_join_and_cannot_vote(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    round_id, [first, _] = await make_round(app, client, token, statements=TEXTS)
    page = await client.get(f"/r/{round_id}")
    assert page.status_code == 200 and f'href="/r/{round_id}/join"' in page.text and "Join this round" in page.text
    assert shown_statement(page) is None and "Add a statement" not in page.text
    assert "What we keep about you" in page.text
    answer = await post_vote(client, round_id, first, "agree")
    assert answer.status_code == 401 and round_pages.JOIN_FIRST in answer.text
    assert await app.state.db.fetch_val("SELECT COUNT(*) FROM round_votes") == 0


async def test_a_closed_round_says_so_and_links_to_its_results(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    round_id, [first, _] = await make_round(app, client, token, statements=TEXTS, state="closed")
    await joined(app, client, round_id)
    page = await client.get(f"/r/{round_id}")
    assert page.status_code == 200 and "This round is closed" in page.text
    assert f'href="/r/{round_id}/results"' in page.text and shown_statement(page) is None
    assert (await post_vote(client, round_id, first, "agree")).status_code == 409


async def test_a_draft_round_is_not_found(app: Starlette, client: httpx.AsyncClient, token: str) -> None:
    round_id, _ = await make_round(app, client, token, statements=TEXTS, state="draft")
    await joined(app, client, round_id)
    for path in (f"/r/{round_id}", "/r/no-such-round"):
        page = await client.get(path)
        assert page.status_code == 404 and "text/html" in page.headers["content-type"]


async def test_adding_a_statement_from_the_page_shows_a_notice_or_the_error_summary(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db: Database = app.state.db
    round_id, _ = await make_round(app, client, token, statements=TEXTS)
    await joined(app, client, round_id)
    csrf = await csrf_of(client, f"/r/{round_id}")
    url = f"/r/{round_id}/statements"
    for text in ("", "x" * (statements.MAX_LENGTH + 1), "A bell\x07 rings."):
        refused = await client.post(url, data={FORM_FIELD: csrf, "text": text})
        assert refused.status_code == 422 and 'class="error-summary"' in refused.text
        assert 'href="#statement-text"' in refused.text and 'aria-invalid="true"' in refused.text
    assert await db.fetch_val("SELECT COUNT(*) FROM round_statements WHERE seed = 0") == 0
    added = await client.post(url, data={FORM_FIELD: csrf, "text": "Opt-outs are kept for a year."})
    assert added.status_code == 303 and added.headers["location"] == f"/r/{round_id}?added=waiting"
    page = await client.get(added.headers["location"])
    assert "It will appear once an organizer approves it" in page.text
    assert await db.fetch_val("SELECT status FROM round_statements WHERE seed = 0") == "waiting"


async def test_a_round_that_takes_no_statements_shows_no_form_and_refuses_one(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    round_id, _ = await make_round(app, client, token, statements=TEXTS, allow_statements=0)
    await joined(app, client, round_id)
    page = await client.get(f"/r/{round_id}")
    assert "Add a statement" not in page.text
    csrf = await csrf_of(client, f"/r/{round_id}")
    refused = await client.post(f"/r/{round_id}/statements", data={FORM_FIELD: csrf, "text": "Fine."})
    assert refused.status_code == 409 and statements.NOT_ALLOWED in refused.text


async def test_the_rounds_forms_need_their_csrf_token(app: Starlette, client: httpx.AsyncClient, token: str) -> None:
    round_id, [first, _] = await make_round(app, client, token, statements=TEXTS)
    await joined(app, client, round_id)
    await client.get(f"/r/{round_id}")  # the CSRF cookie
    assert (await client.post(f"/r/{round_id}/vote", data={"statement": first, "vote": "agree"})).status_code == 403
    assert (await client.post(f"/r/{round_id}/statements", data={"text": "Fine."})).status_code == 403
    assert await app.state.db.fetch_val("SELECT COUNT(*) FROM round_votes") == 0


async def test_an_organizers_only_round_links_its_results_only_for_its_organizers(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    closed, _ = await make_round(app, client, token, statements=TEXTS, state="closed", results="organizers")
    link = f'href="/r/{closed}/results"'
    page = await client.get(f"/r/{closed}")
    assert link not in page.text and "Only the organizers see the results of this round." in page.text
    assert (await client.get(f"/r/{closed}/results")).status_code == 404, "the link would have led nowhere"
    open_round, ids = await make_round(app, client, token, statements=TEXTS, results="organizers")
    await joined(app, client, open_round)
    for statement_id in ids:
        assert (await post_vote(client, open_round, statement_id, "agree")).status_code == 303
    done = await client.get(f"/r/{open_round}")
    assert "You have voted on every statement" in done.text and f'href="/r/{open_round}/results"' not in done.text
    assert "Only the organizers see the results of this round." in done.text
    await signed_in(client)
    assert (await client.get(f"/r/{closed}/results")).status_code == 200
    shown = await client.get(f"/r/{closed}")
    assert link in shown.text and "Only the organizers see" not in shown.text
    public, _ = await make_round(app, client, token, statements=TEXTS, state="closed")
    client.cookies.clear()
    assert f'href="/r/{public}/results"' in (await client.get(f"/r/{public}")).text, "public results: to everyone"


async def test_the_round_pages_sentences_are_apart_and_a_closed_round_says_who_took_part(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    round_id, _ = await make_round(app, client, token)
    page = (await client.get(f"/r/{round_id}")).text
    assert re.search(r"own\.\s+Fewer than 5 participants so far\.", page), "two sentences, a space apart"
    closed, _ = await make_round(app, client, token, state="closed")
    page = (await client.get(f"/r/{closed}")).text
    assert re.search(r"statements\.\s+Fewer than 5 participants took part\.", page)

"""What an organizer sends for a round, refused with a clear 422 and nothing changed: a seed statement
on two lines, a boolean that is not true or false, seed statements that read the same, and a close
time after the round's petition can be open (through the API and the organizers' form)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from starlette.applications import Starlette

from petition.csrf import FORM_FIELD
from petition.database import Database

from ..test_petitions import bearer, create
from ..test_signing import open_petition
from .test_round_organizer_pages import FORM, draft_round, seeds_of, signed_in, summary_of
from .test_rounds import ROUND, new_round, round_count

pytestmark = pytest.mark.usefixtures("organizer")


def at(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def in_words(moment: datetime) -> str:
    """The date of `moment` in UTC as the messages write it: "3 June 2026"."""
    return f"{moment.day} {moment:%B %Y}"


async def patch(client: httpx.AsyncClient, token: str, round_id: str, **fields: object) -> httpx.Response:
    return await client.patch(f"/api/v1/rounds/{round_id}", json=fields, headers=bearer(token))


async def test_a_seed_statement_with_a_line_break_is_refused_naming_its_number(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token)
    for broken in ("first line\nsecond line", "first line\r\nsecond line", "first line\u2028second line"):
        made = await new_round(client, token, slug, statements=["Fine.", broken])
        assert made.status_code == 422, broken
        assert "statement 2 has a line break: each seed statement is one line" in made.json()["error"]["message"]
    assert await round_count(app.state.db) == 0
    round_id = (await new_round(client, token, slug)).json()["id"]
    changed = await patch(client, token, round_id, statements=["Fine.", "Also fine.", "two\nlines"])
    assert changed.status_code == 422 and "statement 3 has a line break" in changed.text
    assert await seeds_of(app.state.db, round_id) == sorted(ROUND["statements"]), "nothing changed"


async def test_a_rounds_booleans_are_true_or_false_only(app: Starlette, client: httpx.AsyncClient, token: str) -> None:
    slug = await open_petition(client, token)
    for field in ("allow_statements", "moderate_statements"):
        for loose in ("yes", "true", 1, 0, "on"):
            made = await new_round(client, token, slug, **{field: loose})
            assert made.status_code == 422 and field in made.json()["error"]["message"], (field, loose)
    assert await round_count(app.state.db) == 0
    made = await new_round(client, token, slug, allow_statements=False, moderate_statements=False)
    assert made.status_code == 201 and not made.json()["allow_statements"] and not made.json()["moderate_statements"]
    round_id = made.json()["id"]
    assert (await patch(client, token, round_id, allow_statements="yes")).status_code == 422
    assert (await patch(client, token, round_id, moderate_statements=1)).status_code == 422
    kept = (await client.get(f"/api/v1/rounds/{round_id}", headers=bearer(token))).json()
    assert not kept["allow_statements"] and not kept["moderate_statements"], "nothing changed"


async def test_seed_statements_that_read_the_same_are_refused_as_repeats(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token)
    for seeds, words in (
        (["a", "b", "A"], "statement 3 repeats statement 1"),
        (["Same thing.", "Other.", "  same   THING. "], "statement 3 repeats statement 1"),
        (["One.", "Stra\u00dfe.", "STRASSE."], "statement 3 repeats statement 2"),
    ):
        made = await new_round(client, token, slug, statements=seeds)
        assert made.status_code == 422 and words in made.json()["error"]["message"], seeds
    assert await round_count(app.state.db) == 0


async def test_the_form_refuses_seed_lines_that_read_the_same_naming_their_lines(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    petition_id, round_id = await draft_round(app, client, token)
    csrf = await signed_in(client)
    typed = {**FORM, "statements": "Opting out takes one click.\n\nOpting out takes ONE  click.\n"}
    refused = await client.post(f"/organize/rounds/{round_id}/edit", data={FORM_FIELD: csrf, **typed})
    assert refused.status_code == 422
    assert "The statement on line 3 repeats the one on line 1: leave one out." in summary_of(refused.text)
    assert await seeds_of(app.state.db, round_id) == sorted(
        ("Opting out takes one click.", "Managers never see who opted out.")
    )
    made = await client.post(f"/organize/petitions/{petition_id}/rounds", data={FORM_FIELD: csrf, **typed})
    assert made.status_code == 422 and "repeats the one on line 1" in made.text
    separated = {**FORM, "statements": "One point.\u2028Another point."}
    refused = await client.post(f"/organize/petitions/{petition_id}/rounds", data={FORM_FIELD: csrf, **separated})
    assert refused.status_code == 422 and "The statement on line 1 holds a line break" in summary_of(refused.text)


async def test_a_close_time_after_the_petitions_deadline_is_refused_with_the_date_in_words(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db: Database = app.state.db
    deadline = (datetime.now(UTC) + timedelta(days=10)).replace(microsecond=0)
    slug = await open_petition(client, token, closes_at=at(deadline))
    late = await new_round(client, token, slug, closes_at=at(deadline + timedelta(minutes=1)))
    assert late.status_code == 422
    message = late.json()["error"]["message"]
    assert "no later than the petition's deadline" in message and in_words(deadline) in message, message
    assert late.json()["error"]["fields"][0]["field"] == "closes_at"
    far = await new_round(client, token, slug, closes_at="2099-01-01T12:00:00Z")
    assert far.status_code == 422 and in_words(deadline) in far.text
    assert await round_count(db) == 0
    made = await new_round(client, token, slug, closes_at=at(deadline))
    assert made.status_code == 201, "at the deadline itself"
    round_id = made.json()["id"]
    changed = await patch(client, token, round_id, closes_at="2099-01-01T12:00:00Z")
    assert changed.status_code == 422 and in_words(deadline) in changed.text
    stored = await db.fetch_val("SELECT closes_at FROM rounds WHERE id = :id", {"id": round_id})
    assert stored == int(deadline.timestamp()), "nothing changed"


async def test_a_draft_petition_without_a_deadline_takes_a_round_closing_within_max_open_days(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    draft = (await create(client, token)).json()
    assert draft["closes_at"] is None
    most = app.state.settings.max_open_days
    latest = datetime.now(UTC) + timedelta(days=most)
    far = await new_round(client, token, draft["id"], closes_at="2099-01-01T12:00:00Z")
    assert far.status_code == 422
    message = far.json()["error"]["message"]
    assert f"at most {most} days from now" in message and in_words(latest) in message, message
    assert await round_count(app.state.db) == 0
    near = await new_round(client, token, draft["id"], closes_at=at(latest - timedelta(days=1)))
    assert near.status_code == 201


async def test_the_form_shows_a_late_close_time_beside_its_field(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    deadline = (datetime.now(UTC) + timedelta(days=10)).replace(second=0, microsecond=0)
    slug = await open_petition(client, token, closes_at=at(deadline))
    petition_id = str(await app.state.db.fetch_val("SELECT id FROM petitions WHERE slug = :slug", {"slug": slug}))
    csrf = await signed_in(client)
    typed = {**FORM, "closes_at": "2099-01-01T12:00"}
    refused = await client.post(f"/organize/petitions/{petition_id}/rounds", data={FORM_FIELD: csrf, **typed})
    assert refused.status_code == 422
    assert 'href="#closes_at"' in summary_of(refused.text) and in_words(deadline) in summary_of(refused.text)
    assert await round_count(app.state.db) == 0

"""Feedback rounds: made, changed while draft, opened, closed (by organizers, their close time or
their petition's), who sees them, the bad input refused, and the audit trail of every action."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from petition import accounts, petitions
from petition.database import Database, now
from petition.feedback import participants, rounds

from ..conftest import BASE_URL, ORGANIZER_PASSWORD
from ..test_petitions import bearer, create
from ..test_signing import open_petition
from .factories import execute

pytestmark = pytest.mark.usefixtures("organizer")
ROUND = {
    "question": "What should a fair opt-out look like?",
    "description": "Vote on each statement.\n\nAdd your own.",
    "statements": ["Opting out takes one click.", "Managers never see who opted out."],
}
PUBLIC_FIELDS = {
    "id",
    "petition",
    "state",
    "question",
    "description",
    "allow_statements",
    "moderate_statements",
    "results",
    "closes_at",
    "opened_at",
    "closed_at",
    "participants",
    "statements",
    "url",
}


def later(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat().replace("+00:00", "Z")


async def new_round(client: httpx.AsyncClient, token: str, slug: str, **changes: object) -> httpx.Response:
    return await client.post(f"/api/v1/petitions/{slug}/rounds", json={**ROUND, **changes}, headers=bearer(token))


async def open_round_on_new_petition(client: httpx.AsyncClient, token: str, **changes: object) -> tuple[str, str]:
    """(petition slug, round id) of an open round on an open petition."""
    slug = await open_petition(client, token)
    round_id = (await new_round(client, token, slug, **changes)).json()["id"]
    assert (await client.post(f"/api/v1/rounds/{round_id}/open", headers=bearer(token))).status_code == 200
    return slug, round_id


async def bob_token(app: Starlette) -> str:
    db = app.state.db
    assert await accounts.create_organizer(db, email="bob@example.org", password=ORGANIZER_PASSWORD, admin=False)
    made = await accounts.create_token_for(db, email="bob@example.org", name="bob")
    assert made
    return made


async def round_count(db: Database) -> int:
    return int(await db.fetch_val("SELECT COUNT(*) FROM rounds"))


async def audit_rows(db: Database) -> list[tuple[str, str]]:
    rows = await db.fetch_all("SELECT action, detail FROM audit_log ORDER BY at_micros")
    return [(row["action"], row["detail"]) for row in rows if "round" in row["action"]]


async def test_an_organizer_makes_a_draft_round_whose_seed_statements_are_approved(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token)
    response = await new_round(client, token, slug, results="organizers", moderate_statements=False)
    assert response.status_code == 201
    body = response.json()
    assert set(body) == PUBLIC_FIELDS | {"statements_waiting"}
    assert body == body | {
        "petition": slug,
        "state": "draft",
        "question": ROUND["question"],
        "description": ROUND["description"],
        "allow_statements": True,
        "moderate_statements": False,
        "results": "organizers",
        "closes_at": None,
        "opened_at": None,
        "closed_at": None,
        "participants": None,
        "statements": 2,
        "statements_waiting": 0,
        "url": f"{BASE_URL}/r/{body['id']}",
    }
    assert response.headers["cache-control"] == "no-store"
    db: Database = app.state.db
    stored = await db.fetch_all("SELECT id, text, status, seed, votes FROM round_statements ORDER BY text")
    assert [(row["text"], row["status"], row["seed"], row["votes"]) for row in stored] == [
        ("Managers never see who opted out.", "approved", 1, 0),
        ("Opting out takes one click.", "approved", 1, 0),
    ]
    assert len({row["id"] for row in stored}) == 2 and all(len(row["id"]) == 24 for row in stored), "random ids"


async def test_a_draft_round_is_seen_only_by_its_petitions_organizers(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token)
    round_id = (await new_round(client, token, slug)).json()["id"]
    bob = await bob_token(app)
    participant = bearer(participants.new_token())
    for headers in ({}, bearer(bob), participant):
        answer = await client.get(f"/api/v1/rounds/{round_id}", headers=headers)
        assert answer.status_code == 404, headers
        assert ROUND["question"] not in answer.text
        listed = await client.get(f"/api/v1/petitions/{slug}/rounds", headers=headers)
        assert listed.status_code == 200 and listed.json() == {"rounds": []}, headers
    mine = await client.get(f"/api/v1/rounds/{round_id}", headers=bearer(token))
    assert mine.status_code == 200 and mine.json()["state"] == "draft" and "statements_waiting" in mine.json()
    listed = await client.get(f"/api/v1/petitions/{slug}/rounds", headers=bearer(token))
    assert [item["id"] for item in listed.json()["rounds"]] == [round_id]


async def test_an_open_round_is_public_and_a_participant_token_reads_it_as_the_public(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug, round_id = await open_round_on_new_petition(client, token)
    bob = await bob_token(app)
    for headers in ({}, bearer(participants.new_token()), bearer(bob)):
        answer = await client.get(f"/api/v1/rounds/{round_id}", headers=headers)
        assert answer.status_code == 200, headers
        assert set(answer.json()) == PUBLIC_FIELDS, "no organizer-only field"
        assert answer.json()["state"] == "open"
        listed = (await client.get(f"/api/v1/petitions/{slug}/rounds", headers=headers)).json()["rounds"]
        assert [set(item) for item in listed] == [PUBLIC_FIELDS]
    assert (await client.get(f"/api/v1/rounds/{round_id}", headers=bearer("not-a-token"))).status_code == 401
    assert (await client.get("/api/v1/rounds/no-such-round")).status_code == 404
    assert (await client.get("/api/v1/petitions/no-such-petition/rounds")).status_code == 404


BAD_ROUNDS: list[tuple[dict[str, Any], str]] = [
    ({"question": ""}, "question"),
    ({"question": "   "}, "question"),
    ({"question": "q" * 201}, "200"),
    ({"question": "Two\nlines"}, "one line"),
    ({"question": "A bell\x07"}, "control characters"),
    ({"question": "\u202eReversed"}, "direction"),
    ({"description": "d" * 2001}, "2000"),
    ({"description": "Null\x00byte"}, "control characters"),
    ({"statements": ["s" * 281]}, "280"),
    ({"statements": ["Fine.", "Bad\x1b[0m"]}, "control characters"),
    ({"statements": ["Fine.", "  "]}, "statement 2 is blank"),
    ({"statements": ["Same.", "Other.", "Same."]}, "statement 3 repeats statement 1"),
    ({"statements": [f"Statement {n}." for n in range(51)]}, "at most 50 statements; 51 were given"),
    ({"statements": "One."}, "statements"),
    ({"colour": "red"}, "colour: is not a field of this request"),
    ({"results": "everyone"}, "results"),
    ({"allow_statements": "maybe"}, "allow_statements"),
    ({"closes_at": "2099-01-01T12:00:00"}, "timezone"),
    ({"closes_at": "2020-01-01T12:00:00Z"}, "must be in the future"),
    ({"closes_at": 4102444800}, "ISO 8601"),
]


async def test_bad_round_fields_are_refused_with_422_naming_them_and_nothing_is_made(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token)
    for changes, words in BAD_ROUNDS:
        response = await new_round(client, token, slug, **changes)
        assert response.status_code == 422, changes
        assert words in response.text, (changes, response.text)
        assert "Traceback" not in response.text
    malformed = {**bearer(token), "content-type": "application/json"}
    assert (await client.post(f"/api/v1/petitions/{slug}/rounds", content=b"{", headers=malformed)).status_code == 400
    json_list = await client.post(f"/api/v1/petitions/{slug}/rounds", json=[], headers=bearer(token))
    assert json_list.status_code == 422
    as_form = await client.post(f"/api/v1/petitions/{slug}/rounds", data={"question": "Q"}, headers=bearer(token))
    assert as_form.status_code == 415
    assert (await client.post(f"/api/v1/petitions/{slug}/rounds", json=ROUND)).status_code == 401
    assert await round_count(app.state.db) == 0
    fifty = await new_round(client, token, slug, statements=[f"Statement {n}." for n in range(50)])
    assert fifty.status_code == 201 and fifty.json()["statements"] == 50


async def test_another_organizers_petition_or_round_is_not_found(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token)
    round_id = (await new_round(client, token, slug)).json()["id"]
    bob_value = await bob_token(app)
    bob = bearer(bob_value)
    assert (await new_round(client, bob_value, slug)).status_code == 404
    for method, path, body in (
        ("PATCH", f"/api/v1/rounds/{round_id}", {"question": "Taken over?"}),
        ("POST", f"/api/v1/rounds/{round_id}/open", None),
        ("POST", f"/api/v1/rounds/{round_id}/close", None),
        ("POST", f"/api/v1/rounds/{round_id}/codes", {"count": 5}),
        ("GET", f"/api/v1/rounds/{round_id}/codes", None),
    ):
        answer = await client.request(method, path, json=body, headers=bob)
        assert answer.status_code == 404, (method, path)
    found = await rounds.find(app.state.db, round_id)
    assert found is not None and found.round["state"] == "draft" and found.round["question"] == ROUND["question"]


async def test_a_closed_or_purged_petition_takes_no_round_and_a_draft_petition_takes_draft_rounds(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    draft = (await create(client, token)).json()["id"]
    made = await new_round(client, token, draft)
    assert made.status_code == 201 and made.json()["petition"] == draft, "a draft petition is named by its id"
    slug = await open_petition(client, token)
    assert (await client.post(f"/api/v1/petitions/{slug}/close", headers=bearer(token))).status_code == 200
    closed = await new_round(client, token, slug)
    assert closed.status_code == 409 and "closed" in closed.json()["error"]["message"]
    assert (await client.post(f"/api/v1/petitions/{slug}/purge", headers=bearer(token))).status_code == 200
    assert (await new_round(client, token, slug)).status_code == 409
    assert await round_count(app.state.db) == 1


async def test_a_draft_round_changes_and_its_statements_replace_the_seed_list(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token)
    round_id = (await new_round(client, token, slug, closes_at=later(days=3))).json()["id"]
    changed = await client.patch(
        f"/api/v1/rounds/{round_id}",
        json={"question": "A better question?", "statements": ["Only this one."], "closes_at": None},
        headers=bearer(token),
    )
    assert changed.status_code == 200
    assert changed.json() | {"question": "A better question?", "statements": 1, "closes_at": None} == changed.json()
    assert changed.json()["description"] == ROUND["description"], "fields left out stay"
    texts = await app.state.db.fetch_all("SELECT text FROM round_statements WHERE round_id = :id", {"id": round_id})
    assert [row["text"] for row in texts] == ["Only this one."]
    for bad, words in (
        ({"question": None}, "question cannot be null"),
        ({"statements": ["A.", "A."]}, "statement 2 repeats statement 1"),
        ({"state": "open"}, "state: is not a field of this request"),
    ):
        refused = await client.patch(f"/api/v1/rounds/{round_id}", json=bad, headers=bearer(token))
        assert refused.status_code == 422 and words in refused.text, bad
    assert (await client.get(f"/api/v1/rounds/{round_id}", headers=bearer(token))).json()["question"] == (
        "A better question?"
    )


async def test_a_round_cannot_change_once_opened(app: Starlette, client: httpx.AsyncClient, token: str) -> None:
    _, round_id = await open_round_on_new_petition(client, token)
    refused = await client.patch(f"/api/v1/rounds/{round_id}", json={"question": "Changed?"}, headers=bearer(token))
    assert refused.status_code == 409 and "only a draft round can be changed" in refused.json()["error"]["message"]
    found = await rounds.find(app.state.db, round_id)
    assert found is not None and found.round["question"] == ROUND["question"]


async def test_a_round_opens_only_on_an_open_petition(app: Starlette, client: httpx.AsyncClient, token: str) -> None:
    draft = (await create(client, token, verification=["code"], allowed_domains=[])).json()["id"]
    round_id = (await new_round(client, token, draft)).json()["id"]
    refused = await client.post(f"/api/v1/rounds/{round_id}/open", headers=bearer(token))
    assert refused.status_code == 409 and "a draft: publish it first" in refused.json()["error"]["message"]
    assert (await client.post(f"/api/v1/petitions/{draft}/publish", headers=bearer(token))).status_code == 200
    opened = await client.post(f"/api/v1/rounds/{round_id}/open", headers=bearer(token))
    assert opened.status_code == 200 and opened.json()["state"] == "open"
    petition = await petitions.find(app.state.db, draft)
    assert petition is not None
    assert opened.json()["opened_at"] == petitions.floor_time(now(), "day"), "rounded down to the petition's floor"
    again = await client.post(f"/api/v1/rounds/{round_id}/open", headers=bearer(token))
    assert again.status_code == 409 and "already open" in again.json()["error"]["message"]
    # A draft round of a petition that then closed never opens.
    other = (await new_round(client, token, petition["slug"])).json()["id"]
    assert (await client.post(f"/api/v1/petitions/{petition['slug']}/close", headers=bearer(token))).status_code == 200
    closed = await client.post(f"/api/v1/rounds/{other}/open", headers=bearer(token))
    assert closed.status_code == 409 and "petition is closed" in closed.json()["error"]["message"]


async def test_a_round_with_nothing_to_vote_on_does_not_open(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token)
    empty = (await new_round(client, token, slug, statements=[], allow_statements=False)).json()["id"]
    refused = await client.post(f"/api/v1/rounds/{empty}/open", headers=bearer(token))
    assert refused.status_code == 409 and "nothing to vote on" in refused.json()["error"]["message"]
    open_to_statements = (await new_round(client, token, slug, statements=[])).json()["id"]
    assert (await client.post(f"/api/v1/rounds/{open_to_statements}/open", headers=bearer(token))).status_code == 200
    # A close time that passed while it was a draft: set a later one first.
    late = (await new_round(client, token, slug, closes_at=later(days=1))).json()["id"]
    await execute(app.state.db, "UPDATE rounds SET closes_at = :at WHERE id = :id", {"at": now() - 60, "id": late})
    passed = await client.post(f"/api/v1/rounds/{late}/open", headers=bearer(token))
    assert passed.status_code == 409 and "close time has passed" in passed.json()["error"]["message"]


async def test_closing_a_closed_round_is_409_and_a_draft_round_does_not_close(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug, round_id = await open_round_on_new_petition(client, token)
    closed = await client.post(f"/api/v1/rounds/{round_id}/close", headers=bearer(token))
    assert closed.status_code == 200 and closed.json()["state"] == "closed"
    assert closed.json()["closed_at"] == petitions.floor_time(now(), "day")
    again = await client.post(f"/api/v1/rounds/{round_id}/close", headers=bearer(token))
    assert again.status_code == 409 and again.json()["error"]["message"] == "This round is already closed."
    draft = (await new_round(client, token, slug)).json()["id"]
    refused = await client.post(f"/api/v1/rounds/{draft}/close", headers=bearer(token))
    assert refused.status_code == 409 and "draft" in refused.json()["error"]["message"]
    public = await client.get(f"/api/v1/rounds/{round_id}")
    assert public.status_code == 200 and public.json()["state"] == "closed", "a closed round stays public"


async def test_close_due_closes_rounds_past_their_close_time_and_those_of_closed_petitions(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db: Database = app.state.db
    slug, timed = await open_round_on_new_petition(client, token, closes_at=later(hours=2))
    _, untimed = await open_round_on_new_petition(client, token)
    closed_slug, with_petition = await open_round_on_new_petition(client, token)
    still_open = (await open_round_on_new_petition(client, token, closes_at=later(days=2)))[1]
    passed = now() - 120
    # As if it opened an hour ago and its close time came two minutes ago.
    moved = {"at": passed, "opened": passed - 3600, "id": timed}
    await execute(db, "UPDATE rounds SET closes_at = :at, opened_at = :opened WHERE id = :id", moved)
    assert (await client.post(f"/api/v1/petitions/{closed_slug}/close", headers=bearer(token))).status_code == 200
    # Shown closed before the job stamps it, at its close time (exact: public already).
    app.state.public_cache.clear()
    shown = (await client.get(f"/api/v1/rounds/{timed}")).json()
    assert shown["state"] == "closed" and shown["closed_at"] == shown["closes_at"] == petitions.iso(passed)
    assert (await client.post(f"/api/v1/rounds/{timed}/close", headers=bearer(token))).status_code == 409
    version = await db.fetch_val("SELECT version FROM cache_version")
    assert await rounds.close_due(db) == 2
    assert await db.fetch_val("SELECT version FROM cache_version") > version, "other processes' caches notice"
    states = {row["id"]: row for row in await db.fetch_all("SELECT id, state, closed_at FROM rounds")}
    assert states[timed]["state"] == "closed" and states[timed]["closed_at"] == passed
    assert states[with_petition]["state"] == "closed"
    petition = await petitions.find(db, closed_slug)
    assert petition is not None and states[with_petition]["closed_at"] == petition["closed_at"]
    assert states[untimed]["state"] == states[still_open]["state"] == "open"
    assert await rounds.close_due(db) == 0, "stamped once"
    assert ("round closed", f"{timed} (its close time, or its petition's, passed)") in await audit_rows(db)
    assert slug


async def test_every_round_action_writes_an_audit_row_with_counts_only(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token)
    round_id = (await new_round(client, token, slug)).json()["id"]
    headers = bearer(token)
    await client.patch(f"/api/v1/rounds/{round_id}", json={"statements": ["One.", "Two.", "Three."]}, headers=headers)
    await client.post(f"/api/v1/rounds/{round_id}/open", headers=headers)
    batch = (await client.post(f"/api/v1/rounds/{round_id}/codes", json={"count": 4}, headers=headers)).json()
    await client.post(f"/api/v1/rounds/{round_id}/codes/{batch['batch']}/revoke", headers=headers)
    await client.post(f"/api/v1/rounds/{round_id}/close", headers=headers)
    assert await audit_rows(app.state.db) == [
        ("round created", f"{round_id} (2 statements)"),
        ("round changed", f"{round_id} (0 fields, 3 statements)"),
        ("round opened", f"{round_id} (3 statements)"),
        ("round codes made", f"{round_id} (4 codes)"),
        ("round code batch revoked", round_id),
        ("round closed", round_id),
    ]


async def test_deleting_a_draft_petition_deletes_its_rounds_and_their_rows(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db: Database = app.state.db
    draft = (await create(client, token, verification=["code"], allowed_domains=[])).json()["id"]
    round_id = (await new_round(client, token, draft)).json()["id"]
    made = await client.post(f"/api/v1/rounds/{round_id}/codes", json={"count": 3}, headers=bearer(token))
    assert made.status_code == 201
    kept = await open_petition(client, token)
    other = (await new_round(client, token, kept)).json()["id"]
    assert (await client.delete(f"/api/v1/petitions/{draft}", headers=bearer(token))).status_code == 204
    assert [row["id"] for row in await db.fetch_all("SELECT id FROM rounds")] == [other]
    for table in ("round_statements", "round_code_batches"):
        left = {row["round_id"] for row in await db.fetch_all(f"SELECT round_id FROM {table}")}
        assert round_id not in left, table
    assert await db.fetch_val("SELECT COUNT(*) FROM round_codes") == 0
    assert (await client.get(f"/api/v1/rounds/{round_id}", headers=bearer(token))).status_code == 404


async def test_a_rounds_times_are_shown_in_its_petitions_zone(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token, time_zone="Asia/Tokyo", timeline_floor="hour")
    closes = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2, minutes=7)
    round_id = (await new_round(client, token, slug, closes_at=closes.isoformat())).json()["id"]
    opened = (await client.post(f"/api/v1/rounds/{round_id}/open", headers=bearer(token))).json()
    assert opened["closes_at"] == petitions.iso(int(closes.timestamp()), "Asia/Tokyo"), "a deadline: exact"
    assert opened["closes_at"].endswith("+09:00")
    assert opened["opened_at"] == petitions.floor_time(now(), "hour", "Asia/Tokyo"), "rounded down to the hour"

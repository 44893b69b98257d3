"""Statements: the list (public, cached; "voted" for a participant's own token), participants' additions
with no author, and organizers' moderation, all or nothing."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette

from petition.database import Database
from petition.feedback import participants, rounds, statements

from ..test_petitions import bearer as organizer_bearer
from ..test_petitions import other_organizer_token
from .factories import add_participant, add_statement, bearer, make_round

pytestmark = pytest.mark.usefixtures("organizer")


async def add(client: httpx.AsyncClient, round_id: str, held: str | None, text: object) -> httpx.Response:
    headers = bearer(held) if held else {}
    return await client.post(f"/api/v1/rounds/{round_id}/statements", json={"text": text}, headers=headers)


async def statuses(db: Database, round_id: str) -> dict[str, str]:
    rows = await db.fetch_all("SELECT id, status FROM round_statements WHERE round_id = :id", {"id": round_id})
    return {row["id"]: row["status"] for row in rows}


async def test_the_list_holds_the_approved_statements_by_id_and_nothing_else_for_the_public(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db = app.state.db
    round_id, ids = await make_round(app, client, token, statements=("One.", "Two.", "Three."))
    await add_statement(db, round_id, "Waiting.", status="waiting", seed=0)
    await add_statement(db, round_id, "Hidden.", status="hidden")
    answer = await client.get(f"/api/v1/rounds/{round_id}/statements")
    assert answer.status_code == 200
    texts = dict(zip(ids, ("One.", "Two.", "Three."), strict=True))
    assert answer.json() == {"statements": [{"id": sid, "text": texts[sid]} for sid in sorted(ids)]}
    again = await client.get(f"/api/v1/rounds/{round_id}/statements", headers={"if-none-match": answer.headers["etag"]})
    assert again.status_code == 304, "the public list is cached with an ETag"


async def test_with_a_participant_token_each_statement_says_whether_it_was_voted_on_never_how(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db = app.state.db
    round_id, [first, second] = await make_round(app, client, token)
    _, held = await add_participant(db, round_id)
    url = f"/api/v1/rounds/{round_id}/statements"
    assert (await client.put(f"{url}/{first}/vote", json={"vote": "disagree"}, headers=bearer(held))).status_code == 200
    answer = await client.get(url, headers=bearer(held))
    assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
    voted = {item["id"]: item["voted"] for item in answer.json()["statements"]}
    assert voted == {first: True, second: False}
    assert b"disagree" not in answer.content and b"-1" not in answer.content
    public = (await client.get(url)).json()["statements"]
    assert all("voted" not in item for item in public), "no flags without a token"
    _, other = await add_participant(db, round_id)
    assert {item["voted"] for item in (await client.get(url, headers=bearer(other))).json()["statements"]} == {False}
    assert (await client.get(url, headers=bearer(participants.new_token()))).status_code == 401


async def test_a_draft_rounds_list_is_not_found_but_for_its_petitions_organizers(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    round_id, ids = await make_round(app, client, token, state="draft")
    url = f"/api/v1/rounds/{round_id}/statements"
    assert (await client.get(url)).status_code == 404
    assert (await client.get("/api/v1/rounds/no-such-round/statements")).status_code == 404
    mine = await client.get(url, headers=organizer_bearer(token))
    assert mine.status_code == 200 and sorted(item["id"] for item in mine.json()["statements"]) == sorted(ids)
    other = await other_organizer_token(app)
    assert (await client.get(url, headers=organizer_bearer(other))).status_code == 404
    assert (await client.get(url, headers=organizer_bearer("not-a-token"))).status_code == 401


@pytest.mark.parametrize(("moderated", "status"), [(1, "waiting"), (0, "approved")])
async def test_a_participants_statement_waits_for_moderation_only_in_a_moderated_round(
    app: Starlette, client: httpx.AsyncClient, token: str, moderated: int, status: str
) -> None:
    db = app.state.db
    round_id, _ = await make_round(app, client, token, moderate_statements=moderated)
    _, held = await add_participant(db, round_id)
    listed = await client.get(f"/api/v1/rounds/{round_id}/statements")  # cached before the addition
    answer = await add(client, round_id, held, "  Opting out should not need a manager's approval.  ")
    assert answer.status_code == 201 and answer.json()["status"] == status
    added = answer.json()["id"]
    row = await db.fetch_one("SELECT text, status, seed, votes FROM round_statements WHERE id = :id", {"id": added})
    text = "Opting out should not need a manager's approval."
    assert dict(row) == {"text": text, "status": status, "seed": 0, "votes": 0}
    now_listed = await client.get(f"/api/v1/rounds/{round_id}/statements")
    shown = added in [item["id"] for item in now_listed.json()["statements"]]
    assert shown == (status == "approved") and listed.status_code == 200


async def test_adding_is_refused_when_the_round_takes_no_statements_or_does_not_accept(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db = app.state.db
    closed_to_statements, _ = await make_round(app, client, token, allow_statements=0)
    closed, _ = await make_round(app, client, token, state="closed")
    draft, _ = await make_round(app, client, token, state="draft")
    for round_id, expected in ((closed_to_statements, 409), (closed, 409), (draft, 404)):
        _, held = await add_participant(db, round_id)
        before = await statuses(db, round_id)
        assert (await add(client, round_id, held, "A fair statement.")).status_code == expected, round_id
        assert await statuses(db, round_id) == before


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("   ", "blank"),
        ("x" * (statements.MAX_LENGTH + 1), "too long"),
        ("A bell\x07 rings.", "a control character"),
        ("Reversed \u202e text", "an override"),
        (12, "not text"),
    ],
)
async def test_bad_statement_text_is_refused_and_nothing_is_stored(
    app: Starlette, client: httpx.AsyncClient, token: str, text: object, reason: str
) -> None:
    db = app.state.db
    round_id, _ = await make_round(app, client, token)
    _, held = await add_participant(db, round_id)
    before = await statuses(db, round_id)
    answer = await add(client, round_id, held, text)
    assert answer.status_code == 422, reason
    assert answer.json()["error"]["fields"][0]["field"] == "text"
    assert await statuses(db, round_id) == before


async def test_adding_needs_a_participant_token_of_the_round_and_no_unknown_field(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db = app.state.db
    round_id, _ = await make_round(app, client, token)
    found = await rounds.find(db, round_id)
    assert found is not None
    other_round, _ = await make_round(app, client, token, slug=found.petition["slug"])
    _, other = await add_participant(db, other_round)
    before = await statuses(db, round_id)
    for held in (None, other, participants.new_token()):
        assert (await add(client, round_id, held, "A fair statement.")).status_code == 401
    _, held = await add_participant(db, round_id)
    extra = await client.post(
        f"/api/v1/rounds/{round_id}/statements", json={"text": "Fine.", "author": "me"}, headers=bearer(held)
    )
    assert extra.status_code == 422
    assert await statuses(db, round_id) == before


async def test_a_participant_may_add_only_so_many_statements_an_hour(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db = app.state.db
    round_id, _ = await make_round(app, client, token)
    _, held = await add_participant(db, round_id)
    for number in range(statements.STATEMENTS_PER_HOUR):
        assert (await add(client, round_id, held, f"Statement {number}.")).status_code == 201
    refused = await add(client, round_id, held, "One too many.")
    assert refused.status_code == 429 and refused.json()["error"]["message"] == statements.TOO_MANY
    _, other = await add_participant(db, round_id)
    assert (await add(client, round_id, other, "Someone else's.")).status_code == 201, "the limit is per participant"
    assert len(await statuses(db, round_id)) == 2 + statements.STATEMENTS_PER_HOUR + 1


async def test_no_author_is_stored_with_a_statement_nor_in_the_audit_trail(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db = app.state.db
    round_id, _ = await make_round(app, client, token)
    key, held = await add_participant(db, round_id)
    audited = await db.fetch_val("SELECT COUNT(*) FROM audit_log")
    added = (await add(client, round_id, held, "Written by a participant.")).json()["id"]
    assert await db.fetch_val("SELECT COUNT(*) FROM audit_log") == audited, "adding leaves no audit row"
    url = f"/api/v1/rounds/{round_id}/statements"
    assert (await client.post(f"{url}/{added}/approve", headers=organizer_bearer(token))).status_code == 200
    dumped = repr([dict(row) for row in await db.fetch_all("SELECT * FROM round_statements")])
    dumped += repr([dict(row) for row in await db.fetch_all("SELECT * FROM audit_log")])
    for secret in (key, held, participants.token_hash(held)):
        assert secret not in dumped
    audit = await db.fetch_all("SELECT action, detail FROM audit_log WHERE action = :a", {"a": "statements moderated"})
    assert [(row["action"], row["detail"]) for row in audit] == [
        ("statements moderated", f"1 approved, 0 hidden in round {round_id}")
    ], "the one audit row is the organizer's, with counts only"


async def test_the_queue_lists_waiting_statements_with_flags_a_page_at_a_time(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db = app.state.db
    round_id, seeded = await make_round(app, client, token)
    waiting = [await add_statement(db, round_id, f"Waiting {n}.", status="waiting", seed=0) for n in range(55)]
    flagged = await add_statement(db, round_id, "Ask jane.doe@example.com about it.", status="waiting", seed=0)
    url = f"/api/v1/rounds/{round_id}/statements/queue"
    first = await client.get(url, headers=organizer_bearer(token))
    assert first.status_code == 200 and first.headers["cache-control"] == "no-store"
    page = first.json()
    assert len(page["statements"]) == statements.QUEUE_PAGE_SIZE and page["next_cursor"]
    second = (await client.get(url, params={"cursor": page["next_cursor"]}, headers=organizer_bearer(token))).json()
    listed = page["statements"] + second["statements"]
    assert second["next_cursor"] is None
    assert [item["id"] for item in listed] == sorted([*waiting, flagged]), "by id, never by time of writing"
    [item] = [item for item in listed if item["id"] == flagged]
    assert item["flags"] == [{"kind": "email", "match": "jane.doe@example.com"}] and item["seed"] is False
    approved = (await client.get(url, params={"status": "approved"}, headers=organizer_bearer(token))).json()
    assert sorted(item["id"] for item in approved["statements"]) == sorted(seeded)
    assert (await client.get(url, params={"cursor": "nonsense!"}, headers=organizer_bearer(token))).status_code == 422
    assert (await client.get(url, params={"status": "gone"}, headers=organizer_bearer(token))).status_code == 422
    assert (await client.get(url)).status_code == 401
    other = await other_organizer_token(app)
    assert (await client.get(url, headers=organizer_bearer(other))).status_code == 404


async def test_approving_and_hiding_one_statement_moves_it_in_and_out_of_voting(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db = app.state.db
    round_id, [seeded, _] = await make_round(app, client, token)
    waiting = await add_statement(db, round_id, "Waiting.", status="waiting", seed=0)
    _, held = await add_participant(db, round_id)
    url = f"/api/v1/rounds/{round_id}/statements"
    await client.get(url)  # the public list, cached
    approved = await client.post(f"{url}/{waiting}/approve", headers=organizer_bearer(token))
    assert approved.status_code == 200 and approved.json() == {"id": waiting, "status": "approved"}
    assert waiting in [item["id"] for item in (await client.get(url)).json()["statements"]]
    assert (await client.put(f"{url}/{seeded}/vote", json={"vote": "agree"}, headers=bearer(held))).status_code == 200
    hidden = await client.post(f"{url}/{seeded}/hide", headers=organizer_bearer(token))
    assert hidden.status_code == 200 and hidden.json() == {"id": seeded, "status": "hidden"}
    assert seeded not in [item["id"] for item in (await client.get(url)).json()["statements"]]
    again = await client.put(f"{url}/{seeded}/vote", json={"vote": "pass"}, headers=bearer(held))
    assert again.status_code == 404, "a hidden statement takes no votes"
    kept = await db.fetch_val("SELECT vote FROM round_votes WHERE statement_id = :id", {"id": seeded})
    assert kept == 1, "its votes stay stored"
    assert (await client.post(f"{url}/{seeded}/hide")).status_code == 401
    assert (await client.post(f"{url}/no-such/hide", headers=organizer_bearer(token))).status_code == 404


async def test_moderating_many_is_all_or_nothing(app: Starlette, client: httpx.AsyncClient, token: str) -> None:
    db = app.state.db
    round_id, _ = await make_round(app, client, token)
    found = await rounds.find(db, round_id)
    assert found is not None
    other_round, [elsewhere, _] = await make_round(app, client, token, slug=found.petition["slug"])
    first, second, third = [await add_statement(db, round_id, f"W{n}.", status="waiting", seed=0) for n in range(3)]
    url = f"/api/v1/rounds/{round_id}/statements/moderate"
    before = await statuses(db, round_id)
    for body, expected in (
        ({"approve": [first, "no-such-statement"]}, 404),
        ({"approve": [first], "hide": [elsewhere]}, 404),
        ({"approve": [first], "hide": [first]}, 422),
        ({"approve": [], "hide": []}, 422),
        ({"approve": [f"id-{n}" for n in range(statements.MAX_MODERATED + 1)]}, 422),
        ({"approve": [first], "because": "why"}, 422),
    ):
        answer = await client.post(url, json=body, headers=organizer_bearer(token))
        assert answer.status_code == expected, body
        assert "no-such-statement" not in answer.text and elsewhere not in answer.text, "names none of them"
        assert await statuses(db, round_id) == before
    assert (await statuses(db, other_round))[elsewhere] == "approved"
    done = await client.post(url, json={"approve": [first, second], "hide": [third]}, headers=organizer_bearer(token))
    assert done.status_code == 200
    assert done.json() == {
        "statements": [
            {"id": first, "status": "approved"},
            {"id": second, "status": "approved"},
            {"id": third, "status": "hidden"},
        ]
    }
    assert {sid: status for sid, status in (await statuses(db, round_id)).items() if sid in (first, second, third)} == {
        first: "approved",
        second: "approved",
        third: "hidden",
    }
    other = await other_organizer_token(app)
    assert (await client.post(url, json={"hide": [first]}, headers=organizer_bearer(other))).status_code == 404


async def test_a_statement_both_to_approve_and_to_hide_is_refused_in_one_well_punctuated_sentence(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    round_id, _ = await make_round(app, client, token)
    waiting = await add_statement(app.state.db, round_id, "W.", status="waiting", seed=0)
    url = f"/api/v1/rounds/{round_id}/statements/moderate"
    answer = await client.post(url, json={"approve": [waiting], "hide": [waiting]}, headers=organizer_bearer(token))
    assert answer.status_code == 422
    assert answer.json()["error"]["message"] == (
        "Some fields are not valid (body: 1 statement id(s) are both to approve and to hide: choose one for each.)"
    )


async def test_a_statement_hidden_after_the_petitions_purge_is_deleted_with_its_votes(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db: Database = app.state.db
    round_id, [kept, hidden] = await make_round(app, client, token)
    _, held = await add_participant(db, round_id)
    for statement_id in (kept, hidden):
        url = f"/api/v1/rounds/{round_id}/statements/{statement_id}/vote"
        assert (await client.put(url, json={"vote": "agree"}, headers=bearer(held))).status_code == 200
    slug = await db.fetch_val(
        "SELECT p.slug FROM petitions p JOIN rounds r ON r.petition_id = p.id WHERE r.id = :id", {"id": round_id}
    )
    assert (await client.post(f"/api/v1/petitions/{slug}/close", headers=organizer_bearer(token))).status_code == 200
    assert (await client.post(f"/api/v1/petitions/{slug}/purge", headers=organizer_bearer(token))).status_code == 200
    answer = await client.post(f"/api/v1/rounds/{round_id}/statements/{hidden}/hide", headers=organizer_bearer(token))
    assert answer.status_code == 200 and answer.json() == {"id": hidden, "status": "deleted"}
    left = await db.fetch_all("SELECT id FROM round_statements WHERE round_id = :id", {"id": round_id})
    assert [row["id"] for row in left] == [kept]
    votes = await db.fetch_all("SELECT statement_id FROM round_votes WHERE round_id = :id", {"id": round_id})
    assert [row["statement_id"] for row in votes] == [kept]

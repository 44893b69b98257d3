"""Votes: one per participant and statement, changed in place, no time; re-sending one changes nothing; every
bad vote refused."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette

from petition import app as app_module
from petition.database import Database, now
from petition.feedback import participants, results_job, rounds, votes
from petition.feedback.join_batches import close_join_batch

from ..test_petitions import bearer as organizer_bearer
from .factories import add_participant, add_statement, bearer, execute, make_round
from .test_joins import round_codes
from .test_results_job import IdleWorker, InProcessWorker

pytestmark = pytest.mark.usefixtures("organizer")


@pytest.fixture
def idle_app_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """The app's own results job computes nothing: results move only when a test runs the job itself."""
    monkeypatch.setattr(app_module, "ResultsWorker", IdleWorker)


async def put_vote(
    client: httpx.AsyncClient, round_id: str, statement_id: str, token: str | None, vote: object = "agree"
) -> httpx.Response:
    headers = bearer(token) if token else {}
    url = f"/api/v1/rounds/{round_id}/statements/{statement_id}/vote"
    return await client.put(url, json={"vote": vote}, headers=headers)


async def stored_votes(db: Database, round_id: str) -> list[tuple[str, str, int]]:
    rows = await db.fetch_all(
        "SELECT participant_key, statement_id, vote FROM round_votes WHERE round_id = :id ORDER BY statement_id",
        {"id": round_id},
    )
    return [(row["participant_key"], row["statement_id"], row["vote"]) for row in rows]


async def vote_counts(db: Database, round_id: str) -> dict[str, int]:
    rows = await db.fetch_all("SELECT id, votes FROM round_statements WHERE round_id = :id", {"id": round_id})
    return {row["id"]: row["votes"] for row in rows}


async def test_a_vote_is_stored_and_voting_again_changes_it_in_place(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db = app.state.db
    round_id, [first, _] = await make_round(app, client, token)
    key, held = await add_participant(db, round_id)
    answer = await put_vote(client, round_id, first, held, "agree")
    assert answer.status_code == 200 and answer.json() == {"id": first, "vote": "agree"}
    assert answer.headers["cache-control"] == "no-store"
    assert await stored_votes(db, round_id) == [(key, first, 1)]
    for word, value in (("disagree", -1), ("pass", 0), ("agree", 1)):
        assert (await put_vote(client, round_id, first, held, word)).json()["vote"] == word
        assert await stored_votes(db, round_id) == [(key, first, value)]


async def test_a_vote_never_moves_its_statements_count_which_only_results_set(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db = app.state.db
    round_id, [first, second] = await make_round(app, client, token)
    for word in ("agree", "disagree"):
        _, held = await add_participant(db, round_id)
        assert (await put_vote(client, round_id, first, held, word)).status_code == 200
        assert (await put_vote(client, round_id, first, held, "pass")).status_code == 200
    assert await vote_counts(db, round_id) == {first: 0, second: 0}, "a live count would time a vote"


async def test_re_sending_the_stored_vote_writes_nothing_and_does_not_make_the_participant_fresh(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db = app.state.db
    round_id, [first, _] = await make_round(app, client, token)
    key, held = await add_participant(db, round_id)
    assert (await put_vote(client, round_id, first, held, "disagree")).status_code == 200
    # As the results job does once it has computed: the participant's freshness is spent.
    await execute(db, "DELETE FROM round_fresh_voters WHERE participant_key = :key", {"key": key})
    version = "SELECT xmin::text FROM round_votes WHERE participant_key = :key"  # PostgreSQL: the row's writer
    written = await db.fetch_val(version, {"key": key}) if db.dialect == "postgresql" else None

    answer = await put_vote(client, round_id, first, held, "disagree")

    assert answer.status_code == 200 and answer.json() == {"id": first, "vote": "disagree"}
    assert await stored_votes(db, round_id) == [(key, first, -1)]
    assert await db.fetch_val("SELECT COUNT(*) FROM round_fresh_voters") == 0
    if db.dialect == "postgresql":
        assert await db.fetch_val(version, {"key": key}) == written, "the row was not written again"
    assert (await put_vote(client, round_id, first, held, "agree")).status_code == 200
    assert await db.fetch_val("SELECT participant_key FROM round_fresh_voters") == key, "a change is fresh"


@pytest.mark.usefixtures("idle_app_worker")
async def test_re_sent_unchanged_votes_do_not_make_results_due_after_one_new_vote(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    # The attack: MIN_CELL_SIZE - 1 puppets re-send their votes right after a target votes, so that
    # the next results would differ from the last by the target's votes alone.
    db, settings = app.state.db, app.state.settings
    round_id, statement_ids = await make_round(app, client, token)
    puppets = [(await add_participant(db, round_id))[1] for _ in range(settings.min_cell_size - 1)]
    _, honest = await add_participant(db, round_id)
    for held in [*puppets, honest]:
        for statement_id in statement_ids:
            assert (await put_vote(client, round_id, statement_id, held, "agree")).status_code == 200
    moment = now()
    assert await results_job.run_once(db, settings, InProcessWorker(), at=moment)
    _, target = await add_participant(db, round_id)
    assert (await put_vote(client, round_id, statement_ids[0], target, "disagree")).status_code == 200

    for held in puppets:
        for statement_id in statement_ids:
            assert (await put_vote(client, round_id, statement_id, held, "agree")).status_code == 200

    later = moment + settings.round_results_seconds
    assert await db.fetch_val("SELECT COUNT(*) FROM round_fresh_voters WHERE round_id = :id", {"id": round_id}) == 1
    assert not await results_job.run_once(db, settings, InProcessWorker(), at=later)


async def test_a_vote_puts_its_participant_among_the_fresh_voters_once(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db = app.state.db
    round_id, [first, second] = await make_round(app, client, token)
    key, held = await add_participant(db, round_id)
    for statement_id in (first, second, first):
        assert (await put_vote(client, round_id, statement_id, held)).status_code == 200
    rows = await db.fetch_all("SELECT participant_key, round_id FROM round_fresh_voters")
    assert [(row["participant_key"], row["round_id"]) for row in rows] == [(key, round_id)]


@pytest.mark.parametrize("sent", ["maybe", "AGREE", "", 1, None, ["agree"]])
async def test_a_vote_other_than_agree_disagree_or_pass_is_refused_and_nothing_is_stored(
    app: Starlette, client: httpx.AsyncClient, token: str, sent: object
) -> None:
    round_id, [first, _] = await make_round(app, client, token)
    _, held = await add_participant(app.state.db, round_id)
    answer = await put_vote(client, round_id, first, held, sent)
    assert answer.status_code == 422 and answer.json()["error"]["fields"][0]["field"] == "vote"
    assert await stored_votes(app.state.db, round_id) == []


async def test_a_vote_with_an_unknown_field_or_no_json_is_refused(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    round_id, [first, _] = await make_round(app, client, token)
    _, held = await add_participant(app.state.db, round_id)
    url = f"/api/v1/rounds/{round_id}/statements/{first}/vote"
    extra = await client.put(url, json={"vote": "agree", "when": "now"}, headers=bearer(held))
    assert extra.status_code == 422 and extra.json()["error"]["fields"][0]["field"] == "when"
    malformed = await client.put(url, content=b"{", headers={**bearer(held), "content-type": "application/json"})
    assert malformed.status_code == 400
    assert (await client.put(url, content=b"vote=agree", headers=bearer(held))).status_code == 415
    assert await stored_votes(app.state.db, round_id) == []


async def test_a_vote_on_a_hidden_waiting_unknown_or_another_rounds_statement_is_not_found(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db = app.state.db
    round_id, _ = await make_round(app, client, token)
    found = await rounds.find(db, round_id)
    assert found is not None
    other_round, [elsewhere, _] = await make_round(app, client, token, slug=found.petition["slug"])
    hidden = await add_statement(db, round_id, "Hidden by an organizer.", status="hidden")
    waiting = await add_statement(db, round_id, "Waiting for an organizer.", status="waiting", seed=0)
    _, held = await add_participant(db, round_id)
    for statement_id in (hidden, waiting, "no-such-statement", elsewhere):
        answer = await put_vote(client, round_id, statement_id, held)
        assert answer.status_code == 404, statement_id
        assert answer.json()["error"]["message"] == votes.NO_SUCH_STATEMENT
    assert await stored_votes(db, round_id) == [] and await stored_votes(db, other_round) == []
    assert await db.fetch_val("SELECT COUNT(*) FROM round_fresh_voters") == 0


async def test_a_vote_in_a_draft_round_is_not_found_and_in_a_closed_round_is_a_conflict(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db = app.state.db
    draft, [in_draft, _] = await make_round(app, client, token, state="draft")
    _, draft_token = await add_participant(db, draft)
    assert (await put_vote(client, draft, in_draft, draft_token)).status_code == 404
    closed, [in_closed, _] = await make_round(app, client, token, state="closed")
    _, closed_token = await add_participant(db, closed)
    answer = await put_vote(client, closed, in_closed, closed_token)
    assert answer.status_code == 409 and answer.json()["error"]["message"] == votes.NOT_ACCEPTING
    past, [in_past, _] = await make_round(app, client, token, closes_at=1_000_000_000)
    _, past_token = await add_participant(db, past)
    assert (await put_vote(client, past, in_past, past_token)).status_code == 409, "its close time has passed"
    for round_id in (draft, closed, past):
        assert await stored_votes(db, round_id) == []


async def test_a_round_whose_petition_closed_takes_no_votes(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db = app.state.db
    round_id, [first, _] = await make_round(app, client, token)
    _, held = await add_participant(db, round_id)
    found = await rounds.find(db, round_id)
    assert found is not None
    closed = await client.post(f"/api/v1/petitions/{found.petition['slug']}/close", headers=organizer_bearer(token))
    assert closed.status_code == 200
    answer = await put_vote(client, round_id, first, held)
    assert answer.status_code == 409 and answer.json()["error"]["message"] == votes.NOT_ACCEPTING
    assert await stored_votes(db, round_id) == []


async def test_a_vote_without_a_participant_token_or_with_another_rounds_or_a_replaced_one_is_unauthorized(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db = app.state.db
    round_id, [first, _] = await make_round(app, client, token)
    found = await rounds.find(db, round_id)
    assert found is not None
    other_round, _ = await make_round(app, client, token, slug=found.petition["slug"])
    _, other_token = await add_participant(db, other_round)
    key, replaced = await add_participant(db, round_id)
    new_hash = participants.token_hash(participants.new_token())
    replace = "UPDATE round_participants SET token_hash = :h WHERE participant_key = :k"
    await execute(db, replace, {"h": new_hash, "k": key})
    for held in (None, other_token, replaced, participants.new_token()):
        assert (await put_vote(client, round_id, first, held)).status_code == 401, held
    answer = await client.put(
        f"/api/v1/rounds/{round_id}/statements/{first}/vote", json={"vote": "agree"}, headers=organizer_bearer(token)
    )
    assert answer.status_code == 401, "an organizer's API token is no participant token"
    assert await stored_votes(db, round_id) == []


async def test_the_next_statement_has_the_fewest_votes_as_of_the_last_results_then_a_stable_order_of_its_own(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db = app.state.db
    texts = tuple(f"Statement number {number}." for number in range(8))
    round_id, ids = await make_round(app, client, token, statements=texts)
    found = await rounds.find(db, round_id)
    assert found is not None
    key, held = await add_participant(db, round_id)
    # As the last results counted them: every statement but two has a vote, so those two come first.
    for statement_id in ids[2:]:
        await execute(db, "UPDATE round_statements SET votes = 1 WHERE id = :id", {"id": statement_id})
    statement, remaining = await votes.next_statement(db, found, key)
    assert statement is not None and remaining == 8
    first_two = sorted(ids[:2], key=lambda sid: votes.order_key(key, sid))
    assert statement["id"] == first_two[0]
    assert (await votes.next_statement(db, found, key))[0]["id"] == statement["id"], "a reload shows the same one"
    seen = []
    while True:
        statement, remaining = await votes.next_statement(db, found, key)
        if statement is None:
            break
        assert remaining == 8 - len(seen)
        seen.append(statement["id"])
        assert (await put_vote(client, round_id, statement["id"], held, "pass")).status_code == 200
    assert seen[:2] == first_two and sorted(seen) == sorted(ids)
    assert remaining == 0
    orders = {tuple(sorted(ids, key=lambda sid: votes.order_key(f"participant-{n}", sid))) for n in range(5)}
    assert len(orders) > 1, "participants get different orders among statements with as many votes"


async def test_a_vote_since_the_last_results_does_not_change_the_next_statement(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db = app.state.db
    texts = tuple(f"Statement number {number}." for number in range(4))
    round_id, ids = await make_round(app, client, token, statements=texts)
    found = await rounds.find(db, round_id)
    assert found is not None
    key, _ = await add_participant(db, round_id)
    before = (await votes.next_statement(db, found, key))[0]
    assert before is not None and before["id"] == min(ids, key=lambda sid: votes.order_key(key, sid))
    _, other = await add_participant(db, round_id)
    assert (await put_vote(client, round_id, before["id"], other)).status_code == 200

    after = (await votes.next_statement(db, found, key))[0]
    assert after is not None and after["id"] == before["id"], "a reload does not tell that someone just voted"


async def test_a_vote_holds_no_time(app: Starlette, client: httpx.AsyncClient, token: str) -> None:
    db = app.state.db
    round_id, [first, _] = await make_round(app, client, token)
    _, held = await add_participant(db, round_id)
    assert (await put_vote(client, round_id, first, held)).status_code == 200
    for table in ("round_votes", "round_fresh_voters", "round_statements"):
        for row in await db.fetch_all(f"SELECT * FROM {table}"):
            for name, value in dict(row).items():
                assert not (isinstance(value, int) and value > 10**9), f"{table}.{name} holds a time"


async def test_a_participant_whose_join_waits_for_its_batch_votes_at_once_and_keeps_the_vote_once_counted(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db: Database = app.state.db
    round_id, [first, second] = await make_round(app, client, token)
    [code] = await round_codes(app, round_id, 1)
    joined = await client.post(f"/api/v1/rounds/{round_id}/participants", json={"code": code})
    assert joined.status_code == 201
    held = joined.json()["participant_token"]
    assert await db.fetch_val("SELECT COUNT(*) FROM round_participants WHERE round_id = :id", {"id": round_id}) == 0
    assert (await put_vote(client, round_id, first, held, "disagree")).status_code == 200
    [(key, statement, vote)] = await stored_votes(db, round_id)
    assert (statement, vote) == (first, -1)
    found = await rounds.find(db, round_id)
    assert found is not None
    assert await participants.participant_of(db, found, held, settings=app.state.settings) == key
    # Counted (the round's last batch, once it closed): the same participant, by the same key.
    await close_join_batch(db, app.state.settings, round_id, final=True)
    assert (
        await db.fetch_val("SELECT participant_key FROM round_participants WHERE round_id = :id", {"id": round_id})
        == key
    )
    assert (await put_vote(client, round_id, second, held, "agree")).status_code == 200
    assert {row[0] for row in await stored_votes(db, round_id)} == {key}
    # Another round's waiting token votes nowhere else.
    other, [elsewhere] = await make_round(app, client, token, statements=("Elsewhere.",))
    [other_code] = await round_codes(app, other, 1)
    stranger = (await client.post(f"/api/v1/rounds/{other}/participants", json={"code": other_code})).json()
    assert (await put_vote(client, round_id, first, stranger["participant_token"])).status_code == 401
    assert (await put_vote(client, other, elsewhere, stranger["participant_token"])).status_code == 200

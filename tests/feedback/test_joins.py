"""Joining a round through the API: one participant per address and per code, no enumeration,
pending joins written by batches of MIN_CELL_SIZE, tokens that work while waiting and after."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from petition import codes
from petition.database import Database, now
from petition.feedback import joins, participants, rounds
from petition.feedback.join_batches import JoinBatcher, close_join_batch
from petition.feedback.round_codes import round_code_hash
from petition.settings import Settings

from ..conftest import SmtpSink, make_settings, smtp_settings
from ..test_email_signing import codes_for
from ..test_petitions import bearer, create
from ..test_signing import make_codes, open_petition, sign
from .factories import execute, make_round, organizer_id

pytestmark = pytest.mark.usefixtures("organizer")
MIN_CELL = 5
WORKER = "joining.worker@example.com"


@pytest.fixture
def settings(tmp_path: Path, db_url: str, smtp: SmtpSink) -> Settings:
    """Mail to the test SMTP server; caps raised so one address may ask 50 times."""
    return make_settings(
        tmp_path,
        database_url=db_url,
        outbox_retry_seconds=1,
        max_code_emails_per_day=100,
        min_cell_size=MIN_CELL,
        **smtp_settings(smtp),
    )


async def round_codes(app: Starlette, round_id: str, count: int, *, revoked: bool = False) -> list[str]:
    """A batch of printed codes for the round, inserted as the rounds' part makes them."""
    db: Database = app.state.db
    batch_id = secrets.token_hex(12)
    made = [codes.new_code() for _ in range(count)]
    await execute(
        db,
        "INSERT INTO round_code_batches (id, round_id, label, size, used, created_by, created_at, revoked_at) "
        "VALUES (:id, :round_id, '', :size, 0, :by, :at, :revoked)",
        {
            "id": batch_id,
            "round_id": round_id,
            "size": count,
            "by": await organizer_id(db),
            "at": now(),
            "revoked": now() if revoked else None,
        },
    )
    for code in made:
        hashed = round_code_hash(app.state.settings.pepper, code)
        await execute(
            db,
            "INSERT INTO round_codes (code_hash, batch_id, state) VALUES (:hash, :batch, 0)",
            {"hash": hashed, "batch": batch_id},
        )
    return made


def url(round_id: str, tail: str = "") -> str:
    return f"/api/v1/rounds/{round_id}/participants{tail}"


async def join_code(client: httpx.AsyncClient, round_id: str, code: str) -> httpx.Response:
    return await client.post(url(round_id), json={"code": code})


async def ask(client: httpx.AsyncClient, round_id: str, email: str = WORKER) -> httpx.Response:
    return await client.post(url(round_id), json={"email": email})


async def verify(client: httpx.AsyncClient, round_id: str, attempt: str, code: str) -> httpx.Response:
    return await client.post(url(round_id, "/verify"), json={"attempt": attempt, "code": code})


async def join_by_email(app: Starlette, client: httpx.AsyncClient, smtp: SmtpSink, round_id: str, email: str) -> str:
    attempt = (await ask(client, round_id, email)).json()["attempt"]
    code = (await codes_for(app, smtp, email))[-1]
    answer = await verify(client, round_id, attempt, code)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["participant_token"])


async def count(db: Database, table: str) -> int:
    return int(await db.fetch_val(f"SELECT COUNT(*) FROM {table}"))


async def found_of(app: Starlette, round_id: str) -> rounds.Found:
    found = await rounds.find(app.state.db, round_id)
    assert found is not None
    return found


async def holder(app: Starlette, round_id: str, token: str) -> str | None:
    """The participant key a token holds in the round, as a round route finds it."""
    found = await found_of(app, round_id)
    return await participants.participant_of(app.state.db, found, token, settings=app.state.settings)


async def test_a_printed_code_joins_once_and_its_participant_is_written_only_by_a_batch(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db: Database = app.state.db
    round_id, _ = await make_round(app, client, token)
    made = await round_codes(app, round_id, MIN_CELL)
    answer = await join_code(client, round_id, made[0].lower())
    assert answer.status_code == 201 and answer.headers["cache-control"] == "no-store"
    held = answer.json()["participant_token"]
    assert held.startswith("pt_") and set(answer.json()) == {"participant_token"}
    # The commit that accepted it wrote one pending entry and one claim, nothing else.
    assert (await count(db, "pending_joins"), await count(db, "join_claims")) == (1, 1)
    assert await count(db, "round_participants") == 0
    assert await db.fetch_val("SELECT SUM(state) FROM round_codes") == 0
    waiting_key = await holder(app, round_id, held)
    assert waiting_key is not None, "a waiting join's token finds its participant"
    again = await join_code(client, round_id, made[0])
    assert again.status_code == 422 and again.json()["error"]["message"] == joins.NOT_A_CODE
    for code in made[1:]:
        assert (await join_code(client, round_id, code)).status_code == 201
    assert await close_join_batch(db, app.state.settings, round_id) == MIN_CELL
    assert await count(db, "round_participants") == MIN_CELL
    assert await db.fetch_val("SELECT SUM(state) FROM round_codes") == MIN_CELL
    assert (await count(db, "pending_joins"), await count(db, "join_claims")) == (0, 0)
    assert await db.fetch_val("SELECT used FROM round_code_batches") == MIN_CELL
    assert await db.fetch_val("SELECT participant_count FROM rounds WHERE id = :id", {"id": round_id}) == MIN_CELL
    assert await holder(app, round_id, held) == waiting_key, "the same participant once counted"
    used = await join_code(client, round_id, made[0])
    assert used.status_code == 422 and used.json()["error"]["message"] == joins.NOT_A_CODE


async def test_fifty_concurrent_joins_with_one_code_make_one_participant(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    round_id, _ = await make_round(app, client, token)
    [code] = await round_codes(app, round_id, 1)
    answers = await asyncio.gather(*(join_code(client, round_id, code) for _ in range(50)))
    assert sorted(answer.status_code for answer in answers) == [201] + [422] * 49
    assert await count(app.state.db, "pending_joins") == 1


async def test_fifty_concurrent_verifies_of_one_address_make_one_participant(
    app: Starlette, client: httpx.AsyncClient, token: str, smtp: SmtpSink
) -> None:
    db: Database = app.state.db
    round_id, _ = await make_round(app, client, token)
    attempts, typed = [], []
    for number in range(50):
        attempts.append((await ask(client, round_id)).json()["attempt"])
        # Asked one by one, so each attempt's code is the newest (mail may leave in any order).
        delivered = await codes_for(app, smtp, WORKER)
        assert len(delivered) == number + 1
        typed.append(delivered[-1])
    answers = await asyncio.gather(
        *(verify(client, round_id, attempt, code) for attempt, code in zip(attempts, typed, strict=True))
    )
    assert sorted(answer.status_code for answer in answers) == [201] + [409] * 49
    assert {answer.json()["error"]["message"] for answer in answers if answer.status_code == 409} == {
        joins.ALREADY_JOINED
    }
    assert (await count(db, "pending_joins"), await count(db, "join_claims")) == (1, 1)


async def test_a_joined_address_gets_the_same_answer_as_a_new_one_until_its_code_is_typed(
    app: Starlette, client: httpx.AsyncClient, token: str, smtp: SmtpSink
) -> None:
    db: Database = app.state.db
    round_id, _ = await make_round(app, client, token)
    await join_by_email(app, client, smtp, round_id, WORKER)
    first_new = await ask(client, round_id, "someone.new@example.com")
    waiting = await ask(client, round_id, WORKER)
    for number in range(MIN_CELL - 1):
        await join_by_email(app, client, smtp, round_id, f"colleague{number}@example.com")
    assert await close_join_batch(db, app.state.settings, round_id) == MIN_CELL
    counted = await ask(client, round_id, WORKER)
    second_new = await ask(client, round_id, "another.new@example.com")
    answers = [first_new, waiting, counted, second_new]
    assert {answer.status_code for answer in answers} == {202}
    assert {tuple(sorted(answer.json())) for answer in answers} == {("attempt", "status")}
    assert {answer.json()["status"] for answer in answers} == {"check_email"}
    assert len({tuple(sorted(answer.headers.items())) for answer in answers}) == 1
    # Only the mailbox owner learns it joined already: after the right code.
    code = (await codes_for(app, smtp, WORKER))[-1]
    already = await verify(client, round_id, counted.json()["attempt"], code)
    assert already.status_code == 409 and already.json()["error"]["message"] == joins.ALREADY_JOINED
    assert await count(db, "round_dedupe") == MIN_CELL and await count(db, "pending_joins") == 0


async def test_a_petition_code_does_not_join_a_round_and_a_round_code_does_not_sign(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token, verification=["code", "email"], allowed_domains=["example.com"])
    round_id, _ = await make_round(app, client, token, slug=slug)
    [petition_code] = await make_codes(client, token, slug, 1)
    [round_code] = await round_codes(app, round_id, 1)
    refused = await join_code(client, round_id, petition_code)
    assert refused.status_code == 422 and refused.json()["error"]["message"] == joins.NOT_A_CODE
    assert (await sign(client, slug, round_code)).status_code == 422
    assert (await join_code(client, round_id, round_code)).status_code == 201
    assert (await sign(client, slug, petition_code)).status_code == 201


async def test_another_rounds_code_and_a_revoked_code_are_refused_as_a_wrong_one(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    round_id, _ = await make_round(app, client, token)
    found = await found_of(app, round_id)
    other, _ = await make_round(app, client, token, slug=found.petition["slug"])
    [other_code] = await round_codes(app, other, 1)
    [revoked] = await round_codes(app, round_id, 1, revoked=True)
    wrong = codes.new_code()
    answers = [await join_code(client, round_id, code) for code in (other_code, revoked, wrong)]
    assert {(answer.status_code, answer.json()["error"]["message"]) for answer in answers} == {(422, joins.NOT_A_CODE)}
    assert await count(app.state.db, "pending_joins") == 0
    assert (await join_code(client, other, other_code)).status_code == 201


async def test_a_batch_waits_for_min_cell_size_joins_and_its_time_then_writes_in_key_order(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db: Database = app.state.db
    settings: Settings = app.state.settings
    round_id, _ = await make_round(app, client, token)
    made = await round_codes(app, round_id, MIN_CELL + 3)
    batcher = JoinBatcher(settings)
    for code in made[: MIN_CELL - 1]:
        assert (await join_code(client, round_id, code)).status_code == 201
    assert await batcher.run_once(db, clock=0) == 0
    assert await batcher.run_once(db, clock=settings.log_batch_seconds * 10) == 0, "a quiet day closes no batch of 4"
    assert await count(db, "round_participants") == 0 and await count(db, "round_dedupe") == 0
    for code in made[MIN_CELL - 1 :]:
        assert (await join_code(client, round_id, code)).status_code == 201
    assert await batcher.run_once(db, clock=settings.log_batch_seconds * 11) == 1
    assert await count(db, "round_participants") == MIN_CELL + 3 and await count(db, "pending_joins") == 0
    # Each table holds what its own key says, nothing that pairs it with another's order.
    keys = [row["participant_key"] for row in await db.fetch_all("SELECT participant_key FROM round_participants")]
    assert len(set(keys)) == MIN_CELL + 3 and all(len(key) == 32 for key in keys)


async def test_a_closed_rounds_final_small_batch_writes_participants_only(
    app: Starlette, client: httpx.AsyncClient, token: str, smtp: SmtpSink
) -> None:
    db: Database = app.state.db
    round_id, _ = await make_round(app, client, token)
    [code] = await round_codes(app, round_id, 1)
    held = (await join_code(client, round_id, code)).json()["participant_token"]
    await join_by_email(app, client, smtp, round_id, WORKER)
    closing = "UPDATE rounds SET state = 'closed', closed_at = :at WHERE id = :id"
    await execute(db, closing, {"at": now(), "id": round_id})
    assert await JoinBatcher(app.state.settings).run_once(db, clock=0) == 1, "a closed round's joins need no wait"
    assert await count(db, "round_participants") == 2
    assert await count(db, "round_dedupe") == 0 and await db.fetch_val("SELECT SUM(state) FROM round_codes") == 0
    left = [await count(db, table) for table in ("pending_joins", "join_claims", "join_attempts")]
    assert left == [0, 0, 0]
    assert await db.fetch_val("SELECT participant_count FROM rounds WHERE id = :id", {"id": round_id}) == 2
    assert await holder(app, round_id, held) is not None


async def test_a_replaced_token_is_refused_and_the_new_one_holds_the_same_participant(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db: Database = app.state.db
    round_id, _ = await make_round(app, client, token)
    made = await round_codes(app, round_id, MIN_CELL)
    held = [(await join_code(client, round_id, code)).json()["participant_token"] for code in made]
    replace = url(round_id, "/token")
    waiting_key = await holder(app, round_id, held[0])
    answer = await client.post(replace, headers=bearer(held[0]))
    assert answer.status_code == 201 and answer.headers["cache-control"] == "no-store"
    fresh = answer.json()["participant_token"]
    assert await holder(app, round_id, held[0]) is None
    assert await holder(app, round_id, fresh) == waiting_key, "a waiting join's entry moved to the new token"
    again = await client.post(replace, headers=bearer(held[0]))
    assert again.status_code == 401 and again.json()["error"]["message"] == participants.BAD_TOKEN
    assert await close_join_batch(db, app.state.settings, round_id) == MIN_CELL
    assert await holder(app, round_id, fresh) == waiting_key
    counted_key = await holder(app, round_id, held[1])
    newer = (await client.post(replace, headers=bearer(held[1]))).json()["participant_token"]
    assert await holder(app, round_id, newer) == counted_key and await holder(app, round_id, held[1]) is None
    assert (await client.post(replace, headers=bearer(held[1]))).status_code == 401
    assert (await client.post(replace)).status_code == 401
    assert (await client.post(replace, headers=bearer(token))).status_code == 401, "an organizer's token is not one"


async def test_bad_join_requests_are_refused_and_change_nothing(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db: Database = app.state.db
    round_id, _ = await make_round(app, client, token)
    [code] = await round_codes(app, round_id, 1)
    refused = {
        "both": await client.post(url(round_id), json={"code": code, "email": WORKER}),
        "neither": await client.post(url(round_id), json={}),
        "unknown field": await client.post(url(round_id), json={"code": code, "name": "x"}),
        "not an object": await client.post(url(round_id), json=[code]),
        "control characters": await client.post(url(round_id), json={"code": "AB\x00CD"}),
        "other domain": await ask(client, round_id, "someone@elsewhere.org"),
        "not an address": await ask(client, round_id, "not an address"),
    }
    for what, answer in refused.items():
        assert answer.status_code == 422, what
    malformed = await client.post(url(round_id), content=b"{", headers={"content-type": "application/json"})
    assert malformed.status_code == 400
    assert (await client.post(url(round_id), content=b"code=x")).status_code == 415
    assert (await verify(client, round_id, "A" * 32, "ABCD-EFGH")).status_code == 404
    assert (await client.post(url(round_id, "/resend"), json={"attempt": "A" * 32})).status_code == 404
    assert await count(db, "pending_joins") == 0 and await count(db, "join_attempts") == 0
    assert await count(db, "outbox") == 0


async def test_draft_unknown_closed_rounds_and_methods_not_taken_are_refused(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    draft, _ = await make_round(app, client, token, state="draft")
    closed, _ = await make_round(app, client, token, state="closed")
    past, _ = await make_round(app, client, token, closes_at=now() - 1)
    codes_only = await open_petition(client, token, verification=["code"])
    code_round, _ = await make_round(app, client, token, slug=codes_only)
    draft_petition = (await create(client, token)).json()["slug"]
    on_draft_petition, _ = await make_round(app, client, token, slug=draft_petition)
    for round_id in (draft, "no-such-round", on_draft_petition):
        answer = await ask(client, round_id)
        assert answer.status_code == 404, round_id
        assert (await client.post(url(round_id, "/token"), headers=bearer(participants.new_token()))).status_code == 404
    for round_id in (closed, past):
        answer = await ask(client, round_id)
        assert answer.status_code == 409 and answer.json()["error"]["message"] == joins.CLOSED
    not_taken = await ask(client, code_round)
    assert not_taken.status_code == 409 and "work-email" in not_taken.json()["error"]["message"]


async def test_a_wrong_emailed_code_counts_a_try_and_five_spend_the_attempt(
    app: Starlette, client: httpx.AsyncClient, token: str, smtp: SmtpSink
) -> None:
    round_id, _ = await make_round(app, client, token)
    attempt = (await ask(client, round_id)).json()["attempt"]
    [code] = await codes_for(app, smtp, WORKER)
    wrong = "0000-0000" if code != "0000-0000" else "1111-1111"
    for _ in range(5):
        answer = await verify(client, round_id, attempt, wrong)
        assert answer.status_code == 422
    assert (await verify(client, round_id, attempt, code)).status_code == 429
    resent = await client.post(url(round_id, "/resend"), json={"attempt": attempt})
    assert resent.status_code == 202 and resent.json() == {"status": "check_email", "attempt": attempt}
    newest = (await codes_for(app, smtp, WORKER))[-1]
    assert (await verify(client, round_id, attempt, newest)).status_code == 201


async def test_expired_joining_attempts_are_deleted_by_housekeeping(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db: Database = app.state.db
    round_id, _ = await make_round(app, client, token)
    await ask(client, round_id)
    await ask(client, round_id, "second.worker@example.com")
    await execute(db, "UPDATE join_attempts SET expires_at = :at WHERE tries = 0", {"at": now() - 1})
    await joins.purge_expired(db)
    assert await count(db, "join_attempts") == 0


def test_a_round_code_hash_is_the_keyed_hash_of_its_normalised_code() -> None:
    import hashlib
    import hmac

    expected = hmac.new(b"p" * 32, b"round-code/v1|7K3QM9TD2XWPH4NC", hashlib.sha256).hexdigest()
    assert round_code_hash(b"p" * 32, "7k3q-m9td-2xwp-h4nc") == expected

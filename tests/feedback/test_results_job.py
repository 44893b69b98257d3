"""Recomputing a round's results in the background: only from MIN_CELL_SIZE fresh voters, at most every
ROUND_RESULTS_SECONDS, in a worker process of its own; results move only on recomputation."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import signal
from collections.abc import Sequence
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import httpx
import numpy as np
import pytest
from starlette.applications import Starlette

from petition import accounts
from petition import app as app_module
from petition.database import Database, now
from petition.feedback import results_job
from petition.feedback.results import Results, compute
from petition.feedback.results_worker import ResultsWorker, compute_numbered
from petition.settings import Settings

from ..conftest import BASE_URL, ORGANIZER_PASSWORD, make_settings, start_app
from .factories import add_participant, execute, make_round

# Four statements: camp A agrees with the first and third and disagrees with the second and fourth;
# camp B the reverse on the first two, agrees with the third too and passes on the fourth.
CAMP_A = (1, -1, 1, -1)
CAMP_B = (-1, 1, 1, 0)
STATEMENTS = ("Opting out takes one click.", "Managers see who opted out.", "Opting out is explained.", "Keep it.")
RESULTS_SECONDS = 60


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return make_settings(tmp_path, database_url=db_url, round_results_seconds=RESULTS_SECONDS)


class InProcessWorker(ResultsWorker):
    """Computes in this process (as the worker would), so tests need not spawn one each."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    async def compute(self, votes: np.ndarray, statement_count: int, *, min_cell_size: int) -> Results | None:
        self.calls += 1
        return compute_numbered(votes, statement_count, min_cell_size)


class IdleWorker(ResultsWorker):
    """Computes nothing: given to the app's own job, so only a test's run_once computes (at its `at`)."""

    async def compute(self, votes: np.ndarray, statement_count: int, *, min_cell_size: int) -> Results | None:
        return None


@pytest.fixture(autouse=True)
def idle_app_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """The app's own job gets an idle worker (from its start: its first look may come at any moment), so
    results move only when a test runs the job itself, at the time it says."""
    monkeypatch.setattr(app_module, "ResultsWorker", IdleWorker)


async def vote(db: Database, round_id: str, key: str, statement_id: str, value: int) -> None:
    """A vote as the votes part writes one: the vote (changed in place), and the voter made fresh."""
    await execute(
        db,
        "INSERT INTO round_votes (participant_key, statement_id, round_id, vote) VALUES (:key, :sid, :round_id, :vote) "
        "ON CONFLICT (participant_key, statement_id) DO UPDATE SET vote = excluded.vote",
        {"key": key, "sid": statement_id, "round_id": round_id, "vote": value},
    )
    await execute(
        db,
        "INSERT INTO round_fresh_voters (participant_key, round_id) VALUES (:key, :round_id) "
        "ON CONFLICT (participant_key) DO NOTHING",
        {"key": key, "round_id": round_id},
    )


async def join_and_vote(db: Database, round_id: str, statement_ids: Sequence[str], votes: Sequence[int]) -> str:
    """A new participant who votes `votes` on the statements in order; their key."""
    key, _ = await add_participant(db, round_id)
    for statement_id, value in zip(statement_ids, votes, strict=True):
        await vote(db, round_id, key, statement_id, value)
    return key


async def camps(
    app: Starlette, client: httpx.AsyncClient, token: str, *, a: int = 6, b: int = 5, **fields: object
) -> tuple[str, list[str], list[str]]:
    """A round whose participants fall in two camps of `a` and `b`; (round id, statement ids, keys)."""
    round_id, statement_ids = await make_round(app, client, token, statements=STATEMENTS, **fields)
    keys = [await join_and_vote(app.state.db, round_id, statement_ids, CAMP_A) for _ in range(a)]
    keys += [await join_and_vote(app.state.db, round_id, statement_ids, CAMP_B) for _ in range(b)]
    return round_id, statement_ids, keys


async def fresh_voters(db: Database, round_id: str) -> set[str]:
    sql = "SELECT participant_key FROM round_fresh_voters WHERE round_id = :id"
    return {row["participant_key"] for row in await db.fetch_all(sql, {"id": round_id})}


async def stored_results(db: Database, round_id: str) -> dict[str, object] | None:
    sql = "SELECT computed_at, participants, body FROM round_results WHERE round_id = :id"
    row = await db.fetch_one(sql, {"id": round_id})
    return None if row is None else dict(row)


async def test_no_results_are_computed_below_min_cell_size_fresh_voters(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db: Database = app.state.db
    round_id, _, keys = await camps(app, client, token, a=4, b=0)
    worker = InProcessWorker()

    assert not await results_job.run_once(db, app.state.settings, worker)

    assert worker.calls == 0
    assert await stored_results(db, round_id) is None
    assert await fresh_voters(db, round_id) == set(keys)


async def test_results_are_computed_once_min_cell_size_participants_voted_and_their_freshness_is_spent(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db: Database = app.state.db
    round_id, statement_ids, _ = await camps(app, client, token)
    moment = now()

    assert await results_job.run_once(db, app.state.settings, InProcessWorker(), at=moment)

    stored = await stored_results(db, round_id)
    assert stored is not None and stored["computed_at"] == moment and stored["participants"] == 11
    body = json.loads(str(stored["body"]))
    assert set(body) == {"statements", "groups", "consensus", "divisive", "dots"}
    assert [(group["id"], group["size"]) for group in body["groups"]] == [("A", 6), ("B", 5)]
    assert [item["id"] for item in body["statements"]] == sorted(statement_ids)
    assert await fresh_voters(db, round_id) == set()


async def statement_votes(db: Database, round_id: str) -> dict[str, int]:
    rows = await db.fetch_all("SELECT id, votes FROM round_statements WHERE round_id = :id", {"id": round_id})
    return {row["id"]: row["votes"] for row in rows}


async def test_a_computation_sets_each_statements_votes_to_its_count_in_the_results(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db: Database = app.state.db
    settings: Settings = app.state.settings
    round_id, statement_ids, _ = await camps(app, client, token)
    # One more participant passes on the first statement only: 12 votes on it, 11 on the others.
    await join_and_vote(db, round_id, statement_ids[:1], (0,))
    moment = now()
    assert await statement_votes(db, round_id) == dict.fromkeys(statement_ids, 0)

    assert await results_job.run_once(db, settings, InProcessWorker(), at=moment)

    expected = {statement_ids[0]: 12} | dict.fromkeys(statement_ids[1:], 11)
    assert await statement_votes(db, round_id) == expected
    for _ in range(settings.min_cell_size - 1):
        await join_and_vote(db, round_id, statement_ids, CAMP_A)
    assert not await results_job.run_once(db, settings, InProcessWorker(), at=moment + RESULTS_SECONDS)
    assert await statement_votes(db, round_id) == expected, "votes since the last results do not count yet"
    await join_and_vote(db, round_id, statement_ids, CAMP_B)
    assert await results_job.run_once(db, settings, InProcessWorker(), at=moment + RESULTS_SECONDS)
    assert await statement_votes(db, round_id) == {sid: votes + 5 for sid, votes in expected.items()}


async def test_a_recomputation_moves_the_cache_version_so_every_process_drops_its_answers(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db: Database = app.state.db
    await camps(app, client, token)
    before = await db.fetch_val("SELECT version FROM cache_version WHERE id = 1")

    assert await results_job.run_once(db, app.state.settings, InProcessWorker())

    assert await db.fetch_val("SELECT version FROM cache_version WHERE id = 1") == before + 1


async def test_the_stored_results_hold_no_participant_key(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db: Database = app.state.db
    round_id, _, keys = await camps(app, client, token)
    await results_job.run_once(db, app.state.settings, InProcessWorker())

    stored = await stored_results(db, round_id)
    assert stored is not None
    assert not [key for key in keys if key in str(stored["body"])]
    # The dots say where and in which group, in an order that says nothing: group, then coordinates.
    dots = json.loads(str(stored["body"]))["dots"]
    assert len(dots) == len(keys)
    assert dots == sorted(dots, key=lambda dot: (dot[2] is None, dot[2] or "", dot[0], dot[1]))


async def test_a_vote_after_a_computation_does_not_change_the_results_until_the_next(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db: Database = app.state.db
    settings: Settings = app.state.settings
    round_id, statement_ids, _ = await camps(app, client, token)
    moment = now()
    await results_job.run_once(db, settings, InProcessWorker(), at=moment)
    app.state.public_cache.clear()
    before = (await client.get(f"/api/v1/rounds/{round_id}/results")).content

    late = [await join_and_vote(db, round_id, statement_ids, CAMP_A)]
    later = moment + RESULTS_SECONDS
    assert not await results_job.run_once(db, settings, InProcessWorker(), at=later), "one fresh voter"
    app.state.public_cache.clear()
    assert (await client.get(f"/api/v1/rounds/{round_id}/results")).content == before

    late += [await join_and_vote(db, round_id, statement_ids, CAMP_B) for _ in range(4)]
    assert await results_job.run_once(db, settings, InProcessWorker(), at=later)
    app.state.public_cache.clear()
    after = (await client.get(f"/api/v1/rounds/{round_id}/results")).json()
    assert after["participants"] == 16
    assert [(group["id"], group["size"]) for group in after["groups"]] == [("A", 9), ("B", 7)], "the larger group is A"


async def test_no_recomputation_before_round_results_seconds(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db: Database = app.state.db
    settings: Settings = app.state.settings
    round_id, statement_ids, _ = await camps(app, client, token)
    moment = now()
    await results_job.run_once(db, settings, InProcessWorker(), at=moment)
    for _ in range(settings.min_cell_size):
        await join_and_vote(db, round_id, statement_ids, CAMP_A)

    assert not await results_job.run_once(db, settings, InProcessWorker(), at=moment + RESULTS_SECONDS - 1)
    stored = await stored_results(db, round_id)
    assert stored is not None and stored["computed_at"] == moment

    assert await results_job.run_once(db, settings, InProcessWorker(), at=moment + RESULTS_SECONDS)
    stored = await stored_results(db, round_id)
    assert stored is not None and stored["computed_at"] == moment + RESULTS_SECONDS and stored["participants"] == 16


async def test_a_voter_who_came_during_the_computation_stays_fresh(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db: Database = app.state.db
    round_id, statement_ids, _ = await camps(app, client, token)
    came_meanwhile: list[str] = []

    class VoteDuringComputation(InProcessWorker):
        async def compute(self, votes: np.ndarray, statement_count: int, *, min_cell_size: int) -> Results | None:
            came_meanwhile.append(await join_and_vote(db, round_id, statement_ids, CAMP_A))
            return await super().compute(votes, statement_count, min_cell_size=min_cell_size)

    assert await results_job.run_once(db, app.state.settings, VoteDuringComputation())

    assert await fresh_voters(db, round_id) == set(came_meanwhile)
    stored = await stored_results(db, round_id)
    assert stored is not None and stored["participants"] == 11


async def test_votes_on_statements_that_are_not_approved_are_left_out(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db: Database = app.state.db
    round_id, statement_ids, _ = await camps(app, client, token)
    await execute(db, "UPDATE round_statements SET status = 'hidden' WHERE id = :id", {"id": statement_ids[0]})

    await results_job.run_once(db, app.state.settings, InProcessWorker())

    stored = await stored_results(db, round_id)
    assert stored is not None
    body = json.loads(str(stored["body"]))
    assert statement_ids[0] not in str(stored["body"])
    assert sorted(item["id"] for item in body["statements"]) == sorted(statement_ids[1:])


async def test_a_closed_round_with_fresh_voters_is_recomputed_and_a_draft_never(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db: Database = app.state.db
    closed, _, _ = await camps(app, client, token, state="closed")
    draft, _, _ = await camps(app, client, token, state="draft")

    assert await results_job.run_once(db, app.state.settings, InProcessWorker())

    assert await stored_results(db, closed) is not None
    assert await stored_results(db, draft) is None


async def test_a_failed_computation_is_logged_without_its_message_and_tried_again(
    app: Starlette, client: httpx.AsyncClient, token: str, logs: pytest.LogCaptureFixture
) -> None:
    db: Database = app.state.db
    round_id, _, keys = await camps(app, client, token)

    class FailsOnce(InProcessWorker):
        async def compute(self, votes: np.ndarray, statement_count: int, *, min_cell_size: int) -> Results | None:
            if not self.calls:
                self.calls += 1
                raise ValueError(f"participant {keys[0]} voted twice")
            return await super().compute(votes, statement_count, min_cell_size=min_cell_size)

    worker = FailsOnce()
    assert not await results_job.run_once(db, app.state.settings, worker)

    logged = "\n".join(record.getMessage() for record in logs.records)
    assert "ValueError" in logged and keys[0] not in logged
    assert await stored_results(db, round_id) is None
    assert await fresh_voters(db, round_id) == set(keys)
    assert await results_job.run_once(db, app.state.settings, worker)
    assert await stored_results(db, round_id) is not None


def planted(participants: int, statements: int) -> np.ndarray:
    """Votes of three planted camps with noise, numbered as the worker gets them."""
    rng = np.random.default_rng(7)
    leanings = rng.choice([-1, 0, 1], size=(3, statements))
    rows = []
    for participant in range(participants):
        for statement in rng.choice(statements, size=statements * 2 // 3, replace=False).tolist():
            value = leanings[participant % 3, statement] if rng.random() > 0.1 else rng.choice([-1, 0, 1])
            rows.append((participant, statement, int(value)))
    return np.array(rows, dtype=np.int64)


async def test_the_worker_process_computes_what_compute_computes_in_process() -> None:
    votes = planted(120, 15)
    worker = ResultsWorker()
    try:
        in_worker = await worker.compute(votes, 15, min_cell_size=5)
    finally:
        await worker.close()

    assert in_worker is not None and len(in_worker.groups) >= 2
    assert in_worker == compute([tuple(row) for row in votes.tolist()], list(range(15)), min_cell_size=5)


async def test_a_crashed_worker_is_replaced_at_the_next_computation() -> None:
    votes = planted(60, 10)
    worker = ResultsWorker()
    try:
        assert await worker.compute(votes, 10, min_cell_size=5) is not None
        [child] = multiprocessing.active_children()
        os.kill(child.pid or 0, signal.SIGKILL)
        child.join(10)
        with pytest.raises(BrokenProcessPool):
            await worker.compute(votes, 10, min_cell_size=5)
        assert await worker.compute(votes, 10, min_cell_size=5) == compute_numbered(votes, 10, 5)
    finally:
        await worker.close()
    assert not multiprocessing.active_children(), "closing stops the worker"


async def test_the_app_recomputes_results_in_the_background_through_its_worker(db_url: str, tmp_path: Path) -> None:
    app, lifespan = await start_app(make_settings(tmp_path, database_url=db_url, round_results_seconds=1))
    try:
        assert await accounts.create_organizer(
            app.state.db, email="alice@example.org", password=ORGANIZER_PASSWORD, admin=True
        )
        token = await accounts.create_token_for(app.state.db, email="alice@example.org", name="tests")
        assert token
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as http:
            round_id, _, _ = await camps(app, http, token)
        app.state.results_worker = ResultsWorker()  # this test's point: the app's job and worker
        for _ in range(300):  # the job looks every second; the worker starts in a second or two
            if await stored_results(app.state.db, round_id) is not None:
                break
            await asyncio.sleep(0.1)
        assert await stored_results(app.state.db, round_id) is not None
        assert app.state.results_worker.started
    finally:
        await lifespan.__aexit__(None, None, None)  # type: ignore[attr-defined]
    assert not app.state.results_worker.started, "the lifespan stops the worker"


def test_the_job_looks_at_most_every_fifteen_seconds() -> None:
    assert results_job.look_seconds(Settings(round_results_seconds=300)) == 15
    assert results_job.look_seconds(Settings(round_results_seconds=2)) == 2

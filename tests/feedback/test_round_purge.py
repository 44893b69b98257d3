"""A petition's purge destroys its rounds' identifying data and keeps what aggregate results are made of."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette

from petition import purge
from petition.database import Database, now

from ..test_petitions import bearer
from .factories import add_participant, add_statement, execute, make_round

pytestmark = pytest.mark.usefixtures("organizer")


async def fill_round(app: Starlette, client: httpx.AsyncClient, token: str, slug: str | None = None) -> dict[str, str]:
    """A round with every kind of row a purge looks at: join data, codes (one kept for download),
    participants, votes on an approved and on a waiting statement, and a hidden statement."""
    db: Database = app.state.db
    round_id, [approved, _] = await make_round(app, client, token, slug=slug)
    waiting = await add_statement(db, round_id, "Waiting for moderation.", status="waiting", seed=0)
    await add_statement(db, round_id, "Hidden by an organizer.", status="hidden", seed=0)
    key, _ = await add_participant(db, round_id)
    for statement in (approved, waiting):
        vote = {"key": key, "statement": statement, "round": round_id}
        await execute(
            db,
            "INSERT INTO round_votes (participant_key, statement_id, round_id, vote) "
            "VALUES (:key, :statement, :round, 1)",
            vote,
        )
    made = await client.post(f"/api/v1/rounds/{round_id}/codes", json={"count": 2}, headers=bearer(token))
    assert made.status_code == 201
    await execute(db, "UPDATE round_code_batches SET plaintext = 'sealed' WHERE round_id = :id", {"id": round_id})
    tag = f"{round_id}-tag"
    for sql in (
        "INSERT INTO join_attempts (attempt_hash, round_id, sealed, code_hash, tries, expires_at) "
        "VALUES (:tag, :round, 'sealed', 'hash', 0, :later)",
        "INSERT INTO round_dedupe (tag, round_id) VALUES (:tag, :round)",
    ):
        await execute(db, sql, {"tag": tag, "round": round_id, "later": now() + 600})
    # A join that waits for its batch (its pending entry and claim): counted by the purge's final join batch.
    waiting_join = await client.post(f"/api/v1/rounds/{round_id}/participants", json={"code": made.json()["codes"][0]})
    assert waiting_join.status_code == 201, waiting_join.text
    return {"round": round_id, "approved": approved, "waiting": waiting, "participant": key}


async def rows_of(db: Database, round_id: str) -> dict[str, int]:
    """How many rows of each table belong to the round."""
    counts = {}
    for table in ("join_attempts", "pending_joins", "join_claims", "round_dedupe", "round_participants", "round_votes"):
        counts[table] = int(await db.fetch_val(f"SELECT COUNT(*) FROM {table} WHERE round_id = :id", {"id": round_id}))
    counts["round_codes"] = int(
        await db.fetch_val(
            "SELECT COUNT(*) FROM round_codes "
            "WHERE batch_id IN (SELECT id FROM round_code_batches WHERE round_id = :id)",
            {"id": round_id},
        )
    )
    counts["kept for download"] = int(
        await db.fetch_val(
            "SELECT COUNT(*) FROM round_code_batches WHERE round_id = :id AND plaintext IS NOT NULL", {"id": round_id}
        )
    )
    statuses = await db.fetch_all("SELECT status FROM round_statements WHERE round_id = :id", {"id": round_id})
    for status in ("approved", "waiting", "hidden"):
        counts[status] = sum(row["status"] == status for row in statuses)
    return counts


async def test_a_purge_destroys_round_joins_codes_and_unapproved_statements_but_keeps_participants_and_votes(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db: Database = app.state.db
    purged = await fill_round(app, client, token)
    slug = str(
        await db.fetch_val(
            "SELECT p.slug FROM petitions p JOIN rounds r ON r.petition_id = p.id WHERE r.id = :id",
            {"id": purged["round"]},
        )
    )
    untouched = await fill_round(app, client, token)
    full = {
        "join_attempts": 1,
        "pending_joins": 1,
        "join_claims": 1,
        "round_dedupe": 1,
        "round_participants": 1,
        "round_votes": 2,
        "round_codes": 2,
        "kept for download": 1,
        "approved": 2,
        "waiting": 1,
        "hidden": 1,
    }
    assert await rows_of(db, purged["round"]) == full
    assert (await client.post(f"/api/v1/petitions/{slug}/close", headers=bearer(token))).status_code == 200
    assert (await client.post(f"/api/v1/petitions/{slug}/purge", headers=bearer(token))).status_code == 200
    assert await rows_of(db, purged["round"]) == full | {
        "join_attempts": 0,
        "pending_joins": 0,
        "join_claims": 0,
        "round_dedupe": 0,
        "round_participants": 2,  # the waiting join, counted first (participants only: the round is closed)
        "round_votes": 1,
        "round_codes": 0,
        "kept for download": 0,
        "waiting": 0,
        "hidden": 0,
    }
    kept = await db.fetch_one(
        "SELECT participant_key, statement_id FROM round_votes WHERE round_id = :id", {"id": purged["round"]}
    )
    assert kept == {"participant_key": purged["participant"], "statement_id": purged["approved"]}
    assert await rows_of(db, untouched["round"]) == full, "another petition's rounds keep theirs"
    assert set(purge.PURGED_TABLES) >= {"join_attempts", "pending_joins", "join_claims", "round_dedupe", "round_codes"}

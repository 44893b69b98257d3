"""Rounds, statements and participants made straight in the database, for tests of one part of
feedback rounds without going through the others (the API makes them in their own tests)."""

from __future__ import annotations

import secrets
from typing import Any

import httpx
from starlette.applications import Starlette

from petition.database import Database, Transaction, now
from petition.feedback import participants

from ..test_signing import open_petition, petition_id


async def execute(db: Database, sql: str, values: dict[str, Any]) -> None:
    """One statement through the writer, as the service writes."""

    async def unit(tx: Transaction) -> None:
        await tx.execute(sql, values)

    await db.write(unit)


async def organizer_id(db: Database, email: str = "alice@example.org") -> str:
    return str(await db.fetch_val("SELECT id FROM organizers WHERE email = :email", {"email": email}))


async def make_round(
    app: Starlette,
    client: httpx.AsyncClient,
    token: str,
    *,
    statements: tuple[str, ...] = ("Opting out takes one click.", "Managers never see who opted out."),
    slug: str | None = None,
    state: str = "open",
    **fields: object,
) -> tuple[str, list[str]]:
    """A round on an open petition (made through the API unless `slug` is given), inserted as it
    would be once created and in `state`; (round id, its approved statements' ids in the order given)."""
    db: Database = app.state.db
    slug = slug or await open_petition(client, token, verification=["code", "email"], allowed_domains=["example.com"])
    round_id = secrets.token_hex(12)
    moment = now()
    values = {
        "id": round_id,
        "petition_id": await petition_id(db, slug),
        "question": "What should a fair opt-out look like?",
        "description": "Vote on each statement; add your own.",
        "state": state,
        "allow_statements": 1,
        "moderate_statements": 1,
        "results": "public",
        "closes_at": None,
        "created_by": await organizer_id(db),
        "created_at": moment,
        "opened_at": moment if state != "draft" else None,
        "closed_at": moment if state == "closed" else None,
    } | fields
    columns = ", ".join(values)
    await execute(db, f"INSERT INTO rounds ({columns}) VALUES ({', '.join(':' + name for name in values)})", values)
    ids = []
    for text in statements:
        ids.append(await add_statement(db, round_id, text))
    return round_id, ids


async def add_statement(db: Database, round_id: str, text: str, *, status: str = "approved", seed: int = 1) -> str:
    statement_id = secrets.token_hex(12)
    await execute(
        db,
        "INSERT INTO round_statements (id, round_id, text, status, seed, votes) "
        "VALUES (:id, :round_id, :text, :status, :seed, 0)",
        {"id": statement_id, "round_id": round_id, "text": text, "status": status, "seed": seed},
    )
    return statement_id


async def add_participant(db: Database, round_id: str) -> tuple[str, str]:
    """A counted participant of the round, as a join batch writes one; (participant key, token)."""
    token = participants.new_token()
    key = secrets.token_hex(16)
    await execute(
        db,
        "INSERT INTO round_participants (participant_key, round_id, token_hash) VALUES (:key, :round_id, :hash)",
        {"key": key, "round_id": round_id, "hash": participants.token_hash(token)},
    )
    await execute(db, "UPDATE rounds SET participant_count = participant_count + 1 WHERE id = :id", {"id": round_id})
    return key, token


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}

"""A dump of the database cannot join a round's participants to the petition's signers: colleagues who
signed and joined with the same work address leave no value in common between the two sets of tables."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from petition.batcher import close_batch
from petition.database import Database
from petition.feedback.join_batches import close_join_batch
from petition.settings import Settings

from ..conftest import SmtpSink, make_settings, smtp_settings
from ..test_email_signing import ask, codes_for, verify
from ..test_signing import petition_id
from .factories import make_round
from .test_joins import join_by_email

pytestmark = pytest.mark.usefixtures("organizer")
WORKERS = [f"colleague{number}@example.com" for number in range(6)]
# Every table about signers, and every table about participants.
SIGNER_TABLES = ("signatures", "email_dedupe", "pending_signatures", "signer_names", "signer_reasons", "contacts")
PARTICIPANT_TABLES = (
    "round_participants",
    "round_dedupe",
    "round_votes",
    "round_fresh_voters",
    "pending_joins",
    "join_claims",
    "join_attempts",
)
# Columns that name the petition or round a row belongs to (shared on purpose, about no one).
OWNER_COLUMNS = {"petition_id", "round_id", "statement_id", "method", "kind", "vote", "withdrawn", "status"}


@pytest.fixture
def settings(tmp_path: Path, db_url: str, smtp: SmtpSink) -> Settings:
    return make_settings(tmp_path, database_url=db_url, min_cell_size=5, **smtp_settings(smtp))


async def values_of(db: Database, tables: tuple[str, ...]) -> set[str]:
    """Every value stored in the tables' rows but their owners' ids, as text."""
    found: set[str] = set()
    for table in tables:
        for row in await db.fetch_all(f"SELECT * FROM {table}"):
            found |= {str(value) for column, value in dict(row).items() if column not in OWNER_COLUMNS}
    return found - {"None", "", "0", "1"}


async def test_colleagues_who_signed_and_joined_with_one_address_leave_nothing_in_common_between_the_tables(
    app: Starlette, client: httpx.AsyncClient, token: str, smtp: SmtpSink
) -> None:
    db: Database = app.state.db
    round_id, statement_ids = await make_round(app, client, token)
    slug = await db.fetch_val(
        "SELECT p.slug FROM petitions p JOIN rounds r ON r.petition_id = p.id WHERE r.id = :id", {"id": round_id}
    )
    for worker in WORKERS:
        attempt = (await ask(client, slug, worker, reason="Sharing my rota.", name="A Colleague")).json()["attempt"]
        signed = await verify(client, slug, attempt, (await codes_for(app, smtp, worker))[-1])
        assert signed.status_code == 201, signed.text
        held = await join_by_email(app, client, smtp, round_id, worker)
        for statement_id in statement_ids:
            answer = await client.put(
                f"/api/v1/rounds/{round_id}/statements/{statement_id}/vote",
                json={"vote": "agree"},
                headers={"authorization": f"Bearer {held}"},
            )
            assert answer.status_code == 200
    # Both waiting (pending entries, claims) and once their batches closed.
    assert not (await values_of(db, SIGNER_TABLES)) & (await values_of(db, PARTICIPANT_TABLES))
    await close_batch(db, app.state.settings, await petition_id(db, slug))
    assert await close_join_batch(db, app.state.settings, round_id) == len(WORKERS)
    signer_values = await values_of(db, SIGNER_TABLES)
    participant_values = await values_of(db, PARTICIPANT_TABLES)
    assert len(signer_values) >= 2 * len(WORKERS) and len(participant_values) >= 2 * len(WORKERS)
    assert not signer_values & participant_values

"""What a petition's purge and a draft's deletion do to its feedback rounds (inside their transactions)."""

from __future__ import annotations

from ..database import Database, Transaction
from ..settings import Settings
from . import queries

# The rounds' tables a purge deletes from or changes: vacuumed after it on PostgreSQL (petition.purge).
PURGED_TABLES = (
    "join_attempts",
    "pending_joins",
    "join_claims",
    "round_dedupe",
    "round_codes",
    "round_code_batches",
    "round_votes",
    "round_statements",
)


async def count_final_joins(db: Database, settings: Settings, petition_id: str) -> int:
    """Before the purge: each of the petition's rounds' last join batch (its rounds take no more joins),
    so every accepted join is counted before the claims and pending entries go; how many were counted."""
    # Imported here: petitions imports this module (a draft's deletion), and joins import petitions' parts.
    from .join_batches import close_join_batch

    counted = 0
    for row in await db.fetch_all(queries.SELECT_PETITION_ROUNDS_WITH_PENDING_JOINS, {"petition_id": petition_id}):
        counted += await close_join_batch(db, settings, row["round_id"], final=True)
    return counted


async def purge_rounds(tx: Transaction, petition_id: str) -> None:
    """Inside the purge's write: destroy the petition's rounds' identifying data (join attempts, pending
    joins and claims, round dedupe tags, every round code, codes kept for download) and every statement
    not approved with its votes. Participants and votes on approved statements stay (random keys, the
    source of aggregate results)."""
    for sql in queries.PURGE_ROUND_STATEMENTS:
        await tx.execute(sql, {"petition_id": petition_id})


async def delete_draft_rounds(tx: Transaction, petition_id: str) -> None:
    """Inside a draft petition's deletion: delete its rounds (drafts: a draft petition opens none) and
    every row of theirs."""
    for sql in queries.DELETE_DRAFT_ROUNDS:
        await tx.execute(sql, {"petition_id": petition_id})

"""Leases: how a job that must run in one process at a time (a batch close, a purge) claims its turn.

A lease is a row naming its holder and when it runs out. Taking it is one
UPDATE through the writer, so SQLite's write lock or PostgreSQL's row lock
decides between processes; a holder that crashes simply lets it run out.
"""

from __future__ import annotations

from . import queries
from .database import Database, Transaction, now


async def take(db: Database, *, name: str, holder: str, seconds: int, at: int | None = None) -> bool:
    """Claim (or renew) the lease `name` for `seconds`; True when `holder` now holds it."""
    moment = now() if at is None else at

    async def claim(tx: Transaction) -> bool:
        await tx.execute(queries.INSERT_LEASE_IF_MISSING, {"name": name})
        row = await tx.fetch_one(
            queries.TAKE_LEASE, {"name": name, "holder": holder, "expires_at": moment + seconds, "now": moment}
        )
        return row is not None

    return await db.write(claim)


async def release(db: Database, *, name: str, holder: str) -> None:
    """Give the lease up early, if `holder` still holds it."""

    async def give_up(tx: Transaction) -> None:
        await tx.execute(queries.RELEASE_LEASE, {"name": name, "holder": holder})

    await db.write(give_up)

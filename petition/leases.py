"""Leases: how a job that must run in one process at a time (a batch close, a purge) claims its turn.

On PostgreSQL (several processes) a lease is a row naming its holder and when it
runs out. Taking it is one UPDATE through the writer, so the row lock decides
between processes; a holder that crashes simply lets it run out. On SQLite the
service is one process, so leases live in memory: a row renewed every few
seconds would only leave a trail of times in the WAL.
"""

from __future__ import annotations

import weakref

from . import queries
from .database import Database, Transaction, now

# SQLite: per database, lease name -> (holder, expires_at)
_held: weakref.WeakKeyDictionary[Database, dict[str, tuple[str, int]]] = weakref.WeakKeyDictionary()


async def take(db: Database, *, name: str, holder: str, seconds: int, at: int | None = None) -> bool:
    """Claim (or renew) the lease `name` for `seconds`; True when `holder` now holds it."""
    moment = now() if at is None else at
    if db.dialect == "sqlite":
        leases = _held.setdefault(db, {})
        current, expires_at = leases.get(name, ("", 0))
        if current not in ("", holder) and expires_at > moment:
            return False
        leases[name] = (holder, moment + seconds)
        return True

    async def claim(tx: Transaction) -> bool:
        await tx.execute(queries.INSERT_LEASE_IF_MISSING, {"name": name})
        row = await tx.fetch_one(
            queries.TAKE_LEASE, {"name": name, "holder": holder, "expires_at": moment + seconds, "now": moment}
        )
        return row is not None

    return await db.write(claim, lock_key=f"lease/{name}")


async def release(db: Database, *, name: str, holder: str) -> None:
    """Give the lease up early, if `holder` still holds it."""
    if db.dialect == "sqlite":
        leases = _held.setdefault(db, {})
        if leases.get(name, ("", 0))[0] == holder:
            leases.pop(name)
        return

    async def give_up(tx: Transaction) -> None:
        await tx.execute(queries.RELEASE_LEASE, {"name": name, "holder": holder})

    await db.write(give_up, lock_key=f"lease/{name}")

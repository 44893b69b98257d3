"""Account actions shared by the command line and the pages: the setup link, creating organizers and tokens."""

from __future__ import annotations

from . import api_tokens, organizers, queries
from .database import Database, Transaction
from .organizers import audit
from .passwords import HASHER


async def setup_link_if_needed(db: Database) -> str | None:
    """While no organizer exists, a fresh single-use setup link token (older ones stop working)."""
    if await organizers.count_organizers(db):
        return None

    async def unit(tx: Transaction) -> str:
        await tx.execute(queries.EXPIRE_UNUSED_LINKS, {"kind": "setup"})
        return await organizers.create_link(tx, kind="setup", seconds=organizers.SETUP_LINK_SECONDS)

    return await db.write(unit)


async def create_organizer(db: Database, *, email: str, password: str, admin: bool) -> bool:
    """Create an organizer (the first one is always an admin); False when the address is taken."""
    password_hash = HASHER.hash(password)

    async def unit(tx: Transaction) -> bool:
        first = not int(await tx.fetch_val(queries.COUNT_ORGANIZERS) or 0)
        organizer_id = await organizers.insert_organizer(
            tx, email=email, password_hash=password_hash, is_admin=admin or first
        )
        if organizer_id:
            await audit(tx, organizer_id, "organizer created", "from the command line")
        return organizer_id is not None

    return await db.write(unit)


async def create_token_for(db: Database, *, email: str, name: str) -> str | None:
    """A new API token for an active organizer, or None when there is none with that address."""
    organizer = await organizers.find_by_email(db, email)
    if organizer is None or not organizer.is_active:
        return None

    async def unit(tx: Transaction) -> str:
        return await api_tokens.create_token(tx, organizer.id, name)

    return await db.write(unit)

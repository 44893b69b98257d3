"""Feedback rounds: a question on a petition, its states, and who may see or change it."""

from __future__ import annotations

from dataclasses import dataclass

from .. import petitions
from ..database import Database, Row, now
from ..petitions import PetitionError
from . import queries

STATES = ("draft", "open", "closed")
VISIBLE_STATES = ("open", "closed")
NOT_FOUND = "There is no feedback round at this address."
NOT_ORGANIZED = "There is no feedback round at this address that you organize."


@dataclass(frozen=True)
class Found:
    """A round's row and its petition's row (petitions.find: as it is now)."""

    round: Row
    petition: Row


def is_accepting(found: Found, moment: int | None = None) -> bool:
    """Whether the round takes joins, votes and statements at `moment` (now by default): it is open,
    its close time has not come, and its petition is open (a petition that closed closes its rounds)."""
    row = found.round
    at = now() if moment is None else moment
    if row["state"] != "open" or not petitions.is_open(found.petition, at):
        return False
    return row["closes_at"] is None or row["closes_at"] > at


async def find(db: Database, round_id: str) -> Found | None:
    """The round of `round_id` with its petition, or None."""
    row = await db.fetch_one(queries.SELECT_ROUND, {"id": round_id})
    if row is None:
        return None
    petition = await petitions.find(db, row["petition_id"])
    return None if petition is None else Found(row, petition)


async def visible_to(db: Database, round_id: str, organizer_id: str | None) -> Found:
    """The round if the caller may see it: open or closed rounds of a visible petition to all,
    drafts to their petition's organizers only. PetitionError(404) otherwise."""
    found = await find(db, round_id)
    if found is None:
        raise PetitionError(404, NOT_FOUND)
    public = found.round["state"] in VISIBLE_STATES and found.petition["state"] in petitions.VISIBLE_STATES
    if public or (organizer_id and await petitions.is_organizer_of(db, found.petition["id"], organizer_id)):
        return found
    raise PetitionError(404, NOT_FOUND)


async def editable_by(db: Database, round_id: str, organizer_id: str) -> Found:
    """The round if the organizer organizes its petition; PetitionError(404) otherwise."""
    found = await find(db, round_id)
    if found is None or not await petitions.is_organizer_of(db, found.petition["id"], organizer_id):
        raise PetitionError(404, NOT_ORGANIZED)
    return found

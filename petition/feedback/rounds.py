"""Feedback rounds: a question on a petition, its states, who may see or change it, and an organizer's
changes (create, change a draft, open, close), each recorded in the audit trail."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from .. import petitions
from ..database import Database, Row, Transaction, now
from ..organizers import audit
from ..petitions import PetitionError
from ..queries import BUMP_CACHE_VERSION
from ..settings import Settings
from ..tokens import new_id
from . import queries

# The fields an organizer sends, and their limits, as the rest of the feature has always named them.
from .round_fields import (  # noqa: F401
    MAX_SEED_STATEMENTS,
    MAX_STATEMENT_LENGTH,
    ResultsAudience,
    RoundCreate,
    RoundUpdate,
    StatementText,
    close_time_problem,
)

STATES = ("draft", "open", "closed")
VISIBLE_STATES = ("open", "closed")
NOT_FOUND = "There is no feedback round at this address."
NOT_ORGANIZED = "There is no feedback round at this address that you organize."
PETITION_CLOSED = "This petition is closed; its feedback rounds can no longer be made or changed."
ONLY_DRAFTS_CHANGE = "This round is {state}; only a draft round can be changed."


class RoundPublic(BaseModel):
    """A round as anyone who may see it sees it. Times in the petition's zone: `closes_at` exact (a
    deadline), `opened_at` and `closed_at` rounded down to its timeline floor (a close at the close
    time shows that time). `participants`: counted by join batches, null below MIN_CELL_SIZE ("fewer
    than", to everyone: a closed round's last small batch would say how few joined); `statements`:
    approved ones."""

    id: str
    petition: str
    state: Literal["draft", "open", "closed"]
    question: str
    description: str
    allow_statements: bool
    moderate_statements: bool
    results: ResultsAudience
    closes_at: str | None
    opened_at: str | None
    closed_at: str | None
    participants: int | None
    statements: int
    url: str


class RoundOrganizerView(RoundPublic):
    """What the petition's organizers see: the public view and how many statements wait for moderation."""

    statements_waiting: int


class RoundList(BaseModel):
    rounds: list[RoundPublic | RoundOrganizerView]


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


def ended_at(row: Row, petition: Row, moment: int) -> int | None:
    """When an open round stopped taking anything, as of `moment`: its close time, or its petition's
    close, whichever came first; None while it still takes joins and votes (or is not open)."""
    if row["state"] != "open":
        return None
    ends = []
    if row["closes_at"] is not None and row["closes_at"] <= moment:
        ends.append(int(row["closes_at"]))
    if petition["state"] == "closed" or petition.get("purged_at") is not None:
        ends.append(int(petition["closed_at"] or petition["closes_at"] or moment))
    elif petition["state"] == "open" and petition["closes_at"] is not None and petition["closes_at"] <= moment:
        ends.append(int(petition["closes_at"]))
    # Never before it opened (a petition's close stamped earlier than a round opened cannot be, but
    # a clock step back could make it so).
    return max(min(ends), int(row["opened_at"] or 0)) if ends else None


def as_of(found: Found, moment: int | None = None) -> Row:
    """The round's row as it is at `moment`: an open round whose close time passed, or whose petition
    closed, is closed then, as close_due will stamp it (so answers agree before the job runs)."""
    at = now() if moment is None else moment
    ended = ended_at(found.round, found.petition, at)
    return found.round if ended is None else {**found.round, "state": "closed", "closed_at": ended}


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


def shown_participants(row: Row, min_cell_size: int) -> int | None:
    """A round's participant count as anyone sees it: None below `min_cell_size` (DESIGN rule 8)."""
    count = int(row["participant_count"])
    return count if count >= min_cell_size else None


def public_view(row: Row, petition: Row, settings: Settings) -> RoundPublic:
    """A round's row (with its `approved` count) and its petition's row -> the round's public JSON, as of now."""
    row = as_of(Found(row, petition))
    floor, zone = petition["timeline_floor"], petition["time_zone"]
    by_close_time = row["closed_at"] is not None and row["closed_at"] == row["closes_at"]
    return RoundPublic(
        id=row["id"],
        petition=petitions.address(petition),
        state=row["state"],
        question=row["question"],
        description=row["description"],
        allow_statements=bool(row["allow_statements"]),
        moderate_statements=bool(row["moderate_statements"]),
        results=row["results"],
        closes_at=petitions.iso(row["closes_at"], zone),
        opened_at=petitions.floor_time(row["opened_at"], floor, zone),
        # Closed by its own close time: that time, public to the minute already (as petitions.closed_at).
        closed_at=petitions.iso(row["closed_at"], zone)
        if by_close_time
        else petitions.floor_time(row["closed_at"], floor, zone),
        participants=shown_participants(row, settings.min_cell_size),
        statements=int(row["approved"]),
        url=f"{settings.base_url}/r/{row['id']}",
    )


def organizer_view(row: Row, petition: Row, settings: Settings) -> RoundOrganizerView:
    """The organizers' JSON of a round: the public view and `statements_waiting`."""
    return RoundOrganizerView(**public_view(row, petition, settings).model_dump(), statements_waiting=row["waiting"])


async def view_row(db: Database, round_id: str) -> Row:
    """A round's row with its statements' counts (`approved`, `waiting`)."""
    row = await db.fetch_one(queries.SELECT_ROUND_VIEW, {"id": round_id})
    if row is None:
        raise PetitionError(404, NOT_FOUND)
    return row


async def rounds_of(db: Database, petition_id: str, *, drafts: bool) -> list[Row]:
    """A petition's rounds with their counts, newest first; drafts only when asked."""
    return await db.fetch_all(queries.SELECT_PETITION_ROUNDS, {"petition_id": petition_id, "drafts": int(drafts)})


def _refuse_closed_petition(petition: Row) -> None:
    # A draft petition may hold draft rounds (they open once it is open); a closed or purged one takes none.
    if petition["state"] != "draft" and not petitions.is_open(petition):
        raise PetitionError(409, PETITION_CLOSED)


async def _insert_seeds(tx: Transaction, round_id: str, texts: list[str]) -> None:
    for text in texts:
        await tx.execute(queries.INSERT_SEED_STATEMENT, {"id": new_id(), "round_id": round_id, "text": text})


def _seconds(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp())


def _refuse_late_close(petition: Row, closes_at: int | None, settings: Settings) -> None:
    if closes_at is not None and (problem := close_time_problem(petition, closes_at, settings, now())):
        raise PetitionError(422, problem, "closes_at")


async def create(db: Database, settings: Settings, *, organizer_id: str, petition: Row, data: RoundCreate) -> str:
    """A new draft round on `petition` (which the caller checked `organizer_id` organizes), its seed
    statements approved; its id. PetitionError(409) when the petition is closed or purged, (422) for a
    close time after the petition's deadline (a draft's without one: MAX_OPEN_DAYS from now)."""
    _refuse_closed_petition(petition)
    _refuse_late_close(petition, _seconds(data.closes_at), settings)
    round_id = new_id()
    values = {
        "id": round_id,
        "petition_id": petition["id"],
        "question": data.question,
        "description": data.description,
        "allow_statements": int(data.allow_statements),
        "moderate_statements": int(data.moderate_statements),
        "results": data.results,
        "closes_at": _seconds(data.closes_at),
        "created_by": organizer_id,
        "created_at": now(),
    }

    async def unit(tx: Transaction) -> str:
        await tx.execute(queries.INSERT_ROUND, values)
        await _insert_seeds(tx, round_id, data.statements)
        await tx.execute(BUMP_CACHE_VERSION)
        detail = f"{round_id} ({statements_phrase(len(data.statements))})"
        await audit(tx, organizer_id, "round created", detail, petition_id=petition["id"])
        return round_id

    return await db.write(unit)


async def update(db: Database, settings: Settings, *, organizer_id: str, round_id: str, data: RoundUpdate) -> None:
    """Change a draft round's fields given; `statements` replaces its seed list. PetitionError(404) for
    a round the organizer does not organize, (409) once it is open or closed, or its petition closed,
    (422) for a close time after the petition's deadline (as `create`)."""
    found = await editable_by(db, round_id, organizer_id)
    if found.round["state"] != "draft":
        raise PetitionError(409, ONLY_DRAFTS_CHANGE.format(state=found.round["state"]))
    _refuse_closed_petition(found.petition)
    changes = data.model_dump(exclude_unset=True)
    seeds = changes.pop("statements", None)
    for name in ("allow_statements", "moderate_statements"):
        if name in changes:
            changes[name] = int(changes[name])
    if "closes_at" in changes:
        changes["closes_at"] = _seconds(changes["closes_at"])
        _refuse_late_close(found.petition, changes["closes_at"], settings)
    # Names from RoundUpdate's own fields, never from the request's keys.
    assignments = ", ".join(f"{name} = :{name}" for name in changes) or "id = id"

    async def unit(tx: Transaction) -> None:
        # Checked in the write: opened meanwhile, it keeps what its participants saw.
        if await tx.fetch_one(queries.update_round(assignments), {**changes, "id": round_id}) is None:
            raise PetitionError(409, "This round was opened meanwhile; only a draft round can be changed.")
        if seeds is not None:
            await tx.execute(queries.DELETE_SEED_STATEMENTS, {"round_id": round_id})
            await _insert_seeds(tx, round_id, seeds)
        await tx.execute(BUMP_CACHE_VERSION)
        counted = f", {len(seeds)} statements" if seeds is not None else ""
        detail = f"{round_id} ({len(changes)} fields{counted})"
        await audit(tx, organizer_id, "round changed", detail, petition_id=found.petition["id"])

    await db.write(unit)


async def open_round(db: Database, *, organizer_id: str, round_id: str) -> None:
    """Draft -> open, stamping opened_at. PetitionError(404) for a round the organizer does not
    organize; (409) unless it is a draft, its petition is open, its close time is to come, and it
    has an approved statement or lets participants add theirs."""
    found = await editable_by(db, round_id, organizer_id)
    row, moment = found.round, now()
    if row["state"] != "draft":
        raise PetitionError(409, f"This round is already {as_of(found, moment)['state']}; only a draft round opens.")
    if not petitions.is_open(found.petition, moment):
        if found.petition["state"] == "draft":
            raise PetitionError(409, "This round's petition is a draft: publish it first, then open the round.")
        raise PetitionError(409, "This round's petition is closed; a round opens only on an open petition.")
    if row["closes_at"] is not None and row["closes_at"] <= moment:
        raise PetitionError(409, "This round's close time has passed; set a later one (or none) before opening it.")
    approved = (await view_row(db, round_id))["approved"]
    if not approved and not row["allow_statements"]:
        raise PetitionError(
            409, "This round has nothing to vote on: add a statement, or let participants add theirs, before opening."
        )

    async def unit(tx: Transaction) -> bool:
        if await tx.fetch_one(queries.OPEN_ROUND, {"id": round_id, "now": moment}) is None:
            return False
        await tx.execute(BUMP_CACHE_VERSION)
        # A public event: a round opens only on an open petition, and its page is public from now.
        await audit(
            tx,
            organizer_id,
            "round opened",
            f"{round_id} ({statements_phrase(approved)})",
            petition_id=found.petition["id"],
            public_event="round_opened",
            public_ref=round_id,
        )
        return True

    if not await db.write(unit):
        raise PetitionError(409, "This round or its petition changed meanwhile; reload it and try again.")


async def close_round(db: Database, *, organizer_id: str, round_id: str) -> None:
    """Open -> closed, stamping closed_at. PetitionError(404) for a round the organizer does not
    organize; (409) for a draft, or a round closed already (by an organizer, its close time or its
    petition's close)."""
    found = await editable_by(db, round_id, organizer_id)
    moment = now()
    state = as_of(found, moment)["state"]
    if state == "closed":
        raise PetitionError(409, "This round is already closed.")
    if state == "draft":
        raise PetitionError(409, "This round is a draft: it was never open, so it cannot be closed.")

    async def unit(tx: Transaction) -> bool:
        if await tx.fetch_one(queries.CLOSE_ROUND, {"id": round_id, "closed_at": moment}) is None:
            return False
        await tx.execute(BUMP_CACHE_VERSION)
        await audit(
            tx,
            organizer_id,
            "round closed",
            round_id,
            petition_id=found.petition["id"],
            public_event="round_closed",
            public_ref=round_id,
        )
        return True

    if not await db.write(unit):
        raise PetitionError(409, "This round is already closed.")


async def close_due(db: Database) -> int:
    """Stamp closed every open round whose close time passed or whose petition is no longer open
    (closed, purged, past its deadline), at the moment it ended (see `ended_at`); how many."""
    moment = now()

    async def unit(tx: Transaction) -> int:
        closed = 0
        for due in await tx.fetch_all(queries.SELECT_ROUNDS_DUE, {"now": moment}):
            petition = {
                "state": due["petition_state"],
                "closes_at": due["petition_closes_at"],
                "closed_at": due["petition_closed_at"],
                "purged_at": due["petition_purged_at"],
            }
            row = {"state": "open", "closes_at": due["closes_at"], "opened_at": due["opened_at"]}
            ended = ended_at(row, petitions.as_of(petition, moment), moment) or moment
            if await tx.fetch_one(queries.CLOSE_ROUND, {"id": due["id"], "closed_at": ended}) is not None:
                await audit(
                    tx,
                    None,
                    "round closed",
                    f"{due['id']} (its close time, or its petition's, passed)",
                    petition_id=due["petition_id"],
                    public_event="round_closed",
                    public_ref=due["id"],
                )
                closed += 1
        if closed:
            await tx.execute(BUMP_CACHE_VERSION)
        return closed

    return await db.write(unit)


def statements_phrase(count: int) -> str:
    """ "1 statement", "3 statements": for audit entries."""
    return f"{count} statement" + ("" if count == 1 else "s")

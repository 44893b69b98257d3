"""A round's statements: the approved list, participants' additions, and organizers' moderation.

A statement stores no author: a participant's addition is a row like an organizer's seed but for
`seed = 0`, and nothing, the audit trail included, records who added it. Moderation mirrors
reasons' (petition/reasons.py): waiting statements are approved or hidden, all or nothing, and a
hidden statement leaves voting (its votes stay stored; results read approved statements only).
Every list is ordered by statement id (random), never by when a statement was written.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
from collections.abc import Sequence
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from .. import flagger
from ..database import Database, Transaction
from ..organizers import audit
from ..petitions import PetitionError
from ..queries import BUMP_CACHE_VERSION
from ..text import PROSE
from ..tokens import new_id
from . import queries
from .rounds import Found, is_accepting

Status = Literal["waiting", "approved", "hidden"]
STATUSES: tuple[Status, ...] = get_args(Status)
MAX_LENGTH = 280
QUEUE_PAGE_SIZE = 50
MAX_MODERATED = 100  # statement ids in one moderation request, both lists together
# Statements one participant may add in an hour, per process: enough to say what they think, too
# few to flood the organizers' queue.
STATEMENTS_PER_HOUR = 10
HOUR_SECONDS = 3600
NO_SUCH_STATEMENT = "There is no such statement in this round."
NOT_ALLOWED = "This round does not take statements from participants."
NOT_ACCEPTING = "This round is not open for new statements."
TOO_MANY = f"You can add at most {STATEMENTS_PER_HOUR} statements an hour. Please try again later."
BAD_CURSOR = "The cursor is not one this list gave: start again without it."
STATEMENT_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")

StatementText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_LENGTH), PROSE]
StatementId = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class StatementPublic(BaseModel):
    """An approved statement as anyone sees it; `voted` only for a participant's own token."""

    id: str
    text: str
    voted: bool | None = None


class StatementList(BaseModel):
    statements: list[StatementPublic]


class StatementCreate(BaseModel):
    """A participant's statement: 1 to 280 characters, the reasons' text rules."""

    model_config = ConfigDict(extra="forbid")
    text: StatementText


class StatementAdded(BaseModel):
    """An added statement: `waiting` for an organizer when the round is moderated, else `approved`."""

    id: str
    status: Literal["waiting", "approved"]


class StatementQueueQuery(BaseModel):
    """The organizers' list of one status (the moderation queue unless told), a page after `cursor`."""

    status: Annotated[
        Status,
        Field(description="Which statements: waiting (the default), approved or hidden. Follow next_cursor."),
    ] = "waiting"
    cursor: str | None = None


class StatementFlag(BaseModel):
    """A warning about a statement's text (flagger.FLAG_KINDS), and the text that raised it."""

    kind: str
    match: str


class StatementListed(BaseModel):
    """A statement in an organizers' list: its text, whether an organizer seeded it, and its flags."""

    id: str
    text: str
    seed: bool
    flags: list[StatementFlag]


class StatementQueue(BaseModel):
    statements: list[StatementListed]
    next_cursor: str | None


class StatementModerated(BaseModel):
    """What became of a statement: approved, hidden, or deleted (hidden after the petition's purge,
    when nothing not approved is kept)."""

    id: str
    status: Literal["approved", "hidden", "deleted"]


class StatementsModerated(BaseModel):
    statements: list[StatementModerated]


class ModerateRequest(BaseModel):
    """Statement ids to approve and to hide: at least one, at most MAX_MODERATED in all, none in both."""

    model_config = ConfigDict(extra="forbid")
    approve: Annotated[list[StatementId], Field(max_length=MAX_MODERATED)] = []
    hide: Annotated[list[StatementId], Field(max_length=MAX_MODERATED)] = []

    @model_validator(mode="after")
    def _one_to_a_hundred(self) -> ModerateRequest:
        if problem := moderation_problem(self.approve, self.hide):
            raise ValueError(problem)
        return self


def moderation_problem(approve: Sequence[str], hide: Sequence[str]) -> str | None:
    """Why a moderation request cannot be done as asked, or None."""
    if not approve and not hide:
        return "Give at least one statement id to approve or to hide."
    if len(set(approve)) + len(set(hide)) > MAX_MODERATED:
        return f"At most {MAX_MODERATED} statements can be moderated at once."
    if both := set(approve) & set(hide):
        return f"{len(both)} statement id(s) are both to approve and to hide: choose one for each."
    return None


async def approved(db: Database, round_id: str) -> list[StatementPublic]:
    """The round's approved statements ({id, text}), by id."""
    rows = await db.fetch_all(queries.SELECT_APPROVED_STATEMENTS, {"round_id": round_id})
    return [StatementPublic(id=row["id"], text=row["text"]) for row in rows]


async def approved_for(db: Database, round_id: str, participant_key: str) -> list[StatementPublic]:
    """The round's approved statements, each saying whether the participant voted on it (never how)."""
    listed = await approved(db, round_id)
    rows = await db.fetch_all(queries.SELECT_VOTED_STATEMENT_IDS, {"participant_key": participant_key})
    voted = {row["statement_id"] for row in rows}
    return [item.model_copy(update={"voted": item.id in voted}) for item in listed]


def check_can_add(found: Found) -> None:
    """PetitionError(409) unless the round takes participants' statements now."""
    if not found.round["allow_statements"]:
        raise PetitionError(409, NOT_ALLOWED)
    if not is_accepting(found):
        raise PetitionError(409, NOT_ACCEPTING)


async def add(db: Database, *, found: Found, text: str) -> StatementAdded:
    """Store a participant's statement (no author, no time): `waiting` in a moderated round, else
    `approved` (then public at once). PetitionError(409) when the round does not take statements."""
    check_can_add(found)
    added = StatementAdded(id=new_id(), status="waiting" if found.round["moderate_statements"] else "approved")
    values = {"id": added.id, "round_id": found.round["id"], "text": text, "status": added.status}

    async def unit(tx: Transaction) -> None:
        await tx.execute(queries.INSERT_STATEMENT, values)
        if added.status == "approved":
            await tx.execute(BUMP_CACHE_VERSION)  # the public list of statements changes

    await db.write(unit)
    return added


def encode_cursor(statement_id: str) -> str:
    """The last statement id of a page -> the opaque cursor after it (base64url)."""
    return base64.urlsafe_b64encode(statement_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    """A cursor -> the statement id after which the page starts; PetitionError(422) for one no list gave."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        raise PetitionError(422, BAD_CURSOR, "cursor") from None
    if not STATEMENT_ID.fullmatch(raw) or encode_cursor(raw) != cursor:
        raise PetitionError(422, BAD_CURSOR, "cursor")
    return raw


async def queue(db: Database, found: Found, *, status: str = "waiting", after: str = "") -> StatementQueue:
    """A page (QUEUE_PAGE_SIZE) of the round's statements of `status` after the id `after`, each with its
    flags (computed now, in a thread, with the petition's sensitive words)."""
    rows = await db.fetch_all(
        queries.SELECT_STATEMENTS_PAGE,
        {"round_id": found.round["id"], "status": status, "after": after, "limit": QUEUE_PAGE_SIZE + 1},
    )
    more = len(rows) > QUEUE_PAGE_SIZE
    rows = rows[:QUEUE_PAGE_SIZE]
    words = flagger.words_of(found.petition)
    # In a thread: flagging a page against a long word list takes long enough to hold up other requests.
    found_flags = await asyncio.to_thread(_flag_all, [row["text"] for row in rows], words)
    return StatementQueue(
        statements=[
            StatementListed(
                id=row["id"],
                text=row["text"],
                seed=bool(row["seed"]),
                flags=[StatementFlag(kind=flag.kind, match=flag.match) for flag in flags],
            )
            for row, flags in zip(rows, found_flags, strict=True)
        ],
        next_cursor=encode_cursor(rows[-1]["id"]) if more else None,
    )


def _flag_all(texts: list[str], words: list[str]) -> list[list[flagger.Flag]]:
    return [flagger.flags(text, words) for text in texts]


async def moderate(
    db: Database, *, found: Found, organizer_id: str, approve: Sequence[str] = (), hide: Sequence[str] = ()
) -> list[StatementModerated]:
    """Approve and hide statements of the round, all or nothing, in one write: each one's new status.

    Hiding an approved statement takes it out of voting and the public list (its votes stay stored,
    unused); after the petition's purge it deletes the statement and its votes instead (a purge keeps
    nothing that is not approved, as for reasons). The audit trail records counts only.
    PetitionError(422) for a request moderation_problem refuses; (404) when any id is not a statement
    of this round (naming none, and nothing changes).
    """
    approve, hide = list(dict.fromkeys(approve)), list(dict.fromkeys(hide))
    if problem := moderation_problem(approve, hide):
        raise PetitionError(422, problem)
    round_id = found.round["id"]
    purged = found.petition["purged_at"] is not None

    async def unit(tx: Transaction) -> list[StatementModerated]:
        for statement_id in [*approve, *hide]:
            if await tx.fetch_one(queries.SELECT_STATEMENT_STATUS, {"id": statement_id, "round_id": round_id}) is None:
                raise PetitionError(404, NO_SUCH_STATEMENT)  # the write rolls back: nothing changed
        done: list[StatementModerated] = []
        for status, ids in (("approved", approve), ("hidden", hide)):
            for statement_id in ids:
                values = {"id": statement_id, "round_id": round_id, "status": status}
                if status == "hidden" and purged:
                    await tx.execute(queries.DELETE_STATEMENT_VOTES, values)
                    await tx.execute(queries.DELETE_STATEMENT, values)
                    done.append(StatementModerated(id=statement_id, status="deleted"))
                    continue
                await tx.execute(queries.SET_STATEMENT_STATUS, values)
                done.append(StatementModerated(id=statement_id, status=status))  # type: ignore[arg-type]
        await tx.execute(BUMP_CACHE_VERSION)
        hidden = "deleted" if purged else "hidden"
        detail = f"{len(approve)} approved, {len(hide)} {hidden} in round {round_id}"
        await audit(tx, organizer_id, "statements moderated", detail, petition_id=found.petition["id"])
        return done

    return await db.write(unit)

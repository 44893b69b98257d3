"""Votes on a round's statements: agree, disagree or pass, one per participant and statement, no time.

A vote is written in one group commit with the participant's place among the round's fresh voters (the
set results wait for; see migration 0021). Voting again changes the vote in place; sending the vote
already stored writes nothing and leaves the fresh voters as they are, so re-sending votes cannot make
MIN_CELL_SIZE "new" voters out of a few. A vote never touches its statement's row: the round page's
order counts votes as of the last results (results_job sets them).
"""

from __future__ import annotations

import hashlib
from typing import Literal

from pydantic import BaseModel, ConfigDict

from ..database import Database, Row, Transaction, now
from ..petitions import PetitionError
from ..settings import Settings
from . import participants, pending_joins, queries, rounds
from .rounds import Found, is_accepting

Vote = Literal["agree", "disagree", "pass"]
# What round_votes.vote holds for each word (Pol.is' agree +1, disagree -1, pass 0).
VOTE_VALUES: dict[str, int] = {"agree": 1, "disagree": -1, "pass": 0}
NO_SUCH_STATEMENT = "There is no statement to vote on at this address in this round."
NOT_ACCEPTING = "This round is not open for votes."


class VoteCast(BaseModel):
    """A vote: one of the three words."""

    model_config = ConfigDict(extra="forbid")
    vote: Vote


class VoteRecorded(BaseModel):
    """The vote as it stands now for the statement."""

    id: str
    vote: Vote


async def cast(db: Database, settings: Settings, *, round_id: str, token: str, statement_id: str, vote: str) -> None:
    """Record the `vote` ("agree", "disagree" or "pass") of the participant holding `token` on the
    statement, durably, and make the participant one of the round's fresh voters; a vote the same as the
    one stored is accepted and writes nothing (the participant does not become fresh).

    The write checks everything itself, so a counted participant's vote costs no read before it. A
    refused one is looked into: a join still waiting for its batch votes too (its participant key
    read from its sealed entry, the write checking the entry is still there); otherwise `refusal`
    says why: PetitionError 404 (no such visible round, or the statement is not an approved one of
    it), 401 (not a participant token of this round), 409 (the round does not take votes).
    """
    values = {
        "token_hash": participants.token_hash(token),
        "statement_id": statement_id,
        "round_id": round_id,
        "vote": VOTE_VALUES[vote],
        "now": now(),
        "waiting_key": "",
        "pending_key": "",
    }
    if db.dialect == "postgresql":

        async def unit(tx: Transaction) -> bool:
            return await tx.fetch_one(queries.VOTE_POSTGRES, values) is not None

    else:

        async def unit(tx: Transaction) -> bool:
            voter = await tx.fetch_one(queries.VOTE_CHECK, values)
            if voter is None:
                return False
            if voter["previous"] == values["vote"]:
                return True  # the vote stored already: nothing written, the participant not made fresh
            written = {**values, "participant_key": voter["participant_key"]}
            await tx.execute(queries.UPSERT_VOTE, written)
            await tx.execute(queries.ADD_FRESH_VOTER, written)
            return True

    # The rows a vote changes (its own, the participant's fresh-voter row) are the participant's: two
    # processes' groups lock them in one order when they take their units in the order of the token's hash.
    lock = f"participant/{values['token_hash']}"
    if await db.write(unit, lock_key=lock):
        return
    found = await rounds.find(db, round_id)
    waiting = None if found is None else await participants.participant_of(db, found, token, settings=settings)
    if waiting is not None:
        values.update(waiting_key=waiting, pending_key=pending_joins.pending_key(token))
        if await db.write(unit, lock_key=lock):
            return
    raise await refusal(db, settings, round_id=round_id, token=token, statement_id=statement_id)


async def refusal(db: Database, settings: Settings, *, round_id: str, token: str, statement_id: str) -> PetitionError:
    """Why a vote the write did not take was refused, checked as a request is: the round (404), the
    token (401), whether the round takes votes (409), the statement (404)."""
    found = await rounds.visible_to(db, round_id, None)
    if await participants.participant_of(db, found, token, settings=settings) is None:
        return PetitionError(401, participants.BAD_TOKEN)
    if not is_accepting(found):
        return PetitionError(409, NOT_ACCEPTING)
    return PetitionError(404, NO_SUCH_STATEMENT)


def order_key(participant_key: str, statement_id: str) -> str:
    """A statement's place for one participant among statements with as many votes: SHA-256 of both, hex.

    Random across participants (so early statements do not take every first vote) and the same for
    one participant at every reload."""
    return hashlib.sha256(f"next-statement/v1|{participant_key}|{statement_id}".encode()).hexdigest()


async def next_statement(db: Database, found: Found, participant_key: str) -> tuple[Row | None, int]:
    """The statement the participant should vote on next, and how many are left to vote on (that one
    included): approved statements not voted on yet, fewest votes as of the last results first (0 for
    all before any), then `order_key`; (None, 0) when none remain."""
    rows = await db.fetch_all(
        queries.SELECT_UNVOTED_STATEMENTS, {"round_id": found.round["id"], "participant_key": participant_key}
    )
    if not rows:
        return None, 0
    first = min(rows, key=lambda row: (row["votes"], order_key(participant_key, row["id"])))
    return first, len(rows)

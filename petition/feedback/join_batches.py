"""Join batches: participants are written and counted in crowds, never one at a time.

A round's batch closes once LOG_BATCH_SECONDS have passed since its waiting joins were first seen
(kept in memory only: a row holding it would time a join) and at least MIN_CELL_SIZE joins wait,
or once the round stopped taking joins (then whatever waits). In one write it inserts the
participants (in the order of their random keys), the round dedupe tags (in tag order), spends
the printed codes (in code-hash order), moves the code batches' `used` and the round's
`participant_count`, and deletes the pending entries, their claims and the emailed attempts they
used. Then the WAL is checkpointed (as the signature batcher does), so no file keeps the
commits that led there (DESIGN.md rules 11 and 12).

A round that closed with fewer than MIN_CELL_SIZE joins waiting gets a final batch that writes
and counts the participants only: their dedupe tags and spent codes would pair with them on
disk, and a closed round takes no more joins, so nothing needs them.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from typing import Any

from .. import queries as petition_queries
from ..database import Database, Transaction
from ..settings import Settings
from . import pending_joins, queries
from .joins import join_claim
from .rounds import find, is_accepting

logger = logging.getLogger("petition.join_batches")


class _TooFew(Exception):
    """Fewer joins were taken than a batch needs (some were taken by another batch): undo the take."""


class JoinBatcher:
    """Decides when each round's join batch closes, and closes it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # round id -> monotonic time its waiting joins were first seen
        self.first_seen: dict[str, float] = {}

    async def run_once(self, db: Database, *, clock: float | None = None) -> int:
        """Close every join batch that is due; how many closed. Checkpoints the WAL after a batch."""
        moment = time.monotonic() if clock is None else clock
        waiting = await db.fetch_all(queries.SELECT_ROUNDS_WITH_PENDING_JOINS)
        closed = 0
        for row in waiting:
            round_id = row["round_id"]
            first = self.first_seen.setdefault(round_id, moment)
            found = await find(db, round_id)
            if found is None:
                continue
            final = not is_accepting(found)
            old_enough = moment - first >= self.settings.log_batch_seconds
            if final or (old_enough and int(row["joins"]) >= self.settings.min_cell_size):
                if await close_join_batch(db, self.settings, round_id, final=final):
                    closed += 1
                self.first_seen.pop(round_id, None)
        for round_id in set(self.first_seen) - {row["round_id"] for row in waiting}:
            self.first_seen.pop(round_id)
        if closed and not await db.checkpoint():
            logger.warning("the WAL checkpoint waited for a reader; the signature batcher tries again")
        return closed


async def close_join_batch(db: Database, settings: Settings, round_id: str, *, final: bool = False) -> int:
    """Write and count the joins waiting for a round, each table in its own key order; how many
    were counted (0 when fewer than MIN_CELL_SIZE waited and the round is not `final`)."""

    async def unit(tx: Transaction) -> int:
        taken = await tx.fetch_all(queries.TAKE_PENDING_JOINS, {"round_id": round_id})
        if not taken:
            return 0
        small = len(taken) < settings.min_cell_size
        if small and not final:
            raise _TooFew
        entries = [pending_joins.unseal(settings, row["pending_key"], row["sealed"]) for row in taken]
        await _write(tx, settings, round_id, entries, participants_only=small)
        return len(entries)

    try:
        return await db.write(unit)
    except _TooFew:
        return 0


async def _write(
    tx: Transaction, settings: Settings, round_id: str, entries: list[dict[str, Any]], *, participants_only: bool
) -> None:
    """Every permanent row of a batch, each table in the order of its own key, and the counts."""
    key = {"round_id": round_id}
    joined = sorted(entries, key=lambda entry: entry["participant"])
    await tx.execute_many(
        queries.INSERT_ROUND_PARTICIPANT,
        [{**key, "participant_key": entry["participant"], "token_hash": entry["token_hash"]} for entry in joined],
    )
    tags = sorted(entry["tag"] for entry in entries if "tag" in entry)
    spent = sorted(entry["code_hash"] for entry in entries if "code_hash" in entry)
    if not participants_only:
        await tx.execute_many(queries.INSERT_ROUND_DEDUPE, [{**key, "tag": tag} for tag in tags])
        await tx.execute_many(queries.SPEND_ROUND_CODE, [{"code_hash": code_hash} for code_hash in spent])
        used = Counter(entry["code_batch"] for entry in entries if "code_batch" in entry)
        for batch_id, count in sorted(used.items()):
            await tx.execute(queries.ADD_USED_ROUND_CODES, {"id": batch_id, "used": count})
    claims = sorted(join_claim(settings, held) for held in [*tags, *spent])
    await tx.execute_many(queries.DELETE_JOIN_CLAIM, [{"claim": claim} for claim in claims])
    # Used attempts go with the batch, not with the write that joined (their expiry, a time to
    # the second, would date the join).
    attempts = sorted(entry["attempt"] for entry in entries if "attempt" in entry)
    await tx.execute_many(queries.DELETE_JOIN_ATTEMPT, [{"attempt_hash": hashed} for hashed in attempts])
    await tx.execute(queries.ADD_ROUND_PARTICIPANTS, {"id": round_id, "joined": len(entries)})
    await tx.execute(petition_queries.BUMP_CACHE_VERSION)  # cached answers showing the count

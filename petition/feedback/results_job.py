"""The background job that recomputes feedback rounds' results, in batches of participants (DESIGN.md rule 12).

A round's results are recomputed only once at least MIN_CELL_SIZE distinct participants have voted since
the last computation (round_fresh_voters), and at most every ROUND_RESULTS_SECONDS: so one person's vote
never shows the moment it is cast, and two results never differ by fewer than MIN_CELL_SIZE people's
votes. The computation runs in the worker process (results_worker); the event loop only reads the votes
(one short row per participant) and writes the aggregates.
"""

from __future__ import annotations

import json
import logging
import string
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..database import Database, Transaction, now
from ..queries import BUMP_CACHE_VERSION
from ..settings import Settings
from . import queries
from .results import Results
from .results_worker import ResultsWorker

logger = logging.getLogger("petition.feedback.results")
# The job looks this often at most; a short ROUND_RESULTS_SECONDS makes it look more often.
LOOK_SECONDS = 15
# Group ids as shown: "A" for the largest group, then "B", ... (k-means makes at most five).
GROUP_LETTERS = string.ascii_uppercase
# Decimals kept of an agreement share and of a participant's map coordinates: enough to draw and to
# read, and a stored body that says no more than the page shows.
SHARE_DECIMALS = 4
DOT_DECIMALS = 3


def look_seconds(settings: Settings) -> float:
    return min(LOOK_SECONDS, settings.round_results_seconds)


@dataclass(frozen=True)
class Votes:
    """A round's votes, numbered for the worker: `cells` rows (participant, statement, vote) of ints,
    `statement_ids` the approved statements by number. No participant key."""

    cells: np.ndarray
    statement_ids: list[str]


async def read_votes(db: Database, round_id: str) -> Votes:
    """The votes on the round's approved statements, participants numbered in the order of their random
    keys and statements in the order of their ids."""
    approved = await db.fetch_all(queries.SELECT_APPROVED_STATEMENT_IDS, {"round_id": round_id})
    statement_ids = [row["id"] for row in approved]
    sql = queries.SELECT_VOTE_CELLS_POSTGRES if db.dialect == "postgresql" else queries.SELECT_VOTE_CELLS
    rows = await db.fetch_all(sql, {"round_id": round_id})
    texts = [row["cells"] for row in rows]
    counts = np.array([text.count(" ") + 1 for text in texts], dtype=np.int64)
    # One C parse of every cell, not a million Python integers.
    cells = np.fromstring(" ".join(texts), dtype=np.int64, sep=" ") if texts else np.zeros(0, dtype=np.int64)
    table = np.empty((len(cells), 3), dtype=np.int64)
    table[:, 0] = np.repeat(np.arange(len(texts), dtype=np.int64), counts)
    table[:, 1] = cells // 3
    table[:, 2] = cells % 3 - 1
    return Votes(table, statement_ids)


def results_body(results: Results, statement_ids: list[str]) -> dict[str, Any]:
    """What round_results.body keeps of a computation: the aggregates by statement id and group letter,
    and the map's dots [x, y, group letter or null], sorted by group then coordinates (an order that
    says nothing about who is who)."""
    letters = {group.id: GROUP_LETTERS[group.id] for group in results.groups}
    dots = sorted(
        (
            [round(dot.x, DOT_DECIMALS), round(dot.y, DOT_DECIMALS), None if dot.group is None else letters[dot.group]]
            for dot in results.participants
        ),
        key=lambda dot: (dot[2] is None, dot[2] or "", dot[0], dot[1]),
    )
    return {
        "statements": [
            {
                "id": statement_ids[counts.statement],
                "agree": counts.agree,
                "disagree": counts.disagree,
                "pass": counts.passed,
                "agreement": None if counts.agreement_share is None else round(counts.agreement_share, SHARE_DECIMALS),
            }
            for counts in results.statements
        ],
        "groups": [
            {
                "id": letters[group.id],
                "size": group.size,
                "representative": [
                    {"id": statement_ids[item.statement], "direction": item.direction} for item in group.representative
                ],
            }
            for group in results.groups
        ],
        "consensus": [statement_ids[item.statement] for item in results.consensus],
        "divisive": [statement_ids[item.statement] for item in results.divisive],
        "dots": dots,
    }


async def recompute(db: Database, settings: Settings, worker: ResultsWorker, round_id: str, *, at: int) -> bool:
    """Recompute one round's results, if its fresh voters still number MIN_CELL_SIZE: read them, then the
    votes, compute in the worker, then in one write store the results, set each statement's `votes` to its
    votes in them (the round page's order), and delete exactly the fresh voters read (one who voted
    meanwhile stays fresh). True when results were written. Raises what the worker raised."""
    fresh = [row["participant_key"] for row in await db.fetch_all(queries.SELECT_FRESH_VOTERS, {"round_id": round_id})]
    if len(fresh) < settings.min_cell_size:
        return False
    votes = await read_votes(db, round_id)
    results = await worker.compute(votes.cells, len(votes.statement_ids), min_cell_size=settings.min_cell_size)
    if results is None:  # their votes were on statements hidden since: they stay fresh
        return False
    body = json.dumps(results_body(results, votes.statement_ids), separators=(",", ":"))
    statement_votes = [
        {
            "id": votes.statement_ids[counts.statement],
            "round_id": round_id,
            "votes": counts.agree + counts.disagree + counts.passed,
        }
        for counts in results.statements
    ]

    async def store(tx: Transaction) -> None:
        values = {"round_id": round_id, "computed_at": at, "participants": len(results.participants), "body": body}
        await tx.execute(queries.UPSERT_ROUND_RESULTS, values)
        # The round page's order moves with the results, never with one vote (statements in id order).
        await tx.execute_many(queries.SET_STATEMENT_VOTES, statement_votes)
        await tx.execute_many(
            queries.DELETE_FRESH_VOTER, [{"participant_key": key, "round_id": round_id} for key in fresh]
        )
        await tx.execute(BUMP_CACHE_VERSION)  # the round's results JSON and page show them

    await db.write(store)
    return True


async def run_once(db: Database, settings: Settings, worker: ResultsWorker, *, at: int | None = None) -> bool:
    """Recompute every round whose results are due at `at` (now by default); True when any changed.
    A round whose computation fails is logged (the kind of error, no data) and tried again at the next look."""
    moment = now() if at is None else at
    due = await db.fetch_all(
        queries.SELECT_ROUNDS_WITH_RESULTS_DUE,
        {"due": moment - settings.round_results_seconds, "min_voters": settings.min_cell_size},
    )
    changed = False
    for row in due:
        try:
            changed |= await recompute(db, settings, worker, row["id"], at=moment)
        except Exception as error:  # the message could quote votes: its kind only
            logger.error("a round's results could not be computed (%s); tried again later", type(error).__name__)
    return changed

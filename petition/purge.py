"""The retention purge: what could identify a petition's signers is destroyed, and its log says so.

Once a petition has closed and its `retention_days` have passed (or at once, when an organizer
or the operator asks), one transaction destroys, for that petition: the email dedupe tags (and
on PostgreSQL the waiting ones), updates addresses and their pending confirmations, signing
attempts, pending entries, the mail still waiting about it, the code-email counters, every
printed code's keyed hash (used ones too: with PEPPER they would test a found tear-off tab), the
codes still kept encrypted for download, every reason not approved, and its feedback rounds' join
data, round codes and statements not approved (feedback/purge.py). In the same transaction
a 0x04 entry enters the petition's transparency log with its own signed checkpoint, the petition
is stamped `purged_at`, and the audit trail records it. It keeps the counts, the hourly
counters, the log, approved reasons, shown names, flyer and code batch counters, the audit trail
and the signatures table, so receipts still get their status and inclusion proof
(DESIGN.md rule 10).

After the commit the bytes go from disk: on SQLite `secure_delete` has zeroed them in the pages
and a WAL checkpoint (TRUNCATE) empties the WAL that held them; on PostgreSQL the tables are
vacuumed (what PostgreSQL's own WAL and backups keep is the operator's: see the README).
"""

from __future__ import annotations

import asyncio
import logging

from . import batcher, queries, tlog
from .database import Database, DatabaseError, Row, Transaction, now
from .feedback import purge as rounds_purge
from .organizers import audit
from .petitions import PetitionError, floor_time, is_open
from .settings import Settings
from .text import long_date

logger = logging.getLogger("petition.purge")

# The tables a purge deletes from or changes, vacuumed after it on PostgreSQL.
PURGED_TABLES = (
    "email_dedupe",
    "pending_dedupe",
    "contacts",
    "contact_confirmations",
    "sign_attempts",
    "pending_signatures",
    "outbox",
    "code_email_counts",
    "signing_codes",
    "code_batches",
    "signer_reasons",
    *rounds_purge.PURGED_TABLES,
)
AUDIT_ACTION = "identifying data destroyed"
# A reader may hold a WAL snapshot for a moment; the batcher's next round checkpoints anyway.
CHECKPOINT_TRIES = 5
CHECKPOINT_WAIT_SECONDS = 0.2


def purged_on(row: Row) -> str:
    """When the petition was purged, as shown (rounded down to its timeline floor): "3 June 2026"."""
    return long_date(
        floor_time(row["purged_at"], row["timeline_floor"], row["time_zone"]), row["timeline_floor"], row["time_zone"]
    )


def refusal(row: Row, moment: int | None = None) -> str | None:
    """Why the petition cannot be purged at `moment` (a draft, open, or purged already), or None."""
    if row["purged_at"] is not None:
        return f"This petition's identifying data was already destroyed on {purged_on(row)}."
    if row["state"] == "draft":
        return "This petition is a draft: it holds nothing about signers, and only a closed petition is purged."
    if is_open(row, moment):
        return "This petition is open: close it first. Identifying data is destroyed only once it has closed."
    return None


async def purge(
    db: Database, settings: Settings, *, petition_id: str, organizer_id: str | None, why: str, at: int | None = None
) -> int:
    """Destroy a closed petition's identifying data in one transaction (see the module); its
    `purged_at` (seconds since the epoch).

    `organizer_id`: who asked (None: the retention job or the command line); `why` goes to the
    audit trail. PetitionError(404) for no such petition, (409) for a draft, an open petition or
    one purged already (nothing changed). Any other failure leaves the petition as it was.
    """
    moment = now() if at is None else at
    row = await db.fetch_one(queries.SELECT_PETITION_BY_ID, {"id": petition_id})
    if row is None:
        raise PetitionError(404, "There is no such petition.")
    if problem := refusal(row, moment):
        raise PetitionError(409, problem)
    # Its final batch first: every accepted signature is counted and in the log before the purge.
    if await db.fetch_val(queries.COUNT_SIGNATURES_WAITING, {"petition_id": petition_id}):
        await batcher.close_batch(db, settings, petition_id, at=moment, final=True)
    # And its rounds' last join batches: every accepted join is counted before its claim goes.
    await rounds_purge.count_final_joins(db, settings, petition_id)
    key = {"petition_id": petition_id}

    async def unit(tx: Transaction) -> None:
        if db.dialect == "postgresql":
            # Writes still in flight that add pending entries (another process's) commit first,
            # so the count of waiting signatures below sees them.
            await tx.execute(queries.TAKE_PURGE_LOCK_POSTGRES, key)
        # Then, so that the petition's row is locked: a second purge waits, then finds it purged.
        if await tx.fetch_one(queries.MARK_PURGED, {"id": petition_id, "now": moment}) is None:
            current = await tx.fetch_one(queries.SELECT_PETITION_BY_ID, {"id": petition_id})
            raise PetitionError(409, (current and refusal(current, moment)) or "This petition cannot be purged now.")
        if await tx.fetch_val(queries.COUNT_SIGNATURES_WAITING, key):
            # A signature still waits for its batch (accepted just before the deadline, in
            # another process): it must be counted first; the job tries again at its next round.
            # (Raised, so that the stamp above rolls back.)
            raise PetitionError(409, "Signatures still wait for their last batch; try again in a minute.")
        for sql in queries.PURGE_STATEMENTS:
            await tx.execute(sql, key)
        await rounds_purge.purge_rounds(tx, petition_id)
        if db.dialect == "postgresql":
            await tx.execute(queries.PURGE_PENDING_DEDUPE, key)
        await tlog.append(tx, settings, petition_id, [(tlog.purge_entry(), None)])
        await tx.execute(queries.BUMP_CACHE_VERSION)
        await audit(tx, organizer_id, AUDIT_ACTION, f"{row['slug']} ({why})", petition_id=petition_id)

    await db.write(unit, lock_key=f"petition/{petition_id}")
    await erase_traces(db)
    return moment


async def erase_traces(db: Database) -> None:
    """After a purge's commit: SQLite, empty the WAL into the zeroed pages (TRUNCATE); PostgreSQL,
    VACUUM the purged tables. A failure is logged, not raised: the purge itself is committed."""
    if db.dialect == "sqlite":
        for _ in range(CHECKPOINT_TRIES):
            if await db.checkpoint():
                return
            await asyncio.sleep(CHECKPOINT_WAIT_SECONDS)
        logger.warning("after a purge the WAL checkpoint waited for a reader; the batcher's next round empties it")
        return
    try:
        await db.vacuum(PURGED_TABLES)
    except DatabaseError as error:
        logger.warning("after a purge: %s; run VACUUM on the purged tables by hand", error)


async def purge_due(db: Database, settings: Settings, *, at: int | None = None) -> list[str]:
    """Purge every closed petition whose retention period is over at `at` (now by default):
    `COALESCE(closed_at, closes_at) + retention_days days <= at`. The slugs purged; a failure is
    logged and tried again at the next round (the purge left the petition as it was)."""
    moment = now() if at is None else at
    purged = []
    for row in await db.fetch_all(queries.SELECT_PETITIONS_TO_PURGE, {"now": moment}):
        try:
            await purge(
                db, settings, petition_id=row["id"], organizer_id=None, why="its retention period ended", at=moment
            )
        except PetitionError:
            continue  # purged meanwhile, by an organizer or another process
        except Exception as error:  # the message may hold data; the type says enough
            logger.error(
                "purging petition %s failed (%s); trying again at the next round", row["id"], type(error).__name__
            )
            continue
        purged.append(str(row["slug"]))
    return purged

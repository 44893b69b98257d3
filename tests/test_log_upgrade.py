"""A petition signed before its log existed: its log starts with the count carried over, and agrees with it after."""

from __future__ import annotations

from petition.database import Database, Transaction

FORGET_LOG = (
    "UPDATE petitions SET log_origin = NULL, log_size = 0, log_checkpoint = NULL, log_carried_over = 0, "
    "log_carried_withdrawn = 0, codes_issued = 0 WHERE id = :p",
    "DELETE FROM log_entries WHERE petition_id = :p",
    "DELETE FROM log_tiles WHERE petition_id = :p",
    "DELETE FROM log_checkpoints WHERE petition_id = :p",
)


async def forget_the_log(db: Database, pid: str) -> None:
    """The petition as a database migrated from before the log has it: no log, its counts kept."""

    async def unit(tx: Transaction) -> None:
        for sql in FORGET_LOG:
            await tx.execute(sql, {"p": pid})

    await db.write(unit)

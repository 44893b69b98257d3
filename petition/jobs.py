"""Background jobs that must run in one process at a time, each under its lease."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable

from . import leases
from .database import Database
from .settings import Settings

logger = logging.getLogger("petition.jobs")
# Closing petitions at their deadline, and deleting expired organizer sessions.
HOUSEKEEPING_SECONDS = 15
# The batcher looks this often (or more often, for a short LOG_BATCH_SECONDS).
BATCH_CHECK_SECONDS = 5.0


def batch_check_seconds(settings: Settings) -> float:
    return min(BATCH_CHECK_SECONDS, settings.log_batch_seconds / 2)


async def run_every(db: Database, *, name: str, seconds: float, job: Callable[[Database], Awaitable[object]]) -> None:
    """Run `job(db)` every `seconds`, in whichever process holds the lease `name`; until cancelled."""
    holder = secrets.token_hex(8)
    while True:
        try:
            if await leases.take(db, name=name, holder=holder, seconds=int(seconds * 3)):
                await job(db)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # the next round tries again; the message may hold data
            logger.error("job %s failed: %s", name, type(error).__name__)
        await asyncio.sleep(seconds)

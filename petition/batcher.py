"""The batcher: counts accepted signatures and withdrawals in batches, never one at a time.

A petition's waiting signatures are counted when LOG_BATCH_SECONDS have passed
since the first of them was seen and at least LOG_BATCH_MIN wait, or at the end
of the petition's floor bucket (day or hour) whatever waits. When the batch is
seen is kept in memory only: a row holding it would time a signature. Closing a
batch, in one transaction: the petition's count and its hourly counters move,
and the waiting names, reasons and updates addresses are written to their tables in
shuffled order.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter

from . import queries
from .database import Database, Transaction, now
from .encryption import decrypt, encrypt
from .settings import Settings
from .signatures import hour_of

FLOOR_SECONDS = {"day": 86400, "hour": 3600}
_shuffle = random.SystemRandom().shuffle


class Batcher:
    """Decides when each petition's batch closes, and closes it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # petition id -> (monotonic time first seen waiting, floor bucket then)
        self.first_seen: dict[str, tuple[float, int]] = {}

    async def run_once(self, db: Database, *, clock: float | None = None, wall: int | None = None) -> int:
        """Close every batch that is due; how many closed."""
        moment = time.monotonic() if clock is None else clock
        wall_now = now() if wall is None else wall
        waiting = [row["petition_id"] for row in await db.fetch_all(queries.SELECT_PETITIONS_WITH_PENDING)]
        closed = 0
        for petition_id in waiting:
            row = await db.fetch_one(queries.SELECT_PETITION_FLOOR, {"id": petition_id})
            unit = FLOOR_SECONDS.get(row["timeline_floor"] if row else "day", 86400)
            bucket = wall_now // unit
            first, first_bucket = self.first_seen.setdefault(petition_id, (moment, bucket))
            pending = await db.fetch_all(queries.COUNT_PENDING_BY_METHOD, {"petition_id": petition_id})
            waiting_count = sum(int(r["signed"] or 0) + int(r["withdrawn"] or 0) for r in pending)
            old_enough = moment - first >= self.settings.log_batch_seconds
            if bucket != first_bucket or (old_enough and waiting_count >= self.settings.log_batch_min):
                await close_batch(db, self.settings, petition_id, at=wall_now)
                self.first_seen.pop(petition_id, None)
                closed += 1
        for petition_id in set(self.first_seen) - set(waiting):
            self.first_seen.pop(petition_id)
        return closed


async def close_batch(db: Database, settings: Settings, petition_id: str, *, at: int | None = None) -> None:
    """Count a petition's waiting signatures and withdrawals, and write its waiting names and reasons."""
    moment = now() if at is None else at

    async def unit(tx: Transaction) -> None:
        key = {"petition_id": petition_id}
        # Mark, then count what was marked: a signature accepted meanwhile waits for the next batch.
        signed = Counter(r["method"] for r in await tx.fetch_all(queries.MARK_COUNTED, key))
        withdrawn = Counter(r["method"] for r in await tx.fetch_all(queries.MARK_WITHDRAWALS_COUNTED, key))
        total_signed, total_withdrawn = sum(signed.values()), sum(withdrawn.values())
        if total_signed or total_withdrawn:
            await tx.execute(
                queries.ADD_TO_PETITION_COUNT,
                {
                    **key,
                    "signed": total_signed,
                    "withdrawn": total_withdrawn,
                    "email": signed["email"] - withdrawn["email"],
                    "code": signed["code"] - withdrawn["code"],
                },
            )
            await tx.execute(
                queries.ADD_TO_HOURLY_COUNTS,
                {**key, "hour": hour_of(moment), "signed": total_signed, "withdrawn": total_withdrawn},
            )
            await tx.execute(queries.BUMP_CACHE_VERSION)
        sealed = await tx.fetch_all(queries.TAKE_PENDING_DETAILS, key)
        details = [json.loads(decrypt(settings.encryption_key, r["sealed"], f"details/{petition_id}")) for r in sealed]
        _shuffle(details)
        for item in details:
            withdrawn_row = await tx.fetch_one(
                queries.SELECT_SIGNATURE, {"petition_id": petition_id, "receipt_hash": item["signature"]}
            )
            if withdrawn_row is None or withdrawn_row["withdrawn"]:
                continue  # withdrawn before its batch closed: its name, reason and contact are never written
            if "name" in item:
                name = item["name"]
                await tx.execute(
                    queries.INSERT_SIGNER_NAME,
                    {"name_key": name["key"], "petition_id": petition_id, "name": name["name"], "role": name["role"]},
                )
            if "reason" in item:
                reason = item["reason"]
                await tx.execute(
                    queries.INSERT_SIGNER_REASON,
                    {"reason_key": reason["key"], "petition_id": petition_id, "reason": reason["reason"]},
                )
            if "contact" in item:
                contact = item["contact"]
                sealed_address = encrypt(settings.encryption_key, contact["address"], f"contact/{contact['key']}")
                await tx.execute(
                    queries.INSERT_CONTACT,
                    {"contact_key": contact["key"], "petition_id": petition_id, "sealed": sealed_address},
                )

    await db.write(unit)

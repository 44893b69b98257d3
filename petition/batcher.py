"""The batcher: counts accepted signatures and withdrawals in batches, never one at a time.

A petition's batch closes once LOG_BATCH_SECONDS have passed since the first
of its waiting entries was seen and at least LOG_BATCH_MIN signatures wait
(withdrawals and late details ride along, but do not count toward it), or once
the petition has closed (then whatever waits). So every batch is a crowd: a
quiet day does not close a batch of one. When a batch is first seen is kept in
memory only: a row holding it would time a signature.

Closing a batch, in one transaction: every permanent row of its signatures is
written (signatures, dedupe tags, names, reasons, updates addresses), each
table's rows in the order of that table's own random key, so that on disk no
table's order says anything about signing order or about another table; the
counts move (the petition's, its hour's, its code batches' and flyers'); and
the pending entries are deleted (`secure_delete` zeroes them). Then, on SQLite,
the WAL is checkpointed to nothing, so no file keeps the commits that led here
(DESIGN.md rules 7 and 11).

A final batch smaller than LOG_BATCH_MIN writes its names only: on disk, its
reasons and updates addresses would pair with them, so they are dropped (the
signing form says so).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from typing import Any

from . import pending, queries, tlog
from .database import Database, Row, Transaction, now
from .encryption import ADDRESS_PAD, encrypt
from .petitions import is_open
from .reasons import new_public_id, order_key
from .settings import Settings
from .signatures import hour_of

logger = logging.getLogger("petition.batcher")


class Batcher:
    """Decides when each petition's batch closes, and closes it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # petition id -> monotonic time its waiting entries were first seen
        self.first_seen: dict[str, float] = {}
        self.last_checkpoint = time.monotonic()

    async def run_once(self, db: Database, *, clock: float | None = None, wall: int | None = None) -> int:
        """Close every batch that is due; how many closed. Checkpoints the WAL after a batch, and at
        least every LOG_BATCH_SECONDS."""
        moment = time.monotonic() if clock is None else clock
        wall_now = now() if wall is None else wall
        waiting = await db.fetch_all(queries.SELECT_PETITIONS_WITH_PENDING)
        closed = 0
        for row in waiting:
            petition_id = row["id"]
            first = self.first_seen.setdefault(petition_id, moment)
            final = not is_open(row, wall_now)
            old_enough = moment - first >= self.settings.log_batch_seconds
            if final or (old_enough and int(row["signatures"] or 0) >= self.settings.log_batch_min):
                await close_batch(db, self.settings, petition_id, at=wall_now, final=final)
                self.first_seen.pop(petition_id, None)
                closed += 1
        for petition_id in set(self.first_seen) - {row["id"] for row in waiting}:
            self.first_seen.pop(petition_id)
        # Half the period, so that what the WAL holds is never older than LOG_BATCH_SECONDS.
        if closed or moment - self.last_checkpoint >= self.settings.log_batch_seconds / 2:
            if await db.checkpoint():
                self.last_checkpoint = moment
            else:
                logger.warning("the WAL checkpoint waited for a reader; trying again at the next round")
        return closed


class _Batch:
    """What one batch writes, gathered from its pending entries."""

    def __init__(self) -> None:
        self.signed: Counter[str] = Counter()
        self.withdrawn: Counter[str] = Counter()
        self.signatures: list[dict[str, Any]] = []
        self.dedupe: list[dict[str, Any]] = []
        self.names: list[dict[str, Any]] = []
        self.reasons: list[dict[str, Any]] = []
        self.contacts: list[dict[str, Any]] = []
        self.released_tags: list[str] = []
        self.attempts: list[str] = []
        # (code batch, flyer page) of each signature, for the code batches' and flyers' counters
        self.origins: list[tuple[str | None, str | None]] = []
        self.details: list[dict[str, Any]] = []
        # signatures of this batch that stay in: their details may be written
        self.standing: set[str] = set()
        # For the transparency log: (method, commitment) of each signature that stays in, and the
        # commitment of each counted signature withdrawn (None: counted before the log began).
        self.log_signatures: list[tuple[str, bytes]] = []
        self.log_withdrawals: list[bytes | None] = []

    def add(self, kind: int, content: dict[str, Any], pending_key: str) -> None:
        method = content.get("method", "")
        if kind in (pending.SIGNATURE, pending.WITHDRAWN):
            self.signed[method] += 1
            withdrawn = int(kind == pending.WITHDRAWN)
            self.withdrawn[method] += withdrawn
            self.signatures.append({"receipt_hash": content["signature"], "method": method, "withdrawn": withdrawn})
            self.origins.append((content.get("code_batch"), content.get("flyer")))
            if "attempt" in content:  # the email attempt that signed: used, so deleted with the batch
                self.attempts.append(content["attempt"])
            if kind == pending.SIGNATURE:
                self.standing.add(content["signature"])
                # An entry sealed before the log existed has no commitment: its pending key stands in.
                commit = content.get("commitment")
                self.log_signatures.append(
                    (method, bytes.fromhex(commit) if commit else tlog.legacy_commitment(pending_key))
                )
                self.details.append(content)
                if "dedupe" in content:
                    self.dedupe.append(content["dedupe"])
                    self.released_tags.append(content["dedupe"]["tag"])
        elif kind == pending.WITHDRAWAL:
            self.withdrawn[method] += 1
            commit = content.get("commitment")
            self.log_withdrawals.append(bytes.fromhex(commit) if commit else None)
        elif kind == pending.DETAILS:
            self.details.append(content)


async def close_batch(
    db: Database, settings: Settings, petition_id: str, *, at: int | None = None, final: bool = False
) -> None:
    """Count what waits for a petition and write its permanent rows, each table in key order.

    `final`: the petition has closed; a batch then smaller than LOG_BATCH_MIN keeps no reasons or
    updates addresses.
    """
    moment = now() if at is None else at
    tags = await pending.tags_of(db, settings)

    async def unit(tx: Transaction) -> None:
        batch = _Batch()
        # A code batch's tear-off flyer counts the signatures made with its codes.
        for row in await tx.fetch_all(queries.TAKE_PENDING, {"petition_id": petition_id}):
            batch.add(int(row["kind"]), pending.unseal(settings, row), row["pending_key"])
        # A closed petition's last batch, too small to be a crowd, keeps no reason or updates address
        # of its own signatures: on disk they would pair with its names (those of signatures
        # counted in an earlier batch pair with nothing here).
        too_small = final and len(batch.standing) < settings.log_batch_min
        for content in batch.details:
            if not await _stands(tx, batch, content["signature"]):
                continue  # withdrawn before its batch closed: its name, reason and contact are never written
            dropped = too_small and content["signature"] in batch.standing
            if "name" in content:
                batch.names.append(content["name"])
            if "reason" in content and not dropped:
                batch.reasons.append(content["reason"])
            if "contact" in content and not dropped:
                batch.contacts.append(content["contact"])
        await _write(tx, settings, petition_id, batch)
        await _log(tx, settings, petition_id, batch)  # before the count moves: a log starting now carries it over
        # Used attempts go with the batch, not with the write that signed (their expiry, a time
        # to the second, would date the signature), nor alone by the minute.
        for attempt_hash in sorted(batch.attempts):
            await tx.execute(queries.DELETE_SIGN_ATTEMPT, {"attempt_hash": attempt_hash})
        await _count(tx, petition_id, batch, hour_of(moment))
        await tags.release(tx, tags=batch.released_tags)

    await db.write(unit)


async def _stands(tx: Transaction, batch: _Batch, signature: str) -> bool:
    """Whether the signature is in and not withdrawn: one of this batch's, or counted before."""
    if signature in batch.standing:
        return True
    row = await tx.fetch_one(queries.SELECT_SIGNATURE_WITHDRAWN, {"receipt_hash": signature})
    return row is not None and not row["withdrawn"]


async def _write(tx: Transaction, settings: Settings, petition_id: str, batch: _Batch) -> None:
    """Every permanent row of the batch, each table in the order of its own key."""
    key = {"petition_id": petition_id}
    signatures = sorted(batch.signatures, key=lambda item: item["receipt_hash"])
    await tx.execute_many(queries.INSERT_SIGNATURE, [{**key, **item} for item in signatures])
    dedupe = sorted(batch.dedupe, key=lambda item: item["tag"])
    await tx.execute_many(queries.INSERT_EMAIL_DEDUPE, [{**key, **item} for item in dedupe])
    names = sorted(batch.names, key=lambda item: item["key"])
    await tx.execute_many(
        queries.INSERT_SIGNER_NAME,
        [{**key, "name_key": item["key"], "name": item["name"], "role": item["role"]} for item in names],
    )
    reasons = sorted(batch.reasons, key=lambda item: item["key"])
    # Each reason's public id is random, drawn here: nothing a receipt holder could compute.
    public_ids = [new_public_id() for _ in reasons]
    await tx.execute_many(
        queries.INSERT_SIGNER_REASON,
        [
            {
                **key,
                "reason_key": item["key"],
                "reason": item["reason"],
                "public_id": public_id,
                "order_key": order_key(settings, public_id),
            }
            for item, public_id in zip(reasons, public_ids, strict=True)
        ],
    )
    contacts = sorted(batch.contacts, key=lambda item: item["key"])
    await tx.execute_many(
        queries.INSERT_CONTACT,
        [
            {
                **key,
                "contact_key": item["key"],
                "sealed": encrypt(
                    settings.encryption_key, item["address"], f"contact/{item['key']}", pad_to=ADDRESS_PAD
                ),
            }
            for item in contacts
        ],
    )


async def _log(tx: Transaction, settings: Settings, petition_id: str, batch: _Batch) -> None:
    """The batch's entries in the petition's transparency log, shuffled, and a signed checkpoint.

    A signature withdrawn before its batch closed enters as neither entry. A withdrawal names the
    index of its signature's entry, or entry 0 (carried over) for one counted before the log began.
    """
    entries: list[tuple[bytes, bytes | None]] = [
        (tlog.signature_entry(method, commit), commit) for method, commit in batch.log_signatures
    ]
    carried = 0
    for commit in batch.log_withdrawals:
        index = None if commit is None else await tlog.find(tx, petition_id, commit)
        if index is None:
            carried += 1
            index = 0
        entries.append((tlog.withdrawal_entry(index), None))
    if not entries:
        return
    await tlog.append(tx, settings, petition_id, tlog.shuffled(entries))
    if carried:
        row = await tx.fetch_one(queries.ADD_CARRIED_WITHDRAWN, {"id": petition_id, "withdrawn": carried})
        if row is None or row["log_carried_withdrawn"] > row["log_carried_over"]:
            # Cannot happen unless the database was changed by hand; appended all the same, so
            # that the log says what the count did (and check-log and the verifier report it).
            logger.error("petition %s: more withdrawals of carried-over signatures than were carried over", petition_id)


async def _count(tx: Transaction, petition_id: str, batch: _Batch, hour: int) -> None:
    """The counts the batch moves: the petition's, its hour's, its code batches' and flyers'."""
    total_signed, total_withdrawn = sum(batch.signed.values()), sum(batch.withdrawn.values())
    if total_signed or total_withdrawn:
        await tx.execute(
            queries.ADD_TO_PETITION_COUNT,
            {
                "petition_id": petition_id,
                "signed": total_signed,
                "withdrawn": total_withdrawn,
                "email": batch.signed["email"] - batch.withdrawn["email"],
                "code": batch.signed["code"] - batch.withdrawn["code"],
            },
        )
        await tx.execute(
            queries.ADD_TO_HOURLY_COUNTS,
            {"petition_id": petition_id, "hour": hour, "signed": total_signed, "withdrawn": total_withdrawn},
        )
        await tx.execute(queries.BUMP_CACHE_VERSION)
    used = Counter(code_batch for code_batch, _ in batch.origins if code_batch)
    tabs: dict[str, str] = {}  # code batch -> the tear-off flyer batch whose tabs carry its codes
    for code_batch, count in sorted(used.items()):
        await tx.execute(queries.ADD_USED_CODES, {"id": code_batch, "used": count})
        tab: Row | None = await tx.fetch_one(queries.SELECT_FLYER_BATCH_OF_CODES, {"code_batch_id": code_batch})
        if tab is not None:
            tabs[code_batch] = tab["id"]
    # A tab's code counts for its own flyer, wherever it was typed; any other signature for the
    # flyer whose page it came from.
    flyers = Counter(tabs.get(code_batch or "") or flyer for code_batch, flyer in batch.origins)
    flyers.pop(None, None)
    for flyer, signatures in sorted(flyers.items()):
        await tx.execute(queries.ADD_FLYER_SIGNATURES, {"id": flyer, "signatures": signatures})

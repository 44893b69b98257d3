"""Updates organizers post on a petition, and their email to the signers who asked for updates.

An update (title, plain-text body) is public at once: on the petition's page, in its feed and
in the JSON API, dated only to the petition's timeline floor. Posting may also email it: the
post answers at once with how many confirmed contacts the petition has, and a background job
(`Queuer`, in every process) walks the petition's `contacts` in contact_key order, CHUNK at a
time, decrypting each address only to hand it to `update_mail.message_for` and queueing the
message in the outbox. Each chunk is one write that also moves the update's cursor
(`queue_after`), so a restart resumes where the last chunk ended and nothing is queued twice;
each chunk first locks the one `update_pace` row, so chunks of several processes take turns and
every update email of the service is due at its own turn of UPDATE_EMAILS_PER_MINUTE. The
outbox's sender sends them one at a time (outbox.Sender.run_updates). Organizers see counts
only: how many the update goes to, how many were sent, how many failed; never an address.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, StrictBool, StringConstraints

from . import outbox, queries, update_mail
from .database import Database, Row, Transaction, now
from .encryption import DecryptionError, decrypt
from .organizers import audit
from .parameters import decode_cursor, encode_cursor
from .petitions import PetitionError, address, floor_time
from .settings import Settings
from .text import LINE, PROSE
from .tokens import new_id

logger = logging.getLogger("petition.updates")
MAX_TITLE = 120
MAX_BODY = 5_000
PAGE_SIZE = 20
CHUNK = 200  # contacts queued in one write
# An update email not sent within this long after its turn is given up (counted as failed).
EXPIRY_SECONDS = 7 * 24 * 3600
FIRST_PAGE = (2**62, "~")  # later than any posted_at; "~" sorts after every id
AUDIT_ACTION = "update posted"
# Recorded once, by the service, when the last of an update's emails is handed to the outbox.
AUDIT_QUEUED = "update emailed"
DRAFT = "A draft has no signers to tell: publish the petition before posting updates."
PURGED = (
    "This petition's identifying data was destroyed, the updates addresses with it: post the update "
    "without emailing it."
)
NO_SUCH_UPDATE = "There is no such update on this petition."


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


UpdateTitle = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TITLE), LINE]
# Like a petition's body (plain text, paragraphs), but shorter, and never only blanks.
UpdateBody = Annotated[str, StringConstraints(min_length=1, max_length=MAX_BODY), PROSE, AfterValidator(_not_blank)]


class UpdateCreate(BaseModel):
    """A new update: title (1-120 characters, one line), body (plain text, 1-5,000 characters), and
    whether to email it to the signers who asked for updates."""

    model_config = ConfigDict(extra="forbid")

    title: UpdateTitle
    body: UpdateBody
    email_subscribers: StrictBool = False


class UpdatePublic(BaseModel):
    """An update as anyone sees it; `posted_on` is rounded down to the petition's timeline floor."""

    id: str
    title: str
    body: str
    posted_on: str


class UpdatePosted(UpdatePublic):
    """A posted update; `recipients`: how many emails are being queued (0 unless emailed)."""

    recipients: int


class UpdateProgress(UpdatePosted):
    """An update with its email's progress (organizers): `recipients` it goes to, `sent` (accepted by
    the mail server), `failed` (waiting for a retry after a failure, or given up)."""

    sent: int
    failed: int
    emailed: bool
    queueing: bool


class UpdateList(BaseModel):
    updates: list[UpdatePublic]
    next_cursor: str | None


class UpdateListQuery(BaseModel):
    cursor: str | None = None  # read by decode_cursor, which refuses one this list did not give


def public_of(row: Row, petition: Row) -> UpdatePublic:
    return UpdatePublic(id=row["id"], title=row["title"], body=row["body"], posted_on=_posted_on(row, petition))


def _posted_on(row: Row, petition: Row) -> str:
    return floor_time(row["posted_at"], petition["timeline_floor"], petition["time_zone"]) or ""


def recipients_of(row: Row) -> int:
    """How many the update's email goes to: its contacts when posted (then what was queued), less
    the messages dropped because their signer withdrew or unsubscribed before their turn."""
    return max(int(row["recipients"]) - int(row["dropped"]), 0)


async def post(
    db: Database, settings: Settings, *, petition: Row, organizer_id: str, data: UpdateCreate
) -> UpdatePosted:
    """Post an update; with `email_subscribers`, its email is queued in the background.

    PetitionError 409 for a draft, or for emailing after the petition's purge (nothing changed).
    """
    if petition["state"] == "draft":
        raise PetitionError(409, DRAFT)
    update_id = new_id()
    moment = now()

    async def unit(tx: Transaction) -> int:
        row = await tx.fetch_one(queries.SELECT_PURGED_AT, {"petition_id": petition["id"]})
        if data.email_subscribers and row is not None and row["purged_at"] is not None:
            raise PetitionError(409, PURGED)
        recipients = 0
        if data.email_subscribers:
            recipients = int(await tx.fetch_val(queries.COUNT_CONTACTS, {"petition_id": petition["id"]}) or 0)
        await tx.execute(
            queries.INSERT_PETITION_UPDATE,
            {
                "id": update_id,
                "petition_id": petition["id"],
                "title": data.title,
                "body": data.body,
                "posted_at": moment,
                "emailed": 1 if data.email_subscribers else 0,
                "recipients": recipients,
                "queueing": 1 if data.email_subscribers else 0,
            },
        )
        # Counts only: never who the email goes to.
        detail = f"{address(petition)}: " + (f"emailed to {recipients:,}" if data.email_subscribers else "not emailed")
        await audit(tx, organizer_id, AUDIT_ACTION, detail, petition_id=petition["id"])
        await tx.execute(queries.BUMP_CACHE_VERSION)
        return recipients

    recipients = await db.write(unit)
    posted = {"id": update_id, "title": data.title, "body": data.body, "posted_at": moment}
    return UpdatePosted(**public_of(posted, petition).model_dump(), recipients=recipients)


async def public_page(db: Database, petition: Row, cursor: str | None, limit: int = PAGE_SIZE) -> UpdateList:
    """A page of the petition's updates, newest first; ApiError(422) for a cursor no page gave."""
    before_at, before_id = decode_cursor(cursor) if cursor else FIRST_PAGE
    rows = await db.fetch_all(
        queries.SELECT_PETITION_UPDATES,
        {"petition_id": petition["id"], "before_at": before_at, "before_id": before_id, "limit": limit},
    )
    next_cursor = encode_cursor(rows[-1]["posted_at"], rows[-1]["id"]) if len(rows) == limit else None
    return UpdateList(updates=[public_of(row, petition) for row in rows], next_cursor=next_cursor)


async def progress(db: Database, petition: Row, update_id: str) -> UpdateProgress:
    """One update with its email's progress; PetitionError 404 when the petition has no such update."""
    row = await db.fetch_one(queries.SELECT_PETITION_UPDATE, {"id": update_id, "petition_id": petition["id"]})
    if row is None:
        raise PetitionError(404, NO_SUCH_UPDATE)
    return await _progress_of(db, row, petition)


async def all_progress(db: Database, petition: Row, limit: int = 1000) -> list[UpdateProgress]:
    """The petition's newest `limit` updates with their progress, newest first (the organizers' pages)."""
    rows = await db.fetch_all(
        queries.SELECT_PETITION_UPDATES,
        {"petition_id": petition["id"], "before_at": FIRST_PAGE[0], "before_id": FIRST_PAGE[1], "limit": limit},
    )
    return [await _progress_of(db, row, petition) for row in rows]


async def _progress_of(db: Database, row: Row, petition: Row) -> UpdateProgress:
    failing = int(await db.fetch_val(queries.COUNT_UPDATE_FAILING, {"update_id": row["id"]}) or 0)
    return UpdateProgress(
        **public_of(row, petition).model_dump(),
        recipients=recipients_of(row),
        sent=int(row["sent"]),
        failed=failing + int(row["given_up"]),
        emailed=bool(row["emailed"]),
        queueing=bool(row["queueing"]),
    )


def progress_words(update: UpdateProgress, *, purged: bool = False) -> str:
    """The progress of an update's email in words: "queued", "sent 340 of 1,200; 2 failed, retrying",
    "all 1,200 sent"; "" when it was not emailed."""
    if not update.emailed:
        return ""
    total, sent = update.recipients, update.sent
    if update.queueing and sent == 0 and update.failed == 0:
        return "queued"
    if not update.queueing and sent >= total and update.failed == 0:
        return "no one asked for updates" if total == 0 else f"all {total:,} sent"
    words = f"sent {sent:,} of {total:,}"
    if update.failed:
        words += f"; {update.failed:,} failed" + ("" if purged else ", retrying")
    if purged and sent < total:
        words += "; the rest were not sent: the petition's addresses were destroyed"
    return words


async def queue_chunk(db: Database, settings: Settings, update_id: str) -> bool:
    """Queue the next CHUNK of an update's emails in one write; whether more remain."""

    async def unit(tx: Transaction) -> bool:
        # The pace row first: chunks of every process take turns, and read the cursor the one before wrote.
        pace_ms = int(await tx.fetch_val(queries.LOCK_UPDATE_PACE) or 0)
        update = await tx.fetch_one(queries.SELECT_UPDATE_TO_QUEUE, {"id": update_id})
        if update is None:
            return False  # done already (another process finished it)
        petition = await tx.fetch_one(queries.SELECT_PETITION_BY_ID_OR_SLUG, {"key": update["petition_id"]})
        contacts = await tx.fetch_all(
            queries.SELECT_CONTACTS_AFTER,
            {"petition_id": update["petition_id"], "after": update["queue_after"], "limit": CHUNK},
        )
        if petition is None or not contacts:
            await finish_queue(tx, update, 0)
            return False
        # After the last update email already scheduled, so updates posted together share the pace.
        start_ms = max(time.time() * 1000, pace_ms)
        gap_ms = 60_000 / settings.update_emails_per_minute
        queued = 0
        for contact in contacts:
            key = contact["contact_key"]
            try:
                mailbox = decrypt(settings.encryption_key, contact["sealed"], f"contact/{key}").rstrip(" ")
            except DecryptionError:
                logger.error("an updates address could not be decrypted (another ENCRYPTION_KEY?); skipped")
                continue
            mail = await update_mail.message_for(
                tx, settings, petition=petition, update=update, contact_key=key, address=mailbox
            )
            # Its turn, rounded up to the second: never before it.
            due_at = math.ceil((start_ms + queued * gap_ms) / 1000)
            await outbox.queue_update_email(
                tx,
                settings,
                mail=mail,
                petition_id=update["petition_id"],
                update_id=update_id,
                contact_key=key,
                due_at=due_at,
                expires_at=due_at + EXPIRY_SECONDS,
            )
            queued += 1
        await tx.execute(queries.SET_UPDATE_PACE, {"next_at_ms": math.ceil(start_ms + queued * gap_ms)})
        last = contacts[-1]["contact_key"]
        await tx.execute(queries.ADVANCE_UPDATE_QUEUE, {"id": update_id, "after": last, "queued": queued})
        if len(contacts) < CHUNK:
            await finish_queue(tx, update, queued)
            return False
        return True

    return await db.write(unit, lock_key="update-pace")


async def finish_queue(tx: Transaction, update: Row, queued: int) -> None:
    """Inside a queueing write: the update's emails are all in the outbox (`queued` in this last
    chunk), and the petition's audit trail says so, once, with the count only."""
    await tx.execute(queries.FINISH_UPDATE_QUEUE, {"id": update["id"]})
    total = int(update["queued"]) + queued
    detail = f"update {update['id']}: {total:,} email{'' if total == 1 else 's'} handed to the outbox"
    await audit(tx, None, AUDIT_QUEUED, detail, petition_id=update["petition_id"])


class Queuer:
    """Queues posted updates' emails in the background, a chunk at a time; every process runs one."""

    def __init__(self, db: Database, settings: Settings, queued: Callable[[], None] = lambda: None) -> None:
        self.db = db
        self.settings = settings
        self.queued = queued  # called after each chunk (wakes the outbox's sender)
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Look for updates to queue now (after a post commits)."""
        self._wake.set()

    async def queue_some(self) -> int:
        """Queue what waits, chunk after chunk, until every update is queued; how many chunks were written."""
        chunks = 0
        for row in await self.db.fetch_all(queries.SELECT_UPDATES_QUEUEING):
            while True:
                more = await queue_chunk(self.db, self.settings, row["id"])
                chunks += 1
                self.queued()
                if not more:
                    break
        return chunks

    async def run(self) -> None:
        """Queue until cancelled: whenever woken, and every OUTBOX_POLL_SECONDS (a restart resumes here)."""
        while True:
            try:
                await self.queue_some()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the database is away; try again at the next round
                logger.error("queueing update emails failed: %s", type(error).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.outbox_poll_seconds)
            self._wake.clear()

    async def drain(self, timeout: float = 10.0) -> None:
        """Queue everything that waits (tests)."""
        async with asyncio.timeout(timeout):
            while await self.queue_some():
                pass

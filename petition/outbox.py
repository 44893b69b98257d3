"""The outbox: every email is written to the database first, then sent by a background sender.

A message is queued in the same transaction as whatever it is about (a signing
attempt, a reset link), so a crash loses none and a rolled-back write sends
none. Each process runs a sender; a sender claims due messages by moving their
`due_at` past a claim period, so with several processes on one database each
message goes to one sender (PostgreSQL: `FOR UPDATE SKIP LOCKED`). A message
is deleted once an SMTP server accepted it; a failure is tried again later,
waiting twice as long each time, until the message expires. Addresses and
bodies are encrypted at rest and gone once sent.

Update emails (an update a petition's organizers posted, to the signers who asked
for updates; petition_updates.py queues them, each due at its turn of
UPDATE_EMAILS_PER_MINUTE) take another path: one at a time, each deleted and
counted in its update's `sent` in one write right after the mail server accepted
it, so a process killed while sending resends at most the one message it was
sending (with the same Message-ID, so mail clients drop the copy). Before each is
sent, the contact it is for must still exist: a signer who withdrew or
unsubscribed since gets nothing, and the message counts as `dropped`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from . import queries
from .addresses import Address
from .database import Database, Transaction, now
from .encryption import ADDRESS_PAD, OUTBOX_PAD, DecryptionError, decrypt, encrypt, pad
from .mailer import Mail, Mailer
from .settings import Settings
from .tokens import new_id

logger = logging.getLogger("petition.outbox")
# A claimed message is due again after OUTBOX_CLAIM_SECONDS (default 120), should its sender die
# while sending.
CLAIM_LIMIT = 100
MAX_BACKOFF_SECONDS = 600
# How long a message may wait for SMTP when it is not tied to a code's validity.
DEFAULT_EXPIRY_SECONDS = 24 * 3600


async def queue(
    tx: Transaction,
    settings: Settings,
    *,
    to: Address,
    subject: str,
    body: str,
    petition_id: str | None,
    expires_in: int = DEFAULT_EXPIRY_SECONDS,
    html: str | None = None,
    headers: tuple[tuple[str, str], ...] = (),
) -> None:
    """Queue a message to one parsed address inside a write; the sender sends it once the write commits.

    `petition_id`: the petition the message is about (a purge deletes what still waits for it),
    or None for mail about no petition (organizer accounts). `html` and `headers` as `Mail`'s.
    """
    message_id = new_id()
    sealed = seal(settings, message_id, Mail(to.mailbox, subject, body, html, headers))
    moment = now()
    await tx.execute(
        queries.INSERT_OUTBOX,
        {
            "id": message_id,
            "sealed": sealed,
            "due_at": moment,
            "expires_at": moment + expires_in,
            "petition_id": petition_id,
            "update_id": None,
        },
    )


async def queue_update_email(
    tx: Transaction,
    settings: Settings,
    *,
    mail: Mail,
    petition_id: str,
    update_id: str,
    contact_key: str,
    due_at: int,
    expires_at: int,
) -> None:
    """Inside a write: queue one update email, sent at `due_at` (seconds) at the earliest.

    The contact it is for is sealed inside the message, never in a column of its own: a column
    would pair the outbox row with the contact's row for anyone reading the database.
    """
    message_id = new_id()
    values = {
        "id": message_id,
        "sealed": seal(settings, message_id, mail, contact_key=contact_key),
        "due_at": due_at,
        "expires_at": expires_at,
        "petition_id": petition_id,
        "update_id": update_id,
    }
    await tx.execute(queries.INSERT_OUTBOX, values)


def seal(settings: Settings, message_id: str, mail: Mail, *, contact_key: str | None = None) -> str:
    """The outbox row's `sealed` value: the message (and an update email's contact key) encrypted
    and bound to its row's id."""
    # The address padded on its own: every message of one kind (one update's emails above all, a
    # few KB each) then seals to one length whatever the address, which the padding of the whole
    # to OUTBOX_PAD could not promise when a message's length crosses a multiple of it.
    fields: dict[str, object] = {"to": pad(mail.to, ADDRESS_PAD), "subject": mail.subject, "body": mail.body}
    if mail.html is not None:
        fields["html"] = mail.html
    if mail.headers:
        fields["headers"] = [list(pair) for pair in mail.headers]
    if contact_key is not None:
        fields["contact_key"] = contact_key
    plaintext = json.dumps(fields, ensure_ascii=False)  # so the address's padding counts its bytes
    return encrypt(settings.encryption_key, plaintext, _bound(message_id), pad_to=OUTBOX_PAD)


def unseal(settings: Settings, message_id: str, sealed: str) -> Mail:
    """The message `seal` stored; DecryptionError under another key."""
    return unseal_with_contact(settings, message_id, sealed)[0]


def unseal_with_contact(settings: Settings, message_id: str, sealed: str) -> tuple[Mail, str | None]:
    """The message `seal` stored and the contact key sealed with it (None: no update email)."""
    fields = json.loads(decrypt(settings.encryption_key, sealed, _bound(message_id)))
    headers = tuple((str(name), str(value)) for name, value in fields.get("headers", ()))
    mail = Mail(fields["to"].rstrip(" "), fields["subject"], fields["body"], fields.get("html"), headers)
    return mail, fields.get("contact_key")


def _bound(message_id: str) -> str:
    return f"outbox/{message_id}"


class Sender:
    """Sends what the outbox holds through `transport` (SMTP, or the console in development)."""

    def __init__(self, db: Database, settings: Settings, transport: Mailer) -> None:
        self.db = db
        self.settings = settings
        self.transport = transport
        self._wake = asyncio.Event()
        self._wake_updates = asyncio.Event()
        self._sending = 0  # messages this sender has claimed and not yet finished

    def wake(self) -> None:
        """Look at the outbox now (called after a write that queued mail commits)."""
        self._wake.set()
        self._wake_updates.set()

    async def run(self) -> None:
        """Send until cancelled: whenever woken, and every OUTBOX_POLL_SECONDS for retries and other processes;
        update emails one at a time beside the rest, so a long update never holds up a code."""
        updates = asyncio.create_task(self.run_updates())
        try:
            await self._run_others()
        finally:
            updates.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await updates

    async def _run_others(self) -> None:
        while True:
            try:
                while await self.send_due():
                    pass
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the database is away; try again at the next round
                logger.error("outbox round failed: %s", type(error).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.outbox_poll_seconds)
            self._wake.clear()

    async def send_due(self) -> int:
        """Claim the due messages, send them, and record what became of each; how many were claimed."""
        moment = now()
        claim = queries.CLAIM_OUTBOX_POSTGRES if self.db.dialect == "postgresql" else queries.CLAIM_OUTBOX

        async def take(tx: Transaction) -> list[dict[str, object]]:
            # An update counts its messages that expired unsent as given up, before they go.
            await tx.execute(queries.COUNT_EXPIRED_UPDATE_EMAILS, {"now": moment})
            await tx.execute(queries.DELETE_EXPIRED_OUTBOX, {"now": moment})
            claimed_until = moment + self.settings.outbox_claim_seconds
            values = {"now": moment, "claimed_until": claimed_until, "limit": CLAIM_LIMIT}
            return [dict(row) for row in await tx.fetch_all(claim, values)]

        claimed = await self.db.write(take)
        if not claimed:
            return 0
        self._sending += len(claimed)
        try:
            await self._send(claimed)
        finally:
            self._sending -= len(claimed)
        return len(claimed)

    async def _send(self, claimed: list[dict[str, object]]) -> None:
        done: list[str] = []
        readable: list[tuple[dict[str, object], Mail]] = []
        for row in claimed:
            try:
                readable.append((row, unseal(self.settings, str(row["id"]), str(row["sealed"]))))
            except DecryptionError:
                logger.error("an outbox message could not be decrypted (another ENCRYPTION_KEY?); dropped")
                done.append(str(row["id"]))
        results = await self.transport.send_all([mail for _, mail in readable]) if readable else []
        retries: list[dict[str, object]] = []
        for (row, _), error in zip(readable, results, strict=True):
            if error is None:
                done.append(str(row["id"]))
                continue
            # SMTP is down or refused it: try again later. The address stays out of the log.
            attempts = int(str(row["attempts"]))
            delay = min(self.settings.outbox_retry_seconds * 2 ** (attempts - 1), MAX_BACKOFF_SECONDS)
            logger.warning("sending mail failed (%s); try %d again in %d s", type(error).__name__, attempts, delay)
            retries.append({"id": row["id"], "due_at": now() + delay})

        async def record(tx: Transaction) -> None:
            for message_id in done:
                await tx.execute(queries.DELETE_OUTBOX, {"id": message_id})
            for retry in retries:
                await tx.execute(queries.RETRY_OUTBOX, retry)

        await self.db.write(record)

    async def run_updates(self) -> None:
        """Send update emails until cancelled, one at a time, at most UPDATE_EMAILS_PER_MINUTE from this
        process (their due times already keep the whole service to that pace; this smooths it within
        a second)."""
        while True:
            try:
                while await self.send_update_due():
                    await asyncio.sleep(60 / self.settings.update_emails_per_minute)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the database is away; try again at the next round
                logger.error("update email round failed: %s", type(error).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake_updates.wait(), min(1.0, self.settings.outbox_poll_seconds))
            self._wake_updates.clear()

    async def send_update_due(self) -> bool:
        """Claim the update email due first, send it, and record what became of it; whether one was due."""
        moment = now()
        postgres = self.db.dialect == "postgresql"
        claim = queries.CLAIM_UPDATE_OUTBOX_POSTGRES if postgres else queries.CLAIM_UPDATE_OUTBOX
        values = {"now": moment, "claimed_until": moment + self.settings.outbox_claim_seconds}

        async def take(tx: Transaction) -> dict[str, object] | None:
            row = await tx.fetch_one(claim, values)
            return None if row is None else dict(row)

        # Counted as sending from before its claim, so `drain` never sees a claimed message as gone.
        self._sending += 1
        try:
            row = await self.db.write(take)
            if row is None:
                return False
            await self._send_update(row)
        finally:
            self._sending -= 1
        return True

    async def _send_update(self, row: dict[str, object]) -> None:
        message_id, update_id = str(row["id"]), str(row["update_id"])
        try:
            mail, contact_key = unseal_with_contact(self.settings, message_id, str(row["sealed"]))
        except DecryptionError:
            logger.error("an update email could not be decrypted (another ENCRYPTION_KEY?); dropped")
            mail, contact_key = None, None
        contact = None
        if contact_key is not None:
            contact = await self.db.fetch_one(queries.SELECT_CONTACT, {"contact_key": contact_key})
        if mail is None or contact is None or contact["petition_id"] != row["petition_id"]:
            # Withdrawn or unsubscribed since it was queued: the address is no longer ours to write to.
            await self._record_update(message_id, update_id, queries.ADD_UPDATE_DROPPED)
            return
        [error] = await self.transport.send_all([mail])
        if error is None:
            await self._record_update(message_id, update_id, queries.ADD_UPDATE_SENT)
            return
        attempts = int(str(row["attempts"]))
        delay = min(self.settings.outbox_retry_seconds * 2 ** (attempts - 1), MAX_BACKOFF_SECONDS)
        why = type(error).__name__
        logger.warning("sending an update email failed (%s); try %d again in %d s", why, attempts, delay)

        async def retry(tx: Transaction) -> None:
            await tx.execute(queries.RETRY_UPDATE_OUTBOX, {"id": message_id, "due_at": now() + delay})

        await self.db.write(retry)

    async def _record_update(self, message_id: str, update_id: str, count: str) -> None:
        """Delete the message and count it in its update, in one write (nothing to count when a
        purge deleted it meanwhile)."""

        async def record(tx: Transaction) -> None:
            if await tx.fetch_one(queries.DELETE_UPDATE_OUTBOX, {"id": message_id}) is not None:
                await tx.execute(count, {"id": update_id})

        await self.db.write(record)

    async def drain(self, timeout: float = 10.0) -> None:
        """Send everything that is due now, and wait for what this sender is sending already (tests)."""
        async with asyncio.timeout(timeout):
            while await self.send_due() or await self.send_update_due() or self._sending:
                await asyncio.sleep(0.01)

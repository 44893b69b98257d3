"""The outbox: every email is written to the database first, then sent by a background sender.

A message is queued in the same transaction as whatever it is about (a signing
attempt, a reset link), so a crash loses none and a rolled-back write sends
none. Each process runs a sender; a sender claims due messages by moving their
`due_at` past a claim period, so with several processes on one database each
message goes to one sender (PostgreSQL: `FOR UPDATE SKIP LOCKED`). A message
is deleted once an SMTP server accepted it; a failure is tried again later,
waiting twice as long each time, until the message expires. Addresses and
bodies are encrypted at rest and gone once sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from . import queries
from .addresses import Address
from .database import Database, Transaction, now
from .encryption import OUTBOX_PAD, DecryptionError, decrypt, encrypt
from .mailer import Mail, Mailer
from .settings import Settings
from .tokens import new_id

logger = logging.getLogger("petition.outbox")
# A claimed message is due again after this long, should its sender die while sending.
CLAIM_SECONDS = 120
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
        },
    )


def seal(settings: Settings, message_id: str, mail: Mail) -> str:
    """The outbox row's `sealed` value: the message encrypted and bound to its row's id."""
    fields: dict[str, object] = {"to": mail.to, "subject": mail.subject, "body": mail.body}
    if mail.html is not None:
        fields["html"] = mail.html
    if mail.headers:
        fields["headers"] = [list(pair) for pair in mail.headers]
    return encrypt(settings.encryption_key, json.dumps(fields), _bound(message_id), pad_to=OUTBOX_PAD)


def unseal(settings: Settings, message_id: str, sealed: str) -> Mail:
    """The message `seal` stored; DecryptionError under another key."""
    fields = json.loads(decrypt(settings.encryption_key, sealed, _bound(message_id)))
    headers = tuple((str(name), str(value)) for name, value in fields.get("headers", ()))
    return Mail(fields["to"], fields["subject"], fields["body"], fields.get("html"), headers)


def _bound(message_id: str) -> str:
    return f"outbox/{message_id}"


class Sender:
    """Sends what the outbox holds through `transport` (SMTP, or the console in development)."""

    def __init__(self, db: Database, settings: Settings, transport: Mailer) -> None:
        self.db = db
        self.settings = settings
        self.transport = transport
        self._wake = asyncio.Event()
        self._sending = 0  # messages this sender has claimed and not yet finished

    def wake(self) -> None:
        """Look at the outbox now (called after a write that queued mail commits)."""
        self._wake.set()

    async def run(self) -> None:
        """Send until cancelled: whenever woken, and every OUTBOX_POLL_SECONDS for retries and other processes."""
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
            await tx.execute(queries.DELETE_EXPIRED_OUTBOX, {"now": moment})
            values = {"now": moment, "claimed_until": moment + CLAIM_SECONDS, "limit": CLAIM_LIMIT}
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

    async def drain(self, timeout: float = 10.0) -> None:
        """Send everything that is due now, and wait for what this sender is sending already (tests)."""
        async with asyncio.timeout(timeout):
            while await self.send_due() or self._sending:
                await asyncio.sleep(0.01)

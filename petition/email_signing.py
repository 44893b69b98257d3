"""Signing with a work-email code, without telling anyone who signed.

Asking for a code answers the same (202, an opaque attempt id) for a new
address, one that already signed, and one over its daily cap, after the same
work: one write that counts the email, keeps the attempt and queues the mail
(none over the cap). Whether the address already signed is learned only when
the right code is typed, which only the mailbox owner can do. The attempt is
the one row about a signer with a time finer than an hour (its code's expiry);
it is deleted when used, and the housekeeping job deletes it once expired.
"""

from __future__ import annotations

import json
import secrets
from typing import Literal

from pydantic import BaseModel, ConfigDict

from . import addresses, email_codes, pending, queries, updates
from .database import Database, Row, Transaction, is_unique_violation, now
from .encryption import ADDRESS_PAD, decrypt, encrypt
from .petitions import PetitionError
from .settings import Settings
from .signatures import (
    Receipt,
    SignatureCreate,
    accept_signature,
    check_open,
    own_signature,
    signature_content,
)
from .tokens import has_token_shape, receipt_key

ATTEMPT_BYTES = 24
UNKNOWN_ATTEMPT = "This signing attempt has expired or was already used. Enter your work address again for a new code."
WRONG_CODE = "That code is not right. Check the latest code email and type it again."
TOO_MANY_TRIES = "This code was typed wrong 5 times. Ask for a new code."
ALREADY_SIGNED = "You have already signed this petition with this address. Your first signature still counts."
CLOSED = "This petition is not open for signatures."


class CheckEmail(BaseModel):
    """A code is on its way to the address (if it may sign here); type it at .../signatures/verify."""

    status: Literal["check_email"]
    attempt: str


class AttemptBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    attempt: Receipt


class VerifyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    attempt: Receipt
    code: Receipt


def attempt_of(text: str) -> str:
    """An attempt id as a form carries it, or "" when it cannot be one (then it finds no attempt)."""
    attempt = text.strip()
    return attempt if has_token_shape(attempt, ATTEMPT_BYTES) else ""


def _bound(attempt_hash: str) -> str:
    return f"attempt/{attempt_hash}"


def check_domain(petition: Row, address: addresses.Address) -> None:
    """PetitionError(422) unless the address is at one of the petition's work domains, exactly (IDNA-normalised)."""
    if address.domain not in addresses.work_domains(petition["allowed_domains"]):
        listed = addresses.shown_domains(petition["allowed_domains"])
        raise PetitionError(422, f"Use your work address: this petition takes addresses at {listed}.")


def _parse(text: str) -> addresses.Address:
    try:
        return addresses.parse(text)
    except addresses.AddressRefused as error:
        raise PetitionError(422, str(error)) from None


async def ask_for_code(
    db: Database, settings: Settings, *, petition: Row, data: SignatureCreate, attempt: str | None = None
) -> str:
    """Start an attempt and send its code; the attempt id (the same answer whatever the address).

    `attempt`, when the form minted one, is the attempt's id: if that attempt exists already (the
    same form sent twice, even two requests racing), nothing is sent again and the id is the answer.
    """
    check_open(petition, "email")
    address = _parse(data.email)
    check_domain(petition, address)
    if data.updates:
        updates.check_personal(petition, data.updates, field="updates")
    minted = attempt is not None
    attempt = attempt or secrets.token_urlsafe(ATTEMPT_BYTES)
    attempt_hash = receipt_key("attempt/v1", attempt)
    # The address as typed: mail goes to it; its canonical form is derived again from it when needed.
    # Only what the petition keeps, padded to one length (two addresses and the petition's entry
    # size): an attempt's length must not tell its name or reason from another's.
    fields = data.fields()
    if not petition["show_names"]:
        fields.update(name="", role="", show_name=False)
    if not petition["reasons_enabled"]:
        fields["reason"] = ""
    kept = {"email": address.mailbox, **fields}
    size = pending.entry_size(petition) + 2 * ADDRESS_PAD
    sealed = encrypt(settings.encryption_key, json.dumps(kept, ensure_ascii=False), _bound(attempt_hash), pad_to=size)

    async def unit(tx: Transaction) -> None:
        if minted and await tx.fetch_one(queries.SELECT_SIGN_ATTEMPT, {"attempt_hash": attempt_hash}) is not None:
            return  # this form's attempt is under way: its code was sent once, not again
        hashed = await email_codes.send_code(
            tx, settings, petition_id=petition["id"], address=address, bound_to=attempt_hash
        )
        await tx.execute(
            queries.INSERT_SIGN_ATTEMPT,
            {
                "attempt_hash": attempt_hash,
                "petition_id": petition["id"],
                "sealed": sealed,
                "code_hash": hashed,
                "expires_at": now() + email_codes.CODE_SECONDS,
            },
        )

    try:
        await db.write(unit)
    except Exception as error:
        # Its twin, in another process, added this attempt first (PostgreSQL): its email stands.
        if not (minted and is_unique_violation(error)):
            raise
    return attempt


async def attempt_is_live(db: Database, *, petition: Row, attempt: str) -> bool:
    """Whether the attempt `attempt` of `petition` exists and its code has not expired."""
    row = await db.fetch_one(queries.SELECT_SIGN_ATTEMPT, {"attempt_hash": receipt_key("attempt/v1", attempt)})
    return row is not None and row["petition_id"] == petition["id"] and row["expires_at"] > now()


def _kept_address(kept: dict[str, object]) -> addresses.Address | None:
    """The address an attempt keeps, parsed again; None for one kept before the parser refused its kind."""
    return addresses.parse_or_none(str(kept["email"]))


async def resend(db: Database, settings: Settings, *, petition: Row, attempt: str) -> None:
    """A new code for the same attempt (the old one stops working), within the same daily cap."""
    check_open(petition, "email")
    attempt_hash = receipt_key("attempt/v1", attempt)

    async def unit(tx: Transaction) -> bool:
        row = await tx.fetch_one(queries.SELECT_SIGN_ATTEMPT, {"attempt_hash": attempt_hash})
        if row is None or row["petition_id"] != petition["id"] or row["expires_at"] <= now():
            return False
        address = _kept_address(json.loads(decrypt(settings.encryption_key, row["sealed"], _bound(attempt_hash))))
        if address is None:
            return False
        hashed = await email_codes.send_code(
            tx, settings, petition_id=petition["id"], address=address, bound_to=attempt_hash
        )
        await tx.execute(
            queries.RENEW_SIGN_ATTEMPT,
            {"attempt_hash": attempt_hash, "code_hash": hashed, "expires_at": now() + email_codes.CODE_SECONDS},
        )
        return True

    if not await db.write(unit):
        raise PetitionError(404, UNKNOWN_ATTEMPT)


async def verify(
    db: Database,
    settings: Settings,
    *,
    petition: Row,
    attempt: str,
    code: str,
    flyer: str | None = None,
    receipt: str | None = None,
) -> str:
    """Check the code and accept the signature (it waits for its batch); the receipt, once the commit is durable.

    The attempt is read, never changed, by the write that accepts: its row holds the code's expiry,
    a time to the second, and changing it there would date the signature (the batch that counts
    the signature deletes it, or it expires). A second use of the attempt finds the address signed,
    unless it comes with the same minted `receipt` (the form sent twice, even two requests
    racing): then the first signature stands and the receipt is the answer.
    PetitionError 404 (no such attempt), 429 (tries spent), 422 (wrong code), 409 (closed, or signed).
    """
    check_open(petition, "email")
    attempt_hash = receipt_key("attempt/v1", attempt)
    receipt, minted, signed = await own_signature(db, petition, receipt)
    if signed:
        return receipt
    # The attempt as it is now (its address does not change): its address gives the dedupe tag,
    # which is this write's lock key. Tries and the code are checked again inside the write.
    found = await db.fetch_one(queries.SELECT_SIGN_ATTEMPT, {"attempt_hash": attempt_hash})
    if found is None or found["petition_id"] != petition["id"] or found["expires_at"] <= now():
        raise PetitionError(404, UNKNOWN_ATTEMPT)
    kept = json.loads(decrypt(settings.encryption_key, found["sealed"], _bound(attempt_hash)))
    address = _kept_address(kept)
    if address is None:
        raise PetitionError(404, UNKNOWN_ATTEMPT)
    tag = email_codes.dedupe_tag(settings, petition["id"], address)
    taken = email_codes.as_parameters(tag, email_codes.earlier_dedupe_tags(settings, petition["id"], address))
    tags = await pending.tags_of(db, settings)
    kept.pop("email")
    key = pending.signature_key(receipt)
    content = {
        **signature_content(petition, receipt, "email", kept, flyer),
        "dedupe": {"tag": tag, "withdraw_key": receipt_key("wd/v1", receipt)},
        "attempt": attempt_hash,  # deleted by the batch that counts the signature
    }

    async def mine(tx: Transaction) -> bool:
        """Whether the minted receipt has its entry (its twin took it first)."""
        return minted and await tx.fetch_one(queries.SELECT_PENDING_KIND, {"pending_key": key}) is not None

    async def unit(tx: Transaction) -> str:
        if await mine(tx):
            return "signed"
        row = await tx.fetch_one(queries.SELECT_SIGN_ATTEMPT, {"attempt_hash": attempt_hash})
        if row is None or row["expires_at"] <= now():
            return "unknown"
        if row["tries"] >= email_codes.MAX_TRIES:
            return "exhausted"
        if not email_codes.matches(row["code_hash"], settings, attempt_hash, code):
            # Counted inside the write: concurrent guesses cannot share one try.
            await tx.execute(queries.COUNT_SIGN_ATTEMPT_TRY, {"attempt_hash": attempt_hash})
            return "wrong"
        if await tx.fetch_one(queries.SELECT_OPEN_PETITION, {"id": petition["id"], "now": now()}) is None:
            return "closed"
        # Held first, then checked against the counted tags: on PostgreSQL, holding it waits for a
        # batch moving the same tag from waiting to counted, whose rows the check then sees.
        if not await tags.reserve(tx, tag=tag, owner=key, petition_id=petition["id"]):
            # On PostgreSQL, holding waits for a twin in another process to commit: then its entry shows.
            return "signed" if await mine(tx) else "already"
        if await tx.fetch_one(queries.SELECT_ANY_EMAIL_DEDUPE, taken) is not None:
            await tags.release(tx, tags=[tag])
            return "already"
        await accept_signature(tx, settings, petition=petition, receipt=receipt, content=content, fields=kept)
        return "signed"

    outcome = await db.write(unit, lock_key=f"tag/{tag}")
    if outcome == "signed":
        return receipt
    status, message = {
        "unknown": (404, UNKNOWN_ATTEMPT),
        "exhausted": (429, TOO_MANY_TRIES),
        "wrong": (422, WRONG_CODE),
        "closed": (409, CLOSED),
        "already": (409, ALREADY_SIGNED),
    }[outcome]
    raise PetitionError(status, message)


async def purge_expired(db: Database) -> None:
    """Delete attempts and confirmations whose codes expired, and yesterday's email counters."""
    moment = now()

    async def unit(tx: Transaction) -> None:
        await tx.execute(queries.DELETE_EXPIRED_SIGN_ATTEMPTS, {"now": moment})
        await tx.execute(queries.DELETE_EXPIRED_CONTACT_CONFIRMATIONS, {"now": moment})
        await tx.execute(queries.DELETE_OLD_CODE_EMAIL_COUNTS, {"day": moment // email_codes.DAY_SECONDS})

    await db.write(unit)

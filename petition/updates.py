"""Updates by email: an address a signer chose to give, confirmed by its own code.

The address waits, encrypted, in `contact_confirmations` until its code is
typed; then it joins the batcher's pending details and is written to
`contacts` in a shuffled batch, never in the write that accepted the signature.
Every row is found only through its own hash of the receipt, so withdrawing or
unsubscribing deletes it, and nothing joins it to the signature.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from . import addresses, email_codes, pending, queries
from .database import Database, Row, Transaction, now
from .encryption import ADDRESS_PAD, decrypt, encrypt
from .petitions import PetitionError
from .settings import Settings
from .text import LINE
from .tokens import receipt_key

Receipt = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), LINE]
# No max_length here: the parser refuses a long address with the one address message (the
# schema still says 254).
Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1),
    Field(json_schema_extra={"maxLength": addresses.MAX_LENGTH}),
]
NOT_ASKED = "No updates address is waiting for a code on this receipt. Give the address again to get a new code."
NOT_SUBSCRIBED = "No updates address is kept for this receipt: it was never given, or was already removed."
PURGED = "This petition's identifying data was destroyed: it keeps no updates addresses any more."


def check_personal(petition: Row, address: str, *, field: str) -> None:
    """PetitionError(422, naming `field`) when `address` is at one of the petition's work domains
    or a subdomain of one (mail.example.com for example.com), compared in their ASCII lower-case
    forms: update emails name the petition, and the employer's mail server would see them.

    Text that is no address passes: the models that take it refuse it with their own message.
    The answer depends only on the typed address and the petition, never on who signed.
    """
    parsed = addresses.parse_or_none(address)
    if parsed is None:
        return
    for domain in addresses.work_domains(petition["allowed_domains"]):
        if parsed.domain == domain or parsed.domain.endswith(f".{domain}"):
            shown = addresses.shown_domain(domain)
            message = f"Give a personal address: updates name the petition, and {shown}'s mail server would see them."
            raise PetitionError(422, message, field)


def end_of_this_hour() -> int:
    """The end of the current hour (seconds since the epoch)."""
    moment = now()
    return moment - moment % 3600 + 3600


def _keys(receipt: str) -> dict[str, str]:
    return {
        "confirm_key": receipt_key("confirm/v1", receipt),
        "contact_key": receipt_key("contact/v1", receipt),
        "pending_key": pending.details_key(receipt),
        "signature_key": receipt_key("sig/v1", receipt),
    }


async def ask_to_confirm(tx: Transaction, settings: Settings, *, petition_id: str, receipt: str, address: str) -> None:
    """Inside a write: keep the address (encrypted) until confirmed, and send it a code.

    AddressRefused for text that is no address (the models that take it have refused it already).
    """
    parsed = addresses.parse(address)
    keys = _keys(receipt)
    confirm_key = keys["confirm_key"]
    await tx.execute(queries.DELETE_CONTACT_CONFIRMATION, {"confirm_key": confirm_key})
    hashed = await email_codes.send_code(tx, settings, petition_id=petition_id, address=parsed, bound_to=confirm_key)
    await tx.execute(
        queries.INSERT_CONTACT_CONFIRMATION,
        {
            "confirm_key": confirm_key,
            "petition_id": petition_id,
            "sealed": encrypt(settings.encryption_key, parsed.mailbox, f"confirm/{confirm_key}", pad_to=ADDRESS_PAD),
            "code_hash": hashed,
            # The end of this hour, and 15 minutes more: asked for in the write that accepts a
            # signature, an expiry to the second would date it. (The code works at least 15 minutes.)
            "expires_at": end_of_this_hour() + email_codes.CODE_SECONDS,
        },
    )


async def request(db: Database, settings: Settings, *, petition: Row, receipt: str, address: str) -> None:
    """Give (or change) the updates address of a signature that is still in. PetitionError 422
    for an address at one of the petition's work domains (`check_personal`), 404 for a receipt
    of no signature here, 409 for a withdrawn signature or a purged petition."""
    check_personal(petition, address, field="address")
    await _check_signature(db, petition, receipt)

    async def unit(tx: Transaction) -> bool:
        if await _purged(db, tx, petition["id"]):
            return False
        await ask_to_confirm(tx, settings, petition_id=petition["id"], receipt=receipt, address=address)
        return True

    if not await db.write(unit):
        raise PetitionError(409, PURGED)


async def confirm(db: Database, settings: Settings, *, petition: Row, receipt: str, code: str) -> None:
    """Check the code; the address then waits for the next batch to be written to `contacts`."""
    await _check_signature(db, petition, receipt)
    keys = _keys(receipt)

    async def unit(tx: Transaction) -> str:
        if await _purged(db, tx, petition["id"]):
            return "purged"
        row = await tx.fetch_one(queries.SELECT_CONTACT_CONFIRMATION, {"confirm_key": keys["confirm_key"]})
        if row is None or row["petition_id"] != petition["id"] or row["expires_at"] <= now():
            return "unknown"
        if row["tries"] >= email_codes.MAX_TRIES:
            return "exhausted"
        if not email_codes.matches(row["code_hash"], settings, keys["confirm_key"], code):
            await tx.execute(queries.COUNT_CONTACT_CONFIRMATION_TRY, {"confirm_key": keys["confirm_key"]})
            return "wrong"
        await tx.execute(queries.DELETE_CONTACT_CONFIRMATION, {"confirm_key": keys["confirm_key"]})
        address = decrypt(settings.encryption_key, row["sealed"], f"confirm/{keys['confirm_key']}").rstrip(" ")
        details = {"signature": keys["signature_key"], "contact": {"key": keys["contact_key"], "address": address}}
        await pending.insert(
            tx, settings, kind=pending.DETAILS, key=keys["pending_key"], petition=petition, content=details
        )
        return "confirmed"

    outcome = await db.write(unit)
    if outcome == "purged":
        raise PetitionError(409, PURGED)
    if outcome == "unknown":
        raise PetitionError(404, NOT_ASKED)
    if outcome == "exhausted":
        raise PetitionError(429, "This code was typed wrong 5 times. Give the address again to get a new code.")
    if outcome == "wrong":
        raise PetitionError(422, "That code is not right. Check the latest code email and type it again.")


async def _purged(db: Database, tx: Transaction, petition_id: str) -> bool:
    """Inside a write: whether the petition was purged (or, on PostgreSQL, is being purged). There
    the write holds the petition's purge lock until it commits, as every write adding pending
    entries does, so an address given while a purge runs in another process is either refused
    here or written before the purge, which waits for it, deletes it."""
    key = {"petition_id": petition_id}
    if db.dialect == "postgresql" and not await tx.fetch_val(queries.HOLD_PURGE_LOCK_POSTGRES, key):
        return True
    return await tx.fetch_val(queries.SELECT_PURGED_AT, key) is not None


async def unsubscribe(db: Database, *, petition: Row, receipt: str) -> None:
    """Delete the updates address (kept, waiting for a batch, or waiting for its code)."""
    await _check_signature(db, petition, receipt, withdrawn_ok=True)

    async def unit(tx: Transaction) -> bool:
        return await forget(tx, receipt)

    if not await db.write(unit):
        raise PetitionError(409, NOT_SUBSCRIBED)


async def forget(tx: Transaction, receipt: str) -> bool:
    """Inside a write: delete every trace of the receipt's updates address; whether there was one."""
    keys = _keys(receipt)
    found = [
        await tx.fetch_one(queries.DELETE_CONTACT, {"contact_key": keys["contact_key"]}),
        await tx.fetch_one(queries.DELETE_PENDING, {"pending_key": keys["pending_key"]}),
        await tx.fetch_one(queries.DELETE_CONTACT_CONFIRMATION, {"confirm_key": keys["confirm_key"]}),
    ]
    return any(row is not None for row in found)


async def _check_signature(db: Database, petition: Row, receipt: str, *, withdrawn_ok: bool = False) -> None:
    key = {
        "petition_id": petition["id"],
        "pending_key": pending.signature_key(receipt),
        "receipt_hash": receipt_key("sig/v1", receipt),
    }
    row = await db.fetch_one(queries.SELECT_SIGNATURE_STATUS, key)
    if row is None:
        raise PetitionError(404, "This receipt belongs to no signature on this petition.")
    if row["withdrawn"] and not withdrawn_ok:
        raise PetitionError(409, "This signature was withdrawn: no updates are sent for it.")


class UpdatesRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    receipt: Receipt
    address: Email

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        return addresses.mailbox_of(value)


class UpdatesConfirm(BaseModel):
    model_config = ConfigDict(extra="forbid")
    receipt: Receipt
    code: Receipt


class UpdatesStatus(BaseModel):
    status: Literal["check_email", "subscribed", "unsubscribed"]


async def is_waiting(db: Database, receipt: str) -> bool:
    """Whether an updates address of this receipt waits for its code."""
    key = receipt_key("confirm/v1", receipt)
    return await db.fetch_one(queries.SELECT_CONTACT_CONFIRMATION, {"confirm_key": key}) is not None

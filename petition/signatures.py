"""Signing with a printed code, receipts, status and withdrawal.

A signer gets a receipt: 256 random bits that only they hold. Every row about
their signature is found through its own hash of the receipt ("sig/v1",
"name/v1", "reason/v1"), so the rows cannot be joined without it, and a lost
receipt cannot be recovered by anyone.
"""

from __future__ import annotations

import functools
import json
import re
import secrets
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from . import addresses, codes, queries, updates
from .database import Database, Row, Transaction, now
from .encryption import encrypt
from .petitions import PetitionError, is_open
from .settings import Settings
from .text import LINE, PROSE
from .tokens import has_token_shape, new_id, receipt_key, token_length
from .updates import Receipt

RECEIPT_BYTES = 32
NOT_A_RECEIPT = (
    f"That is not a receipt: a receipt is {token_length(RECEIPT_BYTES)} letters, digits, - and _,"
    " as shown when you signed."
)
WITHDRAW_CLOSED = "Signatures can be withdrawn only while the petition is open."
RECEIPT_UNKNOWN = "This receipt belongs to no signature on this petition."
NOT_A_CODE = "This code is not valid for this petition, or it was already used."
MARKUP = re.compile(r"[<>]")
HOUR = 3600

Name = Annotated[str, StringConstraints(strip_whitespace=True, max_length=80), LINE]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500), PROSE]
# No max_length here: the parser refuses a long address with the one address message (the
# schema still says 254).
OptionalEmail = Annotated[
    str, StringConstraints(strip_whitespace=True), Field(json_schema_extra={"maxLength": addresses.MAX_LENGTH})
]


class SignatureCreate(BaseModel):
    """A signature: with a printed `code`, or with a work `email` that a code is sent to (not both)."""

    model_config = ConfigDict(extra="forbid")
    code: Annotated[str, StringConstraints(strip_whitespace=True, max_length=40), LINE] = ""
    email: OptionalEmail = ""
    name: Name = ""
    role: Name = ""
    show_name: bool = False
    reason: Reason = ""
    updates: OptionalEmail = ""

    @model_validator(mode="after")
    def _one_route(self) -> SignatureCreate:
        if bool(self.code) == bool(self.email):
            raise ValueError("give either a printed code or a work email address")
        return self

    @field_validator("email", "updates")
    @classmethod
    def _address(cls, value: str) -> str:
        return addresses.mailbox_of(value) if value else value

    def fields(self) -> dict[str, Any]:
        """What the signer left besides the route: kept only as far as the petition allows."""
        return {
            "name": self.name,
            "role": self.role,
            "show_name": self.show_name,
            "reason": self.reason,
            "updates": self.updates,
        }

    @field_validator("name", "role")
    @classmethod
    def _plain_line(cls, value: str) -> str:
        if MARKUP.search(value):
            raise ValueError("must be plain text, without < or >")
        return value


class SignatureAccepted(BaseModel):
    receipt: str
    status: Literal["pending"]


class ReceiptBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    receipt: Receipt


class SignatureStatus(BaseModel):
    status: Literal["pending", "counted", "withdrawn", "invalidated"]


def receipt_of(text: str) -> str | None:
    """A receipt as a form carries it (spaces around it dropped), or None when it cannot be one."""
    receipt = text.strip()
    return receipt if has_token_shape(receipt, RECEIPT_BYTES) else None


def hour_of(moment: int) -> int:
    return moment - moment % HOUR


@functools.lru_cache(maxsize=64)
def methods_of(verification: str) -> frozenset[str]:
    """A petition's stored `verification` (JSON) -> its methods; parsed once per distinct value."""
    return frozenset(json.loads(verification))


def check_open(petition: Row, method: str) -> None:
    """PetitionError(409) unless the petition takes signatures by `method` now."""
    if not is_open(petition):
        raise PetitionError(409, "This petition is not open for signatures.")
    if method not in methods_of(petition["verification"]):
        words = {"code": "printed codes", "email": "work-email codes"}
        raise PetitionError(409, f"This petition does not take {words[method]}.")


async def sign_with_code(db: Database, settings: Settings, *, petition: Row, data: SignatureCreate) -> tuple[str, str]:
    """Spend a code and accept a signature; (the receipt, the code's batch), once the commit is durable.

    The batch is handed back for its flyer's counter only: no row about the signature holds it.
    """
    check_open(petition, "code")
    receipt = secrets.token_urlsafe(RECEIPT_BYTES)
    hashed_code = codes.code_hash(settings.pepper, data.code)

    async def accept(tx: Transaction) -> str | None:
        used = await tx.fetch_one(
            queries.USE_SIGNING_CODE, {"code_hash": hashed_code, "petition_id": petition["id"], "now": now()}
        )
        if used is None:
            return None
        await tx.execute(queries.COUNT_USED_CODE, {"batch_id": used["batch_id"]})
        await accept_signature(tx, settings, petition=petition, receipt=receipt, method="code", fields=data.fields())
        return str(used["batch_id"])

    batch_id = await db.write(accept)
    if batch_id is None:
        raise PetitionError(422, NOT_A_CODE)
    return receipt, batch_id


async def accept_signature(
    tx: Transaction, settings: Settings, *, petition: Row, receipt: str, method: str, fields: dict[str, Any]
) -> None:
    """Inside the accepting write: the signature, and what it leaves for the batcher (never its own rows)."""
    signature_key = receipt_key("sig/v1", receipt)
    await tx.execute(
        queries.INSERT_SIGNATURE,
        {
            "receipt_hash": signature_key,
            "petition_id": petition["id"],
            "method": method,
            "accepted_hour": hour_of(now()),
        },
    )
    details: dict[str, Any] = {}
    # A name is kept only when it will be shown: the petition allows it and the signer asked.
    if petition["show_names"] and fields.get("show_name") and fields.get("name"):
        details["name"] = {"key": receipt_key("name/v1", receipt), "name": fields["name"], "role": fields["role"]}
    if petition["reasons_enabled"] and fields.get("reason"):
        details["reason"] = {"key": receipt_key("reason/v1", receipt), "reason": fields["reason"]}
    if details:
        details["signature"] = signature_key
        sealed = encrypt(settings.encryption_key, json.dumps(details), f"details/{petition['id']}")
        await tx.execute(
            queries.INSERT_PENDING_DETAILS, {"id": new_id(), "petition_id": petition["id"], "sealed": sealed}
        )
    if fields.get("updates"):
        await updates.ask_to_confirm(
            tx, settings, petition_id=petition["id"], receipt=receipt, address=fields["updates"]
        )


async def status_of(db: Database, *, petition: Row, receipt: str) -> str:
    """pending, counted, withdrawn or invalidated; PetitionError(404) for a receipt of nothing here."""
    key = {"petition_id": petition["id"], "receipt_hash": receipt_key("sig/v1", receipt)}
    row = await db.fetch_one(queries.SELECT_SIGNATURE, key)
    if row is None:
        raise PetitionError(404, RECEIPT_UNKNOWN)
    if row["withdrawn"]:
        return "withdrawn"
    return "counted" if row["counted"] else "pending"


async def withdraw(db: Database, *, petition: Row, receipt: str) -> None:
    """Take the signature out of the count (at the next batch); delete its name, reason and contact now."""
    if not is_open(petition):
        raise PetitionError(409, WITHDRAW_CLOSED)
    await status_of(db, petition=petition, receipt=receipt)

    async def unit(tx: Transaction) -> bool:
        changed = await tx.fetch_one(
            queries.WITHDRAW_SIGNATURE,
            {"receipt_hash": receipt_key("sig/v1", receipt), "petition_id": petition["id"], "now": now()},
        )
        if changed is None:
            return False
        await tx.execute(queries.DELETE_SIGNER_NAME, {"key": receipt_key("name/v1", receipt)})
        await tx.execute(queries.DELETE_SIGNER_REASON, {"key": receipt_key("reason/v1", receipt)})
        # The address's place on the petition is freed, so it may sign again.
        await tx.execute(queries.DELETE_EMAIL_DEDUPE, {"withdraw_key": receipt_key("wd/v1", receipt)})
        await updates.forget(tx, receipt)
        return True

    if not await db.write(unit):
        if await status_of(db, petition=petition, receipt=receipt) == "withdrawn":
            raise PetitionError(409, "This signature was already withdrawn.")
        raise PetitionError(409, WITHDRAW_CLOSED)  # it closed (or reached its deadline) meanwhile

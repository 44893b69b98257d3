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
from typing import Annotated, Any, Literal, NoReturn

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from . import addresses, codes, pending, queries, tlog, updates
from .database import Database, Row, Transaction, is_unique_violation, now
from .petitions import PetitionError, is_open
from .settings import Settings
from .text import LINE, PROSE
from .tokens import has_token_shape, receipt_key, token_length
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
    """What became of a signature. Once counted: its entry in the petition's log (`leaf_index`, from
    0) in the tree of `tree_size`, the inclusion proof (base64 hashes, RFC 9162) and the signed
    checkpoint (note text) it leads to; or, for a signature counted before the log existed,
    `carried_over: true` and nothing else (it is in the count entry 0 carries over, with no entry
    of its own). `name_shown`: whether the signature shows a name (or will once counted), which the
    receipt can hide. Fields that do not apply are left out."""

    status: Literal["pending", "counted", "withdrawn"]
    leaf_index: int | None = None
    tree_size: int | None = None
    proof: list[str] | None = None
    checkpoint: str | None = None
    carried_over: bool | None = None
    name_shown: bool | None = None


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


async def sign_with_code(
    db: Database,
    settings: Settings,
    *,
    petition: Row,
    data: SignatureCreate,
    flyer: str | None = None,
    receipt: str | None = None,
) -> str:
    """Spend a code and accept a signature (it waits for its batch); the receipt, once the commit is durable.

    `flyer` is the flyer batch whose page the form came from, if any: it is counted for that flyer
    when the signature's batch closes (a tear-off tab's code counts for its own flyer).
    `receipt`, when the form minted one, is the receipt to sign with: if it has its signature
    already (the same form sent twice, even two requests racing), that signature stands and the
    receipt is the answer, with nothing spent or counted again.
    PetitionError(422) for a code that is not this petition's or was used, or an updates address
    at one of its work domains (field "updates"); 409 when it is not open.
    """
    check_open(petition, "code")
    if data.updates:
        updates.check_personal(petition, data.updates, field="updates")
    receipt, minted, signed = await own_signature(db, petition, receipt)
    if signed:
        return receipt
    try:
        taken = await _spend_code(
            db, settings, petition=petition, data=data, flyer=flyer, receipt=receipt, minted=minted
        )
    except Exception as error:
        # Its twin, in another process, added the entry of this receipt first (PostgreSQL).
        if not (minted and is_unique_violation(error)):
            raise
        taken = False
    if not taken:
        if minted and await find(db, petition=petition, receipt=receipt) is not None:
            return receipt  # the twin spent the code, for this same receipt
        await refuse_code(db, petition)
    return receipt


async def _spend_code(
    db: Database,
    settings: Settings,
    *,
    petition: Row,
    data: SignatureCreate,
    flyer: str | None,
    receipt: str,
    minted: bool,
) -> bool:
    """One write that spends the code and adds the receipt's pending entry; False when the code was
    not taken (wrong, used, revoked, the petition closed) or a `minted` receipt has its entry already."""
    hashed_code = codes.code_hash(settings.pepper, data.code)
    if db.dialect == "postgresql" and not data.updates:
        return await _sign_with_code_postgres(db, settings, petition=petition, data=data, flyer=flyer, receipt=receipt)
    key = pending.signature_key(receipt)

    async def accept(tx: Transaction) -> bool:
        # A form's receipt with its entry already (the form sent again with another code) spends
        # nothing. (On PostgreSQL without updates, the entry's unique key refuses it instead.)
        if minted and await tx.fetch_one(queries.SELECT_PENDING_KIND, {"pending_key": key}) is not None:
            return False
        used = await tx.fetch_one(
            queries.USE_SIGNING_CODE, {"code_hash": hashed_code, "petition_id": petition["id"], "now": now()}
        )
        if used is None:
            return False
        content = {**signature_content(petition, receipt, "code", data.fields(), flyer), "code_batch": used["batch_id"]}
        await accept_signature(tx, settings, petition=petition, receipt=receipt, content=content, fields=data.fields())
        return True

    return await db.write(accept, lock_key=f"code/{hashed_code}")


async def _sign_with_code_postgres(
    db: Database, settings: Settings, *, petition: Row, data: SignatureCreate, flyer: str | None, receipt: str
) -> bool:
    """sign_with_code on PostgreSQL, where each statement of the writer is a round trip and the
    writer's connection waits on them: the code's batch is read first (any reader, at once), the
    entry sealed outside the writer, and the writer runs one statement that spends the code and
    adds the entry, or neither (the code used meanwhile, or its batch revoked)."""
    hashed_code = codes.code_hash(settings.pepper, data.code)
    found = await db.fetch_one(queries.SELECT_BATCH_OF_CODE, {"code_hash": hashed_code})
    if found is None:
        return False
    key = pending.signature_key(receipt)
    content = {**signature_content(petition, receipt, "code", data.fields(), flyer), "code_batch": found["batch_id"]}
    values = {
        "code_hash": hashed_code,
        "batch_id": found["batch_id"],
        "petition_id": petition["id"],
        "now": now(),
        "pending_key": key,
        "sealed": pending.seal(settings, kind=pending.SIGNATURE, key=key, petition=petition, content=content),
    }

    async def accept(tx: Transaction) -> bool:
        return await tx.fetch_one(queries.SPEND_CODE_AND_WAIT_POSTGRES, values) is not None

    return await db.write(accept, lock_key=f"code/{hashed_code}")


async def refuse_code(db: Database, petition: Row) -> NoReturn:
    """The answer to a code the write did not take: 409 when the petition closed meanwhile (its
    deadline passed, or an organizer closed it), else the one answer for a wrong or used code."""
    if await db.fetch_one(queries.SELECT_OPEN_PETITION, {"id": petition["id"], "now": now()}) is None:
        raise PetitionError(409, "This petition is not open for signatures.")
    raise PetitionError(422, NOT_A_CODE)


def signature_content(
    petition: Row, receipt: str, method: str, fields: dict[str, Any], flyer: str | None
) -> dict[str, Any]:
    """What a signature's pending entry holds for its batch: the signature's key and method, the
    name and reason as far as the petition keeps them, the flyer it came through."""
    content: dict[str, Any] = {
        "signature": receipt_key("sig/v1", receipt),
        "method": method,
        "commitment": tlog.commitment(receipt).hex(),
    }
    # A name is kept only when it will be shown: the petition allows it and the signer asked.
    if petition["show_names"] and fields.get("show_name") and fields.get("name"):
        content["name"] = {"key": receipt_key("name/v1", receipt), "name": fields["name"], "role": fields["role"]}
    if petition["reasons_enabled"] and fields.get("reason"):
        content["reason"] = {"key": receipt_key("reason/v1", receipt), "reason": fields["reason"]}
    if flyer:
        content["flyer"] = flyer
    return content


async def accept_signature(
    tx: Transaction, settings: Settings, *, petition: Row, receipt: str, content: dict[str, Any], fields: dict[str, Any]
) -> None:
    """Inside the accepting write: the signature's one pending entry, and a code to its updates address.

    Nothing else: no permanent row (the batch writes them), and no change to a row that holds a
    time finer than an hour (a deleted attempt's expiry would date the signature).
    """
    await pending.insert(
        tx,
        settings,
        kind=pending.SIGNATURE,
        key=pending.signature_key(receipt),
        petition=petition,
        content=content,
    )
    if fields.get("updates"):
        await updates.ask_to_confirm(
            tx, settings, petition_id=petition["id"], receipt=receipt, address=fields["updates"]
        )


async def own_signature(db: Database, petition: Row, receipt: str | None) -> tuple[str, bool, bool]:
    """The receipt a form minted (or None) -> (the receipt to sign with, whether it was minted,
    whether its signature stands already). A form whose signature was withdrawn since (an old tab
    sent again) signs anew, with a receipt of its own: a withdrawn signature never answers for it."""
    if receipt is None:
        return secrets.token_urlsafe(RECEIPT_BYTES), False, False
    found = await find(db, petition=petition, receipt=receipt)
    if found is None:
        return receipt, True, False
    if found["withdrawn"]:
        return secrets.token_urlsafe(RECEIPT_BYTES), False, False
    return receipt, True, True


async def find(db: Database, *, petition: Row, receipt: str) -> Row | None:
    """The signature behind a receipt: {"counted": 0 or 1, "withdrawn": 0 or 1}, or None."""
    return await db.fetch_one(
        queries.SELECT_SIGNATURE_STATUS,
        {
            "petition_id": petition["id"],
            "pending_key": pending.signature_key(receipt),
            "receipt_hash": receipt_key("sig/v1", receipt),
        },
    )


async def status_of(db: Database, *, petition: Row, receipt: str) -> str:
    """pending, counted or withdrawn; PetitionError(404) for a receipt of nothing here."""
    row = await find(db, petition=petition, receipt=receipt)
    if row is None:
        raise PetitionError(404, RECEIPT_UNKNOWN)
    if row["withdrawn"]:
        return "withdrawn"
    return "counted" if row["counted"] else "pending"


async def withdraw(db: Database, settings: Settings, *, petition: Row, receipt: str) -> None:
    """Take the signature out of the count (at the next batch); delete its name, reason and contact now.

    A waiting signature's entry is marked withdrawn and sealed again without its name, reason and
    tag (its address may sign again at once); a counted one changes one byte in place and its
    withdrawal waits, sealed, for the next batch. PetitionError 404 (no such signature), 409
    (closed, or withdrawn already).
    """
    if not is_open(petition):
        raise PetitionError(409, WITHDRAW_CLOSED)
    await status_of(db, petition=petition, receipt=receipt)
    tags = await pending.tags_of(db, settings)
    keys = {"petition_id": petition["id"], "now": now()}

    async def unit(tx: Transaction) -> bool:
        waiting = await tx.fetch_one(
            queries.WITHDRAW_PENDING_SIGNATURE, {**keys, "pending_key": pending.signature_key(receipt)}
        )
        if waiting is not None:
            content = pending.unseal(settings, waiting)
            if "dedupe" in content:
                await tags.release(tx, tags=[content["dedupe"]["tag"]])
            # Counted in and out at once when its batch closes: what counts need, nothing more.
            kept = {name: content[name] for name in ("signature", "method", "code_batch", "flyer") if name in content}
            sealed = pending.seal(
                settings, kind=pending.WITHDRAWN, key=waiting["pending_key"], petition=petition, content=kept
            )
            await tx.execute(queries.RESEAL_PENDING, {"pending_key": waiting["pending_key"], "sealed": sealed})
            await updates.forget(tx, receipt)
            return True
        changed = await tx.fetch_one(
            queries.WITHDRAW_SIGNATURE, {**keys, "receipt_hash": receipt_key("sig/v1", receipt)}
        )
        if changed is None:
            return False
        # The log's withdrawal entry will name the signature's entry, found by its commitment (none:
        # counted before the log began, so the withdrawal names the carried-over entry).
        entry = await tlog.entry_of(tx, petition["id"], receipt, pending.signature_key(receipt))
        withdrawal = {"method": changed["method"]} | ({"commitment": entry[1].hex()} if entry else {})
        await pending.insert(
            tx,
            settings,
            kind=pending.WITHDRAWAL,
            key=pending.withdrawal_key(receipt),
            petition=petition,
            content=withdrawal,
        )
        if await tx.fetch_one(queries.DELETE_SIGNER_NAME, {"key": receipt_key("name/v1", receipt)}):
            # The name leaves the public page now, as the signer was told (the count moves with
            # the next batch): it was public, so its going says only that this person withdrew.
            await tx.execute(queries.BUMP_CACHE_VERSION)
        reason = await tx.fetch_one(queries.DELETE_SIGNER_REASON, {"key": receipt_key("reason/v1", receipt)})
        if reason is not None and reason["status"] == "approved":
            # Public: it leaves the list and the count now, as a shown name leaves the page.
            await tx.execute(queries.ADD_TO_REASON_COUNT, {"petition_id": reason["petition_id"], "approved": -1})
            await tx.execute(queries.BUMP_CACHE_VERSION)
        # The address's place on the petition is freed, so it may sign again.
        await tx.execute(queries.DELETE_EMAIL_DEDUPE, {"withdraw_key": receipt_key("wd/v1", receipt)})
        await updates.forget(tx, receipt)
        return True

    if not await db.write(unit, lock_key=f"receipt/{receipt_key('sig/v1', receipt)}"):
        if await status_of(db, petition=petition, receipt=receipt) == "withdrawn":
            raise PetitionError(409, "This signature was already withdrawn.")
        raise PetitionError(409, WITHDRAW_CLOSED)  # it closed (or reached its deadline) meanwhile

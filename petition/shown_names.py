"""Shown names stay the signer's: whether a signature shows its name, and hiding it with the receipt.

A name is shown only when the petition allows it and the signer asked. It waits inside the
signature's sealed pending entry until its batch closes, then lives in `signer_names`, keyed by
SHA-256("name/v1" | receipt) and joined to nothing. Hiding works at any time, before or after
the petition closes and after a purge (which keeps `signer_names`): a waiting entry is sealed
again without the name, in place and at its length, so its batch never writes it; a written
name's row is deleted (`secure_delete` zeroes it). Nothing else changes: not the signature's
row, not its count, and no time is stored (DESIGN.md rule 11).
"""

from __future__ import annotations

from . import pending, queries, signatures
from .database import Database, Row, Transaction
from .petitions import PetitionError
from .settings import Settings
from .tokens import receipt_key

NO_NAME_SHOWN = "No name is shown with this signature: it was never shown, or it was hidden already."
WITHDRAWN_HAS_NO_NAME = "This signature was withdrawn: any name it showed is deleted already."


async def is_shown(db: Database, settings: Settings, *, petition: Row, receipt: str, status: str) -> bool:
    """Whether the signature behind `receipt` (of `status`: pending, counted or withdrawn) shows a
    name, or will once its batch closes."""
    if status == "withdrawn":
        return False
    keys = {"petition_id": petition["id"]}
    if status == "pending":
        waiting = await db.fetch_one(
            queries.SELECT_WAITING_SIGNATURE, {**keys, "pending_key": pending.signature_key(receipt)}
        )
        if waiting is not None:
            return "name" in pending.unseal(settings, waiting)
    # Counted (or counted since the status was read): its name, if any, is written.
    written = await db.fetch_one(queries.SELECT_SIGNER_NAME_SHOWN, {**keys, "key": receipt_key("name/v1", receipt)})
    return written is not None


async def hide(db: Database, settings: Settings, *, petition: Row, receipt: str) -> bool:
    """Hide the name the signature behind `receipt` shows (or will show once counted), on an open
    or a closed petition; True when one was hidden, False when none is shown (never given, or
    hidden already: nothing changes). PetitionError 404 (no such signature here), 409 (withdrawn).
    """
    status = await signatures.status_of(db, petition=petition, receipt=receipt)
    if status == "withdrawn":
        raise PetitionError(409, WITHDRAWN_HAS_NO_NAME)
    keys = {"petition_id": petition["id"]}
    pending_key = pending.signature_key(receipt)

    async def unit(tx: Transaction) -> bool:
        waiting = await tx.fetch_one(queries.SELECT_WAITING_SIGNATURE, {**keys, "pending_key": pending_key})
        if waiting is not None:
            content = pending.unseal(settings, waiting)
            if content.pop("name", None) is None:
                return False
            # The same change withdrawal makes: the entry in place, at its length, so nothing on
            # disk says which entry lost what.
            sealed = pending.reseal(settings, waiting, content)
            changed = {"pending_key": pending_key, "sealed": sealed, "read": waiting["sealed"]}
            resealed = await tx.fetch_one(queries.RESEAL_WAITING_SIGNATURE, changed)
            if resealed is not None:
                return True
            # Its batch took it meanwhile (another process): the name is written, and deleted below.
        deleted = await tx.fetch_one(
            queries.DELETE_PETITION_SIGNER_NAME, {**keys, "key": receipt_key("name/v1", receipt)}
        )
        if deleted is None:
            return False
        # The name was public: pages made from now on leave it out, in every process.
        await tx.execute(queries.BUMP_CACHE_VERSION)
        return True

    return await db.write(unit, lock_key=f"receipt/{receipt_key('sig/v1', receipt)}")

"""Printed single-use signing codes: made in batches, kept only as keyed hashes, downloaded once."""

from __future__ import annotations

import hmac
import json
import re
import secrets
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

from . import downloads, queries, tlog
from .database import Database, Row, Transaction, now
from .encryption import decrypt, encrypt
from .organizers import audit
from .parameters import LARGEST_NUMBER, bounded
from .petitions import PetitionError, address, is_open
from .settings import Settings
from .text import LINE
from .tokens import new_id

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 16  # 80 bits, shown as XXXX-XXXX-XXXX-XXXX
INSERT_CHUNK = 500  # rows per INSERT statement, so a big batch is a few statements
GONE = "These codes were already downloaded (or revoked); they are no longer on the server."
NO_SUCH_BATCH = "There is no such batch of codes for this petition."
REVOKED_ALREADY = "This batch was revoked already."
PURGED_ALREADY = "Its identifying data was destroyed: its unused codes are gone, there is nothing left to revoke."


class CodeBatchCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    count: bounded(1, LARGEST_NUMBER)  # and at most MAX_CODES_PER_BATCH, checked with the settings
    label: Annotated[str, StringConstraints(strip_whitespace=True, max_length=80), LINE] = ""


class CodeBatchCreated(BaseModel):
    batch: str
    codes: list[str]


class CodeBatchPublic(BaseModel):
    """A batch of printed codes. `used` is null while below MIN_CELL_SIZE ("fewer than"): a batch
    of one code handed to one colleague must not tell its organizer whether that colleague signed."""

    id: str
    label: str
    size: int
    used: int | None
    revoked: bool
    downloadable: bool


class CodeBatchList(BaseModel):
    batches: list[CodeBatchPublic]


def new_code(length: int = CODE_LENGTH) -> str:
    """`length` random Crockford base32 characters, in groups of four."""
    raw = "".join(secrets.choice(CROCKFORD) for _ in range(length))
    return "-".join(raw[i : i + 4] for i in range(0, length, 4))


LOOKALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})


def normalize(code: str) -> str:
    """Typing slips forgiven: case, spaces and hyphens, O for 0, I and L for 1."""
    return code.upper().replace("-", "").replace(" ", "").translate(LOOKALIKES)


# What a code may look like as typed or carried in an address: the letters and digits of its
# groups, any case, hyphens and spaces between them (`normalize` forgives the rest).
AS_TYPED = re.compile(r"[0-9A-Za-z -]{1,40}")


def printed_code(text: str) -> str:
    """A printed code as an address carries it (a tear-off tab's QR code), or "" when it cannot be one."""
    if not AS_TYPED.fullmatch(text):
        return ""
    plain = normalize(text)
    return text if len(plain) == CODE_LENGTH and all(char in CROCKFORD for char in plain) else ""


def code_hash(pepper: bytes, code: str) -> str:
    """What the database keeps of a code: HMAC-SHA256(PEPPER, "code/v1" | code)."""
    return hmac.digest(pepper, b"code/v1|" + normalize(code).encode(), "sha256").hex()


def batch_view(row: Row, min_cell_size: int) -> CodeBatchPublic:
    """A stored batch as organizers see it: how many of its codes were used, from `min_cell_size` up."""
    return CodeBatchPublic(
        id=row["id"],
        label=row["label"],
        size=row["size"],
        used=row["used"] if row["used"] >= min_cell_size else None,
        revoked=row["revoked_at"] is not None,
        downloadable=bool(row["downloadable"]),
    )


async def make_batch(
    db: Database,
    settings: Settings,
    *,
    petition: Row,
    organizer_id: str,
    count: int,
    label: str,
    keep_for_download: bool,
    audited: bool = True,
) -> tuple[str, list[str]]:
    """A new batch of `count` codes for a petition; (batch id, the plaintext codes, this once).

    `count` and `label` as CodeBatchCreate checked them, or as the service made them (a tear-off
    batch's label, which may be longer than an organizer's). With `keep_for_download`, the codes
    are also kept encrypted until their one download. The audit trail records it in the same write,
    unless not `audited` (a tear-off flyer batch's codes: its flyer batch's entry names them).
    """
    if "code" not in json.loads(petition["verification"]):
        raise PetitionError(409, "This petition does not take printed codes; its verification is email only.")
    if petition["state"] != "draft" and not is_open(petition):
        # Past its deadline counts as closed, as for signing; and a purged petition's log takes nothing.
        raise PetitionError(409, "This petition is closed; it takes no more signatures.")
    if count > settings.max_codes_per_batch:
        raise PetitionError(422, f"A batch holds at most {settings.max_codes_per_batch} codes.")
    codes = [new_code() for _ in range(count)]
    batch_id = new_id()
    sealed = encrypt(settings.encryption_key, "\n".join(codes), f"codes/{batch_id}") if keep_for_download else None
    hashes = [code_hash(settings.pepper, code) for code in codes]

    async def insert(tx: Transaction) -> None:
        await tx.execute(
            queries.INSERT_CODE_BATCH,
            {
                "id": batch_id,
                "petition_id": petition["id"],
                "label": label,
                "size": count,
                "created_by": organizer_id,
                "created_at": now(),
                "plaintext": sealed,
            },
        )
        for start in range(0, len(hashes), INSERT_CHUNK):
            chunk = hashes[start : start + INSERT_CHUNK]
            values = {f"h{i}": value for i, value in enumerate(chunk)} | {"batch_id": batch_id}
            await tx.execute(queries.insert_signing_codes(len(chunk)), values)
        # Committed in the log at once, before any of its codes can sign (a draft's, when published).
        await tlog.append_code_batch(tx, settings, petition["id"], count)
        if audited:
            detail = f"{address(petition)}: batch {batch_id} of {count:,} codes" + (f" ({label})" if label else "")
            await audit(tx, organizer_id, "code batch made", detail, petition_id=petition["id"])

    await db.write(insert)
    return batch_id, codes


async def list_batches(db: Database, settings: Settings, petition_id: str) -> list[CodeBatchPublic]:
    """A petition's code batches; counts below MIN_CELL_SIZE as null (DESIGN rule 8)."""
    rows = await db.fetch_all(queries.SELECT_CODE_BATCHES, {"petition_id": petition_id})
    return [batch_view(row, settings.min_cell_size) for row in rows]


async def take_download(db: Database, settings: Settings, *, petition_id: str, batch_id: str) -> tuple[str, list[str]]:
    """The batch's (label, codes), once; PetitionError(409) when already downloaded or revoked."""
    label, made = await read_download(db, settings, petition_id=petition_id, batch_id=batch_id)
    if not await spend_download(db, petition_id=petition_id, batch_id=batch_id):
        raise PetitionError(409, GONE)
    return label, made


async def read_download(db: Database, settings: Settings, *, petition_id: str, batch_id: str) -> tuple[str, list[str]]:
    """The batch's (label, codes) while still on the server, its download not yet spent; else PetitionError(409).

    For a download that can fail after reading (a flyer PDF being drawn): `spend_download` once it is made.
    """
    row = await db.fetch_one(queries.SELECT_CODE_BATCH_PLAINTEXT, {"id": batch_id, "petition_id": petition_id})
    if row is None:
        raise PetitionError(409, GONE)
    return row["label"], decrypt(settings.encryption_key, row["plaintext"], f"codes/{batch_id}").split("\n")


async def spend_download(db: Database, *, petition_id: str, batch_id: str) -> bool:
    """Forget the batch's codes: its one download is spent. False when another download spent it first."""

    async def forget(tx: Transaction) -> bool:
        key = {"id": batch_id, "petition_id": petition_id, "now": now()}
        return await tx.fetch_one(queries.FORGET_CODE_BATCH_PLAINTEXT, key) is not None

    return await db.write(forget)


async def revoke(db: Database, *, petition: Row, organizer_id: str, batch_id: str) -> bool:
    """Make a batch's unused codes unusable; False when there is no such batch or it was revoked already,
    PetitionError(409) once the petition's identifying data (its unused codes among it) was destroyed.

    Spending a code checks its batch is not revoked, so the codes' own rows stay as they are. The
    audit trail records it in the same write; once the petition is published it is also a public
    event (codes_revoked: printed codes in people's hands stopped working), never a draft's.
    """

    async def unit(tx: Transaction) -> bool:
        key = {"id": batch_id, "petition_id": petition["id"], "now": now()}
        # The state as it is in this write: published meanwhile, the revocation is public.
        current = await tx.fetch_one(queries.SELECT_PETITION_BY_ID, {"id": petition["id"]})
        if current is not None and current["purged_at"] is not None:
            # The purge destroyed the unused codes: nothing is left to stop, nothing to announce.
            raise PetitionError(409, PURGED_ALREADY)
        if await tx.fetch_one(queries.REVOKE_CODE_BATCH, key) is None:
            return False
        public = current is not None and current["state"] != "draft"
        await audit(
            tx,
            organizer_id,
            "code batch revoked",
            f"{address(current or petition)}: batch {batch_id}",
            petition_id=petition["id"],
            public_event="codes_revoked" if public else None,
            public_ref=batch_id if public else None,
        )
        return True

    return await db.write(unit)


async def revoke_batch(
    db: Database, settings: Settings, *, petition: Row, organizer_id: str, batch_id: str
) -> CodeBatchPublic:
    """`revoke`, answered as the codes list shows the batch now (`used` null below MIN_CELL_SIZE).

    PetitionError(404) when the petition has no such batch, (409) when it was revoked already
    (the same answers as revoking a round's batch).
    """
    key = {"id": batch_id, "petition_id": petition["id"]}
    if not await revoke(db, petition=petition, organizer_id=organizer_id, batch_id=batch_id):
        exists = await db.fetch_one(queries.SELECT_CODE_BATCH, key)
        raise PetitionError(409, REVOKED_ALREADY) if exists else PetitionError(404, NO_SUCH_BATCH)
    row = await db.fetch_one(queries.SELECT_CODE_BATCH, key)
    if row is None:  # its draft deleted in the moment since, with everything made for it
        raise PetitionError(404, NO_SUCH_BATCH)
    return batch_view(row, settings.min_cell_size)


def as_csv(label: str, codes: list[str]) -> str:
    """The codes as CSV (code, label), safe to open in a spreadsheet."""
    return downloads.as_csv(("code", "label"), ([code, label] for code in codes))

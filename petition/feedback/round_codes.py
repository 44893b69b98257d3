"""Printed codes that join one feedback round: made in batches as a petition's codes are, kept only as
keyed hashes under their own label, so a round code never signs the petition and a petition's code
never joins a round. A round's batches never count in the petition's `codes_issued` and never enter
its transparency log (they commit no signatures)."""

from __future__ import annotations

import hmac
import json

from ..codes import CodeBatchPublic, batch_view, new_code, normalize
from ..database import Database, Transaction, now
from ..encryption import decrypt, encrypt
from ..organizers import audit
from ..petitions import PetitionError, is_open
from ..settings import Settings
from ..tokens import new_id
from . import queries
from .rounds import Found, as_of

INSERT_CHUNK = 500  # rows per INSERT statement, so a big batch is a few statements
GONE = "These codes were already downloaded (or revoked); they are no longer on the server."
NO_SUCH_BATCH = "There is no such batch of codes for this round."
REVOKED_ALREADY = "This batch was revoked already."


def round_code_hash(pepper: bytes, code: str) -> str:
    """What the database keeps of a round code: HMAC-SHA256(PEPPER, "round-code/v1" | normalized code), hex.
    Another label than a petition's codes ("code/v1"), so the same code text never matches across them."""
    return hmac.digest(pepper, b"round-code/v1|" + normalize(code).encode(), "sha256").hex()


async def make_batch(
    db: Database,
    settings: Settings,
    *,
    found: Found,
    organizer_id: str,
    count: int,
    label: str,
    keep_for_download: bool,
) -> tuple[str, list[str]]:
    """A new batch of `count` codes for the round; (batch id, the plaintext codes, this once). With
    `keep_for_download`, also kept encrypted until their one download. PetitionError(409) when the
    petition takes no printed codes, is closed, or the round is closed; (422) above MAX_CODES_PER_BATCH."""
    if "code" not in json.loads(found.petition["verification"]):
        raise PetitionError(409, "This petition does not take printed codes; its verification is email only.")
    if found.petition["state"] != "draft" and not is_open(found.petition):
        raise PetitionError(409, "This round's petition is closed; its rounds take no more participants.")
    if as_of(found)["state"] == "closed":
        raise PetitionError(409, "This round is closed; it takes no more participants.")
    if count > settings.max_codes_per_batch:
        raise PetitionError(422, f"A batch holds at most {settings.max_codes_per_batch} codes.", "count")
    codes = [new_code() for _ in range(count)]
    batch_id = new_id()
    sealed = None
    if keep_for_download:
        sealed = encrypt(settings.encryption_key, "\n".join(codes), f"round-codes/{batch_id}")
    hashes = [round_code_hash(settings.pepper, code) for code in codes]
    round_id = found.round["id"]

    async def insert(tx: Transaction) -> None:
        await tx.execute(
            queries.INSERT_ROUND_CODE_BATCH,
            {
                "id": batch_id,
                "round_id": round_id,
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
            await tx.execute(queries.insert_round_codes(len(chunk)), values)
        detail = f"{round_id} ({count} codes)"
        await audit(tx, organizer_id, "round codes made", detail, petition_id=found.petition["id"])

    await db.write(insert)
    return batch_id, codes


async def list_batches(db: Database, settings: Settings, round_id: str) -> list[CodeBatchPublic]:
    """A round's code batches, newest first; `used` null below MIN_CELL_SIZE (DESIGN rule 8)."""
    rows = await db.fetch_all(queries.SELECT_ROUND_CODE_BATCHES, {"round_id": round_id})
    return [batch_view(row, settings.min_cell_size) for row in rows]


async def batch_size(db: Database, *, round_id: str, batch_id: str) -> int | None:
    """How many codes the round's batch holds, or None for no such batch of the round."""
    row = await db.fetch_one(queries.SELECT_ROUND_CODE_BATCH, {"id": batch_id, "round_id": round_id})
    return None if row is None else int(row["size"])


async def take_download(db: Database, settings: Settings, *, round_id: str, batch_id: str) -> tuple[str, list[str]]:
    """The batch's (label, codes), once; PetitionError(409) when already downloaded, revoked or never kept."""
    key = {"id": batch_id, "round_id": round_id}
    row = await db.fetch_one(queries.SELECT_ROUND_CODE_BATCH_PLAINTEXT, key)
    if row is None:
        raise PetitionError(409, GONE)
    made = decrypt(settings.encryption_key, row["plaintext"], f"round-codes/{batch_id}").split("\n")

    async def forget(tx: Transaction) -> bool:
        return await tx.fetch_one(queries.FORGET_ROUND_CODE_BATCH_PLAINTEXT, key | {"now": now()}) is not None

    if not await db.write(forget):
        raise PetitionError(409, GONE)
    return row["label"], made


async def revoke(
    db: Database, settings: Settings, *, organizer_id: str, round_id: str, batch_id: str
) -> CodeBatchPublic:
    """Make a batch's unused codes unusable (and forget any kept for download); the batch as it is now.
    PetitionError(404) for no such batch of the round, (409) when revoked already."""
    key = {"id": batch_id, "round_id": round_id}

    async def unit(tx: Transaction) -> bool:
        if await tx.fetch_one(queries.REVOKE_ROUND_CODE_BATCH, key | {"now": now()}) is None:
            return False
        # Not a public event: a round's codes join the round, they never sign the petition.
        petition_id = await tx.fetch_val(queries.SELECT_ROUND_PETITION, {"id": round_id})
        await audit(tx, organizer_id, "round code batch revoked", round_id, petition_id=petition_id)
        return True

    if not await db.write(unit):
        exists = await db.fetch_one(queries.SELECT_ROUND_CODE_BATCH, key)
        raise PetitionError(409, REVOKED_ALREADY) if exists else PetitionError(404, NO_SUCH_BATCH)
    row = await db.fetch_one(queries.SELECT_ROUND_CODE_BATCH, key)
    assert row is not None
    return batch_view(row, settings.min_cell_size)

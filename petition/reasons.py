"""Signers' reasons: moderated by the petition's organizers, then public in an order that tells no time.

A reason is written by the batcher (in its batch, in the order of its storage key) as `waiting`;
an organizer approves it (public) or hides it, and may change either later. Outside the database
a reason is named only by its `public_id`, 128 random bits: never its storage key
(SHA-256("reason/v1" | receipt), which a receipt holder can compute), nor anything that orders
reasons by time. Every list, public or not, is ordered by `order_key`, an HMAC of the public id
under a key derived from SECRET_KEY ("reason-order/v1"): stable across requests and restarts
(it is stored), and unpredictable from the ids without the key. The purge keeps approved
reasons only (queries.PURGE_STATEMENTS); a withdrawal deletes its reason at once (signatures.py).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from . import flagger, queries
from .database import Database, Row, Transaction
from .organizers import audit
from .petitions import PetitionError, address
from .settings import Settings

Status = Literal["waiting", "approved", "hidden"]
STATUSES: tuple[Status, ...] = get_args(Status)
PUBLIC_PAGE_SIZE = 20
QUEUE_PAGE_SIZE = 50
MAX_MODERATED = 100  # reason ids in one moderation request, both lists together
ORDER_LABEL = b"reason-order/v1"
PUBLIC_ID_BYTES = 16  # 128 bits
ORDER_KEY_BYTES = 32  # an HMAC-SHA256, kept as hex
NO_SUCH_REASON = "There is no such reason on this petition."
BAD_CURSOR = "The cursor is not one this list gave: start again without it."
# The longest a public id can be (22 characters); anything longer names no reason.
ReasonId = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class ReasonPublic(BaseModel):
    """An approved reason as anyone sees it: its opaque id and its text, nothing else."""

    id: str
    text: str


class ReasonList(BaseModel):
    reasons: list[ReasonPublic]
    next_cursor: str | None


class ReasonListQuery(BaseModel):
    cursor: str | None = None  # read by decode_cursor, which refuses one this list did not give


class ReasonQueueQuery(ReasonListQuery):
    """The organizers' list of one status (the moderation queue unless told), a page after `cursor`."""

    status: Annotated[
        Status,
        Field(
            description="Which reasons: waiting for moderation (the default), approved (public) or hidden. "
            "Follow next_cursor with the same status."
        ),
    ] = "waiting"


class ReasonFlag(BaseModel):
    """A warning about a reason's text (flagger.FLAG_KINDS), and the text that raised it."""

    kind: str
    match: str


class ReasonWaiting(BaseModel):
    """A reason in an organizers' list (waiting, approved or hidden): its text and what could identify someone."""

    id: str
    text: str
    flags: list[ReasonFlag]


class ReasonQueue(BaseModel):
    reasons: list[ReasonWaiting]
    next_cursor: str | None


class ReasonModerated(BaseModel):
    """What became of a reason: approved, hidden, or deleted (hidden after the petition's purge,
    when nothing unapproved is kept)."""

    id: str
    status: Literal["approved", "hidden", "deleted"]


class ReasonsModerated(BaseModel):
    reasons: list[ReasonModerated]


class ModerateRequest(BaseModel):
    """Reason ids to approve and to hide: at least one, at most MAX_MODERATED in all, none in both."""

    model_config = ConfigDict(extra="forbid")

    approve: Annotated[list[ReasonId], Field(max_length=MAX_MODERATED)] = []
    hide: Annotated[list[ReasonId], Field(max_length=MAX_MODERATED)] = []

    @model_validator(mode="after")
    def _one_to_a_hundred(self) -> ModerateRequest:
        problem = moderation_problem(self.approve, self.hide)
        if problem:
            raise ValueError(problem)
        return self


def moderation_problem(approve: Sequence[str], hide: Sequence[str]) -> str | None:
    """Why a moderation request cannot be done as asked, or None."""
    if not approve and not hide:
        return "Give at least one reason id to approve or to hide."
    if len(set(approve)) + len(set(hide)) > MAX_MODERATED:
        return f"At most {MAX_MODERATED} reasons can be moderated at once."
    if both := set(approve) & set(hide):
        return f"{len(both)} reason id(s) are both to approve and to hide: choose one for each."
    return None


def new_public_id() -> str:
    """A reason's public id: 128 random bits, base64url (22 characters)."""
    return secrets.token_urlsafe(PUBLIC_ID_BYTES)


def order_key(settings: Settings, public_id: str) -> str:
    """The reason's place in every list: HMAC-SHA256 of its public id under a key derived from
    SECRET_KEY with the label "reason-order/v1", as 64 hex digits."""
    key = hmac.new(settings.secret_key, ORDER_LABEL, hashlib.sha256).digest()
    return hmac.new(key, public_id.encode(), hashlib.sha256).hexdigest()


def encode_cursor(key: str) -> str:
    """An order key -> the opaque cursor after it (base64url of its bytes)."""
    return base64.urlsafe_b64encode(bytes.fromhex(key)).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    """A cursor -> the order key after which the page starts; PetitionError(422) for one no list gave."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (binascii.Error, ValueError):
        raise PetitionError(422, BAD_CURSOR, "cursor") from None
    if len(raw) != ORDER_KEY_BYTES or encode_cursor(raw.hex()) != cursor:
        raise PetitionError(422, BAD_CURSOR, "cursor")
    return raw.hex()


def cursor_or_start(cursor: str) -> str:
    """For a page's link: the order key a cursor names, or "" (the first page) for a bad one."""
    try:
        return decode_cursor(cursor) if cursor else ""
    except PetitionError:
        return ""


async def page_of(
    db: Database, *, petition_id: str, status: str, after: str, limit: int
) -> tuple[list[Row], str | None]:
    """A page of the petition's reasons of one status after the order key `after` ("" from the
    start): (rows of public_id, reason, order_key; the next page's cursor, or None)."""
    rows = await db.fetch_all(
        queries.SELECT_REASONS, {"petition_id": petition_id, "status": status, "after": after, "limit": limit + 1}
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, encode_cursor(rows[-1]["order_key"]) if more else None


async def public_page(db: Database, petition_id: str, after: str = "") -> ReasonList:
    """A page (PUBLIC_PAGE_SIZE) of the petition's approved reasons: ids and texts only."""
    rows, next_cursor = await page_of(
        db, petition_id=petition_id, status="approved", after=after, limit=PUBLIC_PAGE_SIZE
    )
    shown = [ReasonPublic(id=row["public_id"], text=row["reason"]) for row in rows]
    return ReasonList(reasons=shown, next_cursor=next_cursor)


async def queue(db: Database, petition: Row, after: str = "", status: str = "waiting") -> ReasonQueue:
    """A page (QUEUE_PAGE_SIZE) of the petition's reasons of `status`, each with its flags (computed now,
    with the petition's sensitive words)."""
    rows, next_cursor = await page_of(db, petition_id=petition["id"], status=status, after=after, limit=QUEUE_PAGE_SIZE)
    words = flagger.words_of(petition)
    # In a thread: a page of long reasons and a long word list take a few hundred milliseconds to
    # flag, and the event loop must go on answering everyone else meanwhile.
    found = await asyncio.to_thread(_flag_all, [row["reason"] for row in rows], words)
    return ReasonQueue(
        reasons=[
            ReasonWaiting(
                id=row["public_id"],
                text=row["reason"],
                flags=[ReasonFlag(kind=flag.kind, match=flag.match) for flag in flags],
            )
            for row, flags in zip(rows, found, strict=True)
        ],
        next_cursor=next_cursor,
    )


def _flag_all(texts: list[str], words: list[str]) -> list[list[flagger.Flag]]:
    return [flagger.flags(text, words) for text in texts]


async def counts(db: Database, petition_id: str) -> dict[str, int]:
    """How many of the petition's reasons are in each status (every status present, 0 when none)."""
    rows = await db.fetch_all(queries.COUNT_REASONS_BY_STATUS, {"petition_id": petition_id})
    found = {row["status"]: int(row["n"]) for row in rows}
    return {status: found.get(status, 0) for status in STATUSES}


async def moderate(
    db: Database, *, petition: Row, organizer_id: str, approve: Sequence[str] = (), hide: Sequence[str] = ()
) -> list[ReasonModerated]:
    """Approve and hide reasons of the petition, all or nothing, in one write: each reason's new status.

    An approved reason may be hidden and a hidden one approved; after the petition's purge a hidden
    reason is deleted (nothing unapproved is kept then). The petition's reason_count moves in the
    same write, the public cache's version too, and the audit trail records the counts (never a
    text). PetitionError(422) for a request moderation_problem refuses; (404) when any id is not a
    reason of this petition (naming none of them, and nothing changes).
    """
    approve, hide = list(dict.fromkeys(approve)), list(dict.fromkeys(hide))
    if problem := moderation_problem(approve, hide):
        raise PetitionError(422, problem)
    purged = petition["purged_at"] is not None
    key = {"petition_id": petition["id"]}

    async def change(tx: Transaction, public_id: str, status: str, was: str) -> bool:
        values = {**key, "public_id": public_id, "status": status, "was": was}
        return await tx.fetch_one(queries.CHANGE_REASON_STATUS, values) is not None

    async def unit(tx: Transaction) -> list[ReasonModerated]:
        for public_id in [*approve, *hide]:
            if await tx.fetch_one(queries.SELECT_REASON_STATUS, {**key, "public_id": public_id}) is None:
                raise PetitionError(404, NO_SUCH_REASON)  # the write rolls back: nothing changed
        approved = 0  # how the petition's count of approved reasons moves
        done: list[ReasonModerated] = []
        for public_id in approve:
            approved += await change(tx, public_id, "approved", "waiting") or await change(
                tx, public_id, "approved", "hidden"
            )
            done.append(ReasonModerated(id=public_id, status="approved"))
        for public_id in hide:
            if purged:
                deleted = await tx.fetch_one(queries.DELETE_REASON, {**key, "public_id": public_id})
                approved -= deleted is not None and deleted["status"] == "approved"
                done.append(ReasonModerated(id=public_id, status="deleted"))
                continue
            if await change(tx, public_id, "hidden", "approved"):
                approved -= 1
            else:
                await change(tx, public_id, "hidden", "waiting")
            done.append(ReasonModerated(id=public_id, status="hidden"))
        if approved:
            await tx.execute(queries.ADD_TO_REASON_COUNT, {**key, "approved": approved})
        await tx.execute(queries.BUMP_CACHE_VERSION)
        detail = f"{len(approve)} approved, {len(hide)} {'deleted' if purged else 'hidden'} on {address(petition)}"
        await audit(tx, organizer_id, "reasons moderated", detail, petition_id=petition["id"])
        return done

    return await db.write(unit)


async def fill_missing_ids(db: Database, settings: Settings) -> int:
    """Give every reason written before migration 0018 its public id and order key; how many.
    Idempotent, and safe in several processes starting at once (each row is set only while it has none)."""
    if await db.fetch_one(queries.SELECT_REASONS_WITHOUT_IDS) is None:
        return 0

    async def unit(tx: Transaction) -> int:
        filled = 0
        for row in await tx.fetch_all(queries.SELECT_REASONS_WITHOUT_IDS):
            public_id = new_public_id()
            values = {"reason_key": row["reason_key"], "public_id": public_id}
            values["order_key"] = order_key(settings, public_id)
            filled += await tx.fetch_one(queries.SET_REASON_IDS, values) is not None
        if filled:
            await tx.execute(queries.BUMP_CACHE_VERSION)
        return filled

    return await db.write(unit)

"""Organizers: accounts, single-use links, and the audit trail of what they did."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from . import addresses, queries
from .database import Database, Row, Transaction, now
from .text import text_problem
from .tokens import new_id, new_token, token_hash

SETUP_LINK_SECONDS = 7 * 24 * 3600
INVITE_LINK_SECONDS = 7 * 24 * 3600
RESET_LINK_SECONDS = 30 * 60
REQUIRE_TWO_FACTOR = "require_two_factor"


class LinkRefused(Exception):
    """Raised inside a write to undo it: the link is unknown, spent or expired, or cannot be used now."""


@dataclass(frozen=True)
class Organizer:
    id: str
    email: str
    is_admin: bool
    is_active: bool
    two_factor: bool
    totp_secret: str | None
    totp_last_step: int
    password_hash: str


def organizer_from(row: Row) -> Organizer:
    return Organizer(
        id=row["id"],
        email=row["email"],
        is_admin=bool(row["is_admin"]),
        is_active=bool(row["is_active"]),
        two_factor=row["totp_secret"] is not None,
        totp_secret=row["totp_secret"],
        totp_last_step=int(row["totp_last_step"]),
        password_hash=row["password_hash"],
    )


def micros() -> int:
    """Microseconds since the epoch: audit entries keep their order within a second."""
    return time.time_ns() // 1000


def login_email(email: str) -> str:
    """The form an organizer's address is kept and looked up under (see addresses.lookup_form)."""
    return addresses.lookup_form(email)


def email_problem(email: str) -> str | None:
    """None for an address the service takes for a new organizer, else the one message for a refused address."""
    try:
        addresses.parse(email)
    except addresses.AddressRefused as error:
        return str(error)
    return None


async def count_organizers(db: Database) -> int:
    return int(await db.fetch_val(queries.COUNT_ORGANIZERS) or 0)


async def find_by_email(db: Database, email: str) -> Organizer | None:
    if text_problem(email):  # no stored address holds such a character (and PostgreSQL cannot compare a NUL)
        return None
    row = await db.fetch_one(queries.SELECT_ORGANIZER_BY_EMAIL, {"email": login_email(email)})
    return organizer_from(row) if row else None


async def find_by_id(db: Database, organizer_id: str) -> Organizer | None:
    row = await db.fetch_one(queries.SELECT_ORGANIZER_BY_ID, {"id": organizer_id})
    return organizer_from(row) if row else None


async def list_organizers(db: Database) -> list[Organizer]:
    return [organizer_from(row) for row in await db.fetch_all(queries.SELECT_ORGANIZERS)]


async def insert_organizer(tx: Transaction, *, email: str, password_hash: str, is_admin: bool) -> str | None:
    """Inside a write: add an organizer; its id, or None when the address is taken."""
    row = await tx.fetch_one(
        queries.INSERT_ORGANIZER,
        {
            "id": new_id(),
            "email": login_email(email),
            "password_hash": password_hash,
            "is_admin": int(is_admin),
            "created_at": now(),
        },
    )
    return row["id"] if row else None


async def audit(
    tx: Transaction,
    organizer_id: str | None,
    action: str,
    detail: str = "",
    *,
    petition_id: str | None = None,
    public_event: str | None = None,
    public_ref: str | None = None,
) -> None:
    """Inside a write: record what an organizer (None: the service itself) did, never from where.
    `petition_id` files it under a petition (its organizers' dashboard); `public_event` (a timeline
    event kind: codes_revoked, round_opened, round_closed) and `public_ref` (what it was about, such
    as a round's id) also make it a public event on that petition's timeline, feed and page, so the
    petition's version and the cache version move in the same write (cached answers show it).
    `detail` names things by id, label and counts: never a signer's anything, never a draft's slug."""
    if public_event is not None:
        assert petition_id is not None, "a public event belongs to a petition"
        await tx.execute(queries.BUMP_PETITION_VERSION, {"id": petition_id})
        await tx.execute(queries.BUMP_CACHE_VERSION)
    await tx.execute(
        queries.INSERT_AUDIT,
        {
            "id": new_id(),
            "organizer_id": organizer_id,
            "action": action,
            "detail": detail,
            "at_micros": micros(),
            "petition_id": petition_id,
            "public_event": public_event,
            "public_ref": public_ref,
        },
    )


async def record(db: Database, organizer_id: str | None, action: str, detail: str = "") -> None:
    """Record an audit entry on its own."""

    async def unit(tx: Transaction) -> None:
        await audit(tx, organizer_id, action, detail)

    await db.write(unit)


async def audit_trail(db: Database, limit: int = 200) -> list[Row]:
    return await db.fetch_all(queries.SELECT_AUDIT, {"limit": limit})


async def petition_audit_trail(db: Database, petition_id: str, *, limit: int = 200) -> list[Row]:
    """A petition's audit entries, newest first: rows of (action, detail, at_micros, email)."""
    return await db.fetch_all(queries.SELECT_PETITION_AUDIT, {"petition_id": petition_id, "limit": limit})


async def create_link(
    tx: Transaction,
    *,
    kind: str,
    seconds: int,
    organizer_id: str | None = None,
    email: str | None = None,
    make_admin: bool = False,
    created_by: str | None = None,
) -> str:
    """Inside a write: a new single-use link token of `kind`."""
    token = new_token()
    await tx.execute(
        queries.INSERT_LINK,
        {
            "token_hash": token_hash(token),
            "kind": kind,
            "organizer_id": organizer_id,
            "email": email,
            "make_admin": int(make_admin),
            "created_by": created_by,
            "expires_at": now() + seconds,
        },
    )
    return token


async def link_is_usable(db: Database, token: str, kind: str) -> bool:
    row = await db.fetch_one(queries.SELECT_LINK, {"token_hash": token_hash(token), "kind": kind})
    return bool(row) and row["used_at"] is None and row["expires_at"] > now()  # type: ignore[index]


async def use_link(tx: Transaction, token: str, kind: str) -> dict[str, Any] | None:
    """Inside a write: spend a link; its row, or None when unknown, used or expired."""
    return await tx.fetch_one(queries.USE_LINK, {"token_hash": token_hash(token), "kind": kind, "now": now()})


async def two_factor_required(db: Database) -> bool:
    return await db.fetch_val(queries.SELECT_INSTANCE_SETTING, {"name": REQUIRE_TWO_FACTOR}) == "1"

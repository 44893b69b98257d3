"""Organizer sessions: an opaque random cookie, kept on the server only as a hash.

A session is rotated at login (a token captured before login is worthless after
it), ends at logout, after `SESSION_IDLE_MINUTES` without use and after
`SESSION_MAX_HOURS` in all, and dies with its organizer's deactivation.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from . import queries
from .database import Database, Transaction, now
from .organizers import Organizer, organizer_from
from .settings import Settings
from .tokens import new_token, token_hash

# Writing last_seen_at on every request would cost a write per page; once a minute is enough.
TOUCH_EVERY_SECONDS = 60
_UNSET = object()


@dataclass(frozen=True)
class Session:
    token_hash: str
    organizer: Organizer
    needs_second_factor: bool


def cookie_name(settings: Settings) -> str:
    # __Host-: only over https, only for this exact host, path /.
    return "__Host-session" if settings.is_https else "session"


async def start_session(tx: Transaction, organizer_id: str, *, needs_second_factor: bool) -> str:
    """Inside a write: a new session token for the organizer."""
    token = new_token()
    await tx.execute(
        queries.INSERT_SESSION,
        {
            "token_hash": token_hash(token),
            "organizer_id": organizer_id,
            "needs_second_factor": int(needs_second_factor),
            "now": now(),
        },
    )
    return token


async def end_session(tx: Transaction, token_hash_value: str) -> None:
    await tx.execute(queries.DELETE_SESSION, {"token_hash": token_hash_value})


async def current_session(request: Request) -> Session | None:
    """The request's live session, or None; looked up once per request."""
    cached = getattr(request.state, "session", _UNSET)
    if cached is not _UNSET:
        return cached  # type: ignore[no-any-return]
    session = await _lookup(request)
    request.state.session = session
    return session


async def _lookup(request: Request) -> Session | None:
    settings: Settings = request.app.state.settings
    token = request.cookies.get(cookie_name(settings))
    if not token:
        return None
    db: Database = request.app.state.db
    hashed = token_hash(token)
    row = await db.fetch_one(queries.SELECT_SESSION, {"token_hash": hashed})
    if row is None:
        return None
    moment = now()
    idle = moment - row["last_seen_at"] > settings.session_idle_minutes * 60
    too_old = moment - row["session_created_at"] > settings.session_max_hours * 3600
    if idle or too_old or not row["is_active"]:

        async def expire(tx: Transaction) -> None:
            await end_session(tx, hashed)

        await db.write(expire)
        return None
    if moment - row["last_seen_at"] >= TOUCH_EVERY_SECONDS:

        async def touch(tx: Transaction) -> None:
            await tx.execute(queries.TOUCH_SESSION, {"token_hash": hashed, "now": moment})

        await db.write(touch)
    return Session(hashed, organizer_from(row), bool(row["needs_second_factor"]))


def set_session_cookie(response: Response, token: str, settings: Settings) -> None:
    response.set_cookie(
        cookie_name(settings),
        token,
        max_age=settings.session_max_hours * 3600,
        path="/",
        secure=settings.is_https,
        httponly=True,
        samesite="lax",
    )


def clear_session_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(cookie_name(settings), path="/", secure=settings.is_https, httponly=True, samesite="lax")


async def purge_expired(db: Database, settings: Settings) -> None:
    """Delete sessions past their idle or absolute timeout (a browser that never came back)."""
    moment = now()
    values = {
        "idle_before": moment - settings.session_idle_minutes * 60,
        "created_before": moment - settings.session_max_hours * 3600,
    }

    async def unit(tx: Transaction) -> None:
        await tx.execute(queries.DELETE_EXPIRED_SESSIONS, values)

    await db.write(unit)

"""Participants of a round: a random key each, held through a bearer token that starts with `pt_`.

The token is 256 random bits (`pt_` + base64url), kept only as SHA-256("participant-token/v1" |
token). It is accepted on round routes only, and only for its own round.
"""

from __future__ import annotations

import hashlib
import secrets

from starlette.requests import Request

from ..database import Database
from ..encryption import DecryptionError
from ..errors import ApiError
from ..settings import Settings
from ..tokens import TOKEN_BYTES, has_token_shape
from . import pending_joins, queries
from .rounds import Found

COOKIE = "participant"  # the cookie that keeps a participant token on its round's path
TOKEN_PREFIX = "pt_"  # noqa: S105 (a prefix, not a secret)
# Messages, not secrets.
NO_TOKEN = "Send your participant token: Authorization: Bearer pt_..."  # noqa: S105
BAD_TOKEN = "This participant token is not valid for this round, or was replaced."  # noqa: S105


def new_token() -> str:
    """A fresh participant token: `pt_` and 43 base64url characters (256 bits)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)


def token_shape(text: str) -> str | None:
    """A participant token as typed or sent (spaces around it dropped), or None when it cannot be one."""
    token = text.strip()
    if not token.startswith(TOKEN_PREFIX) or not has_token_shape(token[len(TOKEN_PREFIX) :], TOKEN_BYTES):
        return None
    return token


def token_hash(token: str) -> str:
    """What the database keeps of a participant token: SHA-256("participant-token/v1" | token), hex."""
    return hashlib.sha256(f"participant-token/v1|{token}".encode()).hexdigest()


async def participant_of(db: Database, found: Found, token: str, *, settings: Settings) -> str | None:
    """The participant key that `token` holds in the round, or None (not a token of this round,
    or replaced). A counted participant is found in round_participants; a join waiting for its
    batch, in its sealed pending entry (pending_joins), opened with `settings`' ENCRYPTION_KEY."""
    values = {"token_hash": token_hash(token), "pending_key": pending_joins.pending_key(token)}
    for row in await db.fetch_all(queries.SELECT_PARTICIPANT_OR_WAITING, values):
        if row["round_id"] != found.round["id"]:
            continue
        if row["participant_key"] is not None:
            return str(row["participant_key"])
        try:
            content = pending_joins.unseal(settings, values["pending_key"], row["sealed"])
        except DecryptionError:
            return None
        if content["token_hash"] == values["token_hash"]:
            return str(content["participant"])
    return None


def cookie_token(request: Request) -> str | None:
    """The participant token of the request's `participant` cookie, or None (no cookie, or not a
    token's shape). The cookie is set for the round's path only; whose round it is, participant_of says."""
    return token_shape(request.cookies.get(COOKIE, ""))


async def cookie_participant(request: Request, found: Found) -> str | None:
    """The participant key of the request's cookie in the round (waiting joins included), or None."""
    token = cookie_token(request)
    if token is None:
        return None
    return await participant_of(request.app.state.db, found, token, settings=request.app.state.settings)


def bearer_token(request: Request) -> str | None:
    """The participant token of `Authorization: Bearer pt_...`, or None when none is sent. ApiError
    401 for a bearer token that is not a participant token's shape (an organizer's API token among them)."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if not value.strip():
        return None
    token = token_shape(value) if scheme.lower() == "bearer" else None
    if token is None:
        raise ApiError(401, BAD_TOKEN)
    return token


async def bearer_participant(request: Request, found: Found) -> str:
    """The participant key of the request's bearer token in the round; ApiError 401 when none is
    sent, or it is not valid for this round (another round's, replaced)."""
    token = bearer_token(request)
    if token is None:
        raise ApiError(401, NO_TOKEN)
    key = await participant_of(request.app.state.db, found, token, settings=request.app.state.settings)
    if key is None:
        raise ApiError(401, BAD_TOKEN)
    return key

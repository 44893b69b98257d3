"""Participants of a round: a random key each, held through a bearer token that starts with `pt_`.

The token is 256 random bits (`pt_` + base64url), kept only as SHA-256("participant-token/v1" |
token). It is accepted on round routes only, and only for its own round.
"""

from __future__ import annotations

import hashlib
import secrets

from starlette.requests import Request

from ..database import Database
from ..errors import ApiError
from ..tokens import TOKEN_BYTES, has_token_shape
from . import queries
from .rounds import Found

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


async def participant_of(db: Database, found: Found, token: str) -> str | None:
    """The participant key that `token` holds in the round, or None (not a token of this round,
    or replaced). A counted participant is found in round_participants; a join waiting for its
    batch, in its sealed pending entry (see joins)."""
    row = await db.fetch_one(queries.SELECT_PARTICIPANT_BY_TOKEN, {"token_hash": token_hash(token)})
    if row is not None and row["round_id"] == found.round["id"]:
        return str(row["participant_key"])
    return None


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
    key = await participant_of(request.app.state.db, found, token)
    if key is None:
        raise ApiError(401, BAD_TOKEN)
    return key

"""API tokens: `Authorization: Bearer <token>` acts as the organizer who made it."""

from __future__ import annotations

import time

from starlette.requests import Request

from . import queries
from .database import Database, Row, Transaction, now
from .errors import ApiError, ErrorCode
from .organizers import Organizer, audit, organizer_from, two_factor_required
from .text import text_problem
from .tokens import new_id, new_token, token_hash

MAX_NAME_LENGTH = 80
# Query parameters under which clients might try to pass a token; refused, never read.
TOKEN_QUERY_PARAMETERS = ("token", "access_token", "api_token", "key")
TWO_FACTOR_NEEDED = (
    "An administrator requires two-factor for every organizer: turn it on in your account settings "
    "(/organize/settings) before this token can be used."
)


def name_problem(name: str) -> str | None:
    """What is wrong with a token's name (already stripped), as a sentence, or None."""
    if not 1 <= len(name) <= MAX_NAME_LENGTH:
        return f"Name the token (1 to {MAX_NAME_LENGTH} characters)."
    if problem := text_problem(name):
        return f"The token's name {problem}."
    return None


async def create_token(tx: Transaction, organizer_id: str, name: str) -> str:
    """Inside a write: a new token, returned once; only its hash is kept."""
    token = new_token()
    await tx.execute(
        queries.INSERT_API_TOKEN,
        {
            "id": new_id(),
            "token_hash": token_hash(token),
            "organizer_id": organizer_id,
            "name": name,
            "created_at": now(),
        },
    )
    await audit(tx, organizer_id, "token created", name)
    return token


async def list_tokens(db: Database, organizer_id: str) -> list[Row]:
    return await db.fetch_all(queries.SELECT_API_TOKENS, {"organizer_id": organizer_id})


async def revoke_token(db: Database, organizer_id: str, token_id: str) -> bool:
    async def unit(tx: Transaction) -> bool:
        row = await tx.fetch_one(queries.REVOKE_API_TOKEN, {"id": token_id, "organizer_id": organizer_id, "now": now()})
        if row:
            await audit(tx, organizer_id, "token revoked", row["name"])
        return row is not None

    return await db.write(unit)


BEARER_ORGANIZER = "bearer_organizer"


async def bearer_organizer(request: Request) -> Organizer:
    """The organizer a request's bearer token acts as.

    Raises ApiError 401 when the token is missing, wrong or revoked, and 403
    (`two_factor_required`) while an admin requires two-factor and its organizer has not turned it on.
    """
    # Checked once a request: the route checks it before reading the body, the endpoint asks again.
    if (known := request.scope.get("state", {}).get(BEARER_ORGANIZER)) is not None:
        return known
    if any(name in request.query_params for name in TOKEN_QUERY_PARAMETERS):
        raise ApiError(401, "Send the token in the Authorization header, never in the address.")
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "Send an API token: Authorization: Bearer <token>.")
    db: Database = request.app.state.db
    row = await db.fetch_one(queries.SELECT_API_TOKEN, {"token_hash": token_hash(token.strip())})
    if row is None or not row["is_active"]:
        raise ApiError(401, "This API token is not valid, or was revoked.")
    organizer = organizer_from(row)
    # The token is valid, so 403 rather than 401: the account may act again once two-factor is on.
    if not organizer.two_factor and await two_factor_required(db):
        raise ApiError(403, TWO_FACTOR_NEEDED, code=ErrorCode.TWO_FACTOR_REQUIRED)
    today = time.strftime("%Y-%m-%d", time.gmtime())
    if row["last_used_day"] != today:

        async def mark(tx: Transaction) -> None:
            await tx.execute(queries.MARK_API_TOKEN_USED, {"id": row["token_id"], "day": today})

        await db.write(mark)
    if "state" in request.scope:
        request.scope["state"][BEARER_ORGANIZER] = organizer
    return organizer

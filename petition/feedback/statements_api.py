"""The statements and votes JSON API of a round: the list (public, cached), votes and additions with a
participant token, and organizers' moderation with an API token."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ..api import NO_STORE, json_response
from ..api_tokens import bearer_organizer
from ..database import Database
from ..errors import ApiError
from ..petitions import PetitionError
from ..petitions_api import CORS, JSON_TYPE, PUBLIC_CACHE_CONTROL
from . import rounds, statements, votes
from .participants import NO_TOKEN, TOKEN_PREFIX, bearer_participant, bearer_token
from .rounds import Found
from .statements import (
    ModerateRequest,
    StatementCreate,
    StatementList,
    StatementModerated,
    StatementQueue,
    StatementQueueQuery,
    StatementsModerated,
)
from .votes import VoteCast, VoteRecorded


async def list_statements(request: Request) -> Response:
    """GET /api/v1/rounds/{id}/statements: the approved statements ({id, text}), by id. With a
    participant token each also says whether it was "voted" on; with an organizer's API token a draft
    round of their petition is listed too. 404 for a draft or no round; 401 for a token not valid here."""
    db: Database = request.app.state.db
    round_id = request.path_params["id"]
    _, _, value = request.headers.get("authorization", "").partition(" ")
    if value.strip().startswith(TOKEN_PREFIX):
        found = await rounds.visible_to(db, round_id, None)
        key = await bearer_participant(request, found)
        listed = StatementList(statements=await statements.approved_for(db, round_id, key))
        return json_response(listed, headers=NO_STORE)
    if value.strip():
        organizer = await bearer_organizer(request)
        await rounds.visible_to(db, round_id, organizer.id)
        listed = StatementList(statements=await statements.approved(db, round_id))
        return Response(listed.model_dump_json(exclude_none=True), headers=NO_STORE, media_type=JSON_TYPE)
    return await _cached_public_list(request, round_id)


async def _cached_public_list(request: Request, round_id: str) -> Response:
    """The public list from the public cache (until the cache version moves; 304 on a matching ETag)."""
    db: Database = request.app.state.db

    async def build() -> tuple[bytes, str, dict[str, str]] | None:
        try:
            await rounds.visible_to(db, round_id, None)
        except PetitionError:
            return None
        listed = StatementList(statements=await statements.approved(db, round_id))
        body = listed.model_dump_json(exclude_none=True).encode()
        return body, JSON_TYPE, {**CORS, "cache-control": PUBLIC_CACHE_CONTROL}

    cache = request.app.state.public_cache
    cached = await cache.get_or_build(("round-statements", round_id), build)
    if cached is None:
        raise ApiError(404, rounds.NOT_FOUND)
    cache.remember(request.scope, cached)
    return cached.response(request.scope)


async def vote_on_statement(request: Request, body: VoteCast) -> Response:
    """PUT /api/v1/rounds/{id}/statements/{sid}/vote {"vote"}: the participant's vote, durable (200).
    404 for a draft round or a statement not approved in it; 401 without a valid participant token;
    409 when the round does not take votes."""
    db: Database = request.app.state.db
    round_id, statement_id = request.path_params["id"], request.path_params["sid"]
    token = bearer_token(request)
    if token is None:
        await rounds.visible_to(db, round_id, None)  # a draft's 404 first, as with a token
        raise ApiError(401, NO_TOKEN)
    await votes.cast(
        db, request.app.state.settings, round_id=round_id, token=token, statement_id=statement_id, vote=body.vote
    )
    return json_response(VoteRecorded(id=statement_id, vote=body.vote), headers=NO_STORE)


async def add_statement(request: Request, body: StatementCreate) -> Response:
    """POST /api/v1/rounds/{id}/statements {"text"}: a participant's statement (201 {id, status}).
    404 for a draft round; 401 without a valid participant token; 409 when the round takes no
    statements; 429 past STATEMENTS_PER_HOUR for this participant."""
    db: Database = request.app.state.db
    found = await rounds.visible_to(db, request.path_params["id"], None)
    key = await bearer_participant(request, found)
    statements.check_can_add(found)
    limiter = request.app.state.rate_limiter
    if not limiter.allow(f"statements:{key}", statements.STATEMENTS_PER_HOUR, statements.HOUR_SECONDS):
        raise ApiError(429, statements.TOO_MANY)
    added = await statements.add(db, found=found, text=body.text)
    if added.status == "approved":
        request.app.state.public_cache.clear()
    return json_response(added, 201, headers=NO_STORE)


async def organized(request: Request) -> tuple[str, Found]:
    """The token's organizer id and the round of the path, of a petition they organize; PetitionError(404) otherwise."""
    organizer = await bearer_organizer(request)
    return organizer.id, await rounds.editable_by(request.app.state.db, request.path_params["id"], organizer.id)


async def statement_queue(request: Request, query: StatementQueueQuery) -> StatementQueue:
    """GET /api/v1/rounds/{id}/statements/queue?status=&cursor=: a page of the round's statements of
    `status` (waiting unless given) with their flags (organizers); 422 for a cursor no page gave."""
    _, found = await organized(request)
    after = statements.decode_cursor(query.cursor) if query.cursor else ""
    return await statements.queue(request.app.state.db, found, status=query.status, after=after)


async def approve_statement(request: Request) -> StatementModerated:
    """POST /api/v1/rounds/{id}/statements/{sid}/approve: the statement is listed and voted on."""
    return await _moderate_one(request, "approve")


async def hide_statement(request: Request) -> StatementModerated:
    """POST /api/v1/rounds/{id}/statements/{sid}/hide: the statement leaves the list and voting."""
    return await _moderate_one(request, "hide")


async def moderate_statements(request: Request, body: ModerateRequest) -> StatementsModerated:
    """POST /api/v1/rounds/{id}/statements/moderate {"approve", "hide"}: many at once, all or nothing."""
    organizer_id, found = await organized(request)
    done = await statements.moderate(
        request.app.state.db, found=found, organizer_id=organizer_id, approve=body.approve, hide=body.hide
    )
    request.app.state.public_cache.clear()
    return StatementsModerated(statements=done)


async def _moderate_one(request: Request, action: str) -> StatementModerated:
    organizer_id, found = await organized(request)
    ids = [request.path_params["sid"]]
    [done] = await statements.moderate(
        request.app.state.db,
        found=found,
        organizer_id=organizer_id,
        approve=ids if action == "approve" else (),
        hide=ids if action == "hide" else (),
    )
    request.app.state.public_cache.clear()
    return done

"""The rounds' JSON API: an organizer's rounds and round codes with a bearer token, public reads of
open and closed rounds (CORS open, from the public cache)."""

from __future__ import annotations

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from .. import petitions
from ..api import JSON_TYPE, NO_STORE, json_response
from ..api_tokens import bearer_organizer
from ..codes import CodeBatchCreate, CodeBatchCreated, CodeBatchList, CodeBatchPublic
from ..database import Database
from ..errors import ApiError
from ..petitions_api import CORS, PUBLIC_CACHE_CONTROL, cached_public_json
from . import round_codes, rounds
from .participants import TOKEN_PREFIX
from .rounds import RoundCreate, RoundList, RoundOrganizerView, RoundUpdate

NO_PETITION = "There is no petition at this address."


async def organizer_id_of(request: Request) -> str | None:
    """The organizer behind the request's API token, or None without one. A participant's token
    (`pt_...`) is no organizer's: such a request is answered as the public's. A bad API token is 401."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if "authorization" not in request.headers or (
        scheme.lower() == "bearer" and value.strip().startswith(TOKEN_PREFIX)
    ):
        return None
    return (await bearer_organizer(request)).id


async def create_round(request: Request, body: RoundCreate) -> RoundOrganizerView:
    """POST /api/v1/petitions/{slug}/rounds: a new draft round (201)."""
    organizer = await bearer_organizer(request)
    db: Database = request.app.state.db
    petition = await petitions.editable_by(db, request.path_params["slug"], organizer.id)
    round_id = await rounds.create(
        db, request.app.state.settings, organizer_id=organizer.id, petition=petition, data=body
    )
    request.app.state.public_cache.clear()
    return await _organizer_view(request, round_id)


async def list_rounds(request: Request) -> Response:
    """GET /api/v1/petitions/{slug}/rounds: open and closed rounds of a visible petition; its
    organizers' token also lists drafts, with the organizers' view."""
    organizer_id = await organizer_id_of(request)
    db: Database = request.app.state.db
    settings = request.app.state.settings
    if organizer_id is not None:
        petition = await petitions.visible_to(db, request.path_params["slug"], organizer_id)
        if petition is not None and await petitions.is_organizer_of(db, petition["id"], organizer_id):
            rows = await rounds.rounds_of(db, petition["id"], drafts=True)
            views = RoundList(rounds=[rounds.organizer_view(row, petition, settings) for row in rows])
            return json_response(views, headers={**CORS, **NO_STORE})

    async def view(petition: dict[str, object]) -> BaseModel:
        rows = await rounds.rounds_of(db, str(petition["id"]), drafts=False)
        return RoundList(rounds=[rounds.public_view(row, petition, settings) for row in rows])

    return await cached_public_json(request, ("rounds", ""), view)


async def get_round(request: Request) -> Response:
    """GET /api/v1/rounds/{id}: an open or closed round of a visible petition; a draft only to its
    petition's organizers (404 for anyone else), who also see `statements_waiting`."""
    organizer_id = await organizer_id_of(request)
    db: Database = request.app.state.db
    round_id = request.path_params["id"]
    settings = request.app.state.settings
    if organizer_id is not None:
        found = await rounds.visible_to(db, round_id, organizer_id)
        if await petitions.is_organizer_of(db, found.petition["id"], organizer_id):
            view = rounds.organizer_view(await rounds.view_row(db, round_id), found.petition, settings)
            return json_response(view, headers={**CORS, **NO_STORE})

    async def build() -> tuple[bytes, str, dict[str, str]] | None:
        try:
            found = await rounds.visible_to(db, round_id, None)
        except petitions.PetitionError:
            return None
        body = rounds.public_view(await rounds.view_row(db, round_id), found.petition, settings)
        return body.model_dump_json().encode(), JSON_TYPE, {**CORS, "cache-control": PUBLIC_CACHE_CONTROL}

    cache = request.app.state.public_cache
    cached = await cache.get_or_build(("round", round_id), build)
    if cached is None:
        raise ApiError(404, rounds.NOT_FOUND)
    cache.remember(request.scope, cached)
    return cached.response(request.scope)


async def update_round(request: Request, body: RoundUpdate) -> RoundOrganizerView:
    """PATCH /api/v1/rounds/{id}: change a draft round's fields given."""
    organizer = await bearer_organizer(request)
    db, settings = request.app.state.db, request.app.state.settings
    await rounds.update(db, settings, organizer_id=organizer.id, round_id=request.path_params["id"], data=body)
    request.app.state.public_cache.clear()
    return await _organizer_view(request, request.path_params["id"])


async def open_round(request: Request) -> RoundOrganizerView:
    """POST /api/v1/rounds/{id}/open: draft -> open."""
    organizer = await bearer_organizer(request)
    await rounds.open_round(request.app.state.db, organizer_id=organizer.id, round_id=request.path_params["id"])
    request.app.state.public_cache.clear()
    return await _organizer_view(request, request.path_params["id"])


async def close_round(request: Request) -> RoundOrganizerView:
    """POST /api/v1/rounds/{id}/close: open -> closed."""
    organizer = await bearer_organizer(request)
    await rounds.close_round(request.app.state.db, organizer_id=organizer.id, round_id=request.path_params["id"])
    request.app.state.public_cache.clear()
    return await _organizer_view(request, request.path_params["id"])


async def _organizer_view(request: Request, round_id: str) -> RoundOrganizerView:
    found = await rounds.find(request.app.state.db, round_id)
    assert found is not None
    row = await rounds.view_row(request.app.state.db, round_id)
    return rounds.organizer_view(row, found.petition, request.app.state.settings)


async def create_round_codes(request: Request, body: CodeBatchCreate) -> CodeBatchCreated:
    """POST /api/v1/rounds/{id}/codes: a batch of single-use codes that join this round, returned this once (201)."""
    organizer = await bearer_organizer(request)
    db: Database = request.app.state.db
    found = await rounds.editable_by(db, request.path_params["id"], organizer.id)
    batch_id, made = await round_codes.make_batch(
        db,
        request.app.state.settings,
        found=found,
        organizer_id=organizer.id,
        count=body.count,
        label=body.label,
        keep_for_download=False,
    )
    return CodeBatchCreated(batch=batch_id, codes=made)


async def list_round_codes(request: Request) -> CodeBatchList:
    """GET /api/v1/rounds/{id}/codes: the round's code batches, with how many codes of each were used (never which)."""
    organizer = await bearer_organizer(request)
    db: Database = request.app.state.db
    found = await rounds.editable_by(db, request.path_params["id"], organizer.id)
    return CodeBatchList(batches=await round_codes.list_batches(db, request.app.state.settings, found.round["id"]))


async def revoke_round_codes(request: Request) -> CodeBatchPublic:
    """POST /api/v1/rounds/{id}/codes/{batch}/revoke: the batch's unused codes stop working."""
    organizer = await bearer_organizer(request)
    db: Database = request.app.state.db
    found = await rounds.editable_by(db, request.path_params["id"], organizer.id)
    return await round_codes.revoke(
        db,
        request.app.state.settings,
        organizer_id=organizer.id,
        round_id=found.round["id"],
        batch_id=request.path_params["batch"],
    )

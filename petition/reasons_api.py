"""The reasons JSON API: the public list of approved reasons (cached), and organizers' moderation."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from . import petitions, reasons
from .api_tokens import bearer_organizer
from .database import Row
from .petitions_api import cached_public_json
from .reasons import (
    ModerateRequest,
    ReasonList,
    ReasonListQuery,
    ReasonModerated,
    ReasonQueue,
    ReasonQueueQuery,
    ReasonsModerated,
)


async def api_public_list(request: Request, query: ReasonListQuery) -> Response:
    """GET /api/v1/petitions/{slug}/reasons?cursor=: a page of approved reasons ({id, text} only),
    in the order of their keyed hash; 404 for a draft or no petition, 422 for a cursor no page gave."""
    after = reasons.decode_cursor(query.cursor) if query.cursor else ""

    async def view(row: Row) -> ReasonList:
        return await reasons.public_page(request.app.state.db, row["id"], after)

    return await cached_public_json(request, ("reasons", after), view)


async def organized(request: Request) -> tuple[str, Row]:
    """The token's organizer id and the petition of the path they organize; PetitionError(404) otherwise."""
    organizer = await bearer_organizer(request)
    return organizer.id, await petitions.editable_by(request.app.state.db, request.path_params["slug"], organizer.id)


async def api_queue(request: Request, query: ReasonQueueQuery) -> ReasonQueue:
    """GET /api/v1/petitions/{slug}/reasons/queue?status=&cursor=: a page of the reasons of `status`
    (waiting, approved or hidden; waiting unless given) with their flags (organizers); 422 for another
    status or a cursor no page gave."""
    _, row = await organized(request)
    after = reasons.decode_cursor(query.cursor) if query.cursor else ""
    return await reasons.queue(request.app.state.db, row, after, status=query.status)


async def api_approve(request: Request) -> ReasonModerated:
    """POST /api/v1/petitions/{slug}/reasons/{reason_id}/approve: the reason is public (200)."""
    return await _moderate_one(request, "approve")


async def api_hide(request: Request) -> ReasonModerated:
    """POST /api/v1/petitions/{slug}/reasons/{reason_id}/hide: the reason is hidden (deleted after a purge)."""
    return await _moderate_one(request, "hide")


async def api_moderate(request: Request, body: ModerateRequest) -> ReasonsModerated:
    """POST /api/v1/petitions/{slug}/reasons/moderate: approve and hide many at once, all or nothing."""
    organizer_id, row = await organized(request)
    done = await reasons.moderate(
        request.app.state.db, petition=row, organizer_id=organizer_id, approve=body.approve, hide=body.hide
    )
    request.app.state.public_cache.clear()
    return ReasonsModerated(reasons=done)


async def _moderate_one(request: Request, action: str) -> ReasonModerated:
    organizer_id, row = await organized(request)
    ids = [request.path_params["reason_id"]]
    [done] = await reasons.moderate(
        request.app.state.db,
        petition=row,
        organizer_id=organizer_id,
        approve=ids if action == "approve" else (),
        hide=ids if action == "hide" else (),
    )
    request.app.state.public_cache.clear()
    return done

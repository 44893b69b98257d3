"""The updates JSON API: posting (organizers), the public list (cached), and one update's email progress."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from . import petition_updates
from .database import Database, Row
from .parameters import decode_cursor
from .petition_updates import UpdateCreate, UpdateList, UpdateListQuery, UpdatePosted, UpdateProgress
from .petitions_api import cached_public_json
from .reasons_api import organized


async def api_post_update(request: Request, body: UpdateCreate) -> UpdatePosted:
    """POST /api/v1/petitions/{slug}/updates: the update (201) with `recipients`, how many emails are
    queued in the background (0 unless `email_subscribers`); 409 for a draft, or for emailing after
    the petition's purge; 404 for a petition the token's organizer does not organize."""
    organizer_id, row = await organized(request)
    posted = await petition_updates.post(
        request.app.state.db, request.app.state.settings, petition=row, organizer_id=organizer_id, data=body
    )
    request.app.state.public_cache.clear()
    if posted.recipients:
        request.app.state.update_queuer.wake()
    return posted


async def api_public_updates(request: Request, query: UpdateListQuery) -> Response:
    """GET /api/v1/petitions/{slug}/updates?cursor=: a page of the petition's updates, newest first;
    404 for a draft or no petition, 422 for a cursor no page gave."""
    if query.cursor:
        decode_cursor(query.cursor)  # 422 before the cache is asked
    db: Database = request.app.state.db

    async def view(row: Row) -> UpdateList:
        return await petition_updates.public_page(db, row, query.cursor)

    return await cached_public_json(request, ("updates", query.cursor or ""), view)


async def api_update_progress(request: Request) -> UpdateProgress:
    """GET /api/v1/petitions/{slug}/updates/{update_id}: the update and its email's progress
    (recipients, sent, failed: counts only) to the petition's organizers; 404 otherwise."""
    _, row = await organized(request)
    return await petition_updates.progress(request.app.state.db, row, request.path_params["update_id"])

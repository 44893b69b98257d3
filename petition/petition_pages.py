"""The public petition pages: the home page's lists and each petition's page."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from . import petitions, queries
from .database import Database, now
from .sessions import current_session

HOME_OPEN_LIMIT = 50
HOME_CLOSED_LIMIT = 20
RECENTLY_CLOSED_DAYS = 30


async def home(request: Request) -> Response:
    """GET /: open petitions, and those closed in the last 30 days."""
    db: Database = request.app.state.db
    base_url = request.app.state.settings.base_url
    open_rows = await db.fetch_all(queries.SELECT_OPEN_PETITIONS, {"limit": HOME_OPEN_LIMIT})
    since = now() - RECENTLY_CLOSED_DAYS * 86400
    closed_rows = await db.fetch_all(
        queries.SELECT_RECENTLY_CLOSED_PETITIONS, {"since": since, "limit": HOME_CLOSED_LIMIT}
    )
    context = {
        "open": [petitions.public_view(row, base_url) for row in open_rows],
        "closed": [petitions.public_view(row, base_url) for row in closed_rows],
    }
    return request.app.state.templates.TemplateResponse(request, "home.html", context)


async def petition_page(request: Request) -> Response:
    """GET /p/{slug}: the petition; a draft only to its organizers."""
    db: Database = request.app.state.db
    session = await current_session(request)
    organizer_id = session.organizer.id if session and not session.needs_second_factor else None
    row = await petitions.visible_to(db, request.path_params["slug"], organizer_id)
    if row is None:
        context = {"title": "Not found", "message": "There is no petition at this address."}
        return request.app.state.templates.TemplateResponse(request, "error.html", context, status_code=404)
    view = petitions.public_view(row, request.app.state.settings.base_url)
    context = {"petition": view, "floor": row["timeline_floor"], "draft": row["state"] == "draft"}
    response = request.app.state.templates.TemplateResponse(request, "petition.html", context)
    if row["state"] == "draft":
        response.headers["cache-control"] = "no-store"
    return response

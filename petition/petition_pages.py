"""The public petition pages: the home page's lists and each petition's page."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from . import petitions, queries
from .database import Database, Row, now
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
    """GET /p/{slug}: the petition; a draft only to its organizers. Visitors get the cached page."""
    session = await current_session(request)
    if session is None:
        cached = await request.app.state.public_cache.get_or_build(
            ("page", request.path_params["slug"]), lambda: _render_public_page(request)
        )
        return cached.response(request) if cached else _not_found(request)
    organizer_id = None if session.needs_second_factor else session.organizer.id
    row = await petitions.visible_to(request.app.state.db, request.path_params["slug"], organizer_id)
    if row is None:
        return _not_found(request)
    response = _render(request, row)
    response.headers["cache-control"] = "no-store"  # an organizer's view, drafts included
    return response


async def _render_public_page(request: Request) -> tuple[bytes, str, dict[str, str]] | None:
    row = await petitions.visible_to(request.app.state.db, request.path_params["slug"], None)
    if row is None:
        return None
    return bytes(_render(request, row).body), "text/html; charset=utf-8", {"cache-control": "public, max-age=5"}


def _render(request: Request, row: Row) -> Response:
    view = petitions.public_view(row, request.app.state.settings.base_url)
    context = {"petition": view, "floor": row["timeline_floor"], "draft": row["state"] == "draft"}
    return request.app.state.templates.TemplateResponse(request, "petition.html", context)


def _not_found(request: Request) -> Response:
    context = {"title": "Not found", "message": "There is no petition at this address."}
    return request.app.state.templates.TemplateResponse(request, "error.html", context, status_code=404)

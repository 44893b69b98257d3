"""The dashboard in the JSON API: GET /api/v1/petitions/{slug}/dashboard, for the petition's organizers."""

from __future__ import annotations

from starlette.requests import Request

from . import petitions
from .api_tokens import bearer_organizer
from .dashboard import Dashboard, dashboard


async def api_dashboard(request: Request) -> Dashboard:
    """GET /api/v1/petitions/{slug}/dashboard: the dashboard (dashboard.Dashboard) of a petition the
    token's organizer organizes, drafts included; 404 for any other (PetitionError, as for every
    organizer read); never cached (no-store: the route is an organizer's)."""
    organizer = await bearer_organizer(request)
    db = request.app.state.db
    row = await petitions.editable_by(db, request.path_params["slug"], organizer.id)
    return await dashboard(db=db, row=row, settings=request.app.state.settings)

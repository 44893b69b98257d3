"""Public HTML pages, and the service's health and status endpoints."""

from __future__ import annotations

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from . import __version__, queries
from .database import Database
from .errors import ApiError


async def privacy(request: Request) -> Response:
    """GET /privacy: in plain words, what is and is not kept about a signer."""
    return request.app.state.templates.TemplateResponse(request, "privacy.html")


async def healthz(request: Request) -> Response:
    """GET /healthz: 200 while the process serves requests; touches nothing else."""
    return PlainTextResponse("ok", headers={"cache-control": "no-store"})


class StatusPublic(BaseModel):
    status: str
    version: str
    schema_version: int


async def api_status(request: Request) -> StatusPublic:
    """GET /api/v1/status: the service version and the schema version it reads from the database."""
    db: Database = request.app.state.db
    try:
        schema_version = await db.fetch_val(queries.SELECT_SCHEMA_VERSION)
    except Exception:  # the database is unreachable: a load balancer should look elsewhere
        raise ApiError(503) from None
    return StatusPublic(status="ok", version=__version__, schema_version=schema_version or 0)

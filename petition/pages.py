"""Public HTML pages, and the service's health and status endpoints."""

from __future__ import annotations

import functools
from pathlib import Path

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from . import __version__, downloads, queries
from .database import Database
from .errors import ApiError


async def privacy(request: Request) -> Response:
    """GET /privacy: in plain words, what is and is not kept about a signer."""
    return request.app.state.templates.TemplateResponse(request, "privacy.html")


async def healthz(request: Request) -> Response:
    """GET /healthz: 200 while the process serves requests; touches nothing else."""
    return PlainTextResponse("ok", headers={"cache-control": "no-store"})


# The journalists' verifier is one file of the package, handed out as it is: what runs is what
# anyone can read here and in the repository.
VERIFIER = Path(__file__).with_name("verify.py")


@functools.cache
def verifier_source() -> bytes:
    """petition/verify.py, read once."""
    return VERIFIER.read_bytes()


async def verify_script(request: Request) -> Response:
    """GET /verify.py: the verifier a journalist runs (`python verify.py <petition address>`), to save."""
    headers = {**downloads.attachment("verify.py"), "cache-control": "public, max-age=300"}
    return Response(verifier_source(), media_type="text/x-python; charset=utf-8", headers=headers)


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

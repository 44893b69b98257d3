"""The app factory: settings in, a Starlette app out, with the one list of routes."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount, Route

from . import pages
from .api import ApiRoute
from .csrf import CSRFMiddleware
from .database import Database
from .errors import handle_http_exception
from .middleware import AccessLogMiddleware, BodyLimitMiddleware, ErrorMiddleware, SecurityHeadersMiddleware
from .migrations import check_current
from .openapi import openapi_document
from .settings import Settings, load_settings
from .templates import STATIC_DIR, CachedStaticFiles, make_templates

logger = logging.getLogger("petition")


def make_routes() -> list[BaseRoute]:
    """Every URL the service answers, in one ordered list."""
    return [
        Route("/", pages.home, name="home"),
        Route("/privacy", pages.privacy, name="privacy"),
        Route("/healthz", pages.healthz, name="healthz"),
        Route("/api/openapi.json", openapi_document, name="openapi"),
        ApiRoute(
            "/api/v1/status",
            pages.api_status,
            summary="Service and schema version; 503 when the database is unreachable",
            response=pages.StatusPublic,
            tags=["service"],
            errors=[503],
        ),
        Mount("/static", CachedStaticFiles(directory=STATIC_DIR), name="static"),
    ]


def create_app(settings: Settings | None = None) -> Starlette:
    """Settings (read from the environment when not given) -> the ASGI app."""
    settings = settings or load_settings()
    db = Database(settings.database_url, readers=settings.database_readers)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await db.connect()
        try:
            # `python main.py` migrates before it serves; this only makes sure.
            await check_current(db)
            yield
        finally:
            await db.disconnect()

    middleware = [
        Middleware(AccessLogMiddleware, enabled=settings.access_log),
        Middleware(SecurityHeadersMiddleware, settings=settings),
        Middleware(ErrorMiddleware),
        Middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes),
        Middleware(CSRFMiddleware, settings=settings),
    ]
    app = Starlette(
        routes=make_routes(),
        middleware=middleware,
        exception_handlers={HTTPException: handle_http_exception},
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.db = db
    app.state.templates = make_templates(settings)
    app.state.openapi = None
    return app

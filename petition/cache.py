"""A small cache of rendered public responses, with ETags, dropped whenever any petition changes.

Every change to a petition (and every closed batch of signatures) moves the
database's `cache_version`. A process drops its cache when its own writes
change a petition, and reads the version at most once a second to notice other
processes' changes, so a newsroom polling a petition every second costs one
dictionary lookup per request.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from . import queries
from .database import Database, Row

CHECK_EVERY_SECONDS = 1.0
MAX_ENTRIES = 5000


class Cached:
    """A rendered response with its headers encoded once, answered without building a Response."""

    def __init__(self, body: bytes, media_type: str, headers: dict[str, str]) -> None:
        self.body = body
        self.etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
        common = [(b"etag", self.etag.encode())] + [(k.encode(), v.encode()) for k, v in headers.items()]
        self.full_headers = [
            (b"content-type", media_type.encode()),
            (b"content-length", str(len(body)).encode()),
            *common,
        ]
        self.not_modified_headers = common

    def response(self, request: Request) -> ASGIApp:
        """The response, or 304 when the client already holds this version."""
        if self.etag in request.headers.get("if-none-match", ""):
            return _Raw(304, self.not_modified_headers, b"")
        return _Raw(200, self.full_headers, self.body)


class _Raw:
    """An ASGI response from ready-made parts (a cache hit should cost next to nothing)."""

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status, "headers": list(self.headers)})
        await send({"type": "http.response.body", "body": self.body})


class PublicCache:
    """Rendered public responses keyed by what they show, valid while `cache_version` stays put."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.entries: dict[tuple[str, str], Cached] = {}
        self.rows: dict[str, Row | None] = {}
        self.version: int | None = None
        self.checked_at = 0.0

    def clear(self) -> None:
        """Forget everything (after this process changed a petition)."""
        self.entries.clear()
        self.rows.clear()
        self.checked_at = 0.0

    async def _refresh(self) -> None:
        moment = time.monotonic()
        if moment - self.checked_at < CHECK_EVERY_SECONDS:
            return
        self.checked_at = moment
        version = await self.db.fetch_val(queries.SELECT_CACHE_VERSION)
        if version != self.version:
            self.entries.clear()
            self.rows.clear()
            self.version = version

    async def petition_row(self, slug: str) -> Row | None:
        """A petition's row as of the cache version (signing reads it at every request).

        It may be up to a second stale for changes made by another process, so whatever
        must be exact (is the petition still open?) is checked again inside the write.
        """
        await self._refresh()
        if slug not in self.rows:
            if len(self.rows) >= MAX_ENTRIES:
                self.rows.clear()
            self.rows[slug] = await self.db.fetch_one(queries.SELECT_PETITION_BY_SLUG, {"slug": slug})
        return self.rows[slug]

    async def get_or_build(
        self,
        key: tuple[str, str],
        build: Callable[[], Awaitable[tuple[bytes, str, dict[str, str]] | None]],
    ) -> Cached | None:
        """The cached entry, or `build()`'s (body, media type, headers) cached; None when build finds nothing."""
        await self._refresh()
        cached = self.entries.get(key)
        if cached is not None:
            return cached
        built = await build()
        if built is None:
            return None
        body, media_type, headers = built
        cached = Cached(body, media_type, headers)
        if len(self.entries) >= MAX_ENTRIES:
            self.entries.clear()
        self.entries[key] = cached
        return cached

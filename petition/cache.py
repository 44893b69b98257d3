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
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from . import queries
from .database import Database

CHECK_EVERY_SECONDS = 1.0
MAX_ENTRIES = 5000


@dataclass(frozen=True)
class Cached:
    body: bytes
    media_type: str
    etag: str
    headers: tuple[tuple[str, str], ...]

    def response(self, request: Request) -> Response:
        """The response, or 304 when the client already holds this version."""
        headers = {"etag": self.etag, **dict(self.headers)}
        if self.etag in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers=headers)
        return Response(self.body, media_type=self.media_type, headers=headers)


class PublicCache:
    """Rendered public responses keyed by what they show, valid while `cache_version` stays put."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.entries: dict[tuple[str, str], Cached] = {}
        self.version: int | None = None
        self.checked_at = 0.0

    def clear(self) -> None:
        """Forget everything (after this process changed a petition)."""
        self.entries.clear()
        self.checked_at = 0.0

    async def _refresh(self) -> None:
        moment = time.monotonic()
        if moment - self.checked_at < CHECK_EVERY_SECONDS:
            return
        self.checked_at = moment
        version = await self.db.fetch_val(queries.SELECT_CACHE_VERSION)
        if version != self.version:
            self.entries.clear()
            self.version = version

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
        etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
        cached = Cached(body, media_type, etag, tuple(headers.items()))
        if len(self.entries) >= MAX_ENTRIES:
            self.entries.clear()
        self.entries[key] = cached
        return cached

"""A small cache of rendered public responses, with ETags, dropped whenever any petition changes.

Every change to a petition (and every closed batch of signatures) moves the
database's `cache_version`; so does an open petition's deadline passing, which
changes its page before the housekeeping job stamps it closed. A process drops its cache when its own writes
change a petition, and reads the version at most once a second to notice other
processes' changes, so a newsroom polling a petition every second costs one
dictionary lookup per request.

An answer given to an anonymous GET is also remembered under its exact path and
query string (and the hour, since timelines grow with the clock), so the next
such request is answered before routing, by the middleware (`fast`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import Awaitable, Callable

from starlette.types import Receive, Scope, Send

from . import petitions, queries
from .database import Database, Row, now

CHECK_EVERY_SECONDS = 1.0
MAX_ENTRIES = 5000


class Cached:
    """A rendered response with its headers encoded once, answered without building a Response."""

    def __init__(self, body: bytes, media_type: str, headers: dict[str, str]) -> None:
        self.body = body
        self.generation = 0
        self.etag = b'"' + hashlib.sha256(body).hexdigest()[:20].encode() + b'"'
        common = [(b"etag", self.etag)] + [(k.encode(), v.encode()) for k, v in headers.items()]
        self.full_headers = [
            (b"content-type", media_type.encode()),
            (b"content-length", str(len(body)).encode()),
            *common,
        ]
        self.not_modified_headers = common

    def response(self, scope: Scope) -> RawResponse:
        """The response, or 304 when the client already holds this version (If-None-Match)."""
        for name, value in scope["headers"]:
            if name == b"if-none-match" and self.etag in value:
                return RawResponse(304, self.not_modified_headers, b"")
        return RawResponse(200, self.full_headers, self.body)


class RawResponse:
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
        self.building: dict[tuple[str, str], asyncio.Future[Cached | None]] = {}
        # (path, query string, hour) -> (entry, route template for the access log)
        self.by_address: dict[tuple[str, bytes, int], tuple[Cached, str]] = {}
        self.version: int | None = None
        self.checked_at = 0.0
        # The next deadline of an open petition: what was rendered before it is stale after it.
        self.next_deadline: int | None = None
        # Moves at every clear: a build that began before a clear must not store what it saw.
        self.generation = 0

    def clear(self) -> None:
        """Forget everything (after this process changed a petition)."""
        self._forget()
        self.checked_at = 0.0

    def _forget(self) -> None:
        self.entries.clear()
        self.rows.clear()
        self.by_address.clear()
        self.generation += 1

    async def _refresh(self) -> None:
        moment = time.monotonic()
        deadline_passed = self.next_deadline is not None and time.time() >= self.next_deadline
        if moment - self.checked_at < CHECK_EVERY_SECONDS and not deadline_passed:
            return
        self.checked_at = moment
        version = await self.db.fetch_val(queries.SELECT_CACHE_VERSION)
        if version != self.version or deadline_passed:
            self._forget()
            self.version = version
            self.next_deadline = await self.db.fetch_val(queries.SELECT_NEXT_DEADLINE, {"now": now()})

    async def petition_row(self, slug: str) -> Row | None:
        """A petition's row as of the cache version (signing reads it at every request).

        It may be up to a second stale for changes made by another process, so whatever
        must be exact (is the petition still open?) is checked again inside the write.
        """
        await self._refresh()
        if slug not in self.rows:
            if len(self.rows) >= MAX_ENTRIES:
                self.rows.clear()
            # By id or published slug, as every route taking {slug} accepts either.
            self.rows[slug] = await self.db.fetch_one(queries.SELECT_PETITION_BY_ID_OR_SLUG, {"key": slug})
        row = self.rows[slug]
        return None if row is None else petitions.as_of(row)

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
        # One build per key at a time: when a batch empties the cache under load, the
        # requests that arrive meanwhile wait for that build instead of each making their own.
        waiting = self.building.get(key)
        if waiting is not None:
            with contextlib.suppress(asyncio.CancelledError):
                return await asyncio.shield(waiting)
            if not waiting.cancelled():  # this request itself was cancelled
                raise asyncio.CancelledError
            return await self._build(key, build)  # the builder's request went away: build here
        future: asyncio.Future[Cached | None] = asyncio.get_running_loop().create_future()
        self.building[key] = future
        try:
            cached = await self._build(key, build)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # retrieved here, so a build nobody else awaited is not reported
            raise
        finally:
            self.building.pop(key, None)
        future.set_result(cached)
        return cached

    async def _build(
        self, key: tuple[str, str], build: Callable[[], Awaitable[tuple[bytes, str, dict[str, str]] | None]]
    ) -> Cached | None:
        generation = self.generation
        built = await build()
        if built is None:
            return None
        body, media_type, headers = built
        cached = Cached(body, media_type, headers)
        cached.generation = generation
        if generation != self.generation:
            return cached  # the cache was emptied meanwhile: answer with it, but do not keep it
        if len(self.entries) >= MAX_ENTRIES:
            self.entries.clear()
        self.entries[key] = cached
        return cached

    def remember(self, scope: Scope, entry: Cached) -> None:
        """Answer the next anonymous GET of this exact address with `entry`, before routing."""
        if entry.generation != self.generation:
            return  # built from what the cache held before it was emptied
        if len(self.by_address) >= MAX_ENTRIES:
            self.by_address.clear()
        template = str(getattr(scope.get("route"), "path", "(no route)"))
        self.by_address[(scope["path"], scope["query_string"], quarter_now())] = (entry, template)

    async def fast(self, scope: Scope) -> tuple[RawResponse, str] | None:
        """The remembered answer to this anonymous GET and its route template, if there is one."""
        address = (scope["path"], scope["query_string"], quarter_now())
        if address not in self.by_address:  # most addresses (/healthz, say) never touch the database
            return None
        try:
            await self._refresh()
        except Exception:  # the database is away: let the route answer (503, or its own error)
            return None
        found = self.by_address.get(address)
        if found is None:
            return None
        entry, template = found
        return entry.response(scope), template


def quarter_now() -> int:
    """The quarter hour now (seconds since the epoch // 900): remembered answers last no longer, since
    their "as of" may turn with the hour, and a petition's local day with a quarter hour of UTC."""
    return int(time.time()) // 900

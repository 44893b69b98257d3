"""The dashboard in the JSON API: GET /api/v1/petitions/{slug}/dashboard, for the petition's organizers.

Building a dashboard reads a dozen tables (about 50 ms for a petition 90 days old), and an
organizer's script or a wall screen may ask for it every second. So each process keeps the JSON it
built for a petition for MEMO_SECONDS at most, and only while the public cache's generation stands:
a closed batch or any change to a petition (in this process at once, in another within a second)
makes the next request build it again. What moves without a petition changing (mail sent or
failing, flyer scans added up, a revoked batch, an audit entry) shows within MEMO_SECONDS. The
answer is never cached by anyone else (no-store).

The token and the caller's place among the petition's organizers are checked before anything
memoized is given. Those checks cost two or three database reads, more than the rest of a
memoized answer, so a caller that passed both checks for a petition is remembered for
CALLER_SECONDS (one second), under the SHA-256 of its token: a script polling every second costs a
dictionary lookup. The price, written in the README: for at most that second after a token is
revoked, its organizer deactivated or removed from the petition, a caller that had just read the
dashboard can go on reading it (never anything it could not read a second before).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from . import petitions
from .api import JSON_TYPE, NO_STORE
from .api_tokens import bearer_organizer
from .dashboard import dashboard
from .petitions import PetitionError
from .tokens import token_hash

MEMO_SECONDS = 5
CALLER_SECONDS = 1.0
MAX_ENTRIES = 5000
NOT_FOUND = "There is no petition at this address that you organize."


class DashboardMemo:
    """Built dashboards' JSON by petition id: (cache generation, time slot, the build's future)."""

    def __init__(self) -> None:
        self.entries: dict[str, tuple[int, int, asyncio.Future[bytes]]] = {}
        # (token hash, path's slug or id) -> (until, in monotonic seconds; the petition's id)
        self.callers: dict[tuple[str, str], tuple[float, str]] = {}

    def known_caller(self, key: tuple[str, str]) -> str | None:
        """The petition id a caller was let read within CALLER_SECONDS, or None."""
        found = self.callers.get(key)
        if found is None or found[0] <= time.monotonic():
            return None
        return found[1]

    def remember_caller(self, key: tuple[str, str], petition_id: str) -> None:
        if len(self.callers) >= MAX_ENTRIES:
            self.callers.clear()
        self.callers[key] = (time.monotonic() + CALLER_SECONDS, petition_id)

    async def get(self, key: str, generation: int, build: Callable[[], Awaitable[bytes]]) -> bytes:
        """The JSON built for `key` in this generation and time slot, or `build()`'s; one build at a
        time per key, the requests that come meanwhile waiting for it."""
        slot = int(time.monotonic() / MEMO_SECONDS)
        found = self.entries.get(key)
        if found is not None and found[:2] == (generation, slot):
            with contextlib.suppress(asyncio.CancelledError):
                return await asyncio.shield(found[2])
            if not found[2].cancelled():  # this request itself was cancelled
                raise asyncio.CancelledError
            return await build()  # the building request went away: build here, keep nothing
        if len(self.entries) >= MAX_ENTRIES:
            self.entries.clear()
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.entries[key] = (generation, slot, future)
        try:
            body = await build()
        except BaseException as error:
            if self.entries.get(key, (0, 0, None))[2] is future:
                del self.entries[key]
            if isinstance(error, asyncio.CancelledError):
                future.cancel()
            else:
                future.set_exception(error)
                future.exception()  # retrieved here, so a build nobody else awaited is not reported
            raise
        future.set_result(body)
        return body


async def api_dashboard(request: Request) -> Response:
    """GET /api/v1/petitions/{slug}/dashboard: the dashboard (dashboard.Dashboard) of a petition the
    token's organizer organizes, drafts included; PetitionError 404 for any other (as for every
    organizer read); never cached by a client or a proxy (no-store)."""
    state = request.app.state
    cache = state.public_cache
    memo: DashboardMemo = state.dashboards
    slug = request.path_params["slug"]
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    caller = (token_hash(token.strip()), slug) if scheme.lower() == "bearer" and token.strip() else None
    # The row as of the cache's version (read once a second at most), as signing reads it.
    row = await cache.petition_row(slug)
    # Only a plain request is answered from memory: a token in the query must still be refused.
    known = memo.known_caller(caller) if caller is not None and not request.scope["query_string"] else None
    if row is None or known != row["id"]:
        organizer = await bearer_organizer(request)
        if row is None or not await petitions.is_organizer_of(state.db, row["id"], organizer.id):
            raise PetitionError(404, NOT_FOUND)
        if caller is not None:
            memo.remember_caller(caller, row["id"])

    async def build() -> bytes:
        built = await dashboard(db=state.db, row=row, settings=state.settings)
        return built.model_dump_json().encode()

    body = await state.dashboards.get(row["id"], cache.generation, build)
    return Response(body, media_type=JSON_TYPE, headers=NO_STORE)

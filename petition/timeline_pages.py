"""What journalists read and embed: the timeline (JSON, CSV), the count on a day, the badge, the feed.

Each answer is rendered once per cache version and hour (its last bucket grows with the
clock) and served from the public cache, with an ETag (304 for a matching If-None-Match)
and a Cache-Control: it changes only when a batch closes or the petition changes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.types import ASGIApp

from . import downloads, petition_updates, timeline, zones
from .chart import badge
from .database import Database, Row, now
from .petitions import public_view
from .petitions_api import CORS
from .signing import open_petition
from .timeline import CountQuery, Timeline, TimelineEvent, TimelineQuery

CACHE_CONTROL = "public, max-age=60"
FEED_UPDATES = 100  # the newest updates a feed holds
JSON_TYPE = "application/json"
Built = tuple[bytes, str, dict[str, str]]


async def cached(
    request: Request, row: Row, kind: str, parts: str, build: Callable[[Row], Awaitable[Built]]
) -> ASGIApp:
    """The cached answer for this petition, `kind` and `parts`."""
    # The last bucket (and "as of") moves with the clock, not only with batches: each UTC hour, and
    # each local day, which in a zone half an hour off starts at half past a UTC hour.
    moment = now()
    key = (kind, f"{row['slug']}|{parts}|{moment // 3600}|{zones.local_date(moment, row['time_zone'])}")

    async def build_row() -> Built:
        return await build(row)

    cache = request.app.state.public_cache
    entry = await cache.get_or_build(key, build_row)
    assert entry is not None  # build never returns None
    cache.remember(request.scope, entry)  # the same for every visitor
    return entry.response(request.scope)


async def api_timeline(request: Request, query: TimelineQuery) -> ASGIApp:
    """GET /api/v1/petitions/{slug}/timeline: by day or hour, as JSON or CSV."""

    async def build(row: Row) -> Built:
        bucket = timeline.check_bucket(row, query.bucket)
        data = await timeline.timeline(request.app.state.db, row, bucket)
        headers = {**CORS, "cache-control": CACHE_CONTROL}
        if query.format == "csv":
            headers.update(downloads.inline(f"{row['slug']}-by-{bucket}.csv"))
            return timeline.as_csv(data).encode(), "text/csv; charset=utf-8", headers
        return data.model_dump_json().encode(), JSON_TYPE, headers

    row = await open_petition(request)  # 404 for unknown slugs and drafts
    timeline.check_bucket(row, query.bucket)
    return await cached(request, row, "timeline", f"{query.bucket}|{query.format}", build)


async def api_count(request: Request, query: CountQuery) -> ASGIApp:
    """GET /api/v1/petitions/{slug}/count?at=YYYY-MM-DD: the count at the end of that day (or now)."""
    row = await open_petition(request)
    if query.at is not None:
        timeline.parse_day(query.at, row)

    async def build(row: Row) -> Built:
        answer = await timeline.count_at(request.app.state.db, row, query.at)
        return answer.model_dump_json().encode(), JSON_TYPE, {**CORS, "cache-control": CACHE_CONTROL}

    return await cached(request, row, "count", str(query.at), build)


async def badge_svg(request: Request) -> ASGIApp:
    """GET /p/{slug}/badge.svg: a small image with the count, to embed anywhere."""
    templates = request.app.state.templates

    async def build(row: Row) -> Built:
        body = templates.get_template("badge.svg").render(badge=badge(row["signature_count"]))
        headers = {**downloads.inline(f"{row['slug']}-badge.svg"), "cache-control": CACHE_CONTROL}
        return body.encode(), "image/svg+xml; charset=utf-8", headers

    return await cached(request, await open_petition(request), "badge", "", build)


async def feed(request: Request) -> ASGIApp:
    """GET /p/{slug}/feed.atom: the petition's events as an Atom feed."""
    settings = request.app.state.settings
    templates = request.app.state.templates
    db: Database = request.app.state.db

    async def build(row: Row) -> Built:
        data = await timeline.timeline(db, row, row["timeline_floor"])
        view = public_view(row, settings.base_url)
        events = described(data, view.goal, view.slug)
        # The organizers' updates too, each its own entry, dated to the floor like every event.
        posted = (await petition_updates.public_page(db, row, None, FEED_UPDATES)).updates
        newest = max([data.events[-1].at if data.events else data.as_of, *(update.posted_on for update in posted)])
        context = {
            "petition": view,
            "events": list(reversed(events)),  # newest first, as feed readers expect
            "updates": posted,
            "updated": newest,
            "floor": row["timeline_floor"],
            "base_url": settings.base_url,
        }
        body = templates.get_template("feed.atom").render(context)
        headers = {**downloads.inline(f"{row['slug']}.atom"), "cache-control": CACHE_CONTROL}
        return body.encode(), "application/atom+xml; charset=utf-8", headers

    return await cached(request, await open_petition(request), "feed", "", build)


class Described:
    """An event with the sentence that tells it, a stable id for feeds, and the path (from the site's
    root) of the page that says more, or ""."""

    def __init__(self, event: TimelineEvent, text: str, path: str = "") -> None:
        self.at = event.at
        self.kind = event.kind
        self.text = text
        self.path = path
        self.id = f"{event.kind}-{event.at}" + (f"-{event.signatures}" if event.signatures else "")
        if event.round:
            self.id += f"-{event.round}"


WORDS = {
    "opened": "The petition opened for signatures.",
    "text_changed": "The text of the petition was changed.",
    "closed": "The petition closed.",
    "purged": "Identifying data destroyed.",
}


def described(data: Timeline, goal: int, slug: str) -> list[Described]:
    """The timeline's events in words, each linked to its page where it has one: a text change to
    the petition's versions (/p/{slug}/versions), a feedback round's opening and close to the round."""
    out = []
    for event in data.events:
        path = ""
        if event.kind == "milestone":
            reached = f"{event.signatures:,} verified signatures"
            text = f"{reached}: the goal of {goal:,} is reached." if event.goal else f"{reached}."
        elif event.kind == "codes_revoked":
            batches = event.batches or 1
            text = (
                "A batch of printed codes was revoked: its unused codes no longer sign."
                if batches == 1
                else f"{batches:,} batches of printed codes were revoked: their unused codes no longer sign."
            )
        elif event.kind in ("round_opened", "round_closed"):
            verb = "opened" if event.kind == "round_opened" else "closed"
            text = f"A feedback round {verb}: “{event.question}”."
            path = f"/r/{event.round}"
        else:
            text = WORDS[event.kind]
            if event.kind == "text_changed":
                path = f"/p/{slug}/versions"
        out.append(Described(event, text, path))
    return out

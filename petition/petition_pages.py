"""The public petition pages: the home page's lists and each petition's page."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from . import chart, codes, periods, petition_updates, petitions, queries, reasons, timeline
from .database import Database, Row, now
from .sessions import current_session
from .sign_pages import flyer_code, sign_form_context
from .timeline_pages import described

HOME_OPEN_LIMIT = 50
SHOWN_NAMES_LIMIT = 500
HOME_CLOSED_LIMIT = 20
RECENTLY_CLOSED_DAYS = 30
# A body longer than this shows its first paragraph (or this many characters of it, cut at a
# word), and the rest folded in <details>: on a phone, the way to sign is a short scroll away.
BODY_SHOWN_CHARACTERS = 500


async def home(request: Request) -> Response:
    """GET /: open petitions, and those closed in the last 30 days."""
    db: Database = request.app.state.db
    base_url = request.app.state.settings.base_url
    open_rows = await db.fetch_all(queries.SELECT_OPEN_PETITIONS, {"limit": HOME_OPEN_LIMIT, "now": now()})
    since = now() - RECENTLY_CLOSED_DAYS * 86400
    closed_rows = await db.fetch_all(
        queries.SELECT_RECENTLY_CLOSED_PETITIONS, {"since": since, "limit": HOME_CLOSED_LIMIT, "now": now()}
    )
    context = {
        "open": [petitions.public_view(row, base_url) for row in open_rows],
        "closed": [petitions.public_view(row, base_url) for row in closed_rows],
    }
    return request.app.state.templates.TemplateResponse(request, "home.html", context)


async def petition_page(request: Request) -> Response:
    """GET /p/{slug}: the petition; a draft only to its organizers. Visitors get the cached page."""
    session = await current_session(request)
    # A code or a flyer's mark in the address makes the page this visitor's own: never cached.
    if session is None and "code" not in request.query_params and "f" not in request.query_params:
        # Per quarter hour too: the chart's last bucket and its "as of" move with the clock, and
        # every zone's midnight falls on a quarter hour of UTC (India's on a half, Nepal's on
        # a quarter), so a local day's page never outlives its day.
        after = reasons.cursor_or_start(request.query_params.get("reasons", ""))
        key = ("page", f"{request.path_params['slug']}|{after}|{now() // 900}")
        cache = request.app.state.public_cache
        cached = await cache.get_or_build(key, lambda: _render_public_page(request))
        if cached is None:
            return _not_found(request)
        cache.remember(request.scope, cached)
        return cached.response(request.scope)
    flyer = flyer_code(request.query_params.get("f", ""))
    if "code" in request.query_params:
        # A tear-off tab's QR code: straight to the code's form, filled in. Only a printed code
        # is carried on: anything else is dropped, without an error.
        query = {"code": codes.printed_code(request.query_params["code"]), "f": flyer}
        target = request.app.url_path_for("sign_page", slug=request.path_params["slug"], method="code")
        kept = urlencode({name: value for name, value in query.items() if value})
        return RedirectResponse(f"{target}?{kept}" if kept else str(target), 303, headers={"cache-control": "no-store"})
    organizer_id = None if session is None or session.needs_second_factor else session.organizer.id
    row = await petitions.visible_to(request.app.state.db, request.path_params["slug"], organizer_id)
    if row is None:
        return _not_found(request)
    response = await _render(request, row, flyer=flyer)
    response.headers["cache-control"] = "no-store"  # an organizer's view, or a flyer's mark in the address
    return response


async def _render_public_page(request: Request) -> tuple[bytes, str, dict[str, str]] | None:
    row = await petitions.visible_to(request.app.state.db, request.path_params["slug"], None)
    if row is None:
        return None
    page = await _render(request, row)
    return bytes(page.body), "text/html; charset=utf-8", {"cache-control": "public, max-age=5"}


async def _render(request: Request, row: Row, *, flyer: str = "") -> Response:
    view = petitions.public_view(row, request.app.state.settings.base_url)
    shown, folded = body_parts(view.body)
    names = await request.app.state.db.fetch_all(
        queries.SELECT_SIGNER_NAMES, {"petition_id": row["id"], "limit": SHOWN_NAMES_LIMIT}
    )
    # A page of approved reasons (?reasons= a cursor the page gave; any other shows the first).
    after = reasons.cursor_or_start(request.query_params.get("reasons", ""))
    shown_reasons = await reasons.public_page(request.app.state.db, row["id"], after)
    # The latest updates, newest first (the rest through the API's pages).
    updates = await petition_updates.public_page(request.app.state.db, row, None)
    settings = request.app.state.settings
    context = {
        "petition": view,
        "row": row,
        "deadline_is_longest": periods.deadline_is_longest(row, settings),
        "closed_by_deadline": periods.closed_by_deadline(petitions.as_of(row)),
        "destroyed_at": petitions.iso(periods.destroyed_at(row), row["time_zone"]),
        "floor": row["timeline_floor"],
        "draft": row["state"] == "draft",
        "names": names,
        "reasons": shown_reasons,
        "updates": updates,
        "body_shown": shown,
        "body_folded": folded,
        "flyer": flyer,
        **sign_form_context(row),
        **(await timeline_context(request.app.state.db, row, view.goal, view.url) if row["opened_at"] else {}),
    }
    return request.app.state.templates.TemplateResponse(request, "petition.html", context)


def body_parts(body: str, shown: int = BODY_SHOWN_CHARACTERS) -> tuple[str, str]:
    """A petition's body -> (what the page shows, what it folds away: "" when nothing is).

    A body of `shown` characters or fewer (or a little more: folding a few lines helps no one)
    is shown whole; a longer one, its first paragraph, or the first `shown` characters of that
    paragraph cut at a space when the paragraph is long.
    """
    body = body.replace("\r\n", "\n").strip()
    if len(body) <= shown * 5 // 4:
        return body, ""
    first, _, rest = body.partition("\n\n")
    if len(first) > shown * 5 // 4:
        cut = first.rfind(" ", 0, shown)
        cut = cut if cut > 0 else shown
        return first[:cut].rstrip() + " …", (first[cut:].lstrip() + "\n\n" + rest).strip()
    return first.strip(), rest.strip()


async def timeline_context(db: Database, row: Row, goal: int, public_url: str) -> dict[str, object]:
    """The chart, its table, the events, the badge and its embed code, by the petition's floor."""
    data = await timeline.timeline(db, row, row["timeline_floor"])
    return {
        "timeline": data,
        "drawing": chart.chart(data, goal, row["timeline_floor"]),
        "events": described(data, goal, row["slug"]),
        "badge": chart.badge(row["signature_count"]),
        "embed_code": chart.embed_code(public_url, row["title"]),
    }


def _not_found(request: Request) -> Response:
    context = {"title": "Not found", "message": "There is no petition at this address."}
    return request.app.state.templates.TemplateResponse(request, "error.html", context, status_code=404)

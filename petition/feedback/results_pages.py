"""The results page of a round, /r/{id}/results: what the room agrees on, its opinion groups, the map.

Visitors get the cached page of a round whose results are public; a signed-in organizer of the petition
gets it drawn for them (organizers-only rounds and drafts included), never cached.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response

from ..petitions import PetitionError
from ..sessions import current_session
from . import opinion_map, rounds
from .results_api import RoundResults, csv_download, readable, stored
from .round_pages_organizer import organizer_and_round
from .rounds import Found

PUBLIC_PAGE_CACHE_CONTROL = "public, max-age=5"


async def results_page(request: Request) -> Response:
    """GET /r/{id}/results: the results page; the error page (404) for a round the visitor may not read."""
    round_id = request.path_params["id"]
    session = await current_session(request)
    organizer_id = None if session is None or session.needs_second_factor else session.organizer.id
    if organizer_id is None:
        cache = request.app.state.public_cache
        cached = await cache.get_or_build(("round_results_page", round_id), lambda: _render_public(request))
        if cached is None:
            return _not_found(request)
        cache.remember(request.scope, cached)
        return cached.response(request.scope)
    try:
        found = await readable(request.app.state.db, round_id, organizer_id)
    except PetitionError:
        return _not_found(request)
    response = await _render(request, found)
    response.headers["cache-control"] = "no-store"  # an organizer's view
    return response


async def _render_public(request: Request) -> tuple[bytes, str, dict[str, str]] | None:
    try:
        found = await readable(request.app.state.db, request.path_params["id"], None)
    except PetitionError:
        return None
    page = await _render(request, found)
    return bytes(page.body), "text/html; charset=utf-8", {"cache-control": PUBLIC_PAGE_CACHE_CONTROL}


async def _render(request: Request, found: Found) -> Response:
    results, dots = await stored(request.app.state.db, found)
    groups = [(group.id, group.size) for group in results.groups]
    drawing = None
    if results.as_of is not None:
        # render() escapes every text it puts in the SVG; the rest is numbers and our own classes.
        drawing = Markup(opinion_map.render(dots, groups, results.participants or 0))  # noqa: S704
    context = {
        "round": found.round,
        "petition": found.petition,
        "results": results,
        "texts": {statement.id: statement.text for statement in results.statements},
        "sides": _sides(results),
        "opinion_map": drawing,
        "min_cell_size": request.app.state.settings.min_cell_size,
        "draft": found.round["state"] == "draft",
        "organizers_only": found.round["results"] != "public",
    }
    return request.app.state.templates.TemplateResponse(request, "round_results.html", context)


def _sides(results: RoundResults) -> dict[str, dict[str, list[str]]]:
    """Each group's representative statement ids by direction: {"A": {"agree": [...], "disagree": [...]}}."""
    sides: dict[str, dict[str, list[str]]] = {}
    for group in results.groups:
        sides[group.id] = {"agree": [], "disagree": []}
        for item in group.representative:
            sides[group.id][item.direction].append(item.id)
    return sides


def _not_found(request: Request) -> Response:
    context: dict[str, Any] = {"title": "Not found", "message": rounds.NOT_FOUND}
    return request.app.state.templates.TemplateResponse(request, "error.html", context, status_code=404)


async def results_csv(request: Request) -> Response:
    """GET /organize/rounds/{id}/results.csv: the results' CSV for a signed-in organizer of the round's
    petition (as the API gives it to their token); the login redirect, or 404 for anyone else."""
    found = await organizer_and_round(request)
    if isinstance(found, Response):
        return found
    return await csv_download(request.app.state.db, found[1])

"""The round page /r/{id}: one statement at a time to vote on, a form to add one, plain form posts.

The page is a participant's own (their next statement, how many remain), so it is never cached.
A participant is known by the token in the round's "participant" cookie (set when they join).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from .. import petitions
from ..database import Database
from ..errors import ApiError
from ..petitions import PetitionError
from ..sessions import current_session
from ..text import one_line_end, text_problem
from . import participants, rounds, statements, votes
from .rounds import Found

NO_STORE = {"cache-control": "no-store"}
JOIN_FIRST = "Join this round to vote or add statements."
NO_VOTE = "Choose Agree, Disagree or Pass."
ADDED = {
    "waiting": "Thank you: your statement was added. It will appear once an organizer approves it.",
    "approved": "Thank you: your statement was added, and others can now vote on it.",
}
# Where a join refused as a repeat (a double tap) sends a device that holds a token of the round.
JOINED_ALREADY = "already"
JOINED_NOTICE = "This device has joined this round already."


async def find_visible(request: Request) -> Found:
    """The round of the path if anyone may see it (open or closed); a 404 page otherwise (drafts too)."""
    try:
        return await rounds.visible_to(request.app.state.db, request.path_params["id"], None)
    except PetitionError as error:
        raise ApiError(error.status, error.message) from None


async def results_shown(request: Request, found: Found) -> bool:
    """Whether the round's results page answers this visitor, so the round's pages link to it: public
    results to everyone; organizers-only results to the petition's signed-in organizers only."""
    if found.round["results"] == "public":
        return True
    session = await current_session(request)
    if session is None or session.needs_second_factor:
        return False
    return await petitions.is_organizer_of(request.app.state.db, found.petition["id"], session.organizer.id)


async def round_page(
    request: Request,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    """GET /r/{id}: the round; for a participant the next statement to vote on and the form to add one."""
    found = await find_visible(request)
    return await render(request, found, errors=errors, values=values, status=status)


async def render(
    request: Request,
    found: Found,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    db: Database = request.app.state.db
    key = await participants.cookie_participant(request, found)
    accepting = rounds.is_accepting(found)
    statement, remaining = (None, 0)
    if key is not None and accepting:
        statement, remaining = await votes.next_statement(db, found, key)
    added = request.query_params.get("added", "")
    joined = request.query_params.get("joined") == JOINED_ALREADY and key is not None
    settings = request.app.state.settings
    context: dict[str, Any] = {
        "round": found.round,
        "petition": found.petition,
        "accepting": accepting,
        "participant": key is not None,
        "statement": statement,
        "remaining": remaining,
        "can_add": key is not None and accepting and bool(found.round["allow_statements"]),
        "notice": None if errors else ADDED.get(added, JOINED_NOTICE if joined else None),
        "errors": errors or {},
        "values": values or {},
        "max_length": statements.MAX_LENGTH,
        "min_cell_size": settings.min_cell_size,
        "participants": rounds.shown_participants(found.round, settings.min_cell_size),
        "results_shown": await results_shown(request, found),
    }
    return request.app.state.templates.TemplateResponse(
        request, "round.html", context, status_code=status, headers=NO_STORE
    )


def back_to_round(found: Found, query: str = "") -> Response:
    """A 303 to the round page (never cached)."""
    return RedirectResponse(f"/r/{found.round['id']}{query}", status_code=303, headers=NO_STORE)


async def vote(request: Request) -> Response:
    """POST /r/{id}/vote (statement, vote): the participant's vote, then back to the round page (303)."""
    found = await find_visible(request)
    async with request.form() as form:
        statement_id = str(form.get("statement") or "")
        chosen = str(form.get("vote") or "")
    token = participants.cookie_token(request)
    if token is None or await participants.cookie_participant(request, found) is None:
        return await render(request, found, errors={"form": JOIN_FIRST}, status=401)
    if chosen not in votes.VOTE_VALUES or not statement_id:
        return await render(request, found, errors={"form": NO_VOTE}, status=422)
    try:
        db = request.app.state.db
        await votes.cast(
            db,
            request.app.state.settings,
            round_id=found.round["id"],
            token=token,
            statement_id=statement_id,
            vote=chosen,
        )
    except PetitionError as error:
        return await render(request, found, errors={"form": error.message}, status=error.status)
    return back_to_round(found)


def statement_problem(text: str) -> str | None:
    """What is wrong with a statement typed in the form (already stripped), as a sentence, or None."""
    if not text:
        return "Enter your statement."
    if len(text) > statements.MAX_LENGTH:
        return f"Your statement must be {statements.MAX_LENGTH} characters or fewer."
    if problem := text_problem(text, lines=True, direction_marks=True):
        return f"Your statement {problem}."
    return None


async def add_statement(request: Request) -> Response:
    """POST /r/{id}/statements (text): a participant's statement, then back to the round page with a notice."""
    found = await find_visible(request)
    async with request.form() as form:
        text = one_line_end(str(form.get("text") or "")).strip()
    key = await participants.cookie_participant(request, found)
    if key is None:
        return await render(request, found, errors={"form": JOIN_FIRST}, status=401)
    if problem := statement_problem(text):
        return await render(request, found, errors={"statement-text": problem}, values={"text": text}, status=422)
    try:
        statements.check_can_add(found)
    except PetitionError as error:
        return await render(request, found, errors={"form": error.message}, status=error.status)
    limiter = request.app.state.rate_limiter
    if not limiter.allow(f"statements:{key}", statements.STATEMENTS_PER_HOUR, statements.HOUR_SECONDS):
        return await render(request, found, errors={"form": statements.TOO_MANY}, values={"text": text}, status=429)
    added = await statements.add(request.app.state.db, found=found, text=text)
    if added.status == "approved":
        request.app.state.public_cache.clear()
    return back_to_round(found, f"?added={added.status}")

"""A round's statements page for its petition's organizers: the moderation queue, and the approved
and hidden lists (issue 22: participants' statements go through the same moderation as reasons).

As the reasons page (petition/reason_pages.py) does: one list at a time (`?status=waiting`,
`approved` or `hidden`), a page of statements.QUEUE_PAGE_SIZE in the order of the statements'
random ids (never of writing), each with a checkbox and its flags as a warning; one form acts on
the selected ones ("Approve selected", "Hide selected"), all or nothing, answered with a redirect
(303) back to the list it came from, which says what happened.
"""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from ..database import Database
from ..field_messages import FORM
from ..login import redirect
from ..organizers import Organizer
from ..petitions import PetitionError
from . import queries, statements
from .round_pages_organizer import organizer_and_round, round_path, round_task_page
from .rounds import Found

ACTIONS = {"approve": "statements-approved", "hide": "statements-hidden"}
NOTHING_SELECTED = "Select at least one statement, then choose Approve selected or Hide selected."
NO_ACTION = "Choose Approve selected or Hide selected."
GONE = "One of the selected statements is not among this round's statements any more: nothing was changed."
# The checkboxes' name; a refused selection's message is linked to the first box (`statement-1`).
FIELD = "statement"


def status_of(request: Request, given: str | None = None) -> str:
    """The list asked for; the queue (waiting) for anything else."""
    status = given if given is not None else request.query_params.get("status", "")
    return status if status in statements.STATUSES else "waiting"


def cursor_or_start(cursor: str) -> str:
    """For a page's link: the statement id a cursor names, or "" (the first page) for a bad one."""
    try:
        return statements.decode_cursor(cursor) if cursor else ""
    except PetitionError:
        return ""


async def counts(db: Database, round_id: str) -> dict[str, int]:
    """How many of the round's statements are waiting, approved and hidden."""
    rows = await db.fetch_all(queries.COUNT_STATEMENTS_BY_STATUS, {"round_id": round_id})
    found = {row["status"]: int(row["n"]) for row in rows}
    return {status: found.get(status, 0) for status in statements.STATUSES}


async def statements_page(
    request: Request,
    *,
    errors: dict[str, str] | None = None,
    status: int = 200,
    shown: str | None = None,
    cursor: str | None = None,
) -> Response:
    """GET /organize/rounds/{id}/statements?status=&cursor=: one list of the round's statements, to moderate."""
    found = await organizer_and_round(request)
    if isinstance(found, Response):
        return found
    organizer, round_found = found
    return await render(request, organizer, round_found, errors=errors, status=status, shown=shown, cursor=cursor)


async def render(
    request: Request,
    organizer: Organizer,
    found: Found,
    *,
    errors: dict[str, str] | None = None,
    status: int = 200,
    shown: str | None = None,
    cursor: str | None = None,
) -> Response:
    """The page of one list (`shown`, else the query's), from the page `cursor` names (else the query's)."""
    db: Database = request.app.state.db
    shown = status_of(request, shown)
    cursor = cursor if cursor is not None else request.query_params.get("cursor", "")
    after = cursor_or_start(cursor)
    # The flags are computed off the event loop (statements.queue), with the petition's sensitive words.
    listed = await statements.queue(db, found, status=shown, after=after)
    if errors and FIELD in errors and not listed.statements:  # no box left to link the message to
        errors = {FORM: errors[FIELD]}
    more = None
    if listed.next_cursor:
        query = urlencode({"status": shown, "cursor": listed.next_cursor})
        more = f"{round_path(found.round['id'], 'statements')}?{query}"
    context = {
        "shown": shown,
        "cursor": cursor if after else "",
        "listed": listed.statements,
        "more": more,
        "counts": await counts(db, found.round["id"]),
    }
    return await round_task_page(
        request, "organize_round_statements.html", organizer, found, context, errors=errors, status=status
    )


async def moderate_statements(request: Request) -> Response:
    """POST /organize/rounds/{id}/statements: approve or hide the selected statements, all or nothing;
    the list it came from again with the error summary when refused (422, or 404 for an id not of the round)."""
    found = await organizer_and_round(request)
    if isinstance(found, Response):
        return found
    organizer, round_found = found
    async with request.form() as form:
        action = str(form.get("action") or "")
        # An empty value is no statement selected (a hand-made form), not a statement gone missing.
        selected = [str(value) for value in form.getlist(FIELD) if str(value)]
        came_from = status_of(request, str(form.get("status") or ""))
        # The page the form was on, so an error answers on that page, not on the list's first.
        cursor = str(form.get("cursor") or "")

    async def refused(errors: dict[str, str], status: int) -> Response:
        return await render(
            request, organizer, round_found, errors=errors, status=status, shown=came_from, cursor=cursor
        )

    if action not in ACTIONS:
        return await refused({FORM: NO_ACTION}, 422)
    if not selected:
        return await refused({FIELD: NOTHING_SELECTED}, 422)
    try:
        done = await statements.moderate(
            request.app.state.db,
            found=round_found,
            organizer_id=organizer.id,
            approve=selected if action == "approve" else (),
            hide=selected if action == "hide" else (),
        )
    except PetitionError as error:
        return await refused({FORM: GONE if error.status == 404 else error.message}, error.status)
    request.app.state.public_cache.clear()
    path = round_path(round_found.round["id"], "statements")
    deleted = any(item.status == "deleted" for item in done)
    notice = "statements-deleted" if deleted else ACTIONS[action]
    return redirect(f"{path}?{urlencode({'status': came_from, 'done': notice})}")

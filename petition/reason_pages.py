"""The petition's reasons page for its organizers: the moderation queue, and the approved and hidden lists.

One list at a time (`?status=waiting`, `approved` or `hidden`), a page of QUEUE_PAGE_SIZE in the
order of the reasons' keyed hash (never of writing), each with a checkbox and its flags as a
warning; one form acts on the selected ones ("Approve selected", "Hide selected"), answered with a
redirect (303) back to the list it came from, which says what happened.
"""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from . import reasons
from .login import redirect
from .petition_tasks import organizer_and_petition, task_page, task_path
from .petitions import PetitionError

ACTIONS = {"approve": "reasons-approved", "hide": "reasons-hidden"}
NOTHING_SELECTED = "Select at least one reason, then choose Approve selected or Hide selected."
NO_ACTION = "Choose Approve selected or Hide selected."


def status_of(request: Request, given: str | None = None) -> str:
    """The list asked for; the queue (waiting) for anything else."""
    status = given if given is not None else request.query_params.get("status", "")
    return status if status in reasons.STATUSES else "waiting"


async def reasons_page(
    request: Request,
    *,
    errors: dict[str, str] | None = None,
    status: int = 200,
    shown: str | None = None,
    cursor: str | None = None,
) -> Response:
    """GET /organize/petitions/{id}/reasons?status=&cursor=: one list of the petition's reasons, to moderate."""
    found = await organizer_and_petition(request)
    if isinstance(found, Response):
        return found
    _, row = found
    db = request.app.state.db
    shown = status_of(request, shown)
    cursor = cursor if cursor is not None else request.query_params.get("cursor", "")
    after = reasons.cursor_or_start(cursor)
    listed = await reasons.queue(db, row, after, status=shown)
    if errors and "reason" in errors and not listed.reasons:  # no box left to link the message to
        errors = {"form": errors["reason"]}
    more = None
    if listed.next_cursor:
        more = f"{task_path(row, 'reasons')}?{urlencode({'status': shown, 'cursor': listed.next_cursor})}"
    context = {
        "shown": shown,
        "cursor": cursor if after else "",
        "listed": listed.reasons,
        "more": more,
        "counts": await reasons.counts(db, row["id"]),
        "purged": row["purged_at"] is not None,
    }
    return task_page(request, "petition_reasons.html", found, context, errors=errors, status=status)


async def moderate_reasons(request: Request) -> Response:
    """POST /organize/petitions/{id}/reasons: approve or hide the selected reasons, all or nothing."""
    found = await organizer_and_petition(request)
    if isinstance(found, Response):
        return found
    organizer, row = found
    async with request.form() as form:
        action = str(form.get("action") or "")
        # An empty value is no reason selected (a hand-made form), not a reason gone missing.
        selected = [str(value) for value in form.getlist("reason") if str(value)]
        came_from = status_of(request, str(form.get("status") or ""))
        # The page the form was on, so an error answers on that page, not on the list's first.
        cursor = str(form.get("cursor") or "")
    if action not in ACTIONS:
        return await reasons_page(request, errors={"form": NO_ACTION}, status=422, shown=came_from, cursor=cursor)
    if not selected:
        errors = {"reason": NOTHING_SELECTED}
        return await reasons_page(request, errors=errors, status=422, shown=came_from, cursor=cursor)
    try:
        await reasons.moderate(
            request.app.state.db,
            petition=row,
            organizer_id=organizer.id,
            approve=selected if action == "approve" else (),
            hide=selected if action == "hide" else (),
        )
    except PetitionError as error:
        message = error.message
        if error.status == 404:
            message = "One of the selected reasons is not among this petition's reasons any more: nothing was changed."
        return await reasons_page(
            request, errors={"form": message}, status=error.status, shown=came_from, cursor=cursor
        )
    request.app.state.public_cache.clear()
    key = "reasons-deleted" if action == "hide" and row["purged_at"] is not None else ACTIONS[action]
    return redirect(f"{task_path(row, 'reasons')}?{urlencode({'status': came_from, 'done': key})}")

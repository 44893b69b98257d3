"""The petition's updates page for its organizers: post an update (and email it), and follow each email's progress.

The form takes a title, a plain-text body and, when anyone asked for updates and the petition's
addresses are not destroyed, "Also email the N people who asked for updates". Posting answers
with a redirect (303) back to the page, which lists every update with its email's progress in
words ("sent 340 of 1,200; 2 failed, retrying"): counts only, never an address.
"""

from __future__ import annotations

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from . import petition_updates, queries
from .field_messages import FieldWords, field_messages
from .petition_tasks import done, organizer_and_petition, task_page, task_path
from .petition_updates import UpdateCreate
from .petitions import PetitionError

UPDATE_WORDS = {"title": FieldWords("The title"), "body": FieldWords("The text")}


async def updates_page(
    request: Request,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    """GET /organize/petitions/{id}/updates: the form, and every update with its email's progress."""
    found = await organizer_and_petition(request)
    if isinstance(found, Response):
        return found
    _, row = found
    db = request.app.state.db
    purged = row["purged_at"] is not None
    posted = await petition_updates.all_progress(db, row)
    context = {
        "subscribers": 0 if purged else int(await db.fetch_val(queries.COUNT_CONTACTS, {"petition_id": row["id"]})),
        "purged": purged,
        "posted": [(update, petition_updates.progress_words(update, purged=purged)) for update in posted],
        "max_title": petition_updates.MAX_TITLE,
        "max_body": petition_updates.MAX_BODY,
    }
    return task_page(request, "petition_updates.html", found, context, errors=errors, values=values, status=status)


async def post_update(request: Request) -> Response:
    """POST /organize/petitions/{id}/updates: post the update (and queue its email when asked)."""
    found = await organizer_and_petition(request)
    if isinstance(found, Response):
        return found
    organizer, row = found
    async with request.form() as form:
        typed = {"title": str(form.get("title") or ""), "body": str(form.get("body") or "")}
        email = form.get("email_subscribers") == "yes"
    try:
        data = UpdateCreate.model_validate({**typed, "email_subscribers": email})
    except ValidationError as error:
        return await updates_page(request, errors=field_messages(error, UPDATE_WORDS), values=typed, status=422)
    try:
        posted = await petition_updates.post(
            request.app.state.db, request.app.state.settings, petition=row, organizer_id=organizer.id, data=data
        )
    except PetitionError as error:
        return await updates_page(request, errors={"form": error.message}, values=typed, status=error.status)
    request.app.state.public_cache.clear()
    if posted.recipients:
        request.app.state.update_queuer.wake()
    return done(task_path(row, "updates"), "update-emailed" if posted.recipients else "update-posted")

"""A petition's organizer pages, one per task: dashboard, organizers, publishing, closing, purging, deleting a draft.

Each task has its own page under /organize/petitions/{id} with the same sub-navigation
(signing codes: code_pages; flyers: flyer_pages; settings: petition_forms). Every action is a
POST answered with a redirect (303) to its task's page, which says what happened with a fixed
notice picked by a short key in the query (`?done=codes-made`): a reload or Back never sends the
form again, and no address carries anything the organizer typed. A refused form is answered
with its page again (4xx), the error summary at the top and each message beside its field.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from . import chart, dashboard, organizers, periods, petition_updates, petitions, purge, queries
from .database import Database, Row, Transaction
from .login import guard, page, redirect
from .organizers import Organizer, audit
from .petitions import PetitionError

# What a page says after a redirect, by the key in its `?done=`; an unknown key says nothing.
NOTICES = {
    "draft-saved": "The draft is saved. Publish it when it is ready.",
    "saved": "Your changes are saved.",
    "published": "The petition is published: it is open for signatures.",
    "closed": "The petition is closed: it takes no more signatures. Its page and count stay.",
    "purged": "Its identifying data is destroyed. Its count, timeline, log, shown names and approved reasons stay.",
    "codes-made": "Codes made. Download them now: they can be downloaded once.",
    "codes-revoked": "The batch's unused codes no longer work.",
    "flyers-made": "Flyers made: preview them, then download the PDF to print.",
    "flyers-drawing": "The PDF is being drawn: its progress is in the table below.",
    "organizer-added": "They can now organize this petition.",
    "organizer-removed": "They no longer organize this petition.",
    "left": "You no longer organize that petition.",
    "draft-deleted": "The draft is deleted, with everything made for it.",
    "reasons-approved": "The selected reasons are approved: they are on the petition's page.",
    "reasons-hidden": "The selected reasons are hidden: only this petition's organizers see them.",
    "reasons-deleted": "The selected reasons are deleted: after the purge nothing unapproved is kept.",
    "update-posted": "The update is posted: it is on the petition's page and in its feed.",
    "update-emailed": "The update is posted, and its email is on its way: its progress is below.",
}
STATE_ACTIONS = ("publish", "close", "purge")
DONE_AFTER = {"publish": "published", "close": "closed", "purge": "purged"}
NOT_FOUND = "There is no petition at this address that you organize."
NO_ORGANIZER_ADDRESS = "Enter the organizer's login address, like name@example.org."
NO_SUCH_ORGANIZER = "No active organizer has that login address; an admin can invite them."
NOT_IN_TEAM = "That organizer does not organize this petition."
LAST_ORGANIZER = "A petition needs at least one organizer."


def notice_of(request: Request) -> str | None:
    """The fixed notice a redirect asked for (`?done=key`), or None."""
    return NOTICES.get(request.query_params.get("done", ""))


def done(path: str, key: str) -> Response:
    """The 303 after an action: to `path`, whose page then shows NOTICES[key]."""
    assert key in NOTICES, key
    return redirect(f"{path}?done={key}")


def task_path(row: Row, task: str = "") -> str:
    """/organize/petitions/{id}, or one of its task pages (`codes`, `flyers`, `organizers`)."""
    return f"/organize/petitions/{row['id']}" + (f"/{task}" if task else "")


def takes_codes(row: Row) -> bool:
    return "code" in json.loads(row["verification"])


async def organizer_and_petition(request: Request) -> tuple[Organizer, Row] | Response:
    """The signed-in organizer and the petition of the path they organize, or the page to show instead."""
    organizer = await guard(request)
    if isinstance(organizer, Response):
        return organizer
    try:
        row = await petitions.editable_by(request.app.state.db, request.path_params["slug"], organizer.id)
    except PetitionError:
        return not_found(request)
    return organizer, row


def not_found(request: Request, message: str = NOT_FOUND) -> Response:
    return page(request, "message.html", {"title": "Not found", "message": message}, status=404)


def task_page(
    request: Request,
    template: str,
    found: tuple[Organizer, Row],
    context: dict[str, Any],
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    """One task's page: `context` with what every task page shows (the petition, its sub-navigation,
    the notice, `errors` by input id and the form's `values` typed before a refusal)."""
    organizer, row = found
    settings = request.app.state.settings
    shared = {
        "petition": petitions.public_view(row, settings.base_url),
        "row": row,
        "organizer": organizer,
        "takes_codes": takes_codes(row),
        "notice": None if errors else notice_of(request),
        "errors": errors or {},
        "values": values or {},
        "min_cell_size": settings.min_cell_size,
        "deadline_is_longest": periods.deadline_is_longest(row, settings),
        "closed_by_deadline": periods.closed_by_deadline(petitions.as_of(row)),
        "destroyed_at": petitions.iso(periods.destroyed_at(row), row["time_zone"]),
    }
    return page(request, template, {**shared, **context}, status=status)


async def overview(request: Request, *, errors: dict[str, str] | None = None, status: int = 200) -> Response:
    """GET /organize/petitions/{id}: the petition's dashboard (dashboard.py: the same data as its JSON),
    with the next step, the chart at the petition's floor, the certificate's downloads and the share box."""
    found = await organizer_and_petition(request)
    if isinstance(found, Response):
        return found
    _, row = found
    db, settings = request.app.state.db, request.app.state.settings
    data = await dashboard.dashboard(db=db, row=row, settings=settings)
    context: dict[str, Any] = {
        "dash": data,
        "purged_on": purge.purged_on(row) if row["purged_at"] is not None else None,
        "update_words": {
            update.id: petition_updates.progress_words(update, purged=row["purged_at"] is not None)
            for update in data.updates
        },
    }
    if data.timeline is not None:
        context["drawing"] = chart.chart(data.timeline, data.goal, row["timeline_floor"])
    return task_page(request, "petition_manage.html", found, context, errors=errors, status=status)


async def confirm_page(request: Request) -> Response:
    """GET /organize/petitions/{id}/{action} (publish, close or purge): asks before doing it; a purge
    the petition's state refuses is the overview with the reason (409)."""
    found = await organizer_and_petition(request)
    if isinstance(found, Response):
        return found
    _, row = found
    if request.path_params["action"] not in STATE_ACTIONS:
        return not_found(request)
    if request.path_params["action"] == "purge" and (problem := purge.refusal(row)):
        return await overview(request, errors={"form": problem}, status=409)
    return page(request, "petition_confirm.html", {"petition": row, "action": request.path_params["action"]})


async def change_state(request: Request) -> Response:
    """POST /organize/petitions/{id}/{action}: publish, close or purge, then the overview says so."""
    found = await organizer_and_petition(request)
    if isinstance(found, Response):
        return found
    organizer, row = found
    action = request.path_params["action"]
    if action not in STATE_ACTIONS:
        return not_found(request)
    db = request.app.state.db
    try:
        if action == "publish":
            await petitions.publish(db, request.app.state.settings, organizer_id=organizer.id, slug=row["id"])
        elif action == "close":
            await petitions.close(db, organizer_id=organizer.id, slug=row["id"])
        else:
            settings = request.app.state.settings
            await purge.purge(db, settings, petition_id=row["id"], organizer_id=organizer.id, why="by an organizer")
    except PetitionError as error:
        return await overview(request, errors={"form": error.message}, status=error.status)
    request.app.state.public_cache.clear()
    return done(task_path(row), DONE_AFTER[action])


async def confirm_delete_page(request: Request) -> Response:
    """GET /organize/petitions/{id}/delete: asks before deleting a draft (409 for a published one)."""
    found = await organizer_and_petition(request)
    if isinstance(found, Response):
        return found
    _, row = found
    if row["state"] != "draft":
        return await overview(request, errors={"form": petitions.NOT_A_DRAFT}, status=409)
    return page(request, "petition_confirm.html", {"petition": row, "action": "delete"})


async def delete(request: Request) -> Response:
    """POST /organize/petitions/{id}/delete: the draft and everything made for it go; then /organize says so."""
    found = await organizer_and_petition(request)
    if isinstance(found, Response):
        return found
    organizer, row = found
    try:
        deleted = await petitions.delete_draft(request.app.state.db, organizer_id=organizer.id, key=row["id"])
    except PetitionError as error:
        return await overview(request, errors={"form": error.message}, status=error.status)
    for flyer_id in deleted.flyer_batch_ids:  # a PDF drawn for it in memory goes too
        request.app.state.flyer_drawings.jobs.pop(flyer_id, None)
    request.app.state.public_cache.clear()
    return done("/organize", "draft-deleted")


async def organizers_page(
    request: Request,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    """GET /organize/petitions/{id}/organizers: who organizes it, and the form to add one."""
    found = await organizer_and_petition(request)
    if isinstance(found, Response):
        return found
    _, row = found
    team = await request.app.state.db.fetch_all(queries.SELECT_PETITION_ORGANIZER_EMAILS, {"petition_id": row["id"]})
    context = {"co_organizers": team}
    return task_page(request, "petition_organizers.html", found, context, errors=errors, values=values, status=status)


async def add_co_organizer(request: Request) -> Response:
    """POST /organize/petitions/{id}/organizers: another organizer may now change it."""
    found = await organizer_and_petition(request)
    if isinstance(found, Response):
        return found
    organizer, row = found
    async with request.form() as form:
        typed = {"email": str(form.get("email") or "")}
    db: Database = request.app.state.db
    if organizers.email_problem(typed["email"]):
        return await organizers_page(request, errors={"email": NO_ORGANIZER_ADDRESS}, values=typed, status=422)
    other = await organizers.find_by_email(db, organizers.login_email(typed["email"]))
    if other is None or not other.is_active:
        return await organizers_page(request, errors={"email": NO_SUCH_ORGANIZER}, values=typed, status=422)

    async def unit(tx: Transaction) -> None:
        await tx.execute(queries.INSERT_PETITION_ORGANIZER, {"petition_id": row["id"], "organizer_id": other.id})
        await audit(
            tx, organizer.id, "co-organizer added", f"{other.email} to {petitions.address(row)}", petition_id=row["id"]
        )

    await db.write(unit)
    return done(task_path(row, "organizers"), "organizer-added")


async def remove_co_organizer(request: Request) -> Response:
    """POST /organize/petitions/{id}/organizers/{organizer_id}/remove (not the last one)."""
    found = await organizer_and_petition(request)
    if isinstance(found, Response):
        return found
    organizer, row = found
    db: Database = request.app.state.db
    team = await db.fetch_all(queries.SELECT_PETITION_ORGANIZER_EMAILS, {"petition_id": row["id"]})
    target = next((member for member in team if member["id"] == request.path_params["organizer_id"]), None)
    if target is None or len(team) == 1:
        message = NOT_IN_TEAM if target is None else LAST_ORGANIZER
        return await organizers_page(request, errors={"form": message}, status=409)

    async def unit(tx: Transaction) -> None:
        await tx.execute(queries.DELETE_PETITION_ORGANIZER, {"petition_id": row["id"], "organizer_id": target["id"]})
        detail = f"{target['email']} from {petitions.address(row)}"
        await audit(tx, organizer.id, "co-organizer removed", detail, petition_id=row["id"])

    await db.write(unit)
    if target["id"] == organizer.id:
        return done("/organize", "left")
    return done(task_path(row, "organizers"), "organizer-removed")

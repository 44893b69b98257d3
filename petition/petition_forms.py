"""Organizer pages for petitions: my petitions, create and edit forms, publish and close, co-organizers."""

from __future__ import annotations

import json
from functools import partial
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from . import addresses, codes, downloads, flyer_batches, organizers, petitions, queries, zones
from .codes import CodeBatchCreate
from .database import Database, Row, Transaction
from .field_messages import FieldWords, field_messages
from .login import guard, page, redirect
from .organizers import Organizer, audit
from .parameters import form_number
from .petitions import PetitionCreate, PetitionError, PetitionUpdate

CHECKBOXES = ("show_names", "reasons_enabled")
ACTIONS = ("publish", "close")


def form_values(form: FormData, *, frozen: bool) -> dict[str, Any]:
    """A petition form -> the JSON-shaped values the models validate (blank optional fields left out).

    The deadline is typed in the petition's time zone (the form's `time_zone`, sent as a hidden field
    once it is fixed) and goes to the model with that zone's offset.
    """
    values: dict[str, Any] = {}
    for name in ("title", "summary", "body", "target", "timeline_floor"):
        if name in form:
            values[name] = str(form[name])
    if "slug" in form and str(form["slug"]).strip():
        values["slug"] = str(form["slug"]).strip()
    typed_zone = str(form.get("time_zone") or "").strip()
    if not frozen and "time_zone" in form:
        values["time_zone"] = typed_zone
    for name in ("goal", "retention_days"):
        values[name] = form_number(form.get(name))
    deadline = str(form.get("closes_at") or "").strip()
    # The form's datetime-local field has no offset: it is read in the zone the form names (UTC
    # while that is no zone at all, whose own message the organizer sees beside its field).
    zone = zones.canonical_zone(typed_zone) or zones.DEFAULT_ZONE
    values["closes_at"] = zones.from_local_input(deadline, zone) if len(deadline) == 16 else (deadline or None)
    for name in CHECKBOXES:
        values[name] = form.get(name) == "on"
    if not frozen:
        domains = str(form.get("allowed_domains") or "").replace(",", "\n").split()
        values["allowed_domains"] = [domain for domain in domains if domain]
        values["verification"] = [str(method) for method in form.getlist("verification")]
    if isinstance(values.get("goal"), str) and not values["goal"]:
        values.pop("goal")
    return values


PETITION_WORDS = {
    "slug": FieldWords("The web address", "Enter a web address of 3 to 60 lowercase letters, digits and hyphens"),
    "title": FieldWords("The title", "Enter a title"),
    "summary": FieldWords("The summary", "Enter a summary, in one line"),
    "body": FieldWords("The text"),
    "target": FieldWords("Who it is addressed to", "Enter who the petition is addressed to"),
    "goal": FieldWords("The goal", "Enter a goal from 1 to 1,000,000,000 signatures"),
    "closes_at": FieldWords("The deadline", "Enter the deadline as a date and a time, like 2026-06-03 17:00"),
    "allowed_domains": FieldWords("Allowed work-email domains"),
    "verification": FieldWords("How signers prove they work here", "Choose how signers prove they work here"),
    "timeline_floor": FieldWords("Show times to the", "Choose to show times to the day or to the hour"),
    "time_zone": FieldWords("The time zone", f"Enter a time zone {zones.ZONE_EXAMPLE}"),
    "retention_days": FieldWords("Days to keep private data", "Enter a number of days from 1 to 3,650"),
}
CODE_WORDS = {"label": FieldWords("The label")}  # count: its message names the setting's limit
FLYER_WORDS = {
    "label": FieldWords("The label"),
    "layout": FieldWords("The layout", "Choose a layout"),
    "paper_size": FieldWords("The paper size", "Choose a paper size"),
    "copies": FieldWords("The number of pages", f"Enter a number of pages from 1 to {flyer_batches.MAX_COPIES}"),
}
NO_ORGANIZER_ADDRESS = "Enter the organizer's login address, like name@example.org."
NO_SUCH_ORGANIZER = "No active organizer has that login address; an admin can invite them."
# The ids of the inputs on the petition's page, by form and field (errors are tied to them).
CODE_INPUTS = {"count": "count", "label": "label"}
FLYER_INPUTS = {"label": "flyer-label", "layout": "flyer-layout", "paper_size": "flyer-paper", "copies": "flyer-copies"}


def field_errors(error: ValidationError) -> dict[str, str]:
    """A petition form's refusal -> field name -> a message to show beside it."""
    return field_messages(error, PETITION_WORDS)


def form_defaults(row: Row | None) -> dict[str, Any]:
    """What a petition form shows: a row's values, or those of a new petition."""
    if row is None:
        return {
            "slug": "",
            "title": "",
            "summary": "",
            "body": "",
            "target": "",
            "goal": 100,
            "closes_at": "",
            "allowed_domains": "",
            "verification": ["email"],
            "show_names": False,
            "reasons_enabled": False,
            "timeline_floor": "day",
            "time_zone": zones.DEFAULT_ZONE,
            "retention_days": 30,
        }
    return {
        "slug": row["slug"],
        "title": row["title"],
        "summary": row["summary"],
        "body": row["body"],
        "target": row["target"],
        "goal": row["goal"],
        "closes_at": zones.local_input(row["closes_at"], row["time_zone"]),
        "allowed_domains": "\n".join(addresses.shown_domain(domain) for domain in json.loads(row["allowed_domains"])),
        "verification": json.loads(row["verification"]),
        "show_names": bool(row["show_names"]),
        "reasons_enabled": bool(row["reasons_enabled"]),
        "timeline_floor": row["timeline_floor"],
        "time_zone": row["time_zone"],
        "retention_days": row["retention_days"],
    }


def shown_values(form: FormData, defaults: dict[str, Any]) -> dict[str, Any]:
    """The form as the organizer filled it, to show again beside the errors."""
    shown = dict(defaults)
    for name in ("slug", "title", "summary", "body", "target", "goal", "closes_at", "allowed_domains", "time_zone"):
        if name in form:
            shown[name] = str(form[name])
    shown["verification"] = [str(m) for m in form.getlist("verification")] or shown["verification"]
    for name in CHECKBOXES:
        shown[name] = form.get(name) == "on"
    return shown


async def my_petitions(request: Request) -> Response:
    """GET /organize: the organizer's petitions with their state and count."""
    organizer = await guard(request)
    if isinstance(organizer, Response):
        return organizer
    rows = await request.app.state.db.fetch_all(queries.SELECT_ORGANIZER_PETITIONS, {"organizer_id": organizer.id})
    base_url = request.app.state.settings.base_url
    views = [petitions.public_view(row, base_url) for row in rows]
    return page(request, "organize.html", {"organizer": organizer, "petitions": views})


async def new_petition_page(request: Request) -> Response:
    """GET /organize/petitions/new."""
    organizer = await guard(request)
    if isinstance(organizer, Response):
        return organizer
    return page(request, "petition_form.html", form_context(None, form_defaults(None), {}))


def form_context(row: Row | None, values: dict[str, Any], errors: dict[str, str]) -> dict[str, Any]:
    return {"petition": row, "values": values, "errors": errors, "frozen": bool(row) and row["state"] != "draft"}


async def create_petition(request: Request) -> Response:
    """POST /organize/petitions: a new draft, or the form again with errors beside the fields."""
    organizer = await guard(request)
    if isinstance(organizer, Response):
        return organizer
    async with request.form() as form:
        values = form_values(form, frozen=False)
        shown = shown_values(form, form_defaults(None))
    try:
        data = PetitionCreate.model_validate(values)
        petition_id = await petitions.create(request.app.state.db, organizer_id=organizer.id, data=data)
        request.app.state.public_cache.clear()
    except ValidationError as error:
        return page(request, "petition_form.html", form_context(None, shown, field_errors(error)), status=422)
    except PetitionError as error:
        return page(request, "petition_form.html", form_context(None, shown, {"slug": error.message}), status=409)
    return redirect(f"/organize/petitions/{petition_id}")


async def manage_page(
    request: Request,
    *,
    notice: str | None = None,
    error: str | None = None,
    status: int = 409,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    """GET /organize/petitions/{slug}: one petition's controls.

    With `error`, answers `status` (409 for a state that forbids the change, 422 for refused input,
    whose messages are in `errors` by input id, beside the form filled in again with `values`).
    """
    found = await _organizer_and_petition(request)
    if isinstance(found, Response):
        return found
    organizer, row = found
    db: Database = request.app.state.db
    settings = request.app.state.settings
    flyer_rows = await db.fetch_all(queries.SELECT_FLYER_BATCHES, {"petition_id": row["id"]})
    # A tear-off batch's codes go out only in its flyers' first PDF, never as a list.
    tab_batches = {flyer["code_batch_id"] for flyer in flyer_rows if flyer["code_batch_id"]}
    context = {
        "petition": petitions.public_view(row, settings.base_url),
        "row": row,
        "takes_codes": "code" in json.loads(row["verification"]),
        "batches": [
            batch.model_copy(update={"downloadable": False}) if batch.id in tab_batches else batch
            for batch in await codes.list_batches(db, settings, row["id"])
        ],
        "flyers": [flyer_batches.view(flyer, settings) for flyer in flyer_rows],
        "drawings": request.app.state.flyer_drawings.jobs,
        "min_cell_size": settings.min_cell_size,
        "max_codes": request.app.state.settings.max_codes_per_batch,
        "co_organizers": await db.fetch_all(queries.SELECT_PETITION_ORGANIZER_EMAILS, {"petition_id": row["id"]}),
        "organizer": organizer,
        "notice": notice,
        "error": error,
        "errors": errors or {},
        "values": values or {},
    }
    return page(request, "petition_manage.html", context, status=status if error else 200)


async def edit_page(request: Request) -> Response:
    """GET /organize/petitions/{slug}/edit."""
    found = await _organizer_and_petition(request)
    if isinstance(found, Response):
        return found
    _, row = found
    return page(request, "petition_form.html", form_context(row, form_defaults(row), {}))


async def edit(request: Request) -> Response:
    """POST /organize/petitions/{slug}/edit."""
    found = await _organizer_and_petition(request)
    if isinstance(found, Response):
        return found
    organizer, row = found
    frozen = row["state"] != "draft"
    async with request.form() as form:
        values = form_values(form, frozen=frozen)
        shown = shown_values(form, form_defaults(row))
    if frozen:  # a published petition's slug never changes
        values.pop("slug", None)
        values.pop("timeline_floor", None)
    try:
        data = PetitionUpdate.model_validate(values)
        await petitions.update(request.app.state.db, organizer_id=organizer.id, slug=row["id"], data=data)
        request.app.state.public_cache.clear()
    except ValidationError as error:
        return page(request, "petition_form.html", form_context(row, shown, field_errors(error)), status=422)
    except PetitionError as error:
        return page(request, "petition_form.html", form_context(row, shown, {"form": error.message}), status=409)
    return redirect(f"/organize/petitions/{row['id']}")


async def confirm_page(request: Request) -> Response:
    """GET /organize/petitions/{slug}/{action} (publish or close): asks before doing it."""
    found = await _organizer_and_petition(request)
    if isinstance(found, Response):
        return found
    _, row = found
    if request.path_params["action"] not in ACTIONS:
        return _not_found(request)
    return page(request, "petition_confirm.html", {"petition": row, "action": request.path_params["action"]})


async def change_state(request: Request) -> Response:
    """POST /organize/petitions/{slug}/{action}: publish or close."""
    organizer = await guard(request)
    if isinstance(organizer, Response):
        return organizer
    slug = request.path_params["slug"]
    if request.path_params["action"] not in ACTIONS:
        return _not_found(request)
    action = petitions.publish if request.path_params["action"] == "publish" else petitions.close
    try:
        await action(request.app.state.db, organizer_id=organizer.id, slug=slug)
        request.app.state.public_cache.clear()
    except PetitionError as error:
        if error.status == 404:
            return _not_found(request)
        return await manage_page(request, error=error.message, status=error.status)
    done = "published: it is open for signatures" if action is petitions.publish else "closed"
    return await manage_page(request, notice=f"The petition is {done}.")


async def add_co_organizer(request: Request) -> Response:
    """POST /organize/petitions/{slug}/organizers: another organizer may now change it."""
    found = await _organizer_and_petition(request)
    if isinstance(found, Response):
        return found
    organizer, row = found
    async with request.form() as form:
        typed = {"email": str(form.get("email") or "")}
    db: Database = request.app.state.db
    if organizers.email_problem(typed["email"]):
        return await refused_form(request, {"email": NO_ORGANIZER_ADDRESS}, {"email": "email"}, typed)
    other = await organizers.find_by_email(db, organizers.login_email(typed["email"]))
    if other is None or not other.is_active:
        return await refused_form(request, {"email": NO_SUCH_ORGANIZER}, {"email": "email"}, typed)

    async def unit(tx: Transaction) -> None:
        await tx.execute(queries.INSERT_PETITION_ORGANIZER, {"petition_id": row["id"], "organizer_id": other.id})
        await audit(tx, organizer.id, "co-organizer added", f"{other.email} to {petitions.address(row)}")

    await db.write(unit)
    return await manage_page(request, notice=f"{other.email} can now organize this petition.")


async def remove_co_organizer(request: Request) -> Response:
    """POST /organize/petitions/{slug}/organizers/{organizer_id}/remove (not the last one)."""
    found = await _organizer_and_petition(request)
    if isinstance(found, Response):
        return found
    organizer, row = found
    db: Database = request.app.state.db
    team = await db.fetch_all(queries.SELECT_PETITION_ORGANIZER_EMAILS, {"petition_id": row["id"]})
    target = next((member for member in team if member["id"] == request.path_params["organizer_id"]), None)
    if target is None:
        return await manage_page(request, error="That organizer does not organize this petition.")
    if len(team) == 1:
        return await manage_page(request, error="A petition needs at least one organizer.")

    async def unit(tx: Transaction) -> None:
        await tx.execute(queries.DELETE_PETITION_ORGANIZER, {"petition_id": row["id"], "organizer_id": target["id"]})
        await audit(tx, organizer.id, "co-organizer removed", f"{target['email']} from {petitions.address(row)}")

    await db.write(unit)
    if target["id"] == organizer.id:
        return redirect("/organize")
    return await manage_page(request, notice=f"{target['email']} no longer organizes this petition.")


async def _organizer_and_petition(request: Request) -> tuple[Organizer, Row] | Response:
    """The signed-in organizer and the petition of the path they organize, or the page to show instead."""
    organizer = await guard(request)
    if isinstance(organizer, Response):
        return organizer
    try:
        row = await petitions.editable_by(request.app.state.db, request.path_params["slug"], organizer.id)
    except PetitionError:
        return _not_found(request)
    return organizer, row


def _not_found(request: Request) -> Response:
    context = {"title": "Not found", "message": "There is no petition at this address that you organize."}
    return page(request, "message.html", context, status=404)


async def create_codes(request: Request) -> Response:
    """POST /organize/petitions/{slug}/codes: a batch of codes, kept encrypted until its one download."""
    found = await _organizer_and_petition(request)
    if isinstance(found, Response):
        return found
    organizer, row = found
    async with request.form() as form:
        typed = {"count": str(form.get("count") or ""), "label": str(form.get("label") or "")}
    settings = request.app.state.settings
    count_refused = f"Enter a number of codes from 1 to {settings.max_codes_per_batch:,}"
    words = {**CODE_WORDS, "count": FieldWords("The number of codes", count_refused)}
    try:
        data = CodeBatchCreate.model_validate({"count": form_number(typed["count"]), "label": typed["label"]})
    except ValidationError as error:
        return await refused_form(request, field_messages(error, words), CODE_INPUTS, typed)
    if data.count > settings.max_codes_per_batch:
        return await refused_form(request, {"count": count_refused + "."}, CODE_INPUTS, typed)
    try:
        await codes.make_batch(
            request.app.state.db,
            settings,
            petition=row,
            organizer_id=organizer.id,
            count=data.count,
            label=data.label,
            keep_for_download=True,
        )
    except PetitionError as error:
        return await manage_page(request, error=error.message, status=error.status)
    return await manage_page(request, notice="Codes made. Download them now: they can be downloaded once.")


async def refused_form(
    request: Request, messages: dict[str, str], inputs: dict[str, str], typed: dict[str, str]
) -> Response:
    """The petition's page again (422), each message beside its input and the form as it was filled in."""
    errors = {inputs.get(field, field): message for field, message in messages.items()}
    values = {inputs[field]: value for field, value in typed.items() if field in inputs}
    summary = "Please correct the form: " + " ".join(messages.values())
    return await manage_page(request, error=summary, status=422, errors=errors, values=values)


async def download_codes(request: Request) -> Response:
    """POST /organize/petitions/{slug}/codes/{batch_id}/download: the codes as CSV or text, once."""
    found = await _organizer_and_petition(request)
    if isinstance(found, Response):
        return found
    _, row = found
    async with request.form() as form:
        text_format = "txt" if form.get("format") == "txt" else "csv"
    try:
        label, made = await codes.take_download(
            request.app.state.db,
            request.app.state.settings,
            petition_id=row["id"],
            batch_id=request.path_params["batch_id"],
        )
    except PetitionError as error:
        return await manage_page(request, error=error.message, status=error.status)
    body = codes.as_csv(label, made) if text_format == "csv" else "\n".join(made) + "\n"
    media_type = "text/csv" if text_format == "csv" else "text/plain"
    headers = {**downloads.attachment(f"{row['slug']}-codes.{text_format}"), "cache-control": "no-store"}
    return Response(body, media_type=f"{media_type}; charset=utf-8", headers=headers)


async def revoke_codes(request: Request) -> Response:
    """POST /organize/petitions/{slug}/codes/{batch_id}/revoke: its unused codes stop working."""
    found = await _organizer_and_petition(request)
    if isinstance(found, Response):
        return found
    organizer, row = found
    batch_id = request.path_params["batch_id"]
    if not await codes.revoke(request.app.state.db, petition_id=row["id"], batch_id=batch_id):
        return await manage_page(request, error="There is no such batch, or it was revoked already.")
    await organizers.record(request.app.state.db, organizer.id, "code batch revoked", row["slug"])
    return await manage_page(request, notice="The batch's unused codes no longer work.")


async def create_flyers(request: Request) -> Response:
    """POST /organize/petitions/{slug}/flyers: a flyer batch, from the form on the petition's page."""
    found = await _organizer_and_petition(request)
    if isinstance(found, Response):
        return found
    organizer, row = found
    async with request.form() as form:
        typed = {name: str(form.get(name) or "") for name in ("label", "layout", "paper_size", "copies")}
    try:
        data = flyer_batches.FlyerCreate.model_validate({**typed, "copies": form_number(typed["copies"])})
    except ValidationError as error:
        return await refused_form(request, field_messages(error, FLYER_WORDS), FLYER_INPUTS, typed)
    try:
        await flyer_batches.create(
            request.app.state.db, request.app.state.settings, petition=row, organizer_id=organizer.id, data=data
        )
    except PetitionError as error:
        if error.status == 422:  # too many pages for the tabs' codes
            return await refused_form(request, {"copies": error.message}, FLYER_INPUTS, typed)
        return await manage_page(request, error=error.message, status=error.status)
    return await manage_page(request, notice="Flyers made: preview them, then download the PDF to print.")


async def download_flyers(request: Request) -> Response:
    """POST /organize/petitions/{slug}/flyers/{flyer_id}/download: the PDF, or a page as PNG or SVG."""
    found = await _organizer_and_petition(request)
    if isinstance(found, Response):
        return found
    _, row = found
    db: Database = request.app.state.db
    async with request.form() as form:
        kind = str(form.get("kind") or "pdf")
        page = form_number(form.get("page") or "1")
    batch = await db.fetch_one(queries.SELECT_FLYER_BATCH, {"id": request.path_params["flyer_id"]})
    if batch is None or batch["petition_id"] != row["id"] or kind not in flyer_batches.KINDS:
        return await manage_page(request, error="There is no such flyer batch.")
    if kind == "pdf" and batch["copies"] > flyer_batches.BACKGROUND_PAGES:
        return await draw_in_background(request, row, batch)
    try:
        body, headers = await flyer_batches.render(
            db,
            request.app.state.settings,
            petition=row,
            batch=batch,
            kind=kind,
            page=page if isinstance(page, int) else 0,
        )
    except PetitionError as error:
        return await manage_page(request, error=error.message, status=error.status)
    return Response(body, media_type=flyer_batches.KINDS[kind], headers={**headers, "cache-control": "no-store"})


async def draw_in_background(request: Request, petition: Row, batch: Row) -> Response:
    """A large PDF: start drawing it, say how far along it is, or hand it over once drawn."""
    drawings: flyer_batches.Drawings = request.app.state.flyer_drawings
    finished = drawings.take(batch["id"])
    if finished is not None:
        if finished.pdf is None:
            return await manage_page(request, error="Drawing these flyers failed. Please try again.")
        headers = {**downloads.attachment(finished.filename), "cache-control": "no-store"}
        return Response(finished.pdf, media_type=flyer_batches.KINDS["pdf"], headers=headers)
    if batch["id"] not in drawings.jobs:
        try:
            svgs, filename = await flyer_batches.pdf_pages(
                request.app.state.db, request.app.state.settings, petition=petition, batch=batch
            )
        except PetitionError as error:
            return await manage_page(request, error=error.message, status=error.status)
        spend = partial(flyer_batches.spend_tabs, request.app.state.db, petition=petition, batch=batch)
        drawings.start(batch["id"], svgs, filename, spend)
    return await manage_page(request, notice="The PDF is being drawn: its progress is in the table below.")

"""Organizer pages for petitions: my petitions, create and edit forms, publish and close, co-organizers."""

from __future__ import annotations

import json
from functools import partial
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from . import codes, downloads, flyer_batches, organizers, petitions, queries
from .codes import CodeBatchCreate
from .database import Database, Row, Transaction
from .login import guard, page, redirect
from .organizers import Organizer, audit
from .parameters import form_number
from .petitions import PetitionCreate, PetitionError, PetitionUpdate

CHECKBOXES = ("show_names", "reasons_enabled")
ACTIONS = ("publish", "close")


def form_values(form: FormData, *, frozen: bool) -> dict[str, Any]:
    """A petition form -> the JSON-shaped values the models validate (blank optional fields left out)."""
    values: dict[str, Any] = {}
    for name in ("title", "summary", "body", "target", "timeline_floor"):
        if name in form:
            values[name] = str(form[name])
    if "slug" in form and str(form["slug"]).strip():
        values["slug"] = str(form["slug"]).strip()
    for name in ("goal", "retention_days"):
        values[name] = form_number(form.get(name))
    deadline = str(form.get("closes_at") or "").strip()
    # The form's datetime-local field has no offset; the label says the time is UTC.
    values["closes_at"] = f"{deadline}:00Z" if len(deadline) == 16 else (deadline or None)
    for name in CHECKBOXES:
        values[name] = form.get(name) == "on"
    if not frozen:
        domains = str(form.get("allowed_domains") or "").replace(",", "\n").split()
        values["allowed_domains"] = [domain for domain in domains if domain]
        values["verification"] = [str(method) for method in form.getlist("verification")]
    if isinstance(values.get("goal"), str) and not values["goal"]:
        values.pop("goal")
    return values


def field_errors(error: ValidationError) -> dict[str, str]:
    """A pydantic error -> field name -> a message to show beside it."""
    errors: dict[str, str] = {}
    for item in error.errors(include_url=False, include_input=False, include_context=False):
        name = str(item["loc"][0]) if item["loc"] else "form"
        message = str(item["msg"]).removeprefix("Value error, ")
        errors.setdefault(name, message[0].upper() + message[1:] + ("" if message.endswith(".") else "."))
    return errors


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
            "retention_days": 30,
        }
    deadline = petitions.iso(row["closes_at"])
    return {
        "slug": row["slug"],
        "title": row["title"],
        "summary": row["summary"],
        "body": row["body"],
        "target": row["target"],
        "goal": row["goal"],
        "closes_at": deadline[:16] if deadline else "",
        "allowed_domains": "\n".join(json.loads(row["allowed_domains"])),
        "verification": json.loads(row["verification"]),
        "show_names": bool(row["show_names"]),
        "reasons_enabled": bool(row["reasons_enabled"]),
        "timeline_floor": row["timeline_floor"],
        "retention_days": row["retention_days"],
    }


def shown_values(form: FormData, defaults: dict[str, Any]) -> dict[str, Any]:
    """The form as the organizer filled it, to show again beside the errors."""
    shown = dict(defaults)
    for name in ("slug", "title", "summary", "body", "target", "goal", "closes_at", "allowed_domains"):
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
        slug = await petitions.create(request.app.state.db, organizer_id=organizer.id, data=data)
        request.app.state.public_cache.clear()
    except ValidationError as error:
        return page(request, "petition_form.html", form_context(None, shown, field_errors(error)), status=422)
    except PetitionError as error:
        return page(request, "petition_form.html", form_context(None, shown, {"slug": error.message}), status=409)
    return redirect(f"/organize/petitions/{slug}")


async def manage_page(request: Request, *, notice: str | None = None, error: str | None = None) -> Response:
    """GET /organize/petitions/{slug}: one petition's controls."""
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
            for batch in await codes.list_batches(db, row["id"])
        ],
        "flyers": [flyer_batches.view(flyer, settings) for flyer in flyer_rows],
        "drawings": request.app.state.flyer_drawings.jobs,
        "min_cell_size": settings.min_cell_size,
        "max_codes": request.app.state.settings.max_codes_per_batch,
        "co_organizers": await db.fetch_all(queries.SELECT_PETITION_ORGANIZER_EMAILS, {"petition_id": row["id"]}),
        "organizer": organizer,
        "notice": notice,
        "error": error,
    }
    return page(request, "petition_manage.html", context, status=409 if error else 200)


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
    values.pop("slug", None)
    if frozen:
        values.pop("timeline_floor", None)
    try:
        data = PetitionUpdate.model_validate(values)
        await petitions.update(request.app.state.db, organizer_id=organizer.id, slug=row["slug"], data=data)
        request.app.state.public_cache.clear()
    except ValidationError as error:
        return page(request, "petition_form.html", form_context(row, shown, field_errors(error)), status=422)
    except PetitionError as error:
        return page(request, "petition_form.html", form_context(row, shown, {"form": error.message}), status=409)
    return redirect(f"/organize/petitions/{row['slug']}")


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
        return await manage_page(request, error=error.message)
    done = "published: it is open for signatures" if action is petitions.publish else "closed"
    return await manage_page(request, notice=f"The petition is {done}.")


async def add_co_organizer(request: Request) -> Response:
    """POST /organize/petitions/{slug}/organizers: another organizer may now change it."""
    found = await _organizer_and_petition(request)
    if isinstance(found, Response):
        return found
    organizer, row = found
    async with request.form() as form:
        email = organizers.login_email(str(form.get("email") or ""))
    db: Database = request.app.state.db
    other = await organizers.find_by_email(db, email)
    if other is None or not other.is_active:
        return await manage_page(request, error="No active organizer has that address; an admin can invite them.")

    async def unit(tx: Transaction) -> None:
        await tx.execute(queries.INSERT_PETITION_ORGANIZER, {"petition_id": row["id"], "organizer_id": other.id})
        await audit(tx, organizer.id, "co-organizer added", f"{other.email} to {row['slug']}")

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
        await audit(tx, organizer.id, "co-organizer removed", f"{target['email']} from {row['slug']}")

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
        count = form_number(form.get("count"))
        label = str(form.get("label") or "")
    try:
        data = CodeBatchCreate.model_validate({"count": count, "label": label})
        await codes.make_batch(
            request.app.state.db,
            request.app.state.settings,
            petition=row,
            organizer_id=organizer.id,
            count=data.count,
            label=data.label,
            keep_for_download=True,
        )
    except ValidationError as error:
        return await manage_page(request, error=" ".join(field_errors(error).values()))
    except PetitionError as error:
        return await manage_page(request, error=error.message)
    return await manage_page(request, notice="Codes made. Download them now: they can be downloaded once.")


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
        return await manage_page(request, error=error.message)
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
        fields: dict[str, object] = {name: str(form.get(name) or "") for name in ("label", "layout", "paper_size")}
        fields["copies"] = form_number(form.get("copies"))
    try:
        data = flyer_batches.FlyerCreate.model_validate(fields)
        await flyer_batches.create(
            request.app.state.db, request.app.state.settings, petition=row, organizer_id=organizer.id, data=data
        )
    except ValidationError as error:
        return await manage_page(request, error=" ".join(field_errors(error).values()))
    except PetitionError as error:
        return await manage_page(request, error=error.message)
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
        return await manage_page(request, error=error.message)
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
            return await manage_page(request, error=error.message)
        spend = partial(flyer_batches.spend_tabs, request.app.state.db, petition=petition, batch=batch)
        drawings.start(batch["id"], svgs, filename, spend)
    return await manage_page(request, notice="The PDF is being drawn: its progress is in the table below.")

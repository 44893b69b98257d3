"""The petition's flyers page: its flyer batches (short links, scans, signatures), making a batch, the files.

Making flyers, and starting to draw a large PDF in the background, answer with a redirect (303)
to this page; a download is a POST that answers with the file itself.
"""

from __future__ import annotations

import asyncio
from functools import partial

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from . import downloads, flyer_batches, fonts, queries
from .database import Database, Row
from .field_messages import FieldWords, field_messages
from .parameters import form_number
from .petition_tasks import done, not_found, organizer_and_petition, task_page, task_path
from .petitions import PetitionError

FLYER_WORDS = {
    "label": FieldWords("The label"),
    "layout": FieldWords("The layout", "Choose a layout"),
    "paper_size": FieldWords("The paper size", "Choose a paper size"),
    "copies": FieldWords("The number of pages", f"Enter a number of pages from 1 to {flyer_batches.MAX_COPIES}"),
}
# The ids of the form's inputs, by field (errors are tied to them).
FLYER_INPUTS = {"label": "flyer-label", "layout": "flyer-layout", "paper_size": "flyer-paper", "copies": "flyer-copies"}
NO_SUCH_FLYERS = "There is no such flyer batch for this petition."
DRAWING_FAILED = "Drawing these flyers failed. Please try again."


def by_input(messages: dict[str, str]) -> dict[str, str]:
    """Messages by field name -> by the id of the input they are about ("form" stays)."""
    return {FLYER_INPUTS.get(field, field): message for field, message in messages.items()}


async def flyers_page(
    request: Request,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    """GET /organize/petitions/{id}/flyers: the batches and their files, and the form to make one.

    `errors` and `values` are by input id (see FLYER_INPUTS), for a refused form shown again."""
    found = await organizer_and_petition(request)
    if isinstance(found, Response):
        return found
    settings = request.app.state.settings
    flyer_rows = await request.app.state.db.fetch_all(queries.SELECT_FLYER_BATCHES, {"petition_id": found[1]["id"]})
    context = {
        "flyers": [flyer_batches.view(flyer, settings) for flyer in flyer_rows],
        "drawings": request.app.state.flyer_drawings.jobs,
        "max_copies": flyer_batches.MAX_COPIES,
        "unprintable": [
            fonts.described(character)
            for character in await asyncio.to_thread(flyer_batches.missing_characters, found[1])
        ],
        "font_packages": fonts.PACKAGES,
    }
    return task_page(request, "petition_flyers.html", found, context, errors=errors, values=values, status=status)


async def create_flyers(request: Request) -> Response:
    """POST /organize/petitions/{id}/flyers: a flyer batch, from the form on the flyers page."""
    found = await organizer_and_petition(request)
    if isinstance(found, Response):
        return found
    organizer, row = found
    async with request.form() as form:
        typed = {name: str(form.get(name) or "") for name in FLYER_INPUTS}
    shown = {FLYER_INPUTS[name]: value for name, value in typed.items()}
    try:
        data = flyer_batches.FlyerCreate.model_validate({**typed, "copies": form_number(typed["copies"])})
    except ValidationError as error:
        errors = by_input(field_messages(error, FLYER_WORDS))
        return await flyers_page(request, errors=errors, values=shown, status=422)
    try:
        await flyer_batches.create(
            request.app.state.db, request.app.state.settings, petition=row, organizer_id=organizer.id, data=data
        )
    except PetitionError as error:
        field = "copies" if error.status == 422 else "form"  # 422: too many pages for the tabs' codes
        return await flyers_page(request, errors=by_input({field: error.message}), values=shown, status=error.status)
    return done(task_path(row, "flyers"), "flyers-made")


async def download_flyers(request: Request) -> Response:
    """POST /organize/petitions/{id}/flyers/{flyer_id}/download: the PDF, or a page as PNG or SVG."""
    found = await organizer_and_petition(request)
    if isinstance(found, Response):
        return found
    _, row = found
    db: Database = request.app.state.db
    async with request.form() as form:
        kind = str(form.get("kind") or "pdf")
        page = form_number(form.get("page") or "1")
    batch = await db.fetch_one(queries.SELECT_FLYER_BATCH, {"id": request.path_params["flyer_id"]})
    if batch is None or batch["petition_id"] != row["id"] or kind not in flyer_batches.KINDS:
        return not_found(request, NO_SUCH_FLYERS)
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
        return await flyers_page(request, errors={"form": error.message}, status=error.status)
    return Response(body, media_type=flyer_batches.KINDS[kind], headers={**headers, "cache-control": "no-store"})


async def draw_in_background(request: Request, petition: Row, batch: Row) -> Response:
    """A large PDF: start drawing it (then the flyers page shows its progress), or hand it over once drawn."""
    drawings: flyer_batches.Drawings = request.app.state.flyer_drawings
    finished = drawings.take(batch["id"])
    if finished is not None:
        if finished.pdf is None:
            return await flyers_page(request, errors={"form": DRAWING_FAILED}, status=500)
        headers = {**downloads.attachment(finished.filename), "cache-control": "no-store"}
        return Response(finished.pdf, media_type=flyer_batches.KINDS["pdf"], headers=headers)
    if batch["id"] not in drawings.jobs:
        try:
            flyer, filename = await flyer_batches.full_flyer(
                request.app.state.db, request.app.state.settings, petition=petition, batch=batch
            )
        except PetitionError as error:
            return await flyers_page(request, errors={"form": error.message}, status=error.status)
        spend = partial(flyer_batches.spend_tabs, request.app.state.db, petition=petition, batch=batch)
        drawings.start(batch["id"], flyer, filename, spend)
    return done(task_path(petition, "flyers"), "flyers-drawing")

"""The petition's signing codes page: its code batches, making a batch, its one download, revoking.

Only a petition that takes printed codes has this page (404 otherwise). Making codes answers
with a redirect (303) to this page, which then offers the batch's one download: a reload shows
the page again and never makes a second batch.
"""

from __future__ import annotations

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from . import codes, downloads, queries
from .codes import NO_SUCH_BATCH, CodeBatchCreate, CodeBatchPublic
from .database import Database, Row
from .field_messages import FieldWords, field_messages
from .login import page
from .organizers import Organizer
from .parameters import form_number
from .petition_tasks import done, not_found, organizer_and_petition, takes_codes, task_page, task_path
from .petitions import PetitionError

CODE_WORDS = {"label": FieldWords("The label")}  # count: its message names the setting's limit
# The ids of the form's inputs, by field (errors are tied to them).
CODE_INPUTS = {"count": "count", "label": "label"}
REVOKED_ALREADY = "There is no such batch, or it was revoked already."
DOWNLOAD_FORMATS = ("csv", "txt")
UNKNOWN_FORMAT = "Choose a download: CSV or text."


async def batches_of(request: Request, row: Row) -> list[CodeBatchPublic]:
    """The petition's code batches; a tear-off batch's codes go out only in its flyers' first PDF, never as a list."""
    db: Database = request.app.state.db
    flyer_rows = await db.fetch_all(queries.SELECT_FLYER_BATCHES, {"petition_id": row["id"]})
    tab_batches = {flyer["code_batch_id"] for flyer in flyer_rows if flyer["code_batch_id"]}
    return [
        batch.model_copy(update={"downloadable": False}) if batch.id in tab_batches else batch
        for batch in await codes.list_batches(db, request.app.state.settings, row["id"])
    ]


async def codes_found(request: Request) -> tuple[Organizer, Row] | Response:
    """The organizer and their petition, when it takes printed codes; else the page to show instead."""
    found = await organizer_and_petition(request)
    if not isinstance(found, Response) and not takes_codes(found[1]):
        return not_found(request, "This petition takes no printed codes: its settings choose how signers verify.")
    return found


async def codes_page(
    request: Request,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    """GET /organize/petitions/{id}/codes: the batches (used counts, downloads, revoking) and the form to make one."""
    found = await codes_found(request)
    if isinstance(found, Response):
        return found
    context = {
        "batches": await batches_of(request, found[1]),
        "max_codes": request.app.state.settings.max_codes_per_batch,
    }
    return task_page(request, "petition_codes.html", found, context, errors=errors, values=values, status=status)


async def read_batch_form(request: Request) -> tuple[dict[str, str], CodeBatchCreate | None, dict[str, str]]:
    """A code batch form (a petition's or a round's) -> (its fields as typed, the batch it asks for, or
    None when refused, and the messages by field)."""
    async with request.form() as form:
        typed = {"count": str(form.get("count") or ""), "label": str(form.get("label") or "")}
    most = request.app.state.settings.max_codes_per_batch
    count_refused = f"Enter a number of codes from 1 to {most:,}"
    words = {**CODE_WORDS, "count": FieldWords("The number of codes", count_refused)}
    try:
        data = CodeBatchCreate.model_validate({"count": form_number(typed["count"]), "label": typed["label"]})
    except ValidationError as error:
        return typed, None, field_messages(error, words)
    if data.count > most:
        return typed, None, {"count": count_refused + "."}
    return typed, data, {}


async def create_codes(request: Request) -> Response:
    """POST /organize/petitions/{id}/codes: a batch of codes, kept encrypted until its one download."""
    found = await codes_found(request)
    if isinstance(found, Response):
        return found
    organizer, row = found
    typed, data, errors = await read_batch_form(request)
    if data is None:
        return await codes_page(request, errors=errors, values=typed, status=422)
    settings = request.app.state.settings
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
        return await codes_page(request, errors={"form": error.message}, values=typed, status=error.status)
    return done(task_path(row, "codes"), "codes-made")


async def download_codes(request: Request) -> Response:
    """POST /organize/petitions/{id}/codes/{batch_id}/download: the codes as CSV or text, once."""
    found = await organizer_and_petition(request)  # a batch outlives a change of methods
    if isinstance(found, Response):
        return found
    _, row = found
    async with request.form() as form:
        text_format = str(form.get("format") or "")
    if text_format not in DOWNLOAD_FORMATS:
        # Refused before the one download is spent.
        return await codes_page(request, errors={"form": UNKNOWN_FORMAT}, status=422)
    try:
        label, made = await codes.take_download(
            request.app.state.db,
            request.app.state.settings,
            petition_id=row["id"],
            batch_id=request.path_params["batch_id"],
        )
    except PetitionError as error:
        return await codes_page(request, errors={"form": error.message}, status=error.status)
    body = codes.as_csv(label, made) if text_format == "csv" else "\n".join(made) + "\n"
    media_type = "text/csv" if text_format == "csv" else "text/plain"
    headers = {**downloads.attachment(f"{row['slug']}-codes.{text_format}"), "cache-control": "no-store"}
    return Response(body, media_type=f"{media_type}; charset=utf-8", headers=headers)


async def confirm_revoke_page(request: Request) -> Response:
    """GET /organize/petitions/{id}/codes/{batch_id}/revoke: asks before its unused codes stop working."""
    found = await codes_found(request)
    if isinstance(found, Response):
        return found
    _, row = found
    batches = await batches_of(request, row)
    batch = next((batch for batch in batches if batch.id == request.path_params["batch_id"]), None)
    if batch is None:
        return not_found(request, NO_SUCH_BATCH)
    if batch.revoked:
        return await codes_page(request, errors={"form": REVOKED_ALREADY}, status=409)
    if row["purged_at"] is not None:
        return await codes_page(request, errors={"form": codes.PURGED_ALREADY}, status=409)
    return page(request, "petition_confirm.html", {"petition": row, "action": "revoke", "batch": batch})


async def revoke_codes(request: Request) -> Response:
    """POST /organize/petitions/{id}/codes/{batch_id}/revoke: its unused codes stop working."""
    found = await organizer_and_petition(request)  # a batch outlives a change of methods
    if isinstance(found, Response):
        return found
    organizer, row = found
    batch_id = request.path_params["batch_id"]
    try:
        revoked = await codes.revoke(request.app.state.db, petition=row, organizer_id=organizer.id, batch_id=batch_id)
    except PetitionError as error:  # purged: the codes are gone
        return await codes_page(request, errors={"form": error.message}, status=error.status)
    if not revoked:
        return await codes_page(request, errors={"form": REVOKED_ALREADY}, status=409)
    request.app.state.public_cache.clear()  # a public event: the timeline, feed and page show it
    return done(task_path(row, "codes"), "codes-revoked")

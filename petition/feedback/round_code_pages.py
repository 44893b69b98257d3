"""A round's printed codes page: its batches, making one, its one download, revoking.

As a petition's codes page (code_pages) does: only a round of a petition that takes printed codes
has it (404 otherwise); making codes answers with a redirect (303) to this page, which offers the
batch's one download (CSV or text, each code with its join link; or, for a batch of at most
MAX_SHEET_CODES, a page to print with a QR code per code that opens the join page with the code
filled in), so a reload never makes a second batch.
"""

from __future__ import annotations

import asyncio
from typing import Any

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response

from .. import downloads
from ..code_pages import read_batch_form
from ..field_messages import FORM
from ..flyers import qr
from ..login import page
from ..organizers import Organizer
from ..petition_tasks import not_found, takes_codes
from ..petitions import PetitionError
from . import round_codes
from .round_pages_organizer import done, organizer_and_round, round_path, round_task_page
from .rounds import Found

# A page of QR codes to print, drawn in one answer: a larger batch is downloaded as CSV and merged.
MAX_SHEET_CODES = 500
NO_CODES = "This round's petition takes no printed codes: its settings choose how colleagues verify."
FORMATS = ("csv", "txt", "sheet")
UNKNOWN_FORMAT = "Choose a download: CSV, text or a page to print."


async def codes_found(request: Request) -> tuple[Organizer, Found] | Response:
    """The organizer and their round, when its petition takes printed codes; else the page to show instead."""
    found = await organizer_and_round(request)
    if not isinstance(found, Response) and not takes_codes(found[1].petition):
        return not_found(request, NO_CODES)
    return found


async def codes_page(
    request: Request,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    """GET /organize/rounds/{id}/codes: the round's batches (used counts, downloads, revoking) and the form."""
    found = await codes_found(request)
    if isinstance(found, Response):
        return found
    organizer, round_found = found
    settings = request.app.state.settings
    context = {
        "batches": await round_codes.list_batches(request.app.state.db, settings, round_found.round["id"]),
        "max_codes": settings.max_codes_per_batch,
        "max_sheet_codes": MAX_SHEET_CODES,
    }
    template = "organize_round_codes.html"
    return await round_task_page(
        request, template, organizer, round_found, context, errors=errors, values=values, status=status
    )


async def create_codes(request: Request) -> Response:
    """POST /organize/rounds/{id}/codes: a batch of codes that join this round, kept encrypted until
    its one download."""
    found = await codes_found(request)
    if isinstance(found, Response):
        return found
    organizer, round_found = found
    typed, data, errors = await read_batch_form(request)
    if data is None:
        return await codes_page(request, errors=errors, values=typed, status=422)
    settings = request.app.state.settings
    try:
        await round_codes.make_batch(
            request.app.state.db,
            settings,
            found=round_found,
            organizer_id=organizer.id,
            count=data.count,
            label=data.label,
            keep_for_download=True,
        )
    except PetitionError as error:
        errors = {error.field or FORM: error.message}
        return await codes_page(request, errors=errors, values=typed, status=error.status)
    return done(round_path(round_found.round["id"], "codes"), "round-codes-made")


def join_link(base_url: str, round_id: str, code: str) -> str:
    """The address a code's QR code holds: the round's join page with the code filled in."""
    return f"{base_url}/r/{round_id}/join?code={code}"


def sheet_entries(base_url: str, round_id: str, made: list[str]) -> list[dict[str, Any]]:
    """Each code with its join link and that link's QR code (SVG, made here from our own address)."""
    entries = []
    for code in made:
        link = join_link(base_url, round_id, code)
        entries.append({"code": code, "link": link, "qr": Markup(qr(link, quick=True))})  # noqa: S704
    return entries


async def download_codes(request: Request) -> Response:
    """POST /organize/rounds/{id}/codes/{batch}/download: the codes as CSV, text or a page to print, once."""
    found = await organizer_and_round(request)  # a batch outlives a change of methods
    if isinstance(found, Response):
        return found
    _, round_found = found
    async with request.form() as form:
        kind = str(form.get("format") or "")
    if kind not in FORMATS:
        # Refused before the one download is spent, as every refusal here is.
        return await codes_page(request, errors={FORM: UNKNOWN_FORMAT}, status=422)
    settings, round_id = request.app.state.settings, round_found.round["id"]
    batch_id = request.path_params["batch"]
    if kind == "sheet":
        size = await round_codes.batch_size(request.app.state.db, round_id=round_id, batch_id=batch_id)
        if size is not None and size > MAX_SHEET_CODES:
            # Refused before the one download is spent: the CSV is still there to take.
            message = f"A page to print holds at most {MAX_SHEET_CODES} codes: download this batch as CSV."
            return await codes_page(request, errors={FORM: message}, status=409)
    try:
        label, made = await round_codes.take_download(
            request.app.state.db, settings, round_id=round_id, batch_id=batch_id
        )
    except PetitionError as error:
        return await codes_page(request, errors={FORM: error.message}, status=error.status)
    if kind == "sheet":
        entries = await asyncio.to_thread(sheet_entries, settings.base_url, round_id, made)
        context = {"round": round_found.round, "petition": round_found.petition, "label": label, "entries": entries}
        return page(request, "organize_round_sheet.html", context)
    name = f"{round_found.petition['slug']}-round-codes.{kind}"
    headers = {**downloads.attachment(name), "cache-control": "no-store"}
    if kind == "txt":
        body = "".join(f"{code}\t{join_link(settings.base_url, round_id, code)}\n" for code in made)
        return Response(body, media_type="text/plain; charset=utf-8", headers=headers)
    rows = ([code, label, join_link(settings.base_url, round_id, code)] for code in made)
    body = downloads.as_csv(("code", "label", "join link"), rows)
    return Response(body, media_type="text/csv; charset=utf-8", headers=headers)


async def confirm_revoke_page(request: Request) -> Response:
    """GET /organize/rounds/{id}/codes/{batch}/revoke: asks before its unused codes stop working."""
    found = await codes_found(request)
    if isinstance(found, Response):
        return found
    _, round_found = found
    settings = request.app.state.settings
    batches = await round_codes.list_batches(request.app.state.db, settings, round_found.round["id"])
    batch = next((batch for batch in batches if batch.id == request.path_params["batch"]), None)
    if batch is None:
        return not_found(request, round_codes.NO_SUCH_BATCH)
    if batch.revoked:
        return await codes_page(request, errors={FORM: round_codes.REVOKED_ALREADY}, status=409)
    context = {"action": "revoke", "round": round_found.round, "petition": round_found.petition, "batch": batch}
    return page(request, "organize_round_confirm.html", context)


async def revoke_codes(request: Request) -> Response:
    """POST /organize/rounds/{id}/codes/{batch}/revoke: its unused codes stop working."""
    found = await organizer_and_round(request)  # a batch outlives a change of methods
    if isinstance(found, Response):
        return found
    organizer, round_found = found
    try:
        await round_codes.revoke(
            request.app.state.db,
            request.app.state.settings,
            organizer_id=organizer.id,
            round_id=round_found.round["id"],
            batch_id=request.path_params["batch"],
        )
    except PetitionError as error:
        if error.status == 404:
            return not_found(request, error.message)
        return await codes_page(request, errors={FORM: error.message}, status=error.status)
    return done(round_path(round_found.round["id"], "codes"), "round-codes-revoked")

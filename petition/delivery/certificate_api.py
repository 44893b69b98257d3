"""The certificate's downloads: the signed note for a token of the petition's organizers (JSON API)
and for their signed-in session (the dashboard's button).

Who may have it: only the petition's organizers; anyone else gets 404, as for a petition they may
not see. A draft has no certificate: its organizers get 409 (publish it first), anyone else 404
(a draft is not theirs to know of). The answer is never cached, a browser's cache included.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from .. import downloads, petitions
from ..api import NO_STORE
from ..api_tokens import bearer_organizer
from ..database import Database, Row
from ..login import page
from ..petition_tasks import organizer_and_petition
from ..petitions import PetitionError
from . import certificate_pdf
from .certificate import DRAFT, build
from .certificate_note import MEDIA_TYPE, file_name, note_of


async def organized(db: Database, key: str, organizer_id: str) -> Row:
    """The published petition (by id or slug) the organizer organizes; PetitionError 404 when they
    do not (or there is none), 409 for their draft."""
    row = await petitions.editable_by(db, key, organizer_id)
    if row["state"] == "draft":
        raise PetitionError(409, DRAFT)
    return row


async def note_download(request: Request, row: Row) -> Response:
    """The signed note as a download, `<slug>-certificate.note`, `text/plain`, never cached."""
    note = await note_of(db=request.app.state.db, row=row, settings=request.app.state.settings)
    headers = {**NO_STORE, **downloads.attachment(file_name(row))}
    return Response(note.encode(), media_type=MEDIA_TYPE, headers=headers)


async def api_certificate_note(request: Request) -> Response:
    """GET /api/v1/petitions/{slug}/certificate.note: the certificate as a C2SP signed note, for a
    token of the petition's organizers; 401 without a token, 404 for anyone else, 409 for a draft
    or a petition whose log has not started."""
    organizer = await bearer_organizer(request)
    row = await organized(request.app.state.db, request.path_params["slug"], organizer.id)
    return await note_download(request, row)


async def certificate_note_page(request: Request) -> Response:
    """GET /organize/petitions/{slug}/certificate.note: the same for the signed-in organizer; the
    login redirect, 404 for a petition they do not organize, 409 (a page saying why) for a draft."""
    found = await organizer_and_petition(request)
    if isinstance(found, Response):
        return found
    organizer, row = found
    try:
        row = await organized(request.app.state.db, str(row["id"]), organizer.id)
        return await note_download(request, row)
    except PetitionError as error:
        context = {"title": "No certificate yet", "message": error.message}
        return page(request, "message.html", context, status=error.status)


# -- the PDF ---------------------------------------------------------------------------------------

PDF_TYPE = "application/pdf"
UNKNOWN_PAPER = "Choose the paper as a4 or letter (US Letter), for example ?paper=letter."


class PaperQuery(BaseModel):
    """The PDF's query: the paper it is set on (A4 unless asked), nothing else."""

    model_config = ConfigDict(extra="forbid")
    paper: Literal["a4", "letter"] = certificate_pdf.DEFAULT_PAPER


async def pdf_download(request: Request, row: Row, paper: str) -> Response:
    """The certificate as a PDF for people, `<slug>-certificate.pdf`, never cached; drawn in a process
    of its own (see certificate_pdf.draw), so the event loop goes on meanwhile."""
    certificate = await build(db=request.app.state.db, row=row, settings=request.app.state.settings)
    pdf = await certificate_pdf.draw(certificate, paper=paper)
    headers = {**NO_STORE, **downloads.attachment(f"{row['slug']}-certificate.pdf")}
    return Response(pdf, media_type=PDF_TYPE, headers=headers)


async def api_certificate_pdf(request: Request, query: PaperQuery) -> Response:
    """GET /api/v1/petitions/{slug}/certificate.pdf?paper=a4|letter: the certificate as a PDF, for a
    token of the petition's organizers; 401 without a token, 422 for another paper or parameter, 404
    for anyone else, 409 for a draft or a petition whose log has not started."""
    organizer = await bearer_organizer(request)
    row = await organized(request.app.state.db, request.path_params["slug"], organizer.id)
    return await pdf_download(request, row, query.paper)


async def certificate_pdf_page(request: Request) -> Response:
    """GET /organize/petitions/{slug}/certificate.pdf?paper=a4|letter: the same for the signed-in
    organizer; the login redirect, 404 for a petition they do not organize, 422 (a page saying why)
    for another paper or parameter, 409 for a draft."""
    found = await organizer_and_petition(request)
    if isinstance(found, Response):
        return found
    organizer, row = found
    try:
        paper = PaperQuery.model_validate(dict(request.query_params)).paper
    except ValidationError:
        return page(request, "message.html", {"title": "Which paper?", "message": UNKNOWN_PAPER}, status=422)
    try:
        row = await organized(request.app.state.db, str(row["id"]), organizer.id)
        return await pdf_download(request, row, paper)
    except PetitionError as error:
        context = {"title": "No certificate yet", "message": error.message}
        return page(request, "message.html", context, status=error.status)

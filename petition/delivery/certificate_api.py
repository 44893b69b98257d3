"""The certificate's downloads: the signed note for a token of the petition's organizers (JSON API)
and for their signed-in session (the dashboard's button).

Who may have it: only the petition's organizers; anyone else gets 404, as for a petition they may
not see. A draft has no certificate: its organizers get 409 (publish it first), anyone else 404
(a draft is not theirs to know of). The answer is never cached, a browser's cache included.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
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


# -- the query: the PDF takes `paper` once, the note nothing ---------------------------------------

UNKNOWN_PAPER = "Choose one paper, a4 or letter (US Letter), for example ?paper=letter."
NO_PARAMETERS = "The signed certificate takes no parameters: download it from its address alone."
MAX_NAME_SHOWN = 40  # characters of an unknown parameter's name repeated in the message
PAPER_NAMES = ("a4", "letter")  # what certificate_pdf sets a certificate on


class NoQuery(BaseModel):
    """The note's query: nothing (the API refuses any parameter with 422)."""

    model_config = ConfigDict(extra="forbid")


class PaperQuery(BaseModel):
    """The PDF's query: the paper it is set on (A4 unless asked), nothing else. Any text passes here,
    so that paper_of answers a bad one with its own sentence."""

    model_config = ConfigDict(extra="forbid")
    paper: str = Field(certificate_pdf.DEFAULT_PAPER, json_schema_extra={"enum": list(PAPER_NAMES)})


def _checked_query(request: Request, allowed: str | None, refusal: str) -> dict[str, str]:
    """The query's parameters: only `allowed` (or none), each at most once; PetitionError 422 naming
    the parameter, with `refusal`, otherwise (a repeated one would be read as its last, silently)."""
    seen: dict[str, str] = {}
    for name, value in request.query_params.multi_items():
        if name != allowed or name in seen:
            raise PetitionError(422, refusal, name[:MAX_NAME_SHOWN])
        seen[name] = value
    return seen


def refuse_parameters(request: Request) -> None:
    """The note's query must be empty: PetitionError 422 otherwise."""
    _checked_query(request, None, NO_PARAMETERS)


def paper_of(request: Request) -> str:
    """The PDF's paper (`?paper=a4|letter`, once; a4 when not given): PetitionError 422 for another
    paper, a repeated one or any other parameter, with the one sentence saying how to ask."""
    paper = _checked_query(request, "paper", UNKNOWN_PAPER).get("paper", certificate_pdf.DEFAULT_PAPER)
    if paper not in PAPER_NAMES:
        raise PetitionError(422, UNKNOWN_PAPER, "paper")
    return paper


def _query_refusal(request: Request, error: PetitionError) -> Response:
    title = "Which paper?" if error.message == UNKNOWN_PAPER else "No parameters"
    return page(request, "message.html", {"title": title, "message": error.message}, status=error.status)


async def note_download(request: Request, row: Row) -> Response:
    """The signed note as a download, `<slug>-certificate.note`, `text/plain`, never cached."""
    note = await note_of(db=request.app.state.db, row=row, settings=request.app.state.settings)
    headers = {**NO_STORE, **downloads.attachment(file_name(row))}
    return Response(note.encode(), media_type=MEDIA_TYPE, headers=headers)


async def api_certificate_note(request: Request, query: NoQuery) -> Response:
    """GET /api/v1/petitions/{slug}/certificate.note: the certificate as a C2SP signed note, for a
    token of the petition's organizers; 401 without a token, 422 for any parameter, 404 for anyone
    else, 409 for a draft or a petition whose log has not started."""
    organizer = await bearer_organizer(request)
    refuse_parameters(request)
    row = await organized(request.app.state.db, request.path_params["slug"], organizer.id)
    return await note_download(request, row)


async def certificate_note_page(request: Request) -> Response:
    """GET /organize/petitions/{slug}/certificate.note: the same for the signed-in organizer; the
    login redirect, 404 for a petition they do not organize, 422 (a page saying why) for any
    parameter, 409 (a page saying why) for a draft."""
    found = await organizer_and_petition(request)
    if isinstance(found, Response):
        return found
    organizer, row = found
    try:
        refuse_parameters(request)
    except PetitionError as error:
        return _query_refusal(request, error)
    try:
        row = await organized(request.app.state.db, str(row["id"]), organizer.id)
        return await note_download(request, row)
    except PetitionError as error:
        context = {"title": "No certificate yet", "message": error.message}
        return page(request, "message.html", context, status=error.status)


# -- the PDF ---------------------------------------------------------------------------------------

PDF_TYPE = "application/pdf"


async def pdf_download(request: Request, row: Row, paper: str) -> Response:
    """The certificate as a PDF for people, `<slug>-certificate.pdf`, never cached; drawn in a process
    of its own (see certificate_pdf.draw), so the event loop goes on meanwhile."""
    certificate = await build(db=request.app.state.db, row=row, settings=request.app.state.settings)
    pdf = await certificate_pdf.draw(certificate, paper=paper)
    headers = {**NO_STORE, **downloads.attachment(f"{row['slug']}-certificate.pdf")}
    return Response(pdf, media_type=PDF_TYPE, headers=headers)


async def api_certificate_pdf(request: Request, query: PaperQuery) -> Response:
    """GET /api/v1/petitions/{slug}/certificate.pdf?paper=a4|letter: the certificate as a PDF, for a
    token of the petition's organizers; 401 without a token, 422 for another paper, a repeated one or
    another parameter, 404 for anyone else, 409 for a draft or a petition whose log has not started."""
    organizer = await bearer_organizer(request)
    paper = paper_of(request)
    row = await organized(request.app.state.db, request.path_params["slug"], organizer.id)
    return await pdf_download(request, row, paper)


async def certificate_pdf_page(request: Request) -> Response:
    """GET /organize/petitions/{slug}/certificate.pdf?paper=a4|letter: the same for the signed-in
    organizer; the login redirect, 404 for a petition they do not organize, 422 (a page saying why)
    for another paper, a repeated one or another parameter, 409 for a draft."""
    found = await organizer_and_petition(request)
    if isinstance(found, Response):
        return found
    organizer, row = found
    try:
        paper = paper_of(request)
    except PetitionError as error:
        return _query_refusal(request, error)
    try:
        row = await organized(request.app.state.db, str(row["id"]), organizer.id)
        return await pdf_download(request, row, paper)
    except PetitionError as error:
        context = {"title": "No certificate yet", "message": error.message}
        return page(request, "message.html", context, status=error.status)

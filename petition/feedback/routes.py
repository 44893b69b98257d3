"""Every URL of feedback rounds, in one list that the app's route list takes in whole."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from ..api import ApiRoute
from ..email_signing import AttemptBody, CheckEmail, VerifyBody
from . import join_pages, joins_api


def routes() -> list[BaseRoute]:
    """The rounds' routes: the JSON API under /api/v1/rounds, the public pages under /r/{id}, and
    the organizers' pages under /organize."""
    return [
        # --- rounds (organizers: create, read, change, open, close) -----------------------------
        # --- codes ------------------------------------------------------------------------------
        # --- joins ------------------------------------------------------------------------------
        ApiRoute(
            "/api/v1/rounds/{id}/participants",
            joins_api.api_join,
            methods=["POST"],
            status=201,
            summary="Join a round: with a printed round code, 201 and the participant token (in this answer "
            "only); with a work email, 202 and an attempt id while a code is emailed",
            body=joins_api.JoinCreate,
            response=joins_api.ParticipantToken,
            also={202: CheckEmail},
            errors=[409],
            tags=["rounds"],
            name="round_api_join",
        ),
        ApiRoute(
            "/api/v1/rounds/{id}/participants/verify",
            joins_api.api_verify,
            methods=["POST"],
            status=201,
            summary="Type the emailed code of a joining attempt; 201 and the participant token (in this answer only)",
            body=VerifyBody,
            response=joins_api.ParticipantToken,
            errors=[409],
            tags=["rounds"],
            name="round_api_verify",
        ),
        ApiRoute(
            "/api/v1/rounds/{id}/participants/resend",
            joins_api.api_resend,
            methods=["POST"],
            status=202,
            summary="A new emailed code for a joining attempt (the one before stops working)",
            body=AttemptBody,
            response=CheckEmail,
            errors=[409],
            tags=["rounds"],
            name="round_api_resend",
        ),
        ApiRoute(
            "/api/v1/rounds/{id}/participants/token",
            joins_api.api_replace_token,
            methods=["POST"],
            status=201,
            summary="Replace the bearer participant token: 201 and a new one; the old one finds nothing after",
            response=joins_api.ParticipantToken,
            errors=[401],
            tags=["rounds"],
            name="round_api_replace_token",
        ),
        # --- votes and statements ---------------------------------------------------------------
        # --- results ----------------------------------------------------------------------------
        # --- pages ------------------------------------------------------------------------------
        Route("/r/{id}/join", join_pages.join_page, name="round_join"),
        Route("/r/{id}/join", join_pages.join, methods=["POST"], name="round_join_action"),
        Route("/r/{id}/check-email", join_pages.check_email, name="round_check_email"),
        Route("/r/{id}/verify", join_pages.verify, methods=["POST"], name="round_verify"),
        Route("/r/{id}/resend", join_pages.resend, methods=["POST"], name="round_resend"),
        Route("/r/{id}/token", join_pages.token_page, name="round_token"),
        Route("/r/{id}/token", join_pages.token_action, methods=["POST"], name="round_token_action"),
    ]

"""Every URL of feedback rounds, in one list that the app's route list takes in whole."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from ..api import ApiRoute
from . import round_pages, statements, statements_api, votes


def routes() -> list[BaseRoute]:
    """The rounds' routes: the JSON API under /api/v1/rounds, the public pages under /r/{id}, and
    the organizers' pages under /organize."""
    return [
        # --- rounds (organizers: create, read, change, open, close) -----------------------------
        # --- codes ------------------------------------------------------------------------------
        # --- joins ------------------------------------------------------------------------------
        # --- votes and statements ---------------------------------------------------------------
        ApiRoute(
            "/api/v1/rounds/{id}/statements",
            statements_api.list_statements,
            summary="The round's approved statements, by id; with a participant token each says whether it "
            "was voted on (never how)",
            response=statements.StatementList,
            errors=[401, 404],
            tags=["rounds"],
        ),
        ApiRoute(
            "/api/v1/rounds/{id}/statements",
            statements_api.add_statement,
            methods=["POST"],
            status=201,
            summary=f"Add a statement with a participant token ({statements.MAX_LENGTH} characters at most): "
            "waiting for an organizer in a moderated round, else approved. No author is stored",
            body=statements.StatementCreate,
            response=statements.StatementAdded,
            errors=[401, 404, 409, 422, 429],
            tags=["rounds"],
        ),
        ApiRoute(
            "/api/v1/rounds/{id}/statements/queue",
            statements_api.statement_queue,
            summary=f"The round's statements waiting for moderation (or ?status=approved or hidden), "
            f"{statements.QUEUE_PAGE_SIZE} a page, each with its flags",
            query=statements.StatementQueueQuery,
            response=statements.StatementQueue,
            auth=True,
            errors=[404, 422],
            tags=["rounds"],
        ),
        ApiRoute(
            "/api/v1/rounds/{id}/statements/moderate",
            statements_api.moderate_statements,
            methods=["POST"],
            summary=f"Approve and hide statements at once (at most {statements.MAX_MODERATED} ids in all), "
            "all or nothing: 404 when any id is not one of the round's statements",
            body=statements.ModerateRequest,
            response=statements.StatementsModerated,
            auth=True,
            errors=[404, 422],
            tags=["rounds"],
        ),
        ApiRoute(
            "/api/v1/rounds/{id}/statements/{sid}/vote",
            statements_api.vote_on_statement,
            methods=["PUT"],
            summary="Vote agree, disagree or pass on a statement with a participant token; voting again "
            "changes the vote. No time is kept",
            body=votes.VoteCast,
            response=votes.VoteRecorded,
            errors=[401, 404, 409, 422],
            tags=["rounds"],
        ),
        ApiRoute(
            "/api/v1/rounds/{id}/statements/{sid}/approve",
            statements_api.approve_statement,
            methods=["POST"],
            summary="Approve a statement: it is listed and voted on",
            response=statements.StatementModerated,
            auth=True,
            errors=[404],
            tags=["rounds"],
        ),
        ApiRoute(
            "/api/v1/rounds/{id}/statements/{sid}/hide",
            statements_api.hide_statement,
            methods=["POST"],
            summary="Hide a statement: it leaves the list and voting (its votes are kept but not used)",
            response=statements.StatementModerated,
            auth=True,
            errors=[404],
            tags=["rounds"],
        ),
        # --- results ----------------------------------------------------------------------------
        # --- pages ------------------------------------------------------------------------------
        Route("/r/{id}", round_pages.round_page, name="round_page"),
        Route("/r/{id}/vote", round_pages.vote, methods=["POST"], name="round_vote"),
        Route("/r/{id}/statements", round_pages.add_statement, methods=["POST"], name="round_add_statement"),
    ]

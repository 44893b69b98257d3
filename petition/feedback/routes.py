"""Every URL of feedback rounds, in one list that the app's route list takes in whole."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from ..api import ApiRoute
from ..codes import CodeBatchCreate, CodeBatchCreated, CodeBatchList, CodeBatchPublic
from ..email_signing import AttemptBody, CheckEmail, VerifyBody
from . import (
    join_pages,
    joins_api,
    results_api,
    results_pages,
    round_code_pages,
    round_pages,
    round_pages_organizer,
    rounds,
    rounds_api,
    statement_pages,
    statements,
    statements_api,
    votes,
)

CSV_TEXT = {"text/csv": {"schema": {"type": "string"}}}


def routes() -> list[BaseRoute]:
    """The rounds' routes: the JSON API under /api/v1/rounds, the public pages under /r/{id}, and
    the organizers' pages under /organize."""
    return [
        # --- rounds (organizers: create, read, change, open, close) -----------------------------
        ApiRoute(
            "/api/v1/petitions/{slug}/rounds",
            rounds_api.create_round,
            methods=["POST"],
            status=201,
            summary=f"Make a feedback round on a petition, as a draft: a question, a description, at most "
            f"{rounds.MAX_SEED_STATEMENTS} seed statements, whether participants add statements (moderated or "
            "not), who sees results (public or organizers), an optional close time",
            body=rounds.RoundCreate,
            response=rounds.RoundOrganizerView,
            auth=True,
            errors=[404, 409],
            tags=["rounds"],
            # The organizers' page that makes a round is "create_round" (as for petitions).
            name="api_create_round",
        ),
        ApiRoute(
            "/api/v1/petitions/{slug}/rounds",
            rounds_api.list_rounds,
            summary="A petition's open and closed feedback rounds, newest first; with a token of its "
            "organizers, drafts too (and statements_waiting)",
            response=rounds.RoundList,
            errors=[401, 404],
            tags=["rounds"],
        ),
        ApiRoute(
            "/api/v1/rounds/{id}",
            rounds_api.get_round,
            summary="A feedback round; a draft only to its petition's organizers (with a token), who also "
            "see statements_waiting",
            response=rounds.RoundPublic,
            errors=[401, 404],
            tags=["rounds"],
        ),
        ApiRoute(
            "/api/v1/rounds/{id}",
            rounds_api.update_round,
            methods=["PATCH"],
            summary="Change a draft round's fields given; statements replaces its seed list (409 once open)",
            body=rounds.RoundUpdate,
            response=rounds.RoundOrganizerView,
            auth=True,
            errors=[404, 409],
            tags=["rounds"],
        ),
        ApiRoute(
            "/api/v1/rounds/{id}/open",
            rounds_api.open_round,
            methods=["POST"],
            summary="Open a draft round: its petition must be open, and it must have a statement or let "
            "participants add theirs",
            response=rounds.RoundOrganizerView,
            auth=True,
            errors=[404, 409],
            tags=["rounds"],
        ),
        ApiRoute(
            "/api/v1/rounds/{id}/close",
            rounds_api.close_round,
            methods=["POST"],
            summary="Close an open round (409 for a draft or a closed one)",
            response=rounds.RoundOrganizerView,
            auth=True,
            errors=[404, 409],
            tags=["rounds"],
        ),
        # --- codes ------------------------------------------------------------------------------
        ApiRoute(
            "/api/v1/rounds/{id}/codes",
            rounds_api.create_round_codes,
            methods=["POST"],
            status=201,
            summary="Make a batch of printed single-use codes that join this round only (never sign its "
            "petition); the codes are in this answer only",
            body=CodeBatchCreate,
            response=CodeBatchCreated,
            auth=True,
            errors=[404, 409],
            tags=["rounds"],
        ),
        ApiRoute(
            "/api/v1/rounds/{id}/codes",
            rounds_api.list_round_codes,
            summary="The round's code batches, with how many codes of each were used (never which; null "
            "below MIN_CELL_SIZE)",
            response=CodeBatchList,
            auth=True,
            errors=[404],
            tags=["rounds"],
        ),
        ApiRoute(
            "/api/v1/rounds/{id}/codes/{batch}/revoke",
            rounds_api.revoke_round_codes,
            methods=["POST"],
            summary="Revoke a round's code batch: its unused codes stop working",
            response=CodeBatchPublic,
            auth=True,
            errors=[404, 409],
            tags=["rounds"],
        ),
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
        Route("/organize/rounds/{id}/results.csv", results_pages.results_csv, name="round_results_csv_page"),
        # --- pages ------------------------------------------------------------------------------
        Route("/r/{id}/join", join_pages.join_page, name="round_join"),
        Route("/r/{id}/join", join_pages.join, methods=["POST"], name="round_join_action"),
        Route("/r/{id}/check-email", join_pages.check_email, name="round_check_email"),
        Route("/r/{id}/verify", join_pages.verify, methods=["POST"], name="round_verify"),
        Route("/r/{id}/resend", join_pages.resend, methods=["POST"], name="round_resend"),
        Route("/r/{id}/token", join_pages.token_page, name="round_token"),
        Route("/r/{id}/token", join_pages.token_action, methods=["POST"], name="round_token_action"),
        # The organizers' pages: a petition's rounds, a round's page, its draft's form, opening and
        # closing after a question, and its printed codes.
        Route("/organize/petitions/{slug}/rounds", round_pages_organizer.rounds_page, name="rounds_page"),
        Route(
            "/organize/petitions/{slug}/rounds",
            round_pages_organizer.create_round,
            methods=["POST"],
            name="create_round",
        ),
        Route("/organize/rounds/{id}", round_pages_organizer.manage_round, name="manage_round"),
        Route("/organize/rounds/{id}/edit", round_pages_organizer.edit_round, methods=["POST"], name="edit_round"),
        Route("/organize/rounds/{id}/open", round_pages_organizer.confirm_open, name="confirm_open_round"),
        Route("/organize/rounds/{id}/open", round_pages_organizer.open_round, methods=["POST"], name="open_round_page"),
        Route("/organize/rounds/{id}/close", round_pages_organizer.confirm_close, name="confirm_close_round"),
        Route(
            "/organize/rounds/{id}/close", round_pages_organizer.close_round, methods=["POST"], name="close_round_page"
        ),
        Route("/organize/rounds/{id}/codes", round_code_pages.codes_page, name="round_codes_page"),
        Route("/organize/rounds/{id}/codes", round_code_pages.create_codes, methods=["POST"], name="make_round_codes"),
        Route(
            "/organize/rounds/{id}/codes/{batch}/download",
            round_code_pages.download_codes,
            methods=["POST"],
            name="download_round_codes",
        ),
        Route(
            "/organize/rounds/{id}/codes/{batch}/revoke",
            round_code_pages.confirm_revoke_page,
            name="confirm_revoke_round_codes",
        ),
        Route(
            "/organize/rounds/{id}/codes/{batch}/revoke",
            round_code_pages.revoke_codes,
            methods=["POST"],
            name="revoke_round_codes_page",
        ),
        # A round's statements, to moderate: the queue and the approved and hidden lists.
        Route("/organize/rounds/{id}/statements", statement_pages.statements_page, name="round_statements_page"),
        Route(
            "/organize/rounds/{id}/statements",
            statement_pages.moderate_statements,
            methods=["POST"],
            name="moderate_round_statements",
        ),
        Route("/r/{id}", round_pages.round_page, name="round_page"),
        Route("/r/{id}/vote", round_pages.vote, methods=["POST"], name="round_vote"),
        Route("/r/{id}/statements", round_pages.add_statement, methods=["POST"], name="round_add_statement"),
    ]

"""The app factory: settings in, a Starlette app out, with the one list of routes."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp

from . import (
    admin,
    code_pages,
    codes,
    dashboard,
    dashboard_api,
    email_signing,
    flyer_batches,
    flyer_pages,
    jobs,
    log_api,
    login,
    organize,
    pages,
    pending,
    petition_forms,
    petition_pages,
    petition_tasks,
    petition_updates,
    petitions,
    petitions_api,
    purge,
    reason_pages,
    reasons,
    reasons_api,
    recovery,
    sign_pages,
    signatures,
    signing,
    timeline,
    timeline_pages,
    tlog,
    two_factor,
    unsubscribe,
    update_pages,
    updates,
    updates_api,
    versions,
)
from .api import ApiRoute
from .batcher import Batcher
from .cache import PublicCache
from .database import Database
from .delivery.routes import routes as delivery_routes
from .feedback import joins, results_job
from .feedback import rounds as feedback_rounds
from .feedback.join_batches import JoinBatcher
from .feedback.results_worker import ResultsWorker
from .feedback.routes import routes as feedback_routes
from .logs import AccessLog
from .mailer import make_mailer
from .middleware import ShellMiddleware
from .migrations import check_current
from .openapi import openapi_document
from .outbox import Sender
from .passwords import PasswordHashing
from .ratelimit import RateLimiter
from .sessions import purge_expired
from .settings import Settings, load_settings
from .templates import STATIC_DIR, CachedStaticFiles, make_templates

# How long one step of stopping (background jobs, counters, the database) may take.
SHUTDOWN_SECONDS = 10
BINARY = {"schema": {"type": "string", "format": "binary"}}
TEXT = {"schema": {"type": "string"}}


def make_routes() -> list[BaseRoute]:
    """Every URL the service answers, in one ordered list (the busiest first)."""
    return [
        Route("/healthz", pages.healthz, name="healthz"),
        # Signing next: a signature is the busiest request that no cache answers, and each route
        # tried before the right one costs it a regular expression.
        Route("/p/{slug}/sign", sign_pages.sign, methods=["POST"], name="sign"),
        ApiRoute(
            "/api/v1/petitions/{slug}/signatures",
            signing.api_sign,
            methods=["POST"],
            status=201,
            summary="Sign: with a printed code, 201 and the receipt (in this answer only); "
            "with a work email, 202 and an attempt id while a code is emailed",
            body=signatures.SignatureCreate,
            response=signatures.SignatureAccepted,
            also={202: email_signing.CheckEmail},
            errors=[409],
            tags=["signing"],
        ),
        # Then the log's proofs and tiles: verifiers and witnesses ask for them by the thousand, each
        # another, so the cache seldom answers them before routing.
        ApiRoute(
            "/api/v1/petitions/{slug}/log/inclusion",
            log_api.api_inclusion,
            summary="An inclusion proof: the audit path of entry `index` in the tree of `tree_size` "
            "(RFC 9162), base64 hashes",
            query=log_api.InclusionQuery,
            response=log_api.InclusionProof,
            tags=["log"],
        ),
        ApiRoute(
            "/api/v1/petitions/{slug}/log/consistency",
            log_api.api_consistency,
            summary="A consistency proof: the tree of `first` is a prefix of the tree of `second` "
            "(RFC 9162), base64 hashes",
            query=log_api.ConsistencyQuery,
            response=log_api.ConsistencyProof,
            tags=["log"],
        ),
        ApiRoute(
            "/p/{slug}/log/{path:path}",
            log_api.tlog_tiles,
            summary="The log as C2SP tlog-tiles: `checkpoint`, `tile/<L>/<N>[.p/<W>]` (hashes) and "
            "`tile/entries/<N>[.p/<W>]` (entries, each after its length as a big-endian u16); "
            "<N> as three-digit elements, all but the last after an x (x001/x234/067)",
            response=None,
            media_types={"application/octet-stream": BINARY, "text/plain": TEXT},
            tags=["log"],
        ),
        Route("/", petition_pages.home, name="home"),
        Route("/privacy", pages.privacy, name="privacy"),
        Route("/verify.py", pages.verify_script, name="verify_script"),
        Route("/p/{slug}", petition_pages.petition_page, name="petition_page"),
        Route("/p/{slug}/badge.svg", timeline_pages.badge_svg, name="badge"),
        Route("/f/{batch_code}", flyer_batches.flyer_link, name="flyer_link"),
        Route("/p/{slug}/feed.atom", timeline_pages.feed, name="feed"),
        Route("/p/{slug}/versions", versions.versions_page, name="versions_page"),
        Route("/p/{slug}/sign/{method}", sign_pages.sign_page, name="sign_page"),
        Route("/p/{slug}/check-email", sign_pages.check_email, name="check_email"),
        Route("/p/{slug}/verify", sign_pages.verify, methods=["POST"], name="verify"),
        Route("/p/{slug}/signed", sign_pages.signed_page, name="signed_page"),
        Route("/p/{slug}/signed/forget", sign_pages.forget_receipt, methods=["POST"], name="forget_receipt"),
        Route("/p/{slug}/resend", sign_pages.resend, methods=["POST"], name="resend"),
        Route("/p/{slug}/updates", signing.updates_action, methods=["POST"], name="updates_action"),
        Route("/p/{slug}/receipt", signing.receipt_page, name="receipt_page"),
        Route("/p/{slug}/receipt", signing.receipt_action, methods=["POST"], name="receipt_action"),
        Route("/p/{slug}/receipt/download", signing.download_receipt, methods=["POST"], name="download_receipt"),
        Route("/p/{slug}/receipt/proof", signing.download_proof, methods=["POST"], name="download_proof"),
        # An update email's unsubscribe link: the page asks, its POST (or a mail client's RFC 8058
        # one-click POST, exempt from the CSRF check) deletes the updates address.
        Route("/u/{token}", unsubscribe.confirm_page, name="unsubscribe_page"),
        Route("/u/{token}", unsubscribe.unsubscribe, methods=["POST"], name="unsubscribe"),
        # The public reads a newsroom polls come first: routes are matched in order.
        ApiRoute(
            "/api/v1/petitions/{slug}",
            petitions_api.get_petition,
            summary="A petition; drafts only to their organizers (with a token), who also see every setting",
            response=petitions.PetitionPublic,
            errors=[401, 403],
            tags=["petitions"],
        ),
        ApiRoute(
            "/api/v1/petitions/{slug}/timeline",
            timeline_pages.api_timeline,
            summary="The count over time by day or hour (never finer than the petition's floor), "
            "with its events; ?format=csv for the buckets as CSV",
            query=timeline.TimelineQuery,
            response=timeline.Timeline,
            media_types={"text/csv": {"schema": {"type": "string"}}},
            errors=[404],
            tags=["timeline"],
            name="timeline_api",
        ),
        ApiRoute(
            "/api/v1/petitions/{slug}/versions",
            versions.api_versions,
            summary="Every text of the petition, newest (the current one) first, each dated to the petition's "
            "timeline floor: when it took effect and when an edit replaced it",
            response=versions.VersionList,
            errors=[404],
            tags=["timeline"],
            name="versions_api",
        ),
        ApiRoute(
            "/api/v1/petitions/{slug}/count",
            timeline_pages.api_count,
            summary="The count at the end of a day (?at=YYYY-MM-DD), or now",
            query=timeline.CountQuery,
            response=timeline.CountAt,
            errors=[404],
            tags=["timeline"],
        ),
        ApiRoute(
            "/api/v1/petitions/{slug}/reasons",
            reasons_api.api_public_list,
            summary=f"Approved reasons, {reasons.PUBLIC_PAGE_SIZE} a page, in an order that tells nothing of "
            "when each was written or approved (a keyed hash of its id); follow next_cursor for more",
            query=reasons.ReasonListQuery,
            response=reasons.ReasonList,
            errors=[404],
            tags=["reasons"],
        ),
        ApiRoute(
            "/api/v1/petitions/{slug}/updates",
            updates_api.api_public_updates,
            summary=f"The petition's updates, newest first, {petition_updates.PAGE_SIZE} a page, each dated to "
            "the petition's timeline floor; follow next_cursor for more",
            query=petition_updates.UpdateListQuery,
            response=petition_updates.UpdateList,
            errors=[404],
            tags=["updates"],
        ),
        ApiRoute(
            "/api/v1/petitions/{slug}/log/entries",
            log_api.api_entries,
            summary=f"The log's entries [start, end) (at most {tlog.MAX_ENTRIES_PER_READ:,}), base64",
            query=log_api.EntriesQuery,
            response=log_api.LogEntries,
            tags=["log"],
        ),
        ApiRoute(
            "/api/v1/petitions/{slug}/checkpoint",
            log_api.api_checkpoint,
            summary="The log's latest checkpoint, signed (C2SP tlog-checkpoint and signed-note)",
            response=None,
            media_types={"text/plain": TEXT},
            tags=["log"],
        ),
        ApiRoute(
            "/api/v1/log/key",
            log_api.api_key,
            summary="The key that signs every checkpoint (a C2SP signed-note verifier key), and retired ones",
            response=log_api.LogKey,
            tags=["log"],
        ),
        ApiRoute(
            "/api/v1/petitions/{slug}/signatures/verify",
            signing.api_verify,
            methods=["POST"],
            status=201,
            summary="Type the emailed code of an attempt; 201 and the receipt (in this answer only)",
            body=email_signing.VerifyBody,
            response=signatures.SignatureAccepted,
            errors=[404, 409],
            tags=["signing"],
        ),
        ApiRoute(
            "/api/v1/petitions/{slug}/signatures/resend",
            signing.api_resend,
            methods=["POST"],
            status=202,
            summary="Email a new code for an attempt (the one before stops working)",
            body=email_signing.AttemptBody,
            response=email_signing.CheckEmail,
            errors=[404, 409],
            tags=["signing"],
        ),
        ApiRoute(
            "/api/v1/petitions/{slug}/signatures/updates",
            signing.api_updates,
            methods=["POST"],
            status=202,
            summary="Give an address for updates; a code to confirm it is emailed to it",
            body=updates.UpdatesRequest,
            response=updates.UpdatesStatus,
            errors=[404, 409],
            tags=["signing"],
        ),
        ApiRoute(
            "/api/v1/petitions/{slug}/signatures/updates/confirm",
            signing.api_updates_confirm,
            methods=["POST"],
            summary="Confirm the updates address with the code sent to it",
            body=updates.UpdatesConfirm,
            response=updates.UpdatesStatus,
            errors=[404, 409],
            tags=["signing"],
        ),
        ApiRoute(
            "/api/v1/petitions/{slug}/signatures/updates/unsubscribe",
            signing.api_unsubscribe,
            methods=["POST"],
            summary="Delete the updates address kept for a receipt",
            body=signatures.ReceiptBody,
            response=updates.UpdatesStatus,
            errors=[404, 409],
            tags=["signing"],
        ),
        ApiRoute(
            "/api/v1/petitions/{slug}/signatures/status",
            signing.api_status,
            methods=["POST"],
            summary="What became of the signature behind a receipt: pending, counted (with its inclusion proof) "
            "or withdrawn",
            body=signatures.ReceiptBody,
            response=signatures.SignatureStatus,
            tags=["signing"],
            name="signature_status",
        ),
        ApiRoute(
            "/api/v1/petitions/{slug}/signatures/withdraw",
            signing.api_withdraw,
            methods=["POST"],
            summary="Withdraw the signature behind a receipt (while the petition is open)",
            body=signatures.ReceiptBody,
            response=signatures.SignatureStatus,
            errors=[409],
            tags=["signing"],
        ),
        ApiRoute(
            "/api/v1/petitions/{slug}/signatures/hide-name",
            signing.api_hide_name,
            methods=["POST"],
            summary="Hide the name the signature behind a receipt shows (open or closed petition); "
            "409 when it shows none",
            body=signatures.ReceiptBody,
            response=signatures.SignatureStatus,
            errors=[409],
            tags=["signing"],
        ),
        ApiRoute(
            "/api/v1/petitions/{slug}/flyers",
            flyer_batches.api_create,
            methods=["POST"],
            status=201,
            summary="Make a batch of printable flyers (a tear-off batch also makes its tabs' single-use codes)",
            body=flyer_batches.FlyerCreate,
            response=flyer_batches.FlyerBatch,
            auth=True,
            errors=[409],
            tags=["flyers"],
        ),
        ApiRoute(
            "/api/v1/petitions/{slug}/flyers",
            flyer_batches.api_list,
            summary="The petition's flyer batches, with scans and signatures (null below MIN_CELL_SIZE)",
            response=flyer_batches.FlyerBatchList,
            auth=True,
            tags=["flyers"],
        ),
        ApiRoute(
            "/api/v1/flyers/{flyer_id}.{kind}",
            flyer_batches.api_download,
            summary="A batch as .pdf (every page; a tear-off batch's real codes only in the first), "
            "or one page (?page=N) as .svg or .png (tear-off tabs as placeholders)",
            query=flyer_batches.PageQuery,
            response=None,
            media_types=dict.fromkeys(flyer_batches.KINDS.values(), BINARY),
            auth=True,
            errors=[409, 503],
            tags=["flyers"],
        ),
        ApiRoute(
            "/api/v1/petitions/{slug}/updates",
            updates_api.api_post_update,
            methods=["POST"],
            status=201,
            summary="Post an update; with email_subscribers, also email it to the signers who asked for updates "
            "(queued in the background; recipients says how many)",
            body=petition_updates.UpdateCreate,
            response=petition_updates.UpdatePosted,
            auth=True,
            errors=[409],
            tags=["updates"],
        ),
        ApiRoute(
            "/api/v1/petitions/{slug}/updates/{update_id}",
            updates_api.api_update_progress,
            summary="An update and its email's progress: recipients, sent, failed (counts only, never an address)",
            response=petition_updates.UpdateProgress,
            auth=True,
            tags=["updates"],
        ),
        ApiRoute(
            "/api/v1/petitions/{slug}/reasons/queue",
            reasons_api.api_queue,
            summary=f"Reasons waiting for moderation (or ?status=approved or hidden), {reasons.QUEUE_PAGE_SIZE} "
            "a page, each with its flags (text that could identify someone)",
            query=reasons.ReasonQueueQuery,
            response=reasons.ReasonQueue,
            auth=True,
            tags=["reasons"],
        ),
        ApiRoute(
            "/api/v1/petitions/{slug}/reasons/moderate",
            reasons_api.api_moderate,
            methods=["POST"],
            summary=f"Approve and hide reasons at once (at most {reasons.MAX_MODERATED} ids in all), "
            "all or nothing: 404 when any id is not one of the petition's reasons",
            body=reasons.ModerateRequest,
            response=reasons.ReasonsModerated,
            auth=True,
            tags=["reasons"],
        ),
        ApiRoute(
            "/api/v1/petitions/{slug}/reasons/{reason_id}/approve",
            reasons_api.api_approve,
            methods=["POST"],
            summary="Approve a reason: it appears on the petition's page and in its reasons list",
            response=reasons.ReasonModerated,
            auth=True,
            tags=["reasons"],
        ),
        ApiRoute(
            "/api/v1/petitions/{slug}/reasons/{reason_id}/hide",
            reasons_api.api_hide,
            methods=["POST"],
            summary="Hide a reason (an approved one too); after the petition's purge, hiding deletes it",
            response=reasons.ReasonModerated,
            auth=True,
            tags=["reasons"],
        ),
        Route("/api/openapi.json", openapi_document, name="openapi"),
        ApiRoute(
            "/api/v1/status",
            pages.api_status,
            summary="Service and schema version; 503 when the database is unreachable",
            response=pages.StatusPublic,
            tags=["service"],
            errors=[503],
        ),
        ApiRoute(
            "/api/v1/me",
            organize.api_me,
            summary="The organizer the API token acts as",
            response=organize.OrganizerPublic,
            auth=True,
            tags=["organizers"],
        ),
        ApiRoute(
            "/api/v1/me/petitions",
            petitions_api.my_petitions,
            summary="Every petition the token's organizer organizes, drafts included",
            response=petitions_api.OrganizerPetitionList,
            auth=True,
            tags=["petitions"],
        ),
        ApiRoute(
            "/api/v1/petitions",
            petitions_api.list_petitions,
            summary="Open and closed petitions, newest first; follow next_cursor for more",
            response=petitions.PetitionList,
            query=petitions_api.PetitionListQuery,
            tags=["petitions"],
        ),
        ApiRoute(
            "/api/v1/petitions",
            petitions_api.create_petition,
            methods=["POST"],
            status=201,
            summary="Create a petition as a draft",
            body=petitions.PetitionCreate,
            response=petitions.PetitionOrganizerView,
            auth=True,
            errors=[409],
            tags=["petitions"],
            name="api_create_petition",
        ),
        ApiRoute(
            "/api/v1/petitions/{slug}",
            petitions_api.update_petition,
            methods=["PATCH"],
            summary="Change a petition's fields (some are fixed once it is published)",
            body=petitions.PetitionUpdate,
            response=petitions.PetitionOrganizerView,
            auth=True,
            errors=[409],
            tags=["petitions"],
        ),
        ApiRoute(
            "/api/v1/petitions/{slug}",
            petitions_api.delete_petition,
            methods=["DELETE"],
            status=204,
            summary="Delete a draft (by its id) and everything made for it; a published petition stays (409)",
            response=None,
            auth=True,
            errors=[409],
            tags=["petitions"],
            name="api_delete_petition",
        ),
        ApiRoute(
            "/api/v1/petitions/{slug}/publish",
            petitions_api.publish_petition,
            methods=["POST"],
            summary="Publish a draft: it opens for signatures",
            response=petitions.PetitionOrganizerView,
            auth=True,
            errors=[409],
            tags=["petitions"],
        ),
        ApiRoute(
            "/api/v1/petitions/{slug}/close",
            petitions_api.close_petition,
            methods=["POST"],
            summary="Close an open petition",
            response=petitions.PetitionOrganizerView,
            auth=True,
            errors=[409],
            tags=["petitions"],
        ),
        ApiRoute(
            "/api/v1/petitions/{slug}/purge",
            petitions_api.purge_petition,
            methods=["POST"],
            summary="Destroy a closed petition's identifying data now (the retention purge); "
            "its count, timeline, log, shown names and approved reasons stay",
            response=petitions.PetitionOrganizerView,
            auth=True,
            errors=[409],
            tags=["petitions"],
        ),
        ApiRoute(
            "/api/v1/petitions/{slug}/codes",
            petitions_api.create_codes,
            methods=["POST"],
            status=201,
            summary="Make a batch of printed single-use signing codes; the codes are in this answer only",
            body=codes.CodeBatchCreate,
            response=codes.CodeBatchCreated,
            auth=True,
            errors=[409],
            tags=["codes"],
            name="api_create_codes",
        ),
        ApiRoute(
            "/api/v1/petitions/{slug}/dashboard",
            dashboard_api.api_dashboard,
            summary="A petition's dashboard for its organizers (drafts too): the count by method, the timeline at "
            "its floor, milestones, reasons waiting, code and flyer batches (null below MIN_CELL_SIZE), updates "
            "and their progress, feedback rounds, retention, alerts and the newest audit entries",
            response=dashboard.Dashboard,
            auth=True,
            endpoint_checks_token=True,  # it remembers a caller that passed for a second (dashboard_api)
            tags=["petitions"],
        ),
        ApiRoute(
            "/api/v1/petitions/{slug}/codes",
            petitions_api.list_codes,
            summary="The petition's code batches, with how many codes of each were used (never which)",
            response=codes.CodeBatchList,
            auth=True,
            tags=["codes"],
        ),
        ApiRoute(
            "/api/v1/petitions/{slug}/codes/{batch_id}/revoke",
            petitions_api.revoke_codes,
            methods=["POST"],
            summary="Revoke a batch of printed codes: its unused codes stop signing (a public event once the "
            "petition is published); answers the batch as the codes list shows it",
            response=codes.CodeBatchPublic,
            auth=True,
            errors=[404, 409],
            tags=["codes"],
            name="api_revoke_codes",
        ),
        Route("/setup/{token}", login.setup_page, name="setup_page"),
        Route("/setup/{token}", login.setup, methods=["POST"], name="setup"),
        Route("/login", login.login_page, name="login_page"),
        Route("/login", login.login, methods=["POST"], name="login"),
        Route("/login/two-factor", two_factor.login_step_page, name="login_two_factor_page"),
        Route("/login/two-factor", two_factor.login_step, methods=["POST"], name="login_two_factor"),
        Route("/logout", login.logout, methods=["POST"], name="logout"),
        Route("/reset", recovery.reset_request_page, name="reset_request_page"),
        Route("/reset", recovery.reset_request, methods=["POST"], name="reset_request"),
        Route("/reset/{token}", recovery.reset_page, name="reset_page"),
        Route("/reset/{token}", recovery.reset, methods=["POST"], name="reset"),
        Route("/invite/{token}", recovery.invite_page, name="invite_page"),
        Route("/invite/{token}", recovery.accept_invite, methods=["POST"], name="accept_invite"),
        Route("/organize", petition_forms.my_petitions, name="organize_home"),
        Route("/organize/petitions/new", petition_forms.new_petition_page, name="new_petition_page"),
        Route("/organize/petitions", petition_forms.create_petition, methods=["POST"], name="create_petition"),
        # A petition's pages, one per task. Every GET comes before the catch-all
        # /organize/petitions/{slug}/{action} (the publish and close confirmations).
        Route("/organize/petitions/{slug}", petition_tasks.overview, name="manage_petition"),
        Route("/organize/petitions/{slug}/codes", code_pages.codes_page, name="codes_page"),
        Route("/organize/petitions/{slug}/reasons", reason_pages.reasons_page, name="reasons_page"),
        Route(
            "/organize/petitions/{slug}/reasons",
            reason_pages.moderate_reasons,
            methods=["POST"],
            name="moderate_reasons",
        ),
        Route("/organize/petitions/{slug}/updates", update_pages.updates_page, name="updates_page"),
        Route("/organize/petitions/{slug}/updates", update_pages.post_update, methods=["POST"], name="post_update"),
        Route("/organize/petitions/{slug}/flyers", flyer_pages.flyers_page, name="flyers_page"),
        Route("/organize/petitions/{slug}/organizers", petition_tasks.organizers_page, name="organizers_page"),
        Route("/organize/petitions/{slug}/edit", petition_forms.edit_page, name="edit_petition_page"),
        Route("/organize/petitions/{slug}/edit", petition_forms.edit, methods=["POST"], name="edit_petition"),
        Route("/organize/petitions/{slug}/delete", petition_tasks.confirm_delete_page, name="confirm_delete_petition"),
        Route("/organize/petitions/{slug}/delete", petition_tasks.delete, methods=["POST"], name="delete_petition"),
        Route(
            "/organize/petitions/{slug}/organizers",
            petition_tasks.add_co_organizer,
            methods=["POST"],
            name="add_co_organizer",
        ),
        Route(
            "/organize/petitions/{slug}/organizers/{organizer_id}/remove",
            petition_tasks.remove_co_organizer,
            methods=["POST"],
            name="remove_co_organizer",
        ),
        Route("/organize/petitions/{slug}/codes", code_pages.create_codes, methods=["POST"], name="create_codes"),
        Route(
            "/organize/petitions/{slug}/codes/{batch_id}/download",
            code_pages.download_codes,
            methods=["POST"],
            name="download_codes",
        ),
        Route(
            "/organize/petitions/{slug}/codes/{batch_id}/revoke",
            code_pages.confirm_revoke_page,
            name="confirm_revoke_codes",
        ),
        Route(
            "/organize/petitions/{slug}/codes/{batch_id}/revoke",
            code_pages.revoke_codes,
            methods=["POST"],
            name="revoke_codes",
        ),
        Route("/organize/petitions/{slug}/flyers", flyer_pages.create_flyers, methods=["POST"], name="create_flyers"),
        Route(
            "/organize/petitions/{slug}/flyers/{flyer_id}/download",
            flyer_pages.download_flyers,
            methods=["POST"],
            name="download_flyers",
        ),
        # Feedback rounds and the certificate: before the catch-all of petition actions
        # (/organize/petitions/{slug}/rounds, /organize/petitions/{slug}/certificate.pdf).
        *feedback_routes(),
        *delivery_routes(),
        Route("/organize/petitions/{slug}/{action}", petition_tasks.confirm_page, name="confirm_petition_action"),
        Route(
            "/organize/petitions/{slug}/{action}",
            petition_tasks.change_state,
            methods=["POST"],
            name="petition_action",
        ),
        Route("/organize/settings", organize.settings_page, name="settings_page"),
        Route("/organize/two-factor", two_factor.start, methods=["POST"], name="two_factor_start"),
        Route("/organize/two-factor/confirm", two_factor.confirm, methods=["POST"], name="two_factor_confirm"),
        Route("/organize/two-factor/off", two_factor.turn_off, methods=["POST"], name="two_factor_off"),
        Route("/organize/tokens", organize.create_token, methods=["POST"], name="create_token"),
        Route("/organize/tokens/{token_id}/revoke", organize.revoke_token, methods=["POST"], name="revoke_token"),
        Route("/organize/admin", admin.admin_page, name="admin_page"),
        Route("/organize/admin/invite", admin.invite, methods=["POST"], name="invite_organizer"),
        Route(
            "/organize/admin/organizers/{organizer_id}/deactivate",
            admin.deactivate,
            methods=["POST"],
            name="deactivate_organizer",
        ),
        Route("/organize/admin/two-factor", admin.require_two_factor, methods=["POST"], name="require_two_factor"),
        Mount("/static", CachedStaticFiles(directory=STATIC_DIR), name="static"),
    ]


class PetitionApp(Starlette):
    """Starlette with ShellMiddleware in place of its own error layers.

    ShellMiddleware answers HTTP errors with our pages and any other exception
    with a plain 500 logged without its message, so Starlette's
    ServerErrorMiddleware and ExceptionMiddleware would only cost each request
    their time.
    """

    def build_middleware_stack(self) -> ASGIApp:
        app: ASGIApp = self.router
        for cls, args, kwargs in reversed(self.user_middleware):
            app = cls(app, *args, **kwargs)
        return app


def create_app(settings: Settings | None = None) -> Starlette:
    """Settings (read from the environment when not given) -> the ASGI app."""
    settings = settings or load_settings()
    db = Database(settings.database_url, readers=settings.database_readers)
    access_log = AccessLog() if settings.access_log else None
    public_cache = PublicCache(db)

    async def shut_down(what: str, step: Awaitable[object]) -> None:
        """Await one step of stopping, for SHUTDOWN_SECONDS at most: a stop must end even when a
        connection or a job never answers (the step is cancelled, and the log says which)."""
        try:
            await asyncio.wait_for(step, SHUTDOWN_SECONDS)
        except TimeoutError:
            logging.getLogger("petition.app").error("stopping %s took over %d s; cancelled", what, SHUTDOWN_SECONDS)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await db.connect()
        try:
            # `python main.py` migrates before it serves; this only makes sure.
            await check_current(db)
            await app.state.passwords.prepare()
            # On SQLite the waiting signatures' dedupe tags live in memory: rebuilt before the first request.
            await pending.tags_of(db, settings)
            await tlog.start_missing(db, settings)
            # Every petition ends: those published before that rule get their longest deadline.
            await petitions.set_missing_deadlines(db, settings)
            # Reasons written before they had public ids get theirs.
            await reasons.fill_missing_ids(db, settings)
            # Everything built so far (modules, templates, connections) lives as long as the
            # process: take it out of the garbage collector's sight, so collections under
            # load only walk what requests allocate.
            gc.freeze()

            async def housekeeping(db: Database) -> None:
                if await petitions.close_due(db):
                    app.state.public_cache.clear()
                # After the petitions: a round closes with its petition, at the petition's close.
                if await feedback_rounds.close_due(db):
                    app.state.public_cache.clear()
                await purge_expired(db, settings)
                await email_signing.purge_expired(db)
                await joins.purge_expired(db)
                await app.state.flyer_counts.flush()

            batcher = Batcher(settings)

            async def close_batches(db: Database) -> None:
                if await batcher.run_once(db):
                    app.state.public_cache.clear()
                # After the batches: a petition's final batch is counted before its purge.
                if await purge.purge_due(db, settings):
                    app.state.public_cache.clear()

            join_batcher = JoinBatcher(settings)

            async def close_join_batches(db: Database) -> None:
                if await join_batcher.run_once(db):
                    app.state.public_cache.clear()

            async def round_results(db: Database) -> None:
                if await results_job.run_once(db, settings, app.state.results_worker):
                    app.state.public_cache.clear()

            background = [
                asyncio.create_task(
                    jobs.run_every(db, name="housekeeping", seconds=jobs.HOUSEKEEPING_SECONDS, job=housekeeping)
                ),
                asyncio.create_task(
                    jobs.run_every(db, name="batcher", seconds=jobs.batch_check_seconds(settings), job=close_batches)
                ),
                asyncio.create_task(
                    jobs.run_every(
                        db, name="join_batcher", seconds=jobs.batch_check_seconds(settings), job=close_join_batches
                    )
                ),
                asyncio.create_task(
                    jobs.run_every(
                        db, name="round_results", seconds=results_job.look_seconds(settings), job=round_results
                    )
                ),
                # Every process sends: claims keep each message to one sender.
                asyncio.create_task(app.state.sender.run()),
                # And queues posted updates' emails: a chunk's lock keeps each to one process.
                asyncio.create_task(app.state.update_queuer.run()),
            ]
            try:
                yield
            finally:
                for task in [*background, *app.state.flyer_drawings.tasks]:
                    task.cancel()
                await shut_down("the background jobs", asyncio.gather(*background, return_exceptions=True))
                await shut_down("the results worker", app.state.results_worker.close())
        finally:
            gc.unfreeze()
            with contextlib.suppress(Exception):  # what was counted since the last daily write
                await shut_down("the flyer counters", app.state.flyer_counts.flush(force=True))
            await shut_down("the database", db.disconnect())
            if access_log is not None:
                access_log.flush()

    app = PetitionApp(
        routes=make_routes(),
        middleware=[Middleware(ShellMiddleware, settings=settings, access_log=access_log, cache=public_cache)],
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.db = db
    app.state.access_log = access_log
    app.state.templates = make_templates(settings)
    app.state.openapi = None
    app.state.passwords = PasswordHashing(settings.password_hash_concurrency)
    app.state.rate_limiter = RateLimiter()
    app.state.sender = Sender(db, settings, make_mailer(settings))
    app.state.update_queuer = petition_updates.Queuer(db, settings, queued=app.state.sender.wake)
    app.state.public_cache = public_cache
    app.state.log_reader = tlog.LogReader(db)  # its tiles stay in memory for every request
    app.state.flyer_counts = flyer_batches.FlyerCounts(db)
    app.state.flyer_drawings = flyer_batches.Drawings()
    app.state.results_worker = ResultsWorker()  # its process starts at the first computation
    app.state.dashboards = dashboard_api.DashboardMemo()  # organizers' dashboards' JSON, for seconds
    return app

"""Password reset by an emailed single-use link, and accepting an invitation.

Both end with a new password; both links are single use and expire (a reset
after 30 minutes, an invitation after 7 days), and both open a page that acts
only on a POST, since mail scanners open links.
"""

from __future__ import annotations

import hashlib
import logging

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response

from . import addresses, organizers, outbox, queries
from .database import Database, Transaction, now
from .field_messages import FORM
from .login import ENTER_EMAIL, USED_LINK, new_password_problems, page, signed_in_response
from .organizers import audit
from .sessions import start_session
from .settings import Settings
from .tokens import token_hash

logger = logging.getLogger("petition.recovery")
RESET_SENT = (
    "If an organizer account uses that address, we have sent it a link to choose a new password. "
    "The link works once, for 30 minutes."
)


async def read_new_password(request: Request) -> tuple[str, dict[str, str]]:
    """A new-password form -> (the password, field -> problem)."""
    async with request.form() as form:
        password = str(form.get("password") or "")
        again = str(form.get("password_again") or "")
    return password, new_password_problems(password, again)


async def reset_request_page(request: Request) -> Response:
    """GET /reset: ask for the address."""
    return page(request, "reset_request.html", {"sent": False, "errors": {}, "email": ""})


async def reset_request(request: Request) -> Response:
    """POST /reset: the same answer whether or not the address has an account."""
    settings: Settings = request.app.state.settings
    limiter = request.app.state.rate_limiter
    async with request.form() as form:
        typed = str(form.get("email") or "")
    email = organizers.login_email(typed)
    window = settings.rate_limit_window_seconds
    account_key = "reset:" + hashlib.sha256(addresses.limit_form(typed).encode()).hexdigest()
    client_ok = limiter.allow(limiter.client_key(request.scope, settings), settings.rate_limit_login_per_client, window)
    if not client_ok or not limiter.allow(account_key, settings.rate_limit_login_per_account, window):
        message = "Too many requests. Please wait a few minutes and try again."
        return page(request, "reset_request.html", {"sent": False, "errors": {FORM: message}, "email": typed}, 429)
    # Refused by its text alone (the same for every address of that shape), so it tells nothing
    # about accounts; no account can have an address the parser refuses and still get mail.
    if problem := ENTER_EMAIL if not typed.strip() else organizers.email_problem(typed):
        return page(request, "reset_request.html", {"sent": False, "errors": {"email": problem}, "email": typed}, 422)
    response = page(request, "reset_request.html", {"sent": True, "errors": {}, "email": ""})
    # Always return the same response to prevent email enumeration attacks; and answer
    # before looking the address up: the link's write (an fsync) would otherwise make
    # the answer for an account slower than for an unknown address.
    response.background = BackgroundTask(send_reset_link, request.app, email)
    return response


async def send_reset_link(app: Starlette, email: str) -> None:
    """After the answer: queue a reset link for the address's active account, if it has one."""
    settings: Settings = app.state.settings
    db: Database = app.state.db
    try:
        organizer = await organizers.find_by_email(db, email) if email else None
        # An account kept from before the parser refused its kind of address gets no mail: nowhere safe to send it.
        to = addresses.parse_or_none(organizer.email) if organizer is not None else None
        if organizer is None or not organizer.is_active or to is None:
            return

        async def send_link(tx: Transaction) -> None:
            await audit(tx, organizer.id, "password reset requested")
            token = await organizers.create_link(
                tx, kind="reset", seconds=organizers.RESET_LINK_SECONDS, organizer_id=organizer.id
            )
            body = (
                f"Someone asked to reset the password of your organizer account on {settings.site_name}.\n\n"
                f"To choose a new password, open this link within 30 minutes:\n{settings.base_url}/reset/{token}\n\n"
                "If it was not you, ignore this message: your password stays as it is."
            )
            await outbox.queue(
                tx,
                settings,
                to=to,
                subject="Reset your password",
                body=body,
                petition_id=None,  # about an organizer account, no petition
                expires_in=organizers.RESET_LINK_SECONDS,
            )

        await db.write(send_link)
        app.state.sender.wake()
    except Exception as error:  # the answer is sent: nobody is left to tell but the log (never the address)
        logger.error("queueing a password reset link failed: %s", type(error).__name__)


async def reset_page(request: Request) -> Response:
    """GET /reset/{token}: the new-password form (nothing happens until it is posted)."""
    if not await organizers.link_is_usable(request.app.state.db, request.path_params["token"], "reset"):
        return page(request, "message.html", {"title": "Link not valid", "message": USED_LINK}, status=404)
    return page(request, "new_password.html", {"errors": {}, "title": "Choose a new password", "email": None})


async def reset(request: Request) -> Response:
    """POST /reset/{token}: set the password, end every session and API token of the account."""
    db: Database = request.app.state.db
    token = request.path_params["token"]
    password, errors = await read_new_password(request)
    if errors:
        context = {"errors": errors, "title": "Choose a new password", "email": None}
        return page(request, "new_password.html", context, status=422)
    password_hash = await request.app.state.passwords.hash(password)

    async def set_password(tx: Transaction) -> bool:
        link = await organizers.use_link(tx, token, "reset")
        if link is None:
            return False
        organizer_id = link["organizer_id"]
        await tx.execute(queries.UPDATE_ORGANIZER_PASSWORD, {"id": organizer_id, "password_hash": password_hash})
        # Whoever knew the old password may have made tokens with it: they end with the sessions.
        await tx.execute(queries.DELETE_ORGANIZER_SESSIONS, {"organizer_id": organizer_id})
        await tx.execute(queries.REVOKE_ORGANIZER_API_TOKENS, {"organizer_id": organizer_id, "now": now()})
        await audit(tx, organizer_id, "password reset")
        return True

    if not await db.write(set_password):
        return page(request, "message.html", {"title": "Link not valid", "message": USED_LINK}, status=404)
    message = (
        "Your password is changed, and every session and API token of your account was ended. Log in with the new one."
    )
    return page(request, "message.html", {"title": "Password changed", "message": message})


async def invite_page(request: Request) -> Response:
    """GET /invite/{token}: the invited organizer chooses a password."""
    db: Database = request.app.state.db
    row = await db.fetch_one(
        queries.SELECT_LINK, {"token_hash": token_hash(request.path_params["token"]), "kind": "invite"}
    )
    if row is None or not await organizers.link_is_usable(db, request.path_params["token"], "invite"):
        return page(request, "message.html", {"title": "Link not valid", "message": USED_LINK}, status=404)
    context = {"errors": {}, "title": "Join as an organizer", "email": row["email"]}
    return page(request, "new_password.html", context)


async def accept_invite(request: Request) -> Response:
    """POST /invite/{token}: create the invited organizer and sign them in."""
    db: Database = request.app.state.db
    token = request.path_params["token"]
    password, errors = await read_new_password(request)
    if errors:
        row = await db.fetch_one(queries.SELECT_LINK, {"token_hash": token_hash(token), "kind": "invite"})
        context = {"errors": errors, "title": "Join as an organizer", "email": row["email"] if row else ""}
        return page(request, "new_password.html", context, status=422)
    password_hash = await request.app.state.passwords.hash(password)

    async def join(tx: Transaction) -> str:
        # Refusals raise, so the writer undoes the spent link too: nothing changes.
        link = await organizers.use_link(tx, token, "invite")
        if link is None:
            raise organizers.LinkRefused()
        organizer_id = await organizers.insert_organizer(
            tx, email=link["email"], password_hash=password_hash, is_admin=bool(link["make_admin"])
        )
        if organizer_id is None:  # the address got an account meanwhile
            raise organizers.LinkRefused()
        await audit(tx, organizer_id, "invitation accepted")
        await audit(tx, organizer_id, "login")
        return await start_session(tx, organizer_id, needs_second_factor=False)

    try:
        session_token = await db.write(join)
    except organizers.LinkRefused:
        return page(request, "message.html", {"title": "Link not valid", "message": USED_LINK}, status=404)
    return signed_in_response(request, session_token, "/organize")

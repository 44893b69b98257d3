"""Signing organizers in and out: the first organizer's setup link, login, logout."""

from __future__ import annotations

import hashlib
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from . import addresses, organizers, queries
from .database import Database, Transaction
from .field_messages import FORM
from .organizers import Organizer, audit
from .passwords import PasswordHashing, new_password_errors
from .ratelimit import RateLimiter
from .sessions import clear_session_cookie, current_session, end_session, set_session_cookie, start_session
from .settings import Settings

WRONG_LOGIN = "Wrong email or password."
ENTER_EMAIL = "Enter your email address."
# What to say of a blank input (the messages of a wrong one come from the checks themselves).
BLANK = {
    "password": "Enter your password.",
    "new password": "Enter a password of at least 12 characters.",
    "password_again": "Type the password again, to be sure it is the one you meant.",
}
TOO_MANY = "Too many login attempts. Please wait a few minutes and try again."
USED_LINK = "This link has expired or was already used. Ask for a new one."


def page(request: Request, template: str, context: dict[str, Any] | None = None, status: int = 200) -> Response:
    """An organizer page: never stored by the browser or any cache."""
    response = request.app.state.templates.TemplateResponse(request, template, context or {}, status_code=status)
    response.headers["cache-control"] = "no-store"
    return response


async def signed_in(request: Request) -> Organizer | None:
    """The organizer behind the request's session, once fully signed in; else None."""
    session = await current_session(request)
    if session is None or session.needs_second_factor:
        return None
    return session.organizer


async def guard(request: Request, *, two_factor_setup: bool = False) -> Organizer | Response:
    """The signed-in organizer, or the redirect to show instead.

    While an admin requires two-factor, an organizer without it reaches only the
    pages that set it up (`two_factor_setup`).
    """
    organizer = await signed_in(request)
    if organizer is None:
        return to_login()
    if not two_factor_setup and not organizer.two_factor and await organizers.two_factor_required(request.app.state.db):
        return redirect("/organize/settings")
    return organizer


def redirect(location: str) -> Response:
    """A 303 to another organizer page, itself never cached."""
    return RedirectResponse(location, status_code=303, headers={"cache-control": "no-store"})


def to_login() -> Response:
    return redirect("/login")


def signed_in_response(request: Request, token: str, location: str) -> Response:
    response = redirect(location)
    set_session_cookie(response, token, request.app.state.settings)
    return response


async def login_page(request: Request) -> Response:
    """GET /login."""
    if await signed_in(request):
        return redirect("/organize")
    return page(request, "login.html", {"email": "", "errors": {}})


async def login(request: Request) -> Response:
    """POST /login: the same answer, in the same time, for an unknown address and a wrong password."""
    settings: Settings = request.app.state.settings
    db: Database = request.app.state.db
    limiter: RateLimiter = request.app.state.rate_limiter
    passwords: PasswordHashing = request.app.state.passwords
    async with request.form() as form:
        typed = str(form.get("email") or "")
        password = str(form.get("password") or "")
    email = organizers.login_email(typed)

    window = settings.rate_limit_window_seconds
    account_key = "login:" + hashlib.sha256(addresses.limit_form(typed).encode()).hexdigest()
    client_ok = limiter.allow(limiter.client_key(request.scope, settings), settings.rate_limit_login_per_client, window)
    if not client_ok or not limiter.allow(account_key, settings.rate_limit_login_per_account, window):
        return page(request, "login.html", {"email": typed, "errors": {FORM: TOO_MANY}}, status=429)
    if missing := missing_login(typed, password):
        return page(request, "login.html", {"email": typed, "errors": missing}, status=400)

    organizer = await organizers.find_by_email(db, email) if email else None
    usable = organizer if organizer and organizer.is_active else None
    if not await passwords.verify(usable.password_hash if usable else None, password) or usable is None:
        await organizers.record(db, organizer.id if organizer else None, "login failed")
        # The summary links to the first input; the message blames neither, as either may be wrong.
        return page(request, "login.html", {"email": typed, "errors": {"email": WRONG_LOGIN}}, status=400)

    old_session = await current_session(request)
    needs_second_factor = usable.two_factor

    async def sign_in(tx: Transaction) -> str:
        # A new token at every login: one captured before it is worth nothing after.
        if old_session is not None:
            await end_session(tx, old_session.token_hash)
        await audit(tx, usable.id, "password accepted" if needs_second_factor else "login")
        return await start_session(tx, usable.id, needs_second_factor=needs_second_factor)

    token = await db.write(sign_in)
    return signed_in_response(request, token, "/login/two-factor" if needs_second_factor else "/organize")


def missing_login(typed: str, password: str) -> dict[str, str]:
    """{input id: message} for what a login form left blank (it depends on the form alone, so it says
    nothing about accounts)."""
    missing = {}
    if not typed.strip():
        missing["email"] = ENTER_EMAIL
    if not password:
        missing["password"] = BLANK["password"]
    return missing


async def logout(request: Request) -> Response:
    """POST /logout: ends the session on the server, not only in the browser."""
    session = await current_session(request)
    if session is not None:

        async def sign_out(tx: Transaction) -> None:
            await end_session(tx, session.token_hash)
            await audit(tx, session.organizer.id, "logout")

        await request.app.state.db.write(sign_out)
    response = to_login()
    clear_session_cookie(response, request.app.state.settings)
    return response


async def setup_page(request: Request) -> Response:
    """GET /setup/{token}: the form that creates the first organizer."""
    db: Database = request.app.state.db
    token = request.path_params["token"]
    if await organizers.count_organizers(db) or not await organizers.link_is_usable(db, token, "setup"):
        return page(request, "message.html", {"title": "Link not valid", "message": USED_LINK}, status=404)
    return page(request, "setup.html", {"email": "", "errors": {}})


async def setup(request: Request) -> Response:
    """POST /setup/{token}: create the first organizer, an admin, and sign them in."""
    db: Database = request.app.state.db
    token = request.path_params["token"]
    async with request.form() as form:
        typed = str(form.get("email") or "")
        password = str(form.get("password") or "")
        again = str(form.get("password_again") or "")
    email = organizers.login_email(typed)
    errors = new_account_errors(email, password, again)
    if errors:
        return page(request, "setup.html", {"email": typed, "errors": errors}, status=422)
    password_hash = await request.app.state.passwords.hash(password)

    async def create_first(tx: Transaction) -> str:
        # Refusals raise, so the writer undoes the spent link too: nothing changes.
        if await organizers.use_link(tx, token, "setup") is None:
            raise organizers.LinkRefused()
        if int(await tx.fetch_val(queries.COUNT_ORGANIZERS) or 0):
            raise organizers.LinkRefused()
        organizer_id = await organizers.insert_organizer(tx, email=email, password_hash=password_hash, is_admin=True)
        assert organizer_id is not None
        await audit(tx, organizer_id, "organizer created", "first organizer, by setup link")
        await audit(tx, organizer_id, "login")
        return await start_session(tx, organizer_id, needs_second_factor=False)

    try:
        session_token = await db.write(create_first)
    except organizers.LinkRefused:
        return page(request, "message.html", {"title": "Link not valid", "message": USED_LINK}, status=404)
    return signed_in_response(request, session_token, "/organize")


def new_account_errors(email: str, password: str, again: str) -> dict[str, str]:
    """{input id: message}, in the form's order, for a new organizer's address and password."""
    errors = {}
    if not email.strip():
        errors["email"] = ENTER_EMAIL
    elif problem := organizers.email_problem(email):
        errors["email"] = problem
    return {**errors, **new_password_problems(password, again)}


def new_password_problems(password: str, again: str) -> dict[str, str]:
    """{input id: message} for a new password typed twice: what was left blank, else the policy's word."""
    if not password:
        return {"password": BLANK["new password"]}
    errors = new_password_errors(password, again)
    if "password_again" in errors and not again:
        errors["password_again"] = BLANK["password_again"]
    return errors

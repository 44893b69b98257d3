"""Two-factor for organizers: TOTP (RFC 6238, any authenticator app) and one-time recovery codes."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

import pyotp
import qrcode
import qrcode.image.svg
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response

from . import organizers, queries
from .database import Database, Transaction
from .encryption import decrypt, encrypt
from .login import guard, page, redirect, signed_in_response, to_login
from .organize import settings_page
from .organizers import Organizer, audit
from .sessions import current_session, end_session, start_session
from .settings import Settings

STEP_SECONDS = 30
# Accept the code of the step before and after too: phones' clocks drift.
DRIFT_STEPS = 1
RECOVERY_CODE_COUNT = 10
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
WRONG_CODE = "That code is not right. Codes change every 30 seconds; try the newest one."
ENTER_CODE = "Enter the code your authenticator app shows, or a recovery code."
ENTER_APP_CODE = "Enter the six-digit code your authenticator app shows."


def clock() -> float:
    """The time codes are checked against (a seam for tests with a fixed clock)."""
    return time.time()


def new_recovery_code() -> str:
    """Ten Crockford base32 characters (50 bits), grouped: XXXXX-XXXXX."""
    raw = "".join(secrets.choice(CROCKFORD) for _ in range(10))
    return f"{raw[:5]}-{raw[5:]}"


def normalize_code(code: str) -> str:
    """Typing slips forgiven: case, spaces and hyphens, O for 0, I and L for 1."""
    cleaned = code.upper().replace("-", "").replace(" ", "")
    return cleaned.translate(str.maketrans({"O": "0", "I": "1", "L": "1"}))


def recovery_hash(code: str) -> str:
    return hashlib.sha256(normalize_code(code).encode()).hexdigest()


def matching_step(secret: str, code: str, after_step: int, at: float | None = None) -> int | None:
    """The time step whose TOTP equals `code` (later than `after_step`, so never replayed), or None."""
    code = code.strip().replace(" ", "")
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    now_step = int((clock() if at is None else at) // STEP_SECONDS)
    for step in range(now_step - DRIFT_STEPS, now_step + DRIFT_STEPS + 1):
        if step > after_step and hmac.compare_digest(totp.at(step * STEP_SECONDS), code):
            return step
    return None


def provisioning_qr(uri: str) -> Markup:
    """An inline SVG QR code (no style attributes, so the CSP allows it)."""
    svg = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage).to_string(encoding="unicode")
    return Markup(svg)  # noqa: S704 (made by qrcode from our own URI, not user markup)


def enrollment_signature(settings: Settings, organizer_id: str, secret: str) -> str:
    """Ties a proposed secret to its organizer, so the confirm form cannot swap in another."""
    message = f"totp-enroll/v1|{organizer_id}|{secret}".encode()
    return hmac.new(settings.secret_key, message, hashlib.sha256).hexdigest()


def organizer_secret(settings: Settings, organizer: Organizer) -> str:
    assert organizer.totp_secret is not None
    return decrypt(settings.encryption_key, organizer.totp_secret, f"totp/{organizer.id}")


async def check_second_factor(request: Request, organizer: Organizer, code: str) -> str | None:
    """Spend a TOTP or recovery code of the organizer; how it was given ("code"/"recovery code"), or None."""
    db: Database = request.app.state.db
    settings: Settings = request.app.state.settings
    step = matching_step(organizer_secret(settings, organizer), code, organizer.totp_last_step)

    async def spend(tx: Transaction) -> str | None:
        if step is not None:
            used = await tx.fetch_one(queries.USE_TOTP_STEP, {"id": organizer.id, "step": step})
            return "code" if used else None
        row = await tx.fetch_one(
            queries.USE_RECOVERY_CODE, {"code_hash": recovery_hash(code), "organizer_id": organizer.id}
        )
        return "recovery code" if row else None

    return await db.write(spend)


async def start(request: Request) -> Response:
    """POST /organize/two-factor: a new secret to scan, and a form for its first code."""
    organizer = await guard(request, two_factor_setup=True)
    if isinstance(organizer, Response):
        return organizer
    return enrollment_page(request, organizer, pyotp.random_base32(), error=None)


def code_problem(code: str, *, missing: str = ENTER_CODE) -> str:
    """The message for a refused code: `missing` when nothing was typed, else that it is not right."""
    return missing if not code.strip() else WRONG_CODE


def enrollment_page(request: Request, organizer: Organizer, secret: str, error: str | None) -> Response:
    """The QR code and key of `secret`, and the form for its first code; `error` is that code's refusal (400)."""
    settings: Settings = request.app.state.settings
    uri = pyotp.TOTP(secret).provisioning_uri(name=organizer.email, issuer_name=settings.site_name)
    context = {
        "qr": provisioning_qr(uri),
        "secret": secret,
        "grouped_secret": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        "signature": enrollment_signature(settings, organizer.id, secret),
        "errors": {"code": error} if error else {},
    }
    return page(request, "two_factor_enroll.html", context, status=400 if error else 200)


async def confirm(request: Request) -> Response:
    """POST /organize/two-factor/confirm: the first code proves the app has the secret; then it is on."""
    organizer = await guard(request, two_factor_setup=True)
    if isinstance(organizer, Response):
        return organizer
    settings: Settings = request.app.state.settings
    async with request.form() as form:
        secret = str(form.get("secret") or "")
        signature = str(form.get("signature") or "")
        code = str(form.get("code") or "")
    expected = enrollment_signature(settings, organizer.id, secret)
    if not secret or not hmac.compare_digest(signature, expected):
        return page(request, "message.html", {"title": "Start again", "message": "This form is stale."}, 400)
    step = matching_step(secret, code, after_step=0)
    if step is None:
        return enrollment_page(request, organizer, secret, error=code_problem(code, missing=ENTER_APP_CODE))
    codes = [new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    sealed = encrypt(settings.encryption_key, secret, f"totp/{organizer.id}")

    async def turn_on(tx: Transaction) -> None:
        await tx.execute(queries.UPDATE_ORGANIZER_TOTP, {"id": organizer.id, "totp_secret": sealed, "step": step})
        await tx.execute(queries.DELETE_RECOVERY_CODES, {"organizer_id": organizer.id})
        await tx.execute_many(
            queries.INSERT_RECOVERY_CODE,
            [{"code_hash": recovery_hash(c), "organizer_id": organizer.id} for c in codes],
        )
        await audit(tx, organizer.id, "two-factor turned on")

    await request.app.state.db.write(turn_on)
    return page(request, "recovery_codes.html", {"codes": codes})


async def turn_off(request: Request) -> Response:
    """POST /organize/two-factor/off: needs a current code; refused while an admin requires two-factor."""
    organizer = await guard(request, two_factor_setup=True)
    if isinstance(organizer, Response):
        return organizer
    db: Database = request.app.state.db
    if not organizer.two_factor:
        return redirect("/organize/settings")
    if await organizers.two_factor_required(db):
        message = "An administrator requires two-factor for every organizer, so it cannot be turned off."
        return page(request, "message.html", {"title": "Two-factor stays on", "message": message}, 409)
    async with request.form() as form:
        code = str(form.get("code") or "")
    if await check_second_factor(request, organizer, code) is None:
        # The settings page again, the message beside the code: the organizer can type the next one.
        return await settings_page(request, errors={"off-code": code_problem(code)}, status=400)

    async def off(tx: Transaction) -> None:
        await tx.execute(queries.UPDATE_ORGANIZER_TOTP, {"id": organizer.id, "totp_secret": None, "step": 0})
        await tx.execute(queries.DELETE_RECOVERY_CODES, {"organizer_id": organizer.id})
        await audit(tx, organizer.id, "two-factor turned off")

    await db.write(off)
    return redirect("/organize/settings")


async def login_step_page(request: Request) -> Response:
    """GET /login/two-factor: after the password, the code."""
    session = await current_session(request)
    if session is None or not session.needs_second_factor:
        return to_login()
    return page(request, "login_two_factor.html", {"errors": {}})


async def login_step(request: Request) -> Response:
    """POST /login/two-factor: a right code (or recovery code) completes the login with a fresh session."""
    session = await current_session(request)
    if session is None or not session.needs_second_factor:
        return to_login()
    settings: Settings = request.app.state.settings
    limiter = request.app.state.rate_limiter
    organizer = session.organizer
    async with request.form() as form:
        code = str(form.get("code") or "")
    key = f"two-factor:{organizer.id}"
    if not limiter.allow(key, settings.rate_limit_login_per_account, settings.rate_limit_window_seconds):
        message = "Too many attempts. Please wait a few minutes and try again."
        return page(request, "login_two_factor.html", {"errors": {"code": message}}, 429)
    how = await check_second_factor(request, organizer, code)
    db: Database = request.app.state.db
    if how is None:
        await organizers.record(db, organizer.id, "two-factor failed")
        return page(request, "login_two_factor.html", {"errors": {"code": code_problem(code)}}, 400)

    async def complete(tx: Transaction) -> str:
        await end_session(tx, session.token_hash)
        await audit(tx, organizer.id, "login", f"with a {how}")
        return await start_session(tx, organizer.id, needs_second_factor=False)

    return signed_in_response(request, await db.write(complete), "/organize")

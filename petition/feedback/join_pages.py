"""The pages to join a round: the choices (a printed code, a work email), the emailed code's page,
the page shown once with the participant token, and carrying a token to another device.

The token lives in the `participant` cookie: HttpOnly, SameSite=Lax, for the round's path only,
Secure over https, and gone when the browser closes. It is shown once, on the joined page, so it
can be carried to another device. The emailed attempt rides in a cookie of the round's path
while its code is typed. Every page that shows or sets a token is never cached.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from .. import addresses, codes, petitions
from ..email_codes import CODE_SECONDS
from ..field_messages import FORM
from ..petitions import PetitionError
from ..signatures import methods_of
from ..signing import NO_STORE, limit, signer_page
from . import joins, participants, round_pages, rounds
from .rounds import Found

ATTEMPT_COOKIE = "join_attempt"
MAX_TYPED = 300  # what a form field is read to at most: a token, a code or an address is far shorter
ENTER_CODE = "Enter the code printed on your flyer or slip."
ENTER_EMAIL = "Enter your work address."
ENTER_EMAILED_CODE = "Enter the code from the email."
# Messages, not secrets.
ENTER_TOKEN = "Paste the participant token you kept, starting pt_."  # noqa: S105
NOT_A_TOKEN = "That is not a participant token of this round: a token starts pt_ and was shown when you joined."  # noqa: S105
RESENT = "again"
RESENT_NOTICE = "A new code is on its way; the one before no longer works."
FORGOTTEN = "This device has forgotten your participant token."
NOT_FOUND = {"title": "Not found", "message": rounds.NOT_FOUND}


def round_path(found: Found) -> str:
    """The round's own page, /r/{id}: what the participant cookie is scoped to."""
    return f"/r/{found.round['id']}"


async def page_round(request: Request) -> Found | Response:
    """The round of the path if the public may see it, or the 404 page."""
    try:
        return await rounds.visible_to(request.app.state.db, request.path_params["id"], None)
    except PetitionError:
        return signer_page(request, "error.html", NOT_FOUND, 404)


def context_of(request: Request, found: Found, **more: object) -> dict[str, object]:
    """What every join page shows: the round, its petition, the ways in, and the errors (input id -> message)."""
    row = found.petition
    return {
        "round": found.round,
        "round_path": round_path(found),
        "petition": petitions.public_view(row, request.app.state.settings.base_url),
        "routes": sorted(methods_of(row["verification"])),
        "domains": addresses.shown_domains(row["allowed_domains"]),
        "values": {"code": "", "email": ""},
        "errors": {},
        "notice": None,
        "min_cell_size": request.app.state.settings.min_cell_size,
        **more,
    }


def set_participant(response: Response, request: Request, found: Found, token: str) -> None:
    """The participant cookie: the token, for the round's path only, until the browser closes."""
    response.set_cookie(
        participants.COOKIE,
        token,
        path=round_path(found),
        httponly=True,
        samesite="lax",
        secure=request.app.state.settings.is_https,
    )


def forget_cookie(response: Response, request: Request, found: Found, name: str) -> None:
    secure = request.app.state.settings.is_https
    response.delete_cookie(name, path=round_path(found), httponly=True, samesite="lax", secure=secure)


def closed_page(request: Request, found: Found, *, sent: bool = True) -> Response:
    """A round that takes no joins (closed, past its close time, or its petition closed): it says so,
    that nothing was taken when a form was `sent`, and links to public results (409, as a petition's)."""
    return signer_page(request, "round_closed.html", context_of(request, found, sent=sent), 409)


async def joined_already(request: Request, found: Found) -> Response | None:
    """A join refused as a repeat (already joined, code used, its emailed attempt gone) from a device
    whose cookie holds a token of this round, as a double tap leaves it once the first answer set
    the cookie: the round page saying so (303); None for any other device."""
    if await participants.cookie_participant(request, found) is None:
        return None
    url = f"{round_path(found)}?joined={round_pages.JOINED_ALREADY}"
    return RedirectResponse(url, status_code=303, headers=NO_STORE)


def joined_page(request: Request, found: Found, token: str) -> Response:
    """The one page that shows the token; it sets the cookie and forgets the emailed attempt."""
    response = signer_page(request, "round_joined.html", context_of(request, found, token=token), 201)
    set_participant(response, request, found, token)
    forget_cookie(response, request, found, ATTEMPT_COOKIE)
    return response


def join_form(request: Request, found: Found, *, status: int = 200, **more: object) -> Response:
    return signer_page(request, "round_join.html", context_of(request, found, **more), status)


async def join_page(request: Request) -> Response:
    """GET /r/{id}/join: the round's question and its ways in; `?code=` (a printed round code, from
    its QR code) fills in the code form."""
    found = await page_round(request)
    if isinstance(found, Response):
        return found
    if not rounds.is_accepting(found):
        return closed_page(request, found, sent=False)
    typed = codes.printed_code(request.query_params.get("code", ""))
    return join_form(request, found, values={"code": typed, "email": ""})


async def join(request: Request) -> Response:
    """POST /r/{id}/join: a printed code (the joined page, 201) or a work address (a redirect, 303,
    to the page to type the emailed code on). A refusal: the form again with its error."""
    found = await page_round(request)
    if isinstance(found, Response):
        return found
    db, settings = request.app.state.db, request.app.state.settings
    async with request.form() as form:
        method = str(form.get("method") or "")
        typed = {name: str(form.get(name) or "").strip()[:MAX_TYPED] for name in ("code", "email")}
    method = method if method in ("code", "email") else "email" if typed["email"] else "code"
    values = {**typed, method: typed[method]}
    if not rounds.is_accepting(found):
        return closed_page(request, found)
    field = f"join-{method}"
    if message := limit(request, emails=method == "email"):
        return join_form(request, found, status=429, values=values, errors={field: message})
    if not typed[method]:
        missing = ENTER_CODE if method == "code" else ENTER_EMAIL
        return join_form(request, found, status=422, values=values, errors={field: missing})
    try:
        if method == "code":
            token = await joins.join_with_code(db, settings, found=found, code=typed["code"])
            return joined_page(request, found, token)
        attempt = await joins.ask_for_code(db, settings, found=found, email=typed["email"])
    except PetitionError as error:
        if not rounds.is_accepting(found) or error.message == joins.CLOSED:
            return closed_page(request, found)
        if error.message == joins.NOT_A_CODE and (joined := await joined_already(request, found)):
            return joined
        where = field if error.field or error.status == 422 else FORM
        return join_form(request, found, status=error.status, values=values, errors={where: error.message})
    request.app.state.sender.wake()
    response = RedirectResponse(f"{round_path(found)}/check-email", status_code=303, headers=NO_STORE)
    response.set_cookie(
        ATTEMPT_COOKIE,
        attempt,
        max_age=CODE_SECONDS,
        path=round_path(found),
        httponly=True,
        samesite="lax",
        secure=settings.is_https,
    )
    return response


def check_email_page(
    request: Request, found: Found, *, error: str | None = None, notice: str | None = None, status: int = 200
) -> Response:
    """The page to type the emailed code on (its attempt is in the cookie, not the page)."""
    errors = {"round-code": error} if error else {}
    page = context_of(request, found, errors=errors, notice=notice)
    return signer_page(request, "round_check_email.html", page, status)


def expired_page(request: Request, found: Found) -> Response:
    """The dead end of an emailed attempt that expired, was used, or this device does not hold (404)."""
    return signer_page(request, "round_attempt_expired.html", context_of(request, found), 404)


def attempt_cookie(request: Request) -> str:
    return joins.attempt_of(request.cookies.get(ATTEMPT_COOKIE, ""))


async def check_email(request: Request) -> Response:
    """GET /r/{id}/check-email: the page to type the emailed code on, or the expired attempt's page."""
    found = await page_round(request)
    if isinstance(found, Response):
        return found
    if not rounds.is_accepting(found):
        return closed_page(request, found, sent=False)
    attempt = attempt_cookie(request)
    if not attempt or not await joins.attempt_is_live(request.app.state.db, found=found, attempt=attempt):
        return expired_page(request, found)
    notice = RESENT_NOTICE if request.query_params.get("sent") == RESENT else None
    return check_email_page(request, found, notice=notice)


async def verify(request: Request) -> Response:
    """POST /r/{id}/verify: the emailed code; the joined page (201), or the code's page with its error."""
    found = await page_round(request)
    if isinstance(found, Response):
        return found
    async with request.form() as form:
        code = str(form.get("code") or "").strip()[:40]
    attempt = attempt_cookie(request)
    if not attempt:
        # The joined page forgets the attempt: a second tap after it set the token finds none.
        return await joined_already(request, found) or expired_page(request, found)
    if not rounds.is_accepting(found):
        return closed_page(request, found)
    if message := limit(request):
        return check_email_page(request, found, error=message, status=429)
    if not code:
        return check_email_page(request, found, error=ENTER_EMAILED_CODE, status=422)
    db, settings = request.app.state.db, request.app.state.settings
    try:
        token = await joins.verify(db, settings, found=found, attempt=attempt, code=code)
    except PetitionError as error:
        if error.message == joins.CLOSED:
            return closed_page(request, found)
        if error.status == 404:
            return await joined_already(request, found) or expired_page(request, found)
        if error.message == joins.ALREADY_JOINED:
            if joined := await joined_already(request, found):
                return joined
            return signer_page(request, "round_already_joined.html", context_of(request, found), 409)
        return check_email_page(request, found, error=error.message, status=error.status)
    return joined_page(request, found, token)


async def resend(request: Request) -> Response:
    """POST /r/{id}/resend: a new code for the attempt; a redirect (303) back to the code's page."""
    found = await page_round(request)
    if isinstance(found, Response):
        return found
    attempt = attempt_cookie(request)
    if not attempt:
        return expired_page(request, found)
    if not rounds.is_accepting(found):
        return closed_page(request, found)
    if message := limit(request, emails=True):
        return check_email_page(request, found, error=message, status=429)
    try:
        await joins.resend(request.app.state.db, request.app.state.settings, found=found, attempt=attempt)
    except PetitionError as error:
        return expired_page(request, found) if error.status == 404 else closed_page(request, found)
    request.app.state.sender.wake()
    url = f"{round_path(found)}/check-email?sent={RESENT}"
    return RedirectResponse(url, status_code=303, headers=NO_STORE)


async def held_token(request: Request, found: Found) -> dict[str, bool]:
    """What the token page says of this device: whether its participant cookie is there (`held`: it
    is offered to forget it) and whether its token is valid in the round (`valid`)."""
    if participants.COOKIE not in request.cookies:
        return {"held": False, "valid": False}
    return {"held": True, "valid": await participants.cookie_participant(request, found) is not None}


async def token_page(request: Request) -> Response:
    """GET /r/{id}/token: paste a token kept from another device, or make this device forget its own
    (offered only when its cookie is there)."""
    found = await page_round(request)
    if isinstance(found, Response):
        return found
    return signer_page(request, "round_token.html", context_of(request, found, **await held_token(request, found)))


async def token_action(request: Request) -> Response:
    """POST /r/{id}/token: `action` forget clears the cookie; otherwise the pasted `token` is checked
    and kept in the cookie (a redirect, 303, to the round), or the form again with its error (422)."""
    found = await page_round(request)
    if isinstance(found, Response):
        return found
    async with request.form() as form:
        action = str(form.get("action") or "")
        typed = str(form.get("token") or "")[:MAX_TYPED]
    if action == "forget":
        page = context_of(request, found, held=False, valid=False, notice=FORGOTTEN)
        response = signer_page(request, "round_token.html", page)
        forget_cookie(response, request, found, participants.COOKIE)
        return response
    held = await held_token(request, found)
    if message := limit(request):
        page = context_of(request, found, **held, errors={"round-token": message})
        return signer_page(request, "round_token.html", page, 429)
    token = participants.token_shape(typed)
    key = None
    if token is not None:
        key = await participants.participant_of(request.app.state.db, found, token, settings=request.app.state.settings)
    if key is None or token is None:
        error = ENTER_TOKEN if not typed.strip() else NOT_A_TOKEN
        page = context_of(request, found, **held, errors={"round-token": error})
        return signer_page(request, "round_token.html", page, 422)
    response = RedirectResponse(round_path(found), status_code=303, headers=NO_STORE)
    set_participant(response, request, found, token)
    return response

"""The signer's pages, from the petition to the receipt: a method's form, its POST, the page the
emailed code is typed on, and the receipt's own page.

Every POST that takes a signature (or starts an emailed attempt) answers with a redirect (303),
so a reload or Back never sends a form again. Each form page mints the receipt the form signs
with (`sign_tokens`), so a form sent twice, even by two racing requests, finds its own signature
and answers as the first did. What moves between pages (the receipt; for work email, the
attempt, its receipt and flyer mark) rides in sealed cookies (`receipt_cookie`), never in an
address, a log line or anything the server keeps.
"""

from __future__ import annotations

import json
import re
import secrets

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from . import (
    addresses,
    codes,
    email_signing,
    flyer_batches,
    petitions,
    receipt_cookie,
    sign_tokens,
    signatures,
    timeline,
    updates,
)
from .database import Row
from .field_messages import FORM, FieldWords, field_messages
from .petitions import PetitionError
from .sign_tokens import Minted
from .signatures import SignatureCreate
from .signing import NO_STORE, limit, page_petition, signer_page

SIGN_WORDS = {
    "code": FieldWords("Your code", "Enter the code printed on your flyer or slip"),
    "email": FieldWords("Your work address", addresses.REFUSED),
    "name": FieldWords("Your name"),
    "role": FieldWords("Your role or team"),
    "reason": FieldWords("Your reason"),
    "updates": FieldWords("The updates address", addresses.REFUSED),
}
FORM_FIELDS = ("code", "email", "name", "role", "reason", "updates")
METHODS = sign_tokens.METHODS
# What a form left empty is asked for, by method (the model refuses it as no one field's fault).
MISSING = {"code": "Enter the code printed on your flyer or slip.", "email": "Enter your work address."}
NO_CODE_TYPED = "Enter the code from the email."
RESENT = "again"  # the fixed flag of `?sent=` after a new code was sent: it says nothing else
RESENT_NOTICE = "A new code is on its way; the one before no longer works."
FLYER_CODE = re.compile(r"[0-9A-Za-z]{1,20}")


def flyer_code(text: str) -> str:
    """A flyer's short-link code as a form or address carries it ("" when it is not one)."""
    return text if FLYER_CODE.fullmatch(text) else ""


def blank_values(**given: object) -> dict[str, object]:
    """A form's values before anything is typed (the fields, the ticked box, the flyer mark), with `given`."""
    return {**dict.fromkeys(FORM_FIELDS, ""), "show_name": False, "flyer": "", **given}


def sign_form_context(
    row: Row,
    method: str = "",
    values: dict[str, object] | None = None,
    errors: dict[str, str] | None = None,
) -> dict[str, object]:
    """What the signing pages need: the methods the petition takes, its domains, the method of
    this form, the values typed (kept through an error), and the errors by field name."""
    return {
        "row": row,
        "routes": json.loads(row["verification"]),
        "domains": addresses.shown_domains(row["allowed_domains"]),
        "method": method,
        "values": values or blank_values(),
        "errors": errors or {},
        "error_ids": {name: f"{method}-{name}" for name in FORM_FIELDS},
    }


def method_page(
    request: Request,
    row: Row,
    context: dict[str, object],
    method: str,
    *,
    values: dict[str, object] | None = None,
    errors: dict[str, str] | None = None,
    minted: Minted | None = None,
    status: int = 200,
) -> Response:
    """A method's form page (never cached): its fields, and the receipt it signs with, sealed in
    a hidden field. A form shown again after an error keeps the receipt it had, if any."""
    settings = request.app.state.settings
    minted = minted or sign_tokens.new(method)
    token = sign_tokens.seal(settings, minted, petition_id=row["id"], method=method)
    page = {**context, **sign_form_context(row, method, values, errors), "token": token}
    return signer_page(request, "sign.html", page, status)


async def sign_page(request: Request) -> Response:
    """GET /p/{slug}/sign/{method}: the form of one method (`code` or `email`); `?code=` (a printed
    code) and `?f=` (a flyer's mark) fill it in. 404 for a method the petition does not take."""
    found = await page_petition(request)
    if isinstance(found, Response):
        return found
    row, context = found
    method = request.path_params["method"]
    if method not in METHODS or method not in signatures.methods_of(row["verification"]):
        not_here = {"title": "Not found", "message": "This petition cannot be signed that way."}
        return signer_page(request, "error.html", {**context, **not_here}, 404)
    if not petitions.is_open(row):
        return closed_page(request, context, sent=False)
    query = request.query_params
    values = blank_values(flyer=flyer_code(query.get("f", "")))
    if method == "code":
        # Only a printed code is put into the form: anything else is dropped, without an error.
        values["code"] = codes.printed_code(query.get("code", ""))
    return method_page(request, row, context, method, values=values)


async def sign(request: Request) -> Response:
    """POST /p/{slug}/sign: a method's form. A printed code: a redirect (303) to the receipt's page.
    A work address: a redirect (303) to the page to type the emailed code on. A refusal: the form
    again, with what was typed and the errors (4xx)."""
    found = await page_petition(request)
    if isinstance(found, Response):
        return found
    row, context = found
    db, settings = request.app.state.db, request.app.state.settings
    async with request.form() as form:
        fields = {name: str(form.get(name) or "") for name in FORM_FIELDS}
        show_name = form.get("show_name") == "on"
        flyer = flyer_code(str(form.get("flyer") or ""))
        method = str(form.get("method") or "")
        token = str(form.get("token") or "")
    if method not in METHODS:  # a form from before the method pages, or a client of its own
        method = "email" if fields["email"] else "code"
    values = {**fields, "show_name": show_name, "flyer": flyer}
    minted = sign_tokens.open_token(settings, token, petition_id=row["id"], method=method)

    def again(errors: dict[str, str], status: int) -> Response:
        return method_page(request, row, context, method, values=values, errors=errors, minted=minted, status=status)

    if not petitions.is_open(row):
        return closed_page(request, context)
    if message := limit(request, emails=method == "email"):
        return again({method: message}, 429)
    try:
        data = SignatureCreate.model_validate({**fields, "show_name": show_name})
        if data.email:
            attempt = await email_signing.ask_for_code(
                db, settings, petition=row, data=data, attempt=(minted.attempt or None) if minted else None
            )
            request.app.state.sender.wake()
            # The receipt the emailed code will sign with: the form's, so a repeated code finds it.
            receipt = minted.receipt if minted else secrets.token_urlsafe(signatures.RECEIPT_BYTES)
            return to_check_email(request, row, attempt=attempt, receipt=receipt, flyer=flyer)
        flyer_id = await flyer_batches.flyer_of_page(db, row, flyer)
        receipt = await signatures.sign_with_code(
            db, settings, petition=row, data=data, flyer=flyer_id, receipt=minted.receipt if minted else None
        )
    except ValidationError as error:
        problems = field_messages(error, SIGN_WORDS)
        if problems.pop(FORM, None) or not problems:  # not one field's fault: asked for by the method's own field
            problems.setdefault(method, MISSING[method])
        return again(problems, 422)
    except PetitionError as error:
        if not petitions.is_open(row):  # its deadline passed while this form was read
            return closed_page(request, context)
        # A refusal of one field (an updates address at a work domain) is shown beside it.
        return again({error.field or method: error.message}, error.status)
    if data.updates:
        request.app.state.sender.wake()
    return to_receipt(request, row, receipt, updates=bool(data.updates))


def to_check_email(request: Request, row: Row, *, attempt: str, receipt: str, flyer: str) -> Response:
    """After a code was asked for: a redirect (303) to the page to type it on, the attempt, its
    receipt and the flyer mark in a cookie sent only to that step's paths."""
    url = str(request.app.url_path_for("check_email", slug=row["slug"]))
    response = RedirectResponse(url, status_code=303, headers=NO_STORE)
    receipt_cookie.keep_attempt(
        response, request.app.state.settings, slug=row["slug"], attempt=attempt, receipt=receipt, flyer=flyer
    )
    return response


def to_receipt(request: Request, row: Row, receipt: str, *, updates: bool) -> Response:
    """After a signature was taken: a redirect (303) to its receipt page, the receipt in a cookie
    for that page only, so a reload or Back never sends the form again."""
    response = RedirectResponse(receipt_cookie.page_path(row["slug"]), status_code=303, headers=NO_STORE)
    receipt_cookie.keep(response, request.app.state.settings, slug=row["slug"], receipt=receipt, updates=updates)
    return response


async def check_email(request: Request) -> Response:
    """GET /p/{slug}/check-email: the page to type the emailed code on (its attempt in the cookie).
    Once the attempt's signature is taken (Back after signing), a redirect to the receipt's page;
    without a live attempt, the page that says it expired."""
    found = await page_petition(request)
    if isinstance(found, Response):
        return found
    row, context = found
    db = request.app.state.db
    kept = receipt_cookie.read_attempt(request, request.app.state.settings, slug=row["slug"])
    if kept is None:
        return attempt_expired_page(request, context)
    attempt, receipt, _ = kept
    if await signatures.find(db, petition=row, receipt=receipt) is not None:
        return to_receipt(request, row, receipt, updates=await updates.is_waiting(db, receipt))
    if not petitions.is_open(row):
        return closed_page(request, context, sent=False)
    if not await email_signing.attempt_is_live(db, petition=row, attempt=attempt):
        return attempt_expired_page(request, context)
    notice = RESENT_NOTICE if request.query_params.get("sent") == RESENT else None
    return check_email_page(request, context, notice=notice)


async def verify(request: Request) -> Response:
    """POST /p/{slug}/verify: the emailed code; a redirect (303) to the receipt's page. The same
    code sent twice (a double tap) gives the same receipt."""
    found = await page_petition(request)
    if isinstance(found, Response):
        return found
    row, context = found
    db, settings = request.app.state.db, request.app.state.settings
    async with request.form() as form:
        code = str(form.get("code") or "").strip()[:40]
    kept = receipt_cookie.read_attempt(request, settings, slug=row["slug"])
    if kept is None:
        return attempt_expired_page(request, context)
    attempt, minted_receipt, flyer = kept
    if not petitions.is_open(row):
        return closed_page(request, context)
    if message := limit(request):
        return check_email_page(request, context, error=message, status=429)
    if not code:
        return check_email_page(request, context, error=NO_CODE_TYPED, status=422)
    try:
        flyer_id = await flyer_batches.flyer_of_page(db, row, flyer)
        receipt = await email_signing.verify(
            db, settings, petition=row, attempt=attempt, code=code, flyer=flyer_id, receipt=minted_receipt
        )
    except PetitionError as error:
        return attempt_refused(request, row, context, error)
    request.app.state.sender.wake()
    return to_receipt(request, row, receipt, updates=await updates.is_waiting(db, receipt))


async def resend(request: Request) -> Response:
    """POST /p/{slug}/resend: a new code for the attempt; a redirect (303) back to the check-email page."""
    found = await page_petition(request)
    if isinstance(found, Response):
        return found
    row, context = found
    settings = request.app.state.settings
    kept = receipt_cookie.read_attempt(request, settings, slug=row["slug"])
    if kept is None:
        return attempt_expired_page(request, context)
    attempt, receipt, flyer = kept
    if not petitions.is_open(row):
        return closed_page(request, context)
    if message := limit(request, emails=True):
        return check_email_page(request, context, error=message, status=429)
    try:
        await email_signing.resend(request.app.state.db, settings, petition=row, attempt=attempt)
    except PetitionError as error:
        return attempt_refused(request, row, context, error)
    request.app.state.sender.wake()
    url = f"{request.app.url_path_for('check_email', slug=row['slug'])}?sent={RESENT}"
    response = RedirectResponse(url, status_code=303, headers=NO_STORE)
    # The cookie lives as long again, as the new code does.
    receipt_cookie.keep_attempt(response, settings, slug=row["slug"], attempt=attempt, receipt=receipt, flyer=flyer)
    return response


def attempt_refused(request: Request, row: Row, context: dict[str, object], error: PetitionError) -> Response:
    """The page for an emailed code refused: its own page for a dead end (closed, expired, signed
    already), else the check-email page with the error beside the code."""
    if not petitions.is_open(row) or error.message == email_signing.CLOSED:
        return closed_page(request, context)
    if error.status == 404:
        return attempt_expired_page(request, context)
    if error.message == email_signing.ALREADY_SIGNED:
        return signer_page(request, "already_signed.html", context, 409)
    return check_email_page(request, context, error=error.message, status=error.status)


async def signed_page(request: Request) -> Response:
    """GET /p/{slug}/signed: the receipt this device was just given (from its cookie), or a page
    saying it holds none any more."""
    found = await page_petition(request)
    if isinstance(found, Response):
        return found
    row, context = found
    kept = receipt_cookie.read(request, request.app.state.settings, slug=row["slug"])
    if kept is None:
        return signer_page(request, "receipt_gone.html", context)
    receipt, waiting = kept
    db = request.app.state.db
    # What became of it since (withdrawn on the receipt page, or counted): said, never assumed.
    found = await signatures.find(db, petition=row, receipt=receipt)
    status = "pending"
    if found is not None and found["withdrawn"]:
        status = "withdrawn"
    elif found is not None and found["counted"]:
        status = "counted"
    waited = await timeline.typical_wait_days(db, row)
    shown = {"receipt": receipt, "updates": waiting and status != "withdrawn", "waited": waited, "status": status}
    return signer_page(request, "receipt.html", {**context, **shown})


async def forget_receipt(request: Request) -> Response:
    """POST /p/{slug}/signed/forget: this device forgets the receipt (its cookie, and the emailed
    attempt's, which holds it too)."""
    found = await page_petition(request)
    if isinstance(found, Response):
        return found
    slug = found[0]["slug"]
    settings = request.app.state.settings
    response = RedirectResponse(receipt_cookie.page_path(slug), status_code=303, headers=NO_STORE)
    receipt_cookie.forget(response, settings, slug=slug)
    receipt_cookie.forget_attempt(response, settings, slug=slug)
    return response


def closed_page(request: Request, context: dict[str, object], *, sent: bool = True) -> Response:
    """The answer to a signing form (`sent`) or page once the petition closed (or its deadline
    passed): it says so, and offers no form to send again (409)."""
    return signer_page(request, "closed.html", {**context, "sent": sent}, 409)


def attempt_expired_page(request: Request, context: dict[str, object]) -> Response:
    """The dead end of an emailed attempt that expired, was used, or that this device no longer
    holds: start again (404)."""
    return signer_page(request, "attempt_expired.html", context, 404)


def check_email_page(
    request: Request,
    context: dict[str, object],
    *,
    error: str | None = None,
    notice: str | None = None,
    status: int = 200,
) -> Response:
    """The page to type the emailed code on (its attempt is in the cookie, not the page)."""
    return signer_page(request, "check_email.html", {**context, "error": error, "notice": notice}, status)

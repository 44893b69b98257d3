"""What signers do through the API (sign with a printed or emailed code, check, withdraw, hide a
name, updates), and the receipt's pages: check, withdraw, hide a name, updates, download. The
signing pages are in `sign_pages`."""

from __future__ import annotations

import base64

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp

from . import (
    addresses,
    downloads,
    email_signing,
    inclusion,
    petitions,
    shown_names,
    signatures,
    timeline,
    updates,
)
from .cache import RawResponse
from .database import Database, Row
from .email_signing import AttemptBody, CheckEmail, VerifyBody
from .errors import ApiError
from .field_messages import FORM
from .petitions import PetitionError
from .signatures import NOT_A_RECEIPT, ReceiptBody, SignatureAccepted, SignatureCreate, SignatureStatus
from .updates import UpdatesConfirm, UpdatesRequest, UpdatesStatus

NO_STORE = {"cache-control": "no-store"}
JSON_NO_STORE = [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]


async def open_petition(request: Request) -> Row:
    """The petition of the path, if the public may see it; 404 otherwise (from the cache)."""
    row = await request.app.state.public_cache.petition_row(request.path_params["slug"])
    if row is None or row["state"] not in petitions.VISIBLE_STATES:
        raise ApiError(404, "There is no petition at this address.")
    return row


TOO_MANY = "Too many signing requests from your network. Please wait a few minutes and try again."


def limit(request: Request, *, emails: bool = False) -> str | None:
    """A message when this client is over a signing limit (counted per process, keyed as the rate limiter says)."""
    settings = request.app.state.settings
    limiter = request.app.state.rate_limiter
    client = limiter.client_key(request.scope, settings)
    window = settings.rate_limit_window_seconds
    if not limiter.allow(client + ":sign", settings.rate_limit_signing_per_client, window):
        return TOO_MANY
    if emails and not limiter.allow(client + ":mail", settings.rate_limit_code_emails_per_client, window):
        return TOO_MANY
    return None


def api_limit(request: Request, *, emails: bool = False) -> None:
    if message := limit(request, emails=emails):
        raise ApiError(429, message)


def json_answer(model: BaseModel, status: int = 200, *, exclude_none: bool = False) -> RawResponse:
    """A JSON answer that nobody caches, as ready-made ASGI parts (cheaper than a Response per signature)."""
    body = model.model_dump_json(exclude_none=exclude_none).encode()
    return RawResponse(status, [*JSON_NO_STORE, (b"content-length", str(len(body)).encode())], body)


async def api_sign(request: Request, body: SignatureCreate) -> ASGIApp:
    """POST /api/v1/petitions/{slug}/signatures: 201 with the receipt (printed code), or 202 (work email)."""
    api_limit(request, emails=bool(body.email))
    row = await open_petition(request)
    db, settings = request.app.state.db, request.app.state.settings
    if body.email:
        attempt = await email_signing.ask_for_code(db, settings, petition=row, data=body)
        request.app.state.sender.wake()
        return json_answer(CheckEmail(status="check_email", attempt=attempt), 202)
    receipt = await signatures.sign_with_code(db, settings, petition=row, data=body)
    if body.updates:
        request.app.state.sender.wake()
    return json_answer(SignatureAccepted(receipt=receipt, status="pending"), 201)


async def api_verify(request: Request, body: VerifyBody) -> ASGIApp:
    """POST /api/v1/petitions/{slug}/signatures/verify: the emailed code; 201 with the receipt."""
    api_limit(request)
    row = await open_petition(request)
    receipt = await email_signing.verify(
        request.app.state.db, request.app.state.settings, petition=row, attempt=body.attempt, code=body.code
    )
    request.app.state.sender.wake()  # an updates address may be waiting for its code
    return json_answer(SignatureAccepted(receipt=receipt, status="pending"), 201)


async def api_resend(request: Request, body: AttemptBody) -> ASGIApp:
    """POST /api/v1/petitions/{slug}/signatures/resend: a new code for the same attempt; 202."""
    api_limit(request, emails=True)
    row = await open_petition(request)
    await email_signing.resend(request.app.state.db, request.app.state.settings, petition=row, attempt=body.attempt)
    request.app.state.sender.wake()
    return json_answer(CheckEmail(status="check_email", attempt=body.attempt), 202)


async def api_updates(request: Request, body: UpdatesRequest) -> ASGIApp:
    """POST /api/v1/petitions/{slug}/signatures/updates: give an updates address; a code goes to it. 202."""
    api_limit(request, emails=True)
    row = await open_petition(request)
    await updates.request(
        request.app.state.db, request.app.state.settings, petition=row, receipt=body.receipt, address=body.address
    )
    request.app.state.sender.wake()
    return json_answer(UpdatesStatus(status="check_email"), 202)


async def api_updates_confirm(request: Request, body: UpdatesConfirm) -> ASGIApp:
    """POST /api/v1/petitions/{slug}/signatures/updates/confirm: the code sent to the updates address."""
    api_limit(request)
    row = await open_petition(request)
    await updates.confirm(
        request.app.state.db, request.app.state.settings, petition=row, receipt=body.receipt, code=body.code
    )
    return json_answer(UpdatesStatus(status="subscribed"))


async def api_unsubscribe(request: Request, body: ReceiptBody) -> ASGIApp:
    """POST /api/v1/petitions/{slug}/signatures/updates/unsubscribe: delete the updates address."""
    api_limit(request)
    row = await open_petition(request)
    await updates.unsubscribe(request.app.state.db, petition=row, receipt=body.receipt)
    return json_answer(UpdatesStatus(status="unsubscribed"))


async def api_status(request: Request, body: ReceiptBody) -> ASGIApp:
    """POST /api/v1/petitions/{slug}/signatures/status: what became of the signature behind a receipt
    (once counted, with its inclusion proof)."""
    row = await open_petition(request)
    db, settings = request.app.state.db, request.app.state.settings
    status = await signatures.status_of(db, petition=row, receipt=body.receipt)
    found = await inclusion_of(request, row, receipt=body.receipt, status=status)
    shown = await shown_names.is_shown(db, settings, petition=row, receipt=body.receipt, status=status)
    if found is None:
        answer = SignatureStatus.model_validate({"status": status, "name_shown": shown})
    elif found.carried_over:
        answer = SignatureStatus(status="counted", carried_over=True, name_shown=shown)
    else:
        answer = SignatureStatus(
            status="counted",
            leaf_index=found.leaf_index,
            tree_size=found.tree_size,
            proof=[base64.b64encode(item).decode() for item in found.proof],
            checkpoint=found.checkpoint,
            name_shown=shown,
        )
    return json_answer(answer, exclude_none=True)


async def inclusion_of(request: Request, row: Row, *, receipt: str, status: str | None) -> inclusion.Inclusion | None:
    """A counted signature's entry and proof in the petition's log (None for any other status)."""
    if status != "counted":
        return None
    reader = request.app.state.log_reader
    return await inclusion.of_counted(request.app.state.db, reader, petition=row, receipt=receipt)


async def api_withdraw(request: Request, body: ReceiptBody) -> ASGIApp:
    """POST /api/v1/petitions/{slug}/signatures/withdraw: out of the count, name and reason deleted."""
    row = await open_petition(request)
    await signatures.withdraw(request.app.state.db, request.app.state.settings, petition=row, receipt=body.receipt)
    request.app.state.public_cache.clear()  # a shown name may have gone
    return json_answer(SignatureStatus(status="withdrawn"), exclude_none=True)


async def api_hide_name(request: Request, body: ReceiptBody) -> ASGIApp:
    """POST /api/v1/petitions/{slug}/signatures/hide-name: the name the signature shows is hidden, on
    an open or a closed petition; `{"status", "name_shown": false}`. 409 when it shows none (never
    given, or hidden already) or was withdrawn."""
    row = await open_petition(request)
    db, settings = request.app.state.db, request.app.state.settings
    if not await shown_names.hide(db, settings, petition=row, receipt=body.receipt):
        raise PetitionError(409, shown_names.NO_NAME_SHOWN)
    request.app.state.public_cache.clear()  # a shown name may have gone
    status = await signatures.status_of(db, petition=row, receipt=body.receipt)
    return json_answer(SignatureStatus.model_validate({"status": status, "name_shown": False}), exclude_none=True)


def signer_page(request: Request, template: str, context: dict[str, object], status: int = 200) -> Response:
    """A page about one signer's signature: never cached anywhere."""
    response = request.app.state.templates.TemplateResponse(request, template, context, status_code=status)
    response.headers["cache-control"] = "no-store"
    return response


async def page_petition(request: Request) -> tuple[Row, dict[str, object]] | Response:
    """The petition of a signer's page and what every such page shows (its public view; `purged`:
    whether its identifying data was destroyed), or the 404 page."""
    row = await petitions.visible_to(request.app.state.db, request.path_params["slug"], None)
    if row is None:
        return signer_page(request, "error.html", {"title": "Not found", "message": "There is no petition here."}, 404)
    view = petitions.public_view(row, request.app.state.settings.base_url)
    # `purged`: its identifying data was destroyed, so it keeps no updates addresses to offer.
    return row, {"petition": view, "purged": row["purged_at"] is not None}


async def updates_action(request: Request) -> Response:
    """POST /p/{slug}/updates: confirm the updates address with its code, or give one (a code goes to it)."""
    found = await page_petition(request)
    if isinstance(found, Response):
        return found
    row, context = found
    db, settings = request.app.state.db, request.app.state.settings
    async with request.form() as form:
        typed = str(form.get("receipt") or "")
        code = str(form.get("code") or "").strip()[:40]
        address = str(form.get("address") or "")  # never cut: a cut address is another address
        confirming = "code" in form  # the code's form, even sent empty
    receipt = signatures.receipt_of(typed)
    if receipt is None:
        return not_a_receipt_page(request, context, blank=not typed.strip())
    context.update(receipt_context(receipt))
    if message := limit(request, emails=not confirming):
        context["errors"] = {"updates-code" if confirming else "updates-address": message}
        context["status"] = await status_or_none(db, row, receipt)
        context["updates"] = confirming and context["status"] is not None
        return signer_page(request, "receipt_check.html", context, 429)

    async def address_refused(message: str) -> Response:
        # The receipt has a receipt's shape already, so the address was refused: the updates
        # form again, the address as typed, the message beside it.
        context.update(errors={"updates-address": message}, address=address)
        context["status"] = await status_or_none(db, row, receipt)
        if context["status"] is None:
            context.update(errors={"receipt": signatures.RECEIPT_UNKNOWN}, address="")
        else:
            context["updates"] = await updates.is_waiting(db, receipt)
        return signer_page(request, "receipt_check.html", context, 422)

    try:
        if confirming:
            if not code:
                raise PetitionError(422, ENTER_UPDATES_CODE)
            await updates.confirm(db, settings, petition=row, receipt=receipt, code=code)
            context["notice"] = "Your updates address is confirmed."
        else:
            if not address.strip():
                return await address_refused(ENTER_UPDATES_ADDRESS)
            data = UpdatesRequest.model_validate({"receipt": receipt, "address": address})
            await updates.request(db, settings, petition=row, receipt=receipt, address=data.address)
            request.app.state.sender.wake()
            context["notice"] = "A code is on its way to that address: type it below to confirm it."
            context["updates"] = True
        context["status"] = await signatures.status_of(db, petition=row, receipt=receipt)
        context["inclusion"] = await inclusion_of(request, row, receipt=receipt, status=context["status"])
        context["waited"] = await timeline.typical_wait_days(db, row)
    except ValidationError:
        return await address_refused(addresses.REFUSED)
    except PetitionError as error:
        if error.field == "address":  # an address at one of the petition's work domains
            return await address_refused(error.message)
        context["updates"] = error.status in (422, 429) and confirming
        # A wrong code is the code's fault, a receipt of nothing the receipt's; a closed petition is no input's.
        field = "updates-code" if context["updates"] else "receipt" if error.status == 404 else FORM
        context["errors"] = {field: error.message}
        if context["updates"]:
            context["status"] = await status_or_none(db, row, receipt)
        return signer_page(request, "receipt_check.html", context, error.status)
    return signer_page(request, "receipt_check.html", context)


ENTER_UPDATES_CODE = "Enter the code we sent to your updates address."
ENTER_UPDATES_ADDRESS = "Enter the address to send updates to, like name@example.org."


async def status_or_none(db: Database, petition: Row, receipt: str) -> str | None:
    """The signature's status, or None when the receipt belongs to no signature on this petition."""
    try:
        return await signatures.status_of(db, petition=petition, receipt=receipt)
    except PetitionError:
        return None


def receipt_context(receipt: str = "") -> dict[str, object]:
    """What the receipt page shows before anything is done. `errors` maps an input id ("receipt",
    "updates-code", "updates-address"), or FORM for a refusal of no one input (a closed petition),
    to its message. `inclusion`: a counted signature's entry and proof (inclusion.Inclusion).
    `name_shown`: the signature shows a name (or will once counted), so the page offers to hide it."""
    return {
        "receipt": receipt,
        "status": None,
        "inclusion": None,
        "errors": {},
        "notice": None,
        "updates": False,
        "address": "",
        "waited": None,
        "name_shown": False,
    }


def not_a_receipt_page(request: Request, context: dict[str, object], *, blank: bool = False) -> Response:
    """The receipt page refusing text that cannot be a receipt, or none (`blank`) (422): the text is
    never shown again."""
    refused = {**context, **receipt_context(), "errors": {"receipt": ENTER_RECEIPT if blank else NOT_A_RECEIPT}}
    return signer_page(request, "receipt_check.html", refused, 422)


ENTER_RECEIPT = "Enter your receipt, as shown when you signed."
WITHDRAWN = "You have withdrawn your signature."


async def receipt_page(request: Request) -> Response:
    """GET /p/{slug}/receipt: check a receipt, withdraw, or manage updates."""
    found = await page_petition(request)
    if isinstance(found, Response):
        return found
    return signer_page(request, "receipt_check.html", {**found[1], **receipt_context()})


async def receipt_action(request: Request) -> Response:
    """POST /p/{slug}/receipt: `action` status (the default), withdraw (the page that asks once more),
    confirm_withdraw (the answer yes to it: out of the count, name and reason deleted), unsubscribe,
    or hide_name (open or closed petition)."""
    found = await page_petition(request)
    if isinstance(found, Response):
        return found
    row, context = found
    db: Database = request.app.state.db
    async with request.form() as form:
        typed = str(form.get("receipt") or "")
        action = str(form.get("action") or "status")
    receipt = signatures.receipt_of(typed)
    if receipt is None:
        return not_a_receipt_page(request, context, blank=not typed.strip())
    context.update(receipt_context(receipt))
    if action == "withdraw":
        return await withdraw_question(request, row, context, receipt)
    try:
        if action == "confirm_withdraw":
            await withdraw_once(request, row, receipt)
            context["notice"] = WITHDRAWN
        elif action == "unsubscribe":
            await updates.unsubscribe(db, petition=row, receipt=receipt)
            context["notice"] = "Your updates address is deleted: no more updates will be sent."
        elif action == "hide_name":
            context["notice"] = await hide_name_once(request, row, receipt)
        context["status"] = await signatures.status_of(db, petition=row, receipt=receipt)
        context["name_shown"] = await shown_names.is_shown(
            db, request.app.state.settings, petition=row, receipt=receipt, status=context["status"]
        )
        context["inclusion"] = await inclusion_of(request, row, receipt=receipt, status=context["status"])
        context["updates"] = await updates.is_waiting(db, receipt)
        context["waited"] = await timeline.typical_wait_days(db, row)
    except PetitionError as error:
        # A receipt of no signature is the receipt's fault; a closed petition or a signature
        # already withdrawn is no input's, and the receipt stays as it is.
        field = "receipt" if error.status in (404, 422) else FORM
        context["errors"] = {field: error.message}
        if field == FORM:
            context["status"] = await status_or_none(db, row, receipt)
        return signer_page(request, "receipt_check.html", context, error.status)
    return signer_page(request, "receipt_check.html", context)


async def withdraw_once(request: Request, row: Row, receipt: str) -> None:
    """Withdraw the signature behind `receipt`; a signature withdrawn already (the same confirmation
    sent twice: a reload, a double tap) counts as done. PetitionError 404 (no such signature), 409
    (closed)."""
    db: Database = request.app.state.db
    try:
        await signatures.withdraw(db, request.app.state.settings, petition=row, receipt=receipt)
    except PetitionError as error:
        if error.status != 409 or await status_or_none(db, row, receipt) != "withdrawn" or not petitions.is_open(row):
            raise
    request.app.state.public_cache.clear()  # a shown name may have gone


NAME_HIDDEN = "Your name is hidden: pages made from now on leave it out."
NO_NAME_SHOWN = "No name is shown with your signature."


async def hide_name_once(request: Request, row: Row, receipt: str) -> str:
    """Hide the name the signature behind `receipt` shows; the notice to show. A signature that shows
    none (hidden already: the same form sent twice by a reload or a double tap) is told so, as done.
    PetitionError 404 (no such signature), 409 (withdrawn)."""
    db, settings = request.app.state.db, request.app.state.settings
    if not await shown_names.hide(db, settings, petition=row, receipt=receipt):
        return NO_NAME_SHOWN
    request.app.state.public_cache.clear()  # the name leaves the petition's page at once
    return NAME_HIDDEN


async def withdraw_question(request: Request, row: Row, context: dict[str, object], receipt: str) -> Response:
    """The page that asks once more before a withdrawal (GOV.UK confirmation pattern), the receipt in
    its form; or, when nothing can be withdrawn (the petition closed, the signature withdrawn
    already), the page that says so (409). A receipt of nothing: the receipt page, its error beside it (404)."""
    db: Database = request.app.state.db
    status = await status_or_none(db, row, receipt)
    if not petitions.is_open(row):  # the petition's state answers first, as the withdrawal itself does
        refusal = signatures.WITHDRAW_CLOSED
    elif status is None:
        context["errors"] = {"receipt": signatures.RECEIPT_UNKNOWN}
        return signer_page(request, "receipt_check.html", context, 404)
    elif status == "withdrawn":
        refusal = "This signature was already withdrawn: it is out of the count, and its name and reason are deleted."
    else:
        refusal = None
    answer = {**context, "status": status, "refusal": refusal}
    return signer_page(request, "withdraw_confirm.html", answer, 409 if refusal else 200)


async def download_receipt(request: Request) -> Response:
    """POST /p/{slug}/receipt/download: the receipt as a small text file (it is not kept to send later)."""
    found = await page_petition(request)
    if isinstance(found, Response):
        return found
    slug = found[0]["slug"]  # the petition's own slug, never the path as typed
    async with request.form() as form:
        receipt = signatures.receipt_of(str(form.get("receipt") or ""))
    if receipt is None:  # only what a receipt can be goes into the file
        return not_a_receipt_page(request, found[1])
    base_url = request.app.state.settings.base_url
    text = (
        f"Your receipt for the petition {base_url}/p/{slug}\n\n{receipt}\n\n"
        "Keep it private. With it you can check that your signature was counted, or withdraw it,\n"
        f"at {base_url}/p/{slug}/receipt. Nobody can recover it if it is lost.\n"
    )
    headers = {**NO_STORE, **downloads.attachment(f"receipt-{slug}.txt")}
    return Response(text, media_type="text/plain; charset=utf-8", headers=headers)


NO_PROOF = {
    "pending": "There is no proof yet: your signature is pending until its group is counted.",
    "withdrawn": "A withdrawn signature is no longer in the count, so there is no proof to download.",
    "carried_over": "Your signature was counted before this petition's public log began, so it has no "
    "entry of its own to prove.",
}


async def download_proof(request: Request) -> Response:
    """POST /p/{slug}/receipt/proof: a counted signature's inclusion proof as a JSON file (its entry,
    not the receipt, so the file can be shared). The receipt page again when there is none (409),
    or when the receipt belongs to no signature here (404)."""
    found = await page_petition(request)
    if isinstance(found, Response):
        return found
    row, context = found
    async with request.form() as form:
        typed = str(form.get("receipt") or "")
    receipt = signatures.receipt_of(typed)
    if receipt is None:
        return not_a_receipt_page(request, context, blank=not typed.strip())
    context.update(receipt_context(receipt))
    db: Database = request.app.state.db
    context["status"] = status = await status_or_none(db, row, receipt)
    if status is None:
        context["errors"] = {"receipt": signatures.RECEIPT_UNKNOWN}
        return signer_page(request, "receipt_check.html", context, 404)
    context["inclusion"] = proof = await inclusion_of(request, row, receipt=receipt, status=status)
    if proof is None or proof.carried_over:
        context["errors"] = {FORM: NO_PROOF["carried_over" if proof else status]}
        context["updates"] = await updates.is_waiting(db, receipt)
        return signer_page(request, "receipt_check.html", context, 409)
    slug = row["slug"]  # the petition's own slug, never the path as typed
    body = inclusion.proof_file(proof, petition_url=f"{request.app.state.settings.base_url}/p/{slug}")
    headers = {**NO_STORE, **downloads.attachment(f"{slug}-inclusion-proof.json")}
    return Response(body, media_type="application/json", headers=headers)

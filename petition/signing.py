"""What signers do, on the page and through the API: sign with a code, check a receipt, withdraw."""

from __future__ import annotations

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from . import petitions, signatures
from .api import validation_error
from .database import Database, Row
from .errors import ApiError
from .petitions import PetitionError
from .signatures import ReceiptBody, SignatureAccepted, SignatureCreate, SignatureStatus

NO_STORE = {"cache-control": "no-store"}


async def open_petition(request: Request) -> Row:
    """The petition of the path, if the public may see it; 404 otherwise (from the cache)."""
    row = await request.app.state.public_cache.petition_row(request.path_params["slug"])
    if row is None or row["state"] not in petitions.VISIBLE_STATES:
        raise ApiError(404, "There is no petition at this address.")
    return row


async def api_sign(request: Request, body: SignatureCreate) -> Response:
    """POST /api/v1/petitions/{slug}/signatures: sign with a printed code; 201 with the receipt."""
    row = await open_petition(request)
    try:
        receipt = await signatures.sign_with_code(
            request.app.state.db, request.app.state.settings, petition=row, data=body
        )
    except PetitionError as error:
        raise ApiError(error.status, error.message) from None
    accepted = SignatureAccepted(receipt=receipt, status="pending")
    return Response(accepted.model_dump_json(), 201, media_type="application/json", headers=NO_STORE)


async def api_status(request: Request, body: ReceiptBody) -> Response:
    """POST /api/v1/petitions/{slug}/signatures/status: what became of the signature behind a receipt."""
    row = await open_petition(request)
    try:
        status = await signatures.status_of(request.app.state.db, petition=row, receipt=body.receipt)
    except PetitionError as error:
        raise ApiError(error.status, error.message) from None
    return status_response(status)


async def api_withdraw(request: Request, body: ReceiptBody) -> Response:
    """POST /api/v1/petitions/{slug}/signatures/withdraw: out of the count, name and reason deleted."""
    row = await open_petition(request)
    try:
        await signatures.withdraw(request.app.state.db, petition=row, receipt=body.receipt)
    except PetitionError as error:
        raise ApiError(error.status, error.message) from None
    return Response(
        SignatureStatus(status="withdrawn").model_dump_json(), media_type="application/json", headers=NO_STORE
    )


def status_response(status: str) -> Response:
    body = SignatureStatus.model_validate({"status": status}).model_dump_json()
    return Response(body, media_type="application/json", headers=NO_STORE)


def signer_page(request: Request, template: str, context: dict[str, object], status: int = 200) -> Response:
    """A page about one signer's signature: never cached anywhere."""
    response = request.app.state.templates.TemplateResponse(request, template, context, status_code=status)
    response.headers["cache-control"] = "no-store"
    return response


async def sign(request: Request) -> Response:
    """POST /p/{slug}/sign: the form on the petition page; shows the receipt once."""
    db: Database = request.app.state.db
    row = await petitions.visible_to(db, request.path_params["slug"], None)
    if row is None:
        return signer_page(request, "error.html", {"title": "Not found", "message": "There is no petition here."}, 404)
    async with request.form() as form:
        fields = {name: str(form.get(name) or "") for name in ("code", "name", "role", "reason")}
        fields_show = form.get("show_name") == "on"
    view = petitions.public_view(row, request.app.state.settings.base_url)
    try:
        data = SignatureCreate.model_validate({**fields, "show_name": fields_show})
        receipt = await signatures.sign_with_code(db, request.app.state.settings, petition=row, data=data)
    except ValidationError as error:
        problems = {f.field: f.message for f in validation_error(error).fields or []}
        context = {"petition": view, "row": row, "errors": problems, "values": fields}
        return signer_page(request, "sign_again.html", context, 422)
    except PetitionError as error:
        context = {"petition": view, "row": row, "errors": {"code": error.message}, "values": fields}
        return signer_page(request, "sign_again.html", context, error.status)
    return signer_page(request, "receipt.html", {"petition": view, "receipt": receipt})


async def receipt_page(request: Request) -> Response:
    """GET /p/{slug}/receipt: check a receipt, or withdraw."""
    row = await petitions.visible_to(request.app.state.db, request.path_params["slug"], None)
    if row is None:
        return signer_page(request, "error.html", {"title": "Not found", "message": "There is no petition here."}, 404)
    view = petitions.public_view(row, request.app.state.settings.base_url)
    return signer_page(request, "receipt_check.html", {"petition": view, "status": None, "error": None, "receipt": ""})


async def receipt_action(request: Request) -> Response:
    """POST /p/{slug}/receipt: `action` status (the default) or withdraw."""
    db: Database = request.app.state.db
    row = await petitions.visible_to(db, request.path_params["slug"], None)
    if row is None:
        return signer_page(request, "error.html", {"title": "Not found", "message": "There is no petition here."}, 404)
    view = petitions.public_view(row, request.app.state.settings.base_url)
    async with request.form() as form:
        receipt = str(form.get("receipt") or "").strip()[:100]
        action = str(form.get("action") or "status")
    context = {"petition": view, "status": None, "error": None, "receipt": receipt}
    try:
        if action == "withdraw":
            await signatures.withdraw(db, petition=row, receipt=receipt)
        context["status"] = await signatures.status_of(db, petition=row, receipt=receipt)
    except PetitionError as error:
        context["error"] = error.message
        return signer_page(request, "receipt_check.html", context, error.status)
    return signer_page(request, "receipt_check.html", context)


async def download_receipt(request: Request) -> Response:
    """POST /p/{slug}/receipt/download: the receipt as a small text file (it is not kept to send later)."""
    async with request.form() as form:
        receipt = str(form.get("receipt") or "").strip()[:100]
    slug = request.path_params["slug"]
    base_url = request.app.state.settings.base_url
    text = (
        f"Your receipt for the petition {base_url}/p/{slug}\n\n{receipt}\n\n"
        "Keep it private. With it you can check that your signature was counted, or withdraw it,\n"
        f"at {base_url}/p/{slug}/receipt. Nobody can recover it if it is lost.\n"
    )
    headers = {**NO_STORE, "content-disposition": f'attachment; filename="receipt-{slug}.txt"'}
    return Response(text, media_type="text/plain; charset=utf-8", headers=headers)

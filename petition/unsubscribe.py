"""One-click unsubscribe from update emails: the link's token, its confirm page and its POST.

Every update email to a contact carries the same link, `/u/{token}`, so an old email's link
still works. The token is derived, never stored: 16 bytes of HMAC-SHA256 of the contact key under
a key derived from SECRET_KEY ("unsubscribe/v1"), then 8 bytes of HMAC of those 16 (a check that
only the server can make), base64url: 32 characters, 128 bits that nobody can guess. The contact
row keeps only SHA-256(token) (`unsubscribe_hash`), written when its first update email is
made, so the link leads to that one row and to nothing else: no address, no signature.

The POST deletes the contact at once (RFC 8058: mail clients POST `List-Unsubscribe=One-Click`
with no cookies). A token whose check fails is not one of ours (404); a token of ours whose
contact is gone (unsubscribed already, the signature withdrawn, the petition purged) is told so
(200). Nothing is recorded about who unsubscribed or when.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from starlette.requests import Request
from starlette.responses import Response

from . import queries
from .database import Database, Row, Transaction
from .settings import Settings
from .tokens import has_token_shape, token_hash

LABEL = b"unsubscribe/v1"
SECRET_BYTES = 16  # 128 bits: the part that finds the contact
CHECK_BYTES = 8  # 64 bits: tells a token we made from a forged or mistyped one
TOKEN_BYTES = SECRET_BYTES + CHECK_BYTES
NOT_OURS = "This unsubscribe link is not one of ours, or it was copied wrong. Copy the whole link from the email."
ALREADY = "You are already unsubscribed: no more updates are sent to this address."
DONE = "Your updates address is deleted: no more updates are sent to it."
# Search engines must not keep these pages: the address is a secret, like a reset link.
PAGE_HEADERS = {"cache-control": "no-store", "x-robots-tag": "noindex, nofollow"}


def _key(settings: Settings) -> bytes:
    return hmac.new(settings.secret_key, LABEL, hashlib.sha256).digest()


def _check(key: bytes, secret: bytes) -> bytes:
    return hmac.new(key, b"check|" + secret, hashlib.sha256).digest()[:CHECK_BYTES]


def token_for(settings: Settings, contact_key: str) -> str:
    """A contact key -> its unsubscribe token (32 base64url characters), the same every time."""
    key = _key(settings)
    secret = hmac.new(key, contact_key.encode(), hashlib.sha256).digest()[:SECRET_BYTES]
    return base64.urlsafe_b64encode(secret + _check(key, secret)).decode()


def is_ours(settings: Settings, token: str) -> bool:
    """Whether `token` is one `token_for` made (under the current SECRET_KEY), whatever its contact."""
    if not has_token_shape(token, TOKEN_BYTES):
        return False
    try:
        raw = base64.urlsafe_b64decode(token)
    except (binascii.Error, ValueError):
        return False
    secret, check = raw[:SECRET_BYTES], raw[SECRET_BYTES:]
    return hmac.compare_digest(check, _check(_key(settings), secret))


async def link_for(tx: Transaction, settings: Settings, *, contact_key: str) -> str:
    """Inside a write: the contact's unsubscribe link (BASE_URL/u/{token}), its token's hash kept
    on the contact row if it is not there yet."""
    token = token_for(settings, contact_key)
    await tx.execute(
        queries.SET_CONTACT_UNSUBSCRIBE_HASH, {"contact_key": contact_key, "unsubscribe_hash": token_hash(token)}
    )
    return f"{settings.base_url}/u/{token}"


def _page(request: Request, context: dict[str, object], status: int = 200) -> Response:
    templates = request.app.state.templates
    response = templates.TemplateResponse(request, "unsubscribe.html", context, status_code=status)
    response.headers.update(PAGE_HEADERS)
    return response


def _gone_or_not_ours(request: Request, token: str) -> Response:
    if is_ours(request.app.state.settings, token):
        return _page(request, {"state": "already", "message": ALREADY, "petition": None})
    return _page(request, {"state": "unknown", "message": NOT_OURS, "petition": None}, 404)


async def confirm_page(request: Request) -> Response:
    """GET /u/{token}: the page that asks before unsubscribing (a POST form); changes nothing.
    200 with the petition's title; 200 "already unsubscribed" for a token of ours whose contact
    is gone; 404 for a token that is not ours."""
    token = request.path_params["token"]
    if not has_token_shape(token, TOKEN_BYTES):  # no lookup for what no link of ours can be
        return _gone_or_not_ours(request, token)
    db: Database = request.app.state.db
    row = await db.fetch_one(queries.SELECT_UNSUBSCRIBE_PETITION, {"unsubscribe_hash": token_hash(token)})
    if row is None:
        return _gone_or_not_ours(request, token)
    return _page(request, {"state": "confirm", "petition": _petition(row), "token": token})


async def unsubscribe(request: Request) -> Response:
    """POST /u/{token} (the confirm page's form, or a mail client's RFC 8058 one-click POST, whose
    body is not read): the contact is deleted at once. 200 "unsubscribed"; 200 "already
    unsubscribed" for a token of ours whose contact is gone; 404 for a token that is not ours."""
    token = request.path_params["token"]
    if not has_token_shape(token, TOKEN_BYTES):
        return _gone_or_not_ours(request, token)
    db: Database = request.app.state.db

    async def unit(tx: Transaction) -> Row | None:
        deleted = await tx.fetch_one(
            queries.DELETE_CONTACT_BY_UNSUBSCRIBE_HASH, {"unsubscribe_hash": token_hash(token)}
        )
        if deleted is None:
            return None
        return await tx.fetch_one(queries.SELECT_PETITION_BY_ID, {"id": deleted["petition_id"]})

    row = await db.write(unit)
    if row is None:
        return _gone_or_not_ours(request, token)
    return _page(request, {"state": "done", "message": DONE, "petition": _petition(row)})


def _petition(row: Row) -> dict[str, str]:
    """What the page shows of the petition: its title (in its language), never its address or anything of the signer."""
    return {"title": row["title"], "language": row["language"]}

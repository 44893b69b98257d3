"""The receipt (and, for work email, the attempt id) minted into a signing form, sealed.

A method's form page (`/p/{slug}/sign/code`, `/p/{slug}/sign/email`) is never cached, and
each one carries a fresh receipt in a hidden field: the POST signs with that receipt, so a
second POST of the same form (a double tap, a reload of a lost answer, two requests racing)
finds its own signature and answers as the first did, instead of spending another code or
failing as "already used". The receipt is sealed (AES-GCM under ENCRYPTION_KEY, bound to the
petition and the method, with an expiry inside) so that nobody can post a receipt of their
choosing, and the page does not show it in clear. A token that is missing, forged, another
petition's or method's, or past its time opens to nothing: the form then signs with a receipt
minted on the spot, as before.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from . import receipt_cookie
from .email_signing import ATTEMPT_BYTES
from .settings import Settings
from .signatures import RECEIPT_BYTES
from .tokens import has_token_shape

# Long enough to read the petition and fill the form slowly on a phone; short enough that an
# old page left open signs with a receipt minted again rather than one that waited for hours.
FORM_TOKEN_SECONDS = 2 * 60 * 60
METHODS = ("code", "email")


@dataclass(frozen=True)
class Minted:
    """What one form page minted: the receipt it signs with, and (work email) its attempt id ("" for a code)."""

    receipt: str
    attempt: str = ""


def _bound(petition_id: str, method: str) -> str:
    return f"sign-form/v1/{petition_id}/{method}"


def new(method: str) -> Minted:
    """A fresh receipt (and attempt id, for work email) for a form of `method` ("code" or "email")."""
    attempt = secrets.token_urlsafe(ATTEMPT_BYTES) if method == "email" else ""
    return Minted(receipt=secrets.token_urlsafe(RECEIPT_BYTES), attempt=attempt)


def seal(settings: Settings, minted: Minted, *, petition_id: str, method: str) -> str:
    """`minted` -> the hidden field's value: "v1.<base64>", opened only for this petition and method."""
    fields = {"r": minted.receipt, "a": minted.attempt}
    return receipt_cookie.seal(settings, fields, _bound(petition_id, method), FORM_TOKEN_SECONDS)


def open_token(settings: Settings, token: str, *, petition_id: str, method: str) -> Minted | None:
    """The hidden field's value -> what its page minted; None when it is missing, forged, another
    petition's or method's, or expired (then the form signs with a fresh receipt)."""
    if len(token) > 512:
        return None
    kept = receipt_cookie.unseal(settings, token, _bound(petition_id, method))
    if kept is None:
        return None
    receipt, attempt = str(kept.get("r", "")), str(kept.get("a", ""))
    if not has_token_shape(receipt, RECEIPT_BYTES):
        return None
    if method == "email" and not has_token_shape(attempt, ATTEMPT_BYTES):
        return None
    return Minted(receipt=receipt, attempt=attempt if method == "email" else "")

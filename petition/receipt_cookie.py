"""The receipt after signing on the page, carried to its own page in a short-lived cookie
(and, for work email, the attempt carried from the form to the page the code is typed on).

A signing form's POST answers with a redirect (303) to `/p/{slug}/signed`, so a reload or
Back never sends the form again (and never shows "already used" for a signature that was
taken). The receipt rides in a cookie: encrypted with ENCRYPTION_KEY and bound to the
petition, HttpOnly, SameSite=Strict, sent to that one page only, gone after RECEIPT_COOKIE_SECONDS
or when the signer clears it; never in an address, a log line or anything the server keeps.
"""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response

from .database import now
from .encryption import DecryptionError, decrypt, encrypt
from .settings import Settings

COOKIE = "receipt"
# Long enough to read, download and note the receipt; short enough that a shared phone forgets it.
RECEIPT_COOKIE_SECONDS = 30 * 60


def page_path(slug: str) -> str:
    """The one page the cookie is sent to (slugs are [a-z0-9-], safe in a path)."""
    return f"/p/{slug}/signed"


def _bound(slug: str) -> str:
    return f"receipt-cookie/{slug}"


def seal(settings: Settings, fields: dict[str, object], bound: str, seconds: int) -> str:
    """`fields` as JSON, sealed with ENCRYPTION_KEY and bound to `bound`, good for `seconds`."""
    return encrypt(settings.encryption_key, json.dumps({**fields, "until": now() + seconds}), bound)


def unseal(settings: Settings, token: str | None, bound: str) -> dict | None:
    """What `seal` sealed under `bound`; None when there is nothing, it was sealed for something
    else, forged, or it has run out."""
    if not token:
        return None
    try:
        kept = json.loads(decrypt(settings.encryption_key, token, bound))
    except (DecryptionError, ValueError):
        return None
    if not isinstance(kept, dict) or int(kept.get("until", 0)) <= now():
        return None
    return kept


def keep(response: Response, settings: Settings, *, slug: str, receipt: str, updates: bool) -> None:
    """Set the receipt cookie for the petition `slug` on `response`."""
    response.set_cookie(
        COOKIE,
        seal(settings, {"receipt": receipt, "updates": updates}, _bound(slug), RECEIPT_COOKIE_SECONDS),
        max_age=RECEIPT_COOKIE_SECONDS,
        path=page_path(slug),
        secure=settings.is_https,
        httponly=True,
        samesite="strict",
    )


def read(request: Request, settings: Settings, *, slug: str) -> tuple[str, bool] | None:
    """(receipt, whether an updates address waits for its code) from the cookie, or None when
    there is none, it is not this petition's, or it has run out."""
    kept = unseal(settings, request.cookies.get(COOKIE), _bound(slug))
    if kept is None:
        return None
    return str(kept["receipt"]), bool(kept.get("updates"))


def forget(response: Response, settings: Settings, *, slug: str) -> None:
    """Delete the receipt cookie from the browser."""
    response.delete_cookie(COOKIE, path=page_path(slug), secure=settings.is_https, httponly=True, samesite="strict")


# -- the work-email attempt, between the form and the receipt ----------------------------------
#
# Asking for an emailed code answers with a redirect (303) to `/p/{slug}/check-email`; what the
# next steps need (the attempt id, the receipt the form minted, the flyer mark) rides in a second
# cookie, sealed like the receipt's, sent only to the three paths of that step, never in an
# address. A reload shows the same page; a repeated code signs with the same receipt.

ATTEMPT_COOKIE = "signing"
# An emailed code works for 15 minutes and a new one can be asked for: room for a few, no more.
ATTEMPT_COOKIE_SECONDS = 30 * 60


def attempt_paths(slug: str) -> tuple[str, ...]:
    """The paths the attempt cookie is sent to: the check-email page, and its two forms' actions."""
    return (f"/p/{slug}/check-email", f"/p/{slug}/verify", f"/p/{slug}/resend")


def _attempt_bound(slug: str) -> str:
    return f"attempt-cookie/{slug}"


def keep_attempt(response: Response, settings: Settings, *, slug: str, attempt: str, receipt: str, flyer: str) -> None:
    """Set the attempt cookie (one per path of `attempt_paths`) on `response`."""
    fields = {"attempt": attempt, "receipt": receipt, "flyer": flyer}
    sealed = seal(settings, fields, _attempt_bound(slug), ATTEMPT_COOKIE_SECONDS)
    for path in attempt_paths(slug):
        response.set_cookie(
            ATTEMPT_COOKIE,
            sealed,
            max_age=ATTEMPT_COOKIE_SECONDS,
            path=path,
            secure=settings.is_https,
            httponly=True,
            samesite="strict",
        )


def read_attempt(request: Request, settings: Settings, *, slug: str) -> tuple[str, str, str] | None:
    """(attempt id, minted receipt, flyer mark) from the attempt cookie, or None when there is
    none, it is not this petition's, or it has run out."""
    kept = unseal(settings, request.cookies.get(ATTEMPT_COOKIE), _attempt_bound(slug))
    if kept is None:
        return None
    return str(kept.get("attempt", "")), str(kept.get("receipt", "")), str(kept.get("flyer", ""))


def forget_attempt(response: Response, settings: Settings, *, slug: str) -> None:
    """Delete the attempt cookie (at each of its paths) from the browser."""
    for path in attempt_paths(slug):
        response.delete_cookie(ATTEMPT_COOKIE, path=path, secure=settings.is_https, httponly=True, samesite="strict")

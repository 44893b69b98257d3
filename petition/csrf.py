"""CSRF protection for every HTML form POST: a signed token plus an origin check.

The token is a signed double-submit: a random cookie, and in each form an
HMAC of that cookie under SECRET_KEY. Another site can make a browser send
the cookie but cannot read it, so it cannot make the matching token.

The origin check is defence in depth. Our pages send `Referrer-Policy:
no-referrer`, under which browsers send `Origin: null` even for our own form
posts, so "null" cannot be refused; a real foreign origin, or a
`Sec-Fetch-Site` other than same-origin, is.

The JSON API under /api/ is exempt: it authenticates with a bearer token in a
header, never with cookies, so a forged cross-site request carries no authority.
Signers' forms under /p/ need no token either (only the origin check): a signer
has no session to ride on, and their pages are cached for everyone alike.

The unsubscribe links under /u/ are exempt from both checks: RFC 8058's one-click
unsubscribe is a POST from the mail client (its server, or a webmail page on another
origin) with no cookie and no form token. The token in the path is the authority, and
the POST changes nothing but deleting the updates address that token names, so a forged
cross-site request can do nothing the token's holder could not do directly.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.types import Message, Receive, Scope

from .settings import Settings

FORM_FIELD = "csrf_token"
SIGNER_PREFIX = "/p/"
UNSUBSCRIBE_PREFIX = "/u/"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
COOKIE_BYTES = 16


def cookie_name(settings: Settings) -> str:
    # The __Host- prefix pins the cookie to this exact host, over https only.
    return "__Host-csrf" if settings.is_https else "csrf"


def token_for(secret_key: bytes, cookie: str) -> str:
    """The form token that matches a CSRF cookie."""
    digest = hmac.new(secret_key, b"csrf/v1|" + cookie.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def csrf_token(request: Request) -> str:
    """The token for a form on this page, setting the CSRF cookie when the browser has none.

    Templates call this through `csrf_input()`; the middleware sets the cookie on the response.
    """
    settings: Settings = request.app.state.settings
    name = cookie_name(settings)
    cookie = request.cookies.get(name) or getattr(request.state, "csrf_cookie", None)
    if not cookie:
        cookie = secrets.token_urlsafe(COOKIE_BYTES)
        request.state.csrf_cookie = cookie
    return token_for(settings.secret_key, cookie)


class CSRFGuard:
    """Checks unsafe HTML requests, and sets the cookie a rendered form asked for."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.cookie_name = cookie_name(settings)
        secure = "; Secure" if settings.is_https else ""
        self.cookie_attributes = f"; Path=/; HttpOnly; SameSite=Lax{secure}"

    def cookie_to_set(self, scope: Scope) -> list[tuple[bytes, bytes]]:
        """The Set-Cookie header for a page that rendered a form for a browser without the cookie."""
        cookie = (scope.get("state") or {}).get("csrf_cookie")
        if not cookie:
            return []
        return [(b"set-cookie", f"{self.cookie_name}={cookie}{self.cookie_attributes}".encode())]

    async def check(self, scope: Scope, receive: Receive, *, token_required: bool = True) -> Receive | None:
        """The request's receive (replaying the body it read) when it passes, else None."""
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
        origin = headers.get("origin")
        if origin and origin != "null" and origin != self.settings.origin:
            return None
        if headers.get("sec-fetch-site", "same-origin") != "same-origin":
            return None
        if not token_required:
            return receive
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in FORM_TYPES:
            return None
        request = Request(scope)
        cookie = request.cookies.get(self.cookie_name)
        if not cookie:
            return None

        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        if content_type == FORM_TYPES[0]:
            fields = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
            submitted = fields.get(FORM_FIELD, "")
        else:
            form = await Request(scope, replay).form()
            submitted = str(form.get(FORM_FIELD) or "")
            await form.close()
            replayed = False
        expected = token_for(self.settings.secret_key, cookie)
        if not hmac.compare_digest(submitted.encode(), expected.encode()):
            return None
        return replay


FORBIDDEN_MESSAGE = "This form has expired or came from another site. Go back, reload the page and try again."

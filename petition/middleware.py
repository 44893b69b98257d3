"""The one pure-ASGI layer every request passes through.

It does what every response needs: the body limit, the CSRF check of HTML
form posts, the security headers, the error pages (HTTP errors and the
last-resort 500), and the access log line. They share one layer, which also
stands in for Starlette's own two (ServerErrorMiddleware and
ExceptionMiddleware), because each layer costs every request its time and
/healthz must stay within 10% of a bare Starlette app.
"""

from __future__ import annotations

import logging
import re
import time
import traceback
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import sessions
from .cache import PublicCache
from .csrf import FORBIDDEN_MESSAGE, SIGNER_PREFIX, UNSAFE_METHODS, UNSUBSCRIBE_PREFIX, CSRFGuard
from .errors import API_PREFIX, ApiError, handle_http_exception, plain_error_response
from .logs import AccessLog
from .settings import Settings
from .text import FORBIDDEN

error_logger = logging.getLogger("petition.errors")

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)
HSTS = "max-age=63072000; includeSubDomains"
# Methods whose requests carry no body worth limiting or checking.
BODYLESS_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# What no address of ours holds: what the text rule refuses everywhere, and tab, CR and LF
# (allowed in some text, never in a path). One pattern: every request's path is searched once.
NOT_IN_ANY_PATH = re.compile(f"[\t\n\r]|{FORBIDDEN.pattern}")
# More digits than any Content-Length we could accept (int() of thousands of digits fails).
MAX_LENGTH_DIGITS = 18


def security_headers(settings: Settings) -> list[tuple[bytes, bytes]]:
    """The headers added to every response that does not set them itself."""
    # Each header costs every response about a microsecond in uvicorn, so only those that
    # protect: X-Frame-Options is superseded by frame-ancestors, and a Permissions-Policy
    # guards nothing on pages that use no powerful feature and embed nothing third-party.
    headers = [
        (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"cross-origin-opener-policy", b"same-origin"),
    ]
    if settings.is_https:
        headers.append((b"strict-transport-security", HSTS.encode()))
    return headers


def route_template(scope: Scope) -> str:
    """The matched route's path template (`/p/{slug}`), never the real path.

    Real paths can hold secrets (a setup token, a signing code), so logs name routes only.
    """
    if "route_template" in scope:  # answered from the cache, before routing
        return str(scope["route_template"])
    route = scope.get("route")
    path = getattr(route, "path", None)
    if path is None:
        return "(no route)"
    return f"{path}/…" if isinstance(route, Mount) else str(path)


class ShellMiddleware:
    """Body limit, CSRF check, security headers, error pages, access log: one layer."""

    def __init__(
        self, app: ASGIApp, *, settings: Settings, access_log: AccessLog | None, cache: PublicCache | None = None
    ) -> None:
        self.app = app
        self.cache = cache
        self.session_cookie = sessions.cookie_name(settings).encode()
        self.max_body_bytes = settings.max_body_bytes
        self.headers = security_headers(settings)
        self.header_names = {name for name, _ in self.headers}
        self.csrf = CSRFGuard(settings)
        self.access_log = access_log
        self.exception_handlers = ({HTTPException: handle_http_exception}, {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        # Routes answer their own HTTP errors with our pages (Starlette reads this key).
        scope["starlette.exception_handlers"] = self.exception_handlers
        method = scope["method"]
        path = scope["path"]
        status = 0

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers") or ())
                extra = self.headers
                for name, _ in headers:
                    if name in self.header_names:  # the response set some itself (rare): keep its own
                        own = {name for name, _ in headers}
                        extra = [item for item in self.headers if item[0] not in own]
                        break
                headers += extra
                if "csrf_cookie" in scope.get("state", ()):
                    headers += self.csrf.cookie_to_set(scope)
                message["headers"] = headers
            await send(message)

        try:
            if NOT_IN_ANY_PATH.search(path):
                # No address holds a control character or one the text rule refuses: a NUL
                # (which PostgreSQL cannot even compare) or a line break (which would end a
                # header) is answered here, before any lookup, with the 404 of any unknown address.
                response = await handle_http_exception(Request(scope, receive), HTTPException(404))
                await response(scope, receive, send_with_headers)
                return
            if method == "GET" and self.cache is not None and self._anonymous(scope):
                hit = await self.cache.fast(scope)
                if hit is not None:  # a public answer already rendered for this very address
                    answer, template = hit
                    scope["route_template"] = template
                    await answer(scope, receive, send_with_headers)
                    return
            if method not in BODYLESS_METHODS:
                refusal = self._announced_body_refusal(scope)
                if refusal:
                    await plain_error_response(path, refusal)(scope, receive, send_with_headers)
                    return
                receive = self._limit(receive)
                if method in UNSAFE_METHODS and not path.startswith((API_PREFIX, UNSUBSCRIBE_PREFIX)):
                    checked = await self.csrf.check(scope, receive, token_required=not path.startswith(SIGNER_PREFIX))
                    if checked is None:
                        await plain_error_response(path, 403, FORBIDDEN_MESSAGE)(scope, receive, send_with_headers)
                        return
                    receive = checked
            await self.app(scope, receive, send_with_headers)
        except HTTPException as error:
            # Raised outside a route's own handler: no route (404), wrong method (405), the body limit.
            if status == 0:
                response = await handle_http_exception(Request(scope, receive), error)
                await response(scope, receive, send_with_headers)
        except ClientDisconnect:
            pass  # the client hung up mid-body: nobody to answer, and nothing went wrong here
        except Exception as error:
            log_exception(error, scope)
            if status == 0:
                await plain_error_response(path, 500)(scope, receive, send_with_headers)
        finally:
            if self.access_log is not None:
                self.access_log.record(method, route_template(scope), status, time.perf_counter() - start)

    def _anonymous(self, scope: Scope) -> bool:
        """No token and no organizer session: the request may get what any visitor gets."""
        for name, value in scope["headers"]:
            if name == b"authorization" or (name == b"cookie" and self.session_cookie in value):
                return False
        return True

    def _announced_body_refusal(self, scope: Scope) -> int | None:
        """400 for a malformed Content-Length, 413 for one over the limit, else None."""
        for name, value in scope["headers"]:
            if name == b"content-length":
                if not value.isdigit():
                    return 400
                if len(value) > MAX_LENGTH_DIGITS or int(value) > self.max_body_bytes:
                    return 413
        return None

    def _limit(self, receive: Receive) -> Receive:
        """A receive that raises 413 once a streamed body passes the limit."""
        received = 0
        limit = self.max_body_bytes

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise ApiError(413)
            return message

        return limited_receive


def log_exception(error: BaseException, scope: dict[str, Any]) -> None:
    """Log an unexpected exception's type and where it happened, but not its message.

    Exception messages can carry data (a database error quotes the values it
    rejected), and source lines can too, so only file, line and function are logged.
    """
    stack = "\n".join(
        f"  {frame.filename}:{frame.lineno} in {frame.name}" for frame in traceback.extract_tb(error.__traceback__)
    )
    error_logger.error(
        "unhandled %s in %s %s\n%s", type(error).__qualname__, scope.get("method"), route_template(scope), stack
    )

"""Pure ASGI middleware: access log, security headers, the last-resort error page, body limit.

Each wraps `send` or `receive` only; none builds a Request, so each costs a few
microseconds per request.
"""

from __future__ import annotations

import logging
import time
import traceback
from typing import Any

from starlette.exceptions import HTTPException
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import ApiError, plain_error_response
from .settings import Settings

access_logger = logging.getLogger("petition.access")
error_logger = logging.getLogger("petition.errors")

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)
HSTS = "max-age=63072000; includeSubDomains"


def route_template(scope: Scope) -> str:
    """The matched route's path template (`/p/{slug}`), never the real path.

    Real paths can hold secrets (a setup token, a signing code), so logs name routes only.
    """
    route = scope.get("route")
    path = getattr(route, "path", None)
    if path is None:
        return "(no route)"
    if isinstance(route, Mount):
        return f"{path}/…"
    return str(path)


class AccessLogMiddleware:
    """One line per request: method, route template, status, duration. No address, no query string."""

    def __init__(self, app: ASGIApp, enabled: bool = True) -> None:
        self.app = app
        self.enabled = enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.enabled:
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 0

        async def send_and_note_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note_status)
        finally:
            elapsed = (time.perf_counter() - start) * 1000
            access_logger.info("%s %s %d %.1fms", scope["method"], route_template(scope), status, elapsed)


class SecurityHeadersMiddleware:
    """Adds the security headers to every response that does not set its own."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        headers = [
            (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
            (b"x-frame-options", b"DENY"),
            (b"cross-origin-opener-policy", b"same-origin"),
            (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), interest-cohort=()"),
        ]
        if settings.is_https:
            headers.append((b"strict-transport-security", HSTS.encode()))
        self.headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", ())}
                extra = [item for item in self.headers if item[0] not in present]
                message["headers"] = list(message.get("headers", ())) + extra
            await send(message)

        await self.app(scope, receive, send_with_headers)


class ErrorMiddleware:
    """The last resort: any exception becomes a plain 500 (or its HTTP status), logged without its message.

    Exception messages can carry data (a database error quotes the values it
    rejected), so the log gets the exception's type and stack only.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_and_note_start(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_and_note_start)
        except Exception as error:
            if isinstance(error, HTTPException) and error.status_code < 500:
                status = error.status_code  # raised outside a route, e.g. by the body limit
            else:
                status = 500
                log_exception(error, scope)
            if not started:
                await plain_error_response(scope["path"], status)(scope, receive, send)


def log_exception(error: BaseException, scope: dict[str, Any]) -> None:
    """Log an unexpected exception's type and stack, but not its message."""
    stack = "\n".join(
        f"  {frame.filename}:{frame.lineno} in {frame.name}" for frame in traceback.extract_tb(error.__traceback__)
    )
    error_logger.error(
        "unhandled %s in %s %s\n%s", type(error).__qualname__, scope.get("method"), route_template(scope), stack
    )


class BodyLimitMiddleware:
    """Refuses request bodies over the limit with 413, whether announced or streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                if not value.isdigit():
                    await plain_error_response(scope["path"], 400)(scope, receive, send)
                    return
                if int(value) > self.max_bytes:
                    await plain_error_response(scope["path"], 413)(scope, receive, send)
                    return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise ApiError(413)
            return message

        await self.app(scope, limited_receive, send)

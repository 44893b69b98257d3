"""Errors: the JSON error shape under /api/, plain HTML pages elsewhere, never a traceback."""

from __future__ import annotations

import enum
import json
import re
from html import escape
from typing import Any

from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

API_PREFIX = "/api/"
# A petition's log as C2SP tlog-tiles (/p/{slug}/log/...) is read by programs, not people: its
# errors take the API's shape too. Any text before /log/, slashes included: a slug sent with an
# encoded slash (%2F) arrives decoded, and its 404 is still the log's.
LOG_PATH = re.compile(r"/p/.+/log/", re.DOTALL)


class ErrorCode(enum.StrEnum):
    """Every `error.code` the API can answer with (listed as an enum in the OpenAPI document)."""

    MALFORMED_JSON = "malformed_json"
    BAD_REQUEST = "bad_request"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    TWO_FACTOR_REQUIRED = "two_factor_required"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    CONFLICT = "conflict"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    VALIDATION_FAILED = "validation_failed"
    RATE_LIMITED = "rate_limited"
    INTERNAL_ERROR = "internal_error"
    UNAVAILABLE = "unavailable"


# The code and the words a person sees for each HTTP status we answer with.
STATUS_ERRORS: dict[int, tuple[ErrorCode, str]] = {
    400: (ErrorCode.BAD_REQUEST, "The request could not be understood."),
    401: (ErrorCode.UNAUTHORIZED, "Sign in, or send a valid API token in the Authorization header."),
    403: (ErrorCode.FORBIDDEN, "You may not do that."),
    404: (ErrorCode.NOT_FOUND, "There is nothing at this address."),
    405: (ErrorCode.METHOD_NOT_ALLOWED, "This address does not accept that method."),
    409: (ErrorCode.CONFLICT, "That conflicts with the current state."),
    413: (ErrorCode.PAYLOAD_TOO_LARGE, "The request body is too large."),
    415: (ErrorCode.UNSUPPORTED_MEDIA_TYPE, "Send the body as JSON, with Content-Type: application/json."),
    422: (ErrorCode.VALIDATION_FAILED, "Some fields are not valid."),
    429: (ErrorCode.RATE_LIMITED, "Too many requests; please wait a little and try again."),
    500: (ErrorCode.INTERNAL_ERROR, "Something went wrong on our side. Please try again later."),
    503: (ErrorCode.UNAVAILABLE, "The service is busy or starting; please try again shortly."),
}


ERROR_TITLES = {
    404: "Not found",
    403: "Not allowed",
    413: "Too large",
    429: "Slow down",
    500: "Something went wrong",
}


class FieldError(BaseModel):
    field: str
    message: str


class ErrorBody(BaseModel):
    code: ErrorCode
    message: str
    fields: list[FieldError] | None = None


class ErrorResponse(BaseModel):
    """The body of every API error."""

    error: ErrorBody


class ApiError(HTTPException):
    """An error with its own code and message, shown to the caller as is."""

    def __init__(
        self,
        status_code: int,
        message: str | None = None,
        *,
        code: ErrorCode | None = None,
        fields: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        default_code, default_message = STATUS_ERRORS.get(status_code, STATUS_ERRORS[400])
        super().__init__(status_code, message or default_message, headers)
        self.code = code or default_code
        self.fields = fields


def is_api_path(path: str) -> bool:
    """Whether errors at `path` are answered in the JSON shape (the API, and the logs' tiles)."""
    return path.startswith(API_PREFIX) or LOG_PATH.match(path) is not None


def error_json(status_code: int, code: ErrorCode, message: str, fields: list[FieldError] | None = None) -> bytes:
    """The JSON error shape, as bytes."""
    body: dict[str, Any] = {"code": code.value, "message": message}
    if fields:
        body["fields"] = [item.model_dump() for item in fields]
    return json.dumps({"error": body}).encode()


def error_page(status_code: int, message: str) -> str:
    """A small HTML error page that needs no template (so it renders even when templates fail)."""
    title = ERROR_TITLES.get(status_code, "Cannot do that")
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{escape(title)}</title><link rel="stylesheet" href="/static/style.css"></head>'
        f'<body><main id="main"><h1>{escape(title)}</h1><p>{escape(message)}</p>'
        '<p><a href="/">Go to the home page</a></p></main></body></html>'
    )


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    """Starlette's HTTPException and our ApiError -> the JSON shape under /api/, a page elsewhere."""
    assert isinstance(exc, HTTPException)
    default_code, default_message = STATUS_ERRORS.get(exc.status_code, STATUS_ERRORS[400])
    if isinstance(exc, ApiError):
        code, message, fields = exc.code, exc.detail, exc.fields
    else:
        # Starlette's own details ("Not Found") are replaced by our sentences.
        code, message, fields = default_code, default_message, None
    if is_api_path(request.url.path):
        body = error_json(exc.status_code, code, message, fields)
        return Response(body, exc.status_code, headers=exc.headers, media_type="application/json")
    templates = request.app.state.templates
    context = {"title": ERROR_TITLES.get(exc.status_code, "Cannot do that"), "message": message}
    return templates.TemplateResponse(request, "error.html", context, status_code=exc.status_code, headers=exc.headers)


def plain_error_response(path: str, status_code: int, message: str | None = None) -> Response:
    """An error answered outside the app (body too large, a crash): no template needed."""
    code, default_message = STATUS_ERRORS[status_code]
    message = message or default_message
    if is_api_path(path):
        return Response(error_json(status_code, code, message), status_code, media_type="application/json")
    return HTMLResponse(error_page(status_code, message), status_code)

"""API routes: a Route that validates its JSON body and query with pydantic and documents itself.

An `ApiRoute` in the app's route list is all it takes for an operation to
appear in the OpenAPI document, with the same models that validate it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from .api_tokens import bearer_organizer
from .errors import ApiError, ErrorCode, FieldError
from .parameters import refuse_json_constant
from .petitions import PetitionError
from .text import text_problem

JSON_TYPE = "application/json"
JSON_TYPE_BYTES = JSON_TYPE.encode()


@dataclass(frozen=True)
class Operation:
    """What the OpenAPI document says about one route and method."""

    summary: str
    response: type[BaseModel] | None
    status: int = 200
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    auth: bool = False
    tags: Sequence[str] = ()
    errors: Sequence[int] = field(default_factory=tuple)
    # Other successful answers: status -> model (say, 202 for a request that waits for an emailed code).
    also: Mapping[int, type[BaseModel]] = field(default_factory=dict)
    # Other media types of the success answer (say, text/csv), with their schemas.
    media_types: Mapping[str, dict[str, Any]] = field(default_factory=dict)


class ApiRoute(Route):
    """A JSON route: `endpoint(request, body=..., query=...)` returns a model or a response; a refusal
    (PetitionError) it raises answers in the API's error shape, with its status."""

    def __init__(
        self,
        path: str,
        endpoint: Callable[..., Awaitable[Any]],
        *,
        summary: str,
        response: type[BaseModel] | None,
        methods: Sequence[str] = ("GET",),
        status: int = 200,
        body: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        auth: bool = False,
        tags: Sequence[str] = (),
        errors: Sequence[int] = (),
        also: Mapping[int, type[BaseModel]] | None = None,
        media_types: Mapping[str, dict[str, Any]] | None = None,
        name: str | None = None,
        endpoint_checks_token: bool = False,
    ) -> None:
        self.operation = Operation(
            summary,
            response,
            status,
            body,
            query,
            auth,
            tuple(tags),
            tuple(errors),
            dict(also or {}),
            dict(media_types or {}),
        )
        operation = self.operation
        # Checking the token after the body or query would tell whoever has none about them.
        assert not (endpoint_checks_token and (body or query)), "only an endpoint with no body or query checks it"

        async def handle(request: Request) -> Response:
            arguments: dict[str, Any] = {}
            if operation.auth and not endpoint_checks_token:
                # The token first (401/403): whoever has none learns nothing from the body's checks.
                # (An endpoint with neither body nor query may check it itself, say from memory.)
                await bearer_organizer(request)
            if operation.body is not None:
                arguments["body"] = await read_json(request, operation.body)
            if operation.query is not None:
                arguments["query"] = read_query(request, operation.query)
            try:
                result = await endpoint(request, **arguments)
            except PetitionError as error:  # a refusal: the API's error shape, with its status
                fields = [FieldError(field=error.field, message=error.message)] if error.field else None
                raise ApiError(error.status, error.message, fields=fields) from None
            if isinstance(result, BaseModel):
                # An organizer's answer (contacts' counts, sensitive words, codes) is theirs alone:
                # no cache, a browser's included, keeps it.
                return json_response(result, operation.status, headers=NO_STORE if operation.auth else None)
            return result  # a ready response (or any ASGI response, such as a cache hit)

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            # In place of Starlette's request_response wrapper, which would only hand HTTP
            # errors to the handler that ShellMiddleware applies to them anyway: an API
            # request (a signature among them) costs that much less.
            response = await handle(Request(scope, receive, send))
            await response(scope, receive, send)

        super().__init__(path, handle, methods=list(methods), name=name or endpoint.__name__)
        self.app = app


NO_STORE = {"cache-control": "no-store"}


def json_response(model: BaseModel, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A pydantic model -> a JSON response (serialised by pydantic's Rust core)."""
    return Response(model.model_dump_json(), status, headers=headers, media_type=JSON_TYPE)


async def read_json(request: Request, model: type[BaseModel]) -> Any:
    """The request body as `model`: 415 when it is not JSON, 400 when malformed (NaN and infinities
    included), 422 when invalid (not an object; a lone surrogate refused by the text rule)."""
    content_type = b""
    for name, value in request.scope["headers"]:  # cheaper than building request.headers
        if name == b"content-type":
            content_type = value
            break
    if content_type.split(b";")[0].strip().lower() != JSON_TYPE_BYTES:
        raise ApiError(415)
    raw = await request.body()
    if b"NaN" in raw or b"Infinity" in raw:  # pydantic's parser takes these literals; JSON (RFC 8259) has none
        strict_json(raw)
    try:
        return model.model_validate_json(raw)
    except ValidationError as error:
        if not any(item["type"] == "json_invalid" for item in error.errors()):
            raise validation_error(error) from None
    # pydantic's parser also refuses a lone surrogate ("\ud800"), which is well-formed JSON: a
    # field's text, for the text rule to refuse naming the field.
    data = strict_json(raw)
    if fields := [FieldError(field=path, message=problem) for path, problem in text_problems(data)]:
        raise ApiError(422, invalid_fields(fields), fields=fields)
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise validation_error(error) from None


def strict_json(raw: bytes) -> Any:
    """The body parsed as JSON (RFC 8259) by Python's parser; ApiError(400) when it is not, NaN and infinities too."""
    try:
        return json.loads(raw, parse_constant=refuse_json_constant)
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError among them
        raise ApiError(400, MALFORMED, code=ErrorCode.MALFORMED_JSON) from None


def text_problems(data: Any, path: str = "") -> list[tuple[str, str]]:
    """(field path, problem) for every string in parsed JSON that holds a lone surrogate."""
    if isinstance(data, str):
        return [(path or "body", problem)] if SURROGATE.search(data) and (problem := text_problem(data)) else []
    if isinstance(data, dict):
        items = data.items()
    elif isinstance(data, list):
        items = enumerate(data)
    else:
        return []
    return [found for key, value in items for found in text_problems(value, f"{path}.{key}" if path else str(key))]


SURROGATE = re.compile("[\ud800-\udfff]")
MALFORMED = "The body is not valid JSON."
NOT_AN_OBJECT = "The request body must be a JSON object."


def read_query(request: Request, model: type[BaseModel]) -> Any:
    """The query string as `model` (unknown parameters are ignored); 422 when invalid (the text rule included)."""
    parameters = query_parameters(request.scope["query_string"])
    for name, value in parameters.items():
        if name in model.model_fields and (problem := text_problem(value)):
            fields = [FieldError(field=name, message=problem)]
            raise ApiError(422, invalid_fields(fields), fields=fields)
    try:
        return model.model_validate(parameters)
    except ValidationError as error:
        raise validation_error(error) from None


def query_parameters(raw: bytes) -> dict[str, str]:
    """A query string -> its parameters, as dict(request.query_params) gives them (the last of
    repeated names, blank values kept), without the multi-dict; plain ones (no escapes, the case
    of proofs asked for by the thousand) split directly."""
    text = raw.decode("latin-1")
    if "%" in text or "+" in text:
        return dict(parse_qsl(text, keep_blank_values=True))
    return {name: value for name, _, value in (part.partition("=") for part in text.split("&") if part)}


def validation_error(error: ValidationError) -> ApiError:
    """A pydantic error -> 422 naming each field, without echoing what was sent."""
    fields = []
    for item in error.errors(include_url=False, include_input=False, include_context=False):
        if not item["loc"] and item["type"] == "model_type":  # a body that is no object: no field's fault
            return ApiError(422, NOT_AN_OBJECT)
        location = ".".join(str(part) for part in item["loc"]) or "body"
        # Our own checks' sentences come without pydantic's "Value error, " in front.
        message = "is not a field of this request" if item["type"] == "extra_forbidden" else item["msg"]
        message = message.removeprefix("Value error, ")
        fields.append(FieldError(field=location, message=message))
    return ApiError(422, invalid_fields(fields), fields=fields)


def invalid_fields(fields: list[FieldError]) -> str:
    """The 422 message naming the first three fields' problems, each word for word (clients search it for
    them): "Some fields are not valid (title: ...; body: ...)." When the last problem is a sentence that
    ends with its own full stop, the message ends at the parenthesis, never ".)."."""
    summary = "; ".join(f"{item.field}: {item.message}" for item in fields[:3])
    return f"Some fields are not valid ({summary})" + ("" if summary.endswith(".") else ".")

"""The OpenAPI 3 document, built from the ApiRoutes in the app's route list and their models."""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from . import __version__
from .api import JSON_TYPE, ApiRoute
from .errors import STATUS_ERRORS, ErrorResponse

REF_TEMPLATE = "#/components/schemas/{model}"
PATH_PARAM = re.compile(r"{([^}:]+)(?::[^}]+)?}")
SLUG_PARAMETER = (
    "The petition's id, or its slug once it is published: a draft is addressed by its id only "
    "(its slug is reserved when it is published, and never changes after)."
)


def build_document(routes: list[BaseRoute], *, title: str) -> dict[str, Any]:
    """An app's routes -> the OpenAPI 3.1 document as a dict."""
    api_routes = [route for route in routes if isinstance(route, ApiRoute)]
    models: list[tuple[type[BaseModel], str]] = [(ErrorResponse, "serialization")]
    for route in api_routes:
        operation = route.operation
        if operation.body is not None:
            models.append((operation.body, "validation"))
        if operation.response is not None:
            models.append((operation.response, "serialization"))
        models.extend((model, "serialization") for model in operation.also.values())
    unique = list(dict.fromkeys(models))
    refs, definitions = models_json_schema(unique, ref_template=REF_TEMPLATE)

    paths: dict[str, dict[str, Any]] = {}
    for route in api_routes:
        operation = route.operation
        path = PATH_PARAM.sub(r"{\1}", route.path)
        parameters: list[dict[str, Any]] = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            | ({"description": SLUG_PARAMETER} if name == "slug" else {})
            for name in PATH_PARAM.findall(route.path)
        ]
        if operation.query is not None:
            schema = operation.query.model_json_schema(ref_template=REF_TEMPLATE)
            required = set(schema.get("required", []))
            for name, prop in schema.get("properties", {}).items():
                parameters.append({"name": name, "in": "query", "required": name in required, "schema": prop})
                definitions.setdefault("$defs", {}).update(schema.get("$defs", {}))

        responses: dict[str, Any] = {}
        success: dict[str, Any] = {"description": operation.summary}
        if operation.response is not None:
            ref = refs[(operation.response, "serialization")]
            success["content"] = {JSON_TYPE: {"schema": ref}, **operation.media_types}
        elif operation.media_types:  # no JSON, only these (a checkpoint's text, a tile's bytes)
            success["content"] = dict(operation.media_types)
        responses[str(operation.status)] = success
        for status, model in operation.also.items():
            content = {JSON_TYPE: {"schema": refs[(model, "serialization")]}}
            responses[str(status)] = {"description": model.__doc__ or operation.summary, "content": content}
        for status in error_statuses(route):
            responses[str(status)] = {"$ref": f"#/components/responses/Error{status}"}

        entry: dict[str, Any] = {
            "operationId": route.name,
            "summary": operation.summary,
            "tags": list(operation.tags),
            "parameters": parameters,
            "responses": responses,
        }
        if operation.body is not None:
            ref = refs[(operation.body, "validation")]
            entry["requestBody"] = {"required": True, "content": {JSON_TYPE: {"schema": ref}}}
        if operation.auth:
            entry["security"] = [{"bearer": []}]
        for method in sorted(route.methods or ()):
            if method == "HEAD":
                continue
            paths.setdefault(path, {})[method.lower()] = entry

    error_ref = refs[(ErrorResponse, "serialization")]
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": __version__},
        "paths": paths,
        "components": {
            "schemas": definitions.get("$defs", {}),
            "responses": {
                f"Error{status}": {"description": message, "content": {JSON_TYPE: {"schema": error_ref}}}
                for status, (_, message) in STATUS_ERRORS.items()
            },
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def error_statuses(route: ApiRoute) -> list[int]:
    """The error statuses an API route can answer with, from what it declares and takes."""
    operation = route.operation
    statuses = {429, 500, *operation.errors}
    if operation.body is not None:
        statuses |= {400, 413, 415, 422}
    if operation.query is not None:
        statuses.add(422)
    if operation.auth:
        # 403: a valid token while two-factor is required and its organizer has not turned it on.
        statuses |= {401, 403}
    if PATH_PARAM.search(route.path):
        statuses.add(404)
    return sorted(statuses)


async def openapi_document(request: Request) -> Response:
    """GET /api/openapi.json: the document, built once per process."""
    state = request.app.state
    if getattr(state, "openapi", None) is None:
        document = build_document(request.app.routes, title=state.settings.site_name)
        state.openapi = json.dumps(document).encode()
    return Response(state.openapi, media_type=JSON_TYPE, headers={"access-control-allow-origin": "*"})

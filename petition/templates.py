"""Jinja2 templates: autoescaped, linking by route name, with a versioned stylesheet."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup
from starlette.requests import Request
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import Message, Receive, Scope, Send

from . import languages
from .csrf import FORM_FIELD, csrf_token
from .periods import days, retention_words
from .settings import Settings
from .text import isolated, long_date, paragraphs, without_forbidden
from .zones import zone_names

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
# A versioned asset URL changes whenever the file does, so browsers may keep it a year.
VERSIONED_MAX_AGE = 365 * 24 * 3600
UNVERSIONED_MAX_AGE = 3600


def environment(directory: Path) -> jinja2.Environment:
    """Templates from `directory` as all of ours are: escaped, a missing value an error, tags leave no blank lines.

    Characters XML forbids and the bidirectional overrides are dropped from every value written:
    a row stored before the text rule existed must not make the Atom feed or a flyer's SVG
    unreadable, nor show a name reversed.
    """
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(directory),
        autoescape=True,
        finalize=without_forbidden,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def make_templates(settings: Settings) -> Jinja2Templates:
    """The app's template environment, with `url_for`, `static_url` and `csrf_input` globals."""
    env = environment(TEMPLATES_DIR)
    versions = asset_versions(STATIC_DIR)

    @jinja2.pass_context
    def url_for(context: dict[str, Any], name: str, /, **path_params: Any) -> str:
        # A path, not an absolute URL: links never depend on the Host header.
        request: Request = context["request"]
        return str(request.app.url_path_for(name, **path_params))

    def static_url(path: str) -> str:
        version = versions.get(path)
        return f"/static/{path}?v={version}" if version else f"/static/{path}"

    @jinja2.pass_context
    def csrf_input(context: dict[str, Any]) -> Markup:
        token = csrf_token(context["request"])
        return Markup('<input type="hidden" name="{}" value="{}">').format(FORM_FIELD, token)

    env.globals.update(
        url_for=url_for,
        static_url=static_url,
        csrf_input=csrf_input,
        site_name=settings.site_name,
        paragraphs=paragraphs,
        long_date=long_date,
        time_zones=zone_names(),
        batch_min=settings.log_batch_min,
        default_retention_days=settings.retention_days,
        max_open_days=settings.max_open_days,
        retention_words=retention_words,
        days=days,
    )
    env.filters["isolated"] = isolated
    env.filters["lang"] = language_attributes
    return Jinja2Templates(env=env)


def language_attributes(petition: Any, direction: str = "") -> Markup:
    """A petition (a row or a view) -> `lang="…" dir="…"` for an element that holds its own words.

    The page around them stays English (`<html lang="en">`): only the petition's words carry its
    language, so a screen reader switches voice for them alone. `dir` is the language's base
    direction unless `direction` is given (`auto` where the words may mix languages).
    """
    tag = petition["language"] if isinstance(petition, Mapping) else petition.language
    return Markup('lang="{}" dir="{}"').format(tag, direction or languages.direction(tag))


def asset_versions(directory: Path) -> dict[str, str]:
    """Each static file's path -> the first characters of its hash."""
    return {
        str(path.relative_to(directory)): hashlib.sha256(path.read_bytes()).hexdigest()[:10]
        for path in directory.rglob("*")
        if path.is_file()
    }


class CachedStaticFiles(StaticFiles):
    """Static files with a Cache-Control header: long when the URL carries a version."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        versioned = b"v=" in scope.get("query_string", b"")
        max_age = VERSIONED_MAX_AGE if versioned else UNVERSIONED_MAX_AGE
        value = f"public, max-age={max_age}" + (", immutable" if versioned else "")

        async def send_with_cache(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] in (200, 304):
                message["headers"] = [*message.get("headers", ()), (b"cache-control", value.encode())]
            await send(message)

        await super().__call__(scope, receive, send_with_cache)

"""CSRF: every HTML form POST needs the token that matches its cookie, from our own origin."""

from __future__ import annotations

import re
from dataclasses import replace

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

from petition.csrf import FORM_FIELD, UNSUBSCRIBE_PREFIX
from petition.settings import Settings

from .conftest import BASE_URL, start_app

FORM_PAGE = '{% extends "base.html" %}{% block content %}<form method="post">{{ csrf_input() }}</form>{% endblock %}'


async def form_page(request: Request) -> Response:
    template = request.app.state.templates.env.from_string(FORM_PAGE)
    return HTMLResponse(template.render(request=request))


async def form_submit(request: Request) -> Response:
    async with request.form() as form:
        return PlainTextResponse(f"saved {form.get('title')}")


def add_form_routes(app: Starlette) -> None:
    app.router.routes.append(Route("/form", form_page))
    app.router.routes.append(Route("/form", form_submit, methods=["POST"]))


@pytest.fixture
def form_app(app: Starlette) -> Starlette:
    add_form_routes(app)
    return app


async def token_from_page(client: httpx.AsyncClient) -> str:
    page = await client.get("/form")
    match = re.search(rf'name="{FORM_FIELD}" value="([^"]+)"', page.text)
    assert match, "the form carries a CSRF token"
    return match.group(1)


async def test_a_form_post_with_its_token_is_accepted(form_app: Starlette, client: httpx.AsyncClient) -> None:
    token = await token_from_page(client)
    response = await client.post("/form", data={FORM_FIELD: token, "title": "hello"}, headers={"origin": BASE_URL})
    assert response.status_code == 200
    assert response.text == "saved hello", "the form body still reaches the route after the check"


async def test_a_multipart_form_post_with_its_token_is_accepted(form_app: Starlette, client: httpx.AsyncClient) -> None:
    token = await token_from_page(client)
    response = await client.post("/form", data={FORM_FIELD: token, "title": "multi"}, files={"f": ("a.txt", b"x")})
    assert response.status_code == 200
    assert response.text == "saved multi"


async def test_the_null_origin_of_a_no_referrer_page_is_accepted_with_a_token(
    form_app: Starlette, client: httpx.AsyncClient
) -> None:
    token = await token_from_page(client)
    response = await client.post("/form", data={FORM_FIELD: token}, headers={"origin": "null"})
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("data", "headers"),
    [
        ({"title": "no token"}, {}),
        ({FORM_FIELD: "forged", "title": "x"}, {}),
        ("valid-token", {"origin": "https://evil.example"}),
        ("valid-token", {"sec-fetch-site": "cross-site"}),
    ],
    ids=["missing-token", "wrong-token", "foreign-origin", "cross-site-fetch"],
)
async def test_a_form_post_without_a_valid_token_or_from_elsewhere_is_refused(
    form_app: Starlette, client: httpx.AsyncClient, data: object, headers: dict[str, str]
) -> None:
    token = await token_from_page(client)
    if data == "valid-token":
        data = {FORM_FIELD: token, "title": "x"}
    response = await client.post("/form", data=data, headers=headers)  # type: ignore[arg-type]
    assert response.status_code == 403
    assert "expired or came from another site" in response.text
    assert "saved" not in response.text


async def test_a_form_post_without_the_cookie_is_refused(form_app: Starlette, client: httpx.AsyncClient) -> None:
    token = await token_from_page(client)
    client.cookies.clear()
    response = await client.post("/form", data={FORM_FIELD: token})
    assert response.status_code == 403


async def test_a_json_post_to_a_page_is_refused(form_app: Starlette, client: httpx.AsyncClient) -> None:
    await token_from_page(client)
    response = await client.post("/form", json={"title": "x"})
    assert response.status_code == 403


async def test_the_csrf_cookie_is_httponly_and_lax(form_app: Starlette, client: httpx.AsyncClient) -> None:
    response = await client.get("/form")
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("csrf=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    again = await client.get("/form")
    assert "set-cookie" not in again.headers, "the cookie is set once, not on every page"


async def test_pages_without_forms_set_no_cookie(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert "set-cookie" not in response.headers


async def test_over_https_the_cookie_is_secure_with_the_host_prefix(settings: Settings) -> None:
    app, lifespan = await start_app(replace(settings, base_url="https://petitions.example.org"))
    add_form_routes(app)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://petitions.example.org") as http:
            cookie = (await http.get("/form")).headers["set-cookie"]
            assert cookie.startswith("__Host-csrf=") and "; Secure" in cookie
            token = await token_from_page(http)
            ok = await http.post("/form", data={FORM_FIELD: token}, headers={"origin": "https://petitions.example.org"})
            assert ok.status_code == 200
    finally:
        await lifespan.__aexit__(None, None, None)  # type: ignore[attr-defined]


async def test_the_api_is_not_subject_to_form_tokens(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/status", json={})
    assert response.status_code == 405, "API routes answer for themselves; no 403 from the CSRF check"


async def test_every_html_post_route_refuses_a_post_without_a_token(app: Starlette, client: httpx.AsyncClient) -> None:
    """Walks the app's route list, so a new form route is covered by being written."""
    posted = 0
    for route in app.routes:
        methods = getattr(route, "methods", None) or set()
        path = getattr(route, "path", "")
        if "POST" not in methods or path.startswith(("/api/", "/p/", UNSUBSCRIBE_PREFIX)):
            continue
        url = re.sub(r"{[^}]+}", "anything", path)
        response = await client.post(url, data={"email": "a@example.org", "password": "x" * 20, "code": "1"})
        assert response.status_code == 403, f"POST {path} without a CSRF token"
        posted += 1
    assert posted >= 15


async def test_signer_forms_need_no_token_but_refuse_a_foreign_origin(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    """Signers have no session to ride on, and their pages are cached alike for everyone."""
    signer_posts = [
        route.path
        for route in app.routes
        if route.path.startswith("/p/") and "POST" in (getattr(route, "methods", None) or set())
    ]
    assert len(signer_posts) >= 3
    for path in signer_posts:
        url = re.sub(r"{[^}]+}", "anything", path)
        foreign = await client.post(url, data={"code": "x"}, headers={"origin": "https://evil.example"})
        assert foreign.status_code == 403, path
        cross_site = await client.post(url, data={"code": "x"}, headers={"sec-fetch-site": "cross-site"})
        assert cross_site.status_code == 403, path
        own = await client.post(url, data={"code": "x"}, headers={"origin": BASE_URL})
        assert own.status_code != 403, path


async def test_only_the_unsubscribe_links_skip_both_checks_for_rfc_8058_one_click(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    """A mail client's one-click POST has no cookie, no token, maybe another origin; the token in
    the path is the authority. (What it does is tested in test_unsubscribe.)"""
    exempt = [
        route.path
        for route in app.routes
        if "POST" in (getattr(route, "methods", None) or set()) and route.path.startswith(UNSUBSCRIBE_PREFIX)
    ]
    assert exempt == ["/u/{token}"]
    cross_site = {"origin": "https://webmail.example", "sec-fetch-site": "cross-site"}
    answer = await client.post("/u/anything", data={"List-Unsubscribe": "One-Click"}, headers=cross_site)
    assert answer.status_code == 404, "answered by the route (a link that is not ours), not refused by the check"

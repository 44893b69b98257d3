"""The web shell: pages, security headers, errors without tracebacks, body limit, access log."""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace

import httpx
import pytest
from pydantic import BaseModel, ConfigDict, Field
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from petition.api import ApiRoute
from petition.errors import ErrorCode
from petition.settings import Settings
from petition.templates import TEMPLATES_DIR

from .conftest import BASE_URL, start_app

PAGES = ["/", "/privacy"]


async def test_healthz_answers_ok(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.text == "ok"


@pytest.mark.parametrize("path", PAGES)
async def test_pages_are_accessible_html_with_one_local_stylesheet(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    html = response.text
    assert '<html lang="en">' in html
    assert '<meta name="viewport"' in html
    for landmark in ("<header", '<main id="main"', "<footer", "<nav aria-label="):
        assert landmark in html
    assert 'href="#main"' in html, "a skip link leads to the content"
    stylesheets = re.findall(r'<link rel="stylesheet" href="([^"]+)"', html)
    assert len(stylesheets) == 1 and stylesheets[0].startswith("/static/style.css?v=")
    assert "<script" not in html and "style=" not in html
    assert not re.search(r'(src|href)="(https?:)?//', html), "no third-party asset of any kind"


async def test_the_stylesheet_is_small_and_cached(client: httpx.AsyncClient) -> None:
    page = (await client.get("/")).text
    href = re.search(r'href="(/static/style.css\?v=[^"]+)"', page).group(1)  # type: ignore[union-attr]
    response = await client.get(href)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/css")
    assert len(response.content) < 8 * 1024
    assert "immutable" in response.headers["cache-control"]


@pytest.mark.parametrize("path", ["/", "/healthz", "/api/v1/status", "/nowhere", "/api/nowhere", "/static/style.css"])
async def test_every_response_carries_the_security_headers(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    csp = response.headers["content-security-policy"]
    directives = dict(part.strip().split(" ", 1) for part in csp.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["form-action"] == "'self'"
    assert directives["base-uri"] == "'none'"
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "strict-transport-security" not in response.headers, "HSTS only when BASE_URL is https"


async def test_hsts_is_sent_when_base_url_is_https(settings: Settings) -> None:
    app, lifespan = await start_app(replace(settings, base_url="https://petitions.example.org"))
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://petitions.example.org") as http:
            response = await http.get("/healthz")
        assert response.headers["strict-transport-security"].startswith("max-age=")
    finally:
        await lifespan.__aexit__(None, None, None)  # type: ignore[attr-defined]


async def test_status_reports_the_schema_version(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/status")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["schema_version"] >= 1


async def test_unknown_page_is_a_plain_html_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/no/such/page")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "Not found" in response.text and '<html lang="en">' in response.text


async def test_an_address_holding_a_forbidden_character_gets_the_404_page_of_any_unknown_address(
    client: httpx.AsyncClient,
) -> None:
    unknown = await client.get("/no/such/page")
    for path in ("/p/ex%00a", "/p/ex%EF%BF%BFa", "/organize/%01"):
        response = await client.get(path)
        assert response.status_code == 404 and response.text == unknown.text, path
        assert '<nav aria-label="Site">' in response.text
    api = await client.get("/api/v1/petitions/ex%00a")
    assert api.status_code == 404 and api.json()["error"]["code"] == "not_found"


async def test_unknown_api_path_is_a_json_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "There is nothing at this address."}}


async def test_wrong_method_on_the_api_is_a_json_405(client: httpx.AsyncClient) -> None:
    response = await client.delete("/api/v1/status")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


async def crash(request: Request) -> Response:
    raise RuntimeError("secret-value-in-an-exception-message")


@pytest.mark.parametrize(("path", "kind"), [("/crash", "text/html"), ("/api/v1/crash", "application/json")])
async def test_a_crash_is_a_plain_500_without_traceback_or_exception_message(
    app: Starlette, client: httpx.AsyncClient, logs: pytest.LogCaptureFixture, path: str, kind: str
) -> None:
    app.router.routes.append(Route(path, crash))
    response = await client.get(path)
    assert response.status_code == 500
    assert response.headers["content-type"].startswith(kind)
    assert "Traceback" not in response.text and "RuntimeError" not in response.text
    assert "secret-value" not in response.text
    if kind == "application/json":
        assert response.json()["error"]["code"] == "internal_error"
    logged = "\n".join(record.getMessage() for record in logs.records)
    assert "unhandled RuntimeError" in logged, "the crash is logged for the operator"
    assert "secret-value" not in logged, "exception messages can carry data: never logged"


async def test_an_announced_oversized_body_is_refused_with_413(client: httpx.AsyncClient, settings: Settings) -> None:
    response = await client.post(
        "/api/v1/status", content=b"x" * (settings.max_body_bytes + 1), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


class EchoCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(max_length=10)


class EchoPublic(BaseModel):
    title: str


async def echo(request: Request, body: EchoCreate) -> EchoPublic:
    return EchoPublic(title=body.title)


@pytest.fixture
def echo_app(app: Starlette) -> Starlette:
    app.router.routes.append(
        ApiRoute(
            "/api/v1/echo", echo, summary="Echo", response=EchoPublic, methods=["POST"], status=201, body=EchoCreate
        )
    )
    return app


async def test_a_streamed_oversized_body_is_refused_with_413(
    echo_app: Starlette, client: httpx.AsyncClient, settings: Settings
) -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(settings.max_body_bytes // 1024 + 2):
            yield b"x" * 1024

    response = await client.post("/api/v1/echo", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413


async def test_api_bodies_are_validated_with_the_json_error_shape(
    echo_app: Starlette, client: httpx.AsyncClient
) -> None:
    ok = await client.post("/api/v1/echo", json={"title": "hello"})
    assert ok.status_code == 201 and ok.json() == {"title": "hello"}

    cases = [
        (await client.post("/api/v1/echo", content=b"{not json", headers={"content-type": "application/json"}), 400),
        (await client.post("/api/v1/echo", content=b"title=x", headers={"content-type": "text/plain"}), 415),
        (await client.post("/api/v1/echo", json={"title": "hello", "extra": 1}), 422),
        (await client.post("/api/v1/echo", json={"title": "much too long for this"}), 422),
        (await client.post("/api/v1/echo", json=["title"]), 422),
    ]
    for response, status in cases:
        assert response.status_code == status
        error = response.json()["error"]
        assert ErrorCode(error["code"])
        assert error["message"]
    unknown = cases[2][0].json()["error"]
    assert {"field": "extra", "message": "is not a field of this request"} in unknown["fields"]
    too_long = cases[3][0].json()["error"]
    assert "much too long" not in too_long["message"], "refused values are not echoed back"


async def test_openapi_document_lists_api_routes_with_their_models(
    echo_app: Starlette, client: httpx.AsyncClient
) -> None:
    response = await client.get("/api/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    status = document["paths"]["/api/v1/status"]["get"]
    assert status["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/StatusPublic")
    echo_post = document["paths"]["/api/v1/echo"]["post"]
    assert echo_post["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/EchoCreate")
    assert {"201", "400", "413", "415", "422"} <= set(echo_post["responses"])
    schemas = document["components"]["schemas"]
    assert set(schemas["ErrorCode"]["enum"]) == {code.value for code in ErrorCode}
    assert schemas["EchoCreate"]["additionalProperties"] is False


async def test_access_log_names_the_route_but_never_the_address_path_or_query(
    app: Starlette, client: httpx.AsyncClient, logs: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    await client.get("/privacy?code=SECRET-CODE-1234", headers={"x-forwarded-for": "198.51.100.23"})
    await client.get("/static/style.css?v=1")
    app.state.access_log.flush()
    lines = [line for line in capsys.readouterr().err.splitlines() if "petition.access" in line]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d INFO petition.access: GET /privacy 200 [\d.]+ms", lines[0])
    assert "GET /static/… 200" in lines[1]
    # The test's own HTTP client (httpx) logs its requests; everything else is the service's.
    logged = [r.getMessage() for r in logs.records if not r.name.startswith(("httpx", "httpcore"))]
    everything = "\n".join([*lines, *logged])
    for forbidden in ("SECRET-CODE", "code=", "198.51.100.23", "203.0.113.7", "style.css"):
        assert forbidden not in everything


async def test_access_log_lines_are_written_within_a_second_in_atomic_chunks(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes: list[str] = []
    monkeypatch.setattr("sys.stderr", type("Sink", (), {"write": writes.append, "flush": lambda self: None})())
    for _ in range(120):
        await client.get("/healthz")
    assert writes, "a full buffer is written at once"
    assert all(len(chunk.encode()) <= 4096 for chunk in writes), "each write fits a pipe's atomic size"
    written = sum(chunk.count("\n") for chunk in writes)
    await asyncio.sleep(1.2)
    assert sum(chunk.count("\n") for chunk in writes) == 120 > written, "the rest is written within a second"


async def test_access_log_can_be_turned_off(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    app, lifespan = await start_app(replace(settings, access_log=False))
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as http:
            await http.get("/healthz")
    finally:
        await lifespan.__aexit__(None, None, None)  # type: ignore[attr-defined]
    assert app.state.access_log is None
    assert "petition.access" not in capsys.readouterr().err


async def test_the_app_refuses_to_start_on_an_unmigrated_database(settings: Settings, empty_db_url: str) -> None:
    from petition.app import create_app
    from petition.migrations import MigrationError

    app = create_app(replace(settings, database_url=empty_db_url))
    with pytest.raises(MigrationError, match="pending"):
        async with app.router.lifespan_context(app):
            pass


async def test_status_is_503_when_the_database_is_unreachable(
    app: Starlette, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def unreachable(*args: object, **kwargs: object) -> None:
        raise OSError("connection refused")

    monkeypatch.setattr(app.state.db, "fetch_val", unreachable)
    response = await client.get("/api/v1/status")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "unavailable"
    assert (await client.get("/healthz")).status_code == 200, "/healthz touches nothing"


def test_every_route_has_its_own_name() -> None:
    """Pages link with url_for(name): two routes of one name would send a form to the wrong one."""
    from collections import Counter

    from petition.app import make_routes

    names = Counter(getattr(route, "name", None) for route in make_routes())
    assert [name for name, count in names.items() if count > 1] == []


def test_every_table_scrolls_in_its_own_box_that_a_keyboard_reaches_and_its_caption_names() -> None:
    # A table as wide as its headings would widen a 320 px page; in its own box only the box scrolls.
    boxed = re.compile(
        r'<div class="table-scroll" role="region" aria-labelledby="([\w-]+)" tabindex="0">\s*'
        r'<table>\s*<caption id="\1">.*?</table>\s*</div>',
        re.DOTALL,
    )
    for template in TEMPLATES_DIR.glob("*.html"):
        text = template.read_text()
        assert text.count("<table") == len(boxed.findall(text)), template.name


async def test_every_page_names_its_icon_and_the_home_page_leads_organizers_to_sign_in(
    client: httpx.AsyncClient,
) -> None:
    home = await client.get("/")
    icon = re.search(r'<link rel="icon" type="image/svg\+xml" href="([^"]+)">', home.text)
    assert icon, "a browser asks for no /favicon.ico (no 404 in its console)"
    answer = await client.get(icon.group(1))
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("image/svg+xml")
    assert 'href="/login"' in home.text and "Organizers sign in" in home.text

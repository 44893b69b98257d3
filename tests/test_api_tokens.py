"""API tokens: made on the settings page or the command line, shown once, revocable, header only."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from petition import accounts, organizers, queries
from petition.api import ApiRoute
from petition.csrf import FORM_FIELD
from petition.database import Database

from .test_cli import MAIN, clean_environ
from .test_login import PASSWORD, csrf_of, log_in

pytestmark = pytest.mark.usefixtures("organizer")


async def make_token_on_page(client: httpx.AsyncClient, name: str) -> str:
    csrf = await csrf_of(client, "/organize/settings")
    page = await client.post("/organize/tokens", data={FORM_FIELD: csrf, "name": name})
    assert page.status_code == 200
    match = re.search(r'<code class="secret">([^<]+)</code>', page.text)
    assert match, "the new token is shown"
    return match.group(1)


async def test_a_token_made_on_the_settings_page_acts_as_its_organizer(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    await log_in(client, "alice@example.org")
    token = await make_token_on_page(client, "newsroom script")
    settings_page = await client.get("/organize/settings")
    assert "newsroom script" in settings_page.text
    assert token not in settings_page.text, "shown once, then gone"
    client.cookies.clear()  # the token alone, no session
    me = await client.get("/api/v1/me", headers={"authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.json() == {"email": "alice@example.org", "is_admin": True, "two_factor": False}
    rows = await app.state.db.fetch_all("SELECT token_hash FROM api_tokens")
    assert token not in str(rows), "only a hash is stored"


async def test_a_revoked_token_is_refused(app: Starlette, client: httpx.AsyncClient) -> None:
    await log_in(client, "alice@example.org")
    token = await make_token_on_page(client, "old")
    token_id = (await app.state.db.fetch_one("SELECT id FROM api_tokens"))["id"]
    csrf = await csrf_of(client, "/organize/settings")
    assert (await client.post(f"/organize/tokens/{token_id}/revoke", data={FORM_FIELD: csrf})).status_code == 303
    me = await client.get("/api/v1/me", headers={"authorization": f"Bearer {token}"})
    assert me.status_code == 401
    assert me.json()["error"]["code"] == "unauthorized"
    actions = [row["action"] for row in await organizers.audit_trail(app.state.db)]
    assert "token created" in actions and "token revoked" in actions


@pytest.mark.parametrize(
    "headers", [{}, {"authorization": "Bearer made-up"}, {"authorization": "Basic YWxpY2U6cGFzcw=="}]
)
async def test_a_missing_or_wrong_token_is_401_in_the_json_shape(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await client.get("/api/v1/me", headers=headers)
    assert response.status_code == 401
    assert set(response.json()["error"]) >= {"code", "message"}


async def test_a_token_in_the_query_string_is_refused_even_when_valid(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    token = await accounts.create_token_for(app.state.db, email="alice@example.org", name="x")
    response = await client.get(f"/api/v1/me?token={token}")
    assert response.status_code == 401
    assert "Authorization header" in response.json()["error"]["message"]
    with_header = await client.get(f"/api/v1/me?access_token={token}", headers={"authorization": f"Bearer {token}"})
    assert with_header.status_code == 401


async def test_the_token_records_its_last_use_to_the_day(app: Starlette, client: httpx.AsyncClient) -> None:
    db: Database = app.state.db
    token = await accounts.create_token_for(db, email="alice@example.org", name="x")
    await client.get("/api/v1/me", headers={"authorization": f"Bearer {token}"})
    day = await db.fetch_val("SELECT last_used_day FROM api_tokens")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", day)


async def test_an_empty_token_name_is_refused(app: Starlette, client: httpx.AsyncClient) -> None:
    await log_in(client, "alice@example.org")
    csrf = await csrf_of(client, "/organize/settings")
    page = await client.post("/organize/tokens", data={FORM_FIELD: csrf, "name": "  "})
    assert page.status_code == 422
    assert await app.state.db.fetch_val("SELECT COUNT(*) AS n FROM api_tokens") == 0


def test_the_command_line_makes_organizers_and_prints_a_token_last(tmp_path: Path) -> None:
    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(MAIN), *args],
            cwd=tmp_path,
            env=clean_environ(tmp_path, {}),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )

    created = run("create-organizer", "Bob@Example.org", stdin=PASSWORD + "\n")
    assert created.returncode == 0, created.stderr
    assert run("create-organizer", "bob@example.org", stdin=PASSWORD + "\n").returncode == 1, "taken"
    weak = run("create-organizer", "carol@example.org", stdin="password\n")
    assert weak.returncode == 2 and "at least 12 characters" in weak.stderr
    token = run("create-token", "bob@example.org", "--name", "cron")
    assert token.returncode == 0
    last_line = token.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", last_line)
    assert run("create-token", "nobody@example.org").returncode == 1


# A valid body for each API request model an organizer's route takes: every route is tried.
VALID_BODIES = {
    "PetitionCreate": {"title": "Fair rotas", "summary": "S", "target": "T", "goal": 10},
    "PetitionUpdate": {"title": "Fairer rotas"},
    "CodeBatchCreate": {"count": 1},
    "FlyerCreate": {"layout": "poster", "paper_size": "a4"},
    "ModerateRequest": {"approve": ["some-reason-id"]},
    "UpdateCreate": {"title": "News", "body": "We met leadership."},
    "RoundCreate": {"question": "What should a fair opt-out look like?", "statements": ["One click."]},
    "RoundUpdate": {"question": "What would a fair opt-out be?"},
    "StatementModerate": {"approve": ["some-statement-id"]},
}


# Routes whose 401 is about a feedback round's participant token, which an organizer's token never is.
PARTICIPANT_ROUTES = {
    ("POST", "/api/v1/rounds/{id}/participants/token"),
    ("PUT", "/api/v1/rounds/{id}/statements/{sid}/vote"),
    ("POST", "/api/v1/rounds/{id}/statements"),
}


async def test_while_two_factor_is_required_a_token_without_it_is_refused_for_every_api_action(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    bearer = {"authorization": f"Bearer {token}"}
    made = await client.post("/api/v1/petitions", json=VALID_BODIES["PetitionCreate"], headers=bearer)
    assert made.status_code == 201
    slug = made.json()["id"]
    made_round = await client.post(f"/api/v1/petitions/{slug}/rounds", json=VALID_BODIES["RoundCreate"], headers=bearer)
    assert made_round.status_code == 201
    db: Database = app.state.db
    await db.write(lambda tx: tx.execute(queries.UPSERT_INSTANCE_SETTING, {"name": "require_two_factor", "value": "1"}))
    tried = 0
    for route in app.routes:
        # Every route that takes a token: those that need one, and those that read one when sent.
        if not isinstance(route, ApiRoute) or not (route.operation.auth or 401 in route.operation.errors):
            continue
        if {(method, route.path) for method in route.methods or ()} & PARTICIPANT_ROUTES:
            continue  # they take a participant's token (pt_...), never an organizer's
        operation = route.operation
        path = route.path.replace("{slug}", slug).replace("{flyer_id}", "f" * 24).replace("{kind}", "pdf")
        path = path.replace("{id}", made_round.json()["id"]).replace("{sid}", "s" * 24).replace("{batch}", "b" * 24)
        path = path.replace("{batch_id}", "b" * 24)  # a petition's code batch
        body = VALID_BODIES[operation.body.__name__] if operation.body else None
        for method in sorted((route.methods or set()) - {"HEAD"}):
            response = await client.request(method, path, json=body, headers=bearer)
            assert response.status_code == 403, f"{method} {route.path}"
            assert response.json()["error"]["code"] == "two_factor_required"
            assert "turn it on" in response.json()["error"]["message"]
            tried += 1
    assert tried >= 12
    assert await db.fetch_val("SELECT title FROM petitions") == "Fair rotas", "nothing changed"
    document = (await client.get("/api/openapi.json")).json()
    assert "two_factor_required" in document["components"]["schemas"]["ErrorCode"]["enum"]
    assert "403" in document["paths"]["/api/v1/petitions"]["post"]["responses"]


async def test_the_token_is_checked_before_the_body_on_every_route_that_needs_one(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    bearer = {"authorization": f"Bearer {token}"}
    slug = (await client.post("/api/v1/petitions", json=VALID_BODIES["PetitionCreate"], headers=bearer)).json()["id"]
    tried = 0
    for route in app.routes:
        if not isinstance(route, ApiRoute) or not route.operation.auth or route.operation.body is None:
            continue
        path = route.path.replace("{slug}", slug)
        for method in sorted((route.methods or set()) - {"HEAD"}):
            for headers, status in (({}, 401), ({"authorization": "Bearer not-a-token"}, 401)):
                # An invalid body: whoever has no token must not learn the schema's checks from a 422.
                response = await client.request(method, path, json={"zzz": 1}, headers=headers)
                assert response.status_code == status, f"{method} {route.path}"
            tried += 1
    assert tried >= 4
    db: Database = app.state.db
    await db.write(lambda tx: tx.execute(queries.UPSERT_INSTANCE_SETTING, {"name": "require_two_factor", "value": "1"}))
    refused = await client.post("/api/v1/petitions", json={}, headers=bearer)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "two_factor_required"


async def test_a_token_works_again_once_its_organizer_turns_two_factor_on(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db: Database = app.state.db
    await db.write(lambda tx: tx.execute(queries.UPSERT_INSTANCE_SETTING, {"name": "require_two_factor", "value": "1"}))
    bearer = {"authorization": f"Bearer {token}"}
    assert (await client.get("/api/v1/me", headers=bearer)).status_code == 403
    await db.write(lambda tx: tx.execute("UPDATE organizers SET totp_secret = 'sealed'"))
    assert (await client.get("/api/v1/me", headers=bearer)).status_code == 200
    await db.write(lambda tx: tx.execute(queries.UPSERT_INSTANCE_SETTING, {"name": "require_two_factor", "value": "0"}))
    await db.write(lambda tx: tx.execute("UPDATE organizers SET totp_secret = NULL"))
    assert (await client.get("/api/v1/me", headers=bearer)).status_code == 200, "not required: not needed"

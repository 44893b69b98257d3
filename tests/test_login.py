"""Organizer accounts: the setup link, login, sessions, logout, rate limits, the audit trail."""

from __future__ import annotations

import re
from dataclasses import replace

import httpx
import pytest
from starlette.applications import Starlette

from petition import accounts, organizers, passwords, queries
from petition.csrf import FORM_FIELD
from petition.database import Database
from petition.settings import Settings

from .conftest import ORGANIZER_PASSWORD, start_app

PASSWORD = ORGANIZER_PASSWORD


async def csrf_of(client: httpx.AsyncClient, path: str) -> str:
    page = await client.get(path)
    match = re.search(rf'name="{FORM_FIELD}" value="([^"]+)"', page.text)
    assert match, f"{path} has a form with a CSRF token"
    return match.group(1)


async def log_in(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    signed_in = (await client.get("/login")).status_code == 303
    token = await csrf_of(client, "/organize" if signed_in else "/login")
    return await client.post("/login", data={FORM_FIELD: token, "email": email, "password": password})


async def audit_actions(db: Database) -> list[str]:
    return [row["action"] for row in reversed(await organizers.audit_trail(db))]


async def test_the_setup_link_creates_the_first_organizer_as_admin_once(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    db: Database = app.state.db
    token = await accounts.setup_link_if_needed(db)
    assert token
    page = f"/setup/{token}"
    csrf = await csrf_of(client, page)
    response = await client.post(
        page, data={FORM_FIELD: csrf, "email": "First@Example.org", "password": PASSWORD, "password_again": PASSWORD}
    )
    assert response.status_code == 303 and response.headers["location"] == "/organize"
    home = await client.get("/organize")
    assert home.status_code == 200 and "first@example.org</bdi> (administrator)" in home.text
    assert (await client.get(page)).status_code == 404, "the link works once"
    assert await accounts.setup_link_if_needed(db) is None, "no setup link once an organizer exists"
    assert await audit_actions(db) == ["organizer created", "login"]


async def test_a_weak_password_at_setup_is_refused_and_creates_nothing(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    token = await accounts.setup_link_if_needed(app.state.db)
    csrf = await csrf_of(client, f"/setup/{token}")
    for password in ("short", "1qaz2wsx3edc", "x" * 300):
        response = await client.post(
            f"/setup/{token}",
            data={FORM_FIELD: csrf, "email": "a@example.org", "password": password, "password_again": password},
        )
        assert response.status_code == 422
        assert 'class="error"' in response.text
    assert await organizers.count_organizers(app.state.db) == 0
    mismatch = await client.post(
        f"/setup/{token}",
        data={FORM_FIELD: csrf, "email": "a@example.org", "password": PASSWORD, "password_again": PASSWORD + "!"},
    )
    assert "The two passwords differ." in mismatch.text
    assert await organizers.count_organizers(app.state.db) == 0


async def test_an_unknown_or_expired_setup_link_is_refused(app: Starlette, client: httpx.AsyncClient) -> None:
    assert (await client.get("/setup/made-up")).status_code == 404
    first = await accounts.setup_link_if_needed(app.state.db)
    second = await accounts.setup_link_if_needed(app.state.db)
    assert (await client.get(f"/setup/{first}")).status_code == 404, "a newer link replaces the older"
    assert (await client.get(f"/setup/{second}")).status_code == 200


async def test_login_sets_a_private_session_cookie_and_opens_organizer_pages(
    organizer: str, client: httpx.AsyncClient
) -> None:
    assert (await client.get("/organize")).status_code == 303, "signed out: sent to login"
    response = await log_in(client, organizer)
    assert response.status_code == 303
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("session=")
    for attribute in ("HttpOnly", "SameSite=lax", "Path=/"):
        assert attribute.lower() in cookie.lower()
    home = await client.get("/organize")
    assert home.status_code == 200 and organizer in home.text
    assert home.headers["cache-control"] == "no-store"


async def test_over_https_the_session_cookie_is_secure_with_the_host_prefix(settings: Settings) -> None:
    app, lifespan = await start_app(replace(settings, base_url="https://petitions.example.org"))
    try:
        await accounts.create_organizer(app.state.db, email="a@example.org", password=PASSWORD, admin=False)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://petitions.example.org") as http:
            response = await log_in(http, "a@example.org")
        cookie = next(c for c in response.headers.get_list("set-cookie") if "session" in c)
        assert cookie.startswith("__Host-session=") and "Secure" in cookie
    finally:
        await lifespan.__aexit__(None, None, None)  # type: ignore[attr-defined]


async def test_unknown_address_and_wrong_password_get_the_same_answer(
    organizer: str, client: httpx.AsyncClient
) -> None:
    wrong = await log_in(client, organizer, "not the right password")
    unknown = await log_in(client, "nobody@example.org", "not the right password")
    assert wrong.status_code == unknown.status_code == 400
    assert sorted(wrong.headers.keys()) == sorted(unknown.headers.keys())
    assert "Wrong email or password." in wrong.text and "Wrong email or password." in unknown.text
    assert wrong.text.replace(organizer, "X") == unknown.text.replace("nobody@example.org", "X")
    assert (await client.get("/organize")).status_code == 303


async def test_a_session_from_before_login_is_worthless_after_it(organizer: str, client: httpx.AsyncClient) -> None:
    await log_in(client, organizer)
    before = client.cookies.get("session")
    await log_in(client, organizer)
    after = client.cookies.get("session")
    assert before and after and before != after
    client.cookies.set("session", before)
    assert (await client.get("/organize")).status_code == 303


async def test_logout_ends_the_session_on_the_server(organizer: str, client: httpx.AsyncClient) -> None:
    await log_in(client, organizer)
    captured = client.cookies.get("session")
    csrf = await csrf_of(client, "/organize")
    response = await client.post("/logout", data={FORM_FIELD: csrf})
    assert response.status_code == 303
    client.cookies.set("session", captured)  # a copy of the cookie kept by someone else
    assert (await client.get("/organize")).status_code == 303


async def test_idle_and_old_sessions_expire(app: Starlette, organizer: str, client: httpx.AsyncClient) -> None:
    await log_in(client, organizer)
    db: Database = app.state.db

    async def age(tx, column: str, seconds: int) -> None:  # type: ignore[no-untyped-def]
        await tx.execute(f"UPDATE organizer_sessions SET {column} = {column} - :s", {"s": seconds})

    await db.write(lambda tx: age(tx, "last_seen_at", 61 * 60))
    assert (await client.get("/organize")).status_code == 303, "idle for longer than SESSION_IDLE_MINUTES"
    await log_in(client, organizer)
    await db.write(lambda tx: age(tx, "created_at", 13 * 3600))
    assert (await client.get("/organize")).status_code == 303, "older than SESSION_MAX_HOURS"


async def test_login_is_rate_limited_per_account_with_a_clear_message(
    settings: Settings, organizer: str, app: Starlette, client: httpx.AsyncClient
) -> None:
    for _ in range(settings.rate_limit_login_per_account):
        assert (await log_in(client, organizer, "wrong password here")).status_code == 400
    refused = await log_in(client, organizer)
    assert refused.status_code == 429
    assert "Too many login attempts" in refused.text
    assert (await client.get("/organize")).status_code == 303, "even the right password waits"


async def test_login_is_rate_limited_per_client(settings: Settings) -> None:
    app, lifespan = await start_app(replace(settings, rate_limit_login_per_client=3))
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8000") as http:
            statuses = [
                (await log_in(http, f"user{i}@example.org", "wrong password here")).status_code for i in range(4)
            ]
        assert statuses == [400, 400, 400, 429]
    finally:
        await lifespan.__aexit__(None, None, None)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "path", ["/login", "/logout", "/setup/anything", "/organize/tokens", "/organize/tokens/x/revoke"]
)
async def test_every_organizer_form_refuses_a_post_without_its_csrf_token(
    organizer: str, client: httpx.AsyncClient, path: str
) -> None:
    await log_in(client, organizer)
    response = await client.post(path, data={"email": organizer, "password": PASSWORD, "name": "x"})
    assert response.status_code == 403


async def test_a_deactivated_organizers_session_and_tokens_stop_working(
    app: Starlette, organizer: str, client: httpx.AsyncClient
) -> None:
    db: Database = app.state.db
    token = await accounts.create_token_for(db, email=organizer, name="script")
    await log_in(client, organizer)
    account = await organizers.find_by_email(db, organizer)
    assert account is not None
    await db.write(lambda tx: tx.execute(queries.DEACTIVATE_ORGANIZER, {"id": account.id}))
    assert (await client.get("/organize")).status_code == 303
    me = await client.get("/api/v1/me", headers={"authorization": f"Bearer {token}"})
    assert me.status_code == 401
    assert (await log_in(client, organizer)).status_code == 400, "cannot log in again"


async def test_failed_and_successful_logins_are_audited_without_addresses(
    app: Starlette, organizer: str, client: httpx.AsyncClient
) -> None:
    await log_in(client, organizer, "wrong password here")
    await log_in(client, organizer)
    await log_in(client, "nobody@example.org", "wrong password here")
    trail = await organizers.audit_trail(app.state.db)
    actions = [(row["action"], row["email"]) for row in reversed(trail)]
    assert actions[-3:] == [("login failed", organizer), ("login", organizer), ("login failed", None)]
    assert all("203.0.113.7" not in str(row) for row in trail)


async def test_expired_sessions_are_purged(app: Starlette, organizer: str, client: httpx.AsyncClient) -> None:
    from petition.sessions import purge_expired

    await log_in(client, organizer)
    db: Database = app.state.db
    await purge_expired(db, app.state.settings)
    assert await db.fetch_val("SELECT COUNT(*) AS n FROM organizer_sessions") == 1, "a live session stays"
    await db.write(lambda tx: tx.execute("UPDATE organizer_sessions SET last_seen_at = last_seen_at - 3700"))
    await purge_expired(db, app.state.settings)
    assert await db.fetch_val("SELECT COUNT(*) AS n FROM organizer_sessions") == 0


def test_passwords_are_hashed_with_argon2id_at_owasps_minimum_cost(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.undo()  # the service's own hasher, not the cheap one in-process tests use
    assert accounts.HASHER is passwords.HASHER
    hasher = passwords.HASHER
    assert (hasher.type.name, hasher.memory_cost, hasher.time_cost, hasher.parallelism) == ("ID", 19 * 1024, 2, 1)

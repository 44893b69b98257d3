"""Password reset, invitations, deactivation and the admin's switches, with mail captured."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import httpx
import pytest
from starlette.applications import Starlette

from petition import accounts, csrf, organizers
from petition.csrf import FORM_FIELD
from petition.database import Database

from .conftest import Mailbox, delivered
from .test_login import PASSWORD, csrf_of, log_in

pytestmark = pytest.mark.usefixtures("organizer")
NEW_PASSWORD = "a completely different passphrase"


def link_in(message: dict[str, str], kind: str) -> str:
    match = re.search(rf"http://127\.0\.0\.1:8000(/{kind}/[A-Za-z0-9_-]+)", message["body"])
    assert match, f"the message holds a {kind} link"
    return match.group(1)


async def request_reset(client: httpx.AsyncClient, email: str) -> httpx.Response:
    csrf = await csrf_of(client, "/reset")
    return await client.post("/reset", data={FORM_FIELD: csrf, "email": email})


async def test_a_reset_link_sets_a_new_password_once_and_ends_sessions(
    app: Starlette, client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    other_device = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8000")
    await log_in(other_device, "alice@example.org")
    response = await request_reset(client, "Alice@Example.org")
    assert "we have sent it a link" in response.text
    [message] = await delivered(app, mailbox)
    assert message["to"] == "alice@example.org"
    path = link_in(message, "reset")
    page = await client.get(path)
    assert page.status_code == 200 and "New password" in page.text, "opening the link changes nothing"
    csrf = await csrf_of(client, path)
    done = await client.post(path, data={FORM_FIELD: csrf, "password": NEW_PASSWORD, "password_again": NEW_PASSWORD})
    assert done.status_code == 200 and "Password changed" in done.text
    assert (await other_device.get("/organize")).status_code == 303, "every session ended"
    await other_device.aclose()
    assert (await log_in(client, "alice@example.org", PASSWORD)).status_code == 400
    assert (await log_in(client, "alice@example.org", NEW_PASSWORD)).status_code == 303
    again = await client.post(path, data={FORM_FIELD: csrf, "password": PASSWORD, "password_again": PASSWORD})
    assert again.status_code == 404, "the link works once"


async def test_a_reset_for_an_unknown_address_gets_the_same_answer_and_no_mail(
    app: Starlette, client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    known = await request_reset(client, "alice@example.org")
    unknown = await request_reset(client, "nobody@example.org")
    assert known.status_code == unknown.status_code == 200
    assert known.text == unknown.text
    assert [m["to"] for m in await delivered(app, mailbox)] == ["alice@example.org"]


async def test_an_expired_reset_link_is_refused(app: Starlette, client: httpx.AsyncClient, mailbox: Mailbox) -> None:
    await request_reset(client, "alice@example.org")
    path = link_in((await delivered(app, mailbox))[0], "reset")
    db: Database = app.state.db
    await db.write(lambda tx: tx.execute("UPDATE organizer_links SET expires_at = expires_at - 1801"))
    assert (await client.get(path)).status_code == 404
    csrf = await csrf_of(client, "/reset")
    refused = await client.post(path, data={FORM_FIELD: csrf, "password": NEW_PASSWORD, "password_again": NEW_PASSWORD})
    assert refused.status_code == 404
    assert (await log_in(client, "alice@example.org", PASSWORD)).status_code == 303, "nothing changed"


async def test_an_admin_invites_an_organizer_who_joins_by_the_link(
    app: Starlette, client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    await log_in(client, "alice@example.org")
    csrf = await csrf_of(client, "/organize/admin")
    page = await client.post("/organize/admin/invite", data={FORM_FIELD: csrf, "email": "Bob@Example.org"})
    assert "Invitation sent to bob@example.org" in page.text
    [message] = await delivered(app, mailbox)
    path = link_in(message, "invite")
    newcomer = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8000")
    form = await newcomer.get(path)
    assert "bob@example.org" in form.text
    csrf = await csrf_of(newcomer, path)
    weak = await newcomer.post(path, data={FORM_FIELD: csrf, "password": "short", "password_again": "short"})
    assert weak.status_code == 422
    joined = await newcomer.post(path, data={FORM_FIELD: csrf, "password": PASSWORD, "password_again": PASSWORD})
    assert joined.status_code == 303
    home = await newcomer.get("/organize")
    assert "bob@example.org" in home.text and "administrator" not in home.text
    assert (await newcomer.get("/organize/admin")).status_code == 404, "organizers do not see the admin page"
    assert (await newcomer.post(path, data={FORM_FIELD: csrf, "password": PASSWORD})).status_code in (404, 422)
    await newcomer.aclose()
    actions = [row["action"] for row in await organizers.audit_trail(app.state.db)]
    assert "invitation sent" in actions and "invitation accepted" in actions


async def test_deactivation_ends_sessions_and_tokens_at_once(
    app: Starlette, client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    db: Database = app.state.db
    await accounts.create_organizer(db, email="bob@example.org", password=PASSWORD, admin=False)
    token = await accounts.create_token_for(db, email="bob@example.org", name="bot")
    bob = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8000")
    await log_in(bob, "bob@example.org")
    assert (await bob.get("/organize")).status_code == 200
    await log_in(client, "alice@example.org")
    bob_id = (await organizers.find_by_email(db, "bob@example.org")).id  # type: ignore[union-attr]
    csrf = await csrf_of(client, "/organize/admin")
    page = await client.post(f"/organize/admin/organizers/{bob_id}/deactivate", data={FORM_FIELD: csrf})
    assert "is deactivated" in page.text
    assert (await bob.get("/organize")).status_code == 303
    assert (await bob.get("/api/v1/me", headers={"authorization": f"Bearer {token}"})).status_code == 401
    await bob.aclose()
    assert "organizer deactivated" in [row["action"] for row in await organizers.audit_trail(db)]
    alice = await organizers.find_by_email(db, "alice@example.org")
    self_page = await client.post(f"/organize/admin/organizers/{alice.id}/deactivate", data={FORM_FIELD: csrf})  # type: ignore[union-attr]
    assert "cannot deactivate yourself" in self_page.text


async def test_the_admin_page_shows_the_audit_trail(client: httpx.AsyncClient) -> None:
    await log_in(client, "alice@example.org", "a wrong password here")
    await log_in(client, "alice@example.org")
    page = await client.get("/organize/admin")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert "login failed" in page.text and re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", page.text)


async def test_requiring_two_factor_needs_the_admin_to_have_it(app: Starlette, client: httpx.AsyncClient) -> None:
    await log_in(client, "alice@example.org")
    csrf = await csrf_of(client, "/organize/admin")
    page = await client.post("/organize/admin/two-factor", data={FORM_FIELD: csrf, "required": "on"})
    assert "Turn on two-factor for yourself first" in page.text
    assert not await organizers.two_factor_required(app.state.db)


@pytest.mark.parametrize(
    "path", ["/reset", "/reset/x", "/invite/x", "/organize/admin/invite", "/organize/admin/two-factor"]
)
async def test_recovery_and_admin_forms_refuse_a_post_without_its_csrf_token(
    client: httpx.AsyncClient, path: str
) -> None:
    await log_in(client, "alice@example.org")
    response = await client.post(path, data={"email": "x@example.org", "password": PASSWORD})
    assert response.status_code == 403


async def test_an_invitation_to_an_address_that_got_an_account_meanwhile_changes_nothing(
    app: Starlette, client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    await log_in(client, "alice@example.org")
    csrf = await csrf_of(client, "/organize/admin")
    await client.post("/organize/admin/invite", data={FORM_FIELD: csrf, "email": "bob@example.org"})
    path = link_in((await delivered(app, mailbox))[0], "invite")
    db: Database = app.state.db
    await accounts.create_organizer(db, email="bob@example.org", password=PASSWORD, admin=False)
    refused = await client.post(path, data={FORM_FIELD: csrf, "password": NEW_PASSWORD, "password_again": NEW_PASSWORD})
    assert refused.status_code == 404
    assert await db.fetch_val("SELECT COUNT(*) AS n FROM organizer_links WHERE used_at IS NOT NULL") == 0


async def reset_by_asgi(app: Starlette, email: str, events: list[str]) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """POST /reset straight to the ASGI app, noting in `events` when the answer is complete."""
    cookie = "fixed-csrf-cookie"
    body = urlencode({FORM_FIELD: csrf.token_for(app.state.settings.secret_key, cookie), "email": email}).encode()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/reset",
        "raw_path": b"/reset",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1:8000"),
            (b"content-type", b"application/x-www-form-urlencoded"),
            (b"content-length", str(len(body)).encode()),
            (b"cookie", f"csrf={cookie}".encode()),
        ],
        "client": ("203.0.113.7", 51000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    answer: dict[str, object] = {"body": b""}

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, object]) -> None:
        if message["type"] == "http.response.start":
            answer["status"], answer["headers"] = message["status"], message["headers"]
        elif message["type"] == "http.response.body":
            answer["body"] = answer["body"] + message.get("body", b"")  # type: ignore[operator]
            if not message.get("more_body"):
                events.append("answered")

    await app(scope, receive, send)
    return answer["status"], answer["headers"], answer["body"]  # type: ignore[return-value]


async def test_a_reset_is_answered_before_the_address_is_looked_up_so_accounts_cannot_be_timed(
    app: Starlette, mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []
    find_by_email, write = organizers.find_by_email, app.state.db.write

    async def noted_find(db: Database, email: str) -> organizers.Organizer | None:
        events.append("lookup")
        return await find_by_email(db, email)

    async def noted_write(unit: object) -> object:
        events.append("write")
        return await write(unit)

    monkeypatch.setattr(organizers, "find_by_email", noted_find)
    monkeypatch.setattr(app.state.db, "write", noted_write)
    known = await reset_by_asgi(app, "alice@example.org", events)
    for_known = list(events)
    events.clear()
    unknown = await reset_by_asgi(app, "nobody@example.org", events)
    assert [m["to"] for m in await delivered(app, mailbox)] == ["alice@example.org"]
    # (later writes are the outbox sending the message)
    assert for_known[:3] == ["answered", "lookup", "write"], "the account's write comes after its answer"
    assert events[:2] == ["answered", "lookup"]
    assert known == unknown, "status, headers and body are the same bytes"


async def test_a_failed_reset_link_is_logged_without_the_address(
    app: Starlette, client: httpx.AsyncClient, mailbox: Mailbox, logs: pytest.LogCaptureFixture
) -> None:
    async def broken(unit: object) -> object:
        raise RuntimeError("alice@example.org")

    app.state.db.write = broken
    try:
        response = await request_reset(client, "alice@example.org")
    finally:
        del app.state.db.write
    assert response.status_code == 200 and "we have sent it a link" in response.text
    assert "queueing a password reset link failed" in logs.text
    assert "alice" not in logs.text


async def test_a_password_reset_ends_api_tokens_too(
    app: Starlette, client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    token = await accounts.create_token_for(app.state.db, email="alice@example.org", name="script")
    me = {"authorization": f"Bearer {token}"}
    assert (await client.get("/api/v1/me", headers=me)).status_code == 200
    await request_reset(client, "alice@example.org")
    path = link_in((await delivered(app, mailbox))[0], "reset")
    csrf_token = await csrf_of(client, path)
    done = await client.post(
        path, data={FORM_FIELD: csrf_token, "password": NEW_PASSWORD, "password_again": NEW_PASSWORD}
    )
    assert "every session and API token" in done.text
    assert (await client.get("/api/v1/me", headers=me)).status_code == 401
    assert await app.state.db.fetch_val("SELECT COUNT(*) AS n FROM api_tokens WHERE revoked_at IS NULL") == 0


async def test_a_refused_invitation_address_is_422_beside_its_field_and_a_taken_one_is_a_conflict(
    app: Starlette, client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    await log_in(client, "alice@example.org")
    csrf = await csrf_of(client, "/organize/admin")
    refused = await client.post("/organize/admin/invite", data={FORM_FIELD: csrf, "email": "bob\uffff@example.org"})
    assert refused.status_code == 422
    assert '<p class="error" id="email-error">Enter one plain email address' in refused.text
    assert 'aria-describedby="email-error"' in refused.text and 'value="bob@example.org"' in refused.text
    taken = await client.post("/organize/admin/invite", data={FORM_FIELD: csrf, "email": "alice@example.org"})
    assert taken.status_code == 409 and "already exists" in taken.text
    alice = await organizers.find_by_email(app.state.db, "alice@example.org")
    self_page = await client.post(f"/organize/admin/organizers/{alice.id}/deactivate", data={FORM_FIELD: csrf})  # type: ignore[union-attr]
    assert self_page.status_code == 409
    assert await delivered(app, mailbox) == []

"""Revoking a petition's batch of printed codes through the API: the same change, audit entry and public
event as its codes page, answered with the batch as the codes list shows it, and refused (404, 409)
with nothing changed."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette

from petition import organizers
from petition.csrf import FORM_FIELD
from petition.database import Database

from .test_audit_trail import events_of
from .test_login import csrf_of, log_in
from .test_petitions import bearer, create, other_organizer_token
from .test_signing import open_petition, petition_id, sign

pytestmark = pytest.mark.usefixtures("organizer")


def revoke_url(key: str, batch_id: str) -> str:
    return f"/api/v1/petitions/{key}/codes/{batch_id}/revoke"


async def make_batch(client: httpx.AsyncClient, token: str, key: str, count: int = 3) -> tuple[str, list[str]]:
    """A new batch of the petition at `key`: (its id, its codes)."""
    made = await client.post(f"/api/v1/petitions/{key}/codes", json={"count": count}, headers=bearer(token))
    assert made.status_code == 201
    return str(made.json()["batch"]), list(made.json()["codes"])


async def listed(client: httpx.AsyncClient, token: str, key: str) -> list[dict[str, object]]:
    return list((await client.get(f"/api/v1/petitions/{key}/codes", headers=bearer(token))).json()["batches"])


async def revocations(db: Database) -> int:
    """How many batches are revoked; as many audit entries must say so."""
    revoked = await db.fetch_val("SELECT COUNT(*) FROM code_batches WHERE revoked_at IS NOT NULL")
    audited = await db.fetch_val("SELECT COUNT(*) FROM audit_log WHERE action = 'code batch revoked'")
    assert revoked == audited, "each revocation has its one audit entry"
    return int(revoked)


async def test_revoking_a_batch_through_the_api_stops_its_unused_codes_and_answers_the_batch(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token)
    batch_id, (used, unused, _) = await make_batch(client, token, slug)
    kept_id, [kept] = await make_batch(client, token, slug, 1)
    assert (await sign(client, slug, used)).status_code == 201
    # A body is not read, as for every other POST that takes none (publish, close).
    answer = await client.post(revoke_url(slug, batch_id), json={"ignored": True}, headers=bearer(token))
    assert answer.status_code == 200
    assert answer.json() == {
        "id": batch_id,
        "label": "",
        "size": 3,
        "used": None,  # below MIN_CELL_SIZE, as the list shows it
        "revoked": True,
        "downloadable": False,
    }
    assert answer.headers["cache-control"] == "no-store", "an organizer's answer is theirs alone"
    batches = await listed(client, token, slug)
    assert answer.json() in batches, "the batch as the codes list shows it"
    assert [batch["revoked"] for batch in batches if batch["id"] == kept_id] == [False]
    assert (await sign(client, slug, unused)).status_code == 422, "an unused code of the batch no longer signs"
    assert (await sign(client, slug, kept)).status_code == 201, "another batch's codes still sign"
    states = {row["state"] for row in await app.state.db.fetch_all("SELECT state FROM signing_codes")}
    assert states == {0, 1}, "the codes' own rows stay as they were: their batch refuses them"
    assert await revocations(app.state.db) == 1


async def test_revoking_through_the_api_is_audited_and_a_public_event_as_on_the_codes_page(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db: Database = app.state.db
    slug = await open_petition(client, token)
    pid = await petition_id(db, slug)
    batch_id, _ = await make_batch(client, token, slug)
    # Read once before, so the public answers are cached: revoking must make them show it.
    assert [event["kind"] for event in await events_of(client, slug)] == ["opened"]
    assert "printed codes were revoked" not in (await client.get(f"/p/{slug}")).text
    assert (await client.post(revoke_url(slug, batch_id), headers=bearer(token))).status_code == 200
    [entry] = [row for row in await organizers.petition_audit_trail(db, pid) if row["action"] == "code batch revoked"]
    assert entry["email"] == "alice@example.org" and entry["detail"].endswith(f": batch {batch_id}")
    events = await events_of(client, slug)
    assert [event["kind"] for event in events] == ["opened", "codes_revoked"]
    assert events[1]["batches"] == 1
    assert "A batch of printed codes was revoked" in (await client.get(f"/p/{slug}")).text
    assert "printed codes was revoked" in (await client.get(f"/p/{slug}/feed.atom")).text


async def test_a_drafts_batch_revoked_through_the_api_is_audited_but_never_public(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db: Database = app.state.db
    draft = (await create(client, token, verification=["code"], allowed_domains=[])).json()
    batch_id, [code] = await make_batch(client, token, draft["id"], 1)
    dashboard = f"/api/v1/petitions/{draft['id']}/dashboard"

    async def on_dashboard() -> list[dict[str, object]]:
        return list((await client.get(dashboard, headers=bearer(token))).json()["code_batches"])

    assert [batch["revoked"] for batch in await on_dashboard()] == [False]
    answer = await client.post(revoke_url(draft["id"], batch_id), headers=bearer(token))
    assert answer.status_code == 200 and answer.json()["revoked"] is True
    # No public event moves a draft's version: the cache is refreshed, so the dashboard's memo goes at once.
    assert await on_dashboard() == [answer.json()]
    assert await revocations(db) == 1
    assert (await client.post(f"/api/v1/petitions/{draft['id']}/publish", headers=bearer(token))).status_code == 200
    assert [event["kind"] for event in await events_of(client, draft["slug"])] == ["opened"]
    assert (await sign(client, draft["slug"], code)).status_code == 422, "revoked as a draft, it never signs"


async def test_a_batch_stays_revocable_after_its_petition_stops_taking_codes_or_closes(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    draft = (await create(client, token, verification=["email", "code"], allowed_domains=["example.com"])).json()
    batch_id, _ = await make_batch(client, token, draft["id"])
    email_only = {"verification": ["email"]}
    assert (await client.patch(f"/api/v1/petitions/{draft['id']}", json=email_only, headers=bearer(token))).is_success
    assert (await client.post(revoke_url(draft["id"], batch_id), headers=bearer(token))).status_code == 200
    slug = await open_petition(client, token, title="Another petition", slug="another-petition")
    closed_id, _ = await make_batch(client, token, slug)
    assert (await client.post(f"/api/v1/petitions/{slug}/close", headers=bearer(token))).status_code == 200
    assert (await client.post(revoke_url(slug, closed_id), headers=bearer(token))).status_code == 200


async def test_revoking_is_refused_with_nothing_changed_for_a_revoked_unknown_or_someone_elses_batch(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db: Database = app.state.db
    slug = await open_petition(client, token)
    other_slug = await open_petition(client, token, title="Another petition", slug="another-petition")
    revoked_id, _ = await make_batch(client, token, slug)
    batch_id, [code, *_] = await make_batch(client, token, slug)
    other_id, _ = await make_batch(client, token, other_slug)
    assert (await client.post(revoke_url(slug, revoked_id), headers=bearer(token))).status_code == 200
    bob = await other_organizer_token(app)
    bobs = (await create(client, bob, verification=["code"], allowed_domains=[])).json()["id"]
    before = (await revocations(db), await listed(client, token, slug), await events_of(client, slug))
    refusals = [
        (revoke_url(slug, revoked_id), token, 409, "This batch was revoked already."),
        (revoke_url(slug, "b" * 24), token, 404, "There is no such batch of codes for this petition."),
        (revoke_url(slug, other_id), token, 404, "There is no such batch of codes for this petition."),
        (revoke_url(slug, batch_id), bob, 404, "There is no petition at this address that you organize."),
        (revoke_url(bobs, batch_id), bob, 404, "There is no such batch of codes for this petition."),
        (
            revoke_url("no-such-petition", batch_id),
            token,
            404,
            "There is no petition at this address that you organize.",
        ),
    ]
    for url, caller, status, message in refusals:
        refused = await client.post(url, headers=bearer(caller))
        assert refused.status_code == status, url
        kind = "conflict" if status == 409 else "not_found"
        assert refused.json() == {"error": {"code": kind, "message": message}}, url
    assert (await client.post(revoke_url(slug, batch_id))).status_code == 401, "no token"
    assert (await revocations(db), await listed(client, token, slug), await events_of(client, slug)) == before
    assert (await sign(client, slug, code)).status_code == 201, "the batch refused to others still signs"


async def test_after_the_purge_revoking_is_refused_on_the_api_and_the_page_with_no_entry_and_no_event(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db: Database = app.state.db
    slug = await open_petition(client, token)
    batch_id, _ = await make_batch(client, token, slug)
    assert (await client.post(f"/api/v1/petitions/{slug}/close", headers=bearer(token))).status_code == 200
    assert (await client.post(f"/api/v1/petitions/{slug}/purge", headers=bearer(token))).status_code == 200
    before = (await revocations(db), await events_of(client, slug))
    refused = await client.post(revoke_url(slug, batch_id), headers=bearer(token))
    assert refused.status_code == 409
    assert "identifying data was destroyed" in refused.json()["error"]["message"]
    await log_in(client, "alice@example.org")
    csrf = await csrf_of(client, f"/organize/petitions/{await petition_id(db, slug)}/codes")
    page = await client.post(
        f"/organize/petitions/{await petition_id(db, slug)}/codes/{batch_id}/revoke", data={FORM_FIELD: csrf}
    )
    assert page.status_code == 409 and "identifying data was destroyed" in page.text
    listing = await client.get(f"/organize/petitions/{await petition_id(db, slug)}/codes")
    assert "Revoke unused" not in listing.text and "unused codes destroyed" in listing.text
    confirm = await client.get(f"/organize/petitions/{await petition_id(db, slug)}/codes/{batch_id}/revoke")
    assert confirm.status_code == 409 and "identifying data was destroyed" in confirm.text
    assert (await revocations(db), await events_of(client, slug)) == before

"""The audit trail of petition actions: every organizer action on a petition (from its pages and from
the API) makes exactly one entry filed under the petition, in the write that makes the change; the
ones that change what the public sees (printed codes revoked, feedback rounds opened and closed) are
also public events on the timeline, the feed and the page, a draft's never."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Awaitable
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from petition import organizers, petitions, purge
from petition.csrf import FORM_FIELD
from petition.database import Database, Transaction
from petition.feedback import rounds
from petition.settings import Settings

from .conftest import SmtpSink, make_settings, smtp_settings
from .feedback.factories import add_statement, execute
from .test_login import csrf_of, log_in
from .test_petition_updates import add_contacts
from .test_petitions import bearer, create, other_organizer_token
from .test_reasons import signed_with_reasons
from .test_signing import open_petition, petition_id

pytestmark = pytest.mark.usefixtures("organizer")
ATOM = "{http://www.w3.org/2005/Atom}"
ROUND_FORM = {"question": "Which first?", "statements": "Nights.\n", "results": "public"}
ROUND = {"question": "Which shifts should rotate first?", "statements": ["Nights first.", "Weekends first."]}


@pytest.fixture
def settings(tmp_path: Path, db_url: str, smtp: SmtpSink) -> Settings:
    return make_settings(tmp_path, database_url=db_url, update_emails_per_minute=100_000, **smtp_settings(smtp))


async def actions_of(db: Database, pid: str) -> list[str]:
    """The petition's entries' actions, oldest first."""
    return [row["action"] for row in reversed(await organizers.petition_audit_trail(db, pid))]


async def unfiled(db: Database) -> list[str]:
    """Entries about petitions left out of every petition's trail (an account's own actions aside)."""
    own = ("login", "logout", "organizer created", "token created", "password accepted")
    rows = await db.fetch_all("SELECT action FROM audit_log WHERE petition_id IS NULL")
    return [row["action"] for row in rows if row["action"] not in own]


async def new_entries(db: Database, pid: str, before: int) -> list[str]:
    return (await actions_of(db, pid))[before:]


async def signed_in(client: httpx.AsyncClient) -> str:
    await log_in(client, "alice@example.org")
    return await csrf_of(client, "/organize")


async def test_every_petition_action_through_the_api_makes_one_entry_filed_under_its_petition(
    app: Starlette, client: httpx.AsyncClient, token: str, settings: Settings
) -> None:
    db: Database = app.state.db
    draft = (await create(client, token, verification=["code"], allowed_domains=[])).json()
    pid, url = draft["id"], f"/api/v1/petitions/{draft['id']}"
    assert await actions_of(db, pid) == ["draft created"]

    async def expect(action: str, make: Awaitable[httpx.Response]) -> None:
        before = len(await actions_of(db, pid))
        response = await make
        assert response.status_code < 300, (action, response.text)
        assert await new_entries(db, pid, before) == [action], action

    headers = bearer(token)
    await expect("settings changed", client.patch(url, json={"goal": 250}, headers=headers))
    await expect("text edited", client.patch(url, json={"title": "Rotate the night shifts"}, headers=headers))
    made_codes: dict[str, object] = {}

    async def make_codes() -> httpx.Response:
        made = await client.post(f"{url}/codes", json={"count": 3, "label": "Desk"}, headers=headers)
        made_codes.update(made.json())
        return made

    await expect("code batch made", make_codes())
    await expect("code batch revoked", client.post(f"{url}/codes/{made_codes['batch']}/revoke", headers=headers))
    flyer = {"layout": "tearoff", "paper_size": "a4", "copies": 1, "label": "Canteen"}
    await expect("flyer batch made", client.post(f"{url}/flyers", json=flyer, headers=headers))
    await expect("petition published", client.post(f"{url}/publish", headers=headers))
    slug = (await client.get(url)).json()["slug"]
    await expect(
        "text edited", client.patch(f"/api/v1/petitions/{slug}", json={"summary": "Clearer."}, headers=headers)
    )
    round_id = ""

    async def make_round() -> httpx.Response:
        nonlocal round_id
        made = await client.post(f"/api/v1/petitions/{slug}/rounds", json=ROUND, headers=headers)
        round_id = made.json()["id"]
        return made

    await expect("round created", make_round())
    await expect("round changed", client.patch(f"/api/v1/rounds/{round_id}", json={"question": "Q?"}, headers=headers))
    await expect("round opened", client.post(f"/api/v1/rounds/{round_id}/open", headers=headers))
    codes_url = f"/api/v1/rounds/{round_id}/codes"
    batch = {}

    async def make_round_codes() -> httpx.Response:
        made = await client.post(codes_url, json={"count": 2}, headers=headers)
        batch.update(made.json())
        return made

    await expect("round codes made", make_round_codes())
    await expect("round code batch revoked", client.post(f"{codes_url}/{batch['batch']}/revoke", headers=headers))
    waiting = await add_statement(db, round_id, "Mornings first.", status="waiting", seed=0)
    moderate = {"approve": [waiting], "hide": []}
    await expect(
        "statements moderated",
        client.post(f"/api/v1/rounds/{round_id}/statements/moderate", json=moderate, headers=headers),
    )
    await expect("round closed", client.post(f"/api/v1/rounds/{round_id}/close", headers=headers))
    await add_contacts(db, settings, pid, ["audit.updates@elsewhere.org"])
    update = {"title": "We met the board", "body": "News.", "email_subscribers": True}
    # The app's own queuer may hand the emails over as soon as the update is posted, so both entries
    # are looked for together: one each, whoever drained the queue first.
    before = len(await actions_of(db, pid))
    posted = await client.post(f"/api/v1/petitions/{slug}/updates", json=update, headers=headers)
    assert posted.status_code == 201, posted.text
    await app.state.update_queuer.drain()
    await app.state.update_queuer.drain()  # once more: nothing is queued, and nothing recorded, twice
    assert sorted(await new_entries(db, pid, before)) == ["update emailed", "update posted"]
    [emailed] = [row for row in await organizers.petition_audit_trail(db, pid) if row["action"] == "update emailed"]
    assert emailed["detail"].endswith(": 1 email handed to the outbox"), "counts only, never an address"
    await expect("petition closed", client.post(f"/api/v1/petitions/{slug}/close", headers=headers))
    await expect("identifying data destroyed", client.post(f"/api/v1/petitions/{slug}/purge", headers=headers))
    trail = await organizers.petition_audit_trail(db, pid)
    assert {row["email"] for row in trail} == {"alice@example.org", None}, "who: the organizer, or the service"
    assert all("audit.updates" not in row["detail"] for row in trail)
    assert await unfiled(db) == [], "every entry about the petition is filed under it"


async def test_every_petition_action_from_its_pages_makes_one_entry_filed_under_its_petition(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db: Database = app.state.db
    await other_organizer_token(app)
    bob = await db.fetch_val("SELECT id FROM organizers WHERE email = 'bob@example.org'")
    slug, _ = await signed_with_reasons(app, client, token, ["Because nights are long."])
    pid = await petition_id(db, slug)
    reason = (await client.get(f"/api/v1/petitions/{slug}/reasons/queue", headers=bearer(token))).json()["reasons"]
    csrf = await signed_in(client)
    page = f"/organize/petitions/{pid}"
    batch = (await client.post(f"/api/v1/petitions/{slug}/codes", json={"count": 2}, headers=bearer(token))).json()
    edit = {"title": "Fair shifts", "summary": "Rotas ahead.", "target": "Operations", "goal": "50", "body": ""}
    edit |= {"verification": "code", "retention_days": "30", "timeline_floor": "day", "language": "en"}
    edit |= {"time_zone": "UTC", "reasons_enabled": "on", "show_names": "on"}
    steps = [
        (f"{page}/edit", edit, "text edited"),
        (f"{page}/codes", {"count": "2"}, "code batch made"),
        (f"{page}/codes/{batch['batch']}/revoke", {}, "code batch revoked"),
        (f"{page}/flyers", {"layout": "poster", "paper_size": "a4", "copies": "1"}, "flyer batch made"),
        (f"{page}/organizers", {"email": "bob@example.org"}, "co-organizer added"),
        (f"{page}/organizers/{bob}/remove", {}, "co-organizer removed"),
        (f"{page}/reasons", {"action": "approve", "reason": reason[0]["id"]}, "reasons moderated"),
        (f"{page}/updates", {"title": "News", "body": "We met."}, "update posted"),
        (
            f"{page}/rounds",
            {"question": "Which first?", "statements": "Nights.\n", "results": "public"},
            "round created",
        ),
        (f"{page}/close", {}, "petition closed"),
        (f"{page}/purge", {}, "identifying data destroyed"),
    ]
    for action, form, expected in steps:
        before = len(await actions_of(db, pid))
        answer = await client.post(action, data={FORM_FIELD: csrf, **form})
        assert answer.status_code == 303, (action, answer.text[-800:])
        assert await new_entries(db, pid, before) == [expected], action
    # The round's pages: open it on a new open petition (this one is closed now), then close it.
    other = await open_petition(client, token)
    other_pid = await petition_id(db, other)
    made = await client.post(
        f"/organize/petitions/{other_pid}/rounds",
        data={FORM_FIELD: csrf, **ROUND_FORM},
    )
    round_id = made.headers["location"].split("/")[3].split("?")[0]
    for action, expected in (("open", "round opened"), ("close", "round closed")):
        before = len(await actions_of(db, other_pid))
        answer = await client.post(f"/organize/rounds/{round_id}/{action}", data={FORM_FIELD: csrf})
        assert answer.status_code == 303, answer.text[-500:]
        assert await new_entries(db, other_pid, before) == [expected], action
    assert await unfiled(db) == []


async def test_a_deadline_close_a_round_closing_with_it_and_the_retention_purge_are_recorded_as_the_services(
    app: Starlette, client: httpx.AsyncClient, token: str, settings: Settings
) -> None:
    db: Database = app.state.db
    slug = await open_petition(client, token)
    pid = await petition_id(db, slug)
    made = await client.post(f"/api/v1/petitions/{slug}/rounds", json=ROUND, headers=bearer(token))
    round_id = made.json()["id"]
    assert (await client.post(f"/api/v1/rounds/{round_id}/open", headers=bearer(token))).status_code == 200

    async def past_deadline(tx: Transaction) -> None:
        await tx.execute("UPDATE petitions SET closes_at = opened_at WHERE id = :id", {"id": pid})

    await db.write(past_deadline)
    before = len(await actions_of(db, pid))
    assert await petitions.close_due(db) == 1 and await rounds.close_due(db) == 1
    later = 10**10  # long after its retention period
    assert await purge.purge_due(db, settings, at=later) == [slug]
    assert await new_entries(db, pid, before) == ["petition closed", "round closed", "identifying data destroyed"]
    newest = (await organizers.petition_audit_trail(db, pid, limit=3))[::-1]
    assert [row["email"] for row in newest] == [None, None, None], "the service itself, no organizer"
    assert "its deadline passed" in newest[0]["detail"] and "retention period ended" in newest[2]["detail"]


async def test_a_drafts_entries_name_it_by_its_id_and_a_tear_off_batch_is_one_entry(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db: Database = app.state.db
    draft = (await create(client, token, slug="night-shift-union", verification=["code"])).json()
    url = f"/api/v1/petitions/{draft['id']}"
    made = await client.post(f"{url}/codes", json={"count": 2}, headers=bearer(token))
    flyer = {"layout": "tearoff", "paper_size": "a4", "copies": 1}
    assert (await client.post(f"{url}/flyers", json=flyer, headers=bearer(token))).status_code == 201
    csrf = await signed_in(client)
    revoked = await client.post(
        f"/organize/petitions/{draft['id']}/codes/{made.json()['batch']}/revoke", data={FORM_FIELD: csrf}
    )
    assert revoked.status_code == 303
    assert (await client.delete(url, headers=bearer(token))).status_code == 204
    trail = await organizers.petition_audit_trail(db, draft["id"])
    assert [row["action"] for row in reversed(trail)] == [
        "draft created",
        "code batch made",
        "flyer batch made",
        "code batch revoked",
        "draft deleted",
    ], "the tear-off batch's codes are named in its flyer batch's one entry"
    assert all(row["detail"].startswith(draft["id"]) for row in trail)
    assert all("night-shift-union" not in row["detail"] for row in trail)
    assert await db.fetch_val("SELECT COUNT(*) FROM audit_log WHERE public_event IS NOT NULL") == 0, (
        "a draft's actions are never public"
    )


async def events_of(client: httpx.AsyncClient, slug: str) -> list[dict[str, object]]:
    return list((await client.get(f"/api/v1/petitions/{slug}/timeline")).json()["events"])


async def test_revoked_codes_and_a_rounds_opening_and_close_are_public_events_on_the_timeline_feed_and_page(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db: Database = app.state.db
    slug = await open_petition(client, token)
    pid = await petition_id(db, slug)
    assert [event["kind"] for event in await events_of(client, slug)] == ["opened"]
    version = await db.fetch_val("SELECT version FROM petitions WHERE id = :id", {"id": pid})
    csrf = await signed_in(client)
    for _ in range(2):  # two batches revoked on one day: one event saying two
        batch = (await client.post(f"/api/v1/petitions/{slug}/codes", json={"count": 2}, headers=bearer(token))).json()
        revoked = await client.post(f"/organize/petitions/{pid}/codes/{batch['batch']}/revoke", data={FORM_FIELD: csrf})
        assert revoked.status_code == 303
    assert await db.fetch_val("SELECT version FROM petitions WHERE id = :id", {"id": pid}) > version, (
        "a public event moves the petition's version, so cached answers show it"
    )
    draft_round = await client.post(
        f"/api/v1/petitions/{slug}/rounds", json={**ROUND, "question": "A draft question?"}, headers=bearer(token)
    )
    assert draft_round.status_code == 201
    round_id = (await client.post(f"/api/v1/petitions/{slug}/rounds", json=ROUND, headers=bearer(token))).json()["id"]
    assert (await client.post(f"/api/v1/rounds/{round_id}/open", headers=bearer(token))).status_code == 200
    assert (await client.post(f"/api/v1/rounds/{round_id}/close", headers=bearer(token))).status_code == 200
    # No cache clearing here: recording a public event makes every cached answer stale.
    events = await events_of(client, slug)
    assert [event["kind"] for event in events] == ["opened", "codes_revoked", "round_opened", "round_closed"]
    assert events[1]["batches"] == 2 and "round" not in events[1]
    assert events[2]["round"] == round_id and events[2]["question"] == ROUND["question"]
    assert events[3]["at"] == events[0]["at"], "floored to the day, like every event"
    assert events[0] == {"kind": "opened", "at": events[0]["at"], "signatures": None, "goal": None}, (
        "the kinds there before keep their exact shape"
    )
    feed = ET.fromstring((await client.get(f"/p/{slug}/feed.atom")).content)
    titles = [entry.findtext(f"{ATOM}title") for entry in feed.findall(f"{ATOM}entry")]
    assert titles[:3] == [
        f"A feedback round closed: “{ROUND['question']}”.",
        f"A feedback round opened: “{ROUND['question']}”.",
        "2 batches of printed codes were revoked: their unused codes no longer sign.",
    ]
    links = [entry.find(f"{ATOM}link").get("href") for entry in feed.findall(f"{ATOM}entry")]  # type: ignore[union-attr]
    assert links[0].endswith(f"/r/{round_id}")
    page = (await client.get(f"/p/{slug}")).text
    assert f'<a href="/r/{round_id}"><bdi>A feedback round opened: “{ROUND["question"]}”.</bdi></a>' in page
    assert "2 batches of printed codes were revoked" in page
    for answer in (str(events), ET.tostring(feed).decode(), page):
        assert "A draft question?" not in answer, "a draft round never shows"


async def test_events_within_one_bucket_come_in_a_fixed_order_of_kinds_never_the_order_they_happened(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token)
    pid = await petition_id(app.state.db, slug)
    round_id = (await client.post(f"/api/v1/petitions/{slug}/rounds", json=ROUND, headers=bearer(token))).json()["id"]
    assert (await client.post(f"/api/v1/rounds/{round_id}/open", headers=bearer(token))).status_code == 200
    assert (await client.post(f"/api/v1/rounds/{round_id}/close", headers=bearer(token))).status_code == 200
    batch = (await client.post(f"/api/v1/petitions/{slug}/codes", json={"count": 2}, headers=bearer(token))).json()
    csrf = await signed_in(client)
    revoked = await client.post(f"/organize/petitions/{pid}/codes/{batch['batch']}/revoke", data={FORM_FIELD: csrf})
    assert revoked.status_code == 303
    # A milestone counted in the opening's bucket (its hour starts before the opening itself).
    opened_at = int(await app.state.db.fetch_val("SELECT opened_at FROM petitions WHERE id = :id", {"id": pid}))
    await execute(
        app.state.db,
        "INSERT INTO hourly_counts (petition_id, hour, signed, withdrawn) VALUES (:id, :hour, 100, 0)",
        {"id": pid, "hour": opened_at - opened_at % 3600},
    )
    await execute(app.state.db, "UPDATE petitions SET version = version + 1 WHERE id = :id", {"id": pid})
    app.state.public_cache.clear()
    kinds = [event["kind"] for event in await events_of(client, slug)]
    assert kinds == ["opened", "milestone", "codes_revoked", "round_opened", "round_closed"]


async def test_codes_revoked_while_a_draft_never_become_public_once_it_is_published(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    draft = (await create(client, token, verification=["code"], allowed_domains=[])).json()
    url = f"/api/v1/petitions/{draft['id']}"
    batch = (await client.post(f"{url}/codes", json={"count": 2}, headers=bearer(token))).json()
    csrf = await signed_in(client)
    revoked = await client.post(
        f"/organize/petitions/{draft['id']}/codes/{batch['batch']}/revoke", data={FORM_FIELD: csrf}
    )
    assert revoked.status_code == 303
    assert (await client.post(f"{url}/publish", headers=bearer(token))).status_code == 200
    assert [event["kind"] for event in await events_of(client, draft["slug"])] == ["opened"]
    assert "printed codes were revoked" not in (await client.get(f"/p/{draft['slug']}/feed.atom")).text

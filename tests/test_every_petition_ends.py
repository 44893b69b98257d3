"""Every petition ends: a deadline at most MAX_OPEN_DAYS after opening, and a petition without one
closes by itself then (set at publishing, when its deadline is taken away, and at start-up for
petitions published before the rule)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from petition import petitions
from petition.csrf import FORM_FIELD
from petition.database import Database, Transaction, now
from petition.settings import Settings
from petition.text import long_date

from .conftest import make_settings, start_app
from .test_login import csrf_of, log_in
from .test_petitions import bearer, create
from .test_signing import open_petition

pytestmark = pytest.mark.usefixtures("organizer")
# Not the built-in 365, so every test shows the setting is what decides.
LONGEST_DAYS = 40
LONGEST = LONGEST_DAYS * 86400


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return make_settings(tmp_path, database_url=db_url, max_open_days=LONGEST_DAYS)


def in_seconds(seconds: int) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


async def row_of(db: Database, key: str) -> dict[str, object]:
    row = await db.fetch_one(
        "SELECT state, opened_at, closes_at, closed_at, version FROM petitions WHERE id = :key OR slug = :key",
        {"key": key},
    )
    assert row is not None
    return dict(row)


async def set_columns(app: Starlette, key: str, **columns: object) -> None:
    """Change a petition's row as an earlier version of the service could have left it."""
    assignments = ", ".join(f"{name} = :{name}" for name in columns)

    async def unit(tx: Transaction) -> None:
        await tx.execute(f"UPDATE petitions SET {assignments} WHERE id = :key OR slug = :key", {**columns, "key": key})
        await tx.execute("UPDATE cache_version SET version = version + 1")

    await app.state.db.write(unit)
    app.state.public_cache.clear()


async def test_publishing_without_a_deadline_sets_the_longest_and_the_pages_say_why(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token)
    row = await row_of(app.state.db, slug)
    assert row["closes_at"] == int(row["opened_at"]) + LONGEST  # type: ignore[call-overload]
    view = (await client.get(f"/api/v1/petitions/{slug}")).json()
    assert view["closes_at"] == petitions.iso(int(row["closes_at"]))  # type: ignore[call-overload]
    page = " ".join((await client.get(f"/p/{slug}")).text.split())
    assert f"{LONGEST_DAYS} days after it opened: the longest a petition may stay open." in page
    await log_in(client, "alice@example.org")
    overview = " ".join((await client.get(f"/organize/petitions/{slug}")).text.split())
    assert f"{LONGEST_DAYS} days after it opened: the longest a petition may stay open" in overview


async def test_a_chosen_deadline_is_kept_at_publishing_and_not_called_the_longest(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token, closes_at=in_seconds(5 * 86400))
    row = await row_of(app.state.db, slug)
    assert int(row["closes_at"]) < int(row["opened_at"]) + LONGEST  # type: ignore[call-overload]
    assert "the longest a petition may stay open" not in (await client.get(f"/p/{slug}")).text


async def test_a_petition_without_a_deadline_closes_by_itself_max_open_days_after_it_opened(
    app: Starlette, client: httpx.AsyncClient, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    slug = await open_petition(client, token)
    opened = int((await row_of(app.state.db, slug))["opened_at"])  # type: ignore[call-overload]
    monkeypatch.setattr(petitions, "now", lambda: opened + LONGEST - 1)
    assert await petitions.close_due(app.state.db) == 0, "not a second early"
    found = await petitions.find(app.state.db, slug)
    assert found is not None and found["state"] == "open"
    monkeypatch.setattr(petitions, "now", lambda: opened + LONGEST)
    assert await petitions.close_due(app.state.db) == 1
    row = await row_of(app.state.db, slug)
    assert row["state"] == "closed" and row["closed_at"] == opened + LONGEST
    app.state.public_cache.clear()
    view = (await client.get(f"/api/v1/petitions/{slug}")).json()
    assert view["state"] == "closed" and view["closed_at"] == view["closes_at"] == petitions.iso(opened + LONGEST)
    page = " ".join((await client.get(f"/p/{slug}")).text.split())
    assert f"{LONGEST_DAYS} days after it opened (the longest a petition may stay open); no more signatures" in page
    await log_in(client, "alice@example.org")
    overview = " ".join((await client.get(f"/organize/petitions/{slug}")).text.split())
    closed = long_date(petitions.iso(opened + LONGEST), "hour")
    assert (
        f"<dt>Closed</dt><dd>On {closed}, by its deadline, {LONGEST_DAYS} days after it opened: "
        "the longest a petition may stay open</dd>"
    ) in overview
    assert "<dt>Deadline</dt>" not in overview, "a closed petition has no deadline ahead"


async def test_a_petition_closed_by_hand_says_when_it_closed_not_that_its_longest_deadline_closed_it(
    client: httpx.AsyncClient, token: str
) -> None:
    # Published without a deadline (so it gets the longest one), closed by hand on its first day.
    slug = await open_petition(client, token)
    assert (await client.post(f"/api/v1/petitions/{slug}/close", headers=bearer(token))).status_code == 200
    view = (await client.get(f"/api/v1/petitions/{slug}")).json()
    page = " ".join((await client.get(f"/p/{slug}")).text.split())
    assert f"Closed on {long_date(view['closed_at'])}; no more signatures." in page
    assert "after it opened (the longest a petition may stay open)" not in page
    await log_in(client, "alice@example.org")
    overview = " ".join((await client.get(f"/organize/petitions/{slug}")).text.split())
    assert (
        f"<dt>Closed</dt><dd>On {long_date(view['closed_at'])}, by an organizer, before its deadline</dd>" in overview
    )
    assert "<dt>Deadline</dt>" not in overview and "the longest a petition may stay open" not in overview


async def test_a_deadline_later_than_max_open_days_is_refused_and_changes_nothing(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    too_late = in_seconds(LONGEST + 3600)
    refused = await create(client, token, closes_at=too_late)
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["message"] == (
        f"The deadline must be at most {LONGEST_DAYS} days from now: that is the longest a petition may stay open."
    )
    assert error["fields"] == [{"field": "closes_at", "message": error["message"]}]
    assert await app.state.db.fetch_val("SELECT COUNT(*) AS n FROM petitions") == 0
    draft = (await create(client, token, closes_at=in_seconds(LONGEST - 3600))).json()["id"]
    before = await row_of(app.state.db, draft)
    moved = await client.patch(f"/api/v1/petitions/{draft}", json={"closes_at": too_late}, headers=bearer(token))
    assert moved.status_code == 422 and moved.json()["error"]["fields"][0]["field"] == "closes_at"
    assert await row_of(app.state.db, draft) == before
    slug = await open_petition(client, token, closes_at=in_seconds(86400))
    opened = await row_of(app.state.db, slug)
    beyond = datetime.fromtimestamp(int(opened["opened_at"]) + LONGEST + 60, UTC).isoformat()  # type: ignore[call-overload]
    later = await client.patch(f"/api/v1/petitions/{slug}", json={"closes_at": beyond}, headers=bearer(token))
    assert later.status_code == 422
    assert f"at most {LONGEST_DAYS} days after the petition opened" in later.json()["error"]["message"]
    assert await row_of(app.state.db, slug) == opened
    last = datetime.fromtimestamp(int(opened["opened_at"]) + LONGEST, UTC).isoformat()  # type: ignore[call-overload]
    kept = await client.patch(f"/api/v1/petitions/{slug}", json={"closes_at": last}, headers=bearer(token))
    assert kept.status_code == 200, "the longest itself is allowed"


async def test_a_draft_whose_deadline_is_now_too_far_away_cannot_publish(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    draft = (await create(client, token, verification=["code"], allowed_domains=[])).json()["id"]
    # Set as an earlier service, or a larger MAX_OPEN_DAYS, allowed it.
    await set_columns(app, draft, closes_at=now() + LONGEST + 3600)
    before = await row_of(app.state.db, draft)
    refused = await client.post(f"/api/v1/petitions/{draft}/publish", headers=bearer(token))
    assert refused.status_code == 422
    assert refused.json()["error"]["message"] == (
        f"The deadline is more than {LONGEST_DAYS} days away, longer than a petition may stay open: "
        "set an earlier one before publishing."
    )
    assert await row_of(app.state.db, draft) == before
    await log_in(client, "alice@example.org")
    csrf = await csrf_of(client, f"/organize/petitions/{draft}")
    page = await client.post(f"/organize/petitions/{draft}/publish", data={FORM_FIELD: csrf})
    assert page.status_code == 422 and "longer than a petition may stay open" in page.text
    assert await row_of(app.state.db, draft) == before


async def test_taking_an_open_petitions_deadline_away_sets_the_longest_and_a_drafts_leaves_none(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token, closes_at=in_seconds(86400))
    cleared = await client.patch(f"/api/v1/petitions/{slug}", json={"closes_at": None}, headers=bearer(token))
    assert cleared.status_code == 200
    row = await row_of(app.state.db, slug)
    assert row["closes_at"] == int(row["opened_at"]) + LONGEST  # type: ignore[call-overload]
    draft = (await create(client, token, closes_at=in_seconds(86400))).json()["id"]
    none = await client.patch(f"/api/v1/petitions/{draft}", json={"closes_at": None}, headers=bearer(token))
    assert none.status_code == 200 and none.json()["closes_at"] is None


async def test_start_up_gives_every_open_petition_without_a_deadline_the_longest_once(
    app: Starlette, client: httpx.AsyncClient, token: str, settings: Settings
) -> None:
    recent = await open_petition(client, token, title="Recent")
    old = await open_petition(client, token, title="Old")
    chosen = await open_petition(client, token, title="Chosen", closes_at=in_seconds(86400))
    draft = (await create(client, token, title="Draft")).json()["id"]
    opened_recently = now() - 86400
    # Published before every petition ended: no deadline; one of them open longer than allowed already.
    await set_columns(app, recent, closes_at=None, opened_at=opened_recently)
    await set_columns(app, old, closes_at=None, opened_at=now() - LONGEST - 86400)
    chosen_before = await row_of(app.state.db, chosen)
    second, lifespan = await start_app(settings)  # another process starting
    try:
        assert (await row_of(app.state.db, recent))["closes_at"] == opened_recently + LONGEST
        old_row = await row_of(app.state.db, old)
        # Its log holds signatures taken until now, so it closes now, not back when it would have.
        assert now() - 5 <= int(old_row["closes_at"]) <= now()  # type: ignore[call-overload]
        assert await row_of(app.state.db, chosen) == chosen_before
        assert (await row_of(app.state.db, draft))["closes_at"] is None, "a draft gets its deadline when published"
        filled = await row_of(app.state.db, recent)
        assert await petitions.set_missing_deadlines(second.state.db, settings) == 0, "idempotent"
        assert await row_of(app.state.db, recent) == filled
    finally:
        await lifespan.__aexit__(None, None, None)  # type: ignore[attr-defined]
    app.state.public_cache.clear()
    assert (await client.get(f"/api/v1/petitions/{old}")).json()["state"] == "closed"


async def test_processes_starting_at_once_give_each_missing_deadline_once(
    app: Starlette, client: httpx.AsyncClient, token: str, settings: Settings
) -> None:
    slugs = [await open_petition(client, token, title=f"Petition {n}") for n in range(4)]
    for slug in slugs:
        await set_columns(app, slug, closes_at=None)
    versions = {slug: (await row_of(app.state.db, slug))["version"] for slug in slugs}
    others = [Database(settings.database_url) for _ in range(3)]
    for db in others:
        await db.connect()
    try:
        given = await asyncio.gather(*(petitions.set_missing_deadlines(db, settings) for db in others))
    finally:
        for db in others:
            await db.disconnect()
    assert sum(given) == len(slugs), given
    for slug in slugs:
        row = await row_of(app.state.db, slug)
        assert row["closes_at"] == int(row["opened_at"]) + LONGEST  # type: ignore[call-overload]
        assert row["version"] == int(versions[slug]) + 1, "each set once"  # type: ignore[call-overload]


async def test_the_organizer_form_says_the_longest_a_petition_may_stay_open(
    client: httpx.AsyncClient, token: str
) -> None:
    await log_in(client, "alice@example.org")
    page = " ".join((await client.get("/organize/petitions/new")).text.split())
    assert (
        f"At most {LONGEST_DAYS} days after the petition opens: that is the longest a petition may stay open." in page
    )
    assert f"Without a deadline it closes by itself {LONGEST_DAYS} days after it opens." in page
    draft = (await create(client, token)).json()["id"]
    overview = " ".join((await client.get(f"/organize/petitions/{draft}")).text.split())
    assert f"None: once published it closes by itself {LONGEST_DAYS} days after it opened" in overview


async def test_the_organizer_form_refuses_a_deadline_too_far_away_beside_its_field(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    await log_in(client, "alice@example.org")
    csrf = await csrf_of(client, "/organize/petitions/new")
    far = (datetime.now(UTC) + timedelta(days=LONGEST_DAYS + 2)).strftime("%Y-%m-%dT%H:%M")
    form = {
        FORM_FIELD: csrf,
        "title": "Fix the canteen",
        "summary": "Hot food for the night shift",
        "target": "Facilities",
        "goal": "100",
        "retention_days": "30",
        "verification": "code",
        "time_zone": "UTC",
        "language": "en",
        "closes_at": far,
    }
    refused = await client.post("/organize/petitions", data=form)
    assert refused.status_code == 422
    assert f'id="closes_at-error">The deadline must be at most {LONGEST_DAYS} days from now' in refused.text
    assert f'value="{far}"' in refused.text
    assert await app.state.db.fetch_val("SELECT COUNT(*) AS n FROM petitions") == 0

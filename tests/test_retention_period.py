"""A petition's retention period: 0 to 365 days, RETENTION_DAYS by default, shortened at any time
(closed too), never lengthened once published, fixed once purged; and the words signers read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from petition import periods, petitions, purge
from petition.csrf import FORM_FIELD
from petition.database import Database, now
from petition.settings import Settings
from petition.text import long_date

from .conftest import make_settings
from .test_every_petition_ends import set_columns
from .test_login import csrf_of, log_in
from .test_petitions import PETITION, bearer, create
from .test_signing import open_petition

pytestmark = pytest.mark.usefixtures("organizer")
# Not the built-in 30, so every test shows the setting is what a petition gets.
DEFAULT_RETENTION = 12


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return make_settings(tmp_path, database_url=db_url, retention_days=DEFAULT_RETENTION)


async def retention_of(db: Database, key: str) -> int:
    return int(await db.fetch_val("SELECT retention_days FROM petitions WHERE id = :key OR slug = :key", {"key": key}))


async def patch(client: httpx.AsyncClient, token: str, slug: str, **fields: object) -> httpx.Response:
    return await client.patch(f"/api/v1/petitions/{slug}", json=fields, headers=bearer(token))


async def test_a_new_petition_without_a_retention_period_gets_the_setting_and_one_given_keeps_its_own(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    plain = await create(client, token)
    assert plain.status_code == 201 and plain.json()["retention_days"] == DEFAULT_RETENTION
    for days in (0, 365):
        given = await create(client, token, retention_days=days)
        assert given.status_code == 201 and given.json()["retention_days"] == days
    await log_in(client, "alice@example.org")
    form = (await client.get("/organize/petitions/new")).text
    assert f'name="retention_days" type="number" min="0" max="365" value="{DEFAULT_RETENTION}"' in form
    assert "From 0 to 365" in form


@pytest.mark.parametrize("bad", [-1, 366, True, 1.5, "30", None])
async def test_a_retention_period_that_is_negative_over_365_or_not_an_integer_is_refused_and_changes_nothing(
    app: Starlette, client: httpx.AsyncClient, token: str, bad: object
) -> None:
    refused = await create(client, token, retention_days=bad)
    assert refused.status_code == 422
    assert refused.json()["error"]["fields"][0]["field"] == "retention_days"
    assert await app.state.db.fetch_val("SELECT COUNT(*) AS n FROM petitions") == 0
    slug = await open_petition(client, token, retention_days=20)
    changed = await patch(client, token, slug, retention_days=bad)
    assert changed.status_code == 422 and "retention_days" in changed.json()["error"]["message"]
    assert await retention_of(app.state.db, slug) == 20


async def test_a_drafts_retention_period_may_grow_until_it_is_published(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    draft = (await create(client, token, retention_days=5)).json()["id"]
    grown = await patch(client, token, draft, retention_days=200)
    assert grown.status_code == 200 and grown.json()["retention_days"] == 200


async def test_a_published_petitions_retention_period_can_be_shortened_but_never_lengthened(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token, retention_days=20)
    longer = await patch(client, token, slug, retention_days=21)
    assert longer.status_code == 422
    message = longer.json()["error"]["message"]
    assert "never lengthened" in message and "it is 20 days" in message, message
    assert longer.json()["error"]["fields"] == [{"field": "retention_days", "message": message}]
    assert await retention_of(app.state.db, slug) == 20
    same = await patch(client, token, slug, retention_days=20)
    assert same.status_code == 200
    shorter = await patch(client, token, slug, retention_days=1)
    assert shorter.status_code == 200 and shorter.json()["retention_days"] == 1
    refused = await patch(client, token, slug, retention_days=2)
    assert refused.status_code == 422 and "it is 1 day;" in refused.json()["error"]["message"]
    assert (await patch(client, token, slug, retention_days=0)).json()["retention_days"] == 0
    assert await retention_of(app.state.db, slug) == 0


async def test_a_closed_petition_takes_a_shorter_retention_period_and_refuses_every_other_change(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token, retention_days=30)
    assert (await client.post(f"/api/v1/petitions/{slug}/close", headers=bearer(token))).status_code == 200
    before = (await client.get(f"/api/v1/petitions/{slug}", headers=bearer(token))).json()
    for fields in ({"title": "Another title"}, {"title": "Another title", "retention_days": 10}, {"goal": 5}):
        refused = await patch(client, token, slug, **fields)
        assert refused.status_code == 409, fields
        assert "except to shorten its retention period" in refused.json()["error"]["message"]
    longer = await patch(client, token, slug, retention_days=31)
    assert longer.status_code == 422 and "it is 30 days" in longer.json()["error"]["message"]
    assert (await client.get(f"/api/v1/petitions/{slug}", headers=bearer(token))).json() == before, "nothing changed"
    shorter = await patch(client, token, slug, retention_days=7)
    assert shorter.status_code == 200 and shorter.json()["retention_days"] == 7
    assert shorter.json()["title"] == before["title"] and shorter.json()["state"] == "closed"


async def test_a_petition_closed_by_its_deadline_takes_a_shorter_retention_period_before_the_closing_job_runs(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token, retention_days=30)
    await set_columns(app, slug, closes_at=now() - 60)
    assert (await patch(client, token, slug, title="Too late")).status_code == 409
    assert (await patch(client, token, slug, retention_days=3)).status_code == 200
    assert await retention_of(app.state.db, slug) == 3


async def test_a_purged_petition_refuses_a_retention_change_saying_its_data_was_already_destroyed(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token, retention_days=30)
    assert (await client.post(f"/api/v1/petitions/{slug}/close", headers=bearer(token))).status_code == 200
    await set_columns(app, slug, purged_at=now())
    refused = await patch(client, token, slug, retention_days=0)
    assert refused.status_code == 409
    assert "identifying data was already destroyed" in refused.json()["error"]["message"]
    assert await retention_of(app.state.db, slug) == 30
    page = (await client.get(f"/p/{slug}")).text
    assert "What could identify its signers has been destroyed." in page


async def test_a_longer_retention_period_is_refused_in_the_write_when_another_shortened_it_meanwhile(
    app: Starlette, client: httpx.AsyncClient, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    slug = await open_petition(client, token, retention_days=30)
    stale = await petitions.find(app.state.db, slug)  # read before another organizer shortened it
    assert (await patch(client, token, slug, retention_days=10)).status_code == 200

    async def read_before(db: Database, key: str, organizer_id: str) -> object:
        return stale

    monkeypatch.setattr(petitions, "editable_by", read_before)
    refused = await patch(client, token, slug, retention_days=20)
    assert refused.status_code == 422 and "it is 10 days" in refused.json()["error"]["message"]
    assert await retention_of(app.state.db, slug) == 10


async def test_the_organizer_form_of_a_closed_petition_holds_only_the_retention_period_and_refuses_a_longer_one(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token, retention_days=30)
    assert (await client.post(f"/api/v1/petitions/{slug}/close", headers=bearer(token))).status_code == 200
    petition_id = (await client.get(f"/api/v1/petitions/{slug}")).json()["id"]
    await log_in(client, "alice@example.org")
    edit = f"/organize/petitions/{petition_id}/edit"
    page = await client.get(edit)
    assert 'name="retention_days"' in page.text and 'max="30"' in page.text
    assert 'name="title"' not in page.text and "its retention period can be shortened" in page.text
    csrf = await csrf_of(client, edit)
    longer = await client.post(edit, data={FORM_FIELD: csrf, "retention_days": "45"})
    assert longer.status_code == 422
    assert 'id="retention_days-error">The retention period can be shortened, never lengthened' in longer.text
    assert 'value="45"' in longer.text, "the value typed is shown again"
    for typed in ("1.5", "400"):
        bad = await client.post(edit, data={FORM_FIELD: csrf, "retention_days": typed})
        assert bad.status_code == 422
        assert (
            'id="retention_days-error">Enter a number of days from 0 to 365, and now at most 30: '
            "once published it can be shortened, never lengthened.</p>"
        ) in bad.text, "the refusal names the current maximum, as the hint does"
    assert await retention_of(app.state.db, slug) == 30
    saved = await client.post(edit, data={FORM_FIELD: csrf, "retention_days": "5"})
    assert saved.status_code == 303
    assert await retention_of(app.state.db, slug) == 5


async def test_the_organizer_form_refuses_a_longer_retention_period_on_an_open_petition_beside_its_field(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token, retention_days=30)
    row = await petitions.find(app.state.db, slug)
    assert row is not None
    await log_in(client, "alice@example.org")
    edit = f"/organize/petitions/{row['id']}/edit"
    csrf = await csrf_of(client, edit)
    form = {
        FORM_FIELD: csrf,
        "title": PETITION["title"],
        "summary": PETITION["summary"],
        "target": PETITION["target"],
        "body": PETITION["body"],
        "goal": "100",
        "language": "en",
        "time_zone": "UTC",
        "closes_at": (await client.get(edit))
        .text.split('id="closes_at" name="closes_at" type="datetime-local" value="')[1]
        .split('"')[0],
        "show_names": "on",
        "reasons_enabled": "on",
        "retention_days": "31",
    }
    refused = await client.post(edit, data=form)
    assert refused.status_code == 422 and 'id="retention_days-error"' in refused.text
    assert await retention_of(app.state.db, slug) == 30
    assert (await client.post(edit, data={**form, "retention_days": "29"})).status_code == 303
    after = await petitions.find(app.state.db, slug)
    assert after is not None and after["retention_days"] == 29
    assert after["closes_at"] == row["closes_at"], "saving the form as shown leaves the deadline to the second"


async def test_the_organizer_form_asks_before_a_shorter_retention_period_destroys_identifying_data_at_once(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token, retention_days=30)
    assert (await client.post(f"/api/v1/petitions/{slug}/close", headers=bearer(token))).status_code == 200
    closed_at = now() - 5 * 86400
    await set_columns(app, slug, closed_at=closed_at)
    petition_id = (await client.get(f"/api/v1/petitions/{slug}")).json()["id"]
    await log_in(client, "alice@example.org")
    edit = f"/organize/petitions/{petition_id}/edit"
    csrf = await csrf_of(client, edit)
    warning = "Identifying data will be destroyed within a minute: this cannot be undone."
    for days, words in ((3, "destroyed 3 days after this petition closes"), (0, "destroyed when this petition closes")):
        asked = await client.post(edit, data={FORM_FIELD: csrf, "retention_days": str(days)})
        page = " ".join(asked.text.split())
        assert asked.status_code == 200 and warning in page
        assert f"{words} (on {long_date(petitions.iso(closed_at + days * 86400))}):" in page
        assert f'name="confirm_retention_days" value="{days}">Yes, save and destroy it now</button>' in page
        # The period is no field to press Enter in out of habit: it is sent again as it was typed.
        assert f'<input type="hidden" name="retention_days" value="{days}">' in page
        assert 'id="retention_days"' not in page and "choose another period" in page
        assert await retention_of(app.state.db, slug) == 30, "nothing is saved before it is confirmed"
    # A confirmation of another period confirms nothing: the period typed is asked about again.
    other = await client.post(edit, data={FORM_FIELD: csrf, "retention_days": "2", "confirm_retention_days": "3"})
    assert other.status_code == 200 and warning in other.text
    assert await retention_of(app.state.db, slug) == 30
    # A shorter period whose end is still ahead is saved without asking.
    later = await client.post(edit, data={FORM_FIELD: csrf, "retention_days": "10"})
    assert later.status_code == 303 and await retention_of(app.state.db, slug) == 10
    confirmed = await client.post(edit, data={FORM_FIELD: csrf, "retention_days": "3", "confirm_retention_days": "3"})
    assert confirmed.status_code == 303 and await retention_of(app.state.db, slug) == 3


@pytest.mark.parametrize(("ends_in", "how_soon"), [(20, "within a minute"), (3600, "within a day")])
async def test_the_organizer_form_asks_when_a_shorter_period_ends_within_the_day(
    app: Starlette, client: httpx.AsyncClient, token: str, monkeypatch: pytest.MonkeyPatch, ends_in: int, how_soon: str
) -> None:
    monkeypatch.setattr(purge, "purge_due", nothing_due)
    slug = await open_petition(client, token, retention_days=30)
    assert (await client.post(f"/api/v1/petitions/{slug}/close", headers=bearer(token))).status_code == 200
    await set_columns(app, slug, closed_at=now() - 3 * 86400 + ends_in)
    pid = (await client.get(f"/api/v1/petitions/{slug}")).json()["id"]
    await log_in(client, "alice@example.org")
    edit = f"/organize/petitions/{pid}/edit"
    csrf = await csrf_of(client, edit)
    asked = await client.post(edit, data={FORM_FIELD: csrf, "retention_days": "3"})
    page = " ".join(asked.text.split())
    assert asked.status_code == 200
    assert f"Identifying data will be destroyed {how_soon}: this cannot be undone." in page
    assert await retention_of(app.state.db, slug) == 30
    # A day and more away: saved without asking.
    saved = await client.post(edit, data={FORM_FIELD: csrf, "retention_days": "4"})
    assert saved.status_code == 303 and await retention_of(app.state.db, slug) == 4


async def test_a_purged_petitions_settings_page_offers_no_change(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token, retention_days=30)
    assert (await client.post(f"/api/v1/petitions/{slug}/close", headers=bearer(token))).status_code == 200
    assert (await client.post(f"/api/v1/petitions/{slug}/purge", headers=bearer(token))).status_code == 200
    pid = (await client.get(f"/api/v1/petitions/{slug}")).json()["id"]
    await log_in(client, "alice@example.org")
    edit = f"/organize/petitions/{pid}/edit"
    form = " ".join((await client.get(edit)).text.split())
    assert "its identifying data was destroyed: nothing about it can change any more" in form
    assert 'name="retention_days"' not in form and "can be shortened" not in form
    csrf = await csrf_of(client, "/organize/petitions/new")
    sent = await client.post(edit, data={FORM_FIELD: csrf, "retention_days": "0"})
    assert sent.status_code == 409 and await retention_of(app.state.db, slug) == 30


async def test_the_api_shortens_a_closed_petitions_retention_period_into_the_past_without_asking(
    app: Starlette, client: httpx.AsyncClient, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(purge, "purge_due", nothing_due)  # the purge job's round is not this test's
    slug = await open_petition(client, token, retention_days=30)
    assert (await client.post(f"/api/v1/petitions/{slug}/close", headers=bearer(token))).status_code == 200
    shortened = await patch(client, token, slug, retention_days=0)
    assert shortened.status_code == 200 and await retention_of(app.state.db, slug) == 0
    row = await petitions.find(app.state.db, slug)
    assert row is not None and periods.destroyed_at(row) is not None and periods.destroyed_at(row) <= now()


async def nothing_due(*args: object, **kwargs: object) -> list[str]:
    return []


async def test_a_closed_petitions_overview_says_its_retention_period_in_words(
    app: Starlette, client: httpx.AsyncClient, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(purge, "purge_due", nothing_due)  # so it stays unpurged while the page is read
    slug = await open_petition(client, token, retention_days=0)
    assert (await client.post(f"/api/v1/petitions/{slug}/close", headers=bearer(token))).status_code == 200
    await log_in(client, "alice@example.org")
    overview = " ".join((await client.get(f"/organize/petitions/{slug}")).text.split())
    day = long_date((await client.get(f"/api/v1/petitions/{slug}")).json()["closed_at"])
    assert f"What could identify its signers is destroyed when this petition closes, on {day}." in overview
    assert "0 days" not in overview


@pytest.mark.parametrize(
    ("days", "words"),
    [
        (30, "destroyed 30 days after this petition closes"),
        (1, "destroyed 1 day after this petition closes"),
        (0, "destroyed when this petition closes"),
    ],
)
async def test_the_petition_page_and_the_signing_page_say_what_is_kept_and_when_it_is_destroyed(
    app: Starlette, client: httpx.AsyncClient, token: str, days: int, words: str
) -> None:
    slug = await open_petition(client, token, retention_days=days)
    for path in (f"/p/{slug}", f"/p/{slug}/sign/code"):
        page = " ".join((await client.get(path)).text.split())
        assert words in page, path
        assert "keyed hash of your work address or your printed code" in page, path
        assert "What stays: the count, its public log, names signers chose to show, and approved reasons." in page


async def test_a_closed_petitions_page_says_the_day_its_identifying_data_is_destroyed(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    deadline = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    slug = await open_petition(client, token, retention_days=10, closes_at=deadline.isoformat())
    closed_at = now() - 3600
    await set_columns(app, slug, closes_at=closed_at)
    day = long_date(petitions.iso(closed_at + 10 * 86400), "day")
    page = " ".join((await client.get(f"/p/{slug}")).text.split())
    assert f"destroyed 10 days after this petition closes, on {day}." in page
    await log_in(client, "alice@example.org")
    overview = " ".join((await client.get(f"/organize/petitions/{slug}")).text.split())
    assert f"Destroyed 10 days after this petition closes, on {day}" in overview


async def test_the_privacy_page_says_the_rule_the_default_and_that_each_petition_says_its_own(
    client: httpx.AsyncClient,
) -> None:
    page = " ".join((await client.get("/privacy")).text.split())
    assert f"destroyed {DEFAULT_RETENTION} days after it closes" in page
    assert "never longer than 365 days" in page and "shorten it but never lengthen it" in page
    assert "Each petition's page says its own period" in page
    assert "What stays: the count and how it grew, the public log" in page
    assert "a petition stays open at most 365 days" in page


def test_retention_words_say_days_after_the_close_or_the_close_itself() -> None:
    assert periods.retention_words(30) == "30 days after this petition closes"
    assert periods.retention_words(1) == "1 day after this petition closes"
    assert periods.retention_words(0) == "when this petition closes"
    assert periods.retention_words(0, "it") == "when it closes"

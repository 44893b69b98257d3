"""A petition's time zone: validated, fixed once published, and followed by day buckets, counts and shown dates."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from petition import cache, petition_pages, petitions, zones
from petition.csrf import FORM_FIELD
from petition.database import Transaction
from petition.settings import MAX_OPEN_DAYS_LIMIT, Settings
from petition.text import long_date

from .conftest import make_settings
from .test_login import csrf_of, log_in
from .test_petitions import bearer, create, published
from .test_timeline import get_timeline, seed

pytestmark = pytest.mark.usefixtures("organizer")


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    # Some deadlines below are fixed days of 2030 (one in British Summer Time): within the longest
    # a petition may stay open only when that is the most an operator may allow.
    return make_settings(tmp_path, database_url=db_url, max_open_days=MAX_OPEN_DAYS_LIMIT)


HOUR = 3600


def utc_midnight(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


async def test_a_petition_has_a_time_zone_utc_by_default_any_iana_name_kept_in_its_spelling(
    client: httpx.AsyncClient, token: str
) -> None:
    assert (await create(client, token)).json()["time_zone"] == "UTC"
    assert (await create(client, token, time_zone="Asia/Tokyo")).json()["time_zone"] == "Asia/Tokyo"
    assert (await create(client, token, time_zone="europe/london")).json()["time_zone"] == "Europe/London"
    slug = await published(client, token, time_zone="America/New_York")
    assert (await client.get(f"/api/v1/petitions/{slug}")).json()["time_zone"] == "America/New_York"


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "", "localtime", "Factory", "../etc/passwd", 9, None, "x" * 65])
async def test_a_time_zone_that_is_no_iana_name_is_refused_and_nothing_is_created(
    app: Starlette, client: httpx.AsyncClient, token: str, zone: object
) -> None:
    refused = await create(client, token, time_zone=zone)
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert "time_zone" in error["message"], error
    assert await app.state.db.fetch_val("SELECT COUNT(*) AS n FROM petitions") == 0


async def test_a_drafts_time_zone_changes_and_a_published_ones_is_refused_like_other_fixed_fields(
    client: httpx.AsyncClient, token: str
) -> None:
    draft = (await create(client, token)).json()
    changed = await client.patch(
        f"/api/v1/petitions/{draft['id']}", json={"time_zone": "Asia/Tokyo"}, headers=bearer(token)
    )
    assert changed.status_code == 200 and changed.json()["time_zone"] == "Asia/Tokyo"
    slug = await published(client, token, title="Fixed zone", time_zone="Asia/Tokyo")
    refused = await client.patch(f"/api/v1/petitions/{slug}", json={"time_zone": "UTC"}, headers=bearer(token))
    assert (
        refused.status_code == 409 and "time_zone cannot change after publishing" in refused.json()["error"]["message"]
    )
    assert (await client.get(f"/api/v1/petitions/{slug}")).json()["time_zone"] == "Asia/Tokyo"


def organizer_form(csrf: str, **changes: str) -> dict[str, str]:
    return {
        FORM_FIELD: csrf,
        "title": "Fair shifts",
        "summary": "Rotas two weeks ahead.",
        "target": "Operations",
        "body": "",
        "goal": "50",
        "closes_at": "",
        "allowed_domains": "example.org",
        "verification": "email",
        "timeline_floor": "day",
        "time_zone": "UTC",
        "retention_days": "30",
        **changes,
    }


async def test_the_organizer_form_offers_every_zone_and_reads_the_deadline_in_the_petitions_zone(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    await log_in(client, "alice@example.org")
    new = await client.get("/organize/petitions/new")
    assert 'list="time-zones"' in new.text and '<option value="Europe/London">' in new.text
    assert 'value="UTC"' in new.text, "UTC by default"
    csrf = await csrf_of(client, "/organize/petitions/new")
    refused = await client.post("/organize/petitions", data=organizer_form(csrf, time_zone="Mars/Olympus_Mons"))
    assert refused.status_code == 422
    assert 'id="time_zone-error">Enter a time zone such as Europe/London.</p>' in refused.text
    assert 'value="Mars/Olympus_Mons"' in refused.text, "the typed value is shown again"
    created = await client.post(
        "/organize/petitions", data=organizer_form(csrf, time_zone="Asia/Tokyo", closes_at="2030-06-03T17:00")
    )
    assert created.status_code == 303
    row = await app.state.db.fetch_one("SELECT id, closes_at, time_zone FROM petitions")
    assert row["time_zone"] == "Asia/Tokyo"
    assert row["closes_at"] == int(datetime(2030, 6, 3, 8, 0, tzinfo=UTC).timestamp()), "17:00 in Tokyo, stored as UTC"
    view = (await client.get(f"/api/v1/petitions/{row['id']}", headers=bearer(token))).json()
    assert view["closes_at"] == "2030-06-03T17:00:00+09:00"
    edit = await client.get(f"/organize/petitions/{row['id']}/edit")
    assert 'value="2030-06-03T17:00"' in edit.text and 'value="Asia/Tokyo"' in edit.text
    # Changing the zone of a draft reads the deadline typed beside it in the new zone.
    moved = await client.post(
        f"/organize/petitions/{row['id']}/edit",
        data=organizer_form(csrf, time_zone="Europe/London", closes_at="2030-06-03T17:00"),
    )
    assert moved.status_code == 303
    closes_at = await app.state.db.fetch_val("SELECT closes_at FROM petitions WHERE id = :id", {"id": row["id"]})
    assert closes_at == int(datetime(2030, 6, 3, 16, 0, tzinfo=UTC).timestamp()), "17:00 British Summer Time"


async def test_a_published_petitions_form_keeps_its_zone_and_still_reads_the_deadline_in_it(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await published(client, token, time_zone="Asia/Tokyo")
    petition_id = (await client.get(f"/api/v1/petitions/{slug}")).json()["id"]
    await log_in(client, "alice@example.org")
    page = await client.get(f"/organize/petitions/{petition_id}/edit")
    assert 'id="time_zone"' not in page.text and "Asia/Tokyo (fixed once published)" in page.text
    csrf = await csrf_of(client, f"/organize/petitions/{petition_id}/edit")
    saved = await client.post(
        f"/organize/petitions/{petition_id}/edit",
        data=organizer_form(csrf, time_zone="Asia/Tokyo", closes_at="2030-06-03T17:00"),
    )
    assert saved.status_code == 303
    view = (await client.get(f"/api/v1/petitions/{slug}")).json()
    assert view["time_zone"] == "Asia/Tokyo" and view["closes_at"] == "2030-06-03T17:00:00+09:00"


async def test_an_hour_counted_at_22_utc_shows_on_the_next_day_in_tokyo_and_the_same_day_in_new_york(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    day = datetime.now(UTC).date() - timedelta(days=3)
    late_hour = utc_midnight(day) + 22 * HOUR  # signatures counted in the hour 22:00-23:00 UTC
    opened = utc_midnight(day) + 12 * HOUR  # 21:00 in Tokyo, 08:00 (or 07:00) in New York: the same date
    tokyo = await published(client, token, title="Tokyo office", time_zone="Asia/Tokyo")
    new_york = await published(client, token, title="New York office", time_zone="America/New_York")
    for slug in (tokyo, new_york):
        await seed(app, slug, opened, {late_hour: (6, 0)})
    next_day = day + timedelta(days=1)

    by_tokyo = (await get_timeline(client, tokyo)).json()
    assert by_tokyo["time_zone"] == "Asia/Tokyo"
    assert by_tokyo["buckets"][0]["start"] == f"{day.isoformat()}T00:00:00+09:00"
    signed = {bucket["start"][:10]: bucket["signed"] for bucket in by_tokyo["buckets"]}
    assert signed[day.isoformat()] == 0 and signed[next_day.isoformat()] == 6, "07:00 the next morning in Tokyo"
    by_new_york = (await get_timeline(client, new_york)).json()
    signed = {bucket["start"][:10]: bucket["signed"] for bucket in by_new_york["buckets"]}
    assert signed[day.isoformat()] == 6 and signed[next_day.isoformat()] == 0, "the same evening in New York"
    assert by_new_york["buckets"][0]["start"].startswith(f"{day.isoformat()}T00:00:00-0")

    rows = list(csv.DictReader(io.StringIO((await get_timeline(client, tokyo, format="csv")).text)))
    assert [row["start"] for row in rows] == [bucket["start"] for bucket in by_tokyo["buckets"]]

    async def count(slug: str, at: date) -> int:
        answer = await client.get(f"/api/v1/petitions/{slug}/count", params={"at": at.isoformat()})
        assert answer.status_code == 200 and answer.json()["at"] == at.isoformat()
        return answer.json()["signature_count"]

    assert await count(tokyo, day) == 0 and await count(tokyo, next_day) == 6, "at the end of the Tokyo day"
    assert await count(new_york, day) == 6, "at the end of the New York day"
    opened_event = by_tokyo["events"][0]
    assert opened_event == {
        "kind": "opened",
        "at": f"{day.isoformat()}T00:00:00+09:00",
        "signatures": None,
        "goal": None,
    }

    page = (await client.get(f"/p/{tokyo}")).text
    assert f'<th scope="row">{next_day.day} {next_day:%B %Y}</th><td>6</td>' in page
    assert "Days and times are Asia/Tokyo time" in page
    feed = (await client.get(f"/p/{tokyo}/feed.atom")).text
    assert f"<updated>{day.isoformat()}T00:00:00+09:00</updated>" in feed


async def test_in_a_zone_half_an_hour_off_an_hour_counts_on_the_local_day_it_starts(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    day = datetime.now(UTC).date() - timedelta(days=3)
    kolkata = await published(client, token, time_zone="Asia/Kolkata")  # +05:30
    # 18:00 UTC starts at 23:30 local time (this day); 19:00 UTC at 00:30 (the next).
    await seed(
        app, kolkata, utc_midnight(day), {utc_midnight(day) + 18 * HOUR: (2, 0), utc_midnight(day) + 19 * HOUR: (3, 0)}
    )
    url = f"/api/v1/petitions/{kolkata}/count"
    assert (await client.get(url, params={"at": day.isoformat()})).json()["signature_count"] == 2
    next_day = (day + timedelta(days=1)).isoformat()
    assert (await client.get(url, params={"at": next_day})).json()["signature_count"] == 5
    buckets = (await get_timeline(client, kolkata)).json()["buckets"]
    signed = {bucket["start"][:10]: bucket["signed"] for bucket in buckets}
    assert signed[day.isoformat()] == 2 and signed[next_day] == 3
    assert buckets[1]["start"] == f"{next_day}T00:00:00+05:30"


def test_a_local_day_is_23_or_25_hours_where_the_clocks_change() -> None:
    spring, autumn = date(2026, 3, 8), date(2026, 11, 1)  # New York's changes in 2026
    zone = "America/New_York"
    assert zones.end_of_day(spring, zone) - zones.day_start(spring, zone) == 23 * HOUR
    assert zones.end_of_day(autumn, zone) - zones.day_start(autumn, zone) == 25 * HOUR
    assert zones.end_of_day(date(2026, 6, 3), "Asia/Tokyo") == utc_midnight(date(2026, 6, 3)) + 15 * HOUR


async def test_day_buckets_step_by_local_date_across_a_change_of_the_clocks(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    zone = "America/New_York"
    change = datetime.now(UTC).date() - timedelta(days=1)
    while zones.end_of_day(change, zone) - zones.day_start(change, zone) == 24 * HOUR:
        change -= timedelta(days=1)  # the last day New York's clocks changed
    slug = await published(client, token, time_zone=zone)
    before = change - timedelta(days=1)
    await seed(app, slug, zones.day_start(before, zone), {zones.day_start(change, zone) + 22 * HOUR: (4, 0)})
    buckets = (await get_timeline(client, slug)).json()["buckets"]
    days = [date.fromisoformat(bucket["start"][:10]) for bucket in buckets]
    assert days == [before + timedelta(days=n) for n in range(len(days))], "one bucket per local date, none skipped"
    assert all(bucket["start"][10:19] == "T00:00:00" for bucket in buckets), "each starts at local midnight"
    assert [b["signed"] for b in buckets if b["signed"]] == [4] and buckets[1]["signed"] == 4


def test_shown_dates_follow_the_zone_and_times_name_it_unless_utc() -> None:
    moment = "2026-06-03T22:30:00Z"
    assert long_date(moment) == "3 June 2026"
    assert long_date(moment, "day", "Asia/Tokyo") == "4 June 2026"
    assert long_date(moment, "hour") == "3 June 2026, 22:30 UTC"
    assert long_date(moment, "hour", "Asia/Tokyo") == "4 June 2026, 07:30 Asia/Tokyo time"
    assert long_date(moment, "day", "America/New_York") == "3 June 2026"


def test_floored_times_start_at_the_local_day_with_its_offset() -> None:
    moment = int(datetime(2026, 6, 3, 22, 30, tzinfo=UTC).timestamp())
    assert petitions.floor_time(moment, "day") == "2026-06-03T00:00:00Z"
    assert petitions.floor_time(moment, "day", "Asia/Tokyo") == "2026-06-04T00:00:00+09:00"
    assert petitions.floor_time(moment, "hour", "Asia/Tokyo") == "2026-06-04T07:00:00+09:00"
    assert petitions.floor_time(moment, "day", "America/New_York") == "2026-06-03T00:00:00-04:00"


async def deadline_passed_at(app: Starlette, slug: str, deadline: int) -> None:
    """Give an open petition a deadline in the past (opened a week before), as time would, job not run."""

    async def unit(tx: Transaction) -> None:
        await tx.execute(
            "UPDATE petitions SET closes_at = :at, opened_at = :opened WHERE slug = :slug",
            {"at": deadline, "opened": deadline - 7 * 86400, "slug": slug},
        )
        await tx.execute("UPDATE cache_version SET version = version + 1")

    await app.state.db.write(unit)
    app.state.public_cache.clear()


async def test_closed_at_is_the_deadline_when_the_deadline_closed_it_not_the_start_of_its_day(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    # Rounded down to the start of its UTC day, a 17:00 deadline read as 00:00 UTC: before the
    # deadline, and on the day before for any reader west of UTC.
    utc = await published(client, token, title="UTC office")
    await deadline_passed_at(app, utc, int(datetime(2025, 6, 3, 17, 0, tzinfo=UTC).timestamp()))
    new_york = await published(client, token, title="New York office", time_zone="America/New_York")
    # 20:00 in New York on 3 June is already 4 June in UTC.
    await deadline_passed_at(app, new_york, int(datetime(2025, 6, 4, 0, 0, tzinfo=UTC).timestamp()))
    expected = {utc: "2025-06-03T17:00:00Z", new_york: "2025-06-03T20:00:00-04:00"}
    views = {}
    for slug, closes_at in expected.items():
        views[slug] = (await client.get(f"/api/v1/petitions/{slug}")).json()
        assert views[slug]["state"] == "closed" and views[slug]["closed_at"] == views[slug]["closes_at"] == closes_at
        assert "Closed on 3 June 2025; no more signatures." in (await client.get(f"/p/{slug}")).text
        events = (await get_timeline(client, slug)).json()["events"]
        assert events[-1]["kind"] == "closed" and events[-1]["at"].startswith("2025-06-03T00:00:00")
    assert await petitions.close_due(app.state.db) == 2
    app.state.public_cache.clear()
    for slug, view in views.items():
        assert (await client.get(f"/api/v1/petitions/{slug}")).json() == view, "the closing job stamps the same"


async def test_a_petition_closed_by_its_organizer_shows_the_close_rounded_down_to_its_floor(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    deadline = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    slug = await published(client, token, time_zone="Asia/Tokyo", closes_at=deadline)
    closed = await client.post(f"/api/v1/petitions/{slug}/close", headers=bearer(token))
    today = zones.local_date(int(datetime.now(UTC).timestamp()), "Asia/Tokyo")
    assert closed.json()["closed_at"] == f"{today.isoformat()}T00:00:00+09:00", "never finer than the floor"


async def test_a_deadline_at_the_last_second_we_accept_is_shown_even_where_it_is_already_the_year_10000(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    last = "9999-12-31T23:59:59Z"
    slug = await published(client, token, time_zone="Asia/Tokyo")

    # Set as a petition published before every petition ended could hold it (MAX_OPEN_DAYS refuses it now).
    async def unit(tx: Transaction) -> None:
        await tx.execute("UPDATE petitions SET closes_at = 253402300799 WHERE slug = :slug", {"slug": slug})
        await tx.execute("UPDATE cache_version SET version = version + 1")

    await app.state.db.write(unit)
    app.state.public_cache.clear()
    view = (await client.get(f"/api/v1/petitions/{slug}")).json()
    assert view["closes_at"] == last, "written in UTC where the zone's own time would pass the year 9999"
    page = await client.get(f"/p/{slug}")
    assert page.status_code == 200 and "31 December 9999" in page.text
    assert long_date(last, "hour", "Asia/Tokyo") == "31 December 9999, 23:59 UTC"


async def test_the_cached_petition_page_is_built_again_when_a_half_hour_zones_day_turns(
    client: httpx.AsyncClient, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    kolkata = await published(client, token, time_zone="Asia/Kolkata")  # +05:30
    built: list[int] = []
    build = petition_pages._render_public_page

    async def counted(request: object) -> object:
        built.append(1)
        return await build(request)  # type: ignore[arg-type]

    monkeypatch.setattr(petition_pages, "_render_public_page", counted)
    midnight = utc_midnight(datetime.now(UTC).date()) + 18 * HOUR + 30 * 60  # 00:00 in Kolkata
    for moment in (midnight - 120, midnight - 60, midnight + 60):
        monkeypatch.setattr(petition_pages, "now", lambda moment=moment: moment)
        monkeypatch.setattr(cache, "quarter_now", lambda moment=moment: moment // 900)
        assert (await client.get(f"/p/{kolkata}")).status_code == 200
    assert len(built) == 2, "once for the day before its midnight, once for the day after"

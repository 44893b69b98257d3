"""Timelines for journalists: buckets, events, the count on a day, the chart, the badge and the feed."""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import httpx
import pytest
from starlette.applications import Starlette

from petition.batcher import close_batch
from petition.database import Database, Transaction

from .conftest import BASE_URL
from .test_petitions import bearer, create, published
from .test_signing import make_codes, petition_id, sign

pytestmark = pytest.mark.usefixtures("organizer")
DAY = 86400
SVG = "{http://www.w3.org/2000/svg}"
ATOM = "{http://www.w3.org/2005/Atom}"


def midnight(days_ago: int) -> int:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return int((today - timedelta(days=days_ago)).timestamp())


async def seed(app: Starlette, slug: str, opened_at: int, counts: dict[int, tuple[int, int]]) -> None:
    """Give a petition an opening time and hourly counters, as closed batches would have."""
    db: Database = app.state.db
    pid = await petition_id(db, slug)
    total = sum(signed - withdrawn for signed, withdrawn in counts.values())

    async def unit(tx: Transaction) -> None:
        await tx.execute(
            "UPDATE petitions SET opened_at = :opened, signature_count = signature_count + :total,"
            " count_code = count_code + :total WHERE id = :id",
            {"opened": opened_at, "total": total, "id": pid},
        )
        for hour, (signed, withdrawn) in counts.items():
            await tx.execute(
                "INSERT INTO hourly_counts (petition_id, hour, signed, withdrawn) VALUES (:id, :hour, :s, :w)",
                {"id": pid, "hour": hour, "s": signed, "w": withdrawn},
            )
        await tx.execute("UPDATE cache_version SET version = version + 1")

    await db.write(unit)
    app.state.public_cache.clear()


async def get_timeline(client: httpx.AsyncClient, slug: str, **params: str) -> httpx.Response:
    return await client.get(f"/api/v1/petitions/{slug}/timeline", params=params)


async def test_buckets_sum_to_the_count_with_empty_days_as_zeros_on_utc_day_boundaries(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await published(client, token)
    opened = midnight(4) + 9 * 3600
    counts = {
        midnight(4) + 23 * 3600: (10, 0),  # 23:00 UTC four days ago
        midnight(3): (5, 0),  # midnight three days ago: the next day's bucket
        midnight(1) + 12 * 3600: (7, 2),
    }
    await seed(app, slug, opened, counts)
    response = await get_timeline(client, slug)
    assert response.status_code == 200 and response.headers["etag"]
    data = response.json()
    assert data["bucket"] == data["floor"] == "day"
    assert [b["start"] for b in data["buckets"]] == [
        datetime.fromtimestamp(midnight(n), UTC).isoformat().replace("+00:00", "Z") for n in (4, 3, 2, 1, 0)
    ]
    assert [b["signed"] for b in data["buckets"]] == [10, 5, 0, 7, 0]
    assert [b["withdrawn"] for b in data["buckets"]] == [0, 0, 0, 2, 0]
    assert [b["cumulative"] for b in data["buckets"]] == [10, 15, 15, 20, 20]
    count = (await client.get(f"/api/v1/petitions/{slug}")).json()["signature_count"]
    assert data["buckets"][-1]["cumulative"] == count == 20
    assert data["as_of"] == data["buckets"][-1]["start"], "as of today, rounded to the day"


async def test_the_floor_holds_everywhere_and_bad_parameters_are_refused(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await published(client, token)
    await seed(app, slug, midnight(2) + 5 * 3600 + 17 * 60, {midnight(2) + 6 * 3600: (3, 0)})
    assert (await get_timeline(client, slug, bucket="hour")).status_code == 422
    for params in ({"bucket": "minute"}, {"format": "xml"}, {"unknown": "1"}):
        response = await get_timeline(client, slug, **params)
        assert response.status_code == 422 and response.json()["error"]["message"], params
    data = (await get_timeline(client, slug)).json()
    times = [data["as_of"], *(b["start"] for b in data["buckets"]), *(e["at"] for e in data["events"])]
    assert all(t.endswith("T00:00:00Z") for t in times), "nothing finer than the day"
    page = (await client.get(f"/p/{slug}")).text
    today = datetime.now(UTC)
    assert f"as of {today.day} {today:%B %Y}:" in page and "UTC" not in page.split("as of")[1].split("</p>")[0]
    hourly = await published(client, token, timeline_floor="hour")
    await seed(app, hourly, midnight(1) + 5 * 3600 + 17 * 60, {midnight(1) + 6 * 3600: (3, 0)})
    by_hour = (await get_timeline(client, hourly)).json()
    assert by_hour["bucket"] == "hour" and by_hour["buckets"][0]["start"].endswith("T05:00:00Z")
    assert (await get_timeline(client, hourly, bucket="day")).json()["bucket"] == "day", "coarser is allowed"
    draft = (await create(client, token)).json()
    for target in (draft["slug"], draft["id"], "no-such-petition"):
        assert (await get_timeline(client, target)).status_code == 404
        assert (await client.get(f"/api/v1/petitions/{target}/count")).status_code == 404
        assert (await client.get(f"/p/{target}/badge.svg")).status_code == 404
        assert (await client.get(f"/p/{target}/feed.atom")).status_code == 404


async def test_a_withdrawal_shows_in_the_bucket_of_its_batch(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await published(client, token, verification=["code"], allowed_domains=[], timeline_floor="hour")
    [first, second] = await make_codes(client, token, slug, 2)
    db: Database = app.state.db
    receipt = (await sign(client, slug, first)).json()["receipt"]
    await sign(client, slug, second)
    pid = await petition_id(db, slug)
    hour_now = int(datetime.now(UTC).timestamp()) // 3600 * 3600
    await seed(app, slug, hour_now - 2 * 3600, {})  # opened two hours ago
    await close_batch(db, app.state.settings, pid, at=hour_now - 3600)
    await client.post(f"/api/v1/petitions/{slug}/signatures/withdraw", json={"receipt": receipt})
    await close_batch(db, app.state.settings, pid, at=hour_now)  # counted by the next hour's batch
    app.state.public_cache.clear()
    buckets = (await get_timeline(client, slug)).json()["buckets"]
    signed_at = [b for b in buckets if b["signed"]]
    withdrawn_at = [b for b in buckets if b["withdrawn"]]
    assert [b["signed"] for b in signed_at] == [2] and [b["withdrawn"] for b in withdrawn_at] == [1]
    assert withdrawn_at[0]["start"] > signed_at[0]["start"] and buckets[-1]["cumulative"] == 1


async def test_the_csv_parses_back_to_the_json(app: Starlette, client: httpx.AsyncClient, token: str) -> None:
    slug = await published(client, token)
    await seed(app, slug, midnight(3), {midnight(3) + 3600: (4, 0), midnight(1): (6, 1)})
    data = (await get_timeline(client, slug)).json()
    response = await get_timeline(client, slug, format="csv")
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert list(rows[0]) == ["start", "signed", "withdrawn", "invalidated", "cumulative"]
    parsed = [{k: v if k == "start" else int(v) for k, v in row.items()} for row in rows]
    assert parsed == data["buckets"]


async def test_the_count_on_a_day_and_refused_dates(app: Starlette, client: httpx.AsyncClient, token: str) -> None:
    slug = await published(client, token)
    await seed(app, slug, midnight(3), {midnight(3) + 3600: (4, 0), midnight(2) + 3600: (6, 0), midnight(1): (5, 1)})
    url = f"/api/v1/petitions/{slug}/count"

    def day(days_ago: int) -> str:
        return (datetime.now(UTC) - timedelta(days=days_ago)).date().isoformat()

    assert (await client.get(url, params={"at": day(3)})).json() == {"at": day(3), "signature_count": 4}
    assert (await client.get(url, params={"at": day(2)})).json()["signature_count"] == 10
    assert (await client.get(url, params={"at": day(0)})).json()["signature_count"] == 14
    now = (await client.get(url)).json()
    assert now["signature_count"] == 14 and now["at"].endswith("T00:00:00Z")
    for bad in (day(-1), day(4), "2026-13-01", "3 June", "2026-06-03T00:00:00Z"):
        response = await client.get(url, params={"at": bad})
        assert response.status_code == 422 and response.json()["error"]["message"], bad


async def test_events_mark_the_opening_milestones_the_goal_changes_and_the_close(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await published(client, token, goal=150)
    await seed(app, slug, midnight(3), {midnight(3) + 3600: (60, 0), midnight(2): (60, 0), midnight(1): (40, 0)})
    edited = await client.patch(
        f"/api/v1/petitions/{slug}", json={"summary": "A clearer summary."}, headers=bearer(token)
    )
    assert edited.status_code == 200
    assert (await client.post(f"/api/v1/petitions/{slug}/close", headers=bearer(token))).status_code == 200
    app.state.public_cache.clear()
    events = (await get_timeline(client, slug)).json()["events"]
    kinds = [(e["kind"], e.get("signatures"), e.get("goal")) for e in events]
    assert kinds == [
        ("opened", None, None),
        ("milestone", 100, False),
        ("milestone", 150, True),
        ("text_changed", None, None),
        ("closed", None, None),
    ]
    assert events[1]["at"] == datetime.fromtimestamp(midnight(2), UTC).isoformat().replace("+00:00", "Z")
    feed = await client.get(f"/p/{slug}/feed.atom")
    assert feed.headers["content-type"].startswith("application/atom+xml")
    entries = ET.fromstring(feed.content).findall(f"{ATOM}entry")
    titles = [entry.find(f"{ATOM}title").text for entry in entries]  # type: ignore[union-attr]
    assert titles[0] == "The petition closed." and "the goal of 150 is reached" in titles[2]
    page = (await client.get(f"/p/{slug}")).text
    assert "the goal of 150 is reached" in page and "The petition opened for signatures." in page


async def test_the_chart_is_valid_xml_with_one_point_per_bucket_and_a_goal_line(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await published(client, token, goal=50)
    await seed(app, slug, midnight(5), {midnight(5) + 3600: (30, 0), midnight(2): (40, 0)})
    page = (await client.get(f"/p/{slug}")).text
    svg = ET.fromstring(re.search(r"<svg viewBox.*?</svg>", page, re.S).group(0))  # type: ignore[union-attr]
    points = svg.find(f"{SVG}polyline").get("points").split()  # type: ignore[union-attr]
    assert len(points) == 6, "one point per day, today included"
    assert svg.find(f"{SVG}line[@class='goal-line']") is not None
    assert [c.find(f"{SVG}title").text for c in svg.findall(f"{SVG}circle[@class='milestone']")] == [  # type: ignore[union-attr]
        f"50 signatures (the goal), {datetime.fromtimestamp(midnight(2), UTC):%-d %B %Y}"
    ]
    assert "style=" not in page and "<script" not in page
    assert "<table>" in page and "70 by printed code" in page.replace(",", "")


async def test_the_badge_and_304s_on_a_matching_etag(app: Starlette, client: httpx.AsyncClient, token: str) -> None:
    slug = await published(client, token)
    await seed(app, slug, midnight(1), {midnight(1) + 3600: (1234, 0)})
    badge = await client.get(f"/p/{slug}/badge.svg")
    assert badge.headers["content-type"].startswith("image/svg+xml") and "1,234" in badge.text
    ET.fromstring(badge.content)
    for url in (
        f"/p/{slug}/badge.svg",
        f"/p/{slug}/feed.atom",
        f"/api/v1/petitions/{slug}/timeline",
        f"/api/v1/petitions/{slug}/timeline?format=csv",
        f"/api/v1/petitions/{slug}/count",
    ):
        first = await client.get(url)
        assert first.status_code == 200 and "max-age" in first.headers["cache-control"], url
        again = await client.get(url, headers={"if-none-match": first.headers["etag"]})
        assert again.status_code == 304 and again.content == b"", url
    await seed(app, slug, midnight(1), {midnight(0): (1, 0)})
    moved = await client.get(f"/p/{slug}/badge.svg", headers={"if-none-match": badge.headers["etag"]})
    assert moved.status_code == 200 and "1,235" in moved.text, "a closed batch changes the ETag"


async def test_a_remembered_public_answer_goes_to_visitors_only_and_is_logged_by_its_route(
    app: Starlette, client: httpx.AsyncClient, token: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from .test_login import log_in

    slug = await published(client, token)
    for path in (f"/p/{slug}", f"/api/v1/petitions/{slug}", f"/p/{slug}/badge.svg"):
        first, second = await client.get(path), await client.get(path)
        assert first.content == second.content and first.headers["etag"] == second.headers["etag"]
    remembered = {address[0] for address in app.state.public_cache.by_address}
    assert {f"/p/{slug}", f"/api/v1/petitions/{slug}", f"/p/{slug}/badge.svg"} <= remembered
    app.state.access_log.flush()
    access = capsys.readouterr().err
    assert access.count("GET /p/{slug}/badge.svg 200") == 2, "a remembered answer is logged by its route too"
    assert f"/p/{slug}" not in access, "logs name routes, never paths"
    # An organizer with a session, or a token, is never given the visitors' copy.
    assert (await log_in(client, "alice@example.org")).status_code == 303
    page = await client.get(f"/p/{slug}")
    assert page.headers["cache-control"] == "no-store"
    client.cookies.clear()
    as_organizer = await client.get(f"/api/v1/petitions/{slug}", headers=bearer(token))
    assert "verification" in as_organizer.json()
    assert "verification" not in (await client.get(f"/api/v1/petitions/{slug}")).json()


async def test_concurrent_requests_for_a_missing_page_share_one_build(app: Starlette) -> None:
    import asyncio

    builds = 0

    async def build() -> tuple[bytes, str, dict[str, str]]:
        nonlocal builds
        builds += 1
        await asyncio.sleep(0.05)
        return b"page", "text/plain", {}

    cache = app.state.public_cache
    entries = await asyncio.gather(*(cache.get_or_build(("test", "shared"), build) for _ in range(20)))
    assert builds == 1 and {entry.body for entry in entries} == {b"page"}


async def test_a_page_built_while_the_cache_empties_is_not_kept(app: Starlette) -> None:
    import asyncio

    cache = app.state.public_cache

    async def slow_build() -> tuple[bytes, str, dict[str, str]]:
        await asyncio.sleep(0.05)
        return b"old count", "text/plain", {}

    building = asyncio.create_task(cache.get_or_build(("test", "stale"), slow_build))
    await asyncio.sleep(0.01)
    cache.clear()  # a batch closed while the page was being drawn
    assert (await building).body == b"old count"
    assert ("test", "stale") not in cache.entries, "what it drew from before the batch is not kept"


class EmbedCode(HTMLParser):
    """The text of the page's `<pre><code>` (as a visitor copies it), character references read."""

    def __init__(self) -> None:
        super().__init__()
        self.inside: list[str] = []
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.inside.append(tag)

    def handle_endtag(self, tag: str) -> None:
        self.inside.pop()

    def handle_data(self, data: str) -> None:
        if self.inside[-2:] == ["pre", "code"]:
            self.text += data


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


async def test_the_embed_code_keeps_a_title_with_quotes_and_markup_inside_the_images_alt(
    client: httpx.AsyncClient, token: str
) -> None:
    title = 'x" onerror="alert(1) <b>&amp;'
    slug = await published(client, token, title=title)
    page = EmbedCode()
    page.feed((await client.get(f"/p/{slug}")).text)
    pasted = Tags()
    pasted.feed(page.text)
    url = f"{BASE_URL}/p/{slug}"
    assert pasted.tags == [("a", {"href": url}), ("img", {"src": f"{url}/badge.svg", "alt": f"Signatures on {title}"})]


async def close_and_purge(
    app: Starlette, client: httpx.AsyncClient, token: str, slug: str, closed: int, purged: int
) -> None:
    """Close the petition, then record its purge as the purge records it: purged_at on its row."""
    assert (await client.post(f"/api/v1/petitions/{slug}/close", headers=bearer(token))).status_code == 200
    pid = await petition_id(app.state.db, slug)

    async def unit(tx: Transaction) -> None:
        await tx.execute(
            "UPDATE petitions SET closed_at = :c, purged_at = :p WHERE id = :id", {"c": closed, "p": purged, "id": pid}
        )
        await tx.execute("UPDATE cache_version SET version = version + 1")

    await app.state.db.write(unit)
    app.state.public_cache.clear()


def long_day(moment: int) -> str:
    day = datetime.fromtimestamp(moment, UTC)
    return f"{day.day} {day:%B %Y}"


async def test_the_purge_is_an_event_on_its_floored_day_in_the_timeline_feed_and_page(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await published(client, token)
    await seed(app, slug, midnight(5), {midnight(5) + 3600: (7, 0)})
    assert "purged" not in [e["kind"] for e in (await get_timeline(client, slug)).json()["events"]]
    assert "Identifying data destroyed" not in (await client.get(f"/p/{slug}")).text
    purged = midnight(1) + 13 * 3600 + 17 * 60 + 5
    await close_and_purge(app, client, token, slug, midnight(3) + 9 * 3600, purged)
    data = (await get_timeline(client, slug)).json()
    assert [(e["kind"], e["at"]) for e in data["events"][-2:]] == [
        ("closed", datetime.fromtimestamp(midnight(3), UTC).isoformat().replace("+00:00", "Z")),
        ("purged", datetime.fromtimestamp(midnight(1), UTC).isoformat().replace("+00:00", "Z")),
    ], "floored to the day, like every other event"
    assert data["buckets"][-1]["cumulative"] == 7, "the count is as it was"
    feed = ET.fromstring((await client.get(f"/p/{slug}/feed.atom")).content)
    newest = feed.findall(f"{ATOM}entry")[0]
    assert newest.findtext(f"{ATOM}title") == "Identifying data destroyed."
    assert newest.findtext(f"{ATOM}content") == f"{long_day(purged)}: Identifying data destroyed."
    assert newest.findtext(f"{ATOM}updated") == feed.findtext(f"{ATOM}updated") == data["events"][-1]["at"]
    page = (await client.get(f"/p/{slug}")).text
    assert f"Identifying data destroyed on {long_day(purged)}." in page
    assert f"{long_day(purged)}: <bdi>Identifying data destroyed.</bdi>" in page


async def test_the_purge_event_of_an_hourly_timeline_is_floored_to_the_hour(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await published(client, token, timeline_floor="hour")
    await seed(app, slug, midnight(4), {midnight(4) + 3600: (3, 0)})
    await close_and_purge(app, client, token, slug, midnight(3), midnight(1) + 13 * 3600 + 17 * 60 + 5)
    event = (await get_timeline(client, slug)).json()["events"][-1]
    assert event == {
        "kind": "purged",
        "at": datetime.fromtimestamp(midnight(1) + 13 * 3600, UTC).isoformat().replace("+00:00", "Z"),
        "signatures": None,
        "goal": None,
    }
    page = (await client.get(f"/p/{slug}")).text
    assert f"Identifying data destroyed on {long_day(midnight(1))}, 13:00 UTC." in page

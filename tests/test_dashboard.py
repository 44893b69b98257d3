"""The organizers' dashboard: its page and its JSON show each part, counters below MIN_CELL_SIZE as
"fewer than", the chart at the petition's floor, and three alerts (a burst of signatures, failing
mail, a code batch nearly spent), each tested on both sides of its threshold; only the petition's
organizers see it."""

from __future__ import annotations

import re

import httpx
import pytest
from starlette.applications import Starlette

from petition import dashboard, dashboard_api, organizers, outbox
from petition.database import Database, Transaction, now
from petition.mailer import Mail, OneByOne

from .feedback.factories import execute, make_round
from .feedback.factories import organizer_id as organizer_id_of
from .test_flyer_batches import make as make_flyers
from .test_login import log_in
from .test_outbox import queue_mail
from .test_petitions import bearer, create, other_organizer_token
from .test_signing import make_codes, open_petition, petition_id
from .test_timeline import midnight

pytestmark = pytest.mark.usefixtures("organizer")
HOUR = 3600
DAY = 86400


@pytest.fixture(autouse=True)
def fresh_json(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    """Each JSON answer built anew (its memo is tested on its own, below)."""
    if "memo" not in request.node.name:
        monkeypatch.setattr(dashboard_api, "MEMO_SECONDS", 1e-9)
        monkeypatch.setattr(dashboard_api, "CALLER_SECONDS", 0.0)


async def get_dashboard(client: httpx.AsyncClient, token: str, slug: str) -> httpx.Response:
    return await client.get(f"/api/v1/petitions/{slug}/dashboard", headers=bearer(token))


async def page_of(client: httpx.AsyncClient, app: Starlette, slug: str) -> str:
    """The dashboard page, alice signed in (addressed by the petition's id)."""
    if (await client.get("/login")).status_code != 303:
        await log_in(client, "alice@example.org")
    page = await client.get(f"/organize/petitions/{await petition_id(app.state.db, slug)}")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    return " ".join(page.text.split())


async def write_counts(app: Starlette, slug: str, counts: dict[int, int], *, opened_at: int) -> None:
    """Hourly counters (hour start -> signatures counted) and an opening time, as closed batches leave them."""
    db: Database = app.state.db
    pid = await petition_id(db, slug)
    total = sum(counts.values())

    async def unit(tx: Transaction) -> None:
        await tx.execute(
            "UPDATE petitions SET opened_at = :opened, signature_count = :total, count_code = :total WHERE id = :id",
            {"opened": opened_at, "total": total, "id": pid},
        )
        for hour, signed in counts.items():
            await tx.execute(
                "INSERT INTO hourly_counts (petition_id, hour, signed, withdrawn) VALUES (:id, :hour, :s, 0)",
                {"id": pid, "hour": hour, "s": signed},
            )

    await db.write(unit)


def steady_week(per_hour: int, moment: int) -> dict[int, int]:
    """`per_hour` signatures counted in every hour of the 8 days up to and including the current one."""
    current = moment - moment % HOUR
    return {current - index * HOUR: per_hour for index in range(8 * 24 + 1)}


def kinds(answer: httpx.Response) -> list[str]:
    return [alert["kind"] for alert in answer.json()["alerts"]]


# -- the burst rule, on its own ---------------------------------------------------------------------


MOMENT = 1_780_000_000 - 1_780_000_000 % HOUR + 1234  # 20 minutes into a UTC hour


@pytest.mark.parametrize(
    ("per_hour", "last_hour", "fires"),
    [
        (0, 20, False),  # a quiet week: at least 20
        (0, 21, True),
        (10, 50, False),  # 5 x the median of 10
        (10, 51, True),
        (10, 10, False),  # steady signing
    ],
)
def test_a_burst_is_the_busier_of_the_last_two_hours_above_five_times_the_weeks_median_and_twenty(
    per_hour: int, last_hour: int, fires: bool
) -> None:
    counters = steady_week(per_hour, MOMENT)
    current = MOMENT - MOMENT % HOUR
    for hour in (current, current - HOUR):  # the hour so far, and the hour before
        counters[hour] = last_hour
        assert (dashboard.burst(counters, MOMENT, 5) is not None) == fires, hour
        counters[hour] = per_hour


def test_the_burst_baseline_is_the_168_hours_before_the_last_two_with_empty_hours_as_zero() -> None:
    current = MOMENT - MOMENT % HOUR
    # Busy hours older than the week, or fewer than half the week's: the median stays 0, so 21 is a burst.
    counters = {current - HOUR * (2 + index): 100 for index in range(83)} | {current - 200 * HOUR: 10_000}
    counters[current] = 21
    assert dashboard.burst(counters, MOMENT, 5) == (21, 20)
    counters |= {current - HOUR * (2 + index): 100 for index in range(85)}  # more than half: a median of 100
    assert dashboard.burst(counters, MOMENT, 5) is None
    assert dashboard.burst({current: 30}, MOMENT, 30) is None, "never a crowd smaller than MIN_CELL_SIZE"


# -- alerts through the API and the page -------------------------------------------------------------


async def test_the_burst_alert_fires_on_a_synthetic_burst_and_not_on_steady_signing(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    steady = await open_petition(client, token)
    bursting = await open_petition(client, token, title="A petition that bursts")
    moment = now()
    await write_counts(app, steady, steady_week(10, moment), opened_at=moment - 9 * DAY)
    counters = steady_week(10, moment)
    counters[moment - moment % HOUR] = 51  # 5 x 10 is the threshold: one more is a burst
    await write_counts(app, bursting, counters, opened_at=moment - 9 * DAY)
    assert kinds(await get_dashboard(client, token, steady)) == []
    answer = (await get_dashboard(client, token, bursting)).json()
    [alert] = answer["alerts"]
    # A day floor: the hour's count is not said, only that it went over the threshold.
    assert alert["kind"] == "burst" and alert["threshold"] == 50 and alert["count"] is None
    assert "51" not in alert["message"] and "over 50" in alert["message"]
    assert "More signatures than usual were counted in the last hour" in await page_of(client, app, bursting)
    assert "Needs your attention" not in await page_of(client, app, steady)


async def test_with_an_hour_floor_the_burst_alert_says_the_hours_count(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token, timeline_floor="hour")
    moment = now()
    await write_counts(app, slug, {moment - moment % HOUR - HOUR: 30}, opened_at=moment - 2 * DAY)
    [alert] = (await get_dashboard(client, token, slug)).json()["alerts"]
    assert alert["count"] == 30 and alert["threshold"] == 20 and alert["message"].startswith("30 signatures")


async def test_a_closed_petition_has_no_burst_alert(app: Starlette, client: httpx.AsyncClient, token: str) -> None:
    slug = await open_petition(client, token)
    moment = now()
    await write_counts(app, slug, {moment - moment % HOUR: 500}, opened_at=moment - DAY)
    assert kinds(await get_dashboard(client, token, slug)) == ["burst"]
    assert (await client.post(f"/api/v1/petitions/{slug}/close", headers=bearer(token))).status_code == 200
    assert kinds(await get_dashboard(client, token, slug)) == []


class FailingMail(OneByOne):
    async def send(self, mail: Mail) -> None:
        raise ConnectionRefusedError("the mail server is away")


async def test_the_mail_alert_fires_only_past_the_second_retry_of_a_crowd_of_messages(
    app: Starlette, client: httpx.AsyncClient, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    slug = await open_petition(client, token)
    clock = [outbox.now()]
    monkeypatch.setattr(outbox, "now", lambda: clock[0])
    sender = app.state.sender
    sender.transport = FailingMail()
    crowd = app.state.settings.min_cell_size
    addresses = [f"worker{n}@example.com" for n in range(crowd)]
    await queue_mail(app.state.db, app.state.settings, addresses, expires_in=DAY)
    for failures in (1, 2):  # the first try, then the first retry
        await sender.drain()
        assert kinds(await get_dashboard(client, token, slug)) == [], failures
        clock[0] += 10 * 60  # past the longest backoff: every message is due again
    await sender.drain()  # the second retry fails too
    assert await app.state.db.fetch_val("SELECT MIN(failures) FROM outbox") == 3
    [alert] = (await get_dashboard(client, token, slug)).json()["alerts"]
    assert alert["kind"] == "mail_failing" and alert["count"] is None
    assert "Email is failing" in await page_of(client, app, slug)
    # One message fewer than a crowd (say one signer's mistyped address) raises nothing.
    await execute(app.state.db, "DELETE FROM outbox WHERE id = (SELECT MIN(id) FROM outbox)", {})
    assert kinds(await get_dashboard(client, token, slug)) == []


@pytest.mark.parametrize(("used", "fires"), [(90, True), (89, False), (100, True)])
async def test_the_codes_alert_fires_when_a_batch_is_90_percent_used_and_not_at_89(
    app: Starlette, client: httpx.AsyncClient, token: str, used: int, fires: bool
) -> None:
    slug = await open_petition(client, token)
    await client.post(f"/api/v1/petitions/{slug}/codes", json={"count": 100, "label": "Canteen"}, headers=bearer(token))
    await execute(app.state.db, "UPDATE code_batches SET used = :used", {"used": used})
    alerts = (await get_dashboard(client, token, slug)).json()["alerts"]
    assert [alert["kind"] for alert in alerts] == (["codes_nearly_spent"] if fires else [])
    if fires:
        assert f"{used} of 100" in alerts[0]["message"] and "“Canteen”" in alerts[0]["message"]
        assert f"{used} of 100" in await page_of(client, app, slug)
        await execute(app.state.db, "UPDATE code_batches SET revoked_at = 1", {})
        assert kinds(await get_dashboard(client, token, slug)) == [], "a revoked batch needs no more codes"


async def test_a_closed_petition_has_no_codes_alert_since_it_takes_no_more_codes(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token)
    await client.post(f"/api/v1/petitions/{slug}/codes", json={"count": 100, "label": "Canteen"}, headers=bearer(token))
    await execute(app.state.db, "UPDATE code_batches SET used = 95", {})
    assert kinds(await get_dashboard(client, token, slug)) == ["codes_nearly_spent"]
    assert (await client.post(f"/api/v1/petitions/{slug}/close", headers=bearer(token))).status_code == 200
    assert kinds(await get_dashboard(client, token, slug)) == []


async def test_a_small_batch_all_used_raises_no_codes_alert_since_its_count_is_not_shown(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token)
    await make_codes(client, token, slug, 3)
    await execute(app.state.db, "UPDATE code_batches SET used = 3", {})
    answer = (await get_dashboard(client, token, slug)).json()
    assert answer["alerts"] == [] and answer["code_batches"][0]["used"] is None


# -- each part ---------------------------------------------------------------------------------------


async def test_the_page_and_the_json_show_each_part_and_small_counters_as_fewer_than(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db: Database = app.state.db
    slug = await open_petition(client, token, goal=100)
    await make_codes(client, token, slug, 20)
    await make_codes(client, token, slug, 10)
    await execute(db, "UPDATE code_batches SET used = CASE WHEN size = 20 THEN 12 ELSE 3 END", {})
    assert (await make_flyers(client, token, slug, label="Loading bay")).status_code == 201
    await execute(db, "UPDATE flyer_batches SET scans = 40, signatures = 2", {})
    await make_round(app, client, token, slug=slug)
    posted = await client.post(
        f"/api/v1/petitions/{slug}/updates", json={"title": "We met the board", "body": "News."}, headers=bearer(token)
    )
    assert posted.status_code == 201
    await write_counts(app, slug, {midnight(2) + 9 * HOUR: 60, midnight(1) + 15 * HOUR: 45}, opened_at=midnight(3))
    pid = await petition_id(db, slug)
    alice = await organizer_id_of(db)

    async def record(tx: Transaction) -> None:
        await organizers.audit(tx, alice, "code batch revoked", "Canteen", petition_id=pid)

    await db.write(record)

    answer = await get_dashboard(client, token, slug)
    assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
    data = answer.json()
    assert data["signature_count"] == 105 and data["signature_count_by_method"] == {"email": 0, "code": 105}
    assert [m["signatures"] for m in data["milestones"]] == [100] and data["milestones"][0]["goal"] is True
    assert sorted([b["used"] for b in data["code_batches"]], key=str) == [12, None], "3 used: fewer than 5"
    assert [(f["scans"], f["signatures"]) for f in data["flyer_batches"]] == [(40, None)]
    assert [u["title"] for u in data["updates"]] == ["We met the board"]
    assert [r["participants"] for r in data["rounds"]] == [None]
    assert data["reasons"] == {"waiting": 0, "approved": 0, "hidden": 0}
    assert data["retention"] == {"retention_days": 30, "destroyed_at": None, "purged_at": None}
    entry = data["audit"][0]  # the newest first: what its organizers did through the API is below it
    assert entry["action"] == "code batch revoked" and entry["by"] == "alice@example.org"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:00Z", entry["at"]), "to the minute"

    page = await page_of(client, app, slug)
    for words in (
        "0 by work email, 105 by printed code",
        "Milestones",
        "100 signatures, the goal",
        '<td class="num">12</td>',
        '<td class="num">fewer than 5</td>',
        "Loading bay",
        "We met the board",
        "code batch revoked: Canteen",
        "alice@example.org",
        f'href="/organize/petitions/{pid}/certificate.pdf?paper=a4"',
        f'href="/organize/petitions/{pid}/certificate.pdf?paper=letter"',
        f'href="/organize/petitions/{pid}/certificate.note"',
        '<svg viewBox="0 0 640 260" role="img"',
    ):
        assert words in page, words
    assert "Needs your attention" not in page


async def test_the_chart_is_never_finer_than_the_petitions_floor(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token)
    day = midnight(1)
    await write_counts(app, slug, {day + 8 * HOUR: 7, day + 13 * HOUR: 9, day + 22 * HOUR: 6}, opened_at=midnight(2))
    data = (await get_dashboard(client, token, slug)).json()["timeline"]
    assert data["bucket"] == "day" and data["floor"] == "day"
    assert all(bucket["start"].endswith("T00:00:00Z") for bucket in data["buckets"])
    assert [bucket["signed"] for bucket in data["buckets"]][:2] == [0, 22], "one day's hours summed"
    section = (await page_of(client, app, slug)).split('id="timeline-heading"', 1)[1].split("</section>", 1)[0]
    assert not re.search(r"\d\d:\d\d", section), "no time of day with a day floor"
    hourly = await open_petition(client, token, title="By the hour", timeline_floor="hour")
    await write_counts(app, hourly, {day + 8 * HOUR: 7}, opened_at=day)
    assert (await get_dashboard(client, token, hourly)).json()["timeline"]["bucket"] == "hour"


async def test_a_drafts_dashboard_shows_its_state_with_zero_counts_and_no_certificate(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    draft = (await create(client, token, verification=["code"], allowed_domains=[])).json()
    answer = await get_dashboard(client, token, draft["id"])
    assert answer.status_code == 200
    data = answer.json()
    assert data["state"] == "draft" and data["signature_count"] == 0 and data["timeline"] is None
    assert data["alerts"] == [] and data["milestones"] == []
    await log_in(client, "alice@example.org")
    page = (await client.get(f"/organize/petitions/{draft['id']}")).text
    assert "Draft: only its organizers see it" in page and "certificate" not in page


# -- who may see it ----------------------------------------------------------------------------------


async def test_another_organizer_the_public_and_an_unknown_petition_are_refused_and_nothing_changes(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token)
    draft = (await create(client, token, title="Alice's draft")).json()
    bob = await other_organizer_token(app)
    before = await app.state.db.fetch_all("SELECT * FROM petitions ORDER BY id")
    for key in (slug, draft["id"], "no-such-petition"):
        refused = await get_dashboard(client, bob, key)
        assert refused.status_code == 404, key
        assert refused.json()["error"]["message"] == "There is no petition at this address that you organize."
    assert (await get_dashboard(client, token, "no-such-petition")).status_code == 404
    anonymous = await client.get(f"/api/v1/petitions/{slug}/dashboard")
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"]
    assert (await get_dashboard(client, "not-a-token", slug)).status_code == 401
    await log_in(client, "bob@example.org")
    page = await client.get(f"/organize/petitions/{await petition_id(app.state.db, slug)}")
    assert page.status_code == 404 and "Traceback" not in page.text
    assert await app.state.db.fetch_all("SELECT * FROM petitions ORDER BY id") == before


async def test_the_dashboard_is_in_the_openapi_document_for_organizers_only(client: httpx.AsyncClient) -> None:
    document = (await client.get("/api/openapi.json")).json()
    operation = document["paths"]["/api/v1/petitions/{slug}/dashboard"]["get"]
    assert operation["security"] == [{"bearer": []}] and {"401", "404"} <= set(operation["responses"])
    schema = document["components"]["schemas"]["Dashboard"]
    assert {"alerts", "timeline", "code_batches", "flyer_batches", "audit"} <= set(schema["properties"])


async def test_the_json_memo_lasts_seconds_and_ends_at_once_when_a_petition_changes_but_never_skips_the_checks(
    app: Starlette, client: httpx.AsyncClient, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(dashboard_api.time, "monotonic", lambda: clock[0])
    slug = await open_petition(client, token)
    await client.post(f"/api/v1/petitions/{slug}/codes", json={"count": 10, "label": "Lifts"}, headers=bearer(token))
    assert [b["revoked"] for b in (await get_dashboard(client, token, slug)).json()["code_batches"]] == [False]
    # A revoked batch changes no petition: the JSON built a moment ago stands, for MEMO_SECONDS at most.
    await execute(app.state.db, "UPDATE code_batches SET revoked_at = 1", {})
    assert [b["revoked"] for b in (await get_dashboard(client, token, slug)).json()["code_batches"]] == [False]
    clock[0] += dashboard_api.MEMO_SECONDS
    assert [b["revoked"] for b in (await get_dashboard(client, token, slug)).json()["code_batches"]] == [True]
    # A change to the petition (the cache emptied, as a closed batch does) shows at once.
    await write_counts(app, slug, {midnight(1): 7}, opened_at=midnight(2))
    app.state.public_cache.clear()
    assert (await get_dashboard(client, token, slug)).json()["signature_count"] == 7
    # Whoever does not organize it is refused; whoever no longer does, within CALLER_SECONDS.
    bob = await other_organizer_token(app)
    assert (await get_dashboard(client, bob, slug)).status_code == 404
    pid = await petition_id(app.state.db, slug)
    bob_id = await organizer_id_of(app.state.db, "bob@example.org")
    await execute(
        app.state.db,
        "INSERT INTO petition_organizers (petition_id, organizer_id) VALUES (:p, :o)",
        {"p": pid, "o": bob_id},
    )
    assert (await get_dashboard(client, bob, slug)).status_code == 200
    await execute(app.state.db, "DELETE FROM petition_organizers WHERE organizer_id = :o", {"o": bob_id})
    assert (await get_dashboard(client, bob, slug)).status_code == 200  # passed the checks this second
    clock[0] += dashboard_api.CALLER_SECONDS
    assert (await get_dashboard(client, bob, slug)).status_code == 404


async def test_a_caller_remembered_for_a_second_reads_only_that_petition_with_that_token_in_the_header_memo(
    app: Starlette, client: httpx.AsyncClient, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(dashboard_api.time, "monotonic", lambda: clock[0])
    slug = await open_petition(client, token)
    bob = await other_organizer_token(app)
    bobs = await open_petition(client, bob)
    assert (await get_dashboard(client, token, slug)).status_code == 200
    # Another petition, another token, or the token in the address: checked in full.
    assert (await get_dashboard(client, token, bobs)).status_code == 404
    assert (await get_dashboard(client, bob, slug)).status_code == 404
    in_address = await client.get(f"/api/v1/petitions/{slug}/dashboard?token={token}", headers=bearer(token))
    assert in_address.status_code == 401
    # A revoked token reads again within the second it passed the checks, and never after.
    await execute(app.state.db, "UPDATE api_tokens SET revoked_at = 1", {})
    assert (await get_dashboard(client, token, slug)).status_code == 200
    clock[0] += dashboard_api.CALLER_SECONDS
    assert (await get_dashboard(client, token, slug)).status_code == 401

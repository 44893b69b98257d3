"""A round's results as JSON, CSV and a page: exactly the documented shape, aggregates only, nothing below
MIN_CELL_SIZE, and an organizers-only round's results to its organizers alone."""

from __future__ import annotations

import contextlib
import csv
import io
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from petition import accounts
from petition.database import Database
from petition.settings import Settings

from ..conftest import BASE_URL, ORGANIZER_PASSWORD, make_settings
from ..test_login import log_in
from ..test_petitions import bearer
from ..test_signing import open_petition
from .factories import add_participant, execute, make_round
from .factories import bearer as participant_bearer
from .test_results_job import RESULTS_SECONDS, InProcessWorker, camps, idle_app_worker, results_job

__all__ = ["idle_app_worker"]  # autouse: the app's own job computes nothing here

RESULT_KEYS = {"as_of", "participants", "statements", "groups", "consensus", "divisive"}
NOTHING = {"as_of": None, "participants": None, "statements": [], "groups": [], "consensus": [], "divisive": []}
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return make_settings(tmp_path, database_url=db_url, round_results_seconds=RESULTS_SECONDS)


def svg_of(html: str) -> str:
    """The opinion map's SVG, cut out of a page."""
    return html[html.index("<svg") : html.index("</svg>") + len("</svg>")]


async def computed(app: Starlette) -> None:
    """Recompute every due round now, and drop the cached answers (as the app's job does)."""
    await results_job.run_once(app.state.db, app.state.settings, InProcessWorker())
    app.state.public_cache.clear()


async def other_organizer(app: Starlette) -> tuple[str, httpx.AsyncClient]:
    """bob, who organizes no petition of these tests: (his API token, a client signed in as him)."""
    db: Database = app.state.db
    assert await accounts.create_organizer(db, email="bob@example.org", password=ORGANIZER_PASSWORD, admin=False)
    bob_token = await accounts.create_token_for(db, email="bob@example.org", name="bob")
    assert bob_token
    pages = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL)
    assert (await log_in(pages, "bob@example.org", ORGANIZER_PASSWORD)).status_code == 303
    return bob_token, pages


async def test_results_json_has_exactly_the_documented_keys(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    round_id, statement_ids, _ = await camps(app, client, token)
    await computed(app)

    answer = await client.get(f"/api/v1/rounds/{round_id}/results")

    assert answer.status_code == 200
    results = answer.json()
    assert set(results) == RESULT_KEYS
    assert results["participants"] == 11
    assert {tuple(sorted(item)) for item in results["statements"]} == {
        ("agree", "agreement", "disagree", "id", "pass", "text")
    }
    assert [item["id"] for item in results["groups"]] == ["A", "B"]
    assert {tuple(sorted(group)) for group in results["groups"]} == {("id", "representative", "size")}
    for group in results["groups"]:
        for item in group["representative"]:
            assert set(item) == {"id", "direction"} and item["direction"] in ("agree", "disagree")
            assert item["id"] in statement_ids
    first = next(item for item in results["statements"] if item["id"] == statement_ids[0])
    # Camp A (6) agrees with the first statement, camp B (5) disagrees: 6 / 11.
    assert (first["agree"], first["disagree"], first["pass"]) == (6, 5, 0)
    assert first["agreement"] == pytest.approx(6 / 11, abs=1e-4)
    assert first["text"] == "Opting out takes one click."
    assert set(results["consensus"]) <= set(statement_ids) and set(results["divisive"]) <= set(statement_ids)
    assert statement_ids[2] in results["consensus"], "everyone agrees with the third"


async def test_before_any_computation_the_results_show_nothing_not_even_a_count(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    round_id, _, _ = await camps(app, client, token, a=4, b=0)
    await computed(app)

    answer = await client.get(f"/api/v1/rounds/{round_id}/results")

    assert answer.status_code == 200 and answer.json() == NOTHING
    page = await client.get(f"/r/{round_id}/results")
    assert page.status_code == 200
    assert "Results appear once at least 5 people have voted." in page.text
    assert "<svg" not in page.text


async def test_a_closed_rounds_results_page_says_they_are_final_and_promises_no_other_computation(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    closed, _, _ = await camps(app, client, token, state="closed")
    too_few, _, _ = await camps(app, client, token, a=4, b=0, state="closed")
    still_open, _, _ = await camps(app, client, token)
    await computed(app)

    page = re.sub(r"\s+", " ", (await client.get(f"/r/{closed}/results")).text)
    assert "This round is closed: these are its final results." in page
    assert "Any last votes of fewer than 5 people are not shown, so no one can be singled out." in page
    assert "worked out again" not in page
    empty = re.sub(r"\s+", " ", (await client.get(f"/r/{too_few}/results")).text)
    assert "This round is closed. Its results appear here only if at least 5 people voted in it." in empty
    assert "Results appear once" not in empty and "worked out" not in empty
    open_page = re.sub(r"\s+", " ", (await client.get(f"/r/{still_open}/results")).text)
    assert "Results are worked out again once at least 5 more people have voted" in open_page
    assert "final results" not in open_page


async def test_groups_below_min_cell_size_never_appear_and_their_dots_are_ungrouped(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    round_id, _, _ = await camps(app, client, token, a=6, b=3)
    await computed(app)

    results = (await client.get(f"/api/v1/rounds/{round_id}/results")).json()
    assert results["participants"] == 9
    assert [(group["id"], group["size"]) for group in results["groups"]] == [("A", 6)]

    page = await client.get(f"/r/{round_id}/results")
    assert "Group B" not in page.text
    svg = ET.fromstring(svg_of(page.text))
    dots = [group.get("class") for group in svg.iter(f"{SVG}g") for _ in group]
    assert dots.count("group-a") == 6 + 1, "six dots and the legend's"
    assert dots.count("ungrouped") == 3 + 1
    assert "group-b" not in dots


async def test_an_organizers_only_rounds_results_are_404_to_the_public_and_to_another_organizer(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    round_id, _, _ = await camps(app, client, token, results="organizers")
    await computed(app)
    bob_token, bob_pages = await other_organizer(app)
    anonymous = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL)
    async with anonymous, contextlib.aclosing(bob_pages):
        for path in (f"/api/v1/rounds/{round_id}/results", f"/r/{round_id}/results"):
            assert (await anonymous.get(path)).status_code == 404, path
            assert (await bob_pages.get(path)).status_code == 404, path
        bob_answer = await client.get(f"/api/v1/rounds/{round_id}/results", headers=bearer(bob_token))
        assert bob_answer.status_code == 404
        assert bob_answer.json()["error"]["code"] == "not_found"

        alice = await client.get(f"/api/v1/rounds/{round_id}/results", headers=bearer(token))
        assert alice.status_code == 200 and alice.json()["participants"] == 11
        assert alice.headers["cache-control"] == "no-store"
        alice_pages = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL)
        async with alice_pages:
            assert (await log_in(alice_pages, "alice@example.org", ORGANIZER_PASSWORD)).status_code == 303
            page = await alice_pages.get(f"/r/{round_id}/results")
            assert page.status_code == 200 and "Group A (6 people)" in page.text
            assert page.headers["cache-control"] == "no-store"
        # Asked by the public again after alice: nothing of hers was cached for them.
        assert (await anonymous.get(f"/api/v1/rounds/{round_id}/results")).status_code == 404


async def test_a_draft_rounds_results_are_404_to_all_but_its_organizers(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    round_id, _ = await make_round(app, client, token, state="draft")

    assert (await client.get(f"/api/v1/rounds/{round_id}/results")).status_code == 404
    assert (await client.get(f"/r/{round_id}/results")).status_code == 404
    assert (await client.get("/api/v1/rounds/no-such-round/results")).status_code == 404
    mine = await client.get(f"/api/v1/rounds/{round_id}/results", headers=bearer(token))
    assert mine.status_code == 200 and mine.json() == NOTHING


async def test_a_participant_token_reads_the_results_as_the_public_does(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    round_id, _, _ = await camps(app, client, token)
    _, participant_token = await add_participant(app.state.db, round_id)
    await computed(app)

    public = await client.get(f"/api/v1/rounds/{round_id}/results")
    with_token = await client.get(f"/api/v1/rounds/{round_id}/results", headers=participant_bearer(participant_token))

    assert with_token.status_code == 200 and with_token.content == public.content
    bad = await client.get(f"/api/v1/rounds/{round_id}/results", headers=bearer("not-a-token"))
    assert bad.status_code == 401


async def test_public_results_are_answered_from_the_cache_with_an_etag(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    round_id, _, _ = await camps(app, client, token)
    await computed(app)
    path = f"/api/v1/rounds/{round_id}/results"

    first = await client.get(path)
    again = await client.get(path, headers={"if-none-match": first.headers["etag"]})

    assert first.headers["cache-control"].startswith("public")
    assert again.status_code == 304


async def test_a_statement_hidden_since_the_computation_is_left_out_of_every_list(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    round_id, statement_ids, _ = await camps(app, client, token)
    await computed(app)
    hidden = statement_ids[0]  # the camps split on it: representative of both groups, and divisive
    before = (await client.get(f"/api/v1/rounds/{round_id}/results")).json()
    assert hidden in before["divisive"]

    await execute(app.state.db, "UPDATE round_statements SET status = 'hidden' WHERE id = :id", {"id": hidden})
    app.state.public_cache.clear()
    after = await client.get(f"/api/v1/rounds/{round_id}/results")
    page = await client.get(f"/r/{round_id}/results")

    assert hidden.encode() not in after.content
    assert len(after.json()["statements"]) == len(statement_ids) - 1
    assert "Opting out takes one click." not in page.text
    csv_text = (await client.get(f"/api/v1/rounds/{round_id}/results.csv", headers=bearer(token))).text
    assert hidden not in csv_text and "Opting out takes one click." not in csv_text


async def test_as_of_is_the_computation_rounded_down_to_the_petitions_floor(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token, timeline_floor="hour", time_zone="Asia/Kolkata")
    round_id, _, _ = await camps(app, client, token, slug=slug)
    computed_at = 1_800_000_000 + 1234  # 2027-01-15 08:00:00 UTC + 20 min 34 s
    await results_job.run_once(app.state.db, app.state.settings, InProcessWorker(), at=computed_at)
    app.state.public_cache.clear()

    results = (await client.get(f"/api/v1/rounds/{round_id}/results")).json()

    # 08:20:34 UTC rounded down to its hour (hours are UTC's, as the timeline's), shown in Kolkata (+05:30).
    assert results["as_of"] == "2027-01-15T13:30:00+05:30"
    page = await client.get(f"/r/{round_id}/results")
    assert "15 January 2027, 13:30 Asia/Kolkata time" in page.text


async def test_the_csv_holds_each_statements_counts_and_each_groups_summary_and_no_vote(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    round_id, statement_ids, keys = await camps(app, client, token)
    await computed(app)

    answer = await client.get(f"/api/v1/rounds/{round_id}/results.csv", headers=bearer(token))

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["cache-control"] == "no-store"
    assert "attachment" in answer.headers["content-disposition"]
    statements_part, groups_part = answer.text.split("\r\n\r\n")
    statement_rows = list(csv.reader(io.StringIO(statements_part)))
    assert statement_rows[0] == ["statement", "text", "agree", "disagree", "pass", "agreement"]
    by_id = {row[0]: row for row in statement_rows[1:]}
    assert set(by_id) == set(statement_ids)
    assert by_id[statement_ids[0]][1:6] == ["Opting out takes one click.", "6", "5", "0", "0.5455"]
    group_rows = list(csv.reader(io.StringIO(groups_part)))
    assert group_rows[0] == ["group", "size", "representative statement", "text", "direction"]
    assert {(row[0], row[1]) for row in group_rows[1:]} == {("A", "6"), ("B", "5")}
    assert all(row[4] in ("agree", "disagree") and row[2] in statement_ids for row in group_rows[1:])
    assert not [key for key in keys if key in answer.text], "no participant"
    assert len(answer.text.splitlines()) == 1 + len(statement_ids) + 1 + len(group_rows)


async def test_the_csv_is_for_the_petitions_organizers_only(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    round_id, _, _ = await camps(app, client, token)
    await computed(app)
    bob_token, bob_pages = await other_organizer(app)
    await bob_pages.aclose()

    assert (await client.get(f"/api/v1/rounds/{round_id}/results.csv")).status_code == 401
    assert (await client.get(f"/api/v1/rounds/{round_id}/results.csv", headers=bearer(bob_token))).status_code == 404


async def test_the_results_page_shows_consensus_groups_divisive_statements_table_and_map(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    round_id, _, _ = await camps(app, client, token)
    await computed(app)

    page = await client.get(f"/r/{round_id}/results")

    assert page.status_code == 200
    text = page.text
    assert "<strong>11</strong> participants" in text and " as of " in text
    assert "Most agree: <bdi>Opting out is explained.</bdi>" in text
    assert "Group A (6 people)" in text and "Group B (5 people)" in text
    assert "Group A agrees with:" in text and "Group B disagrees with:" in text
    assert "Where the groups differ most" in text
    assert '<td class="num">55%</td>' in text, "6 of 11 agreed with the first statement"
    assert 'role="img"' in text and "11 participants in 2 opinion groups: Group A, 6 people; Group B, 5 people" in text
    assert "style=" not in text and "<script" not in text


async def test_the_organizers_page_downloads_the_results_csv_and_nobody_else_does(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    round_id, _, _ = await camps(app, client, token)
    await computed(app)
    path = f"/organize/rounds/{round_id}/results.csv"
    assert (await client.get(path)).status_code == 303, "logged out: to the login page"
    _, bob = await other_organizer(app)
    assert (await bob.get(path)).status_code == 404
    await bob.aclose()
    assert (await log_in(client, "alice@example.org", ORGANIZER_PASSWORD)).status_code == 303
    answer = await client.get(path)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["cache-control"] == "no-store"
    api = await client.get(f"/api/v1/rounds/{round_id}/results.csv", headers=bearer(token))
    assert answer.content == api.content
    manage = await client.get(f"/organize/rounds/{round_id}")
    assert f'href="{path}"' in manage.text


async def test_the_results_page_brings_the_maps_stylesheet_and_other_pages_do_not(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    round_id, _, _ = await camps(app, client, token)
    await computed(app)
    page = (await client.get(f"/r/{round_id}/results")).text
    href = re.search(r'href="(/static/results.css\?v=[^"]+)"', page)
    assert href, "the results page links its stylesheet, versioned"
    sheet = await client.get(href.group(1))
    assert sheet.status_code == 200 and ".group-a" in sheet.text and "immutable" in sheet.headers["cache-control"]
    assert "results.css" not in (await client.get("/")).text

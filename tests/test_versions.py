"""The versions of a petition's text: every text it had while open, newest first, each dated to the
floor, as a page (with what each edit changed, word by word) and as JSON; drafts and unknown petitions 404."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx
import pytest
from starlette.applications import Starlette

from petition.database import Database, Transaction
from petition.versions import word_diff

from .test_petitions import PETITION, bearer, create, published
from .test_signing import petition_id

pytestmark = pytest.mark.usefixtures("organizer")
DAY = 86400


def iso(moment: int) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat().replace("+00:00", "Z")


async def edit(client: httpx.AsyncClient, token: str, slug: str, **fields: object) -> None:
    answer = await client.patch(f"/api/v1/petitions/{slug}", json=fields, headers=bearer(token))
    assert answer.status_code == 200, answer.text


async def set_times(app: Starlette, slug: str, opened: int, replaced: list[int]) -> None:
    """Date the opening and each replacement (oldest first) as if they happened then."""
    db: Database = app.state.db
    pid = await petition_id(db, slug)

    async def unit(tx: Transaction) -> None:
        await tx.execute("UPDATE petitions SET opened_at = :o WHERE id = :id", {"o": opened, "id": pid})
        for number, moment in enumerate(replaced, start=1):
            await tx.execute(
                "UPDATE petition_versions SET replaced_at = :r WHERE petition_id = :id AND number = :n",
                {"r": moment, "id": pid, "n": number},
            )
        await tx.execute("UPDATE petitions SET text_changed_at = :t WHERE id = :id", {"t": replaced[-1], "id": pid})
        await tx.execute("UPDATE cache_version SET version = version + 1")

    await db.write(unit)
    app.state.public_cache.clear()


async def test_every_text_is_listed_newest_first_each_dated_to_the_floor(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await published(client, token)
    await edit(client, token, slug, summary="Our data should stay with us.")
    await edit(client, token, slug, title="Stop the tracking program now", goal=500)
    base = datetime(2026, 3, 2, tzinfo=UTC).timestamp()
    opened, first, second = int(base) + 9 * 3600 + 17, int(base) + DAY + 13 * 3600 + 5, int(base) + 3 * DAY + 61
    await set_times(app, slug, opened, [first, second])
    answer = await client.get(f"/api/v1/petitions/{slug}/versions")
    assert answer.status_code == 200 and answer.headers["access-control-allow-origin"] == "*"
    data = answer.json()
    assert (data["floor"], data["time_zone"]) == ("day", "UTC")
    listed = data["versions"]
    assert [(v["number"], v["current"]) for v in listed] == [(3, True), (2, False), (1, False)]
    assert [v["title"] for v in listed] == ["Stop the tracking program now", PETITION["title"], PETITION["title"]]
    assert [v["summary"] for v in listed] == ["Our data should stay with us."] * 2 + [PETITION["summary"]]
    assert all(v["body"] == PETITION["body"] and v["target"] == PETITION["target"] for v in listed)
    day = int(base)
    assert [(v["in_force_from"], v["replaced_at"]) for v in listed] == [
        (iso(day + 3 * DAY), None),
        (iso(day + DAY), iso(day + 3 * DAY)),
        (iso(day), iso(day + DAY)),
    ], "each text from when it took effect to when it was replaced, never finer than the day"
    assert set(listed[0]) == {"number", "current", "title", "summary", "body", "target", "in_force_from", "replaced_at"}


async def test_an_hourly_petitions_versions_are_dated_to_the_hour(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await published(client, token, timeline_floor="hour")
    await edit(client, token, slug, target="The board of directors")
    base = int(datetime(2026, 3, 2, tzinfo=UTC).timestamp())
    await set_times(app, slug, base + 9 * 3600 + 17, [base + 13 * 3600 + 59 * 60])
    listed = (await client.get(f"/api/v1/petitions/{slug}/versions")).json()["versions"]
    assert [v["replaced_at"] for v in listed] == [None, iso(base + 13 * 3600)]
    assert listed[1]["in_force_from"] == iso(base + 9 * 3600)


async def test_the_page_shows_each_text_and_what_each_edit_took_out_and_put_in(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await published(client, token)
    await edit(client, token, slug, summary="Our data should stay with us <b>all</b>.")
    page = await client.get(f"/p/{slug}/versions")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "Version 2: the current text" in html and "Version 1" in html and "The text as it was published." in html
    assert '<del><span class="visually-hidden" lang="en" dir="ltr">taken out: </span>ours.</del>' in html
    assert (
        '<ins><span class="visually-hidden" lang="en" dir="ltr">put in: </span>with us &lt;b&gt;all&lt;/b&gt;.' in html
    )
    assert "<b>all</b>" not in html, "the organizers' words are text, never markup"
    assert "style=" not in html and "<script" not in html
    assert len(re.findall(r"<h2 id=\"version-\d\">", html)) == 2
    petition_page = (await client.get(f"/p/{slug}")).text
    assert petition_page.count(f'href="/p/{slug}/versions"') == 2, "from the note and from the timeline's event"


async def test_a_petition_never_edited_has_one_version_as_published(client: httpx.AsyncClient, token: str) -> None:
    slug = await published(client, token)
    listed = (await client.get(f"/api/v1/petitions/{slug}/versions")).json()["versions"]
    assert [(v["number"], v["current"], v["replaced_at"]) for v in listed] == [(1, True, None)]
    assert "The text as it was published." in (await client.get(f"/p/{slug}/versions")).text
    assert f'href="/p/{slug}/versions"' not in (await client.get(f"/p/{slug}")).text


async def test_drafts_and_unknown_petitions_have_no_versions(client: httpx.AsyncClient, token: str) -> None:
    draft = (await create(client, token, slug="a-secret-draft")).json()
    await edit(client, token, draft["id"], title="Still a draft")
    for key in (draft["id"], "a-secret-draft", "no-such-petition"):
        answer = await client.get(f"/api/v1/petitions/{key}/versions", headers=bearer(token))
        assert answer.status_code == 404 and answer.json()["error"]["code"] == "not_found", key
        page = await client.get(f"/p/{key}/versions")
        assert page.status_code == 404 and "Still a draft" not in page.text, key


async def test_a_closed_petitions_versions_stay_public(client: httpx.AsyncClient, token: str) -> None:
    slug = await published(client, token)
    await edit(client, token, slug, body="A new body.")
    assert (await client.post(f"/api/v1/petitions/{slug}/close", headers=bearer(token))).status_code == 200
    listed = (await client.get(f"/api/v1/petitions/{slug}/versions")).json()["versions"]
    assert [v["body"] for v in listed] == ["A new body.", PETITION["body"]]


def test_a_word_diff_keeps_the_spaces_and_line_breaks_and_marks_only_what_changed() -> None:
    assert word_diff("One two\nthree.", "One 2\nthree four.") == [
        ("same", "One "),
        ("removed", "two"),
        ("added", "2"),
        ("same", "\n"),
        ("removed", "three."),
        ("added", "three four."),
    ]
    assert word_diff("Same.", "Same.") == [("same", "Same.")]

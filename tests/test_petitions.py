"""Petitions: drafts, publishing, closing, editing rules, the public pages and the JSON API."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape

import httpx
import pytest
from starlette.applications import Starlette

from petition import accounts, petitions, queries
from petition.app import make_routes
from petition.csrf import FORM_FIELD
from petition.database import Database

from .conftest import ORGANIZER_PASSWORD
from .test_login import csrf_of, log_in

pytestmark = pytest.mark.usefixtures("organizer")
PETITION = {
    "title": "Stop the tracking program",
    "summary": "Our data should stay ours.",
    "body": "First paragraph.\n\nSecond, see https://example.org/report.",
    "target": "The board",
    "goal": 100,
    "allowed_domains": ["Example.org"],
}


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def create(client: httpx.AsyncClient, token: str, **changes: object) -> httpx.Response:
    return await client.post("/api/v1/petitions", json={**PETITION, **changes}, headers=bearer(token))


async def published(client: httpx.AsyncClient, token: str, **changes: object) -> str:
    draft = (await create(client, token, **changes)).json()
    slug = draft["slug"]
    assert (await client.post(f"/api/v1/petitions/{draft['id']}/publish", headers=bearer(token))).status_code == 200
    return slug


async def other_organizer_token(app: Starlette) -> str:
    await accounts.create_organizer(app.state.db, email="bob@example.org", password=ORGANIZER_PASSWORD, admin=False)
    value = await accounts.create_token_for(app.state.db, email="bob@example.org", name="bob")
    assert value
    return value


async def test_a_petition_is_created_as_a_draft_only_its_organizers_see(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    response = await create(client, token)
    assert response.status_code == 201
    body = response.json()
    assert body["state"] == "draft" and body["slug"] == "stop-the-tracking-program"
    assert body["allowed_domains"] == ["example.org"] and body["verification"] == ["email"]
    assert body["timeline_floor"] == "day" and body["retention_days"] == 30
    draft = body["id"]
    assert body["url"].endswith(f"/p/{draft}"), "a draft is addressed by its id"
    for key in (draft, "stop-the-tracking-program"):
        assert (await client.get(f"/api/v1/petitions/{key}")).status_code == 404
        assert (await client.get(f"/p/{key}")).status_code == 404
    own = await client.get(f"/api/v1/petitions/{draft}", headers=bearer(token))
    assert own.status_code == 200 and own.json()["state"] == "draft"
    by_slug = await client.get("/api/v1/petitions/stop-the-tracking-program", headers=bearer(token))
    assert by_slug.status_code == 404, "a draft's slug addresses nothing, not even for its organizer"
    bob = await other_organizer_token(app)
    assert (await client.get(f"/api/v1/petitions/{draft}", headers=bearer(bob))).status_code == 404
    mine = await client.get("/api/v1/me/petitions", headers=bearer(token))
    assert [p["id"] for p in mine.json()["petitions"]] == [draft]


async def test_slugs_are_derived_numbered_and_have_a_fallback(client: httpx.AsyncClient, token: str) -> None:
    assert (await create(client, token)).json()["slug"] == "stop-the-tracking-program"
    assert (await create(client, token)).json()["slug"] == "stop-the-tracking-program-2"
    symbols = (await create(client, token, title="!!! ★ ?")).json()["slug"]
    assert re.fullmatch(r"petition-[0-9a-f]{8}", symbols), "a title with no letters gets a random slug"
    assert (await create(client, token, title="Café über alles")).json()["slug"] == "cafe-uber-alles"
    same = await create(client, token, slug="stop-the-tracking-program")
    assert same.status_code == 201, "a slug is reserved only when published"


@pytest.mark.parametrize(
    "changes",
    [
        {"slug": "Bad Slug!"},
        {"slug": "ab"},
        {"title": "x" * 121},
        {"summary": "two\nlines"},
        {"body": "x" * 20_001},
        {"goal": 0},
        {"goal": -5},
        {"goal": "100"},
        {"closes_at": "2020-01-01T00:00:00Z"},
        {"closes_at": "2099-01-01T00:00:00"},
        {"allowed_domains": ["not a domain"]},
        {"verification": []},
        {"verification": ["sms"]},
        {"timeline_floor": "minute"},
        {"colour": "red"},
    ],
)
async def test_bad_fields_are_refused_with_422_and_nothing_is_created(
    app: Starlette, client: httpx.AsyncClient, token: str, changes: dict[str, object]
) -> None:
    response = await create(client, token, **changes)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_failed"
    assert await app.state.db.fetch_val("SELECT COUNT(*) AS n FROM petitions") == 0


async def test_malformed_json_no_token_and_wrong_type_are_refused(client: httpx.AsyncClient, token: str) -> None:
    malformed = await client.post(
        "/api/v1/petitions", content=b"{", headers={**bearer(token), "content-type": "application/json"}
    )
    assert malformed.status_code == 400
    assert (await client.post("/api/v1/petitions", json=PETITION)).status_code == 401
    text = await client.post(
        "/api/v1/petitions", content=b"title=x", headers={**bearer(token), "content-type": "text/plain"}
    )
    assert text.status_code == 415


async def test_publishing_needs_allowed_domains_for_email_verification(client: httpx.AsyncClient, token: str) -> None:
    draft = (await create(client, token, allowed_domains=[])).json()["id"]
    refused = await client.post(f"/api/v1/petitions/{draft}/publish", headers=bearer(token))
    assert refused.status_code == 409
    code_only = (await create(client, token, allowed_domains=[], verification=["code"])).json()["id"]
    assert (await client.post(f"/api/v1/petitions/{code_only}/publish", headers=bearer(token))).status_code == 200


async def test_publish_and_close_stamp_their_times_and_refuse_the_wrong_state(
    client: httpx.AsyncClient, token: str
) -> None:
    slug = await published(client, token)
    view = (await client.get(f"/api/v1/petitions/{slug}")).json()
    today = datetime.now(UTC).strftime("%Y-%m-%dT00:00:00Z")
    assert view["state"] == "open" and view["opened_at"] == today, "times shown to the floor (day)"
    assert (await client.post(f"/api/v1/petitions/{slug}/publish", headers=bearer(token))).status_code == 409
    closed = await client.post(f"/api/v1/petitions/{slug}/close", headers=bearer(token))
    assert closed.status_code == 200 and closed.json()["closed_at"] == today
    assert (await client.post(f"/api/v1/petitions/{slug}/publish", headers=bearer(token))).status_code == 409
    assert (await client.post(f"/api/v1/petitions/{slug}/close", headers=bearer(token))).status_code == 409
    edit = await client.patch(f"/api/v1/petitions/{slug}", json={"goal": 5}, headers=bearer(token))
    assert edit.status_code == 409


async def test_after_publishing_verification_is_frozen_and_text_edits_keep_the_old_version(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await published(client, token)
    for frozen in ({"verification": ["code"]}, {"allowed_domains": ["other.org"]}, {"timeline_floor": "hour"}):
        response = await client.patch(f"/api/v1/petitions/{slug}", json=frozen, headers=bearer(token))
        assert response.status_code == 409
    goal = await client.patch(f"/api/v1/petitions/{slug}", json={"goal": 500}, headers=bearer(token))
    assert goal.status_code == 200 and goal.json()["text_changed_at"] is None
    text = await client.patch(f"/api/v1/petitions/{slug}", json={"title": "A better title"}, headers=bearer(token))
    assert text.json()["title"] == "A better title" and text.json()["text_changed_at"].endswith("T00:00:00Z")
    db: Database = app.state.db
    versions = await db.fetch_all("SELECT number, title FROM petition_versions")
    assert versions == [{"number": 1, "title": PETITION["title"]}]
    page = await client.get(f"/p/{slug}")
    assert "The text of this petition was changed on" in page.text


async def test_another_organizers_petition_is_404_and_unchanged(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = (await create(client, token)).json()["id"]
    bob = await other_organizer_token(app)
    for method, path in (("PATCH", ""), ("POST", "/publish"), ("POST", "/close")):
        response = await client.request(
            method, f"/api/v1/petitions/{slug}{path}", json={"goal": 1}, headers=bearer(bob)
        )
        assert response.status_code == 404
    assert (await client.get(f"/api/v1/petitions/{slug}", headers=bearer(token))).json()["goal"] == 100


async def test_a_petition_closes_by_itself_at_its_deadline(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    deadline = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    slug = await published(client, token, closes_at=deadline)
    db: Database = app.state.db
    await db.write(lambda tx: tx.execute("UPDATE petitions SET closes_at = closes_at - 3 * 86400"))
    assert await petitions.close_due(db) == 1
    view = (await client.get(f"/api/v1/petitions/{slug}")).json()
    assert view["state"] == "closed"


async def test_the_public_list_pages_with_a_cursor_and_allows_any_origin(client: httpx.AsyncClient, token: str) -> None:
    slugs = [await published(client, token, title=f"Petition number {i}") for i in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        query = {"limit": "2"} | ({"cursor": cursor} if cursor else {})
        response = await client.get("/api/v1/petitions", params=query)
        assert response.headers["access-control-allow-origin"] == "*"
        page = response.json()
        seen += [p["slug"] for p in page["petitions"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(slugs) and len(seen) == 5
    assert (await client.get("/api/v1/petitions", params={"cursor": "garbage"})).status_code == 422
    assert (await client.get("/api/v1/petitions", params={"limit": "0"})).status_code == 422


async def test_the_petition_page_shows_everything_and_markup_as_text(client: httpx.AsyncClient, token: str) -> None:
    slug = await published(client, token, title="No <script>alert(1)</script> here", body="Hello <b>there</b>")
    page = await client.get(f"/p/{slug}")
    assert page.status_code == 200
    html = page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>" not in html
    assert "&lt;b&gt;there&lt;/b&gt;" in html
    assert 'To: <bdi lang="en" dir="ltr">The board</bdi>' in html and "Our data should stay ours." in html
    assert '<progress max="100" value="0">' in html
    assert "Open for signatures" in html
    home = await client.get("/")
    assert f'href="/p/{slug}"' in home.text


async def test_body_paragraphs_and_links(client: httpx.AsyncClient, token: str) -> None:
    slug = await published(client, token)
    html = (await client.get(f"/p/{slug}")).text
    assert '<p dir="auto">First paragraph.</p>' in html
    assert '<a href="https://example.org/report" rel="nofollow noopener">https://example.org/report</a>.' in html


async def test_an_organizer_creates_edits_and_publishes_from_the_browser(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    await log_in(client, "alice@example.org")
    csrf = await csrf_of(client, "/organize/petitions/new")
    form = {
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
        "retention_days": "30",
    }
    bad = await client.post("/organize/petitions", data={**form, "goal": "0", "title": ""})
    assert bad.status_code == 422
    assert re.search(r'id="goal-error">[^<]+', bad.text) and re.search(r'id="title-error">[^<]+', bad.text)
    created = await client.post("/organize/petitions", data=form)
    draft_id = await app.state.db.fetch_val("SELECT id FROM petitions")
    assert created.status_code == 303
    assert created.headers["location"] == f"/organize/petitions/{draft_id}?done=draft-saved"
    dashboard = await client.get("/organize")
    assert "Fair shifts" in dashboard.text and "draft" in dashboard.text
    assert f'href="/organize/petitions/{draft_id}"' in dashboard.text, "drafts are linked by id"
    edited = await client.post(
        f"/organize/petitions/{draft_id}/edit", data={**form, "goal": "75", "slug": "fair-rotas"}
    )
    assert edited.status_code == 303
    assert (await client.get("/organize/petitions/fair-shifts/publish")).status_code == 404, "not by its slug yet"
    confirm = await client.get(f"/organize/petitions/{draft_id}/publish")
    assert "Yes, publish it" in confirm.text, "publishing asks first"
    done = await client.post(f"/organize/petitions/{draft_id}/publish", data={FORM_FIELD: csrf})
    assert done.status_code == 303 and done.headers["location"] == f"/organize/petitions/{draft_id}?done=published"
    assert "open for signatures" in (await client.get(done.headers["location"])).text
    view = (await client.get("/api/v1/petitions/fair-rotas")).json()
    assert view["state"] == "open" and view["goal"] == 75, "a draft's slug is edited on its form"


async def test_co_organizers_can_be_added_and_removed(app: Starlette, client: httpx.AsyncClient, token: str) -> None:
    slug = (await create(client, token)).json()["id"]
    bob = await other_organizer_token(app)
    await log_in(client, "alice@example.org")
    csrf = await csrf_of(client, f"/organize/petitions/{slug}")
    added = await client.post(
        f"/organize/petitions/{slug}/organizers", data={FORM_FIELD: csrf, "email": "bob@example.org"}
    )
    assert added.status_code == 303 and added.headers["location"].endswith("/organizers?done=organizer-added")
    assert "bob@example.org" in (await client.get(added.headers["location"])).text
    assert (await client.get(f"/api/v1/petitions/{slug}", headers=bearer(bob))).status_code == 200
    unknown = await client.post(
        f"/organize/petitions/{slug}/organizers", data={FORM_FIELD: csrf, "email": "x@example.org"}
    )
    assert unknown.status_code == 422 and 'aria-describedby="email-error"' in unknown.text
    rows = await app.state.db.fetch_all("SELECT id FROM organizers WHERE email = 'bob@example.org'")
    removed = await client.post(
        f"/organize/petitions/{slug}/organizers/{rows[0]['id']}/remove", data={FORM_FIELD: csrf}
    )
    assert "no longer organize this petition" in (await client.get(removed.headers["location"])).text
    assert (await client.get(f"/api/v1/petitions/{slug}", headers=bearer(bob))).status_code == 404


async def test_organizer_pages_of_another_organizers_petition_are_404(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = (await create(client, token)).json()["id"]
    await accounts.create_organizer(app.state.db, email="carol@example.org", password=ORGANIZER_PASSWORD, admin=False)
    await log_in(client, "carol@example.org")
    for path in (
        f"/organize/petitions/{slug}",
        f"/organize/petitions/{slug}/edit",
        f"/organize/petitions/{slug}/publish",
    ):
        assert (await client.get(path)).status_code == 404
    assert (await client.get(f"/p/{slug}")).status_code == 404, "a draft stays hidden from other organizers"


@pytest.mark.parametrize("path", ["/api/v1/petitions/{slug}", "/p/{slug}"])
async def test_public_reads_carry_an_etag_and_answer_304_until_the_petition_changes(
    client: httpx.AsyncClient, token: str, path: str
) -> None:
    slug = await published(client, token)
    url = path.format(slug=slug)
    first = await client.get(url)
    etag = first.headers["etag"]
    assert first.status_code == 200 and "max-age" in first.headers["cache-control"]
    unchanged = await client.get(url, headers={"if-none-match": etag})
    assert unchanged.status_code == 304 and unchanged.content == b""
    await client.patch(f"/api/v1/petitions/{slug}", json={"goal": 250}, headers=bearer(token))
    changed = await client.get(url, headers={"if-none-match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert "250" in changed.text


async def test_the_cache_notices_changes_made_by_another_process(
    app: Starlette, client: httpx.AsyncClient, token: str, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from petition import cache

    monkeypatch.setattr(cache, "CHECK_EVERY_SECONDS", 0.0)
    slug = await published(client, token)
    assert (await client.get(f"/api/v1/petitions/{slug}")).json()["goal"] == 100
    other = Database(db_url)  # another app process's connection
    await other.connect()
    try:
        await other.write(lambda tx: tx.execute("UPDATE petitions SET goal = 321"))
        assert (await client.get(f"/api/v1/petitions/{slug}")).json()["goal"] == 100, "no version change, no reload"
        await other.write(lambda tx: tx.execute("UPDATE cache_version SET version = version + 1"))
        assert (await client.get(f"/api/v1/petitions/{slug}")).json()["goal"] == 321
    finally:
        await other.disconnect()


async def test_a_change_with_nulls_is_refused_except_for_the_deadline(client: httpx.AsyncClient, token: str) -> None:
    draft = (await create(client, token)).json()["id"]
    url = f"/api/v1/petitions/{draft}"
    refused = await client.patch(url, json={"show_names": None, "title": None}, headers=bearer(token))
    assert refused.status_code == 422 and "cannot be null" in refused.json()["error"]["message"]
    cleared = await client.patch(url, json={"closes_at": None}, headers=bearer(token))
    assert cleared.status_code == 200 and cleared.json()["closes_at"] is None


# Where a petition's slug stands in a path: a literal segment there would shadow a petition.
SLUG_PLACES = ("/p/", "/organize/petitions/", "/api/v1/petitions/")


def route_words_in_a_slugs_place() -> set[str]:
    words = set()
    for route in make_routes():
        path = getattr(route, "path", "")
        for place in SLUG_PLACES:
            if path.startswith(place):
                segment = path.removeprefix(place).split("/")[0]
                if segment and "{" not in segment:
                    words.add(segment)
    return words


def test_every_route_word_where_a_slug_stands_is_reserved() -> None:
    assert "new" in route_words_in_a_slugs_place()
    assert route_words_in_a_slugs_place() <= petitions.RESERVED_SLUGS


@pytest.mark.parametrize("slug", sorted(petitions.RESERVED_SLUGS | {"0123456789abcdef01234567"}))
async def test_a_slug_equal_to_a_route_word_or_an_id_is_refused(
    app: Starlette, client: httpx.AsyncClient, token: str, slug: str
) -> None:
    response = await create(client, token, slug=slug)
    assert response.status_code == 422
    assert "slug" in response.json()["error"]["message"] or response.json()["error"]["fields"][0]["field"] == "slug"
    assert await app.state.db.fetch_val("SELECT COUNT(*) AS n FROM petitions") == 0
    await log_in(client, "alice@example.org")
    csrf = await csrf_of(client, "/organize/petitions/new")
    form = {FORM_FIELD: csrf, "slug": slug, "title": "T", "summary": "S", "target": "B", "goal": "5"}
    page = await client.post("/organize/petitions", data=form)
    assert page.status_code == 422 and "choose another" in page.text


@pytest.mark.parametrize("title", ["New", "new!", "0123456789abcdef01234567"])
def test_slugify_never_makes_a_reserved_word_or_an_id(title: str) -> None:
    slug = petitions.slugify(title)
    assert petitions.slug_problem(slug) is None and slug.endswith("-petition")


async def test_another_organizers_draft_slug_is_not_taken_so_drafts_cannot_be_discovered(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    bob = await other_organizer_token(app)
    secret = await create(client, bob, slug="secret-plan")
    assert secret.status_code == 201
    mine = await create(client, token, slug="secret-plan")
    assert mine.status_code == 201 and mine.json()["slug"] == "secret-plan", "no 409 tells of bob's draft"
    derived = await create(client, token, title="Secret plan")
    assert derived.json()["slug"] == "secret-plan-2", "numbered against my own draft only"
    bobs_derived = await create(client, bob, title="Stop the tracking program")
    assert bobs_derived.json()["slug"] == "stop-the-tracking-program"


async def test_publishing_with_a_slug_a_published_petition_has_is_409_until_the_slug_changes(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    bob = await other_organizer_token(app)
    bobs = (await create(client, bob, slug="fair-pay")).json()["id"]
    mine = (await create(client, token, slug="fair-pay")).json()["id"]
    assert (await client.post(f"/api/v1/petitions/{bobs}/publish", headers=bearer(bob))).status_code == 200
    refused = await client.post(f"/api/v1/petitions/{mine}/publish", headers=bearer(token))
    assert refused.status_code == 409 and "change the petition's slug" in refused.json()["error"]["message"]
    renamed = await client.patch(f"/api/v1/petitions/{mine}", json={"slug": "fair-pay-now"}, headers=bearer(token))
    assert renamed.status_code == 200 and renamed.json()["slug"] == "fair-pay-now"
    assert (await client.post(f"/api/v1/petitions/{mine}/publish", headers=bearer(token))).status_code == 200
    assert (await client.get("/api/v1/petitions/fair-pay-now")).json()["id"] == mine
    assert (await client.get("/api/v1/petitions/fair-pay")).json()["id"] == bobs


async def test_the_audit_trail_names_a_draft_by_its_id_never_its_slug(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    await other_organizer_token(app)
    await accounts.create_organizer(app.state.db, email="carol@example.org", password=ORGANIZER_PASSWORD, admin=False)
    bobs_token = await accounts.create_token_for(app.state.db, email="bob@example.org", name="bob")
    assert bobs_token
    draft = (await create(client, bobs_token, slug="night-shift-union")).json()
    await log_in(client, "bob@example.org")
    page = f"/organize/petitions/{draft['id']}"
    added = await client.post(
        f"{page}/organizers", data={FORM_FIELD: await csrf_of(client, page), "email": "carol@example.org"}
    )
    assert added.status_code in (200, 303)
    await client.post("/logout", data={FORM_FIELD: await csrf_of(client, "/organize")})
    await log_in(client, "alice@example.org")
    admin = (await client.get("/organize/admin")).text
    assert "co-organizer added" in admin and draft["id"] in admin
    assert "night-shift-union" not in admin, "an administrator who is not its organizer learns of no draft's slug"


async def test_two_drafts_published_with_one_slug_at_once_give_the_second_a_409_not_a_crash(
    app: Starlette, client: httpx.AsyncClient, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    bob = await other_organizer_token(app)
    bobs = (await create(client, bob, slug="fair-pay")).json()["id"]
    mine = (await create(client, token, slug="fair-pay")).json()["id"]
    assert (await client.post(f"/api/v1/petitions/{bobs}/publish", headers=bearer(bob))).status_code == 200
    # As when another process publishes between this one's check and its update: the check
    # sees nothing, and only the unique index stands in the way.
    monkeypatch.setattr(queries, "SELECT_PUBLISHED_SLUG_TAKEN", "SELECT 1 WHERE :slug = '' AND :id = ''")
    refused = await client.post(f"/api/v1/petitions/{mine}/publish", headers=bearer(token))
    assert refused.status_code == 409 and "change the petition's slug" in refused.json()["error"]["message"]
    assert (await client.get(f"/api/v1/petitions/{mine}", headers=bearer(token))).json()["state"] == "draft"


async def test_a_published_slug_never_changes_and_the_id_still_addresses_it(
    client: httpx.AsyncClient, token: str
) -> None:
    slug = await published(client, token, allowed_domains=["example.org"])
    petition_id = (await client.get(f"/api/v1/petitions/{slug}")).json()["id"]
    refused = await client.patch(f"/api/v1/petitions/{slug}", json={"slug": "another-one"}, headers=bearer(token))
    assert refused.status_code == 409 and "slug" in refused.json()["error"]["message"]
    by_id = await client.patch(f"/api/v1/petitions/{petition_id}", json={"goal": 7}, headers=bearer(token))
    assert by_id.status_code == 200 and by_id.json()["slug"] == slug and by_id.json()["goal"] == 7
    assert (await client.get(f"/p/{petition_id}")).status_code == 200


async def test_a_drafts_slug_addresses_it_on_no_route_even_for_its_organizer(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    draft = (await create(client, token, slug="hidden-draft", verification=["email", "code"])).json()
    api = "/api/v1/petitions/"
    tried = [
        ("GET", f"{api}{{}}", None),
        ("PATCH", f"{api}{{}}", {"goal": 5}),
        ("POST", f"{api}{{}}/publish", None),
        ("POST", f"{api}{{}}/codes", {"count": 1}),
        ("GET", f"{api}{{}}/codes", None),
        ("POST", f"{api}{{}}/flyers", {"layout": "poster", "paper_size": "a4"}),
        ("GET", f"{api}{{}}/flyers", None),
        ("GET", f"{api}{{}}/timeline", None),
        ("GET", "/p/{}", None),
    ]
    for method, path, body in tried:
        by_slug = await client.request(method, path.format("hidden-draft"), json=body, headers=bearer(token))
        assert by_slug.status_code == 404, f"{method} {path}"
    await log_in(client, "alice@example.org")
    for page in ("/organize/petitions/{}", "/organize/petitions/{}/edit", "/organize/petitions/{}/publish"):
        assert (await client.get(page.format("hidden-draft"))).status_code == 404, page
        assert (await client.get(page.format(draft["id"]))).status_code == 200, page
    assert (await client.get(f"/p/{draft['id']}")).status_code == 200, "the organizer previews it by id"


async def test_only_published_petitions_share_no_slug_in_the_database(app: Starlette) -> None:
    db: Database = app.state.db
    organizer_id = await db.fetch_val("SELECT id FROM organizers")
    insert = (
        "INSERT INTO petitions (id, slug, state, title, summary, body, target, goal, allowed_domains, verification,"
        " show_names, reasons_enabled, timeline_floor, retention_days, created_by, created_at)"
        " VALUES (:id, 'same', :state, 't', 's', '', 'b', 1, '[]', '[]', 0, 0, 'day', 30, :by, 0)"
    )
    for petition_id, state in (("a", "draft"), ("b", "draft"), ("c", "open")):
        await db.write(lambda tx, i=petition_id, s=state: tx.execute(insert, {"id": i, "state": s, "by": organizer_id}))
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        await db.write(lambda tx: tx.execute(insert, {"id": "d", "state": "closed", "by": organizer_id}))


async def test_a_web_address_beside_a_quote_or_markup_is_linked_and_the_text_reads_as_written(
    client: httpx.AsyncClient, token: str
) -> None:
    body = 'See https://example.org/a" onmouseover="x and https://example.org/b\'<b>&amp; here.'
    slug = await published(client, token, body=body)
    html = (await client.get(f"/p/{slug}")).text
    shown = re.search(r'<div class="body"[^>]*>(.*?)</div>', html, re.DOTALL).group(1)  # type: ignore[union-attr]
    assert unescape(re.sub(r"<[^>]+>", "", shown)) == body
    assert re.findall(r'<a href="([^"]*)"', shown) == ["https://example.org/a", "https://example.org/b"]


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"title": "x" * 121}, "title", "The title must be 120 characters or fewer."),
        ({"title": "Fix it\uffff"}, "title", "The title must not hold control characters or noncharacters"),
        ({"goal": "-1"}, "goal", "Enter a goal from 1 to 1,000,000,000 signatures."),
        ({"goal": "99999999999999999999999"}, "goal", "Enter a goal from 1 to 1,000,000,000 signatures."),
        ({"retention_days": "366"}, "retention_days", "Enter a number of days from 0 to 365."),
        ({"retention_days": "-1"}, "retention_days", "Enter a number of days from 0 to 365."),
        ({"closes_at": "tomorrow"}, "closes_at", "Enter the deadline as a date and a time"),
        ({"slug": "A B"}, "slug", "Enter a web address of 3 to 60 lowercase letters, digits and hyphens."),
        ({"slug": "0123456789abcdef01234567"}, "slug", "The web address must not be 24 hexadecimal digits"),
        ({"slug": "new"}, "slug", "The web address must not be &#39;new&#39;, a word the site"),
        ({"timeline_floor": "minute"}, "timeline_floor", "Choose to show times to the day or to the hour."),
    ],
)
async def test_a_refused_petition_form_says_in_plain_words_which_field_and_what_to_enter(
    app: Starlette, client: httpx.AsyncClient, organizer: str, fields: dict[str, str], field: str, message: str
) -> None:
    await log_in(client, organizer)
    csrf = await csrf_of(client, "/organize/petitions/new")
    form = {
        FORM_FIELD: csrf,
        "title": "Fix the canteen",
        "summary": "Hot food for the night shift",
        "target": "Facilities",
        "goal": "100",
        "retention_days": "30",
        "verification": "code",
        **fields,
    }
    refused = await client.post("/organize/petitions", data=form)
    assert refused.status_code == 422
    assert f'<p class="error" id="{field}-error">{message}' in refused.text
    assert "Input should" not in refused.text and "String should" not in refused.text
    assert await app.state.db.fetch_val("SELECT COUNT(*) FROM petitions") == 0


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
async def test_a_json_body_with_nan_or_infinity_is_malformed(
    client: httpx.AsyncClient, token: str, literal: str
) -> None:
    answer = await client.post(
        "/api/v1/petitions",
        content='{"title": "T", "summary": "S", "target": "X", "goal": ' + literal + "}",
        headers={**bearer(token), "content-type": "application/json"},
    )
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "malformed_json"


async def test_a_lone_surrogate_in_a_json_string_is_refused_by_the_text_rule_naming_the_field(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    answer = await client.post(
        "/api/v1/petitions",
        content='{"title": "Fix it\\ud800", "summary": "S", "target": "X", "goal": 10}',
        headers={**bearer(token), "content-type": "application/json"},
    )
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["code"] == "validation_failed"
    assert error["fields"] == [
        {"field": "title", "message": "must not hold control characters or noncharacters (it holds U+D800)"}
    ]
    assert await app.state.db.fetch_val("SELECT COUNT(*) FROM petitions") == 0
    broken = await client.post(
        "/api/v1/petitions",
        content='{"title": "Fix it\\ud800", ',
        headers={**bearer(token), "content-type": "application/json"},
    )
    assert broken.status_code == 400, "a surrogate in a body that is no JSON is still malformed"


async def test_a_json_array_as_the_body_is_refused_as_not_an_object(client: httpx.AsyncClient, token: str) -> None:
    answer = await client.post("/api/v1/petitions", json=[PETITION], headers=bearer(token))
    assert answer.status_code == 422
    assert answer.json()["error"]["message"] == "The request body must be a JSON object."

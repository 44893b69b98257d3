"""A petition's sensitive words: organizer-only, up to 200 entries of up to 80 characters, changeable
until the petition is purged (closed too), through the API and the settings form."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from petition import accounts, purge
from petition.csrf import FORM_FIELD
from petition.database import Database
from petition.settings import Settings

from .conftest import BASE_URL, ORGANIZER_PASSWORD, SmtpSink, make_settings, smtp_settings
from .test_leaks import leaks_in, route_values, seed, visit_every_route
from .test_login import csrf_of, log_in
from .test_petitions import PETITION, bearer, create
from .test_retention_period import nothing_due
from .test_signing import open_petition

pytestmark = pytest.mark.usefixtures("organizer")

CODENAME = "Projet Éclair Sentinelcodename"


async def words_of(db: Database, key: str) -> str:
    return str(await db.fetch_val("SELECT sensitive_words FROM petitions WHERE id = :key OR slug = :key", {"key": key}))


async def patch(client: httpx.AsyncClient, token: str, slug: str, **fields: object) -> httpx.Response:
    return await client.patch(f"/api/v1/petitions/{slug}", json=fields, headers=bearer(token))


async def test_organizers_set_sensitive_words_trimmed_without_blanks_or_duplicates_and_see_them_in_their_view(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    typed = ["  Projet Éclair ", "", "   ", "PROJET ECLAIR", "projet  eclair", "Tour Ouest", "東京オフィス"]
    created = await create(client, token, sensitive_words=typed)
    assert created.status_code == 201
    assert created.json()["sensitive_words"] == ["Projet Éclair", "Tour Ouest", "東京オフィス"]
    assert (await create(client, token)).json()["sensitive_words"] == [], "none unless given"
    slug = await open_petition(client, token, sensitive_words=["Tour Ouest"])
    changed = await patch(client, token, slug, sensitive_words=["Night shift", "Building 7"])
    assert changed.status_code == 200 and changed.json()["sensitive_words"] == ["Night shift", "Building 7"]
    seen = await client.get(f"/api/v1/petitions/{slug}", headers=bearer(token))
    assert seen.json()["sensitive_words"] == ["Night shift", "Building 7"]
    assert seen.headers["cache-control"] == "no-store", "no cache keeps an organizer's view"
    mine = await client.get("/api/v1/me/petitions", headers=bearer(token))
    assert mine.headers["cache-control"] == "no-store"
    assert ["Night shift", "Building 7"] in [petition["sensitive_words"] for petition in mine.json()["petitions"]]
    assert (await patch(client, token, slug, sensitive_words=[])).json()["sensitive_words"] == []


async def test_two_hundred_sensitive_words_of_eighty_characters_are_taken(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    words = [f"{number:03d} " + "x" * 76 for number in range(200)]
    created = await create(client, token, sensitive_words=words)
    assert created.status_code == 201 and created.json()["sensitive_words"] == words


@pytest.mark.parametrize(
    ("words", "message"),
    [
        ([f"team {number}" for number in range(201)], "List at most 200 sensitive words; this list has 201."),
        (["fine", "y" * 81], "Sensitive word 2 must be 80 characters or fewer; it has 81."),
        (["two\nlines"], "Sensitive word 1 must be one line, without tabs or line breaks."),
        (["bell\x07"], "Sensitive word 1 must not hold control characters or noncharacters (it holds U+0007)."),
        ("Tour Ouest", None),
        ([7], None),
        (None, None),
    ],
)
async def test_a_sensitive_words_list_over_its_limits_is_refused_with_a_message_naming_the_limit_and_changes_nothing(
    app: Starlette, client: httpx.AsyncClient, token: str, words: object, message: str | None
) -> None:
    refused = await create(client, token, sensitive_words=words)
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["fields"][0]["field"].split(".")[0] == "sensitive_words"
    if message:
        assert error["fields"][0]["message"] == message and message in error["message"]
    assert await app.state.db.fetch_val("SELECT COUNT(*) AS n FROM petitions") == 0
    slug = await open_petition(client, token, sensitive_words=["Tour Ouest"])
    changed = await patch(client, token, slug, sensitive_words=words)
    assert changed.status_code == 422 and "sensitive_words" in changed.json()["error"]["message"]
    assert await words_of(app.state.db, slug) == '["Tour Ouest"]'


async def test_a_closed_petition_takes_new_sensitive_words_with_a_shorter_retention_period_but_no_other_change(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token, sensitive_words=["Tour Ouest"], retention_days=30)
    assert (await client.post(f"/api/v1/petitions/{slug}/close", headers=bearer(token))).status_code == 200
    refused = await patch(client, token, slug, sensitive_words=["Tour Est"], title="Another title")
    assert refused.status_code == 409 and "change its sensitive words" in refused.json()["error"]["message"]
    assert await words_of(app.state.db, slug) == '["Tour Ouest"]'
    changed = await patch(client, token, slug, sensitive_words=["Tour Est"])
    assert changed.status_code == 200 and changed.json()["sensitive_words"] == ["Tour Est"]
    both = await patch(client, token, slug, sensitive_words=["Tour Nord"], retention_days=10)
    assert both.status_code == 200 and both.json()["sensitive_words"] == ["Tour Nord"]
    assert both.json()["retention_days"] == 10 and both.json()["state"] == "closed"


async def test_a_purged_petition_refuses_new_sensitive_words_with_409_and_changes_nothing(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token, sensitive_words=["Tour Ouest"])
    assert (await client.post(f"/api/v1/petitions/{slug}/close", headers=bearer(token))).status_code == 200
    assert (await client.post(f"/api/v1/petitions/{slug}/purge", headers=bearer(token))).status_code == 200
    refused = await patch(client, token, slug, sensitive_words=["Tour Est"])
    assert refused.status_code == 409
    assert "its sensitive words can no longer change" in refused.json()["error"]["message"]
    assert await words_of(app.state.db, slug) == '["Tour Ouest"]'


@pytest.fixture
def settings(tmp_path: Path, db_url: str, smtp: SmtpSink) -> Settings:
    """The leak scan's service (its seed sends mail and signs behind a proxy)."""
    proxies = (ipaddress.ip_network("10.0.0.0/8"),)
    return make_settings(tmp_path, database_url=db_url, trusted_proxies=proxies, **smtp_settings(smtp))


async def test_sensitive_words_reach_no_public_route_nor_another_petitions_organizer(
    app: Starlette, client: httpx.AsyncClient, smtp: SmtpSink, token: str
) -> None:
    seeded = await seed(app, client, smtp, token)
    assert (await patch(client, token, seeded.slug, sensitive_words=[CODENAME])).status_code == 200
    db: Database = app.state.db
    assert await accounts.create_organizer(db, email="bob@example.org", password=ORGANIZER_PASSWORD, admin=False)
    bob_token = await accounts.create_token_for(db, email="bob@example.org", name="bob")
    assert bob_token
    values = await route_values(db, seeded)
    secret = {"sensitive word": CODENAME}
    anonymous = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL)
    bob = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL)
    async with anonymous, bob:
        assert (await log_in(bob, "bob@example.org", ORGANIZER_PASSWORD)).status_code == 303
        bob.headers["authorization"] = bearer(bob_token)["authorization"]
        for who, visitor in (("anonymous", anonymous), ("another petition's organizer", bob)):
            answers = await visit_every_route(app, visitor, values)
            for key, answer in answers.items():
                assert not leaks_in(answer, secret), f"{who}: {key}"
            # The public JSON, page and feed, by name: the scan above must have read them.
            assert "GET /api/v1/petitions/{slug}" in answers and "GET /p/{slug}/feed.atom" in answers
    # Its own organizers see it, as the scan would have caught it.
    own = await client.get(f"/api/v1/petitions/{seeded.slug}", headers=bearer(token))
    assert own.json()["sensitive_words"] == [CODENAME] and leaks_in(own.content, secret)


def settings_form(page: str) -> str:
    return " ".join(page.split())


async def test_the_settings_form_takes_sensitive_words_one_per_line_and_shows_them_again(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    await log_in(client, "alice@example.org")
    new = settings_form((await client.get("/organize/petitions/new")).text)
    assert '<label for="sensitive_words">Sensitive words (optional), one per line</label>' in new
    assert (
        "Team names, project codenames, office locations: reasons that contain one are flagged for you "
        "before you approve them. Never shown to the public."
    ) in new
    csrf = await csrf_of(client, "/organize/petitions/new")
    form = {
        FORM_FIELD: csrf,
        "title": PETITION["title"],
        "summary": PETITION["summary"],
        "target": PETITION["target"],
        "body": "",
        "goal": "100",
        "language": "en",
        "time_zone": "UTC",
        "timeline_floor": "day",
        "verification": "code",
        "retention_days": "30",
        "sensitive_words": "Projet Éclair\r\n\r\n  Tour Ouest  \r\nPROJET ECLAIR\r\n",
    }
    created = await client.post("/organize/petitions", data=form)
    assert created.status_code == 303
    petition_id = created.headers["location"].split("/organize/petitions/")[1].split("?")[0]
    assert await words_of(app.state.db, petition_id) == '["Projet \\u00c9clair", "Tour Ouest"]'
    edit = f"/organize/petitions/{petition_id}/edit"
    shown = (await client.get(edit)).text
    assert ">Projet Éclair\nTour Ouest</textarea>" in shown
    changed = await client.post(edit, data={**form, "sensitive_words": "Night shift"})
    assert changed.status_code == 303 and await words_of(app.state.db, petition_id) == '["Night shift"]'


async def test_the_settings_form_refuses_a_sensitive_words_list_over_its_limits_beside_its_field(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token, sensitive_words=["Tour Ouest"])
    petition_id = (await client.get(f"/api/v1/petitions/{slug}")).json()["id"]
    assert (await client.post(f"/api/v1/petitions/{slug}/close", headers=bearer(token))).status_code == 200
    await log_in(client, "alice@example.org")
    edit = f"/organize/petitions/{petition_id}/edit"
    page = settings_form((await client.get(edit)).text)
    assert "its retention period can be shortened and its sensitive words changed" in page
    assert 'name="sensitive_words"' in page and 'name="title"' not in page
    csrf = await csrf_of(client, edit)
    too_many = "\n".join(f"Team {number}" for number in range(201))
    for typed, message in (
        (too_many, "List at most 200 sensitive words; this list has 201."),
        ("ok\n" + "z" * 81, "Sensitive word 2 must be 80 characters or fewer; it has 81."),
    ):
        refused = await client.post(edit, data={FORM_FIELD: csrf, "retention_days": "30", "sensitive_words": typed})
        assert refused.status_code == 422
        assert f'<p class="error" id="sensitive_words-error">{message}</p>' in refused.text
        assert 'aria-invalid="true" aria-describedby="sensitive_words-error"' in refused.text
        assert 'href="#sensitive_words"' in refused.text, "the error summary links to the field"
        assert "Team 200" in refused.text or "z" * 81 in refused.text, "what was typed is shown again"
        assert await words_of(app.state.db, slug) == '["Tour Ouest"]'
    saved = await client.post(edit, data={FORM_FIELD: csrf, "retention_days": "30", "sensitive_words": "Tour Est"})
    assert saved.status_code == 303 and await words_of(app.state.db, slug) == '["Tour Est"]'


async def test_a_purged_petitions_settings_form_offers_no_sensitive_words_and_refuses_them(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token, sensitive_words=["Tour Ouest"])
    petition_id = (await client.get(f"/api/v1/petitions/{slug}")).json()["id"]
    assert (await client.post(f"/api/v1/petitions/{slug}/close", headers=bearer(token))).status_code == 200
    assert (await client.post(f"/api/v1/petitions/{slug}/purge", headers=bearer(token))).status_code == 200
    await log_in(client, "alice@example.org")
    edit = f"/organize/petitions/{petition_id}/edit"
    assert 'name="sensitive_words"' not in (await client.get(edit)).text
    csrf = await csrf_of(client, "/organize/petitions/new")
    sent = await client.post(edit, data={FORM_FIELD: csrf, "retention_days": "30", "sensitive_words": "Tour Est"})
    assert sent.status_code == 409 and await words_of(app.state.db, slug) == '["Tour Ouest"]'


async def test_sensitive_words_typed_with_a_retention_period_to_confirm_are_kept_until_it_is_confirmed(
    app: Starlette, client: httpx.AsyncClient, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(purge, "purge_due", nothing_due)  # the purge job's round is not this test's
    slug = await open_petition(client, token, sensitive_words=["Tour Ouest"], retention_days=30)
    petition_id = (await client.get(f"/api/v1/petitions/{slug}")).json()["id"]
    assert (await client.post(f"/api/v1/petitions/{slug}/close", headers=bearer(token))).status_code == 200
    await log_in(client, "alice@example.org")
    edit = f"/organize/petitions/{petition_id}/edit"
    csrf = await csrf_of(client, edit)
    typed = {FORM_FIELD: csrf, "retention_days": "0", "sensitive_words": "Tour Est\nNight shift"}
    asked = await client.post(edit, data=typed)
    assert asked.status_code == 200 and "Yes, save and destroy it now" in asked.text
    assert '<input type="hidden" name="sensitive_words" value="Tour Est\nNight shift">' in asked.text
    assert await words_of(app.state.db, slug) == '["Tour Ouest"]', "nothing is saved before it is confirmed"
    confirmed = await client.post(edit, data={**typed, "confirm_retention_days": "0"})
    assert confirmed.status_code == 303
    assert await words_of(app.state.db, slug) == '["Tour Est", "Night shift"]'

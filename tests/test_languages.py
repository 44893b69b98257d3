"""A petition's language: a BCP 47 tag in its standard form, editable, that marks the petition's own
words (and only them) with `lang` and `dir` on every page that shows them, and in the feed."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from petition import languages
from petition.batcher import close_batch
from petition.settings import Settings

from .conftest import SmtpSink, make_settings, smtp_settings
from .test_email_signing import WORKER, codes_for
from .test_login import csrf_of, log_in
from .test_petitions import bearer, create
from .test_sign_pages import visitor
from .test_signing import make_codes, petition_id, sign
from .test_time_zones import organizer_form

pytestmark = pytest.mark.usefixtures("organizer")
ARABIC = {
    "title": "أجر متساوٍ للجميع",
    "summary": "نطالب بأجر متساوٍ لكل نوبة.",
    "target": "مجلس الإدارة",
    "body": "الفقرة الأولى.\n\nالفقرة الثانية.",
}
RIGHT_TO_LEFT = 'lang="ar" dir="rtl"'
ATOM = "{http://www.w3.org/2005/Atom}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
# (tag, why it is refused): the message is LanguageError's own.
BAD_TAGS = ["foo", "und", "", "   ", "x" * 36, "en--US", "ÉN", "root"]


@pytest.fixture
def settings(tmp_path: Path, db_url: str, smtp: SmtpSink) -> Settings:
    """Mail goes to the test SMTP server: the emailed code's pages show the petition's title too."""
    return make_settings(tmp_path, database_url=db_url, outbox_retry_seconds=1, **smtp_settings(smtp))


def reason(tag: str) -> str:
    with pytest.raises(languages.LanguageError) as refused:
        languages.normalize(tag)
    return str(refused.value)


async def open_in(client: httpx.AsyncClient, token: str, **changes: object) -> tuple[str, str]:
    """A published petition taking printed codes and work emails at example.com: (id, slug)."""
    fields = {"verification": ["code", "email"], "allowed_domains": ["example.com"], "reasons_enabled": True}
    draft = (await create(client, token, **{**fields, **changes})).json()
    assert (await client.post(f"/api/v1/petitions/{draft['id']}/publish", headers=bearer(token))).status_code == 200
    return draft["id"], draft["slug"]


async def language_of(app: Starlette, petition: str) -> str:
    return str(await app.state.db.fetch_val("SELECT language FROM petitions WHERE id = :id", {"id": petition}))


async def test_a_petition_is_in_english_by_default_and_every_view_of_it_says_so(
    client: httpx.AsyncClient, token: str
) -> None:
    draft = (await create(client, token)).json()
    assert draft["language"] == "en"
    _, slug = await open_in(client, token, title="Rotas ahead")
    assert (await client.get(f"/api/v1/petitions/{slug}")).json()["language"] == "en"
    listed = (await client.get("/api/v1/petitions")).json()["petitions"]
    assert [view["language"] for view in listed] == ["en"]
    mine = (await client.get("/api/v1/me/petitions", headers=bearer(token))).json()["petitions"]
    assert sorted(view["language"] for view in mine) == ["en", "en"]
    page = (await client.get(f"/p/{slug}")).text
    assert '<h1 id="petition-title" lang="en" dir="ltr">Rotas ahead</h1>' in page


@pytest.mark.parametrize(
    ("typed", "kept"), [("ar", "ar"), ("EN_gb", "en-GB"), ("en_US", "en-US"), ("pt-br", "pt-BR"), ("iw", "he")]
)
async def test_a_language_tag_is_kept_in_its_standard_form(
    client: httpx.AsyncClient, token: str, typed: str, kept: str
) -> None:
    created = await create(client, token, language=typed)
    assert created.status_code == 201 and created.json()["language"] == kept


@pytest.mark.parametrize("tag", BAD_TAGS)
async def test_a_bad_language_tag_is_refused_with_its_reason_and_nothing_is_created(
    app: Starlette, client: httpx.AsyncClient, token: str, tag: str
) -> None:
    refused = await create(client, token, language=tag)
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["code"] == "validation_failed"
    assert error["fields"] == [{"field": "language", "message": reason(tag)}]
    assert reason(tag) in error["message"]
    assert await app.state.db.fetch_val("SELECT COUNT(*) AS n FROM petitions") == 0


@pytest.mark.parametrize("value", [9, None, ["en"]])
async def test_a_language_that_is_no_text_is_refused(
    app: Starlette, client: httpx.AsyncClient, token: str, value: object
) -> None:
    refused = await create(client, token, language=value)
    assert refused.status_code == 422 and refused.json()["error"]["fields"][0]["field"] == "language"
    assert await app.state.db.fetch_val("SELECT COUNT(*) AS n FROM petitions") == 0


async def test_the_language_changes_on_a_draft_and_an_open_petition_and_a_closed_one_changes_nothing(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    draft = (await create(client, token)).json()
    changed = await client.patch(f"/api/v1/petitions/{draft['id']}", json={"language": "ja"}, headers=bearer(token))
    assert changed.status_code == 200 and changed.json()["language"] == "ja"
    petition, slug = await open_in(client, token, title="Night shifts")
    assert '<h1 id="petition-title" lang="en" dir="ltr">' in (await client.get(f"/p/{slug}")).text
    changed = await client.patch(f"/api/v1/petitions/{slug}", json={"language": "AR"}, headers=bearer(token))
    assert changed.status_code == 200 and changed.json()["language"] == "ar"
    assert (await client.get(f"/api/v1/petitions/{slug}")).json()["language"] == "ar", "the cached JSON too"
    assert f'<h1 id="petition-title" {RIGHT_TO_LEFT}>' in (await client.get(f"/p/{slug}")).text, "and page"
    assert (await client.post(f"/api/v1/petitions/{slug}/close", headers=bearer(token))).status_code == 200
    # A closed petition changes no more, its language included (the rule for every field).
    refused = await client.patch(f"/api/v1/petitions/{slug}", json={"language": "fr"}, headers=bearer(token))
    assert refused.status_code == 409 and await language_of(app, petition) == "ar"


@pytest.mark.parametrize("tag", BAD_TAGS)
async def test_a_bad_language_tag_in_a_change_is_refused_and_changes_nothing(
    app: Starlette, client: httpx.AsyncClient, token: str, tag: str
) -> None:
    petition, slug = await open_in(client, token, language="ja")
    change = {"language": tag, "title": "Another title"}
    refused = await client.patch(f"/api/v1/petitions/{slug}", json=change, headers=bearer(token))
    assert refused.status_code == 422
    assert refused.json()["error"]["fields"] == [{"field": "language", "message": reason(tag)}]
    view = (await client.get(f"/api/v1/petitions/{slug}", headers=bearer(token))).json()
    assert view["language"] == "ja" and view["title"] == "Stop the tracking program"
    refused = await client.patch(f"/api/v1/petitions/{slug}", json={"language": None}, headers=bearer(token))
    assert refused.status_code == 422 and await language_of(app, petition) == "ja"


async def test_an_arabic_petitions_words_read_right_to_left_in_its_language_on_an_english_page(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    body = "الفقرة الأولى. " * 60 + "\n\n" + "الفقرة الثانية. " * 60  # long: the rest is folded
    _, slug = await open_in(client, token, **{**ARABIC, "body": body}, language="ar")
    page = (await client.get(f"/p/{slug}")).text
    assert '<html lang="en">' in page, "the interface stays English"
    assert f'<h1 id="petition-title" {RIGHT_TO_LEFT}>{ARABIC["title"]}</h1>' in page
    assert f'<p class="lead" {RIGHT_TO_LEFT}>{ARABIC["summary"]}</p>' in page
    assert f"To: <bdi {RIGHT_TO_LEFT}>{ARABIC['target']}</bdi>" in page
    assert f'<div class="body" {RIGHT_TO_LEFT}><p dir="auto">الفقرة الأولى.' in page
    assert '<summary lang="en" dir="ltr">Read the whole petition</summary>' in page, "our words inside it are ours"
    assert page.count('lang="ar"') == 4, "nothing else on the page is marked Arabic"
    home = (await client.get("/")).text
    assert f'<a href="/p/{slug}" {RIGHT_TO_LEFT}>{ARABIC["title"]}</a>' in home
    assert f'<span class="summary" {RIGHT_TO_LEFT}>{ARABIC["summary"]}</span>' in home


async def test_the_signing_and_receipt_pages_mark_the_petitions_title_with_its_language(
    app: Starlette, client: httpx.AsyncClient, smtp: SmtpSink, token: str
) -> None:
    _, slug = await open_in(client, token, **ARABIC, language="ar")
    title = f"<bdi {RIGHT_TO_LEFT}>{ARABIC['title']}</bdi>"
    for method in ("code", "email"):
        assert title in (await client.get(f"/p/{slug}/sign/{method}")).text, method
    [code] = await make_codes(client, token, slug, 1)
    receipt = (await sign(client, slug, code)).json()["receipt"]
    assert title in (await client.get(f"/p/{slug}/receipt")).text
    checked = await client.post(f"/p/{slug}/receipt", data={"receipt": receipt, "action": "status"})
    assert title in checked.text
    question = await client.post(f"/p/{slug}/receipt", data={"receipt": receipt, "action": "withdraw"})
    assert "Withdraw your signature?" in question.text and title in question.text
    expired = await client.get(f"/p/{slug}/check-email")  # this device started no attempt
    assert expired.status_code == 404 and title in expired.text
    for _ in range(2):
        async with visitor(app) as device:
            await device.post(f"/p/{slug}/sign", data={"email": WORKER})
            assert title in (await device.get(f"/p/{slug}/check-email")).text
            answer = await device.post(f"/p/{slug}/verify", data={"code": (await codes_for(app, smtp, WORKER))[-1]})
    assert answer.status_code == 409 and "already signed" in answer.text and title in answer.text
    await close_batch(app.state.db, app.state.settings, await petition_id(app.state.db, slug))
    assert (await client.post(f"/api/v1/petitions/{slug}/close", headers=bearer(token))).status_code == 200
    closed = await client.get(f"/p/{slug}/sign/code")
    assert closed.status_code == 409 and f"<h1 {RIGHT_TO_LEFT}>{ARABIC['title']}</h1>" in closed.text


async def test_the_organizer_pages_mark_the_petitions_title_with_its_language(
    client: httpx.AsyncClient, token: str
) -> None:
    petition, _ = await open_in(client, token, **ARABIC, language="ar")
    await log_in(client, "alice@example.org")
    listed = (await client.get("/organize")).text
    assert f'<a href="/organize/petitions/{petition}" {RIGHT_TO_LEFT}>{ARABIC["title"]}</a>' in listed
    overview = (await client.get(f"/organize/petitions/{petition}")).text
    assert f"<h1 {RIGHT_TO_LEFT}>{ARABIC['title']}</h1>" in overview
    for task in ("codes", "flyers", "organizers"):
        page = (await client.get(f"/organize/petitions/{petition}/{task}")).text
        assert f'<span class="caption" {RIGHT_TO_LEFT}>{ARABIC["title"]}</span>' in page, task
    confirm = (await client.get(f"/organize/petitions/{petition}/close")).text
    assert f"<bdi {RIGHT_TO_LEFT}>{ARABIC['title']}</bdi>" in confirm
    settings = (await client.get(f"/organize/petitions/{petition}/edit")).text
    assert re.search(r'<input id="title" name="title" lang="ar" dir="auto"', settings), "spelt in its language"


async def test_the_feed_gives_the_petitions_title_its_language_and_its_own_entries_english(
    client: httpx.AsyncClient, token: str
) -> None:
    _, slug = await open_in(client, token, **ARABIC, language="ar")
    feed = ET.fromstring((await client.get(f"/p/{slug}/feed.atom")).content)
    assert feed.get(XML_LANG) == "en", "the feed's own words: the subtitle and every entry"
    title = feed.find(f"{ATOM}title")
    assert title is not None and title.text == ARABIC["title"] and title.get(XML_LANG) == "ar"
    entries = feed.findall(f"{ATOM}entry")
    assert entries and all(entry.get(XML_LANG) is None for entry in entries), "English, as the feed says"


async def test_the_petition_form_takes_a_language_and_lists_a_refused_one_in_the_error_summary(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    await log_in(client, "alice@example.org")
    new = (await client.get("/organize/petitions/new")).text
    assert '<label for="language">Language</label>' in new
    hint = "A language tag such as en, fr, ar, ja or pt-BR. It sets how the petition's words are shown and printed."
    assert f'<p class="hint" id="language-hint">{hint}</p>' in new
    assert re.search(r'<input id="language" name="language"[^>]* value="en"[^>]*aria-describedby="language-hint"', new)
    csrf = await csrf_of(client, "/organize/petitions/new")
    for tag in ("foo", "", "x" * 36):
        refused = await client.post("/organize/petitions", data=organizer_form(csrf, language=tag))
        assert refused.status_code == 422, tag
        message = reason(tag)
        assert f'<li><a href="#language">{message}</a></li>' in refused.text, "listed in the summary, linked"
        assert f'<p class="error" id="language-error">{message}</p>' in refused.text, "and beside the field"
        invalid = r'<input id="language"[^>]*aria-invalid="true" aria-describedby="language-error"'
        assert re.search(invalid, refused.text)
        assert f'value="{tag}"' in refused.text, "what was typed is shown again"
    assert await app.state.db.fetch_val("SELECT COUNT(*) AS n FROM petitions") == 0
    assert (await client.post("/organize/petitions", data=organizer_form(csrf, language="pt_br"))).status_code == 303
    petition = str(await app.state.db.fetch_val("SELECT id FROM petitions"))
    assert await language_of(app, petition) == "pt-BR"
    edit = f"/organize/petitions/{petition}/edit"
    assert 'value="pt-BR"' in (await client.get(edit)).text
    refused = await client.post(edit, data=organizer_form(csrf, language="und", title="Changed"))
    assert refused.status_code == 422 and '<li><a href="#language">' in refused.text
    row = await app.state.db.fetch_one("SELECT title, language FROM petitions")
    assert (row["title"], row["language"]) == ("Fair shifts", "pt-BR"), "nothing changed"
    # A published petition's language still changes on its settings page.
    assert (await client.post(f"/api/v1/petitions/{petition}/publish", headers=bearer(token))).status_code == 200
    assert 'id="language"' in (await client.get(edit)).text
    saved = await client.post(edit, data=organizer_form(csrf, language="ar"))
    assert saved.status_code == 303 and await language_of(app, petition) == "ar"


async def test_the_openapi_document_lists_the_language(client: httpx.AsyncClient) -> None:
    schemas = (await client.get("/api/openapi.json")).json()["components"]["schemas"]
    for model in ("PetitionCreate", "PetitionUpdate", "PetitionPublic", "PetitionOrganizerView"):
        assert "language" in schemas[model]["properties"], model

"""A petition's organizer pages by task: the sub-navigation, redirects after every action with a
fixed notice, refused forms, the confirmation pages, deleting a draft (pages and API), the share box."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from starlette.applications import Starlette

from petition import accounts, petitions
from petition.csrf import FORM_FIELD
from petition.database import Database
from petition.petition_tasks import NOTICES

from .conftest import ORGANIZER_PASSWORD
from .test_codes import code_petition
from .test_flyer_batches import make as make_flyers
from .test_login import csrf_of, log_in
from .test_petitions import bearer, create, other_organizer_token
from .test_signing import make_codes, open_petition, sign

pytestmark = pytest.mark.usefixtures("organizer")
TASKS = {
    "Dashboard": "",
    "Signing codes": "/codes",
    "Flyers": "/flyers",
    "Reasons": "/reasons",
    "Feedback rounds": "/rounds",
    "Updates": "/updates",
    "Organizers": "/organizers",
    "Settings": "/edit",
}
# Everything a draft's organizers can make hangs off it in these tables.
DRAFT_TABLES = ("petitions", "petition_organizers", "code_batches", "signing_codes", "flyer_batches")


async def signed_in(client: httpx.AsyncClient) -> str:
    """Logs alice in; her CSRF token."""
    await log_in(client, "alice@example.org")
    return await csrf_of(client, "/organize")


async def counts(db: Database) -> dict[str, int]:
    return {table: int(await db.fetch_val(f"SELECT COUNT(*) FROM {table}")) for table in DRAFT_TABLES}


def nav_links(html: str) -> dict[str, tuple[str, bool]]:
    """The sub-navigation's links: words -> (href, whether it is the current page)."""
    nav = re.search(r'<nav class="tasks" aria-label="This petition">(.*?)</nav>', html, re.DOTALL)
    assert nav, "the page has the petition's sub-navigation"
    return {
        words: (href, bool(current))
        for href, current, words in re.findall(r'<a href="([^"]+)"( aria-current="page")?>([^<]+)</a>', nav.group(1))
    }


async def test_each_task_has_its_own_page_found_from_the_overview_its_own_link_marked_current(
    client: httpx.AsyncClient, token: str
) -> None:
    draft = await code_petition(client, token)
    await signed_in(client)
    overview = await client.get(f"/organize/petitions/{draft}")
    links = nav_links(overview.text)
    assert {words: href for words, (href, _) in links.items()} == {
        words: f"/organize/petitions/{draft}{path}" for words, path in TASKS.items()
    }
    for words, (href, _) in links.items():
        answer = await client.get(href)
        assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store", href
        assert [name for name, (_, current) in nav_links(answer.text).items() if current] == [words]


async def test_the_overview_shows_the_deadline_in_the_petitions_time_zone(
    client: httpx.AsyncClient, token: str
) -> None:
    # 17:00 in New York, within the longest a petition may stay open.
    day = (datetime.now(UTC) + timedelta(days=100)).date()
    deadline = datetime(day.year, day.month, day.day, 17, tzinfo=ZoneInfo("America/New_York"))
    draft = (await create(client, token, time_zone="America/New_York", closes_at=deadline.isoformat())).json()["id"]
    await signed_in(client)
    overview = (await client.get(f"/organize/petitions/{draft}")).text
    assert f"{day.day} {deadline:%B %Y}, 17:00 America/New_York time" in overview
    assert f"{deadline.astimezone(UTC):%H:%M}" not in overview and "17:00 UTC" not in overview


async def test_a_petition_that_takes_no_printed_codes_has_no_codes_page(client: httpx.AsyncClient, token: str) -> None:
    draft = (await create(client, token)).json()["id"]
    await signed_in(client)
    assert "Signing codes" not in nav_links((await client.get(f"/organize/petitions/{draft}")).text)
    assert (await client.get(f"/organize/petitions/{draft}/codes")).status_code == 404


async def test_making_codes_redirects_to_the_codes_page_that_offers_the_one_download_and_a_reload_makes_no_second_batch(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    draft = await code_petition(client, token)
    csrf = await signed_in(client)
    made = await client.post(f"/organize/petitions/{draft}/codes", data={FORM_FIELD: csrf, "count": "3"})
    assert made.status_code == 303 and made.headers["location"] == f"/organize/petitions/{draft}/codes?done=codes-made"
    for _ in range(2):  # the page, then a reload of it
        page = await client.get(made.headers["location"])
        assert NOTICES["codes-made"] in page.text and "Download CSV" in page.text
    assert (await counts(app.state.db))["code_batches"] == 1


async def test_every_organizer_action_answers_with_a_redirect_to_a_page_that_says_what_happened(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    draft = await code_petition(client, token)
    await other_organizer_token(app)
    bob = await app.state.db.fetch_val("SELECT id FROM organizers WHERE email = 'bob@example.org'")
    csrf = await signed_in(client)
    page = f"/organize/petitions/{draft}"
    edit = {"title": "Fair shifts", "summary": "Rotas ahead.", "target": "Operations", "goal": "50"}
    edit |= {"verification": "code", "retention_days": "30", "timeline_floor": "day"}
    batch = (await client.post(f"/api/v1/petitions/{draft}/codes", json={"count": 2}, headers=bearer(token))).json()
    flyer = (await make_flyers(client, token, draft, copies=25)).json()
    steps = [
        (f"{page}/edit", edit, page, "saved"),
        (f"{page}/codes", {"count": "2"}, f"{page}/codes", "codes-made"),
        (f"{page}/codes/{batch['batch']}/revoke", {}, f"{page}/codes", "codes-revoked"),
        (f"{page}/flyers", {"layout": "poster", "paper_size": "a4", "copies": "1"}, f"{page}/flyers", "flyers-made"),
        (f"{page}/flyers/{flyer['id']}/download", {"kind": "pdf"}, f"{page}/flyers", "flyers-drawing"),
        (f"{page}/organizers", {"email": "bob@example.org"}, f"{page}/organizers", "organizer-added"),
        (f"{page}/organizers/{bob}/remove", {}, f"{page}/organizers", "organizer-removed"),
        (f"{page}/publish", {}, page, "published"),
        (f"{page}/close", {}, page, "closed"),
    ]
    for action, form, path, key in steps:
        answer = await client.post(action, data={FORM_FIELD: csrf, **form})
        assert answer.status_code == 303, (action, answer.text[-500:])
        assert answer.headers["location"] == f"{path}?done={key}" and answer.headers["cache-control"] == "no-store"
        shown = await client.get(answer.headers["location"])
        assert f'<p class="notice" role="status">{NOTICES[key]}</p>' in shown.text.replace("&#39;", "'"), key


async def test_a_notice_is_only_ever_one_of_the_fixed_ones(client: httpx.AsyncClient, token: str) -> None:
    draft = await code_petition(client, token)
    await signed_in(client)
    for key in ("<script>alert(1)</script>", "codes-made-x", ""):
        page = await client.get(f"/organize/petitions/{draft}", params={"done": key})
        assert page.status_code == 200 and 'class="notice"' not in page.text and "alert(1)" not in page.text


@pytest.mark.parametrize(
    ("path", "form", "input_id"),
    [
        ("/codes", {"count": "0", "label": "Canteen"}, "count"),
        ("/flyers", {"layout": "mural", "paper_size": "a4", "copies": "1", "label": "Canteen"}, "flyer-layout"),
        ("/organizers", {"email": "nobody@example.org"}, "email"),
    ],
)
async def test_a_refused_form_answers_422_with_the_focused_error_summary_and_the_form_filled_in_again(
    app: Starlette, client: httpx.AsyncClient, token: str, path: str, form: dict[str, str], input_id: str
) -> None:
    draft = await code_petition(client, token)
    csrf = await signed_in(client)
    before = await counts(app.state.db)
    refused = await client.post(f"/organize/petitions/{draft}{path}", data={FORM_FIELD: csrf, **form})
    assert refused.status_code == 422
    summary = re.search(r'<div class="error-summary" role="alert"[^>]*autofocus>(.*?)</div>', refused.text, re.DOTALL)
    assert summary and f'href="#{input_id}"' in summary.group(1), "the summary links to the field"
    assert f'id="{input_id}-error"' in refused.text and f'aria-describedby="{input_id}-error"' in refused.text
    for value in form.values():
        if value not in ("mural", "a4"):  # a choice that is not offered is not shown again
            assert f'value="{value}"' in refused.text, value
    assert 'class="notice"' not in refused.text
    assert await counts(app.state.db) == before


async def test_revoking_a_batch_asks_first_and_the_question_changes_nothing(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token)
    batch = (await client.post(f"/api/v1/petitions/{slug}/codes", json={"count": 2}, headers=bearer(token))).json()
    csrf = await signed_in(client)
    codes_page = (await client.get(f"/organize/petitions/{slug}/codes")).text
    link = re.search(rf'href="(/organize/petitions/\w+/codes/{batch["batch"]}/revoke)"', codes_page)
    assert link, "the codes page links to the question, it does not revoke"
    revoke = link.group(1)
    question = await client.get(revoke)
    assert question.status_code == 200 and "Are you sure you want to revoke the unused codes of" in question.text
    assert f'action="{revoke}"' in question.text and "Yes, revoke the unused codes" in question.text
    assert (await sign(client, slug, batch["codes"][0])).status_code == 201, "a code still works after the question"
    done = await client.post(revoke, data={FORM_FIELD: csrf})
    assert done.status_code == 303
    assert (await sign(client, slug, batch["codes"][1])).status_code == 422, "then the unused one no longer does"
    again = await client.get(revoke)
    assert again.status_code == 409 and "revoked already" in again.text


async def test_deleting_a_draft_asks_first_then_removes_it_with_all_it_holds_and_the_audit_trail_says_so(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db: Database = app.state.db
    draft = await code_petition(client, token)
    await client.post(f"/api/v1/petitions/{draft}/codes", json={"count": 3}, headers=bearer(token))
    await make_flyers(client, token, draft, layout="tearoff")
    kept = await code_petition(client, token, title="Another draft")
    csrf = await signed_in(client)
    overview = await client.get(f"/organize/petitions/{draft}")
    assert f'href="/organize/petitions/{draft}/delete"' in overview.text
    question = await client.get(f"/organize/petitions/{draft}/delete")
    assert question.status_code == 200 and "Are you sure you want to delete the draft" in question.text
    assert "Yes, delete this draft" in question.text
    before = await counts(db)
    deleted = await client.post(f"/organize/petitions/{draft}/delete", data={FORM_FIELD: csrf})
    assert deleted.status_code == 303 and deleted.headers["location"] == "/organize?done=draft-deleted"
    dashboard = await client.get(deleted.headers["location"])
    assert NOTICES["draft-deleted"] in dashboard.text and draft not in dashboard.text and kept in dashboard.text
    after = await counts(db)
    assert after == {
        "petitions": 1,
        "petition_organizers": 1,
        "code_batches": 0,
        "signing_codes": 0,
        "flyer_batches": 0,
    }
    assert before["signing_codes"] > 0 and before["flyer_batches"] == 1
    assert (await client.get(f"/organize/petitions/{draft}")).status_code == 404
    admin = (await client.get("/organize/admin")).text
    assert "draft deleted" in admin and draft in admin
    assert "Stop the tracking program" not in admin, "the trail names a draft by its id, never its title"


async def test_a_published_petition_is_never_deleted(app: Starlette, client: httpx.AsyncClient, token: str) -> None:
    slug = await open_petition(client, token)
    csrf = await signed_in(client)
    assert (await client.get(f"/organize/petitions/{slug}/delete")).status_code == 409
    refused = await client.post(f"/organize/petitions/{slug}/delete", data={FORM_FIELD: csrf})
    assert refused.status_code == 409 and "Only a draft can be deleted" in refused.text
    assert 'class="error-summary"' in refused.text
    assert (await client.delete(f"/api/v1/petitions/{slug}", headers=bearer(token))).status_code == 409
    assert (await counts(app.state.db))["petitions"] == 1


async def test_a_delete_that_loses_the_race_to_publishing_rolls_back_whole(
    app: Starlette, client: httpx.AsyncClient, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db: Database = app.state.db
    draft = await code_petition(client, token)
    await client.post(f"/api/v1/petitions/{draft}/codes", json={"count": 3}, headers=bearer(token))
    assert (await client.post(f"/api/v1/petitions/{draft}/publish", headers=bearer(token))).status_code == 200
    before = await counts(db)
    real = petitions.editable_by

    async def seen_before_publishing(db: Database, key: str, organizer_id: str) -> dict[str, object]:
        return {**(await real(db, key, organizer_id)), "state": "draft"}

    monkeypatch.setattr(petitions, "editable_by", seen_before_publishing)
    answer = await client.delete(f"/api/v1/petitions/{draft}", headers=bearer(token))
    assert answer.status_code == 409
    assert await counts(db) == before, "no code, batch or organizer went without the petition"


async def test_the_api_deletes_a_draft_with_204_and_answers_404_for_none_or_anothers(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    draft = await code_petition(client, token)
    await client.post(f"/api/v1/petitions/{draft}/codes", json={"count": 2}, headers=bearer(token))
    bob = await other_organizer_token(app)
    assert (await client.delete(f"/api/v1/petitions/{draft}", headers=bearer(bob))).status_code == 404
    assert (await client.delete(f"/api/v1/petitions/{draft}")).status_code == 401
    deleted = await client.delete(f"/api/v1/petitions/{draft}", headers=bearer(token))
    assert deleted.status_code == 204 and deleted.content == b""
    assert (await client.get(f"/api/v1/petitions/{draft}", headers=bearer(token))).status_code == 404
    assert (await client.delete(f"/api/v1/petitions/{draft}", headers=bearer(token))).status_code == 404
    assert await counts(app.state.db) == dict.fromkeys(DRAFT_TABLES, 0)
    operation = (await client.get("/api/openapi.json")).json()["paths"]["/api/v1/petitions/{slug}"]["delete"]
    assert {"204", "401", "404", "409"} <= set(operation["responses"])


async def test_another_organizers_petition_is_404_on_every_task_page_and_action(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    draft = await code_petition(client, token)
    batch = (await client.post(f"/api/v1/petitions/{draft}/codes", json={"count": 2}, headers=bearer(token))).json()
    await accounts.create_organizer(app.state.db, email="carol@example.org", password=ORGANIZER_PASSWORD, admin=False)
    await log_in(client, "carol@example.org")
    csrf = await csrf_of(client, "/organize")
    page = f"/organize/petitions/{draft}"
    for path in (
        "",
        "/codes",
        "/flyers",
        "/organizers",
        "/edit",
        "/delete",
        "/publish",
        f"/codes/{batch['batch']}/revoke",
    ):
        assert (await client.get(f"{page}{path}")).status_code == 404, path
    for path in ("/delete", "/codes", "/flyers", "/organizers", f"/codes/{batch['batch']}/revoke"):
        assert (await client.post(f"{page}{path}", data={FORM_FIELD: csrf})).status_code == 404, path
    assert (await counts(app.state.db))["petitions"] == 1 and (await counts(app.state.db))["code_batches"] == 1


async def test_the_overview_shares_the_public_link_and_each_flyer_batchs_short_link_in_selectable_fields(
    client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token)
    flyer = (await make_flyers(client, token, slug, label="Canteen wall")).json()
    await signed_in(client)
    page = (await client.get(f"/organize/petitions/{slug}")).text
    share = re.search(r'<section aria-labelledby="share">(.*?)</section>', page, re.DOTALL)
    assert share
    fields = dict(
        re.findall(
            r'<label for="([^"]+)">.*?</label>\s*<div class="copy"><input id="\1"[^>]*value="([^"]+)"[^>]*readonly',
            share.group(1),
            re.DOTALL,
        )
    )
    assert set(fields.values()) == {f"http://127.0.0.1:8000/p/{slug}", flyer["url"]}
    script = re.search(r'<script src="(/static/copy\.js\?v=[^"]+)" defer></script>', page)
    assert script, "the copy buttons come from a static file (the CSP allows no inline script)"
    served = await client.get(script.group(1))
    assert served.status_code == 200 and "javascript" in served.headers["content-type"]
    assert "script-src 'self'" in served.headers["content-security-policy"]


async def test_numbers_in_the_organizer_tables_align_right_and_text_left(client: httpx.AsyncClient, token: str) -> None:
    slug = await open_petition(client, token)
    await make_codes(client, token, slug, 2)
    await make_flyers(client, token, slug)
    await signed_in(client)
    for path, numbers in (("/codes", ("Codes", "Used")), ("/flyers", ("Pages", "Scans", "Signatures"))):
        html = (await client.get(f"/organize/petitions/{slug}{path}")).text
        headings = dict(
            (words, klass) for klass, words in re.findall(r'<th scope="col"( class="num")?>([^<]+)</th>', html)
        )
        assert {words for words, klass in headings.items() if klass} == set(numbers), path
        assert headings["Label"] == ""
    dashboard = (await client.get("/organize")).text
    assert '<th scope="col" class="num">Signatures</th>' in dashboard and '<td class="num">' in dashboard

"""The organizers' pages of feedback rounds: a petition's rounds and the form to make one, a round's
page and its draft's form, opening and closing after a question, printed codes (made, downloaded
once, printed with QR codes, revoked after a question), and who may see any of it."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from petition import accounts
from petition.csrf import FORM_FIELD
from petition.database import Database
from petition.feedback.round_pages_organizer import NOTICES
from petition.flyers import qr

from ..conftest import BASE_URL, ORGANIZER_PASSWORD
from ..test_login import csrf_of, log_in
from ..test_organizer_pages import nav_links
from ..test_petitions import bearer, create
from ..test_signing import open_petition
from .factories import make_round

pytestmark = pytest.mark.usefixtures("organizer")
FORM = {
    "question": "What should a fair opt-out look like?",
    "description": "Vote on each statement; add your own.",
    "statements": "Opting out takes one click.\n\nManagers never see who opted out.\n",
    "allow_statements": "on",
    "results": "organizers",
    "closes_at": "",
}
SUMMARY = re.compile(r'<div class="error-summary" role="alert"[^>]*autofocus>(.*?)</div>', re.DOTALL)


async def signed_in(client: httpx.AsyncClient, email: str = "alice@example.org") -> str:
    """Logs the organizer in; their CSRF token."""
    await log_in(client, email)
    return await csrf_of(client, "/organize")


async def round_rows(db: Database) -> list[dict[str, object]]:
    return [dict(row) for row in await db.fetch_all("SELECT * FROM rounds ORDER BY created_at, id")]


async def state_of(db: Database, round_id: str) -> str:
    return str(await db.fetch_val("SELECT state FROM rounds WHERE id = :id", {"id": round_id}))


async def seeds_of(db: Database, round_id: str) -> list[str]:
    rows = await db.fetch_all("SELECT text FROM round_statements WHERE round_id = :id ORDER BY text", {"id": round_id})
    return [row["text"] for row in rows]


async def draft_round(app: Starlette, client: httpx.AsyncClient, token: str, **fields: object) -> tuple[str, str]:
    """(petition id, round id) of a draft round on an open petition that takes codes and emails."""
    slug = await open_petition(client, token, verification=["code", "email"], allowed_domains=["example.com"])
    round_id, _ = await make_round(app, client, token, slug=slug, state="draft", **fields)
    petition_id = str(await app.state.db.fetch_val("SELECT petition_id FROM rounds WHERE id = :id", {"id": round_id}))
    return petition_id, round_id


def summary_of(html: str) -> str:
    found = SUMMARY.search(html)
    assert found, "the page opens with the error summary"
    return found.group(1)


async def test_the_overview_lists_the_petitions_rounds_and_offers_to_start_one_and_the_nav_has_rounds(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    petition_id, round_id = await draft_round(app, client, token)
    await signed_in(client)
    overview = await client.get(f"/organize/petitions/{petition_id}")
    section = overview.text.split('<h2 id="rounds">Feedback rounds</h2>', 1)[1].split("</section>", 1)[0]
    assert f'href="/organize/rounds/{round_id}" dir="auto">What should a fair opt-out look like?</a>' in section
    fewer = f'<td class="num">fewer than {app.state.settings.min_cell_size}</td>'
    assert "<td>draft</td>" in section and fewer in section, "no count below MIN_CELL_SIZE, 0 included"
    assert f'href="/organize/petitions/{petition_id}/rounds#new-round">Start a feedback round</a>' in section
    links = nav_links(overview.text)
    assert links["Feedback rounds"][0] == f"/organize/petitions/{petition_id}/rounds"
    rounds_page = await client.get(links["Feedback rounds"][0])
    assert [words for words, (_, current) in nav_links(rounds_page.text).items() if current] == ["Feedback rounds"]


async def test_every_round_page_answers_its_organizer_and_is_never_stored(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    petition_id, draft_id = await draft_round(app, client, token)
    slug = await open_petition(client, token)
    open_id, _ = await make_round(app, client, token, slug=slug)
    batch = (await client.post(f"/api/v1/rounds/{open_id}/codes", json={"count": 2}, headers=bearer(token))).json()
    await signed_in(client)
    for path in (
        f"/organize/petitions/{petition_id}/rounds",
        f"/organize/rounds/{draft_id}",
        f"/organize/rounds/{draft_id}/open",
        f"/organize/rounds/{draft_id}/codes",
        f"/organize/rounds/{open_id}",
        f"/organize/rounds/{open_id}/close",
        f"/organize/rounds/{open_id}/codes",
        f"/organize/rounds/{open_id}/codes/{batch['batch']}/revoke",
    ):
        answer = await client.get(path)
        assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store", path


async def test_another_organizer_gets_404_and_a_visitor_the_login_on_every_round_page_and_action(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    petition_id, round_id = await draft_round(app, client, token)
    batch = (await client.post(f"/api/v1/rounds/{round_id}/codes", json={"count": 2}, headers=bearer(token))).json()
    before = await round_rows(app.state.db)
    pages = [
        f"/organize/petitions/{petition_id}/rounds",
        f"/organize/rounds/{round_id}",
        f"/organize/rounds/{round_id}/open",
        f"/organize/rounds/{round_id}/close",
        f"/organize/rounds/{round_id}/codes",
        f"/organize/rounds/{round_id}/codes/{batch['batch']}/revoke",
    ]
    actions = [
        f"/organize/petitions/{petition_id}/rounds",
        f"/organize/rounds/{round_id}/edit",
        f"/organize/rounds/{round_id}/open",
        f"/organize/rounds/{round_id}/codes",
        f"/organize/rounds/{round_id}/codes/{batch['batch']}/download",
        f"/organize/rounds/{round_id}/codes/{batch['batch']}/revoke",
    ]
    visitor_csrf = await csrf_of(client, "/login")
    for path in pages:
        answer = await client.get(path)
        assert answer.status_code == 303 and answer.headers["location"] == "/login", path
    for path in actions:
        answer = await client.post(path, data={FORM_FIELD: visitor_csrf, **FORM})
        assert answer.status_code == 303 and answer.headers["location"] == "/login", path
    await accounts.create_organizer(app.state.db, email="carol@example.org", password=ORGANIZER_PASSWORD, admin=False)
    csrf = await signed_in(client, "carol@example.org")
    for path in pages:
        answer = await client.get(path)
        assert answer.status_code == 404 and "What should a fair opt-out" not in answer.text, path
    for path in actions:
        answer = await client.post(path, data={FORM_FIELD: csrf, **FORM, "count": "3", "format": "csv"})
        assert answer.status_code == 404 and "What should a fair opt-out" not in answer.text, path
    assert await round_rows(app.state.db) == before
    assert await app.state.db.fetch_val("SELECT COUNT(*) FROM round_code_batches WHERE revoked_at IS NULL") == 1


async def test_creating_a_round_saves_a_draft_with_its_seed_statements_and_close_time_then_shows_its_page(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token, time_zone="America/New_York")
    petition_id = (await client.get(f"/api/v1/petitions/{slug}")).json()["id"]
    csrf = await signed_in(client)
    day = (datetime.now(UTC) + timedelta(days=10)).date()
    closes = datetime(day.year, day.month, day.day, 17, tzinfo=ZoneInfo("America/New_York"))
    form = {**FORM, "closes_at": f"{day.isoformat()}T17:00"}
    made = await client.post(f"/organize/petitions/{petition_id}/rounds", data={FORM_FIELD: csrf, **form})
    [row] = await round_rows(app.state.db)
    assert made.status_code == 303
    assert made.headers["location"] == f"/organize/rounds/{row['id']}?done=round-created"
    assert row["state"] == "draft" and row["question"] == FORM["question"] and row["description"] == FORM["description"]
    assert (row["allow_statements"], row["moderate_statements"], row["results"]) == (1, 0, "organizers")
    assert row["closes_at"] == int(closes.timestamp()), "the close time is read in the petition's time zone"
    assert await seeds_of(app.state.db, str(row["id"])) == [
        "Managers never see who opted out.",
        "Opting out takes one click.",
    ]
    shown = await client.get(made.headers["location"])
    assert f'<p class="notice" role="status">{NOTICES["round-created"]}</p>' in shown.text.replace("&#39;", "'")
    assert f"{day.day} {closes:%B %Y}, 17:00 America/New_York time" in shown.text
    assert f'value="{day.isoformat()}T17:00"' in shown.text, "the draft's form shows the close time as typed"


async def test_a_refused_round_form_links_each_error_to_its_field_keeps_what_was_typed_and_creates_nothing(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token)
    petition_id = (await client.get(f"/api/v1/petitions/{slug}")).json()["id"]
    csrf = await signed_in(client)
    form = {**FORM, "question": "   ", "results": "everyone", "closes_at": "2001-01-01T10:00"}
    refused = await client.post(f"/organize/petitions/{petition_id}/rounds", data={FORM_FIELD: csrf, **form})
    assert refused.status_code == 422
    summary = summary_of(refused.text)
    links = re.findall(r'<a href="#([^"]+)">([^<]+)</a>', summary)
    assert links == [
        ("question", "Enter the question."),
        ("results-public", "Choose who sees the results."),
        ("closes_at", "The close time must be in the future."),
    ]
    for input_id in ("question", "closes_at"):
        tag = re.search(rf'<(input|textarea)[^>]*\bid="{input_id}"[^>]*>', refused.text)
        assert tag and 'aria-invalid="true"' in tag.group(0) and f"{input_id}-error" in tag.group(0), input_id
    assert 'aria-describedby="results-error"' in refused.text and 'id="results-error"' in refused.text
    assert 'value="2001-01-01T10:00"' in refused.text and "Managers never see who opted out." in refused.text
    assert re.search(r'<input class="check" id="allow_statements"[^>]*checked>', refused.text), "the box stays ticked"
    assert not re.search(r'<input class="check" id="moderate_statements"[^>]*checked>', refused.text)
    assert await round_rows(app.state.db) == []


@pytest.mark.parametrize(
    ("statements", "message"),
    [
        ("One.\nTwo.\n" + "x" * 281, "The statement on line 3 must be 280 characters or fewer."),
        ("One.\n\nTwo.\nOne.", "The statement on line 4 repeats the one on line 1: leave one out."),
        ("\n".join(f"Statement {n}." for n in range(51)), "Enter at most 50 statements, one per line: there are 51."),
        ("One.\nTwo \x07 bells.", "The statement on line 2 must not hold control characters"),
    ],
)
async def test_a_refused_seed_statement_is_named_by_its_line(
    app: Starlette, client: httpx.AsyncClient, token: str, statements: str, message: str
) -> None:
    slug = await open_petition(client, token)
    petition_id = (await client.get(f"/api/v1/petitions/{slug}")).json()["id"]
    csrf = await signed_in(client)
    form = {FORM_FIELD: csrf, **FORM, "statements": statements}
    refused = await client.post(f"/organize/petitions/{petition_id}/rounds", data=form)
    assert refused.status_code == 422
    [(input_id, shown)] = re.findall(r'<a href="#([^"]+)">([^<]+)</a>', summary_of(refused.text))
    assert input_id == "statements" and shown.startswith(message), shown
    assert f'<p class="error" id="statements-error">{shown}</p>' in refused.text
    assert await round_rows(app.state.db) == []


async def test_a_round_on_a_closed_petition_is_refused_and_the_page_offers_no_form(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token)
    petition_id = (await client.get(f"/api/v1/petitions/{slug}")).json()["id"]
    assert (await client.post(f"/api/v1/petitions/{slug}/close", headers=bearer(token))).status_code == 200
    csrf = await signed_in(client)
    page = await client.get(f"/organize/petitions/{petition_id}/rounds")
    assert 'id="new-round"' not in page.text and "takes no new feedback rounds" in page.text
    refused = await client.post(f"/organize/petitions/{petition_id}/rounds", data={FORM_FIELD: csrf, **FORM})
    assert refused.status_code == 409 and "its feedback rounds can no longer be made" in summary_of(refused.text)
    assert await round_rows(app.state.db) == []


async def test_a_draft_changes_through_its_form_and_an_open_round_no_longer_does(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    _, round_id = await draft_round(app, client, token)
    csrf = await signed_in(client)
    page = await client.get(f"/organize/rounds/{round_id}")
    assert f'action="/organize/rounds/{round_id}/edit"' in page.text
    assert "Opting out takes one click.\nManagers never see who opted out." in page.text.replace("&#39;", "'") or (
        "Managers never see who opted out.\nOpting out takes one click." in page.text
    ), "the seed statements, one per line"
    form = {
        **FORM,
        "question": "What would fair rotas be?",
        "statements": "Rotas four weeks ahead.",
        "results": "public",
    }
    saved = await client.post(f"/organize/rounds/{round_id}/edit", data={FORM_FIELD: csrf, **form})
    assert saved.status_code == 303 and saved.headers["location"] == f"/organize/rounds/{round_id}?done=round-saved"
    assert await seeds_of(app.state.db, round_id) == ["Rotas four weeks ahead."]
    [row] = await round_rows(app.state.db)
    assert (row["question"], row["results"], row["closes_at"]) == ("What would fair rotas be?", "public", None)

    refused = await client.post(f"/organize/rounds/{round_id}/edit", data={FORM_FIELD: csrf, **form, "question": ""})
    assert refused.status_code == 422 and '<a href="#question">Enter the question.</a>' in summary_of(refused.text)
    assert (await round_rows(app.state.db))[0]["question"] == "What would fair rotas be?"

    assert (await client.post(f"/api/v1/rounds/{round_id}/open", headers=bearer(token))).status_code == 200
    assert f'action="/organize/rounds/{round_id}/edit"' not in (await client.get(f"/organize/rounds/{round_id}")).text
    late = await client.post(f"/organize/rounds/{round_id}/edit", data={FORM_FIELD: csrf, **form, "question": "Late?"})
    assert late.status_code == 409 and "only a draft round can be changed" in summary_of(late.text)
    assert (await round_rows(app.state.db))[0]["question"] == "What would fair rotas be?"


async def test_opening_and_closing_ask_first_and_only_the_confirmed_answer_changes_the_round(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db: Database = app.state.db
    _, round_id = await draft_round(app, client, token)
    csrf = await signed_in(client)
    page = (await client.get(f"/organize/rounds/{round_id}")).text
    assert f'href="/organize/rounds/{round_id}/open">Open…</a>' in page
    question = await client.get(f"/organize/rounds/{round_id}/open")
    assert "Are you sure you want to open the round" in question.text and "Yes, open it" in question.text
    assert f'action="/organize/rounds/{round_id}/open"' in question.text
    assert await state_of(db, round_id) == "draft", "asking opens nothing"
    opened = await client.post(f"/organize/rounds/{round_id}/open", data={FORM_FIELD: csrf})
    assert opened.status_code == 303 and opened.headers["location"] == f"/organize/rounds/{round_id}?done=round-opened"
    assert await state_of(db, round_id) == "open"
    page = (await client.get(opened.headers["location"])).text
    assert NOTICES["round-opened"] in page
    assert f'value="{BASE_URL}/r/{round_id}" readonly' in page, "the address to share, ready to copy"
    again = await client.get(f"/organize/rounds/{round_id}/open")
    assert again.status_code == 409 and "already open" in summary_of(again.text)

    question = await client.get(f"/organize/rounds/{round_id}/close")
    assert "Are you sure you want to close the round" in question.text and "Yes, close it" in question.text
    assert await state_of(db, round_id) == "open", "asking closes nothing"
    closed = await client.post(f"/organize/rounds/{round_id}/close", data={FORM_FIELD: csrf})
    assert closed.headers["location"] == f"/organize/rounds/{round_id}?done=round-closed"
    assert await state_of(db, round_id) == "closed"
    late = await client.post(f"/organize/rounds/{round_id}/close", data={FORM_FIELD: csrf})
    assert late.status_code == 409 and "already closed" in summary_of(late.text)


async def test_a_refused_opening_says_why_on_the_rounds_page(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    draft = (await create(client, token)).json()["id"]
    csrf = await signed_in(client)
    made = await client.post(f"/organize/petitions/{draft}/rounds", data={FORM_FIELD: csrf, **FORM})
    round_id = made.headers["location"].split("/")[-1].split("?")[0]
    refused = await client.post(f"/organize/rounds/{round_id}/open", data={FORM_FIELD: csrf})
    assert refused.status_code == 409 and "publish it first" in summary_of(refused.text)
    assert await state_of(app.state.db, round_id) == "draft"


async def test_links_to_the_results_and_statements_pages_appear_only_once_those_pages_exist(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token)
    round_id, _ = await make_round(app, client, token, slug=slug)
    await signed_in(client)
    page = (await client.get(f"/organize/rounds/{round_id}")).text
    paths = {route.path for route in app.routes if isinstance(route, Route)}
    for path in ("/r/{id}/results", "/organize/rounds/{id}/results.csv", "/organize/rounds/{id}/statements"):
        assert (f'href="{path.format(id=round_id)}"' in page) == (path in paths), path


async def test_round_codes_are_made_downloaded_once_with_their_join_links_and_counted_as_fewer_than_five(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token)
    round_id, _ = await make_round(app, client, token, slug=slug)
    csrf = await signed_in(client)
    made = await client.post(
        f"/organize/rounds/{round_id}/codes", data={FORM_FIELD: csrf, "count": "3", "label": "Canteen"}
    )
    assert (
        made.status_code == 303
        and made.headers["location"] == f"/organize/rounds/{round_id}/codes?done=round-codes-made"
    )
    for _ in range(2):  # the page, then a reload of it: one batch
        page = (await client.get(made.headers["location"])).text
        assert NOTICES["round-codes-made"] in page and "Download CSV" in page and "fewer than 5" in page
    batch = str(
        await app.state.db.fetch_val("SELECT id FROM round_code_batches WHERE round_id = :id", {"id": round_id})
    )
    download = f"/organize/rounds/{round_id}/codes/{batch}/download"
    taken = await client.post(download, data={FORM_FIELD: csrf, "format": "csv"})
    assert taken.status_code == 200 and taken.headers["content-type"].startswith("text/csv")
    assert taken.headers["cache-control"] == "no-store" and "attachment" in taken.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(taken.text)))
    assert rows[0] == ["code", "label", "join link"] and len(rows) == 4
    for code, label, link in rows[1:]:
        assert label == "Canteen" and link == f"{BASE_URL}/r/{round_id}/join?code={code}"
    join = await client.post(f"/api/v1/rounds/{round_id}/participants", json={"code": rows[1][0]})
    assert join.status_code == 201, "each code joins this round"
    again = await client.post(download, data={FORM_FIELD: csrf, "format": "csv"})
    assert again.status_code == 409 and "already downloaded" in summary_of(again.text)
    assert "Download CSV" not in (await client.get(f"/organize/rounds/{round_id}/codes")).text


async def test_the_page_to_print_holds_each_code_once_with_the_qr_code_of_its_join_link(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token)
    round_id, _ = await make_round(app, client, token, slug=slug)
    csrf = await signed_in(client)
    await client.post(f"/organize/rounds/{round_id}/codes", data={FORM_FIELD: csrf, "count": "2"})
    batch = str(
        await app.state.db.fetch_val("SELECT id FROM round_code_batches WHERE round_id = :id", {"id": round_id})
    )
    sheet = await client.post(
        f"/organize/rounds/{round_id}/codes/{batch}/download", data={FORM_FIELD: csrf, "format": "sheet"}
    )
    assert sheet.status_code == 200 and sheet.headers["cache-control"] == "no-store"
    codes = re.findall(r"<strong>([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4})</strong>", sheet.text)
    assert len(set(codes)) == 2
    for code in codes:
        link = f"{BASE_URL}/r/{round_id}/join?code={code}"
        assert qr(link, quick=True) in sheet.text and link in sheet.text
        joined = await client.get(link.removeprefix(BASE_URL))
        assert joined.status_code == 200 and f'value="{code}"' in joined.text, "the join page has the code filled in"
    gone = await client.post(
        f"/organize/rounds/{round_id}/codes/{batch}/download", data={FORM_FIELD: csrf, "format": "csv"}
    )
    assert gone.status_code == 409


async def test_revoking_a_round_code_batch_asks_first_and_then_its_unused_codes_join_no_more(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token)
    round_id, _ = await make_round(app, client, token, slug=slug)
    batch = (await client.post(f"/api/v1/rounds/{round_id}/codes", json={"count": 2}, headers=bearer(token))).json()
    csrf = await signed_in(client)
    page = (await client.get(f"/organize/rounds/{round_id}/codes")).text
    revoke = f"/organize/rounds/{round_id}/codes/{batch['batch']}/revoke"
    assert f'href="{revoke}"' in page, "the codes page links to the question, it does not revoke"
    question = await client.get(revoke)
    assert (
        "Are you sure you want to revoke the unused codes of" in question.text and f'action="{revoke}"' in question.text
    )
    assert await app.state.db.fetch_val("SELECT COUNT(*) FROM round_code_batches WHERE revoked_at IS NULL") == 1
    done = await client.post(revoke, data={FORM_FIELD: csrf})
    assert (
        done.status_code == 303
        and done.headers["location"] == f"/organize/rounds/{round_id}/codes?done=round-codes-revoked"
    )
    join = await client.post(f"/api/v1/rounds/{round_id}/participants", json={"code": batch["codes"][0]})
    assert join.status_code == 422, "a revoked batch's code joins no more"
    again = await client.get(revoke)
    assert again.status_code == 409 and "revoked already" in summary_of(again.text)
    assert (await client.get(f"/organize/rounds/{round_id}/codes/no-such-batch/revoke")).status_code == 404


async def test_a_round_of_a_petition_without_printed_codes_has_no_codes_page(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token, verification=["email"], allowed_domains=["example.com"])
    round_id, _ = await make_round(app, client, token, slug=slug)
    await signed_in(client)
    assert "Printed codes" not in (await client.get(f"/organize/rounds/{round_id}")).text
    assert (await client.get(f"/organize/rounds/{round_id}/codes")).status_code == 404


async def test_every_round_form_is_refused_without_its_csrf_token_and_changes_nothing(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    petition_id, round_id = await draft_round(app, client, token)
    batch = (await client.post(f"/api/v1/rounds/{round_id}/codes", json={"count": 2}, headers=bearer(token))).json()
    await signed_in(client)
    before = await round_rows(app.state.db)
    for path in (
        f"/organize/petitions/{petition_id}/rounds",
        f"/organize/rounds/{round_id}/edit",
        f"/organize/rounds/{round_id}/open",
        f"/organize/rounds/{round_id}/close",
        f"/organize/rounds/{round_id}/codes",
        f"/organize/rounds/{round_id}/codes/{batch['batch']}/revoke",
    ):
        answer = await client.post(path, data={**FORM, "count": "2"})
        assert answer.status_code == 403, path
    assert await round_rows(app.state.db) == before
    assert await app.state.db.fetch_val("SELECT COUNT(*) FROM round_code_batches") == 1

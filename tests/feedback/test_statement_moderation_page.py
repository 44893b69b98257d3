"""The organizers' statements page of a round: the waiting, approved and hidden lists with their flags,
approving and hiding the selected statements (all or nothing), and who may see or use it."""

from __future__ import annotations

import re
import threading

import httpx
import pytest
from starlette.applications import Starlette

from petition import flagger
from petition.csrf import FORM_FIELD
from petition.database import Database
from petition.feedback import statements
from petition.feedback.round_pages_organizer import NOTICES

from ..conftest import ORGANIZER_PASSWORD
from ..test_login import csrf_of, log_in
from ..test_petitions import bearer as organizer_bearer
from ..test_petitions import other_organizer_token
from ..test_signing import open_petition
from .factories import add_participant, add_statement, make_round

pytestmark = pytest.mark.usefixtures("organizer")
SUMMARY = re.compile(r'<div class="error-summary".*?</div>', re.DOTALL)
ROUND_NAV = re.compile(r'<nav class="tasks" aria-label="This round">(.*?)</nav>', re.DOTALL)


async def statuses(db: Database, round_id: str) -> dict[str, str]:
    """Each statement's text -> its status."""
    rows = await db.fetch_all("SELECT text, status FROM round_statements WHERE round_id = :id", {"id": round_id})
    return {row["text"]: row["status"] for row in rows}


async def moderated_round(app: Starlette, client: httpx.AsyncClient, token: str) -> tuple[str, dict[str, str]]:
    """An open round with one approved seed, two waiting participants' statements and a hidden one;
    (round id, text -> statement id)."""
    round_id, [seed] = await make_round(app, client, token, statements=("Seed qz.",))
    ids = {"Seed qz.": seed}
    for text in ("Waiting one qz.", "Waiting two qz."):
        ids[text] = await add_statement(app.state.db, round_id, text, status="waiting", seed=0)
    ids["Hidden qz."] = await add_statement(app.state.db, round_id, "Hidden qz.", status="hidden", seed=0)
    return round_id, ids


async def signed_in(client: httpx.AsyncClient, path: str) -> str:
    """Alice logged in; the CSRF token of `path`'s form."""
    assert (await log_in(client, "alice@example.org", ORGANIZER_PASSWORD)).status_code == 303
    return await csrf_of(client, path)


async def public_texts(client: httpx.AsyncClient, round_id: str) -> set[str]:
    answer = await client.get(f"/api/v1/rounds/{round_id}/statements")
    return {item["text"] for item in answer.json()["statements"]}


async def test_each_list_shows_its_statements_with_a_checkbox_and_the_counts_of_all_three(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    round_id, ids = await moderated_round(app, client, token)
    path = f"/organize/rounds/{round_id}/statements"
    await signed_in(client, "/organize")
    waiting = await client.get(path)
    assert waiting.status_code == 200 and waiting.headers["cache-control"] == "no-store"
    assert 'aria-current="page">Waiting (2)' in waiting.text
    assert "Approved (1)" in waiting.text and "Hidden (1)" in waiting.text
    nav = ROUND_NAV.search(waiting.text)
    assert nav and f'<a href="{path}" aria-current="page">Statements</a>' in nav.group(1)
    for text in ("Waiting one qz.", "Waiting two qz."):
        assert f'name="statement" type="checkbox" value="{ids[text]}"' in waiting.text, text
    assert "Seed qz." not in waiting.text and "Hidden qz." not in waiting.text
    assert "Approve selected" in waiting.text and "Hide selected" in waiting.text
    approved = await client.get(f"{path}?status=approved")
    assert 'aria-current="page">Approved (1)' in approved.text and "(a seed statement)" in approved.text
    assert f'value="{ids["Seed qz."]}"' in approved.text and "Waiting one qz." not in approved.text
    assert "Approve selected" not in approved.text and "Hide selected" in approved.text
    hidden = await client.get(f"{path}?status=hidden")
    assert 'aria-current="page">Hidden (1)' in hidden.text and f'value="{ids["Hidden qz."]}"' in hidden.text
    assert "Approve selected" in hidden.text and "Hide selected" not in hidden.text
    unknown = await client.get(f"{path}?status=deleted")
    assert unknown.status_code == 200 and 'aria-current="page">Waiting (2)' in unknown.text, "anything else: the queue"


async def test_a_list_longer_than_a_page_links_to_the_next_and_a_bad_cursor_starts_again(
    app: Starlette, client: httpx.AsyncClient, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(statements, "QUEUE_PAGE_SIZE", 2)
    round_id, _ = await moderated_round(app, client, token)
    await add_statement(app.state.db, round_id, "Waiting three qz.", status="waiting", seed=0)
    path = f"/organize/rounds/{round_id}/statements"
    await signed_in(client, "/organize")
    first = await client.get(path)
    more = re.search(r'<a href="([^"]+)">More waiting statements</a>', first.text)
    assert more and first.text.count('name="statement" type="checkbox"') == 2
    second = await client.get(more.group(1).replace("&amp;", "&"))
    assert second.text.count('name="statement" type="checkbox"') == 1 and "More waiting" not in second.text
    assert '<input type="hidden" name="cursor"' in second.text, "the form says which page it is on"
    bad = await client.get(f"{path}?cursor=not-a-cursor!")
    assert bad.status_code == 200 and bad.text.count('name="statement" type="checkbox"') == 2
    assert '<input type="hidden" name="cursor"' not in bad.text


async def test_approving_selected_statements_lists_them_publicly_and_on_the_round_page(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db = app.state.db
    round_id, ids = await moderated_round(app, client, token)
    path = f"/organize/rounds/{round_id}/statements"
    csrf = await signed_in(client, path)
    assert "Statements waiting: 2" in (await client.get(f"/organize/rounds/{round_id}")).text
    _, held = await add_participant(db, round_id)
    participant = httpx.AsyncClient(transport=client._transport, base_url=str(client.base_url))
    participant.cookies.set("participant", held)
    async with participant:
        assert "1 statement left." in (await participant.get(f"/r/{round_id}")).text
        assert await public_texts(client, round_id) == {"Seed qz."}
        chosen = [ids["Waiting one qz."], ids["Waiting two qz."]]
        done = await client.post(
            path, data={FORM_FIELD: csrf, "action": "approve", "statement": chosen, "status": "waiting"}
        )
        assert done.status_code == 303 and done.headers["location"] == f"{path}?status=waiting&done=statements-approved"
        after = await client.get(done.headers["location"])
        assert NOTICES["statements-approved"] in after.text and "No waiting statements." in after.text
        assert await public_texts(client, round_id) == {"Seed qz.", "Waiting one qz.", "Waiting two qz."}
        assert "3 statements left." in (await participant.get(f"/r/{round_id}")).text
    assert "Statements waiting: 0" in (await client.get(f"/organize/rounds/{round_id}")).text
    audit = await db.fetch_all("SELECT action, detail FROM audit_log WHERE action = 'statements moderated'")
    assert [(row["action"], row["detail"]) for row in audit] == [
        ("statements moderated", f"2 approved, 0 hidden in round {round_id}")
    ], "the audit row counts, as the data layer writes it"


async def test_hiding_selected_statements_takes_them_out_of_the_public_list_and_the_round_page(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db = app.state.db
    round_id, [first, second] = await make_round(app, client, token, statements=("Keep qz.", "Drop qz."))
    path = f"/organize/rounds/{round_id}/statements"
    csrf = await signed_in(client, path)
    _, held = await add_participant(db, round_id)
    participant = httpx.AsyncClient(transport=client._transport, base_url=str(client.base_url))
    participant.cookies.set("participant", held)
    async with participant:
        assert "2 statements left." in (await participant.get(f"/r/{round_id}")).text
        hide = {FORM_FIELD: csrf, "action": "hide", "statement": [second], "status": "approved"}
        done = await client.post(path, data=hide)
        assert done.status_code == 303 and done.headers["location"] == f"{path}?status=approved&done=statements-hidden"
        assert NOTICES["statements-hidden"] in (await client.get(done.headers["location"])).text
        assert await public_texts(client, round_id) == {"Keep qz."}
        assert "1 statement left." in (await participant.get(f"/r/{round_id}")).text
    hidden = await client.get(f"{path}?status=hidden")
    assert "Drop qz." in hidden.text and 'aria-current="page">Hidden (1)' in hidden.text
    assert await statuses(db, round_id) == {"Keep qz.": "approved", "Drop qz.": "hidden"}
    assert first


async def test_the_flags_warn_of_what_could_identify_someone_with_the_petitions_sensitive_words(
    app: Starlette, client: httpx.AsyncClient, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    slug = await open_petition(client, token)
    words = {"sensitive_words": ["project eclair"]}
    assert (await client.patch(f"/api/v1/petitions/{slug}", json=words, headers=organizer_bearer(token))).is_success
    round_id, _ = await make_round(app, client, token, slug=slug, statements=())
    for text in ("Mail night.worker@example.com qz.", "Project Éclair ruined the rota.", "Fair rotas qz."):
        await add_statement(app.state.db, round_id, text, status="waiting", seed=0)
    threads: list[tuple[int, bool]] = []
    flag_all = statements._flag_all

    def counted(texts: list[str], found: list[str]) -> list[list[flagger.Flag]]:
        threads.append((len(texts), threading.current_thread() is threading.main_thread()))
        return flag_all(texts, found)

    monkeypatch.setattr(statements, "_flag_all", counted)
    await signed_in(client, "/organize")
    page = (await client.get(f"/organize/rounds/{round_id}/statements")).text
    assert page.count("Could identify someone:") == 2
    assert "email <bdi>night.worker@example.com</bdi>" in page and "sensitive word <bdi>Project Éclair</bdi>" in page
    assert threads == [(3, False)], "the page's flags are computed in one call, off the event loop"


async def test_selecting_no_statement_links_the_error_summary_to_the_first_checkbox(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    round_id, _ = await moderated_round(app, client, token)
    path = f"/organize/rounds/{round_id}/statements"
    csrf = await signed_in(client, path)
    before = await statuses(app.state.db, round_id)
    empty = await client.post(path, data={FORM_FIELD: csrf, "action": "approve", "status": "waiting"})
    assert empty.status_code == 422 and "<title>Error: " in empty.text
    summary = SUMMARY.search(empty.text)
    assert summary and '<a href="#statement-1">Select at least one statement' in summary.group(0)
    assert 'id="statement-1" name="statement" type="checkbox"' in empty.text, "the link leads to the first box"
    assert '<fieldset aria-describedby="statement-error">' in empty.text and 'id="statement-error"' in empty.text
    no_action = await client.post(path, data={FORM_FIELD: csrf, "statement": [next(iter(before))], "status": "hidden"})
    assert no_action.status_code == 422 and "Choose Approve selected or Hide selected." in no_action.text
    assert await statuses(app.state.db, round_id) == before, "nothing changed"
    # A list with no box left (all moved on meanwhile): the message stands alone, linking nowhere.
    round_empty, _ = await make_round(app, client, token, statements=())
    other_path = f"/organize/rounds/{round_empty}/statements"
    nothing = await client.post(other_path, data={FORM_FIELD: csrf, "action": "hide", "status": "approved"})
    assert nothing.status_code == 422 and "Select at least one statement" in nothing.text
    assert 'href="#statement-1"' not in nothing.text and "No approved statements." in nothing.text


async def test_an_empty_id_selects_nothing_and_a_refusal_answers_on_the_page_it_came_from(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    round_id, _ = await moderated_round(app, client, token)
    path = f"/organize/rounds/{round_id}/statements"
    csrf = await signed_in(client, path)
    before = await statuses(app.state.db, round_id)
    cursor = statements.encode_cursor("0")  # a second page's place
    fields = {FORM_FIELD: csrf, "action": "approve", "status": "hidden", "cursor": cursor, "statement": ""}
    answer = await client.post(path, data=fields)
    assert answer.status_code == 422 and "Select at least one statement" in answer.text, "an empty id is no statement"
    assert f'<input type="hidden" name="cursor" value="{cursor}">' in answer.text, "still on the page it came from"
    assert 'aria-current="page">Hidden (1)' in answer.text, "still on the list it came from"
    assert await statuses(app.state.db, round_id) == before


async def test_an_unknown_or_another_rounds_statement_changes_nothing(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    round_id, ids = await moderated_round(app, client, token)
    other_round, [foreign] = await make_round(app, client, token, statements=("Elsewhere qz.",))
    path = f"/organize/rounds/{round_id}/statements"
    csrf = await signed_in(client, path)
    before = await statuses(app.state.db, round_id)
    audited = await app.state.db.fetch_val("SELECT COUNT(*) FROM audit_log")
    for stranger in ("no-such-statement", foreign):
        chosen = [ids["Waiting one qz."], stranger]
        answer = await client.post(
            path, data={FORM_FIELD: csrf, "action": "hide", "statement": chosen, "status": "approved"}
        )
        assert answer.status_code == 404, stranger
        summary = SUMMARY.search(answer.text)
        assert summary and "statements any more: nothing was changed." in summary.group(0)
        assert 'aria-current="page">Approved (1)' in answer.text, "answered on the list it came from"
    assert await statuses(app.state.db, round_id) == before
    assert await statuses(app.state.db, other_round) == {"Elsewhere qz.": "approved"}
    assert await app.state.db.fetch_val("SELECT COUNT(*) FROM audit_log") == audited, "no audit row either"


async def test_moderating_without_the_csrf_token_is_refused_and_changes_nothing(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    round_id, ids = await moderated_round(app, client, token)
    path = f"/organize/rounds/{round_id}/statements"
    await signed_in(client, path)
    before = await statuses(app.state.db, round_id)
    chosen = [ids["Waiting one qz."]]
    forged = await client.post(path, data={"action": "approve", "statement": chosen})
    assert forged.status_code == 403, "no CSRF token, no change"
    wrong = await client.post(path, data={FORM_FIELD: "forged", "action": "approve", "statement": chosen})
    assert wrong.status_code == 403
    assert await statuses(app.state.db, round_id) == before


async def test_another_organizer_finds_neither_the_page_nor_the_form(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    round_id, ids = await moderated_round(app, client, token)
    path = f"/organize/rounds/{round_id}/statements"
    before = await statuses(app.state.db, round_id)
    assert await other_organizer_token(app)
    assert (await log_in(client, "bob@example.org", ORGANIZER_PASSWORD)).status_code == 303
    page = await client.get(path)
    assert page.status_code == 404 and "Waiting one qz." not in page.text
    csrf = await csrf_of(client, "/organize")
    chosen = [ids["Waiting one qz."]]
    refused = await client.post(path, data={FORM_FIELD: csrf, "action": "approve", "statement": chosen})
    assert refused.status_code == 404 and "Waiting one qz." not in refused.text
    assert (await client.get("/organize/rounds/no-such-round/statements")).status_code == 404
    assert await statuses(app.state.db, round_id) == before


async def test_a_visitor_not_logged_in_is_sent_to_log_in(app: Starlette, client: httpx.AsyncClient, token: str) -> None:
    round_id, ids = await moderated_round(app, client, token)
    path = f"/organize/rounds/{round_id}/statements"
    before = await statuses(app.state.db, round_id)
    page = await client.get(path)
    assert page.status_code == 303 and page.headers["location"] == "/login"
    csrf = await csrf_of(client, "/login")
    chosen = [ids["Waiting one qz."]]
    posted = await client.post(path, data={FORM_FIELD: csrf, "action": "approve", "statement": chosen})
    assert posted.status_code == 303 and posted.headers["location"] == "/login"
    assert await statuses(app.state.db, round_id) == before


async def test_the_rounds_page_counts_waiting_statements_and_links_to_moderate_them(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    round_id, _ = await moderated_round(app, client, token)
    await signed_in(client, "/organize")
    page = (await client.get(f"/organize/rounds/{round_id}")).text
    path = f"/organize/rounds/{round_id}/statements"
    assert f'Statements waiting: 2 (<a href="{path}">moderate statements</a>)' in page
    nav = ROUND_NAV.search(page)
    assert nav and f'<a href="{path}">Statements</a>' in nav.group(1)

"""The one text rule: what the service refuses in text it takes, and how stored text is shown."""

from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from petition import flyer_batches, flyers
from petition.batcher import close_batch
from petition.csrf import FORM_FIELD
from petition.database import Database, Transaction

from .printed import text as printed_text
from .test_cli import MAIN, clean_environ
from .test_flyer_batches import make
from .test_login import PASSWORD, csrf_of, log_in
from .test_petitions import bearer, create
from .test_signing import make_codes, open_petition, petition_id, sign

pytestmark = pytest.mark.usefixtures("organizer")
# What XML 1.0 forbids: noncharacters and a C0 control.
FORBIDDEN = ["\uffff", "\ufffe", "\ufdd0", "\x01"]
RIGHT_TO_LEFT_NAME = "דנה כהן"


async def count(db: Database, table: str) -> int:
    return int(await db.fetch_val(f"SELECT COUNT(*) FROM {table}"))


async def write(db: Database, sql: str, values: dict[str, object]) -> None:
    async def unit(tx: Transaction) -> None:
        await tx.execute(sql, values)

    await db.write(unit)


def refused(response: httpx.Response, field: str) -> bool:
    error = response.json()["error"]
    return response.status_code == 422 and any(item["field"] == field for item in error["fields"])


@pytest.mark.parametrize("char", FORBIDDEN)
async def test_characters_xml_forbids_are_refused_in_every_api_text_field_and_nothing_is_stored(
    app: Starlette, client: httpx.AsyncClient, token: str, char: str
) -> None:
    db: Database = app.state.db
    for field in ("title", "summary", "target", "body"):
        response = await create(client, token, **{field: f"Fair{char}shifts"})
        assert refused(response, field), (field, response.text)
        assert field in response.json()["error"]["message"], "the message names the field"
    assert await count(db, "petitions") == 0
    slug = await open_petition(client, token)
    for field in ("title", "summary", "target", "body"):
        changed = await client.patch(f"/api/v1/petitions/{slug}", json={field: f"a{char}"}, headers=bearer(token))
        assert refused(changed, field), (field, changed.text)
    assert (await client.get(f"/api/v1/petitions/{slug}")).json()["title"] == "Stop the tracking program"
    [code] = await make_codes(client, token, slug, 1)
    for field in ("name", "role", "reason"):
        signed = await sign(client, slug, code, **{field: f"Alice{char}", "show_name": True})
        assert refused(signed, field), (field, signed.text)
    codes_made = await client.post(
        f"/api/v1/petitions/{slug}/codes", json={"count": 1, "label": f"wall{char}"}, headers=bearer(token)
    )
    assert refused(codes_made, "label")
    assert refused(await make(client, token, slug, label=f"wall{char}"), "label")
    assert await count(db, "code_batches") == 1 and await count(db, "flyer_batches") == 0
    assert await count(db, "pending_signatures") == 0 and await count(db, "signatures") == 0
    assert (await sign(client, slug, code)).status_code == 201, "the refused signatures spent no code"


async def test_a_bidi_override_is_refused_everywhere_and_direction_marks_only_in_long_text(
    client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token)
    codes = await make_codes(client, token, slug, 2)
    assert refused(await sign(client, slug, codes[0], name="\u202eAlice", show_name=True), "name")
    for field in ("title", "target"):
        response = await create(client, token, **{field: "Fair \u2067shifts\u2069"})
        assert refused(response, field), field
    for field in ("summary", "body"):
        assert refused(await create(client, token, **{field: "Fair \u202dshifts"}), field), field
    assert refused(await sign(client, slug, codes[0], reason="\u202eWhy"), "reason")
    assert refused(await sign(client, slug, codes[0], role="\u200fnight shift"), "role")
    marked = await create(client, token, summary=f"{RIGHT_TO_LEFT_NAME}\u200f (the founder)", body="\u2067שלום\u2069")
    assert marked.status_code == 201, "marks and isolates may stand in a summary or a body"
    assert (await sign(client, slug, codes[1], name=RIGHT_TO_LEFT_NAME, reason="למה\u200f!")).status_code == 201


async def test_line_breaks_and_tabs_are_refused_in_one_line_fields(client: httpx.AsyncClient, token: str) -> None:
    slug = await open_petition(client, token)
    [code] = await make_codes(client, token, slug, 1)
    for field in ("title", "summary", "target"):
        assert refused(await create(client, token, **{field: "Fair\nshifts"}), field), field
    assert refused(await sign(client, slug, code, name="Alice\rBob", show_name=True), "name")
    assert refused(await sign(client, slug, code, role="night\u2028shift"), "role")
    label = await client.post(
        f"/api/v1/petitions/{slug}/codes", json={"count": 1, "label": "a\tb"}, headers=bearer(token)
    )
    assert refused(label, "label")
    assert (await create(client, token, body="One.\r\n\r\nTwo.\tThree.")).status_code == 201
    assert (await sign(client, slug, code, reason="First line.\nSecond line.")).status_code == 201


async def test_the_forms_show_the_text_rule_again_and_store_nothing(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db: Database = app.state.db
    slug = await open_petition(client, token)
    [code] = await make_codes(client, token, slug, 1)
    signed = await client.post(f"/p/{slug}/sign", data={"code": code, "name": "\u202eAlice", "show_name": "on"})
    assert signed.status_code == 422 and "direction of text" in signed.text
    assert await count(db, "pending_signatures") == 0
    await log_in(client, "alice@example.org")
    csrf = await csrf_of(client, "/organize/petitions/new")
    form = {FORM_FIELD: csrf, "title": "Fair\uffffshifts", "summary": "Rotas.", "target": "Operations", "goal": "50"}
    page = await client.post("/organize/petitions", data={**form, "verification": "email", "retention_days": "30"})
    assert page.status_code == 422 and re.search(r'id="title-error">[^<]*noncharacters', page.text)
    made = await client.post(
        f"/organize/petitions/{slug}/codes", data={FORM_FIELD: csrf, "count": "2", "label": "a\x01"}
    )
    assert "control characters" in made.text
    flyer = {FORM_FIELD: csrf, "label": "\ufdd0", "layout": "poster", "paper_size": "a4", "copies": "1"}
    assert "noncharacters" in (await client.post(f"/organize/petitions/{slug}/flyers", data=flyer)).text
    named = await client.post("/organize/tokens", data={FORM_FIELD: csrf, "name": "cron\u202e"})
    assert named.status_code == 422 and "direction of text" in named.text
    assert await count(db, "petitions") == 1 and await count(db, "code_batches") == 1
    assert await count(db, "flyer_batches") == 0 and await count(db, "api_tokens") == 1


def test_the_command_line_refuses_a_token_name_with_a_control_character(tmp_path: Path) -> None:
    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        command = [sys.executable, str(MAIN), *args]
        environ = clean_environ(tmp_path, {})
        return subprocess.run(command, cwd=tmp_path, env=environ, input=stdin, capture_output=True, text=True)

    assert run("create-organizer", "bob@example.org", stdin=PASSWORD + "\n").returncode == 0
    made = run("create-token", "bob@example.org", "--name", "night\x01shift")
    assert made.returncode == 2 and "control characters" in made.stderr and "Traceback" not in made.stderr
    assert run("create-token", "bob@example.org", "--name", "night shift").returncode == 0


async def test_the_feed_and_flyers_stay_well_formed_when_a_stored_row_holds_forbidden_characters(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token)
    db: Database = app.state.db
    stored = "Fair\uffff\ufffe\ufdd0\x01\x0b shifts"  # as a row written before the text rule existed
    sql = "UPDATE petitions SET title = :text, summary = :text, target = :text WHERE slug = :slug"
    await write(db, sql, {"text": stored, "slug": slug})
    app.state.public_cache.clear()
    feed = await client.get(f"/p/{slug}/feed.atom")
    assert feed.status_code == 200
    title = ET.fromstring(feed.content).find("{http://www.w3.org/2005/Atom}title")
    assert title is not None and title.text == "Fair shifts"
    batch = (await make(client, token, slug, layout="tearoff")).json()
    svg = await client.get(batch["downloads"]["svg"], headers=bearer(token))
    assert svg.status_code == 200 and ET.fromstring(svg.content) is not None
    png = await client.get(batch["downloads"]["png"], headers=bearer(token))
    pdf = await client.get(batch["downloads"]["pdf"], headers=bearer(token))
    assert png.content.startswith(b"\x89PNG") and pdf.content.startswith(b"%PDF")
    page = await client.get(f"/p/{slug}")
    assert page.status_code == 200 and "\uffff" not in page.text and "\x01" not in page.text


async def test_pages_the_feed_and_flyers_drop_direction_overrides_stored_before_the_text_rule(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token)
    [code] = await make_codes(client, token, slug, 1)
    assert (await sign(client, slug, code, name="Alice", role="Nurse", show_name=True)).status_code == 201
    db: Database = app.state.db
    await close_batch(db, app.state.settings, await petition_id(db, slug))
    stored = "\u202eFair\u202d shifts"  # as rows written before the text rule existed
    sql = "UPDATE petitions SET title = :text, summary = :text, target = :text, body = :text WHERE slug = :slug"
    await write(db, sql, {"text": stored, "slug": slug})
    await write(db, "UPDATE signer_names SET name = :text, role = :text", {"text": stored})
    app.state.public_cache.clear()
    page = await client.get(f"/p/{slug}")
    assert page.status_code == 200 and page.text.count("Fair shifts") >= 5, "title, summary, target, body, name"
    feed = await client.get(f"/p/{slug}/feed.atom")
    batch = (await make(client, token, slug, layout="poster")).json()
    pdf = await client.get(batch["downloads"]["pdf"], headers=bearer(token))
    printed = printed_text(pdf.content)
    assert "Fair shifts" in feed.text and "Fair shifts" in printed
    for shown in (page.text, feed.text, printed):
        assert "\u202e" not in shown and "\u202d" not in shown


async def test_a_failed_drawing_never_spends_a_tear_off_batch_only_download(
    app: Starlette, client: httpx.AsyncClient, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    slug = await open_petition(client, token)
    batch = (await make(client, token, slug, layout="tearoff")).json()
    drawn = flyers.to_pdf

    def broken(*args: object, **kwargs: object) -> bytes:
        raise RuntimeError("the drawing failed")

    monkeypatch.setattr(flyers, "to_pdf", broken)
    failed = await client.get(batch["downloads"]["pdf"], headers=bearer(token))
    assert failed.status_code == 500 and "Traceback" not in failed.text
    # The organizer page draws large batches in the background: a failure there spends nothing either.
    monkeypatch.setattr(flyer_batches, "BACKGROUND_PAGES", 0)
    await log_in(client, "alice@example.org")
    csrf = await csrf_of(client, f"/organize/petitions/{slug}")
    download = f"/organize/petitions/{slug}/flyers/{batch['id']}/download"
    started = await client.post(download, data={FORM_FIELD: csrf, "kind": "pdf"}, follow_redirects=True)
    assert "being drawn" in started.text
    for task in list(app.state.flyer_drawings.tasks):
        await task
    answer = await client.post(download, data={FORM_FIELD: csrf, "kind": "pdf"})
    assert "Drawing these flyers failed" in answer.text
    monkeypatch.setattr(flyers, "to_pdf", drawn)
    pdf = await client.get(batch["downloads"]["pdf"], headers=bearer(token))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF"), "the codes were still there"
    again = await client.get(batch["downloads"]["pdf"], headers=bearer(token))
    assert again.status_code == 409, "and then only once"


async def test_user_text_is_isolated_so_right_to_left_names_read_correctly(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token, title=f"{RIGHT_TO_LEFT_NAME} for fair shifts")
    [code] = await make_codes(client, token, slug, 1)
    assert (
        await sign(client, slug, code, name=RIGHT_TO_LEFT_NAME, role="2nd shift", show_name=True)
    ).status_code == 201
    db: Database = app.state.db
    await close_batch(db, app.state.settings, await petition_id(db, slug))
    app.state.public_cache.clear()
    page = (await client.get(f"/p/{slug}")).text
    assert f'<bdi>{RIGHT_TO_LEFT_NAME}</bdi>, <bdi class="role">2nd shift</bdi>' in page
    # An English title that starts with a right-to-left name still reads left to right: its language says so.
    assert re.search(rf'<h1 id="petition-title" lang="en" dir="ltr">{RIGHT_TO_LEFT_NAME} for fair shifts</h1>', page)
    assert f"<title>\u2068{RIGHT_TO_LEFT_NAME} for fair shifts\u2069 · " in page, "no element isolates a title"
    assert '<p class="target">To: <bdi lang="en" dir="ltr">The board</bdi></p>' in page
    assert '<p class="lead" lang="en" dir="ltr">Our data should stay ours.</p>' in page
    assert '<p dir="auto">First paragraph.</p>' in page, "each paragraph of the body finds its own direction"


async def test_an_address_holding_a_forbidden_character_names_nothing(client: httpx.AsyncClient, token: str) -> None:
    slug = await open_petition(client, token)
    for path in (f"/p/%00{slug}", f"/p/{slug}%EF%BF%BF", "/f/%00ABC"):
        assert (await client.get(path)).status_code == 404, path
    for path in (f"/api/v1/petitions/%00{slug}", f"/api/v1/petitions/{slug}%01"):
        answer = await client.get(path, headers=bearer(token))
        assert answer.status_code == 404 and answer.json()["error"]["code"], path
    resend = await client.post(f"/api/v1/petitions/%00{slug}/signatures/resend", json={"attempt": "0"})
    assert resend.status_code == 404


async def test_query_parameters_follow_the_text_rule(client: httpx.AsyncClient, token: str) -> None:
    slug = await open_petition(client, token)
    for path, name in (("/api/v1/petitions", "cursor"), (f"/api/v1/petitions/{slug}/count", "at")):
        answer = await client.get(path, params={name: "\x00\uffff"})
        assert refused(answer, name), (path, answer.text)


BREAKING = "\x00\x01\uffff\u202e\r\n"


async def test_no_form_breaks_on_a_character_the_text_rule_refuses(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token)
    signer_forms = {
        f"/p/{slug}/sign": ("code", "email", "name", "role", "reason", "updates", "flyer"),
        f"/p/{slug}/verify": ("attempt", "code", "flyer"),
        f"/p/{slug}/resend": ("attempt", "flyer"),
        f"/p/{slug}/updates": ("receipt", "code", "address"),
        f"/p/{slug}/receipt": ("receipt", "action"),
        f"/p/{slug}/receipt/download": ("receipt",),
        f"/p/%00{slug}/sign": ("code",),
    }
    for path, fields in signer_forms.items():
        for field in fields:
            answer = await client.post(path, data={field: BREAKING})
            assert answer.status_code < 500, (path, field)
    for path, fields in {"/login": ("email", "password"), "/reset": ("email",)}.items():
        csrf = await csrf_of(client, path)
        for field in fields:
            answer = await client.post(path, data={FORM_FIELD: csrf, field: BREAKING})
            assert answer.status_code < 500, (path, field)
    await log_in(client, "alice@example.org")
    csrf = await csrf_of(client, "/organize")
    organizer_forms = {
        "/organize/petitions": ("title", "summary", "body", "target", "slug", "goal", "closes_at", "allowed_domains"),
        f"/organize/petitions/{slug}/edit": ("title", "summary", "body", "target", "goal", "closes_at"),
        f"/organize/petitions/{slug}/codes": ("count", "label"),
        f"/organize/petitions/{slug}/flyers": ("label", "layout", "paper_size", "copies"),
        f"/organize/petitions/{slug}/flyers/nosuch/download": ("kind", "page"),
        f"/organize/petitions/{slug}/organizers": ("email",),
        "/organize/tokens": ("name",),
        "/organize/admin/invite": ("email",),
        "/organize/two-factor/confirm": ("secret", "signature", "code"),
    }
    for path, fields in organizer_forms.items():
        for field in fields:
            answer = await client.post(path, data={FORM_FIELD: csrf, field: BREAKING})
            assert answer.status_code < 500, (path, field)


FORGED_RECEIPT = "x\x00y\uffff\u202ez\r\nq"


async def test_the_receipt_forms_take_only_what_a_receipt_can_be_and_never_show_anything_else(
    client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token)
    [code] = await make_codes(client, token, slug, 1)
    receipt = (await sign(client, slug, code)).json()["receipt"]
    for path in (f"/p/{slug}/receipt/download", f"/p/{slug}/receipt", f"/p/{slug}/updates"):
        for forged in (FORGED_RECEIPT, receipt + "x", receipt[:-1] + "="):
            answer = await client.post(path, data={"receipt": forged})
            assert answer.status_code == 422 and "content-disposition" not in answer.headers, (path, forged)
            assert answer.headers["content-type"].startswith("text/html") and "That is not a receipt" in answer.text
            assert forged not in answer.text and "\u202e" not in answer.text and 'value=""' in answer.text
    download = await client.post(f"/p/{slug}/receipt/download", data={"receipt": f" {receipt}\n"})
    assert download.status_code == 200 and f"\n\n{receipt}\n\n" in download.text


def value_of(page: str, field_id: str) -> str:
    found = re.search(rf'<input id="{field_id}" name="\w+" value="([^"]*)"', page)
    assert found, field_id
    return found.group(1)


async def test_a_code_in_the_address_is_put_in_the_form_only_when_it_can_be_a_printed_code(
    client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token)
    [code] = await make_codes(client, token, slug, 1)
    for given in ("%00%EF%BF%BF%E2%80%AEab", "%E2%80%AE" + code, code + "-0", "ABCD", "<b>"):
        page = await client.get(f"/p/{slug}?code={given}", follow_redirects=True)
        assert page.status_code == 200 and value_of(page.text, "code-code") == "", given
    for given in (code, code.lower(), code.replace("-", "")):
        page = await client.get(f"/p/{slug}?code={given}", follow_redirects=True)
        assert value_of(page.text, "code-code") == given


async def test_the_emailed_code_page_keeps_only_what_an_attempt_can_be(client: httpx.AsyncClient, token: str) -> None:
    slug = await open_petition(client, token, verification=["email"], allowed_domains=["example.com"])
    for path in (f"/p/{slug}/verify", f"/p/{slug}/resend"):
        answer = await client.post(path, data={"attempt": "\u202e" + "a" * 32, "code": "1234-5678"})
        assert answer.status_code == 404 and "Start again" in answer.text and "\u202e" not in answer.text, path


def filled_with_line_breaks(limit: int, line: int, line_break: str) -> str:
    """Text of `limit` characters as a browser counts them (each line break one), in lines of
    `line` letters ending in `line_break` ("\\r\\n" as browsers send it, "\\r\\n\\r\\n" between
    paragraphs), the last line filling what is left."""
    counted = line + len(line_break.replace("\r\n", "\n"))
    lines = (limit - line) // counted
    text = ("q" * line + line_break) * lines
    return text + "q" * (limit - lines * counted)


# Every multi-line text field: its textarea's maxlength, and the lines browsers fill it with.
REASON = filled_with_line_breaks(500, 49, "\r\n")
UPDATE_BODY = filled_with_line_breaks(5_000, 98, "\r\n\r\n")
PETITION_BODY = filled_with_line_breaks(20_000, 198, "\r\n\r\n")


async def stored_reasons(app: Starlette, slug: str) -> list[str]:
    await close_batch(app.state.db, app.state.settings, await petition_id(app.state.db, slug))
    return [row["reason"] for row in await app.state.db.fetch_all("SELECT reason FROM signer_reasons")]


async def test_a_textarea_filled_to_its_maxlength_with_crlf_line_breaks_is_taken_and_stored_with_line_feeds(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db: Database = app.state.db
    assert len(REASON.replace("\r\n", "\n")) == 500 and len(REASON) > 500
    slug = await open_petition(client, token)
    [code] = await make_codes(client, token, slug, 1)
    too_long = await client.post(f"/p/{slug}/sign", data={"method": "code", "code": code, "reason": REASON + "q"})
    assert too_long.status_code == 422 and "500 characters or fewer" in too_long.text, "the limit still holds"
    signed = await client.post(f"/p/{slug}/sign", data={"method": "code", "code": code, "reason": REASON})
    assert signed.status_code == 303, signed.text
    assert await stored_reasons(app, slug) == [REASON.replace("\r\n", "\n")]
    await log_in(client, "alice@example.org")
    csrf = await csrf_of(client, "/organize/petitions/new")
    form = {
        FORM_FIELD: csrf,
        "title": "Fair shifts",
        "summary": "Rotas two weeks ahead.",
        "target": "Operations",
        "body": PETITION_BODY,
        "goal": "50",
        "verification": "code",
        "timeline_floor": "day",
        "retention_days": "30",
    }
    assert (await client.post("/organize/petitions", data={**form, "body": PETITION_BODY + "q"})).status_code == 422
    created = await client.post("/organize/petitions", data=form)
    assert created.status_code == 303, created.text
    draft = str(await db.fetch_val("SELECT id FROM petitions WHERE slug = 'fair-shifts'"))
    assert await db.fetch_val("SELECT body FROM petitions WHERE id = :id", {"id": draft}) == PETITION_BODY.replace(
        "\r\n", "\n"
    )
    edited_body = "Edited.\r\n" + PETITION_BODY[9:]
    edited = await client.post(f"/organize/petitions/{draft}/edit", data={**form, "body": edited_body})
    assert edited.status_code == 303, edited.text
    assert await db.fetch_val("SELECT body FROM petitions WHERE id = :id", {"id": draft}) == edited_body.replace(
        "\r\n", "\n"
    )
    path = f"/organize/petitions/{await petition_id(db, slug)}/updates"
    update = {FORM_FIELD: csrf, "title": "We met the board", "body": UPDATE_BODY + "q"}
    assert (await client.post(path, data=update)).status_code == 422
    posted = await client.post(path, data={**update, "body": UPDATE_BODY})
    assert posted.status_code == 303, posted.text
    assert [row["body"] for row in await db.fetch_all("SELECT body FROM petition_updates")] == [
        UPDATE_BODY.replace("\r\n", "\n")
    ]


async def test_the_api_stores_crlf_and_lone_cr_line_breaks_as_line_feeds_counting_each_as_one_character(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db: Database = app.state.db
    slug = await open_petition(client, token)
    [code, second] = await make_codes(client, token, slug, 2)
    lone_cr = REASON.replace("\r\n", "\r")
    assert refused(await sign(client, slug, code, reason=REASON + "q"), "reason"), "the limit still holds"
    assert (await sign(client, slug, code, reason=REASON)).status_code == 201
    assert (await sign(client, slug, second, reason=lone_cr)).status_code == 201
    assert await stored_reasons(app, slug) == [REASON.replace("\r\n", "\n")] * 2
    assert refused(await create(client, token, body=PETITION_BODY + "q"), "body")
    created = await create(client, token, body=PETITION_BODY)
    assert created.status_code == 201 and created.json()["body"] == PETITION_BODY.replace("\r\n", "\n")
    draft = created.json()["id"]
    changed = await client.patch(
        f"/api/v1/petitions/{draft}", json={"body": PETITION_BODY.replace("\r\n", "\r")}, headers=bearer(token)
    )
    assert changed.status_code == 200 and changed.json()["body"] == PETITION_BODY.replace("\r\n", "\n")
    assert await db.fetch_val("SELECT body FROM petitions WHERE id = :id", {"id": draft}) == changed.json()["body"]
    updates = f"/api/v1/petitions/{slug}/updates"
    too_long = await client.post(updates, json={"title": "Met", "body": UPDATE_BODY + "q"}, headers=bearer(token))
    assert refused(too_long, "body")
    posted = await client.post(updates, json={"title": "Met", "body": UPDATE_BODY}, headers=bearer(token))
    assert posted.status_code == 201, posted.text
    assert [row["body"] for row in await db.fetch_all("SELECT body FROM petition_updates")] == [
        UPDATE_BODY.replace("\r\n", "\n")
    ]
    blank = await client.post(updates, json={"title": "Met", "body": "\r\n\r"}, headers=bearer(token))
    assert refused(blank, "body"), "line breaks alone are still blank"

"""Flyer batches: made through the API, downloaded, followed by counters, tear-off codes once."""

from __future__ import annotations

import io
import re
from dataclasses import replace

import httpx
import pytest
from PIL import Image
from starlette.applications import Starlette

from petition.database import Database

from .printed import decode, qr_codes
from .test_petitions import bearer, other_organizer_token
from .test_signing import count_everything, open_petition

pytestmark = pytest.mark.usefixtures("organizer")


async def make(client: httpx.AsyncClient, token: str, slug: str, **fields: object) -> httpx.Response:
    body = {"label": "Canteen wall", "layout": "poster", "paper_size": "a4", **fields}
    return await client.post(f"/api/v1/petitions/{slug}/flyers", json=body, headers=bearer(token))


async def test_a_batch_is_made_and_downloaded_as_pdf_svg_and_png(client: httpx.AsyncClient, token: str) -> None:
    slug = await open_petition(client, token)
    made = await make(client, token, slug, layout="handout", paper_size="letter", copies=2)
    assert made.status_code == 201
    batch = made.json()
    assert batch["url"].endswith(f"/f/{batch['batch_code']}") and batch["pages"] == 2
    assert batch["scans"] is None and batch["signatures"] is None, "fewer than MIN_CELL_SIZE"
    pdf = await client.get(batch["downloads"]["pdf"], headers=bearer(token))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    svg = await client.get(batch["downloads"]["svg"], params={"page": 2}, headers=bearer(token))
    assert svg.headers["content-type"].startswith("image/svg+xml") and "<svg" in svg.text
    png = await client.get(batch["downloads"]["png"], headers=bearer(token))
    assert png.content.startswith(b"\x89PNG")
    assert (await client.get(batch["downloads"]["png"], params={"page": 3}, headers=bearer(token))).status_code == 422
    assert (await client.get(batch["downloads"]["pdf"])).status_code == 401
    listed = (await client.get(f"/api/v1/petitions/{slug}/flyers", headers=bearer(token))).json()["batches"]
    assert [item["id"] for item in listed] == [batch["id"]]


async def test_bad_batches_are_refused_and_nothing_is_made(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token)
    for fields in (
        {"layout": "billboard"},
        {"paper_size": "a3"},
        {"copies": 0},
        {"copies": 501},
        {"label": "tab\there"},
        {"label": "x" * 81},
    ):
        response = await make(client, token, slug, **fields)
        assert response.status_code == 422 and response.json()["error"]["message"], fields
    other = await other_organizer_token(app)
    assert (await make(client, other, slug)).status_code == 404
    assert (await client.post(f"/api/v1/petitions/{slug}/close", headers=bearer(token))).status_code == 200
    closed = await make(client, token, slug)
    assert closed.status_code == 409 and "closed" in closed.json()["error"]["message"]
    db: Database = app.state.db
    assert await db.fetch_val("SELECT COUNT(*) FROM flyer_batches") == 0


async def test_the_short_link_counts_scans_and_the_signatures_that_come_through_it(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    app.state.settings = replace(app.state.settings, min_cell_size=2)
    slug = await open_petition(client, token)
    batch = (await make(client, token, slug)).json()
    codes = (await client.post(f"/api/v1/petitions/{slug}/codes", json={"count": 2}, headers=bearer(token))).json()
    for code in codes["codes"]:
        scan = await client.get(f"/f/{batch['batch_code']}")
        assert scan.status_code == 303 and scan.headers["location"] == f"/p/{slug}?f={batch['batch_code']}"
        page = await client.get(scan.headers["location"])
        assert f'href="/p/{slug}/sign/code?f={batch["batch_code"]}"' in page.text, "the method's link carries it"
        assert page.headers["cache-control"] == "no-store"
        form = await client.get(f"/p/{slug}/sign/code?f={batch['batch_code']}")
        assert f'name="flyer" value="{batch["batch_code"]}"' in form.text
        signed = await client.post(f"/p/{slug}/sign", data={"code": code, "flyer": batch["batch_code"]})
        assert signed.status_code == 303
    await client.get(f"/f/{batch['batch_code']}")
    assert (await client.get("/f/NOSUCHCODE")).status_code == 404
    before = (await client.get(f"/api/v1/petitions/{slug}/flyers", headers=bearer(token))).json()["batches"][0]
    assert before["scans"] is None, "counted in memory, written once a day"
    await app.state.flyer_counts.flush(force=True)
    scanned = (await client.get(f"/api/v1/petitions/{slug}/flyers", headers=bearer(token))).json()["batches"][0]
    assert scanned["scans"] == 3 and scanned["signatures"] is None, "signatures move when they are counted"
    await count_everything(app)
    after = (await client.get(f"/api/v1/petitions/{slug}/flyers", headers=bearer(token))).json()["batches"][0]
    assert after["scans"] == 3 and after["signatures"] == 2
    db: Database = app.state.db
    stored = await db.fetch_all("SELECT * FROM signatures")
    assert len(stored) == 2 and not any(batch["id"] in repr(dict(row)) for row in stored), (
        "no signature row holds a batch"
    )


async def test_tear_off_tabs_carry_codes_once_and_each_signs_once(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token)
    batch = (await make(client, token, slug, layout="tearoff")).json()
    preview = await client.get(batch["downloads"]["png"], headers=bearer(token))
    read = qr_codes(Image.open(io.BytesIO(preview.content)))
    assert sum(url.endswith("?code=XXXX-XXXX-XXXX-XXXX") for url in read) == 10, "placeholders, not codes, in a preview"
    pdf = await client.get(batch["downloads"]["pdf"], headers=bearer(token))
    assert pdf.status_code == 200
    [found] = decode(pdf.content)
    tab_codes = [re.search(r"code=(\S+)", url).group(1) for url in found if "code=" in url]  # type: ignore[union-attr]
    assert len(tab_codes) == 10 and batch["url"] in found
    again = await client.get(batch["downloads"]["pdf"], headers=bearer(token))
    assert again.status_code == 409 and "first download" in again.json()["error"]["message"]
    for code in tab_codes:
        first = await client.post(f"/api/v1/petitions/{slug}/signatures", json={"code": code})
        second = await client.post(f"/api/v1/petitions/{slug}/signatures", json={"code": code})
        assert (first.status_code, second.status_code) == (201, 422)
    await count_everything(app)
    listed = (await client.get(f"/api/v1/petitions/{slug}/flyers", headers=bearer(token))).json()["batches"][0]
    assert listed["signatures"] == 10, "a tab's code counts for its batch"


@pytest.mark.parametrize("length", [64, 70, 80])
async def test_a_tear_off_batch_takes_a_label_of_any_allowed_length(
    app: Starlette, client: httpx.AsyncClient, token: str, length: int
) -> None:
    slug = await open_petition(client, token)
    made = await make(client, token, slug, label="x" * length, layout="tearoff")
    assert made.status_code == 201, made.text
    assert made.json()["label"] == "x" * length
    label = await app.state.db.fetch_val("SELECT label FROM code_batches")
    assert label == "Tear-off flyers: " + "x" * length, "the codes' label is the service's own, never cut"


async def test_organizers_make_preview_and_download_flyers_on_the_petition_page(
    client: httpx.AsyncClient, token: str
) -> None:
    from petition.csrf import FORM_FIELD

    from .test_login import csrf_of, log_in

    slug = await open_petition(client, token)
    await log_in(client, "alice@example.org")
    csrf = await csrf_of(client, f"/organize/petitions/{slug}")
    form = {FORM_FIELD: csrf, "label": "Loading bay", "layout": "tearoff", "paper_size": "letter", "copies": "1"}
    made = await client.post(f"/organize/petitions/{slug}/flyers", data=form, follow_redirects=True)
    assert made.url.path.endswith("/flyers"), "a redirect: a reload makes no second batch"
    assert made.status_code == 200 and "Flyers made" in made.text and "Loading bay" in made.text
    assert "fewer than 5" in made.text
    assert "Download CSV" not in made.text, "a tear-off batch's codes are never offered as a list"
    flyer_id = re.search(r"/flyers/([0-9a-f]+)/download", made.text).group(1)  # type: ignore[union-attr]
    url = f"/organize/petitions/{slug}/flyers/{flyer_id}/download"
    preview = await client.post(url, data={FORM_FIELD: csrf, "kind": "png"})
    assert preview.headers["content-type"] == "image/png"
    pdf = await client.post(url, data={FORM_FIELD: csrf, "kind": "pdf"})
    assert pdf.content.startswith(b"%PDF")
    again = await client.post(url, data={FORM_FIELD: csrf, "kind": "pdf"})
    assert "first download" in again.text
    refused = await client.post(f"/organize/petitions/{slug}/flyers", data={**form, "copies": "0"})
    assert refused.status_code == 422 and "Enter a number of pages from 1 to 500" in refused.text


async def test_a_large_batch_is_drawn_in_the_background_with_its_progress_on_the_page(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    import asyncio
    import io

    from pypdf import PdfReader

    from petition.csrf import FORM_FIELD

    from .test_login import csrf_of, log_in

    slug = await open_petition(client, token)
    batch = (await make(client, token, slug, copies=25)).json()
    await log_in(client, "alice@example.org")
    csrf = await csrf_of(client, f"/organize/petitions/{slug}")
    url = f"/organize/petitions/{slug}/flyers/{batch['id']}/download"
    started = await client.post(url, data={FORM_FIELD: csrf, "kind": "pdf"}, follow_redirects=True)
    assert "The PDF is being drawn" in started.text and "of 25 pages" in started.text
    await asyncio.gather(*app.state.flyer_drawings.tasks)
    ready = await client.get(f"/organize/petitions/{slug}/flyers")
    assert "The PDF is ready" in ready.text
    pdf = await client.post(url, data={FORM_FIELD: csrf, "kind": "pdf"})
    assert len(PdfReader(io.BytesIO(pdf.content)).pages) == 25
    assert batch["id"] not in app.state.flyer_drawings.jobs, "handed over once, then forgotten"


async def test_a_tab_code_in_the_address_reaches_no_log_line_and_no_referer(
    app: Starlette, client: httpx.AsyncClient, token: str, capsys: pytest.CaptureFixture[str]
) -> None:
    slug = await open_petition(client, token)
    code = (await client.post(f"/api/v1/petitions/{slug}/codes", json={"count": 1}, headers=bearer(token))).json()
    page = await client.get(f"/p/{slug}", params={"code": code["codes"][0]}, follow_redirects=True)
    assert page.headers["referrer-policy"] == "no-referrer" and page.headers["cache-control"] == "no-store"
    assert page.history[0].headers["cache-control"] == "no-store" and code["codes"][0] in page.text
    app.state.access_log.flush()
    logged = capsys.readouterr().err
    assert "GET /p/{slug} 303" in logged and "GET /p/{slug}/sign/{method} 200" in logged
    assert code["codes"][0] not in logged


async def test_characters_no_font_has_are_named_to_the_organizer_before_printing(
    client: httpx.AsyncClient, token: str
) -> None:
    from petition.csrf import FORM_FIELD

    from .test_login import csrf_of, log_in

    unprintable = "\U000f0000"  # private use: no font has it
    slug = await open_petition(client, token, title=f"Fair shifts {unprintable} \u0378")
    made = await make(client, token, slug)
    assert made.status_code == 201 and made.json()["missing_characters"] == [unprintable, "\u0378"]
    listed = (await client.get(f"/api/v1/petitions/{slug}/flyers", headers=bearer(token))).json()["batches"]
    assert listed[0]["missing_characters"] == [unprintable, "\u0378"]
    await log_in(client, "alice@example.org")
    page = await client.get(f"/organize/petitions/{slug}/flyers")
    assert "These characters will not print:" in page.text and unprintable in page.text
    assert "(U+F0000)" in page.text, "named by code point: the character itself shows as nothing"
    csrf = await csrf_of(client, f"/organize/petitions/{slug}")
    fine = await open_petition(client, token, title="Fair shifts")
    assert (await make(client, token, fine)).json()["missing_characters"] == []
    assert "will not print" not in (await client.get(f"/organize/petitions/{fine}/flyers")).text
    flyer_id = made.json()["id"]
    drawn = await client.post(f"/organize/petitions/{slug}/flyers/{flyer_id}/download", data={FORM_FIELD: csrf})
    assert drawn.content.startswith(b"%PDF"), "still drawn: the organizer was told"


@pytest.mark.parametrize(
    ("fields", "input_id", "message"),
    [
        ({"paper_size": "a3"}, "flyer-paper", "Choose a paper size."),
        ({"layout": "billboard"}, "flyer-layout", "Choose a layout."),
        ({"copies": "-1"}, "flyer-copies", "Enter a number of pages from 1 to 500."),
        ({"copies": "99999999999999999999999"}, "flyer-copies", "Enter a number of pages from 1 to 500."),
        ({"label": "x" * 81}, "flyer-label", "The label must be 80 characters or fewer."),
        ({"label": "wall\uffff"}, "flyer-label", "The label must not hold control characters or noncharacters"),
    ],
)
async def test_a_refused_flyer_form_is_422_naming_the_field_beside_it_and_makes_nothing(
    app: Starlette, client: httpx.AsyncClient, token: str, fields: dict[str, str], input_id: str, message: str
) -> None:
    from petition.csrf import FORM_FIELD

    from .test_login import csrf_of, log_in

    slug = await open_petition(client, token)
    await log_in(client, "alice@example.org")
    csrf = await csrf_of(client, f"/organize/petitions/{slug}")
    typed = {"label": "Loading bay", "layout": "poster", "paper_size": "a4", "copies": "1", **fields}
    refused = await client.post(f"/organize/petitions/{slug}/flyers", data={FORM_FIELD: csrf, **typed})
    assert refused.status_code == 422
    assert f'<p class="error" id="{input_id}-error">{message}' in refused.text
    assert f'aria-describedby="{input_id}-error"' in refused.text
    assert "Input should" not in refused.text and "&#39;a4&#39;" not in refused.text
    assert await app.state.db.fetch_val("SELECT COUNT(*) FROM flyer_batches") == 0


async def test_a_tear_off_batch_with_a_70_character_label_is_made_on_the_petition_page(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    from petition.csrf import FORM_FIELD

    from .test_login import csrf_of, log_in

    slug = await open_petition(client, token)
    await log_in(client, "alice@example.org")
    csrf = await csrf_of(client, f"/organize/petitions/{slug}")
    form = {FORM_FIELD: csrf, "label": "y" * 70, "layout": "tearoff", "paper_size": "a4", "copies": "1"}
    made = await client.post(f"/organize/petitions/{slug}/flyers", data=form, follow_redirects=True)
    assert made.status_code == 200 and "Flyers made" in made.text
    assert await app.state.db.fetch_val("SELECT COUNT(*) FROM flyer_batches") == 1


async def test_a_tear_off_batch_with_more_tabs_than_a_code_batch_holds_is_refused_naming_its_pages(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    from petition.csrf import FORM_FIELD

    from .test_login import csrf_of, log_in

    app.state.settings = replace(app.state.settings, max_codes_per_batch=25)
    slug = await open_petition(client, token)
    refused = await make(client, token, slug, layout="tearoff", copies=3)
    assert refused.status_code == 422
    assert refused.json()["error"]["message"] == "A tear-off batch here has at most 2 pages (a code on each tab)."
    await log_in(client, "alice@example.org")
    csrf = await csrf_of(client, f"/organize/petitions/{slug}")
    form = {FORM_FIELD: csrf, "label": "", "layout": "tearoff", "paper_size": "a4", "copies": "3"}
    page = await client.post(f"/organize/petitions/{slug}/flyers", data=form)
    assert page.status_code == 422 and 'id="flyer-copies-error">A tear-off batch here has at most 2 pages' in page.text
    assert (await make(client, token, slug, layout="tearoff", copies=2)).status_code == 201
    assert await app.state.db.fetch_val("SELECT COUNT(*) FROM flyer_batches") == 1

"""Downloads: one encoded file name per Content-Disposition, and CSV whose cells stay in their cells."""

from __future__ import annotations

import csv
import io
import re

import httpx
import pytest
from starlette.applications import Starlette
from werkzeug.http import parse_options_header

from petition import codes, downloads, timeline
from petition.csrf import FORM_FIELD
from petition.database import Transaction

from .test_codes import code_petition
from .test_login import csrf_of, log_in
from .test_petitions import bearer
from .test_signing import make_codes, open_petition

pytestmark = pytest.mark.usefixtures("organizer")
FORGED_SLUG = "x%22%3B%20filename%3Devil.html%3B%20a%3D%22"


def file_names(header: str) -> list[str]:
    """Every `filename` parameter of a Content-Disposition value, as a browser would find them."""
    return re.findall(r';\s*filename=("(?:[^"\\]|\\.)*"|[^;]*)', header)


async def test_a_receipt_download_for_a_forged_slug_is_not_found_and_names_no_file(client: httpx.AsyncClient) -> None:
    response = await client.post(f"/p/{FORGED_SLUG}/receipt/download", data={"receipt": "r" * 43})
    assert response.status_code == 404
    assert "content-disposition" not in response.headers
    assert "<html" in response.text


@pytest.mark.parametrize("slug", ["x%0d%0aset-cookie:%20a=b", "x%0aa", "x%0db"])
async def test_a_line_break_in_the_receipt_download_address_is_answered_with_not_found(
    client: httpx.AsyncClient, slug: str
) -> None:
    response = await client.post(f"/p/{slug}/receipt/download", data={"receipt": "r" * 43})
    assert response.status_code == 404
    assert "set-cookie" not in response.headers and "content-disposition" not in response.headers


async def test_the_receipt_download_names_one_file_after_the_petition(client: httpx.AsyncClient, token: str) -> None:
    slug = await open_petition(client, token)
    [code] = await make_codes(client, token, slug, 1)
    receipt = (await client.post(f"/api/v1/petitions/{slug}/signatures", json={"code": code})).json()["receipt"]
    download = await client.post(f"/p/{slug}/receipt/download", data={"receipt": receipt})
    assert download.status_code == 200 and receipt in download.text
    header = download.headers["content-disposition"]
    assert file_names(header) == [f"receipt-{slug}.txt"]
    assert parse_options_header(header) == ("attachment", {"filename": f"receipt-{slug}.txt"})


@pytest.mark.parametrize(
    "name",
    [
        'x"; filename=evil.html; a=".txt',
        "a\r\nSet-Cookie: b=c.txt",
        "back\\slash.csv",
        "pétition-ünïcode.csv",
        "דנה.pdf",
        "",
    ],
)
def test_a_file_name_of_any_characters_makes_one_encoded_disposition(name: str) -> None:
    header = downloads.disposition("attachment", name)
    assert "\r" not in header and "\n" not in header
    assert header.isascii()
    assert len(file_names(header)) == 1, "one plain filename (filename* is the only other)"
    kind, options = parse_options_header(header)
    assert kind == "attachment"
    assert options["filename"] == (name or "download"), "filename* (RFC 5987) carries the name itself"


async def test_every_download_of_the_service_names_one_file(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    draft = await code_petition(client, token)
    published = await client.post(f"/api/v1/petitions/{draft}/publish", headers=bearer(token))
    assert published.status_code == 200
    slug = published.json()["slug"]  # a draft is addressed by its id; files are named by the published slug
    timeline_csv = await client.get(f"/api/v1/petitions/{slug}/timeline", params={"format": "csv"})
    assert parse_options_header(timeline_csv.headers["content-disposition"]) == (
        "inline",
        {"filename": f"{slug}-by-day.csv"},
    )
    await log_in(client, "alice@example.org")
    page = f"/organize/petitions/{slug}"
    csrf = await csrf_of(client, page)
    made = await client.post(
        f"{page}/codes", data={FORM_FIELD: csrf, "count": "3", "label": "wall"}, follow_redirects=True
    )
    batch_id = re.search(r"/codes/([0-9a-f]+)/download", made.text).group(1)  # type: ignore[union-attr]
    download = await client.post(f"{page}/codes/{batch_id}/download", data={FORM_FIELD: csrf, "format": "txt"})
    assert file_names(download.headers["content-disposition"]) == [f"{slug}-codes.txt"]
    flyer = await client.post(
        f"/api/v1/petitions/{slug}/flyers", json={"layout": "poster", "paper_size": "a4"}, headers=bearer(token)
    )
    pdf = await client.get(flyer.json()["downloads"]["pdf"], headers=bearer(token))
    assert pdf.status_code == 200, pdf.text
    assert parse_options_header(pdf.headers["content-disposition"]) == (
        "attachment",
        {"filename": f"flyers-{slug}-poster-a4.pdf"},
    )


def parsed(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def test_a_label_with_a_carriage_return_stays_in_its_cell_of_the_codes_csv() -> None:
    rows = parsed(codes.as_csv("ok\r=1+1", ["AAAA-BBBB-CCCC-DDDD", "EEEE-FFFF-GGGG-HHHH"]))
    assert rows == [
        ["code", "label"],
        ["AAAA-BBBB-CCCC-DDDD", "ok\r'=1+1"],
        ["EEEE-FFFF-GGGG-HHHH", "ok\r'=1+1"],
    ]


@pytest.mark.parametrize("label", ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1", "ok\n=1+1", 'a,"b"'])
def test_every_text_cell_of_a_csv_is_quoted_where_needed_and_never_a_formula(label: str) -> None:
    rows = parsed(codes.as_csv(label, ["AAAA-BBBB-CCCC-DDDD"]))
    assert len(rows) == 2 and all(len(row) == 2 for row in rows)
    cell = rows[1][1]
    assert cell.replace("'", "") == label.replace("'", "")
    assert not cell.startswith(downloads.FORMULA_STARTS)


def test_the_timeline_csv_is_written_by_the_csv_module() -> None:
    data = timeline.Timeline(
        bucket="day",
        floor="day",
        as_of="2026-06-03T00:00:00Z",
        buckets=[
            timeline.TimelineBucket(start="2026-06-03T00:00:00Z", signed=3, withdrawn=1, invalidated=0, cumulative=2)
        ],
        events=[],
    )
    text = timeline.as_csv(data)
    assert text.endswith("\r\n")
    assert parsed(text) == [list(timeline.CSV_HEADER), ["2026-06-03T00:00:00Z", "3", "1", "0", "2"]]


async def test_a_codes_csv_download_keeps_a_stored_label_with_a_line_break_in_one_cell(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await code_petition(client, token)
    await log_in(client, "alice@example.org")
    page = f"/organize/petitions/{slug}"
    csrf = await csrf_of(client, page)
    made = await client.post(
        f"{page}/codes", data={FORM_FIELD: csrf, "count": "4", "label": "wall"}, follow_redirects=True
    )
    batch_id = re.search(r"/codes/([0-9a-f]+)/download", made.text).group(1)  # type: ignore[union-attr]

    # Stored as it might have been before labels were checked on input: the output holds on its own.
    async def relabel(tx: Transaction) -> None:
        await tx.execute("UPDATE code_batches SET label = :label WHERE id = :id", {"label": "ok\r=1+1", "id": batch_id})

    await app.state.db.write(relabel)
    download = await client.post(f"{page}/codes/{batch_id}/download", data={FORM_FIELD: csrf, "format": "csv"})
    rows = parsed(download.text)
    assert rows[0] == ["code", "label"] and len(rows) == 5
    assert all(len(row) == 2 and row[1] == "ok\r'=1+1" for row in rows[1:])
    assert not any(row[0].startswith("=") for row in rows)


@pytest.mark.parametrize(
    "label", [";=1", "ok;=1+1", "ok; =1", "a\t=1", "x,@SUM(A1)", 'x";-1', "ok\n+1", ";=1;=2", "=1"]
)
@pytest.mark.parametrize("separator", [",", ";", "\t"])
def test_no_cell_of_a_codes_csv_is_a_formula_whichever_separator_a_spreadsheet_uses(label: str, separator: str) -> None:
    text = codes.as_csv(label, ["WJFG-AAAA-BBBB-CCCC"])
    # As a spreadsheet set to that separator reads the file (quotes honoured), and as one that splits naively.
    read = list(csv.reader(io.StringIO(text, newline=""), delimiter=separator))
    naive = [cell for line in text.split("\r\n") for cell in line.split(separator)]
    for cell in [cell for row in read for cell in row] + naive:
        for piece in re.split("[\r\n]", cell):
            assert not piece.strip(' "').startswith(("=", "+", "-", "@")), (separator, cell)
    assert parsed(text)[1] == ["WJFG-AAAA-BBBB-CCCC", downloads.neutralised(label)]


def test_every_text_cell_of_a_csv_is_quoted_and_numbers_are_not() -> None:
    assert downloads.as_csv(("day", "signed"), [("2026-06-03", 3)]) == '"day","signed"\r\n"2026-06-03",3\r\n'


async def test_flyer_previews_badge_and_feed_are_named_inline_on_the_api_and_the_organizer_page(
    client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token)
    flyer = await client.post(
        f"/api/v1/petitions/{slug}/flyers", json={"layout": "poster", "paper_size": "a4"}, headers=bearer(token)
    )
    for kind in ("svg", "png"):
        preview = await client.get(flyer.json()["downloads"][kind], headers=bearer(token))
        assert preview.status_code == 200
        assert parse_options_header(preview.headers["content-disposition"]) == (
            "inline",
            {"filename": f"flyers-{slug}-poster-a4-page-1.{kind}"},
        )
    await log_in(client, "alice@example.org")
    page = f"/organize/petitions/{slug}"
    csrf = await csrf_of(client, page)
    for kind in ("svg", "png"):
        preview = await client.post(
            f"{page}/flyers/{flyer.json()['id']}/download", data={FORM_FIELD: csrf, "kind": kind}
        )
        assert preview.status_code == 200
        assert file_names(preview.headers["content-disposition"]) == [f"flyers-{slug}-poster-a4-page-1.{kind}"]
        assert preview.headers["content-disposition"].startswith("inline")
    for path, name in ((f"/p/{slug}/badge.svg", f"{slug}-badge.svg"), (f"/p/{slug}/feed.atom", f"{slug}.atom")):
        for _ in range(2):  # built, then from the cache
            answer = await client.get(path)
            assert parse_options_header(answer.headers["content-disposition"]) == ("inline", {"filename": name})

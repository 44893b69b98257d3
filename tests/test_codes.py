"""Printed signing codes: batches made by organizers, kept only as keyed hashes, downloaded once."""

from __future__ import annotations

import csv
import io
import re

import httpx
import pytest
from starlette.applications import Starlette

from petition import accounts
from petition.batcher import close_batch
from petition.codes import code_hash, normalize
from petition.csrf import FORM_FIELD
from petition.database import Database

from .conftest import ORGANIZER_PASSWORD
from .test_login import csrf_of, log_in
from .test_petitions import PETITION, bearer, create

pytestmark = pytest.mark.usefixtures("organizer")
CODE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}$")


async def code_petition(client: httpx.AsyncClient, token: str, **changes: object) -> str:
    response = await create(client, token, verification=["code"], allowed_domains=[], **changes)
    return str(response.json()["id"])  # a draft: addressed by its id


async def test_a_batch_of_codes_is_returned_once_and_stored_only_as_keyed_hashes(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await code_petition(client, token)
    response = await client.post(
        f"/api/v1/petitions/{slug}/codes", json={"count": 20, "label": "3rd floor"}, headers=bearer(token)
    )
    assert response.status_code == 201
    body = response.json()
    assert len(body["codes"]) == 20 and len(set(body["codes"])) == 20
    assert all(CODE.match(code) for code in body["codes"]), "typeable Crockford base32, grouped, 80 bits"
    db: Database = app.state.db
    stored = await db.fetch_all("SELECT code_hash, state FROM signing_codes")
    assert len(stored) == 20 and {row["state"] for row in stored} == {0}, "unused"
    dump = str(await db.fetch_all("SELECT * FROM signing_codes")) + str(
        await db.fetch_all("SELECT * FROM code_batches")
    )
    for code in body["codes"]:
        assert code not in dump and normalize(code) not in dump
    pepper = app.state.settings.pepper
    assert {row["code_hash"] for row in stored} == {code_hash(pepper, code) for code in body["codes"]}
    listed = await client.get(f"/api/v1/petitions/{slug}/codes", headers=bearer(token))
    assert listed.json()["batches"] == [
        {"id": body["batch"], "label": "3rd floor", "size": 20, "used": None, "revoked": False, "downloadable": False}
    ]


def test_codes_forgive_case_hyphens_and_look_alike_letters() -> None:
    pepper = b"p" * 32
    assert code_hash(pepper, "abcd-efgh-0000-1111") == code_hash(pepper, "ABCDEFGHOOOOIIII")
    assert code_hash(pepper, "ABCD EFGH 0000 1111") == code_hash(pepper, "abcd-efgh-0000-llll")


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        ({"count": 0}, 422),
        ({"count": 5001}, 422),
        ({"count": "5"}, 422),
        ({"count": 5, "label": "a\x00b"}, 422),
        ({"count": 5, "label": "x" * 81}, 422),
        ({"count": 5, "extra": 1}, 422),
    ],
)
async def test_bad_batch_requests_are_refused_and_make_nothing(
    app: Starlette, client: httpx.AsyncClient, token: str, payload: dict[str, object], status: int
) -> None:
    slug = await code_petition(client, token)
    response = await client.post(f"/api/v1/petitions/{slug}/codes", json=payload, headers=bearer(token))
    assert response.status_code == status
    assert await app.state.db.fetch_val("SELECT COUNT(*) AS n FROM signing_codes") == 0


async def test_codes_need_the_code_method_an_unclosed_petition_and_its_organizer(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    email_only = (await create(client, token)).json()["id"]
    refused = await client.post(f"/api/v1/petitions/{email_only}/codes", json={"count": 5}, headers=bearer(token))
    assert refused.status_code == 409
    slug = await code_petition(client, token)
    await accounts.create_organizer(app.state.db, email="bob@example.org", password=ORGANIZER_PASSWORD, admin=False)
    bob = await accounts.create_token_for(app.state.db, email="bob@example.org", name="bob")
    assert (
        await client.post(f"/api/v1/petitions/{slug}/codes", json={"count": 5}, headers=bearer(bob))
    ).status_code == 404
    assert (await client.post(f"/api/v1/petitions/{slug}/codes", json={"count": 5})).status_code == 401
    await client.post(f"/api/v1/petitions/{slug}/publish", headers=bearer(token))
    await client.post(f"/api/v1/petitions/{slug}/close", headers=bearer(token))
    closed = await client.post(f"/api/v1/petitions/{slug}/codes", json={"count": 5}, headers=bearer(token))
    assert closed.status_code == 409
    assert await app.state.db.fetch_val("SELECT COUNT(*) AS n FROM signing_codes") == 0


async def test_codes_made_on_the_page_download_once_then_are_gone(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await code_petition(client, token)
    await log_in(client, "alice@example.org")
    page = f"/organize/petitions/{slug}"
    csrf = await csrf_of(client, page)
    made = await client.post(
        f"{page}/codes", data={FORM_FIELD: csrf, "count": "12", "label": "=cmd|' /C calc'!A0"}, follow_redirects=True
    )
    assert made.url.path == f"{page}/codes" and "Download them now" in made.text
    batch_id = re.search(r"/codes/([0-9a-f]+)/download", made.text).group(1)  # type: ignore[union-attr]
    download = await client.post(f"{page}/codes/{batch_id}/download", data={FORM_FIELD: csrf, "format": "csv"})
    assert download.status_code == 200 and download.headers["content-type"].startswith("text/csv")
    assert "attachment" in download.headers["content-disposition"]
    assert download.headers["cache-control"] == "no-store"
    rows = list(csv.reader(io.StringIO(download.text)))
    assert rows[0] == ["code", "label"] and len(rows) == 13
    assert all(CODE.match(code) for code, _ in rows[1:])
    assert rows[1][1].startswith("'="), "a label is never a spreadsheet formula"
    again = await client.post(f"{page}/codes/{batch_id}/download", data={FORM_FIELD: csrf, "format": "txt"})
    assert again.status_code == 409 and "already downloaded" in again.text
    assert await app.state.db.fetch_val("SELECT plaintext FROM code_batches") is None


async def test_an_unknown_download_format_is_refused_before_the_one_download_is_spent(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await code_petition(client, token)
    await log_in(client, "alice@example.org")
    page = f"/organize/petitions/{slug}"
    csrf = await csrf_of(client, page)
    made = await client.post(f"{page}/codes", data={FORM_FIELD: csrf, "count": "2"}, follow_redirects=True)
    batch_id = re.search(r"/codes/([0-9a-f]+)/download", made.text).group(1)  # type: ignore[union-attr]
    for bogus in ("bogus", "", "CSV"):
        refused = await client.post(f"{page}/codes/{batch_id}/download", data={FORM_FIELD: csrf, "format": bogus})
        assert refused.status_code == 422 and "Choose a download: CSV or text." in refused.text, bogus
        assert 'class="error-summary"' in refused.text
    assert await app.state.db.fetch_val("SELECT plaintext FROM code_batches") is not None, "nothing spent"
    taken = await client.post(f"{page}/codes/{batch_id}/download", data={FORM_FIELD: csrf, "format": "txt"})
    assert taken.status_code == 200 and len(taken.text.split()) == 2


async def test_a_batch_tells_how_many_of_its_codes_were_used_only_from_min_cell_size_up_and_only_when_counted(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    from .test_signing import make_codes, open_petition, petition_id, sign

    slug = await open_petition(client, token)
    minimum = app.state.settings.min_cell_size

    async def used() -> int | None:
        [listed] = (await client.get(f"/api/v1/petitions/{slug}/codes", headers=bearer(token))).json()["batches"]
        return listed["used"]  # type: ignore[no-any-return]

    async def close() -> None:
        await close_batch(app.state.db, app.state.settings, await petition_id(app.state.db, slug))

    codes = await make_codes(client, token, slug, minimum + 1)
    for code in codes[: minimum - 1]:
        assert (await sign(client, slug, code)).status_code == 201
    await close()
    assert await used() is None, "below MIN_CELL_SIZE: a code batch is a cell an organizer chose"
    for code in codes[minimum - 1 :]:
        assert (await sign(client, slug, code)).status_code == 201
    assert await used() is None, "spending a code moves nothing an organizer sees"
    await close()
    assert await used() == minimum + 1, "the batch that counted them moved it"
    [one] = (await client.post(f"/api/v1/petitions/{slug}/codes", json={"count": 1}, headers=bearer(token))).json()[
        "codes"
    ]
    assert (await sign(client, slug, one)).status_code == 201
    await close()
    await log_in(client, "alice@example.org")
    rows = re.findall(r"<tr>(.*?)</tr>", (await client.get(f"/organize/petitions/{slug}/codes")).text, re.DOTALL)
    cells = [re.sub(r"<[^>]+>", "", row) for row in rows if "<td" in row and "Revoke" in row]
    assert any(f"fewer than {minimum}" in cell for cell in cells), "the batch of one shows no number"
    assert any(f"{minimum + 1}" in cell for cell in cells)


async def test_revoking_a_batch_stops_its_unused_codes(app: Starlette, client: httpx.AsyncClient, token: str) -> None:
    slug = await code_petition(client, token)
    batch = (await client.post(f"/api/v1/petitions/{slug}/codes", json={"count": 4}, headers=bearer(token))).json()
    await log_in(client, "alice@example.org")
    page = f"/organize/petitions/{slug}"
    csrf = await csrf_of(client, page)
    done = await client.post(f"{page}/codes/{batch['batch']}/revoke", data={FORM_FIELD: csrf}, follow_redirects=True)
    assert "no longer work" in done.text
    states = {row["state"] for row in await app.state.db.fetch_all("SELECT state FROM signing_codes")}
    assert states == {0}, "the codes' rows are as they were: their batch refuses them"
    again = await client.post(f"{page}/codes/{batch['batch']}/revoke", data={FORM_FIELD: csrf})
    assert again.status_code == 409


async def test_a_petition_without_codes_shows_no_code_section(client: httpx.AsyncClient, token: str) -> None:
    slug = (await create(client, token, **{k: v for k, v in PETITION.items() if k == "title"})).json()["id"]
    await log_in(client, "alice@example.org")
    assert "Signing codes" not in (await client.get(f"/organize/petitions/{slug}")).text
    assert (await client.get(f"/organize/petitions/{slug}/codes")).status_code == 404


@pytest.mark.parametrize(
    ("fields", "input_id", "message"),
    [
        ({"count": "-1"}, "count", "Enter a number of codes from 1 to 5,000."),
        ({"count": "99999999999999999999999"}, "count", "Enter a number of codes from 1 to 5,000."),
        ({"count": "5001"}, "count", "Enter a number of codes from 1 to 5,000."),
        ({"count": "ten"}, "count", "Enter a number of codes from 1 to 5,000."),
        ({"label": "x" * 81}, "label", "The label must be 80 characters or fewer."),
        ({"label": "wall\uffff"}, "label", "The label must not hold control characters or noncharacters"),
    ],
)
async def test_a_refused_codes_form_is_422_naming_the_field_beside_it_and_makes_nothing(
    app: Starlette, client: httpx.AsyncClient, token: str, fields: dict[str, str], input_id: str, message: str
) -> None:
    slug = await code_petition(client, token)
    await log_in(client, "alice@example.org")
    page = f"/organize/petitions/{slug}"
    csrf = await csrf_of(client, page)
    typed = {"count": "3", "label": "wall", **fields}
    refused = await client.post(f"{page}/codes", data={FORM_FIELD: csrf, **typed})
    assert refused.status_code == 422
    assert f'<p class="error" id="{input_id}-error">{message}' in refused.text
    assert f'id="{input_id}"' in refused.text and f'aria-describedby="{input_id}-error"' in refused.text
    assert "Input should" not in refused.text and "String should" not in refused.text
    assert 'id="count" name="count"' in refused.text, "the form is shown again"
    assert await app.state.db.fetch_val("SELECT COUNT(*) FROM code_batches") == 0

"""Cursors, numbers, days and times from outside: each refused with 422 and a sentence, never a 500."""

from __future__ import annotations

import base64
from datetime import datetime

import httpx
import pytest
from starlette.applications import Starlette

from petition.csrf import FORM_FIELD
from petition.database import Transaction

from .test_codes import code_petition
from .test_login import csrf_of, log_in
from .test_petitions import PETITION, bearer, create, published

pytestmark = pytest.mark.usefixtures("organizer")


def forged(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


FORGED_CURSORS = {
    "an infinity": "WzFlOTk5LCJiIl0",  # [1e999,"b"], as the issue gives it
    "a huge integer": forged(b'[99999999999999999999999999999,"b"]'),
    "a negative integer": forged(b'[-1,"b"]'),
    "NaN": forged(b'[NaN,"b"]'),
    "a float": forged(b'[1.5,"b"]'),
    "a wrong type": forged(b'["1","b"]'),
    "a boolean": forged(b'[true,"b"]'),
    "an id that is a number": forged(b"[1,2]"),
    "an id with a NUL": forged(b'[1,"a\\u0000b"]'),
    "a wrong length": forged(b'[1,"b","c"]'),
    "an object": forged(b'{"a":1}'),
    "bad base64": "!!!!",
    "bad JSON": forged(b"[1,"),
    "bytes that are not UTF-8": forged(b"\xff\xfe\xfd"),
    "deep nesting": forged(b"[" * 30_000),
    "a very long cursor": "A" * 10_000,
}


@pytest.mark.parametrize("cursor", FORGED_CURSORS.values(), ids=FORGED_CURSORS.keys())
async def test_a_forged_cursor_is_refused_with_422(client: httpx.AsyncClient, token: str, cursor: str) -> None:
    await published(client, token)
    response = await client.get("/api/v1/petitions", params={"cursor": cursor})
    assert response.status_code == 422
    assert response.json()["error"] == {
        "code": "validation_failed",
        "message": "The cursor is not one this API gave out.",
    }


@pytest.mark.parametrize("limit", ["1e999", "nan", "inf", "-1", "0", "51", "9" * 5000, "99999999999999999999", "1_0"])
async def test_a_list_limit_out_of_bounds_or_not_a_number_is_refused(client: httpx.AsyncClient, limit: str) -> None:
    response = await client.get("/api/v1/petitions", params={"limit": limit})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_failed"


@pytest.mark.parametrize("page", ["1e999", "nan", "0", "501", "9" * 5000, "99999999999999999999"])
async def test_a_flyer_page_out_of_bounds_or_not_a_number_is_refused(
    client: httpx.AsyncClient, token: str, page: str
) -> None:
    slug = await published(client, token)
    made = await client.post(
        f"/api/v1/petitions/{slug}/flyers", json={"layout": "poster", "paper_size": "a4"}, headers=bearer(token)
    )
    response = await client.get(f"{made.json()['downloads']['svg']}", params={"page": page}, headers=bearer(token))
    assert response.status_code == 422


@pytest.mark.parametrize(
    ("count", "refusal"),
    [
        *((count, 422) for count in ["1e999", "1000000000000000000000000000000", '"5"', "2.0", "true", "null"]),
        *((literal, 400) for literal in ["NaN", "Infinity", "-Infinity"]),  # no JSON at all (RFC 8259)
    ],
)
async def test_a_code_count_that_is_not_a_bounded_whole_number_is_refused(
    app: Starlette, client: httpx.AsyncClient, token: str, count: str, refusal: int
) -> None:
    slug = await code_petition(client, token)
    response = await client.post(
        f"/api/v1/petitions/{slug}/codes",
        content='{"count": ' + count + "}",
        headers={**bearer(token), "content-type": "application/json"},
    )
    assert response.status_code == refusal
    assert await app.state.db.fetch_val("SELECT COUNT(*) AS n FROM signing_codes") == 0


@pytest.mark.parametrize("typed", ["²", "١٢", "9" * 5000, "1e3", "-5", "12.0"])
async def test_a_number_typed_in_a_form_that_is_not_plain_digits_shows_the_form_again(
    app: Starlette, client: httpx.AsyncClient, token: str, typed: str
) -> None:
    slug = await code_petition(client, token)
    await log_in(client, "alice@example.org")
    page = f"/organize/petitions/{slug}"
    csrf = await csrf_of(client, page)
    codes = await client.post(f"{page}/codes", data={FORM_FIELD: csrf, "count": typed})
    assert codes.status_code == 422 and "<form" in codes.text  # the page again, saying what is wrong
    flyers = await client.post(
        f"{page}/flyers", data={FORM_FIELD: csrf, "layout": "poster", "paper_size": "a4", "copies": typed}
    )
    assert flyers.status_code == 422 and "<form" in flyers.text
    fields = {**PETITION, "allowed_domains": "example.org", "verification": "email", "goal": typed}
    petition = await client.post("/organize/petitions", data={FORM_FIELD: csrf, **fields})
    assert petition.status_code == 422 and "<form" in petition.text
    assert await app.state.db.fetch_val("SELECT COUNT(*) AS n FROM signing_codes") == 0
    assert await app.state.db.fetch_val("SELECT COUNT(*) AS n FROM flyer_batches") == 0


@pytest.mark.parametrize(
    "at", ["2026-W23-3", "20260603", "2026-06-03T00:00:00Z", "+2026-06-03", "2026-6-3", "9" * 5000, "2026-02-30"]
)
async def test_the_count_on_a_day_takes_only_a_plain_calendar_day(
    client: httpx.AsyncClient, token: str, at: str
) -> None:
    slug = await published(client, token)
    response = await client.get(f"/api/v1/petitions/{slug}/count", params={"at": at})
    assert response.status_code == 422
    assert "YYYY-MM-DD" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "closes_at",
    [
        "2099-01-01T00:00:00",  # no offset
        "9999-12-31T23:59:59-14:00",  # past the year 9999 in UTC: no ISO 8601 time could show it
        4102444800,  # a number, not a time
        "1e999",
        "99999-01-01T00:00:00Z",
    ],
)
async def test_a_deadline_needs_an_offset_and_a_time_that_can_be_shown(
    app: Starlette, client: httpx.AsyncClient, token: str, closes_at: object
) -> None:
    created = await create(client, token, closes_at=closes_at)
    assert created.status_code == 422
    assert created.json()["error"]["fields"][0]["field"] == "closes_at"
    slug = await published(client, token)
    before = (await client.get(f"/api/v1/petitions/{slug}")).json()["closes_at"]  # the longest, set at publishing
    changed = await client.patch(f"/api/v1/petitions/{slug}", json={"closes_at": closes_at}, headers=bearer(token))
    assert changed.status_code == 422
    assert (await client.get(f"/api/v1/petitions/{slug}")).json()["closes_at"] == before


async def test_a_deadline_far_ahead_with_an_offset_is_kept_and_shown(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await published(client, token)

    # As a petition published before every petition ended could hold it (MAX_OPEN_DAYS refuses it now).
    async def unit(tx: Transaction) -> None:
        at = int(datetime.fromisoformat("9999-12-31T10:00:00+02:00").timestamp())
        await tx.execute("UPDATE petitions SET closes_at = :at WHERE slug = :slug", {"at": at, "slug": slug})
        await tx.execute("UPDATE cache_version SET version = version + 1")

    await app.state.db.write(unit)
    app.state.public_cache.clear()
    assert (await client.get(f"/api/v1/petitions/{slug}")).json()["closes_at"] == "9999-12-31T08:00:00Z"
    assert (await client.get(f"/p/{slug}")).status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/p/a%00b",
        "/p/a%0d%0ab/receipt",
        "/p/a%00b/badge.svg",
        "/api/v1/petitions/a%00b",
        "/api/v1/petitions/a%00b/timeline",
        "/f/a%00b",
        "/api/v1/flyers/a%00b.svg",
        "/reset/a%00b",
    ],
)
async def test_a_control_character_in_an_address_is_not_found(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 404


async def test_a_content_length_of_thousands_of_digits_is_refused_as_too_large(app: Starlette) -> None:
    sent: list[dict[str, object]] = []
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/v1/petitions",
        "raw_path": b"/api/v1/petitions",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"9" * 5000)],
        "client": ("203.0.113.7", 51000),
        "server": ("127.0.0.1", 8000),
        "scheme": "http",
        "http_version": "1.1",
        "root_path": "",
        "state": {},
    }

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    assert sent[0]["status"] == 413

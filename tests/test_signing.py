"""Signing with printed codes: receipts, batches, withdrawal, and storage nobody can join."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from petition.batcher import Batcher, close_batch
from petition.database import Database

from .test_petitions import bearer, create

pytestmark = pytest.mark.usefixtures("organizer")
HIDDEN_NAME = "Zebulon Hiddenname"
SHOWN_NAME = "Yolanda Shownname"
REASON = "Because of the warehouse tables xq7"


async def open_petition(client: httpx.AsyncClient, token: str, **changes: object) -> str:
    fields = {"verification": ["code"], "allowed_domains": [], "show_names": True, "reasons_enabled": True}
    draft = (await create(client, token, **{**fields, **changes})).json()
    slug = draft["slug"]
    assert (await client.post(f"/api/v1/petitions/{draft['id']}/publish", headers=bearer(token))).status_code == 200
    return str(slug)


async def make_codes(client: httpx.AsyncClient, token: str, slug: str, count: int) -> list[str]:
    response = await client.post(f"/api/v1/petitions/{slug}/codes", json={"count": count}, headers=bearer(token))
    return list(response.json()["codes"])


async def sign(client: httpx.AsyncClient, slug: str, code: str, **fields: object) -> httpx.Response:
    return await client.post(f"/api/v1/petitions/{slug}/signatures", json={"code": code, **fields})


async def status(client: httpx.AsyncClient, slug: str, receipt: str) -> str:
    response = await client.post(f"/api/v1/petitions/{slug}/signatures/status", json={"receipt": receipt})
    return str(response.json()["status"])


async def count_of(client: httpx.AsyncClient, slug: str) -> int:
    return int((await client.get(f"/api/v1/petitions/{slug}")).json()["signature_count"])


async def petition_id(db: Database, slug: str) -> str:
    return str(await db.fetch_val("SELECT id FROM petitions WHERE slug = :slug", {"slug": slug}))


async def count_everything(app: Starlette) -> None:
    """Close every petition's batch now, whatever waits (as the batcher does once each is due)."""
    db: Database = app.state.db
    for row in await db.fetch_all("SELECT DISTINCT petition_id FROM pending_signatures"):
        await close_batch(db, app.state.settings, row["petition_id"])
    app.state.public_cache.clear()


async def accepted(db: Database) -> int:
    """Signatures accepted so far: waiting for their batch, or counted."""
    waiting = await db.fetch_val("SELECT COUNT(*) AS n FROM pending_signatures WHERE kind IN (0, 1)")
    return int(waiting) + int(await db.fetch_val("SELECT COUNT(*) AS n FROM signatures"))


async def test_a_code_signs_once_and_is_counted_only_when_its_batch_closes(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token)
    [code] = await make_codes(client, token, slug, 1)
    response = await sign(client, slug, code.lower().replace("-", ""))
    assert response.status_code == 201 and response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["status"] == "pending" and len(body["receipt"]) >= 43, "at least 256 bits"
    assert await status(client, slug, body["receipt"]) == "pending"
    assert await count_of(client, slug) == 0, "the count moves only when a batch closes"
    again = await sign(client, slug, code)
    wrong = await sign(client, slug, "AAAA-BBBB-CCCC-DDDD")
    assert again.status_code == wrong.status_code == 422
    assert again.json() == wrong.json(), "a used code and a wrong one look the same"
    db: Database = app.state.db
    await close_batch(db, app.state.settings, await petition_id(db, slug))
    app.state.public_cache.clear()
    assert await status(client, slug, body["receipt"]) == "counted"
    view = (await client.get(f"/api/v1/petitions/{slug}")).json()
    assert view["signature_count"] == 1 and view["signature_count_by_method"] == {"email": 0, "code": 1}
    assert await db.fetch_val("SELECT SUM(signed) AS n FROM hourly_counts") == 1


async def test_fifty_concurrent_uses_of_one_code_make_one_signature(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token)
    [code] = await make_codes(client, token, slug, 1)
    responses = await asyncio.gather(*(sign(client, slug, code) for _ in range(50)))
    assert sorted(r.status_code for r in responses) == [201] + [422] * 49
    assert await accepted(app.state.db) == 1


async def test_fifty_codes_make_fifty_signatures_without_database_locks(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token)
    codes = await make_codes(client, token, slug, 50)
    responses = await asyncio.gather(*(sign(client, slug, code) for code in codes))
    assert [r.status_code for r in responses] == [201] * 50
    db: Database = app.state.db
    await close_batch(db, app.state.settings, await petition_id(db, slug))
    app.state.public_cache.clear()
    assert await count_of(client, slug) == 50


async def test_revoked_and_foreign_codes_do_not_sign(app: Starlette, client: httpx.AsyncClient, token: str) -> None:
    slug = await open_petition(client, token)
    other = await open_petition(client, token, title="Another petition")
    [foreign] = await make_codes(client, token, other, 1)
    assert (await sign(client, slug, foreign)).status_code == 422
    response = await client.post(f"/api/v1/petitions/{slug}/codes", json={"count": 1}, headers=bearer(token))
    batch = response.json()
    db: Database = app.state.db
    await db.write(
        lambda tx: tx.execute("UPDATE code_batches SET revoked_at = 1 WHERE id = :id", {"id": batch["batch"]})
    )
    assert (await sign(client, slug, batch["codes"][0])).status_code == 422
    assert await accepted(db) == 0


async def test_drafts_closed_and_email_only_petitions_take_no_codes(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    draft = (await create(client, token, verification=["code"], allowed_domains=[])).json()["id"]
    [code] = await make_codes(client, token, draft, 1)
    assert (await sign(client, draft, code)).status_code == 404
    slug = await open_petition(client, token, title="Closing soon")
    [code] = await make_codes(client, token, slug, 1)
    await client.post(f"/api/v1/petitions/{slug}/close", headers=bearer(token))
    assert (await sign(client, slug, code)).status_code == 409
    email_only = await open_petition(
        client, token, title="Email only", verification=["email"], allowed_domains=["example.org"]
    )
    assert (await sign(client, email_only, "AAAA-BBBB-CCCC-DDDD")).status_code == 409
    assert await accepted(app.state.db) == 0


async def test_withdrawal_leaves_the_count_and_a_withdrawn_signer_may_sign_again(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token)
    first, second, third = await make_codes(client, token, slug, 3)
    db: Database = app.state.db
    pid = await petition_id(db, slug)
    counted = (await sign(client, slug, first, name=SHOWN_NAME, show_name=True)).json()["receipt"]
    await close_batch(db, app.state.settings, pid)
    assert await db.fetch_val("SELECT COUNT(*) AS n FROM signer_names") == 1
    pending = (await sign(client, slug, second)).json()["receipt"]
    withdraw = f"/api/v1/petitions/{slug}/signatures/withdraw"
    assert (await client.post(withdraw, json={"receipt": counted})).status_code == 200
    assert await db.fetch_val("SELECT COUNT(*) AS n FROM signer_names") == 0, "the name goes at once"
    assert (await client.post(withdraw, json={"receipt": pending})).json() == {"status": "withdrawn"}
    assert (await client.post(withdraw, json={"receipt": pending})).status_code == 409
    assert (await client.post(withdraw, json={"receipt": "made-up"})).status_code == 404
    await close_batch(db, app.state.settings, pid)
    app.state.public_cache.clear()
    assert await count_of(client, slug) == 0
    assert await status(client, slug, counted) == "withdrawn"
    assert (await sign(client, slug, third)).status_code == 201, "signing again, with another code"
    totals = await db.fetch_one("SELECT SUM(signed) AS signed, SUM(withdrawn) AS withdrawn FROM hourly_counts")
    assert totals == {"signed": 2, "withdrawn": 2}


async def test_a_receipt_for_another_petition_is_not_found(client: httpx.AsyncClient, token: str) -> None:
    slug = await open_petition(client, token)
    other = await open_petition(client, token, title="Another petition")
    [code] = await make_codes(client, token, slug, 1)
    receipt = (await sign(client, slug, code)).json()["receipt"]
    response = await client.post(f"/api/v1/petitions/{other}/signatures/status", json={"receipt": receipt})
    assert response.status_code == 404


@pytest.mark.parametrize(
    "fields",
    [
        {"name": "<b>Bold</b>", "show_name": True},
        {"role": "a\x07b"},
        {"name": "x" * 81},
        {"reason": "y" * 501},
        {"extra": 1},
    ],
)
async def test_bad_signing_fields_are_refused_and_spend_no_code(
    app: Starlette, client: httpx.AsyncClient, token: str, fields: dict[str, object]
) -> None:
    slug = await open_petition(client, token)
    [code] = await make_codes(client, token, slug, 1)
    assert (await sign(client, slug, code, **fields)).status_code == 422
    assert (await sign(client, slug, code)).status_code == 201, "the code was not spent"


async def test_a_batch_closes_only_as_a_crowd_and_a_quiet_day_does_not_close_it(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token)
    codes = await make_codes(client, token, slug, 7)
    db: Database = app.state.db
    batcher = Batcher(app.state.settings)  # LOG_BATCH_SECONDS 60, LOG_BATCH_MIN 5
    day = 20_000 * 86400
    for code in codes[:3]:
        await sign(client, slug, code)
    assert await batcher.run_once(db, clock=0, wall=day + 100) == 0, "first seen now"
    assert await batcher.run_once(db, clock=61, wall=day + 161) == 0, "old enough, but only 3 wait"
    assert await batcher.run_once(db, clock=90_000, wall=day + 90_000) == 0, "a day later, 3 still wait"
    for code in codes[3:5]:
        await sign(client, slug, code)
    assert await batcher.run_once(db, clock=90_001, wall=day + 90_001) == 1, "60 s and 5 waiting: closes"
    app.state.public_cache.clear()
    assert await count_of(client, slug) == 5
    receipt = (await sign(client, slug, codes[5])).json()["receipt"]
    withdraw = f"/api/v1/petitions/{slug}/signatures/withdraw"
    counted = (await sign(client, slug, codes[6])).json()["receipt"]
    assert (await client.post(withdraw, json={"receipt": counted})).status_code == 200
    assert await batcher.run_once(db, clock=200_000, wall=day + 200_000) == 0, "a withdrawal adds nobody to the crowd"
    assert await status(client, slug, receipt) == "pending"


async def test_a_closed_petitions_last_batch_counts_whatever_waits_without_reasons_when_small(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token)
    codes = await make_codes(client, token, slug, 2)
    db: Database = app.state.db
    receipts = [
        (await sign(client, slug, code, name=SHOWN_NAME, show_name=True, reason=REASON)).json()["receipt"]
        for code in codes
    ]
    batcher = Batcher(app.state.settings)
    assert await batcher.run_once(db) == 0, "two wait: no batch yet"
    assert (await client.post(f"/api/v1/petitions/{slug}/close", headers=bearer(token))).status_code == 200
    assert await batcher.run_once(db) == 1, "closed: its last batch closes at once"
    app.state.public_cache.clear()
    assert await count_of(client, slug) == 2
    assert [await status(client, slug, receipt) for receipt in receipts] == ["counted", "counted"]
    assert await db.fetch_val("SELECT COUNT(*) AS n FROM signer_names") == 2, "names are written"
    assert await db.fetch_val("SELECT COUNT(*) AS n FROM signer_reasons") == 0, "two reasons would pair with them"
    assert await db.fetch_val("SELECT COUNT(*) AS n FROM pending_signatures") == 0


async def test_the_stored_tables_cannot_be_joined_and_hidden_names_are_nowhere(
    app: Starlette, client: httpx.AsyncClient, token: str, tmp_path: Path, dialect: str
) -> None:
    slug = await open_petition(client, token)
    codes = await make_codes(client, token, slug, 6)
    receipts = []
    for number, code in enumerate(codes):
        shown = number % 2 == 0
        fields = {"name": SHOWN_NAME if shown else HIDDEN_NAME, "show_name": shown, "reason": f"{REASON} {number}"}
        receipts.append((await sign(client, slug, code, **fields)).json()["receipt"])
    db: Database = app.state.db
    await close_batch(db, app.state.settings, await petition_id(db, slug))
    tables = {
        "signatures": await db.fetch_all("SELECT * FROM signatures"),
        "signer_names": await db.fetch_all("SELECT * FROM signer_names"),
        "signer_reasons": await db.fetch_all("SELECT * FROM signer_reasons"),
        "signing_codes": await db.fetch_all("SELECT * FROM signing_codes"),
    }
    assert len(tables["signer_names"]) == 3 and len(tables["signer_reasons"]) == 6
    values = {
        name: {str(v) for row in rows for k, v in row.items() if k != "petition_id"} for name, rows in tables.items()
    }
    names = list(values)
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            shared = values[first] & values[second] - {"code", "used", "waiting", "0", "1"}
            assert not shared, f"{first} and {second} share {shared}"
    columns = {name: set(rows[0]) for name, rows in tables.items()}
    assert columns["signatures"] & columns["signer_names"] == {"petition_id"}
    dump = str(tables) + str(await db.fetch_all("SELECT * FROM pending_signatures"))
    assert HIDDEN_NAME not in dump
    for receipt in receipts:
        assert receipt not in dump
    if dialect == "sqlite":
        await db.disconnect()
        await db.connect()  # checkpoint, so the WAL holds what it held
        data_dir = Path(db.url.removeprefix("sqlite:///")).parent
        for file in data_dir.glob("test.db*"):
            raw = file.read_bytes()
            assert HIDDEN_NAME.encode() not in raw, f"a hidden name is in {file.name}"
            for receipt in receipts:
                assert receipt.encode() not in raw


async def test_signing_on_the_page_redirects_to_its_receipt_which_a_reload_shows_until_the_device_forgets_it(
    app: Starlette,
    client: httpx.AsyncClient,
    token: str,
    logs: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    slug = await open_petition(client, token)
    [code] = await make_codes(client, token, slug, 1)
    tab = await client.get(f"/p/{slug}?code={code}")
    assert tab.status_code == 303 and tab.headers["location"] == f"/p/{slug}/sign/code?code={code}"
    page = await client.get(tab.headers["location"])
    assert f'value="{code}"' in page.text and page.headers["cache-control"] == "no-store"
    plain = await client.get(f"/p/{slug}")
    assert code not in plain.text, "a code in one address never reaches the shared page"
    signed = await client.post(f"/p/{slug}/sign", data={"code": code, "name": SHOWN_NAME, "show_name": "on"})
    assert signed.status_code == 303 and signed.headers["location"] == f"/p/{slug}/signed", "POST, then redirect"
    cookie = signed.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and f"Path=/p/{slug}/signed" in cookie
    shown = await client.get(f"/p/{slug}/signed")
    assert shown.status_code == 200 and shown.headers["cache-control"] == "no-store"
    receipt = re.search(r'<code class="secret">([^<]+)</code>', shown.text).group(1)  # type: ignore[union-attr]
    assert receipt not in cookie and receipt not in signed.headers["location"], "sealed, and in no address"
    assert receipt in (await client.get(f"/p/{slug}/signed")).text, "a reload shows the same receipt"
    forgotten = await client.post(f"/p/{slug}/signed/forget", follow_redirects=True)
    assert receipt not in forgotten.text and "holds no receipt" in forgotten.text, "the device forgets it"
    check = await client.post(f"/p/{slug}/receipt", data={"receipt": receipt})
    assert "pending" in check.text
    download = await client.post(f"/p/{slug}/receipt/download", data={"receipt": receipt})
    assert receipt in download.text and "attachment" in download.headers["content-disposition"]
    await close_batch(app.state.db, app.state.settings, await petition_id(app.state.db, slug))
    app.state.public_cache.clear()
    assert SHOWN_NAME in (await client.get(f"/p/{slug}")).text
    again = await client.post(f"/p/{slug}/sign", data={"code": code})
    assert again.status_code == 422 and "not valid for this petition" in again.text
    app.state.access_log.flush()
    logged = capsys.readouterr().err + "\n".join(r.getMessage() for r in logs.records if not r.name.startswith("httpx"))
    assert receipt not in logged and code not in logged and code.replace("-", "") not in logged


@pytest.mark.parametrize("address", ["x,y@example.com", "a" * 248 + "@example.com"])
async def test_a_refused_updates_address_on_the_receipt_page_is_marked_and_can_be_corrected(
    app: Starlette, client: httpx.AsyncClient, token: str, address: str
) -> None:
    slug = await open_petition(client, token)
    [code] = await make_codes(client, token, slug, 1)
    receipt = (await sign(client, slug, code)).json()["receipt"]
    refused = await client.post(f"/p/{slug}/updates", data={"receipt": receipt, "address": address})
    assert refused.status_code == 422
    assert '<p class="error" id="updates-address-error">Enter one plain email address' in refused.text
    updates_input = refused.text.split('id="updates-address"')[1].split(">")[0]
    assert 'aria-invalid="true"' in updates_input and 'aria-describedby="updates-address-error"' in updates_input
    receipt_input = refused.text.split('id="receipt"')[1].split(">")[0]
    assert "aria-invalid" not in receipt_input and 'id="receipt-error"' not in refused.text
    assert f'value="{address}"' in refused.text, "the updates form is there again, with the address as typed"
    assert await app.state.db.fetch_val("SELECT COUNT(*) FROM contact_confirmations") == 0


async def test_a_pending_receipt_says_signatures_are_counted_in_groups_and_how_long_groups_took(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token)
    codes = await make_codes(client, token, slug, 6)
    db: Database = app.state.db
    page = await client.get(f"/p/{slug}")
    assert "counted in groups of at least 5" in page.text
    first = await client.post(f"/p/{slug}/sign", data={"code": codes[0]}, follow_redirects=True)
    assert "counted in groups of at least 5" in first.text and "so far" not in first.text, "no group closed yet"
    for code in codes[1:5]:
        await sign(client, slug, code)
    opened = await db.fetch_val("SELECT opened_at FROM petitions WHERE slug = :slug", {"slug": slug})
    await close_batch(db, app.state.settings, await petition_id(db, slug), at=opened + 3 * 86400)
    receipt = (await sign(client, slug, codes[5])).json()["receipt"]
    check = await client.post(f"/p/{slug}/receipt", data={"receipt": receipt})
    words = " ".join(re.sub(r"<[^>]+>", "", check.text).split())
    assert "Yours is pending until its group is complete: on this petition a group has taken about 3 days" in words


async def test_a_withdrawn_shown_name_leaves_the_public_page_at_once_and_the_count_with_the_next_batch(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token)
    codes = await make_codes(client, token, slug, 5)
    receipt = (await sign(client, slug, codes[0], name=SHOWN_NAME, show_name=True)).json()["receipt"]
    for code in codes[1:]:
        await sign(client, slug, code)
    await count_everything(app)
    assert SHOWN_NAME in (await client.get(f"/p/{slug}")).text
    assert (await client.post(f"/api/v1/petitions/{slug}/signatures/withdraw", json={"receipt": receipt})).is_success
    page = await client.get(f"/p/{slug}")
    assert SHOWN_NAME not in page.text, "the name goes at once"
    assert await count_of(client, slug) == 5, "the count moves with the next batch"

"""Shown names stay the signer's: hidden with the receipt before or after counting, after the
petition closes and after a purge; nothing else changes."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette

from petition import shown_names
from petition.batcher import Batcher, close_batch
from petition.database import Database, Row, Transaction
from petition.signing import NAME_HIDDEN, NO_NAME_SHOWN

from .test_petitions import bearer
from .test_signing import count_of, make_codes, open_petition, petition_id, sign

pytestmark = pytest.mark.usefixtures("organizer")
SHOWN = "Ottilie Stayshown"
HIDING = "Quentin Hidesoon"
HIDE_BUTTON = 'value="hide_name"'


def api(slug: str, action: str) -> str:
    return f"/api/v1/petitions/{slug}/signatures/{action}"


async def hide(client: httpx.AsyncClient, slug: str, receipt: str) -> httpx.Response:
    return await client.post(api(slug, "hide-name"), json={"receipt": receipt})


async def receipt_status(client: httpx.AsyncClient, slug: str, receipt: str) -> dict[str, object]:
    answer = await client.post(api(slug, "status"), json={"receipt": receipt})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def page(client: httpx.AsyncClient, slug: str) -> str:
    return (await client.get(f"/p/{slug}")).text


async def snapshot(db: Database) -> dict[str, list[Row]]:
    """Every row hiding could touch, and the cache version."""
    tables = ("signatures", "signer_names", "signer_reasons", "pending_signatures", "email_dedupe", "cache_version")
    return {table: await db.fetch_all(f"SELECT * FROM {table} ORDER BY 1") for table in tables}


async def signed_with_names(client: httpx.AsyncClient, token: str, slug: str) -> tuple[str, str]:
    """Two signatures with shown names: (the one that stays shown, the one to hide)."""
    first, second = await make_codes(client, token, slug, 2)
    stays = (await sign(client, slug, first, name=SHOWN, show_name=True)).json()["receipt"]
    hides = (await sign(client, slug, second, name=HIDING, role="Night shift", show_name=True)).json()["receipt"]
    return stays, hides


async def test_a_name_hidden_before_its_batch_closes_is_never_written(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token)
    _, hides = await signed_with_names(client, token, slug)
    db: Database = app.state.db
    assert await receipt_status(client, slug, hides) == {"status": "pending", "name_shown": True}
    length = await db.fetch_val("SELECT LENGTH(sealed) FROM pending_signatures ORDER BY pending_key LIMIT 1")
    answer = await hide(client, slug, hides)
    assert answer.status_code == 200 and answer.json() == {"status": "pending", "name_shown": False}
    assert await receipt_status(client, slug, hides) == {"status": "pending", "name_shown": False}
    lengths = await db.fetch_all("SELECT LENGTH(sealed) AS n FROM pending_signatures")
    assert [row["n"] for row in lengths] == [length, length], "the entry changed in place, at its length"
    await close_batch(db, app.state.settings, await petition_id(db, slug))
    app.state.public_cache.clear()
    names = await db.fetch_all("SELECT name, role FROM signer_names")
    assert names == [{"name": SHOWN, "role": ""}], "the hidden name was never written"
    assert await count_of(client, slug) == 2, "the signature still counts"
    counted = await receipt_status(client, slug, hides)
    assert counted["status"] == "counted" and counted["name_shown"] is False and "proof" in counted
    shown = await page(client, slug)
    assert SHOWN in shown and HIDING not in shown


async def test_a_hidden_counted_name_leaves_the_page_at_once_and_nothing_else_changes(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token)
    stays, hides = await signed_with_names(client, token, slug)
    db: Database = app.state.db
    await close_batch(db, app.state.settings, await petition_id(db, slug))
    app.state.public_cache.clear()
    assert HIDING in await page(client, slug)
    assert (await receipt_status(client, slug, hides))["name_shown"] is True
    before = await snapshot(db)
    answer = await hide(client, slug, hides)
    assert answer.status_code == 200 and answer.json() == {"status": "counted", "name_shown": False}
    shown = await page(client, slug)
    assert HIDING not in shown and "Night shift" not in shown and SHOWN in shown, "gone at once, without a batch"
    after = await snapshot(db)
    assert after["signer_names"] == [row for row in before["signer_names"] if row["name"] != HIDING]
    for table in ("signatures", "signer_reasons", "pending_signatures", "email_dedupe"):
        assert after[table] == before[table], f"{table} changed"
    assert after["cache_version"] != before["cache_version"], "every process's cached pages refresh"
    assert await count_of(client, slug) == 2
    assert (await receipt_status(client, slug, stays))["name_shown"] is True


async def test_a_name_is_hidden_after_the_petition_closes_and_after_its_identifying_data_is_purged(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token)
    stays, hides = await signed_with_names(client, token, slug)
    db: Database = app.state.db
    pid = await petition_id(db, slug)
    assert (await client.post(f"/api/v1/petitions/{slug}/close", headers=bearer(token))).status_code == 200
    # Closed, its last batch not yet counted: the waiting entry loses the name.
    assert (await hide(client, slug, stays)).json() == {"status": "pending", "name_shown": False}
    assert await Batcher(app.state.settings).run_once(db) == 1, "the closed petition's last batch"
    assert await db.fetch_all("SELECT name FROM signer_names") == [{"name": HIDING}]
    # What a purge destroys; it keeps the signatures and the names signers chose to show.

    async def purge(tx: Transaction) -> None:
        for table in ("pending_signatures", "email_dedupe", "contacts"):
            await tx.execute(f"DELETE FROM {table} WHERE petition_id = :id", {"id": pid})
        await tx.execute("DELETE FROM signer_reasons WHERE petition_id = :id AND status <> 'approved'", {"id": pid})

    await db.write(purge)
    app.state.public_cache.clear()
    assert HIDING in await page(client, slug)
    assert (await hide(client, slug, hides)).json() == {"status": "counted", "name_shown": False}
    assert HIDING not in await page(client, slug)
    assert await db.fetch_val("SELECT COUNT(*) FROM signer_names") == 0
    assert await count_of(client, slug) == 2


async def test_hiding_twice_a_signature_without_a_name_or_a_withdrawn_one_is_409_and_changes_nothing(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token)
    stays, hides = await signed_with_names(client, token, slug)
    nameless_code, withdrawn_code, unshown_code = await make_codes(client, token, slug, 3)
    nameless = (await sign(client, slug, nameless_code)).json()["receipt"]
    withdrawn = (await sign(client, slug, withdrawn_code, name="Wanda Gone", show_name=True)).json()["receipt"]
    unshown = (await sign(client, slug, unshown_code, name="Ulrich Unticked")).json()["receipt"]
    assert (await client.post(api(slug, "withdraw"), json={"receipt": withdrawn})).status_code == 200
    assert (await hide(client, slug, hides)).status_code == 200
    db: Database = app.state.db
    for counted in (False, True):
        if counted:
            await close_batch(db, app.state.settings, await petition_id(db, slug))
        before = await snapshot(db)
        for receipt in (hides, nameless, unshown):
            answer = await hide(client, slug, receipt)
            assert answer.status_code == 409, answer.text
            assert answer.json()["error"]["message"] == shown_names.NO_NAME_SHOWN
        answer = await hide(client, slug, withdrawn)
        assert answer.status_code == 409 and answer.json()["error"]["message"] == shown_names.WITHDRAWN_HAS_NO_NAME
        assert await snapshot(db) == before, "nothing changed"
    assert (await receipt_status(client, slug, withdrawn)) == {"status": "withdrawn", "name_shown": False}
    assert (await receipt_status(client, slug, stays))["name_shown"] is True


async def test_an_unknown_or_another_petitions_receipt_hides_nothing(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token)
    other = await open_petition(client, token, title="Another petition")
    stays, _ = await signed_with_names(client, token, slug)
    await close_batch(app.state.db, app.state.settings, await petition_id(app.state.db, slug))
    before = await snapshot(app.state.db)
    unknown = await hide(client, slug, "A" * 43)
    status = await client.post(api(slug, "status"), json={"receipt": "A" * 43})
    assert unknown.status_code == status.status_code == 404 and unknown.json() == status.json()
    assert (await hide(client, other, stays)).status_code == 404, "a receipt of another petition"
    assert (await hide(client, slug, "")).status_code == 422
    assert (await client.post(api(slug, "hide-name"), json={"receipt": stays, "extra": 1})).status_code == 422
    assert (await hide(client, "no-such-petition", stays)).status_code == 404
    assert await snapshot(app.state.db) == before
    assert (await client.post(f"/p/{other}/receipt", data={"receipt": stays, "action": "hide_name"})).status_code == 404


async def test_the_receipt_page_offers_to_hide_a_shown_name_without_javascript_also_when_closed(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token)
    _, hides = await signed_with_names(client, token, slug)
    [nameless_code] = await make_codes(client, token, slug, 1)
    nameless = (await sign(client, slug, nameless_code)).json()["receipt"]
    db: Database = app.state.db
    await close_batch(db, app.state.settings, await petition_id(db, slug))
    receipt_page = f"/p/{slug}/receipt"
    checked = await client.post(receipt_page, data={"receipt": hides})
    assert HIDE_BUTTON in checked.text and "shown on this" in checked.text
    assert HIDE_BUTTON not in (await client.post(receipt_page, data={"receipt": nameless})).text, "no name: no button"
    assert (await client.post(f"/api/v1/petitions/{slug}/close", headers=bearer(token))).status_code == 200
    closed = await client.post(receipt_page, data={"receipt": hides})
    assert HIDE_BUTTON in closed.text and 'value="withdraw"' not in closed.text, "hiding still, withdrawing not"
    hidden = await client.post(receipt_page, data={"receipt": hides, "action": "hide_name"})
    assert hidden.status_code == 200 and NAME_HIDDEN in hidden.text and HIDE_BUTTON not in hidden.text
    assert hidden.headers["cache-control"] == "no-store"
    assert HIDING not in await page(client, slug) and SHOWN in await page(client, slug)
    again = await client.post(receipt_page, data={"receipt": hides, "action": "hide_name"})
    assert again.status_code == 200 and NO_NAME_SHOWN in again.text, "a reload or a double tap: done already"
    unknown = await client.post(receipt_page, data={"receipt": "A" * 43, "action": "hide_name"})
    assert unknown.status_code == 404 and 'id="receipt-error"' in unknown.text
    assert await db.fetch_all("SELECT name FROM signer_names") == [{"name": SHOWN}]


async def test_the_openapi_document_describes_hiding_a_name_like_its_neighbours(client: httpx.AsyncClient) -> None:
    document = (await client.get("/api/openapi.json")).json()
    operation = document["paths"]["/api/v1/petitions/{slug}/signatures/hide-name"]["post"]
    neighbour = document["paths"]["/api/v1/petitions/{slug}/signatures/withdraw"]["post"]
    assert operation["requestBody"] == neighbour["requestBody"]
    assert set(operation["responses"]) == set(neighbour["responses"])
    status = document["components"]["schemas"]["SignatureStatus"]["properties"]
    assert "name_shown" in status

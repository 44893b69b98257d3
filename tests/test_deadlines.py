"""A petition's deadline closes it at that moment, everywhere, before the closing job has run."""

from __future__ import annotations

import asyncio
import secrets
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from starlette.applications import Starlette

from petition import petitions
from petition.csrf import FORM_FIELD
from petition.database import Database, Transaction, now

from .test_login import csrf_of, log_in
from .test_petitions import bearer
from .test_signing import make_codes, open_petition, sign, status

pytestmark = pytest.mark.usefixtures("organizer")
BOTH_ROUTES = {"verification": ["email", "code"], "allowed_domains": ["example.org"]}


async def passed_deadline(app: Starlette, slug: str, seconds_ago: int = 60) -> int:
    """Move the petition's deadline into the past, as time would, without running the closing job."""
    db: Database = app.state.db
    deadline = now() - seconds_ago

    async def unit(tx: Transaction) -> None:
        await tx.execute(
            "UPDATE petitions SET closes_at = :at, opened_at = :opened WHERE slug = :slug",
            {"at": deadline, "opened": deadline - 86400, "slug": slug},
        )
        await tx.execute("UPDATE cache_version SET version = version + 1")

    await db.write(unit)
    app.state.public_cache.clear()
    row = await db.fetch_one("SELECT state, closed_at FROM petitions WHERE slug = :slug", {"slug": slug})
    assert row is not None and row["state"] == "open" and row["closed_at"] is None, "the closing job has not run"
    return deadline


def in_days(days: int) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


async def test_withdrawing_after_the_deadline_is_refused_before_the_closing_job_runs(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token, closes_at=in_days(2))
    [code] = await make_codes(client, token, slug, 1)
    receipt = (await sign(client, slug, code)).json()["receipt"]
    await passed_deadline(app, slug)
    refused = await client.post(f"/api/v1/petitions/{slug}/signatures/withdraw", json={"receipt": receipt})
    assert refused.status_code == 409 and "only while the petition is open" in refused.json()["error"]["message"]
    page = await client.post(f"/p/{slug}/receipt", data={"receipt": receipt, "action": "withdraw"})
    assert page.status_code == 409
    assert 'value="withdraw"' not in page.text, "the receipt page offers no withdrawal"
    assert await status(client, slug, receipt) == "pending"


async def test_a_withdrawal_written_after_the_deadline_is_refused_inside_the_write(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    from petition import signatures

    slug = await open_petition(client, token, closes_at=in_days(2))
    [code] = await make_codes(client, token, slug, 1)
    receipt = (await sign(client, slug, code)).json()["receipt"]
    stale = await petitions.find(app.state.db, slug)  # read while it was open, as a cache may hold it
    assert stale is not None and petitions.is_open(stale)
    await passed_deadline(app, slug)
    with pytest.raises(petitions.PetitionError) as refused:
        await signatures.withdraw(app.state.db, app.state.settings, petition=stale, receipt=receipt)
    assert refused.value.status == 409 and "only while the petition is open" in refused.value.message
    assert await status(client, slug, receipt) == "pending"


async def test_signing_after_the_deadline_is_refused_by_every_route_before_the_closing_job_runs(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token, closes_at=in_days(2), **BOTH_ROUTES)
    [code] = await make_codes(client, token, slug, 1)
    asked = await client.post(f"/api/v1/petitions/{slug}/signatures", json={"email": "worker@example.org"})
    assert asked.status_code == 202
    attempt = asked.json()["attempt"]
    stale = await petitions.find(app.state.db, slug)
    await passed_deadline(app, slug)
    assert (await sign(client, slug, code)).status_code == 409
    assert (await client.post(f"/p/{slug}/sign", data={"code": code})).status_code == 409
    again = await client.post(f"/api/v1/petitions/{slug}/signatures", json={"email": "other@example.org"})
    assert again.status_code == 409
    resend = await client.post(f"/api/v1/petitions/{slug}/signatures/resend", json={"attempt": attempt})
    assert resend.status_code == 409
    verify = await client.post(
        f"/api/v1/petitions/{slug}/signatures/verify", json={"attempt": attempt, "code": "AAAA-AAAA"}
    )
    assert verify.status_code == 409
    # A copy of the petition read before the deadline does not let a code through: the write checks it too.
    from petition import signatures
    from petition.signatures import SignatureCreate

    assert stale is not None
    stale_open = {**stale, "closes_at": None}
    with pytest.raises(petitions.PetitionError) as refused:
        await signatures.sign_with_code(
            app.state.db, app.state.settings, petition=stale_open, data=SignatureCreate(code=code)
        )
    assert refused.value.status == 409, "closed, not a wrong code"
    assert await app.state.db.fetch_val("SELECT COUNT(*) AS n FROM pending_signatures") == 0
    assert await app.state.db.fetch_val("SELECT COUNT(*) AS n FROM signing_codes WHERE state = 0") == 1, "unused"


async def test_pages_and_json_say_closed_at_the_deadline_before_the_closing_job_runs(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token, closes_at=in_days(2), **BOTH_ROUTES)
    other = await open_petition(client, token, title="Still open")
    deadline = await passed_deadline(app, slug)
    view = (await client.get(f"/api/v1/petitions/{slug}")).json()
    assert view["state"] == "closed"
    assert view["closed_at"] == view["closes_at"] == petitions.iso(deadline), "the deadline closed it, at the deadline"
    mine = (await client.get("/api/v1/me/petitions", headers=bearer(token))).json()["petitions"]
    assert {p["slug"]: p["state"] for p in mine} == {slug: "closed", other: "open"}
    page = await client.get(f"/p/{slug}")
    assert f'action="/p/{slug}/sign"' not in page.text and "no more signatures" in page.text
    assert 'value="withdraw"' not in (await client.get(f"/p/{slug}/receipt")).text
    open_list = (await client.get("/api/v1/petitions", params={"state": "open"})).json()["petitions"]
    closed_list = (await client.get("/api/v1/petitions", params={"state": "closed"})).json()["petitions"]
    assert [p["slug"] for p in open_list] == [other]
    assert [p["slug"] for p in closed_list] == [slug] and closed_list[0]["state"] == "closed"
    home = (await client.get("/")).text
    assert f"/p/{slug}" in home.split('id="closed"')[1] and f"/p/{slug}" not in home.split('id="closed"')[0]
    timeline = (await client.get(f"/api/v1/petitions/{slug}/timeline")).json()
    assert timeline["events"][-1]["kind"] == "closed"
    # The job, when it runs, stamps what was already shown.
    assert await petitions.close_due(app.state.db) == 1
    app.state.public_cache.clear()
    assert (await client.get(f"/api/v1/petitions/{slug}")).json() == view


async def test_codes_flyers_edits_and_closing_are_refused_after_the_deadline_before_the_closing_job_runs(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token, closes_at=in_days(2))
    await passed_deadline(app, slug)
    codes = await client.post(f"/api/v1/petitions/{slug}/codes", json={"count": 3}, headers=bearer(token))
    assert codes.status_code == 409
    flyers = await client.post(
        f"/api/v1/petitions/{slug}/flyers", json={"layout": "poster", "paper_size": "a4"}, headers=bearer(token)
    )
    assert flyers.status_code == 409
    later = await client.patch(f"/api/v1/petitions/{slug}", json={"closes_at": in_days(5)}, headers=bearer(token))
    assert later.status_code == 409
    assert (await client.post(f"/api/v1/petitions/{slug}/close", headers=bearer(token))).status_code == 409
    await log_in(client, "alice@example.org")
    manage = f"/organize/petitions/{slug}"
    csrf = await csrf_of(client, manage)
    made = await client.post(f"{manage}/codes", data={FORM_FIELD: csrf, "count": "3"})
    assert made.status_code == 409
    assert await app.state.db.fetch_val("SELECT COUNT(*) AS n FROM signing_codes") == 0
    assert await app.state.db.fetch_val("SELECT COUNT(*) AS n FROM flyer_batches") == 0


async def test_a_cached_page_stops_offering_signing_the_moment_its_deadline_passes(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    deadline = int(time.time()) + 3
    slug = await open_petition(client, token, closes_at=datetime.fromtimestamp(deadline, UTC).isoformat())
    page = await client.get(f"/p/{slug}")
    assert f'href="/p/{slug}/sign/code"' in page.text
    assert (await client.get(f"/api/v1/petitions/{slug}")).json()["state"] == "open"
    await asyncio.sleep(max(0.0, deadline - time.time()) + 0.1)
    page = await client.get(f"/p/{slug}")
    assert f"/p/{slug}/sign" not in page.text
    assert (await client.get(f"/api/v1/petitions/{slug}")).json()["state"] == "closed"


def test_a_petition_is_open_until_its_deadline_and_closed_from_it() -> None:
    row = {"state": "open", "closes_at": 1_000, "closed_at": None}
    assert petitions.is_open(row, 999)
    assert not petitions.is_open(row, 1_000)
    assert petitions.as_of(row, 1_000) == {"state": "closed", "closes_at": 1_000, "closed_at": 1_000}
    assert petitions.as_of(row, 999) is row
    assert petitions.is_open({"state": "open", "closes_at": None, "closed_at": None}, 10**12)
    assert not petitions.is_open({"state": "draft", "closes_at": None, "closed_at": None}, 0)


CLOSED_MESSAGE = "This petition is closed: it takes no more signatures"


async def test_signing_forms_sent_after_the_deadline_say_the_petition_is_closed_and_offer_no_form(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token, closes_at=in_days(2), **BOTH_ROUTES)
    [code] = await make_codes(client, token, slug, 1)
    asked = await client.post(f"/p/{slug}/sign", data={"email": "sam@example.org"})
    assert asked.status_code == 303, "the attempt is in this client's cookie"
    await passed_deadline(app, slug)
    answers = {
        "code": await client.post(f"/p/{slug}/sign", data={"code": code}),
        "email": await client.post(f"/p/{slug}/sign", data={"email": "kim@example.org"}),
        "verify": await client.post(f"/p/{slug}/verify", data={"code": "7K3Q-M9TD"}),
        "resend": await client.post(f"/p/{slug}/resend"),
        "code form": await client.get(f"/p/{slug}/sign/code"),
        "check-email page": await client.get(f"/p/{slug}/check-email"),
    }
    for form, answer in answers.items():
        assert answer.status_code == 409, form
        assert CLOSED_MESSAGE in answer.text, form
        assert "Please correct the form" not in answer.text, form
        assert "<form" not in answer.text.split("</header>")[-1], f"{form}: no form to send again"
    assert await app.state.db.fetch_val("SELECT COUNT(*) FROM pending_signatures") == 0


async def test_a_withdrawal_after_the_deadline_says_so_without_blaming_the_receipt(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token, closes_at=in_days(2))
    [code] = await make_codes(client, token, slug, 1)
    receipt = (await sign(client, slug, code)).json()["receipt"]
    await passed_deadline(app, slug)
    page = await client.post(f"/p/{slug}/receipt", data={"receipt": receipt, "action": "withdraw"})
    assert page.status_code == 409 and "only while the petition is open" in page.text
    assert 'id="receipt-error"' not in page.text and 'aria-invalid="true"' not in page.text
    assert "Your signature is <strong>pending</strong>" in page.text
    # A receipt of nothing (in a receipt's shape): the petition's state answers first.
    unknown = await client.post(f"/p/{slug}/receipt", data={"receipt": secrets.token_urlsafe(32), "action": "withdraw"})
    assert unknown.status_code == 409 and "only while the petition is open" in unknown.text

"""Printed codes for a round: made in batches, kept only as keyed hashes under their own label, never
signing the petition, never in its codes_issued or its log, listed without small counts, revoked."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette

from petition.codes import code_hash
from petition.csrf import FORM_FIELD
from petition.database import Database
from petition.feedback import round_code_pages, round_codes, rounds
from petition.feedback.round_codes import round_code_hash

from ..test_petitions import bearer
from ..test_signing import make_codes, open_petition, sign
from .factories import execute
from .test_round_organizer_pages import signed_in, summary_of
from .test_rounds import bob_token, new_round, open_round_on_new_petition

pytestmark = pytest.mark.usefixtures("organizer")


async def make_round_codes(client: httpx.AsyncClient, token: str, round_id: str, **body: object) -> httpx.Response:
    return await client.post(f"/api/v1/rounds/{round_id}/codes", json={"count": 3, **body}, headers=bearer(token))


async def test_round_codes_are_returned_once_kept_as_round_code_hashes_and_listed_without_small_counts(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    _, round_id = await open_round_on_new_petition(client, token)
    made = await make_round_codes(client, token, round_id, count=6, label="Canteen")
    assert made.status_code == 201 and made.headers["cache-control"] == "no-store"
    body = made.json()
    assert set(body) == {"batch", "codes"} and len(set(body["codes"])) == 6
    db: Database = app.state.db
    stored = await db.fetch_all("SELECT code_hash, batch_id, state FROM round_codes")
    pepper = app.state.settings.pepper
    assert {row["code_hash"] for row in stored} == {round_code_hash(pepper, code) for code in body["codes"]}
    assert {(row["batch_id"], row["state"]) for row in stored} == {(body["batch"], 0)}
    dump = str(await db.fetch_all("SELECT * FROM round_codes")) + str(
        await db.fetch_all("SELECT * FROM round_code_batches")
    )
    assert not any(code in dump or code.replace("-", "") in dump for code in body["codes"])
    listed = await client.get(f"/api/v1/rounds/{round_id}/codes", headers=bearer(token))
    expected = {
        "id": body["batch"],
        "label": "Canteen",
        "size": 6,
        "used": None,
        "revoked": False,
        "downloadable": False,
    }
    assert listed.json() == {"batches": [expected]}, "used below MIN_CELL_SIZE is null"
    await execute(db, "UPDATE round_code_batches SET used = 5 WHERE id = :id", {"id": body["batch"]})
    assert (await client.get(f"/api/v1/rounds/{round_id}/codes", headers=bearer(token))).json()["batches"][0][
        "used"
    ] == 5


async def test_a_round_code_never_signs_the_petition_nor_counts_in_codes_issued_or_its_log(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug, round_id = await open_round_on_new_petition(client, token)
    db: Database = app.state.db
    before = await db.fetch_one("SELECT codes_issued, log_size FROM petitions WHERE slug = :slug", {"slug": slug})
    [code] = (await make_round_codes(client, token, round_id, count=1)).json()["codes"]
    after = await db.fetch_one("SELECT codes_issued, log_size FROM petitions WHERE slug = :slug", {"slug": slug})
    assert after == before, "not in codes_issued, no entry in the log"
    assert (await client.get(f"/api/v1/petitions/{slug}")).json()["codes_issued"] == before["codes_issued"]
    refused = await sign(client, slug, code)
    assert refused.status_code == 422
    assert await db.fetch_val("SELECT COUNT(*) FROM pending_signatures") == 0
    assert await db.fetch_val("SELECT COUNT(*) FROM signing_codes") == 0


async def test_a_petition_code_is_not_a_round_code(app: Starlette, client: httpx.AsyncClient, token: str) -> None:
    slug, round_id = await open_round_on_new_petition(client, token)
    [petition_code] = await make_codes(client, token, slug, 1)
    await make_round_codes(client, token, round_id)
    pepper = app.state.settings.pepper
    assert round_code_hash(pepper, petition_code) != code_hash(pepper, petition_code), "labels differ"
    assert round_code_hash(pepper, petition_code.lower()) == round_code_hash(pepper, petition_code), "normalized"
    hashes = {row["code_hash"] for row in await app.state.db.fetch_all("SELECT code_hash FROM round_codes")}
    assert code_hash(pepper, petition_code) not in hashes and round_code_hash(pepper, petition_code) not in hashes


async def test_round_codes_are_refused_without_printed_codes_on_a_closed_round_and_above_the_limit(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    email_only = await open_petition(client, token, verification=["email"], allowed_domains=["example.com"])
    email_round = (await new_round(client, token, email_only)).json()["id"]
    refused = await make_round_codes(client, token, email_round)
    assert refused.status_code == 409 and "printed codes" in refused.json()["error"]["message"]
    _, round_id = await open_round_on_new_petition(client, token)
    limit = app.state.settings.max_codes_per_batch
    too_many = await make_round_codes(client, token, round_id, count=limit + 1)
    assert too_many.status_code == 422 and f"at most {limit}" in too_many.text
    for bad in ({"count": 0}, {"count": "5"}, {"label": "Two\nlines"}, {"colour": "red"}):
        assert (await make_round_codes(client, token, round_id, **bad)).status_code == 422, bad
    bob = await bob_token(app)
    assert (await make_round_codes(client, bob, round_id)).status_code == 404
    assert (await client.post(f"/api/v1/rounds/{round_id}/close", headers=bearer(token))).status_code == 200
    closed = await make_round_codes(client, token, round_id)
    assert closed.status_code == 409 and "closed" in closed.json()["error"]["message"]
    assert await app.state.db.fetch_val("SELECT COUNT(*) FROM round_code_batches") == 0


async def test_a_round_code_batch_is_revoked_once(app: Starlette, client: httpx.AsyncClient, token: str) -> None:
    _, round_id = await open_round_on_new_petition(client, token)
    batch = (await make_round_codes(client, token, round_id)).json()["batch"]
    revoked = await client.post(f"/api/v1/rounds/{round_id}/codes/{batch}/revoke", headers=bearer(token))
    assert revoked.status_code == 200 and revoked.json()["revoked"] is True
    again = await client.post(f"/api/v1/rounds/{round_id}/codes/{batch}/revoke", headers=bearer(token))
    assert again.status_code == 409 and "revoked already" in again.json()["error"]["message"]
    unknown = await client.post(f"/api/v1/rounds/{round_id}/codes/no-such-batch/revoke", headers=bearer(token))
    assert unknown.status_code == 404
    _, other_round = await open_round_on_new_petition(client, token)
    elsewhere = await client.post(f"/api/v1/rounds/{other_round}/codes/{batch}/revoke", headers=bearer(token))
    assert elsewhere.status_code == 404, "a batch is revoked through its own round only"


async def test_codes_kept_for_download_are_handed_out_once(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    _, round_id = await open_round_on_new_petition(client, token)
    db: Database = app.state.db
    settings = app.state.settings
    found = await rounds.find(db, round_id)
    assert found is not None
    batch_id, made = await round_codes.make_batch(
        db,
        settings,
        found=found,
        organizer_id=found.round["created_by"],
        count=4,
        label="Lobby",
        keep_for_download=True,
    )
    assert made[0] not in str(await db.fetch_all("SELECT * FROM round_code_batches")), "kept encrypted"
    assert await round_codes.take_download(db, settings, round_id=round_id, batch_id=batch_id) == ("Lobby", made)
    with pytest.raises(round_codes.PetitionError) as gone:
        await round_codes.take_download(db, settings, round_id=round_id, batch_id=batch_id)
    assert gone.value.status == 409


async def test_an_unknown_download_format_on_the_codes_page_is_refused_before_the_one_download_is_spent(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    _, round_id = await open_round_on_new_petition(client, token)
    csrf = await signed_in(client)
    await client.post(f"/organize/rounds/{round_id}/codes", data={FORM_FIELD: csrf, "count": "2"})
    db: Database = app.state.db
    batch = str(await db.fetch_val("SELECT id FROM round_code_batches WHERE round_id = :id", {"id": round_id}))
    download = f"/organize/rounds/{round_id}/codes/{batch}/download"
    for bogus in ("bogus", "", "pdf"):
        refused = await client.post(download, data={FORM_FIELD: csrf, "format": bogus})
        assert refused.status_code == 422 and round_code_pages.UNKNOWN_FORMAT in summary_of(refused.text), bogus
    kept = await db.fetch_val("SELECT plaintext FROM round_code_batches WHERE id = :id", {"id": batch})
    assert kept is not None, "nothing spent"
    taken = await client.post(download, data={FORM_FIELD: csrf, "format": "txt"})
    assert taken.status_code == 200 and taken.headers["content-type"].startswith("text/plain")

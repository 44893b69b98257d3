"""The delivery certificate's content and downloads: exactly what it holds, only shown names, and
refused (changing nothing) for drafts, other organizers' petitions and unknown ones."""

from __future__ import annotations

import json
from dataclasses import replace

import httpx
import pytest
from starlette.applications import Starlette

from petition import checkpoints, petitions
from petition.delivery import certificate, certificate_api, certificate_note
from petition.delivery.certificate import DRAFT, DUPLICATES, MAX_REASONS, PRINTED_CODES, build
from petition.feedback import results_job
from petition.verify import open_note, read_certificate

from ..conftest import BASE_URL, ORGANIZER_PASSWORD
from ..feedback.factories import add_participant, execute, make_round
from ..feedback.test_results_job import CAMP_A, CAMP_B, STATEMENTS, InProcessWorker, vote
from ..test_login import log_in
from ..test_petitions import bearer, create, other_organizer_token
from ..test_signing import count_everything, make_codes, open_petition, petition_id, sign

pytestmark = pytest.mark.usefixtures("organizer")

TOP_KEYS = {
    "format",
    "service",
    "petition",
    "as_of",
    "verified_count",
    "by_method",
    "rules",
    "timeline",
    "log",
    "how_to_verify",
    "names",
    "reasons",
    "rounds",
}
PETITION_KEYS = {
    "slug",
    "url",
    "title",
    "summary",
    "body",
    "target",
    "goal",
    "state",
    "opened_at",
    "closed_at",
    "purged_at",
    "time_zone",
}
RULES_KEYS = {"methods", "allowed_domains", "codes_issued", "code_batches", "printed_codes", "duplicates"}
LOG_KEYS = {"origin", "tree_size", "root", "checkpoint", "vkey", "fingerprint"}
DAY_KEYS = {"day", "signed", "withdrawn", "invalidated", "cumulative"}


def note_url(slug: str) -> str:
    return f"/api/v1/petitions/{slug}/certificate.note"


def json_of(note: bytes) -> dict:
    """The certificate's JSON: the note's first line."""
    return json.loads(note.decode().split("\n", 1)[0])


async def certificate_of(client: httpx.AsyncClient, token: str, slug: str) -> dict:
    response = await client.get(note_url(slug), headers=bearer(token))
    assert response.status_code == 200, response.text
    return json_of(response.content)


async def test_the_certificate_holds_exactly_its_fields_and_the_count_its_checkpoint_proves(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token, verification=["code", "email"], allowed_domains=["example.com"])
    codes = await make_codes(client, token, slug, 8)
    for number, code in enumerate(codes[:6]):
        await sign(client, slug, code, name=f"Signer {number}", role="Picker", show_name=number < 2)
    await count_everything(app)
    response = await client.get(note_url(slug), headers=bearer(token))
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-disposition"] == f"attachment; filename={slug}-certificate.note"
    document = json_of(response.content)
    assert set(document) == TOP_KEYS
    assert set(document["petition"]) == PETITION_KEYS
    assert set(document["rules"]) == RULES_KEYS
    assert set(document["log"]) == LOG_KEYS
    assert set(document["by_method"]) == {"work_email", "printed_code"}
    assert set(document["reasons"]) == {"approved", "quoted"}
    assert all(set(day) == DAY_KEYS for day in document["timeline"])
    assert all(set(name) == {"name", "role"} for name in document["names"])

    public = (await client.get(f"/api/v1/petitions/{slug}")).json()
    assert document["format"] == "petition-delivery-certificate/v1"
    assert document["service"] == BASE_URL
    assert document["petition"] == {key: public[key] for key in PETITION_KEYS - {"url"}} | {
        "url": f"{BASE_URL}/p/{slug}"
    }
    assert document["verified_count"] == public["signature_count"] == 6
    assert document["by_method"] == {"work_email": 0, "printed_code": 6}
    assert document["rules"] == {
        "methods": ["email", "code"],
        "allowed_domains": ["example.com"],
        "codes_issued": 8,
        "code_batches": 1,
        "printed_codes": PRINTED_CODES,
        "duplicates": DUPLICATES,
    }
    timeline = (await client.get(f"/api/v1/petitions/{slug}/timeline?bucket=day")).json()
    assert document["as_of"] == timeline["as_of"]
    assert [day["day"] for day in document["timeline"]] == [bucket["start"][:10] for bucket in timeline["buckets"]]
    assert document["timeline"][-1]["cumulative"] == 6
    # The checkpoint is the log's latest, exactly as served, and it proves the count: code batch + 6.
    served = (await client.get(f"/api/v1/petitions/{slug}/checkpoint")).text
    signer = checkpoints.signer(app.state.settings.signing_key, app.state.settings.base_url)
    assert document["log"]["checkpoint"] == served
    assert document["log"]["tree_size"] == 7
    assert document["log"]["origin"] == f"127.0.0.1:8000/p/{slug}"
    assert document["log"]["vkey"] == signer.vkey
    assert document["log"]["fingerprint"].count(" ") == 15 and len(document["log"]["fingerprint"]) == 79
    assert document["log"]["fingerprint"] == (await client.get("/api/v1/log/key")).json()["fingerprint"]
    assert sorted(item["name"] for item in document["names"]) == ["Signer 0", "Signer 1"]
    assert {item["role"] for item in document["names"]} == {"Picker"}
    assert document["reasons"] == {"approved": 0, "quoted": []}
    assert document["rounds"] == []
    lines = "\n".join(document["how_to_verify"])
    assert f"python -m petition.verify --certificate FILE {BASE_URL}/p/{slug}" in lines
    assert f"{BASE_URL}/verify.py" in lines
    # Signed with the checkpoints' key, over the exact bytes served.
    assert read_certificate(response.content).count == 6
    open_note(response.text, [signer.vkey])


async def test_only_names_their_signers_show_are_in_it_in_the_public_pages_order(
    app: Starlette, client: httpx.AsyncClient, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(certificate, "NAMES_PAGE", 3)  # read in pages of 3, the last one short
    slug = await open_petition(client, token)
    codes = await make_codes(client, token, slug, 10)
    shown = [f"Shown Person {number}" for number in range(4)]
    for name, code in zip(shown, codes, strict=False):
        assert (await sign(client, slug, code, name=name, show_name=True)).status_code == 201
    hidden_later = (await sign(client, slug, codes[4], name="Hidden Later", show_name=True)).json()["receipt"]
    withdrawn = (await sign(client, slug, codes[5], name="Withdrawn Signer", show_name=True)).json()["receipt"]
    await sign(client, slug, codes[6], name="Never Shown", show_name=False)
    await count_everything(app)
    assert (
        await client.post(f"/api/v1/petitions/{slug}/signatures/hide-name", json={"receipt": hidden_later})
    ).status_code == 200
    assert (
        await client.post(f"/api/v1/petitions/{slug}/signatures/withdraw", json={"receipt": withdrawn})
    ).status_code == 200
    # Waiting for its batch: not public yet, so not in the certificate either.
    await sign(client, slug, codes[7], name="Still Waiting", show_name=True)
    document = await certificate_of(client, token, slug)
    names = [item["name"] for item in document["names"]]
    assert sorted(names) == sorted(shown)
    page = (await client.get(f"/p/{slug}")).text
    assert sorted(names, key=page.index) == names  # the public page lists them in the same order
    note = (await client.get(note_url(slug), headers=bearer(token))).text
    for absent in ("Hidden Later", "Withdrawn Signer", "Never Shown", "Still Waiting"):
        assert absent not in note


async def test_reasons_quote_the_first_approved_ones_of_the_public_list_and_count_them_all(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token)
    codes = await make_codes(client, token, slug, MAX_REASONS + 2)
    for number, code in enumerate(codes):
        await sign(client, slug, code, reason=f"Reason number {number}")
    await count_everything(app)
    queue = (await client.get(f"/api/v1/petitions/{slug}/reasons/queue", headers=bearer(token))).json()["reasons"]
    ids = [item["id"] for item in queue]
    moderated = await client.post(
        f"/api/v1/petitions/{slug}/reasons/moderate", json={"approve": ids[1:], "hide": ids[:1]}, headers=bearer(token)
    )
    assert moderated.status_code == 200, moderated.text
    document = await certificate_of(client, token, slug)
    public = (await client.get(f"/api/v1/petitions/{slug}/reasons")).json()["reasons"]
    assert document["reasons"]["approved"] == MAX_REASONS + 1
    assert document["reasons"]["quoted"] == [item["text"] for item in public][:MAX_REASONS]
    assert len(document["reasons"]["quoted"]) == MAX_REASONS


async def test_only_rounds_whose_results_are_public_and_computed_bring_their_consensus(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db = app.state.db
    slug = await open_petition(client, token, verification=["code", "email"], allowed_domains=["example.com"])
    public_round, statement_ids = await make_round(app, client, token, slug=slug, statements=STATEMENTS)
    hidden_round, hidden_ids = await make_round(
        app, client, token, slug=slug, statements=STATEMENTS, results="organizers", question="Organizers only?"
    )
    await make_round(app, client, token, slug=slug, question="Not computed yet?")
    for round_id, ids in ((public_round, statement_ids), (hidden_round, hidden_ids)):
        for camp in [CAMP_A] * 3 + [CAMP_B] * 3:
            key, _ = await add_participant(db, round_id)
            for statement_id, value in zip(ids, camp, strict=True):
                await vote(db, round_id, key, statement_id, value)
    assert await results_job.run_once(db, app.state.settings, InProcessWorker())
    results = (await client.get(f"/api/v1/rounds/{public_round}/results")).json()
    texts = {item["id"]: item["text"] for item in results["statements"]}
    document = await certificate_of(client, token, slug)
    assert document["rounds"] == [
        {
            "question": "What should a fair opt-out look like?",
            "participants": 6,
            "as_of": results["as_of"],
            "consensus": [texts[item] for item in results["consensus"]],
        }
    ]
    assert document["rounds"][0]["consensus"], "the camps agree on one statement at least"


async def test_a_round_with_fewer_participants_than_a_cell_shows_none(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db = app.state.db
    slug = await open_petition(client, token, verification=["code", "email"], allowed_domains=["example.com"])
    round_id, ids = await make_round(app, client, token, slug=slug, statements=STATEMENTS)
    for camp in [CAMP_A] * 3 + [CAMP_B] * 3:
        key, _ = await add_participant(db, round_id)
        for statement_id, value in zip(ids, camp, strict=True):
            await vote(db, round_id, key, statement_id, value)
    assert await results_job.run_once(db, app.state.settings, InProcessWorker())
    settings = replace(app.state.settings, min_cell_size=7)
    row = await petitions.find(db, slug)
    assert row is not None
    certificate = await build(db=db, row=row, settings=settings)
    assert [item.participants for item in certificate.rounds] == [None]


async def test_drafts_other_organizers_and_unknown_petitions_get_no_certificate_and_nothing_changes(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db = app.state.db
    draft = (await create(client, token)).json()
    slug = await open_petition(client, token)
    bob = await other_organizer_token(app)
    before = await db.fetch_all("SELECT * FROM petitions ORDER BY id")

    def refused(response: httpx.Response, status: int) -> str:
        assert response.status_code == status, response.text
        assert "Traceback" not in response.text
        return str(response.json()["error"]["message"])

    # The draft's organizer: 409, saying why. Anyone else: 404, as for any draft.
    assert refused(await client.get(note_url(draft["id"]), headers=bearer(token)), 409) == DRAFT
    message = refused(await client.get(note_url(draft["id"]), headers=bearer(bob)), 404)
    assert message == "There is no petition at this address that you organize."
    # A draft is addressed by its id only: its slug names nothing.
    refused(await client.get(note_url(draft["slug"]), headers=bearer(token)), 404)
    refused(await client.get(note_url(slug), headers=bearer(bob)), 404)
    refused(await client.get(note_url("no-such-petition"), headers=bearer(token)), 404)
    refused(await client.get(note_url(slug)), 401)
    assert await db.fetch_all("SELECT * FROM petitions ORDER BY id") == before

    # The pages: the signed-in organizer's own, a login for anyone else.
    pid = await petition_id(db, slug)
    anonymous = await client.get(f"/organize/petitions/{pid}/certificate.note")
    assert anonymous.status_code == 303 and "/login" in anonymous.headers["location"]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as browser:
        assert (await log_in(browser, "bob@example.org", ORGANIZER_PASSWORD)).status_code == 303
        assert (await browser.get(f"/organize/petitions/{pid}/certificate.note")).status_code == 404
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as browser:
        assert (await log_in(browser, "alice@example.org", ORGANIZER_PASSWORD)).status_code == 303
        page = await browser.get(f"/organize/petitions/{draft['id']}/certificate.note")
        assert page.status_code == 409 and "publish it first" in page.text
        assert page.headers["cache-control"] == "no-store"
        download = await browser.get(f"/organize/petitions/{pid}/certificate.note")
        assert download.status_code == 200
        assert download.headers["content-disposition"] == f"attachment; filename={slug}-certificate.note"
        assert download.headers["cache-control"] == "no-store"
        assert read_certificate(download.content).slug == slug
    assert await db.fetch_all("SELECT * FROM petitions ORDER BY id") == before


async def test_the_dashboard_offers_the_certificate_once_published(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    draft = (await create(client, token)).json()
    slug = await open_petition(client, token)
    pid = await petition_id(app.state.db, slug)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as browser:
        assert (await log_in(browser, "alice@example.org", ORGANIZER_PASSWORD)).status_code == 303
        dashboard = (await browser.get(f"/organize/petitions/{pid}")).text
        assert f'href="/organize/petitions/{pid}/certificate.note"' in dashboard
        draft_page = (await browser.get(f"/organize/petitions/{draft['id']}")).text
        assert "certificate.note" not in draft_page


async def test_a_closed_and_purged_petitions_certificate_still_verifies(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token)
    codes = await make_codes(client, token, slug, 5)
    for code in codes:
        await sign(client, slug, code)
    await count_everything(app)
    assert (await client.post(f"/api/v1/petitions/{slug}/close", headers=bearer(token))).status_code == 200
    closed = await certificate_of(client, token, slug)
    assert closed["petition"]["state"] == "closed" and closed["petition"]["closed_at"]
    assert closed["petition"]["purged_at"] is None
    assert (await client.post(f"/api/v1/petitions/{slug}/purge", headers=bearer(token))).status_code == 200
    response = await client.get(note_url(slug), headers=bearer(token))
    purged = read_certificate(response.content)
    assert purged.data["petition"]["purged_at"]
    assert purged.count == 5 and purged.size == closed["log"]["tree_size"] + 1  # the purge record


async def test_a_checkpoint_signed_by_a_retired_key_is_signed_again_with_the_current_one(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db = app.state.db
    slug = await open_petition(client, token)
    old = app.state.settings
    stored = (await client.get(f"/api/v1/petitions/{slug}/checkpoint")).text
    old_key = checkpoints.signer(old.signing_key, old.base_url).vkey
    rotated = replace(old, signing_key=b"n" * 32, signing_keys_retired=(old_key,))
    row = await petitions.find(db, slug)
    assert row is not None
    note = certificate_note.sign(await build(db=db, row=row, settings=rotated), rotated)
    certificate = read_certificate(note.encode())
    new_key = checkpoints.signer(rotated.signing_key, rotated.base_url).vkey
    assert certificate.vkey == new_key
    checkpoint = certificate.data["log"]["checkpoint"]
    assert checkpoint != stored and checkpoint.split("\n\n")[0] == stored.split("\n\n")[0]
    open_note(checkpoint, [new_key])


async def test_after_a_move_the_checkpoint_the_same_key_signed_under_the_old_name_is_signed_again_under_the_new(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db = app.state.db
    slug = await open_petition(client, token)
    old = app.state.settings
    stored = (await client.get(f"/api/v1/petitions/{slug}/checkpoint")).text
    moved = replace(old, base_url="https://petitions.example.org")
    row = await petitions.find(db, slug)
    assert row is not None
    certificate = read_certificate(certificate_note.sign(await build(db=db, row=row, settings=moved), moved).encode())
    new_key = checkpoints.signer(moved.signing_key, moved.base_url).vkey
    assert certificate.vkey == new_key and certificate.url == f"https://petitions.example.org/p/{slug}"
    checkpoint = certificate.data["log"]["checkpoint"]
    assert checkpoint.split("\n\n")[0] == stored.split("\n\n")[0]
    open_note(checkpoint, [new_key])


async def test_a_checkpoint_no_key_of_the_service_signed_gets_a_clear_409_never_a_500_and_changes_nothing(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token)
    pid = await petition_id(app.state.db, slug)
    other = replace(app.state.settings, signing_key=b"z" * 32)  # a key changed, the old one not retired
    await execute(
        app.state.db,
        "UPDATE petitions SET log_checkpoint = :note WHERE id = :id",
        {"note": checkpoints.signer(other.signing_key, other.base_url).sign("x\n1\nAA==\n"), "id": pid},
    )
    app.state.public_cache.clear()
    before = await app.state.db.fetch_all("SELECT * FROM petitions ORDER BY id")
    for kind in ("note", "pdf"):
        answer = await client.get(f"/api/v1/petitions/{slug}/certificate.{kind}", headers=bearer(token))
        assert answer.status_code == 409, answer.text
        assert "does not verify with the service's signing keys" in answer.json()["error"]["message"]
    await log_in(client, "alice@example.org")
    page = await client.get(f"/organize/petitions/{pid}/certificate.note")
    assert page.status_code == 409 and "check-log" in page.text
    assert await app.state.db.fetch_all("SELECT * FROM petitions ORDER BY id") == before


async def test_the_openapi_document_describes_the_certificate_download(client: httpx.AsyncClient) -> None:
    document = (await client.get("/api/openapi.json")).json()
    operation = document["paths"]["/api/v1/petitions/{slug}/certificate.note"]["get"]
    assert operation["security"] == [{"bearer": []}]
    assert set(operation["responses"]["200"]["content"]) == {"text/plain"}
    assert {"401", "404", "409"} <= set(operation["responses"])


async def test_the_downloads_refuse_an_unknown_or_repeated_parameter_saying_how_to_ask(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token)
    pid = await petition_id(app.state.db, slug)
    api = f"/api/v1/petitions/{slug}/certificate"
    before = await app.state.db.fetch_all("SELECT * FROM petitions ORDER BY id")
    for query in ("x=1", "paper=a4", "download"):
        answer = await client.get(f"{api}.note?{query}", headers=bearer(token))
        assert answer.status_code == 422, (query, answer.text)
        assert answer.json()["error"]["code"] and "Traceback" not in answer.text
    # The paper: another one, or two, get the same sentence, the field named.
    for query in ("paper=a4&paper=letter", "paper=letter&paper=letter", "paper=b5", "paper="):
        answer = await client.get(f"{api}.pdf?{query}", headers=bearer(token))
        assert answer.status_code == 422, (query, answer.text)
        error = answer.json()["error"]
        assert error["message"] == certificate_api.UNKNOWN_PAPER, (query, error)
        assert error["fields"] == [{"field": "paper", "message": certificate_api.UNKNOWN_PAPER}], query
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as browser:
        assert (await log_in(browser, "alice@example.org", ORGANIZER_PASSWORD)).status_code == 303
        page = f"/organize/petitions/{pid}/certificate"
        for query in ("x=1", "paper=a4"):
            answer = await browser.get(f"{page}.note?{query}")
            assert answer.status_code == 422 and certificate_api.NO_PARAMETERS in answer.text, query
        for query in ("paper=a4&paper=letter", "paper=b5", "paper=a4&x=1"):
            answer = await browser.get(f"{page}.pdf?{query}")
            assert answer.status_code == 422 and "Choose one paper, a4 or letter" in answer.text, query
            assert "Traceback" not in answer.text
        assert (await browser.get(f"{page}.note")).status_code == 200
    assert await app.state.db.fetch_all("SELECT * FROM petitions ORDER BY id") == before

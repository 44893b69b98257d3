"""Signers' reasons: moderated by organizers (API and page), then public by opaque id, in no order of time."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Sequence
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from petition import flagger, reasons
from petition.batcher import close_batch
from petition.csrf import FORM_FIELD
from petition.database import Database, Transaction
from petition.migrations import migrate

from .conftest import ORGANIZER_PASSWORD, make_settings, start_app
from .test_login import csrf_of, log_in
from .test_migrations import empty_db as empty_db  # the fixture: a database no migration has touched
from .test_migrations import migrate_before
from .test_petitions import bearer, create, other_organizer_token
from .test_signing import make_codes, open_petition, petition_id, sign

pytestmark = pytest.mark.usefixtures("organizer")

ISO_TIME = re.compile(rb"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
AUTHOR = "Authorname Shownsigner"


async def signed_with_reasons(
    app: Starlette,
    client: httpx.AsyncClient,
    token: str,
    texts: Sequence[str],
    *,
    per_batch: int = 10,
    **fields: object,
) -> tuple[str, list[str]]:
    """An open petition signed once per text, in that order, batches of `per_batch` closed as they
    fill; (slug, receipts in the order of writing)."""
    slug = await open_petition(client, token)
    codes = await make_codes(client, token, slug, len(texts))
    pid = await petition_id(app.state.db, slug)
    receipts = []
    for number, (code, text) in enumerate(zip(codes, texts, strict=True), start=1):
        response = await sign(client, slug, code, reason=text, **fields)
        assert response.status_code == 201, response.text
        receipts.append(response.json()["receipt"])
        if number % per_batch == 0 or number == len(texts):
            await close_batch(app.state.db, app.state.settings, pid)
    app.state.public_cache.clear()
    return slug, receipts


async def queue_of(client: httpx.AsyncClient, token: str, slug: str) -> list[dict[str, object]]:
    """Every waiting reason, following next_cursor."""
    found: list[dict[str, object]] = []
    cursor = ""
    while True:
        query = f"?cursor={cursor}" if cursor else ""
        response = await client.get(f"/api/v1/petitions/{slug}/reasons/queue{query}", headers=bearer(token))
        assert response.status_code == 200, response.text
        found += response.json()["reasons"]
        cursor = response.json()["next_cursor"]
        if not cursor:
            return found


async def public_list(client: httpx.AsyncClient, slug: str) -> list[dict[str, str]]:
    """Every approved reason as the public reads them, following next_cursor."""
    found: list[dict[str, str]] = []
    cursor = ""
    while True:
        response = await client.get(f"/api/v1/petitions/{slug}/reasons" + (f"?cursor={cursor}" if cursor else ""))
        assert response.status_code == 200, response.text
        assert response.headers["access-control-allow-origin"] == "*"
        page = response.json()
        assert set(page) == {"reasons", "next_cursor"}
        assert len(page["reasons"]) <= reasons.PUBLIC_PAGE_SIZE
        found += page["reasons"]
        cursor = page["next_cursor"]
        if not cursor:
            return found


async def moderate(client: httpx.AsyncClient, token: str, slug: str, **lists: object) -> httpx.Response:
    return await client.post(f"/api/v1/petitions/{slug}/reasons/moderate", json=lists, headers=bearer(token))


async def statuses(db: Database) -> dict[str, str]:
    return {row["reason"]: row["status"] for row in await db.fetch_all("SELECT reason, status FROM signer_reasons")}


async def reason_count(client: httpx.AsyncClient, slug: str) -> int:
    return int((await client.get(f"/api/v1/petitions/{slug}")).json()["reason_count"])


async def test_an_approved_reason_is_public_by_an_opaque_id_with_no_time_author_or_storage_key(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug, receipts = await signed_with_reasons(
        app, client, token, ["First reason qz1", "Second reason qz2"], name=AUTHOR, show_name=True
    )
    waiting = await queue_of(client, token, slug)
    assert sorted(item["text"] for item in waiting) == ["First reason qz1", "Second reason qz2"]
    assert all(set(item) == {"id", "text", "flags"} for item in waiting)
    assert await public_list(client, slug) == [], "nothing is public before it is approved"
    assert await reason_count(client, slug) == 0
    first = next(item for item in waiting if item["text"] == "First reason qz1")
    approved = await client.post(f"/api/v1/petitions/{slug}/reasons/{first['id']}/approve", headers=bearer(token))
    assert approved.status_code == 200 and approved.json() == {"id": first["id"], "status": "approved"}
    assert await public_list(client, slug) == [{"id": first["id"], "text": "First reason qz1"}]
    assert await reason_count(client, slug) == 1
    assert [item["text"] for item in await queue_of(client, token, slug)] == ["Second reason qz2"]
    # The id is random: not the storage key, nor anything a receipt holder could compute.
    stored = await app.state.db.fetch_all("SELECT reason_key, public_id FROM signer_reasons")
    keys = {row["reason_key"] for row in stored}
    assert keys == {hashlib.sha256(f"reason/v1|{receipt}".encode()).hexdigest() for receipt in receipts}
    for receipt in receipts:
        for label in ("reason/v1", "sig/v1", "name/v1", "wd/v1"):
            assert first["id"] != hashlib.sha256(f"{label}|{receipt}".encode()).hexdigest()
        assert first["id"] not in receipt and receipt not in str(first["id"])
    assert len(str(first["id"])) >= 22, "128 bits or more"
    page = await client.get(f"/p/{slug}")
    assert "Why people signed" in page.text and "First reason qz1" in page.text
    assert "Second reason qz2" not in page.text, "a waiting reason is not public"
    reasons_json = await client.get(f"/api/v1/petitions/{slug}/reasons")
    assert not ISO_TIME.search(reasons_json.content), "the list holds no time"
    section = page.text.split('id="reasons"', 1)[1].split("</section>", 1)[0]
    assert not ISO_TIME.search(section.encode()) and "<time" not in section, "nor does the page's section"
    assert AUTHOR in page.text, "the author chose to show their name, in its own list"
    assert AUTHOR not in section and AUTHOR not in reasons_json.text, "but nothing pairs it with a reason"
    for answer in (reasons_json.content, page.content):
        for key in keys:
            assert key.encode() not in answer
        for receipt in receipts:
            assert receipt.encode() not in answer


async def test_the_public_order_is_unrelated_to_the_order_of_writing_and_stable_across_requests_and_restarts(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    written = [f"r{number:02d}" for number in range(40)]
    slug, _ = await signed_with_reasons(app, client, token, written, per_batch=10)
    ids = [str(item["id"]) for item in await queue_of(client, token, slug)]
    assert len(ids) == 40
    assert (await moderate(client, token, slug, approve=ids)).status_code == 200
    shown = await public_list(client, slug)
    order = [item["text"] for item in shown]
    assert sorted(order) == written
    assert order != written and order != written[::-1], "not the order of writing"
    # Spearman's rank correlation with the order of writing: a random order is near 0 (sd 0.16).
    n = len(order)
    rho = 1 - 6 * sum((position - written.index(text)) ** 2 for position, text in enumerate(order)) / (n * (n * n - 1))
    assert abs(rho) < 0.7, f"the public order follows the order of writing (rho {rho:.2f})"
    # The order is the keyed hash of each id, nothing else.
    settings = app.state.settings
    assert [item["id"] for item in shown] == sorted(
        (item["id"] for item in shown), key=lambda public_id: reasons.order_key(settings, public_id)
    )
    app.state.public_cache.clear()
    assert await public_list(client, slug) == shown, "stable across requests"
    other, lifespan = await start_app(settings)  # another process, or the same service restarted
    try:
        transport = httpx.ASGITransport(app=other)
        async with httpx.AsyncClient(transport=transport, base_url=str(client.base_url)) as again:
            assert await public_list(again, slug) == shown, "stable across processes and restarts"
    finally:
        await lifespan.__aexit__(None, None, None)  # type: ignore[attr-defined]
    assert await reason_count(client, slug) == 40


async def test_the_petition_page_shows_twenty_reasons_a_page_with_a_link_to_more(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    written = [f"page reason {number:02d}" for number in range(25)]
    slug, _ = await signed_with_reasons(app, client, token, written)
    ids = [str(item["id"]) for item in await queue_of(client, token, slug)]
    assert (await moderate(client, token, slug, approve=ids)).status_code == 200
    shown = [item["text"] for item in await public_list(client, slug)]
    first = await client.get(f"/p/{slug}")
    assert [text for text in shown if text in first.text] == shown[:20]
    more = re.search(r'href="\?reasons=([^"#]+)#reasons">More reasons<', first.text)
    assert more, "a link to the next page of reasons"
    second = await client.get(f"/p/{slug}?reasons={more.group(1)}")
    assert [text for text in shown if text in second.text] == shown[20:]
    assert "More reasons" not in second.text
    # A cursor no page gave shows the first page, as the address without it does.
    assert [text for text in shown if text in (await client.get(f"/p/{slug}?reasons=nonsense")).text] == shown[:20]


async def test_an_approved_reason_can_be_hidden_later_and_a_hidden_one_approved(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug, _ = await signed_with_reasons(app, client, token, ["toggled reason"])
    [item] = await queue_of(client, token, slug)
    base = f"/api/v1/petitions/{slug}/reasons/{item['id']}"
    for action, status, public in (("approve", "approved", 1), ("hide", "hidden", 0), ("approve", "approved", 1)):
        answer = await client.post(f"{base}/{action}", headers=bearer(token))
        assert answer.status_code == 200 and answer.json() == {"id": item["id"], "status": status}
        assert len(await public_list(client, slug)) == public
        assert await reason_count(client, slug) == public
    again = await client.post(f"{base}/approve", headers=bearer(token))
    assert again.status_code == 200 and await reason_count(client, slug) == 1, "approving twice counts once"
    assert (await client.post(f"/api/v1/petitions/{slug}/close", headers=bearer(token))).status_code == 200
    hidden = await client.post(f"{base}/hide", headers=bearer(token))
    assert hidden.json()["status"] == "hidden", "moderation goes on after the petition closes"
    assert await reason_count(client, slug) == 0 and await public_list(client, slug) == []


async def test_the_moderate_request_approves_and_hides_at_once_and_records_counts_only_in_the_audit_trail(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug, _ = await signed_with_reasons(app, client, token, ["keep me qz", "hide me qz", "later qz"])
    ids = {str(item["text"]): str(item["id"]) for item in await queue_of(client, token, slug)}
    answer = await moderate(client, token, slug, approve=[ids["keep me qz"]], hide=[ids["hide me qz"]])
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "reasons": [{"id": ids["keep me qz"], "status": "approved"}, {"id": ids["hide me qz"], "status": "hidden"}]
    }
    assert await statuses(app.state.db) == {"keep me qz": "approved", "hide me qz": "hidden", "later qz": "waiting"}
    trail = await app.state.db.fetch_all("SELECT action, detail FROM audit_log WHERE action = 'reasons moderated'")
    assert [row["detail"] for row in trail] == [f"1 approved, 1 hidden on {slug}"]
    assert "qz" not in str(trail)


async def test_bad_moderation_requests_are_refused_with_a_clear_message_and_change_nothing(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug, _ = await signed_with_reasons(app, client, token, ["one qz", "two qz"])
    other_slug, _ = await signed_with_reasons(app, client, token, ["elsewhere qz"])
    ids = [str(item["id"]) for item in await queue_of(client, token, slug)]
    [foreign] = [str(item["id"]) for item in await queue_of(client, token, other_slug)]
    db: Database = app.state.db
    before = await statuses(db)
    refused = {
        "empty": (await moderate(client, token, slug, approve=[], hide=[]), 422),
        "nothing": (await moderate(client, token, slug), 422),
        "too many": (await moderate(client, token, slug, approve=ids + [f"x{n}" for n in range(100)]), 422),
        "in both": (await moderate(client, token, slug, approve=ids, hide=ids[:1]), 422),
        "unknown field": (await moderate(client, token, slug, approve=ids, delete=ids), 422),
        "not a list": (await moderate(client, token, slug, approve="all"), 422),
        "one unknown": (await moderate(client, token, slug, approve=[*ids, "no-such-reason-id"]), 404),
        "foreign": (await moderate(client, token, slug, hide=[ids[0], foreign]), 404),
        "foreign one": (
            await client.post(f"/api/v1/petitions/{slug}/reasons/{foreign}/approve", headers=bearer(token)),
            404,
        ),
        "unknown one": (await client.post(f"/api/v1/petitions/{slug}/reasons/nope/hide", headers=bearer(token)), 404),
        "no token": (await client.post(f"/api/v1/petitions/{slug}/reasons/moderate", json={"approve": ids}), 401),
    }
    bob = await other_organizer_token(app)
    refused["not their petition"] = (await moderate(client, bob, slug, approve=ids), 404)
    refused["not their queue"] = (await client.get(f"/api/v1/petitions/{slug}/reasons/queue", headers=bearer(bob)), 404)
    refused["not their approval"] = (
        await client.post(f"/api/v1/petitions/{slug}/reasons/{ids[0]}/approve", headers=bearer(bob)),
        404,
    )
    for what, (response, status) in refused.items():
        assert response.status_code == status, (what, response.text)
        error = response.json()["error"]
        assert error["message"] and error["code"], what
        for reason_id in [*ids, foreign]:
            assert reason_id not in error["message"], f"{what}: the message names an id"
    assert "100" in refused["too many"][0].json()["error"]["message"]
    assert await statuses(db) == before, "nothing changed"
    assert await db.fetch_val("SELECT COUNT(*) FROM audit_log WHERE action = 'reasons moderated'") == 0
    assert await reason_count(client, slug) == 0


async def test_bad_cursors_drafts_and_unknown_petitions_are_refused_on_the_lists(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug, _ = await signed_with_reasons(app, client, token, ["cursor qz"])
    for cursor in ("nonsense!", "AAAA", "a" * 300, "%00"):
        response = await client.get(f"/api/v1/petitions/{slug}/reasons?cursor={cursor}")
        assert response.status_code == 422, cursor
        assert "cursor" in response.json()["error"]["message"]
        queued = await client.get(f"/api/v1/petitions/{slug}/reasons/queue?cursor={cursor}", headers=bearer(token))
        assert queued.status_code == 422, cursor
    draft = (await create(client, token)).json()
    for key in (draft["id"], draft["slug"], "no-such-petition"):
        assert (await client.get(f"/api/v1/petitions/{key}/reasons")).status_code == 404


async def test_the_queue_pages_fifty_at_a_time_in_order_key_order_with_flags(
    app: Starlette, client: httpx.AsyncClient, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def flags(text: str, sensitive_words: Sequence[str] = ()) -> list[flagger.Flag]:
        return [flagger.Flag("email", "a@b.c")] if text == "q07" else []

    monkeypatch.setattr(flagger, "flags", flags)
    written = [f"q{number:02d}" for number in range(55)]
    slug, _ = await signed_with_reasons(app, client, token, written, per_batch=20)
    first = (await client.get(f"/api/v1/petitions/{slug}/reasons/queue", headers=bearer(token))).json()
    assert len(first["reasons"]) == reasons.QUEUE_PAGE_SIZE and first["next_cursor"]
    every = await queue_of(client, token, slug)
    assert sorted(item["text"] for item in every) == written
    settings = app.state.settings
    assert [item["id"] for item in every] == sorted(
        (item["id"] for item in every), key=lambda public_id: reasons.order_key(settings, public_id)
    )
    assert [item["flags"] for item in every if item["text"] == "q07"] == [[{"kind": "email", "match": "a@b.c"}]]
    assert all(item["flags"] == [] for item in every if item["text"] != "q07")


async def test_a_withdrawn_signer_loses_an_approved_reason_at_once(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug, receipts = await signed_with_reasons(app, client, token, ["withdrawn qz", "stays qz"])
    ids = [str(item["id"]) for item in await queue_of(client, token, slug)]
    assert (await moderate(client, token, slug, approve=ids)).status_code == 200
    assert await reason_count(client, slug) == 2
    assert "withdrawn qz" in (await client.get(f"/p/{slug}")).text
    withdrawn = await client.post(f"/api/v1/petitions/{slug}/signatures/withdraw", json={"receipt": receipts[0]})
    assert withdrawn.status_code == 200
    assert [item["text"] for item in await public_list(client, slug)] == ["stays qz"]
    assert await reason_count(client, slug) == 1
    assert "withdrawn qz" not in (await client.get(f"/p/{slug}")).text
    assert await statuses(app.state.db) == {"stays qz": "approved"}


async def test_the_purge_keeps_approved_reasons_deletes_the_rest_and_hiding_one_then_deletes_it(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug, _ = await signed_with_reasons(app, client, token, ["approved qz", "hidden qz", "waiting qz"])
    ids = {str(item["text"]): str(item["id"]) for item in await queue_of(client, token, slug)}
    assert (
        await moderate(client, token, slug, approve=[ids["approved qz"]], hide=[ids["hidden qz"]])
    ).status_code == 200
    assert (await client.post(f"/api/v1/petitions/{slug}/close", headers=bearer(token))).status_code == 200
    assert (await client.post(f"/api/v1/petitions/{slug}/purge", headers=bearer(token))).status_code == 200
    assert await statuses(app.state.db) == {"approved qz": "approved"}
    assert [item["text"] for item in await public_list(client, slug)] == ["approved qz"]
    assert await reason_count(client, slug) == 1
    gone = await client.post(f"/api/v1/petitions/{slug}/reasons/{ids['approved qz']}/hide", headers=bearer(token))
    assert gone.status_code == 200 and gone.json() == {"id": ids["approved qz"], "status": "deleted"}
    assert await statuses(app.state.db) == {}
    assert await reason_count(client, slug) == 0 and await public_list(client, slug) == []


async def test_reasons_written_before_public_ids_get_them_once_at_start_whoever_starts_first(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug, _ = await signed_with_reasons(app, client, token, ["old one qz", "old two qz"])
    db: Database = app.state.db

    async def forget_ids(tx: Transaction) -> None:
        await tx.execute("UPDATE signer_reasons SET public_id = NULL, order_key = NULL")

    await db.write(forget_ids)
    settings = app.state.settings
    filled = await asyncio.gather(*(reasons.fill_missing_ids(db, settings) for _ in range(3)))
    assert sum(filled) == 2, "each row once, however many start at once"
    assert await reasons.fill_missing_ids(db, settings) == 0
    rows = await db.fetch_all("SELECT public_id, order_key FROM signer_reasons")
    assert all(row["order_key"] == reasons.order_key(settings, row["public_id"]) for row in rows)
    assert len(await queue_of(client, token, slug)) == 2


async def test_moderating_on_the_organizers_reasons_page_takes_the_csrf_token_and_selected_reasons(
    app: Starlette, client: httpx.AsyncClient, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        flagger,
        "flags",
        lambda text, words=(): [flagger.Flag("email", "a@b.c")] if "a@b.c" in text else [],
    )
    slug, _ = await signed_with_reasons(app, client, token, ["page one qz", "page two qz", "mail a@b.c qz"])
    pid = await petition_id(app.state.db, slug)
    assert (await log_in(client, "alice@example.org", ORGANIZER_PASSWORD)).status_code == 303
    overview = await client.get(f"/organize/petitions/{pid}")
    assert "Reasons waiting: 3" in overview.text
    path = f"/organize/petitions/{pid}/reasons"
    queue = await client.get(path)
    assert queue.status_code == 200 and queue.headers["cache-control"] == "no-store"
    assert "Could identify someone:" in queue.text and "a@b.c" in queue.text
    assert "Approve selected" in queue.text and "Hide selected" in queue.text
    ids = {str(item["text"]): str(item["id"]) for item in await queue_of(client, token, slug)}
    for text, reason_id in ids.items():
        assert f'value="{reason_id}"' in queue.text, text
    csrf = await csrf_of(client, path)
    chosen = [ids["page one qz"], ids["page two qz"]]
    forged = await client.post(path, data={"action": "approve", "reason": chosen})
    assert forged.status_code == 403, "no CSRF token, no change"
    empty = await client.post(path, data={FORM_FIELD: csrf, "action": "approve"})
    assert empty.status_code == 422 and "Select at least one reason" in empty.text
    unknown = await client.post(path, data={FORM_FIELD: csrf, "action": "hide", "reason": [chosen[0], "nope"]})
    assert unknown.status_code == 404 and "nothing was changed" in unknown.text
    assert set((await statuses(app.state.db)).values()) == {"waiting"}
    done = await client.post(path, data={FORM_FIELD: csrf, "action": "approve", "reason": chosen, "status": "waiting"})
    assert done.status_code == 303
    after = await client.get(done.headers["location"])
    assert "The selected reasons are approved" in after.text
    assert "Reasons waiting: 1" in (await client.get(f"/organize/petitions/{pid}")).text
    public = (await client.get(f"/p/{slug}")).text
    assert "page one qz" in public and "page two qz" in public and "mail a@b.c qz" not in public
    approved = await client.get(f"{path}?status=approved")
    assert 'aria-current="page">Approved (2)' in approved.text and "Approve selected" not in approved.text
    hide = {FORM_FIELD: csrf, "action": "hide", "reason": [ids["page one qz"]], "status": "approved"}
    assert (await client.post(path, data=hide)).status_code == 303
    hidden = await client.get(f"{path}?status=hidden")
    assert "page one qz" in hidden.text and "Approve selected" in hidden.text
    assert await reason_count(client, slug) == 1
    # Another organizer's petition: not found, and nothing changes.
    bob = await other_organizer_token(app)
    assert bob
    async with httpx.AsyncClient(transport=client._transport, base_url=str(client.base_url)) as other:
        assert (await log_in(other, "bob@example.org", ORGANIZER_PASSWORD)).status_code == 303
        assert (await other.get(path)).status_code == 404
        bob_csrf = await csrf_of(other, "/organize")
        refused = await other.post(
            path, data={FORM_FIELD: bob_csrf, "action": "approve", "reason": [ids["page one qz"]]}
        )
        assert refused.status_code == 404
    assert (await statuses(app.state.db))["page one qz"] == "hidden"


async def test_reasons_written_before_moderation_existed_wait_and_approved_ones_are_counted(
    empty_db: Database, tmp_path: Path
) -> None:
    # A database as 0016 left it: 'hidden' meant "not moderated yet", and no public id or count.
    await migrate_before(empty_db, 18, tmp_path / "older")
    async with empty_db.exclusive() as tx:
        await tx.execute(
            "INSERT INTO organizers (id, email, password_hash, created_at) VALUES ('o', 'o@example.org', 'x', 0)"
        )
        await tx.execute(
            "INSERT INTO petitions (id, slug, state, title, summary, body, target, goal, allowed_domains,"
            " verification, show_names, reasons_enabled, timeline_floor, retention_days, created_by, created_at)"
            " VALUES ('p', 'p', 'open', 'T', 'S', '', 'Board', 10, '[]', '[\"code\"]', 0, 1, 'day', 30, 'o', 0)"
        )
        for key, status in (("k1", "hidden"), ("k2", "approved"), ("k3", "approved")):
            await tx.execute(
                "INSERT INTO signer_reasons (reason_key, petition_id, reason, status) VALUES (:k, 'p', :k, :s)",
                {"k": key, "s": status},
            )
    await migrate(empty_db)
    assert await statuses(empty_db) == {"k1": "waiting", "k2": "approved", "k3": "approved"}
    assert await empty_db.fetch_val("SELECT reason_count FROM petitions WHERE id = 'p'") == 2
    settings = make_settings(tmp_path)
    assert await reasons.fill_missing_ids(empty_db, settings) == 3
    rows = await empty_db.fetch_all("SELECT reason_key, public_id, order_key FROM signer_reasons")
    assert len({row["public_id"] for row in rows}) == 3
    assert all(row["order_key"] == reasons.order_key(settings, row["public_id"]) for row in rows)


async def test_the_queue_flags_what_could_identify_someone_with_the_petitions_own_sensitive_words(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    texts = ["Mail me at night.worker@example.com", "Project Éclair ruined the rota", "Fair rotas for all"]
    slug, _ = await signed_with_reasons(app, client, token, texts)
    words = {"sensitive_words": ["project eclair", "Night Shift Team"]}
    changed = await client.patch(f"/api/v1/petitions/{slug}", json=words, headers=bearer(token))
    assert changed.status_code == 200, changed.text
    flags = {str(item["text"]): item["flags"] for item in await queue_of(client, token, slug)}
    assert flags == {
        texts[0]: [{"kind": "email", "match": "night.worker@example.com"}],
        texts[1]: [{"kind": "sensitive", "match": "Project Éclair"}],
        texts[2]: [],
    }
    pid = await petition_id(app.state.db, slug)
    assert (await log_in(client, "alice@example.org", ORGANIZER_PASSWORD)).status_code == 303
    page = (await client.get(f"/organize/petitions/{pid}/reasons")).text
    assert "Could identify someone:" in page and "night.worker@example.com" in page and "Project Éclair" in page
    # The flags warn; they never stop an approval.
    ids = [str(item["id"]) for item in await queue_of(client, token, slug)]
    assert (await moderate(client, token, slug, approve=ids)).status_code == 200
    public = await client.get(f"/api/v1/petitions/{slug}/reasons")
    assert "project eclair" not in public.text and "Night Shift Team" not in public.text, "the words are never public"


async def list_of(client: httpx.AsyncClient, token: str, slug: str, status: str) -> list[dict[str, object]]:
    """Every reason of `status` from the organizers' list, following next_cursor with that status."""
    found: list[dict[str, object]] = []
    cursor = ""
    while True:
        query = f"?status={status}" + (f"&cursor={cursor}" if cursor else "")
        response = await client.get(f"/api/v1/petitions/{slug}/reasons/queue{query}", headers=bearer(token))
        assert response.status_code == 200, response.text
        assert len(response.json()["reasons"]) <= reasons.QUEUE_PAGE_SIZE
        found += response.json()["reasons"]
        cursor = response.json()["next_cursor"]
        if not cursor:
            return found


async def test_the_api_lists_approved_and_hidden_reasons_by_status_a_page_at_a_time(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    written = [f"r{number:03d}" for number in range(120)]
    slug, _ = await signed_with_reasons(app, client, token, written, per_batch=60)
    ids = {str(item["text"]): str(item["id"]) for item in await queue_of(client, token, slug)}
    approved, hidden = written[:55], written[55:110]
    for chosen, action in ((approved, "approve"), (hidden, "hide")):
        assert (await moderate(client, token, slug, **{action: [ids[text] for text in chosen]})).status_code == 200
    waiting = written[110:]
    settings = app.state.settings
    for status, expected in (("approved", approved), ("hidden", hidden), ("waiting", waiting)):
        listed = await list_of(client, token, slug, status)
        assert sorted(str(item["text"]) for item in listed) == expected, status
        assert [item["id"] for item in listed] == sorted(
            (item["id"] for item in listed), key=lambda public_id: reasons.order_key(settings, public_id)
        ), "in order-key order, as every list"
    first = (await client.get(f"/api/v1/petitions/{slug}/reasons/queue?status=hidden", headers=bearer(token))).json()
    assert len(first["reasons"]) == reasons.QUEUE_PAGE_SIZE and first["next_cursor"], "55 hidden: two pages"
    assert sorted(item["text"] for item in await queue_of(client, token, slug)) == waiting, "waiting by default"


async def test_a_reason_list_status_other_than_waiting_approved_or_hidden_is_refused_with_a_clear_message(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug, _ = await signed_with_reasons(app, client, token, ["status qz"])
    for status in ("deleted", "Approved", "", "waiting,approved"):
        answer = await client.get(
            f"/api/v1/petitions/{slug}/reasons/queue", params={"status": status}, headers=bearer(token)
        )
        assert answer.status_code == 422, status
        error = answer.json()["error"]
        assert [item["field"] for item in error["fields"]] == ["status"], status
        assert "status" in error["message"] and "'approved'" in error["message"], error["message"]
    assert (await client.get(f"/api/v1/petitions/{slug}/reasons/queue?status=approved")).status_code == 401
    bob = await other_organizer_token(app)
    assert (
        await client.get(f"/api/v1/petitions/{slug}/reasons/queue?status=approved", headers=bearer(bob))
    ).status_code == 404
    document = (await client.get("/api/openapi.json")).json()
    parameters = document["paths"]["/api/v1/petitions/{slug}/reasons/queue"]["get"]["parameters"]
    [status] = [item for item in parameters if item["name"] == "status"]
    assert status["in"] == "query" and not status["required"]
    assert status["schema"]["enum"] == ["waiting", "approved", "hidden"] and status["schema"]["default"] == "waiting"


async def test_selecting_no_reason_links_the_error_summary_to_the_first_checkbox(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug, _ = await signed_with_reasons(app, client, token, ["link one qz", "link two qz"])
    pid = await petition_id(app.state.db, slug)
    assert (await log_in(client, "alice@example.org", ORGANIZER_PASSWORD)).status_code == 303
    path = f"/organize/petitions/{pid}/reasons"
    csrf = await csrf_of(client, path)
    empty = await client.post(path, data={FORM_FIELD: csrf, "action": "approve", "status": "waiting"})
    assert empty.status_code == 422
    summary = re.search(r'<div class="error-summary".*?</div>', empty.text, re.S)
    assert summary and '<a href="#reason-1">Select at least one reason' in summary.group(0)
    assert 'id="reason-1" name="reason" type="checkbox"' in empty.text, "the link leads to the first box"
    assert '<fieldset aria-describedby="reason-error">' in empty.text and 'id="reason-error"' in empty.text
    assert set((await statuses(app.state.db)).values()) == {"waiting"}
    # A list with no box left (all moved on meanwhile): the message stands alone, linking nowhere.
    nothing = await client.post(path, data={FORM_FIELD: csrf, "action": "hide", "status": "approved"})
    assert nothing.status_code == 422 and "Select at least one reason" in nothing.text
    assert 'href="#reason-1"' not in nothing.text and "No approved reasons." in nothing.text


async def test_a_refused_moderation_answers_on_the_page_it_came_from_and_an_empty_id_selects_nothing(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug, _ = await signed_with_reasons(app, client, token, ["page one qz", "page two qz"])
    pid = await petition_id(app.state.db, slug)
    assert (await log_in(client, "alice@example.org", ORGANIZER_PASSWORD)).status_code == 303
    path = f"/organize/petitions/{pid}/reasons"
    csrf = await csrf_of(client, path)
    cursor = reasons.encode_cursor("00" * reasons.ORDER_KEY_BYTES)  # a second page's place
    fields = {FORM_FIELD: csrf, "action": "approve", "status": "waiting", "cursor": cursor, "reason": ""}
    answer = await client.post(path, data=fields)
    assert answer.status_code == 422 and "Select at least one reason" in answer.text, "an empty id is no reason"
    assert f'<input type="hidden" name="cursor" value="{cursor}">' in answer.text, "still on the page it came from"
    assert set((await statuses(app.state.db)).values()) == {"waiting"}

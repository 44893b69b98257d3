"""An organizer in a real browser, on a desktop and on the narrowest phone: finds each task of a
petition from its overview, publishes, copies the share links, makes codes and reloads (one
batch), revokes them after the question, and deletes a draft after its question; moderates
signers' reasons (approves one, which then shows on the petition page, and hides it again); posts an
update (refused empty first), emails it, follows its progress, and finds it on the petition page.
Every page passes axe-core and fits 320 px (tests/test_browser.py's Watch)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from .test_browser import DESKTOP, LONG_WORD, NARROWEST, Watch, browser, dialect, new_page, server  # noqa: F401
from .test_crash import Server

pytestmark = pytest.mark.slow  # a server process and a browser

PASSWORD = "a passphrase for the organizing test"
TASKS = ("Signing codes", "Flyers", "Organizers", "Settings", "Dashboard")


@pytest.mark.parametrize("viewport", [DESKTOP, NARROWEST], ids=["desktop", "320px"])
async def test_an_organizer_finds_each_task_makes_codes_once_revokes_them_and_deletes_a_draft(
    browser: object,  # noqa: F811
    server: Server,  # noqa: F811
    viewport: dict[str, int],
) -> None:
    server.run("create-organizer", "organizer@example.org", stdin=f"{PASSWORD}\n")
    token = server.run("create-token", "organizer@example.org").strip().splitlines()[-1]
    petition = {
        "title": f"Fair rotas for the night shift {LONG_WORD}",
        "summary": "Rotas published four weeks ahead.",
        "target": "The operations director",
        "goal": 500,
        "verification": ["email", "code"],
        "allowed_domains": ["example.com"],
    }
    async with httpx.AsyncClient(base_url=server.url, headers={"authorization": f"Bearer {token}"}) as api:
        draft = (await api.post("/api/v1/petitions", json=petition)).json()
        doomed = (await api.post("/api/v1/petitions", json={**petition, "title": "A draft to throw away"})).json()
        made = await api.post(f"/api/v1/petitions/{draft['id']}/flyers", json={"layout": "poster", "paper_size": "a4"})
        assert made.status_code == 201

        watch = Watch(f"organizing-{viewport['width']}")
        page = await new_page(browser, viewport, watch)
        await page.goto(f"{server.url}/login")  # type: ignore[attr-defined]
        await page.fill("#email", "organizer@example.org")  # type: ignore[attr-defined]
        await page.fill("#password", PASSWORD)  # type: ignore[attr-defined]
        await page.click("button:has-text('Log in')")  # type: ignore[attr-defined]
        await page.wait_for_selector("h1:has-text('Your petitions')")  # type: ignore[attr-defined]
        await watch.check(page, "petitions")
        await page.click(f"a[href='/organize/petitions/{draft['id']}']")  # type: ignore[attr-defined]
        await page.wait_for_selector("nav.tasks")  # type: ignore[attr-defined]
        await watch.check(page, "overview-draft")

        # Each task from the sub-navigation, its own link marked as the current page.
        for task in TASKS:
            await page.click(f"nav.tasks >> text={task}")  # type: ignore[attr-defined]
            await page.wait_for_selector(f"nav.tasks a[aria-current=page]:has-text('{task}')")  # type: ignore[attr-defined]
            await watch.check(page, f"task-{task.lower().replace(' ', '-')}")

        await page.click("text=Publish…")  # type: ignore[attr-defined]
        await watch.check(page, "confirm-publish")
        await page.click("button:has-text('Yes, publish it')")  # type: ignore[attr-defined]
        await page.wait_for_selector("text=it is open for signatures")  # type: ignore[attr-defined]
        assert "?done=published" in page.url  # type: ignore[attr-defined]
        # The share box: the addresses in selectable fields, and a copy button the script adds.
        shared = await page.input_value("#share-page")  # type: ignore[attr-defined]
        assert shared == f"{server.url}/p/{draft['slug']}"
        assert await page.input_value(f"#share-{made.json()['id']}") == made.json()["url"]  # type: ignore[attr-defined]
        await page.click("button[aria-label^='Copy'] >> nth=0")  # type: ignore[attr-defined]
        await page.wait_for_selector(".copy [role=status]:not(:empty)")  # type: ignore[attr-defined]
        await watch.check(page, "overview-open")

        # Make codes, then reload: still one batch, and its one download is offered.
        await page.click("nav.tasks >> text=Signing codes")  # type: ignore[attr-defined]
        await page.fill("#count", "3")  # type: ignore[attr-defined]
        await page.fill("#label", "Canteen")  # type: ignore[attr-defined]
        await page.click("button:has-text('Make codes')")  # type: ignore[attr-defined]
        await page.wait_for_selector("text=Codes made")  # type: ignore[attr-defined]
        await watch.check(page, "codes-made")
        await page.reload()  # type: ignore[attr-defined]
        await page.wait_for_selector("text=Download CSV")  # type: ignore[attr-defined]
        batches = (await api.get(f"/api/v1/petitions/{draft['slug']}/codes")).json()["batches"]
        assert len(batches) == 1, "a reload makes no second batch"

        await page.click("text=Revoke unused…")  # type: ignore[attr-defined]
        await page.wait_for_selector("h1:has-text('Are you sure you want to revoke the unused codes of')")  # type: ignore[attr-defined]
        await watch.check(page, "confirm-revoke")
        await page.click("button:has-text('Yes, revoke the unused codes')")  # type: ignore[attr-defined]
        await page.wait_for_selector("text=no longer work")  # type: ignore[attr-defined]
        await watch.check(page, "codes-revoked")
        assert (await api.get(f"/api/v1/petitions/{draft['slug']}/codes")).json()["batches"][0]["revoked"]

        await page.goto(f"{server.url}/organize/petitions/{doomed['id']}")  # type: ignore[attr-defined]
        await page.click("text=Delete this draft…")  # type: ignore[attr-defined]
        await page.wait_for_selector("button:has-text('Yes, delete this draft')")  # type: ignore[attr-defined]
        await watch.check(page, "confirm-delete")
        await page.click("button:has-text('Yes, delete this draft')")  # type: ignore[attr-defined]
        await page.wait_for_selector("text=The draft is deleted")  # type: ignore[attr-defined]
        await watch.check(page, "draft-deleted")
        assert "A draft to throw away" not in await page.inner_text("main")  # type: ignore[attr-defined]
        assert (await api.get(f"/api/v1/petitions/{doomed['id']}")).status_code == 404
    watch.assert_clean()


@pytest.mark.parametrize("viewport", [DESKTOP, NARROWEST], ids=["desktop", "320px"])
async def test_an_organizer_approves_a_reason_which_shows_on_the_petition_page_then_hides_it(
    browser: object,  # noqa: F811
    server: Server,  # noqa: F811
    viewport: dict[str, int],
) -> None:
    server.run("create-organizer", "organizer@example.org", stdin=f"{PASSWORD}\n")
    token = server.run("create-token", "organizer@example.org").strip().splitlines()[-1]
    petition = {
        "title": f"Fair rotas for the night shift {LONG_WORD}",
        "summary": "Rotas published four weeks ahead.",
        "target": "The operations director",
        "goal": 500,
        "verification": ["code"],
        "reasons_enabled": True,
    }
    shown, waiting = f"Rotas decide our lives {LONG_WORD}", "Write to me at night.worker@example.com"
    async with httpx.AsyncClient(base_url=server.url, headers={"authorization": f"Bearer {token}"}) as api:
        draft = (await api.post("/api/v1/petitions", json=petition)).json()
        assert (await api.post(f"/api/v1/petitions/{draft['id']}/publish")).status_code == 200
        codes = (await api.post(f"/api/v1/petitions/{draft['slug']}/codes", json={"count": 2})).json()["codes"]
        for code, reason in zip(codes, (shown, waiting), strict=True):
            signed = await api.post(
                f"/api/v1/petitions/{draft['slug']}/signatures", json={"code": code, "reason": reason}
            )
            assert signed.status_code == 201
        queue: list[dict[str, object]] = []
        for _ in range(40):  # the batch closes after LOG_BATCH_SECONDS (1 s here)
            queue = (await api.get(f"/api/v1/petitions/{draft['slug']}/reasons/queue")).json()["reasons"]
            if len(queue) == 2:
                break
            await asyncio.sleep(0.25)
        ids = {str(item["text"]): str(item["id"]) for item in queue}
        assert set(ids) == {shown, waiting}

        watch = Watch(f"reasons-{viewport['width']}")
        page = await new_page(browser, viewport, watch)
        await page.goto(f"{server.url}/login")  # type: ignore[attr-defined]
        await page.fill("#email", "organizer@example.org")  # type: ignore[attr-defined]
        await page.fill("#password", PASSWORD)  # type: ignore[attr-defined]
        await page.click("button:has-text('Log in')")  # type: ignore[attr-defined]
        await page.wait_for_selector("h1:has-text('Your petitions')")  # type: ignore[attr-defined]
        await page.goto(f"{server.url}/organize/petitions/{draft['id']}")  # type: ignore[attr-defined]
        assert "Reasons waiting: 2" in await page.inner_text("main")  # type: ignore[attr-defined]
        await page.click("nav.tasks >> text=Reasons")  # type: ignore[attr-defined]
        await page.wait_for_selector("button:has-text('Approve selected')")  # type: ignore[attr-defined]
        await watch.check(page, "queue")
        await page.check(f"input[value='{ids[shown]}']")  # type: ignore[attr-defined]
        await page.click("button:has-text('Approve selected')")  # type: ignore[attr-defined]
        await page.wait_for_selector("text=The selected reasons are approved")  # type: ignore[attr-defined]
        await watch.check(page, "approved")
        assert shown not in await page.inner_text("main")  # type: ignore[attr-defined]

        await page.goto(f"{server.url}/p/{draft['slug']}")  # type: ignore[attr-defined]
        await page.wait_for_selector("h2:has-text('Why people signed')")  # type: ignore[attr-defined]
        text = await page.inner_text("main")  # type: ignore[attr-defined]
        assert shown in text and waiting not in text
        await watch.check(page, "petition-with-reasons")

        await page.goto(f"{server.url}/organize/petitions/{draft['id']}/reasons?status=approved")  # type: ignore[attr-defined]
        await page.check(f"input[value='{ids[shown]}']")  # type: ignore[attr-defined]
        await page.click("button:has-text('Hide selected')")  # type: ignore[attr-defined]
        await page.wait_for_selector("text=The selected reasons are hidden")  # type: ignore[attr-defined]
        await watch.check(page, "hidden")
        assert (await api.get(f"/api/v1/petitions/{draft['slug']}/reasons")).json()["reasons"] == []
    watch.assert_clean()


@pytest.mark.parametrize("viewport", [DESKTOP, NARROWEST], ids=["desktop", "320px"])
async def test_an_organizer_posts_an_update_emails_it_and_sees_it_on_the_petition_page(
    browser: object,  # noqa: F811
    server: Server,  # noqa: F811
    viewport: dict[str, int],
) -> None:
    from petition.database import Database
    from petition.settings import load_settings

    from .test_petition_updates import add_contacts

    server.run("create-organizer", "organizer@example.org", stdin=f"{PASSWORD}\n")
    token = server.run("create-token", "organizer@example.org").strip().splitlines()[-1]
    petition = {
        "title": f"Fair rotas for the night shift {LONG_WORD}",
        "summary": "Rotas published four weeks ahead.",
        "target": "The operations director",
        "goal": 500,
        "verification": ["code"],
    }
    async with httpx.AsyncClient(base_url=server.url, headers={"authorization": f"Bearer {token}"}) as api:
        draft = (await api.post("/api/v1/petitions", json=petition)).json()
        assert (await api.post(f"/api/v1/petitions/{draft['id']}/publish")).status_code == 200
    # Two signers who asked for updates (written as the batcher writes confirmed addresses).
    settings = load_settings(server.environ, env_file=server.log.parent / "no.env")
    db = Database(server.environ["DATABASE_URL"])
    await db.connect()
    try:
        await add_contacts(db, settings, draft["id"], ["one.update@elsewhere.org", "two.update@elsewhere.org"])
    finally:
        await db.disconnect()

    watch = Watch(f"updates-{viewport['width']}")
    page = await new_page(browser, viewport, watch)
    await page.goto(f"{server.url}/login")  # type: ignore[attr-defined]
    await page.fill("#email", "organizer@example.org")  # type: ignore[attr-defined]
    await page.fill("#password", PASSWORD)  # type: ignore[attr-defined]
    await page.click("button:has-text('Log in')")  # type: ignore[attr-defined]
    await page.wait_for_selector("h1:has-text('Your petitions')")  # type: ignore[attr-defined]
    await page.goto(f"{server.url}/organize/petitions/{draft['id']}")  # type: ignore[attr-defined]
    await page.click("nav.tasks >> text=Updates")  # type: ignore[attr-defined]
    await page.wait_for_selector("button:has-text('Post the update')")  # type: ignore[attr-defined]
    await watch.check(page, "form")
    await page.click("button:has-text('Post the update')")  # type: ignore[attr-defined]
    await page.wait_for_selector("text=There is a problem")  # type: ignore[attr-defined]
    watch.expect_status(422)
    await watch.check(page, "refused")
    await page.fill("#title", f"We met the director {LONG_WORD}")  # type: ignore[attr-defined]
    await page.fill("#body", "They listened.\n\nThe next meeting is on Friday.")  # type: ignore[attr-defined]
    await page.check("#email_subscribers")  # type: ignore[attr-defined]
    await page.click("button:has-text('Post the update')")  # type: ignore[attr-defined]
    await page.wait_for_selector("text=its email is on its way")  # type: ignore[attr-defined]
    for _ in range(40):  # queued in the background, then sent (to the test SMTP server)
        if "all 2 sent" in await page.inner_text("main"):  # type: ignore[attr-defined]
            break
        await asyncio.sleep(0.25)
        await page.reload()  # type: ignore[attr-defined]
    assert "all 2 sent" in await page.inner_text("main")  # type: ignore[attr-defined]
    assert "elsewhere.org" not in await page.content()  # type: ignore[attr-defined]
    await watch.check(page, "posted")

    await page.goto(f"{server.url}/p/{draft['slug']}")  # type: ignore[attr-defined]
    await page.wait_for_selector("h2:has-text('Updates')")  # type: ignore[attr-defined]
    assert "The next meeting is on Friday." in await page.inner_text("main")  # type: ignore[attr-defined]
    await watch.check(page, "petition-with-update")
    watch.assert_clean()

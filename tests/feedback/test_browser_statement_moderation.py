"""An organizer moderates a round's statements in a real browser, on a desktop and on the narrowest
phone: finds the page from the round's page, is refused an empty selection, approves a participant's
statement (flagged), which then is listed publicly. Every page passes axe-core and fits 320 px
(tests/test_browser.py's Watch)."""

from __future__ import annotations

import httpx
import pytest

from ..test_browser import DESKTOP, LONG_WORD, NARROWEST, Watch, browser, dialect, new_page, server  # noqa: F401
from ..test_crash import Server

pytestmark = pytest.mark.slow  # a server process and a browser

PASSWORD = "a passphrase for the moderation test"


@pytest.mark.parametrize("viewport", [DESKTOP, NARROWEST], ids=["desktop", "320px"])
async def test_an_organizer_approves_a_flagged_statement_which_is_then_listed_publicly(
    browser: object,  # noqa: F811
    server: Server,  # noqa: F811
    viewport: dict[str, int],
) -> None:
    server.run("create-organizer", "organizer@example.org", stdin=f"{PASSWORD}\n")
    token = server.run("create-token", "organizer@example.org").strip().splitlines()[-1]
    petition = {
        "title": "Fair rotas",
        "summary": "Rotas ahead.",
        "target": "The director",
        "goal": 100,
        "verification": ["code"],
    }
    added = f"Write to night.worker@example.com about rotas {LONG_WORD}"
    api = httpx.AsyncClient(base_url=server.url, headers={"authorization": f"Bearer {token}"})
    public = httpx.AsyncClient(base_url=server.url)
    async with api, public:
        draft = (await api.post("/api/v1/petitions", json=petition)).json()
        assert (await api.post(f"/api/v1/petitions/{draft['id']}/publish")).status_code == 200
        made = await api.post(
            f"/api/v1/petitions/{draft['slug']}/rounds",
            json={"question": f"What would fair rotas be? {LONG_WORD}", "statements": ["Rotas four weeks ahead."]},
        )
        round_id = made.json()["id"]
        assert (await api.post(f"/api/v1/rounds/{round_id}/open")).status_code == 200
        [code] = (await api.post(f"/api/v1/rounds/{round_id}/codes", json={"count": 1})).json()["codes"]
        joined = await public.post(f"/api/v1/rounds/{round_id}/participants", json={"code": code})
        as_participant = {"authorization": f"Bearer {joined.json()['participant_token']}"}
        statements_url = f"/api/v1/rounds/{round_id}/statements"
        statement = await public.post(statements_url, json={"text": added}, headers=as_participant)
        assert statement.status_code == 201 and statement.json()["status"] == "waiting"

        watch = Watch(f"statements-{viewport['width']}")
        page = await new_page(browser, viewport, watch)
        await page.goto(f"{server.url}/login")  # type: ignore[attr-defined]
        await page.fill("#email", "organizer@example.org")  # type: ignore[attr-defined]
        await page.fill("#password", PASSWORD)  # type: ignore[attr-defined]
        await page.click("button:has-text('Log in')")  # type: ignore[attr-defined]
        await page.wait_for_selector("h1:has-text('Your petitions')")  # type: ignore[attr-defined]
        await page.goto(f"{server.url}/organize/rounds/{round_id}")  # type: ignore[attr-defined]
        assert "Statements waiting: 1" in await page.inner_text("main")  # type: ignore[attr-defined]
        await page.click("text=moderate statements")  # type: ignore[attr-defined]
        await page.wait_for_selector("button:has-text('Approve selected')")  # type: ignore[attr-defined]
        assert "Could identify someone" in await page.inner_text("main")  # type: ignore[attr-defined]
        await watch.check(page, "queue")
        await page.click("button:has-text('Approve selected')")  # type: ignore[attr-defined]
        await page.wait_for_selector(".error-summary")  # type: ignore[attr-defined]
        await watch.check(page, "nothing-selected")
        watch.expect_status(422)
        await page.check(f"input[value='{statement.json()['id']}']")  # type: ignore[attr-defined]
        await page.click("button:has-text('Approve selected')")  # type: ignore[attr-defined]
        await page.wait_for_selector("text=The selected statements are approved")  # type: ignore[attr-defined]
        await watch.check(page, "approved")
        listed = (await public.get(statements_url)).json()
        assert added in [item["text"] for item in listed["statements"]]
    watch.assert_clean()

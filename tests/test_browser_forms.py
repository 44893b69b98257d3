"""Forms in a real browser, on a phone: a refused form puts focus on its error summary, whose links
lead to the inputs; withdrawing a signature asks once more. Every page passes axe-core and fits 320 px."""

from __future__ import annotations

import httpx
import pytest

from .test_browser import (  # noqa: F401
    DESKTOP,
    NARROWEST,
    PHONE,
    Watch,
    browser,
    code_for,
    dialect,
    new_page,
    server,
    summary_takes_focus,
)
from .test_crash import Server

pytestmark = pytest.mark.slow  # a server process and a browser

ORGANIZER = "forms@example.org"
PASSPHRASE = "a passphrase for the forms test"


FOCUSED_ID = "document.activeElement.id"


async def organizer_token(running: Server) -> str:
    """An organizer, made with the command line, and an API token of theirs."""
    running.run("create-organizer", ORGANIZER, stdin=PASSPHRASE + "\n")
    return running.run("create-token", ORGANIZER).strip().splitlines()[-1]


async def test_a_refused_form_focuses_its_error_summary_whose_links_lead_to_the_inputs_on_a_phone(
    browser: object,  # noqa: F811 (the fixture imported above)
    server: Server,  # noqa: F811
) -> None:
    await organizer_token(server)
    watch = Watch("forms")
    page = await new_page(browser, PHONE, watch)
    await page.goto(f"{server.url}/login")  # type: ignore[attr-defined]
    await page.fill("#email", ORGANIZER)  # type: ignore[attr-defined]
    await page.fill("#password", "not the passphrase")  # type: ignore[attr-defined]
    await page.click("button:has-text('Log in')")  # type: ignore[attr-defined]
    await page.wait_for_selector(".error-summary")  # type: ignore[attr-defined]
    assert await summary_takes_focus(page), "focus is on the summary"
    assert await page.input_value("#email") == ORGANIZER and await page.input_value("#password") == ""  # type: ignore[attr-defined]
    await watch.check(page, "login-refused")
    await page.click(".error-summary a")  # type: ignore[attr-defined]
    assert await page.evaluate(FOCUSED_ID) == "email", "the summary's link moves focus to its input"  # type: ignore[attr-defined]

    await page.fill("#password", PASSPHRASE)  # type: ignore[attr-defined]
    await page.click("button:has-text('Log in')")  # type: ignore[attr-defined]
    await page.wait_for_selector("text=Log out")  # type: ignore[attr-defined]
    await page.goto(f"{server.url}/organize/petitions/new")  # type: ignore[attr-defined]
    await page.fill("#title", "Fair rotas for the night shift")  # type: ignore[attr-defined]
    await page.fill("#slug", "Not A Web Address!")  # type: ignore[attr-defined]
    await page.fill("#summary", "Rotas published four weeks ahead.")  # type: ignore[attr-defined]
    await page.fill("#target", "The operations director")  # type: ignore[attr-defined]
    await page.fill("#goal", "500")  # type: ignore[attr-defined]
    await page.check("#v-code")  # type: ignore[attr-defined]
    await page.click("button[type=submit]:has-text('Save draft')")  # type: ignore[attr-defined]
    await page.wait_for_selector(".error-summary")  # type: ignore[attr-defined]
    assert await summary_takes_focus(page), "focus is on the summary"
    assert await page.input_value("#title") == "Fair rotas for the night shift", "what was typed survives"  # type: ignore[attr-defined]
    assert await page.is_checked("#v-code"), "a ticked box survives"  # type: ignore[attr-defined]
    await watch.check(page, "new-petition-refused")
    await page.click(".error-summary a[href='#slug']")  # type: ignore[attr-defined]
    assert await page.evaluate(FOCUSED_ID) == "slug"  # type: ignore[attr-defined]
    watch.expect_status(400, 422)
    watch.assert_clean()


async def test_withdrawing_a_signature_asks_once_more_on_a_phone(
    browser: object,  # noqa: F811 (the fixture imported above)
    server: Server,  # noqa: F811
) -> None:
    headers = {"authorization": f"Bearer {await organizer_token(server)}"}
    petition = {
        "title": "Safe staffing on every ward",
        "summary": "Two nurses on every night shift.",
        "body": "We ask the board to staff every ward safely.",
        "target": "The hospital board",
        "goal": 100,
        "verification": ["code"],
        "allowed_domains": [],
        "show_names": True,
        "reasons_enabled": True,
    }
    async with httpx.AsyncClient(base_url=server.url, headers=headers) as api:
        draft = (await api.post("/api/v1/petitions", json=petition)).json()
        slug = draft["slug"]
        assert (await api.post(f"/api/v1/petitions/{draft['id']}/publish")).status_code == 200
        [printed] = (await api.post(f"/api/v1/petitions/{slug}/codes", json={"count": 1})).json()["codes"]
        signed = await api.post(f"/api/v1/petitions/{slug}/signatures", json={"code": printed})
        receipt = signed.json()["receipt"]

    watch = Watch("withdraw")
    page = await new_page(browser, PHONE, watch)
    await page.goto(f"{server.url}/p/{slug}/receipt")  # type: ignore[attr-defined]
    await page.click("button[value=status]")  # type: ignore[attr-defined]
    await page.wait_for_selector(".error-summary")  # type: ignore[attr-defined]
    assert await summary_takes_focus(page), "focus is on the summary"
    await watch.check(page, "receipt-refused")
    await page.fill("#receipt", receipt)  # type: ignore[attr-defined]
    await page.click("button[value=withdraw]")  # type: ignore[attr-defined]
    await page.wait_for_selector("h1:has-text('Withdraw your signature?')")  # type: ignore[attr-defined]
    assert receipt not in page.url  # type: ignore[attr-defined]
    await watch.check(page, "withdraw-question")
    await page.click("button:has-text('No, keep my signature')")  # type: ignore[attr-defined]
    await page.wait_for_selector("h1:has-text('Your signature on')")  # type: ignore[attr-defined]
    assert "withdrawn" not in await page.inner_text("main")  # type: ignore[attr-defined]
    await page.click("button[value=withdraw]")  # type: ignore[attr-defined]
    await page.click("button:has-text('Yes, withdraw my signature')")  # type: ignore[attr-defined]
    await page.wait_for_selector("text=You have withdrawn your signature.")  # type: ignore[attr-defined]
    assert receipt not in page.url  # type: ignore[attr-defined]
    await watch.check(page, "withdrawn")
    async with httpx.AsyncClient(base_url=server.url) as http:
        answer = await http.post(f"/api/v1/petitions/{slug}/signatures/status", json={"receipt": receipt})
        assert answer.json()["status"] == "withdrawn"
    watch.expect_status(422)
    watch.assert_clean()

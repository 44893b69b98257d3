"""The signer's flow in a real browser on a phone: choose a way, sign, and keep the receipt whatever
is tapped (reload, Back then Forward, a double tap, two racing requests), with exactly one
signature; the error summary takes focus and its links move to the field; the dead ends each have
their own page. Every page passes axe-core and fits 320 px (see tests/test_browser.py)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from .conftest import SmtpSink
from .test_browser import (  # noqa: F401
    CODE,
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

WORKER = "nurse@example.com"


async def open_petition(running: Server) -> tuple[str, dict[str, str], list[str]]:
    """A published petition taking both ways, with a long body: (slug, API headers, printed codes)."""
    running.run("create-organizer", "organizer@example.org", stdin="a passphrase for the browser test\n")
    token = running.run("create-token", "organizer@example.org").strip().splitlines()[-1]
    headers = {"authorization": f"Bearer {token}"}
    petition = {
        "title": "Two nurses on every night shift",
        "summary": "Safe staffing on every ward, every night.",
        "body": "We ask the board to staff every ward safely. " * 12 + "\n\n" + "Every night counts. " * 40,
        "target": "The hospital board",
        "goal": 100,
        "verification": ["email", "code"],
        "allowed_domains": ["example.com"],
        "show_names": True,
        "reasons_enabled": True,
    }
    async with httpx.AsyncClient(base_url=running.url, headers=headers) as api:
        draft = (await api.post("/api/v1/petitions", json=petition)).json()
        assert (await api.post(f"/api/v1/petitions/{draft['id']}/publish")).status_code == 200
        printed = (await api.post(f"/api/v1/petitions/{draft['slug']}/codes", json={"count": 3})).json()["codes"]
    return str(draft["slug"]), headers, list(printed)


async def status_of(running: Server, slug: str, receipt: str) -> str:
    async with httpx.AsyncClient(base_url=running.url, timeout=10) as http:
        answer = await http.post(f"/api/v1/petitions/{slug}/signatures/status", json={"receipt": receipt})
        return str(answer.json()["status"])


async def count_becomes(running: Server, slug: str, expected: int) -> int:
    """The public count once the batches have closed (every second in these tests), or what it stays at."""
    async with httpx.AsyncClient(base_url=running.url, timeout=10) as http:
        for _ in range(40):
            count = (await http.get(f"/api/v1/petitions/{slug}")).json()["signature_count"]
            if count >= expected:
                await asyncio.sleep(1.5)  # a twin would land in the next batch
                return int((await http.get(f"/api/v1/petitions/{slug}")).json()["signature_count"])
            await asyncio.sleep(0.25)
    return int(count)


async def racing_posts(page: object, running: Server, path: str, form: dict[str, str]) -> list[httpx.Response]:
    """The same form sent twice at once, with the page's cookies (HttpOnly ones included), as a double tap's twins."""
    cookies = {cookie["name"]: cookie["value"] for cookie in await page.context.cookies()}  # type: ignore[attr-defined]
    async with (
        httpx.AsyncClient(base_url=running.url, cookies=cookies, timeout=10) as one,
        httpx.AsyncClient(base_url=running.url, cookies=cookies, timeout=10) as two,
    ):
        return list(await asyncio.gather(one.post(path, data=form), two.post(path, data=form)))


async def receipt_behind(running: Server, answer: httpx.Response, slug: str) -> str:
    assert answer.status_code == 303 and answer.headers["location"] == f"/p/{slug}/signed", answer.text
    async with httpx.AsyncClient(base_url=running.url, cookies=answer.cookies, timeout=10) as device:
        page = (await device.get(f"/p/{slug}/signed")).text
    return page.split('<code class="secret">')[1].split("<")[0]


async def hidden(page: object, name: str) -> str:
    return str(await page.get_attribute(f"input[name={name}]", "value"))  # type: ignore[attr-defined]


async def test_a_printed_code_signer_keeps_one_receipt_through_reload_back_and_double_taps(
    browser: object,  # noqa: F811
    server: Server,  # noqa: F811
) -> None:
    slug, _, printed = await open_petition(server)
    watch = Watch("signer-code")
    page = await new_page(browser, PHONE, watch)
    await page.goto(f"{server.url}/p/{slug}")  # type: ignore[attr-defined]
    await watch.check(page, "petition")
    main = await page.inner_text("main")  # type: ignore[attr-defined]
    assert main.index("Two nurses") < main.index("We ask the board") < main.index("Sign this petition")
    assert await page.locator("form").count() == 0, "no form before the signer chooses"  # type: ignore[attr-defined]
    await page.click("text=Sign with a printed code")  # type: ignore[attr-defined]
    await page.wait_for_selector("#code-code")  # type: ignore[attr-defined]
    await watch.check(page, "code-form")
    assert await page.locator("#email-email").count() == 0  # type: ignore[attr-defined]

    # An empty form: the error summary takes focus, its link moves to the field, ticks survive.
    await page.check("#code-show_name")  # type: ignore[attr-defined]
    await page.fill("#code-name", "Ada")  # type: ignore[attr-defined]
    await page.click("button[type=submit]")  # type: ignore[attr-defined]
    await page.wait_for_selector(".error-summary")  # type: ignore[attr-defined]
    assert await summary_takes_focus(page), "the summary has focus"
    assert await page.is_checked("#code-show_name") and await page.input_value("#code-name") == "Ada"  # type: ignore[attr-defined]
    await watch.check(page, "code-form-error")
    watch.expect_status(422)
    await page.click(".error-summary a")  # type: ignore[attr-defined]
    assert await page.evaluate("document.activeElement.id") == "code-code", "the link moves to the field"  # type: ignore[attr-defined]
    # From a fresh form, so that Back after signing goes to a form page, not to this refusal.
    await page.goto(f"{server.url}/p/{slug}/sign/code")  # type: ignore[attr-defined]

    # A double tap: one signature, one receipt.
    await page.fill("#code-code", printed[0])  # type: ignore[attr-defined]
    await page.dblclick("button[type=submit]")  # type: ignore[attr-defined]
    await page.wait_for_selector("code.secret")  # type: ignore[attr-defined]
    await watch.check(page, "receipt")
    receipt = await page.inner_text("code.secret")  # type: ignore[attr-defined]
    await page.reload()  # type: ignore[attr-defined]
    assert await page.inner_text("code.secret") == receipt, "a reload shows the same receipt"  # type: ignore[attr-defined]
    await page.go_back()  # type: ignore[attr-defined]
    main = await page.inner_text("main")  # type: ignore[attr-defined]
    assert "not valid" not in main and "already" not in main, "Back shows no failure"
    await page.go_forward()  # type: ignore[attr-defined]
    assert await page.inner_text("code.secret") == receipt, "Forward: the same receipt"  # type: ignore[attr-defined]

    # Two requests racing with the same form (a double tap's twins) show the same receipt.
    await page.goto(f"{server.url}/p/{slug}?code={printed[1]}")  # type: ignore[attr-defined]
    assert await page.input_value("#code-code") == printed[1]  # type: ignore[attr-defined]
    form = {name: await hidden(page, name) for name in ("method", "token")}
    twins = await racing_posts(page, server, f"/p/{slug}/sign", {**form, "code": printed[1]})
    assert len({await receipt_behind(server, twin, slug) for twin in twins}) == 1

    assert await status_of(server, slug, receipt) in ("pending", "counted")
    assert await count_becomes(server, slug, 2) == 2, "two forms, two signatures"
    watch.assert_clean()


async def test_an_email_signer_keeps_one_receipt_through_reload_back_and_double_taps(
    browser: object,  # noqa: F811
    server: Server,  # noqa: F811
    smtp: SmtpSink,
) -> None:
    slug, _, _ = await open_petition(server)
    watch = Watch("signer-email")
    page = await new_page(browser, PHONE, watch)
    await page.goto(f"{server.url}/p/{slug}")  # type: ignore[attr-defined]
    await page.click("text=Sign with your work email")  # type: ignore[attr-defined]
    await page.wait_for_selector("#email-email")  # type: ignore[attr-defined]
    await watch.check(page, "email-form")
    assert await page.locator("#code-code").count() == 0  # type: ignore[attr-defined]
    await page.fill("#email-email", "nobody")  # type: ignore[attr-defined]
    await page.click("button[type=submit]")  # type: ignore[attr-defined]
    await page.wait_for_selector(".error-summary")  # type: ignore[attr-defined]
    assert await summary_takes_focus(page), "the summary has focus"
    await watch.check(page, "email-form-error")
    watch.expect_status(422)
    await page.click(".error-summary a")  # type: ignore[attr-defined]
    assert await page.evaluate("document.activeElement.id") == "email-email"  # type: ignore[attr-defined]

    await page.fill("#email-email", WORKER)  # type: ignore[attr-defined]
    await page.dblclick("button[type=submit]")  # type: ignore[attr-defined]
    await page.wait_for_selector("#verify-code")  # type: ignore[attr-defined]
    assert page.url.endswith(f"/p/{slug}/check-email")  # type: ignore[attr-defined]
    await watch.check(page, "check-email")
    await page.reload()  # type: ignore[attr-defined]
    assert "Check your email" in await page.inner_text("h1")  # type: ignore[attr-defined]
    code = await code_for(smtp, WORKER)
    await page.fill("#verify-code", "0000-0000")  # type: ignore[attr-defined]
    await page.click("form:has(#verify-code) button")  # type: ignore[attr-defined]
    await page.wait_for_selector(".error-summary")  # type: ignore[attr-defined]
    assert await summary_takes_focus(page), "the summary has focus"
    await watch.check(page, "check-email-error")
    watch.expect_status(422)

    await page.fill("#verify-code", code.lower())  # type: ignore[attr-defined]
    await page.dblclick("form:has(#verify-code) button")  # type: ignore[attr-defined]
    await page.wait_for_selector("code.secret")  # type: ignore[attr-defined]
    await watch.check(page, "receipt")
    receipt = await page.inner_text("code.secret")  # type: ignore[attr-defined]
    await page.reload()  # type: ignore[attr-defined]
    assert await page.inner_text("code.secret") == receipt  # type: ignore[attr-defined]
    await page.go_back()  # type: ignore[attr-defined]
    assert await page.inner_text("code.secret") == receipt, "Back to the code's page: the receipt"  # type: ignore[attr-defined]
    await page.go_forward()  # type: ignore[attr-defined]
    assert await page.inner_text("code.secret") == receipt  # type: ignore[attr-defined]
    twins = await racing_posts(page, server, f"/p/{slug}/verify", {"code": code})
    assert {await receipt_behind(server, twin, slug) for twin in twins} == {receipt}, "racing twins: the same"
    assert len(smtp.to(WORKER)) == 1, "a double tap sent one email"
    assert await count_becomes(server, slug, 1) == 1, "one signature"

    # Dead ends: the same address again, an attempt this device does not hold, a closed petition.
    again = await new_page(browser, PHONE, watch)
    await again.goto(f"{server.url}/p/{slug}/sign/email")  # type: ignore[attr-defined]
    await again.fill("#email-email", WORKER)  # type: ignore[attr-defined]
    await again.click("button[type=submit]")  # type: ignore[attr-defined]
    await again.wait_for_selector("#verify-code")  # type: ignore[attr-defined]
    for _ in range(200):  # the outbox sends every second in these tests
        if len(smtp.to(WORKER)) == 2:
            break
        await asyncio.sleep(0.05)
    second_code = CODE.search(smtp.to(WORKER)[-1]["body"]).group(1)  # type: ignore[union-attr]
    await again.fill("#verify-code", second_code)  # type: ignore[attr-defined]
    await again.click("form:has(#verify-code) button")  # type: ignore[attr-defined]
    await again.wait_for_selector("text=You have already signed this petition")  # type: ignore[attr-defined]
    assert await again.locator("#verify-code").count() == 0  # type: ignore[attr-defined]
    await watch.check(again, "already-signed")
    watch.expect_status(409)
    elsewhere = await new_page(browser, PHONE, watch)
    await elsewhere.goto(f"{server.url}/p/{slug}/check-email")  # type: ignore[attr-defined]
    assert "Your signing attempt has expired" in await elsewhere.inner_text("h1")  # type: ignore[attr-defined]
    await watch.check(elsewhere, "attempt-expired")
    watch.expect_status(404)
    watch.assert_clean()


async def test_a_closed_petition_and_a_way_it_does_not_take_have_their_own_pages(
    browser: object,  # noqa: F811
    server: Server,  # noqa: F811
) -> None:
    slug, headers, _ = await open_petition(server)
    watch = Watch("signer-dead-ends")
    page = await new_page(browser, PHONE, watch)
    await page.goto(f"{server.url}/p/{slug}/sign/nothing")  # type: ignore[attr-defined]
    assert "Not found" in await page.inner_text("h1")  # type: ignore[attr-defined]
    await watch.check(page, "no-such-way")
    watch.expect_status(404)
    async with httpx.AsyncClient(base_url=server.url, headers=headers) as api:
        assert (await api.post(f"/api/v1/petitions/{slug}/close")).status_code == 200
    await page.goto(f"{server.url}/p/{slug}/sign/code")  # type: ignore[attr-defined]
    assert "This petition is closed" in await page.inner_text("main")  # type: ignore[attr-defined]
    assert await page.locator("main form").count() == 0  # type: ignore[attr-defined]
    await watch.check(page, "closed")
    watch.expect_status(409)
    watch.assert_clean()

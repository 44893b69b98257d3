"""End to end in a real browser: headless Chromium (Debian's) driven by Playwright, with axe-core.

On a phone-sized window a signer signs with a code emailed to the test SMTP server, keeps the
receipt and sees it counted, then signs with a printed code; on a desktop window the first
organizer sets up an account and creates and publishes a petition. Every page visited passes
axe-core's WCAG 2.1 A and AA rules; no request leaves 127.0.0.1 and no console error (a CSP
refusal included) appears. Screenshots go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import axe_playwright_python
import httpx
import pytest
from playwright import async_api as playwright_api

from .conftest import SmtpSink
from .system_services import CHROMIUM, CHROMIUM_PATH, chromium_is_there, need
from .test_crash import Server

pytestmark = pytest.mark.slow  # a server process and a browser

ROOT = Path(__file__).resolve().parent.parent
# axe-core as shipped in a PyPI wheel, so only Chromium comes from outside pip.
AXE = Path(axe_playwright_python.__file__).parent / "axe.min.js"
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
NARROWEST = {"width": 320, "height": 640}  # the narrowest phone a page must fit without scrolling sideways
# Words no line can hold whole: each page must still wrap them at 320 px.
LONG_WORD = "Arbeitszeitverlängerungsvereinbarungsentwürfe"
SECOND_ORGANIZER = "night-shift-rota-coordinator@example.org"
LONG_ADDRESS = "https://intranet.example.com/departments/operations/night-shift/rotas/2026/proposals/" + "x" * 30

WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
# The innermost elements that reach past the window's right edge, to name in a failure.
WIDEST = """[...document.querySelectorAll('body *')]
  .filter(e => !e.closest('.table-scroll, .visually-hidden'))
  .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1
    && ![...e.children].some(c => c.getBoundingClientRect().right > document.documentElement.clientWidth + 1))
  .slice(0, 3).map(e => e.tagName.toLowerCase() + (e.getAttribute('class') ? '.' + e.getAttribute('class') : '')
    + ' ' + Math.round(e.getBoundingClientRect().right) + ' px')"""
CODE = re.compile(r"\b([0-9A-Z]{4}-[0-9A-Z]{4})\b")
# What a reader may unfold (the chart's numbers as a table) must fit too, and pass axe-core.
OPEN_DETAILS = "document.querySelectorAll('details').forEach(d => { d.open = true; })"


@pytest.fixture
def dialect() -> str:
    """The browser tests run on SQLite only: what they check is the pages, not the database."""
    return "sqlite"


class Watch:
    """What a page did that it must not: requests off 127.0.0.1, console errors; and axe's findings."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.outside: list[str] = []
        self.errors: list[str] = []
        self.violations: list[str] = []
        self.too_wide: list[str] = []
        self.shots = 0

    async def attach(self, page: object) -> None:
        async def route(route: object) -> None:
            url = route.request.url  # type: ignore[attr-defined]
            if urlsplit(url).hostname not in ("127.0.0.1", None) and not url.startswith("data:"):
                self.outside.append(url)
                await route.abort()  # type: ignore[attr-defined]
            else:
                await route.continue_()  # type: ignore[attr-defined]

        await page.route("**/*", route)  # type: ignore[attr-defined]
        page.on("console", lambda message: message.type == "error" and self.errors.append(message.text))  # type: ignore[attr-defined]
        page.on("pageerror", lambda error: self.errors.append(str(error)))  # type: ignore[attr-defined]

    async def check(self, page: object, label: str) -> None:
        """Unfold every <details>, run axe-core on the page, see that it fits 320 px, and keep screenshots."""
        await page.evaluate(OPEN_DETAILS)  # type: ignore[attr-defined]
        await page.evaluate(AXE.read_text())  # type: ignore[attr-defined]
        result = await page.evaluate(  # type: ignore[attr-defined]
            "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG
        )
        for violation in result["violations"]:
            targets = [", ".join(node["target"]) for node in violation["nodes"]][:3]
            self.violations.append(f"{label}: {violation['id']} ({violation['help']}) at {targets}")
        self.shots += 1
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SCREENSHOTS / f"{self.name}-{self.shots:02d}-{label}.png"), full_page=True)  # type: ignore[attr-defined]
        await self.check_width(page, label)

    async def check_width(self, page: object, label: str) -> None:
        """The page at 320 px wide: no horizontal scrolling (a screenshot of it kept too)."""
        size = page.viewport_size  # type: ignore[attr-defined]
        await page.set_viewport_size(NARROWEST)  # type: ignore[attr-defined]
        try:
            widths = await page.evaluate(  # type: ignore[attr-defined]
                "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
            )
            if widths[0] > widths[1]:
                wide = await page.evaluate(WIDEST)  # type: ignore[attr-defined]
                self.too_wide.append(f"{label}: {widths[0]} px wide in a {widths[1]} px window, by {wide}")
            path = SCREENSHOTS / f"{self.name}-{self.shots:02d}-{label}-320.png"
            await page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
        finally:
            await page.set_viewport_size(size)  # type: ignore[attr-defined]

    def expect_status(self, *statuses: int) -> None:
        """Chromium logs every page answered with 4xx as a console error: take out one per status a
        test asked for (a refused form 422, a dead end 404 or 409), so that any other still fails it."""
        for status in statuses:
            logged = [error for error in self.errors if f"status of {status} " in error]
            assert logged, f"no page answered {status}: {self.errors}"
            self.errors.remove(logged[0])

    def assert_clean(self) -> None:
        assert not self.outside, f"requests left 127.0.0.1: {self.outside}"
        assert not self.errors, f"console errors: {self.errors}"
        assert not self.violations, "axe-core found:\n" + "\n".join(self.violations)
        assert not self.too_wide, "pages scroll sideways at 320 px:\n" + "\n".join(self.too_wide)


@pytest.fixture
async def browser() -> AsyncIterator[object]:
    need(CHROMIUM, there=chromium_is_there())
    async with playwright_api.async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM_PATH, headless=True)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
def server(db_url: str, tmp_path: Path, smtp: SmtpSink) -> Iterator[Server]:
    running = Server(db_url, tmp_path)
    running.environ.update(
        {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp.port), "SMTP_TLS": "none", "SMTP_FROM": "codes@example.net"}
    )
    running.environ.update({"OUTBOX_POLL_SECONDS": "1", "RATE_LIMIT_LOGIN_PER_CLIENT": "1000"})
    running.run("migrate")
    running.start()
    try:
        yield running
    finally:
        running.kill()


async def new_page(browser: object, viewport: dict[str, int], watch: Watch) -> object:
    context = await browser.new_context(viewport=viewport)  # type: ignore[attr-defined]
    page = await context.new_page()
    await watch.attach(page)
    return page


async def test_a_signer_signs_with_an_emailed_code_then_a_printed_one_on_a_phone(
    browser: object, server: Server, smtp: SmtpSink
) -> None:
    server.run("create-organizer", "organizer@example.org", stdin="a passphrase for the browser test\n")
    token = server.run("create-token", "organizer@example.org").strip().splitlines()[-1]
    headers = {"authorization": f"Bearer {token}"}
    petition = {
        "title": f"Safe staffing on every ward: {LONG_WORD}",
        "summary": f"Two nurses on every night shift. {LONG_WORD}",
        "body": f"We ask the board to staff every ward safely: {LONG_ADDRESS}\n\nEvery night, {LONG_WORD}.",
        "target": f"The hospital board {LONG_WORD}",
        "goal": 100,
        "verification": ["email", "code"],
        "allowed_domains": ["example.com"],
        "show_names": True,
        "reasons_enabled": True,
    }
    async with httpx.AsyncClient(base_url=server.url, headers=headers) as api:
        draft = (await api.post("/api/v1/petitions", json=petition)).json()
        slug = draft["slug"]
        assert (await api.post(f"/api/v1/petitions/{draft['id']}/publish")).status_code == 200
        [printed] = (await api.post(f"/api/v1/petitions/{slug}/codes", json={"count": 1})).json()["codes"]

    watch = Watch("signer")
    page = await new_page(browser, PHONE, watch)
    await page.goto(f"{server.url}/p/{slug}")  # type: ignore[attr-defined]
    await watch.check(page, "petition")
    await page.click("text=Sign with your work email")  # type: ignore[attr-defined]
    await page.wait_for_selector("#email-email")  # type: ignore[attr-defined]
    await watch.check(page, "email-form")
    await page.fill("#email-email", "nurse@example.com")  # type: ignore[attr-defined]
    await page.check("#email-show_name")  # type: ignore[attr-defined]
    await page.fill("#email-name", LONG_WORD + LONG_WORD[:30])  # type: ignore[attr-defined]
    await page.fill("#email-role", LONG_WORD)  # type: ignore[attr-defined]
    await page.fill("#email-reason", f"{LONG_WORD} {LONG_ADDRESS}")  # type: ignore[attr-defined]
    await page.click("text=Send me a code")  # type: ignore[attr-defined]
    await page.wait_for_selector("text=Check your email")  # type: ignore[attr-defined]
    await watch.check(page, "check-email")
    code = await code_for(smtp, "nurse@example.com")
    await page.fill("#verify-code", code.lower())  # type: ignore[attr-defined]
    await page.click("form:has(#verify-code) button")  # type: ignore[attr-defined]
    await page.wait_for_selector("code.secret")  # type: ignore[attr-defined]
    await watch.check(page, "receipt")
    receipt = await page.inner_text("code.secret")  # type: ignore[attr-defined]

    for _ in range(40):  # the batch closes after LOG_BATCH_SECONDS (1 s in this test)
        await page.goto(f"{server.url}/p/{slug}/receipt")  # type: ignore[attr-defined]
        await page.fill("#receipt", receipt)  # type: ignore[attr-defined]
        await page.click("button[value=status]")  # type: ignore[attr-defined]
        if "Your signature is counted" in await page.inner_text("main"):  # type: ignore[attr-defined]
            break
        await page.wait_for_timeout(250)  # type: ignore[attr-defined]
    assert "Your signature is counted" in await page.inner_text("main")  # type: ignore[attr-defined]
    await watch.check(page, "counted")
    await page.goto(f"{server.url}/p/{slug}")  # type: ignore[attr-defined]
    assert LONG_WORD + LONG_WORD[:30] in await page.inner_text("main"), "the name is shown"  # type: ignore[attr-defined]
    await watch.check(page, "petition-with-names")
    await page.goto(f"{server.url}/")  # type: ignore[attr-defined]
    await watch.check(page, "home")

    await page.goto(f"{server.url}/p/{slug}?code={printed}")  # type: ignore[attr-defined]
    assert page.url.endswith(f"/p/{slug}/sign/code?code={printed}"), "a tab's QR code goes to the code's form"  # type: ignore[attr-defined]
    assert await page.input_value("#code-code") == printed  # type: ignore[attr-defined]
    await watch.check(page, "code-form")
    await page.click("form:has(#code-code) button[type=submit]")  # type: ignore[attr-defined]
    await page.wait_for_selector("code.secret")  # type: ignore[attr-defined]
    await watch.check(page, "printed-receipt")
    printed_receipt = await page.inner_text("code.secret")  # type: ignore[attr-defined]
    # A reload shows the same receipt (the form is not sent again), and so does Back then Forward.
    await page.reload()  # type: ignore[attr-defined]
    assert await page.inner_text("code.secret") == printed_receipt  # type: ignore[attr-defined]
    await page.go_back()  # type: ignore[attr-defined]
    assert "/signed" not in page.url and "already used" not in await page.inner_text("main")  # type: ignore[attr-defined]
    await page.go_forward()  # type: ignore[attr-defined]
    assert await page.inner_text("code.secret") == printed_receipt  # type: ignore[attr-defined]
    await page.click("text=Forget the receipt on this device")  # type: ignore[attr-defined]
    await page.wait_for_selector("text=holds no receipt")  # type: ignore[attr-defined]
    await watch.check(page, "receipt-forgotten")
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        answer = await http.post(f"/api/v1/petitions/{slug}/signatures/status", json={"receipt": printed_receipt})
        assert answer.json()["status"] in ("pending", "counted"), "one signature, still there"
    watch.assert_clean()


async def code_for(smtp: SmtpSink, address: str) -> str:
    import asyncio

    for _ in range(200):
        for message in smtp.to(address):
            if match := CODE.search(message["body"]):
                return match.group(1)
        await asyncio.sleep(0.05)
    raise AssertionError(f"no code email reached {address}")


async def test_the_first_organizer_sets_up_and_publishes_a_petition_on_a_desktop(
    browser: object, server: Server
) -> None:
    link = re.findall(r"Setup link: (\S+)", server.log.read_text())[-1]
    watch = Watch("organizer")
    page = await new_page(browser, DESKTOP, watch)
    await page.goto(link)  # type: ignore[attr-defined]
    await watch.check(page, "setup")
    await page.fill("#email", "first@example.org")  # type: ignore[attr-defined]
    await page.fill("#password", "a long passphrase for the organizer")  # type: ignore[attr-defined]
    await page.fill("#password_again", "a long passphrase for the organizer")  # type: ignore[attr-defined]
    await page.click("text=Create account")  # type: ignore[attr-defined]
    await page.wait_for_load_state()  # type: ignore[attr-defined]
    await watch.check(page, "organize")
    await page.goto(f"{server.url}/organize/petitions/new")  # type: ignore[attr-defined]
    await watch.check(page, "new-petition")
    await page.fill("#title", f"Fair rotas for the night shift {LONG_WORD}")  # type: ignore[attr-defined]
    await page.fill("#summary", f"Rotas published four weeks ahead. {LONG_WORD}")  # type: ignore[attr-defined]
    await page.fill("#target", f"The operations director {LONG_WORD}")  # type: ignore[attr-defined]
    await page.fill("#body", f"We ask for rotas four weeks ahead: {LONG_ADDRESS}")  # type: ignore[attr-defined]
    await page.fill("#goal", "500")  # type: ignore[attr-defined]
    await page.fill("#allowed_domains", "example.com")  # type: ignore[attr-defined]
    await page.check("#v-code")  # type: ignore[attr-defined]
    await page.click("button[type=submit]:has-text('Save draft')")  # type: ignore[attr-defined]
    await page.wait_for_load_state()  # type: ignore[attr-defined]
    assert "Publish…" in await page.inner_text("main")  # type: ignore[attr-defined]
    # A draft's pages are addressed by its id (its slug is reserved only when it is published).
    petition_id = (await page.evaluate("location.pathname")).rstrip("/").split("/")[-1]  # type: ignore[attr-defined]
    await watch.check(page, "draft")
    await page.click("text=Publish…")  # type: ignore[attr-defined]
    await watch.check(page, "confirm-publish")
    await page.click("button:has-text('Yes, publish it')")  # type: ignore[attr-defined]
    await page.wait_for_load_state()  # type: ignore[attr-defined]
    await watch.check(page, "published")
    await page.goto(f"{server.url}/organize/petitions/{petition_id}/flyers")  # type: ignore[attr-defined]
    await page.fill("#flyer-label", LONG_WORD)  # type: ignore[attr-defined]
    await page.click("button:has-text('Make flyers')")  # type: ignore[attr-defined]
    await page.wait_for_selector("text=Flyers made")  # type: ignore[attr-defined]
    await watch.check(page, "flyers")
    await page.click("nav.tasks >> text=Signing codes")  # type: ignore[attr-defined]
    await page.fill("#label", LONG_WORD)  # type: ignore[attr-defined]
    await page.fill("#count", "3")  # type: ignore[attr-defined]
    await page.click("button:has-text('Make codes')")  # type: ignore[attr-defined]
    await page.wait_for_selector("text=Codes made")  # type: ignore[attr-defined]
    await watch.check(page, "codes")
    await page.goto(f"{server.url}/organize")  # type: ignore[attr-defined]
    await watch.check(page, "petitions")
    await page.goto(f"{server.url}/organize/settings")  # type: ignore[attr-defined]
    await page.fill("#name", LONG_WORD)  # type: ignore[attr-defined]
    await page.click("button:has-text('Make token')")  # type: ignore[attr-defined]
    await page.wait_for_selector("code.secret")  # type: ignore[attr-defined]
    await watch.check(page, "settings")
    await page.click("button:has-text('Turn on two-factor')")  # type: ignore[attr-defined]
    await page.wait_for_selector(".qr svg")  # type: ignore[attr-defined]
    await watch.check(page, "two-factor")
    # A second organizer: the administration page then offers to deactivate one (a wider table).
    server.run("create-organizer", SECOND_ORGANIZER, stdin="a passphrase for the second organizer\n")
    await page.goto(f"{server.url}/organize/admin")  # type: ignore[attr-defined]
    assert SECOND_ORGANIZER in await page.inner_text("main")  # type: ignore[attr-defined]
    await watch.check(page, "admin")
    await page.goto(f"{server.url}/organize/petitions/{petition_id}/organizers")  # type: ignore[attr-defined]
    await page.fill("#email", SECOND_ORGANIZER)  # type: ignore[attr-defined]
    await page.click("button:has-text('Add')")  # type: ignore[attr-defined]
    await page.wait_for_load_state()  # type: ignore[attr-defined]
    assert SECOND_ORGANIZER in await page.inner_text("#team ~ ul")  # type: ignore[attr-defined]
    await watch.check(page, "co-organizers")
    await page.goto(f"{server.url}/organize/petitions/{petition_id}/edit")  # type: ignore[attr-defined]
    await watch.check(page, "edit")
    await page.goto(f"{server.url}/organize/petitions/{petition_id}/close")  # type: ignore[attr-defined]
    await watch.check(page, "confirm-close")
    await page.goto(f"{server.url}/p/{petition_id}")  # type: ignore[attr-defined]
    assert "Open for signatures" in await page.inner_text("main")  # type: ignore[attr-defined]
    await watch.check(page, "public-page")
    visitor = await new_page(browser, DESKTOP, watch)  # no session: the pages before logging in
    for path in ("/login", "/reset"):
        await visitor.goto(f"{server.url}{path}")  # type: ignore[attr-defined]
        await watch.check(visitor, path.strip("/"))
    watch.assert_clean()


# The summary takes the focus from a deferred script: under load it runs a moment after the page shows.
SUMMARY_FOCUSED = "document.activeElement && String(document.activeElement.className).includes('error-summary')"


async def summary_takes_focus(page: object) -> bool:
    """Whether the error summary takes the focus within a few seconds."""
    try:
        await page.wait_for_function(SUMMARY_FOCUSED, timeout=5000)  # type: ignore[attr-defined]
    except Exception:  # playwright's TimeoutError: the focus went elsewhere
        return False
    return True

"""A feedback round end to end in a real browser: an organizer on a desktop starts a round through the
organizers' pages (refused once), opens it and prints its codes; a colleague on a phone follows one
code's link as its QR code would, joins, keeps the token shown once, votes on five statements, adds
one (refused once), and, once enough colleagues have voted and the app's own job has recomputed,
sees the counts, the consensus, the opinion groups and the map. Every page passes axe-core and fits
320 px (tests/test_browser.py's Watch)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ..test_browser import DESKTOP, LONG_WORD, PHONE, Watch, browser, dialect, new_page  # noqa: F401
from ..test_crash import Server

pytestmark = pytest.mark.slow  # a server process and a browser

PASSWORD = "a passphrase for the rounds test"
QUESTION = f"What should a fair opt-out look like? {LONG_WORD}"
# Seven seed statements; each camp of colleagues votes on all of them (1 agree, -1 disagree, 0 pass):
# camp A and camp B split on the first four and agree on the fifth and the last.
SEEDS = (
    "Opting out takes one click.",
    "Managers are told who opted out.",
    "The program is explained before anyone is asked.",
    "Opting out ends after a year.",
    "Nobody is penalised for opting out.",
    "A committee of colleagues reviews the program each year.",
    f"Data collected is deleted when someone opts out: {LONG_WORD}",
)
CAMP_A = (1, -1, 1, -1, 1, 0, 1)
CAMP_B = (-1, 1, -1, 1, 1, 0, 1)
CAMP_SIZE = 6  # above MIN_CELL_SIZE (5), so each camp is shown as an opinion group
CONSENSUS = (SEEDS[4], SEEDS[6])
WORDS = {1: "agree", -1: "disagree", 0: "pass"}
PHONE_VOTES = ("Agree", "Disagree", "Pass", "Agree", "Agree")  # the buttons the phone taps, in turn
ADDED = f"Opting out is possible by post as well as online {LONG_WORD}"
LEFT = re.compile(r"(\d+) statements? left")
RESULTS_WAIT_SECONDS = 90  # the worker process starts at the first computation (numpy, scikit-learn)


@pytest.fixture
def server(db_url: str, tmp_path: Path) -> Iterator[Server]:
    """The app as `python main.py serve`, recomputing due results every second (its own job and worker)."""
    running = Server(db_url, tmp_path)
    running.environ.update({"RATE_LIMIT_LOGIN_PER_CLIENT": "1000", "ROUND_RESULTS_SECONDS": "1"})
    running.run("migrate")
    running.start()
    try:
        yield running
    finally:
        running.kill()


async def open_petition(running: Server) -> str:
    """A published petition that takes printed codes and work emails; its id."""
    running.run("create-organizer", "organizer@example.org", stdin=f"{PASSWORD}\n")
    token = running.run("create-token", "organizer@example.org").strip().splitlines()[-1]
    petition = {
        "title": f"A fair opt-out from workplace monitoring {LONG_WORD}",
        "summary": "Everyone can opt out, and nobody is penalised for it.",
        "target": "The operations director",
        "goal": 500,
        "verification": ["code", "email"],
        "allowed_domains": ["example.com"],
    }
    async with httpx.AsyncClient(base_url=running.url, headers={"authorization": f"Bearer {token}"}) as api:
        draft = (await api.post("/api/v1/petitions", json=petition)).json()
        assert (await api.post(f"/api/v1/petitions/{draft['id']}/publish")).status_code == 200
    return str(draft["id"])


async def organizer_starts_a_round_and_prints_its_codes(
    launched: object, running: Server, petition_id: str, watch: Watch
) -> tuple[str, list[tuple[str, str]]]:
    """On a desktop: log in, start a round (refused once), open it, make codes and take the page to
    print; (round id, [(code, join link)] as printed)."""
    page = await new_page(launched, DESKTOP, watch)
    await page.goto(f"{running.url}/login")  # type: ignore[attr-defined]
    await page.fill("#email", "organizer@example.org")  # type: ignore[attr-defined]
    await page.fill("#password", PASSWORD)  # type: ignore[attr-defined]
    await page.click("button:has-text('Log in')")  # type: ignore[attr-defined]
    await page.wait_for_selector("h1:has-text('Your petitions')")  # type: ignore[attr-defined]
    await page.goto(f"{running.url}/organize/petitions/{petition_id}")  # type: ignore[attr-defined]
    await page.click("nav.tasks >> text=Feedback rounds")  # type: ignore[attr-defined]
    await page.wait_for_selector("h2:has-text('Start a feedback round')")  # type: ignore[attr-defined]
    assert "No feedback rounds yet." in await page.inner_text("main")  # type: ignore[attr-defined]
    await watch.check(page, "rounds")

    # A statement typed twice: the form again, the error summary first, everything as typed.
    await page.fill("#question", QUESTION)  # type: ignore[attr-defined]
    await page.fill("#description", "Vote on each statement, and add your own: nobody sees how you voted.")  # type: ignore[attr-defined]
    await page.fill("#statements", "\n".join((*SEEDS, SEEDS[0])))  # type: ignore[attr-defined]
    await page.click("button:has-text('Save draft round')")  # type: ignore[attr-defined]
    await page.wait_for_selector(".error-summary")  # type: ignore[attr-defined]
    watch.expect_status(422)
    summary = await page.inner_text(".error-summary")  # type: ignore[attr-defined]
    assert f"The statement on line {len(SEEDS) + 1} repeats the one on line 1" in summary, summary
    assert await page.input_value("#question") == QUESTION  # type: ignore[attr-defined]
    await watch.check(page, "round-refused")

    await page.fill("#statements", "\n".join(SEEDS))  # type: ignore[attr-defined]
    await page.click("button:has-text('Save draft round')")  # type: ignore[attr-defined]
    await page.wait_for_selector("text=The round is saved as a draft")  # type: ignore[attr-defined]
    round_id = (await page.evaluate("location.pathname")).rstrip("/").split("/")[-1]  # type: ignore[attr-defined]
    assert "7 shown" in await page.inner_text("main")  # type: ignore[attr-defined]
    await watch.check(page, "round-draft")

    await page.click("text=Open…")  # type: ignore[attr-defined]
    await page.wait_for_selector("button:has-text('Yes, open it')")  # type: ignore[attr-defined]
    await watch.check(page, "confirm-open")
    await page.click("button:has-text('Yes, open it')")  # type: ignore[attr-defined]
    await page.wait_for_selector("text=The round is open")  # type: ignore[attr-defined]
    assert await page.input_value("#share-round") == f"{running.url}/r/{round_id}"  # type: ignore[attr-defined]
    await watch.check(page, "round-open")

    # One colleague on the phone and two camps of CAMP_SIZE, each with a code of this batch.
    await page.click("nav.tasks >> text=Printed codes")  # type: ignore[attr-defined]
    await page.wait_for_selector("button:has-text('Make codes')")  # type: ignore[attr-defined]
    await watch.check(page, "codes")
    await page.fill("#count", str(1 + 2 * CAMP_SIZE))  # type: ignore[attr-defined]
    await page.fill("#label", f"Canteen, second floor {LONG_WORD}")  # type: ignore[attr-defined]
    await page.click("button:has-text('Make codes')")  # type: ignore[attr-defined]
    await page.wait_for_selector("text=Codes made")  # type: ignore[attr-defined]
    await watch.check(page, "codes-made")
    await page.click("button:has-text('Page to print, with QR codes')")  # type: ignore[attr-defined]
    await page.wait_for_selector("ul.code-sheet")  # type: ignore[attr-defined]
    printed = await page.evaluate(  # type: ignore[attr-defined]
        "[...document.querySelectorAll('ul.code-sheet li')].map(li => [li.querySelector('strong').innerText,"
        " li.querySelector('p').innerText.split('\\n').pop().trim(), li.querySelectorAll('.qr svg').length])"
    )
    assert len(printed) == 1 + 2 * CAMP_SIZE
    for code, link, drawings in printed:
        assert link == f"{running.url}/r/{round_id}/join?code={code}" and drawings == 1, "each code has its QR code"
    await watch.check(page, "print-sheet")
    return round_id, [(code, link) for code, link, _ in printed]


async def vote_on_the_shown_statement(page: object, button: str) -> tuple[str, int]:
    """Tap `button` on the round page; (the statement voted on, how many were left before)."""
    text = await page.inner_text("p.statement")  # type: ignore[attr-defined]
    left = int(LEFT.search(await page.inner_text("main")).group(1))  # type: ignore[union-attr, attr-defined]
    await page.click(f".statement-card button:has-text('{button}')")  # type: ignore[attr-defined]
    await page.wait_for_load_state()  # type: ignore[attr-defined]
    return text, left


async def camps_join_and_vote(running: Server, round_id: str, codes: list[str]) -> list[tuple[str, str, str]]:
    """Two camps of CAMP_SIZE colleagues join with printed codes and vote through the API, as their
    phones would; each one's last vote (token, statement id, vote), to cast again."""
    last = []
    async with httpx.AsyncClient(base_url=running.url, timeout=10) as public:
        listed = (await public.get(f"/api/v1/rounds/{round_id}/statements")).json()["statements"]
        ids = {item["text"]: item["id"] for item in listed}
        for number, code in enumerate(codes):
            joined = await public.post(f"/api/v1/rounds/{round_id}/participants", json={"code": code})
            assert joined.status_code == 201, joined.text
            token = joined.json()["participant_token"]
            for text, value in zip(SEEDS, CAMP_A if number < CAMP_SIZE else CAMP_B, strict=True):
                await vote(public, round_id, token, ids[text], WORDS[value])
            last.append((token, ids[SEEDS[-1]], WORDS[value]))
    return last


async def vote(public: httpx.AsyncClient, round_id: str, token: str, statement_id: str, word: str) -> None:
    """A vote through the API with the participant's token, as their phone's page would cast it."""
    voted = await public.put(
        f"/api/v1/rounds/{round_id}/statements/{statement_id}/vote",
        json={"vote": word},
        headers={"authorization": f"Bearer {token}"},
    )
    assert voted.status_code == 200, voted.text


async def vote_again(running: Server, round_id: str, last: list[tuple[str, str, str]]) -> None:
    """Each camp member changes their last vote and changes it back: the votes end as they were, but
    every voter is fresh again, so the job recomputes from all the votes. (The job may have looked
    between the camps' votes, and a computation that started before the last of them may leave fewer
    than MIN_CELL_SIZE fresh voters behind it, who would wait for more. A vote sent again unchanged
    writes nothing and makes no one fresh.)"""
    async with httpx.AsyncClient(base_url=running.url, timeout=10) as public:
        for token, statement_id, word in last:
            other = next(each for each in WORDS.values() if each != word)
            await vote(public, round_id, token, statement_id, other)
            await vote(public, round_id, token, statement_id, word)


async def results_counts(page: object) -> dict[str, list[int]]:
    """The results page's table: statement text -> [agree, disagree, pass]."""
    rows = await page.evaluate(  # type: ignore[attr-defined]
        "[...document.querySelectorAll('table tbody tr')].map(tr => [tr.querySelector('th').innerText,"
        " ...[...tr.querySelectorAll('td')].slice(0, 3).map(td => Number(td.innerText.replace(/,/g, '')))])"
    )
    return {row[0]: row[1:] for row in rows}


def expected_counts(voted: dict[str, str]) -> dict[str, list[int]]:
    """Each seed statement's [agree, disagree, pass]: the two camps' votes and the phone's."""
    expected = {}
    for number, text in enumerate(SEEDS):
        counts = dict.fromkeys(("agree", "disagree", "pass"), 0)
        for camp in (CAMP_A, CAMP_B):
            counts[WORDS[camp[number]]] += CAMP_SIZE
        if text in voted:
            counts[voted[text]] += 1
        expected[text] = [counts["agree"], counts["disagree"], counts["pass"]]
    return expected


async def test_a_colleague_joins_on_a_phone_with_a_printed_code_votes_adds_a_statement_and_sees_results(
    browser: object,  # noqa: F811
    server: Server,
) -> None:
    petition_id = await open_petition(server)
    organizing = Watch("round-organizer")
    round_id, printed = await organizer_starts_a_round_and_prints_its_codes(browser, server, petition_id, organizing)
    (code, link), others = printed[0], [each for each, _ in printed[1:]]

    # The phone follows the first code's link, as its QR code does: the code is filled in.
    watch = Watch("round-phone")
    page = await new_page(browser, PHONE, watch)
    await page.goto(link)  # type: ignore[attr-defined]
    assert await page.input_value("#join-code") == code  # type: ignore[attr-defined]
    await watch.check(page, "join")
    await page.click("form:has(#join-code) button[type=submit]")  # type: ignore[attr-defined]
    await page.wait_for_selector("h1:has-text('You have joined')")  # type: ignore[attr-defined]
    token = await page.input_value("#participant-token")  # type: ignore[attr-defined]
    assert token.startswith("pt_")
    await watch.check(page, "joined")

    # Five votes, one statement at a time, the count of those left going down by one each time.
    await page.click("text=Start voting")  # type: ignore[attr-defined]
    await page.wait_for_selector("p.statement")  # type: ignore[attr-defined]
    await watch.check(page, "round-statement")
    voted: dict[str, str] = {}
    for number, button in enumerate(PHONE_VOTES):
        text, left = await vote_on_the_shown_statement(page, button)
        assert left == len(SEEDS) - number and text not in voted, "a new statement, one fewer left"
        voted[text] = button.lower()
    assert f"{len(SEEDS) - len(PHONE_VOTES)} statements left" in await page.inner_text("main")  # type: ignore[attr-defined]
    assert set(voted) <= set(SEEDS)

    # A statement of spaces only is refused with the summary; then one is added (waiting: moderated).
    await page.fill("#statement-text", "   ")  # type: ignore[attr-defined]
    await page.click("button:has-text('Add statement')")  # type: ignore[attr-defined]
    await page.wait_for_selector(".error-summary")  # type: ignore[attr-defined]
    watch.expect_status(422)
    assert "Enter your statement." in await page.inner_text(".error-summary")  # type: ignore[attr-defined]
    await watch.check(page, "statement-refused")
    await page.fill("#statement-text", ADDED)  # type: ignore[attr-defined]
    await page.click("button:has-text('Add statement')")  # type: ignore[attr-defined]
    await page.wait_for_selector("text=It will appear once an organizer approves it")  # type: ignore[attr-defined]
    await watch.check(page, "statement-added")

    await page.goto(f"{server.url}/r/{round_id}/token")  # type: ignore[attr-defined]
    assert token not in await page.content(), "the token is shown once only"  # type: ignore[attr-defined]
    await page.wait_for_selector("button:has-text('Forget this device')")  # type: ignore[attr-defined]
    await watch.check(page, "token")

    await page.goto(f"{server.url}/r/{round_id}/results")  # type: ignore[attr-defined]
    assert "Results appear once at least 5 people have voted." in await page.inner_text("main")  # type: ignore[attr-defined]
    await watch.check(page, "results-waiting")

    # The two camps vote; the app's own job recomputes once MIN_CELL_SIZE fresh voters wait, every
    # second at most here, until the results hold every vote.
    last = await camps_join_and_vote(server, round_id, others)
    expected = expected_counts(voted)
    for attempt in range(RESULTS_WAIT_SECONDS * 2):
        await asyncio.sleep(0.5)
        await page.reload()  # type: ignore[attr-defined]
        if await results_counts(page) == expected:
            break
        if attempt % 10 == 9:
            await vote_again(server, round_id, last)
    assert await results_counts(page) == expected, "every statement's counts, the phone's votes included"
    main = await page.inner_text("main")  # type: ignore[attr-defined]
    assert f"{1 + 2 * CAMP_SIZE} participants as of" in main, main
    consensus = await page.inner_text("ul[aria-labelledby=consensus-heading]")  # type: ignore[attr-defined]
    assert all(text in consensus for text in CONSENSUS), consensus
    assert f"Group A ({CAMP_SIZE} people)" in main and f"Group B ({CAMP_SIZE} people)" in main, main
    assert "Group A agrees with:" in main and "Group B agrees with:" in main
    assert await page.locator("figure.opinion-map-figure svg desc").count() == 1  # type: ignore[attr-defined]
    assert ADDED not in main, "a statement waiting for moderation is not in the results"
    await watch.check(page, "results")

    # The two statements left, then the round page says every statement is voted on.
    await page.goto(f"{server.url}/r/{round_id}")  # type: ignore[attr-defined]
    for _ in range(len(SEEDS) - len(PHONE_VOTES)):
        await vote_on_the_shown_statement(page, "Pass")
    assert "You have voted on every statement." in await page.inner_text("main")  # type: ignore[attr-defined]
    await watch.check(page, "all-voted")
    problems = []
    for each in (organizing, watch):  # both devices' findings in one failure
        try:
            each.assert_clean()
        except AssertionError as error:
            problems.append(str(error))
    assert not problems, "\n".join(problems)

"""The delivery certificate's PDF, read back the way a person would: its words with two PDF readers
(pypdf, and PDFium, which reads Devanagari's shaped glyphs back where pypdf cannot), its QR code
from printed pixels, its fonts and page boxes from the file."""

from __future__ import annotations

import io
import itertools
import json
import re
from functools import cache

import httpx
import pypdfium2
import pypdfium2.raw as pdfium
import pytest
from pypdf import PdfReader
from starlette.applications import Starlette

from petition import fonts
from petition.delivery import certificate_pdf
from petition.delivery.certificate import DUPLICATES, Rules, ShownName, TimelineDay, duplicates

from ..conftest import BASE_URL
from ..printed import decode, glyphs
from ..printed import fonts as fonts_of
from ..printed import text as pdfium_text
from ..system_services import NOTO, need
from ..test_login import log_in
from ..test_petitions import bearer, create, other_organizer_token
from ..test_signing import count_everything, make_codes, open_petition, petition_id, sign
from .factories import (
    CHECKPOINT,
    HIDDEN_NAME,
    LONG_SERVICE,
    LONG_SLUG,
    NAMES,
    URL,
    certificate,
    certificate_at,
    timeline,
)

POINTS_PER_MM = 72 / 25.4
MARGIN = 18 * POINTS_PER_MM  # the layout's page margin, left and right
NAME_GUTTER = 4 * POINTS_PER_MM
ZERO_WIDTH_SPACE = "\u200b"  # where an over-long word may break; not part of the word


@cache
def drawn(paper: str = "a4") -> bytes:
    """The factory's certificate, drawn once per paper for every test that only reads it."""
    return certificate_pdf.render(certificate(), paper=paper)


def words_of(pdf: bytes) -> str:
    """Everything either reader finds, one after the other (each reads some scripts better)."""
    with_pypdf = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    return with_pypdf + "\n" + pdfium_text(pdf)


def test_every_font_in_the_certificate_is_embedded() -> None:
    used = fonts_of(drawn())
    assert used and all(used.values()), used


def test_the_cover_says_the_count_title_target_and_day() -> None:
    printed = words_of(drawn())
    assert printed.startswith("Delivery certificate · http://127.0.0.1:8713\n"), "nothing of the layout's own code"
    assert "1,612" in printed
    assert "verified colleagues signed" in printed
    assert "Safe staffing on every ward" in printed and "The hospital board" in printed
    assert "as of 3 June 2026" in printed


def test_the_shown_names_in_every_script_print_and_a_hidden_name_never_does() -> None:
    library = fonts.library()
    need(NOTO, there=all(library.has(f) for f in ("Noto Sans", "Noto Sans CJK JP", "Noto Sans Devanagari")))
    pdf = drawn()
    assert certificate_pdf.missing_characters(certificate()) == []
    printed = words_of(pdf)
    for person in NAMES:
        for word in f"{person.name} {person.role}".split():
            assert word in printed, f"{word!r} of {person.name!r}"
    assert HIDDEN_NAME not in printed and "Hopper" not in printed


def test_the_qr_code_decodes_to_the_petitions_page() -> None:
    assert decode(drawn())[0] == [URL]


@pytest.mark.parametrize(("paper", "width_mm", "height_mm"), [("a4", 210, 297), ("letter", 215.9, 279.4)])
def test_every_page_has_the_papers_size(paper: str, width_mm: float, height_mm: float) -> None:
    pages = PdfReader(io.BytesIO(drawn(paper))).pages
    assert len(pages) >= 3
    for page in pages:
        assert float(page.mediabox.width) == pytest.approx(width_mm * POINTS_PER_MM, abs=0.1)
        assert float(page.mediabox.height) == pytest.approx(height_mm * POINTS_PER_MM, abs=0.1)


def test_pages_are_numbered_page_n_of_m() -> None:
    pages = PdfReader(io.BytesIO(drawn())).pages
    total = len(pages)
    for number, page in enumerate(pages, start=1):
        assert f"page {number} of {total}" in page.extract_text()


def test_the_verification_page_carries_the_key_fingerprint_and_the_checkpoint() -> None:
    last = PdfReader(io.BytesIO(drawn())).pages[-1].extract_text()
    assert "How to verify this count" in last
    assert all(group in last for group in certificate().log.fingerprint.split())
    assert "petition.example/safe-staffing" in last
    assert "safe-staffing-certificate.note" in last and "petition.verify" in last


def test_an_unknown_paper_is_refused() -> None:
    with pytest.raises(ValueError, match="a4, letter"):
        certificate_pdf.render(certificate(), paper="a3")


async def test_drawing_in_a_process_of_its_own_gives_the_same_pdf() -> None:
    assert await certificate_pdf.draw(certificate(), paper="a4") == drawn("a4")


def test_thousands_of_names_run_onto_as_many_pages_as_they_need() -> None:
    names = [ShownName(name=f"Colleague {number:04d}", role="Porter") for number in range(1500)]
    pdf = certificate_pdf.render(certificate(names=names))
    printed = words_of(pdf)
    assert all(f"Colleague {number:04d}" in printed for number in range(1500))
    assert len(PdfReader(io.BytesIO(pdf)).pages) > 10


def test_the_body_keeps_its_paragraphs_and_lines() -> None:
    assert certificate_pdf.paragraphs("One.\r\n\r\nTwo,\nthree.\n\n\n\nשלום") == [
        {"lines": ["One."], "dir": "ltr"},
        {"lines": ["Two,", "three."], "dir": "ltr"},
        {"lines": ["שלום"], "dir": "rtl"},
    ]


@pytest.mark.parametrize(
    ("methods", "count", "words"),
    [
        (["email"], 1612, "verified employees of example.com or example.org signed"),
        (["email"], 1, "verified employee of example.com or example.org signed"),
        (["code"], 1612, "people holding a single-use printed code signed"),
        (["email", "code"], 1612, "verified colleagues signed"),
    ],
)
def test_the_cover_words_who_signed_for_the_petitions_methods(methods: list[str], count: int, words: str) -> None:
    rules = Rules(
        methods=methods,
        allowed_domains=["example.com", "example.org"],
        codes_issued=0,
        code_batches=0,
        printed_codes="",
        duplicates="",
    )
    assert certificate_pdf.who_signed(count, rules) == words


def test_the_cover_of_a_work_email_petition_names_its_domains() -> None:
    rules = certificate().rules.model_copy(update={"methods": ["email"], "allowed_domains": ["example.com"]})
    pdf = certificate_pdf.render(certificate(rules=rules, verified_count=1, names=[]))
    printed = " ".join(words_of(pdf).split())
    assert "1 verified employee of example.com signed" in printed
    assert "No signer chose to show their name." in printed


def test_the_chart_steps_up_to_each_days_total_and_ends_at_the_last_day() -> None:
    days = [
        TimelineDay(day="2026-06-01", signed=10, withdrawn=0, invalidated=0, cumulative=10),
        TimelineDay(day="2026-06-03", signed=5, withdrawn=1, invalidated=0, cumulative=14),
    ]
    chart = certificate_pdf.chart_data(days, goal=20)
    assert chart is not None
    top = 20  # the goal is within twice the count: the axis reaches it
    assert chart["points"] == [[0, 0], [0, 0], [0, 10 / top], [2 / 3, 10 / top], [2 / 3, 14 / top], [1, 14 / top]]
    assert [tick["label"] for tick in chart["ticks"]] == ["0", "10", "20"]
    assert [day["label"] for day in chart["days"]] == ["1 June 2026", "3 June 2026"]
    assert chart["goal"] == {"y": 1, "label": "Goal: 20"}
    assert certificate_pdf.chart_data([], goal=20) is None


def test_a_goal_far_above_the_count_is_left_off_the_chart() -> None:
    chart = certificate_pdf.chart_data(timeline(days=2, per_day=10), goal=1_000_000)
    assert chart is not None and chart["goal"] is None
    assert chart["ticks"][-1]["label"] == "20"


def test_a_petition_without_a_counted_day_says_so_instead_of_a_chart() -> None:
    printed = words_of(certificate_pdf.render(certificate(timeline=[], names=[])))
    assert "No signature has been counted yet." in printed


def test_characters_no_font_has_are_named() -> None:
    odd = certificate(names=[ShownName(name="Ada \U000f0001\u0378", role="")])
    assert certificate_pdf.missing_characters(odd) == ["\U000f0001", "\u0378"]
    printed = " ".join(words_of(certificate_pdf.render(odd)).split())
    assert "they print as blanks: U+F0001; U+0378." in printed
    assert "print as blanks" not in words_of(drawn())


def test_a_right_to_left_name_is_set_right_to_left_and_overrides_are_dropped() -> None:
    assert certificate_pdf.said("\u202eשרה כהן") == {"text": "שרה כהן", "dir": "rtl"}
    assert certificate_pdf.said("123 محمد") == {"text": "123 محمد", "dir": "rtl"}
    assert certificate_pdf.said("Ada") == {"text": "Ada", "dir": "ltr"}


def test_approved_reasons_and_the_rounds_consensus_statements_print() -> None:
    printed = words_of(drawn())
    assert "Patients deserve it." in printed and "We are exhausted." in printed
    assert "What should night shifts change first?" in printed
    assert "Two nurses per ward at night." in printed and "Breaks that are really taken." in printed
    assert "42 took part" in printed


def test_a_round_of_too_few_participants_says_so_without_a_number() -> None:
    base = certificate()
    quiet = base.rounds[0].model_copy(update={"participants": None})
    printed = " ".join(words_of(certificate_pdf.render(certificate(rounds=[quiet], names=[]))).split())
    assert "Too few took part to say how many" in printed


def test_a_hebrew_paragraph_of_the_body_starts_from_the_right_and_reads_right_to_left() -> None:
    body = "שכר הוגן\n\nEnglish words after it."
    pdf = certificate_pdf.render(certificate(petition={"body": body}, names=[]))
    found, (width, _) = glyphs(pdf, page=1)
    hebrew = [glyph for glyph in found if "\u0590" <= glyph.char <= "\u05ff"]
    assert width - max(glyph.right for glyph in hebrew) < width * 0.1, "from the right margin"
    where = {glyph.char: glyph.left for glyph in hebrew}
    across = [where[char] for char in "שכר"]
    assert across == sorted(across, reverse=True)


def page_texts(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


def one_line(text: str) -> str:
    return " ".join(text.split())


def test_an_over_long_name_and_role_wrap_within_their_column_and_lose_no_character() -> None:
    long = ShownName(name="W" * 80, role="Ж" * 80)  # the longest name and role, without a break
    only_names = {"rounds": [], "reasons": certificate().reasons.model_copy(update={"quoted": []})}
    pdf = certificate_pdf.render(certificate(names=[ShownName(name="Ada Lovelace", role="Nurse"), long], **only_names))
    page = next(number for number, text in enumerate(page_texts(pdf)) if "Names shown by signers" in text)
    found, (width, _) = glyphs(pdf, page=page)
    column = (width - 2 * MARGIN - 3 * NAME_GUTTER) / 4
    left, right = MARGIN + column + NAME_GUTTER, MARGIN + 2 * column + NAME_GUTTER  # the second column
    for char in "WЖ":
        drawn_here = [glyph for glyph in found if glyph.char == char]
        assert len(drawn_here) == 80, char
        assert min(glyph.left for glyph in drawn_here) >= left - 0.5, char
        assert max(glyph.right for glyph in drawn_here) <= right + 0.5, f"{char} runs past its column"
        assert len({round(glyph.bottom) for glyph in drawn_here}) > 1, f"{char} wraps onto more lines"
    words = "".join(page_texts(pdf)[page].replace(ZERO_WIDTH_SPACE, "").split())
    assert "W" * 80 in words and "Ж" * 80 in words


def test_a_right_to_left_target_is_isolated_so_the_label_stays_before_it() -> None:
    pdf = certificate_pdf.render(certificate(petition={"target": "הנהלה"}, names=[]))
    for page in (0, 1):  # the cover and the petition's page
        found, _ = glyphs(pdf, page=page)
        hebrew = [glyph for glyph in found if "\u0590" <= glyph.char <= "\u05ff"]
        line = sorted((glyph for glyph in found if abs(glyph.bottom - hebrew[0].bottom) < 3), key=lambda g: g.left)
        assert "".join(glyph.char for glyph in line).startswith("To:")
        colon = next(glyph for glyph in line if glyph.char == ":")
        assert all(glyph.left > colon.right for glyph in hebrew), "the label first, then the target"
        assert [glyph.char for glyph in sorted(hebrew, key=lambda g: -g.left)] == list("הנהלה"), "read from the right"
        assert "To: הנהלה" in page_texts(pdf)[page]


def test_the_signed_checkpoint_keeps_every_line_whole_for_the_longest_key_name() -> None:
    name = "petitions.intranet.nursing-and-care-division.example-hospital-group.org/campaigns/petitions"
    checkpoint = CHECKPOINT.replace("— petition.example ", f"— {name} ")
    base = certificate()
    pdf = certificate_pdf.render(certificate(names=[], log=base.log.model_copy(update={"checkpoint": checkpoint})))
    last = page_texts(pdf)[-1]
    assert "The signed checkpoint" in last
    lines = [line.strip() for line in last.splitlines()]
    for line in filter(None, checkpoint.split("\n")):
        assert line in lines, f"{line!r} is not one line of the page"
    found, (width, _) = glyphs(pdf, page=len(page_texts(pdf)) - 1)
    signature = [glyph for glyph in found if glyph.char == "—"]
    assert signature and max(glyph.right for glyph in found if glyph.char.strip()) <= width - MARGIN + 1


@pytest.mark.parametrize("body_lines", [3, 41])  # each left the heading alone at a page's bottom
def test_a_heading_is_never_left_alone_at_the_bottom_of_a_page(body_lines: int) -> None:
    body = "\n".join(f"Line {number} of the body." for number in range(body_lines))
    no_reasons = certificate().reasons.model_copy(update={"quoted": []})
    pages = page_texts(certificate_pdf.render(certificate(petition={"body": body}, reasons=no_reasons, rounds=[])))
    heading = next(number for number, text in enumerate(pages) if "Names shown by signers" in text)
    assert "Ada Lovelace" in pages[heading], "the heading is on the page of the names it heads"


def test_the_steps_say_which_signed_file_a_program_checks_and_set_commands_whole() -> None:
    last = page_texts(drawn())[-1]
    assert (
        "The same certificate as a signed file, safe-staffing-certificate.note, is what a program checks; its "
        "organizers download it beside this PDF." in one_line(last)
    )
    assert "This file is a C2SP signed note" not in last, "the PDF is not the signed note"
    command = f"python -m petition.verify --certificate safe-staffing-certificate.note {URL}"
    assert command in one_line(re.sub(r"/\s*\n", "/", last)), "whole, where it may break only after a '/'"
    assert "http://\n" not in last, "an address's scheme stays with its host"
    assert not any(line.rstrip().endswith("-") for line in last.splitlines()), "nothing hyphen-broken"


def test_the_steps_take_the_certificates_words_and_mark_what_is_typed() -> None:
    assert certificate_pdf.steps(
        [
            "This file is a C2SP signed note.",
            "Take the verifier: https://p.example/verify.py (and pip install cryptography).",
            "Check it: python verify.py --certificate FILE https://p.example/p/x (or another way).",
            "Compare the key.",
        ],
        "x-certificate.note",
    ) == [
        [
            {"text": "Take the verifier: ", "typed": False},
            {"text": "https://p.example/verify.py", "typed": True},
            {"text": " (and ", "typed": False},
            {"text": "pip install cryptography", "typed": True},
            {"text": ").", "typed": False},
        ],
        [
            {"text": "Check it: ", "typed": False},
            {"text": "python verify.py --certificate x-certificate.note https://p.example/p/x", "typed": True},
            {"text": " (or another way).", "typed": False},
        ],
        [{"text": "Compare the key.", "typed": False}],
    ]


@pytest.mark.parametrize("paper", ["a4", "letter"])
def test_a_long_address_in_the_steps_stays_in_order_and_within_the_lines(paper: str) -> None:
    pdf = certificate_pdf.render(certificate_at(LONG_SERVICE, LONG_SLUG, names=[]), paper=paper)
    pages = page_texts(pdf)
    page = next(number for number, text in enumerate(pages) if "Steps" in text)
    # In reading order, lines joined where they break: each address and command is whole, in order.
    read = pages[page].replace("\n", "")
    note, url = f"{LONG_SLUG}-certificate.note", f"{LONG_SERVICE}/p/{LONG_SLUG}"
    for typed in (
        f"{LONG_SERVICE}/verify.py (it needs",
        "pip install cryptography",
        f"python verify.py --certificate {note} (this alone",
        f"python verify.py --certificate {note} {url} (where",
        f"python -m petition.verify --certificate {note} {url})",
        f"{LONG_SERVICE}/api/v1/log/key, or",
    ):
        assert typed in read, typed
    found, (width, _) = glyphs(pdf, page=page)
    printed = [glyph for glyph in found if glyph.char.strip()]
    assert max(glyph.right for glyph in printed) <= width - MARGIN + 0.5, "nothing right of the text area"
    assert min(glyph.left for glyph in printed) >= MARGIN - 0.5
    # Drawn in reading order: each character right of the one before on its line, or on a line below.
    for before, after in itertools.pairwise(printed):
        below = after.top <= before.bottom + 0.5
        beside = after.bottom < before.top and after.top > before.bottom and after.left >= before.left
        assert below or beside, f"{after} is drawn out of order after {before}"


def baseline_of(pdf: bytes, page: int, words: str) -> float:
    """Where the first character of `words` on a page stands: its baseline, in points from the bottom."""
    document = pypdfium2.PdfDocument(pdf)
    try:
        textpage = document[page].get_textpage()
        at = textpage.get_text_range(0, textpage.count_chars()).index(words)
        x, y = pdfium.c_double(), pdfium.c_double()
        assert pdfium.FPDFText_GetCharOrigin(textpage, at, x, y)
        return y.value
    finally:
        document.close()


def test_the_logs_labels_stand_on_their_values_baselines_however_small_a_long_value_is_set() -> None:
    made = certificate_at(LONG_SERVICE, LONG_SLUG, names=[])
    pdf = certificate_pdf.render(made)
    page = next(number for number, text in enumerate(page_texts(pdf)) if "Verifier key" in text)
    log = made.log
    for label, value in (("Origin", log.origin), ("Tree size", "1620"), ("Root", log.root), ("Verifier key", log.vkey)):
        assert baseline_of(pdf, page, label) == pytest.approx(baseline_of(pdf, page, value), abs=0.2), label


@pytest.mark.parametrize(
    ("methods", "says", "never"),
    [
        (["email"], "One signature per work address;", "printed code"),
        (["code"], "One signature per printed code;", "work address"),
        (["email", "code"], "One signature per work address and one per printed code;", None),
    ],
)
def test_the_duplicate_rule_is_worded_for_the_petitions_methods(methods: list[str], says: str, never: str) -> None:
    sentence = duplicates(methods)
    assert sentence.startswith(says) and "withdraw" in sentence
    assert never is None or never not in sentence
    assert duplicates(["email", "code"]) == DUPLICATES


def test_a_purged_petition_says_on_its_cover_and_verification_page_when_its_data_was_destroyed() -> None:
    purged = {"state": "closed", "closed_at": "2026-06-20T00:00:00+02:00", "purged_at": "2026-07-01T00:00:00+02:00"}
    pages = [one_line(text) for text in page_texts(certificate_pdf.render(certificate(petition=purged, names=[])))]
    assert "Its identifying data was destroyed on 1 July 2026 (its log ends with the purge record)." in pages[0]
    assert "identifying data was destroyed on 1 July 2026: its log ends with the purge record" in pages[-1]
    assert "destroyed" not in words_of(drawn()), "not before the purge"


# -- the routes: the petition's organizers only, on SQLite and PostgreSQL -------------------------------

SHOWN = ("Yolanda Shownname", "ياسمين الظاهر")
HIDDEN = "Hiddenname Certificateperson"


async def counted_petition(app: Starlette, client: httpx.AsyncClient, token: str) -> str:
    """An open petition of printed codes with three counted signatures: two shown names, one hidden."""
    slug = await open_petition(client, token)
    codes = await make_codes(client, token, slug, 3)
    for code, (name, shown) in zip(codes, [(SHOWN[0], True), (SHOWN[1], True), (HIDDEN, False)], strict=True):
        assert (await sign(client, slug, code, name=name, role="Porter", show_name=shown)).status_code == 201
    await count_everything(app)
    return slug


@pytest.mark.usefixtures("organizer")
async def test_organizers_download_the_pdf_with_the_count_the_shown_names_and_a_qr_code_to_the_page(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await counted_petition(app, client, token)
    answer = await client.get(f"/api/v1/petitions/{slug}/certificate.pdf", headers=bearer(token))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["content-disposition"] == f"attachment; filename={slug}-certificate.pdf"
    pdf = answer.content
    printed = " ".join(words_of(pdf).split())
    assert "3 people holding a single-use printed code signed" in printed
    assert "One signature per printed code" in printed and "work address" not in printed, "its methods' rules"
    assert "Safe staffing" in printed or slug in printed
    for word in " ".join(SHOWN).split():
        assert word in printed
    assert HIDDEN not in printed and "Hiddenname" not in printed and HIDDEN.encode() not in pdf
    assert decode(pdf)[0] == [f"{BASE_URL}/p/{slug}"]
    used = fonts_of(pdf)
    assert used and all(used.values())
    letter = await client.get(f"/api/v1/petitions/{slug}/certificate.pdf?paper=letter", headers=bearer(token))
    box = PdfReader(io.BytesIO(letter.content)).pages[0].mediabox
    assert (float(box.width), float(box.height)) == pytest.approx((612, 792), abs=0.1)


@pytest.mark.usefixtures("organizer")
async def test_the_signed_in_organizer_downloads_it_from_the_dashboard(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await counted_petition(app, client, token)
    await log_in(client, "alice@example.org")
    pid = await petition_id(app.state.db, slug)
    overview = await client.get(f"/organize/petitions/{pid}")
    link = f"/organize/petitions/{pid}/certificate.pdf?paper=letter"
    assert link in overview.text
    answer = await client.get(link)
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/pdf"
    assert answer.headers["cache-control"] == "no-store"
    box = PdfReader(io.BytesIO(answer.content)).pages[0].mediabox
    assert (float(box.width), float(box.height)) == pytest.approx((612, 792), abs=0.1)


@pytest.mark.usefixtures("organizer")
async def test_an_unknown_paper_or_parameter_is_422_on_both_routes_and_changes_nothing(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await counted_petition(app, client, token)
    before = (await client.get(f"/api/v1/petitions/{slug}", headers=bearer(token))).json()
    for query in ("paper=a3", "paper=", "paper=A4", "paper=a4&format=png"):
        answer = await client.get(f"/api/v1/petitions/{slug}/certificate.pdf?{query}", headers=bearer(token))
        assert answer.status_code == 422, query
        error = answer.json()["error"]
        assert error["code"] and ("paper" in error["message"] or "format" in error["message"]), error
    await log_in(client, "alice@example.org")
    pid = await petition_id(app.state.db, slug)
    for query in ("paper=a3", "paper=a4&format=png"):
        page = await client.get(f"/organize/petitions/{pid}/certificate.pdf?{query}")
        assert page.status_code == 422 and "a4 or letter" in page.text and "Traceback" not in page.text
    assert (await client.get(f"/api/v1/petitions/{slug}", headers=bearer(token))).json() == before


@pytest.mark.usefixtures("organizer")
async def test_a_draft_another_organizer_and_the_public_get_no_pdf(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await counted_petition(app, client, token)
    draft = (await create(client, token)).json()["id"]
    path = "/api/v1/petitions/{}/certificate.pdf"
    refused = await client.get(path.format(draft), headers=bearer(token))
    assert refused.status_code == 409 and "draft" in refused.json()["error"]["message"]
    other = await other_organizer_token(app)
    for key in (slug, draft):
        assert (await client.get(path.format(key), headers=bearer(other))).status_code == 404
        assert (await client.get(path.format(key))).status_code == 401
    pid = await petition_id(app.state.db, slug)
    assert (await client.get(f"/organize/petitions/{pid}/certificate.pdf")).status_code == 303, "to the login"
    await log_in(client, "alice@example.org")
    page = await client.get(f"/organize/petitions/{draft}/certificate.pdf")
    assert page.status_code == 409 and "publish" in page.text.lower()
    overview = await client.get(f"/organize/petitions/{draft}")
    assert "certificate.pdf" not in overview.text


def test_the_layout_gets_only_the_font_families_its_words_need_in_the_stacks_order() -> None:
    library = fonts.library()
    need(NOTO, there=all(library.has(f) for f in ("Noto Sans", "Noto Sans CJK JP", "Noto Sans Devanagari")))
    given = json.loads(certificate_pdf.inputs(certificate(), "a4")["certificate"])["fonts"]
    stack = library.stack(certificate_pdf.STACK_LANGUAGE).families
    assert given == [family for family in stack if family in given], "the stack's order"
    for family in ("Noto Sans", "Noto Sans Arabic", "Noto Sans Hebrew", "Noto Sans Devanagari", "Noto Sans CJK JP"):
        assert family in given
    assert "Noto Sans Thai" not in given and len(given) < len(stack) / 4
    latin = certificate(names=[], reasons=certificate().reasons.model_copy(update={"quoted": []}))
    assert "Noto Sans Arabic" not in json.loads(certificate_pdf.inputs(latin, "a4")["certificate"])["fonts"]

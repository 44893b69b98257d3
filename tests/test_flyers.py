"""Flyer layouts, read back the way a person would read them: QR codes from printed pixels, words from the PDF.

Each PDF is turned into an image the way a printer would see it (PDFium, 150 dpi) and every QR
code on it is decoded from the pixels (zxing-cpp). Words come back out of the PDF with their
boxes (PDFium), which shows where each letter was drawn. These tests need only the fonts every
machine with the service has (DejaVu, or Typst's own); Chinese, Japanese, Devanagari and emoji,
which need the Noto packages, are in test_flyer_scripts.py.
"""

from __future__ import annotations

import itertools
import shutil
import unicodedata
from pathlib import Path

import pytest

from petition import flyers, fonts

from .printed import PRINT_DPI, decode, glyphs, page_images, text
from .printed import fonts as fonts_of

TEXT = flyers.FlyerText(
    title="Safe staffing on every ward",
    summary="Two nurses on every night shift. Ελληνικά, кириллица, and Latin: all printed.",
    target="The hospital board",
    url="http://127.0.0.1:8000/f/K7Q2MXY4",
    short_url="127.0.0.1:8000/f/K7Q2MXY4",
    goal=1500,
)
# Titles that ran off the page when widths were guessed per character.
CAPITALS = "WE WANT MANDATORY WEEKEND WORK WITHDRAWN"
ONE_LONG_WORD = "Unterschriftensammlung" * 5 + "Ende!"  # 115 letters, no space to break at
LONGEST = ("WE WANT SAFE STAFFING ON EVERY WARD " * 4)[:120]  # as long as a title may be
MIXED = "Ίση αμοιβή — Равная оплата — أجر متساو للجميع — שכר שווה"
LONG_HEBREW = "שכר שווה לעבודה שווה בכל המשמרות ובכל המחלקות של בית החולים, מהיום ועד סוף השנה הבאה"
# Most office printers leave this much of each edge of the sheet blank.
UNPRINTED_MM = 4


WORDS_TO_TYPE = flyers.WORDS["type"]


def tabs(count: int) -> list[flyers.Tab]:
    codes = [f"ABCD-EFGH-JKMN-{n:04d}" for n in range(count)]
    return [flyers.Tab(code=code, url=f"http://127.0.0.1:8000/p/safe-staffing?code={code}") for code in codes]


def with_title(title: str, language: str = "en") -> flyers.FlyerText:
    return flyers.FlyerText(title, TEXT.summary, TEXT.target, TEXT.url, TEXT.short_url, 1500, language)


def flat(words: str) -> str:
    """Words without spaces, line breaks or the invisible break points added inside long words."""
    return "".join(char for char in words if not char.isspace() and unicodedata.category(char) != "Cf")


def sheet(layout: str, text: flyers.FlyerText, paper: str = "a4", copies: int = 1) -> flyers.Flyer:
    return flyers.Flyer(layout, paper, text, copies=copies, tabs=tabs(flyers.tabs_per_page(layout) * copies))


@pytest.mark.parametrize("paper", sorted(flyers.PAPERS))
@pytest.mark.parametrize("layout", flyers.LAYOUTS)
def test_every_layout_scans_back_to_its_addresses_at_both_paper_sizes(layout: str, paper: str) -> None:
    per_page = flyers.tabs_per_page(layout)
    flyer = sheet(layout, TEXT, paper, copies=2)
    pages = decode(flyers.to_pdf(flyer))
    assert len(pages) == 2
    for number, found in enumerate(pages):
        expected = [TEXT.url] * (2 if layout == "handout" else 1)
        expected += [tab.url for tab in flyer.tabs[number * per_page : (number + 1) * per_page]]
        assert found == sorted(expected), f"page {number + 1}"


def test_a_large_batch_is_drawn_in_parts_and_every_page_keeps_its_own_codes() -> None:
    copies = flyers.SHEETS_PER_PART + 2
    flyer = sheet("tearoff", TEXT, copies=copies)
    progress: list[int] = []
    pages = decode(flyers.to_pdf(flyer, progress.append))
    assert progress == [flyers.SHEETS_PER_PART, copies]
    assert len(pages) == copies
    last = pages[-1]
    assert sorted(tab.url for tab in flyer.tabs[-10:]) == [url for url in last if url != TEXT.url]


def test_fonts_are_embedded_and_greek_and_cyrillic_print() -> None:
    pdf = flyers.to_pdf(sheet("poster", TEXT))
    used = fonts_of(pdf)
    assert used and all(used.values()), used
    printed = text(pdf)
    assert "Ελληνικά" in printed and "кириллица" in printed
    assert flyers.PRIVACY_LINE.split(".")[0] in " ".join(printed.split())


@pytest.mark.parametrize(
    ("title", "language"),
    [("أجر متساو للجميع", "ar"), ("שכר שווה לכולם", "he"), ("Ίση αμοιβή για όλους", "el"), (MIXED, "en")],
)
def test_the_title_comes_back_out_of_the_pdf_in_arabic_hebrew_and_greek(title: str, language: str) -> None:
    assert flyers.missing_characters(with_title(title, language)) == []
    printed = text(flyers.to_pdf(sheet("poster", with_title(title, language))))
    for word in title.split():
        assert word in printed, f"{word!r} not in {printed!r}"


@pytest.mark.parametrize(("title", "language"), [("שכר הוגן", "he"), ("أجر عادل", "ar"), ("שכר הוגן", "en")])
def test_a_right_to_left_title_is_drawn_right_to_left(title: str, language: str) -> None:
    """Each letter of the title (all different) lies left of the one before it, as a reader reads them.

    Drawn letter by letter from the left, as cairo's plain text calls did, this fails.
    """
    found, _ = glyphs(flyers.to_pdf(sheet("poster", with_title(title, language))))
    letters = [char for char in title if not char.isspace()]
    where = {glyph.char: (glyph.left + glyph.right) / 2 for glyph in found if glyph.char in letters}
    assert set(where) == set(letters)
    across = [where[char] for char in letters]
    assert across == sorted(across, reverse=True), across


def test_the_petitions_language_sets_the_side_its_lines_start_from() -> None:
    def title_edges(language: str) -> tuple[float, float, float]:
        found, (width, _) = glyphs(flyers.to_pdf(sheet("poster", with_title("שכר הוגן", language))))
        hebrew = [glyph for glyph in found if "\u0590" <= glyph.char <= "\u05ff"]
        return min(g.left for g in hebrew), max(g.right for g in hebrew), width

    left, right, width = title_edges("he")
    assert width - right < width * 0.1 and left > width / 2, "Hebrew: from the right"
    left, right, width = title_edges("en")
    assert left < width * 0.1 and right < width / 2, "English (a Hebrew title in it): from the left"


TITLES = [(CAPITALS, "en"), (ONE_LONG_WORD, "en"), (LONGEST, "en"), (MIXED, "en"), (LONG_HEBREW, "he")]


@pytest.mark.parametrize("paper", sorted(flyers.PAPERS))
@pytest.mark.parametrize(("title", "language"), TITLES)
@pytest.mark.parametrize("layout", flyers.LAYOUTS)
def test_every_title_fits_every_layout(layout: str, title: str, language: str, paper: str) -> None:
    """Nothing leaves the page or inks the edge a printer cannot reach, and nothing is pushed off:
    the call to action keeps the address to type, every QR code scans, every word of the title prints."""
    flyer = sheet(layout, with_title(title, language), paper=paper)
    pdf = flyers.to_pdf(flyer)
    found, (width, height) = glyphs(pdf)
    drawn = [glyph for glyph in found if not glyph.char.isspace()]
    assert drawn
    for glyph in drawn:
        assert glyph.left >= 0 and glyph.right <= width and glyph.bottom >= 0 and glyph.top <= height, glyph
    # Ink, read from the printed image: nothing dark where most printers cannot print.
    [image] = page_images(pdf)
    grey = image.convert("L")
    edge = round(UNPRINTED_MM / 25.4 * PRINT_DPI)
    for box in (
        (0, 0, edge, grey.height),
        (grey.width - edge, 0, grey.width, grey.height),
        (0, 0, grey.width, edge),
        (0, grey.height - edge, grey.width, grey.height),
    ):
        darkest, _ = grey.crop(box).getextrema()
        assert darkest > 128, f"ink within {UNPRINTED_MM} mm of the edge, in {box}"
    cards = 2 if layout == "handout" else 1
    assert flat(text(pdf)).count(flat(WORDS_TO_TYPE)) == cards
    assert flat(text(pdf)).count(flat(TEXT.short_url)) == cards + len(flyer.tabs)
    [codes] = decode(pdf)
    assert TEXT.url in codes and len(codes) == len(flyer.tabs) + cards
    printed = flat(text(pdf))
    for word in title.split():
        assert word in printed, f"{word!r} is printed whole on the page"
    if layout == "tearoff" and title == LONGEST:
        on_tabs = flat("".join(glyph.char for glyph in found if glyph.top <= height * 0.25))
        assert on_tabs.count("…") == len(flyer.tabs), "cut on the tabs, saying so"


@pytest.mark.parametrize("layout", flyers.LAYOUTS)
def test_every_layout_calls_to_action_with_the_goal_and_the_address_to_type(layout: str) -> None:
    printed = " ".join(text(flyers.to_pdf(sheet(layout, TEXT))).split())
    copies = 2 if layout == "handout" else 1
    assert printed.count("Scan to sign") == copies
    assert printed.count("Help us reach 1,500 signatures.") == copies
    assert printed.count(TEXT.short_url) >= copies


@pytest.mark.parametrize("layout", flyers.LAYOUTS)
def test_whom_it_is_addressed_to_prints_whole_in_any_script(layout: str) -> None:
    board = flyers.FlyerText("أجر عادل", "نريد أجرا عادلا", "مجلس الإدارة", TEXT.url, TEXT.short_url, language="ar")
    printed = text(flyers.to_pdf(flyers.Flyer(layout, "letter", board, tabs=tabs(flyers.tabs_per_page(layout)))))
    # (PDFium reads the lam-alef ligature of الإدارة back as its letters in another order.)
    addressed = next(line for line in printed.splitlines() if "To" in line)
    assert "مجلس" in addressed and "…" not in addressed, addressed


def test_a_petition_without_a_goal_prints_no_goal_line() -> None:
    aimless = flyers.FlyerText(TEXT.title, TEXT.summary, TEXT.target, TEXT.url, TEXT.short_url)
    assert "Help us reach" not in text(flyers.to_pdf(sheet("poster", aimless)))


def test_each_tear_off_tab_says_what_it_is_for() -> None:
    """A torn tab in a pocket: its code, the petition's title and the short address to type."""
    flyer = sheet("tearoff", TEXT)
    found, (_, height) = glyphs(flyers.to_pdf(flyer))
    tab_top = height * 0.25  # the tabs are the bottom quarter of the page
    on_tabs = flat("".join(glyph.char for glyph in found if glyph.top <= tab_top))
    for tab in flyer.tabs:
        assert tab.code in on_tabs
    # A code is typed: it is never broken across lines (its letters share one column on the tab).
    letters = [glyph for glyph in found if not glyph.char.isspace()]
    joined = "".join(glyph.char for glyph in letters)
    for tab in flyer.tabs:
        start = joined.index(tab.code)
        columns = [(glyph.left + glyph.right) / 2 for glyph in letters[start : start + len(tab.code)]]
        assert max(columns) - min(columns) < 2, f"{tab.code} runs along one line"
    assert on_tabs.count(flat(TEXT.title)) == len(flyer.tabs)
    assert on_tabs.count(flat(TEXT.short_url)) == len(flyer.tabs)


def test_the_empty_page_is_gone_the_call_to_action_sits_between_the_words_and_the_foot() -> None:
    found, (_, height) = glyphs(flyers.to_pdf(sheet("poster", with_title("Fair pay"))))
    lines = sorted({round(glyph.bottom / height, 1) for glyph in found if not glyph.char.isspace()})
    gaps = [upper - lower for lower, upper in itertools.pairwise(lines)]
    # The QR code fills what text does not: no band of a third of the page without text or code.
    assert max(gaps) < 1 / 3 + 0.01, lines


def test_a_character_no_font_has_is_reported_before_drawing() -> None:
    unprintable = "\U000f0000"  # private use: no font has it
    text_with = with_title(f"Safe staffing {unprintable} now \u0378")
    assert flyers.missing_characters(text_with) == [unprintable, "\u0378"]
    assert flyers.missing_characters(with_title("Safe staffing\u200d now\ufe0f")) == [], "joiners print nothing"


def test_without_large_fonts_the_service_still_draws_and_names_what_it_cannot_print(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(fonts, "_library", fonts.Library(extra=(), system=False))
    japanese = flyers.FlyerText("夜勤に同一賃金を", "Plain words", "The board", TEXT.url, TEXT.short_url, language="ja")
    assert flyers.missing_characters(japanese) == list("夜勤に同一賃金を")
    assert decode(flyers.to_pdf(sheet("poster", japanese))) == [[TEXT.url]]


def test_svg_and_png_are_one_page_each() -> None:
    flyer = sheet("tearoff", TEXT, paper="letter")
    svg = flyers.to_svg(flyer)
    assert svg.startswith(b"<svg") and b'width="612pt" height="792pt"' in svg[:300], "one US Letter page"
    assert flyers.to_png(flyer).startswith(b"\x89PNG\r\n")


def test_fonts_a_designer_adds_come_first(tmp_path: Path) -> None:
    installed = fonts.Library(extra=())
    serif = next(info for info in installed.typst_fonts.fonts() if info.path and info.family == "DejaVu Serif")
    shutil.copy(serif.path, tmp_path / Path(serif.path).name)
    stack = fonts.Library(extra=(tmp_path,)).stack("en")
    assert stack.families[0] == "DejaVu Serif" and stack.families[-1] == fonts.FALLBACK
    assert "DejaVu Serif" not in installed.stack("en").families, "otherwise only what is in the stack is used"

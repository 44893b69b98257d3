"""Flyer layouts: every layout at both paper sizes scans back to the right addresses from a printed image.

Each PDF is turned into an image the way a printer would see it (PDFium, 150 dpi) and every
QR code on it is decoded from the pixels (zxing-cpp), never from text inside the file.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from petition import flyers

from .printed import decode, fonts, text

TEXT = flyers.FlyerText(
    title="Safe staffing on every ward",
    summary="Two nurses on every night shift. Ελληνικά, кириллица, and Latin: all printed.",
    target="The hospital board",
    url="http://127.0.0.1:8000/f/K7Q2MXY4",
    short_url="127.0.0.1:8000/f/K7Q2MXY4",
)
LONG_TITLE = "Safe staffing on every ward " * 12


def tabs(count: int) -> list[flyers.Tab]:
    codes = [f"ABCD-EFGH-JKMN-{n:04d}" for n in range(count)]
    return [flyers.Tab(code=code, url=f"http://127.0.0.1:8000/p/safe-staffing?code={code}") for code in codes]


@pytest.mark.parametrize("paper", sorted(flyers.PAPERS))
@pytest.mark.parametrize("layout", flyers.LAYOUTS)
def test_every_layout_scans_back_to_its_addresses_at_both_paper_sizes(layout: str, paper: str) -> None:
    per_page = flyers.tabs_per_page(layout)
    batch = tabs(per_page * 2)
    pdf = flyers.to_pdf(flyers.pages(layout, paper, TEXT, copies=2, tabs=batch))
    pages = decode(pdf)
    assert len(pages) == 2
    for number, found in enumerate(pages):
        expected = [TEXT.url] * (2 if layout == "handout" else 1)
        expected += [tab.url for tab in batch[number * per_page : (number + 1) * per_page]]
        assert found == sorted(expected), f"page {number + 1}"


def test_fonts_are_embedded_and_greek_and_cyrillic_print() -> None:
    pdf = flyers.to_pdf(flyers.pages("poster", "a4", TEXT))
    used = fonts(pdf)
    assert used and all(used.values()), used
    printed = text(pdf)
    assert "Ελληνικά" in printed and "кириллица" in printed
    assert flyers.PRIVACY_LINE.split(".")[0] in " ".join(printed.split())


def test_a_long_title_shrinks_and_wraps_within_the_page() -> None:
    width = flyers.PAPERS["a4"][0] * 0.86
    wrapped = flyers.wrap(LONG_TITLE, width, 16, 3, 8)
    assert len(wrapped.lines) <= 3 and wrapped.size < 16
    assert all(len(line) * wrapped.size * flyers.EM_PER_CHAR <= width for line in wrapped.lines)
    assert wrapped.lines[-1].endswith("…"), "cut, and saying so, when even the smallest type is too big"
    long = flyers.FlyerText(LONG_TITLE, TEXT.summary * 3, TEXT.target, TEXT.url, TEXT.short_url)
    svg = flyers.pages("poster", "letter", long)[0]
    ET.fromstring(svg)
    assert decode(flyers.to_pdf([svg])) == [[TEXT.url]], "the QR code still scans"


def test_svg_and_png_are_one_page_each() -> None:
    [svg] = flyers.pages("tearoff", "letter", TEXT, tabs=tabs(3))
    root = ET.fromstring(svg)
    assert root.get("width") == "215.9mm" and root.get("viewBox") == "0 0 215.9 279.4"
    assert flyers.to_png(svg).startswith(b"\x89PNG\r\n")

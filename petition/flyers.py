"""Printable flyers: layouts in flyers/ typeset by Typst into PDF, SVG and PNG.

A layout is a Typst file of one sheet, in millimetres, so a designer can add one without touching
Python. It gets the paper size, the petition's words, the QR codes (as SVG) and the tear-off tabs
of each sheet as JSON (`sys.inputs.flyer`), and helpers from `flyers/_lib.typ`: `fit` (text that
fits a box, measured with the real fonts, shrinking then cut with "…"), `qr` and `typed`.

Typst shapes text (rustybuzz, HarfBuzz's rules), orders it by the Unicode bidirectional algorithm
and embeds the glyphs it uses; `fonts.py` chooses the fonts per language and names the characters
none of them has, so nothing prints as an empty box unannounced.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import qrcode
import typst
from pypdf import PdfReader, PdfWriter

from . import fonts, languages
from .text import without_forbidden

FLYERS_DIR = Path(__file__).resolve().parent.parent / "flyers"
LAYOUTS = ("poster", "handout", "tearoff")
PAPERS = {"a4": (210.0, 297.0), "letter": (215.9, 279.4)}
PRIVACY_LINE = "Scan with your own phone on mobile data, not a work device or office Wi-Fi. We never store who signs."
# The flyer's own words around the petition's (the service's interface is in English).
WORDS = {
    "to": "To:",
    "scan": "Scan to sign",
    "type": "or type this address:",
    "tab_code": "Single-use code.",
    "tab_address": "Scan it, or type it at:",
}
PNG_DPI = 150
QUICK_MASK = 2
# Sheets typeset at a time: a large batch is drawn in parts, so its progress can be shown and its
# memory stays bounded (each part's fonts are subset on their own).
SHEETS_PER_PART = 10
TABS_LINE = re.compile(r"^// tabs-per-page: (\d+)$", re.MULTILINE)


@dataclass(frozen=True)
class Tab:
    """A tear-off tab: a single-use code and the signing address that carries it."""

    code: str
    url: str


def qr(url: str, quick: bool = False) -> str:
    """A QR code of `url` as an SVG document, one unit a module, the quiet zone included.

    `quick` takes a fixed mask instead of scoring all eight (qrcode spends most of its time
    there): for the many small tab codes of a tear-off batch, which every test decodes.
    """
    code = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M, border=4, mask_pattern=QUICK_MASK if quick else None
    )
    code.add_data(url)
    code.make(fit=True)
    matrix = code.get_matrix()
    parts = []
    for row, cells in enumerate(matrix):
        column = 0
        while column < len(cells):
            if cells[column]:
                start = column
                while column < len(cells) and cells[column]:
                    column += 1
                parts.append(f"M{start} {row}h{column - start}v1h-{column - start}z")  # a run of dark modules
            else:
                column += 1
    size = len(matrix)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}" shape-rendering="crispEdges">'
        f'<rect width="{size}" height="{size}" fill="#fff"/><path d="{"".join(parts)}" fill="#000"/></svg>'
    )


@dataclass(frozen=True)
class FlyerText:
    """What a flyer says: the petition's words, its goal, its language, and where it leads."""

    title: str
    summary: str
    target: str
    url: str  # the address in the big QR code
    short_url: str  # the same, short enough to type, printed under it
    goal: int | None = None  # signatures the petition aims for
    language: str = languages.DEFAULT  # BCP 47: picks the font faces and the base direction

    def words(self) -> str:
        """Everything of the petition's own that is printed (what must have glyphs)."""
        return "\n".join((self.title, self.summary, self.target))


@dataclass(frozen=True)
class Flyer:
    """A batch to draw: `copies` sheets of a layout, each tear-off sheet with its share of `tabs`."""

    layout: str
    paper: str
    text: FlyerText
    copies: int = 1
    tabs: Sequence[Tab] = ()

    @cached_property
    def code(self) -> str:
        """The big QR code, made once for every part of the batch (choosing its mask is slow)."""
        return qr(self.text.url)

    def sheets(self, first: int, last: int) -> list[dict[str, object]]:
        """Sheets `first` to `last` (1-based, inclusive), with their tabs' QR codes."""
        per_page = tabs_per_page(self.layout)
        out = []
        for number in range(first, last + 1):
            share = self.tabs[(number - 1) * per_page : number * per_page] if per_page else []
            tabs = [{"code": tab.code, "url": tab.url, "qr": qr(tab.url, quick=True)} for tab in share]
            out.append({"number": number, "tabs": tabs})
        return out


def missing_characters(text: FlyerText) -> list[str]:
    """The characters of the petition's words that no installed font has (they would not print)."""
    return fonts.library().stack(text.language).missing(text.words())


def tabs_per_page(layout: str) -> int:
    """How many tear-off tabs a sheet of the layout has: its `// tabs-per-page: N` line, else 0."""
    found = TABS_LINE.search((FLYERS_DIR / f"{layout}.typ").read_text())
    return int(found.group(1)) if found else 0


def _inputs(flyer: Flyer, first: int, last: int) -> dict[str, str]:
    text = flyer.text
    width, height = PAPERS[flyer.paper]
    stack = fonts.library().stack(text.language)
    direction = languages.direction(text.language)
    goal = f"Help us reach {text.goal:,} signatures." if text.goal else None
    data = {
        "width": width,
        "height": height,
        # Overrides and what XML forbids are dropped, as on every page: stored before the rule existed.
        "text": {
            "title": without_forbidden(text.title),
            "summary": without_forbidden(text.summary),
            "target": without_forbidden(text.target),
            "url": text.url,
            "short_url": text.short_url,
            "qr": flyer.code,
        },
        # Before a right-to-left name, "To:" is isolated (LRI … PDI), so it stays "To:" and at the start.
        "words": {**WORDS, "goal": goal, "to": f"\u2066{WORDS['to']}\u2069" if direction == "rtl" else WORDS["to"]},
        "privacy": PRIVACY_LINE,
        "fonts": list(stack.families),
        "mono": [fonts.MONOSPACE, *stack.families],
        "lang": languages.primary(text.language),
        "region": languages.region(text.language),
        "dir": direction,
        "tabs_per_page": tabs_per_page(flyer.layout),
        "sheets": flyer.sheets(first, last),
    }
    return {"flyer": json.dumps(data, ensure_ascii=False)}


def _typeset(flyer: Flyer, first: int, last: int, kind: str) -> bytes | list[bytes]:
    compiler = typst.Compiler(root=str(FLYERS_DIR), font_paths=fonts.library().typst_fonts, ignore_system_fonts=True)
    out = compiler.compile(
        str(FLYERS_DIR / f"{flyer.layout}.typ"),
        format=kind,
        ppi=PNG_DPI if kind == "png" else None,
        sys_inputs=_inputs(flyer, first, last),
        timestamp=0,
    )
    assert out is not None
    return out


def _one(flyer: Flyer, page: int, kind: str) -> bytes:
    out = _typeset(flyer, page, page, kind)
    return out if isinstance(out, bytes) else out[0]


def to_png(flyer: Flyer, page: int = 1) -> bytes:
    """Sheet `page` as a PNG image at 150 dpi."""
    return _one(flyer, page, "png")


def to_svg(flyer: Flyer, page: int = 1) -> bytes:
    """Sheet `page` as an SVG image (text as outlined glyphs: it shows the same on every machine)."""
    return _one(flyer, page, "svg")


def to_pdf(flyer: Flyer, progress: Callable[[int], None] | None = None) -> bytes:
    """One PDF of every sheet, the glyphs it uses embedded.

    `progress(sheets drawn so far)` is called after each part of SHEETS_PER_PART sheets (from the
    drawing thread).
    """
    parts = []
    for first in range(1, flyer.copies + 1, SHEETS_PER_PART):
        last = min(flyer.copies, first + SHEETS_PER_PART - 1)
        part = _typeset(flyer, first, last, "pdf")
        assert isinstance(part, bytes)
        parts.append(part)
        if progress is not None:
            progress(last)
    if len(parts) == 1:
        return parts[0]
    writer = PdfWriter()
    for part in parts:
        writer.append(PdfReader(io.BytesIO(part)))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()

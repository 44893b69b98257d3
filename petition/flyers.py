"""Printable flyers: layouts in flyers/ drawn as SVG, then turned into PDF and PNG.

A layout is a Jinja template of one SVG page, in millimetres, so a designer can add one
without touching Python. It gets the paper size, the petition's words, and three helpers:
`wrap` (lines that fit a width, shrinking the type when there are too many), `qr` (a QR
code as one SVG path, drawn at a place and size) and `tabs` (the tear-off tabs of the page).
PDF pages are drawn by cairo with the fonts embedded (DejaVu Sans: Latin, Greek, Cyrillic).
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import qrcode
from markupsafe import Markup
from pypdf import PdfReader, PdfWriter

from . import templates

FLYERS_DIR = Path(__file__).resolve().parent.parent / "flyers"
LAYOUTS = ("poster", "handout", "tearoff")
PAPERS = {"a4": (210.0, 297.0), "letter": (215.9, 279.4)}
PRIVACY_LINE = "Scan with your own phone on mobile data, not a work device or office Wi-Fi. We never store who signs."
# DejaVu Sans, bold, averages about this many em per character (wider than the regular face).
EM_PER_CHAR = 0.62
PNG_DPI = 150
QUICK_MASK = 2
TABS_LINE = re.compile(r"<!-- tabs-per-page: (\d+) -->")


@dataclass(frozen=True)
class Tab:
    """A tear-off tab: a single-use code and the signing address that carries it."""

    code: str
    url: str


@dataclass(frozen=True)
class Wrapped:
    lines: list[str]
    size: float  # the type size chosen, in millimetres


def wrap(text: str, width: float, size: float, max_lines: int, smallest: float | None = None) -> Wrapped:
    """Words in lines no wider than `width` mm; the type shrinks (to `smallest`) until they fit `max_lines`."""
    floor = smallest or size * 0.5
    current = size
    while True:
        per_line = max(1, int(width / (current * EM_PER_CHAR)))
        lines = _lines(text, per_line)
        if len(lines) <= max_lines or current <= floor:
            if len(lines) > max_lines:  # still too long at the smallest size: cut, and say so
                lines = lines[:max_lines]
                lines[-1] = lines[-1][: max(1, per_line - 1)].rstrip() + "…"
            return Wrapped(lines, round(current, 2))
        current = max(floor, current * 0.9)


def _lines(text: str, per_line: int) -> list[str]:
    lines: list[str] = []
    line = ""
    for word in text.split():
        while len(word) > per_line:  # a word longer than a line is broken
            if line:
                lines.append(line)
                line = ""
            lines.append(word[:per_line])
            word = word[per_line:]
        candidate = f"{line} {word}".strip()
        if len(candidate) <= per_line:
            line = candidate
        else:
            lines.append(line)
            line = word
    if line:
        lines.append(line)
    return lines or [""]


def qr(url: str, x: float, y: float, size: float, quick: bool = False) -> Markup:
    """A QR code of `url` as one black SVG path, `size` mm square (quiet zone included) at (x, y).

    `quick` takes a fixed mask instead of scoring all eight (qrcode spends most of its time
    there): for the many small tab codes of a tear-off batch, which every test decodes.
    """
    code = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M, border=4, mask_pattern=QUICK_MASK if quick else None
    )
    code.add_data(url)
    code.make(fit=True)
    matrix = code.get_matrix()
    module = size / len(matrix)
    parts = []
    for row, cells in enumerate(matrix):
        column = 0
        while column < len(cells):
            if cells[column]:
                start = column
                while column < len(cells) and cells[column]:
                    column += 1
                run = (column - start) * module  # a run of dark modules, drawn as one rectangle
                parts.append(f"M{x + start * module:.3f} {y + row * module:.3f}h{run:.3f}v{module:.3f}h-{run:.3f}z")
            else:
                column += 1
    background = f'<rect x="{x:.3f}" y="{y:.3f}" width="{size:.3f}" height="{size:.3f}" fill="#fff"/>'
    return Markup(f'{background}<path d="{"".join(parts)}" fill="#000"/>')  # noqa: S704 (numbers only)


_environment = templates.environment(FLYERS_DIR)
_environment.globals.update(wrap=wrap, qr=qr)


@dataclass(frozen=True)
class FlyerText:
    """What a flyer says: the petition's words and where it leads."""

    title: str
    summary: str
    target: str
    url: str  # the address in the big QR code
    short_url: str  # the same, short enough to type, printed under it


def pages(layout: str, paper: str, text: FlyerText, *, copies: int = 1, tabs: Sequence[Tab] = ()) -> list[str]:
    """The SVG of every page of a batch: `copies` pages, each tear-off page with its share of `tabs`."""
    template = _environment.get_template(f"{layout}.svg")
    width, height = PAPERS[paper]
    per_page = tabs_per_page(layout)
    out = []
    for number in range(copies):
        share = list(tabs[number * per_page : (number + 1) * per_page]) if per_page else []
        out.append(
            template.render(width=width, height=height, text=text, privacy=PRIVACY_LINE, tabs=share, page=number + 1)
        )
    return out


def tabs_per_page(layout: str) -> int:
    """How many tear-off tabs a page of the layout has: its `<!-- tabs-per-page: N -->` line, else 0."""
    found = TABS_LINE.search((FLYERS_DIR / f"{layout}.svg").read_text())
    return int(found.group(1)) if found else 0


class DrawingUnavailable(Exception):
    """cairo is not installed on this machine (Debian: libcairo2), so no PDF or PNG can be drawn."""


def _cairosvg() -> Any:
    # Imported when first needed: the service runs without cairo; only flyer files need it.
    try:
        import cairosvg
    except OSError as error:  # cairocffi could not find the cairo library
        raise DrawingUnavailable(
            "drawing flyers needs the cairo library (Debian: apt-get install libcairo2)"
        ) from error
    return cairosvg


def check_drawing() -> None:
    """DrawingUnavailable when PDF and PNG cannot be drawn here."""
    _cairosvg()


def to_png(svg: str) -> bytes:
    return bytes(_cairosvg().svg2png(bytestring=svg.encode(), dpi=PNG_DPI))


def to_pdf(svgs: Sequence[str], progress: Callable[[int], None] | None = None) -> bytes:
    """One PDF of all the pages, the fonts embedded (cairo embeds the glyphs each page uses).

    `progress(pages drawn so far)` is called after each page (from the drawing thread).
    """
    cairosvg = _cairosvg()
    writer = PdfWriter()
    for number, svg in enumerate(svgs, 1):
        writer.append(PdfReader(io.BytesIO(cairosvg.svg2pdf(bytestring=svg.encode()))))
        if progress is not None:
            progress(number)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()

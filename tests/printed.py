"""Reading printed documents the way a person with a phone would: pages to pixels, QR codes from pixels.

PDF pages are rendered with PDFium (pypdfium2) and QR codes decoded with zxing-cpp: both ship their
native code in their wheels, so these checks run wherever `pip install -e '.[test]'` ran, with no
program of the system's. Nothing is read from text inside the file except where a test asks for it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import pypdfium2
import zxingcpp
from PIL import Image
from pypdf import PdfReader

PRINT_DPI = 150
POINTS_PER_INCH = 72
FONT_FILE_KEYS = ("/FontFile", "/FontFile2", "/FontFile3")


def page_images(pdf: bytes, dpi: int = PRINT_DPI) -> list[Image.Image]:
    """Each page of a PDF as an image at `dpi` dots per inch, on white paper."""
    document = pypdfium2.PdfDocument(pdf)
    try:
        return [page.render(scale=dpi / POINTS_PER_INCH).to_pil() for page in document]
    finally:
        document.close()


def qr_codes(image: Image.Image) -> list[str]:
    """The text of every QR code an image shows, sorted."""
    return sorted(found.text for found in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode))


def decode(pdf: bytes) -> list[list[str]]:
    """The QR codes on each page of a PDF, read from 150 dpi images of its pages."""
    return [qr_codes(image) for image in page_images(pdf)]


def text(pdf: bytes) -> str:
    """The text PDFium finds on every page, pages joined by newlines."""
    document = pypdfium2.PdfDocument(pdf)
    try:
        return "\n".join(page.get_textpage().get_text_bounded() for page in document)
    finally:
        document.close()


def fonts(pdf: bytes) -> dict[str, bool]:
    """Every font the pages use -> whether the file carries its glyphs (embedded)."""
    found: dict[str, bool] = {}
    for page in PdfReader(io.BytesIO(pdf)).pages:
        resources = page.get("/Resources") or {}
        for font in (resources.get_object().get("/Font") or {}).values():
            font = font.get_object()
            name = str(font.get("/BaseFont", "?"))
            if font.get("/Subtype") == "/Type3":
                # Type 3 fonts draw each glyph with PDF operators inside the file itself.
                found[name] = True
                continue
            described = font
            if "/DescendantFonts" in font:
                described = font["/DescendantFonts"][0].get_object()
            descriptor = (described.get("/FontDescriptor") or {}).get_object() if "/FontDescriptor" in described else {}
            found[name] = any(key in descriptor for key in FONT_FILE_KEYS)
    return found


@dataclass(frozen=True)
class Glyph:
    """A character PDFium finds on a page, and its box in points from the page's bottom left."""

    char: str
    left: float
    bottom: float
    right: float
    top: float


def glyphs(pdf: bytes, page: int = 0) -> tuple[list[Glyph], tuple[float, float]]:
    """Every character on one page with its box, in the order PDFium reads them, and the page's size."""
    document = pypdfium2.PdfDocument(pdf)
    try:
        sheet = document[page]
        textpage = sheet.get_textpage()
        count = textpage.count_chars()
        chars = textpage.get_text_range(0, count)
        found = [Glyph(char, *textpage.get_charbox(index)) for index, char in enumerate(chars)]
        return found, sheet.get_size()
    finally:
        document.close()

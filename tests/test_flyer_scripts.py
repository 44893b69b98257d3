"""Flyers in the scripts that need the Noto fonts: Japanese, Chinese and Korean faces, Devanagari, emoji.

These fonts come from Debian's packages (fonts-noto-core, fonts-noto-cjk, fonts-noto-color-emoji),
too large for a wheel: outside CI these tests skip, saying what to install; in CI they run.
"""

from __future__ import annotations

import pytest

from petition import flyers, fonts

from .printed import decode, text
from .printed import fonts as fonts_of
from .system_services import NOTO, need
from .test_flyers import TEXT, flat, sheet, with_title

# The title a new user tried, which printed only its Greek and Cyrillic.
MIXED = "Ίση αμοιβή — Равная оплата — أجر متساو للجميع — 夜勤に同一賃金を"


@pytest.fixture(autouse=True)
def noto() -> None:
    library = fonts.library()
    there = all(library.has(family) for family in ("Noto Sans", "Noto Sans CJK JP", "Noto Sans Devanagari"))
    need(NOTO, there=there and any(library.has(family) for family in fonts.EMOJI))


@pytest.mark.parametrize("layout", flyers.LAYOUTS)
def test_a_title_in_four_scripts_prints_on_every_layout(layout: str) -> None:
    assert flyers.missing_characters(with_title(MIXED)) == []
    pdf = flyers.to_pdf(sheet(layout, with_title(MIXED)))
    printed = text(pdf)
    for word in ("Ίση", "αμοιβή", "Равная", "оплата", "أجر", "متساو", "للجميع"):
        assert word in printed
    # Japanese breaks between any two characters, and the Arabic between its pieces is reordered.
    assert all(char in printed for char in "夜勤に同一賃金を")
    assert TEXT.url in decode(pdf)[0]


def test_a_japanese_title_comes_back_out_of_the_pdf() -> None:
    title = "夜勤に同一賃金を"
    printed = text(flyers.to_pdf(sheet("tearoff", with_title(title, "ja"))))
    assert flat(printed).count(title) == 1 + 10, "the poster and every tab"


FACES = [("ja", "CJKjp"), ("zh-Hans", "CJKsc"), ("zh-TW", "CJKtc"), ("zh-HK", "CJKhk"), ("ko", "CJKkr")]


@pytest.mark.parametrize(("language", "face"), FACES)
def test_the_language_picks_the_chinese_japanese_or_korean_faces(language: str, face: str) -> None:
    """直 and 骨 share code points in all three, but each language draws them its own way."""
    used = fonts_of(flyers.to_pdf(sheet("poster", with_title("直骨", language))))
    cjk = {name for name in used if "CJK" in name}
    assert cjk and all(face in name for name in cjk), used


def test_devanagari_and_emoji_print() -> None:
    title = "समान वेतन ✊ 😀"
    assert flyers.missing_characters(with_title(title, "hi")) == []
    printed = text(flyers.to_pdf(sheet("poster", with_title(title, "hi"))))
    assert "समान" in printed and "वेतन" in printed

"""The fonts printed documents are set in, chosen per language, and the characters none of them has.

Flyers are typeset by Typst, which shapes text with HarfBuzz's rules (rustybuzz) and orders it by
the Unicode bidirectional algorithm; it needs fonts that have the glyphs. We give it one ordered
list of families (a "font stack") and no fallback beyond it, so that what we report as missing is
exactly what would print as an empty box:

1. any font a designer put in `flyers/fonts/`;
2. for Chinese, Japanese and Korean, the Noto Sans CJK face of the petition's language first (the
   three share code points but not glyphs: 直 is drawn differently in each);
3. Noto Sans (Latin, Greek, Cyrillic), every other Noto Sans family installed (one per script:
   Arabic, Hebrew, Devanagari, Thai, ...), the other CJK faces, symbols, then emoji;
4. DejaVu Sans, present wherever cairo is, which covers Latin, Greek, Cyrillic, Arabic and Hebrew.

Noto comes from Debian's fonts-noto-core, fonts-noto-cjk and fonts-noto-color-emoji; without them
the service still draws flyers, and names the characters it cannot print. Coverage is read from
each face's character map with HarfBuzz (uharfbuzz), tens of milliseconds for every face once.
"""

from __future__ import annotations

import threading
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import typst
import uharfbuzz

from . import languages

DESIGNER_FONTS = Path(__file__).resolve().parent.parent / "flyers" / "fonts"
LATIN = "Noto Sans"
FALLBACK = "DejaVu Sans"
MONOSPACE = "DejaVu Sans Mono"  # for codes and addresses; Typst carries it, so it is always there
EMOJI = ("Noto Color Emoji", "Noto Emoji")
# Noto Sans CJK faces by the script or region the language implies (ISO 15924 / ISO 3166).
CJK = {"Jpan": "Noto Sans CJK JP", "Kore": "Noto Sans CJK KR", "Hans": "Noto Sans CJK SC", "Hant": "Noto Sans CJK TC"}
CJK_HONG_KONG = "Noto Sans CJK HK"
CJK_ORDER = ("Noto Sans CJK JP", "Noto Sans CJK SC", "Noto Sans CJK TC", "Noto Sans CJK HK", "Noto Sans CJK KR")
# Noto Sans families that are not one script's text face: other widths, monospaced, display cuts.
NOT_TEXT_FACES = ("Mono", "Display", "UI")
# Packages that bring the fonts, for messages to whoever runs the service.
PACKAGES = "fonts-noto-core fonts-noto-cjk fonts-noto-color-emoji"
# Characters that draw nothing of their own: joiners, bidirectional marks, variation selectors.
INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp"})


def _invisible(character: str) -> bool:
    code = ord(character)
    return (
        unicodedata.category(character) in INVISIBLE_CATEGORIES
        or 0xFE00 <= code <= 0xFE0F
        or 0xE0100 <= code <= 0xE01EF
    )


@dataclass(frozen=True)
class Described:
    """A character named for someone who cannot see it: `U+0378`, and its Unicode name if it has one."""

    char: str
    code: str
    name: str


def described(character: str) -> Described:
    return Described(character, f"U+{ord(character):04X}", unicodedata.name(character, ""))


@dataclass(frozen=True)
class Stack:
    """The families to set a language's text in, in order, and what they can draw."""

    families: tuple[str, ...]
    covered: frozenset[int]

    def missing(self, text: str) -> list[str]:
        """The characters of `text` no font of the stack has, each once, in order of appearance."""
        seen: dict[str, None] = {}
        for character in text:
            if ord(character) not in self.covered and not _invisible(character):
                seen.setdefault(character, None)
        return list(seen)


class Library:
    """The fonts installed here, as Typst sees them (system folders and `flyers/fonts/`)."""

    def __init__(self, extra: Iterable[Path] = (DESIGNER_FONTS,), *, system: bool = True) -> None:
        self.extra = [path for path in extra if path.is_dir()]
        self.system = system  # False: only Typst's own fonts and `extra` (a machine without any)
        self._lock = threading.Lock()
        self._stacks: dict[tuple[str, str | None], Stack] = {}
        self._covers: dict[str, frozenset[int]] = {}

    @cached_property
    def typst_fonts(self) -> typst.Fonts:
        """What Typst is given: the system's fonts, Typst's own, and the designers' folder."""
        return typst.Fonts(
            include_system_fonts=self.system, include_embedded_fonts=True, font_paths=[str(p) for p in self.extra]
        )

    @cached_property
    def _faces(self) -> dict[str, list[typst.FontInfo]]:
        faces: dict[str, list[typst.FontInfo]] = {}
        for info in self.typst_fonts.fonts():
            faces.setdefault(info.family, []).append(info)
        return faces

    @cached_property
    def _designers(self) -> list[str]:
        folders = [path.resolve() for path in self.extra]
        found = {
            info.family
            for infos in self._faces.values()
            for info in infos
            if info.path and any(Path(info.path).resolve().is_relative_to(folder) for folder in folders)
        }
        return sorted(found)

    def has(self, family: str) -> bool:
        return family in self._faces

    def stack(self, language: str) -> Stack:
        """The font stack for text in `language` (a BCP 47 tag), and its coverage."""
        script = languages.script(language)
        region = languages.region(language)
        key = (script, region)
        with self._lock:
            found = self._stacks.get(key)
            if found is None:
                families = self._families(script, region)
                found = self._stacks[key] = Stack(families, self._coverage(families))
        return found

    def narrowed(self, stack: Stack, text: str) -> tuple[str, ...]:
        """The families of `stack` that draw some character of `text`, in the stack's order: each
        character goes to the first family that has it, as Typst's fallback takes it. Typst searches
        the list for every character it lacks a glyph for, so a document of many scripts is typeset
        several times faster with this list than with the whole stack (over a hundred families when
        Noto is installed), and looks the same."""
        needed = {ord(character) for character in set(text)}
        chosen = []
        for family in stack.families:
            covered = self._family_coverage(family)
            if needed & covered:
                chosen.append(family)
                needed -= covered
            if not needed:
                break
        return tuple(chosen) or stack.families[:1]

    def _family_coverage(self, family: str) -> frozenset[int]:
        with self._lock:
            found = self._covers.get(family)
            if found is None:
                found = self._covers[family] = self._coverage((family,))
        return found

    def _families(self, script: str, region: str | None) -> tuple[str, ...]:
        first_cjk = CJK_HONG_KONG if script == "Hant" and region in ("HK", "MO") else CJK.get(script)
        others = sorted(
            family
            for family in self._faces
            if family.startswith(f"{LATIN} ")
            and "CJK" not in family
            and not any(word in family.split() for word in NOT_TEXT_FACES)
        )
        # The language's own CJK face goes first: its punctuation and Latin, as Japanese or Chinese type sets them.
        cjk = [family for family in CJK_ORDER if family != first_cjk]
        ordered = [*self._designers, *([first_cjk] if first_cjk else []), LATIN, *others, *cjk, *EMOJI, FALLBACK]
        unique = dict.fromkeys(family for family in ordered if self.has(family))
        return tuple(unique) or (MONOSPACE,)

    def _coverage(self, families: Iterable[str]) -> frozenset[int]:
        covered: set[int] = set()
        blobs: dict[str, uharfbuzz.Blob] = {}
        for family in families:
            for info in self._faces.get(family, []):
                if info.path is None:  # one of Typst's own fonts: only the monospaced one is stacked
                    continue
                if info.path not in blobs:  # one file holds several faces of a collection (.ttc)
                    blobs[info.path] = uharfbuzz.Blob.from_file_path(info.path)
                covered.update(uharfbuzz.Face(blobs[info.path], info.index).unicodes)
        if MONOSPACE in families and not covered:
            covered.update(range(0x20, 0x7F))
        return frozenset(covered)


_library: Library | None = None
_library_lock = threading.Lock()


def library() -> Library:
    """The fonts of this machine, read once per process (when the first document is drawn)."""
    global _library
    with _library_lock:
        if _library is None:
            _library = Library()
        return _library

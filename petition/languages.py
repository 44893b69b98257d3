"""A petition's language: a BCP 47 tag (RFC 5646), and what it implies for printing and pages.

The tag sets `lang` (and `dir`) on the petition's own words in its pages, and picks the font
faces and base direction of its flyers: Japanese, Chinese and Korean share code points but not
glyphs, so only the language says which faces to draw them with. Tags are checked and written
in their standard form by langcodes (the IANA subtag registry, likely subtags from CLDR).
"""

from __future__ import annotations

from functools import lru_cache

import langcodes

DEFAULT = "en"
MAX_LENGTH = 35  # RFC 5646 section 4.4.1: implementations need keep no longer tags
# Scripts written right to left (ISO 15924 codes), as CLDR's likely subtags name them.
RIGHT_TO_LEFT = frozenset(
    {"Adlm", "Arab", "Aran", "Hebr", "Mand", "Mend", "Nkoo", "Rohg", "Samr", "Syrc", "Thaa", "Yezi"}
)


class LanguageError(ValueError):
    """The text is not a language tag this service can use; the message says why, in plain words."""


def normalize(tag: str) -> str:
    """The standard form of a BCP 47 tag (`EN_gb` → `en-GB`, `iw` → `he`).

    LanguageError when it is empty, longer than 35 characters, not well formed, names no
    registered language, or is `und` (undetermined).
    """
    text = tag.strip()
    if not text:
        raise LanguageError("Enter a language tag, such as en, fr, ar or ja.")
    if len(text) > MAX_LENGTH:
        raise LanguageError(f"A language tag has at most {MAX_LENGTH} characters, such as en, pt-BR or zh-Hant.")
    try:
        parsed = langcodes.Language.get(text)
    except (ValueError, LookupError):
        raise LanguageError(
            "A language tag is letters and digits in parts joined by hyphens, such as en, fr, ar, ja or pt-BR (BCP 47)."
        ) from None
    if parsed.language in (None, "und"):
        raise LanguageError("Name the petition's language (und means undetermined), such as en, fr, ar or ja.")
    if not langcodes.tag_is_valid(text):
        raise LanguageError("That tag names no registered language, region or script: use one such as en, ar or pt-BR.")
    standard = str(langcodes.standardize_tag(text))
    return standard


@lru_cache(maxsize=256)
def script(tag: str) -> str:
    """The ISO 15924 script the language is most likely written in (`ja` → `Jpan`, `zh-TW` → `Hant`)."""
    return langcodes.Language.get(tag).maximize().script or "Latn"


def direction(tag: str) -> str:
    """`rtl` or `ltr`: the base direction of text in the language."""
    return "rtl" if script(tag) in RIGHT_TO_LEFT else "ltr"


@lru_cache(maxsize=256)
def region(tag: str) -> str | None:
    """The region the tag names, if any (`zh-HK` → `HK`, `ja` → None): it picks Hong Kong's Chinese faces."""
    return langcodes.Language.get(tag).territory


def primary(tag: str) -> str | None:
    """The tag's language subtag when it is an ISO 639 code (`pt-BR` → `pt`); None for private use."""
    language = langcodes.Language.get(tag).language
    return language if language and 2 <= len(language) <= 3 and language.isalpha() else None

"""Flags text that could identify a reason's author or others, before anyone approves it.

A flag warns the moderator; it never blocks approval. The kinds (FLAG_KINDS), in this order of
precedence: a stretch of text raises at most one of the first five, the first that finds it (a
number inside a phone number or a link is not flagged again):

- `email`: an address (local@domain.tld, any letters; company domains need no public TLD);
- `url`: an http(s) link, a www. link, or a bare domain with a real top-level domain (urlextract,
  with the IANA list bundled in its wheel; never a download), but never the domain of an address;
- `handle`: @name, as on Slack, Twitter or GitHub (not the @ of an address);
- `phone`: 7 or more decimal digits (any script's) in one phone-shaped stretch: groups joined by
  spaces, dots, dashes, slashes or parentheses, maybe after a +. A plain run of 7 or more digits
  counts too (a phone written without spaces), unless letters touch it (INC0012345: a `number`);
  a date (2024-03-01, 01.03.2024) never does;
- `number`: a run of 5 or more decimal digits (an employee or ticket id) not inside a phone number;
- `sensitive`: a word or phrase from the petition's `sensitive_words` (team names, project
  codenames, office locations), matched after NFKD, without combining marks (accents) and case
  folded, so "PROJET ÉCLAIR" matches "projet eclair". Words of scripts written with spaces match on
  word boundaries ("art" is not in "party"); where a word's edge is in a script written without
  spaces between words (Chinese, Japanese, Thai, ...) it matches inside longer runs too. The parts
  of a phrase match across any run of whitespace, dashes and underscores ("Projet Éclair" finds
  "projet-eclair" and "PROJET_ECLAIR", and the other way round). Sensitive flags may overlap the
  other kinds.
"""

from __future__ import annotations

import functools
import json
import tempfile
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import regex
from urlextract import URLExtract

from .text import text_problem

FLAG_KINDS = ("email", "phone", "handle", "url", "number", "sensitive")

MAX_SENSITIVE_WORDS = 200
MAX_SENSITIVE_WORD_LENGTH = 80
PHONE_DIGITS = 7
NUMBER_DIGITS = 5

EMAIL = regex.compile(r"(?<![\w.+\-])[\w+\-](?:[\w.+\-]*[\w+\-])?@[\w\-]+(?:\.[\w\-]+)+")
# Not after a letter, digit or address character, so the @ of an address is no handle.
HANDLE = regex.compile(r"(?<![\w@＠.+\-])[@＠]\w(?:[\w.\-]*\w)?")
# Digit groups joined by at most three separators (") (", " - "), maybe after a +; a group may sit
# in parentheses. Not inside a word: letters touching the digits make an id (a `number`).
_SEPARATORS = r"[ \u00a0\u202f.\-\u2010-\u2013/()]"
PHONE = regex.compile(rf"(?<![\w+])\+?\(?\p{{Nd}}(?:\p{{Nd}}|{_SEPARATORS}{{1,3}}(?=\(?\p{{Nd}}))*\)?(?!\w)")
DATE = regex.compile(r"\p{Nd}{4}([\-./])\p{Nd}{1,2}\1\p{Nd}{1,2}|\p{Nd}{1,2}([\-./])\p{Nd}{1,2}\2\p{Nd}{2,4}")
# An amount with its thousands grouped by dots or non-breaking spaces (1.250.000): no phone number.
AMOUNT = regex.compile(r"\p{Nd}{1,3}([.\u00a0\u202f])\p{Nd}{3}(?:\1\p{Nd}{3})*")
NUMBER = regex.compile(rf"\p{{Nd}}{{{NUMBER_DIGITS},}}")
DIGIT = regex.compile(r"\p{Nd}")
# U+FF01-U+FF5E, the full-width forms of ASCII's printable characters, and the ideographic space.
HALF_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
# Punctuation that ends a sentence rather than a link ("see example.org/x, and ...").
URL_TRAILING = ".,;:!?"

# Scripts whose writing puts no spaces between words (and Korean, whose particles attach to the
# noun before them: "개발팀은"), where a listed word can only be found as a substring.
# Script_Extensions, so marks shared by kana ("ー") count with them.
UNSPACED_SCRIPTS = (
    "Han",
    "Hiragana",
    "Katakana",
    "Bopomofo",
    "Hangul",
    "Thai",
    "Lao",
    "Khmer",
    "Myanmar",
    "Tibetan",
    "Yi",
    "Javanese",
    "Balinese",
    "Tai_Tham",
    "Tai_Le",
    "New_Tai_Lue",
    "Tai_Viet",
)
_UNSPACED = "".join(rf"\p{{Script_Extensions={name}}}" for name in UNSPACED_SCRIPTS)
# A letter or digit of a script written with spaces: a listed word must not continue into one.
_SPACED_WORD = rf"[\w--[{_UNSPACED}_]]"
SPACED_WORD_CHAR = regex.compile(_SPACED_WORD, regex.V1)


@dataclass(frozen=True)
class Flag:
    """One warning: `kind` is one of FLAG_KINDS; `match` the text that raised it, as written."""

    kind: str
    match: str


def flags(text: str, sensitive_words: Sequence[str] = ()) -> list[Flag]:
    """The flags `text` raises, in the order they appear in it; [] for plain text.

    `sensitive_words`: the petition's list (words_of), in any case and with or without accents.
    Each occurrence is a flag of its own; `match` is exactly the text's own characters there
    (text[start:end]). Never raises for any str; reads nothing from disk or the network after
    the first call (which loads urlextract's bundled list of top-level domains).
    """
    found: list[tuple[int, int, str]] = []  # (start, end, kind)
    taken: list[tuple[int, int]] = []

    def claim(kind: str, spans: Iterable[tuple[int, int]]) -> None:
        for start, end in spans:
            if end > start and not any(start < other_end and other_start < end for other_start, other_end in taken):
                taken.append((start, end))
                found.append((start, end, kind))

    # Full-width forms read as their ASCII twins ("ｊａｎｅ＠ｇｍａｉｌ．ｃｏｍ" is an address);
    # one character for one, so every span found holds for the text as written.
    plain = text.translate(HALF_WIDTH)
    claim("email", (m.span() for m in EMAIL.finditer(plain)))
    claim("url", _urls(plain))
    claim("handle", (m.span() for m in HANDLE.finditer(plain)))
    claim("phone", _phones(plain))
    claim("number", (m.span() for m in NUMBER.finditer(plain)))
    found += [(start, end, "sensitive") for start, end in _sensitive(text, sensitive_words)]
    found.sort(key=lambda item: (item[0], FLAG_KINDS.index(item[2])))
    return [Flag(kind, text[start:end]) for start, end, kind in found]


def _urls(text: str) -> Iterator[tuple[int, int]]:
    if "." not in text:  # every link and domain has one; most reasons hold no link
        return
    # Each link is looked up in the text after the one before: urlextract's own indices can be
    # wrong (for an IP address it counts from the end of its last number, not the first).
    cursor = 0
    for url in _url_extractor().gen_urls(text):
        start = text.find(url, cursor)
        if start < 0:
            continue
        end = start + len(url)
        cursor = end
        while end > start and (
            text[end - 1] in URL_TRAILING
            or (text[end - 1] == ")" and text.count("(", start, end) < text.count(")", start, end))
        ):
            end -= 1
        yield start, end


@functools.cache
def _url_extractor() -> URLExtract:
    """urlextract, built once per process (compiling its TLD pattern takes a while).

    Without a cache_dir it probes for a writable place to keep a downloaded TLD list: its own
    package folder, else it creates ~/.cache/urlextract in the user's home. Given a directory it
    only takes a lock file there, while reading its list; a list is never downloaded (update() is
    never called), so it reads the one bundled in its wheel. That directory is our own temporary
    one, removed once the list is read: nothing is written into the home or left behind.
    """
    with tempfile.TemporaryDirectory(prefix="petition-urlextract-") as cache_dir:
        return URLExtract(cache_dir=cache_dir, extract_email=False, extract_localhost=False)


def _phones(text: str) -> Iterator[tuple[int, int]]:
    for match in PHONE.finditer(text):
        candidate = match.group()
        if len(DIGIT.findall(candidate)) < PHONE_DIGITS:
            continue
        if not DATE.fullmatch(candidate.strip("()")) and not AMOUNT.fullmatch(candidate):
            yield match.span()


# -- sensitive words ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def _folded_char(char: str) -> str:
    """One character as sensitive words are compared: NFKD, without combining marks, case folded
    (and once more, as folding can give characters NFKD takes apart again: "ẞ" -> "ss")."""
    if unicodedata.category(char) == "Cf":
        return ""  # invisible format characters (soft hyphen, zero-width space) hide nothing
    pieces = []
    for piece in unicodedata.normalize("NFKD", char):
        for folded in unicodedata.normalize("NFKD", piece.casefold()):
            if not unicodedata.combining(folded):
                pieces.append(folded)
    return "".join(pieces)


def folded(text: str) -> str:
    """Text as sensitive words are compared: "Projet Éclair" -> "projet eclair"."""
    return "".join(_folded_char(char) for char in text)


def _folded_with_origins(text: str) -> tuple[str, list[int]]:
    """folded(text), and for each of its characters the index of the text's character it came from."""
    chars: list[str] = []
    origins: list[int] = []
    for index, char in enumerate(text):
        piece = char.lower() if char.isascii() else _folded_char(char)
        chars.append(piece)
        origins += [index] * len(piece)
    return "".join(chars), origins


# What joins the parts of a listed phrase, in the list and in text: people write a team or a
# codename with a space, a dash or an underscore alike.
_SEPARATORS = regex.compile(r"[\s\p{Pd}_./]+", regex.V1)
_JOINER = r"[\s\p{Pd}_./]+"


def _phrase_key(word: str) -> str:
    """A listed word, folded, its parts joined by one space (the form duplicates are found by)."""
    return " ".join(part for part in _SEPARATORS.split(folded(word)) if part)


@functools.lru_cache(maxsize=256)
def _sensitive_pattern(words: tuple[str, ...]) -> regex.Pattern[str] | None:
    """One pattern finding every listed word in folded text; None for a list with no words.

    Longer words first, so a phrase wins over a word it starts with."""
    alternatives = []
    for word in sorted({_phrase_key(word) for word in words} - {""}, key=lambda w: (-len(w), w)):
        body = _JOINER.join(regex.escape(part) for part in word.split(" "))
        before = f"(?<!{_SPACED_WORD})" if SPACED_WORD_CHAR.match(word[0]) else ""
        after = f"(?!{_SPACED_WORD})" if SPACED_WORD_CHAR.match(word[-1]) else ""
        alternatives.append(f"{before}{body}{after}")
    if not alternatives:
        return None
    return regex.compile("|".join(alternatives), regex.V1)


def _sensitive(text: str, words: Sequence[str]) -> Iterator[tuple[int, int]]:
    pattern = _sensitive_pattern(tuple(words))
    if pattern is None:
        return
    normal, origins = _folded_with_origins(text)
    for match in pattern.finditer(normal):
        start, end = match.span()
        # The text's span: from the character the match starts in to the one it ends in, and the
        # combining marks after that one, which folding dropped ("é" typed as "e" + U+0301); a
        # match ending inside a character's folding ("ﬁ" -> "fi") takes the whole character.
        following = origins[end] if end < len(origins) else len(text)
        yield origins[start], max(origins[end - 1] + 1, following)


def clean_sensitive_words(words: Iterable[str]) -> list[str]:
    """A sensitive-words list as typed -> as kept: each entry trimmed, blank ones and duplicates
    (the same once folded, see `folded`) dropped, the first spelling kept, in the order given.

    Raises ValueError (a sentence naming the limit, and the entry by its number from 1, never its
    text) for more than MAX_SENSITIVE_WORDS entries left, an entry longer than
    MAX_SENSITIVE_WORD_LENGTH characters, or one with a tab, a line break, a control character or a
    direction control (text.text_problem's one-line rule).
    """
    kept: list[str] = []
    seen: set[str] = set()
    for number, typed in enumerate(words, start=1):
        word = typed.strip()
        if not word:
            continue
        if len(word) > MAX_SENSITIVE_WORD_LENGTH:
            limit = MAX_SENSITIVE_WORD_LENGTH
            raise ValueError(f"Sensitive word {number} must be {limit} characters or fewer; it has {len(word):,}.")
        if problem := text_problem(word):
            raise ValueError(f"Sensitive word {number} {problem}.")
        key = _phrase_key(word)
        if key and key not in seen:
            seen.add(key)
            kept.append(word)
    if len(kept) > MAX_SENSITIVE_WORDS:
        raise ValueError(f"List at most {MAX_SENSITIVE_WORDS} sensitive words; this list has {len(kept):,}.")
    return kept


def words_of(petition: Mapping[str, Any]) -> list[str]:
    """A petition row's sensitive words (its `sensitive_words` column, a JSON array of strings); []
    when it has none."""
    stored = petition.get("sensitive_words")
    return list(json.loads(stored)) if stored else []

"""Text: one rule for all text the service takes; stored text and times turned into what pages show.

Every text field of the API's models carries one of the rules below (`LINE`, `SENTENCE`,
`PROSE`), and forms and the command line call `text_problem` for what no model reads. `PROSE`
also turns every line end into a line feed before anything counts the text's length.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from markupsafe import Markup, escape
from pydantic import GetCoreSchemaHandler
from pydantic_core import PydanticCustomError, core_schema

from . import zones

URL = re.compile(r"https?://[^\s<>\"']+[^\s<>\"'.,;:!?)\]]")

# What XML 1.0 forbids (C0 controls but tab, line feed and carriage return; lone surrogates;
# U+FFFE and U+FFFF), and what it discourages and no text needs: DEL, the C1 controls and every
# other noncharacter (U+FDD0-U+FDEF, the last two code points of each plane). Any of them stored
# would break the Atom feed and flyer SVGs, which are XML.
_NONCHARACTERS = "".join(f"{chr(plane * 0x10000 + 0xFFFE)}-{chr(plane * 0x10000 + 0xFFFF)}" for plane in range(17))
FORBIDDEN = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef{_NONCHARACTERS}]")
LINE_BREAKS = re.compile("[\t\n\r\u2028\u2029]")
# Explicit overrides reverse the letters after them ("\u202eAlice" shows as "ecilA"): never.
OVERRIDES = re.compile("[\u202d\u202e]")
# Every bidirectional control: marks, embeddings, overrides, isolates. Short fields need none,
# since pages isolate each piece of user text (dir="auto") and a name's direction is its own.
BIDI_CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# A line end other than LF: CRLF, or a lone CR.
LINE_END = re.compile(r"\r\n?")


def text_problem(value: str, *, lines: bool = False, direction_marks: bool = False) -> str | None:
    """What is wrong with a piece of text a user gave, as a message ("must not ..."), or None.

    Refused everywhere: characters XML 1.0 forbids or discourages (controls, lone surrogates,
    noncharacters) and the bidirectional overrides U+202D and U+202E. Refused unless `lines`:
    tabs and line breaks. Refused unless `direction_marks`: every other bidirectional control.
    """
    if found := FORBIDDEN.search(value):
        return f"must not hold control characters or noncharacters (it holds {_code_point(found.group())})"
    if not lines and LINE_BREAKS.search(value):
        return "must be one line, without tabs or line breaks"
    if found := (BIDI_CONTROLS if not direction_marks else OVERRIDES).search(value):
        return f"must not hold characters that change the direction of text (it holds {_code_point(found.group())})"
    return None


def _code_point(char: str) -> str:
    return f"U+{ord(char):04X}"


def one_line_end(value: Any) -> Any:
    """Text with each CRLF and lone CR turned into LF; anything but a str unchanged (for the model to refuse).

    Browsers send a textarea's line breaks as CRLF (HTML's form submission rules) but count each
    as one character against its `maxlength`: turned into LF first, text a form allowed is never
    refused as too long, and the API stores one kind of line end whatever its client sends.
    """
    return LINE_END.sub("\n", value) if isinstance(value, str) else value


@dataclass(frozen=True)
class _Rule:
    """A text rule for an Annotated str: `text_problem` checked after the constraints written before
    it; with `lines`, line ends made one LF before them (so `max_length` counts each as one)."""

    lines: bool
    direction_marks: bool

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        checked = core_schema.no_info_after_validator_function(self._check, handler(source))
        return core_schema.no_info_before_validator_function(one_line_end, checked) if self.lines else checked

    def _check(self, value: str) -> str:
        if problem := text_problem(value, lines=self.lines, direction_marks=self.direction_marks):
            raise PydanticCustomError("text", problem)
        return value


# Short one-line text: titles, targets, names, roles, labels, token names, receipts and codes.
LINE = _Rule(lines=False, direction_marks=False)
# A one-line sentence that may mix directions (a summary): direction marks and isolates allowed.
SENTENCE = _Rule(lines=False, direction_marks=True)
# Paragraphs (a body, a reason): line breaks (CRLF and CR stored as LF), tabs, direction marks
# and isolates allowed.
PROSE = _Rule(lines=True, direction_marks=True)


# What no page, feed or flyer ever shows: what XML forbids, and the overrides (they would reverse
# a name stored before the rule even inside its own isolating element).
NEVER_SHOWN = re.compile(f"{FORBIDDEN.pattern}|{OVERRIDES.pattern}")


def without_forbidden(value: Any) -> Any:
    """A value about to be written into a page, feed or flyer, without what XML forbids and the overrides.

    A second line of defence for text stored before the rule above existed; Markup stays Markup.
    """
    if isinstance(value, str) and NEVER_SHOWN.search(value):
        cleaned = NEVER_SHOWN.sub("", value)
        return Markup(cleaned) if isinstance(value, Markup) else cleaned  # noqa: S704 (only characters dropped)
    return value


def isolated(text: str) -> str:
    """Text between U+2068 and U+2069 (a first-strong isolate), where no element can isolate it (a <title>)."""
    return f"\u2068{text}\u2069"


def paragraphs(text: str) -> Markup:
    """Plain text -> escaped HTML paragraphs with web addresses made into links; never raw HTML."""
    blocks = [block.strip() for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n")) if block.strip()]
    html = ['<p dir="auto">' + _linked(block).replace("\n", "<br>\n") + "</p>" for block in blocks]
    return Markup("\n".join(html))  # noqa: S704 (every piece escaped in _linked)


def _linked(text: str) -> str:
    """Escaped HTML of `text`, its web addresses made links.

    Addresses are found in the text itself, then escaped: found in escaped text, an address
    would end inside a character reference (`&#34;` cut before its `;`) and change the text.
    """
    pieces, start = [], 0
    for found in URL.finditer(text):
        address = escape(found.group(0))
        pieces += [
            str(escape(text[start : found.start()])),
            f'<a href="{address}" rel="nofollow noopener">{address}</a>',
        ]
        start = found.end()
    pieces.append(str(escape(text[start:])))
    return "".join(pieces)


def long_date(iso_time: str | None, floor: str = "day", zone: str = "UTC") -> str:
    """An ISO 8601 time -> its date in the zone, "3 June 2026"; for an hourly floor with the time and
    the zone named: "3 June 2026, 14:00 UTC", "3 June 2026, 23:00 Asia/Tokyo time"."""
    if iso_time is None:
        return ""
    moment = datetime.fromisoformat(iso_time.replace("Z", "+00:00"))
    try:
        moment = moment.astimezone(zones.zone(zone))
    except OverflowError:  # past the year 9999 in the zone (a deadline at the last second we accept)
        moment, zone = moment.astimezone(UTC), zones.DEFAULT_ZONE
    day = f"{moment.day} {moment:%B %Y}"
    if floor == "day":
        return day
    return f"{day}, {moment:%H:%M} UTC" if zone == zones.DEFAULT_ZONE else f"{day}, {moment:%H:%M} {zone} time"

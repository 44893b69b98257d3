"""What an organizer sends for a round (RoundCreate, RoundUpdate) and the checks on it: its question,
description, seed statements (one line each, none repeating another as people read them), who sees
its results, strict booleans, and a close time no later than its petition may stay open."""

from __future__ import annotations

import re
import time
import unicodedata
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    StrictBool,
    StringConstraints,
    model_validator,
)

from .. import zones
from ..database import Row
from ..parameters import Moment
from ..periods import days, longest_deadline
from ..settings import Settings
from ..text import LINE, PROSE, long_date

MAX_SEED_STATEMENTS = 50
MAX_QUESTION_LENGTH = 200
MAX_DESCRIPTION_LENGTH = 2_000
MAX_STATEMENT_LENGTH = 280
# A seed statement is one line: the organizers' form shows the seed list one statement per line, so
# a line break would make two statements of one when the draft is saved again.
LINE_BREAK = re.compile("[\n\r\u2028\u2029]")

Question = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_QUESTION_LENGTH), LINE]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_DESCRIPTION_LENGTH), PROSE]
# A statement's text follows a reason's rules (signatures.Reason), shorter; blank ones are refused
# by the list's check below, which names the entry.
StatementText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_STATEMENT_LENGTH), PROSE]
ResultsAudience = Literal["public", "organizers"]


def statement_key(text: str) -> str:
    """A statement as people read it, to find repeats: compatibility-normalised, case folded, its
    spaces collapsed ("Same  thing." and "same thing." are one statement)."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def _at_most_fifty(value: Any) -> Any:
    # Before each entry is read, so a list of thousands is refused with the limit at once.
    if isinstance(value, list) and len(value) > MAX_SEED_STATEMENTS:
        raise ValueError(f"at most {MAX_SEED_STATEMENTS} statements; {len(value)} were given")
    return value


def _one_line_each_none_repeated(value: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    for number, text in enumerate(value, start=1):
        if not text:
            raise ValueError(f"statement {number} is blank: write it, or leave it out")
        if LINE_BREAK.search(text):
            raise ValueError(f"statement {number} has a line break: each seed statement is one line")
        key = statement_key(text)
        if key in seen:
            raise ValueError(f"statement {number} repeats statement {seen[key]}: leave one out")
        seen[key] = number
    return value


SeedStatements = Annotated[
    list[StatementText], BeforeValidator(_at_most_fifty), AfterValidator(_one_line_each_none_repeated)
]


def _future(value: datetime | None) -> datetime | None:
    if value is not None and value.timestamp() <= time.time():
        raise ValueError("must be in the future")
    return value


CloseTime = Annotated[Moment, AfterValidator(_future)]


class RoundCreate(BaseModel):
    """A new round: its question, description, seed statements (at most 50, one line each), whether
    participants may add statements (and whether those are moderated: true or false, nothing else),
    who sees results, and an optional close time."""

    model_config = ConfigDict(extra="forbid")

    question: Question
    description: Description = ""
    statements: SeedStatements = []
    allow_statements: StrictBool = True
    moderate_statements: StrictBool = True
    results: ResultsAudience = "public"
    closes_at: CloseTime | None = None


class RoundUpdate(BaseModel):
    """A draft round's fields to change (those left out stay); `statements` replaces the seed list."""

    model_config = ConfigDict(extra="forbid")

    question: Question | None = None
    description: Description | None = None
    statements: SeedStatements | None = None
    allow_statements: StrictBool | None = None
    moderate_statements: StrictBool | None = None
    results: ResultsAudience | None = None
    closes_at: CloseTime | None = None

    @model_validator(mode="after")
    def _no_nulls(self) -> RoundUpdate:
        # Only the close time can be taken away (closes_at: null); every other field needs a value.
        nulls = [name for name in sorted(self.model_fields_set) if name != "closes_at" and getattr(self, name) is None]
        if nulls:
            raise ValueError(f"{', '.join(nulls)} cannot be null; leave a field out to keep it")
        return self


def latest_close(petition: Row, settings: Settings, moment: int) -> int:
    """The latest close time a round of `petition` may have (seconds since the epoch): its deadline;
    without one, MAX_OPEN_DAYS after it opened (or, for a draft, after `moment`), when it closes."""
    if petition["closes_at"] is not None:
        return int(petition["closes_at"])
    opened = petition["opened_at"]
    return longest_deadline(moment if opened is None else int(opened), settings)


def close_time_problem(petition: Row, closes_at: int, settings: Settings, moment: int) -> str | None:
    """None when a round may close at `closes_at` (not after its petition closes), else why not, in a
    sentence with the latest time in words, in the petition's zone."""
    latest = latest_close(petition, settings, moment)
    if closes_at <= latest:
        return None
    zone = petition["time_zone"]
    by = long_date(zones.iso_in(latest, zone), "hour", zone)
    if petition["closes_at"] is not None:
        return f"The close time must be no later than the petition's deadline, {by}: a round ends with its petition."
    since = "from now" if petition["opened_at"] is None else "after the petition opened"
    return (
        f"The close time must be at most {days(settings.max_open_days)} {since} (by {by}): "
        "that is the longest a petition may stay open, and a round ends when its petition does."
    )

"""A petition's periods: how long it may stay open (MAX_OPEN_DAYS after it opens: every petition
ends, since its dedupe tags live while it is open), and how long after it closes what could
identify its signers is kept (its retention period), with the words its pages say them in."""

from __future__ import annotations

from . import zones
from .database import Row
from .settings import Settings
from .text import long_date

DAY = 86400


def days(count: int) -> str:
    """A number of days in words: "1 day", "30 days", "1,000 days"."""
    return "1 day" if count == 1 else f"{count:,} days"


def retention_words(retention_days: int, petition: str = "this petition") -> str:
    """A retention period -> when what could identify signers is destroyed, in words:
    "30 days after this petition closes", "1 day after this petition closes", or (0) "when this
    petition closes" (`petition` names it otherwise: "a petition")."""
    if retention_days == 0:
        return f"when {petition} closes"
    return f"{days(retention_days)} after {petition} closes"


def destroyed_at(row: Row) -> int | None:
    """When what could identify a closed petition's signers is due to be destroyed (seconds since
    the epoch): its close plus its retention period. None while it is a draft or open, and once
    it was destroyed (purged_at). `row` as it is now (petitions.as_of)."""
    if row["state"] != "closed" or row["closed_at"] is None or row.get("purged_at") is not None:
        return None
    return int(row["closed_at"]) + int(row["retention_days"]) * DAY


# A shortening whose new end falls within this much of now is asked about first, as one already
# past is: the purge job would destroy the data on the day, before anyone thinks twice.
SOON = DAY
# The purge job looks every few seconds: an end this close is "within a minute".
WITHIN_A_MINUTE = 60


def shortening_destroys_soon(row: Row, retention_days: int, moment: int) -> bool:
    """Whether shortening a closed petition's retention period to `retention_days` puts its
    destruction before `moment + SOON` (seconds since the epoch): the purge job would destroy its
    identifying data within the day (within a minute, when the end has passed), which cannot be
    undone. False for a period no shorter than the current one, and for a draft, an open or a
    purged petition. `row` as it is now (petitions.as_of)."""
    current = destroyed_at(row)
    if current is None or retention_days >= int(row["retention_days"]):
        return False
    return int(row["closed_at"]) + retention_days * DAY < moment + SOON


def how_soon(end: int, moment: int) -> str:
    """When a destruction due at `end` happens, seen at `moment`: "within a minute" (the end has
    passed, or is a minute away at most), else "within a day"."""
    return "within a minute" if end <= moment + WITHIN_A_MINUTE else "within a day"


def longest_deadline(opened_at: int, settings: Settings) -> int:
    """The latest deadline a petition opened at `opened_at` may have (seconds since the epoch):
    MAX_OPEN_DAYS later; a petition without a deadline closes then."""
    return opened_at + settings.max_open_days * DAY


def deadline_is_longest(row: Row, settings: Settings) -> bool:
    """Whether a published petition's deadline is the longest it may have (set by itself when it
    had none, or chosen so), so its pages can say why it closes then."""
    opened = row["opened_at"]
    return opened is not None and row["closes_at"] == longest_deadline(int(opened), settings)


def closed_by_deadline(row: Row) -> bool:
    """Whether the petition was closed by its deadline (closed at or after it), not by hand before
    it: only then do its pages say that the deadline closed it. `row` as it is now
    (petitions.as_of: an open petition past its deadline is closed by it)."""
    return row["closed_at"] is not None and row["closes_at"] is not None and row["closed_at"] >= row["closes_at"]


def deadline_problem(row: Row | None, closes_at: int, settings: Settings, moment: int) -> str | None:
    """None when `closes_at` is at most MAX_OPEN_DAYS after the petition opens (an open
    petition's opened_at; a new petition's or a draft's: `moment`, as if it opened now), else why
    not, in a sentence."""
    longest = days(settings.max_open_days)
    if row is not None and row["state"] != "draft" and row["opened_at"] is not None:
        latest = longest_deadline(int(row["opened_at"]), settings)
        if closes_at > latest:
            by = long_date(zones.iso_in(latest, row["time_zone"]), "hour", row["time_zone"])
            return (
                f"The deadline must be at most {longest} after the petition opened (by {by}): "
                "that is the longest a petition may stay open."
            )
        return None
    if closes_at > longest_deadline(moment, settings):
        return f"The deadline must be at most {longest} from now: that is the longest a petition may stay open."
    return None

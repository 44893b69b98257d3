"""Time zones: a petition's IANA zone, its local days, and moments written in it.

Counters are kept by the UTC hour (an hour's start, in seconds since the epoch); a petition's
day buckets, its "as of" day and the dates its pages show follow its own zone, so "3 June"
means the office's 3 June. An hour belongs to the local day in which it starts: in a zone whose
offset is not a whole number of hours (Asia/Kolkata, +05:30) the hour 18:00-19:00 UTC starts at
23:30 local time and counts on that day.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Annotated
from zoneinfo import ZoneInfo, available_timezones

from pydantic import AfterValidator, StringConstraints
from pydantic_core import PydanticCustomError

DEFAULT_ZONE = "UTC"
# Longest IANA name today is 32 characters (America/Argentina/ComodRivadavia); room to spare.
MAX_ZONE_LENGTH = 64
# Names zoneinfo may list that name no place: the machine's own setting, and tzdata's placeholder.
NOT_PLACES = frozenset({"localtime", "Factory", "posixrules"})
ZONE_EXAMPLE = "such as Europe/London"


@cache
def zone_names() -> tuple[str, ...]:
    """Every IANA zone name zoneinfo knows here (the tzdata package's when the system has none), sorted."""
    return tuple(sorted(available_timezones() - NOT_PLACES))


@cache
def _by_folded_name() -> dict[str, str]:
    return {name.casefold(): name for name in zone_names()}


def canonical_zone(name: str) -> str | None:
    """A typed zone name -> its IANA spelling ("europe/london" -> "Europe/London"), or None for no zone."""
    return _by_folded_name().get(name.strip().casefold())


def _checked(value: str) -> str:
    found = canonical_zone(value)
    if found is None:
        raise PydanticCustomError("time_zone", f"must be a time zone name from the IANA database, {ZONE_EXAMPLE}")
    return found


# A time zone in a request: an IANA name, any case; kept as the database spells it.
TimeZone = Annotated[str, StringConstraints(max_length=MAX_ZONE_LENGTH), AfterValidator(_checked)]


@cache
def zone(name: str) -> ZoneInfo:
    """The zone of a stored name (UTC for one this machine does not know, rather than failing a page)."""
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError):  # ZoneInfoNotFoundError is a KeyError
        return ZoneInfo(DEFAULT_ZONE)


def local(moment: int, name: str) -> datetime:
    """Seconds since the epoch -> the aware local time in the zone (in UTC where the local time would
    fall after the year 9999, which no datetime can hold: a deadline at the last second we accept)."""
    return in_zone(datetime.fromtimestamp(moment, UTC), name)


def in_zone(moment: datetime, name: str) -> datetime:
    """An aware datetime -> the same moment in the zone (unchanged past the year 9999, see `local`)."""
    try:
        return moment.astimezone(zone(name))
    except OverflowError:
        return moment


def local_date(moment: int, name: str) -> date:
    """Seconds since the epoch -> the date it falls on in the zone."""
    return local(moment, name).date()


def day_start(day: date, name: str) -> int:
    """The first moment of a local date, in seconds since the epoch.

    Where the clocks skip midnight (a daylight-saving change at 00:00), the day starts when they land.
    """
    midnight = datetime(day.year, day.month, day.day, tzinfo=zone(name))
    # fold=0 reads a skipped midnight with the offset before the change: the first moment that exists.
    return int(midnight.astimezone(UTC).timestamp())


def start_of_day(moment: int, name: str) -> int:
    """The first moment of the local day `moment` falls on, in seconds since the epoch."""
    return day_start(local_date(moment, name), name)


def end_of_day(day: date, name: str) -> int:
    """The first moment after a local date (the next day's start), in seconds since the epoch."""
    return day_start(day + timedelta(days=1), name)


def iso_in(moment: int | None, name: str) -> str | None:
    """Seconds since the epoch -> ISO 8601 with the zone's offset at that moment (`Z` for UTC)."""
    if moment is None:
        return None
    return local(moment, name).isoformat().replace("+00:00", "Z")


def local_input(moment: int | None, name: str) -> str:
    """A moment as a datetime-local field shows it in the zone: `YYYY-MM-DDTHH:MM` ("" for none)."""
    return "" if moment is None else local(moment, name).strftime("%Y-%m-%dT%H:%M")


def from_local_input(text: str, name: str) -> str:
    """A datetime-local field's `YYYY-MM-DDTHH:MM`, read in the zone -> ISO 8601 with its offset.

    Anything else comes back as typed, for the model to refuse. A time the clocks skip or repeat
    (a daylight-saving change) is read with the offset in force before the change.
    """
    try:
        typed = datetime.strptime(text, "%Y-%m-%dT%H:%M")
    except ValueError:
        return text
    return typed.replace(tzinfo=zone(name)).isoformat()

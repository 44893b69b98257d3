"""The count over time, for journalists: buckets, events and the count on a given day.

Everything here is built from the hourly counters the batcher keeps, so its cost
grows with the number of buckets, never with the number of signatures. Nothing
is finer than the petition's `timeline_floor` (day or hour): buckets, events and
the "as of" time all start on the floor, so no one can time one signature.
Days are the petition's local days (its `time_zone`; see zones.py): a UTC hour
counts on the local day in which it starts, and times are written with the
zone's offset.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from . import downloads, parameters, queries, zones
from .database import Database, Row, now
from .petitions import PetitionError, iso

# A day's length in UTC; a local day may be 23 or 25 hours, so days are stepped by date, not by this.
BUCKET_SECONDS = {"hour": 3600, "day": 86400}
HOUR = 3600
# Milestones besides the goal: these, then every further 10,000.
MILESTONES = (100, 500, 1_000, 2_500, 5_000, 10_000)
CSV_HEADER = ("start", "signed", "withdrawn", "invalidated", "cumulative")

Bucket = Literal["day", "hour"]


class TimelineQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    bucket: Bucket | None = None
    format: Literal["json", "csv"] = "json"


class CountQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    at: str | None = None


class TimelineBucket(BaseModel):
    start: str
    signed: int
    withdrawn: int
    invalidated: int
    cumulative: int


# Events recorded in the audit trail (organizers' actions that change what signers and the public
# see, and that no column of the petition records), in the order they sort within one moment.
AUDITED_KINDS = ("codes_revoked", "round_opened", "round_closed")
EventKind = Literal[
    "opened", "milestone", "text_changed", "codes_revoked", "round_opened", "round_closed", "closed", "purged"
]


def _is_none(value: object) -> bool:
    return value is None


class TimelineEvent(BaseModel):
    """What happened, at the start of its bucket. `signatures` and `goal`: a milestone's. `round` and
    `question`: the feedback round a round_opened or round_closed is about (its page is /r/{round});
    `batches`: how many batches of printed codes a codes_revoked revoked in that bucket. Those three
    are left out when null, so the kinds that came before them keep their exact JSON."""

    kind: EventKind
    at: str
    signatures: int | None = None
    goal: bool | None = None
    round: str | None = Field(default=None, exclude_if=_is_none)
    question: str | None = Field(default=None, exclude_if=_is_none)
    batches: int | None = Field(default=None, exclude_if=_is_none)


class Timeline(BaseModel):
    """The count over time: every bucket from opening to now (or the close), and what happened when."""

    bucket: Bucket
    floor: Bucket
    time_zone: str = zones.DEFAULT_ZONE  # the zone whose local days the buckets are
    as_of: str
    buckets: list[TimelineBucket]
    events: list[TimelineEvent]


class CountAt(BaseModel):
    at: str
    signature_count: int


@dataclass(frozen=True)
class Series:
    """A petition's buckets as numbers: (start, signed, withdrawn, invalidated, cumulative) each,
    starts in seconds since the epoch (a local day's first moment, or a UTC hour's)."""

    unit: int
    rows: list[tuple[int, int, int, int, int]]
    end: int  # the moment the series runs to: now, or when the last count moved after the close


def floor_of(moment: int, unit: int, zone: str = zones.DEFAULT_ZONE) -> int:
    """The start of the bucket `moment` falls in: its UTC hour, or its local day in the zone."""
    if unit == HOUR:
        return moment - moment % HOUR
    return zones.start_of_day(moment, zone)


def next_start(start: int, unit: int, zone: str) -> int:
    """The start of the bucket after the one starting at `start`."""
    if unit == HOUR:
        return start + HOUR
    return zones.end_of_day(zones.local_date(start, zone), zone)


def check_bucket(row: Row, bucket: str | None) -> str:
    """The bucket asked for (the petition's floor by default); 422 for one finer than the floor."""
    floor = row["timeline_floor"]
    chosen = bucket or floor
    if BUCKET_SECONDS[chosen] < BUCKET_SECONDS[floor]:
        raise PetitionError(422, f"This petition's timeline is shown by the {floor} at the finest.")
    return chosen


async def series(db: Database, row: Row, unit: int, *, moment: int | None = None) -> Series:
    """Every bucket of `unit` seconds from the opening to the end, empty ones as zeros."""
    counters = await db.fetch_all(queries.SELECT_HOURLY_COUNTS, {"petition_id": row["id"]})
    end = now() if moment is None else moment
    if row["closed_at"] is not None:
        # Signatures accepted before the close may be counted by a batch just after it.
        end = max([row["closed_at"], *(c["hour"] for c in counters)])
    zone = row["time_zone"]
    sums: dict[int, list[int]] = {}
    for counter in counters:
        # An hour counts on the local day in which it starts.
        totals = sums.setdefault(floor_of(counter["hour"], unit, zone), [0, 0, 0])
        totals[0] += counter["signed"]
        totals[1] += counter["withdrawn"]
        totals[2] += counter["invalidated"]
    rows = []
    cumulative = 0
    start = floor_of(row["opened_at"], unit, zone)
    last = floor_of(end, unit, zone)
    while start <= last:
        signed, withdrawn, invalidated = sums.get(start, (0, 0, 0))
        cumulative += signed - withdrawn - invalidated
        rows.append((start, signed, withdrawn, invalidated, cumulative))
        start = next_start(start, unit, zone)
    return Series(unit, rows, end)


async def typical_wait_days(db: Database, row: Row) -> int | None:
    """How many days this petition's signatures have typically waited to be counted so far: the
    median gap between the floor buckets in which batches closed (the first from the opening),
    rounded up to whole days; None before any batch closed. Built from public counts only."""
    if row["opened_at"] is None:
        return None
    unit, zone = BUCKET_SECONDS[row["timeline_floor"]], row["time_zone"]
    counters = await db.fetch_all(queries.SELECT_HOURLY_COUNTS, {"petition_id": row["id"]})
    closes = sorted({floor_of(c["hour"], unit, zone) for c in counters if c["signed"] or c["withdrawn"]})
    if not closes:
        return None
    starts = [floor_of(row["opened_at"], unit, zone), *closes]
    if unit == HOUR:
        gaps = sorted(later - earlier for earlier, later in itertools.pairwise(starts))
        return max(1, -(-gaps[len(gaps) // 2] // 86400))
    # Counted in local days, so a 25-hour day (a daylight-saving change) is still one day.
    days = [zones.local_date(start, zone).toordinal() for start in starts]
    gaps = sorted(later - earlier for earlier, later in itertools.pairwise(days))
    return max(1, gaps[len(gaps) // 2])


async def timeline(db: Database, row: Row, bucket: str) -> Timeline:
    """The timeline of an open or closed petition, by `bucket` (already checked against the floor)."""
    data = await series(db, row, BUCKET_SECONDS[bucket])
    floor_unit = BUCKET_SECONDS[row["timeline_floor"]]
    zone = row["time_zone"]
    return Timeline(
        bucket=bucket,  # type: ignore[arg-type]
        floor=row["timeline_floor"],
        time_zone=zone,
        as_of=iso(floor_of(data.end, floor_unit, zone), zone) or "",
        buckets=[
            TimelineBucket(start=iso(s, zone) or "", signed=a, withdrawn=w, invalidated=i, cumulative=c)
            for s, a, w, i, c in data.rows
        ],
        events=await events(db, row, data, floor_unit),
    )


async def events(db: Database, row: Row, data: Series, floor_unit: int) -> list[TimelineEvent]:
    """Opened, milestones (the goal among them), text changes, printed codes revoked, feedback rounds
    opened and closed, the close and the purge of identifying data, each at its bucket."""
    unit = max(data.unit, floor_unit)
    zone = row["time_zone"]
    found: list[tuple[int, int, TimelineEvent]] = []

    def add(moment: int, order: int, event: TimelineEvent) -> None:
        found.append((moment, order, event))

    def at(moment: int) -> str:
        return iso(floor_of(moment, unit, zone), zone) or ""

    add(row["opened_at"], 0, TimelineEvent(kind="opened", at=at(row["opened_at"])))
    reached = 0
    for start, _, _, _, cumulative in data.rows:
        while (milestone := next_milestone(reached, row["goal"])) <= cumulative:
            event = TimelineEvent(
                kind="milestone",
                at=at(start),
                signatures=milestone,
                goal=milestone == row["goal"],
            )
            add(start, 1, event)
            reached = milestone
    for version in await db.fetch_all(queries.SELECT_VERSION_TIMES, {"petition_id": row["id"]}):
        add(
            version["replaced_at"],
            2,
            TimelineEvent(kind="text_changed", at=at(version["replaced_at"])),
        )
    for moment, event in await audited_events(db, row, at):
        add(moment, 3 + AUDITED_KINDS.index(event.kind), event)
    if row["closed_at"] is not None:
        add(row["closed_at"], 6, TimelineEvent(kind="closed", at=at(row["closed_at"])))
    if row["purged_at"] is not None:
        add(row["purged_at"], 7, TimelineEvent(kind="purged", at=at(row["purged_at"])))
    # By bucket, then in a fixed order of kinds (opened first, the purge last): the order of two
    # events within one bucket would say more than the floor does.
    return [event for _, _, event in sorted(found, key=lambda item: (floor_of(item[0], unit, zone), item[1]))]


async def audited_events(db: Database, row: Row, at: Callable[[int], str]) -> list[tuple[int, TimelineEvent]]:
    """The public events of the petition's audit trail as (moment in seconds, event), each at its
    bucket (`at`): one per round and kind and bucket; one codes_revoked per bucket, counting its
    batches. Nothing from before the opening (a draft's actions are never public), and no round
    event without its round (a draft round never shows)."""
    found: dict[tuple[str, str, str], tuple[int, TimelineEvent]] = {}
    for entry in await db.fetch_all(queries.SELECT_PUBLIC_AUDIT_EVENTS, {"petition_id": row["id"]}):
        kind, moment = entry["public_event"], int(entry["at_micros"]) // 1_000_000
        if kind not in AUDITED_KINDS or moment < row["opened_at"]:
            continue
        bucket = at(moment)
        if kind == "codes_revoked":
            key = (kind, "", bucket)
            earlier = found.get(key)
            batches = 1 if earlier is None else (earlier[1].batches or 0) + 1
            found[key] = (earlier[0] if earlier else moment, TimelineEvent(kind=kind, at=bucket, batches=batches))
            continue
        if entry["round_question"] is None:
            continue
        key = (kind, str(entry["public_ref"]), bucket)
        if key not in found:
            event = TimelineEvent(kind=kind, at=bucket, round=entry["public_ref"], question=entry["round_question"])
            found[key] = (moment, event)
    return list(found.values())


def next_milestone(reached: int, goal: int) -> int:
    """The smallest milestone above `reached`: the goal, the fixed ones, then each further 10,000."""
    fixed = [m for m in (*MILESTONES, goal) if m > reached]
    beyond = (reached // 10_000 + 1) * 10_000
    return min([*fixed, beyond])


def as_csv(data: Timeline) -> str:
    rows = ([item.start, item.signed, item.withdrawn, item.invalidated, item.cumulative] for item in data.buckets)
    return downloads.as_csv(CSV_HEADER, rows)


def parse_day(text: str, row: Row, *, today: date | None = None) -> date:
    """A `YYYY-MM-DD` no later than today and not before the opening, both in the petition's zone; 422 otherwise."""
    day = parameters.parse_day(text)
    zone = row["time_zone"]
    current = today or zones.local_date(now(), zone)
    if day > current:
        raise PetitionError(422, "That date is in the future: there is no count for it yet.")
    if day < zones.local_date(row["opened_at"], zone):
        raise PetitionError(422, "The petition had not opened on that date.")
    return day


async def count_at(db: Database, row: Row, at: str | None) -> CountAt:
    """The count at the end of a local day in the petition's zone: every hour that starts before
    the next local day begins (the last closed batch's count without `at`)."""
    zone = row["time_zone"]
    if at is None:
        floor_unit = BUCKET_SECONDS[row["timeline_floor"]]
        moment = now() if row["closed_at"] is None else row["closed_at"]
        return CountAt(at=iso(floor_of(moment, floor_unit, zone), zone) or "", signature_count=row["signature_count"])
    day = parse_day(at, row)
    end = zones.end_of_day(day, zone)
    value = await db.fetch_val(queries.SUM_HOURLY_COUNTS_BEFORE, {"petition_id": row["id"], "before": end})
    return CountAt(at=day.isoformat(), signature_count=int(value or 0))

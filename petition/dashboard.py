"""The organizers' dashboard of one petition: where it stands and what needs their attention.

One function, `dashboard`, reads everything the dashboard shows into one model, which both the
page (/organize/petitions/{id}) and the JSON API (/api/v1/petitions/{slug}/dashboard) use. It
shows organizers nothing the public or the petition's own pages do not already hold at the same
grain: the count and the count by method; the timeline at the petition's floor (DESIGN rule 6:
organizers see no finer time than the public); milestones; the moderation queue's size; code and
flyer batches with counters below MIN_CELL_SIZE as null ("fewer than", rule 8); updates and
their email's progress (counts only); feedback rounds; the retention date; the newest entries of
the petition's audit trail (organizers' own actions, to the minute); and alerts:

- `burst`: more signatures counted in the last hour than usual. "The last hour" is the busier of
  two hour buckets of the hourly counters (UTC hours, written when a batch closes): the current
  hour's so far and the one before it, so a burst shows as soon as its batch closes and for the
  whole hour after. "Usual" is the median of the 168 hour buckets of the 7 days before those two
  (empty hours count as 0). It fires when that bucket's count is above
  max(20, MIN_CELL_SIZE, 5 x the median), and only while the petition is open: its point is to
  revoke the unused codes of a batch that may have leaked (on the codes page, or with
  POST /api/v1/petitions/{slug}/codes/{batch_id}/revoke). It never times fewer than 21
  signatures, and with a day floor it does not say the hour's count, only that it went over.
- `mail_failing`: at least MIN_CELL_SIZE messages in the outbox (the whole service's) are not
  sent yet and have failed more than twice (the first try and its two retries; `failures` > 2).
  It gives no count and names no petition: a crowd of messages, so that one signer's mistyped
  address never raises it.
- `codes_nearly_spent`: while the petition is open (a closed one takes no more codes), a batch of
  printed codes, not revoked, with 90% or more of its codes used and that count shown (at least
  MIN_CELL_SIZE).
"""

from __future__ import annotations

import statistics
from typing import Literal

from pydantic import BaseModel

from . import codes, flyer_batches, organizers, periods, petition_updates, petitions, queries, reasons, timeline, zones
from .codes import CodeBatchPublic
from .database import Database, Row, now
from .feedback import rounds as feedback_rounds
from .feedback.rounds import RoundOrganizerView
from .flyer_batches import FlyerBatch
from .petition_updates import UpdateProgress
from .petitions import CountByMethod
from .settings import Settings
from .timeline import Timeline

HOUR = 3600
BURST_MINIMUM = 20  # the least count a burst needs, however quiet the week before
BURST_FACTOR = 5  # a burst is this many times the median hour of the week before
BASELINE_HOURS = 7 * 24
# "Past their second retry": failed on the first try and on both retries after it.
MAIL_FAILURES_ALLOWED = 2
NEARLY_SPENT = (9, 10)  # used / size at or above 9/10
AUDIT_ENTRIES = 50  # the newest entries of the petition's audit trail it shows
UPDATES_SHOWN = 5  # the newest updates it shows (the updates page has them all)


class Milestone(BaseModel):
    """A count the petition reached: `at` is the start of the floor bucket in which it did."""

    signatures: int
    goal: bool
    at: str


class Alert(BaseModel):
    """Something that needs the organizers: `kind`, and `message` saying it in words.

    burst: `threshold` (the count the last hour went over) and `count` (that hour's count, only
    when the petition's floor is the hour; null with a day floor). codes_nearly_spent: `batch`
    (the code batch's id)."""

    kind: Literal["burst", "mail_failing", "codes_nearly_spent"]
    message: str
    threshold: int | None = None
    count: int | None = None
    batch: str | None = None


class ReasonCounts(BaseModel):
    """Signers' reasons by status: `waiting` is the moderation queue's size."""

    waiting: int
    approved: int
    hidden: int


class Retention(BaseModel):
    """When what could identify its signers goes: `retention_days` after the close; `destroyed_at`
    the day it is due (null while a draft or open, and once done); `purged_at` when it was done,
    rounded down to the floor (null until then)."""

    retention_days: int
    destroyed_at: str | None
    purged_at: str | None


class AuditEntry(BaseModel):
    """An action on the petition: what, by whom (an organizer's login address; null: the service
    itself), and when, to the minute in the petition's zone."""

    action: str
    detail: str
    by: str | None
    at: str


class Dashboard(BaseModel):
    """A petition's dashboard, for its organizers. Times in the petition's zone, rounded down to its
    floor (`as_of`, the timeline, milestones) except the audit trail's (to the minute). A draft has
    zero counts, no timeline (null) and no alerts."""

    id: str
    slug: str
    title: str
    state: Literal["draft", "open", "closed"]
    url: str
    goal: int
    signature_count: int
    signature_count_by_method: CountByMethod
    codes_issued: int
    timeline: Timeline | None
    milestones: list[Milestone]
    reasons: ReasonCounts
    code_batches: list[CodeBatchPublic]
    flyer_batches: list[FlyerBatch]
    updates: list[UpdateProgress]
    rounds: list[RoundOrganizerView]
    retention: Retention
    alerts: list[Alert]
    audit: list[AuditEntry]


def burst(counters: dict[int, int], moment: int, min_cell_size: int) -> tuple[int, int] | None:
    """Hour buckets (start of the UTC hour in seconds -> signatures counted) -> (the last hour's
    count, the threshold it went over) when it is a burst (see the module's docstring), else None."""
    current = moment - moment % HOUR
    recent = max(counters.get(current, 0), counters.get(current - HOUR, 0))
    first = current - HOUR - BASELINE_HOURS * HOUR
    week = [counters.get(first + index * HOUR, 0) for index in range(BASELINE_HOURS)]
    threshold = max(BURST_MINIMUM, min_cell_size, int(BURST_FACTOR * statistics.median(week)))
    return (recent, threshold) if recent > threshold else None


def burst_alert(count: int, threshold: int, floor: str) -> Alert:
    """The burst alert; the hour's count only when the public sees hours too (an hour floor)."""
    counted = f"{count:,} signatures were" if floor == "hour" else "More signatures than usual were"
    message = (
        f"{counted} counted in the last hour: over {threshold:,}, the alert's threshold (five times the median "
        "hour of the past week, and at least 20). If a batch of printed codes may have leaked, revoke its unused codes."
    )
    return Alert(kind="burst", message=message, threshold=threshold, count=count if floor == "hour" else None)


def nearly_spent(batch: CodeBatchPublic) -> bool:
    """A batch not revoked whose shown used count is at least 90% of its size."""
    used = batch.used
    return not batch.revoked and used is not None and used * NEARLY_SPENT[1] >= batch.size * NEARLY_SPENT[0]


def codes_alert(batch: CodeBatchPublic) -> Alert:
    label = f"“{batch.label}”" if batch.label else "without a label"
    message = (
        f"The printed codes of the batch {label} are nearly all used: {batch.used:,} of {batch.size:,}. "
        "Make another batch before they run out."
    )
    return Alert(kind="codes_nearly_spent", message=message, batch=batch.id)


MAIL_FAILING = (
    "Email is failing: messages have failed to send three times or more. Signers may not get their codes; "
    "ask the service's operator to check its mail settings, and offer printed codes meanwhile."
)


def audit_entry(row: Row, zone: str) -> AuditEntry:
    seconds = int(row["at_micros"]) // 1_000_000
    return AuditEntry(
        action=row["action"],
        detail=row["detail"],
        by=row["email"],
        at=zones.iso_in(seconds - seconds % 60, zone) or "",
    )


async def dashboard(*, db: Database, row: Row, settings: Settings, moment: int | None = None) -> Dashboard:
    """A petition's row (petitions.find: as it is now) -> its dashboard, as of `moment` (now).

    The caller checks that the one asking organizes it (404 otherwise, as for every organizer read)."""
    moment = now() if moment is None else moment
    view = petitions.public_view(row, settings.base_url)
    zone, floor = row["time_zone"], row["timeline_floor"]
    flyer_rows = await db.fetch_all(queries.SELECT_FLYER_BATCHES, {"petition_id": row["id"]})
    # A tear-off batch's codes go out only in its flyers' first PDF, never as a list.
    tab_batches = {flyer["code_batch_id"] for flyer in flyer_rows if flyer["code_batch_id"]}
    code_batches = [
        batch.model_copy(update={"downloadable": False}) if batch.id in tab_batches else batch
        for batch in await codes.list_batches(db, settings, row["id"])
    ]
    data = await timeline.timeline(db, row, floor) if row["opened_at"] is not None else None
    alerts = await alerts_of(db, row, settings, code_batches, moment)
    trail = await organizers.petition_audit_trail(db, row["id"], limit=AUDIT_ENTRIES)
    return Dashboard(
        id=row["id"],
        slug=row["slug"],
        title=row["title"],
        state=view.state,
        url=view.url,
        goal=row["goal"],
        signature_count=view.signature_count,
        signature_count_by_method=view.signature_count_by_method,
        codes_issued=view.codes_issued,
        timeline=data,
        milestones=[
            Milestone(signatures=event.signatures or 0, goal=bool(event.goal), at=event.at)
            for event in (data.events if data else [])
            if event.kind == "milestone"
        ],
        reasons=ReasonCounts(**await reasons.counts(db, row["id"])),
        code_batches=code_batches,
        flyer_batches=[flyer_batches.view(flyer, settings) for flyer in flyer_rows],
        updates=await petition_updates.all_progress(db, row, UPDATES_SHOWN),
        rounds=[
            feedback_rounds.organizer_view(each, row, settings)
            for each in await feedback_rounds.rounds_of(db, row["id"], drafts=True)
        ],
        retention=Retention(
            retention_days=row["retention_days"],
            destroyed_at=petitions.iso(periods.destroyed_at(row), zone),
            purged_at=petitions.floor_time(row["purged_at"], floor, zone),
        ),
        alerts=alerts,
        audit=[audit_entry(entry, zone) for entry in trail],
    )


async def alerts_of(
    db: Database, row: Row, settings: Settings, code_batches: list[CodeBatchPublic], moment: int
) -> list[Alert]:
    """The petition's alerts, in the order they matter: a burst, failing mail, codes nearly spent."""
    if row["state"] == "draft":
        return []
    found = []
    if petitions.is_open(row, moment):
        since = moment - moment % HOUR - (BASELINE_HOURS + 1) * HOUR
        counters = await db.fetch_all(queries.SELECT_HOURLY_SIGNED_SINCE, {"petition_id": row["id"], "since": since})
        fired = burst({c["hour"]: int(c["signed"]) for c in counters}, moment, settings.min_cell_size)
        if fired is not None:
            found.append(burst_alert(*fired, row["timeline_floor"]))
    failing = await db.fetch_val(queries.COUNT_OUTBOX_FAILING, {"failures": MAIL_FAILURES_ALLOWED})
    if int(failing or 0) >= settings.min_cell_size:
        found.append(Alert(kind="mail_failing", message=MAIL_FAILING))
    if petitions.is_open(row, moment):  # "make another batch" is for a petition that takes them
        found += [codes_alert(batch) for batch in code_batches if nearly_spent(batch)]
    return found

"""Petitions: their fields and rules, states, versions of their text, and who may change them."""

from __future__ import annotations

import json
import re
import secrets
import time
import unicodedata
from datetime import datetime
from typing import Annotated, Any, Literal

from anyascii import anyascii
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from . import addresses, flagger, languages, queries, tlog, zones
from .database import Database, Row, Transaction, is_unique_violation, now
from .feedback.purge import delete_draft_rounds
from .organizers import audit
from .parameters import Moment
from .periods import DAY, closed_by_deadline, days, deadline_problem, longest_deadline
from .settings import MAX_RETENTION_DAYS, Settings
from .text import LINE, PROSE, SENTENCE
from .tokens import new_id
from .zones import DEFAULT_ZONE, TimeZone

STATES = ("draft", "open", "closed")
VISIBLE_STATES = ("open", "closed")
# Fixed once published: who may sign and how, and how finely the timeline may be read.
# The slug too: the transparency log names the petition by it. The time zone too: it decides
# which day each published hour counts on, so changing it would move counts between days.
FROZEN_AFTER_PUBLISHING = ("slug", "verification", "allowed_domains", "timeline_floor", "time_zone")
TEXT_FIELDS = ("title", "summary", "body", "target")
MAX_DOMAINS = 50
SLUG_FALLBACK_PREFIX = "petition-"
# A derived slug is cut here, leaving room for "-2" ... "-50" within the 60 the type allows.
DERIVED_SLUG_LENGTH = 50
MIN_SLUG_LENGTH = 3
MAX_SLUG_NUMBER = 50
SLUG_TAKEN = "That slug is taken by a published petition: change the petition's slug, then publish it."
# Words a route uses as a literal path segment where a slug would stand, under /p/,
# /organize/petitions/ or /api/v1/petitions/ (/organize/petitions/new): a petition with
# such a slug could never be reached there. tests/test_petitions.py derives the words from
# the route list and fails when one is missing here.
RESERVED_SLUGS = frozenset({"new"})
# A petition's id (tokens.new_id: 24 hex digits) also addresses it, so no slug may look like one.
PETITION_ID = re.compile(r"^[0-9a-f]{24}$")

Slug = Annotated[str, StringConstraints(min_length=3, max_length=60, pattern=r"^[a-z0-9-]+$")]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120), LINE]
Summary = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), SENTENCE]
Body = Annotated[str, StringConstraints(max_length=20_000), PROSE]
Target = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), LINE]
Goal = Annotated[int, Field(strict=True, gt=0, le=1_000_000_000)]
RetentionDays = Annotated[int, Field(strict=True, ge=0, le=MAX_RETENTION_DAYS)]
Method = Literal["email", "code"]
Floor = Literal["day", "hour"]
# A BCP 47 tag, kept in its standard form (`EN_gb` -> `en-GB`); a bad one is refused with
# languages.LanguageError's own sentence (a ValueError, so pydantic reports it as the field's).
Language = Annotated[
    str,
    AfterValidator(languages.normalize),
    Field(description="A BCP 47 language tag such as en, ar, ja or pt-BR, kept in its standard form."),
]
# Organizer-only: the words reasons are flagged for (flagger), never shown to the public.
SensitiveWords = Annotated[
    list[str],
    AfterValidator(flagger.clean_sensitive_words),
    Field(
        description=f"Team names, project codenames, office locations: reasons that contain one are flagged for "
        f"the organizers before they approve them. At most {flagger.MAX_SENSITIVE_WORDS} entries of 1 to "
        f"{flagger.MAX_SENSITIVE_WORD_LENGTH} characters, one line each; blank entries and duplicates (ignoring "
        "case and accents) are dropped. Organizer-only: never in the public view."
    ),
]


class PetitionError(Exception):
    """A refused change; `status` is 404, 409 or 422, `message` says why, `field` names the field
    at fault (None: the request as a whole)."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


def slug_problem(slug: str) -> str | None:
    """None for a slug that can address a petition, else why it cannot."""
    if slug in RESERVED_SLUGS:
        return f"must not be {slug!r}, a word the site's own addresses use; choose another"
    if PETITION_ID.match(slug):
        return "must not be 24 hexadecimal digits, which would look like a petition's id; choose another"
    return None


def _slug(value: str | None) -> str | None:
    if value is not None and (problem := slug_problem(value)):
        raise ValueError(problem)
    return value


def _domains(value: list[str] | None) -> list[str] | None:
    if value is None:
        return value
    cleaned = []
    for typed in value:
        # Kept in the form addresses' domains are matched in (IDNA, lower case), so the match is exact.
        try:
            domain = addresses.normalise_domain(typed)
        except ValueError:
            raise ValueError("each must be a domain like example.org") from None
        if domain not in cleaned:
            cleaned.append(domain)
    return cleaned


def _methods(value: list[str] | None) -> list[str] | None:
    if value is None:
        return value
    if not value:
        raise ValueError("needs at least one method")
    return [method for method in ("email", "code") if method in value]


def _future(value: datetime | None) -> datetime | None:
    if value is not None and value.timestamp() <= time.time():
        raise ValueError("must be in the future")
    return value


class PetitionFields(BaseModel):
    """Validation shared by creating and updating: domains, methods, deadline (lengths and characters: the types)."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("slug", check_fields=False)
    @classmethod
    def _slug(cls, value: str | None) -> str | None:
        return _slug(value)

    @field_validator("allowed_domains", check_fields=False)
    @classmethod
    def _allowed_domains(cls, value: list[str] | None) -> list[str] | None:
        return _domains(value)

    @field_validator("verification", check_fields=False)
    @classmethod
    def _verification(cls, value: list[str] | None) -> list[str] | None:
        return _methods(value)

    @field_validator("closes_at", check_fields=False)
    @classmethod
    def _closes_at(cls, value: datetime | None) -> datetime | None:
        return _future(value)


class PetitionCreate(PetitionFields):
    slug: Slug | None = None
    title: Title
    summary: Summary
    body: Body = ""
    target: Target
    goal: Goal
    closes_at: Moment | None = None
    allowed_domains: Annotated[list[str], Field(max_length=MAX_DOMAINS)] = []
    verification: Annotated[list[Method], Field(max_length=2)] = ["email"]
    show_names: bool = False
    reasons_enabled: bool = False
    timeline_floor: Floor = "day"
    time_zone: TimeZone = DEFAULT_ZONE
    language: Language = languages.DEFAULT
    sensitive_words: SensitiveWords = []
    # Left out: the service's RETENTION_DAYS (petitions.create reads whether it was given).
    retention_days: Annotated[
        RetentionDays,
        Field(
            description="Days after closing until what could identify signers is destroyed, 0 to 365; "
            "left out: the service's RETENTION_DAYS (30 unless its operator changed it)."
        ),
    ] = 30


class PetitionUpdate(PetitionFields):
    slug: Slug | None = None
    title: Title | None = None
    summary: Summary | None = None
    body: Body | None = None
    target: Target | None = None
    goal: Goal | None = None
    closes_at: Moment | None = None
    allowed_domains: Annotated[list[str], Field(max_length=MAX_DOMAINS)] | None = None
    verification: Annotated[list[Method], Field(max_length=2)] | None = None
    show_names: bool | None = None
    reasons_enabled: bool | None = None
    timeline_floor: Floor | None = None
    time_zone: TimeZone | None = None
    language: Language | None = None
    retention_days: RetentionDays | None = None
    sensitive_words: SensitiveWords | None = None

    @model_validator(mode="after")
    def _no_nulls(self) -> PetitionUpdate:
        # Only a deadline can be taken away (closes_at: null); every other field needs a value.
        nulls = [name for name in sorted(self.model_fields_set) if name != "closes_at" and getattr(self, name) is None]
        if nulls:
            raise ValueError(f"{', '.join(nulls)} cannot be null; leave a field out to keep it")
        return self


class CountByMethod(BaseModel):
    email: int
    code: int


class PetitionPublic(BaseModel):
    id: str
    slug: str
    title: str
    summary: str
    body: str
    target: str
    state: Literal["open", "closed"] | Literal["draft"]
    goal: int
    signature_count: int
    signature_count_by_method: CountByMethod
    # The printed codes committed in the log: at most this many signatures can be by printed code.
    codes_issued: int
    opened_at: str | None
    closes_at: str | None
    closed_at: str | None
    # Days after the close until what could identify its signers is destroyed (its pages say it in words).
    retention_days: int
    # When its identifying data was destroyed (the retention purge), rounded down like closed_at; null until then.
    purged_at: str | None
    # Approved reasons (GET .../reasons lists them); waiting and hidden ones are never counted here.
    reason_count: int
    text_changed_at: str | None
    time_zone: str
    language: str
    url: str


class PetitionOrganizerView(PetitionPublic):
    """What a petition's organizers see: the public view and every setting."""

    allowed_domains: list[str]
    verification: list[str]
    show_names: bool
    reasons_enabled: bool
    timeline_floor: str
    created_at: str
    sensitive_words: list[str]


class PetitionList(BaseModel):
    petitions: list[PetitionPublic]
    next_cursor: str | None


def slugify(title: str) -> str:
    """A title -> a URL slug of `a-z0-9-`, transliterated to Latin letters (anyascii): "Ίση αμοιβή" ->
    "isi-amoivi"; a random one only when fewer than 3 letters or digits remain; never a reserved word or an id."""
    slug = re.sub(r"[^a-z0-9]+", "-", transliterated(title).lower()).strip("-")
    slug = slug[:DERIVED_SLUG_LENGTH].strip("-")
    if len(slug) < MIN_SLUG_LENGTH:
        slug = SLUG_FALLBACK_PREFIX + secrets.token_hex(4)
    if slug_problem(slug):
        slug = f"{slug}-petition"
    return slug


def transliterated(text: str) -> str:
    """Text -> ASCII, character by character (anyascii), each syllable of a script that writes no spaces
    between words (Chinese, Japanese kanji, Korean) set apart: "同工同酬" -> "Tong Gong Tong Chou".
    Symbols and emoji become spaces: anyascii would spell them out (":slight_smile:")."""
    pieces = []
    for char in text:
        if char.isascii():
            pieces.append(char)
            continue
        if unicodedata.category(char)[0] not in "LMN":  # letters, marks, digits
            pieces.append(" ")
            continue
        ascii_char = anyascii(char)
        # anyascii capitalizes each syllable of such scripts ("TongGong"); a capital letter's own
        # transliteration (Greek, Cyrillic) starts a word only where the text already has a space.
        if ascii_char[:1].isupper() and not char.isupper():
            ascii_char = f" {ascii_char}"
        pieces.append(ascii_char)
    return "".join(pieces)


def floor_time(moment: int | None, floor: str, zone: str = DEFAULT_ZONE) -> str | None:
    """Seconds since the epoch -> ISO 8601 in the zone (its offset, `Z` for UTC), rounded down to the
    start of the local day or the hour."""
    if moment is None:
        return None
    start = zones.start_of_day(moment, zone) if floor == "day" else moment - moment % 3600
    return zones.iso_in(start, zone)


def iso(moment: int | None, zone: str = DEFAULT_ZONE) -> str | None:
    """Seconds since the epoch -> ISO 8601 with the zone's offset (`Z` for UTC)."""
    return zones.iso_in(moment, zone)


def closed_at(row: Row) -> str | None:
    """When the petition closed, as shown: the deadline itself when the deadline closed it (public to
    the minute already, and a deadline rounded down to the start of its day would read, west of the
    petition's zone or in an hourly view, as a close before the deadline); otherwise rounded down
    to the floor like every time shown."""
    if closed_by_deadline(row):
        return iso(row["closes_at"], row["time_zone"])
    return floor_time(row["closed_at"], row["timeline_floor"], row["time_zone"])


def is_open(row: Row, moment: int | None = None) -> bool:
    """Whether the petition takes signatures and withdrawals at `moment` (now by default).

    The deadline itself decides (`closes_at <= moment` is closed), not whether the housekeeping
    job has stamped the petition closed yet; queries.OPEN_AT_NOW says the same in SQL.
    """
    if row["state"] != "open" or row.get("purged_at") is not None:
        return False
    return row["closes_at"] is None or row["closes_at"] > (now() if moment is None else moment)


def as_of(row: Row, moment: int | None = None) -> Row:
    """The row as it is at `moment`: an open petition past its deadline is closed at the deadline,
    exactly as the housekeeping job will stamp it (so pages, JSON and checks agree before it runs)."""
    if row["state"] == "open" and not is_open(row, moment):
        return {**row, "state": "closed", "closed_at": row["closes_at"]}
    return row


def address(row: Row) -> str:
    """What names a petition in paths: its slug once published; a draft's id (its slug is not reserved yet)."""
    return str(row["id"] if row["state"] == "draft" else row["slug"])


def public_view(row: Row, base_url: str) -> PetitionPublic:
    row = as_of(row)
    floor, zone = row["timeline_floor"], row["time_zone"]
    return PetitionPublic(
        id=row["id"],
        slug=row["slug"],
        title=row["title"],
        summary=row["summary"],
        body=row["body"],
        target=row["target"],
        state=row["state"],
        goal=row["goal"],
        signature_count=row["signature_count"],
        signature_count_by_method=CountByMethod(email=row["count_email"], code=row["count_code"]),
        codes_issued=row["codes_issued"],
        opened_at=floor_time(row["opened_at"], floor, zone),
        closes_at=iso(row["closes_at"], zone),
        closed_at=closed_at(row),
        retention_days=row["retention_days"],
        purged_at=floor_time(row["purged_at"], floor, zone),
        reason_count=row["reason_count"],
        text_changed_at=floor_time(row["text_changed_at"], floor, zone),
        time_zone=zone,
        language=row["language"],
        url=f"{base_url}/p/{address(row)}",
    )


def organizer_view(row: Row, base_url: str) -> PetitionOrganizerView:
    return PetitionOrganizerView(
        **public_view(row, base_url).model_dump(),
        allowed_domains=json.loads(row["allowed_domains"]),
        verification=json.loads(row["verification"]),
        show_names=bool(row["show_names"]),
        reasons_enabled=bool(row["reasons_enabled"]),
        timeline_floor=row["timeline_floor"],
        created_at=iso(row["created_at"], row["time_zone"]) or "",
        sensitive_words=flagger.words_of(row),
    )


async def find(db: Database, key: str) -> Row | None:
    """The petition a path names, as it is now (see `as_of`): by its id, or by its slug once
    published (a draft's slug names nothing)."""
    row = await db.fetch_one(queries.SELECT_PETITION_BY_ID_OR_SLUG, {"key": key})
    return None if row is None else as_of(row)


async def is_organizer_of(db: Database, petition_id: str, organizer_id: str) -> bool:
    row = await db.fetch_one(
        queries.SELECT_PETITION_ORGANIZER, {"petition_id": petition_id, "organizer_id": organizer_id}
    )
    return row is not None


async def visible_to(db: Database, key: str, organizer_id: str | None) -> Row | None:
    """The petition (by id or published slug) if the caller may see it: open or closed to all,
    drafts to their organizers only."""
    row = await find(db, key)
    if row is None:
        return None
    if row["state"] in VISIBLE_STATES:
        return row
    if organizer_id and await is_organizer_of(db, row["id"], organizer_id):
        return row
    return None


async def editable_by(db: Database, key: str, organizer_id: str) -> Row:
    """The petition (by id or published slug) if the organizer may change it; PetitionError(404)
    otherwise (they may not see it)."""
    row = await find(db, key)
    if row is None or not await is_organizer_of(db, row["id"], organizer_id):
        raise PetitionError(404, "There is no petition at this address that you organize.")
    return row


async def create(db: Database, settings: Settings, *, organizer_id: str, data: PetitionCreate) -> str:
    """A new draft; its id. Its slug is reserved only when it is published, so any slug is accepted
    now (a derived one gets a number when a published petition, or one of the organizer's own, has it).
    Without `retention_days` it gets RETENTION_DAYS. PetitionError(422) for a deadline more than
    MAX_OPEN_DAYS away."""
    base_slug = data.slug or slugify(data.title)
    moment = now()
    if data.closes_at and (problem := deadline_problem(None, int(data.closes_at.timestamp()), settings, moment)):
        raise PetitionError(422, problem, "closes_at")
    retention_days = data.retention_days if "retention_days" in data.model_fields_set else settings.retention_days
    values: dict[str, Any] = {
        "title": data.title,
        "summary": data.summary,
        "body": data.body,
        "target": data.target,
        "goal": data.goal,
        "closes_at": int(data.closes_at.timestamp()) if data.closes_at else None,
        "allowed_domains": json.dumps(data.allowed_domains),
        "verification": json.dumps(data.verification),
        "show_names": int(data.show_names),
        "reasons_enabled": int(data.reasons_enabled),
        "timeline_floor": data.timeline_floor,
        "time_zone": data.time_zone,
        "language": data.language,
        "retention_days": retention_days,
        "sensitive_words": json.dumps(data.sensitive_words),
        "created_by": organizer_id,
        "created_at": moment,
    }
    petition_id = new_id()

    async def insert(tx: Transaction) -> str:
        slug = base_slug
        # Never numbered against other organizers' drafts: that would tell their slugs.
        for attempt in range(1, MAX_SLUG_NUMBER if not data.slug else 1):
            taken = {"slug": slug, "id": petition_id, "organizer_id": organizer_id}
            if await tx.fetch_one(queries.SELECT_SLUG_TAKEN, taken) is None:
                break
            slug = f"{base_slug[:55]}-{attempt + 1}"
        await tx.execute(queries.INSERT_PETITION, {**values, "id": petition_id, "slug": slug})
        await tx.execute(queries.INSERT_PETITION_ORGANIZER, {"petition_id": petition_id, "organizer_id": organizer_id})
        await tx.execute(queries.BUMP_CACHE_VERSION)
        # Named by its id: a draft's slug is not reserved until it is published.
        await audit(tx, organizer_id, "draft created", petition_id, petition_id=petition_id)
        return petition_id

    return await db.write(insert)


# What a closed petition still takes: a shorter retention period, and sensitive words, as its
# reasons are still moderated after it closes.
CHANGEABLE_WHEN_CLOSED = {"retention_days", "sensitive_words"}
CLOSED_UNCHANGEABLE = (
    "A closed petition cannot change, except to shorten its retention period (retention_days) "
    "and to change its sensitive words (sensitive_words)."
)
PURGED = "This petition's identifying data was already destroyed: its retention period can no longer change."
PURGED_WORDS = "This petition's identifying data was already destroyed: its sensitive words can no longer change."


def retention_problem(row: Row, retention_days: int) -> PetitionError | None:
    """None when a petition may take `retention_days` now, else the refusal: 409 once its
    identifying data was destroyed, 422 for a longer period once published (signers were told
    the shorter one)."""
    if row["purged_at"] is not None:
        return PetitionError(409, PURGED, "retention_days")
    current = int(row["retention_days"])
    if row["state"] != "draft" and retention_days > current:
        return PetitionError(
            422,
            f"The retention period can be shortened, never lengthened, once the petition is published: "
            f"it is {days(current)}; enter {current} or fewer.",
            "retention_days",
        )
    return None


async def update(db: Database, settings: Settings, *, organizer_id: str, slug: str, data: PetitionUpdate) -> None:
    """Apply the fields given; keeps the earlier text of a published petition.

    A closed petition takes only a shorter `retention_days` and `sensitive_words` (PetitionError 409
    for any other field); a published one never a longer retention period (422); a purged one
    neither (409). A deadline more than MAX_OPEN_DAYS after opening is 422; `closes_at: null` on an
    open petition sets the longest deadline instead (every petition ends)."""
    changes = data.model_dump(exclude_unset=True)
    row = await editable_by(db, slug, organizer_id)
    moment = now()
    if row["state"] == "closed" and set(changes) - CHANGEABLE_WHEN_CLOSED:
        raise PetitionError(409, CLOSED_UNCHANGEABLE)
    if "sensitive_words" in changes and row["purged_at"] is not None:
        raise PetitionError(409, PURGED_WORDS, "sensitive_words")
    if row["state"] != "draft":
        frozen = [name for name in FROZEN_AFTER_PUBLISHING if name in changes]
        if frozen:
            raise PetitionError(409, f"{', '.join(frozen)} cannot change after publishing.")
    if "retention_days" in changes and (refusal := retention_problem(row, changes["retention_days"])):
        raise refusal
    for name in ("allowed_domains", "verification", "sensitive_words"):
        if name in changes:
            changes[name] = json.dumps(changes[name])
    for name in ("show_names", "reasons_enabled"):
        if name in changes:
            changes[name] = int(changes[name])
    if "closes_at" in changes and changes["closes_at"] is not None:
        changes["closes_at"] = int(changes["closes_at"].timestamp())
        if problem := deadline_problem(row, changes["closes_at"], settings, moment):
            raise PetitionError(422, problem, "closes_at")
    elif "closes_at" in changes and row["state"] == "open":
        # Every petition ends: without a deadline of its own, it closes after the longest period
        # (or now, should a lowered MAX_OPEN_DAYS have passed that already).
        changes["closes_at"] = max(longest_deadline(int(row["opened_at"]), settings), moment)
    text_changed = row["state"] == "open" and any(
        name in changes and changes[name] != row[name] for name in TEXT_FIELDS
    )
    if not changes:
        return
    action, detail = edit_entry(row, changes)
    retention = changes.pop("retention_days", None)
    words = changes.pop("sensitive_words", None)
    assignments = ", ".join(f"{name} = :{name}" for name in changes)

    async def apply(tx: Transaction) -> None:
        if retention is not None:
            # Checked again in the write: two organizers shortening at once must not end longer.
            shortened = {"id": row["id"], "retention_days": retention}
            if await tx.fetch_one(queries.SET_RETENTION, shortened) is None:
                changed = await tx.fetch_one(queries.SELECT_PETITION_BY_ID_OR_SLUG, {"key": row["id"]})
                refusal = retention_problem(changed, retention) if changed else None
                raise refusal or PetitionError(409, "This petition changed meanwhile; reload it and try again.")
        # Checked again in the write too: a purge may have come between.
        if (
            words is not None
            and await tx.fetch_one(queries.SET_SENSITIVE_WORDS, {"id": row["id"], "words": words}) is None
        ):
            raise PetitionError(409, PURGED_WORDS, "sensitive_words")
        if text_changed:
            number = int(await tx.fetch_val(queries.COUNT_PETITION_VERSIONS, {"petition_id": row["id"]}) or 0) + 1
            await tx.execute(
                queries.INSERT_PETITION_VERSION,
                {"petition_id": row["id"], "number": number, "replaced_at": moment}
                | {name: row[name] for name in TEXT_FIELDS},
            )
            await tx.execute(queries.MARK_TEXT_CHANGED, {"id": row["id"], "now": moment})
        if changes:
            await tx.execute(queries.update_petition(assignments), {**changes, "id": row["id"]})
        await tx.execute(queries.BUMP_CACHE_VERSION)
        await audit(tx, organizer_id, action, detail, petition_id=row["id"])

    await db.write(apply)


def edit_entry(row: Row, changes: dict[str, Any]) -> tuple[str, str]:
    """An edit's audit entry (action, detail): "text edited" when a text field changes, else
    "settings changed"; the detail names the fields that changed (never their values: the sensitive
    words are the organizers' own), "nothing changed" when every value given was the one it had."""
    changed = [name for name, value in changes.items() if value != row[name]]
    action = "text edited" if any(name in TEXT_FIELDS for name in changed) else "settings changed"
    return action, f"{address(row)}: " + (", ".join(changed) if changed else "nothing changed")


async def publish(db: Database, settings: Settings, *, organizer_id: str, slug: str) -> None:
    """Draft -> open, and its transparency log starts (its draft code batches committed in it)."""
    row = await editable_by(db, slug, organizer_id)
    if row["state"] != "draft":
        raise PetitionError(409, f"This petition is already {row['state']}; only a draft can be published.")
    if "email" in json.loads(row["verification"]) and not json.loads(row["allowed_domains"]):
        raise PetitionError(
            409, "List the allowed work-email domains before publishing, or verify by printed code only."
        )
    moment = now()
    if row["closes_at"] is not None and row["closes_at"] <= moment:
        raise PetitionError(409, "The deadline has passed; set a later one before publishing.")
    if row["closes_at"] is not None and row["closes_at"] > longest_deadline(moment, settings):
        longest = days(settings.max_open_days)
        raise PetitionError(
            422,
            f"The deadline is more than {longest} away, longer than a petition may stay open: "
            "set an earlier one before publishing.",
            "closes_at",
        )

    async def unit(tx: Transaction) -> str | None:
        # Checked in the write, where no other publishing can come between.
        taken = {"slug": row["slug"], "id": row["id"]}
        if await tx.fetch_one(queries.SELECT_PUBLISHED_SLUG_TAKEN, taken) is not None:
            return SLUG_TAKEN
        # Without a deadline it gets the longest: every petition ends.
        opened = {"id": row["id"], "now": moment, "longest": longest_deadline(moment, settings)}
        if await tx.fetch_one(queries.PUBLISH_PETITION, opened) is None:
            return "This petition is no longer draft."
        await tlog.start(tx, settings, row["id"])
        await tx.execute(queries.BUMP_CACHE_VERSION)
        # By its slug: published now, it is public.
        await audit(tx, organizer_id, "petition published", row["slug"], petition_id=row["id"])
        return None

    try:
        refusal = await db.write(unit)
    except Exception as error:
        # Another process published the same slug between our check and our update (PostgreSQL):
        # the partial unique index refused the second, which is the same answer as the check's.
        if not is_unique_violation(error):
            raise
        refusal = SLUG_TAKEN
    if refusal:
        raise PetitionError(409, refusal)


async def close(db: Database, *, organizer_id: str, slug: str) -> None:
    row = await editable_by(db, slug, organizer_id)
    if row["state"] != "open":
        raise PetitionError(409, f"This petition is {row['state']}; only an open petition can be closed.")
    await _change_state(db, row["id"], "open", "closed", queries.CLOSE_PETITION, organizer_id=organizer_id)


NOT_A_DRAFT = "Only a draft can be deleted: close a published petition instead (its count and page stay)."


class DraftDeleted(BaseModel):
    """What deleting a draft took with it, for the caller to forget in memory too."""

    petition_id: str
    flyer_batch_ids: list[str]


async def delete_draft(db: Database, *, organizer_id: str, key: str) -> DraftDeleted:
    """Delete a draft (by id) and everything hanging off it, in one transaction, recorded in the
    audit trail. PetitionError(404) when the organizer does not organize it, (409) when it is
    published (its signatures, count and log must stay)."""
    row = await editable_by(db, key, organizer_id)
    if row["state"] != "draft":
        raise PetitionError(409, NOT_A_DRAFT)
    petition = {"petition_id": row["id"]}

    async def unit(tx: Transaction) -> DraftDeleted:
        await tx.execute(queries.DELETE_DRAFT_SIGNING_CODES, petition)
        flyers = await tx.fetch_all(queries.DELETE_DRAFT_FLYER_BATCHES, petition)
        for sql in (queries.DELETE_DRAFT_CODE_BATCHES, queries.DELETE_DRAFT_VERSIONS, queries.DELETE_DRAFT_ORGANIZERS):
            await tx.execute(sql, petition)
        await delete_draft_rounds(tx, row["id"])
        if await tx.fetch_one(queries.DELETE_DRAFT, {"id": row["id"]}) is None:
            raise PetitionError(409, NOT_A_DRAFT)  # published meanwhile: every delete above rolls back
        await tx.execute(queries.BUMP_CACHE_VERSION)
        # By its id, as the audit trail names every draft: its title and slug stay its organizers' own.
        await audit(tx, organizer_id, "draft deleted", address(row), petition_id=row["id"])
        return DraftDeleted(petition_id=row["id"], flyer_batch_ids=[flyer["id"] for flyer in flyers])

    return await db.write(unit)


async def _change_state(
    db: Database, petition_id: str, before: str, after: str, sql: str, *, organizer_id: str | None
) -> None:
    async def unit(tx: Transaction) -> bool:
        changed = await tx.fetch_one(sql, {"id": petition_id, "now": now()})
        if changed:
            await tx.execute(queries.BUMP_CACHE_VERSION)
            await audit(tx, organizer_id, f"petition {after}", changed["slug"], petition_id=petition_id)
        return changed is not None

    if not await db.write(unit):
        raise PetitionError(409, f"This petition is no longer {before}.")


async def set_missing_deadlines(db: Database, settings: Settings) -> int:
    """Give every open petition without a deadline (published before every petition had one) the
    longest: MAX_OPEN_DAYS after it opened, or now when that has passed already (its log holds
    signatures taken until now, so it cannot have closed before); how many. Idempotent, and safe
    in several processes starting at once (one UPDATE, only of rows still without a deadline)."""
    moment = now()

    async def unit(tx: Transaction) -> int:
        params = {"now": moment, "longest_seconds": settings.max_open_days * DAY}
        given = await tx.fetch_all(queries.SET_MISSING_DEADLINES, params)
        if given:
            await tx.execute(queries.BUMP_CACHE_VERSION)
        return len(given)

    return await db.write(unit)


async def close_due(db: Database) -> int:
    """Close every open petition whose deadline has passed (stamped at the deadline); how many."""

    async def unit(tx: Transaction) -> int:
        closed = await tx.fetch_all(queries.CLOSE_DUE_PETITIONS, {"now": now()})
        if closed:
            await tx.execute(queries.BUMP_CACHE_VERSION)
        for each in closed:  # by the service itself: no organizer
            await audit(tx, None, "petition closed", f"{each['slug']} (its deadline passed)", petition_id=each["id"])
        return len(closed)

    return await db.write(unit)

"""Organizer pages for petitions: my petitions, and the petition form (a new draft; a petition's settings).

A petition's other task pages (overview, codes, flyers, organizers) are in petition_tasks,
code_pages and flyer_pages.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from . import addresses, flagger, languages, periods, petitions, queries, zones
from .database import Row, now
from .field_messages import FieldWords, field_messages
from .login import guard, page
from .parameters import form_number
from .petition_tasks import done, notice_of, organizer_and_petition, takes_codes
from .petitions import PetitionCreate, PetitionError, PetitionUpdate

CHECKBOXES = ("show_names", "reasons_enabled")
# The sensitive-words box holds one entry per line; only line ends split it (str.splitlines
# would split at control characters too, which the entries' own rule refuses by name).
LINE_END = re.compile(r"\r\n|\r|\n")


def form_values(form: FormData, *, frozen: bool) -> dict[str, Any]:
    """A petition form -> the JSON-shaped values the models validate (blank optional fields left out).

    The deadline is typed in the petition's time zone (the form's `time_zone`, sent as a hidden field
    once it is fixed) and goes to the model with that zone's offset.
    """
    values: dict[str, Any] = {}
    for name in ("title", "summary", "body", "target", "timeline_floor", "language"):
        if name in form:
            values[name] = str(form[name])
    if "slug" in form and str(form["slug"]).strip():
        values["slug"] = str(form["slug"]).strip()
    typed_zone = str(form.get("time_zone") or "").strip()
    if not frozen and "time_zone" in form:
        values["time_zone"] = typed_zone
    for name in ("goal", "retention_days"):
        values[name] = form_number(form.get(name))
    deadline = str(form.get("closes_at") or "").strip()
    # The form's datetime-local field has no offset: it is read in the zone the form names (UTC
    # while that is no zone at all, whose own message the organizer sees beside its field).
    zone = zones.canonical_zone(typed_zone) or zones.DEFAULT_ZONE
    values["closes_at"] = zones.from_local_input(deadline, zone) if len(deadline) == 16 else (deadline or None)
    for name in CHECKBOXES:
        values[name] = form.get(name) == "on"
    if not frozen:
        domains = str(form.get("allowed_domains") or "").replace(",", "\n").split()
        values["allowed_domains"] = [domain for domain in domains if domain]
        values["verification"] = [str(method) for method in form.getlist("verification")]
    if "sensitive_words" in form:
        values["sensitive_words"] = LINE_END.split(str(form["sensitive_words"]))
    if isinstance(values.get("goal"), str) and not values["goal"]:
        values.pop("goal")
    return values


PETITION_WORDS = {
    "slug": FieldWords("The web address", "Enter a web address of 3 to 60 lowercase letters, digits and hyphens"),
    "title": FieldWords("The title", "Enter a title"),
    "summary": FieldWords("The summary", "Enter a summary, in one line"),
    "body": FieldWords("The text"),
    "target": FieldWords("Who it is addressed to", "Enter who the petition is addressed to"),
    "goal": FieldWords("The goal", "Enter a goal from 1 to 1,000,000,000 signatures"),
    "closes_at": FieldWords("The deadline", "Enter the deadline as a date and a time, like 2026-06-03 17:00"),
    "allowed_domains": FieldWords("Allowed work-email domains"),
    "verification": FieldWords("How signers prove they work here", "Choose how signers prove they work here"),
    "timeline_floor": FieldWords("Show times to the", "Choose to show times to the day or to the hour"),
    "time_zone": FieldWords("The time zone", f"Enter a time zone {zones.ZONE_EXAMPLE}"),
    "language": FieldWords("The language"),
    "retention_days": FieldWords("Days to keep private data", "Enter a number of days from 0 to 365"),
    "sensitive_words": FieldWords("Sensitive words", "Enter sensitive words as text, one per line"),
}
# The confirmation of a retention period that destroys identifying data at once: its button sends
# the period it confirms, so a different period typed afterwards is asked about again.
CONFIRM_RETENTION = "confirm_retention_days"


def frozen_retention_words(current: int) -> str:
    """A published petition's refusal of a retention period that is no number from 0 to 365, naming
    its current maximum too, as the field's hint does."""
    return (
        f"Enter a number of days from 0 to 365, and now at most {current:,}: "
        "once published it can be shortened, never lengthened."
    )


def field_errors(error: ValidationError) -> dict[str, str]:
    """A petition form's refusal -> field name -> a message to show beside it."""
    return field_messages(error, PETITION_WORDS)


def form_defaults(row: Row | None, retention_days: int = 30) -> dict[str, Any]:
    """What a petition form shows: a row's values, or those of a new petition (with the service's
    `retention_days`)."""
    if row is None:
        return {
            "slug": "",
            "title": "",
            "summary": "",
            "body": "",
            "target": "",
            "goal": 100,
            "closes_at": "",
            "allowed_domains": "",
            "verification": ["email"],
            "show_names": False,
            "reasons_enabled": False,
            "timeline_floor": "day",
            "time_zone": zones.DEFAULT_ZONE,
            "language": languages.DEFAULT,
            "retention_days": retention_days,
            "sensitive_words": "",
        }
    return {
        "slug": row["slug"],
        "title": row["title"],
        "summary": row["summary"],
        "body": row["body"],
        "target": row["target"],
        "goal": row["goal"],
        "closes_at": zones.local_input(row["closes_at"], row["time_zone"]),
        "allowed_domains": "\n".join(addresses.shown_domain(domain) for domain in json.loads(row["allowed_domains"])),
        "verification": json.loads(row["verification"]),
        "show_names": bool(row["show_names"]),
        "reasons_enabled": bool(row["reasons_enabled"]),
        "timeline_floor": row["timeline_floor"],
        "time_zone": row["time_zone"],
        "language": row["language"],
        "retention_days": row["retention_days"],
        "sensitive_words": "\n".join(flagger.words_of(row)),
    }


def shown_values(form: FormData, defaults: dict[str, Any]) -> dict[str, Any]:
    """The form as the organizer filled it, to show again beside the errors."""
    shown = dict(defaults)
    for name in (
        "slug",
        "title",
        "summary",
        "body",
        "target",
        "goal",
        "closes_at",
        "allowed_domains",
        "time_zone",
        "language",
        "retention_days",
        "sensitive_words",
    ):
        if name in form:
            shown[name] = str(form[name])
    shown["verification"] = [str(m) for m in form.getlist("verification")] or shown["verification"]
    for name in CHECKBOXES:
        shown[name] = form.get(name) == "on"
    return shown


async def my_petitions(request: Request) -> Response:
    """GET /organize: the organizer's petitions with their state and count."""
    organizer = await guard(request)
    if isinstance(organizer, Response):
        return organizer
    rows = await request.app.state.db.fetch_all(queries.SELECT_ORGANIZER_PETITIONS, {"organizer_id": organizer.id})
    base_url = request.app.state.settings.base_url
    views = [petitions.public_view(row, base_url) for row in rows]
    context = {"organizer": organizer, "petitions": views, "notice": notice_of(request)}
    return page(request, "organize.html", context)


async def new_petition_page(request: Request) -> Response:
    """GET /organize/petitions/new."""
    organizer = await guard(request)
    if isinstance(organizer, Response):
        return organizer
    defaults = form_defaults(None, request.app.state.settings.retention_days)
    return page(request, "petition_form.html", form_context(None, defaults, {}))


def form_context(
    row: Row | None, values: dict[str, Any], errors: dict[str, str], *, confirm_retention: int | None = None
) -> dict[str, Any]:
    """What the petition form shows: a new draft's (row None), or an existing petition's settings page.

    `confirm_retention`: a retention period (days) that would destroy the closed petition's
    identifying data at once, which the form warns about and asks to confirm before saving."""
    destroyed_at = how_soon = None
    if row is not None and confirm_retention is not None:
        closed = petitions.as_of(row)  # closed by its deadline before the closing job stamped it
        end = int(closed["closed_at"]) + confirm_retention * periods.DAY
        destroyed_at = petitions.iso(end, row["time_zone"])
        how_soon = periods.how_soon(end, now())
    return {
        "petition": row,
        "values": values,
        "errors": errors,
        "frozen": bool(row) and row["state"] != "draft",
        "takes_codes": bool(row) and takes_codes(row),  # its sub-navigation offers the codes page
        "confirm_retention": confirm_retention,
        "confirm_field": CONFIRM_RETENTION,
        "destroyed_at": destroyed_at,
        "how_soon": how_soon,
        "max_sensitive_words": flagger.MAX_SENSITIVE_WORDS,
        "max_sensitive_word_length": flagger.MAX_SENSITIVE_WORD_LENGTH,
    }


async def create_petition(request: Request) -> Response:
    """POST /organize/petitions: a new draft, or the form again with errors beside the fields."""
    organizer = await guard(request)
    if isinstance(organizer, Response):
        return organizer
    async with request.form() as form:
        values = form_values(form, frozen=False)
        shown = shown_values(form, form_defaults(None, request.app.state.settings.retention_days))
    try:
        data = PetitionCreate.model_validate(values)
        petition_id = await petitions.create(
            request.app.state.db, request.app.state.settings, organizer_id=organizer.id, data=data
        )
        request.app.state.public_cache.clear()
    except ValidationError as error:
        return page(request, "petition_form.html", form_context(None, shown, field_errors(error)), status=422)
    except PetitionError as error:
        errors = {error.field or "form": error.message}
        return page(request, "petition_form.html", form_context(None, shown, errors), status=error.status)
    return done(f"/organize/petitions/{petition_id}", "draft-saved")


async def edit_page(request: Request) -> Response:
    """GET /organize/petitions/{slug}/edit."""
    found = await organizer_and_petition(request)
    if isinstance(found, Response):
        return found
    _, row = found
    return page(request, "petition_form.html", form_context(row, form_defaults(row), {}))


async def edit(request: Request) -> Response:
    """POST /organize/petitions/{slug}/edit (a closed petition's form holds only its retention period
    and its sensitive words)."""
    found = await organizer_and_petition(request)
    if isinstance(found, Response):
        return found
    organizer, row = found
    frozen = row["state"] != "draft"
    async with request.form() as form:
        values = form_values(form, frozen=frozen)
        shown = shown_values(form, form_defaults(row))
        # A deadline sent back as the form showed it, in the same zone, is no change (the field
        # holds no seconds: saving other fields must not move it, nor make it no longer the longest).
        same_zone = values.get("time_zone", row["time_zone"]) == row["time_zone"]
        if same_zone and str(form.get("closes_at") or "").strip() == form_defaults(row)["closes_at"] != "":
            values.pop("closes_at")
        confirmed = str(form.get(CONFIRM_RETENTION) or "")
    if frozen:  # a published petition's slug never changes
        values.pop("slug", None)
        values.pop("timeline_floor", None)
    if row["state"] == "closed":  # the changes a closed petition takes
        values = {name: values[name] for name in petitions.CHANGEABLE_WHEN_CLOSED if name in values}
    try:
        data = PetitionUpdate.model_validate(values)
        settings = request.app.state.settings
        # What cannot be undone asks first: a period whose end has passed, or comes within the day,
        # would have the purge job destroy the identifying data then. (The API, for scripts, does
        # not ask.)
        shorter = data.retention_days
        if (
            shorter is not None
            and periods.shortening_destroys_soon(petitions.as_of(row), shorter, now())
            and confirmed != str(shorter)
        ):
            return page(request, "petition_form.html", form_context(row, shown, {}, confirm_retention=shorter))
        await petitions.update(request.app.state.db, settings, organizer_id=organizer.id, slug=row["id"], data=data)
        request.app.state.public_cache.clear()
    except ValidationError as error:
        errors = field_errors(error)
        if frozen and "retention_days" in errors:  # the hint's maximum, said again where the error is
            errors["retention_days"] = frozen_retention_words(int(row["retention_days"]))
        return page(request, "petition_form.html", form_context(row, shown, errors), status=422)
    except PetitionError as error:
        errors = {error.field or "form": error.message}
        return page(request, "petition_form.html", form_context(row, shown, errors), status=error.status)
    return done(f"/organize/petitions/{row['id']}", "saved")

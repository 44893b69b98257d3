"""The versions of a published petition's text: what signers signed, and what it says now.

Editing an open petition's title, summary, body or target keeps the text it replaces in
`petition_versions` (number 1 is the text as published). Those texts were public when they were
in force, so they stay public: newest first, the current text and each earlier one, each dated
only to the petition's `timeline_floor` (like every time shown), with what each change changed
word by word. A draft has no versions to show (404), like every other public read of a draft.
"""

from __future__ import annotations

import difflib
import itertools
import re
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel
from starlette.requests import Request
from starlette.types import ASGIApp

from . import queries
from .database import Database, Row
from .petitions import TEXT_FIELDS, floor_time
from .petitions_api import CORS
from .signing import open_petition
from .timeline_pages import CACHE_CONTROL, JSON_TYPE, Built, cached

FIELD_NAMES = {"title": "Title", "summary": "Summary", "body": "Text", "target": "To"}
# A diff keeps the spaces and line breaks between words as their own pieces, so it reads as written.
WORDS = re.compile(r"(\s+)")
Change = Literal["same", "removed", "added"]


class VersionPublic(BaseModel):
    """One text of the petition. `in_force_from`: when it took effect (the opening, for the first);
    `replaced_at`: when an edit replaced it, null for the current text. Both rounded down to the
    petition's timeline floor, ISO 8601 in its zone."""

    number: int
    current: bool
    title: str
    summary: str
    body: str
    target: str
    in_force_from: str | None
    replaced_at: str | None


class VersionList(BaseModel):
    """Every text of an open or closed petition, newest (the current one) first."""

    floor: Literal["day", "hour"]
    time_zone: str
    versions: list[VersionPublic]


@dataclass(frozen=True)
class FieldChange:
    """One field an edit changed: its name in words and its words as (same|removed|added, text) pieces."""

    name: str
    pieces: list[tuple[Change, str]]


async def versions(db: Database, row: Row) -> VersionList:
    """The petition's texts, newest first: its current text, then each from `petition_versions`."""
    floor, zone = row["timeline_floor"], row["time_zone"]
    earlier = await db.fetch_all(queries.SELECT_PETITION_VERSIONS, {"petition_id": row["id"]})
    # Each text took effect when the one before it was replaced; the first at the opening.
    starts = [int(version["replaced_at"]) for version in earlier[1:]] + ([row["opened_at"]] if earlier else [])
    texts = [
        VersionPublic(
            number=len(earlier) + 1,
            current=True,
            **{name: row[name] for name in TEXT_FIELDS},
            in_force_from=floor_time(row["text_changed_at"] or row["opened_at"], floor, zone),
            replaced_at=None,
        )
    ]
    for version, start in zip(earlier, starts, strict=True):
        texts.append(
            VersionPublic(
                number=int(version["number"]),
                current=False,
                **{name: version[name] for name in TEXT_FIELDS},
                in_force_from=floor_time(start, floor, zone),
                replaced_at=floor_time(int(version["replaced_at"]), floor, zone),
            )
        )
    return VersionList(floor=floor, time_zone=zone, versions=texts)


def word_diff(before: str, after: str) -> list[tuple[Change, str]]:
    """Two texts -> the pieces that read `after` with what `before` had instead: words and the
    spaces between them, each "same", "removed" (only in `before`) or "added" (only in `after`)."""
    old, new = WORDS.split(before), WORDS.split(after)
    pieces: list[tuple[Change, str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if op == "equal":
            pieces.append(("same", "".join(old[i1:i2])))
            continue
        if i2 > i1:
            pieces.append(("removed", "".join(old[i1:i2])))
        if j2 > j1:
            pieces.append(("added", "".join(new[j1:j2])))
    return pieces


def changes(before: VersionPublic, after: VersionPublic) -> list[FieldChange]:
    """What the edit from `before` to `after` changed, field by field (unchanged fields left out)."""
    return [
        FieldChange(FIELD_NAMES[name], word_diff(getattr(before, name), getattr(after, name)))
        for name in TEXT_FIELDS
        if getattr(before, name) != getattr(after, name)
    ]


async def api_versions(request: Request) -> ASGIApp:
    """GET /api/v1/petitions/{slug}/versions: every text of an open or closed petition (404 for drafts)."""

    async def build(row: Row) -> Built:
        body = (await versions(request.app.state.db, row)).model_dump_json().encode()
        return body, JSON_TYPE, {**CORS, "cache-control": CACHE_CONTROL}

    return await cached(request, await open_petition(request), "versions", "json", build)


async def versions_page(request: Request) -> ASGIApp:
    """GET /p/{slug}/versions: the petition's texts, newest first, each change shown word by word."""
    templates = request.app.state.templates
    settings = request.app.state.settings

    async def build(row: Row) -> Built:
        listed = (await versions(request.app.state.db, row)).versions
        # Each text with what it changed from the one before it (the oldest changed nothing).
        shown = [(version, changes(older, version)) for version, older in itertools.pairwise(listed)]
        shown.append((listed[-1], []))
        context = {
            "petition": row,
            "url": f"{settings.base_url}/p/{row['slug']}",
            "versions": shown,
            "floor": row["timeline_floor"],
            "time_zone": row["time_zone"],
        }
        page = templates.TemplateResponse(request, "versions.html", context)
        return bytes(page.body), "text/html; charset=utf-8", {"cache-control": CACHE_CONTROL}

    return await cached(request, await open_petition(request), "versions", "page", build)

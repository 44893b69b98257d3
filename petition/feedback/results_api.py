"""A round's results in the JSON API (public rounds from the cache) and, for its organizers, as CSV.

Both show aggregates only (counts, shares, group sizes and statements): never a vote, a participant or a
dot of the map. Who may read them: anyone when the round's results are public and the round is visible
(open or closed, on a visible petition); an organizers-only round's only its petition's organizers, and
404 for anyone else, as for drafts.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response

from .. import downloads, petitions
from ..api import JSON_TYPE, NO_STORE
from ..api_tokens import bearer_organizer
from ..database import Database
from ..organizers import Organizer
from ..petitions import PetitionError
from ..petitions_api import CORS, PUBLIC_CACHE_CONTROL
from . import queries, rounds
from .participants import TOKEN_PREFIX
from .rounds import Found

STATEMENT_CSV_HEADER = ("statement", "text", "agree", "disagree", "pass", "agreement")
GROUP_CSV_HEADER = ("group", "size", "representative statement", "text", "direction")


class StatementResult(BaseModel):
    """One statement's votes: agree, disagree and pass counts, and agreement = agree / all its votes."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    id: str
    text: str
    agree: int
    disagree: int
    pass_: int = Field(alias="pass")
    agreement: float | None


class RepresentativeStatement(BaseModel):
    id: str
    direction: Literal["agree", "disagree"]


class GroupResult(BaseModel):
    """An opinion group of at least MIN_CELL_SIZE participants: its letter, size and the statements
    that set it apart (Pol.is' representativeness), agreements first."""

    id: str
    size: int
    representative: list[RepresentativeStatement]


class RoundResults(BaseModel):
    """A round's latest results, as of their computation (rounded down to the petition's floor); before
    any (fewer than MIN_CELL_SIZE participants voted), nulls and empty lists."""

    as_of: str | None
    participants: int | None
    statements: list[StatementResult]
    groups: list[GroupResult]
    consensus: list[str]
    divisive: list[str]


NO_RESULTS = RoundResults(as_of=None, participants=None, statements=[], groups=[], consensus=[], divisive=[])


async def readable(db: Database, round_id: str, organizer_id: str | None) -> Found:
    """The round if the caller may read its results (see the module's docstring); PetitionError(404) otherwise."""
    found = await rounds.visible_to(db, round_id, organizer_id)
    public = (
        found.round["results"] == "public"
        and found.round["state"] in rounds.VISIBLE_STATES
        and found.petition["state"] in petitions.VISIBLE_STATES
    )
    if public or (organizer_id and await petitions.is_organizer_of(db, found.petition["id"], organizer_id)):
        return found
    raise PetitionError(404, rounds.NOT_FOUND)


async def stored(db: Database, found: Found) -> tuple[RoundResults, list[list[Any]]]:
    """The round's latest results as shown, and the map's dots [x, y, group letter or null]. A statement
    hidden since the computation is left out of every list (texts are the current approved ones)."""
    row = await db.fetch_one(queries.SELECT_ROUND_RESULTS, {"round_id": found.round["id"]})
    if row is None:
        return NO_RESULTS, []
    body = json.loads(row["body"])
    texts = {
        item["id"]: item["text"]
        for item in await db.fetch_all(queries.SELECT_APPROVED_STATEMENT_TEXTS, {"round_id": found.round["id"]})
    }
    petition = found.petition
    results = RoundResults(
        as_of=petitions.floor_time(row["computed_at"], petition["timeline_floor"], petition["time_zone"]),
        participants=row["participants"],
        statements=[
            StatementResult(**item, text=texts[item["id"]]) for item in body["statements"] if item["id"] in texts
        ],
        groups=[
            GroupResult(
                id=group["id"],
                size=group["size"],
                representative=[
                    RepresentativeStatement(**item) for item in group["representative"] if item["id"] in texts
                ],
            )
            for group in body["groups"]
        ],
        consensus=[statement for statement in body["consensus"] if statement in texts],
        divisive=[statement for statement in body["divisive"] if statement in texts],
    )
    return results, body["dots"]


async def optional_organizer(request: Request) -> Organizer | None:
    """The organizer behind the request's bearer token, if it sends one; a participant token (a
    participant's app may send it to every round route) reads as the public does. 401 for a bad token."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if not value.strip() or (scheme.lower() == "bearer" and value.strip().startswith(TOKEN_PREFIX)):
        return None
    return await bearer_organizer(request)


async def api_results(request: Request) -> Response:
    """GET /api/v1/rounds/{id}/results: the round's latest results (RoundResults); the public's from the
    cache (304 on a matching ETag); 404 when the caller may not read them."""
    db: Database = request.app.state.db
    round_id = request.path_params["id"]
    organizer = await optional_organizer(request)
    if organizer is not None:
        found = await readable(db, round_id, organizer.id)
        results, _ = await stored(db, found)
        return Response(results.model_dump_json(), media_type=JSON_TYPE, headers={**CORS, **NO_STORE})

    async def build() -> tuple[bytes, str, dict[str, str]] | None:
        try:
            found = await readable(db, round_id, None)
        except PetitionError:
            return None
        results, _ = await stored(db, found)
        return results.model_dump_json().encode(), JSON_TYPE, {**CORS, "cache-control": PUBLIC_CACHE_CONTROL}

    cache = request.app.state.public_cache
    cached = await cache.get_or_build(("round_results", round_id), build)
    if cached is None:
        raise PetitionError(404, rounds.NOT_FOUND)
    cache.remember(request.scope, cached)
    return cached.response(request.scope)


async def api_results_csv(request: Request) -> Response:
    """GET /api/v1/rounds/{id}/results.csv: for the petition's organizers, the per-statement counts and the
    groups' summaries as CSV (two tables, a blank line between); 401 without a token, 404 for others."""
    organizer = await bearer_organizer(request)
    db: Database = request.app.state.db
    return await csv_download(db, await rounds.editable_by(db, request.path_params["id"], organizer.id))


async def csv_download(db: Database, found: Found) -> Response:
    """The round's results as a CSV download (never cached): what api_results_csv and the organizers'
    page answer."""
    results, _ = await stored(db, found)
    return Response(
        as_csv(results),
        media_type="text/csv; charset=utf-8",
        headers={**NO_STORE, **downloads.attachment(f"round-{found.round['id']}-results.csv")},
    )


def as_csv(results: RoundResults) -> str:
    """Results -> CSV: one row per statement (id, text, counts, agreement share), a blank line, then one
    row per group and representative statement (a group with none gets one row). Aggregates only."""
    texts = {statement.id: statement.text for statement in results.statements}
    statement_rows = [
        (s.id, s.text, s.agree, s.disagree, s.pass_, "" if s.agreement is None else s.agreement)
        for s in results.statements
    ]
    group_rows: list[tuple[object, ...]] = []
    for group in results.groups:
        for item in group.representative:
            group_rows.append((group.id, group.size, item.id, texts.get(item.id, ""), item.direction))
        if not group.representative:
            group_rows.append((group.id, group.size, "", "", ""))
    statements = downloads.as_csv(STATEMENT_CSV_HEADER, statement_rows)
    return statements + "\r\n" + downloads.as_csv(GROUP_CSV_HEADER, group_rows)

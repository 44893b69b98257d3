"""The petitions JSON API: public reads (CORS open), and an organizer's changes with a bearer token."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Literal

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from . import codes, petitions, purge, queries
from .api import JSON_TYPE, NO_STORE, json_response
from .api_tokens import bearer_organizer
from .codes import CodeBatchCreate, CodeBatchCreated, CodeBatchList, CodeBatchPublic
from .database import Database, Row, now
from .errors import ApiError
from .organizers import Organizer
from .parameters import decode_cursor, encode_cursor, query_number
from .petitions import PetitionCreate, PetitionList, PetitionOrganizerView, PetitionUpdate

PAGE_SIZE = 50
CORS = {"access-control-allow-origin": "*"}
# Counts move only when a batch closes; a few seconds of reuse costs nothing.
PUBLIC_CACHE_CONTROL = "public, max-age=5"
FIRST_PAGE = (2**62, "~")  # later than any opened_at; "~" sorts after every id


class PetitionListQuery(BaseModel):
    cursor: str | None = None  # read by decode_cursor, which refuses a forged one
    state: Literal["open", "closed"] | None = None
    limit: query_number(1, PAGE_SIZE) = PAGE_SIZE


class OrganizerPetitionList(BaseModel):
    petitions: list[PetitionOrganizerView]


async def optional_organizer(request: Request) -> Organizer | None:
    """The organizer behind a bearer token, when the request sends one (a bad one is still 401)."""
    if "authorization" in request.headers:
        return await bearer_organizer(request)
    return None


async def list_petitions(request: Request, query: PetitionListQuery) -> Response:
    """GET /api/v1/petitions: open and closed petitions, newest first, a page at a time."""
    before_at, before_id = decode_cursor(query.cursor) if query.cursor else FIRST_PAGE
    db: Database = request.app.state.db
    rows = await db.fetch_all(
        queries.SELECT_PUBLIC_PETITIONS,
        {
            "state": query.state or "",
            "before_at": before_at,
            "before_id": before_id,
            "limit": query.limit,
            "now": now(),
        },
    )
    base_url = request.app.state.settings.base_url
    next_cursor = encode_cursor(rows[-1]["opened_at"], rows[-1]["id"]) if len(rows) == query.limit else None
    page = PetitionList(petitions=[petitions.public_view(row, base_url) for row in rows], next_cursor=next_cursor)
    return json_response(page, headers=CORS)


async def get_petition(request: Request) -> Response:
    """GET /api/v1/petitions/{slug}: the public view; drafts only to their organizers, with every setting."""
    organizer = await optional_organizer(request)
    db: Database = request.app.state.db
    if organizer is None:
        return await public_petition_json(request)
    row = await petitions.visible_to(db, request.path_params["slug"], organizer.id if organizer else None)
    if row is None:
        raise ApiError(404, "There is no petition at this address.")
    base_url = request.app.state.settings.base_url
    if organizer and await petitions.is_organizer_of(db, row["id"], organizer.id):
        return json_response(petitions.organizer_view(row, base_url), headers={**CORS, **NO_STORE})
    return json_response(petitions.public_view(row, base_url), headers=CORS)


async def public_petition_json(request: Request) -> Response:
    """The public JSON of an open or closed petition, from the cache (304 on a matching ETag)."""
    base_url = request.app.state.settings.base_url

    async def view(row: Row) -> BaseModel:
        return petitions.public_view(row, base_url)

    return await cached_public_json(request, ("json", ""), view)


async def cached_public_json(
    request: Request, key: tuple[str, str], view: Callable[[Row], Awaitable[BaseModel]]
) -> Response:
    """Public JSON about the open or closed petition at `{slug}`: `view(row)`, kept in the public
    cache under (key[0], "slug|key[1]") until the cache version moves (304 on a matching ETag);
    ApiError 404 for a draft or no petition."""
    slug = request.path_params["slug"]
    db: Database = request.app.state.db

    async def build() -> tuple[bytes, str, dict[str, str]] | None:
        row = await petitions.visible_to(db, slug, None)
        if row is None:
            return None
        body = (await view(row)).model_dump_json().encode()
        return body, JSON_TYPE, {**CORS, "cache-control": PUBLIC_CACHE_CONTROL}

    cache = request.app.state.public_cache
    kind, rest = key
    cached = await cache.get_or_build((kind, f"{slug}|{rest}" if rest else slug), build)
    if cached is None:
        raise ApiError(404, "There is no petition at this address.")
    cache.remember(request.scope, cached)
    return cached.response(request.scope)


async def my_petitions(request: Request) -> OrganizerPetitionList:
    """GET /api/v1/me/petitions: every petition the token's organizer organizes, drafts included."""
    organizer = await bearer_organizer(request)
    rows = await request.app.state.db.fetch_all(queries.SELECT_ORGANIZER_PETITIONS, {"organizer_id": organizer.id})
    base_url = request.app.state.settings.base_url
    return OrganizerPetitionList(petitions=[petitions.organizer_view(row, base_url) for row in rows])


async def create_petition(request: Request, body: PetitionCreate) -> PetitionOrganizerView:
    """POST /api/v1/petitions: a new draft (201)."""
    organizer = await bearer_organizer(request)
    petition_id = await petitions.create(
        request.app.state.db, request.app.state.settings, organizer_id=organizer.id, data=body
    )
    request.app.state.public_cache.clear()
    return await _organizer_view(request, petition_id)


async def update_petition(request: Request, body: PetitionUpdate) -> PetitionOrganizerView:
    """PATCH /api/v1/petitions/{slug}: change the fields given."""
    settings = request.app.state.settings
    return await _change(
        request,
        lambda db, organizer_id, slug: petitions.update(db, settings, organizer_id=organizer_id, slug=slug, data=body),
    )


async def publish_petition(request: Request) -> PetitionOrganizerView:
    """POST /api/v1/petitions/{slug}/publish: draft -> open."""
    return await _change(
        request,
        lambda db, organizer_id, slug: petitions.publish(
            db, request.app.state.settings, organizer_id=organizer_id, slug=slug
        ),
    )


async def close_petition(request: Request) -> PetitionOrganizerView:
    """POST /api/v1/petitions/{slug}/close: open -> closed."""
    return await _change(
        request, lambda db, organizer_id, slug: petitions.close(db, organizer_id=organizer_id, slug=slug)
    )


async def purge_petition(request: Request) -> PetitionOrganizerView:
    """POST /api/v1/petitions/{slug}/purge: destroy a closed petition's identifying data now (409
    for a draft, an open petition, or one purged already, saying when)."""

    async def destroy(db: Database, organizer_id: str, key: str) -> None:
        row = await petitions.editable_by(db, key, organizer_id)
        await purge.purge(
            db, request.app.state.settings, petition_id=row["id"], organizer_id=organizer_id, why="by an organizer"
        )

    return await _change(request, destroy)


async def delete_petition(request: Request) -> Response:
    """DELETE /api/v1/petitions/{id}: a draft and everything hanging off it (204); 409 once published."""
    organizer = await bearer_organizer(request)
    deleted = await petitions.delete_draft(
        request.app.state.db, organizer_id=organizer.id, key=request.path_params["slug"]
    )
    for flyer_id in deleted.flyer_batch_ids:  # a PDF drawn for it in memory goes too
        request.app.state.flyer_drawings.jobs.pop(flyer_id, None)
    request.app.state.public_cache.clear()
    return Response(status_code=204)


async def _change(request: Request, change: Callable[[Database, str, str], Awaitable[None]]) -> PetitionOrganizerView:
    """Apply a change as the token's organizer; success drops the cache."""
    organizer = await bearer_organizer(request)
    key = request.path_params["slug"]  # an id, or a published petition's slug
    await change(request.app.state.db, organizer.id, key)
    request.app.state.public_cache.clear()
    row = await petitions.find(request.app.state.db, key)
    assert row is not None
    return await _organizer_view(request, row["id"])


async def _organizer_view(request: Request, key: str) -> PetitionOrganizerView:
    row = await petitions.find(request.app.state.db, key)
    assert row is not None
    return petitions.organizer_view(row, request.app.state.settings.base_url)


async def create_codes(request: Request, body: CodeBatchCreate) -> CodeBatchCreated:
    """POST /api/v1/petitions/{slug}/codes: a batch of single-use codes, returned this once (201)."""
    organizer = await bearer_organizer(request)
    db: Database = request.app.state.db
    row = await petitions.editable_by(db, request.path_params["slug"], organizer.id)
    batch_id, made = await codes.make_batch(
        db,
        request.app.state.settings,
        petition=row,
        organizer_id=organizer.id,
        count=body.count,
        label=body.label,
        keep_for_download=False,
    )
    return CodeBatchCreated(batch=batch_id, codes=made)


async def list_codes(request: Request) -> CodeBatchList:
    """GET /api/v1/petitions/{slug}/codes: each batch with how many of its codes were used (never which)."""
    organizer = await bearer_organizer(request)
    db: Database = request.app.state.db
    row = await petitions.editable_by(db, request.path_params["slug"], organizer.id)
    return CodeBatchList(batches=await codes.list_batches(db, request.app.state.settings, row["id"]))


async def revoke_codes(request: Request) -> CodeBatchPublic:
    """POST /api/v1/petitions/{slug}/codes/{batch_id}/revoke: the batch's unused codes stop working, as
    on its codes page (the audit entry, and a public codes_revoked event once published); the batch as
    the codes list shows it. 404 for no such batch of the petition, 409 when revoked already."""
    organizer = await bearer_organizer(request)
    db: Database = request.app.state.db
    # Not only a petition that takes printed codes now: a batch outlives a change of methods.
    row = await petitions.editable_by(db, request.path_params["slug"], organizer.id)
    batch = await codes.revoke_batch(
        db,
        request.app.state.settings,
        petition=row,
        organizer_id=organizer.id,
        batch_id=request.path_params["batch_id"],
    )
    request.app.state.public_cache.clear()  # the timeline, feed, page and dashboards show it at once
    return batch

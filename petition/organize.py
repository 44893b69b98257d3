"""The organizer's own pages: home, settings (API tokens), and the `GET /api/v1/me` twin."""

from __future__ import annotations

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from . import api_tokens, organizers, queries
from .api_tokens import bearer_organizer
from .database import Database, Transaction
from .login import guard, page, redirect


async def settings_page(
    request: Request,
    *,
    new_token: str | None = None,
    errors: dict[str, str] | None = None,
    status: int = 422,
    token_name: str = "",
) -> Response:
    """GET /organize/settings: two-factor and API tokens (and, once made, the new token shown this one
    time). With `errors` ({input id: message}: "name" for a new token's name, "off-code" for the code
    that turns two-factor off), answers `status`, the new token's name as typed."""
    organizer = await guard(request, two_factor_setup=True)
    if isinstance(organizer, Response):
        return organizer
    db: Database = request.app.state.db
    tokens = await api_tokens.list_tokens(db, organizer.id)
    context = {
        "organizer": organizer,
        "tokens": tokens,
        "new_token": new_token,
        "errors": errors or {},
        "token_name": token_name,
        "two_factor_required": await organizers.two_factor_required(db),
        "recovery_codes_left": await db.fetch_val(queries.COUNT_RECOVERY_CODES, {"organizer_id": organizer.id}),
    }
    return page(request, "settings.html", context, status=status if errors else 200)


async def create_token(request: Request) -> Response:
    """POST /organize/tokens: make a named token and show it once."""
    organizer = await guard(request)
    if isinstance(organizer, Response):
        return organizer
    async with request.form() as form:
        typed = str(form.get("name") or "")
    name = typed.strip()
    if problem := api_tokens.name_problem(name):
        return await settings_page(request, errors={"name": problem}, token_name=typed)
    db: Database = request.app.state.db

    async def unit(tx: Transaction) -> str:
        return await api_tokens.create_token(tx, organizer.id, name)

    return await settings_page(request, new_token=await db.write(unit))


async def revoke_token(request: Request) -> Response:
    """POST /organize/tokens/{token_id}/revoke."""
    organizer = await guard(request)
    if isinstance(organizer, Response):
        return organizer
    await api_tokens.revoke_token(request.app.state.db, organizer.id, request.path_params["token_id"])
    return redirect("/organize/settings")


class OrganizerPublic(BaseModel):
    email: str
    is_admin: bool
    two_factor: bool


async def api_me(request: Request) -> OrganizerPublic:
    """GET /api/v1/me: the organizer the bearer token acts as."""
    organizer = await bearer_organizer(request)
    return OrganizerPublic(email=organizer.email, is_admin=organizer.is_admin, two_factor=organizer.two_factor)

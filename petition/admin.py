"""Administrators' pages: organizers, invitations, deactivation, requiring two-factor, the audit trail."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response

from . import addresses, organizers, outbox, queries
from .database import Database, Transaction
from .field_messages import FORM
from .login import guard, page, redirect
from .organizers import REQUIRE_TWO_FACTOR, Organizer, audit
from .settings import Settings

AUDIT_ENTRIES_SHOWN = 200
ENTER_EMAIL = "Enter their email address."


async def admin_guard(request: Request) -> Organizer | Response:
    """The signed-in admin; anyone else gets the 404 of a page they may not see."""
    organizer = await guard(request)
    if isinstance(organizer, Response):
        return organizer
    if not organizer.is_admin:
        message = "There is nothing at this address."
        return page(request, "message.html", {"title": "Not found", "message": message}, status=404)
    return organizer


async def admin_page(
    request: Request,
    *,
    notice: str | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
    email: str = "",
    make_admin: bool = False,
) -> Response:
    """GET /organize/admin, or the page again after an action: `errors` maps an input id ("email"),
    or "form" for a refusal of no one input, to its message, answered with `status` (422 for a
    refused address, 409 for a state that forbids the change); the invitation form shows `email`
    and `make_admin` as sent."""
    admin = await admin_guard(request)
    if isinstance(admin, Response):
        return admin
    db: Database = request.app.state.db
    trail = [
        {**row, "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(row["at_micros"] // 1_000_000))}
        for row in await organizers.audit_trail(db, AUDIT_ENTRIES_SHOWN)
    ]
    context = {
        "organizer": admin,
        "organizers": await organizers.list_organizers(db),
        "two_factor_required": await organizers.two_factor_required(db),
        "trail": trail,
        "notice": notice,
        "errors": errors or {},
        "email": email,
        "make_admin": make_admin,
    }
    return page(request, "admin.html", context, status=status)


def refused(message: str) -> dict[str, str]:
    """A refusal of no one input on the administration page, for its error summary."""
    return {FORM: message}


async def invite(request: Request) -> Response:
    """POST /organize/admin/invite: email a single-use invitation link, valid 7 days."""
    admin = await admin_guard(request)
    if isinstance(admin, Response):
        return admin
    settings: Settings = request.app.state.settings
    db: Database = request.app.state.db
    async with request.form() as form:
        typed = str(form.get("email") or "")
        make_admin = form.get("admin") == "on"
    if not typed.strip():
        return await admin_page(request, errors={"email": ENTER_EMAIL}, status=422, make_admin=make_admin)
    try:
        address = addresses.parse(typed)
    except addresses.AddressRefused as problem:
        return await admin_page(request, errors={"email": str(problem)}, status=422, email=typed, make_admin=make_admin)
    email = organizers.login_email(address.mailbox)
    if await organizers.find_by_email(db, email):
        taken = {"email": "An organizer with that address already exists."}
        return await admin_page(request, errors=taken, status=409, email=typed, make_admin=make_admin)

    async def invite(tx: Transaction) -> None:
        await audit(tx, admin.id, "invitation sent", email + (" (as administrator)" if make_admin else ""))
        token = await organizers.create_link(
            tx,
            kind="invite",
            seconds=organizers.INVITE_LINK_SECONDS,
            email=email,
            make_admin=make_admin,
            created_by=admin.id,
        )
        body = (
            f"{admin.email} invites you to organize petitions on {settings.site_name}.\n\n"
            f"To accept, open this link within 7 days and choose a password:\n{settings.base_url}/invite/{token}\n"
        )
        await outbox.queue(
            tx,
            settings,
            to=address,
            subject="An invitation to organize",
            body=body,
            petition_id=None,  # about an organizer account, no petition
            expires_in=organizers.INVITE_LINK_SECONDS,
        )

    await db.write(invite)
    request.app.state.sender.wake()
    return await admin_page(request, notice=f"Invitation sent to {email}.")


async def deactivate(request: Request) -> Response:
    """POST /organize/admin/organizers/{organizer_id}/deactivate: ends their sessions and tokens at once."""
    admin = await admin_guard(request)
    if isinstance(admin, Response):
        return admin
    db: Database = request.app.state.db
    target = await organizers.find_by_id(db, request.path_params["organizer_id"])
    if target is None:
        return await admin_page(request, errors=refused("There is no such organizer."), status=409)
    if target.id == admin.id:
        return await admin_page(request, errors=refused("You cannot deactivate yourself."), status=409)

    async def unit(tx: Transaction) -> bool:
        if await tx.fetch_one(queries.DEACTIVATE_ORGANIZER, {"id": target.id}) is None:
            return False
        await tx.execute(queries.DELETE_ORGANIZER_SESSIONS, {"organizer_id": target.id})
        await tx.execute(queries.REVOKE_ORGANIZER_API_TOKENS, {"organizer_id": target.id, "now": int(time.time())})
        await audit(tx, admin.id, "organizer deactivated", target.email)
        return True

    if not await db.write(unit):
        return await admin_page(request, errors=refused(f"{target.email} is already deactivated."), status=409)
    return await admin_page(request, notice=f"{target.email} is deactivated; their sessions and tokens are ended.")


async def require_two_factor(request: Request) -> Response:
    """POST /organize/admin/two-factor: require (or stop requiring) two-factor for every organizer."""
    admin = await admin_guard(request)
    if isinstance(admin, Response):
        return admin
    async with request.form() as form:
        required = form.get("required") == "on"
    if required and not admin.two_factor:
        return await admin_page(request, errors=refused("Turn on two-factor for yourself first."), status=409)

    async def unit(tx: Transaction) -> None:
        await tx.execute(
            queries.UPSERT_INSTANCE_SETTING, {"name": REQUIRE_TWO_FACTOR, "value": "1" if required else "0"}
        )
        await audit(tx, admin.id, "two-factor required" if required else "two-factor no longer required")

    await request.app.state.db.write(unit)
    return redirect("/organize/admin")

"""Joining a round through the API: a printed code (201 and the participant token), or a work
email (202, then the emailed code at .../participants/verify), and replacing a token."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic import StringConstraints as Text
from starlette.requests import Request
from starlette.types import ASGIApp

from ..email_signing import AttemptBody, CheckEmail, VerifyBody
from ..errors import ApiError
from ..signatures import OptionalEmail
from ..signing import api_limit, json_answer
from ..text import LINE
from . import joins, participants, rounds
from .rounds import Found


class JoinCreate(BaseModel):
    """A join: with a printed round `code`, or with a work `email` that a code is sent to (exactly one)."""

    model_config = ConfigDict(extra="forbid")
    code: Annotated[str, Text(strip_whitespace=True, max_length=40), LINE] = ""
    email: OptionalEmail = ""

    @model_validator(mode="after")
    def _one_route(self) -> JoinCreate:
        if bool(self.code) == bool(self.email):
            raise ValueError("give either a printed code or a work email address")
        return self


class ParticipantToken(BaseModel):
    """The participant token (in this answer only: it is kept as a hash): send it as
    `Authorization: Bearer pt_...` on this round's routes."""

    participant_token: str


async def visible_round(request: Request) -> Found:
    """The round of the path if the public may see it (open or closed, of a visible petition); 404 otherwise."""
    return await rounds.visible_to(request.app.state.db, request.path_params["id"], None)


async def api_join(request: Request, body: JoinCreate) -> ASGIApp:
    """POST /api/v1/rounds/{id}/participants: 201 with the participant token (printed code), or 202
    and an attempt id while a code is emailed (work email)."""
    api_limit(request, emails=bool(body.email))
    found = await visible_round(request)
    db, settings = request.app.state.db, request.app.state.settings
    if body.email:
        attempt = await joins.ask_for_code(db, settings, found=found, email=body.email)
        request.app.state.sender.wake()
        # Always return the same response to prevent email enumeration attacks.
        return json_answer(CheckEmail(status="check_email", attempt=attempt), 202)
    token = await joins.join_with_code(db, settings, found=found, code=body.code)
    return json_answer(ParticipantToken(participant_token=token), 201)


async def api_verify(request: Request, body: VerifyBody) -> ASGIApp:
    """POST /api/v1/rounds/{id}/participants/verify: the emailed code; 201 with the participant token."""
    api_limit(request)
    found = await visible_round(request)
    db, settings = request.app.state.db, request.app.state.settings
    token = await joins.verify(db, settings, found=found, attempt=body.attempt, code=body.code)
    return json_answer(ParticipantToken(participant_token=token), 201)


async def api_resend(request: Request, body: AttemptBody) -> ASGIApp:
    """POST /api/v1/rounds/{id}/participants/resend: a new code for the same attempt; 202."""
    api_limit(request, emails=True)
    found = await visible_round(request)
    await joins.resend(request.app.state.db, request.app.state.settings, found=found, attempt=body.attempt)
    request.app.state.sender.wake()
    return json_answer(CheckEmail(status="check_email", attempt=body.attempt), 202)


async def api_replace_token(request: Request) -> ASGIApp:
    """POST /api/v1/rounds/{id}/participants/token with the bearer participant token: 201 with a
    new token; the old one finds nothing after. 401 without a token or with one of nothing here."""
    api_limit(request)
    found = await visible_round(request)
    token = participants.bearer_token(request)
    if token is None:
        raise ApiError(401, participants.NO_TOKEN)
    fresh = await joins.replace_token(request.app.state.db, request.app.state.settings, found=found, token=token)
    return json_answer(ParticipantToken(participant_token=fresh), 201)

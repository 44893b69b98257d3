"""Participant tokens: their shape, and that one finds its participant in its own round only."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette

from petition.feedback import participants, rounds

from .factories import add_participant, make_round

pytestmark = pytest.mark.usefixtures("organizer")


def test_a_participant_token_starts_with_pt_and_holds_256_random_bits() -> None:
    token = participants.new_token()
    assert token.startswith("pt_") and len(token) == 3 + 43
    assert participants.token_shape(f"  {token} ") == token
    assert participants.token_shape(token[3:]) is None, "an API token's shape is not a participant token"
    assert participants.token_shape(token + "A") is None


async def test_a_participant_token_finds_its_participant_in_its_own_round_only(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db = app.state.db
    first, _ = await make_round(app, client, token)
    found = await rounds.find(db, first)
    assert found is not None
    other, _ = await make_round(app, client, token, slug=found.petition["slug"])
    key, held = await add_participant(db, first)
    assert await participants.participant_of(db, found, held, settings=app.state.settings) == key
    other_found = await rounds.find(db, other)
    assert other_found is not None
    assert await participants.participant_of(db, other_found, held, settings=app.state.settings) is None
    assert await participants.participant_of(db, found, participants.new_token(), settings=app.state.settings) is None

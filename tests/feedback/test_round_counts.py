"""A round's participant count below MIN_CELL_SIZE is shown to no one, its organizers included (as a
code batch's used count): the JSON has null, the pages "fewer than"; from MIN_CELL_SIZE up, the number."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette

from ..test_petitions import bearer
from .factories import execute, make_round
from .test_round_organizer_pages import signed_in

pytestmark = pytest.mark.usefixtures("organizer")


async def set_count(app: Starlette, round_id: str, count: int) -> None:
    await execute(
        app.state.db, "UPDATE rounds SET participant_count = :count WHERE id = :id", {"count": count, "id": round_id}
    )
    app.state.public_cache.clear()


async def counts_in_json(client: httpx.AsyncClient, token: str, round_id: str, slug: str) -> set[object]:
    """The round's `participants` in every JSON answer that holds it, the public's and its organizers'."""
    seen = set()
    for headers in ({}, bearer(token)):
        seen.add((await client.get(f"/api/v1/rounds/{round_id}", headers=headers)).json()["participants"])
        listed = (await client.get(f"/api/v1/petitions/{slug}/rounds", headers=headers)).json()["rounds"]
        seen.update(item["participants"] for item in listed)
    return seen


async def test_a_closed_rounds_few_participants_show_as_fewer_than_min_cell_size_to_everyone(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db = app.state.db
    few = app.state.settings.min_cell_size - 1
    round_id, _ = await make_round(app, client, token, state="closed")
    petition_id = str(await db.fetch_val("SELECT petition_id FROM rounds WHERE id = :id", {"id": round_id}))
    slug = str(await db.fetch_val("SELECT slug FROM petitions WHERE id = :id", {"id": petition_id}))
    for count in range(1, few + 1):  # a closed round's last batch, smaller than a crowd
        await set_count(app, round_id, count)
        assert await counts_in_json(client, token, round_id, slug) == {None}, count
    fewer = f"ewer than {app.state.settings.min_cell_size}"
    page = await client.get(f"/r/{round_id}")
    assert f"F{fewer} participants took part" in page.text and f"{few} participant" not in page.text
    await signed_in(client)
    for path in (
        f"/organize/rounds/{round_id}",
        f"/organize/petitions/{petition_id}/rounds",
        f"/organize/petitions/{petition_id}",
    ):
        shown = (await client.get(path)).text
        assert fewer in shown and f'<td class="num">{few}</td>' not in shown and f"<dd>{few} " not in shown, path
    crowd = app.state.settings.min_cell_size
    await set_count(app, round_id, crowd)
    assert await counts_in_json(client, token, round_id, slug) == {crowd}
    assert f"{crowd} participants took part" in (await client.get(f"/r/{round_id}")).text
    assert f'<td class="num">{crowd}</td>' in (await client.get(f"/organize/petitions/{petition_id}/rounds")).text

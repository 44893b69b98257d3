"""A petition signed before its log existed: its log starts with the count carried over, and agrees with it after."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette

from petition import log_check, pending, queries, tlog
from petition.database import Database, Transaction
from petition.settings import Settings

from .test_signing import count_everything, make_codes, open_petition, petition_id, sign, status
from .test_transparency_log import head_of, log_of

pytestmark = pytest.mark.usefixtures("organizer")

FORGET_LOG = (
    "UPDATE petitions SET log_origin = NULL, log_size = 0, log_checkpoint = NULL, log_carried_over = 0, "
    "log_carried_withdrawn = 0, codes_issued = 0 WHERE id = :p",
    "DELETE FROM log_entries WHERE petition_id = :p",
    "DELETE FROM log_tiles WHERE petition_id = :p",
    "DELETE FROM log_checkpoints WHERE petition_id = :p",
)


async def forget_the_log(db: Database, pid: str) -> None:
    """The petition as a database migrated from before the log has it: no log, its counts kept."""

    async def unit(tx: Transaction) -> None:
        for sql in FORGET_LOG:
            await tx.execute(sql, {"p": pid})

    await db.write(unit)


async def seal_as_before_the_log(db: Database, settings: Settings, pid: str) -> int:
    """Every pending entry of the petition sealed again without its "commitment", as entries sealed
    before the log existed are; how many."""
    petition = await db.fetch_one("SELECT * FROM petitions WHERE id = :p", {"p": pid})
    rows = await db.fetch_all(
        "SELECT pending_key, petition_id, kind, sealed FROM pending_signatures WHERE petition_id = :p", {"p": pid}
    )

    async def unit(tx: Transaction) -> None:
        for row in rows:
            content = pending.unseal(settings, row)
            content.pop("commitment")
            sealed = pending.seal(
                settings, kind=int(row["kind"]), key=row["pending_key"], petition=petition, content=content
            )
            await tx.execute(queries.RESEAL_PENDING, {"pending_key": row["pending_key"], "sealed": sealed})

    await db.write(unit)
    return len(rows)


async def test_a_petition_signed_before_its_log_carries_its_count_over_and_withdrawals_cancel_the_right_entries(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db: Database = app.state.db
    settings = app.state.settings
    slug = await open_petition(client, token)
    pid = await petition_id(db, slug)
    codes = await make_codes(client, token, slug, 30)
    counted = [(await sign(client, slug, code)).json()["receipt"] for code in codes[:6]]
    await count_everything(app)
    # Before the log: a withdrawal of a counted signature and three signatures wait, sealed as then.
    await withdraw(client, slug, counted[0])
    waiting = [(await sign(client, slug, code)).json()["receipt"] for code in codes[6:9]]
    assert await seal_as_before_the_log(db, settings, pid) == 4
    await forget_the_log(db, pid)

    assert await tlog.start_missing(db, settings) == 1, "the app's start starts the log"
    assert await tlog.start_missing(db, settings) == 0, "once"
    assert await log_of(db, pid) == [tlog.carried_over_entry(6), tlog.code_batch_entry(30)]
    head = await head_of(db, pid)
    assert (head["signature_count"], head["codes_issued"], head["log_size"]) == (6, 30, 2)

    await withdraw(client, slug, counted[1])  # sealed with a commitment found nowhere in the log
    await count_everything(app)
    entries = await log_of(db, pid)
    legacy = [tlog.signature_entry("code", tlog.legacy_commitment(pending.signature_key(r))) for r in waiting]
    assert sorted(entries[2:]) == sorted([*legacy, tlog.withdrawal_entry(0), tlog.withdrawal_entry(0)])
    assert [await status(client, slug, receipt) for receipt in waiting] == ["counted"] * 3

    # A signature that entered with its legacy commitment is withdrawn from its own entry, not entry 0.
    await withdraw(client, slug, waiting[0])
    await count_everything(app)
    entries = await log_of(db, pid)
    assert entries[-1] == tlog.withdrawal_entry(entries.index(legacy[0]))
    head = await db.fetch_one("SELECT * FROM petitions WHERE id = :p", {"p": pid})
    assert head is not None
    assert (head["signature_count"], head["log_carried_over"], head["log_carried_withdrawn"]) == (6 - 2 + 3 - 1, 6, 2)
    assert [verdict.line async for verdict in log_check.check(db, settings, slug)] == [
        f"ok {slug} size={len(entries)} count=6"
    ]


async def withdraw(client: httpx.AsyncClient, slug: str, receipt: str) -> None:
    answer = await client.post(f"/api/v1/petitions/{slug}/signatures/withdraw", json={"receipt": receipt})
    assert answer.status_code == 200, answer.text

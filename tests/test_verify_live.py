"""The journalists' verifier against the real server: a good log is consistent; tampering with what
the server stores (an entry, the checkpoint, its signature, code signatures beyond the codes) is
caught with the right kind of error. (A server that lies about history is tests/log_stand_in.py's.)"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from petition import tlog
from petition.database import Database, Transaction
from petition.settings import load_settings

from .test_crash import Server
from .test_verify import failure, run

pytestmark = pytest.mark.slow  # a server process

CODES = 6


async def wait_for_count(url: str, slug: str, count: int, seconds: float = 30) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        deadline = time.monotonic() + seconds
        while (await client.get(f"/api/v1/petitions/{slug}")).json()["signature_count"] != count:
            assert time.monotonic() < deadline, f"the count did not reach {count}"
            await asyncio.sleep(0.3)


async def signed_petition(server: Server) -> str:
    """A petition with CODES printed codes, 5 signatures, one withdrawn after it was counted: count 4."""
    token = server.run("create-token", "verify@example.org").strip().splitlines()[-1]
    petition = {"title": "Checked by a journalist", "summary": "Counted.", "target": "The board", "goal": 10}
    async with httpx.AsyncClient(base_url=server.url, headers={"authorization": f"Bearer {token}"}) as admin:
        created = (await admin.post("/api/v1/petitions", json={**petition, "verification": ["code"]})).json()
        await admin.post(f"/api/v1/petitions/{created['id']}/publish")
        slug = created["slug"]
        codes = (await admin.post(f"/api/v1/petitions/{slug}/codes", json={"count": CODES})).json()["codes"]
    async with httpx.AsyncClient(base_url=server.url) as client:
        receipts = [
            (await client.post(f"/api/v1/petitions/{slug}/signatures", json={"code": code})).json()["receipt"]
            for code in codes[:4]
        ]
        await wait_for_count(server.url, slug, 4)
        withdrawn = await client.post(f"/api/v1/petitions/{slug}/signatures/withdraw", json={"receipt": receipts[0]})
        assert withdrawn.status_code == 200
        # A withdrawal rides along with the next batch of signatures.
        await client.post(f"/api/v1/petitions/{slug}/signatures", json={"code": codes[4]})
    await wait_for_count(server.url, slug, 4)
    return str(slug)


@contextlib.asynccontextmanager
async def journalist_and_server(db_url: str, tmp_path: Path) -> AsyncIterator[tuple[Server, Database, str, str, Path]]:
    """A running server with signed_petition's petition, a database handle (not yet connected),
    and a journalist's state file: (server, db, slug, its address, the state file). Stopped and
    removed afterwards."""
    server = Server(db_url, tmp_path)
    server.run("migrate")
    server.run("create-organizer", "verify@example.org", stdin="a passphrase for the verifier test\n")
    server.start()
    db = Database(db_url)
    try:
        slug = await signed_petition(server)
        state = tmp_path / "journalist" / "state.json"
        state.parent.mkdir()
        yield server, db, slug, f"{server.url}/p/{slug}", state
    finally:
        server.kill()
        await db.disconnect()
        shutil.rmtree(tmp_path / "journalist", ignore_errors=True)


async def test_the_verifier_finds_the_real_servers_log_consistent_and_catches_each_tampering(
    db_url: str, tmp_path: Path
) -> None:
    async with journalist_and_server(db_url, tmp_path) as (server, db, slug, address, state):
        good = run(address, state)
        assert good.returncode == 0, good.stderr
        assert good.stdout.splitlines()[-1] == "consistent, 4 signatures"
        # By the petition's id, and by another name of the same host: the same log, consistent.
        petition_json = httpx.get(f"{server.url}/api/v1/petitions/{slug}").json()
        other = tmp_path / "journalist" / "other.json"
        by_id = run(f"{server.url}/p/{petition_json['id']}", other)
        assert by_id.returncode == 0 and by_id.stdout.splitlines()[-1] == "consistent, 4 signatures", by_id.stderr
        by_name = run(address.replace("127.0.0.1", "localhost"), other)
        assert by_name.returncode == 0, by_name.stderr
        saved = state.read_text()
        server.kill()
        await db.connect()
        pid = await db.fetch_val("SELECT id FROM petitions WHERE slug = :s", {"s": slug})
        key = {"p": pid}

        async def tampered(change: str, values: dict[str, object], undo: str, undo_values: dict[str, object]) -> str:
            """Change the stored log, let the verifier (with the state saved at the good run) look, undo it."""
            await db.write(lambda tx: tx.execute(change, {**key, **values}))
            server.start()
            try:
                state.write_text(saved)
                return failure(run(address, state))
            finally:
                server.kill()
                await db.write(lambda tx: tx.execute(undo, {**key, **undo_values}))

        entry = await db.fetch_one("SELECT idx, data FROM log_entries WHERE petition_id = :p AND idx = 1", {"p": pid})
        assert entry is not None and bytes(entry["data"])[0] == tlog.SIGNATURE
        rewritten = bytes(entry["data"])[:-1] + bytes([bytes(entry["data"])[-1] ^ 1])
        set_entry = "UPDATE log_entries SET data = :d WHERE petition_id = :p AND idx = 1"
        assert await tampered(set_entry, {"d": rewritten}, set_entry, {"d": bytes(entry["data"])}) == "root-mismatch"

        head = await db.fetch_one("SELECT log_size, log_checkpoint FROM petitions WHERE id = :p", key)
        assert head is not None
        older = await db.fetch_val("SELECT note FROM log_checkpoints WHERE petition_id = :p AND size = 1", key)
        set_head = "UPDATE petitions SET log_size = :s, log_checkpoint = :n WHERE id = :p"
        back = {"s": head["log_size"], "n": head["log_checkpoint"]}
        assert await tampered(set_head, {"s": 1, "n": older}, set_head, back) == "shrunk"

        note = str(head["log_checkpoint"])
        at = note.rindex(" ") + 10  # a character of the signature: another base64 letter
        forged = note[:at] + ("B" if note[at] == "A" else "A") + note[at + 1 :]
        assert await tampered(set_head, {"s": head["log_size"], "n": forged}, set_head, back) == "bad-signature"

        # More printed-code signatures than the codes committed before them, appended and signed
        # by the service's own key: the log is well formed and signed, and still refused.
        settings = load_settings(server.environ, env_file=tmp_path / "no.env")

        async def too_many(tx: Transaction) -> None:
            extra = [(tlog.signature_entry("code", bytes([n]) * 32), bytes([n]) * 32) for n in range(CODES)]
            await tlog.append(tx, settings, pid, extra)

        await db.write(too_many)
        server.start()
        assert failure(run(address, tmp_path / "journalist" / "fresh.json")) == "codes-exceeded"


async def test_the_verifier_reports_the_real_servers_purge_record_and_refuses_an_entry_after_it(
    db_url: str, tmp_path: Path
) -> None:
    async with journalist_and_server(db_url, tmp_path) as (server, db, slug, address, state):
        before = run(address, state)
        assert before.returncode == 0 and "Purge" not in before.stdout, before.stderr
        size = int(before.stdout.split("Tree size: ")[1].split(" ")[0])
        server.kill()
        await db.connect()
        pid = await db.fetch_val("SELECT id FROM petitions WHERE slug = :s", {"s": slug})
        settings = load_settings(server.environ, env_file=tmp_path / "no.env")

        async def purge(tx: Transaction) -> None:
            await tlog.append(tx, settings, pid, [(tlog.purge_entry(), None)])
            await tx.execute("UPDATE petitions SET purged_at = :t WHERE id = :p", {"t": int(time.time()), "p": pid})

        await db.write(purge)
        server.start()
        after = run(address, state)
        assert after.returncode == 0, after.stderr
        lines = after.stdout.splitlines()
        assert f"Purge: identifying data destroyed (entry {size}, the log's last)." in lines
        assert f"The log only grew since the last check ({size} entries then, {size + 1} now)." in lines
        assert lines[-1] == "consistent, 4 signatures"
        server.kill()

        # The service's own append refuses any entry after the purge record.
        entry = [(tlog.signature_entry("email", bytes(32)), bytes(32))]
        with pytest.raises(tlog.LogError, match="takes no more entries"):
            await db.write(lambda tx: tlog.append(tx, settings, pid, entry))

        # A signature after the purge, appended and signed with the service's own key by a service
        # without that guard (its purged_at cleared for the append), is refused by the verifier.
        async def sign_after(tx: Transaction) -> None:
            purged_at = await tx.fetch_val("SELECT purged_at FROM petitions WHERE id = :p", {"p": pid})
            await tx.execute("UPDATE petitions SET purged_at = NULL WHERE id = :p", {"p": pid})
            await tlog.append(tx, settings, pid, entry)
            await tx.execute("UPDATE petitions SET purged_at = :t WHERE id = :p", {"t": purged_at, "p": pid})

        await db.write(sign_after)
        server.start()
        refused = run(address, state)
        assert failure(refused) == "bad-entry"
        assert f"entry {size + 1} is a signature after the purge record (entry {size}): " in refused.stderr

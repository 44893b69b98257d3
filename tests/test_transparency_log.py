"""The transparency log: entries the batcher and code batches append, tiles, signed checkpoints, proofs."""

from __future__ import annotations

import base64
import hashlib

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from starlette.applications import Starlette

from petition import checkpoints, merkle, tlog
from petition.database import Database

from .test_signing import count_everything, make_codes, open_petition, petition_id, sign

pytestmark = pytest.mark.usefixtures("organizer")


async def log_of(db: Database, pid: str) -> list[bytes]:
    rows = await db.fetch_all("SELECT idx, data FROM log_entries WHERE petition_id = :p ORDER BY idx", {"p": pid})
    assert [int(row["idx"]) for row in rows] == list(range(len(rows)))
    return [bytes(row["data"]) for row in rows]


async def head_of(db: Database, pid: str) -> dict[str, object]:
    row = await db.fetch_one(
        "SELECT log_origin, log_size, log_checkpoint, signature_count, count_code, codes_issued FROM petitions "
        "WHERE id = :p",
        {"p": pid},
    )
    assert row is not None
    return dict(row)


def check_note(note: str, settings: object) -> tuple[str, int, bytes]:
    """The checkpoint's (origin, size, root), after checking its signature as C2SP signed-note says."""
    text, _, signatures = note.partition("\n\n")
    text += "\n"
    signer = checkpoints.signer(settings.signing_key, settings.base_url)  # type: ignore[attr-defined]
    [line] = signatures.splitlines()
    dash, name, encoded = line.split(" ")
    assert dash == "\u2014" and name == signer.name
    raw = base64.b64decode(encoded)
    public = signer.public_key
    assert raw[:4] == hashlib.sha256(name.encode() + b"\n\x01" + public).digest()[:4]
    Ed25519PublicKey.from_public_bytes(public).verify(raw[4:], text.encode())
    return checkpoints.root_of(note)


async def test_publishing_starts_the_log_with_its_draft_code_batches_and_a_signed_empty_checkpoint(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    from .test_petitions import bearer, create

    draft = (await create(client, token, verification=["code"], allowed_domains=[])).json()
    await client.post(f"/api/v1/petitions/{draft['id']}/codes", json={"count": 7}, headers=bearer(token))
    db = app.state.db
    assert (await head_of(db, draft["id"]))["log_origin"] is None, "a draft has no log"
    await client.post(f"/api/v1/petitions/{draft['id']}/publish", headers=bearer(token))
    head = await head_of(db, draft["id"])
    assert head["log_origin"] == f"127.0.0.1:8000/p/{draft['slug']}"
    assert await log_of(db, draft["id"]) == [b"\x03" + (7).to_bytes(4, "big")]
    origin, size, root = check_note(str(head["log_checkpoint"]), app.state.settings)
    assert (origin, size, root) == (head["log_origin"], 1, merkle.leaf_hash(b"\x03\x00\x00\x00\x07"))
    assert head["codes_issued"] == 7


async def test_a_closed_batch_appends_its_signatures_and_withdrawals_and_the_count_agrees_with_the_log(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token)
    codes = await make_codes(client, token, slug, 300)
    db = app.state.db
    pid = await petition_id(db, slug)
    receipts = [(await sign(client, slug, code)).json()["receipt"] for code in codes[:270]]
    # withdrawn before its batch closes: enters the log as neither entry
    await client.post(f"/api/v1/petitions/{slug}/signatures/withdraw", json={"receipt": receipts.pop()})
    await count_everything(app)
    entries = await log_of(db, pid)
    assert entries[0] == tlog.code_batch_entry(300)
    assert sorted(entries[1:]) == sorted(tlog.signature_entry("code", tlog.commitment(r)) for r in receipts)
    assert entries[1:] != [tlog.signature_entry("code", tlog.commitment(r)) for r in receipts], "shuffled"
    await client.post(f"/api/v1/petitions/{slug}/signatures/withdraw", json={"receipt": receipts[5]})
    await count_everything(app)
    entries = await log_of(db, pid)
    index = entries.index(tlog.signature_entry("code", tlog.commitment(receipts[5])))
    assert entries[-1] == tlog.withdrawal_entry(index)
    head = await head_of(db, pid)
    assert head["signature_count"] == len(receipts) - 1 == head["count_code"]
    _, size, root = check_note(str(head["log_checkpoint"]), app.state.settings)
    assert size == len(entries) == head["log_size"]
    assert root == merkle.root([merkle.leaf_hash(entry) for entry in entries])
    stored = await db.fetch_all(
        "SELECT size, note FROM log_checkpoints WHERE petition_id = :p ORDER BY size", {"p": pid}
    )
    assert [int(row["size"]) for row in stored] == [0, 1, 270, len(entries)]


async def test_proofs_from_tiles_agree_with_proofs_from_every_leaf(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token)
    db = app.state.db
    pid = await petition_id(db, slug)
    entries: list[bytes] = []
    sizes = [1, 200, 56, 1, 300, 10]  # crossing tile edges, and a tile that fills exactly
    for batch in sizes:

        async def unit(tx: object, batch: int = batch) -> None:
            await tlog.append(tx, app.state.settings, pid, [(tlog.code_batch_entry(batch), None)] * batch)  # type: ignore[arg-type]

        await db.write(unit)
        entries += [tlog.code_batch_entry(batch)] * batch
    leaves = [merkle.leaf_hash(entry) for entry in await log_of(db, pid)]
    assert len(leaves) == len(entries)
    reader = tlog.LogReader(db)
    for size in (1, 2, 7, 255, 256, 257, 258, 513, len(leaves)):
        assert await reader.tree_hash(pid, 0, size) == merkle.root(leaves[:size])
        for index in {0, size // 2, size - 1}:
            assert await reader.inclusion_proof(pid, index, size) == merkle.inclusion_proof(index, leaves[:size])
        # every first of the whole tree (proofs from inside a full tile share their kept end)
        for first in range(1, size) if size == len(leaves) else {1, size // 3, size - 1} - {0}:
            assert await reader.consistency_proof(pid, first, size) == merkle.consistency_proof(first, leaves[:size])


def test_checkpoints_are_signed_exactly_as_go_sumdb_note_signs_its_reference_note() -> None:
    # The key and note of golang.org/x/mod/sumdb/note's own tests (and the C2SP signed-note example).
    seed = base64.b64decode("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")[1:]
    signer = checkpoints.signer(seed, "https://PeterNeumann/")
    text = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
    assert signer.vkey == "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
    assert signer.sign(text) == (
        text + "\n\u2014 PeterNeumann "
        "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
    )


def test_a_checkpoint_body_is_origin_size_and_base64_root_and_the_origin_is_base_url_without_its_scheme() -> None:
    assert checkpoints.origin_of("https://petitions.example.org:8443/campaigns", "fair-pay") == (
        "petitions.example.org:8443/campaigns/p/fair-pay"
    )
    assert checkpoints.body("example.org/p/x", 3, bytes(32)) == f"example.org/p/x\n3\n{'A' * 43}=\n"

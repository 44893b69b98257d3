"""The log's public routes (key, checkpoints, entries, proofs, C2SP tlog-tiles) and receipts that prove inclusion."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from pathlib import Path
from urllib.parse import parse_qsl

import httpx
import pytest
from starlette.applications import Starlette

from petition import api, checkpoints, merkle, pending, queries, tiles, tlog
from petition.database import Database, Transaction
from petition.settings import Settings

from .conftest import make_settings
from .test_petitions import bearer, create
from .test_signing import count_everything, make_codes, open_petition, petition_id, sign
from .test_transparency_log import check_note, log_of

pytestmark = pytest.mark.usefixtures("organizer")

API = "/api/v1/petitions"
IMMUTABLE = "public, max-age=31536000, immutable"
RETIRED = checkpoints.signer(b"o" * 32, "https://old.example.org").vkey
# Three full level-0 tiles and a partial one of 50; one partial level-1 tile of 3.
SIZE = 3 * 256 + 50


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return make_settings(tmp_path, database_url=db_url, signing_keys_retired=(RETIRED,))


async def long_log(app: Starlette, client: httpx.AsyncClient, token: str, size: int = SIZE) -> tuple[str, str]:
    """A published petition whose log holds `size` entries (one code batch, then signature entries
    appended in batches that cross tile edges); (slug, id)."""
    slug = await open_petition(client, token)
    await make_codes(client, token, slug, 5)
    db: Database = app.state.db
    pid = await petition_id(db, slug)
    held = int(await db.fetch_val("SELECT log_size FROM petitions WHERE id = :id", {"id": pid}))
    for batch in (200, 57, 255, 1, size):
        batch = min(batch, size - held)
        if batch <= 0:
            break
        commits = [secrets.token_bytes(32) for _ in range(batch)]

        async def unit(tx: Transaction, commits: list[bytes] = commits) -> None:
            entries = [(tlog.signature_entry("email", commit), commit) for commit in commits]
            await tlog.append(tx, app.state.settings, pid, entries)

        await db.write(unit)
        held += batch
    app.state.public_cache.clear()
    return slug, pid


async def write(db: Database, sql: str, values: dict[str, object]) -> None:
    async def unit(tx: Transaction) -> None:
        await tx.execute(sql, values)

    await db.write(unit)


def error_of(response: httpx.Response, status: int) -> str:
    """The message of an error in the API's shape, after checking its status and shape."""
    assert response.status_code == status, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] in {"not_found", "validation_failed"}
    assert "Traceback" not in response.text
    return str(body["error"]["message"])


def unbase64(items: list[str]) -> list[bytes]:
    return [base64.b64decode(item) for item in items]


# -- tlog-tiles paths -----------------------------------------------------------------


def test_a_tile_index_is_written_as_three_digit_path_elements_all_but_the_last_after_an_x() -> None:
    assert tiles.index_path(1234067) == "x001/x234/067"
    assert tiles.index_path(5) == "005"
    assert tiles.index_path(0) == "000"
    assert tiles.index_path(1000) == "x001/000"
    assert tiles.tile_path(0, 1234067) == "tile/0/x001/x234/067"
    assert tiles.tile_path(2, 5, 17) == "tile/2/005.p/17"
    assert tiles.tile_path(None, 5, 255) == "tile/entries/005.p/255"
    assert tiles.parse("tile/0/x001/x234/067") == tiles.TileAddress(0, 1234067, 256)
    assert tiles.parse("tile/entries/005.p/7") == tiles.TileAddress(None, 5, 7)
    assert tiles.parse("tile/63/000.p/1") == tiles.TileAddress(63, 0, 1)


@pytest.mark.parametrize(
    "path",
    [
        "tile/0/5",
        "tile/0/0005",
        "tile/0/x000/005",
        "tile/0/x1/005",
        "tile/0/001/005",
        "tile/00/000",
        "tile/64/000",
        "tile/-1/000",
        "tile/0/000.p/0",
        "tile/0/000.p/256",
        "tile/0/000.p/007",
        "tile/0/000.p/",
        "tile/0/000/",
        "tile/entries/x000/001",
        "tile/entries",
        "tile/0",
        "checkpoint/",
        "",
    ],
)
def test_only_canonical_tile_paths_name_a_tile(path: str) -> None:
    assert tiles.parse(path) is None


def test_the_hashes_a_tree_holds_in_each_tile_are_those_tlog_tiles_counts() -> None:
    # The spec's example: a tree of 70,000 has 273 full level-0 tiles and a partial one of 112,
    # one full level-1 tile and a partial one of 17, and a partial level-2 tile of 1.
    assert [tiles.held(70_000, 0, n) for n in (0, 272, 273, 274)] == [256, 256, 112, 0]
    assert [tiles.held(70_000, 1, n) for n in (0, 1, 2)] == [256, 17, 0]
    assert [tiles.held(70_000, 2, n) for n in (0, 1)] == [1, 0]
    assert tiles.held(70_000, 3, 0) == 0
    assert (tiles.held(256, 0, 0), tiles.held(256, 1, 0), tiles.held(256, 0, 1)) == (256, 1, 0)


# -- the tiles, as a tlog client reads them ----------------------------------------------


def width_in(size: int, level: int, index: int) -> int:
    """The client's own count (C2SP tlog-tiles): floor(size / 256**level) hashes at the level."""
    return max(0, min(256, size // 256**level - 256 * index))


async def read_tile(client: httpx.AsyncClient, prefix: str, level: int | None, index: int, size: int) -> bytes:
    width = width_in(size, level or 0, index)
    response = await client.get(f"{prefix}/{tiles.tile_path(level, index, width)}")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["cache-control"] == IMMUTABLE
    assert response.headers["access-control-allow-origin"] == "*"
    return response.content


async def test_a_client_reading_only_tiles_recomputes_the_checkpoints_root(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug, pid = await long_log(app, client, token)
    prefix = f"/p/{slug}/log"
    fetched = await client.get(f"{prefix}/checkpoint")
    assert fetched.status_code == 200
    assert fetched.headers["content-type"] == "text/plain; charset=utf-8"
    assert fetched.headers["access-control-allow-origin"] == "*"
    origin, size, root = check_note(fetched.text, app.state.settings)
    assert (origin, size) == (f"127.0.0.1:8000/p/{slug}", SIZE)

    # Level 0: every leaf hash; the entry bundles hash to them.
    leaves: list[bytes] = []
    for index in range(-(-size // 256)):
        data = await read_tile(client, prefix, 0, index, size)
        hashes = [data[i : i + 32] for i in range(0, len(data), 32)]
        bundle = await read_tile(client, prefix, None, index, size)
        entries = []
        while bundle:
            length = int.from_bytes(bundle[:2], "big")
            entries.append(bundle[2 : 2 + length])
            bundle = bundle[2 + length :]
        assert [merkle.leaf_hash(entry) for entry in entries] == hashes
        leaves += hashes
    assert len(leaves) == size
    assert merkle.root(leaves) == root
    assert entries[-1] == (await log_of(app.state.db, pid))[-1]  # the log's own bytes

    # Level 1 (partial: 3 full tiles below): each hash is the root of a full level-0 tile; with the
    # partial level-0 tile, they make the root without reading any other leaf.
    upper = await read_tile(client, prefix, 1, 0, size)
    level1 = [upper[i : i + 32] for i in range(0, len(upper), 32)]
    assert level1 == [merkle.root(leaves[i : i + 256]) for i in range(0, 3 * 256, 256)]
    tail = leaves[3 * 256 :]  # from the partial level-0 tile alone
    # SIZE = 512 + 256 + 32 + 16 + 2: complete subtrees, folded from the right (RFC 6962's shape).
    nodes = [
        merkle.root(level1[0:2]),
        level1[2],
        merkle.root(tail[0:32]),
        merkle.root(tail[32:48]),
        merkle.root(tail[48:50]),
    ]
    folded = nodes[-1]
    for node in reversed(nodes[:-1]):
        folded = merkle.node_hash(node, folded)
    assert folded == root


async def test_full_tiles_are_immutable_and_a_partial_tile_is_a_prefix_of_the_longer_one(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug, _ = await long_log(app, client, token)
    prefix = f"/p/{slug}/log"
    full = await client.get(f"{prefix}/tile/0/000")
    assert full.status_code == 200 and len(full.content) == 256 * 32
    assert full.headers["cache-control"] == IMMUTABLE
    assert full.headers["etag"]
    again = await client.get(f"{prefix}/tile/0/000", headers={"if-none-match": full.headers["etag"]})
    assert again.status_code == 304
    for width in (1, 10, 255):
        part = await client.get(f"{prefix}/tile/0/000.p/{width}")
        assert part.status_code == 200 and part.headers["cache-control"] == IMMUTABLE
        assert part.content == full.content[: width * 32]
    bundle = await client.get(f"{prefix}/tile/entries/001")
    assert bundle.status_code == 200 and bundle.headers["cache-control"] == IMMUTABLE
    partial = await client.get(f"{prefix}/tile/entries/001.p/3")
    assert partial.content == bundle.content[: 3 * (2 + 34)]


async def test_tiles_the_tree_does_not_hold_and_paths_that_are_not_canonical_are_404_in_the_error_shape(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug, pid = await long_log(app, client, token)
    prefix = f"/p/{slug}/log"
    for path in [
        "tile/0/003",  # partial in this tree: not yet full
        "tile/0/003.p/51",  # wider than the tree holds
        "tile/0/004.p/1",
        "tile/1/000",
        "tile/1/000.p/4",
        "tile/2/000.p/1",
        "tile/entries/003",
        "tile/entries/004.p/1",
        "tile/0/x000/000",
        "tile/0/0",
        "tile/0/000.p/256",
        "tile/0/000.p/01",
        "tile/64/000",
        "tile/entries/x001/000",
        "tiles/0/000",
        "checkpoint.txt",
        "",
        "tile%2F0%2F000.p%2F8",  # a slash sent encoded is not the path C2SP names
        "tile/0%2F000.p/8",
    ]:
        message = error_of(await client.get(f"{prefix}/{path}"), 404)
        assert "log" in message, path
    assert f"tree of {SIZE} entries" in error_of(await client.get(f"{prefix}/tile/0/003"), 404)
    assert (await client.get(f"{prefix}/tile/0/003.p/50")).status_code == 200
    assert await app.state.db.fetch_val(queries.SELECT_LOG_HEAD, {"id": pid}) == SIZE


# -- the JSON routes --------------------------------------------------------------------


async def test_entries_and_proofs_agree_with_the_tree_computed_from_every_entry(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug, pid = await long_log(app, client, token)
    stored = await log_of(app.state.db, pid)
    leaves = [merkle.leaf_hash(entry) for entry in stored]
    note = (await client.get(f"{API}/{slug}/checkpoint")).text
    _, size, root = check_note(note, app.state.settings)
    assert size == len(stored) == SIZE

    got: list[bytes] = []
    for start in range(0, size, 300):
        response = await client.get(f"{API}/{slug}/log/entries", params={"start": start, "end": min(size, start + 300)})
        assert response.status_code == 200
        assert response.headers["cache-control"] == IMMUTABLE
        assert response.headers["access-control-allow-origin"] == "*"
        body = response.json()
        assert [item["index"] for item in body["entries"]] == list(range(start, min(size, start + 300)))
        got += [base64.b64decode(item["data"]) for item in body["entries"]]
    assert got == stored
    empty = await client.get(f"{API}/{slug}/log/entries", params={"start": 5, "end": 5})
    assert empty.json() == {"entries": []}

    for tree_size in (1, 2, 255, 256, 257, 513, size):
        for index in sorted({0, tree_size // 2, tree_size - 1}):
            response = await client.get(f"{API}/{slug}/log/inclusion", params={"index": index, "tree_size": tree_size})
            assert response.status_code == 200
            assert response.headers["cache-control"] == IMMUTABLE
            assert response.headers["access-control-allow-origin"] == "*"
            body = response.json()
            assert (body["index"], body["tree_size"]) == (index, tree_size)
            proof = unbase64(body["proof"])
            assert proof == merkle.inclusion_proof(index, leaves[:tree_size])
            merkle.verify_inclusion(leaves[index], index, tree_size, proof, merkle.root(leaves[:tree_size]))
    last = await client.get(f"{API}/{slug}/log/inclusion", params={"index": 700, "tree_size": size})
    merkle.verify_inclusion(leaves[700], 700, size, unbase64(last.json()["proof"]), root)

    for first, second in [(1, 2), (3, 7), (256, 257), (100, 513), (511, size), (size - 1, size), (9, 9)]:
        response = await client.get(f"{API}/{slug}/log/consistency", params={"first": first, "second": second})
        assert response.status_code == 200
        assert response.headers["cache-control"] == IMMUTABLE
        body = response.json()
        assert (body["first"], body["second"]) == (first, second)
        proof = unbase64(body["proof"])
        assert proof == merkle.consistency_proof(first, leaves[:second])
        merkle.verify_consistency(first, second, proof, merkle.root(leaves[:first]), merkle.root(leaves[:second]))


async def test_proofs_kept_in_memory_stay_right_as_the_log_grows(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug, pid = await long_log(app, client, token, size=600)
    indexes = [0, 255, 256, 300, 511, 599]
    held = 600
    for size in (600, 1100, 1300):  # the kept paths and ranges of 600 are asked for again at each size
        more = [
            (tlog.signature_entry("code", commit), commit) for commit in map(secrets.token_bytes, [32] * (size - held))
        ]

        async def unit(tx: Transaction, more: list[tuple[bytes, bytes | None]] = more) -> None:
            await tlog.append(tx, app.state.settings, pid, more)

        if more:
            await app.state.db.write(unit)
            app.state.public_cache.clear()
        held = size
        leaves = [merkle.leaf_hash(entry) for entry in await log_of(app.state.db, pid)]
        assert len(leaves) == size
        for tree_size in sorted({600, size}):
            for index in indexes:
                query = {"index": index, "tree_size": tree_size}
                proof = unbase64((await client.get(f"{API}/{slug}/log/inclusion", params=query)).json()["proof"])
                assert proof == merkle.inclusion_proof(index, leaves[:tree_size]), (index, tree_size)
            query = {"first": 599, "second": tree_size}
            proof = unbase64((await client.get(f"{API}/{slug}/log/consistency", params=query)).json()["proof"])
            assert proof == merkle.consistency_proof(599, leaves[:tree_size])


async def test_a_warm_proof_reads_no_tile_from_the_database(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug, _ = await long_log(app, client, token)
    reader: tlog.LogReader = app.state.log_reader
    await client.get(f"{API}/{slug}/log/inclusion", params={"index": 10, "tree_size": SIZE})
    reads = reader.cache.reads
    for index in (11, 12, 200):  # other proofs, from the same tiles
        assert (await client.get(f"{API}/{slug}/log/inclusion", params={"index": index, "tree_size": SIZE})).is_success
    assert reader.cache.reads == reads


async def test_the_checkpoint_is_the_latest_signed_one_as_text(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug, pid = await long_log(app, client, token)
    response = await client.get(f"{API}/{slug}/checkpoint")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["cache-control"] == "public, max-age=5"
    head = await app.state.db.fetch_one(queries.SELECT_LOG_HEAD, {"id": pid})
    assert response.text == head["log_checkpoint"]
    assert (await client.get(f"/p/{slug}/log/checkpoint")).text == response.text


async def test_the_key_is_the_signing_keys_verifier_key_and_the_retired_ones(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug, _ = await long_log(app, client, token, size=3)
    response = await client.get("/api/v1/log/key")
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    body = response.json()
    settings = app.state.settings
    signer = checkpoints.signer(settings.signing_key, settings.base_url)
    fingerprint = " ".join(hashlib.sha256(signer.public_key).hexdigest()[i : i + 4] for i in range(0, 64, 4))
    assert body == {"name": "127.0.0.1:8000", "vkey": signer.vkey, "fingerprint": fingerprint, "retired": [RETIRED]}
    # The verifier key alone checks a checkpoint (C2SP signed-note): name, key id, Ed25519 key.
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    name, key_id, encoded = body["vkey"].split("+", 2)
    raw = base64.b64decode(encoded)
    assert raw[0] == 1 and name == body["name"]
    note = (await client.get(f"{API}/{slug}/checkpoint")).text
    text, _, signature_line = note.partition("\n\n")
    signature = base64.b64decode(signature_line.split(" ")[2])
    assert signature[:4].hex() == key_id
    Ed25519PublicKey.from_public_bytes(raw[1:]).verify(signature[4:], (text + "\n").encode())


@pytest.mark.parametrize(
    ("route", "query", "field"),
    [
        ("entries", "start=0&end=abc", "end"),
        ("entries", "start=-1&end=3", "start"),
        ("entries", "start=1.0&end=3", "start"),
        ("entries", "start=0", "end"),
        ("entries", "start=5&end=4", "end"),
        ("entries", "start=0&end=1001", "end"),
        ("entries", f"start=0&end={SIZE + 1}", "end"),
        ("entries", "start=0&end=3&other=1", "other"),
        ("entries", "start=99999999999999999&end=3", "start"),
        ("inclusion", "index=x&tree_size=3", "index"),
        ("inclusion", "index=0&tree_size=-3", "tree_size"),
        ("inclusion", "index=3&tree_size=3", "index"),
        ("inclusion", "index=0&tree_size=0", "index"),
        ("inclusion", f"index=0&tree_size={SIZE + 1}", "tree_size"),
        ("inclusion", "tree_size=3", "index"),
        ("consistency", "first=4&second=3", "first"),
        ("consistency", "first=0&second=3", "first"),
        ("consistency", f"first=1&second={SIZE + 1}", "second"),
        ("consistency", "first=&second=3", "first"),
        ("consistency", "first=1e3&second=3000", "first"),
    ],
)
async def test_bad_parameters_are_refused_with_422_naming_the_parameter(
    app: Starlette, client: httpx.AsyncClient, token: str, route: str, query: str, field: str
) -> None:
    slug, pid = await long_log(app, client, token)
    message = error_of(await client.get(f"{API}/{slug}/log/{route}?{query}"), 422)
    response = await client.get(f"{API}/{slug}/log/{route}?{query}")
    assert [item["field"] for item in response.json()["error"]["fields"]] == [field]
    if str(SIZE + 1) in query:
        assert f"holds {SIZE} entries" in message
    assert await app.state.db.fetch_val("SELECT log_size FROM petitions WHERE id = :id", {"id": pid}) == SIZE


async def test_drafts_unknown_petitions_and_a_petition_without_a_log_are_404_on_every_log_route(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    draft = (await create(client, token)).json()
    slug, pid = await long_log(app, client, token, size=3)
    paths = [
        "{api}/{key}/checkpoint",
        "{api}/{key}/log/entries?start=0&end=1",
        "{api}/{key}/log/inclusion?index=0&tree_size=1",
        "{api}/{key}/log/consistency?first=1&second=1",
        "/p/{key}/log/checkpoint",
        "/p/{key}/log/tile/0/000.p/1",
        "/p/{key}/log/tile/entries/000.p/1",
    ]
    for key in (draft["id"], draft["slug"], "no-such-petition"):
        for path in paths:
            error_of(await client.get(path.format(api=API, key=key)), 404)
            # nor for its organizer: the log is public or nothing
            error_of(await client.get(path.format(api=API, key=key), headers=bearer(token)), 404)
    for path in paths:
        assert (await client.get(path.format(api=API, key=slug))).status_code == 200, path
    # A slug with an encoded slash, a character no address holds: still the log's 404.
    for path in ["/p/a%2Fb/log/tile/0/000", f"/p/{slug}/log/%00", f"/p/{slug}/log/tile/0/000%EF%B7%90"]:
        error_of(await client.get(path), 404)
    # A published petition with no log (publishing starts one; this only defends).
    await write(app.state.db, "UPDATE petitions SET log_checkpoint = NULL WHERE id = :id", {"id": pid})
    app.state.public_cache.clear()
    for path in paths:
        assert "log has not started" in error_of(await client.get(path.format(api=API, key=slug)), 404)


async def test_the_log_routes_are_in_the_openapi_document(client: httpx.AsyncClient) -> None:
    document = (await client.get("/api/openapi.json")).json()
    for path in [
        "/api/v1/log/key",
        "/api/v1/petitions/{slug}/checkpoint",
        "/api/v1/petitions/{slug}/log/entries",
        "/api/v1/petitions/{slug}/log/inclusion",
        "/api/v1/petitions/{slug}/log/consistency",
        "/p/{slug}/log/{path}",
    ]:
        assert "get" in document["paths"][path], path
    tiles_doc = document["paths"]["/p/{slug}/log/{path}"]["get"]["responses"]
    assert set(tiles_doc["200"]["content"]) == {"application/octet-stream", "text/plain"}
    assert set(document["paths"]["/api/v1/petitions/{slug}/checkpoint"]["get"]["responses"]["200"]["content"]) == {
        "text/plain"
    }
    status = document["components"]["schemas"]["SignatureStatus"]["properties"]["status"]
    assert "invalidated" not in json.dumps(status)


# -- receipts ---------------------------------------------------------------------------


async def receipt_status(client: httpx.AsyncClient, slug: str, receipt: str) -> httpx.Response:
    return await client.post(f"{API}/{slug}/signatures/status", json={"receipt": receipt})


def verify_status(body: dict[str, object], receipt: str, method: str = "code") -> None:
    """The status's proof leads from the receipt's entry to the checkpoint's root."""
    _, size, root = checkpoints.root_of(str(body["checkpoint"]))
    assert body["tree_size"] == size
    leaf = merkle.leaf_hash(tlog.signature_entry(method, tlog.commitment(receipt)))
    merkle.verify_inclusion(leaf, int(body["leaf_index"]), size, unbase64(body["proof"]), root)  # type: ignore[arg-type, call-overload]


async def test_a_counted_receipts_status_carries_an_inclusion_proof_against_the_latest_checkpoint(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token)
    codes = await make_codes(client, token, slug, 12)
    receipts = [(await sign(client, slug, code)).json()["receipt"] for code in codes[:6]]
    assert (await receipt_status(client, slug, receipts[0])).json() == {"status": "pending", "name_shown": False}
    await count_everything(app)
    later = [(await sign(client, slug, code)).json()["receipt"] for code in codes[6:]]
    await count_everything(app)  # the first receipts' proofs now lead to a later checkpoint
    for receipt in receipts + later:
        response = await receipt_status(client, slug, receipt)
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-store"
        body = response.json()
        assert set(body) == {"status", "name_shown", "leaf_index", "tree_size", "proof", "checkpoint"}
        assert body["status"] == "counted" and body["tree_size"] == 13
        assert body["checkpoint"] == (await client.get(f"{API}/{slug}/checkpoint")).text
        verify_status(body, receipt)
    # Withdrawn: the status only.
    await client.post(f"{API}/{slug}/signatures/withdraw", json={"receipt": receipts[0]})
    assert (await receipt_status(client, slug, receipts[0])).json() == {"status": "withdrawn", "name_shown": False}
    await count_everything(app)
    assert (await receipt_status(client, slug, receipts[0])).json() == {"status": "withdrawn", "name_shown": False}
    # A receipt of another petition: 404, as before.
    other = await open_petition(client, token)
    assert (await receipt_status(client, other, receipts[1])).status_code == 404


async def test_a_signature_sealed_before_the_log_existed_finds_its_entry_by_its_legacy_commitment(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token)
    [code] = await make_codes(client, token, slug, 1)
    receipt = (await sign(client, slug, code)).json()["receipt"]
    db: Database = app.state.db
    settings = app.state.settings
    key = pending.signature_key(receipt)
    row = await db.fetch_one(
        "SELECT pending_key, petition_id, kind, sealed FROM pending_signatures WHERE pending_key = :k", {"k": key}
    )
    assert row is not None
    content = pending.unseal(settings, dict(row))
    del content["commitment"]  # as sealed before the log existed
    petition = await app.state.public_cache.petition_row(slug)
    sealed = pending.seal(settings, kind=int(row["kind"]), key=key, petition=petition, content=content)
    await write(db, "UPDATE pending_signatures SET sealed = :s WHERE pending_key = :k", {"s": sealed, "k": key})
    await count_everything(app)
    body = (await receipt_status(client, slug, receipt)).json()
    _, size, root = checkpoints.root_of(body["checkpoint"])
    leaf = merkle.leaf_hash(tlog.signature_entry("code", tlog.legacy_commitment(key)))
    merkle.verify_inclusion(leaf, body["leaf_index"], size, unbase64(body["proof"]), root)


async def start_log_again(app: Starlette, pid: str) -> None:
    """The petition's log as if it started now (a database from before the log): its count carried over."""
    db: Database = app.state.db
    for table in ("log_entries", "log_tiles", "log_checkpoints"):
        await write(db, f"DELETE FROM {table} WHERE petition_id = :id", {"id": pid})
    reset = "log_origin = NULL, log_size = 0, log_checkpoint = NULL, log_carried_over = 0, codes_issued = 0"
    await write(db, f"UPDATE petitions SET {reset} WHERE id = :id", {"id": pid})
    app.state.log_reader.cache.tiles.clear()
    assert await tlog.start_missing(db, app.state.settings) == 1
    app.state.public_cache.clear()


async def test_a_signature_counted_before_the_log_existed_is_said_to_be_carried_over(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token)
    codes = await make_codes(client, token, slug, 5)
    receipts = [(await sign(client, slug, code)).json()["receipt"] for code in codes]
    await count_everything(app)
    await start_log_again(app, await petition_id(app.state.db, slug))
    assert (await receipt_status(client, slug, receipts[0])).json() == {
        "status": "counted",
        "name_shown": False,
        "carried_over": True,
    }
    page = await client.post(f"/p/{slug}/receipt", data={"receipt": receipts[0]})
    assert "counted before this petition's public log began" in re.sub(r"\s+", " ", page.text)
    refused = await client.post(f"/p/{slug}/receipt/proof", data={"receipt": receipts[0]})
    assert refused.status_code == 409 and "no entry of its own" in refused.text


async def test_the_receipt_page_says_which_entry_the_signature_is_and_offers_the_proof_as_a_file(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token)
    codes = await make_codes(client, token, slug, 6)
    receipts = [(await sign(client, slug, code)).json()["receipt"] for code in codes]
    pending_page = await client.post(f"/p/{slug}/receipt", data={"receipt": receipts[0]})
    assert "public log" not in pending_page.text
    refused = await client.post(f"/p/{slug}/receipt/proof", data={"receipt": receipts[0]})
    assert refused.status_code == 409 and "no proof yet" in refused.text
    await count_everything(app)
    status = (await receipt_status(client, slug, receipts[0])).json()
    page = await client.post(f"/p/{slug}/receipt", data={"receipt": receipts[0]})
    assert page.status_code == 200
    text = re.sub(r"\s+", " ", page.text).replace("&#39;", "'")
    # 1-based for people: entry leaf_index + 1 of tree_size.
    place = f"entry {status['leaf_index'] + 1:,} of {status['tree_size']:,}"
    assert f"Your signature is {place} in this petition's public log; this proof shows it." in text
    assert "does not say who signed" in text and "not your receipt" in text
    assert f"there it is entry {status['leaf_index']:,}." in text

    download = await client.post(f"/p/{slug}/receipt/proof", data={"receipt": receipts[0]})
    assert download.status_code == 200
    assert download.headers["cache-control"] == "no-store"
    assert download.headers["content-disposition"] == f"attachment; filename={slug}-inclusion-proof.json"
    assert receipts[0] not in download.text, "the file can be shared: the receipt is not in it"
    data = download.json()
    assert set(data) == {"petition", "origin", "leaf_index", "tree_size", "entry", "proof", "checkpoint"}
    assert data["petition"] == f"{app.state.settings.base_url}/p/{slug}"
    assert data["origin"] == f"127.0.0.1:8000/p/{slug}"
    entry = base64.b64decode(data["entry"])
    assert entry == tlog.signature_entry("code", tlog.commitment(receipts[0]))
    _, size, root = checkpoints.root_of(data["checkpoint"])
    merkle.verify_inclusion(merkle.leaf_hash(entry), data["leaf_index"], size, unbase64(data["proof"]), root)

    unknown = await client.post(f"/p/{slug}/receipt/proof", data={"receipt": secrets.token_urlsafe(32)})
    assert unknown.status_code == 404
    assert (await client.post(f"/p/{slug}/receipt/proof", data={"receipt": "nope"})).status_code == 422


# -- codes issued ---------------------------------------------------------------------------


async def test_the_petition_shows_the_codes_issued_beside_the_count_by_method(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token)
    assert (await client.get(f"{API}/{slug}")).json()["codes_issued"] == 0
    codes = await make_codes(client, token, slug, 300)
    await make_codes(client, token, slug, 7)
    for code in codes[:5]:
        await sign(client, slug, code)
    await count_everything(app)
    body = (await client.get(f"{API}/{slug}")).json()
    assert body["codes_issued"] == 307
    assert body["signature_count_by_method"] == {"email": 0, "code": 5}
    page = re.sub(r"\s+", " ", (await client.get(f"/p/{slug}")).text)
    assert "5 by printed code (of 307 printed codes issued)" in page
    # and how anyone can check it
    assert f'<a href="/verify.py">Download the verifier</a> and run <code>python verify.py {body["url"]}</code>' in page


@pytest.mark.parametrize(
    "raw", [b"", b"index=1&tree_size=2", b"a&b=", b"a=1&a=2", b"&&a=1&", b"a==b", b"=x", b"a=%20", b"a=b+c", b"%3D=1"]
)
def test_query_strings_are_read_as_parse_qsl_reads_them(raw: bytes) -> None:
    assert api.query_parameters(raw) == dict(parse_qsl(raw.decode("latin-1"), keep_blank_values=True))


async def test_a_client_hanging_up_mid_body_is_not_logged_as_an_error(
    app: Starlette, client: httpx.AsyncClient, token: str, caplog: pytest.LogCaptureFixture
) -> None:
    slug = await open_petition(client, token)
    path = f"/api/v1/petitions/{slug}/signatures/status"
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8000"), (b"content-type", b"application/json"), (b"content-length", b"100")],
        "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 8000),
    }  # fmt: skip
    messages = iter([{"type": "http.request", "body": b"{}", "more_body": True}, {"type": "http.disconnect"}])
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return next(messages)

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    with caplog.at_level("INFO"):
        await app(scope, receive, send)
    assert not [record for record in caplog.records if record.levelname == "ERROR"], caplog.text

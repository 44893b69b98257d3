"""The transparency log's public routes: the key that signs checkpoints, each petition's latest
checkpoint, entries and proofs as JSON, and the same log as C2SP tlog-tiles under /p/{slug}/log/
(see tiles.py), for existing transparency-log clients and witnesses.

All public and CORS open, and cached as far as their content allows: a checkpoint moves with every
append (five seconds), while the entries, proofs and tiles of a tree the log has reached never
change (a year, immutable). The petition's row comes from the public cache and tiles from the
process's LogReader, which keeps them in memory, so a warm answer reads nothing from the database.
Entries, tiles and checkpoints are also remembered under their address, for the middleware to
answer a repeat before routing; proofs, asked for at random, are built straight to bytes instead.
"""

from __future__ import annotations

import binascii
from collections.abc import Awaitable, Callable

from pydantic import BaseModel, ConfigDict
from starlette.requests import Request
from starlette.types import ASGIApp

from . import checkpoints, tiles
from .cache import Cached, RawResponse
from .database import Row
from .errors import ApiError, FieldError
from .merkle import HASH_SIZE
from .parameters import LARGEST_NUMBER, query_number
from .petitions_api import CORS
from .signing import open_petition
from .tlog import MAX_ENTRIES_PER_READ, TILE_WIDTH, LogReader
from .verify import key_fingerprint

JSON_TYPE = "application/json"
TEXT_TYPE = "text/plain; charset=utf-8"
BINARY_TYPE = "application/octet-stream"
# tlog-tiles: a checkpoint is mutable, "so its headers SHOULD prevent caching beyond a few seconds".
CHECKPOINT_CACHE_CONTROL = "public, max-age=5"
# Entries, proofs and tiles of a tree the log has reached: the same bytes forever.
IMMUTABLE = "public, max-age=31536000, immutable"
# The key changes only when the operator rotates it (and restarts).
KEY_CACHE_CONTROL = "public, max-age=300"
NO_LOG = "This petition's log has not started."
NOT_A_TILE = (
    "There is nothing at this address of the log: C2SP tlog-tiles names checkpoint, "
    "tile/<L>/<N>[.p/<W>] and tile/entries/<N>[.p/<W>], <N> in three-digit elements such as x001/x234/067."
)
Built = tuple[bytes, str, dict[str, str]]
Number = query_number(0, LARGEST_NUMBER)


class EntriesQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: Number
    end: Number


class InclusionQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    index: Number
    tree_size: Number


class ConsistencyQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    first: Number
    second: Number


class LogKey(BaseModel):
    """The key that signs every checkpoint, as a C2SP signed-note verifier key
    (`<name>+<hex key id>+<base64(0x01 || Ed25519 public key)>`), and the retired keys that signed
    earlier checkpoints, oldest first."""

    name: str
    vkey: str
    # SHA-256 of the current public key, hex in groups of four: what a person compares with a
    # delivery certificate's log.fingerprint.
    fingerprint: str
    retired: list[str]


class LogEntry(BaseModel):
    index: int
    data: str  # the entry's bytes, base64 (tlog.py says what they are)


class LogEntries(BaseModel):
    entries: list[LogEntry]


class InclusionProof(BaseModel):
    """The audit path of entry `index` in the tree of `tree_size` (RFC 9162 2.1.3), base64 hashes."""

    index: int
    tree_size: int
    proof: list[str]


class ConsistencyProof(BaseModel):
    """The proof that the tree of `first` is a prefix of the tree of `second` (RFC 9162 2.1.4), base64 hashes."""

    first: int
    second: int
    proof: list[str]


def encoded(items: list[bytes]) -> list[str]:
    """Each as base64 (binascii's, without base64's wrapper: a proof is a score of hashes)."""
    return [binascii.b2a_base64(item, newline=False).decode() for item in items]


# The headers of every proof: proofs are asked for at random (a verifier's, a witness's), so they are
# built straight to bytes and not remembered by address, where they would only push out the answers
# that do repeat.
PROOF_HEADERS = [
    (b"content-type", JSON_TYPE.encode()),
    *((name.encode(), value.encode()) for name, value in {**CORS, "cache-control": IMMUTABLE}.items()),
]


def proof_answer(fields: str, proof: list[bytes]) -> RawResponse:
    """`{<fields>,"proof":[<base64 hash>, ...]}` (the InclusionProof or ConsistencyProof shape), immutable."""
    hashes = '","'.join(binascii.b2a_base64(item, newline=False).decode() for item in proof)
    body = (f'{{{fields},"proof":["{hashes}"]}}' if proof else f'{{{fields},"proof":[]}}').encode()
    return RawResponse(200, [*PROOF_HEADERS, (b"content-length", str(len(body)).encode())], body)


def refuse(field: str, message: str) -> ApiError:
    """A 422 naming the parameter at fault."""
    return ApiError(422, message, fields=[FieldError(field=field, message=message)])


async def log_petition(request: Request) -> Row:
    """The public petition of the path with its log; 404 for anything else (drafts included)."""
    row = await open_petition(request)
    if row["log_checkpoint"] is None:  # cannot happen once published: the log starts with it
        raise ApiError(404, NO_LOG)
    return row


def answer(request: Request, body: bytes, media_type: str, cache_control: str) -> ASGIApp:
    """An answer that never changes, remembered under its address for the middleware to repeat."""
    cache = request.app.state.public_cache
    entry = Cached(body, media_type, {**CORS, "cache-control": cache_control})
    # Built from the log, not from what a cache clear could make stale: right in every generation.
    entry.generation = cache.generation
    cache.remember(request.scope, entry)
    return entry.response(request.scope)


async def cached_answer(request: Request, key: tuple[str, str], build: Callable[[], Awaitable[Built]]) -> ASGIApp:
    """An answer kept in the public cache (until the next append or petition change) and remembered."""
    cache = request.app.state.public_cache
    entry = await cache.get_or_build(key, build)
    assert entry is not None  # build never returns None
    cache.remember(request.scope, entry)
    return entry.response(request.scope)


async def api_key(request: Request) -> ASGIApp:
    """GET /api/v1/log/key: the verifier key of SIGNING_KEY, and SIGNING_KEYS_RETIRED."""
    settings = request.app.state.settings

    async def build() -> Built:
        signer = checkpoints.signer(settings.signing_key, settings.base_url)
        key = LogKey(
            name=signer.name,
            vkey=signer.vkey,
            fingerprint=key_fingerprint(signer.public_key),
            retired=list(settings.signing_keys_retired),
        )
        return key.model_dump_json().encode(), JSON_TYPE, {**CORS, "cache-control": KEY_CACHE_CONTROL}

    return await cached_answer(request, ("log-key", ""), build)


async def checkpoint(request: Request, row: Row) -> ASGIApp:
    """The petition's latest signed checkpoint (C2SP tlog-checkpoint, signed-note), as text."""

    async def build() -> Built:
        note = str(row["log_checkpoint"]).encode()
        return note, TEXT_TYPE, {**CORS, "cache-control": CHECKPOINT_CACHE_CONTROL}

    return await cached_answer(request, ("log-checkpoint", f"{row['id']}|{row['log_size']}"), build)


async def api_checkpoint(request: Request) -> ASGIApp:
    """GET /api/v1/petitions/{slug}/checkpoint: the latest signed checkpoint, text/plain."""
    return await checkpoint(request, await log_petition(request))


async def api_entries(request: Request, query: EntriesQuery) -> ASGIApp:
    """GET /api/v1/petitions/{slug}/log/entries?start=&end=: entries [start, end), base64."""
    row = await log_petition(request)
    size = int(row["log_size"])
    if query.end < query.start:
        raise refuse("end", "end must not be below start (entries [start, end) are given).")
    if query.end - query.start > MAX_ENTRIES_PER_READ:
        raise refuse("end", f"Ask for at most {MAX_ENTRIES_PER_READ:,} entries at a time (end - start).")
    if query.end > size:
        raise refuse("end", f"The log holds {size} entries: end must be at most {size}.")
    found = await log_reader(request).entries(row["id"], query.start, query.end)
    entries = [LogEntry(index=query.start + i, data=data) for i, data in enumerate(encoded(found))]
    return answer(request, LogEntries(entries=entries).model_dump_json().encode(), JSON_TYPE, IMMUTABLE)


async def api_inclusion(request: Request, query: InclusionQuery) -> ASGIApp:
    """GET /api/v1/petitions/{slug}/log/inclusion?index=&tree_size=: an inclusion proof."""
    row = await log_petition(request)
    size = int(row["log_size"])
    if query.tree_size > size:
        raise refuse("tree_size", f"The log holds {size} entries: tree_size must be at most {size}.")
    if query.index >= query.tree_size:
        raise refuse("index", f"index must be below tree_size ({query.tree_size}): entries count from 0.")
    proof = await log_reader(request).inclusion_proof(row["id"], query.index, query.tree_size)
    return proof_answer(f'"index":{query.index},"tree_size":{query.tree_size}', proof)


async def api_consistency(request: Request, query: ConsistencyQuery) -> ASGIApp:
    """GET /api/v1/petitions/{slug}/log/consistency?first=&second=: a consistency proof."""
    row = await log_petition(request)
    size = int(row["log_size"])
    if query.second > size:
        raise refuse("second", f"The log holds {size} entries: second must be at most {size}.")
    if query.first > query.second:
        raise refuse("first", "first must not be above second: a log only grows.")
    if query.first == 0:  # RFC 9162 proves consistency from a tree of at least one entry
        raise refuse("first", "first must be at least 1: every tree grows from the empty one, with nothing to prove.")
    proof = await log_reader(request).consistency_proof(row["id"], query.first, query.second)
    return proof_answer(f'"first":{query.first},"second":{query.second}', proof)


async def tlog_tiles(request: Request) -> ASGIApp:
    """GET /p/{slug}/log/<checkpoint | tile/<L>/<N>[.p/<W>] | tile/entries/<N>[.p/<W>]> (C2SP tlog-tiles).

    A full tile only once the tree holds it full, a partial one of width W once it holds W hashes
    of it (then forever: the first W hashes of a tile never change). 404 for any other path."""
    row = await log_petition(request)
    path = request.path_params["path"]
    if path == "checkpoint":
        return await checkpoint(request, row)
    address = tiles.parse(path)
    # Canonical paths only: a slash sent encoded (tile%2F0%2F000) is not the path C2SP names.
    if address is None or b"%2f" in request.scope.get("raw_path", b"").lower():
        raise ApiError(404, NOT_A_TILE)
    size = int(row["log_size"])
    if tiles.held(size, address.level or 0, address.index) < address.width:
        raise ApiError(404, f"The log's tree of {size} entries does not hold {address.path}.")
    reader = log_reader(request)
    if address.level is None:
        start = address.index * TILE_WIDTH
        found = await reader.entries(row["id"], start, start + address.width)
        body = b"".join(len(entry).to_bytes(2, "big") + entry for entry in found)
    else:
        tile = await reader.tile(row["id"], address.level, address.index, address.width)
        body = tile.hashes[: address.width * HASH_SIZE]  # a longer tile's prefix is the same bytes
    return answer(request, body, BINARY_TYPE, IMMUTABLE)


def log_reader(request: Request) -> LogReader:
    return request.app.state.log_reader  # type: ignore[no-any-return]

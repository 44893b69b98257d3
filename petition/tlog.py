"""Each petition's transparency log: entries, hash tiles, signed checkpoints, proofs.

An append-only Merkle tree with RFC 6962 hashing (see merkle.py), one per published petition.
Entries are bytes, exactly (DESIGN.md "Verifiable counts"):

    signature     0x01 · method (0x01 work email, 0x02 printed code) · commitment (32 bytes)
    withdrawal    0x02 · index of the signature entry it cancels (u64, big-endian)
    code batch    0x03 · number of codes in the batch (u32, big-endian)
    (purge        0x04, kept for the retention record)
    carried over  0x05 · signatures counted before the log existed (u64, big-endian); entry 0 only

A commitment is SHA-256("commit/v1" || receipt): it names nobody and holds no time, and only
the receipt's holder can point at their own leaf.

Hashes are stored as C2SP tlog-tiles store them: level L, tile N holds the 256 hashes of the
tree's nodes at height 8L from index 256N (the rightmost tile of a level grows until it is
full). A node at any height is folded from at most 128 hashes of one tile, so a proof reads a
few tiles, never every leaf; full tiles never change and are kept in memory.

Only four things append, each in the transaction that makes what it records, under a lock on
the petition's row (one appender at a time, across processes): the batcher (a closed batch's
signatures and withdrawals, shuffled), a new code batch, the start of the log, and the retention
purge (its 0x04 entry, see purge.py). Each append
ends with a checkpoint signed with SIGNING_KEY, and none is signed unless the tree it signs
holds the previous checkpoint's tree as its prefix.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

from . import checkpoints, queries
from .database import Database, Transaction
from .merkle import EMPTY_ROOT, HASH_SIZE, leaf_hash, node_hash
from .settings import Settings
from .verify import CARRIED_OVER, CODE_BATCH, PRINTED_CODE, PURGE, SIGNATURE, WITHDRAWAL, WORK_EMAIL

logger = logging.getLogger("petition.tlog")

# The entry kinds are the verifier's (verify.py), which reads them.
METHOD_BYTES = {"email": WORK_EMAIL, "code": PRINTED_CODE}

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
# Tiles kept in memory per process: 4,096 tiles of 256 hashes and their interior nodes are about
# 64 MiB at most, the whole of a log of a million entries.
TILE_CACHE_SIZE = 4096
MAX_ENTRIES_PER_READ = 1000
# Hashes of ranges that are no complete subtree, kept per process: 32 bytes each, a few MiB at most.
RANGE_CACHE_SIZE = 65536
# Audit paths of full level-0 tiles, kept per process: a million entries have 3,907 tiles, each
# path 12 hashes (about 2 MiB in all).
PATH_CACHE_SIZE = 16384


class LogError(Exception):
    """The log cannot do what was asked without breaking its promise (an append that would fork it)."""


def commitment(receipt: str) -> bytes:
    """SHA-256("commit/v1" || receipt): a signature's commitment, 32 bytes."""
    return hashlib.sha256(b"commit/v1" + receipt.encode("ascii")).digest()


def legacy_commitment(pending_key: str) -> bytes:
    """The commitment of a signature accepted before the log existed and counted after it started:
    its receipt was not kept, so its entry commits to its pending key (SHA-256("pending/v1" |
    receipt)) instead; `status` finds it from the receipt all the same."""
    return hashlib.sha256(b"commit/v1|pending|" + pending_key.encode("ascii")).digest()


def signature_entry(method: str, commit: bytes) -> bytes:
    """0x01 · method byte · commitment."""
    return bytes((SIGNATURE, METHOD_BYTES[method])) + commit


def withdrawal_entry(index: int) -> bytes:
    """0x02 · the cancelled signature entry's index (u64)."""
    return bytes((WITHDRAWAL,)) + index.to_bytes(8, "big")


def code_batch_entry(count: int) -> bytes:
    """0x03 · number of codes (u32)."""
    return bytes((CODE_BATCH,)) + count.to_bytes(4, "big")


def purge_entry() -> bytes:
    """0x04 alone: the petition's identifying data was destroyed (the retention purge)."""
    return bytes((PURGE,))


def carried_over_entry(count: int) -> bytes:
    """0x05 · signatures counted before the log (u64)."""
    return bytes((CARRIED_OVER,)) + count.to_bytes(8, "big")


# -- the shape of the tree ---------------------------------------------------------


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges [lo, hi) whose tree hashes make the audit path of `index` in a tree of
    `size` (PATH of RFC 9162 2.1.3.1), deepest first."""
    path: list[tuple[int, int]] = []
    lo, hi = 0, size
    while hi - lo > 1:
        # RFC 9162's split: the largest power of two below hi - lo (inline: a proof is mostly this loop).
        k = 1 << (hi - lo - 1).bit_length() - 1
        if index < lo + k:
            path.append((lo + k, hi))
            hi = lo + k
        else:
            path.append((lo, lo + k))
            lo += k
    return path[::-1]


def consistency_ranges(first: int, second: int) -> list[tuple[int, int]]:
    """The leaf ranges whose tree hashes prove a tree of `first` a prefix of one of `second`
    (SUBPROOF of RFC 9162 2.1.4.1; 0 < first < second), deepest first."""
    proof: list[tuple[int, int]] = []
    lo, hi, m, whole = 0, second, first, True
    while m != hi - lo:
        k = 1 << (hi - lo - 1).bit_length() - 1  # the largest power of two below hi - lo
        if m <= k:
            proof.append((lo + k, hi))
            hi = lo + k
        else:
            proof.append((lo, lo + k))
            m -= k
            lo += k
            whole = False
    if not whole:
        proof.append((lo, hi))
    return proof[::-1]


def subtrees(lo: int, hi: int) -> list[tuple[int, int]]:
    """[lo, hi) as complete subtrees (height, index), left to right, each as large as its start
    allows: for a range of RFC 9162's recursion, its tree hash folds them from the right."""
    nodes = []
    while lo < hi:
        height = (lo & -lo).bit_length() - 1 if lo else (hi - lo).bit_length()
        while 1 << height > hi - lo:
            height -= 1
        nodes.append((height, lo >> height))
        lo += 1 << height
    return nodes


def tile_of(height: int, index: int) -> tuple[int, int, int]:
    """Where the node (height, index) is folded from: (tile level, tile index, hashes needed in it)."""
    level, within = divmod(height, TILE_HEIGHT)
    first = index << within
    return level, first >> TILE_HEIGHT, (first & (TILE_WIDTH - 1)) + (1 << within)


# -- tiles ---------------------------------------------------------------------------


class Tile:
    """The hashes of one tile and the nodes folded from them: `levels[s][j]` is the node at height
    8L + s, index 256N / 2**s + j, for every complete one."""

    __slots__ = ("hashes", "levels", "width")

    def __init__(self, hashes: bytes) -> None:
        self.hashes = hashes
        self.width = len(hashes) // HASH_SIZE
        # Tuples: the garbage collector stops tracking a tuple of bytes, and a process keeps
        # thousands of tiles, which every full collection would otherwise walk hash by hash.
        level = tuple(hashes[i : i + HASH_SIZE] for i in range(0, self.width * HASH_SIZE, HASH_SIZE))
        self.levels = [level]
        while len(level) > 1:
            level = tuple(node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2))
            self.levels.append(level)

    def node(self, within: int, offset: int) -> bytes:
        """The node `within` levels above the tile's own, `offset` hashes into the tile."""
        return self.levels[within][offset >> within]

    def root(self) -> bytes:
        """The node over the whole (full) tile: a hash of the next level's tile."""
        return self.levels[TILE_HEIGHT][0]


TileLoader = Callable[[int, int, int], Awaitable[Tile]]


async def tree_hash(load: TileLoader, lo: int, hi: int) -> bytes:
    """The tree hash of leaves [lo, hi) (a range of RFC 9162's recursion), from tiles."""
    if lo == hi:
        return EMPTY_ROOT
    hashes = []
    for height, index in subtrees(lo, hi):
        level, tile_index, needed = tile_of(height, index)
        tile = await load(level, tile_index, needed)
        hashes.append(tile.node(height % TILE_HEIGHT, (index << (height % TILE_HEIGHT)) & (TILE_WIDTH - 1)))
    result = hashes[-1]
    for item in reversed(hashes[:-1]):
        result = node_hash(item, result)
    return result


class TileCache:
    """Tiles read from the database, most recently used kept, per process.

    A tile's first W hashes never change once written, so a tile is kept with the width it had,
    and read again only when a proof needs more of it than that."""

    def __init__(self, size: int = TILE_CACHE_SIZE) -> None:
        self.size = size
        self.tiles: OrderedDict[tuple[str, int, int], Tile] = OrderedDict()
        self.reads = 0

    def get(self, key: tuple[str, int, int], needed: int) -> Tile | None:
        tile = self.tiles.get(key)
        if tile is None or tile.width < needed:
            return None
        self.tiles.move_to_end(key)
        return tile

    def put(self, key: tuple[str, int, int], tile: Tile) -> None:
        self.tiles[key] = tile
        self.tiles.move_to_end(key)
        while len(self.tiles) > self.size:
            self.tiles.popitem(last=False)


class MissingTile(LogError):
    """A tile the tree's size says exists is not stored (or is shorter): the log is damaged."""


# -- appending ------------------------------------------------------------------------


@dataclass
class Head:
    """What the petition's row says of its log, locked for the append."""

    origin: str
    size: int
    note: str | None
    purged: bool = False


async def _lock_head(tx: Transaction, petition_id: str) -> Head | None:
    row = await tx.fetch_one(queries.LOCK_LOG_HEAD, {"id": petition_id})
    if row is None or row["log_origin"] is None:
        return None
    return Head(row["log_origin"], int(row["log_size"]), row["log_checkpoint"], row["purged_at"] is not None)


async def start(tx: Transaction, settings: Settings, petition_id: str) -> bool:
    """Inside a write: start the petition's log if it has none (at publishing; for petitions
    published before logs existed, with their count as a carried-over entry 0), committing its
    code batches, and sign its first checkpoint. False when it had one already."""
    row = await tx.fetch_one(queries.SELECT_PETITION_TO_START_LOG, {"id": petition_id})
    if row is None or row["state"] == "draft":
        return False
    origin = checkpoints.origin_of(settings.base_url, row["slug"])
    started = await tx.fetch_one(
        queries.START_LOG, {"id": petition_id, "origin": origin, "carried_over": int(row["signature_count"])}
    )
    if started is None:
        return False  # started meanwhile (another process)
    entries: list[tuple[bytes, bytes | None]] = []
    if row["signature_count"]:
        entries.append((carried_over_entry(int(row["signature_count"])), None))
    # Codes made while the petition was a draft (ids are random: their order says nothing).
    batches = await tx.fetch_all(queries.SELECT_CODE_BATCH_SIZES, {"petition_id": petition_id})
    entries += [(code_batch_entry(int(batch["size"])), None) for batch in batches]
    await tx.execute(
        queries.ADD_CODES_ISSUED, {"id": petition_id, "codes": sum(int(batch["size"]) for batch in batches)}
    )
    await _append(tx, settings, petition_id, Head(origin, 0, None), entries)
    return True


async def start_missing(db: Database, settings: Settings) -> int:
    """Start the log of every published petition that has none (those published before logs
    existed), each with its count carried over; how many started. Safe in several processes."""
    started = 0
    for row in await db.fetch_all(queries.SELECT_PETITIONS_WITHOUT_LOG):

        async def unit(tx: Transaction, petition_id: str = row["id"]) -> bool:
            return await start(tx, settings, petition_id)

        started += await db.write(unit, lock_key=f"petition/{row['id']}")
    return started


async def append(
    tx: Transaction, settings: Settings, petition_id: str, entries: Sequence[tuple[bytes, bytes | None]]
) -> None:
    """Inside a write: append (entry, commitment or None) pairs in order and sign a checkpoint.

    Starts the log first if the petition's has not started. LogError if the new tree would not
    hold the last checkpoint's as its prefix (nothing is then written)."""
    head = await _lock_head(tx, petition_id)
    if head is None:
        await start(tx, settings, petition_id)
        head = await _lock_head(tx, petition_id)
        if head is None:
            raise LogError("a draft has no log")
    # The purge stamps purged_at, then appends its record in the same write: after that record
    # the log takes nothing (verifiers refuse any entry after it).
    if head.purged and [data for data, _ in entries] != [purge_entry()]:
        raise LogError("the petition's identifying data was destroyed: its log takes no more entries")
    await _append(tx, settings, petition_id, head, entries)


async def append_code_batch(tx: Transaction, settings: Settings, petition_id: str, count: int) -> None:
    """Inside the write that makes a code batch: its entry and checkpoint, if the petition's log
    has started (a draft's batches are committed when it is published)."""
    if await _lock_head(tx, petition_id) is None:
        return
    await append(tx, settings, petition_id, [(code_batch_entry(count), None)])
    await tx.execute(queries.ADD_CODES_ISSUED, {"id": petition_id, "codes": count})


async def _append(
    tx: Transaction, settings: Settings, petition_id: str, head: Head, entries: Sequence[tuple[bytes, bytes | None]]
) -> None:
    size = head.size
    if not entries and head.note is not None:
        return  # nothing new to sign
    new_size = size + len(entries)
    await tx.execute_many(
        queries.INSERT_LOG_ENTRY,
        [
            {"petition_id": petition_id, "idx": size + i, "data": data, "commitment": commit}
            for i, (data, commit) in enumerate(entries)
        ],
    )
    written: dict[tuple[int, int], bytes] = {}
    read: dict[tuple[int, int], bytes] = {}

    async def stored(level: int, index: int) -> bytes:
        if (level, index) in written:
            return written[(level, index)]
        if (level, index) not in read:
            hashes = await tx.fetch_val(
                queries.SELECT_LOG_TILE, {"petition_id": petition_id, "level": level, "idx": index}
            )
            read[(level, index)] = bytes(hashes or b"")
        return read[(level, index)]

    # Level by level: the new hashes go into the rightmost tile; each tile they fill gives one
    # hash to the level above.
    hashes = [leaf_hash(data) for data, _ in entries]
    level, first = 0, size
    while hashes:
        index = first >> TILE_HEIGHT
        kept = await stored(level, index) if first & (TILE_WIDTH - 1) else b""
        if len(kept) != (first & (TILE_WIDTH - 1)) * HASH_SIZE:
            raise MissingTile(f"tile {level}/{index} of petition {petition_id} holds {len(kept) // HASH_SIZE} hashes")
        filled = []
        buffer = bytearray(kept)
        for item in hashes:
            buffer += item
            if len(buffer) == TILE_WIDTH * HASH_SIZE:
                written[(level, index)] = bytes(buffer)
                filled.append(Tile(bytes(buffer)).root())
                buffer = bytearray()
                index += 1
        if buffer:
            written[(level, index)] = bytes(buffer)
        hashes, level, first = filled, level + 1, first >> TILE_HEIGHT
    await tx.execute_many(
        queries.UPSERT_LOG_TILE,
        [
            {"petition_id": petition_id, "level": level, "idx": index, "hashes": data}
            for (level, index), data in sorted(written.items())
        ],
    )

    tiles: dict[tuple[int, int], Tile] = {}

    async def load(level: int, index: int, needed: int) -> Tile:
        tile = tiles.get((level, index))
        if tile is None or tile.width < needed:
            tile = tiles[(level, index)] = Tile(await stored(level, index))
        if tile.width < needed:
            raise MissingTile(f"tile {level}/{index} of petition {petition_id} is short")
        return tile

    if head.note is not None:
        _, signed_size, signed_root = checkpoints.root_of(head.note)
        if signed_size != size or await tree_hash(load, 0, size) != signed_root:
            raise LogError(f"the log of petition {petition_id} no longer holds its last checkpoint; nothing signed")
    root = await tree_hash(load, 0, new_size)
    note = checkpoints.signer(settings.signing_key, settings.base_url).checkpoint(head.origin, new_size, root)
    await tx.execute(queries.INSERT_LOG_CHECKPOINT, {"petition_id": petition_id, "size": new_size, "note": note})
    await tx.execute(queries.SET_LOG_HEAD, {"id": petition_id, "size": new_size, "note": note})
    await tx.execute(queries.BUMP_CACHE_VERSION)  # the checkpoint (and the count beside it) are public


def shuffled(entries: Iterable[tuple[bytes, bytes | None]]) -> list[tuple[bytes, bytes | None]]:
    """The entries in an order drawn from the operating system's CSPRNG (a batch's order in the log
    says nothing of when, within it, each was made)."""
    items = list(entries)
    secrets.SystemRandom().shuffle(items)
    return items


async def find(tx_or_db: Transaction | Database, petition_id: str, commit: bytes) -> int | None:
    """The index of the signature entry with this commitment, or None."""
    index = await tx_or_db.fetch_val(queries.SELECT_LOG_INDEX, {"petition_id": petition_id, "commitment": commit})
    return None if index is None else int(index)


async def entry_of(
    tx_or_db: Transaction | Database, petition_id: str, receipt: str, pending_key: str
) -> tuple[int, bytes] | None:
    """(index, commitment) of the signature entry of a receipt, whose pending entry had
    `pending_key`: under its own commitment, or (accepted before the log began, counted after) its
    legacy one; None when it has none (not counted yet, or counted before the log began)."""
    for commit in (commitment(receipt), legacy_commitment(pending_key)):
        index = await find(tx_or_db, petition_id, commit)
        if index is not None:
            return index, commit
    return None


# -- reading ---------------------------------------------------------------------------


class LogReader:
    """Proofs, tiles and entries of every petition's log, for the public routes (one per process)."""

    def __init__(self, db: Database, cache: TileCache | None = None) -> None:
        self.db = db
        self.cache = cache or TileCache()
        # (petition id, lo, hi) -> the hash of leaves [lo, hi): never changes once the tree holds hi.
        self.ranges: dict[tuple[str, int, int], bytes] = {}
        # (petition id, tree size, level-0 tile) -> the audit path of that full tile's node.
        self.paths: dict[tuple[str, int, int], tuple[bytes, ...]] = {}
        # (petition id, tree size, level-0 tile) -> the end of a consistency proof from inside that tile.
        self.consistency_paths: dict[tuple[str, int, int], tuple[bytes, ...]] = {}

    async def tile(self, petition_id: str, level: int, index: int, needed: int) -> Tile:
        """Tile `index` of `level` with at least `needed` hashes; MissingTile when not stored so."""
        key = (petition_id, level, index)
        tile = self.cache.get(key, needed)
        if tile is not None:
            return tile
        hashes = await self.db.fetch_val(
            queries.SELECT_LOG_TILE, {"petition_id": petition_id, "level": level, "idx": index}
        )
        self.cache.reads += 1
        tile = Tile(bytes(hashes or b""))
        if tile.width < needed:
            raise MissingTile(f"tile {level}/{index} of petition {petition_id} holds {tile.width} hashes")
        self.cache.put(key, tile)
        return tile

    def _loader(self, petition_id: str) -> TileLoader:
        async def load(level: int, index: int, needed: int) -> Tile:
            return await self.tile(petition_id, level, index, needed)

        return load

    async def tree_hash(self, petition_id: str, lo: int, hi: int) -> bytes:
        """The hash of leaves [lo, hi) (the root, for [0, size))."""
        return await tree_hash(self._loader(petition_id), lo, hi)

    async def _hashes(self, petition_id: str, ranges: list[tuple[int, int]]) -> list[bytes]:
        """tree_hash of each range of RFC 9162's recursion (a proof's), from tiles.

        A complete subtree is one node of one tile (a proof's come from a few tiles, each found
        once). Any other range lies at the tree's right edge and folds up to one node per level;
        every proof for the same tree size asks for the same ones, and their hashes never change
        once the tree holds them, so they are kept: a warm proof reads one node per level."""
        hashes = []
        seen: dict[tuple[int, int], Tile] = {}
        cached = self.cache.tiles  # looked into directly: a proof asks for a score of nodes
        for lo, hi in ranges:
            width = hi - lo
            if width & (width - 1):
                key = (petition_id, lo, hi)
                found = self.ranges.get(key)
                if found is None:
                    found = await tree_hash(self._loader(petition_id), lo, hi)
                    if len(self.ranges) >= RANGE_CACHE_SIZE:
                        self.ranges.clear()
                    self.ranges[key] = found
                hashes.append(found)
                continue
            level, within = divmod(width.bit_length() - 1, TILE_HEIGHT)
            first = lo >> (TILE_HEIGHT * level)  # the node's first hash at its tile's own height
            offset, where = first & (TILE_WIDTH - 1), (level, first >> TILE_HEIGHT)
            needed = offset + (1 << within)
            tile = seen.get(where) or cached.get((petition_id, *where))
            if tile is None or tile.width < needed:
                tile = await self.tile(petition_id, level, where[1], needed)
            seen[where] = tile
            hashes.append(tile.levels[within][offset >> within])
        return hashes

    async def inclusion_proof(self, petition_id: str, index: int, size: int) -> list[bytes]:
        """The audit path of entry `index` in the tree of `size` (0 <= index < size <= the log's size).

        An entry in a full level-0 tile: its siblings inside the tile (one per level), then the path
        of the tile's node, the same for all its 256 entries and kept."""
        if index | (TILE_WIDTH - 1) >= size:  # its tile is not full in this tree
            return await self._hashes(petition_id, inclusion_ranges(index, size))
        number, offset = divmod(index, TILE_WIDTH)
        tile = await self.tile(petition_id, 0, number, TILE_WIDTH)
        siblings = [tile.levels[height][(offset >> height) ^ 1] for height in range(TILE_HEIGHT)]
        key = (petition_id, size, number)
        above = self.paths.get(key)
        if above is None:
            above = tuple(await self._hashes(petition_id, inclusion_ranges(index, size)[TILE_HEIGHT:]))
            if len(self.paths) >= PATH_CACHE_SIZE:
                self.paths.clear()
            self.paths[key] = above  # a tuple of bytes, which the garbage collector stops tracking
        return [*siblings, *above]

    async def consistency_proof(self, petition_id: str, first: int, second: int) -> list[bytes]:
        """The proof that the tree of `first` is a prefix of the tree of `second` (0 <= first <= second)."""
        if first in (0, second):
            return []
        ranges = consistency_ranges(first, second)
        number = first >> TILE_HEIGHT
        if not first & (TILE_WIDTH - 1) or first | (TILE_WIDTH - 1) >= second:
            return await self._hashes(petition_id, ranges)
        # `first` inside a level-0 tile that is full in this tree: the proof's ranges inside that
        # tile come first, and the rest are the same for every `first` of the tile (and this
        # `second`), so they are kept.
        tile = await self.tile(petition_id, 0, number, TILE_WIDTH)
        inside = []
        for lo, hi in ranges:
            if lo >> TILE_HEIGHT != number or (hi - 1) >> TILE_HEIGHT != number:
                break
            within = (hi - lo).bit_length() - 1
            inside.append(tile.levels[within][(lo & (TILE_WIDTH - 1)) >> within])
        key = (petition_id, second, number)
        above = self.consistency_paths.get(key)
        if above is None:
            above = tuple(await self._hashes(petition_id, ranges[len(inside) :]))
            if len(self.consistency_paths) >= PATH_CACHE_SIZE:
                self.consistency_paths.clear()
            self.consistency_paths[key] = above
        return [*inside, *above]

    async def entries(self, petition_id: str, start: int, end: int) -> list[bytes]:
        """Entries [start, end), at most MAX_ENTRIES_PER_READ."""
        rows = await self.db.fetch_all(
            queries.SELECT_LOG_ENTRIES,
            {"petition_id": petition_id, "start": start, "end": min(end, start + MAX_ENTRIES_PER_READ)},
        )
        return [bytes(row["data"]) for row in rows]

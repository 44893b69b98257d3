"""`python main.py check-log`: every stored part of a petition's transparency log, recomputed from its entries.

For one petition's log, in one read snapshot (the service may append meanwhile) and in one pass
over the entries, in index order:

- each entry follows the log's rules, as the journalists' verifier reads them (verify.Tally): it
  is well formed (tlog.py's kinds, exact lengths); each withdrawal cancels an earlier signature
  entry not cancelled yet, or the carried-over entry 0 at most as many times as it carried
  signatures; printed-code signature entries never outnumber the codes committed by code batch
  entries before them; a purge record is the log's last entry and its only one;
- each entry's commitment column is the commitment in its bytes (a signature's) or NULL;
- every tile is rebuilt, byte for byte, from the leaf hashes (C2SP tlog-tiles), and no other tile
  is stored;
- every stored checkpoint's root is the root of the entries below its size (RFC 6962 MTH), its
  origin is the log's, and its signature verifies with SIGNING_KEY or one of SIGNING_KEYS_RETIRED
  (C2SP signed-note);
- the petition's head (log_size, log_checkpoint) is the latest checkpoint, and its counts
  (signature_count, count_email, count_code, codes_issued, log_carried_withdrawn) are what the
  log says: count = carried over + signature entries - withdrawal entries; and its purged_at is
  set exactly when the log holds a purge record.

Memory: the hashes are folded as they come (a stack of at most log2(n) subtree hashes, and the
one growing tile of each level), so a log of a million entries needs a few tiles of hashes, plus
one byte per entry (the verifier's tally) to know which signatures are cancelled.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from . import checkpoints, queries, verify
from .database import Database, Reads, Row
from .merkle import EMPTY_ROOT, HASH_SIZE, leaf_hash, node_hash
from .settings import Settings
from .tlog import SIGNATURE, TILE_HEIGHT, TILE_WIDTH
from .verify import PRINTED_CODE, WORK_EMAIL

# Rows read per query: large enough that a million entries take a hundred round trips.
PAGE = 10_000
TILE_BYTES = TILE_WIDTH * HASH_SIZE


class Mismatch(Exception):
    """The first thing stored that the log's entries do not make: a short phrase naming it."""


class UnknownPetition(LookupError):
    """No published petition has the slug asked for."""


@dataclass(frozen=True)
class Verdict:
    """One petition's result: its slug, and the first mismatch (None: everything agrees)."""

    slug: str
    size: int
    count: int
    problem: str | None = None
    purge_index: int | None = None  # the entry recording that identifying data was destroyed

    @property
    def line(self) -> str:
        """`ok <slug> size=<n> count=<n>` (and ` purged=<entry index>` after a purge), or
        `FAIL <slug> <what>`."""
        if self.problem is not None:
            return f"FAIL {self.slug} {self.problem}"
        purged = "" if self.purge_index is None else f" purged={self.purge_index}"
        return f"ok {self.slug} size={self.size} count={self.count}{purged}"


# -- signed notes --------------------------------------------------------------------------


def verifier_keys(settings: Settings) -> list[str]:
    """The C2SP verifier keys a checkpoint may be signed with: SIGNING_KEY's, then SIGNING_KEYS_RETIRED."""
    return [checkpoints.signer(settings.signing_key, settings.base_url).vkey, *settings.signing_keys_retired]


def checkpoint_of(note: str, vkeys: list[str]) -> tuple[str, int, bytes]:
    """A signed checkpoint -> (origin, size, root) when one of its signatures verifies with one of
    `vkeys` (as the journalists' verifier reads it); Mismatch("malformed" or "signature does not
    verify") otherwise."""
    # SIGNING_KEY under every name the note's signatures carry: a key is named after BASE_URL when
    # it signed, which may not be this command's (a development server on another --port).
    public_key = verify.parse_vkey(vkeys[0])[2]
    names = {line.split(" ")[1] for line in note.split("\n\n")[-1].splitlines() if line.count(" ") >= 2}
    vkeys = [*vkeys, *(checkpoints.vkey_of(name, public_key) for name in names if verify.valid_name(name))]
    try:
        text = verify.verify_note(note, vkeys)
    except verify.NoteError:
        # Which: a well-formed note (read with no keys, it only lacks a known signature), or not.
        try:
            verify.open_note(note, [])
        except verify.NoteError as error:
            if str(error) != verify.NO_KNOWN_SIGNATURE:
                raise Mismatch("malformed") from None
        raise Mismatch("signature does not verify") from None
    try:
        return verify.parse_checkpoint(text)
    except verify.NoteError:
        raise Mismatch("malformed") from None


# -- the pass over the entries --------------------------------------------------------------


@dataclass
class _Fold:
    """The tree of the entries seen so far: its complete subtrees, and the growing tile of each level."""

    stack: list[tuple[int, bytes]] = field(default_factory=list)
    tiles: list[bytearray] = field(default_factory=list)
    made: list[int] = field(default_factory=list)  # hashes made at each tile level so far
    done: list[tuple[int, int, bytes]] = field(default_factory=list)  # full tiles not compared yet

    def add(self, leaf: bytes) -> None:
        """One more leaf hash; its new nodes at heights 0, 8, 16... go into their level's tile."""
        node, height = leaf, 0
        self._emit(0, node)
        while self.stack and self.stack[-1][0] == height:
            node = node_hash(self.stack.pop()[1], node)
            height += 1
            if height % TILE_HEIGHT == 0:
                self._emit(height // TILE_HEIGHT, node)
        self.stack.append((height, node))

    def _emit(self, level: int, node: bytes) -> None:
        if level == len(self.tiles):
            self.tiles.append(bytearray())
            self.made.append(0)
        self.tiles[level] += node
        self.made[level] += 1
        if len(self.tiles[level]) == TILE_BYTES:
            self.done.append((level, (self.made[level] - 1) >> TILE_HEIGHT, bytes(self.tiles[level])))
            self.tiles[level] = bytearray()

    def root(self) -> bytes:
        """The RFC 6962 tree head of the leaves so far: the subtrees folded from the right."""
        if not self.stack:
            return EMPTY_ROOT
        result = self.stack[-1][1]
        for _, node in reversed(self.stack[:-1]):
            result = node_hash(node, result)
        return result

    def partial(self) -> list[tuple[int, int, bytes]]:
        """The rightmost tile of each level, where it is not full: (level, index, hashes)."""
        return [
            (level, self.made[level] >> TILE_HEIGHT, bytes(hashes)) for level, hashes in enumerate(self.tiles) if hashes
        ]


def tiles_of(size: int) -> int:
    """How many tiles a log of `size` entries stores (full ones, and the partial rightmost of each level)."""
    total, nodes = 0, size
    while nodes:
        total += -(-nodes // TILE_WIDTH)
        nodes >>= TILE_HEIGHT
    return total


async def _pages(reads: Reads, sql: str, petition_id: str, key: str) -> AsyncIterator[Row]:
    """Every row of a query on one petition's log, PAGE at a time, in the order of `key`."""
    start = 0
    while True:
        rows = await reads.fetch_all(sql, {"petition_id": petition_id, "start": start, "limit": PAGE})
        for row in rows:
            yield row
        if len(rows) < PAGE:
            return
        start = int(rows[-1][key]) + 1


async def check_log(reads: Reads, settings: Settings, head: Row) -> Verdict:
    """One petition's log (`head`: a row of SELECT_LOGS_TO_CHECK) against everything stored of it."""
    slug, size, count = str(head["slug"]), int(head["log_size"] or 0), int(head["signature_count"])
    try:
        tally = await _check(reads, settings, head)
    except Mismatch as mismatch:
        return Verdict(slug, size, count, str(mismatch))
    except Exception as error:  # a stored value of the wrong type (a byte column holding text, say)
        return Verdict(slug, size, count, f"a stored value cannot be read ({type(error).__name__})")
    return Verdict(slug, size, count, purge_index=tally.purge_index)


async def _check(reads: Reads, settings: Settings, head: Row) -> verify.Tally:
    if head["log_origin"] is None:
        raise Mismatch("the log has not started")
    petition_id, size = head["id"], int(head["log_size"])
    keys = verifier_keys(settings)
    fold = _Fold()
    tally = verify.Tally()  # grows with the entries read: a damaged log_size cannot ask for more

    async def stored_tile(level: int, index: int) -> bytes:
        hashes = await reads.fetch_val(
            queries.SELECT_LOG_TILE, {"petition_id": petition_id, "level": level, "idx": index}
        )
        if hashes is None:
            raise Mismatch(f"tile {level}/{index} is missing")
        return bytes(hashes)

    checkpoint_rows = _pages(reads, queries.SELECT_LOG_CHECKPOINTS_FROM, petition_id, "size")
    latest: Row | None = None
    upcoming = await anext(checkpoint_rows, None)

    async def checkpoints_at(tree_size: int) -> None:
        """Check every stored checkpoint of `tree_size` (the entries below it have been folded)."""
        nonlocal upcoming, latest
        while upcoming is not None and int(upcoming["size"]) <= tree_size:
            at = int(upcoming["size"])
            if at < tree_size:
                raise Mismatch(f"checkpoint {at} was skipped")  # not reached: sizes come in order
            try:
                origin, signed_size, root = checkpoint_of(str(upcoming["note"]), keys)
            except Mismatch as mismatch:
                raise Mismatch(f"checkpoint {at} {mismatch}") from None
            if origin != head["log_origin"]:
                raise Mismatch(f"checkpoint {at} origin differs")
            if signed_size != at:
                raise Mismatch(f"checkpoint {at} says size {signed_size}")
            if root != fold.root():
                raise Mismatch(f"checkpoint {at} root differs")
            latest = upcoming
            upcoming = await anext(checkpoint_rows, None)

    await checkpoints_at(0)
    index = 0
    async for row in _pages(reads, queries.SELECT_LOG_ENTRIES_FROM, petition_id, "idx"):
        if int(row["idx"]) != index:
            raise Mismatch(f"entry {index} is missing")
        if index >= size:
            raise Mismatch(f"entry {index} is beyond the log's size {size}")
        data, commit = bytes(row["data"]), row["commitment"]
        try:
            tally.add(index, data)
        except verify.Inconsistent as broken:
            raise Mismatch(str(broken).removesuffix(".")) from None
        if (bytes(commit) if commit is not None else None) != (data[2:] if data[0] == SIGNATURE else None):
            raise Mismatch(f"entry {index} commitment differs")
        fold.add(leaf_hash(data))
        for level, tile_index, hashes in fold.done:
            if await stored_tile(level, tile_index) != hashes:
                raise Mismatch(f"tile {level}/{tile_index} differs")
        fold.done.clear()
        index += 1
        await checkpoints_at(index)
    if index != size:
        raise Mismatch(f"log_size {size} but the log holds {index} entries")
    for level, tile_index, hashes in fold.partial():
        if await stored_tile(level, tile_index) != hashes:
            raise Mismatch(f"tile {level}/{tile_index} differs")
    stored_tiles = int(await reads.fetch_val(queries.COUNT_LOG_TILES, {"petition_id": petition_id}))
    if stored_tiles != tiles_of(size):
        raise Mismatch(f"{stored_tiles} tiles stored, the log makes {tiles_of(size)}")
    if upcoming is not None:
        raise Mismatch(f"checkpoint {int(upcoming['size'])} is beyond the log's size {size}")
    if latest is None or int(latest["size"]) != size:
        raise Mismatch(f"no checkpoint of the log's size {size}")
    if latest["note"] != head["log_checkpoint"]:
        raise Mismatch("the petition's checkpoint is not the latest stored")
    _counts(head, tally)
    return tally


def _counts(head: Row, tally: verify.Tally) -> None:
    """The petition's counts, and whether it was purged, against the log's."""
    carried = tally.carried_over or 0
    for column, says in (
        ("log_carried_over", carried),
        ("log_carried_withdrawn", tally.carried_over_withdrawn),
        ("codes_issued", tally.codes_committed),
    ):
        if int(head[column]) != says:
            raise Mismatch(f"{column} {int(head[column])} but the log says {says}")
    email = tally.signatures[WORK_EMAIL] - tally.withdrawn[WORK_EMAIL]
    code = tally.signatures[PRINTED_CODE] - tally.withdrawn[PRINTED_CODE]
    count = tally.count
    if int(head["signature_count"]) != count:
        raise Mismatch(f"count {int(head['signature_count'])} but the log says {count}")
    # The carried-over entry holds no method: its signatures may be of either, so with one the
    # log bounds each method's count from below, and the two add up to the count.
    for column, says in (("count_email", email), ("count_code", code)):
        value = int(head[column])
        if value != says and not (carried and says <= value):
            raise Mismatch(f"{column} {value} but the log says {'at least ' if carried else ''}{says}")
    if int(head["count_email"]) + int(head["count_code"]) != count:
        total = int(head["count_email"]) + int(head["count_code"])
        raise Mismatch(f"count_email and count_code add up to {total}, not the count {count}")
    if head["purged_at"] is not None and tally.purge_index is None:
        raise Mismatch("purged_at is set but the log holds no purge record")
    if head["purged_at"] is None and tally.purge_index is not None:
        raise Mismatch(f"the log records a purge (entry {tally.purge_index}) but purged_at is not set")


async def check(db: Database, settings: Settings, slug: str | None = None) -> AsyncIterator[Verdict]:
    """The verdict on one petition's log (`slug`) or on every published one's, in slug order, each
    read in its own snapshot. UnknownPetition when no published petition has `slug`."""
    if slug is not None:
        head = await db.fetch_one(queries.SELECT_LOG_TO_CHECK, {"slug": slug})
        if head is None:
            raise UnknownPetition(f"no published petition has the slug {slug!r}")
        slugs = [slug]
    else:
        slugs = [row["slug"] for row in await db.fetch_all(queries.SELECT_LOGS_TO_CHECK)]
    for each in slugs:
        async with db.snapshot() as reads:
            head = await reads.fetch_one(queries.SELECT_LOG_TO_CHECK, {"slug": each})
            if head is not None:  # unpublished meanwhile: not possible today, and nothing to check
                yield await check_log(reads, settings, head)

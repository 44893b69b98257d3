"""The raw SQLite reader (sqlite_pages, sqlite_wal, sqlite_space, sqlite_order) agrees with SQLite itself.

Small databases are made with the sqlite3 module the way the service makes its own (WAL mode,
secure_delete on, WITHOUT ROWID tables keyed by random hex text), and their files are copied
while a connection keeps the WAL. The reader, which never asks SQLite, must find every row
SQLite returns, with the same values, at every commit of the WAL; it must account for every
page and every free byte; and it must show the leak the forensic tests look for: a cell's
byte offset records when it was written.
"""

from __future__ import annotations

import itertools
import random
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .sqlite_order import physical_order_follows_keys, written_cells
from .sqlite_pages import (
    Image,
    PageKind,
    images_at_each_commit,
    read_btree_page,
    read_varint,
    record_integers,
    row_cells,
    schema_roots,
    walk_btree,
)
from .sqlite_space import FreeKind, PageRole, free_regions, page_map, read_freelist
from .sqlite_wal import FRAME_HEADER_SIZE, read_wal, wal_commits

# Small pages give deep B-trees and overflow pages with few rows, which keeps the tests fast.
SMALL_PAGE = 1024
SIGNATURES = (
    "CREATE TABLE signatures (receipt_hash TEXT PRIMARY KEY, petition_id TEXT NOT NULL,"
    " counted INTEGER NOT NULL, accepted_hour INTEGER NOT NULL, note BLOB, score REAL) WITHOUT ROWID"
)
SIGN = "INSERT INTO signatures VALUES (?, ?, ?, ?, ?, ?)"
KEYS = "CREATE TABLE keys (k TEXT PRIMARY KEY, v TEXT) WITHOUT ROWID"
INSERT_KEY = "INSERT INTO keys VALUES (?, ?)"


class Database:
    """A SQLite file in WAL mode that is never checkpointed unless asked, and copies of its files."""

    def __init__(
        self, path: Path, *, page_size: int = SMALL_PAGE, secure_delete: bool = True, auto_vacuum: bool = False
    ) -> None:
        self.path = path
        self.connection = sqlite3.connect(path, isolation_level=None)
        # Both must come before the first write: switching to WAL writes the file's header.
        self.execute(f"PRAGMA page_size = {page_size}")
        self.execute(f"PRAGMA auto_vacuum = {'FULL' if auto_vacuum else 'NONE'}")
        self.execute("PRAGMA journal_mode = WAL")
        self.execute("PRAGMA wal_autocheckpoint = 0")
        self.execute(f"PRAGMA secure_delete = {'ON' if secure_delete else 'OFF'}")

    def execute(self, sql: str, parameters: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        return self.connection.execute(sql, tuple(parameters)).fetchall()

    def commit(self, sql: str, rows: Iterable[Iterable[Any]]) -> None:
        """Runs `sql` once for each row, all in one transaction."""
        self.execute("BEGIN")
        self.connection.executemany(sql, rows)
        self.execute("COMMIT")

    def checkpoint(self) -> None:
        """Copies the WAL into the main file and empties it, so later commits are the WAL's only ones."""
        self.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def files(self) -> tuple[bytes, bytes]:
        """The main file's and the WAL's bytes as they are now (the connection stays open)."""
        wal = self.path.with_name(self.path.name + "-wal")
        return self.path.read_bytes(), wal.read_bytes() if wal.exists() else b""

    def image(self, commits: int | None = None) -> Image:
        return Image.from_bytes(*self.files(), commits=commits)


OpenDatabase = Callable[..., Database]


@pytest.fixture
def open_database(tmp_path: Path) -> Iterator[OpenDatabase]:
    """Opens a Database in the test's folder (keyword options as Database's); closes all at the end."""
    opened: list[Database] = []

    def open_(name: str = "test.db", **options: Any) -> Database:
        opened.append(Database(tmp_path / name, **options))
        return opened[-1]

    yield open_
    for database in opened:
        database.connection.close()


def hex_keys(count: int, seed: int) -> list[str]:
    """`count` random 32-digit hex keys, the same for the same seed."""
    rng = random.Random(seed)
    return [rng.randbytes(16).hex() for _ in range(count)]


def signature_rows(count: int, seed: int) -> list[tuple[Any, ...]]:
    rng = random.Random(seed)
    return [
        (
            key,
            f"petition-{rng.randrange(3)}",
            rng.randrange(2),
            480_000 + rng.randrange(50),
            rng.randbytes(3),
            rng.random(),
        )
        for key in hex_keys(count, seed)
    ]


def records(image: Image, tree: str) -> list[list[Any]]:
    return [cell.record or [] for cell in row_cells(image, schema_roots(image)[tree])]


# Rows and values.


def test_every_row_of_a_without_rowid_table_and_its_index_is_read_with_its_values(open_database: OpenDatabase) -> None:
    db = open_database()
    db.execute(SIGNATURES)
    db.execute("CREATE INDEX signatures_to_count ON signatures (petition_id, counted)")
    db.commit(SIGN, signature_rows(400, seed=1))

    image = db.image()
    roots = schema_roots(image)
    assert any(not page.kind.is_leaf for page in walk_btree(image, roots["signatures"]))
    assert records(image, "signatures") == [list(row) for row in db.execute("SELECT * FROM signatures ORDER BY 1")]
    # An index entry of a WITHOUT ROWID table ends with the table's primary key.
    expected = db.execute("SELECT petition_id, counted, receipt_hash FROM signatures ORDER BY 1, 2, 3")
    assert records(image, "signatures_to_count") == [list(row) for row in expected]


def test_a_rowid_table_keeps_its_rowid_outside_the_record(open_database: OpenDatabase) -> None:
    db = open_database()
    db.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, what TEXT)")
    db.commit("INSERT INTO events (id, what) VALUES (?, ?)", [(i * 7 - 300, f"event {i}") for i in range(300)])

    cells = row_cells(db.image(), schema_roots(db.image())["events"])

    assert [(cell.rowid, cell.record) for cell in cells] == [
        (rowid, [None, what]) for rowid, what in db.execute("SELECT id, what FROM events ORDER BY id")
    ]


VALUES_OF_EVERY_SERIAL_TYPE = [
    None,
    0,
    1,
    2,
    -1,
    127,
    -128,
    128,
    32767,
    -32768,
    32768,
    2**23 - 1,
    2**23,
    2**31,
    2**47 - 1,
    2**47,
    2**63 - 1,
    -(2**63),
    0.5,
    -1e300,
    b"",
    b"\x00\xff",
    "",
    "é, ok",
    "x" * 100,
]


def test_every_serial_type_decodes_to_the_value_sqlite_stored(open_database: OpenDatabase) -> None:
    db = open_database()
    db.execute("CREATE TABLE vals (k INTEGER PRIMARY KEY, v) WITHOUT ROWID")
    db.commit("INSERT INTO vals VALUES (?, ?)", enumerate(VALUES_OF_EVERY_SERIAL_TYPE))

    found = records(db.image(), "vals")

    assert [k for k, _ in found] == list(range(len(VALUES_OF_EVERY_SERIAL_TYPE)))
    assert [(type(v), v) for _, v in found] == [(type(v), v) for v in VALUES_OF_EVERY_SERIAL_TYPE]


def test_varints_take_one_to_nine_bytes_the_ninth_giving_all_its_bits() -> None:
    assert read_varint(bytes([0x7F]), 0) == (127, 1)
    assert read_varint(bytes([0x00, 0x81, 0x00]), 1) == (128, 3)
    assert read_varint(b"\x80" * 8 + b"\x01", 0) == (1, 9)
    assert read_varint(b"\xff" * 9, 0) == (2**64 - 1, 9)


def test_payloads_that_spill_are_read_across_their_overflow_pages(open_database: OpenDatabase) -> None:
    db = open_database()
    db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT, blob BLOB)")
    db.execute(KEYS)
    body, blob, long_key = "n" * 5000, bytes(range(256)) * 12, "k" * 3000
    db.commit("INSERT INTO notes (body, blob) VALUES (?, ?)", [(body, blob)])
    db.commit(INSERT_KEY, [(long_key, "v"), ("short", "w")])

    image = db.image()
    roots = schema_roots(image)
    (note,) = row_cells(image, roots["notes"])
    spilled, _ = row_cells(image, roots["keys"])
    pages = page_map(image, roots)

    assert note.record == [None, body, blob]
    assert spilled.record == [long_key, "v"]
    for tree, cell in (("notes", note), ("keys", spilled)):
        assert len(cell.overflow_pages) > 1
        assert all(pages.uses[number].role is PageRole.OVERFLOW for number in cell.overflow_pages)
        assert set(cell.overflow_pages) <= set(pages.pages_of(tree))


def test_schema_roots_are_those_in_sqlite_schema(open_database: OpenDatabase) -> None:
    db = open_database()
    db.execute(SIGNATURES)
    db.execute("CREATE INDEX by_hour ON signatures (accepted_hour)")
    db.execute("CREATE TABLE petitions (slug TEXT PRIMARY KEY, title TEXT)")  # gets an automatic index
    db.execute("CREATE VIEW counted AS SELECT * FROM signatures WHERE counted = 1")

    expected = dict(db.execute("SELECT name, rootpage FROM sqlite_schema WHERE rootpage > 0"))

    assert schema_roots(db.image()) == {"sqlite_schema": 1, **expected}
    assert "sqlite_autoindex_petitions_1" in expected


def test_a_page_size_of_65536_is_read_from_its_header_encoding(open_database: OpenDatabase) -> None:
    db = open_database(page_size=65536)
    db.execute(KEYS)
    db.commit(INSERT_KEY, [(key, "v") for key in hex_keys(10, seed=2)])

    image = db.image()

    assert image.page_size == 65536
    assert records(image, "keys") == [[key, "v"] for key in sorted(hex_keys(10, seed=2))]


# Where cells lie.


def test_cells_written_into_a_fresh_leaf_lie_below_the_ones_before(open_database: OpenDatabase) -> None:
    db = open_database(page_size=4096)
    db.execute(KEYS)
    keys = hex_keys(30, seed=3)
    for key in keys:
        db.commit(INSERT_KEY, [(key, "v")])

    (leaf,) = walk_btree(db.image(), schema_roots(db.image())["keys"])
    offsets = {cell.record[0]: cell.offset for cell in leaf.cells if cell.record}

    # The leak the forensic tests look for: the offsets alone give back the order of insertion.
    in_insertion_order = [offsets[key] for key in keys]
    assert in_insertion_order == sorted(in_insertion_order, reverse=True)
    assert sorted(offsets, key=offsets.__getitem__, reverse=True) == keys


def test_every_byte_of_a_page_is_header_pointer_gap_cell_freeblock_or_fragment(open_database: OpenDatabase) -> None:
    db = open_database()
    db.execute(SIGNATURES)
    rows = signature_rows(300, seed=4)
    db.commit(SIGN, rows)
    db.commit("DELETE FROM signatures WHERE receipt_hash = ?", [(row[0],) for row in rows[::3]])

    image = db.image()
    for root in schema_roots(image).values():
        for page in walk_btree(image, root):
            header = page.header_offset + (8 if page.kind.is_leaf else 12)
            parts = [header, 2 * page.cell_count, page.gap.size]
            parts += [cell.size for cell in page.cells] + [block.size for block in page.freeblocks]
            parts += [fragment.size for fragment in page.fragments]
            assert sum(parts) == image.usable_size
            assert sum(fragment.size for fragment in page.fragments) == page.fragmented_bytes


def test_the_page_map_agrees_with_dbstat_and_leaves_no_page_unaccounted(open_database: OpenDatabase) -> None:
    db = open_database()
    db.execute(SIGNATURES)
    db.execute("CREATE INDEX by_hour ON signatures (accepted_hour)")
    db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    db.commit(SIGN, signature_rows(300, seed=5))
    db.commit("INSERT INTO notes (body) VALUES (?)", [("n" * 3000,)] * 5)
    db.commit("DELETE FROM notes WHERE id > ?", [(2,)])

    image = db.image()
    pages = page_map(image, schema_roots(image))
    dbstat = db.execute("SELECT name, pageno, pagetype FROM dbstat")

    assert pages.unaccounted == ()
    assert {pageno: name for name, pageno, _ in dbstat} == {
        number: use.tree for number, use in pages.uses.items() if use.tree is not None
    }
    assert {pageno for _, pageno, kind in dbstat if kind == "overflow"} == set(pages.pages_in(PageRole.OVERFLOW))
    assert len(read_freelist(image).pages) == db.execute("PRAGMA freelist_count")[0][0] > 0


def test_pointer_map_pages_of_auto_vacuum_are_accounted_for(open_database: OpenDatabase) -> None:
    db = open_database(auto_vacuum=True)
    db.execute(SIGNATURES)
    db.commit(SIGN, signature_rows(300, seed=6))

    image = db.image()
    pages = page_map(image, schema_roots(image))

    assert pages.pages_in(PageRole.POINTER_MAP) == (2,)
    assert pages.unaccounted == ()


# The WAL.


def test_wal_commits_are_counted_with_their_frames_pages_and_sizes(open_database: OpenDatabase) -> None:
    db = open_database()
    db.execute(KEYS)
    db.checkpoint()
    sizes = []
    for batch in range(5):
        db.commit(INSERT_KEY, [(key, "v" * 20) for key in hex_keys(40, seed=batch)])
        sizes.append(db.execute("PRAGMA page_count")[0][0])

    wal = read_wal(db.files()[1])

    assert [commit.db_size for commit in wal.commits] == sizes
    assert [commit.number for commit in wal.commits] == [1, 2, 3, 4, 5]
    assert wal.commits[0].first_frame == 1
    for earlier, later in itertools.pairwise(wal.commits):
        assert later.first_frame == earlier.last_frame + 1
    for commit in wal.commits:
        assert [frame.number for frame in commit.frames] == list(range(commit.first_frame, commit.last_frame + 1))
        assert commit.pages == tuple(sorted({frame.page_number for frame in commit.frames}))
        assert [frame.is_commit for frame in commit.frames] == [False] * (len(commit.frames) - 1) + [True]
    assert (wal.uncommitted_frames, wal.stale_frames, wal.trailing_bytes) == ((), (), 0)
    assert wal_commits(db.files()[1]) == list(wal.commits)


def test_an_image_at_each_commit_shows_exactly_the_rows_committed_by_then(
    open_database: OpenDatabase, tmp_path: Path
) -> None:
    db = open_database()
    db.execute(KEYS)
    db.checkpoint()
    batches = [hex_keys(30, seed=10 + batch) for batch in range(4)]
    for batch in batches:
        db.commit(INSERT_KEY, [(key, "v") for key in batch])

    images = images_at_each_commit(*db.files())

    assert len(images) == len(batches) + 1
    for k, image in enumerate(images):
        committed = sorted(key for batch in batches[:k] for key in batch)
        assert [record[0] for record in records(image, "keys")] == committed
        # The image is a database SQLite opens, and SQLite sees the same rows in it.
        copied = tmp_path / f"commit-{k}.db"
        copied.write_bytes(image.as_file())
        reader = sqlite3.connect(copied)
        try:
            assert [row[0] for row in reader.execute("SELECT k FROM keys ORDER BY k")] == committed
        finally:
            reader.close()


def test_a_cut_or_damaged_wal_is_read_as_sqlite_reads_it(open_database: OpenDatabase, tmp_path: Path) -> None:
    db = open_database()
    db.execute(KEYS)
    db.checkpoint()
    for batch in range(5):
        db.commit(INSERT_KEY, [(key, "v" * 20) for key in hex_keys(40, seed=20 + batch)])
    main, wal = db.files()
    commits = read_wal(wal).commits
    last = commits[-1].frames
    assert len(last) > 1

    # Cut in the middle of the last commit's commit frame: its other frames are left uncommitted.
    cut = wal[: last[-1].offset + FRAME_HEADER_SIZE + 100]
    # One flipped bit in commit 3's first frame breaks the checksum chain from there on.
    damaged = bytearray(wal)
    damaged[commits[2].frames[0].offset + FRAME_HEADER_SIZE + 500] ^= 1

    for name, copy, expected_commits in (("cut", cut, 4), ("damaged", bytes(damaged), 2)):
        log = read_wal(copy)
        assert len(log.commits) == expected_commits
        copied = tmp_path / f"{name}.db"
        copied.write_bytes(main)
        copied.with_name(f"{name}.db-wal").write_bytes(copy)
        reader = sqlite3.connect(copied)
        try:
            seen = [row[0] for row in reader.execute("SELECT k FROM keys ORDER BY k")]
        finally:
            reader.close()
        assert [record[0] for record in records(Image.from_bytes(main, copy), "keys")] == seen
    assert len(read_wal(cut).uncommitted_frames) == len(last) - 1
    assert read_wal(cut).trailing_bytes == FRAME_HEADER_SIZE + 100


def test_frames_of_an_earlier_cycle_are_reported_as_stale(open_database: OpenDatabase) -> None:
    db = open_database()
    db.execute(KEYS)
    keys = hex_keys(200, seed=30)
    for start in range(0, 200, 40):
        db.commit(INSERT_KEY, [(key, "v" * 20) for key in keys[start : start + 40]])
    db.execute("PRAGMA wal_checkpoint(PASSIVE)")
    # Every frame is in the main file now, so the next writer starts the WAL again from frame 1.
    db.commit(INSERT_KEY, [("ff", "last")])

    wal = read_wal(db.files()[1])

    assert len(wal.commits) == 1
    assert wal.stale_frames
    assert all(frame.salts != wal.salts for frame in wal.stale_frames)
    assert [record[0] for record in records(db.image(), "keys")] == sorted([*keys, "ff"])


def test_frames_of_an_open_transaction_are_uncommitted_and_not_read(open_database: OpenDatabase) -> None:
    db = open_database()
    # A small page cache makes the open transaction spill its pages into the WAL.
    db.execute("PRAGMA cache_size = 5")
    db.execute(KEYS)
    committed = hex_keys(20, seed=40)
    db.commit(INSERT_KEY, [(key, "v") for key in committed])
    db.execute("BEGIN")
    db.connection.executemany(INSERT_KEY, [(key, "w" * 200) for key in hex_keys(200, seed=41)])

    wal = read_wal(db.files()[1])
    image = db.image()
    db.execute("ROLLBACK")

    assert wal.uncommitted_frames
    assert wal.stale_frames == ()
    assert [record[0] for record in records(image, "keys")] == sorted(committed)


# Free space.


@pytest.mark.parametrize("secure_delete", [True, False])
def test_secure_delete_zeroes_the_freeblocks_of_deleted_rows(open_database: OpenDatabase, secure_delete: bool) -> None:
    db = open_database(page_size=4096, secure_delete=secure_delete)
    db.execute(KEYS)
    keys = sorted(hex_keys(30, seed=50))
    db.commit(INSERT_KEY, [(key, f"secret {key}") for key in keys])
    deleted = keys[1:-1:3]
    db.commit("DELETE FROM keys WHERE k = ?", [(key,) for key in deleted])

    image = db.image()
    (leaf,) = walk_btree(image, schema_roots(image)["keys"])
    freeblocks = [region for region in free_regions(image) if region.kind is FreeKind.FREEBLOCK]
    left = [key for key in deleted if key.encode() in image.as_file()]

    assert len(leaf.freeblocks) == len(freeblocks) > 0
    if secure_delete:
        assert all(region.is_zero for region in freeblocks)
        assert left == []
    else:
        # Without secure_delete the same scan finds the deleted rows: the check has teeth.
        assert not any(region.is_zero for region in freeblocks)
        assert left == deleted


@pytest.mark.parametrize("secure_delete", [True, False])
def test_freelist_pages_are_found_and_zeroed_by_secure_delete(open_database: OpenDatabase, secure_delete: bool) -> None:
    db = open_database(secure_delete=secure_delete)
    db.execute(KEYS)
    keys = hex_keys(200, seed=60)
    db.commit(INSERT_KEY, [(key, "w" * 200) for key in keys])
    db.commit("DELETE FROM keys WHERE k = ?", [(key,) for key in keys[20:]])

    image = db.image()
    freelist = read_freelist(image)
    regions = {region.page: region for region in free_regions(image) if region.kind is FreeKind.FREELIST_LEAF}

    assert freelist.trunks
    assert len(freelist.pages) == db.execute("PRAGMA freelist_count")[0][0]
    assert set(regions) == set(freelist.leaves)
    assert all(region.is_zero for region in regions.values()) is secure_delete
    assert page_map(image, schema_roots(image)).unaccounted == ()


def test_a_deleted_cells_pointer_stays_in_the_gap_after_secure_delete(open_database: OpenDatabase) -> None:
    db = open_database(page_size=4096)
    db.execute(KEYS)
    db.commit(INSERT_KEY, [(key, "v") for key in hex_keys(20, seed=70)])
    root = schema_roots(db.image())["keys"]
    last = read_btree_page(db.image(), root).cells[-1]
    assert last.record is not None
    db.commit("DELETE FROM keys WHERE k = ?", [(last.record[0],)])

    page = read_btree_page(db.image(), root)

    # SQLite shortens the cell pointer array without clearing its old last slot: a forensic
    # test cannot expect the gap to be all zeros, only to hold nothing but such slots.
    assert page.data[page.gap.offset : page.gap.offset + 2] == last.offset.to_bytes(2, "big")
    (gap,) = (region for region in free_regions(db.image()) if region.page == root and region.kind is FreeKind.GAP)
    assert not gap.is_zero


def test_a_deleted_row_can_outlive_secure_delete_as_a_stale_copy_in_a_gap(open_database: OpenDatabase) -> None:
    db = open_database()
    db.execute(KEYS)
    rng = random.Random(3)
    rows = [(key, "v" * rng.randrange(60)) for key in hex_keys(300, seed=3)]
    db.commit(INSERT_KEY, rows)
    deleted = sorted(key for key, _ in rows)[20:200:3]
    db.commit("DELETE FROM keys WHERE k = ?", [(key,) for key in deleted])

    image = db.image()
    gaps = [region for region in free_regions(image) if region.kind is FreeKind.GAP]
    left = [key for key in deleted if any(key.encode() in region.data for region in gaps)]

    # Balancing left a copy of the cell in another page's gap before the row was deleted;
    # secure_delete zeroed the row's cell, not the copy. Only the gap holds it.
    assert left
    assert all(image.as_file().count(key.encode()) == 1 for key in left)


def test_record_integers_find_every_integer_of_rows_and_index_entries(open_database: OpenDatabase) -> None:
    db = open_database()
    db.execute(SIGNATURES)
    db.execute("CREATE INDEX by_hour ON signatures (accepted_hour)")
    db.commit(SIGN, signature_rows(300, seed=80))

    image = db.image()
    roots = {name: root for name, root in schema_roots(image).items() if name in ("signatures", "by_hour")}
    found = Counter((found.tree, found.value) for found in record_integers(image, roots))

    expected: Counter[tuple[str, int]] = Counter()
    for counted, hour in db.execute("SELECT counted, accepted_hour FROM signatures"):
        expected.update([("signatures", counted), ("signatures", hour), ("by_hour", hour)])
    assert found == expected


# Order of cells.


def cells_by_key(page_cells: Iterable[Any]) -> list[tuple[int, Any]]:
    return [(cell.offset, cell.record[0]) for cell in page_cells]


def test_rows_written_in_key_order_follow_keys(open_database: OpenDatabase) -> None:
    db = open_database(page_size=4096)
    db.execute(KEYS)
    db.commit(INSERT_KEY, [(key, "v") for key in sorted(hex_keys(25, seed=90))])

    (leaf,) = walk_btree(db.image(), schema_roots(db.image())["keys"])

    assert physical_order_follows_keys(cells_by_key(leaf.cells))


def test_rows_written_in_random_order_do_not_follow_keys(open_database: OpenDatabase) -> None:
    db = open_database(page_size=4096)
    db.execute(KEYS)
    db.commit(INSERT_KEY, [(key, "v") for key in hex_keys(25, seed=91)])

    (leaf,) = walk_btree(db.image(), schema_roots(db.image())["keys"])

    assert leaf.kind is PageKind.LEAF_INDEX
    assert not physical_order_follows_keys(cells_by_key(leaf.cells))


def test_a_cell_written_into_an_old_freeblock_is_left_out_of_the_order(open_database: OpenDatabase) -> None:
    db = open_database(page_size=4096)
    db.execute(KEYS)
    keys = [f"{i:02d}" for i in range(0, 40, 2)]
    db.commit(INSERT_KEY, [(key, "v" * 10) for key in keys])
    db.commit("DELETE FROM keys WHERE k = ?", [("10",)])
    root = schema_roots(db.image())["keys"]
    before = read_btree_page(db.image(), root)
    # In key order: the first is too long for the freed cell's freeblock and takes the gap; the
    # second fits the freeblock, which lies above every cell the gap gives.
    db.commit(INSERT_KEY, [("13", "v" * 40), ("15", "v" * 10)])

    after = read_btree_page(db.image(), root)
    new = written_cells(after, before)

    assert [cell.record[0] for cell in new if cell.record] == ["13", "15"]
    assert any(block.contains(new[1].span) for block in before.freeblocks)
    assert not physical_order_follows_keys(cells_by_key(new))
    assert physical_order_follows_keys(cells_by_key(new), previous_freeblocks=before.freeblocks)


def test_balancing_can_leave_rows_written_in_key_order_out_of_key_order(open_database: OpenDatabase) -> None:
    db = open_database()
    db.execute(KEYS)
    db.commit(INSERT_KEY, [(key, "v" * 10) for key in sorted(hex_keys(300, seed=92))])

    image = db.image()
    pages = list(walk_btree(image, schema_roots(image)["keys"]))

    # Splitting leaves edits them in place (btree.c's editPage): cells move into freed space, so
    # on these pages the check cannot tell writing order from the page's history.
    assert not all(physical_order_follows_keys(cells_by_key(page.cells)) for page in pages)

"""Reads a SQLite database from its raw bytes, page by page and cell by cell, without SQLite.

The forensic tests prove what a copy of the data folder (the main file and its `-wal` file,
taken at any moment) reveals. SQLite answers with rows, never with where their bytes lie, and
where they lie is the leak we test for: in a B-tree page SQLite writes each new cell below the
ones before it, so a cell's byte offset records the order of insertion. This module reads what
SQLite will not tell: every page of an image of the database (`Image`, the main file overlaid
with a WAL's first commits), and every B-tree with each cell's page, offset, size and decoded
record. `sqlite_space` accounts for pages and free bytes, `sqlite_order` judges cell order.

Follows https://www.sqlite.org/fileformat2.html: the database header (section 1.3), B-tree
pages (1.6), cell formats and overflow (1.6, "Cell Payload Overflow Pages") and the record
format (2.1). Values come back as the record format stores them: None, int, float, bytes or
str. Malformed bytes raise `CorruptError`; the sqlite3 module is never used to read.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import NamedTuple

from .sqlite_wal import Wal, read_wal

Value = None | int | float | bytes | str

MAGIC = b"SQLite format 3\x00"
HEADER_SIZE = 100
# The page size field holds 1 for 65536, which does not fit in its two bytes.
PAGE_SIZE_65536 = 1
TEXT_ENCODINGS = {1: "utf-8", 2: "utf-16-le", 3: "utf-16-be"}
# SQLite never gives a cell fewer bytes than a freeblock header needs, so freeing it can chain it.
MIN_CELL_SIZE = 4
FREEBLOCK_HEADER_SIZE = 4
OVERFLOW_POINTER_SIZE = 4
# Record serial types: 0 NULL, 1-6 integers of these many bytes, 7 a float, 8 and 9 the
# integers 0 and 1 with no body, 10 and 11 reserved, then blobs (even) and text (odd).
INTEGER_SIZES = {1: 1, 2: 2, 3: 3, 4: 4, 5: 6, 6: 8}
FLOAT_SERIAL_TYPE = 7
ZERO_SERIAL_TYPE = 8
ONE_SERIAL_TYPE = 9
FIRST_BLOB_SERIAL_TYPE = 12


class CorruptError(ValueError):
    """The bytes are not a well-formed SQLite database (or not the part the caller said)."""


class PageKind(IntEnum):
    """A B-tree page's type, its first header byte."""

    INTERIOR_INDEX = 0x02
    INTERIOR_TABLE = 0x05
    LEAF_INDEX = 0x0A
    LEAF_TABLE = 0x0D

    @property
    def is_leaf(self) -> bool:
        """Whether pages of this kind hold rows rather than pointers to children."""
        return self in (PageKind.LEAF_INDEX, PageKind.LEAF_TABLE)

    @property
    def is_table(self) -> bool:
        """Whether this is a table (rowid) B-tree page; WITHOUT ROWID tables are index B-trees."""
        return self in (PageKind.INTERIOR_TABLE, PageKind.LEAF_TABLE)


@dataclass(frozen=True)
class Span:
    """Bytes offset..offset+size-1 of a page."""

    offset: int
    size: int

    @property
    def end(self) -> int:
        """The offset just past the span."""
        return self.offset + self.size

    def contains(self, other: Span) -> bool:
        """Whether every byte of `other` lies in this span."""
        return self.offset <= other.offset and other.end <= self.end

    def overlaps(self, other: Span) -> bool:
        """Whether the two spans share a byte."""
        return self.offset < other.end and other.offset < self.end


@dataclass(frozen=True)
class DatabaseHeader:
    """The fields of the 100-byte database header that reading pages needs."""

    page_size: int
    write_version: int  # 1 rollback journal, 2 WAL
    read_version: int
    reserved_size: int  # bytes at the end of every page that the format does not use
    change_counter: int
    in_header_page_count: int  # trusted only when version_valid_for == change_counter
    first_freelist_trunk: int
    freelist_count: int
    schema_cookie: int
    largest_root: int  # nonzero when auto-vacuum keeps pointer-map pages
    text_encoding: int
    version_valid_for: int

    @property
    def usable_size(self) -> int:
        """Bytes of each page that B-tree pages may use."""
        return self.page_size - self.reserved_size

    @property
    def encoding(self) -> str:
        """The Python codec of the database's text."""
        return TEXT_ENCODINGS.get(self.text_encoding, "utf-8")

    @classmethod
    def parse(cls, data: bytes) -> DatabaseHeader:
        """The header of a database whose first bytes are `data`; CorruptError if there is none."""
        if len(data) < HEADER_SIZE or data[:16] != MAGIC:
            raise CorruptError("no SQLite database header")
        (page_size,) = struct.unpack_from(">H", data, 16)
        page_size = 65536 if page_size == PAGE_SIZE_65536 else page_size
        if page_size < 512 or page_size & (page_size - 1):
            raise CorruptError(f"page size {page_size} is not a power of two from 512 to 65536")
        counter, size, trunk, free, cookie = struct.unpack_from(">5I", data, 24)
        largest_root, encoding = struct.unpack_from(">II", data, 52)
        (valid_for,) = struct.unpack_from(">I", data, 92)
        return cls(
            page_size=page_size,
            write_version=data[18],
            read_version=data[19],
            reserved_size=data[20],
            change_counter=counter,
            in_header_page_count=size,
            first_freelist_trunk=trunk,
            freelist_count=free,
            schema_cookie=cookie,
            largest_root=largest_root,
            text_encoding=encoding,
            version_valid_for=valid_for,
        )


class Image:
    """The pages of a database as of one moment: a main file's bytes, overlaid with a WAL's first commits.

    An image at commit k is the database as readers saw it after that commit, provided no
    checkpoint has yet copied later frames into the main file.
    """

    def __init__(
        self, main: bytes, *, page_size: int, page_count: int, frames: Mapping[int, tuple[int, bytes]]
    ) -> None:
        self.main = main
        self.page_size = page_size
        self.page_count = page_count
        # Page number -> (frame number, page bytes) for pages the WAL's applied commits wrote.
        self.frames = dict(frames)
        self.header = DatabaseHeader.parse(self.page(1)) if page_count else None
        if self.header is not None and self.header.page_size != page_size:
            raise CorruptError(f"page 1 says pages are {self.header.page_size} bytes, not {page_size}")
        self.usable_size = self.header.usable_size if self.header else page_size
        self.encoding = self.header.encoding if self.header else "utf-8"

    @classmethod
    def from_bytes(cls, main: bytes, wal: bytes | Wal | None = None, *, commits: int | None = None) -> Image:
        """The database in `main` after the WAL's first `commits` commits (all when None); CorruptError, ValueError."""
        log = read_wal(wal) if isinstance(wal, bytes) else wal
        available = log.commits if log is not None else ()
        if commits is not None and not 0 <= commits <= len(available):
            raise ValueError(f"the WAL holds {len(available)} commits, not {commits}")
        applied = available if commits is None else available[:commits]
        header = DatabaseHeader.parse(main) if main else None
        page_size = header.page_size if header else (log.page_size if log else None)
        if page_size is None:
            raise CorruptError("neither a main file nor a WAL gives the page size")
        if log is not None and log.page_size not in (None, page_size) and available:
            raise CorruptError(f"the WAL's pages are {log.page_size} bytes, the database's {page_size}")
        frames = {frame.page_number: (frame.number, frame.data) for commit in applied for frame in commit.frames}
        if applied:
            page_count = applied[-1].db_size
        elif header and header.in_header_page_count and header.version_valid_for == header.change_counter:
            page_count = header.in_header_page_count
        else:
            page_count = len(main) // page_size
        return cls(main, page_size=page_size, page_count=page_count, frames=frames)

    def page(self, number: int) -> bytes:
        """Page `number` (1-based), page_size bytes; CorruptError past the database's end."""
        if not 1 <= number <= self.page_count:
            raise CorruptError(f"page {number} is not among the database's {self.page_count} pages")
        if number in self.frames:
            return self.frames[number][1]
        start = (number - 1) * self.page_size
        return self.main[start : start + self.page_size].ljust(self.page_size, b"\x00")

    def as_file(self) -> bytes:
        """The image as a database file's bytes, every page in order, which SQLite can open."""
        return b"".join(self.page(number) for number in range(1, self.page_count + 1))

    def past_end(self) -> bytes:
        """The main file's bytes after the image's last page (a shrunk database not yet truncated)."""
        return self.main[self.page_count * self.page_size :]


def images_at_each_commit(main: bytes, wal: bytes) -> list[Image]:
    """The image of the main file alone, then after each of the WAL's commits in turn."""
    log = read_wal(wal)
    return [Image.from_bytes(main, log, commits=k) for k in range(len(log.commits) + 1)]


def read_varint(data: bytes, offset: int) -> tuple[int, int]:
    """The unsigned varint at `offset` (1 to 9 bytes, big-endian) and the offset just after it."""
    value = 0
    for i in range(8):
        byte = data[offset + i]
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, offset + i + 1
    # The ninth byte gives all eight of its bits.
    return (value << 8) | data[offset + 8], offset + 9


def _signed64(value: int) -> int:
    """A 64-bit varint read as the two's-complement integer it stores (rowids)."""
    return value - (1 << 64) if value >= 1 << 63 else value


def decode_record(payload: bytes, encoding: str = "utf-8") -> list[Value]:
    """The values of a record (header of serial types, then the body); CorruptError if malformed."""
    try:
        header_size, position = read_varint(payload, 0)
        types = []
        while position < header_size:
            serial_type, position = read_varint(payload, position)
            types.append(serial_type)
    except IndexError as error:
        raise CorruptError("a record header runs past its payload") from error
    body = header_size
    values: list[Value] = []
    for serial_type in types:
        size = _serial_type_size(serial_type)
        raw = payload[body : body + size]
        if len(raw) < size:
            raise CorruptError("a record's values run past its payload")
        value: Value
        if serial_type == 0:
            value = None
        elif serial_type in INTEGER_SIZES:
            value = int.from_bytes(raw, "big", signed=True)
        elif serial_type == FLOAT_SERIAL_TYPE:
            (value,) = struct.unpack(">d", raw)
        elif serial_type in (ZERO_SERIAL_TYPE, ONE_SERIAL_TYPE):
            value = serial_type - ZERO_SERIAL_TYPE
        elif serial_type % 2 == 0:
            value = raw
        else:
            value = _text(raw, encoding)
        values.append(value)
        body += size
    return values


def _text(raw: bytes, encoding: str) -> str | bytes:
    """Text as str; bytes that are not text in the database's encoding stay bytes, so a scan still sees them."""
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError:
        return raw


def _serial_type_size(serial_type: int) -> int:
    """How many body bytes a value of this serial type takes; CorruptError for the reserved 10 and 11."""
    if serial_type in INTEGER_SIZES:
        return INTEGER_SIZES[serial_type]
    if serial_type == FLOAT_SERIAL_TYPE:
        return 8
    if serial_type >= FIRST_BLOB_SERIAL_TYPE:
        # Even: a blob of (N-12)/2 bytes; odd: text of (N-13)/2 bytes.
        return (serial_type - FIRST_BLOB_SERIAL_TYPE) // 2
    if serial_type in (0, ZERO_SERIAL_TYPE, ONE_SERIAL_TYPE):
        return 0
    raise CorruptError(f"serial type {serial_type} is reserved")


def local_payload_size(payload_size: int, usable_size: int, *, table_leaf: bool) -> int:
    """How many payload bytes a cell keeps on its page; the rest spills to overflow pages."""
    max_local = usable_size - 35 if table_leaf else (usable_size - 12) * 64 // 255 - 23
    if payload_size <= max_local:
        return payload_size
    min_local = (usable_size - 12) * 32 // 255 - 23
    local = min_local + (payload_size - min_local) % (usable_size - 4)
    return local if local <= max_local else min_local


@dataclass(frozen=True)
class Cell:
    """One cell of a B-tree page: where it lies, and what it holds."""

    page: int
    offset: int  # byte offset of the cell in its page
    size: int  # bytes the cell takes on its page (overflow pages not counted)
    kind: PageKind
    left_child: int | None  # interior cells: the child page holding keys up to this one
    rowid: int | None  # table B-tree cells
    payload_size: int | None  # None for table interior cells, which carry no payload
    record: list[Value] | None  # the decoded payload; None for table interior cells
    overflow_pages: tuple[int, ...] = ()

    @property
    def span(self) -> Span:
        """The bytes of the page the cell takes."""
        return Span(self.offset, self.size)


@dataclass(frozen=True)
class BtreePage:
    """A B-tree page: its header, its cells in key order, and its free space."""

    number: int
    kind: PageKind
    header_offset: int  # 100 on page 1, after the database header; 0 elsewhere
    first_freeblock: int
    cell_count: int
    content_start: int  # where the cell content area begins
    fragmented_bytes: int  # the header's count of free bytes in pieces of 1 to 3
    right_child: int | None  # interior pages: the child holding keys after every cell's
    cells: tuple[Cell, ...]  # in the order of the cell pointer array, which is key order
    freeblocks: tuple[Span, ...]  # each including its 4-byte header (next offset, size)
    gap: Span  # unallocated bytes between the cell pointer array and the content area
    fragments: tuple[Span, ...]  # bytes of the content area in no cell and no freeblock
    data: bytes = field(repr=False)

    @property
    def children(self) -> tuple[int, ...]:
        """Child page numbers in key order (empty for a leaf)."""
        if self.right_child is None:
            return ()
        return (*(cell.left_child for cell in self.cells if cell.left_child is not None), self.right_child)


def read_btree_page(image: Image, number: int) -> BtreePage:
    """Page `number` of `image` read as a B-tree page; CorruptError if it is not one."""
    data = image.page(number)
    start = HEADER_SIZE if number == 1 else 0
    try:
        kind = PageKind(data[start])
    except ValueError as error:
        raise CorruptError(f"page {number} is not a B-tree page (type {data[start]})") from error
    first_freeblock, cell_count, content_start, fragmented = struct.unpack_from(">HHHB", data, start + 1)
    content_start = content_start or 65536
    right_child = None if kind.is_leaf else struct.unpack_from(">I", data, start + 8)[0]
    pointers = start + (8 if kind.is_leaf else 12)
    offsets = struct.unpack_from(f">{cell_count}H", data, pointers)
    gap_start = pointers + 2 * cell_count
    if not gap_start <= content_start <= image.usable_size:
        raise CorruptError(f"page {number}: the content area starts at {content_start}")
    cells = tuple(_read_cell(image, number, data, kind, offset) for offset in offsets)
    freeblocks = _freeblocks(number, data, first_freeblock, content_start, image.usable_size)
    fragments = _fragments(number, [cell.span for cell in cells] + list(freeblocks), content_start, image.usable_size)
    return BtreePage(
        number=number,
        kind=kind,
        header_offset=start,
        first_freeblock=first_freeblock,
        cell_count=cell_count,
        content_start=content_start,
        fragmented_bytes=fragmented,
        right_child=right_child,
        cells=cells,
        freeblocks=freeblocks,
        gap=Span(gap_start, content_start - gap_start),
        fragments=fragments,
        data=data,
    )


def _read_cell(image: Image, number: int, data: bytes, kind: PageKind, offset: int) -> Cell:
    """The cell at `offset` of page `number`, its payload read through any overflow pages."""
    if not 0 < offset < image.usable_size:
        raise CorruptError(f"page {number}: a cell pointer points at {offset}")
    position = offset
    left_child = None
    if not kind.is_leaf:
        (left_child,) = struct.unpack_from(">I", data, position)
        position += 4
    if kind is PageKind.INTERIOR_TABLE:
        rowid, position = read_varint(data, position)
        return Cell(number, offset, position - offset, kind, left_child, _signed64(rowid), None, None)
    payload_size, position = read_varint(data, position)
    rowid = None
    if kind is PageKind.LEAF_TABLE:
        raw_rowid, position = read_varint(data, position)
        rowid = _signed64(raw_rowid)
    local = local_payload_size(payload_size, image.usable_size, table_leaf=kind is PageKind.LEAF_TABLE)
    payload = data[position : position + local]
    position += local
    overflow: tuple[int, ...] = ()
    if local < payload_size:
        (first_overflow,) = struct.unpack_from(">I", data, position)
        position += OVERFLOW_POINTER_SIZE
        spilled, overflow = _read_overflow(image, first_overflow, payload_size - local)
        payload += spilled
    size = max(position - offset, MIN_CELL_SIZE)
    if offset + size > image.usable_size:
        raise CorruptError(f"page {number}: the cell at {offset} runs past the page")
    record = decode_record(payload, image.encoding)
    return Cell(number, offset, size, kind, left_child, rowid, payload_size, record, overflow)


def _read_overflow(image: Image, first: int, remaining: int) -> tuple[bytes, tuple[int, ...]]:
    """`remaining` payload bytes read along the overflow chain from page `first`, and the chain's pages."""
    parts, pages = [], []
    number = first
    while remaining > 0:
        if number == 0 or number in pages:
            raise CorruptError(f"an overflow chain breaks at page {number}")
        data = image.page(number)
        take = min(remaining, image.usable_size - OVERFLOW_POINTER_SIZE)
        parts.append(data[OVERFLOW_POINTER_SIZE : OVERFLOW_POINTER_SIZE + take])
        pages.append(number)
        remaining -= take
        (number,) = struct.unpack_from(">I", data, 0)
    return b"".join(parts), tuple(pages)


def _freeblocks(number: int, data: bytes, first: int, content_start: int, usable_size: int) -> tuple[Span, ...]:
    """The page's chain of freeblocks, which the format keeps in ascending offset order."""
    blocks: list[Span] = []
    offset = first
    while offset:
        if (
            offset < content_start
            or offset + FREEBLOCK_HEADER_SIZE > usable_size
            or (blocks and offset <= blocks[-1].end)
        ):
            raise CorruptError(f"page {number}: a freeblock at {offset} is out of place")
        following, size = struct.unpack_from(">HH", data, offset)
        if size < FREEBLOCK_HEADER_SIZE or offset + size > usable_size:
            raise CorruptError(f"page {number}: the freeblock at {offset} has size {size}")
        blocks.append(Span(offset, size))
        offset = following
    return tuple(blocks)


def _fragments(number: int, used: list[Span], content_start: int, usable_size: int) -> tuple[Span, ...]:
    """The bytes from content_start to usable_size that no span in `used` covers."""
    holes = []
    position = content_start
    for span in sorted(used, key=lambda span: span.offset):
        if span.offset < position:
            raise CorruptError(f"page {number}: bytes at {span.offset} are used twice")
        if span.offset > position:
            holes.append(Span(position, span.offset - position))
        position = span.end
    if position < usable_size:
        holes.append(Span(position, usable_size - position))
    return tuple(holes)


def walk_btree(image: Image, root: int) -> Iterator[BtreePage]:
    """Every page of the B-tree rooted at `root`, each before its children, children in key order."""
    seen: set[int] = set()
    table: bool | None = None
    stack = [root]
    while stack:
        number = stack.pop()
        if number in seen:
            raise CorruptError(f"page {number} is reached twice in the B-tree at {root}")
        seen.add(number)
        page = read_btree_page(image, number)
        if table is not None and page.kind.is_table != table:
            raise CorruptError(f"page {number} mixes table and index pages in the B-tree at {root}")
        table = page.kind.is_table
        yield page
        stack.extend(reversed(page.children))


def row_cells(image: Image, root: int) -> list[Cell]:
    """Every cell holding a row of the B-tree rooted at `root`, in key order.

    A table B-tree keeps its rows in leaf cells only, its interior cells holding copies of
    rowids. An index B-tree (an index, or a WITHOUT ROWID table) keeps each entry once, in a
    leaf cell or an interior one: its interior cells are rows too, between their left child's
    and the next child's.
    """
    cells: list[Cell] = []
    seen: set[int] = set()

    def visit(number: int) -> None:
        if number in seen:
            raise CorruptError(f"page {number} is reached twice in the B-tree at {root}")
        seen.add(number)
        page = read_btree_page(image, number)
        if page.kind.is_leaf:
            cells.extend(page.cells)
            return
        for cell in page.cells:
            visit(cell.left_child or 0)
            if not page.kind.is_table:
                cells.append(cell)
        visit(page.right_child or 0)

    visit(root)
    return cells


def schema_roots(image: Image, *, include_schema: bool = True) -> dict[str, int]:
    """{name: root page} of every table and index in the image's sqlite_schema (page 1's B-tree)."""
    roots = {"sqlite_schema": 1} if include_schema else {}
    for cell in row_cells(image, 1):
        record = cell.record or []
        if len(record) < 5:
            raise CorruptError("a sqlite_schema row has fewer than 5 columns")
        _type, name, _table, root, _sql = record[:5]
        # Views and triggers have no B-tree: their root page is 0 or NULL.
        if isinstance(name, str) and isinstance(root, int) and root > 0:
            roots[name] = root
    return roots


class RecordValue(NamedTuple):
    """One value found in a B-tree: its cell, and its column (None for the rowid)."""

    tree: str
    cell: Cell
    column: int | None
    value: Value


def record_values(image: Image, roots: Mapping[str, int]) -> Iterator[RecordValue]:
    """Every value of every cell, leaf and interior, of the B-trees of `roots`, rowids included."""
    for name, root in roots.items():
        for page in walk_btree(image, root):
            for cell in page.cells:
                if cell.rowid is not None:
                    yield RecordValue(name, cell, None, cell.rowid)
                for column, value in enumerate(cell.record or ()):
                    yield RecordValue(name, cell, column, value)


def record_integers(image: Image, roots: Mapping[str, int]) -> list[RecordValue]:
    """Every integer value (rowids included) in the B-trees of `roots`."""
    return [found for found in record_values(image, roots) if isinstance(found.value, int)]

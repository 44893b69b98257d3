"""Accounts for every page and every free byte of a SQLite image: B-tree, overflow, freelist, free space.

A forensic test must know that no page is left unread (every page belongs to a B-tree, the
freelist, or the format itself) and that free space holds nothing: with `secure_delete` on,
SQLite overwrites deleted cells and freed pages with zeros, and the tests check it did.

Follows https://www.sqlite.org/fileformat2.html: the freelist (section 1.5), the lock-byte
page (1.4), pointer-map pages (1.7), and the free space of B-tree pages (1.6: the unallocated
gap, freeblocks and fragments).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from .sqlite_pages import (
    FREEBLOCK_HEADER_SIZE,
    OVERFLOW_POINTER_SIZE,
    Cell,
    CorruptError,
    Image,
    PageKind,
    Span,
    local_payload_size,
    schema_roots,
    walk_btree,
)

FREELIST_TRUNK_HEADER_SIZE = 8
# The page holding byte 2**30 is never used: SQLite's file locks live there.
PENDING_BYTE = 0x40000000


@dataclass(frozen=True)
class Freelist:
    """The freelist: trunk pages (which list the others) and leaf pages, in chain order."""

    trunks: tuple[int, ...]
    leaves: tuple[int, ...]

    @property
    def pages(self) -> tuple[int, ...]:
        """Every free page, trunks first."""
        return self.trunks + self.leaves


def read_freelist(image: Image) -> Freelist:
    """The freelist the header points at; CorruptError if it does not hold the header's count."""
    if image.header is None:
        return Freelist((), ())
    trunks: list[int] = []
    leaves: list[int] = []
    number = image.header.first_freelist_trunk
    while number:
        if number in trunks:
            raise CorruptError(f"the freelist loops at page {number}")
        data = image.page(number)
        following, count = struct.unpack_from(">II", data, 0)
        if count > (image.usable_size - FREELIST_TRUNK_HEADER_SIZE) // 4:
            raise CorruptError(f"freelist trunk {number} lists {count} pages")
        trunks.append(number)
        leaves.extend(struct.unpack_from(f">{count}I", data, FREELIST_TRUNK_HEADER_SIZE))
        number = following
    if len(trunks) + len(leaves) != image.header.freelist_count:
        raise CorruptError(
            f"the freelist holds {len(trunks) + len(leaves)} pages, the header says {image.header.freelist_count}"
        )
    return Freelist(tuple(trunks), tuple(leaves))


class PageRole(StrEnum):
    """What a page is used for."""

    BTREE = "btree"
    OVERFLOW = "overflow"
    FREELIST_TRUNK = "freelist trunk"
    FREELIST_LEAF = "freelist leaf"
    POINTER_MAP = "pointer map"
    LOCK_BYTE = "lock byte"


@dataclass(frozen=True)
class PageUse:
    """A page's role, and the B-tree it belongs to (B-tree and overflow pages)."""

    role: PageRole
    tree: str | None = None


@dataclass(frozen=True)
class PageMap:
    """The use of every page of an image that the given B-trees, the freelist and the format account for."""

    page_count: int
    uses: dict[int, PageUse]

    @property
    def unaccounted(self) -> tuple[int, ...]:
        """Pages in no given B-tree, not free and not reserved by the format."""
        return tuple(number for number in range(1, self.page_count + 1) if number not in self.uses)

    def pages_of(self, tree: str) -> tuple[int, ...]:
        """The pages of one B-tree, its overflow pages included, ascending."""
        return tuple(sorted(number for number, use in self.uses.items() if use.tree == tree))

    def pages_in(self, role: PageRole) -> tuple[int, ...]:
        """The pages with one role, ascending."""
        return tuple(sorted(number for number, use in self.uses.items() if use.role is role))


def page_map(image: Image, roots: Mapping[str, int]) -> PageMap:
    """Which page belongs to which B-tree of `roots` ({name: root page}), the freelist or the format."""
    uses: dict[int, PageUse] = {}

    def claim(number: int, use: PageUse) -> None:
        if number in uses:
            raise CorruptError(f"page {number} is both {uses[number]} and {use}")
        uses[number] = use

    for name, root in roots.items():
        for page in walk_btree(image, root):
            claim(page.number, PageUse(PageRole.BTREE, name))
            for cell in page.cells:
                for number in cell.overflow_pages:
                    claim(number, PageUse(PageRole.OVERFLOW, name))
    freelist = read_freelist(image)
    for number in freelist.trunks:
        claim(number, PageUse(PageRole.FREELIST_TRUNK))
    for number in freelist.leaves:
        claim(number, PageUse(PageRole.FREELIST_LEAF))
    for number in _pointer_map_pages(image):
        claim(number, PageUse(PageRole.POINTER_MAP))
    lock_page = PENDING_BYTE // image.page_size + 1
    if lock_page <= image.page_count:
        claim(lock_page, PageUse(PageRole.LOCK_BYTE))
    return PageMap(image.page_count, uses)


def _pointer_map_pages(image: Image) -> list[int]:
    """The pointer-map pages auto-vacuum keeps: page 2, then one before every usable_size/5 pages."""
    if image.header is None or not image.header.largest_root:
        return []
    lock_page = PENDING_BYTE // image.page_size + 1
    pages, number = [], 2
    while number <= image.page_count:
        # The lock-byte page is never a pointer map; the one due there moves to the next page.
        pages.append(number + 1 if number == lock_page else number)
        number += image.usable_size // 5 + 1
    return [number for number in pages if number <= image.page_count]


class FreeKind(StrEnum):
    """Where free bytes lie."""

    GAP = "gap"  # between a B-tree page's cell pointer array and its content area
    FREEBLOCK = "freeblock"  # a freeblock's bytes after its 4-byte header
    FRAGMENT = "fragment"  # 1 to 3 bytes between cells, too few for a freeblock
    OVERFLOW_TAIL = "overflow tail"  # the last overflow page's bytes after the payload
    FREELIST_LEAF = "freelist leaf"  # a whole free page
    FREELIST_TRUNK_TAIL = "freelist trunk tail"  # a trunk page's bytes after the pages it lists
    PAST_END = "past end"  # a main-file page after the database's last page


@dataclass(frozen=True)
class FreeRegion:
    """Free bytes: `data` is what lies at `offset` of page `page`."""

    page: int
    offset: int
    kind: FreeKind
    data: bytes = field(repr=False)

    @property
    def is_zero(self) -> bool:
        """Whether every byte is zero."""
        return not any(self.data)


def free_regions(image: Image, roots: Mapping[str, int] | None = None) -> list[FreeRegion]:
    """Every free byte range of `image`: in the B-trees of `roots` (default: the schema's), free pages, past the end.

    The format's own bookkeeping is left out (a freeblock's 4-byte header, a trunk's list).
    With secure_delete on, SQLite zeroes freeblocks, fragments and free pages, but not all of
    the gap: dropping a cell shortens the cell pointer array without clearing its old last
    slot, and a page laid out anew by balancing (btree.c's rebuildPage) keeps its old bytes
    below the new content area, copies of cells included, which can outlive the cells' deletion.
    """
    roots = schema_roots(image) if roots is None else roots
    regions: list[FreeRegion] = []
    for root in roots.values():
        for page in walk_btree(image, root):
            spans = [(FreeKind.GAP, page.gap)]
            spans += [
                (FreeKind.FREEBLOCK, Span(b.offset + FREEBLOCK_HEADER_SIZE, b.size - FREEBLOCK_HEADER_SIZE))
                for b in page.freeblocks
            ]
            spans += [(FreeKind.FRAGMENT, span) for span in page.fragments]
            regions += [
                FreeRegion(page.number, s.offset, kind, page.data[s.offset : s.end]) for kind, s in spans if s.size
            ]
            regions += [_overflow_tail(image, cell) for cell in page.cells if cell.overflow_pages]
    freelist = read_freelist(image)
    for number in freelist.trunks:
        data = image.page(number)
        (count,) = struct.unpack_from(">I", data, 4)
        start = FREELIST_TRUNK_HEADER_SIZE + 4 * count
        regions.append(FreeRegion(number, start, FreeKind.FREELIST_TRUNK_TAIL, data[start : image.usable_size]))
    regions += [FreeRegion(number, 0, FreeKind.FREELIST_LEAF, image.page(number)) for number in freelist.leaves]
    tail = image.past_end()
    for index in range(0, len(tail), image.page_size):
        regions.append(
            FreeRegion(
                image.page_count + 1 + index // image.page_size,
                0,
                FreeKind.PAST_END,
                tail[index : index + image.page_size],
            )
        )
    return regions


def _overflow_tail(image: Image, cell: Cell) -> FreeRegion:
    """The bytes of a cell's last overflow page after its share of the payload."""
    per_page = image.usable_size - OVERFLOW_POINTER_SIZE
    spilled = (cell.payload_size or 0) - local_payload_size(
        cell.payload_size or 0, image.usable_size, table_leaf=cell.kind is PageKind.LEAF_TABLE
    )
    used = spilled - per_page * (len(cell.overflow_pages) - 1)
    start = OVERFLOW_POINTER_SIZE + used
    last = cell.overflow_pages[-1]
    return FreeRegion(last, start, FreeKind.OVERFLOW_TAIL, image.page(last)[start : image.usable_size])

"""Judges whether the cells a writer put into a SQLite page lie in an order that tells more than their keys.

In a B-tree page SQLite carves each new cell from the top of the unallocated gap, just below
the cells written before it, so cells' byte offsets record the order they were written in.
A page SQLite lays out anew (btree.c's rebuildPage, or a full defragmentPage) has its cells in
key order the same way, the first key highest. So cells written in ascending key order into a
page lie as a laid-out page's do and tell nothing beyond their keys; any other layout records
the order of writing, which for signatures is the order of signing.

Balancing does not always lay pages out anew: when it can, it edits them in place (editPage),
moving cells into space freed elsewhere in the page, and a short defragmentation only slides
cells over one or two freeblocks. After those, a page written entirely in key order can fail
this check (see the tests); a failure proves an order leak only for a page no balancing moved
cells into during the writes checked.

Follows SQLite's allocation in a B-tree page (https://www.sqlite.org/fileformat2.html, section
1.6, and btree.c's allocateSpace): a fitting freeblock is used first, else the top of the gap.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

from .sqlite_pages import BtreePage, Cell, Span


def written_cells(page: BtreePage, previous: BtreePage | None) -> list[Cell]:
    """The cells of `page` that `previous` (the page in an earlier image) lacks at the same offset, byte for byte."""
    if previous is None:
        return list(page.cells)
    before = {cell.offset for cell in previous.cells}
    return [
        cell
        for cell in page.cells
        if cell.offset not in before
        or page.data[cell.offset : cell.offset + cell.size] != previous.data[cell.offset : cell.offset + cell.size]
    ]


def physical_order_follows_keys(cells: Iterable[tuple[int, Any]], *, previous_freeblocks: Iterable[Span] = ()) -> bool:
    """Whether cells given as (offset, key), written into one page, lie at strictly descending offsets in key order.

    A cell starting inside a freeblock of the page's previous image is left out: SQLite fills
    a fitting freeblock before the gap, so where such a cell lands depends on the sizes and
    order of writing, not on key order. Keys must compare as SQLite orders them (text under
    BINARY collation compares as Python str); for cells of one page, their index in
    `BtreePage.cells` is their key order. Fewer than two cells left always follow.
    """
    reused = list(previous_freeblocks)
    kept = sorted(
        ((key, offset) for offset, key in cells if not any(block.offset <= offset < block.end for block in reused)),
        key=lambda item: item[0],
    )
    return all(earlier[1] > later[1] for earlier, later in itertools.pairwise(kept))

"""C2SP tlog-tiles: the paths of a log's tiles and entry bundles, and what a tree of a size holds.

    tile/<L>/<N>[.p/<W>]        the hashes of level L, tile N (32 bytes each, concatenated)
    tile/entries/<N>[.p/<W>]    the entries of level 0 tile N, each prefixed by its length (u16, big-endian)

<L> is 0..63 with no leading zero; <N> is written as zero-padded three-digit path elements, all
but the last prefixed with `x` (1234067 is `x001/x234/067`, 5 is `005`); `.p/<W>` (W 1..255, no
leading zero) names a partial tile: its first W hashes. A tile of level L holds the hashes of the
tree's nodes at height 8L (tlog.py stores them so); a full tile has 256. Only canonical paths name
anything: `x000/005`, `5` or `000.p/07` name nothing, so one resource has one address and caches
hold it once (https://c2sp.org/tlog-tiles).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .tlog import TILE_HEIGHT, TILE_WIDTH

MAX_LEVEL = 63
# At most seven elements: 10**21 tiles are more than a tree of 2**64 leaves has at level 0.
TILE_PATH = re.compile(
    r"tile/(?:(?P<level>0|[1-9][0-9]?)|entries)/(?P<index>(?:x[0-9]{3}/){0,6}[0-9]{3})(?:\.p/(?P<width>[1-9][0-9]{0,2}))?"
)


@dataclass(frozen=True)
class TileAddress:
    """A tile (level 0..63) or an entry bundle (level None): its index in its level, and its width
    in hashes or entries (TILE_WIDTH for a full one)."""

    level: int | None
    index: int
    width: int

    @property
    def path(self) -> str:
        """The canonical path, as tlog-tiles writes it."""
        return tile_path(self.level, self.index, self.width)


def index_path(index: int) -> str:
    """A tile's index as tlog-tiles writes it: 1234067 -> "x001/x234/067", 5 -> "005"."""
    groups = [f"{index % 1000:03d}"]
    index //= 1000
    while index:
        groups.append(f"x{index % 1000:03d}")
        index //= 1000
    return "/".join(reversed(groups))


def tile_path(level: int | None, index: int, width: int = TILE_WIDTH) -> str:
    """`tile/<L>/<N>[.p/<W>]`, or `tile/entries/<N>[.p/<W>]` for level None."""
    partial = f".p/{width}" if width < TILE_WIDTH else ""
    return f"tile/{'entries' if level is None else level}/{index_path(index)}{partial}"


def parse(path: str) -> TileAddress | None:
    """A path under a log's prefix -> the tile or bundle it names; None unless it is canonical
    (the spec's forms only: a level above 63, a width of 0 or 256 and up, padding, all name nothing)."""
    found = TILE_PATH.fullmatch(path)
    if found is None:
        return None
    level = None if found["level"] is None else int(found["level"])
    width = TILE_WIDTH if found["width"] is None else int(found["width"])
    index = int(found["index"].replace("x", "").replace("/", ""))
    if level is not None and level > MAX_LEVEL:
        return None
    address = TileAddress(level, index, width)
    # Written back, a padded index or `.p/256` differs from what was asked.
    return address if address.path == path else None


def held(tree_size: int, level: int, index: int) -> int:
    """How many hashes tile `index` of `level` holds in a tree of `tree_size` leaves (0..256): the
    tree has tree_size >> 8L complete nodes at height 8L (a partial tile is never hashed into the
    level above). Level 0's count is also the entry bundle's."""
    nodes = tree_size >> (TILE_HEIGHT * level)
    return max(0, min(TILE_WIDTH, nodes - index * TILE_WIDTH))

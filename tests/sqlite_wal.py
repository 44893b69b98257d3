"""Reads a SQLite write-ahead log (a `-wal` file) from its bytes, as SQLite recovers it, without SQLite.

A copy of the data folder holds the WAL as it was at that moment: every frame is a full copy
of one page as of one commit, so the WAL is a history of the database, commit by commit. The
forensic tests need that history page by page (which SQLite never shows), and they need to
know what lies in the file past the frames SQLite would use: frames of a transaction never
committed, and frames of an earlier cycle of the file that a newer, shorter one did not
overwrite.

Follows the WAL format of https://www.sqlite.org/fileformat2.html (section "The WAL File
Format") and SQLite's recovery: frames are read in order while their salts match the header's
and their checksums chain; a frame whose header gives a database size ends a commit, and frames
after the last commit are not part of the database.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

WAL_HEADER_SIZE = 32
FRAME_HEADER_SIZE = 24
# The last bit of the magic number says in which byte order the checksum reads 32-bit words.
WAL_MAGIC_LITTLE_ENDIAN = 0x377F0682
WAL_MAGIC_BIG_ENDIAN = 0x377F0683
WAL_FORMAT_VERSION = 3007000
MIN_PAGE_SIZE = 512
MAX_PAGE_SIZE = 65536
WORD_MASK = 0xFFFFFFFF
# The salts of a frame written while its transaction's checksums wait for the commit.
UNSET_SALTS = (0, 0)


@dataclass(frozen=True)
class Frame:
    """One frame: a copy of page `page_number`, found at byte `offset` of the WAL file."""

    number: int  # 1-based position in the file, as SQLite counts frames
    offset: int  # byte offset of the frame header in the WAL file
    page_number: int
    db_size: int  # a commit frame: the database's size in pages after the commit; any other frame: 0
    salts: tuple[int, int]
    checksums: tuple[int, int]  # as stored in the frame header
    data: bytes  # the page, page_size bytes

    @property
    def is_commit(self) -> bool:
        """Whether this frame ends a transaction."""
        return self.db_size != 0


@dataclass(frozen=True)
class Commit:
    """One committed transaction: frames first_frame..last_frame (1-based, inclusive)."""

    number: int  # 1-based: the first commit in the file is 1
    first_frame: int
    last_frame: int  # the commit frame
    pages: tuple[int, ...]  # page numbers written, ascending, each once
    db_size: int  # the database's size in pages after this commit
    frames: tuple[Frame, ...]


@dataclass(frozen=True)
class Wal:
    """A WAL file as SQLite recovers it, and what else the file holds."""

    header_valid: bool  # magic, version, page size and header checksum as the format requires
    page_size: int | None  # None when the header gives no usable page size
    checkpoint_sequence: int
    salts: tuple[int, int]
    commits: tuple[Commit, ...]
    # The frames right after the last commit that carry the header's salts, or zero salts: a
    # transaction being written when the copy was taken, one rolled back, or one cut short.
    # Their checksums need not chain: once a transaction rewrites one of its frames in place
    # (writing a page again), SQLite writes its later frames with zero salts and checksums and
    # fills both in only at commit.
    uncommitted_frames: tuple[Frame, ...]
    # The frames after those: an earlier cycle of the file (other salts), which the current
    # cycle, restarted from the first frame after a checkpoint, has not overwritten.
    stale_frames: tuple[Frame, ...]
    trailing_bytes: int  # bytes after the last whole frame (a frame cut short)

    @property
    def frames(self) -> tuple[Frame, ...]:
        """Every committed frame, in file order."""
        return tuple(frame for commit in self.commits for frame in commit.frames)


def wal_checksum(data: bytes, seed: tuple[int, int], *, big_endian: bool) -> tuple[int, int]:
    """The WAL's running checksum of `data` (a multiple of 8 bytes) continued from `seed`."""
    if len(data) % 8:
        raise ValueError("a WAL checksum covers a multiple of 8 bytes")
    words = struct.unpack(f"{'>' if big_endian else '<'}{len(data) // 4}I", data)
    s0, s1 = seed
    for i in range(0, len(words), 2):
        s0 = (s0 + words[i] + s1) & WORD_MASK
        s1 = (s1 + words[i + 1] + s0) & WORD_MASK
    return s0, s1


def read_wal(wal: bytes) -> Wal:
    """Every commit of a WAL file's bytes, in order, and the frames SQLite would not use."""
    if len(wal) < WAL_HEADER_SIZE:
        return Wal(False, None, 0, (0, 0), (), (), (), len(wal))
    magic, version, page_size, sequence, salt1, salt2, sum1, sum2 = struct.unpack(">8I", wal[:WAL_HEADER_SIZE])
    big_endian = magic == WAL_MAGIC_BIG_ENDIAN
    page_size_valid = MIN_PAGE_SIZE <= page_size <= MAX_PAGE_SIZE and page_size & (page_size - 1) == 0
    header_valid = (
        magic in (WAL_MAGIC_LITTLE_ENDIAN, WAL_MAGIC_BIG_ENDIAN)
        and version == WAL_FORMAT_VERSION
        and page_size_valid
        and wal_checksum(wal[:24], (0, 0), big_endian=big_endian) == (sum1, sum2)
    )
    if not page_size_valid:
        return Wal(False, None, sequence, (salt1, salt2), (), (), (), len(wal) - WAL_HEADER_SIZE)

    frames = list(_frames(wal, page_size))
    trailing = (len(wal) - WAL_HEADER_SIZE) % (FRAME_HEADER_SIZE + page_size)
    valid = _valid_prefix(frames, (salt1, salt2), (sum1, sum2), big_endian=big_endian) if header_valid else 0

    commits: list[Commit] = []
    start = 0
    for end in range(valid):
        frame = frames[end]
        if frame.is_commit:
            written = tuple(frames[start : end + 1])
            pages = tuple(sorted({f.page_number for f in written}))
            commits.append(Commit(len(commits) + 1, start + 1, end + 1, pages, frame.db_size, written))
            start = end + 1
    current = start
    while header_valid and current < len(frames) and frames[current].salts in ((salt1, salt2), UNSET_SALTS):
        current += 1
    return Wal(
        header_valid=header_valid,
        page_size=page_size,
        checkpoint_sequence=sequence,
        salts=(salt1, salt2),
        commits=tuple(commits),
        uncommitted_frames=tuple(frames[start:current]),
        stale_frames=tuple(frames[current:]),
        trailing_bytes=trailing,
    )


def wal_commits(wal: bytes) -> list[Commit]:
    """Every commit of a WAL file's bytes, in order (see `read_wal` for the rest of the file)."""
    return list(read_wal(wal).commits)


def _frames(wal: bytes, page_size: int) -> list[Frame]:
    """Every whole frame in the file, valid or not."""
    size = FRAME_HEADER_SIZE + page_size
    frames = []
    for index, offset in enumerate(range(WAL_HEADER_SIZE, len(wal) - size + 1, size)):
        page_number, db_size, salt1, salt2, sum1, sum2 = struct.unpack_from(">6I", wal, offset)
        data = wal[offset + FRAME_HEADER_SIZE : offset + size]
        frames.append(Frame(index + 1, offset, page_number, db_size, (salt1, salt2), (sum1, sum2), data))
    return frames


def _valid_prefix(frames: list[Frame], salts: tuple[int, int], seed: tuple[int, int], *, big_endian: bool) -> int:
    """How many frames, from the first, have the header's salts and a checksum that chains."""
    checksum = seed
    for count, frame in enumerate(frames):
        if frame.page_number == 0 or frame.salts != salts:
            return count
        header = struct.pack(">2I", frame.page_number, frame.db_size)
        checksum = wal_checksum(header + frame.data, checksum, big_endian=big_endian)
        if checksum != frame.checksums:
            return count
    return len(frames)

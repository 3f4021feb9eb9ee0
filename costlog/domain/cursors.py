"""Where a log file was read up to, and what a later import must read of it: pure, no I/O.

A :class:`Cursor` is kept per file after each import. A later look at the file decides by
:func:`plan`, from the file's :class:`Stat`, and (for a file that grew) by the SHA-256 of its
first bytes: a file that grew and kept its head is read from the cursor's offset on, any other
change is read from the start, an unchanged file is not opened.
"""

import enum
import hashlib
from typing import NamedTuple

#: The head of a file whose digest tells a rewritten file from one that only grew.
HEAD_BYTES = 4096


class Stat(NamedTuple):
    """What ``os.stat`` tells of a file."""

    device: int
    inode: int
    size: int
    mtime_ns: int


class Cursor(NamedTuple):
    """A file as last read: its :class:`Stat` then, the byte offset after its last complete
    line (``offset <= size``), how many lines lie before that offset, and the SHA-256 (hex) of
    its first ``head_length(size)`` bytes."""

    device: int
    inode: int
    size: int
    mtime_ns: int
    offset: int
    lines: int
    head_sha256: str


class Reading(enum.Enum):
    UNCHANGED = "unchanged"  # not opened
    FROM_START = "from the start"
    AFTER_OFFSET = "after the offset"  # if the head is the same, else from the start


def head_length(size: int) -> int:
    """The bytes the head digest of a file of ``size`` bytes covers."""
    return min(HEAD_BYTES, size)


def head_digest(head: bytes) -> str:
    return hashlib.sha256(head).hexdigest()


def plan(recorded: Cursor | None, now: Stat) -> Reading:
    """How to read a file found as ``now`` whose cursor is ``recorded`` (None: never read, or
    ``--full``).

    Same identity, size and mtime: unchanged. Same identity and larger: grown (after the
    offset, once its head is checked). Anything else (another file at the path, a file that
    shrank, or was rewritten in place at its size) is read from the start: exactly once is the
    event ids' to keep, so reading too much is only slower, reading too little would lose data.
    """
    if recorded is None or (recorded.device, recorded.inode) != (now.device, now.inode):
        return Reading.FROM_START
    if now.size == recorded.size:
        return Reading.UNCHANGED if now.mtime_ns == recorded.mtime_ns else Reading.FROM_START
    return Reading.AFTER_OFFSET if now.size > recorded.size else Reading.FROM_START


def start_of(recorded: Cursor | None, reading: Reading, head: bytes) -> tuple[int, int]:
    """The offset to read from and the number of lines before it, for a file to be read as
    ``reading`` whose first bytes are ``head`` (at least ``head_length(recorded.size)`` of
    them, when there are that many)."""
    if reading is Reading.AFTER_OFFSET and recorded is not None \
            and head_digest(head[:head_length(recorded.size)]) == recorded.head_sha256:
        return recorded.offset, recorded.lines
    return 0, 0

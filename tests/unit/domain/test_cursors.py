"""Which part of a log a later import reads, from the file's cursor and what it is now."""

import pytest

from costlog.domain.cursors import (
    HEAD_BYTES,
    Cursor,
    Reading,
    Stat,
    head_digest,
    head_length,
    plan,
    start_of,
)

HEAD = b"x" * 5000
RECORDED = Cursor(device=1, inode=10, size=5000, mtime_ns=100, offset=4990, lines=7,
                  head_sha256=head_digest(HEAD[:HEAD_BYTES]))


@pytest.mark.parametrize(("now", "reading"), [
    (Stat(1, 10, 5000, 100), Reading.UNCHANGED),
    (Stat(1, 10, 6000, 200), Reading.AFTER_OFFSET),  # grown
    (Stat(1, 10, 4000, 200), Reading.FROM_START),  # shrank
    (Stat(1, 11, 6000, 200), Reading.FROM_START),  # replaced: another inode
    (Stat(2, 10, 6000, 200), Reading.FROM_START),  # another device
    (Stat(1, 10, 5000, 300), Reading.FROM_START),  # rewritten in place at its size
])
def test_plan(now: Stat, reading: Reading) -> None:
    assert plan(RECORDED, now) is reading


def test_a_file_never_read_is_read_from_the_start() -> None:
    assert plan(None, Stat(1, 10, 5000, 100)) is Reading.FROM_START
    assert start_of(None, Reading.FROM_START, HEAD) == (0, 0)


@pytest.mark.parametrize(("reading", "head", "start"), [
    (Reading.AFTER_OFFSET, HEAD + b"more", (4990, 7)),  # grown, same head: after the offset
    (Reading.AFTER_OFFSET, b"y" + HEAD[1:], (0, 0)),  # its first 4 KiB changed
    (Reading.AFTER_OFFSET, HEAD[:HEAD_BYTES - 1] + b"y", (0, 0)),  # its 4,096th byte
    (Reading.AFTER_OFFSET, HEAD[:HEAD_BYTES] + b"y" * 10, (4990, 7)),  # beyond the head
    (Reading.FROM_START, HEAD, (0, 0)),
])
def test_start_of(reading: Reading, head: bytes, start: tuple[int, int]) -> None:
    assert start_of(RECORDED, reading, head[:HEAD_BYTES]) == start


def test_a_small_file_s_head_is_all_of_it_and_still_checked_once_it_grew() -> None:
    small = Cursor(1, 10, 30, 100, 30, 1, head_digest(b"a" * 30))
    assert head_length(30) == 30 and head_length(10**6) == HEAD_BYTES
    assert start_of(small, Reading.AFTER_OFFSET, b"a" * 30 + b"b" * 5000) == (30, 1)
    assert start_of(small, Reading.AFTER_OFFSET, b"c" + b"a" * 29 + b"b" * 5000) == (0, 0)

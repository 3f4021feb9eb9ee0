"""JSON-lines event files: the line parser of ``costlog emit`` and ``costlog import``, and the
import's parser process.

``costlog import`` reads, decodes, validates and prices in a second process while the first
writes: parsing costs about a third of the write path's CPU, and on two cores the two overlap.
The parser holds at most ``IMPORT_SORT_WINDOW`` rows and sends them in messages of at most
``IMPORT_MESSAGE_LINES`` rows through a queue of at most ``IMPORT_QUEUE_MESSAGES`` messages, so
memory stays flat whatever the size of the file.
"""

import contextlib
import dataclasses
import json
import marshal
import multiprocessing
import os
import queue
import signal
import sys
from collections.abc import Iterator
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import sqlite_utils

from costlog import clock, constants
from costlog.cli import children
from costlog.domain.event import CostEvent, InvalidEvent, parse_event
from costlog.domain.pricing import PriceTable
from costlog.errors import CostlogError
from costlog.store.connection import connect
from costlog.store.migrations import migrate
from costlog.store.write import COLUMNS, event_row

_TIMESTAMP = COLUMNS.index("timestamp")
_STAMP_LENGTH = len("YYYY-MM-DD HH:MM:SS")  # cost_log's timestamp text (buckets.storage_text)


@dataclasses.dataclass(frozen=True)
class Line:
    number: int
    event: CostEvent | None
    error: str | None
    size: int


def read_lines(stream: IO[str]) -> Iterator[Line]:
    """Parse JSON lines into events (ids filled by content hash); blank lines are skipped."""
    for number, text in enumerate(stream, start=1):
        size = len(text.encode())
        if not text.strip():
            continue
        try:
            payload = json.loads(text)
        except ValueError as error:
            yield Line(number, None, f"invalid JSON: {error}", size)
            continue
        try:
            yield Line(number, parse_event(payload, now=clock.now(), fill_id="hash"), None, size)
        except InvalidEvent as error:
            yield Line(number, None, str(error), size)


@dataclasses.dataclass
class Parsed:
    """One message of the parser process."""

    # store.event_row rows as packed by _Window: a list of bytes crosses the pipe and waits in
    # the queue at a third of the tuples' size, and costs the importer less to receive.
    packed: list[bytes] = dataclasses.field(default_factory=list)
    rejected: list[tuple[int, str]] = dataclasses.field(default_factory=list)  # (line, reason)
    size: int = 0  # bytes of the lines read

    def rows(self) -> list[tuple]:
        return [marshal.loads(row[_STAMP_LENGTH:]) for row in self.packed]


class ParserDied(CostlogError, RuntimeError):
    """The parser process ended without finishing the file."""


class _Window:
    """Rows held to be sent in timestamp order, compactly (~0.3 KB a row where the tuple takes
    ~0.9 KB): each as its timestamp followed by the marshalled tuple, so that sorting the bytes
    sorts by timestamp."""

    def __init__(self) -> None:
        self.rows: list[bytes] = []  # the first row of each event_id
        self.repeats: list[bytes] = []  # its later rows
        # Hashes rather than the ids: a collision only sends a row with the repeats.
        self.seen: set[int] = set()
        self.size = 0  # bytes of the lines read into the window

    def __len__(self) -> int:
        return len(self.rows) + len(self.repeats)

    def add(self, row: tuple) -> None:
        packed = row[_TIMESTAMP].encode() + marshal.dumps(row)
        key = hash(row[0])
        if key in self.seen:
            self.repeats.append(packed)
        else:
            self.seen.add(key)
            self.rows.append(packed)

    def send(self, out: Any) -> None:
        """The rows in timestamp order, then the repeats, each message with its share of bytes."""
        self.rows.sort()
        ordered = self.rows + self.repeats
        step = constants.IMPORT_MESSAGE_LINES
        sent = 0
        for start in range(0, len(ordered), step):
            part = ordered[start:start + step]
            share = self.size * (start + len(part)) // len(ordered) - sent
            out.put(Parsed(packed=part, size=share))
            sent += share
        if sent < self.size:  # a window of rejected or blank lines only
            out.put(Parsed(size=self.size - sent))


def _parse_file(path: Path, prices: PriceTable, out: Any, parent: int) -> None:
    """The parser process: every line of ``path`` into messages on ``out``, then None.

    Rejected lines are sent as they are read. Rows are sent a window of up to
    IMPORT_SORT_WINDOW rows at a time, in the order of their timestamps: a back-fill then
    writes each chunk into a narrow slice of every time-keyed index and rollup rather than all
    over the database (at a million rows a chunk of year-spread events rewrote a third of it).
    A repeated event_id is sent after the whole window, so its first row in the file still wins.
    """
    # Killed with the importer, even by SIGKILL; Ctrl-C is the importer's to handle: it stops
    # this process, without a second traceback.
    children.die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The queue's feeder thread writes each message to the pipe in 64 KB pieces and needs the
    # GIL between them, which this parsing thread gives up only every switch interval: at the
    # default 5 ms the importer would spend a large part of an import waiting for messages.
    sys.setswitchinterval(constants.IMPORT_PARSER_SWITCH_SECONDS)
    try:
        window = _Window()
        # The importer waits for the first window to be read whole: windows start at one chunk
        # and double, so that writing starts early.
        limit = constants.IMPORT_CHUNK
        with path.open(encoding="utf-8") as stream:
            for line in read_lines(stream):
                window.size += line.size
                if line.event is None:
                    out.put(Parsed(rejected=[(line.number, str(line.error))]))
                    continue
                window.add(event_row(line.event, prices))
                if len(window) >= limit:
                    window.send(out)
                    window = _Window()
                    limit = min(2 * limit, constants.IMPORT_SORT_WINDOW)
        window.send(out)
        out.put(None)
    except Exception as error:  # noqa: BLE001 - re-raised by the importing process
        out.put(error)


@contextlib.contextmanager
def import_database(path: Path) -> Iterator[sqlite_utils.Database]:
    """The database an import writes to, migrated; its pages are in the database file, not
    only in the WAL, when the import ends without error."""
    db = connect(path)
    try:
        migrate(db)
        # A chunk writes many thousand pages: checkpointing (and its two fsyncs) every few
        # chunks instead of after each copies and syncs the pages they share once.
        db.conn.execute(f"PRAGMA wal_autocheckpoint = {constants.IMPORT_WAL_AUTOCHECKPOINT_PAGES}")
        yield db
        # Into the database file now, rather than in the first commit of a worker.
        db.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
    finally:
        db.close()


class ParserProcess:
    """Iterate the :class:`Parsed` messages of ``path``, parsed in a child process.

    Forked (it inherits the clock and the loaded prices) on entering the context, before the
    importer opens the database; stopped on leaving it, also on error or Ctrl-C.
    """

    def __init__(self, path: Path, prices: PriceTable) -> None:
        context = multiprocessing.get_context("fork")
        self._queue = context.Queue(maxsize=constants.IMPORT_QUEUE_MESSAGES)
        self._process: BaseProcess = context.Process(
            target=_parse_file, args=(path, prices, self._queue, os.getpid()),
            name="costlog-import-parser",
            daemon=True)

    def __enter__(self) -> "ParserProcess":
        self._process.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if self._process.is_alive():
            self._process.terminate()
        self._process.join()
        self._queue.close()

    def __iter__(self) -> Iterator[Parsed]:
        ended = False
        while True:
            try:
                message = self._queue.get(timeout=1)
            except queue.Empty:
                if ended:  # and the queue was looked at once more after it ended
                    raise ParserDied(
                        f"the parser process ended (exit code {self._process.exitcode})"
                    ) from None
                ended = not self._process.is_alive()
                continue
            if message is None:
                return
            if isinstance(message, Exception):
                raise message
            yield message

"""``costlog import --format claude-code``: find and read Claude Code's session logs, only what
is new since the last import, and (``--follow``) keep reading them as they are written.

The logs are read a batch of whole sessions at a time (a session's log with its subagents'
logs: the copies of one response sit there), the copies merged within the batch, and its rows
written; across batches the store decides (an event already recorded is not counted again), so
memory stays flat whatever the history's size. Each file's cursor (:mod:`costlog.domain.cursors`)
is kept in the database, written after the rows it covers. The mapping and the copy rules are
pure, in :mod:`costlog.domain.claude_code`.
"""

import contextlib
import gc
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from pathlib import Path
from typing import IO, Any, NamedTuple

import click

from costlog import clock, constants
from costlog.cli import children
from costlog.cli.importer import import_database
from costlog.constants import MAX_REVISION, SUPERSEDED_BY_IMPORT
from costlog.domain.claude_code import (
    PHASE_SESSION,
    PHASE_SUBAGENT,
    SUBAGENTS_FOLDER,
    Malformed,
    Response,
    Responses,
    default_roots,
    parse_line,
    project_folder,
)
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
from costlog.domain.pricing import PriceFileError, PriceTable, load_prices
from costlog.settings import Settings
from costlog.store import queries
from costlog.store.connection import Database
from costlog.store.write import COLUMNS, event_row, read_cursors, record_cursors, record_rows

log = logging.getLogger("costlog.cli.claude_logs")

LOG_SUFFIX = ".jsonl"
_TIMESTAMP = COLUMNS.index("timestamp")


@dataclass
class Found:
    files: list[Path] = field(default_factory=list)
    missing: list[Path] = field(default_factory=list)
    #: Each file's resolved path: the key of its cursor.
    keys: dict[Path, str] = field(default_factory=dict)


def find_logs(paths: Iterable[Path]) -> Found:
    """The ``*.jsonl`` files in ``paths`` (folders searched recursively, files taken as they
    are), each once even when two paths reach it."""
    found, seen = Found(), set()
    for path in paths:
        if path.is_dir():
            candidates = sorted(p for p in path.rglob(f"*{LOG_SUFFIX}") if p.is_file())
        elif path.is_file():
            candidates = [path]
        else:
            found.missing.append(path)
            continue
        for candidate in candidates:
            identity = candidate.resolve()
            if identity not in seen:
                seen.add(identity)
                found.files.append(candidate)
                found.keys[candidate] = str(identity)
    return found


def session_of(log: Path) -> tuple[str, str]:
    """The session a log belongs to: ``(folder, name)`` of ``<folder>/<name>.jsonl`` and of its
    subagents' ``<folder>/<name>/subagents/*.jsonl``."""
    if log.parent.name == SUBAGENTS_FOLDER:
        return str(log.parent.parent.parent), log.parent.parent.name
    return str(log.parent), log.stem


class Task(NamedTuple):
    """One file to read: where it is, its cursor's key, and its cursor (None: from the start)."""

    path: Path
    key: str
    recorded: Cursor | None


def sessions(tasks: Sequence[Task]) -> list[list[Task]]:
    """``tasks`` by session, in the order of each session's first file; within a session the
    main log first (its copies are the ones kept, and the first of equal copies wins)."""
    grouped: dict[tuple[str, str], list[Task]] = {}
    for task in tasks:
        grouped.setdefault(session_of(task.path), []).append(task)
    return [sorted(group, key=lambda task: task.path.parent.name == SUBAGENTS_FOLDER)
            for group in grouped.values()]


def batches(groups: Iterable[list[Task]], sizes: dict[str, int],
            limit: int) -> Iterator[list[Task]]:
    """Whole sessions, in order, gathered into batches of at least ``limit`` bytes to read
    (``sizes`` by cursor key) but for the last; a session larger than that is a batch alone."""
    batch: list[Task] = []
    size = 0
    for group in groups:
        batch += group
        size += sum(sizes[task.key] for task in group)
        if size >= limit:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


@dataclass
class Batch:
    """What reading a batch of files gave: one row per event of its files (copies merged), and
    the files' new cursors."""

    rows: list[tuple] = field(default_factory=list)  # store.write.event_row rows
    cursors: dict[str, Cursor] = field(default_factory=dict)
    malformed: int = 0
    shown: list[tuple[Path, int, str]] = field(default_factory=list)  # the first few
    unreadable: list[tuple[Path, str]] = field(default_factory=list)  # (file, reason)
    size: int = 0  # bytes read

    def add_malformed(self, path: Path, number: int, reason: str) -> None:
        self.malformed += 1
        if len(self.shown) < constants.IMPORT_MALFORMED_SHOWN:
            self.shown.append((path, number, reason))


@contextlib.contextmanager
def _without_gc() -> Iterator[None]:
    """Reading makes millions of objects and no cycles: the cyclic collector, run every few
    hundred allocations over ever more live objects, cost ~8 % of the time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def complete_lines(stream: IO[bytes], start: int, end: int) -> Iterator[bytes]:
    """The lines of ``stream`` between the offsets ``start`` and ``end``, without their
    newlines; a last line without its newline is not one (it is still being written)."""
    stream.seek(start)
    remaining, tail = end - start, b""
    while remaining > 0:
        block = stream.read(min(constants.IMPORT_READ_BLOCK_BYTES, remaining))
        if not block:
            return
        remaining -= len(block)
        lines = (tail + block).split(b"\n")
        tail = lines.pop()
        yield from lines


def _read_file(task: Task, responses: Responses[Response], batch: Batch) -> None:
    """Add the responses of ``task``'s file that are after its cursor to ``responses``, and
    its new cursor to ``batch``. Raises OSError."""
    path = task.path
    folder, session = project_folder(path), path.stem
    # Bytes: the decoder takes them as they are, and a line that is not UTF-8 is one
    # malformed line rather than an unreadable file.
    with path.open("rb") as stream:
        status = os.fstat(stream.fileno())
        stat = Stat(status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns)
        reading = plan(task.recorded, stat)
        if reading is Reading.UNCHANGED and task.recorded is not None:
            batch.cursors[task.key] = task.recorded
            return
        head = stream.read(HEAD_BYTES)
        offset, number = start_of(task.recorded, reading, head)
        for line in complete_lines(stream, offset, stat.size):
            offset += len(line) + 1
            number += 1
            if line.isspace() or not line:
                continue
            try:
                response = parse_line(line, folder=folder, session=session,
                                      origin=(path, number))
            except Malformed as error:
                batch.add_malformed(path, number, str(error))
                continue
            if response is not None:
                responses.add(response)
    batch.size += stat.size - (task.recorded.offset if reading is Reading.AFTER_OFFSET
                               and task.recorded else 0)
    batch.cursors[task.key] = Cursor(*stat, offset, number,
                                     head_digest(head[:head_length(stat.size)]))


@_without_gc()
def read_batch(tasks: Sequence[Task], now: datetime, prices: PriceTable) -> Batch:
    """The new responses of ``tasks``' files (copies merged), priced, and their cursors. A kept
    copy that breaks the event contract (a timestamp in the future, a project path too long) is
    one more malformed line."""
    batch, responses = Batch(), Responses[Response]()
    for task in tasks:
        try:
            _read_file(task, responses, batch)
        except OSError as error:
            batch.unreadable.append((task.path, error.strerror or str(error)))
    for response in responses.kept():
        try:
            event = response.event(now)
        except Malformed as error:
            batch.add_malformed(*response.origin, str(error))
            continue
        batch.rows.append(event_row(event, prices))
    return batch


def _die_with_parent(parent: int) -> None:
    """A reader's start: killed with its importer even by SIGKILL, and Ctrl-C is the
    importer's to handle."""
    children.die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def read_batches(work: Sequence[list[Task]], now: datetime, prices: PriceTable,
                 parallel: bool) -> Iterator[Batch]:
    """The batches of ``work`` read, in order: by one process per core when ``parallel``, each
    at most IMPORT_BATCHES_PER_READER batches ahead of the caller."""
    readers = os.cpu_count() or 1
    if not parallel or readers == 1:
        for tasks in work:
            yield read_batch(tasks, now, prices)
        return
    # Forked: the readers inherit the prices, and not the caller's database connection (it is
    # opened after them).
    pool = multiprocessing.get_context("fork").Pool(readers, initializer=_die_with_parent,
                                                    initargs=(os.getpid(),))
    try:
        waiting: deque[Any] = deque()
        pending = iter(work)
        for tasks in pending:
            waiting.append(pool.apply_async(read_batch, (tasks, now, prices)))
            if len(waiting) >= readers * constants.IMPORT_BATCHES_PER_READER:
                break
        while waiting:
            batch = waiting.popleft().get()
            for tasks in pending:
                waiting.append(pool.apply_async(read_batch, (tasks, now, prices)))
                break
            yield batch
    finally:
        pool.terminate()
        pool.join()


@dataclass
class Totals:
    """What an import (every pass of a ``--follow``) did, for its summary line."""

    events: int = 0
    new: int = 0
    recorded: int = 0  # already recorded (or a smaller copy of a recorded one)
    revised: int = 0
    files: int = 0  # found at the last look
    opened: set[str] = field(default_factory=set)  # cursor keys of the files opened
    malformed: int = 0
    refused: int = 0

    def line(self) -> str:
        return (f"imported {self.events} events ({self.new} new, {self.recorded} already"
                f" recorded, {self.revised} revised) from {self.files} files"
                f" ({self.files - len(self.opened)} unchanged); {self.malformed} malformed"
                " lines skipped")


class Writer:
    """Writes the rows of batches ``chunk`` at a time in timestamp order (each chunk then falls
    in a narrow slice of every time-keyed index and rollup), then the cursors of the files
    those rows came from."""

    def __init__(self, db: Database, chunk: int, totals: Totals) -> None:
        self.db, self.chunk, self.totals = db, chunk, totals
        self.rows: list[tuple] = []
        self.cursors: dict[str, Cursor] = {}

    def add(self, batch: Batch) -> None:
        self.rows += batch.rows
        self.cursors.update(batch.cursors)
        if len(self.rows) >= self.chunk:
            self.flush()

    def flush(self) -> None:
        self.rows.sort(key=itemgetter(_TIMESTAMP))
        for start in range(0, len(self.rows), self.chunk):
            rows, replays = main_chain_first(self.db, self.rows[start:start + self.chunk])
            # A larger copy of a recorded response (read half-written before) is its next
            # revision; a smaller or equal one changes nothing.
            result = record_rows(self.db, rows, source=SUPERSEDED_BY_IMPORT, larger=True)
            for refusal in result.refused:  # a stored sum would leave its exact range
                click.echo(str(refusal), err=True)
            self.totals.refused += len(result.refused)
            self.totals.events += result.inserted + result.duplicates + result.revised + replays
            self.totals.new += result.inserted
            self.totals.recorded += result.duplicates + replays
            self.totals.revised += result.revised
        self.rows.clear()
        # After the rows they cover: a crash in between only has them read again.
        record_cursors(self.db, self.cursors)
        self.cursors.clear()


_EVENT_ID, _PHASE, _REVISION = (COLUMNS.index(name) for name in ("event_id", "phase", "revision"))


def main_chain_first(db: Database, rows: list[tuple]) -> tuple[list[tuple], int]:
    """``rows`` against what is recorded, by the copy rule that the main chain's copy of a
    response is the one kept: a subagent's replay of a response recorded from the main chain
    is left out (counted as already recorded), a main-chain copy of a response recorded from
    a replay replaces it as its next revision. Returns the rows to write and the left out."""
    recorded = queries.recorded_versions(db, [row[_EVENT_ID] for row in rows])
    kept, replays = [], 0
    for row in rows:
        phase, revision, voided = recorded.get(row[_EVENT_ID], (None, 0, False))
        if phase == PHASE_SESSION and row[_PHASE] == PHASE_SUBAGENT:
            replays += 1
            continue
        if phase == PHASE_SUBAGENT and row[_PHASE] == PHASE_SESSION and not voided \
                and revision < MAX_REVISION:
            row = row[:_REVISION] + (revision + 1,) + row[_REVISION + 1:]
        kept.append(row)
    return kept, replays


def _report_malformed(shown: list[tuple[Path, int, str]], count: int) -> None:
    for path, number, reason in shown:
        click.echo(f"{path}:{number}: {reason}", err=True)
    if count > len(shown):
        click.echo(f"... and {count - len(shown)} more malformed lines", err=True)


class Pass(NamedTuple):
    """What one look at the logs read."""

    readable: int  # files opened and read (or found unchanged once opened)
    malformed: int
    shown: list[tuple[Path, int, str]]  # the first few malformed lines


@dataclass
class Import:
    """One ``costlog import --format claude-code``: its settings, what it reads, what it did."""

    settings: Settings
    roots: list[Path]
    prices: PriceTable
    chunk: int
    full: bool
    totals: Totals = field(default_factory=Totals)
    cursors: dict[str, Cursor] = field(default_factory=dict)

    def tasks(self, found: Found) -> tuple[list[Task], dict[str, int]]:
        """The files to open (those not unchanged since their cursor), and the bytes each is
        expected to need read, by cursor key."""
        tasks, sizes = [], {}
        self.totals.files = len(found.files)
        for path in found.files:
            key = found.keys[path]
            recorded = None if self.full else self.cursors.get(key)
            try:
                status = path.stat()
            except OSError:
                status = None  # reported as unreadable when it is opened
            size = status.st_size if status else 0
            if status is not None and recorded is not None and plan(recorded, Stat(
                    status.st_dev, status.st_ino, size, status.st_mtime_ns)) \
                    is Reading.UNCHANGED:
                continue
            sizes[key] = size - recorded.offset if recorded and size > recorded.size else size
            tasks.append(Task(path, key, recorded))
        return tasks, sizes

    def read(self, db: Database | None, tasks: list[Task], sizes: dict[str, int], *,
             parallel: bool, progress: Callable[[int], None] = lambda size: None) -> Pass:
        """Read ``tasks`` and record what is new (``db``: None opens the database once the
        readers are forked)."""
        self.totals.opened |= {task.key for task in tasks}
        parallel = parallel and sum(sizes.values()) >= constants.IMPORT_PARALLEL_BYTES
        work = list(batches(sessions(tasks), sizes, constants.IMPORT_BATCH_BYTES))
        readable = malformed = 0
        shown: list[tuple[Path, int, str]] = []
        read = read_batches(work, clock.now(), self.prices, parallel)
        with contextlib.ExitStack() as stack:
            if db is None:
                # The readers fork on the first batch asked for, before the database opens.
                first = next(read, None)
                db = stack.enter_context(import_database(self.settings.db_path))
                if first is not None:
                    read = _chain(first, read)
            writer = Writer(db, self.chunk, self.totals)
            for batch in read:
                for path, reason in batch.unreadable:
                    click.echo(f"{path}: cannot read: {reason}", err=True)
                readable += len(batch.cursors)
                malformed += batch.malformed
                shown += batch.shown[:max(constants.IMPORT_MALFORMED_SHOWN - len(shown), 0)]
                writer.add(batch)
                self.cursors.update(batch.cursors)
                progress(batch.size)
            writer.flush()
        self.totals.malformed += malformed
        return Pass(readable, malformed, shown)


def _chain(first: Batch, rest: Iterator[Batch]) -> Iterator[Batch]:
    yield first
    yield from rest


def _stop_on_signals(stop: threading.Event) -> None:
    """Ctrl-C and SIGTERM end a ``--follow`` at its next look, with the summary line."""
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: stop.set())


def run_import(settings: Settings, paths: Sequence[Path], *, chunk: int,
               claude_config_dir: str | None, home: Path, full: bool = False,
               follow: bool = False) -> None:
    """``costlog import --format claude-code [PATH]...``: read what is new in the logs and
    write its events, ``chunk`` a transaction; with ``follow``, then keep doing so every
    FOLLOW_POLL_SECONDS until Ctrl-C or SIGTERM. ``claude_config_dir`` is ``CLAUDE_CONFIG_DIR``
    (read by the caller, like ``home``: this module reads no environment)."""
    try:
        prices = load_prices(settings.prices_path)
    except PriceFileError as error:
        raise click.ClickException(str(error)) from None
    roots = list(paths) or [root for root in default_roots(claude_config_dir, home)
                            if root.is_dir()]
    if not roots:
        searched = ", ".join(map(str, default_roots(claude_config_dir, home)))
        raise click.ClickException(f"no Claude Code logs: none of {searched} exists;"
                                   " give the logs folder as PATH")
    found = find_logs(roots)
    for path in found.missing:
        click.echo(f"{path}: no such file or folder", err=True)
    if not found.files and not follow:
        raise click.ClickException(
            f"no Claude Code logs (*{LOG_SUFFIX}) in {', '.join(map(str, roots))}")
    stop = threading.Event()
    if follow:
        _stop_on_signals(stop)
    job = Import(settings, roots, prices, chunk, full)
    with import_database(settings.db_path) as db:
        job.cursors = read_cursors(db)
    started = time.perf_counter()
    tasks, sizes = job.tasks(found)
    with click.progressbar(length=sum(sizes.values()), label="reading Claude Code logs",
                           file=sys.stderr) as bar:
        first = job.read(None, tasks, sizes, parallel=True, progress=bar.update)
    log.debug("read and recorded in %.1f s", time.perf_counter() - started)
    _report_malformed(first.shown, first.malformed)
    if tasks and not first.readable and len(tasks) == len(found.files):
        raise click.ClickException(f"none of the {len(found.files)} log files could be read")
    if follow:
        _follow(job, stop)
    click.echo(job.totals.line(), err=True)


def _follow(job: Import, stop: threading.Event) -> None:
    """Look at the logs every FOLLOW_POLL_SECONDS and record what is new, until ``stop``."""
    with import_database(job.settings.db_path) as db:
        while not stop.wait(constants.FOLLOW_POLL_SECONDS):
            before = (job.totals.new, job.totals.revised)
            tasks, sizes = job.tasks(find_logs(job.roots))
            looked = job.read(db, tasks, sizes, parallel=False)
            _report_malformed(looked.shown, looked.malformed)
            new, revised = job.totals.new - before[0], job.totals.revised - before[1]
            if new or revised:
                log.info("recorded %d new and %d revised events", new, revised)

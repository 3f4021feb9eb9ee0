"""``costlog import --format claude-code``: find and read Claude Code's session logs.

Every file is read before anything is written: a response's copies can sit in different files
(a subagent's log, a resumed session), and which copy wins is only known once all are seen.
The mapping and the copy rules are pure, in :mod:`costlog.domain.claude_code`.
"""

import contextlib
import functools
import gc
import logging
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from pathlib import Path
from typing import NamedTuple

import click

from costlog import clock, constants
from costlog.cli.importer import import_database
from costlog.domain.claude_code import (
    Malformed,
    Response,
    Responses,
    default_roots,
    parse_line,
    project_folder,
)
from costlog.domain.pricing import PriceFileError, PriceTable, load_prices
from costlog.settings import Settings
from costlog.store.write import COLUMNS, event_row, record_rows

log = logging.getLogger("costlog.cli.claude_logs")

LOG_SUFFIX = ".jsonl"
_TIMESTAMP = COLUMNS.index("timestamp")


@dataclass
class Found:
    files: list[Path] = field(default_factory=list)
    missing: list[Path] = field(default_factory=list)


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
    return found


class Priced(NamedTuple):
    """A kept response as its cost_log row (``store.write.event_row``), with what the copy
    rules look at, to be merged with the responses of the other files."""

    message_id: str
    request_id: str
    sidechain: bool
    total: int
    row: tuple


@dataclass
class Part:
    """What reading some of the files gave."""

    # Priced as plain tuples: a reader sends ~160,000 of them for a 500,000-line tree, and
    # plain tuples pickle twice as fast as named ones (five times as fast as dataclasses).
    kept: list[tuple] = field(default_factory=list)
    main_chain: set[str] = field(default_factory=set)  # see Responses.main_chain
    files: int = 0  # files read to the end
    malformed: list[tuple[Path, int, str]] = field(default_factory=list)  # (file, line, reason)
    unreadable: list[tuple[Path, str]] = field(default_factory=list)  # (file, reason)


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


@_without_gc()
def read_part(files: Sequence[Path], now: datetime, prices: PriceTable,
              progress: Callable[[int], None] = lambda size: None) -> Part:
    """The responses of ``files`` (copies merged), priced; ``progress`` is told the bytes of
    each file read. A kept copy that breaks the event contract (a timestamp in the future, a
    project path too long) is one more malformed line."""
    part, responses = Part(), Responses[Response]()
    for path in files:
        folder, session = project_folder(path), path.stem
        size = 0
        try:
            # Bytes: the decoder takes them as they are, and a line that is not UTF-8 is one
            # malformed line rather than an unreadable file.
            with path.open("rb") as stream:
                for number, line in enumerate(stream, start=1):
                    size += len(line)
                    if line.isspace():
                        continue
                    try:
                        response = parse_line(line, folder=folder, session=session,
                                              origin=(path, number))
                    except Malformed as error:
                        part.malformed.append((path, number, str(error)))
                        continue
                    if response is not None:
                        responses.add(response)
        except OSError as error:
            part.unreadable.append((path, error.strerror or str(error)))
            continue
        finally:
            progress(size)
        part.files += 1
    for response in responses.kept():
        try:
            event = response.event(now)
        except Malformed as error:
            part.malformed.append((*response.origin, str(error)))
            continue
        part.kept.append((response.message_id, response.request_id, response.sidechain,
                          response.total, event_row(event, prices)))
    part.main_chain = responses.main_chain
    return part


def split(files: Sequence[Path], sizes: Sequence[int], count: int) -> list[list[Path]]:
    """``files`` cut into at most ``count`` runs of consecutive files of about equal bytes:
    merged in order, the first of equal copies is still the first read."""
    total = sum(sizes) or 1
    runs: list[list[Path]] = [[] for _ in range(count)]
    done = 0
    for path, size in zip(files, sizes, strict=True):
        # By the file's middle: a large file goes with the run it mostly falls in.
        runs[min(count - 1, (2 * done + size) * count // (2 * total))].append(path)
        done += size
    return [run for run in runs if run]


@_without_gc()
def read_all(files: Sequence[Path], now: datetime, prices: PriceTable,
             progress: Callable[[int], None] = lambda size: None) -> Part:
    """The responses of all ``files``, one per event. Large trees are read by one process per
    core, each a run of files at a time, and merged in file order."""
    sizes = [_size(path) for path in files]
    readers = os.cpu_count() or 1
    pool = None
    if readers == 1 or sum(sizes) < constants.IMPORT_PARALLEL_BYTES:
        parts: Iterable[Part] = [read_part(files, now, prices, progress)]
        runs = [list(files)]
    else:
        runs = split(files, sizes, readers * constants.IMPORT_RUNS_PER_READER)
        # Forked: the readers inherit the prices; Ctrl-C is the importer's to handle.
        pool = multiprocessing.get_context("fork").Pool(
            readers, initializer=signal.signal, initargs=(signal.SIGINT, signal.SIG_IGN))
        parts = pool.imap(functools.partial(read_part, now=now, prices=prices), runs)
    merged, responses = Part(), Responses[Priced]()
    size_of = dict(zip(files, sizes, strict=True))
    try:
        for run, part in zip(runs, parts, strict=True):
            responses.add_part(map(Priced._make, part.kept), part.main_chain)
            merged.files += part.files
            merged.malformed += part.malformed
            merged.unreadable += part.unreadable
            if pool is not None:
                progress(sum(size_of[path] for path in run))
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
    merged.kept = list(responses.kept())
    return merged


def _report_malformed(malformed: list[tuple[Path, int, str]]) -> None:
    shown = sorted(malformed, key=lambda item: (str(item[0]), item[1]))
    for path, number, reason in shown[:constants.IMPORT_MALFORMED_SHOWN]:
        click.echo(f"{path}:{number}: {reason}", err=True)
    if len(shown) > constants.IMPORT_MALFORMED_SHOWN:
        click.echo(f"... and {len(shown) - constants.IMPORT_MALFORMED_SHOWN} more malformed"
                   " lines", err=True)


def run_import(settings: Settings, paths: Sequence[Path], *, chunk: int,
               claude_config_dir: str | None, home: Path) -> None:
    """``costlog import --format claude-code [PATH]...``: read every log, then write the events
    in timestamp order, ``chunk`` a transaction. ``claude_config_dir`` is ``CLAUDE_CONFIG_DIR``
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
    if not found.files:
        raise click.ClickException(
            f"no Claude Code logs (*{LOG_SUFFIX}) in {', '.join(map(str, roots))}")
    started = time.perf_counter()
    with click.progressbar(length=sum(_size(path) for path in found.files),
                           label="reading Claude Code logs", file=sys.stderr) as bar:
        read = read_all(found.files, clock.now(), prices, bar.update)
    log.debug("read %d files in %.1f s", read.files, time.perf_counter() - started)
    for path, reason in read.unreadable:
        click.echo(f"{path}: cannot read: {reason}", err=True)
    if not read.files:
        raise click.ClickException(f"none of the {len(found.files)} log files could be read")
    _report_malformed(read.malformed)
    # In timestamp order, as `costlog import` writes any back-fill: each chunk then falls in a
    # narrow slice of every time-keyed index and rollup.
    rows = sorted((priced.row for priced in read.kept), key=itemgetter(_TIMESTAMP))
    new = 0
    started = time.perf_counter()
    with click.progressbar(length=len(rows), label="recording", file=sys.stderr) as bar, \
            import_database(settings.db_path) as db:
        for start in range(0, len(rows), chunk):
            part = rows[start:start + chunk]
            new += record_rows(db, part).inserted
            bar.update(len(part))
    log.debug("recorded %d events in %.1f s", len(rows), time.perf_counter() - started)
    click.echo(f"imported {len(rows)} events ({new} new, {len(rows) - new} already recorded)"
               f" from {read.files} files; {len(read.malformed)} malformed lines skipped",
               err=True)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0  # reported as unreadable when it is read

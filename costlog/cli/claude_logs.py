"""``costlog import --format claude-code``: find and read Claude Code's session logs.

Every file is read before anything is written: a response's copies can sit in different files
(a subagent's log, a resumed session), and which copy wins is only known once all are seen.
The mapping and the copy rules are pure, in :mod:`costlog.domain.claude_code`.
"""

import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from pathlib import Path

import click

from costlog import clock, constants
from costlog.cli.importer import import_database
from costlog.domain.claude_code import (
    Malformed,
    Responses,
    default_roots,
    parse_line,
    project_folder,
)
from costlog.domain.event import CostEvent
from costlog.domain.pricing import PriceFileError, load_prices
from costlog.settings import Settings
from costlog.store.write import COLUMNS, event_row, record_rows

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


@dataclass
class Read:
    """What reading the logs gave."""

    responses: Responses = field(default_factory=Responses)
    files: int = 0  # files read to the end
    malformed: list[tuple[Path, int, str]] = field(default_factory=list)  # (file, line, reason)
    unreadable: list[tuple[Path, str]] = field(default_factory=list)  # (file, reason)


def read_logs(files: Sequence[Path], *,
              progress: Callable[[int], None] = lambda size: None) -> Read:
    """Every response in ``files``; ``progress`` is told the bytes of each file read."""
    read = Read()
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
                        read.malformed.append((path, number, str(error)))
                        continue
                    if response is not None:
                        read.responses.add(response)
        except OSError as error:
            read.unreadable.append((path, error.strerror or str(error)))
            continue
        finally:
            progress(size)
        read.files += 1
    return read


def kept_events(read: Read, now: datetime) -> list[CostEvent]:
    """The event of each response kept; a kept copy that breaks the event contract (a
    timestamp in the future, a project path too long) is one more malformed line."""
    events = []
    for response in read.responses.kept():
        try:
            events.append(response.event(now))
        except Malformed as error:
            path, number = response.origin
            read.malformed.append((path, number, str(error)))
    return events


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
    with click.progressbar(length=sum(_size(path) for path in found.files),
                           label="reading Claude Code logs", file=sys.stderr) as bar:
        read = read_logs(found.files, progress=bar.update)
    for path, reason in read.unreadable:
        click.echo(f"{path}: cannot read: {reason}", err=True)
    if not read.files:
        raise click.ClickException(f"none of the {len(found.files)} log files could be read")
    events = kept_events(read, clock.now())
    _report_malformed(read.malformed)
    # In timestamp order, as `costlog import` writes any back-fill: each chunk then falls in a
    # narrow slice of every time-keyed index and rollup.
    rows = sorted((event_row(event, prices) for event in events), key=itemgetter(_TIMESTAMP))
    new = 0
    with click.progressbar(length=len(rows), label="recording", file=sys.stderr) as bar, \
            import_database(settings.db_path) as db:
        for start in range(0, len(rows), chunk):
            part = rows[start:start + chunk]
            new += record_rows(db, part).inserted
            bar.update(len(part))
    click.echo(f"imported {len(rows)} events ({new} new, {len(rows) - new} already recorded)"
               f" from {read.files} files; {len(read.malformed)} malformed lines skipped",
               err=True)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0  # reported as unreadable when it is read

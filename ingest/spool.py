"""The local spool: where events wait, durably, while Redis cannot be reached.

Layout of the spool directory (0700, files 0600):

- ``spool.jsonl``: the active file. Publishers append to it, one wire event per line, fsynced
  (waited for at most SPOOL_FSYNC_WAIT_SECONDS: see :meth:`Spool.append`).
- ``replay-<ns>-<uuid>.jsonl``: a batch claimed by a replayer. A replay renames the active file
  to a claimed name (atomic), so appends during a replay go to a fresh active file and the
  replay is bounded.
- ``rejected.txt``: raw lines that could not be decoded (a torn last line after a power cut),
  kept for a human rather than dropped silently.

Concurrency: the publisher, the worker and ``costlog spool replay`` may all run at once, in
several processes. Every reader or writer of a file holds ``fcntl.flock`` on it and, once
locked, checks that the path still names the inode it locked; a file is unlinked only while its
lock is held. So an append never lands in a file a replayer has finished with, and each claimed
file is replayed by exactly one replayer. A crash mid-replay leaves the claimed file in place
and the next replayer sends it again: harmless, as ``event_id`` makes the worker idempotent.
"""

import concurrent.futures
import contextlib
import fcntl
import json
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from costlog import constants

log = logging.getLogger("costlog.spool")

ACTIVE_NAME = "spool.jsonl"
CLAIM_PREFIX = "replay-"
CLAIM_SUFFIX = ".jsonl"
REJECTED_NAME = "rejected.txt"
DIR_MODE = 0o700
FILE_MODE = 0o600
DEFAULT_BATCH = constants.SPOOL_REPLAY_BATCH

Send = Callable[[list[dict[str, Any]]], None]

#: Finishes the spool's fsyncs that outlast the caller's wait (joined at interpreter exit).
_fsyncer = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="spool-fsync")


@dataclass(frozen=True)
class SpoolStatus:
    files: int  # spool files holding events (active + claimed)
    events: int  # non-empty lines waiting to be replayed
    bytes: int
    oldest: datetime | None  # earliest event timestamp waiting, UTC
    rejected: int = 0  # lines set aside in the rejected file


def _decode(line: bytes) -> dict[str, Any] | None:
    """The wire event on ``line``, or None when it is not one (torn or corrupt)."""
    try:
        value = json.loads(line)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError both
        return None
    if not isinstance(value, dict) or not isinstance(value.get("event_id"), str):
        return None
    return value


def _event_time(event: dict[str, Any]) -> datetime | None:
    stamp = event.get("timestamp")
    if not isinstance(stamp, str):
        return None
    try:
        parsed = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else None


def _fsync_fd(fd: int) -> None:
    """fsync a duplicated descriptor of a spool file, then close it."""
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _log_fsync_failure(done: concurrent.futures.Future[None]) -> None:
    error = done.exception()
    if error is not None:
        log.error("spool fsync failed (events written, not yet durable): %s", error)


def _fsync_dir(directory: Path) -> None:
    # A new or renamed directory entry survives a power cut only once the directory is synced.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _same_file(handle: BinaryIO, path: Path) -> bool:
    """True if ``path`` still names the (not yet unlinked) file ``handle`` has open."""
    try:
        named = path.stat()
    except FileNotFoundError:
        return False
    opened = os.fstat(handle.fileno())
    return opened.st_nlink > 0 and (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino)


class Spool:
    """A directory of JSON-lines files holding wire events (``CostEvent.to_json()``)."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    @property
    def active_path(self) -> Path:
        return self.directory / ACTIVE_NAME

    @property
    def rejected_path(self) -> Path:
        return self.directory / REJECTED_NAME

    # -- writing ----------------------------------------------------------------------------

    def append(self, events: list[dict[str, Any]]) -> None:
        """Append ``events``: written and flushed to the kernel, then fsynced.

        Once written, the events survive a crash of this process; the fsync makes them survive
        a power cut too. On a busy disk an fsync can take hundreds of milliseconds, which would
        break publish's 150 ms bound (CHANGELOG.md), so the caller waits for it at
        most SPOOL_FSYNC_WAIT_SECONDS and a background thread finishes it.
        """
        if not events:
            return
        data = b"".join(self._encode(event) for event in events)
        self._ensure_dir()
        with self._locked_active() as handle:
            self._end_torn_line(handle)
            handle.write(data)
            handle.flush()
            synced = _fsyncer.submit(_fsync_fd, os.dup(handle.fileno()))
        synced.add_done_callback(_log_fsync_failure)
        with contextlib.suppress(concurrent.futures.TimeoutError):
            synced.result(timeout=constants.SPOOL_FSYNC_WAIT_SECONDS)

    @staticmethod
    def _encode(event: dict[str, Any]) -> bytes:
        # ensure_ascii keeps every line plain ASCII: no line ever splits inside a character.
        return json.dumps(event, separators=(",", ":"), allow_nan=False).encode() + b"\n"

    def _ensure_dir(self) -> None:
        if self.directory.is_dir():
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, DIR_MODE)  # explicit: mkdir's mode is filtered by the umask

    @contextlib.contextmanager
    def _locked_active(self) -> Iterator[BinaryIO]:
        """The active file, opened for append and locked, and still the active file."""
        while True:
            # O_RDWR, not O_WRONLY: _end_torn_line reads the last byte back.
            fd = os.open(self.active_path, os.O_RDWR | os.O_APPEND | os.O_CREAT, FILE_MODE)
            handle = os.fdopen(fd, "ab")
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
                if _same_file(handle, self.active_path):
                    created = os.fstat(handle.fileno()).st_size == 0
                    yield handle
                    if created:
                        _fsync_dir(self.directory)
                    return
                # A replayer claimed (renamed) it between our open and our lock: open afresh.
            finally:
                handle.close()  # closing releases the lock

    @staticmethod
    def _end_torn_line(handle: BinaryIO) -> None:
        """Terminate a torn last line, so the next event is not glued onto it."""
        size = os.fstat(handle.fileno()).st_size
        if size and os.pread(handle.fileno(), 1, size - 1) != b"\n":
            handle.write(b"\n")

    # -- reading ----------------------------------------------------------------------------

    def _spool_files(self) -> list[Path]:
        """Claimed files, oldest first, then the active file."""
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            return []
        claimed = sorted(
            name for name in names if name.startswith(CLAIM_PREFIX) and name.endswith(CLAIM_SUFFIX)
        )
        if ACTIVE_NAME in names:
            claimed.append(ACTIVE_NAME)
        return [self.directory / name for name in claimed]

    def has_pending(self) -> bool:
        """Cheap check (directory listing and stat only): is any event waiting?"""
        for path in self._spool_files():
            with contextlib.suppress(FileNotFoundError):
                if path.stat().st_size > 0:
                    return True
        return False

    def status(self) -> SpoolStatus:
        files = events = size = 0
        oldest: datetime | None = None
        for path in self._spool_files():
            try:
                with path.open("rb") as handle:
                    lines = [line for line in handle if line.strip()]
            except FileNotFoundError:
                continue  # replayed meanwhile
            if not lines:
                continue
            files += 1
            events += len(lines)
            size += sum(len(line) for line in lines)
            for line in lines:
                event = _decode(line)
                stamp = None if event is None else _event_time(event)
                if stamp is not None and (oldest is None or stamp < oldest):
                    oldest = stamp
        return SpoolStatus(files=files, events=events, bytes=size, oldest=oldest,
                           rejected=self._count_rejected())

    def _count_rejected(self) -> int:
        try:
            with self.rejected_path.open("rb") as handle:
                return sum(1 for line in handle if line.strip())
        except FileNotFoundError:
            return 0

    # -- replaying --------------------------------------------------------------------------

    def replay(self, send: Send, batch: int = DEFAULT_BATCH) -> int:
        """Re-publish spooled events through ``send``, ``batch`` at a time; return how many.

        A file is removed only after ``send`` succeeded for all of it. When ``send`` raises, the
        events not yet sent stay in the spool and the exception propagates. Files another
        replayer holds are left to it.
        """
        if batch < 1:
            raise ValueError("batch must be at least 1")
        own = self._claim_active()
        sent = 0
        for path in self._spool_files():
            if path.name == ACTIVE_NAME:
                continue  # appended after our claim: the next replay takes it
            sent += self._replay_file(path, send, batch, wait=path == own)
        return sent

    def _claim_active(self) -> Path | None:
        """Rename the active file to a claimed name; appenders then start a fresh one."""
        # time_ns orders claims oldest first (only a file name, not a business timestamp).
        name = f"{CLAIM_PREFIX}{time.time_ns():020d}-{uuid.uuid4().hex}{CLAIM_SUFFIX}"
        claimed = self.directory / name
        try:
            os.rename(self.active_path, claimed)
        except FileNotFoundError:
            return None
        _fsync_dir(self.directory)
        return claimed

    def _replay_file(self, path: Path, send: Send, batch: int, *, wait: bool) -> int:
        """Replay one file. ``wait``: our own fresh claim, where only an appender that opened
        it just before the rename can hold the lock, briefly; any other held file belongs to
        another replayer and is skipped."""
        try:
            handle = path.open("rb")
        except FileNotFoundError:
            return 0  # another replayer finished it
        with handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                return 0  # another replayer holds it
            if not _same_file(handle, path):
                return 0  # finished (unlinked) or rewritten by another replayer
            return self._send_locked(handle, path, send, batch)

    def _send_locked(self, handle: BinaryIO, path: Path, send: Send, batch: int) -> int:
        """Send ``handle``'s events; unlink ``path`` when all went (the caller holds the lock)."""
        rejected: list[bytes] = []
        pending: list[tuple[bytes, dict[str, Any]]] = []
        sent = 0
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            event = _decode(line)
            if event is None:
                log.warning("spool: line %d of %s is not a valid event (torn or corrupt); "
                            "kept in %s", number, path.name, REJECTED_NAME)
                rejected.append(line)
                continue
            pending.append((line, event))
            if len(pending) >= batch:
                sent += self._send_batch(pending, handle, path, send, rejected)
                pending = []
        if pending:
            sent += self._send_batch(pending, handle, path, send, rejected)
        self._reject(rejected)
        path.unlink()  # while still locked: no other replayer can start on it
        return sent

    def _send_batch(self, pending: list[tuple[bytes, dict[str, Any]]], handle: BinaryIO,
                    path: Path, send: Send, rejected: list[bytes]) -> int:
        try:
            send([event for _, event in pending])
        except BaseException:
            # Keep what was not sent: this batch and the rest of the file, bad lines set aside.
            self._reject(rejected)
            rejected.clear()
            self._rewrite(path, [line for line, _ in pending], handle)
            raise
        return len(pending)

    def _rewrite(self, path: Path, first: list[bytes], rest: BinaryIO) -> None:
        """Atomically replace ``path`` with ``first`` plus the unread rest of ``rest``."""
        tmp = path.with_name(f".tmp-{uuid.uuid4().hex}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        try:
            with os.fdopen(fd, "wb") as out:
                out.writelines(first)
                for line in rest:
                    out.write(line if line.endswith(b"\n") else line + b"\n")
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)  # the original file is intact: nothing lost
            raise
        _fsync_dir(self.directory)

    def _reject(self, lines: list[bytes]) -> None:
        if not lines:
            return
        fd = os.open(self.rejected_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
        with os.fdopen(fd, "ab") as out:
            fcntl.flock(out.fileno(), fcntl.LOCK_EX)
            out.writelines(line if line.endswith(b"\n") else line + b"\n" for line in lines)
            out.flush()
            os.fsync(out.fileno())

"""The local spool: durable appends, exactly-once-per-replayer replay, torn lines kept aside."""

import json
import logging
import stat
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ingest import spool as spool_module
from ingest.spool import ACTIVE_NAME, REJECTED_NAME, Spool, SpoolStatus


def wire(n: int, hour: int = 12) -> dict[str, Any]:
    return {"event_id": f"ev-{n}", "project_id": "p", "task_id": "t", "phase": "implement",
            "timestamp": f"2026-11-20T{hour:02d}:00:00Z", "cost_usd": 0.5}


class Recorder:
    """A ``send`` that records every batch (thread-safe)."""

    def __init__(self) -> None:
        self.batches: list[list[dict[str, Any]]] = []
        self._lock = threading.Lock()

    def __call__(self, events: list[dict[str, Any]]) -> None:
        with self._lock:
            self.batches.append(events)

    @property
    def ids(self) -> list[str]:
        return [event["event_id"] for batch in self.batches for event in batch]


def test_append_status_replay_round_trip(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    spool.append([wire(1, hour=9), wire(2, hour=8)])
    spool.append([wire(3)])

    status = spool.status()
    assert status.files == 1
    assert status.events == 3
    assert status.bytes == (spool.directory / ACTIVE_NAME).stat().st_size
    assert status.oldest == datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    assert status.rejected == 0
    assert spool.has_pending()

    send = Recorder()
    assert spool.replay(send, batch=2) == 3
    assert [len(batch) for batch in send.batches] == [2, 1]
    assert send.batches[0] == [wire(1, hour=9), wire(2, hour=8)]
    assert send.ids == ["ev-1", "ev-2", "ev-3"]
    assert spool.status() == SpoolStatus(files=0, events=0, bytes=0, oldest=None, rejected=0)
    assert not spool.has_pending()
    assert spool.replay(send) == 0


def test_empty_spool(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "missing")
    assert spool.status() == SpoolStatus(files=0, events=0, bytes=0, oldest=None, rejected=0)
    assert not spool.has_pending()
    assert spool.replay(Recorder()) == 0
    spool.append([])
    assert not spool.directory.exists()


def test_each_line_is_one_wire_event(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append([wire(1), wire(2)])
    lines = (tmp_path / ACTIVE_NAME).read_text().splitlines()
    assert [json.loads(line) for line in lines] == [wire(1), wire(2)]


def test_failed_send_loses_nothing(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append([wire(n) for n in range(5)])

    def down(events: list[dict[str, Any]]) -> None:
        raise ConnectionError("redis down")

    with pytest.raises(ConnectionError):
        spool.replay(down)
    assert spool.status().events == 5

    send = Recorder()
    assert spool.replay(send) == 5
    assert send.ids == [f"ev-{n}" for n in range(5)]
    assert spool.status().events == 0


def test_failure_mid_file_keeps_only_the_unsent(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append([wire(n) for n in range(5)])
    sent: list[str] = []

    def second_batch_fails(events: list[dict[str, Any]]) -> None:
        if sent:
            raise TimeoutError("redis hung")
        sent.extend(event["event_id"] for event in events)

    with pytest.raises(TimeoutError):
        spool.replay(second_batch_fails, batch=2)
    assert sent == ["ev-0", "ev-1"]
    assert spool.status().events == 3

    send = Recorder()
    assert spool.replay(send) == 3
    assert send.ids == ["ev-2", "ev-3", "ev-4"]


def test_torn_last_line_is_kept_aside_and_good_lines_replay(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = Spool(tmp_path)
    spool.append([wire(1), wire(2)])
    torn = b'{"event_id":"ev-3","project_id":"p","ta'
    with (tmp_path / ACTIVE_NAME).open("ab") as handle:  # a power cut mid-write
        handle.write(torn)
    assert spool.status().events == 3

    send = Recorder()
    with caplog.at_level(logging.WARNING, logger="costlog.spool"):
        assert spool.replay(send) == 2
    assert send.ids == ["ev-1", "ev-2"]
    assert (tmp_path / REJECTED_NAME).read_bytes() == torn + b"\n"
    assert "line 3" in caplog.text
    assert REJECTED_NAME in caplog.text
    assert spool.status() == SpoolStatus(files=0, events=0, bytes=0, oldest=None, rejected=1)


def test_append_after_torn_line_starts_a_new_line(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append([wire(1)])
    with (tmp_path / ACTIVE_NAME).open("ab") as handle:
        handle.write(b'{"event_id":"ev-')
    spool.append([wire(2)])

    send = Recorder()
    assert spool.replay(send) == 2
    assert send.ids == ["ev-1", "ev-2"]
    assert (tmp_path / REJECTED_NAME).read_bytes() == b'{"event_id":"ev-\n'


def test_undecodable_lines_are_rejected(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    (tmp_path / ACTIVE_NAME).write_bytes(
        b"not json\n" + json.dumps(wire(1)).encode() + b"\n[1, 2]\n\xff\xfe\n{\"no_id\": 1}\n"
    )
    send = Recorder()
    assert spool.replay(send) == 1
    assert send.ids == ["ev-1"]
    rejected = (tmp_path / REJECTED_NAME).read_bytes().splitlines()
    assert rejected == [b"not json", b"[1, 2]", b"\xff\xfe", b'{"no_id": 1}']


def test_concurrent_replayers_send_each_event_exactly_once(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    per_replayer: dict[str, Recorder] = {"a": Recorder(), "b": Recorder()}
    appending = threading.Event()
    appending.set()

    def replayer(name: str) -> None:
        # Keep replaying while appends go on: claims race with appends and with each other.
        while appending.is_set():
            Spool(tmp_path).replay(per_replayer[name], batch=7)

    threads = [threading.Thread(target=replayer, args=(name,)) for name in per_replayer]
    for thread in threads:
        thread.start()
    for n in range(300):
        spool.append([wire(n)])
    appending.clear()
    for thread in threads:
        thread.join()
    final = Recorder()
    spool.replay(final)  # whatever was appended after the last claim

    sent = per_replayer["a"].ids + per_replayer["b"].ids + final.ids
    assert sorted(sent) == sorted(f"ev-{n}" for n in range(300))
    assert len(sent) == 300
    assert spool.status().events == 0


def test_two_replayers_of_one_claimed_file(tmp_path: Path) -> None:
    """A slow replayer holds its file; the other skips it instead of sending it again."""
    spool = Spool(tmp_path)
    spool.append([wire(n) for n in range(4)])
    inside = threading.Event()
    release = threading.Event()
    first = Recorder()

    def slow(events: list[dict[str, Any]]) -> None:
        first(events)
        inside.set()
        release.wait(5)

    thread = threading.Thread(target=spool.replay, args=(slow,))
    thread.start()
    assert inside.wait(5)
    second = Recorder()
    assert Spool(tmp_path).replay(second) == 0
    release.set()
    thread.join(5)
    assert first.ids == ["ev-0", "ev-1", "ev-2", "ev-3"]
    assert second.ids == []
    assert spool.status().events == 0


def test_permissions(tmp_path: Path) -> None:
    directory = tmp_path / "deep" / "spool"
    spool = Spool(directory)
    spool.append([wire(1)])
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE((directory / ACTIVE_NAME).stat().st_mode) == 0o600

    (directory / ACTIVE_NAME).open("ab").write(b"torn")
    spool.replay(Recorder())
    assert stat.S_IMODE((directory / REJECTED_NAME).stat().st_mode) == 0o600


def test_append_returns_before_a_slow_fsync_finishes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    # A busy disk: the spool file's fsync blocks until the test lets it go, then fails.
    release, synced = threading.Event(), threading.Event()
    real_fsync = spool_module.os.fsync

    def slow_fsync(fd: int) -> None:
        if stat.S_ISREG(spool_module.os.fstat(fd).st_mode):
            assert release.wait(10)
            synced.set()
            raise OSError(5, "Input/output error")
        real_fsync(fd)

    monkeypatch.setattr(spool_module.os, "fsync", slow_fsync)
    spool = Spool(tmp_path / "spool")
    spool.append([wire(1)])  # returns after its bounded wait, the fsync still pending
    assert not synced.is_set()
    # Written to the kernel already: another process reads it (and a crash keeps it).
    lines = (spool.directory / ACTIVE_NAME).read_bytes().splitlines()
    assert [json.loads(line) for line in lines] == [wire(1)]
    with caplog.at_level(logging.ERROR, logger="costlog.spool"):
        release.set()
        spool_module._fsyncer.submit(lambda: None).result(timeout=10)  # the queue drained
    assert synced.is_set()
    assert "spool fsync failed (events written, not yet durable): [Errno 5] Input/output error" \
        in caplog.text

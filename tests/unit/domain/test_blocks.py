"""5-hour blocks from hourly usage: where each starts and ends, and the active block's burn
rate and projection."""

from datetime import UTC, datetime, timedelta

import pytest

from costlog.domain.blocks import Block, HourUsage, form_blocks


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def usage(first: str, model: str = "m", nanos: int = 1) -> HourUsage:
    moment = at(first)
    return HourUsage(hour=moment.replace(minute=0, second=0), first=moment, model_id=model,
                     sums=[1, 2, 3, 4, 10, nanos])


@pytest.mark.parametrize(("events", "starts"), [
    # one block: floored to the hour, 5 hours long; 13:59 is still inside
    (["2026-11-10 09:40", "2026-11-10 11:00", "2026-11-10 13:59"], ["2026-11-10 09:00"]),
    # the first event at the end starts the next block, at its own hour
    (["2026-11-10 09:40", "2026-11-10 14:00"], ["2026-11-10 09:00", "2026-11-10 14:00"]),
    # a gap: the next block starts at the next event's hour, not at the previous end
    (["2026-11-10 09:40", "2026-11-10 16:25"], ["2026-11-10 09:00", "2026-11-10 16:00"]),
    # across midnight
    (["2026-11-10 22:59", "2026-11-11 02:30", "2026-11-11 03:00"],
     ["2026-11-10 22:00", "2026-11-11 03:00"]),
    ([], []),
])
def test_block_edges(events: list[str], starts: list[str]) -> None:
    blocks = form_blocks(map(usage, events))
    assert [block.start for block in blocks] == [at(start) for start in starts]
    assert [block.end - block.start for block in blocks] == [timedelta(hours=5)] * len(starts)


def test_a_block_sums_its_hours_per_model_id() -> None:
    (block,) = form_blocks([usage("2026-11-10 09:40", "a", 5), usage("2026-11-10 09:10", "b", 7),
                            usage("2026-11-10 12:05", "a", 11)])
    assert block.first == at("2026-11-10 09:10")
    assert block.sums == [3, 6, 9, 12, 30, 23]
    assert block.by_model_id == {"a": [2, 4, 6, 8, 20, 16], "b": [1, 2, 3, 4, 10, 7]}


@pytest.mark.parametrize(("now", "active", "minutes", "rate", "projected"), [
    # 2 hours after the first event (09:30), 2.5 hours left: $3 over 2 h = $1.5/h
    ("2026-11-10 11:30", True, 150, 1.5e9, 3e9 + 1.5e9 * 2.5),
    ("2026-11-10 09:00", True, 300, 3e9 * 60, 3e9 + 3e9 * 60 * 5),  # before the first event
    ("2026-11-10 09:30:30", True, 269, 3e9 * 60, 3e9 + 3e9 * 60 * 269.5 / 60),  # < 1 minute
    ("2026-11-10 14:00", False, 0, 3e9 / 4.5, 3e9),  # ended: nothing left to project
])
def test_burn_rate_and_projection(now: str, active: bool, minutes: int, rate: float,
                                  projected: float) -> None:
    block = Block(start=at("2026-11-10 09:00"), first=at("2026-11-10 09:30"),
                  sums=[0, 0, 0, 0, 0, 3 * 10**9])
    moment = at(now)
    assert block.active(moment) is active
    assert block.minutes_left(moment) == minutes
    assert block.burn_rate_nanos(moment) == pytest.approx(rate)
    assert block.projected_nanos(moment) == pytest.approx(projected)

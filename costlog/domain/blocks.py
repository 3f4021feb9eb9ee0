"""5-hour usage blocks, as Claude plans count their limits: pure, no I/O.

A block starts at its first event's timestamp floored to the UTC hour and ends
``BLOCK_HOURS`` later; the first event at or after that end starts the next block. A block's
edges are whole UTC hours, so sums per UTC hour are all a block needs: :func:`form_blocks`
gathers them, in order of hour, into blocks.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

BLOCK_HOURS = 5
BLOCK = timedelta(hours=BLOCK_HOURS)
#: The least time a burn rate is taken over: at a block's first event the rate would
#: otherwise be that event's cost over no time at all.
MIN_BURN_SPAN = timedelta(minutes=1)
HOUR_SECONDS = 3600


@dataclass(frozen=True)
class HourUsage:
    """The events of one raw model id in one UTC hour: their first timestamp and their sums
    (the four token kinds, total tokens, nano-USD: any list of counts whose last is the cost)."""

    hour: datetime  # the hour's start
    first: datetime
    model_id: str
    sums: list[int]


@dataclass
class Block:
    start: datetime
    first: datetime  # its first event's timestamp
    sums: list[int] = field(default_factory=list)
    by_model_id: dict[str, list[int]] = field(default_factory=dict)

    @property
    def end(self) -> datetime:
        return self.start + BLOCK

    @property
    def cost_nanos(self) -> int:
        return self.sums[-1] if self.sums else 0

    def active(self, now: datetime) -> bool:
        """Whether ``now`` is inside the block: the block that holds now."""
        return self.start <= now < self.end

    def minutes_left(self, now: datetime) -> int:
        """Whole minutes from ``now`` to the block's end (0 once it ended)."""
        return max(int((self.end - now).total_seconds() // 60), 0)

    def burn_rate_nanos(self, now: datetime) -> float:
        """Nano-USD per hour, from the block's first event to ``now``."""
        span = max(now - self.first, MIN_BURN_SPAN)
        return self.cost_nanos * HOUR_SECONDS / span.total_seconds()

    def projected_nanos(self, now: datetime) -> float:
        """The block's cost at its end, should it go on at its burn rate."""
        left = max(self.end - now, timedelta(0))
        return self.cost_nanos + self.burn_rate_nanos(now) * left.total_seconds() / HOUR_SECONDS

    def add(self, usage: HourUsage) -> None:
        self.first = min(self.first, usage.first)
        if not self.sums:
            self.sums = [0] * len(usage.sums)
        part = self.by_model_id.setdefault(usage.model_id, [0] * len(usage.sums))
        for index, value in enumerate(usage.sums):
            self.sums[index] += value
            part[index] += value


def floor_hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def form_blocks(hours: Iterable[HourUsage]) -> list[Block]:
    """The blocks the usage of ``hours`` (in order of hour) forms, oldest first."""
    blocks: list[Block] = []
    for usage in hours:
        if not blocks or usage.hour >= blocks[-1].end:
            blocks.append(Block(start=floor_hour(usage.hour), first=usage.first))
        blocks[-1].add(usage)
    return blocks

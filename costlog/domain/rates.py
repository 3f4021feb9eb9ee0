"""A model's prices and what they make of one event's counts. Pure.

Rates are USD per million tokens, web searches USD per 1,000 requests. costlog's counts are
apart: ``input_tokens`` are the uncached ones, each kind of cache token has its own count and
its own rate, and a 1-hour write is part of ``cache_creation_tokens``.
"""

import math
from dataclasses import dataclass
from typing import NamedTuple

#: The parts of a computed cost, in the order they are stored and shown.
PARTS = ("input", "output", "cache_read", "cache_write", "cache_write_1h", "web_search")


@dataclass(frozen=True, slots=True)
class Rates:
    """The rate of each dimension an event carries."""

    input: float
    output: float
    cache_write: float  # 5-minute writes
    cache_read: float
    cache_write_1h: float
    web_search: float = 0.0  # per 1,000 requests


@dataclass(frozen=True, slots=True)
class Tier:
    """Rates for the whole request when its whole input (uncached + cache read + cache write)
    exceeds ``above_input_tokens`` (the vendors' long-context prices)."""

    above_input_tokens: int
    rates: Rates


@dataclass(frozen=True, slots=True)
class Price:
    """A model's prices at one time, and which source gives them (``price_source``)."""

    rates: Rates
    source: str
    #: What the source priced: the catalogue's provider and model, or the override file's key.
    matched: str = ""
    tiers: tuple[Tier, ...] = ()  # ascending thresholds

    def rates_for(self, whole_input: int) -> Rates:
        """The rates of a request whose whole input is ``whole_input`` tokens."""
        rates = self.rates
        for tier in self.tiers:
            if whole_input > tier.above_input_tokens:
                rates = tier.rates
        return rates


class CostParts(NamedTuple):
    """A computed cost in USD by dimension; ``cost_usd`` is their exact (``math.fsum``) sum."""

    input: float
    output: float
    cache_read: float
    cache_write: float
    cache_write_1h: float
    web_search: float

    @property
    def total(self) -> float:
        return math.fsum(self)


def cost_parts(price: Price, *, input_tokens: int, output_tokens: int, cache_creation_tokens: int,
               cache_read_tokens: int, cache_creation_1h_tokens: int = 0,
               web_search_requests: int = 0) -> CostParts:
    """The cost of one request's counts at ``price``, by dimension."""
    rates = price.rates_for(input_tokens + cache_read_tokens + cache_creation_tokens)
    return CostParts(
        input=input_tokens * rates.input / 1e6,
        output=output_tokens * rates.output / 1e6,
        cache_read=cache_read_tokens * rates.cache_read / 1e6,
        cache_write=(cache_creation_tokens - cache_creation_1h_tokens) * rates.cache_write / 1e6,
        cache_write_1h=cache_creation_1h_tokens * rates.cache_write_1h / 1e6,
        web_search=web_search_requests * rates.web_search / 1e3,
    )

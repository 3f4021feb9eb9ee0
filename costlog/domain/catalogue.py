"""Prices from the ``genai-prices`` catalogue, and costlog's corrections to it.

Pure: the catalogue is the package's bundled data (costlog never starts its network update).
:func:`catalogue_price` turns the catalogue's price of a model at an instant into a
:class:`~costlog.domain.rates.Price` in costlog's terms. The catalogue counts ``input_tokens``
*including* cache reads and writes and prices each kind of token at the most specific rate it
gives; a :class:`~costlog.domain.rates.Rates` prices each of costlog's (separate) counts at its
own rate, so a rate the catalogue leaves out is the one the catalogue would charge instead.
"""

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any

from costlog.domain.rates import Price, Rates, Tier

if TYPE_CHECKING:
    from genai_prices.types import ModelInfo, ModelPrice, Provider, TieredPrices

# The catalogue (pydantic models of every provider's prices) takes about a quarter of a second
# to load: it is imported on the first price looked up, so a command that prices nothing (an
# import with nothing new, the status line) never pays for it.

CORRECTION_SOURCE = "costlog correction"


@cache
def catalogue_source() -> str:
    """``genai-prices <version>``: the price source of a row the catalogue priced."""
    import genai_prices

    return f"genai-prices {genai_prices.__version__}"

#: costlog's providers that are the catalogue's under another name, and where else to look: a
#: Claude model id in the Bedrock form (``anthropic.claude-…-v1:0``) is priced by AWS.
PROVIDER_IDS: Mapping[str, tuple[str, ...]] = {"": ("anthropic", "aws"),
                                               "claude": ("anthropic", "aws")}

#: The catalogue's price keys of each of costlog's dimensions.
_KEYS = (("input", "input_mtok"), ("output", "output_mtok"), ("cache_write", "cache_write_mtok"),
         ("cache_read", "cache_read_mtok"), ("cache_write_1h", "cache_write_1h_mtok"),
         ("web_search", "web_searches_kcount"))


@dataclass(frozen=True)
class Correction:
    """A long-context tier the catalogue lacks for one of its models (by provider and the
    catalogue's model id), added while the catalogue's price of it has no tier of its own."""

    provider: str
    model: str
    tier: Tier


#: Prices the catalogue is known to get wrong.
CORRECTIONS: tuple[Correction, ...] = (
    # Anthropic's pricing page (docs.claude.com/en/docs/about-claude/pricing#long-context-pricing):
    # Sonnet 4 above 200k input tokens is $6/$22.50 per million, its cache rates doubled.
    Correction("anthropic", "claude-sonnet-4-0", Tier(
        above_input_tokens=200_000,
        rates=Rates(input=6.0, output=22.5, cache_write=7.5, cache_read=0.6, cache_write_1h=12.0,
                    web_search=10.0))),
)


class CatalogueModel:
    """One model of the catalogue, as one provider sells it."""

    def __init__(self, provider: "Provider", model: "ModelInfo") -> None:
        from genai_prices.types import TimeOfDateConstraint

        self.provider = provider
        self.model = model
        conditions = model.prices if isinstance(model.prices, list) else []
        #: The constraints by time of day (off-peak hours) its price changes with within a day.
        self._hours = tuple(c.constraint for c in conditions
                            if isinstance(c.constraint, TimeOfDateConstraint))
        self._corrections = tuple(c for c in CORRECTIONS
                                  if (c.provider, c.model) == (provider.id, model.id))

    def period(self, at: datetime) -> tuple:
        """What its price at ``at`` depends on: the UTC day and, for a price that changes within
        the day, which of those hours ``at`` falls in."""
        return (at.date(), *(hours.active(at) for hours in self._hours))

    @property
    def name(self) -> str:
        return f"{self.provider.id} {self.model.id}"

    def price(self, at: datetime, service_tier: str = "") -> Price:
        """The price in force at ``at`` (aware) for a response of ``service_tier``."""
        context = _price_context(service_tier)
        price = _price(self.model.get_prices(at, context), catalogue_source(), self.name)
        for correction in self._corrections:
            if not price.tiers:
                price = replace(price, tiers=(correction.tier,), source=CORRECTION_SOURCE)
        return price


def _price_context(service_tier: str) -> dict[str, str] | None:
    """What the catalogue selects a price variant by: the service tier, and a batch response's
    processing (how the catalogue names Anthropic's batch prices)."""
    if not service_tier:
        return None
    context = {"service_tier": service_tier}
    if service_tier == "batch":
        context["processing"] = "batch"
    return context


def _rate(value: "Decimal | TieredPrices | None", above: int | None) -> float | None:
    """A price key's rate for a request whose whole input exceeds ``above`` (None: the base)."""
    from genai_prices.types import TieredPrices

    if value is None:
        return None
    if not isinstance(value, TieredPrices):
        return float(value)
    rate = value.base
    for tier in value.tiers:
        if above is not None and tier.start <= above:
            rate = tier.price
    return float(rate)


def _rates(model_price: "ModelPrice", above: int | None) -> Rates:
    given: dict[str, float | None] = {
        name: _rate(getattr(model_price, key), above) for name, key in _KEYS}
    base = given["input"] or 0.0
    # What the catalogue charges a kind of token it has no rate for: the rate of the broader
    # kind it is part of (a 1-hour write is a cache write, a cache write or read is input).
    write = base if given["cache_write"] is None else given["cache_write"]
    return Rates(
        input=base, output=given["output"] or 0.0, cache_write=write,
        cache_read=base if given["cache_read"] is None else given["cache_read"],
        cache_write_1h=write if given["cache_write_1h"] is None else given["cache_write_1h"],
        web_search=given["web_search"] or 0.0,
    )


def _price(model_price: "ModelPrice", source: str, matched: str) -> Price:
    from genai_prices.types import TieredPrices

    starts = sorted({tier.start for _, key in _KEYS
                     if isinstance(value := getattr(model_price, key), TieredPrices)
                     for tier in value.tiers})
    return Price(rates=_rates(model_price, None), source=source, matched=matched,
                 tiers=tuple(Tier(start, _rates(model_price, start)) for start in starts))


@lru_cache(maxsize=4096)
def find_model(model_id: str, provider: str = "") -> CatalogueModel | None:
    """The catalogue's model for ``model_id`` (any case) sold by ``provider`` (costlog's name:
    ``claude`` or empty is Anthropic), or None when the catalogue does not know it."""
    from genai_prices import data_snapshot

    snapshot = data_snapshot.get_snapshot()
    lowered = provider.lower()
    for provider_id in PROVIDER_IDS.get(lowered, (lowered,)):
        found = _find(snapshot, model_id.lower(), provider_id)
        if found is not None:
            return CatalogueModel(*found)
    return None


def _find(snapshot: Any, model_id: str,
          provider_id: str) -> "tuple[Provider, ModelInfo] | None":
    if not model_id:
        return None
    try:
        return snapshot.find_provider_model(model_id, None, provider_id, None)
    except LookupError:
        return None

"""Model prices and the cost of an event.

Pure, except :func:`load_prices`, which reads the optional override file (``COSTLOG_PRICES``).
All prices are USD per million tokens.
"""

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from costlog.constants import (
    COST_COMPUTED,
    COST_REPORTED,
    COST_UNPRICED,
    DEFAULT_PROVIDER,
    MAX_COST_USD,
)
from costlog.domain.event import CostEvent
from costlog.errors import CostlogError

#: The override-file key used when nothing else matches.
FALLBACK_KEY = "*"
#: Largest accepted price in an override file (USD per million tokens).
MAX_PRICE: float = MAX_COST_USD
PRICE_FIELDS = ("input", "output", "cache_write", "cache_read")
#: Default cache rates relative to the input price when the override file leaves them out.
CACHE_WRITE_FACTOR = 1.25
CACHE_READ_FACTOR = 0.1


@dataclass(frozen=True)
class Price:
    """List price in USD per million tokens."""

    input: float
    output: float
    cache_write: float
    cache_read: float


_OPUS_NEW = Price(5.0, 25.0, 6.25, 0.50)
_OPUS_OLD = Price(15.0, 75.0, 18.75, 1.50)
_SONNET = Price(3.0, 15.0, 3.75, 0.30)
_HAIKU_4_5 = Price(1.0, 5.0, 1.25, 0.10)
_HAIKU_3_5 = Price(0.80, 4.0, 1.0, 0.08)
_HAIKU_3 = Price(0.25, 1.25, 0.30, 0.03)

#: Anthropic public list prices (cache write = the 5-minute rate). Keys are substrings of the
#: lower-cased model id; the longest matching key wins. The bare family names price unknown
#: (newer) versions at the newest model's price, so old versions are listed explicitly.
BUILTIN_PRICES: Mapping[str, Price] = {
    "opus": _OPUS_NEW,
    "opus-4-5": _OPUS_NEW,
    "opus-4.5": _OPUS_NEW,
    "opus-4-1": _OPUS_OLD,
    "opus-4.1": _OPUS_OLD,
    "opus-4": _OPUS_OLD,
    "opus-4-0": _OPUS_OLD,
    "opus-4.0": _OPUS_OLD,
    "claude-3-opus": _OPUS_OLD,
    "sonnet": _SONNET,
    "haiku": _HAIKU_4_5,
    "haiku-4-5": _HAIKU_4_5,
    "haiku-4.5": _HAIKU_4_5,
    "3-5-haiku": _HAIKU_3_5,
    "3.5-haiku": _HAIKU_3_5,
    "haiku-3-5": _HAIKU_3_5,
    "haiku-3.5": _HAIKU_3_5,
    "claude-3-haiku": _HAIKU_3,
    "haiku-3": _HAIKU_3,
}

# After a key ending in a digit, these mean the id names a later minor version ("opus-4" must
# not match "opus-4-5" or "opus-4.7"); a date ("-20250514"), "@…" or "-v1:0" does not.
_VERSION_CONTINUES = re.compile(r"\d|[-.]\d(?!\d)")


class PriceFileError(CostlogError, ValueError):
    """The price override file is unreadable or malformed."""


def _pattern_matches(pattern: str, lowered: str) -> bool:
    """Substring match; a key ending in a digit must not run on into a further version digit."""
    start = lowered.find(pattern)
    while start != -1:
        rest = lowered[start + len(pattern):]
        if not pattern[-1].isdigit() or not _VERSION_CONTINUES.match(rest):
            return True
        start = lowered.find(pattern, start + 1)
    return False


# Each model id is matched against every pattern once, not once per event.
@lru_cache(maxsize=1024)
def builtin_price(model_id: str) -> Price | None:
    """The built-in (Anthropic) price for ``model_id``: most specific pattern wins."""
    lowered = model_id.lower()
    matches = [p for p in BUILTIN_PRICES if _pattern_matches(p, lowered)]
    if not matches:
        return None
    return BUILTIN_PRICES[max(matches, key=lambda p: (len(p), p))]


class PriceTable:
    """The built-in table plus optional overrides keyed by lower-cased model-id prefix."""

    def __init__(self, overrides: Mapping[str, Price] | None = None) -> None:
        entries = {key.lower(): price for key, price in (overrides or {}).items()}
        self._fallback: Price | None = entries.pop(FALLBACK_KEY, None)
        self._prefixes: list[tuple[str, Price]] = sorted(
            entries.items(), key=lambda item: (-len(item[0]), item[0])
        )

    def lookup(self, model_id: str, provider: str = "") -> Price | None:
        """Price for ``model_id``: override prefix, else built-in (Claude only), else ``"*"``."""
        lowered = (model_id or "").lower()
        for prefix, price in self._prefixes:
            if lowered.startswith(prefix):
                return price
        if (provider or "").lower() in ("", DEFAULT_PROVIDER):
            price = builtin_price(lowered)
            if price is not None:
                return price
        return self._fallback


def cost_of(event: CostEvent, table: PriceTable) -> tuple[float, str]:
    """``(cost_usd, cost_source)``: reported cost wins, else computed, else ``(0.0, unpriced)``.

    Cache tokens are priced once, at their own rates; ``input_tokens`` are the uncached ones.
    """
    if event.cost_usd is not None:
        return event.cost_usd, COST_REPORTED
    price = table.lookup(event.model, event.provider)
    if price is None:
        return 0.0, COST_UNPRICED
    cost = math.fsum((
        event.input_tokens * price.input,
        event.output_tokens * price.output,
        event.cache_creation_tokens * price.cache_write,
        event.cache_read_tokens * price.cache_read,
    )) / 1e6
    return cost, COST_COMPUTED


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _Duplicate(key)
        seen[key] = value
    return seen


class _Duplicate(CostlogError):
    def __init__(self, key: str) -> None:
        self.key = key


def _rate(path: Path, key: str, entry: dict[str, Any], name: str) -> float | None:
    value = entry.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        kind = "boolean" if isinstance(value, bool) else type(value).__name__
        kind = {"str": "string", "list": "array", "dict": "object"}.get(kind, kind)
        raise PriceFileError(f"{path}: {key!r}: {name!r} must be a number, got {kind}")
    if not math.isfinite(value) or not 0 <= value <= MAX_PRICE:
        raise PriceFileError(
            f"{path}: {key!r}: {name!r} must be a number from 0 to {MAX_PRICE:.0f}, got {value}"
        )
    return float(value)


def _parse_entry(path: Path, key: str, entry: Any) -> Price:
    if not isinstance(entry, dict):
        raise PriceFileError(
            f"{path}: {key!r}: must be an object with input, output, cache_write, cache_read"
        )
    unknown = sorted(set(entry) - set(PRICE_FIELDS))
    if unknown:
        raise PriceFileError(f"{path}: {key!r}: unknown field {unknown[0]!r}")
    rates = {name: _rate(path, key, entry, name) for name in PRICE_FIELDS}
    base, output, write, read = (rates[name] for name in PRICE_FIELDS)
    if base is None:
        raise PriceFileError(f"{path}: {key!r}: 'input' is required")
    if output is None:
        raise PriceFileError(f"{path}: {key!r}: 'output' is required")
    return Price(
        input=base,
        output=output,
        cache_write=base * CACHE_WRITE_FACTOR if write is None else write,
        cache_read=base * CACHE_READ_FACTOR if read is None else read,
    )


def parse_prices(path: Path, data: Any) -> dict[str, Price]:
    """Validate decoded override-file JSON; errors name ``path`` and the bad key/field."""
    if not isinstance(data, dict):
        raise PriceFileError(f"{path}: must be a JSON object mapping model-id prefixes to prices")
    prices: dict[str, Price] = {}
    for key, entry in data.items():
        if not key:
            raise PriceFileError(
                f"{path}: '': model-id prefix must not be empty (use '*' for the fallback)"
            )
        if key.lower() in prices:
            raise PriceFileError(f"{path}: {key!r}: duplicate model-id prefix (ignoring case)")
        prices[key.lower()] = _parse_entry(path, key, entry)
    return prices


def load_prices(path: Path | None) -> PriceTable:
    """The price table: built-in only when ``path`` is None, else with the file's overrides."""
    if path is None:
        return PriceTable()
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise PriceFileError(f"{path}: cannot read price file: {reason}") from None
    try:
        data = json.loads(text, object_pairs_hook=_reject_duplicates)
    except json.JSONDecodeError as exc:
        raise PriceFileError(
            f"{path}: invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    except _Duplicate as dup:
        raise PriceFileError(f"{path}: duplicate key {dup.key!r}") from None
    return PriceTable(parse_prices(path, data))

"""The cost of an event, from its price sources in order.

1. ``cost_usd`` reported on the event wins, unchanged.
2. The override file (``COSTLOG_PRICES``): lower-cased model-id prefixes, longest first.
3. The ``genai-prices`` catalogue, with costlog's corrections to it (:mod:`catalogue`).
4. The override file's ``"*"``: a model neither its other keys nor the catalogue know.

Pure, except :func:`load_prices`, which reads the override file. Rates are USD per million
tokens, web searches USD per 1,000 requests (:mod:`costlog.domain.rates`).
"""

import hashlib
import json
import math
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

from costlog.constants import COST_COMPUTED, COST_REPORTED, COST_UNPRICED, MAX_COST_USD
from costlog.domain import catalogue
from costlog.domain.event import CostEvent
from costlog.domain.rates import CostParts, Price, Rates, Tier, cost_parts
from costlog.errors import CostlogError

#: The override-file key used when nothing else knows the model.
FALLBACK_KEY = "*"
#: Largest accepted price in an override file.
MAX_PRICE: float = MAX_COST_USD
PRICE_FIELDS = ("input", "output", "cache_write", "cache_read", "cache_write_1h", "web_search")
LONG_CONTEXT = "long_context"
LONG_CONTEXT_FIELDS = ("above_input_tokens", "input", "output", "cache_write", "cache_write_1h",
                       "cache_read")
#: Cache rates relative to the input rate when the override file leaves them out (Anthropic's:
#: a 5-minute write 1.25x, a 1-hour write 2x, a read 0.1x); web searches are then not charged.
CACHE_WRITE_FACTOR = 1.25
CACHE_WRITE_1H_FACTOR = 2.0
CACHE_READ_FACTOR = 0.1
OVERRIDE_SOURCE = "override"
#: Characters of the override file's SHA-256 in its price_source.
OVERRIDE_DIGEST_CHARS = 12
#: Distinct (model id, provider, service tier) kept resolved; past it the memo starts anew.
MEMO_MAX = 10_000


class Priced(NamedTuple):
    """How an event is costed: ``parts`` and ``price_source`` for a computed cost only. (A
    tuple: one is made per event written.)"""

    cost_usd: float
    cost_source: str
    price_source: str = ""
    parts: CostParts | None = None


class _Fixed:
    """A price that does not change with time: an override's, or none."""

    __slots__ = ("_price",)

    def __init__(self, price: Price | None) -> None:
        self._price = price

    def price(self, at: datetime, service_tier: str) -> Price | None:
        return self._price


class _Dated:
    """A catalogue model's prices, resolved once per UTC day (and hours of the day, for a model
    whose price changes within a day) and service tier."""

    __slots__ = ("_model", "_prices")

    def __init__(self, model: catalogue.CatalogueModel) -> None:
        self._model = model
        self._prices: dict[tuple[tuple, str], Price] = {}

    def price(self, at: datetime, service_tier: str) -> Price | None:
        key = (self._model.period(at), service_tier)
        found = self._prices.get(key)
        if found is None:
            found = self._prices[key] = self._model.price(at, service_tier)
        return found


class PriceTable:
    """The override file's prices (keyed by lower-cased model-id prefix) before the catalogue's.

    ``overrides_source`` is the ``price_source`` of the override file's prices.
    """

    def __init__(self, overrides: Mapping[str, Rates | Price] | None = None,
                 overrides_source: str = OVERRIDE_SOURCE) -> None:
        entries = {key.lower(): _as_price(key.lower(), value, overrides_source)
                   for key, value in (overrides or {}).items()}
        self._fallback = entries.pop(FALLBACK_KEY, None)
        self._prefixes = sorted(entries.items(), key=lambda item: (-len(item[0]), item[0]))
        self._memo: dict[tuple[str, str, str], _Fixed | _Dated] = {}

    def lookup(self, model_id: str, provider: str = "", *, at: datetime,
               service_tier: str = "") -> Price | None:
        """The price of ``model_id`` (any case) by ``provider`` in force at ``at`` (aware), for
        a response of ``service_tier``; None when no source knows the model."""
        key = (model_id, provider, service_tier)
        source = self._memo.get(key)
        if source is None:
            if len(self._memo) >= MEMO_MAX:
                self._memo.clear()
            source = self._memo[key] = self._resolve(model_id or "", provider or "")
        return source.price(at, service_tier)

    def _resolve(self, model_id: str, provider: str) -> _Fixed | _Dated:
        lowered = model_id.lower()
        for prefix, price in self._prefixes:
            if lowered.startswith(prefix):
                return _Fixed(price)
        model = catalogue.find_model(lowered, provider)
        return _Dated(model) if model is not None else _Fixed(self._fallback)


def _as_price(key: str, value: Rates | Price, source: str) -> Price:
    return value if isinstance(value, Price) else Price(rates=value, source=source, matched=key)


def price_event(event: CostEvent, table: PriceTable) -> Priced:
    """The cost of ``event``: reported, else computed at the price in force at its timestamp
    (with its parts and price source), else 0 ``unpriced``."""
    if event.cost_usd is not None:
        return Priced(event.cost_usd, COST_REPORTED)
    price = table.lookup(event.model, event.provider, at=event.timestamp,
                         service_tier=event.service_tier)
    if price is None:
        return Priced(0.0, COST_UNPRICED)
    parts = cost_parts(
        price, input_tokens=event.input_tokens, output_tokens=event.output_tokens,
        cache_creation_tokens=event.cache_creation_tokens,
        cache_read_tokens=event.cache_read_tokens,
        cache_creation_1h_tokens=event.cache_creation_1h_tokens,
        web_search_requests=event.web_search_requests)
    return Priced(parts.total, COST_COMPUTED, price.source, parts)


# --- the override file ------------------------------------------------------------------------


class PriceFileError(CostlogError, ValueError):
    """The price override file is unreadable or malformed."""


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


def _kind(value: Any) -> str:
    kind = "boolean" if isinstance(value, bool) else type(value).__name__
    return {"str": "string", "list": "array", "dict": "object", "NoneType": "null"}.get(kind, kind)


def _rate(where: str, entry: dict[str, Any], name: str) -> float | None:
    value = entry.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PriceFileError(f"{where}: {name!r} must be a number, got {_kind(value)}")
    if not math.isfinite(value) or not 0 <= value <= MAX_PRICE:
        raise PriceFileError(
            f"{where}: {name!r} must be a number from 0 to {MAX_PRICE:.0f}, got {value}")
    return float(value)


def _rates(where: str, entry: dict[str, Any], web_search: float | None) -> Rates:
    """An entry's rates; ``web_search`` None: the entry's own."""
    rates = {name: _rate(where, entry, name) for name in PRICE_FIELDS if name in entry}
    base, output = rates.get("input"), rates.get("output")
    if base is None:
        raise PriceFileError(f"{where}: 'input' is required")
    if output is None:
        raise PriceFileError(f"{where}: 'output' is required")

    def given(name: str, factor: float) -> float:
        value = rates.get(name)
        return base * factor if value is None else value

    return Rates(input=base, output=output, cache_write=given("cache_write", CACHE_WRITE_FACTOR),
                 cache_read=given("cache_read", CACHE_READ_FACTOR),
                 cache_write_1h=given("cache_write_1h", CACHE_WRITE_1H_FACTOR),
                 web_search=(rates.get("web_search") or 0.0) if web_search is None
                 else web_search)


def _unknown(where: str, entry: dict[str, Any], known: tuple[str, ...]) -> None:
    unknown = sorted(set(entry) - set(known))
    if unknown:
        raise PriceFileError(f"{where}: unknown field {unknown[0]!r}")


def _long_context(where: str, entry: Any, web_search: float) -> Tier:
    where = f"{where}: {LONG_CONTEXT!r}"
    if not isinstance(entry, dict):
        raise PriceFileError(f"{where}: must be an object with above_input_tokens, input, output")
    _unknown(where, entry, LONG_CONTEXT_FIELDS)
    above = entry.get("above_input_tokens")
    if type(above) is not int or above < 0:
        raise PriceFileError(
            f"{where}: 'above_input_tokens' must be an integer >= 0, got {json.dumps(above)}")
    return Tier(above_input_tokens=above, rates=_rates(where, entry, web_search))


def _parse_entry(source: str, where: str, key: str, entry: Any) -> Price:
    if not isinstance(entry, dict):
        raise PriceFileError(
            f"{where}: must be an object with input, output, cache_write, cache_read")
    _unknown(where, entry, (*PRICE_FIELDS, LONG_CONTEXT))
    rates = _rates(where, entry, None)
    tiers = () if entry.get(LONG_CONTEXT) is None else (
        _long_context(where, entry[LONG_CONTEXT], rates.web_search),)
    return Price(rates=rates, source=source, matched=key, tiers=tiers)


def parse_prices(path: Path, data: Any, source: str = OVERRIDE_SOURCE) -> dict[str, Price]:
    """Validate decoded override-file JSON; errors name ``path`` and the bad key/field."""
    if not isinstance(data, dict):
        raise PriceFileError(f"{path}: must be a JSON object mapping model-id prefixes to prices")
    prices: dict[str, Price] = {}
    for key, entry in data.items():
        if not key:
            raise PriceFileError(
                f"{path}: '': model-id prefix must not be empty (use '*' for the fallback)")
        if key.lower() in prices:
            raise PriceFileError(f"{path}: {key!r}: duplicate model-id prefix (ignoring case)")
        prices[key.lower()] = _parse_entry(source, f"{path}: {key!r}", key.lower(), entry)
    return prices


def override_source(content: bytes) -> str:
    """The ``price_source`` of an override file's prices: its content's digest, so a receipt
    tells which version of the file priced it."""
    return f"{OVERRIDE_SOURCE} {hashlib.sha256(content).hexdigest()[:OVERRIDE_DIGEST_CHARS]}"


def load_prices(path: Path | str | None) -> PriceTable:
    """The price table: the catalogue only when ``path`` is None, else the file's overrides
    before it."""
    if path is None:
        return PriceTable()
    path = Path(path)
    try:
        content = path.read_bytes()
        text = content.decode("utf-8")
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
    source = override_source(content)
    return PriceTable(parse_prices(path, data, source), source)

"""Prices and the cost of an event, checked against the vendor's list prices by hand."""

import hashlib
import json
import math
import random
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import genai_prices
import pytest
from genai_prices import Usage, calc_price, data_snapshot

from costlog.domain.event import CostEvent, parse_event
from costlog.domain.pricing import (
    PriceFileError,
    PriceTable,
    load_prices,
    price_event,
)
from costlog.domain.rates import PARTS, Rates

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
M = 1_000_000
CATALOGUE = f"genai-prices {genai_prices.__version__}"
CORRECTION = "costlog correction"


def make_event(model: str = "", provider: str | None = None, **fields: Any) -> CostEvent:
    payload = {"project_id": "p", "task_id": "t", "phase": "implement", "model": model,
               "provider": provider, "timestamp": "2026-11-20T10:00:00Z", **fields}
    return parse_event(payload, now=NOW)


def write_prices(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "prices.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def digest(path: Path) -> str:
    return f"override {hashlib.sha256(path.read_bytes()).hexdigest()[:12]}"


# --- every dimension, per model, from Anthropic's list prices ---------------------------------
#
# USD per million tokens (input, output, 5-minute write, 1-hour write, cache read); web search
# $10 per 1,000 requests for each:
#   Opus 4.5    $5     $25    $6.25   $10     $0.50
#   Opus 4.1    $15    $75    $18.75  $30     $1.50
#   Sonnet 4.5  $3     $15    $3.75   $6      $0.30   above 200k input: $6 $22.50 $7.50 $12 $0.60
#   Sonnet 4    as Sonnet 4.5, long context too
#   Haiku 4.5   $1     $5     $1.25   $2      $0.10
#   Haiku 3.5   $0.80  $4     $1      $1.60   $0.08
# The expected parts below are those rates times the counts, worked out by hand.

PLAIN = {"input_tokens": 10_000, "output_tokens": 2_000}
WRITES = {"input_tokens": 1_000, "output_tokens": 1_000, "cache_creation_tokens": 100_000,
          "cache_creation_1h_tokens": 40_000, "cache_read_tokens": 50_000}
# Whole input (uncached + cache read + cache write) exactly 200,000: not long context.
AT_200K = {"input_tokens": 2_000, "output_tokens": 4_000, "cache_read_tokens": 148_000,
           "cache_creation_tokens": 50_000, "cache_creation_1h_tokens": 10_000}
# One token more: the whole request at the long-context rates.
ABOVE_200K = {**AT_200K, "input_tokens": 2_001}
SEARCHES = {"input_tokens": 5_000, "output_tokens": 1_000, "web_search_requests": 3}

OPUS_4_5, OPUS_4_1 = "claude-opus-4-5-20251101", "claude-opus-4-1-20250805"
SONNET_4_5, SONNET_4 = "claude-sonnet-4-5-20250929", "claude-sonnet-4-20250514"
HAIKU_4_5, HAIKU_3_5 = "claude-haiku-4-5-20251001", "claude-3-5-haiku-20241022"

CASES = [
    # (model, counts, expected parts in USD, price source)
    (OPUS_4_5, PLAIN, {"input": 0.05, "output": 0.05}, CATALOGUE),
    (OPUS_4_5, WRITES, {"input": 0.005, "output": 0.025, "cache_write": 0.375,
                        "cache_write_1h": 0.4, "cache_read": 0.025}, CATALOGUE),
    (OPUS_4_5, AT_200K, {"input": 0.01, "output": 0.1, "cache_read": 0.074,
                         "cache_write": 0.25, "cache_write_1h": 0.1}, CATALOGUE),
    (OPUS_4_5, ABOVE_200K, {"input": 0.010005, "output": 0.1, "cache_read": 0.074,
                            "cache_write": 0.25, "cache_write_1h": 0.1}, CATALOGUE),
    (OPUS_4_5, SEARCHES, {"input": 0.025, "output": 0.025, "web_search": 0.03}, CATALOGUE),

    (OPUS_4_1, PLAIN, {"input": 0.15, "output": 0.15}, CATALOGUE),
    (OPUS_4_1, WRITES, {"input": 0.015, "output": 0.075, "cache_write": 1.125,
                        "cache_write_1h": 1.2, "cache_read": 0.075}, CATALOGUE),
    (OPUS_4_1, ABOVE_200K, {"input": 0.030015, "output": 0.3, "cache_read": 0.222,
                            "cache_write": 0.75, "cache_write_1h": 0.3}, CATALOGUE),
    (OPUS_4_1, SEARCHES, {"input": 0.075, "output": 0.075, "web_search": 0.03}, CATALOGUE),

    (SONNET_4_5, PLAIN, {"input": 0.03, "output": 0.03}, CATALOGUE),
    (SONNET_4_5, WRITES, {"input": 0.003, "output": 0.015, "cache_write": 0.225,
                          "cache_write_1h": 0.24, "cache_read": 0.015}, CATALOGUE),
    (SONNET_4_5, AT_200K, {"input": 0.006, "output": 0.06, "cache_read": 0.0444,
                           "cache_write": 0.15, "cache_write_1h": 0.06}, CATALOGUE),
    (SONNET_4_5, ABOVE_200K, {"input": 0.012006, "output": 0.09, "cache_read": 0.0888,
                              "cache_write": 0.3, "cache_write_1h": 0.12}, CATALOGUE),
    (SONNET_4_5, SEARCHES, {"input": 0.015, "output": 0.015, "web_search": 0.03}, CATALOGUE),

    # The catalogue has no long-context rate for Sonnet 4: costlog's correction adds it.
    (SONNET_4, PLAIN, {"input": 0.03, "output": 0.03}, CORRECTION),
    (SONNET_4, WRITES, {"input": 0.003, "output": 0.015, "cache_write": 0.225,
                        "cache_write_1h": 0.24, "cache_read": 0.015}, CORRECTION),
    (SONNET_4, AT_200K, {"input": 0.006, "output": 0.06, "cache_read": 0.0444,
                         "cache_write": 0.15, "cache_write_1h": 0.06}, CORRECTION),
    (SONNET_4, ABOVE_200K, {"input": 0.012006, "output": 0.09, "cache_read": 0.0888,
                            "cache_write": 0.3, "cache_write_1h": 0.12}, CORRECTION),
    (SONNET_4, SEARCHES, {"input": 0.015, "output": 0.015, "web_search": 0.03}, CORRECTION),

    (HAIKU_4_5, PLAIN, {"input": 0.01, "output": 0.01}, CATALOGUE),
    (HAIKU_4_5, WRITES, {"input": 0.001, "output": 0.005, "cache_write": 0.075,
                         "cache_write_1h": 0.08, "cache_read": 0.005}, CATALOGUE),
    (HAIKU_4_5, ABOVE_200K, {"input": 0.002001, "output": 0.02, "cache_read": 0.0148,
                             "cache_write": 0.05, "cache_write_1h": 0.02}, CATALOGUE),
    (HAIKU_4_5, SEARCHES, {"input": 0.005, "output": 0.005, "web_search": 0.03}, CATALOGUE),

    (HAIKU_3_5, PLAIN, {"input": 0.008, "output": 0.008}, CATALOGUE),
    (HAIKU_3_5, WRITES, {"input": 0.0008, "output": 0.004, "cache_write": 0.06,
                         "cache_write_1h": 0.064, "cache_read": 0.004}, CATALOGUE),
    (HAIKU_3_5, ABOVE_200K, {"input": 0.0016008, "output": 0.016, "cache_read": 0.01184,
                             "cache_write": 0.04, "cache_write_1h": 0.016}, CATALOGUE),
    (HAIKU_3_5, SEARCHES, {"input": 0.004, "output": 0.004, "web_search": 0.03}, CATALOGUE),
]


@pytest.mark.parametrize(("model", "counts", "parts", "source"), CASES)
def test_every_dimension_at_list_price(model: str, counts: dict, parts: dict,
                                       source: str) -> None:
    priced = price_event(make_event(model, **counts), PriceTable())
    expected = dict.fromkeys(PARTS, 0.0) | parts
    assert priced.parts is not None
    assert priced.parts._asdict() == pytest.approx(expected, rel=1e-12, abs=1e-15)
    assert priced.cost_usd == pytest.approx(math.fsum(expected.values()), rel=1e-12)
    assert priced.cost_usd == math.fsum(priced.parts)  # the parts sum to the cost, exactly
    assert (priced.cost_source, priced.price_source) == ("computed", source)


def test_long_context_whole_request_totals() -> None:
    # The figures: 200,000 whole input tokens are standard, 200,001 long context.
    table = PriceTable()
    assert price_event(make_event(SONNET_4_5, **AT_200K), table).cost_usd == pytest.approx(
        0.3204, rel=1e-12)
    assert price_event(make_event(SONNET_4_5, **ABOVE_200K), table).cost_usd == pytest.approx(
        0.610806, rel=1e-12)


def test_a_cache_write_is_long_context_input_too() -> None:
    # 199,000 uncached + 1,001 written: the writes count into the whole input.
    event = make_event(SONNET_4_5, input_tokens=199_000, cache_creation_tokens=1_001)
    assert price_event(event, PriceTable()).parts.input == pytest.approx(199_000 * 6 / M)


def test_prices_in_force_at_the_event_timestamp() -> None:
    # Sonnet 4.6 had a long-context rate until 2026-03-13, none from then on.
    counts = {"input_tokens": 300_000}
    before = make_event("claude-sonnet-4-6", timestamp="2026-03-12T23:59:59Z", **counts)
    after = make_event("claude-sonnet-4-6", timestamp="2026-03-13T00:00:00Z", **counts)
    table = PriceTable()
    assert price_event(before, table).cost_usd == pytest.approx(300_000 * 6 / M)
    assert price_event(after, table).cost_usd == pytest.approx(300_000 * 3 / M)


@pytest.mark.parametrize(("stamp", "rate"), [
    ("2026-11-20T00:29:59Z", 0.135), ("2026-11-20T00:30:00Z", 0.27),
    ("2026-11-20T16:29:59Z", 0.27), ("2026-11-20T16:30:00Z", 0.135),
    ("2026-11-21T12:00:00Z", 0.27),
])
def test_a_price_that_changes_within_the_day(stamp: str, rate: float) -> None:
    # DeepSeek's standard price from 00:30 to 16:30 UTC, its off-peak price otherwise.
    table = PriceTable()
    for earlier in ("2026-11-20T00:00:00Z", "2026-11-20T10:00:00Z", "2026-11-20T20:00:00Z"):
        price_event(make_event("deepseek-chat", "deepseek", input_tokens=M, timestamp=earlier),
                    table)
    event = make_event("deepseek-chat", "deepseek", input_tokens=M, timestamp=stamp)
    assert price_event(event, table).cost_usd == pytest.approx(rate)


def test_service_tier_selects_the_catalogue_variant() -> None:
    # Anthropic's batch responses cost half (catalogue prices from 2026-10-14).
    batch = make_event(OPUS_4_5, service_tier="batch", input_tokens=M, output_tokens=M)
    standard = make_event(OPUS_4_5, service_tier="standard", input_tokens=M, output_tokens=M)
    table = PriceTable()
    assert price_event(batch, table).cost_usd == pytest.approx(2.5 + 12.5)
    assert price_event(standard, table).cost_usd == pytest.approx(5 + 25)


# --- the sources' order --------------------------------------------------------------------


@pytest.mark.parametrize("model", [OPUS_4_5, "gpt-5", "", "nobody-knows-me"])
@pytest.mark.parametrize("reported", [0, 0.0, 0.123, 1_000_000])
def test_reported_cost_wins(model: str, reported: float, tmp_path: Path) -> None:
    table = load_prices(write_prices(tmp_path, {"*": {"input": 1, "output": 1},
                                                "claude": {"input": 2, "output": 2}}))
    priced = price_event(make_event(model, cost_usd=reported, **WRITES), table)
    assert (priced.cost_usd, priced.cost_source, priced.price_source, priced.parts) == (
        float(reported), "reported", "", None)


def test_override_wins_over_the_catalogue(tmp_path: Path) -> None:
    path = write_prices(tmp_path, {"claude-sonnet-4-5": {"input": 2, "output": 10}})
    table = load_prices(path)
    priced = price_event(make_event(SONNET_4_5, **WRITES, web_search_requests=2), table)
    # Left out: 5-minute writes 1.25x input, 1-hour writes 2x, reads 0.1x; searches free.
    assert priced.parts._asdict() == pytest.approx({
        "input": 0.002, "output": 0.01, "cache_read": 0.01, "cache_write": 0.15,
        "cache_write_1h": 0.16, "web_search": 0.0}, rel=1e-12)
    assert priced.price_source == digest(path)
    # Other models are still the catalogue's.
    assert price_event(make_event(OPUS_4_5, **PLAIN), table).price_source == CATALOGUE


def test_override_gives_every_dimension_and_long_context(tmp_path: Path) -> None:
    path = write_prices(tmp_path, {"my-model": {
        "input": 1, "output": 2, "cache_write": 3, "cache_write_1h": 4, "cache_read": 0.5,
        "web_search": 20,
        "long_context": {"above_input_tokens": 1000, "input": 10, "output": 20,
                         "cache_write": 30, "cache_write_1h": 40, "cache_read": 5}}})
    table = load_prices(path)
    counts = {"input_tokens": 400, "output_tokens": 1000, "cache_read_tokens": 300,
              "cache_creation_tokens": 300, "cache_creation_1h_tokens": 100,
              "web_search_requests": 5}
    at_threshold = price_event(make_event("My-Model-v2", "local", **counts), table)
    assert at_threshold.parts._asdict() == pytest.approx({
        "input": 0.0004, "output": 0.002, "cache_read": 0.00015, "cache_write": 0.0006,
        "cache_write_1h": 0.0004, "web_search": 0.1}, rel=1e-12)
    above = price_event(make_event("my-model", **{**counts, "input_tokens": 401}), table)
    assert above.parts._asdict() == pytest.approx({
        "input": 0.00401, "output": 0.02, "cache_read": 0.0015, "cache_write": 0.006,
        "cache_write_1h": 0.004, "web_search": 0.1}, rel=1e-12)
    assert above.price_source == at_threshold.price_source == digest(path)


def test_long_context_rates_left_out_follow_its_input(tmp_path: Path) -> None:
    table = load_prices(write_prices(tmp_path, {"m": {
        "input": 1, "output": 1, "long_context": {"above_input_tokens": 0, "input": 8,
                                                  "output": 9}}}))
    price = table.lookup("m", at=NOW)
    assert price is not None and price.tiers[0].above_input_tokens == 0
    assert price.tiers[0].rates == Rates(input=8.0, output=9.0, cache_write=10.0,
                                         cache_read=0.8, cache_write_1h=16.0, web_search=0.0)


def test_longest_prefix_wins(tmp_path: Path) -> None:
    table = load_prices(write_prices(tmp_path, {
        "gpt-": {"input": 1, "output": 2},
        "gpt-5": {"input": 1.25, "output": 10, "cache_write": 0, "cache_read": 0.125},
        "gpt-5-mini": {"input": 0.25, "output": 2, "cache_write": 0, "cache_read": 0.025}}))
    assert table.lookup("gpt-5-mini-2025-08-07", "openai", at=NOW).matched == "gpt-5-mini"
    assert table.lookup("GPT-5", "openai", at=NOW).matched == "gpt-5"
    assert table.lookup("gpt-4o", "openai", at=NOW).matched == "gpt-"
    priced = price_event(make_event("gpt-5-mini", "openai", input_tokens=M, output_tokens=M,
                                    cache_read_tokens=M), table)
    assert priced.cost_usd == pytest.approx(2.275, rel=1e-12)


def test_star_is_only_for_models_nothing_else_knows(tmp_path: Path) -> None:
    path = write_prices(tmp_path, {"*": {"input": 10, "output": 30},
                                   "gpt-5": {"input": 1, "output": 2}})
    table = load_prices(path)
    star = price_event(make_event("mistral-nobody", "nobody", input_tokens=M, output_tokens=M),
                       table)
    assert (star.cost_usd, star.price_source) == (40.0, digest(path))
    assert table.lookup("", "", at=NOW).matched == "*"
    # The catalogue knows these: "*" does not apply.
    assert table.lookup(OPUS_4_5, at=NOW).source == CATALOGUE
    assert table.lookup("gpt-4o", "openai", at=NOW).source == CATALOGUE
    # A file key beats "*" too.
    assert table.lookup("gpt-5-codex", "x", at=NOW).matched == "gpt-5"


@pytest.mark.parametrize(("model", "provider"), [
    ("", None), ("gpt-4-turbo", None), ("", "openai"), ("claude-sonnet", None),
    # Another provider does not sell this model.
    (OPUS_4_5, "openai"), ("claude-opus-4-5", "no-such-provider"),
])
def test_unpriced_model(model: str, provider: str | None) -> None:
    priced = price_event(make_event(model, provider, input_tokens=M), PriceTable())
    assert (priced.cost_usd, priced.cost_source, priced.price_source, priced.parts) == (
        0.0, "unpriced", "", None)


@pytest.mark.parametrize(("model", "provider", "matched"), [
    (OPUS_4_5, None, "anthropic claude-opus-4-5"),
    (OPUS_4_5, "claude", "anthropic claude-opus-4-5"),
    ("CLAUDE-OPUS-4", "Claude", "anthropic claude-opus-4-0"),
    ("claude-3-haiku-20240307", "", "anthropic claude-3-haiku"),
    # A Bedrock id with costlog's default provider: AWS sells it.
    ("anthropic.claude-3-haiku-20240307-v1:0", None,
     "aws regional.anthropic.claude-3-haiku-20240307-v1:0"),
    ("gpt-5", "openai", "openai gpt-5"),
])
def test_catalogue_model_per_id(model: str, provider: str | None, matched: str) -> None:
    price = PriceTable().lookup(model, provider or "", at=NOW)
    assert price is not None and price.matched == matched


def test_a_lookup_is_resolved_once_per_model_and_day() -> None:
    table = PriceTable()
    first = table.lookup(SONNET_4_5, at=NOW)
    assert table.lookup(SONNET_4_5, at=NOW.replace(hour=23)) is first
    assert table.lookup(SONNET_4_5, at=NOW.replace(day=21)) == first


# --- the catalogue's own calculation agrees ----------------------------------------------------


def _anthropic_models() -> list[str]:
    provider = data_snapshot.find_provider_by_id(data_snapshot.get_snapshot().providers,
                                                 "anthropic")
    assert provider is not None
    return [model.id for model in provider.models]


@pytest.mark.parametrize("model", _anthropic_models())
def test_costlog_translates_the_catalogue_counts(model: str) -> None:
    # genai-prices counts input_tokens with the cache tokens; costlog's event counts them
    # apart. Both must come to the same figure for random mixes, long context included.
    rng = random.Random(model)
    table = PriceTable()
    for _ in range(25):
        write = rng.choice([0, rng.randint(0, 150_000)])
        counts = {"input_tokens": rng.randint(0, 150_000), "output_tokens": rng.randint(0, 9_000),
                  "cache_read_tokens": rng.choice([0, rng.randint(0, 150_000)]),
                  "cache_creation_tokens": write,
                  "cache_creation_1h_tokens": rng.randint(0, write),
                  "web_search_requests": rng.choice([0, rng.randint(1, 9)])}
        whole = counts["input_tokens"] + counts["cache_read_tokens"] + write
        usage = Usage(input_tokens=whole, output_tokens=counts["output_tokens"],
                      cache_read_tokens=counts["cache_read_tokens"], cache_write_tokens=write,
                      cache_write_1h_tokens=counts["cache_creation_1h_tokens"],
                      web_searches=counts["web_search_requests"])
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            theirs = calc_price(usage, model_ref=model, provider_id="anthropic",
                                genai_request_timestamp=NOW)
        ours = price_event(make_event(model, **counts), table)
        if ours.price_source == CORRECTION:
            continue  # the correction differs on purpose (long context)
        assert ours.cost_usd == pytest.approx(float(theirs.total_price), rel=1e-9, abs=1e-12)


# --- the override file: errors ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "invalid JSON: Expecting property name enclosed in double quotes (line 1, column 2)"),
        ("", "invalid JSON: Expecting value (line 1, column 1)"),
        ('{"m": {"input": 1, "output": 2}}\n{}', "invalid JSON: Extra data (line 2, column 1)"),
        ("[]", "must be a JSON object mapping model-id prefixes to prices"),
        ("null", "must be a JSON object mapping model-id prefixes to prices"),
        ('{"a": {"input": 1, "output": 1}, "a": {"input": 2, "output": 2}}', "duplicate key 'a'"),
        ('{"a": {"input": 1, "input": 2, "output": 1}}', "duplicate key 'input'"),
        ('{"A": {"input": 1, "output": 1}, "a": {"input": 2, "output": 2}}',
         "'a': duplicate model-id prefix (ignoring case)"),
        ('{"": {"input": 1, "output": 1}}',
         "'': model-id prefix must not be empty (use '*' for the fallback)"),
        ('{"m": 3}', "'m': must be an object with input, output, cache_write, cache_read"),
        ('{"m": {"output": 1}}', "'m': 'input' is required"),
        ('{"m": {"input": null, "output": 1}}', "'m': 'input' is required"),
        ('{"m": {"input": 1}}', "'m': 'output' is required"),
        ('{"m": {"input": 1, "output": 1, "cache_hit": 1}}', "'m': unknown field 'cache_hit'"),
        ('{"m": {"input": -1, "output": 1}}',
         "'m': 'input' must be a number from 0 to 1000000, got -1"),
        ('{"m": {"input": 1000001, "output": 1}}',
         "'m': 'input' must be a number from 0 to 1000000, got 1000001"),
        ('{"m": {"input": NaN, "output": 1}}',
         "'m': 'input' must be a number from 0 to 1000000, got nan"),
        ('{"m": {"input": true, "output": 1}}', "'m': 'input' must be a number, got boolean"),
        ('{"m": {"input": "1", "output": 1}}', "'m': 'input' must be a number, got string"),
        ('{"m": {"input": 1, "output": 1, "cache_write_1h": [1]}}',
         "'m': 'cache_write_1h' must be a number, got array"),
        ('{"m": {"input": 1, "output": 1, "web_search": -1}}',
         "'m': 'web_search' must be a number from 0 to 1000000, got -1"),
        ('{"m": {"input": 1, "output": 1, "long_context": 5}}',
         "'m': 'long_context': must be an object with above_input_tokens, input, output"),
        ('{"m": {"input": 1, "output": 1, "long_context": {"input": 2, "output": 2}}}',
         "'m': 'long_context': 'above_input_tokens' must be an integer >= 0, got null"),
        ('{"m": {"input": 1, "output": 1, "long_context": {"above_input_tokens": 2.5,'
         ' "input": 2, "output": 2}}}',
         "'m': 'long_context': 'above_input_tokens' must be an integer >= 0, got 2.5"),
        ('{"m": {"input": 1, "output": 1, "long_context": {"above_input_tokens": true,'
         ' "input": 2, "output": 2}}}',
         "'m': 'long_context': 'above_input_tokens' must be an integer >= 0, got true"),
        ('{"m": {"input": 1, "output": 1, "long_context": {"above_input_tokens": 9,'
         ' "output": 2}}}', "'m': 'long_context': 'input' is required"),
        ('{"m": {"input": 1, "output": 1, "long_context": {"above_input_tokens": 9,'
         ' "input": 2, "output": 2, "web_search": 1}}}',
         "'m': 'long_context': unknown field 'web_search'"),
        ('{"m": {"input": 1, "output": 1, "long_context": {"above_input_tokens": 9,'
         ' "input": 2, "output": 2, "cache_read": "x"}}}',
         "'m': 'long_context': 'cache_read' must be a number, got string"),
    ],
)
def test_price_file_errors(tmp_path: Path, text: str, message: str) -> None:
    path = write_prices(tmp_path, text)
    with pytest.raises(PriceFileError) as caught:
        load_prices(path)
    assert str(caught.value) == f"{path}: {message}"
    assert isinstance(caught.value, ValueError)


def test_missing_price_file(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    with pytest.raises(PriceFileError) as caught:
        load_prices(path)
    assert str(caught.value) == f"{path}: cannot read price file: No such file or directory"


def test_price_file_is_a_directory(tmp_path: Path) -> None:
    with pytest.raises(PriceFileError) as caught:
        load_prices(tmp_path)
    assert str(caught.value) == f"{tmp_path}: cannot read price file: Is a directory"


def test_price_file_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_bytes(b'{"m": "\xff"}')
    with pytest.raises(PriceFileError) as caught:
        load_prices(path)
    assert str(caught.value) == (
        f"{path}: cannot read price file: 'utf-8' codec can't decode byte 0xff in position 7: "
        "invalid start byte")


def test_price_file_accepts_a_string_path_and_its_source_is_its_digest(tmp_path: Path) -> None:
    path = write_prices(tmp_path, {"m": {"input": 1, "output": 1}})
    price = load_prices(str(path)).lookup("m", "x", at=NOW)
    assert price is not None
    assert price.rates == Rates(input=1.0, output=1.0, cache_write=1.25, cache_read=0.1,
                                cache_write_1h=2.0)
    assert price.source == digest(path) and len(price.source) == len("override ") + 12
    # Another content, another source.
    path.write_text(json.dumps({"m": {"input": 1, "output": 2}}))
    assert load_prices(path).lookup("m", at=NOW).source == digest(path) != price.source

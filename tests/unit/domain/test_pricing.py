"""Prices and the cost of an event."""

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from costlog.domain.event import CostEvent, parse_event
from costlog.domain.pricing import (
    Price,
    PriceFileError,
    PriceTable,
    builtin_price,
    cost_of,
    load_prices,
)

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
M = 1_000_000

OPUS_4_5 = Price(5.0, 25.0, 6.25, 0.50)
OPUS_OLD = Price(15.0, 75.0, 18.75, 1.50)
SONNET = Price(3.0, 15.0, 3.75, 0.30)
HAIKU_4_5 = Price(1.0, 5.0, 1.25, 0.10)
HAIKU_3_5 = Price(0.80, 4.0, 1.0, 0.08)
HAIKU_3 = Price(0.25, 1.25, 0.30, 0.03)


def make_event(model: str = "", provider: str | None = None, **fields: Any) -> CostEvent:
    payload = {
        "project_id": "p",
        "task_id": "t",
        "phase": "implement",
        "model": model,
        "provider": provider,
        **fields,
    }
    return parse_event(payload, now=NOW)


def write_prices(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "prices.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def vars_of(price: Price) -> tuple[float, ...]:
    return (price.input, price.output, price.cache_write, price.cache_read)


# --- built-in table -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model_id", "price"),
    [
        # Opus 4.5: $5 / $25, cache write 6.25, read 0.50.
        ("claude-opus-4-5", OPUS_4_5),
        ("claude-opus-4-5-20251101", OPUS_4_5),
        ("claude-opus-4.5", OPUS_4_5),
        ("anthropic.claude-opus-4-5-20251101-v1:0", OPUS_4_5),
        ("us.anthropic.claude-opus-4-5-20251101-v1:0", OPUS_4_5),
        ("claude-opus-4-5@20251101", OPUS_4_5),
        ("CLAUDE-OPUS-4-5-20251101", OPUS_4_5),
        # Opus 4.1, 4 and 3: $15 / $75.
        ("claude-opus-4-1", OPUS_OLD),
        ("claude-opus-4-1-20250805", OPUS_OLD),
        ("claude-opus-4.1", OPUS_OLD),
        ("anthropic.claude-opus-4-1-20250805-v1:0", OPUS_OLD),
        ("claude-opus-4-20250514", OPUS_OLD),
        ("claude-opus-4-0", OPUS_OLD),
        ("claude-opus-4", OPUS_OLD),
        ("anthropic.claude-opus-4", OPUS_OLD),
        ("anthropic.claude-opus-4-20250514-v1:0", OPUS_OLD),
        ("claude-opus-4@20250514", OPUS_OLD),
        ("claude-3-opus-20240229", OPUS_OLD),
        ("claude-3-opus-latest", OPUS_OLD),
        ("anthropic.claude-3-opus-20240229-v1:0", OPUS_OLD),
        # Sonnet (every version): $3 / $15, 3.75, 0.30.
        ("claude-sonnet-4-5-20250929", SONNET),
        ("claude-sonnet-4-20250514", SONNET),
        ("claude-3-7-sonnet-20250219", SONNET),
        ("claude-3-5-sonnet-20241022", SONNET),
        ("anthropic.claude-3-5-sonnet-20240620-v1:0", SONNET),
        ("Claude-Sonnet", SONNET),
        # Haiku 4.5: $1 / $5.
        ("claude-haiku-4-5", HAIKU_4_5),
        ("claude-haiku-4-5-20251001", HAIKU_4_5),
        ("claude-haiku-4.5", HAIKU_4_5),
        ("anthropic.claude-haiku-4-5-20251001-v1:0", HAIKU_4_5),
        # Haiku 3.5: $0.80 / $4.
        ("claude-3-5-haiku-20241022", HAIKU_3_5),
        ("claude-3-5-haiku-latest", HAIKU_3_5),
        ("claude-haiku-3-5", HAIKU_3_5),
        ("claude-3.5-haiku", HAIKU_3_5),
        ("anthropic.claude-3-5-haiku-20241022-v1:0", HAIKU_3_5),
        # Haiku 3: $0.25 / $1.25.
        ("claude-3-haiku-20240307", HAIKU_3),
        ("anthropic.claude-3-haiku-20240307-v1:0", HAIKU_3),
        ("claude-haiku-3", HAIKU_3),
        ("CLAUDE-3-HAIKU-20240307", HAIKU_3),
    ],
)
def test_builtin_price_per_model_id(model_id: str, price: Price) -> None:
    assert builtin_price(model_id) == price


@pytest.mark.parametrize(
    ("model_id", "price"),
    [
        # Unknown (newer) versions of a family fall back to the family's newest price.
        ("claude-opus-5", OPUS_4_5),
        ("claude-opus-4-7", OPUS_4_5),
        ("claude-haiku-5", HAIKU_4_5),
        ("claude-sonnet-9", SONNET),
        ("opus", OPUS_4_5),
    ],
)
def test_builtin_price_family_fallback(model_id: str, price: Price) -> None:
    assert builtin_price(model_id) == price


@pytest.mark.parametrize("model_id", ["", "gpt-5", "gpt-4-turbo", "claude-instant-1.2", "gemini"])
def test_builtin_price_unknown_model(model_id: str) -> None:
    assert builtin_price(model_id) is None


def test_builtin_price_fields() -> None:
    price = builtin_price("claude-opus-4-5-20251101")
    assert price is not None
    assert vars_of(price) == (5.0, 25.0, 6.25, 0.50)


@pytest.mark.parametrize(
    ("newer", "older", "ratio"),
    [
        ("claude-opus-4-1-20250805", "claude-opus-4-5-20251101", 3),
        ("claude-opus-4-20250514", "claude-opus-4-5-20251101", 3),
        ("claude-3-opus-20240229", "claude-opus-4-5", 3),
        ("claude-haiku-4-5", "claude-3-haiku-20240307", 4),
        ("claude-haiku-4-5-20251001", "anthropic.claude-3-haiku-20240307-v1:0", 4),
    ],
)
def test_versions_of_a_family_are_priced_apart(newer: str, older: str, ratio: int) -> None:
    first, second = builtin_price(newer), builtin_price(older)
    assert first is not None and second is not None
    assert first.input == ratio * second.input
    assert first.output == ratio * second.output


# --- cost_of --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "tokens", "expected"),
    [
        ("claude-opus-4-5-20251101", {"input_tokens": M}, 5.0),
        ("claude-opus-4-5-20251101", {"output_tokens": M}, 25.0),
        ("claude-opus-4-5-20251101", {"cache_creation_tokens": M}, 6.25),
        ("claude-opus-4-5-20251101", {"cache_read_tokens": M}, 0.5),
        ("claude-opus-4-1-20250805", {"input_tokens": M, "output_tokens": M}, 90.0),
        (
            "claude-sonnet-4-20250514",
            {
                "input_tokens": 1000,
                "output_tokens": 2000,
                "cache_creation_tokens": 10_000,
                "cache_read_tokens": 100_000,
            },
            0.1005,
        ),
        ("claude-3-haiku-20240307", {"input_tokens": 4 * M, "output_tokens": 4 * M}, 6.0),
        ("claude-haiku-4-5", {"input_tokens": 4 * M, "output_tokens": 4 * M}, 24.0),
        (
            "claude-3-5-haiku-20241022",
            {
                "input_tokens": M,
                "output_tokens": M,
                "cache_creation_tokens": M,
                "cache_read_tokens": M,
            },
            5.88,
        ),
        ("claude-sonnet-4-5", {"input_tokens": 1, "output_tokens": 1}, 0.000018),
        ("claude-sonnet-4-5", {}, 0.0),
    ],
)
def test_computed_cost(model: str, tokens: dict, expected: float) -> None:
    cost, source = cost_of(make_event(model, **tokens), PriceTable())
    assert cost == pytest.approx(expected, rel=1e-12, abs=1e-15)
    assert source == "computed"


def test_cache_tokens_are_priced_once_at_their_own_rates() -> None:
    table = PriceTable()
    cache_only = make_event("claude-sonnet-4", cache_creation_tokens=M, cache_read_tokens=M)
    assert cost_of(cache_only, table) == (pytest.approx(4.05, rel=1e-12), "computed")
    # input_tokens are the uncached ones: adding them adds exactly their own price.
    with_input = make_event(
        "claude-sonnet-4", input_tokens=M, cache_creation_tokens=M, cache_read_tokens=M
    )
    assert cost_of(with_input, table)[0] == pytest.approx(7.05, rel=1e-12)


def test_total_tokens_do_not_change_the_cost() -> None:
    table = PriceTable()
    plain = make_event("claude-opus-4-5", input_tokens=M, cache_read_tokens=M)
    inflated = make_event(
        "claude-opus-4-5", input_tokens=M, cache_read_tokens=M, total_tokens=10 * M
    )
    assert cost_of(plain, table) == cost_of(inflated, table) == (5.5, "computed")


@pytest.mark.parametrize("reported", [0, 0.0, 0.123, 42, 1_000_000])
@pytest.mark.parametrize("model", ["claude-opus-4-5", "gpt-5", ""])
def test_reported_cost_wins(reported: float, model: str) -> None:
    parsed = make_event(model, cost_usd=reported, input_tokens=M, output_tokens=M)
    cost, source = cost_of(parsed, PriceTable())
    assert cost == float(reported)
    assert source == "reported"


def test_reported_cost_wins_over_an_override() -> None:
    table = PriceTable({"*": Price(1, 1, 1, 1)})
    assert cost_of(make_event("x", cost_usd=0.5, input_tokens=M), table) == (0.5, "reported")


@pytest.mark.parametrize(
    ("model", "provider"),
    [
        ("", None),
        ("gpt-4-turbo", None),
        ("gpt-5", "openai"),
        ("", "openai"),
        # The built-in table prices Claude only: another provider's id is not priced by it.
        ("claude-opus-4-5-20251101", "openai"),
        ("anthropic.claude-3-haiku-20240307-v1:0", "bedrock"),
    ],
)
def test_unpriced_model(model: str, provider: str | None) -> None:
    parsed = make_event(model, provider, input_tokens=M, output_tokens=M)
    assert cost_of(parsed, PriceTable()) == (0.0, "unpriced")
    assert cost_of(parsed, load_prices(None)) == (0.0, "unpriced")


@pytest.mark.parametrize("provider", [None, "", "claude", "Claude"])
def test_claude_provider_uses_the_builtin_table(provider: str | None) -> None:
    parsed = make_event("claude-opus-4-5", provider, input_tokens=M)
    assert cost_of(parsed, PriceTable()) == (5.0, "computed")


# --- PriceTable / override file -------------------------------------------------------------


def test_load_prices_none_is_the_builtin_table() -> None:
    table = load_prices(None)
    assert table.lookup("claude-opus-4-1-20250805") == OPUS_OLD
    assert table.lookup("gpt-5", "openai") is None


def test_override_file_longest_prefix_wins(tmp_path: Path) -> None:
    path = write_prices(
        tmp_path,
        {
            "gpt-": {"input": 1, "output": 2},
            "gpt-5": {"input": 1.25, "output": 10, "cache_write": 0, "cache_read": 0.125},
            "gpt-5-mini": {"input": 0.25, "output": 2, "cache_write": 0, "cache_read": 0.025},
        },
    )
    table = load_prices(path)
    assert table.lookup("gpt-5-mini-2025-08-07", "openai") == Price(0.25, 2.0, 0.0, 0.025)
    assert table.lookup("gpt-5", "openai") == Price(1.25, 10.0, 0.0, 0.125)
    assert table.lookup("gpt-5-2025-08-07", "openai") == Price(1.25, 10.0, 0.0, 0.125)
    assert table.lookup("gpt-4o", "openai") == Price(1.0, 2.0, 1.25, 0.1)
    assert table.lookup("o3", "openai") is None
    # A prefix, not a substring.
    assert table.lookup("azure-gpt-5", "openai") is None
    parsed = make_event(
        "gpt-5-mini", "openai", input_tokens=M, output_tokens=M, cache_read_tokens=M
    )
    assert cost_of(parsed, table) == (pytest.approx(2.275, rel=1e-12), "computed")


def test_override_file_is_case_insensitive(tmp_path: Path) -> None:
    table = load_prices(write_prices(tmp_path, {"GPT-5": {"input": 2, "output": 8}}))
    assert table.lookup("gpt-5", "openai") == Price(2.0, 8.0, 2.5, 0.2)
    assert table.lookup("GPT-5-Turbo", "OpenAI") == Price(2.0, 8.0, 2.5, 0.2)


def test_override_file_overrides_the_builtin_table(tmp_path: Path) -> None:
    table = load_prices(
        write_prices(
            tmp_path,
            {
                "claude-opus-4-5": {"input": 4, "output": 20, "cache_write": 5, "cache_read": 0.4},
            },
        )
    )
    assert table.lookup("claude-opus-4-5-20251101") == Price(4.0, 20.0, 5.0, 0.4)
    assert table.lookup("claude-opus-4-1-20250805") == OPUS_OLD
    assert table.lookup("claude-3-haiku-20240307") == HAIKU_3
    parsed = make_event("CLAUDE-OPUS-4-5-20251101", input_tokens=M, output_tokens=M)
    assert cost_of(parsed, table) == (24.0, "computed")


def test_override_prefix_prices_any_provider(tmp_path: Path) -> None:
    table = load_prices(write_prices(tmp_path, {"claude-opus": {"input": 1, "output": 1}}))
    assert table.lookup("claude-opus-4-5", "bedrock") == Price(1.0, 1.0, 1.25, 0.1)


def test_star_is_the_fallback(tmp_path: Path) -> None:
    table = load_prices(
        write_prices(
            tmp_path,
            {
                "*": {"input": 10, "output": 30, "cache_write": 12, "cache_read": 1},
                "gpt-5": {"input": 1, "output": 2},
            },
        )
    )
    fallback = Price(10.0, 30.0, 12.0, 1.0)
    assert table.lookup("mistral-large", "mistral") == fallback
    assert table.lookup("", "") == fallback
    assert table.lookup("claude-instant-1.2") == fallback
    assert table.lookup("gpt-5", "openai") == Price(1.0, 2.0, 1.25, 0.1)
    # The built-in table still comes before the fallback for Claude ids...
    assert table.lookup("claude-sonnet-4") == SONNET
    # ...but another provider's Claude-looking id falls through to "*".
    assert table.lookup("claude-sonnet-4", "openai") == fallback
    # "*" is not a literal prefix.
    assert table.lookup("*x", "other") == fallback
    parsed = make_event("", "other", input_tokens=M, output_tokens=M)
    assert cost_of(parsed, table) == (40.0, "computed")


@pytest.mark.parametrize(
    ("entry", "price"),
    [
        ({"input": 2, "output": 8}, Price(2.0, 8.0, 2.5, 0.2)),
        ({"input": 2, "output": 8, "cache_write": 3}, Price(2.0, 8.0, 3.0, 0.2)),
        ({"input": 2, "output": 8, "cache_read": 0.5}, Price(2.0, 8.0, 2.5, 0.5)),
        (
            {"input": 2, "output": 8, "cache_write": None, "cache_read": None},
            Price(2.0, 8.0, 2.5, 0.2),
        ),
        ({"input": 0, "output": 0}, Price(0.0, 0.0, 0.0, 0.0)),
        ({"input": 1_000_000, "output": 1_000_000.0}, Price(1e6, 1e6, 1.25e6, 1e5)),
    ],
)
def test_missing_cache_rates_default_from_input(tmp_path: Path, entry: dict, price: Price) -> None:
    table = load_prices(write_prices(tmp_path, {"m": entry}))
    found = table.lookup("m", "x")
    assert found == price
    assert found is not None and all(isinstance(v, float) for v in vars_of(found))


def test_empty_override_file_is_the_builtin_table(tmp_path: Path) -> None:
    table = load_prices(write_prices(tmp_path, {}))
    assert table.lookup("claude-opus-4-5") == OPUS_4_5
    assert table.lookup("gpt-5", "openai") is None


def test_load_prices_accepts_a_string_path(tmp_path: Path) -> None:
    path = write_prices(tmp_path, {"m": {"input": 1, "output": 1}})
    assert load_prices(str(path)).lookup("m", "x") == Price(1.0, 1.0, 1.25, 0.1)


# --- PriceFileError -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "invalid JSON: Expecting property name enclosed in double quotes (line 1, column 2)"),
        ("", "invalid JSON: Expecting value (line 1, column 1)"),
        (
            '{"m": {"input": 1,}}',
            "invalid JSON: Expecting property name enclosed in double quotes (line 1, column 19)",
        ),
        ('{"m": {"input": 1, "output": 2}}\n{}', "invalid JSON: Extra data (line 2, column 1)"),
        ("[]", "must be a JSON object mapping model-id prefixes to prices"),
        ('"gpt-5"', "must be a JSON object mapping model-id prefixes to prices"),
        ("null", "must be a JSON object mapping model-id prefixes to prices"),
        ("3", "must be a JSON object mapping model-id prefixes to prices"),
        ('{"a": {"input": 1, "output": 1}, "a": {"input": 2, "output": 2}}', "duplicate key 'a'"),
        ('{"a": {"input": 1, "input": 2, "output": 1}}', "duplicate key 'input'"),
        (
            '{"A": {"input": 1, "output": 1}, "a": {"input": 2, "output": 2}}',
            "'a': duplicate model-id prefix (ignoring case)",
        ),
        (
            '{"": {"input": 1, "output": 1}}',
            "'': model-id prefix must not be empty (use '*' for the fallback)",
        ),
        ('{"m": 3}', "'m': must be an object with input, output, cache_write, cache_read"),
        ('{"m": [1, 2]}', "'m': must be an object with input, output, cache_write, cache_read"),
        ('{"m": {"output": 1}}', "'m': 'input' is required"),
        ('{"m": {"input": null, "output": 1}}', "'m': 'input' is required"),
        ('{"m": {"input": 1}}', "'m': 'output' is required"),
        ('{"m": {"input": 1, "output": 1, "cache_hit": 1}}', "'m': unknown field 'cache_hit'"),
        ('{"m": {"input": 1, "output": 1, "b": 1, "a": 1}}', "'m': unknown field 'a'"),
        (
            '{"m": {"input": -1, "output": 1}}',
            "'m': 'input' must be a number from 0 to 1000000, got -1",
        ),
        (
            '{"m": {"input": 1, "output": -0.5}}',
            "'m': 'output' must be a number from 0 to 1000000, got -0.5",
        ),
        (
            '{"m": {"input": 1, "output": 1, "cache_read": -2}}',
            "'m': 'cache_read' must be a number from 0 to 1000000, got -2",
        ),
        (
            '{"m": {"input": 1000001, "output": 1}}',
            "'m': 'input' must be a number from 0 to 1000000, got 1000001",
        ),
        (
            '{"m": {"input": NaN, "output": 1}}',
            "'m': 'input' must be a number from 0 to 1000000, got nan",
        ),
        (
            '{"m": {"input": 1, "output": Infinity}}',
            "'m': 'output' must be a number from 0 to 1000000, got inf",
        ),
        ('{"m": {"input": true, "output": 1}}', "'m': 'input' must be a number, got boolean"),
        ('{"m": {"input": 1, "output": false}}', "'m': 'output' must be a number, got boolean"),
        ('{"m": {"input": "1", "output": 1}}', "'m': 'input' must be a number, got string"),
        (
            '{"m": {"input": 1, "output": 1, "cache_write": [1]}}',
            "'m': 'cache_write' must be a number, got array",
        ),
        (
            '{"m": {"input": 1, "output": 1, "cache_read": {}}}',
            "'m': 'cache_read' must be a number, got object",
        ),
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
        "invalid start byte"
    )

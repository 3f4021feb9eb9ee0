"""How figures read, in the report and on the dashboard: money, shortened counts, names."""

import pytest

from costlog.domain import figures


@pytest.mark.parametrize(("usd", "text"), [
    (0.0, "$0.00"), (0.0035, "<$0.01"), (0.009999, "<$0.01"), (0.01, "$0.01"),
    (1234.5, "$1,234.50"), (189.334, "$189.33"), (-3.1, "-$3.10"), (-0.004, "-<$0.01"),
    (1e-9, "<$0.01"),
])
def test_money(usd: float, text: str) -> None:
    assert figures.money(usd) == text


@pytest.mark.parametrize(("count", "text"), [
    (0, "0"), (999, "999"), (1000, "1.0K"), (5000, "5.0K"), (409_800, "409.8K"),
    (999_949, "999.9K"), (999_950, "1.0M"), (6_800_000, "6.8M"), (14_049_999, "14.0M"),
    (1_200_000_000, "1.2B"), (-5000, "-5.0K"), (1250, "1.3K"), (1150, "1.2K"),  # half up
])
def test_compact(count: int, text: str) -> None:
    assert figures.compact(count) == text


@pytest.mark.parametrize(("text", "width", "shown"), [
    ("webapp", 10, "webapp"),
    ("payments-backend-service", 12, "paymen…rvice"),
    ("payments-backend-service", 11, "payme…rvice"),
    ("abc", 1, "…"),
])
def test_shorten_middle(text: str, width: int, shown: str) -> None:
    assert figures.shorten_middle(text, width) == shown
    assert len(shown) <= width


@pytest.mark.parametrize(("names", "width", "shown"), [
    (["opus", "sonnet"], 20, "opus, sonnet"),
    (["opus", "sonnet", "haiku", "unknown"], 20, "opus, sonnet +2"),
    (["opus", "sonnet", "haiku", "unknown"], 8, "opus +3"),
    (["opus", "sonnet", "haiku", "unknown"], 5, "+4"),
    ([], 5, ""),
])
def test_fit_names(names: list[str], width: int, shown: str) -> None:
    assert figures.fit_names(names, width) == shown

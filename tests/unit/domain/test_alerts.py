"""Budget alerts, pure: which kinds are due, what they say, signing, URL redaction, the gate."""

import hashlib
import hmac

import pytest

from costlog.domain import alerts
from costlog.domain.alerts import EXCEEDED, THRESHOLD, BudgetState


@pytest.mark.parametrize(("spent", "limit", "threshold", "expected"), [
    (0.0, 100.0, 80, ()),
    (79.99, 100.0, 80, ()),
    (80.0, 100.0, 80, (THRESHOLD,)),
    (100.0, 100.0, 80, (THRESHOLD,)),  # at the limit is not over it
    (100.01, 100.0, 80, (THRESHOLD, EXCEEDED)),
    (100.01, 100.0, 100, (THRESHOLD, EXCEEDED)),
    (0.0, 100.0, 0, (THRESHOLD,)),  # a 0 % threshold holds from the start
    (500.0, 0.0, 80, ()),  # no budget
])
def test_due(spent: float, limit: float, threshold: int, expected: tuple[str, ...]) -> None:
    assert alerts.due(spent, limit, threshold) == expected


@pytest.mark.parametrize(("kind", "project", "spent", "limit", "percent", "text"), [
    (THRESHOLD, "alpha", 203.0, 250.0, 81.2,
     "costlog: alpha has used 81.2% of its $250.00 budget for December 2026 ($203.00 spent)"),
    (EXCEEDED, "*", 2600.5, 2500.0, 104.02,
     "costlog: all projects has exceeded its $2,500.00 budget for December 2026"
     " ($2,600.50 spent, 104.0%)"),
    (alerts.TEST, "beta", 0.0, 0.0, 0.0,
     "costlog: test alert for beta; webhooks are wired correctly"),
])
def test_alert_text(kind: str, project: str, spent: float, limit: float, percent: float,
                    text: str) -> None:
    assert alerts.alert_text(kind, project, "2026-12", spent_usd=spent, limit_usd=limit,
                             percent_used=percent) == text


def test_payload_and_id() -> None:
    status = {"project": "alpha", "month": "2026-12", "current_spent_usd": 203.0,
              "monthly_limit_usd": 250.0, "percent_used": 81.2}
    ident = alerts.alert_id(THRESHOLD, "alpha", "2026-12")
    assert ident == "budget.threshold:alpha:2026-12"
    body = alerts.payload(THRESHOLD, status, "2026-12-03T10:00:00+00:00", ident)
    assert body == {"id": ident, "type": THRESHOLD, "project": "alpha", "month": "2026-12",
                    "fired_at": "2026-12-03T10:00:00+00:00", "budget": status,
                    "text": "costlog: alpha has used 81.2% of its $250.00 budget for"
                            " December 2026 ($203.00 spent)"}
    assert alerts.encode(body).startswith(b'{"id":"budget.threshold:alpha:2026-12","type"')


def test_signature_is_hmac_sha256_of_the_raw_body() -> None:
    body = b'{"id":"x"}'
    expected = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert alerts.signature("s3cret", body) == f"sha256={expected}"


@pytest.mark.parametrize(("url", "shown"), [
    ("https://hooks.example.com/services/T1/B2", "https://hooks.example.com/services/T1/B2"),
    ("https://user:pa55@hooks.example.com/x?token=abc#frag", "https://hooks.example.com/x"),
    ("http://127.0.0.1:8099/hook?sig=1", "http://127.0.0.1:8099/hook"),
    ("http://[::1]:9000/h", "http://[::1]:9000/h"),
    ("http://host:99999/x", "<unparseable url>"),
])
def test_redact_url(url: str, shown: str) -> None:
    assert alerts.redact_url(url) == shown


def test_url_key_is_stable_and_hides_the_url() -> None:
    key = alerts.url_key("https://hooks.example.com/services/SECRET")
    assert key == alerts.url_key("https://hooks.example.com/services/SECRET")
    assert len(key) == 16 and "SECRET" not in key


def state(month: str = "2026-11", spent: float = 120.0, limit: float = 100.0,
          hard: bool = True) -> BudgetState:
    return BudgetState("alpha", month, "UTC", spent, limit, hard)


@pytest.mark.parametrize(("budget", "reason"), [
    (state(), "budget exceeded: $120.00 spent of $100.00 limit for November 2026"),
    (state(spent=100.0), None),  # at the limit: still allowed
    (state(hard=False), None),  # a soft budget only alerts
    (state(limit=0.0), None),  # no budget
    (state(month="2026-10"), None),  # last month's spend: a new month re-opens
])
def test_blocked_reason(budget: BudgetState, reason: str | None) -> None:
    assert alerts.blocked_reason(budget, "2026-11") == reason


def test_state_round_trip_and_refusals() -> None:
    budget = state()
    assert BudgetState.from_json("alpha", budget.to_json()) == budget
    with pytest.raises(ValueError):
        BudgetState.from_json("alpha", budget.to_json() | {"spent_usd": float("nan")})
    with pytest.raises(KeyError):
        BudgetState.from_json("alpha", {"month": "2026-11"})

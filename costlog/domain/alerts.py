"""Budget alerts and the budget gate, as pure functions: which alerts are due, what they say,
how a webhook body is signed, how a URL is shown, and the gate's verdict. No I/O, no clock."""

import hashlib
import hmac
import json
import math
from calendar import month_name
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from costlog.constants import ALL_PROJECTS

THRESHOLD = "budget.threshold"
EXCEEDED = "budget.exceeded"
TEST = "budget.test"
#: Alert kinds in the order they are decided (a threshold below 100 % is crossed first).
KINDS = (THRESHOLD, EXCEEDED)
SIGNATURE_PREFIX = "sha256="


def due(spent_usd: float, limit_usd: float, threshold_percent: int) -> tuple[str, ...]:
    """The kinds whose condition holds: percent_used ≥ threshold, spent > limit (limit > 0)."""
    if limit_usd <= 0:
        return ()
    kinds = []
    if spent_usd / limit_usd * 100 >= threshold_percent:
        kinds.append(THRESHOLD)
    if spent_usd > limit_usd:
        kinds.append(EXCEEDED)
    return tuple(kinds)


def alert_id(kind: str, project: str, month: str) -> str:
    """The stable id receivers de-duplicate on: ``budget.threshold:<project>:<YYYY-MM>``."""
    return f"{kind}:{project}:{month}"


def month_title(month: str) -> str:
    """``2026-12`` → ``December 2026``."""
    year, number = month.split("-")
    return f"{month_name[int(number)]} {year}"


def _who(project: str) -> str:
    return "all projects" if project == ALL_PROJECTS else project


def alert_text(kind: str, project: str, month: str, *, spent_usd: float, limit_usd: float,
               percent_used: float) -> str:
    """One line readable in Slack- and Mattermost-style incoming webhooks."""
    budget = f"${limit_usd:,.2f} budget for {month_title(month)}"
    if kind == EXCEEDED:
        return (f"costlog: {_who(project)} has exceeded its {budget}"
                f" (${spent_usd:,.2f} spent, {percent_used:.1f}%)")
    if kind == TEST:
        return f"costlog: test alert for {_who(project)}; webhooks are wired correctly"
    return (f"costlog: {_who(project)} has used {percent_used:.1f}% of its {budget}"
            f" (${spent_usd:,.2f} spent)")


def payload(kind: str, status: dict[str, Any], fired_at: str, ident: str) -> dict[str, Any]:
    """The JSON body every webhook gets for an alert about ``status`` (a budget status)."""
    project, month = status["project"], status["month"]
    return {
        "id": ident, "type": kind, "project": project, "month": month, "fired_at": fired_at,
        "budget": status,
        "text": alert_text(kind, project, month, spent_usd=status["current_spent_usd"],
                           limit_usd=status["monthly_limit_usd"],
                           percent_used=status["percent_used"]),
    }


def encode(body: dict[str, Any]) -> bytes:
    """The exact bytes sent (and signed)."""
    return json.dumps(body, separators=(",", ":"), allow_nan=False).encode()


def signature(secret: str, body: bytes) -> str:
    """``X-Costlog-Signature``: ``sha256=`` and the hex HMAC-SHA256 of the raw body."""
    return SIGNATURE_PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def redact_url(url: str) -> str:
    """``url`` without credentials, query or fragment: what logs and the API show."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<unparseable url>"
    if ":" in host:
        host = f"[{host}]"  # IPv6 literal
    return urlunsplit((parts.scheme, host + port, parts.path, "", ""))


def url_key(url: str) -> str:
    """A digest naming a configured webhook in jobs and rows, so its full URL (which may hold a
    secret) never leaves the settings."""
    return hashlib.sha256(url.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class BudgetState:
    """What the gate knows of one budget: its month's spend, as the worker last committed it."""

    project: str
    month: str  # YYYY-MM in the budget's zone
    timezone: str
    spent_usd: float
    limit_usd: float
    hard_limit: bool

    def to_json(self) -> dict[str, object]:
        return {"month": self.month, "timezone": self.timezone, "spent_usd": self.spent_usd,
                "limit_usd": self.limit_usd, "hard_limit": self.hard_limit}

    @classmethod
    def from_json(cls, project: str, data: dict[str, object]) -> "BudgetState":
        """Raises ValueError/KeyError/TypeError on anything but what :meth:`to_json` wrote."""
        spent, limit = float(data["spent_usd"]), float(data["limit_usd"])  # type: ignore[arg-type]
        if not (math.isfinite(spent) and math.isfinite(limit)):
            raise ValueError("not finite")
        return cls(project=project, month=str(data["month"]), timezone=str(data["timezone"]),
                   spent_usd=spent, limit_usd=limit, hard_limit=data["hard_limit"] is True)


def blocked_reason(state: BudgetState, current_month: str) -> str | None:
    """Why ``state`` closes the gate in ``current_month`` (of its zone), or None.

    A state of an earlier month is a month with nothing spent yet: a new month re-opens.
    """
    if not state.hard_limit or state.limit_usd <= 0 or state.month != current_month:
        return None
    if state.spent_usd <= state.limit_usd:
        return None
    return (f"budget exceeded: ${state.spent_usd:,.2f} spent of ${state.limit_usd:,.2f} limit"
            f" for {month_title(state.month)}")

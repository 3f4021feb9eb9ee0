"""A Claude Code logs tree written for the tests, and the figures it must give, computed from
the responses it was written from (not by costlog's code). No tests here."""

import json
import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from costlog.store.connection import connect

#: Anthropic list prices (USD per million tokens), written out here rather than taken from
#: costlog's sources: input, output, 5-minute cache write, 1-hour cache write, cache read.
LIST_PRICES = {
    "claude-sonnet-4-5-20250929": (3.0, 15.0, 3.75, 6.0, 0.30),
    "claude-opus-4-5-20251101": (5.0, 25.0, 6.25, 10.0, 0.50),
    "claude-haiku-4-5-20251001": (1.0, 5.0, 1.25, 2.0, 0.10),
}
#: USD per web-search request ($10 per 1,000).
WEB_SEARCH = 0.01
SONNET, OPUS, HAIKU = LIST_PRICES


@dataclass(frozen=True)
class Truth:
    """One response as it happened; the tree holds its copies."""

    message_id: str
    request_id: str | None
    project: str  # cwd
    session: str
    model: str
    input: int
    output: int  # final: streaming copies before it have less
    write_5m: int
    write_1h: int
    read: int
    timestamp: str
    sidechain: bool = False
    cost_usd: float | None = None
    web_searches: int = 0

    @property
    def cost(self) -> float:
        if self.cost_usd is not None:
            return self.cost_usd
        price_in, price_out, price_5m, price_1h, price_read = LIST_PRICES[self.model]
        return (self.input * price_in + self.output * price_out + self.write_5m * price_5m
                + self.write_1h * price_1h + self.read * price_read) / 1e6 \
            + self.web_searches * WEB_SEARCH


def line(truth: Truth, *, output: int | None = None, sidechain: bool | None = None,
         old_format: bool = False, **extra: Any) -> str:
    """A line Claude Code writes for (a copy of) ``truth``."""
    usage: dict[str, Any] = {
        "input_tokens": truth.input, "output_tokens": truth.output if output is None else output,
        "cache_creation_input_tokens": truth.write_5m + truth.write_1h,
        "cache_read_input_tokens": truth.read, "service_tier": "standard"}
    if truth.web_searches:
        usage["server_tool_use"] = {"web_search_requests": truth.web_searches}
    if not old_format:
        usage["cache_creation"] = {"ephemeral_5m_input_tokens": truth.write_5m,
                                   "ephemeral_1h_input_tokens": truth.write_1h}
    record: dict[str, Any] = {
        "parentUuid": "p", "isSidechain": truth.sidechain if sidechain is None else sidechain,
        "userType": "external", "cwd": truth.project, "sessionId": truth.session,
        "version": "1.0.98" if old_format else "2.0.14", "gitBranch": "main",
        "message": {"id": truth.message_id, "type": "message", "role": "assistant",
                    "model": truth.model, "content": [{"type": "text", "text": "Working on it"}],
                    "stop_reason": None, "stop_sequence": None, "usage": usage},
        "type": "assistant", "uuid": f"u-{truth.message_id}-{output}",
        "timestamp": truth.timestamp,
    }
    if truth.request_id is not None:
        record["requestId"] = truth.request_id
    if truth.cost_usd is not None:
        record["costUSD"] = truth.cost_usd
    return json.dumps(record | extra)


def user(session: str, cwd: str, text: str, sidechain: bool = False) -> str:
    return json.dumps({
        "parentUuid": "p", "isSidechain": sidechain, "userType": "external", "cwd": cwd,
        "sessionId": session, "version": "2.0.14", "type": "user",
        "message": {"role": "user", "content": [{"tool_use_id": "toolu_1", "type": "tool_result",
                                                 "content": text}]},
        "uuid": "u", "timestamp": "2026-11-10T09:00:00.000Z"})


SHOP, BLOG = "/home/dev/shop", "/home/dev/blog"
S1, S2, S3, S4 = ("0b6f-shop-one", "4c1e-shop-two", "9d2a-blog-one", "77aa-api-one")

R = {
    # shop, first session: streaming copies, a 1-hour cache write, a reported cost
    "a1": Truth("msg_a1", "req_a1", SHOP, S1, SONNET, 12, 480, 3000, 0, 18000,
                "2026-11-10T09:00:01.100Z"),
    "a2": Truth("msg_a2", "req_a2", SHOP, S1, SONNET, 3, 95, 200, 45000, 21000,
                "2026-11-10T09:01:30.000Z", web_searches=2),
    "a3": Truth("msg_a3", "req_a3", SHOP, S1, OPUS, 8, 1200, 0, 0, 40000,
                "2026-11-10T09:03:00.000Z", cost_usd=0.0524),
    # its subagent: a response of its own, in two copies
    "a4": Truth("msg_a4", "req_a4", SHOP, S1, HAIKU, 900, 310, 1500, 0, 2500,
                "2026-11-10T09:02:10.000Z", sidechain=True),
    # shop, second session: Claude Code before the cache_creation object, one line without
    # requestId
    "b1": Truth("msg_b1", "req_b1", SHOP, S2, SONNET, 40, 700, 8000, 0, 0,
                "2026-11-14T16:20:00.000Z"),
    "b2": Truth("msg_b2", None, SHOP, S2, HAIKU, 5, 60, 0, 0, 9000, "2026-11-14T16:25:00.000Z"),
    # blog
    "c1": Truth("msg_c1", "req_c1", BLOG, S3, OPUS, 2, 2048, 12000, 0, 30000,
                "2026-11-18T22:59:59.999Z"),
    "c2": Truth("msg_c2", "req_c2", BLOG, S3, SONNET, 1, 3, 0, 0, 0, "2026-11-18T23:00:00.000Z"),
    # api: a line without cwd (the project is the folder's name)
    "d1": Truth("msg_d1", "req_d1", "-srv-api", S4, HAIKU, 100, 100, 0, 600, 100,
                "2026-11-19T08:00:00+02:00"),
}


def write_tree(root: Path) -> int:
    """The logs of R under ``root`` (a ``projects`` folder); the number of files."""
    files: dict[str, list[str]] = {
        f"-home-dev-shop/{S1}.jsonl": [
            json.dumps({"type": "summary", "summary": "Checkout tests", "leafUuid": "x"}),
            user(S1, SHOP, "def test_checkout():\n    assert total() == 12"),
            line(R["a1"], output=1), line(R["a1"], output=200), line(R["a1"]),
            user(S1, SHOP, "ok"),
            line(R["a2"], output=95 - 90), line(R["a2"]),
            # a message Claude Code made up (no model produced it): skipped
            line(Truth("msg_syn", "req_syn", SHOP, S1, "<synthetic>", 0, 0, 0, 0, 0,
                       "2026-11-10T09:02:00.000Z")),
            # an API error line: no message id
            line(R["a2"]).replace('"id": "msg_a2"', '"id": ""'),
            line(R["a3"]), "",
            # the session was being written: its last line is cut off
            line(R["a3"], output=1300)[:150],
        ],
        f"-home-dev-shop/{S1}/subagents/agent-7f3c.jsonl": [
            user(S1, SHOP, "find the flaky test", sidechain=True),
            line(R["a4"], output=10), line(R["a4"]),
            # replays of main-chain responses, larger or not: the main-chain ones count
            line(R["a1"], sidechain=True, output=999), line(R["a2"], sidechain=True),
        ],
        f"-home-dev-shop/{S2}.jsonl": [
            line(R["b1"], old_format=True, output=300), line(R["b1"], old_format=True),
            line(R["b2"], old_format=True),
        ],
        f"-home-dev-blog/{S3}.jsonl": [
            user(S3, BLOG, "draft"), line(R["c1"], output=2047), line(R["c1"]), "{garbage",
            line(R["c2"]), line(R["c2"]),
        ],
        f"-srv-api/{S4}.jsonl": [
            line(R["d1"]).replace('"cwd": "-srv-api", ', ""),
        ],
    }
    for name, lines in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n")
    (root / "-home-dev-shop" / "notes.txt").write_text("not a log")
    return len(files)


MALFORMED = 2  # the cut-off line and "{garbage"


def expected_by_task() -> dict[tuple[str, str, str], tuple[int, float, int, int, int, int]]:
    """(project, session, phase) -> (events, cost, input, output, cache write, cache read)."""
    sums: dict[tuple[str, str, str], list[float]] = defaultdict(lambda: [0, 0.0, 0, 0, 0, 0])
    for truth in R.values():
        entry = sums[(truth.project, truth.session, "subagent" if truth.sidechain else "session")]
        for index, value in enumerate((1, truth.cost, truth.input, truth.output,
                                       truth.write_5m + truth.write_1h, truth.read)):
            entry[index] += value
    return {key: tuple(value) for key, value in sums.items()}  # type: ignore[misc]


def stored_by_task(db_file: Path) -> dict[tuple[str, str, str], tuple]:
    db = connect(db_file)
    rows = db.execute(
        "SELECT project_id, task_id, phase, COUNT(*), SUM(cost_usd), SUM(input_tokens),"
        " SUM(output_tokens), SUM(cache_creation_tokens), SUM(cache_read_tokens)"
        " FROM cost_log GROUP BY 1, 2, 3").fetchall()
    db.close()
    return {tuple(row[:3]): tuple(row[3:]) for row in rows}


def assert_same(stored: dict[tuple, tuple], expected: dict[tuple, tuple]) -> None:
    assert stored.keys() == expected.keys()
    for key, (events, cost, *tokens) in expected.items():
        assert stored[key][0] == events, key
        assert math.isclose(stored[key][1], cost, rel_tol=1e-12), key
        assert list(stored[key][2:]) == tokens, key

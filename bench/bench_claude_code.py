"""`costlog import --format claude-code` throughput over a generated Claude Code logs tree.

    python -m bench.bench_claude_code [--quick] [--lines N] [--workdir DIR]

Generates (once, kept in the work directory) a ``projects`` tree shaped like Claude Code's:
20 project folders, sessions of up to 400 lines, one session in eight with a subagent log in
``<session>/subagents/``. Each response is a user turn (a tool result of 0.2-2.5 KB) followed
by one to three streaming copies of the assistant line, ``output_tokens`` growing; some
responses are replayed on a sidechain, one line in 20 is a summary line, and one
session in 50 ends in a truncated line. Then times the import into a fresh database as a child
process, and reports log lines per second (every line read, whatever its kind), the CPU time
of the import and its readers, and peak memory.
"""

import argparse
import json
import random
import resource
import time
import uuid
from datetime import timedelta
from pathlib import Path

from bench.bench_import import database, timed_import
from bench.common import NOW, Results, heading, machine

RESULTS = Results()
DEFAULT_WORKDIR = Path("/tmp/costlog-bench")
MODELS = (("claude-sonnet-4-5-20250929", 6), ("claude-opus-4-5-20251101", 2),
          ("claude-haiku-4-5-20251001", 2))
WORDS = ("the test", "passes", "now", "reading", "src/app.py", "refactor", "the failing",
         "assertion", "because", "fixture", "returns", "None", "instead of", "a list")


def _text(rng: random.Random, size: int) -> str:
    words: list[str] = []
    length = 0
    while length < size:
        word = rng.choice(WORDS)
        words.append(word)
        length += len(word) + 1
    return " ".join(words)


def _session_lines(rng: random.Random, count: int, cwd: str, session: str,
                   sidechain: bool) -> list[str]:
    """About ``count`` lines of one session (or of one subagent's log when ``sidechain``)."""
    out: list[str] = []
    when = NOW - timedelta(days=rng.uniform(1, 300))
    model = rng.choices([m for m, _ in MODELS], [w for _, w in MODELS])[0]
    common = {"isSidechain": sidechain, "userType": "external", "cwd": cwd,
              "sessionId": session, "version": "2.0.14", "gitBranch": "main"}
    while len(out) < count:
        when += timedelta(seconds=rng.uniform(2, 90))
        stamp = when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
        if rng.random() < 0.05:
            out.append(json.dumps({"type": "summary", "summary": _text(rng, 60),
                                   "leafUuid": str(uuid.UUID(int=rng.getrandbits(128)))}))
            continue
        out.append(json.dumps({
            "parentUuid": str(uuid.UUID(int=rng.getrandbits(128))), **common, "type": "user",
            "message": {"role": "user", "content": [{
                "tool_use_id": f"toolu_{rng.getrandbits(64):016x}", "type": "tool_result",
                "content": _text(rng, rng.randint(200, 2500))}]},
            "uuid": str(uuid.UUID(int=rng.getrandbits(128))), "timestamp": stamp}))
        message_id = f"msg_{rng.getrandbits(96):024x}"
        request_id = f"req_{rng.getrandbits(96):024x}"
        write = rng.choice((0, 0, 0, rng.randint(100, 20_000)))
        hour = write if rng.random() < 0.1 else 0
        output = rng.randint(1, 50)
        copies = rng.choice((1, 2, 2, 3))
        for copy in range(copies):
            output += rng.randint(0, 400) * copy
            out.append(json.dumps({
                "parentUuid": str(uuid.UUID(int=rng.getrandbits(128))), **common,
                "message": {
                    "id": message_id, "type": "message", "role": "assistant", "model": model,
                    "content": [{"type": "text", "text": _text(rng, rng.randint(50, 600))}],
                    "stop_reason": None, "stop_sequence": None,
                    "usage": {"input_tokens": rng.randint(1, 30),
                              "cache_creation_input_tokens": write,
                              "cache_read_input_tokens": rng.randint(0, 80_000),
                              "cache_creation": {"ephemeral_5m_input_tokens": write - hour,
                                                 "ephemeral_1h_input_tokens": hour},
                              "output_tokens": output, "service_tier": "standard"}},
                "requestId": request_id, "type": "assistant",
                "uuid": str(uuid.UUID(int=rng.getrandbits(128))), "timestamp": stamp}))
    return out


def write_tree(root: Path, lines: int, *, seed: int = 17) -> int:
    """A Claude Code ``projects`` tree of about ``lines`` lines under ``root``; the exact count."""
    rng = random.Random(seed)
    written = 0
    number = 0
    while written < lines:
        project = f"/home/dev/work/project-{number % 20:02d}"
        session = str(uuid.UUID(int=rng.getrandbits(128)))
        folder = root / project.replace("/", "-")
        folder.mkdir(parents=True, exist_ok=True)
        body = _session_lines(rng, min(rng.randint(20, 400), lines - written), project,
                              session, False)
        if number % 50 == 49:
            body[-1] = body[-1][:len(body[-1]) // 2]
        (folder / f"{session}.jsonl").write_text("\n".join(body) + "\n")
        written += len(body)
        if number % 8 == 7 and written < lines:
            agent = folder / session / "subagents"
            agent.mkdir(parents=True)
            side = _session_lines(rng, min(rng.randint(20, 120), lines - written), project,
                                  session, True)
            # Replays of main-chain responses, marked as sidechain lines.
            side += [line.replace('"isSidechain": false', '"isSidechain": true')
                     for line in body[:20] if '"type": "assistant"' in line][:5]
            (agent / f"agent-{rng.getrandbits(32):08x}.jsonl").write_text("\n".join(side) + "\n")
            written += len(side)
        number += 1
    return written


def logs_tree(workdir: Path, lines: int) -> tuple[Path, int]:
    root = workdir / f"claude-code-{lines}" / "projects"
    count_file = root.parent / "lines"
    if not count_file.exists():
        started = time.perf_counter()
        count = write_tree(root, lines)
        count_file.write_text(str(count))
        print(f"  generated {root} ({count:,} lines) in {time.perf_counter() - started:.1f} s",
              flush=True)
    return root, int(count_file.read_text())


def bench(workdir: Path, lines: int) -> None:
    heading(f"costlog import --format claude-code of a {lines:,}-line logs tree")
    root, count = logs_tree(workdir, lines)
    size = sum(p.stat().st_size for p in root.rglob("*.jsonl")) / 2**20
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    elapsed, peak, combined, summary = timed_import(
        database(workdir, lines, "claude-code"), root, "--format", "claude-code")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # CPU time of the import and its readers: what a busy machine cannot hide.
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    rate = count / elapsed
    RESULTS.add(f"import {count:,} log lines ({size:,.0f} MB): rate",
                f"{rate:,.0f} lines/s ({elapsed:.1f} s; {summary})", "≥ 20,000/s",
                rate >= 20_000)
    RESULTS.add(f"import {count:,} log lines: CPU time", f"{cpu:.1f} s"
                f" ({count / cpu:,.0f} lines per CPU-second)")
    RESULTS.add(f"import {count:,} log lines: peak memory", f"{combined:.0f} MB"
                f" (PSS; largest process {peak:.0f} MB RSS)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="50,000 lines: a smoke run")
    parser.add_argument("--lines", type=int)
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    args = parser.parse_args()
    lines = args.lines or (50_000 if args.quick else 500_000)
    args.workdir.mkdir(parents=True, exist_ok=True)
    print(machine())
    bench(args.workdir, lines)
    print("\n" + RESULTS.table())


if __name__ == "__main__":
    main()

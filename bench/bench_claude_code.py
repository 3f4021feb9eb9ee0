"""`costlog import --format claude-code` beside ccusage over one generated Claude Code history,
and `costlog statusline` at a million events.

    python -m bench.bench_claude_code [--quick] [--lines N] [--events N] [--ccusage PATH]
                                      [--workdir DIR]

Generates (once, kept in the work directory; seeded) a ``projects`` tree shaped like Claude
Code's, its lines compact JSON as Claude Code writes them: 20 project folders, sessions of up
to 400 lines, one session in eight with a subagent log in ``<session>/subagents/``. Each
response is a user turn (a tool result of 0.2-2.5 KB) followed by one to three streaming copies
of the assistant line, ``output_tokens`` growing; some responses are replayed on a sidechain,
one line in 20 is a summary line, and one session in 50 ends in a truncated line.

Then, each as a child process: ``ccusage daily`` over the tree (when ``node`` and the ccusage
npm package are there: ``--ccusage``, ``CCUSAGE`` or ``ccusage`` on PATH), the first import
into a fresh database (time, CPU time, peak memory of all its processes), a re-import with
nothing new, a re-import after 1 % new lines (appended to every tenth session, then taken off
again) beside ccusage over the grown tree, and ``costlog report daily --all``. Last, ``costlog
statusline`` run as Claude Code runs it, a process per call, over ``bench.bench_import``'s
database of ``--events`` events (built when missing).
"""

import argparse
import json
import os
import random
import re
import resource
import shutil
import sqlite3
import subprocess
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

from bench.bench_import import NO_REDIS, database, events_file, timed_import
from bench.common import COSTLOG, NOW, Results, env_for, heading, machine, percentile
from bench.common import summary as summary_ms

RESULTS = Results()
DEFAULT_WORKDIR = Path("/tmp/costlog-bench")
MODELS = (("claude-sonnet-4-5-20250929", 6), ("claude-opus-4-5-20251101", 2),
          ("claude-haiku-4-5-20251001", 2))
WORDS = ("the test", "passes", "now", "reading", "src/app.py", "refactor", "the failing",
         "assertion", "because", "fixture", "returns", "None", "instead of", "a list")


def _json(record: dict) -> str:
    """A log line as Claude Code (JSON.stringify) writes it: compact, which ccusage relies on."""
    return json.dumps(record, separators=(",", ":"))


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
            out.append(_json({"type": "summary", "summary": _text(rng, 60),
                                   "leafUuid": str(uuid.UUID(int=rng.getrandbits(128)))}))
            continue
        out.append(_json({
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
            out.append(_json({
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
            side += [line.replace('"isSidechain":false', '"isSidechain":true')
                     for line in body[:20] if '"type": "assistant"' in line][:5]
            (agent / f"agent-{rng.getrandbits(32):08x}.jsonl").write_text("\n".join(side) + "\n")
            written += len(side)
        number += 1
    return written


def logs_tree(workdir: Path, lines: int) -> tuple[Path, int]:
    root = workdir / f"claude-code-compact-{lines}" / "projects"
    count_file = root.parent / "lines"
    if not count_file.exists():
        started = time.perf_counter()
        count = write_tree(root, lines)
        count_file.write_text(str(count))
        print(f"  generated {root} ({count:,} lines) in {time.perf_counter() - started:.1f} s",
              flush=True)
    return root, int(count_file.read_text())


def grow(root: Path, lines: int, *, seed: int = 29) -> dict[Path, int]:
    """About ``lines`` new lines appended to every tenth session's log (new responses, as a
    day's work adds them); the files' sizes before, to put them back with :func:`shrink`."""
    rng = random.Random(seed)
    logs = sorted(root.glob("*/*.jsonl"))[::10]
    before = {path: path.stat().st_size for path in logs}
    each = max(1, lines // max(len(logs), 1))
    for path in logs:
        first = json.loads(path.open().readline() or "{}")
        added = _session_lines(rng, each, first.get("cwd", "/home/dev/work/project-00"),
                               first.get("sessionId", path.stem), False)
        with path.open("a") as stream:
            stream.write("\n".join(added) + "\n")
    return before


def shrink(before: dict[Path, int]) -> None:
    for path, size in before.items():
        os.truncate(path, size)


def find_ccusage(given: str | None) -> list[str] | None:
    """The peer's command: ``--ccusage PATH`` (or CCUSAGE), else ``ccusage`` on PATH; None
    without ``node`` or without the npm package."""
    if shutil.which("node") is None:
        return None
    found = given or os.environ.get("CCUSAGE") or shutil.which("ccusage")
    return [found] if found and Path(found).exists() else None


def timed_peer(command: list[str], config: Path) -> tuple[float, float, int]:
    """(seconds, peak RSS in MB, days reported) of ``ccusage daily`` over ``config``'s logs,
    in a home of its own (so it finds no other agent's logs), prices offline."""
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "HOME": home, "CLAUDE_CONFIG_DIR": str(config), "NO_COLOR": "1"}
        wrapper = ["/usr/bin/time", "-v"] if Path("/usr/bin/time").exists() else []
        started = time.perf_counter()
        done = subprocess.run([*wrapper, *command, "daily", "--offline", "--json"], env=env,
                              capture_output=True, text=True, check=True)
        elapsed = time.perf_counter() - started
    match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    days = len(json.loads(done.stdout)["daily"])
    return elapsed, int(match[1]) / 1024 if match else 0.0, days


def timed_command(env: dict[str, str], *args: str) -> float:
    started = time.perf_counter()
    subprocess.run([COSTLOG, *args], env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def ratio(figure: str, ours: float, peer: float | None, target: float) -> None:
    if peer is None:
        RESULTS.add(figure, f"{ours:.2f} s (ccusage not run)")
        return
    RESULTS.add(figure, f"{ours:.2f} s = {ours / peer:.3f}x ccusage's {peer:.2f} s",
                f"<= {target}x", ours <= target * peer)


def bench(workdir: Path, lines: int, ccusage: list[str] | None) -> None:
    heading(f"costlog import --format claude-code of a {lines:,}-line logs tree"
            f"{' beside ccusage daily' if ccusage else ''}")
    root, count = logs_tree(workdir, lines)
    size = sum(p.stat().st_size for p in root.rglob("*.jsonl")) / 2**20
    peer = None
    if ccusage:
        peer, peer_rss, days = timed_peer(ccusage, root.parent)
        RESULTS.add("ccusage daily, whole history", f"{peer:.2f} s, {peer_rss:.0f} MB peak RSS"
                    f" ({days} days)")
    db = database(workdir, lines, "claude-code")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    elapsed, peak, combined, summary = timed_import(db, root, "--format", "claude-code")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # CPU time of the import and its readers: what a busy machine cannot hide.
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    ratio(f"first import, {count:,} log lines ({size:,.0f} MB)", elapsed, peer, 3)
    RESULTS.add("first import: rate, CPU time", f"{count / elapsed:,.0f} lines/s; {cpu:.1f} s"
                f" CPU ({count / cpu:,.0f} lines per CPU-second); {summary}")
    RESULTS.add("first import: peak memory", f"{combined:.0f} MB (PSS of all its processes;"
                f" largest process {peak:.0f} MB RSS)", "<= 250 MB", combined <= 250)
    env = env_for(db, NO_REDIS)
    again, _, again_pss, summary = timed_import(db, root, "--format", "claude-code", env=env)
    ratio("re-import, nothing new", again, peer, 0.05)
    RESULTS.add("re-import, nothing new: summary", f"{summary}; {again_pss:.0f} MB PSS")
    sizes = grow(root, count // 100)
    try:
        grown_peer = timed_peer(ccusage, root.parent)[0] if ccusage else None
        grown, _, grown_pss, summary = timed_import(db, root, "--format", "claude-code",
                                                    env=env)
        ratio("re-import after 1 % new lines", grown, grown_peer, 0.1)
        RESULTS.add("re-import after 1 % new lines: summary", f"{summary}; {grown_pss:.0f} MB PSS")
    finally:
        shrink(sizes)
    report = min(timed_command(env, "report", "daily", "--all", "--json") for _ in range(3))
    ratio("costlog report daily --all (best of 3)", report, peer, 0.1)


def bench_statusline(workdir: Path, events: int, runs: int) -> None:
    """``costlog statusline`` as Claude Code runs it (a process per call) over the database of
    ``bench.bench_import`` (``events`` events, built here when missing)."""
    heading(f"costlog statusline at {events:,} events, {runs} runs")
    db = database(workdir, events, "task")
    if not db.exists():
        timed_import(db, events_file(workdir, events, "task"))
    env = env_for(db, NO_REDIS)
    conn = sqlite3.connect(db)
    project, task = conn.execute(
        "SELECT project_id, task_id FROM rollup_task ORDER BY events DESC LIMIT 1").fetchone()
    conn.close()
    status = json.dumps({"session_id": task, "cwd": project,
                         "model": {"id": "claude-sonnet-4-5", "display_name": "Sonnet 4.5"}})
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run([COSTLOG, "statusline"], input=status, env=env, check=True,
                              capture_output=True, text=True)
        samples.append((time.perf_counter() - started) * 1000)
    p95 = percentile(samples, 95)
    RESULTS.add("statusline p95 (a process per call)", f"{summary_ms(samples)};"
                f" {done.stdout.strip()!r}", "<= 50 ms", p95 <= 50)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="50,000 lines: a smoke run")
    parser.add_argument("--lines", type=int)
    parser.add_argument("--events", type=int,
                        help="the statusline's database (default 1,000,000; 50,000 --quick)")
    parser.add_argument("--ccusage", help="the ccusage program (default: CCUSAGE, or on PATH)")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    args = parser.parse_args()
    lines = args.lines or (50_000 if args.quick else 500_000)
    events = args.events or (50_000 if args.quick else 1_000_000)
    args.workdir.mkdir(parents=True, exist_ok=True)
    print(machine())
    bench(args.workdir, lines, find_ccusage(args.ccusage))
    bench_statusline(args.workdir, events, 20 if args.quick else 100)
    print("\n" + RESULTS.table())


if __name__ == "__main__":
    main()

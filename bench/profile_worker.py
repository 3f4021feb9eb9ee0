"""Profile one ``costlog worker --burst`` draining a pre-filled queue, with py-spy.

    python -m bench.profile_worker OUT.txt [--events 2000] [--per-job 1] [--db PATH]

Queues ``--events`` events (``--per-job`` per job) on a private Redis, then runs
``py-spy record -f raw -o OUT.txt -- costlog worker --burst`` on a fresh database (or a copy
you pass with ``--db``, to see the write path at scale). Summarise with
``python -m bench.flame OUT.txt``. py-spy must be installed (``pip install py-spy``).
"""

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from bench.common import COSTLOG, NOW, VENV_BIN, env_for, events
from costlog import clock
from costlog.cli.redis_server import RedisServer
from ingest.client import Publisher


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--per-job", type=int, default=1)
    parser.add_argument("--db", type=Path, help="database to write into (it is modified)")
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--spread", choices=("live", "task", "uniform"), default="live",
                        help="event timestamps (bench.common.events)")
    args = parser.parse_args()
    clock.set_clock(clock.fixed(NOW))
    with tempfile.TemporaryDirectory(prefix="costlog-prof-") as tmp:
        workdir = Path(tmp)
        server = RedisServer(workdir / "redis", appendonly=True).start()
        try:
            db = args.db or workdir / "prof.db"
            env = env_for(db, server.url, "prof")
            subprocess.run([COSTLOG, "migrate"], env=env, check=True, capture_output=True)
            publisher = Publisher(server.url, "prof", workdir / "spool")
            payloads = list(events(args.events, id_prefix=f"p{time.time_ns()}",
                                   spread=args.spread))
            for index in range(0, len(payloads), args.per_job):
                publisher.publish_many(payloads[index:index + args.per_job])
            spy = shutil.which("py-spy") or str(VENV_BIN / "py-spy")
            started = time.perf_counter()
            subprocess.run([spy, "record", "-r", str(args.rate), "-f", "raw", "-o",
                            str(args.out), "--", COSTLOG, "worker", "--burst"], env=env,
                           check=True, capture_output=True)
            elapsed = time.perf_counter() - started
            print(f"{args.events} events, {args.per_job}/job, drained in {elapsed:.1f} s"
                  f" (with start-up and profiler) = {args.events / elapsed:,.0f} events/s")
        finally:
            server.stop()


if __name__ == "__main__":
    main()

"""Run the costlog worker: ``python worker.py [--burst]`` (settings from COSTLOG_* variables)."""

import argparse
import os

from costlog import logs
from ingest.client import Publisher
from ingest.settings import Settings
from ingest.worker import run_worker


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Record cost events from the costlog queue.")
    parser.add_argument("--burst", action="store_true", help="work until the queue is empty")
    args = parser.parse_args(argv)
    logs.configure(os.environ.get("COSTLOG_LOG_FORMAT", "text"))
    settings = Settings.from_env()
    # Like `costlog worker`: spooled events are replayed every few seconds.
    replay = Publisher.from_settings(settings).replay_spool if settings.redis_url else None
    run_worker(settings, burst=args.burst, replay_spool=replay)


if __name__ == "__main__":
    main()

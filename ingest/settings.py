"""Settings from environment variables (SPEC §9). CLI options override them by the same names."""

import os
from dataclasses import dataclass, field
from pathlib import Path

from ingest import constants


def data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "costlog"


@dataclass(frozen=True)
class Settings:
    db_path: Path = field(default_factory=lambda: data_dir() / "costlog.db")
    redis_url: str | None = None
    queue_name: str = constants.QUEUE_NAME
    spool_dir: Path = field(default_factory=lambda: data_dir() / "spool")
    project: str | None = None
    tz: str = "UTC"
    prices_path: Path | None = None
    api_token: str | None = None
    cors_origins: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Settings":
        env = dict(os.environ if env is None else env)
        defaults = cls()

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        db = get("COSTLOG_DB")
        spool = get("COSTLOG_SPOOL")
        prices = get("COSTLOG_PRICES")
        origins = get("COSTLOG_CORS_ORIGINS") or ""
        spool_default = Path(db).parent / "spool" if db else defaults.spool_dir
        return cls(
            db_path=Path(db) if db else defaults.db_path,
            redis_url=get("COSTLOG_REDIS_URL"),
            queue_name=get("COSTLOG_QUEUE") or constants.QUEUE_NAME,
            # The spool lives beside the database unless told otherwise.
            spool_dir=Path(spool) if spool else spool_default,
            project=get("COSTLOG_PROJECT"),
            tz=get("COSTLOG_TZ") or "UTC",
            prices_path=Path(prices) if prices else None,
            api_token=get("COSTLOG_API_TOKEN"),
            cors_origins=tuple(o.strip() for o in origins.split(",") if o.strip()),
        )

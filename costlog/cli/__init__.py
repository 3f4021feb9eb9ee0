"""The ``costlog`` command line. Every command's docstring is its ``--help``.

Settings come from ``costlog.settings`` (the ``COSTLOG_*`` variables); the options below override
them and are accepted before or after the command (``costlog --db X up`` = ``costlog up --db X``).
"""

import importlib.metadata
import logging
import os
import sys
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click

from costlog import constants, logs
from costlog.domain.event import CostEvent
from costlog.redaction import scrub
from costlog.settings import LOG_FORMATS, Settings, SettingsError, database, database_label

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

log = logging.getLogger("costlog")

_OPTIONS_KEY = "costlog.options"


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    # ctx.meta is shared by the group's and the command's contexts: a value given after the
    # command is parsed later and wins over one given before it.
    if value is not None and value is not False:
        ctx.meta.setdefault(_OPTIONS_KEY, {})[param.name] = value
    return value


def _settings_options() -> list[click.Option]:
    """The settings options, made anew for each command that takes them."""
    def option(*decls: str, **kwargs: Any) -> click.Option:
        return click.Option(decls, expose_value=False, callback=_remember, **kwargs)

    return [
        option("--db", "db_path", type=database,
               help="SQLite database file, or a postgresql:// URL [COSTLOG_DB]."),
        option("--redis-url", "redis_url", help="Redis URL [COSTLOG_REDIS_URL]."),
        option("--queue", "queue_name", help="Queue name [COSTLOG_QUEUE]."),
        option("--spool", "spool_dir", type=click.Path(path_type=Path),
               help="Spool directory for events Redis could not take [COSTLOG_SPOOL]."),
        option("--prices", "prices_path", type=click.Path(path_type=Path),
               help="Price override file [COSTLOG_PRICES]."),
        option("--log-format", "log_format", type=click.Choice(LOG_FORMATS),
               help="'json': one JSON object per log line [COSTLOG_LOG_FORMAT]."),
        option("-v", "--verbose", "verbose", is_flag=True, default=None,
               help="Log at debug level."),
    ]


class Command(click.Command):
    """A command that takes the settings options and builds its settings before it runs."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params.extend(_settings_options())

    def invoke(self, ctx: click.Context) -> Any:
        options = dict(ctx.meta.get(_OPTIONS_KEY, {}))
        verbose = options.pop("verbose", False)
        try:
            settings = Settings.from_env().override(**options)
        except SettingsError as error:
            raise click.UsageError(str(error)) from None
        logs.configure(settings.log_format, logging.DEBUG if verbose else logging.INFO)
        ctx.ensure_object(dict)["settings"] = settings
        return super().invoke(ctx)


class Group(click.Group):
    """A group whose commands (and sub-groups) all take the settings options."""

    command_class = Command

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params.extend(_settings_options())

    def invoke(self, ctx: click.Context) -> Any:
        ctx.ensure_object(dict)  # shared with the command's context, which puts settings in it
        try:
            return super().invoke(ctx)
        except Exception as error:
            # A database that cannot be written (a full disk above all) is one line, exit 1:
            # every write is one transaction, so what it had not committed is not there.
            settings = (ctx.find_object(dict) or {}).get("settings")
            if settings is None:
                raise
            from costlog.store.connection import write_failure

            reason = write_failure(error, settings.db_path)
            if reason is None:
                raise
            click.echo(f"cannot write the database: {reason}", err=True)
            ctx.exit(1)


Group.group_class = Group


def plural(count: int, noun: str) -> str:
    """``1 event``, ``2 events``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


_DAY = click.DateTime(formats=["%Y-%m-%d"])


def _reject(number: int, reason: str | None) -> None:
    click.echo(f"line {number}: {reason}", err=True)


def _settings(ctx: click.Context) -> Settings:
    return ctx.find_object(dict)["settings"]


def _open_db(settings: Settings):
    from costlog.store.connection import connect
    from costlog.store.migrations import migrate

    db = connect(settings.db_path)
    migrate(db)
    return db


VERSION_MESSAGE = "%(prog)s %(version)s"


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="costlog", prog_name="costlog", message=VERSION_MESSAGE)
def main() -> None:
    """costlog: exactly-once cost analytics for AI coding agents."""


@main.command(cls=click.Command)
def version() -> None:
    """Print the installed version of costlog (the same as ``costlog --version``)."""
    click.echo(VERSION_MESSAGE % {"prog": "costlog",
                                  "version": importlib.metadata.version("costlog")})


@main.command()
@click.pass_context
def migrate(ctx: click.Context) -> None:
    """Create or upgrade the database (safe to run any number of times)."""
    from costlog.store.connection import connect
    from costlog.store.migrations import migrate as apply

    settings = _settings(ctx)
    db = connect(settings.db_path)
    applied = apply(db)
    db.close()
    if applied:
        click.echo(f"applied migrations {', '.join(f'{v:03d}' for v in applied)}"
                   f" to {database_label(settings.db_path)}")
    else:
        click.echo(f"{database_label(settings.db_path)} is up to date")


def _publisher(settings: Settings):
    from ingest.client import Publisher

    return Publisher(settings.redis_url_or_default(), settings.queue_name, settings.spool_dir)


@main.command()
@click.argument("file", type=click.File("r", encoding="utf-8"), default="-")
@click.pass_context
def emit(ctx: click.Context, file: IO[str]) -> None:
    """Publish cost events from FILE (JSON lines; '-' or nothing reads stdin).

    Every rejected line is printed as 'line N: <reason>'; the good lines are still published,
    and the exit status is 1 if any line was rejected. When Redis is unavailable the events go
    to the spool and are replayed later.
    """
    from costlog.cli.importer import read_lines

    publisher = _publisher(_settings(ctx))
    batch: list[CostEvent] = []
    published = rejected = spooled = 0

    def flush() -> None:
        nonlocal published, spooled
        if batch:
            result = publisher.publish_events(batch)
            published += len(result.ids)
            spooled += len(result.ids) if result.spooled else 0
            batch.clear()

    for line in read_lines(file):
        if line.error:
            rejected += 1
            _reject(line.number, line.error)
            continue
        batch.append(line.event)
        if len(batch) >= constants.MAX_EVENTS_PER_REQUEST:
            flush()
    flush()
    note = f" ({spooled} spooled: Redis unavailable)" if spooled else ""
    click.echo(f"published {plural(published, 'event')}{note}, rejected {rejected}", err=True)
    ctx.exit(1 if rejected else 0)


IMPORT_FORMATS = ("jsonl", "claude-code")


@main.command(name="import")
@click.argument("paths", nargs=-1, metavar="[PATH]...", type=click.Path(path_type=Path))
@click.option("--format", "format_", type=click.Choice(IMPORT_FORMATS), default="jsonl",
              show_default=True,
              help="'jsonl': one FILE of cost events; 'claude-code': Claude Code's session logs.")
@click.option("--chunk", default=constants.IMPORT_CHUNK, show_default=True, type=click.IntRange(1),
              help="Events per transaction.")
@click.option("--full", is_flag=True,
              help="claude-code: read every log from the start, whatever was read before.")
@click.option("--follow", is_flag=True,
              help="claude-code: then keep recording new responses until Ctrl-C or SIGTERM.")
@click.pass_context
def import_(ctx: click.Context, paths: tuple[Path, ...], format_: str, chunk: int, full: bool,
            follow: bool) -> None:
    """Back-fill events straight into the database, exactly once.

    Uses the same idempotent write path as the worker, one transaction per chunk, so importing
    the same events twice counts nothing twice. Shows a progress bar on a terminal.

    --format jsonl (the default): one FILE of cost events, one JSON object a line. Rejected
    lines are printed as 'line N: <reason>' (events refused because a stored sum would
    leave its exact range as 'event ID: <reason>') and make the exit status 1.

    --format claude-code: the cost of every response in Claude Code's session logs, the
    *.jsonl files found in each PATH (folders searched recursively, subagent logs included);
    without PATH, in <dir>/projects for each directory of CLAUDE_CONFIG_DIR (comma-separated),
    else in ~/.config/claude/projects and ~/.claude/projects. The copies a log holds of one
    response count once. Only what was added to a log since the last import is read (--full:
    every log from the start). --follow: then keep running, recording each new response within
    seconds, until Ctrl-C or SIGTERM. Prints 'imported N events (M new, K already recorded, R
    revised) from F files (U unchanged); S malformed lines skipped'; the exit status is 1 only
    when no file could be read.
    """
    settings = _settings(ctx)
    if format_ == "claude-code":
        from costlog.cli.claude_logs import run_import

        run_import(settings, paths, chunk=chunk, claude_config_dir=os.environ.get(
            "CLAUDE_CONFIG_DIR"), home=Path.home(), full=full, follow=follow)
        return
    if full or follow:
        raise click.UsageError("--full and --follow are for --format claude-code", ctx)
    if len(paths) != 1:
        raise click.UsageError("--format jsonl imports one FILE", ctx)
    file = click.Path(exists=True, dir_okay=False, path_type=Path).convert(paths[0], None, ctx)
    _import_jsonl(ctx, settings, file, chunk)


def _import_jsonl(ctx: click.Context, settings: Settings, file: Path, chunk: int) -> None:
    from costlog.cli.importer import ParserProcess, import_database
    from costlog.constants import SUPERSEDED_BY_IMPORT
    from costlog.domain.pricing import load_prices
    from costlog.store.write import record_rows

    prices = load_prices(settings.prices_path)
    inserted = duplicates = rejected = 0
    rows: list[tuple] = []

    def write(count: int) -> None:
        nonlocal inserted, duplicates, rejected
        result = record_rows(db, rows[:count], source=SUPERSEDED_BY_IMPORT)
        inserted += result.inserted
        duplicates += result.duplicates
        for refusal in result.refused:  # a stored sum would leave its exact range
            click.echo(str(refusal), err=True)
        rejected += len(result.refused)
        del rows[:count]

    # The parser is forked before the database is opened: it must not inherit the connection.
    with ParserProcess(file, prices) as parser, click.progressbar(
        length=file.stat().st_size, label="importing", file=sys.stderr,
    ) as bar, import_database(settings.db_path) as db:
        for message in parser:
            for number, reason in message.rejected:
                _reject(number, reason)
            rejected += len(message.rejected)
            rows += message.rows()
            while len(rows) >= chunk:
                write(chunk)
            bar.update(message.size)
        if rows:
            write(len(rows))
    click.echo(f"imported {plural(inserted, 'event')}, {duplicates} duplicates ignored,"
               f" {rejected} rejected", err=True)
    ctx.exit(1 if rejected else 0)


@main.command()
@click.option("--burst", is_flag=True, help="Exit once the queue is empty.")
@click.option("--alerts", "deliveries", is_flag=True,
              help="Deliver budget alerts to the webhooks (the <queue>-alerts queue) instead.")
@click.pass_context
def worker(ctx: click.Context, burst: bool, deliveries: bool) -> None:
    """Run a queue worker: validate, price and record events exactly once.

    Waits for Redis when it is down, and replays the spool every few seconds. Run several for
    more throughput; they share the database safely. With --alerts it delivers budget alerts
    instead, on a queue of their own, so that a slow webhook never holds up recording.
    """
    from ingest.worker import run_worker

    settings = _settings(ctx).override(redis_url=_settings(ctx).redis_url_or_default())
    replay = None if deliveries else _publisher(settings).replay_spool
    run_worker(settings, burst=burst, replay_spool=replay, deliveries=deliveries)


@main.command()
@click.option("--host", default=constants.DEFAULT_HOST, show_default=True,
              help="Address to bind.")
@click.option("--port", default=constants.DEFAULT_PORT, show_default=True, help="Port to bind.")
@click.pass_context
def api(ctx: click.Context, host: str, port: int) -> None:
    """Serve the read API (and event ingest) over HTTP with uvicorn."""
    from api import serve

    settings = _settings(ctx)
    serve(settings.override(redis_url=settings.redis_url_or_default()), host, port)


@main.command()
@click.option("--demo", is_flag=True, help="Publish a month of demo events through the queue.")
@click.option("--claude-code", "claude_code", is_flag=True,
              help="Also record Claude Code's responses as they are written (import --follow).")
@click.option("--host", default=constants.DEFAULT_HOST, show_default=True,
              help="Address the API binds.")
@click.option("--port", default=constants.DEFAULT_PORT, show_default=True,
              type=click.IntRange(1, 65535), help="Port the API binds.")
@click.pass_context
def up(ctx: click.Context, demo: bool, claude_code: bool, host: str, port: int) -> None:
    """Run the whole stack on this machine: Redis, the worker and the API.

    Starts a private Redis (redis-server from PATH, else the embedded one) unless
    COSTLOG_REDIS_URL is set: 127.0.0.1 on a free port, AOF on, its data in redis/ beside the
    database. With --demo, publishes a realistic month of demo events through the queue and
    waits until they are recorded; their ids are fixed, so running it again adds nothing twice.
    With --claude-code, also runs `costlog import --format claude-code --follow`: what Claude
    Code's logs hold is imported, then each new response within seconds. Prints the API's
    address, example curl lines and the database path. Ctrl-C (or SIGTERM) stops everything;
    exits 1 if any part dies.
    """
    from costlog.cli.up import run_stack

    ctx.exit(run_stack(_settings(ctx), demo=demo, host=host, port=port,
                       claude_code=claude_code))


@main.group()
def spool() -> None:
    """Inspect or replay events that were spooled while Redis was unavailable."""


@spool.command(name="status")
@click.pass_context
def spool_status(ctx: click.Context) -> None:
    """Show how many events wait in the spool."""
    from ingest.spool import Spool

    settings = _settings(ctx)
    status = Spool(settings.spool_dir).status()
    click.echo(f"{settings.spool_dir}: {status.events} events in {status.files} files"
               f" ({status.bytes} bytes)")


@spool.command(name="replay")
@click.pass_context
def spool_replay(ctx: click.Context) -> None:
    """Publish spooled events to the queue now (exit 1 if Redis is unavailable)."""
    settings = _settings(ctx)
    try:
        count = _publisher(settings).replay_spool()
    except Exception as error:  # noqa: BLE001 - any Redis failure: report, keep the spool
        raise click.ClickException(
            f"replay stopped, events kept in the spool: {scrub(str(error), settings.redis_url)}"
        ) from None
    click.echo(f"replayed {plural(count, 'event')}")


@main.group()
def aggregates() -> None:
    """Check or rebuild the rollups against cost_log."""


@aggregates.command(name="check")
@click.pass_context
def aggregates_check(ctx: click.Context) -> None:
    """Compare every rollup with a recomputation from cost_log; exit 1 on any drift."""
    from costlog.store.write import check_aggregates

    db = _open_db(_settings(ctx))
    drift = 0
    for difference in check_aggregates(db):
        drift += 1
        click.echo(str(difference))
    db.close()
    click.echo("no drift" if not drift else f"{drift} differences", err=True)
    ctx.exit(1 if drift else 0)


@aggregates.command(name="rebuild")
@click.pass_context
def aggregates_rebuild(ctx: click.Context) -> None:
    """Recompute every rollup from cost_log (one transaction).

    Rows no exact sum can hold (stored by an older version) are first moved to the table
    cost_log_refused, each printed with the reason.
    """
    from costlog.store.write import rebuild_aggregates

    db = _open_db(_settings(ctx))
    set_aside = rebuild_aggregates(db)
    db.close()
    for refusal in set_aside:
        click.echo(f"cost_log row {refusal.row_id} set aside into cost_log_refused: {refusal}")
    click.echo("rollups rebuilt")




@main.command()
@click.argument("event_id")
@click.option("--reason", required=True, help="Why the event is void (kept in its history).")
@click.pass_context
def void(ctx: click.Context, event_id: str, reason: str) -> None:
    """Record the next revision of EVENT_ID as void: it leaves every figure (breakdowns,
    series, budgets, reports, export); its row and history stay. Voiding a void changes
    nothing; a later event with a higher revision brings it back. Exit 1 when no event has
    that id."""
    from costlog.store.write import EventNotFound, LastRevision, void_event

    if not reason.strip():
        raise click.BadParameter("must not be empty", param_hint="--reason")
    db = _open_db(_settings(ctx))
    try:
        result = void_event(db, event_id, reason)
    except EventNotFound:
        raise click.ClickException(f"event not found: {event_id}") from None
    except LastRevision as error:
        raise click.ClickException(str(error)) from None
    finally:
        db.close()
    if result.changed:
        click.echo(f"event {event_id} voided (revision {result.revision})")
    else:
        click.echo(f"event {event_id} was already void (revision {result.revision})")


@main.command()
@click.option("--since", type=_DAY, help="First day (YYYY-MM-DD, UTC); default the first row.")
@click.option("--until", type=_DAY, help="Last day, included (YYYY-MM-DD, UTC).")
@click.option("--project", help="One project [COSTLOG_PROJECT]; default all projects.")
@click.option("--apply", "apply_", is_flag=True,
              help="Record each changed row as its next revision (default: a dry run).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def reprice(ctx: click.Context, since: Any, until: Any, project: str | None, apply_: bool,
            as_json: bool) -> None:
    """Price every live computed or unpriced event again with today's price sources (a
    reported cost is never touched). Prints, per model id and UTC month, the rows, their cost
    now, re-priced and the difference, with a Total row. Without --apply nothing changes; with
    it each changed row becomes a new revision (superseded by 'reprice'), a chunk per
    transaction, exactly once: a second --apply finds nothing to change."""
    import json

    from rich.console import Console
    from rich.table import Table

    from costlog.domain.pricing import PriceFileError, load_prices
    from costlog.store.reprice import reprice as run

    settings = _settings(ctx)
    try:
        prices = load_prices(settings.prices_path)
    except PriceFileError as error:
        raise click.ClickException(str(error)) from None
    db = _open_db(settings)
    try:
        plan = run(db, prices, since=since and since.strftime("%Y-%m-%d"),
                   until=until and until.strftime("%Y-%m-%d"),
                   project=_project(settings, project), apply=apply_)
    finally:
        db.close()
    lines = [line.as_json() for line in plan.sorted_lines()]
    total = plan.total().as_json()
    if as_json:
        click.echo(json.dumps({"rows": lines, "total": total, "applied": plan.applied,
                               "dry_run": not apply_}, indent=2))
        return
    table = Table(title="costlog reprice" + ("" if apply_ else " (dry run: nothing changed)"))
    for name in ("model id", "month", "rows", "changed", "cost now", "re-priced",
                 "difference"):
        table.add_column(name, justify="left" if name in ("model id", "month") else "right")
    for line in [*lines, total]:
        table.add_row(line["model_id"], line["month"], f"{line['rows']:,}",
                      f"{line['changed']:,}", f"${line['cost_now_usd']:,.4f}",
                      f"${line['cost_repriced_usd']:,.4f}",
                      f"{line['difference_usd']:+,.4f}".replace("+", "+$").replace("-", "-$"),
                      end_section=line is total or line is lines[-1])
    Console().print(table)
    if apply_:
        click.echo(f"{plural(plan.applied, 'event')} re-priced as a new revision", err=True)


@main.group(name="local-days")
def local_days() -> None:
    """Keep days in the time zones you report in: their daily series read one row a day."""


def _utc_offset(minutes: int) -> str:
    return f"{'-' if minutes < 0 else '+'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _set_local_day_zones(ctx: click.Context, change: Callable[[set[str]], set[str]]) -> None:
    from costlog.store.queries import local_day_zones
    from costlog.store.write import set_local_day_zones

    db = _open_db(_settings(ctx))
    zones = change(set(local_day_zones(db)))
    offsets = set_local_day_zones(db, zones)
    db.close()
    if zones:
        click.echo(f"local days kept for {', '.join(sorted(zones))}"
                   f" (UTC offsets {', '.join(map(_utc_offset, offsets)) or 'none'})")
    else:
        click.echo("no local days kept")


@local_days.command(name="add")
@click.argument("zones", nargs=-1, required=True)
@click.pass_context
def local_days_add(ctx: click.Context, zones: tuple[str, ...]) -> None:
    """Keep local days for ZONES (IANA names such as America/New_York): each of their UTC
    offsets adds one row per event and day to three rollups, filled now from cost_log."""
    added = {name for name in zones if _zone_info(name, 'ZONES')}
    _set_local_day_zones(ctx, lambda kept: kept | added)


@local_days.command(name="remove")
@click.argument("zones", nargs=-1, required=True)
@click.pass_context
def local_days_remove(ctx: click.Context, zones: tuple[str, ...]) -> None:
    """Stop keeping local days for ZONES; the rows of offsets no other zone uses go."""
    removed = set(zones)
    _set_local_day_zones(ctx, lambda kept: kept - removed)


@local_days.command(name="list")
@click.pass_context
def local_days_list(ctx: click.Context) -> None:
    """The zones whose local days are kept, one per line with their UTC offsets."""
    from costlog.store.queries import local_day_zones
    from costlog.store.write import zone_offsets

    db = _open_db(_settings(ctx))
    zones = local_day_zones(db)
    db.close()
    for zone in zones:
        offsets = zone_offsets(zone)
        click.echo(f"{zone}\t{', '.join(map(_utc_offset, offsets)) or 'none (UTC days)'}")
    if not zones:
        click.echo("no local days kept", err=True)


def _zone_info(key: str, hint: str) -> "ZoneInfo":
    from zoneinfo import ZoneInfo

    try:
        return ZoneInfo(key)
    except Exception:  # noqa: BLE001 - ZoneInfoNotFoundError, ValueError, OSError, ...
        raise click.BadParameter(f"unknown time zone {key!r}", param_hint=hint) from None


def _zone(settings: Settings, tz: str | None) -> "ZoneInfo":
    return _zone_info(tz or settings.tz, "--tz")


def _project(settings: Settings, project: str | None) -> str | None:
    chosen = project or settings.project
    return None if chosen in (None, constants.ALL_PROJECTS) else chosen


@main.command()
@click.argument("kind", type=click.Choice(["daily", "weekly", "monthly", "sessions", "blocks",
                                           "models", "model-ids", "phases", "tasks",
                                           "initiatives", "projects"]),
                default="daily")
@click.option("--period", type=click.Choice(["24h", "7d", "30d", "month", "last-month", "all"]),
              help="The API's period: rolling 24h/7d/30d ending now, the calendar month to"
                   " date, last month, or all.")
@click.option("--all", "all_time", is_flag=True, help="All time (the same as --period all).")
@click.option("--since", type=_DAY, help="First day (YYYY-MM-DD, in --tz).")
@click.option("--until", type=_DAY, help="Last day, included (YYYY-MM-DD, in --tz).")
@click.option("--project", help="One project [COSTLOG_PROJECT]; default all projects.")
@click.option("--tz", help="IANA time zone of days, weeks and months [COSTLOG_TZ]; default UTC.")
@click.option("--limit", type=click.IntRange(1, 1000),
              help="Top N keys by cost (models … projects); the rest in one row.")
@click.option("--breakdown", is_flag=True,
              help="daily, weekly, monthly, sessions, blocks: a row per raw model id under"
                   " each row.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def report(ctx: click.Context, kind: str, period: str | None, all_time: bool, since: Any,
           until: Any, project: str | None, tz: str | None, limit: int | None,
           breakdown: bool, as_json: bool) -> None:
    """Print spend per day, week or month (with the models used), per session, per 5-hour
    block, or per model (family or raw id), phase, task, initiative or project: input, output,
    cache write, cache read and total tokens and cost, with a Total row. Reads the database
    directly; the figures are the API's for the same range.

    sessions: one row per task (project, first and last activity, models), the newest last
    activity first. blocks: the 5-hour windows Claude plans count (each starts at its first
    event's hour, UTC, and ends 5 hours later); the block holding now shows the minutes left,
    its burn rate and its projected cost. --project filters the events before blocks form.

    The words are the API's: --period 7d is the rolling 7 x 24 hours ending now (a day it
    cuts is marked *), --since/--until are whole calendar days in --tz, --all is all time.
    Without them, time reports cover their last 30 days (daily, sessions, blocks), 12 weeks
    (weekly) or 12 months (monthly), today's included, and the others all time; the title
    names the range.
    Honours NO_COLOR and fits the terminal's width.
    """
    import json

    from rich.console import Console

    from costlog import clock
    from costlog.cli.report import BREAKDOWN_REPORTS, build, render, window
    from costlog.store.queries import QueryError

    if breakdown and kind not in BREAKDOWN_REPORTS:
        raise click.UsageError(f"--breakdown is for {', '.join(BREAKDOWN_REPORTS)}", ctx)
    settings = _settings(ctx)
    zone = _zone(settings, tz)
    now = clock.now()
    try:
        span = window(kind, since=since and since.date(), until=until and until.date(),
                      period=period, all_time=all_time, tz=zone, now=now)
    except QueryError as error:
        raise click.UsageError(str(error)) from None
    db = _open_db(settings)
    try:
        result = build(db, kind, span=span, project=_project(settings, project), tz=zone,
                       limit=limit, now=now, breakdown=breakdown)
    except QueryError as error:
        raise click.UsageError(str(error)) from None
    finally:
        db.close()
    if as_json:
        click.echo(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        render(kind, result, Console(), tz=zone.key)


CHECK = "check"


@main.command()
@click.argument("model")
@click.option("--provider", default=constants.DEFAULT_PROVIDER, show_default=True,
              help="Who sells the model: claude (Anthropic), openai, aws, google, ...")
@click.option("--at", type=_DAY, help="The day whose prices to show (YYYY-MM-DD, UTC);"
              " default today.")
@click.pass_context
def prices(ctx: click.Context, model: str, provider: str, at: Any) -> None:
    """Show the rates MODEL is priced at: per million tokens of uncached input, output, cache
    writes (5-minute and 1-hour) and cache reads, and per 1,000 web searches, in each tier by
    input size, as in force on --at; and which source gives them (the override file
    COSTLOG_PRICES, the genai-prices catalogue, or costlog's corrections). Exit 1 when no
    source prices it.

    `costlog prices check` lists instead the model ids recorded without a price (cost 0,
    cost_source unpriced) with their events and tokens, and exits 1 when there are any.
    """
    from datetime import UTC, datetime

    from costlog import clock
    from costlog.cli.prices import describe, unpriced_lines
    from costlog.domain.pricing import PriceFileError, load_prices
    from costlog.store.queries import unpriced_models

    settings = _settings(ctx)
    if model == CHECK:
        db = _open_db(settings)
        try:
            rows = unpriced_models(db)
        finally:
            db.close()
        if rows:
            click.echo("\n".join(unpriced_lines(rows)))
        click.echo(f"{plural(len(rows), 'model id')} recorded without a price"
                   + (" (an override file, COSTLOG_PRICES, can price them)" if rows else ""),
                   err=True)
        ctx.exit(1 if rows else 0)
    try:
        table = load_prices(settings.prices_path)
    except PriceFileError as error:
        raise click.ClickException(str(error)) from None
    day = (at or clock.now()).date()
    price = table.lookup(model, provider, at=datetime(day.year, day.month, day.day,
                                                      tzinfo=UTC))
    if price is None:
        click.echo(f"no price known for {model}", err=True)
        ctx.exit(1)
    click.echo("\n".join(describe(model, provider, day, price)))


@main.command()
@click.pass_context
def statusline(ctx: click.Context) -> None:
    """Print one line for Claude Code's status line: the model, this session's cost, today's
    cost over all projects (the day in COSTLOG_TZ) and, when the project (else all projects)
    has a budget, the month's spend against it. Reads Claude Code's status JSON on stdin and the
    database directly; never fails (bad input or no database: a short line saying so)."""
    from costlog.statusline import main as print_line

    print_line(_settings(ctx))


@main.command()
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="csv",
              show_default=True, help="CSV (with a header) or JSON lines.")
@click.option("--start", help="RFC 3339, or YYYY-MM-DD (midnight in --tz); default all time.")
@click.option("--end", help="RFC 3339, or YYYY-MM-DD (the whole day in --tz).")
@click.option("--project", help="One project [COSTLOG_PROJECT]; default all projects.")
@click.option("--tz", help="IANA time zone of date-only --start/--end [COSTLOG_TZ].")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file instead of stdout.")
@click.pass_context
def export(ctx: click.Context, fmt: str, start: str | None, end: str | None,
           project: str | None, tz: str | None, output: Path | None) -> None:
    """Write the recorded events, ordered by timestamp then event_id: the same bytes as
    GET /api/cost/export. Streams: memory stays flat at any size."""
    from costlog.domain import export as formats
    from costlog.store.connection import stream
    from costlog.store.queries import QueryError, export_query

    settings = _settings(ctx)
    zone = _zone(settings, tz)
    try:
        sql, params = export_query(start=start, end=end, project=_project(settings, project),
                                   tz=zone)
    except QueryError as error:
        raise click.UsageError(str(error)) from None
    db = _open_db(settings)
    try:
        with (open(output, "wb") if output else nullcontext(sys.stdout.buffer)) as out:
            for chunk in formats.chunks(stream(db, sql, params), fmt):
                out.write(chunk)
    finally:
        db.close()

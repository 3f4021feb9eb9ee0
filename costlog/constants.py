"""Every fixed number and name costlog uses, in one place."""

from datetime import UTC, datetime
from typing import Final

QUEUE_NAME: Final = "costlog"
#: The job function that records events; with DELIVER_FUNCTION the only ones the worker runs.
JOB_FUNCTION: Final = "ingest.job.record_events"
#: The job function that sends one budget alert to one webhook.
DELIVER_FUNCTION: Final = "ingest.job.deliver_alert"

# Event bounds: keep every sum finite.
MAX_TOKENS: Final = 10**12
MAX_COST_USD: Final = 1_000_000.0
#: An event's revision (a correction of a recorded event_id) is a signed 32-bit integer.
MAX_REVISION: Final = 2**31 - 1
MAX_FUTURE_SECONDS: Final = 24 * 3600
#: No AI coding agent ran before it; earlier instants are typing errors or zero clocks.
EARLIEST_TIMESTAMP: Final = datetime(2000, 1, 1, tzinfo=UTC)
EVENT_ID_MAX: Final = 128
PROJECT_ID_MAX: Final = 512
TASK_ID_MAX: Final = 256
PHASE_MAX: Final = 128
MODEL_ID_MAX: Final = 256
PROVIDER_MAX: Final = 64
INITIATIVE_ID_MAX: Final = 256
SERVICE_TIER_MAX: Final = 32
ALL_PROJECTS: Final = "*"
DEFAULT_PROVIDER: Final = "claude"

# Model families.
FAMILIES: Final = ("opus", "sonnet", "haiku")
UNKNOWN_MODEL: Final = "unknown"

# cost_source values.
COST_REPORTED: Final = "reported"
COST_COMPUTED: Final = "computed"
COST_UNPRICED: Final = "unpriced"

# What superseded a version of an event (cost_log_revisions.superseded_by).
#: The longest reason a void may give.
VOID_REASON_MAX: Final = 1000
SUPERSEDED_BY_EVENT: Final = "event"
SUPERSEDED_BY_VOID: Final = "void"
SUPERSEDED_BY_REPRICE: Final = "reprice"
SUPERSEDED_BY_IMPORT: Final = "import"

# Rollup cost is stored as integer nano-USD so sums are exact and order-independent.
NANOS_PER_USD: Final = 1_000_000_000

# Queue / worker tuning (stock RQ re-runs a dead worker's job after 7-10 min).
JOB_TIMEOUT_SECONDS: Final = 30
WORKER_TTL_SECONDS: Final = 35
MAINTENANCE_INTERVAL_SECONDS: Final = 15
FAILED_JOB_TTL_SECONDS: Final = 31 * 24 * 3600  # failed jobs kept >= 30 days
#: Small but positive: with 0, a re-run abandoned job can end failed with 'Execution … not found'
#: although its work committed (a stale execution id).
RESULT_TTL_SECONDS: Final = 60
RETRY_INTERVALS: Final = (1, 5, 15, 60, 300)
SPOOL_REPLAY_SECONDS: Final = 5

# Client timeouts: fail fast to the spool.
CONNECT_TIMEOUT_SECONDS: Final = 0.1
SOCKET_TIMEOUT_SECONDS: Final = 0.1
BREAKER_OPEN_SECONDS: Final = 5.0

# PostgreSQL: an API replica's connections (a pool), and how long a request waits for one.
PG_POOL_MAX_SIZE: Final = 10
PG_POOL_WAIT_SECONDS: Final = 5.0

# SQLite.
BUSY_TIMEOUT_MS: Final = 30_000
#: Events per `costlog import` transaction: a back-fill's events fall all over the database's
#: pages, and each commit writes every page it touched, so bigger transactions write less.
IMPORT_CHUNK: Final = 20_000
#: `costlog import` parses in a second process, which sorts each window of this many rows by
#: timestamp (costlog/cli/importer.py) and sends them in messages of IMPORT_MESSAGE_LINES rows,
#: at most IMPORT_QUEUE_MESSAGES of them waiting: half a window, which the importer takes longer to
#: write than the parser takes to read the next window (with less, the importer waits for the
#: parser between windows).
IMPORT_SORT_WINDOW: Final = 10 * IMPORT_CHUNK
IMPORT_MESSAGE_LINES: Final = 2_000
#: How many malformed lines `costlog import --format claude-code` prints before "and N more".
IMPORT_MALFORMED_SHOWN: Final = 20
#: `costlog import --format claude-code` reads logs of at least this many bytes in one process
#: per core (below, forking them costs more than it saves), each a batch of whole sessions of
#: about IMPORT_BATCH_BYTES at a time, at most IMPORT_BATCHES_PER_READER batches a reader read
#: and not yet written: memory stays flat however large the history.
IMPORT_PARALLEL_BYTES: Final = 16 * 1024 * 1024
IMPORT_BATCH_BYTES: Final = 4 * 1024 * 1024
IMPORT_BATCHES_PER_READER: Final = 2
#: The blocks a log is read in (its lines split out of each).
IMPORT_READ_BLOCK_BYTES: Final = 1024 * 1024
#: `costlog import --format claude-code --follow` looks at the logs this often.
FOLLOW_POLL_SECONDS: Final = 1.0
IMPORT_QUEUE_MESSAGES: Final = IMPORT_SORT_WINDOW // 2 // IMPORT_MESSAGE_LINES
#: The parser process's GIL switch interval (Python's default: 5 ms), see costlog/cli/importer.py.
IMPORT_PARSER_SWITCH_SECONDS: Final = 0.0002
#: Writers checkpoint the WAL every this many pages (40 MB) instead of SQLite's 1,000: each
#: checkpoint fsyncs, and at 1,000 single-event jobs would checkpoint every few dozen commits.
WAL_AUTOCHECKPOINT_PAGES: Final = 10_000
#: `costlog import` checkpoints every this many pages (160 MB, two to three chunks): pages its
#: chunks share are then copied and fsynced once.
IMPORT_WAL_AUTOCHECKPOINT_PAGES: Final = 40_000
#: A writer truncates the WAL back to this size when it restarts it (after an import's).
WAL_SIZE_LIMIT_BYTES: Final = 64 * 1024 * 1024
#: Page cache of a writer connection, in KiB (SQLite's default is 2 MB): the rollups' pages
#: stay cached between jobs, an import chunk's between its statements. Read-only connections
#: (the API) keep the default.
WRITER_CACHE_KIB: Final = 16 * 1024

#: How long a started job's registry entry lives without its worker. A SimpleWorker cannot
#: heartbeat mid-job, so this must outlive any live job: the job timeout plus the SQLite busy
#: timeout (the timeout signal is only handled once SQLite returns) plus a margin. RQ's own
#: value is timeout + 60 s = 90 s; a dead worker's job is re-run ~1-20 s after this runs out
#: (next maintenance, first retry interval, dequeue wait): about 66-90 s after the kill.
EXECUTION_TTL_SECONDS: Final = JOB_TIMEOUT_SECONDS + BUSY_TIMEOUT_MS // 1000 + 5

# HTTP.
MAX_BODY_BYTES: Final = 1024 * 1024
MAX_EVENTS_PER_REQUEST: Final = 1000
#: An OTLP export request's body, as sent and once decompressed (a gzip bomb stops here).
OTLP_MAX_BODY_BYTES: Final = 8 * 1024 * 1024
MAX_SERIES_POINTS: Final = 10_000
DEFAULT_HOST: Final = "127.0.0.1"
#: Host header names always served (besides the bind address and COSTLOG_ALLOWED_HOSTS).
LOOPBACK_HOST_NAMES: Final = ("localhost", "127.0.0.1", "::1")
#: Default COSTLOG_MAX_CONCURRENT_QUERIES: this many heavy reads per core at once.
QUERIES_PER_CORE: Final = 2
#: How long a heavy read waits for a free slot before the 503, and the Retry-After it sends.
QUERY_WAIT_SECONDS: Final = 5.0
QUERY_RETRY_AFTER_SECONDS: Final = 1
#: How long the status line waits for a database locked by a writer before it gives up.
QUICK_READ_BUSY_TIMEOUT_MS: Final = 200
#: The API process's GIL switch interval (Python's default: 5 ms), see api/server.py.
SWITCH_INTERVAL_SECONDS: Final = 0.0005
DEFAULT_PORT: Final = 8787
#: The API's open connections at most; one more is answered 503 and closed. Capped below the
#: process's open-file limit, less RESERVED_FILE_DESCRIPTORS for its database, Redis and logs.
MAX_OPEN_CONNECTIONS: Final = 1000
RESERVED_FILE_DESCRIPTORS: Final = 128
#: Each request must arrive whole (headers and body) within this long of its connection's start
#: or of the previous answer: 408 and closed otherwise.
REQUEST_READ_SECONDS: Final = 30.0

# Worker / API Redis client (not the executor hook): longer timeouts, still no hidden retries.
SERVICE_CONNECT_TIMEOUT_SECONDS: Final = 3.0
# RQ's worker raises its own socket timeout above its blocking-dequeue wait; this bounds the rest.
SERVICE_SOCKET_TIMEOUT_SECONDS: Final = 5.0
#: How many bad events an invalid job's failure message lists before "and N more".
INVALID_EVENTS_REPORTED: Final = 20
#: Worker wait-and-retry while Redis is unreachable: doubling from the base, capped.
WORKER_RECONNECT_BASE_SECONDS: Final = 0.5
WORKER_RECONNECT_MAX_SECONDS: Final = 10.0
#: Redis used by the CLI when COSTLOG_REDIS_URL is unset and no private one is started.
DEFAULT_REDIS_URL: Final = "redis://127.0.0.1:6379/0"
#: At most this many events per job from publish_many / publish_events.
MAX_EVENTS_PER_JOB: Final = 1000
#: A job's data is refused above this size (decompressed), before it is parsed: 1,000 events
#: with every field at its limit are about 2 MB of JSON; a zlib bomb cannot exhaust memory.
MAX_JOB_DATA_BYTES: Final = 16 * 1024 * 1024
#: How long a spool append waits for its fsync before returning (a background thread finishes it).
SPOOL_FSYNC_WAIT_SECONDS: Final = 0.03
#: Events per job when the spool is replayed.
SPOOL_REPLAY_BATCH: Final = 500

# Write health reported by workers to /healthz (ingest/health.py).
WRITE_ERRORS_KEY_PREFIX: Final = "costlog:write-errors:"
#: A worker's write error older than this is no longer shown (the worker may be gone).
WRITE_ERROR_STALE_SECONDS: Final = 900

# Budget alerts (ingest/alerts.py) and the budget gate (ingest/gate.py).
#: Each webhook attempt's deadline, for the whole of it: connect, send and read together.
ALERT_ATTEMPT_SECONDS: Final = 10.0
#: Alert deliveries run on their own queue, named the events' queue + this, with their own
#: worker (``costlog worker --alerts``): a slow receiver never holds up recording.
ALERTS_QUEUE_SUFFIX: Final = "-alerts"
#: Waits between delivery attempts: the first retry after 10 s, 7 attempts over ~15.7 minutes.
ALERT_RETRY_INTERVALS: Final = (10, 30, 60, 120, 240, 480)
#: A worker re-enqueues alerts whose deliveries never reached the queue, and rewrites the gate's
#: budget state, this often.
ALERT_SWEEP_SECONDS: Final = 30
#: An alert fired this recently is left to the writer that fired it (it enqueues right after
#: its commit) before a sweep takes it over.
ALERT_ENQUEUE_GRACE_SECONDS: Final = 10
#: Redis hash of each budget's month spend, per queue (the gate reads it).
BUDGET_STATE_KEY_PREFIX: Final = "costlog:budget-state:"
#: Field of that hash set once a worker has written every budget's state ('' is no project id).
BUDGET_STATE_READY_FIELD: Final = ""
#: The API gzips a response of at least this many bytes for a client that accepts it.
GZIP_MINIMUM_BYTES: Final = 1024

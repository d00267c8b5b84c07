"""gunicorn settings for the HTTP mode (`gunicorn --config python:bot.slack.gunicorn_conf`).

The master checks the settings, the knowledge and the database (creating or upgrading the
tables) before forking, so a bad setting stops start-up with one line. Each worker then
builds the app and opens its own database connections (no preload: nothing is shared across
the fork). Event de-duplication goes through the database, so any number of workers (and
dynos) is safe. `WEB_CONCURRENCY` (workers) and `WEB_THREADS` (threads per worker) override
the defaults; see docs/slack-setup.md for the measurements behind them.
"""

from __future__ import annotations

import os
import sys

from bot.knowledge import KnowledgeError, check_knowledge
from bot.slack.database import open_store
from bot.slack.live_knowledge import SNAPSHOT_ENV, remove_snapshot, snapshot_knowledge
from bot.slack.settings import Settings, SettingsError, install_log_filters

# Fail before forking workers, with a short message rather than a worker traceback.
try:
    _settings = Settings.from_env()
except SettingsError as _exc:
    print(f"awssec: {_exc}", file=sys.stderr)
    raise SystemExit(2) from None
try:
    _problems = check_knowledge(_settings.knowledge_path)
except KnowledgeError as _exc:  # pragma: no cover - check_knowledge reports, not raises
    _problems = _exc.problems
if _problems:
    print("awssec: cannot load the knowledge:", file=sys.stderr)
    for _problem in _problems:
        print(f"  {_problem}", file=sys.stderr)
    raise SystemExit(2)
try:
    # Creates or upgrades the tables once, here; the master keeps no connection open.
    open_store().dispose()
except SettingsError as _exc:
    print(f"awssec: {_exc}", file=sys.stderr)
    raise SystemExit(2) from None

# A copy of this good knowledge, for workers that (re)start while an edit is broken.
_snapshot = snapshot_knowledge(_settings.knowledge_path)
os.environ[SNAPSHOT_ENV] = str(_snapshot)

bind = f"0.0.0.0:{_settings.port}"
# Two workers by default: each has its own GIL, so acks are not queued behind the other
# worker's matching and database writes (measured at 500 events/s on 2 cores, p99 ack:
# 12-26 ms with 2 workers vs 24-25 ms with 1 on SQLite; 27-58 vs 30-59 ms on PostgreSQL).
# (Validated by Settings.from_env: a malformed value stopped start-up above, in one line.)
workers = _settings.web_concurrency
# Acks take well under a millisecond of CPU, so a few threads suffice; more threads only
# add GIL hand-offs (measured: 16 threads doubled p99 ack latency at 500 events/s).
threads = _settings.web_threads
worker_class = "gthread"
# Each worker builds the app (knowledge, database connections) when it boots, after fork.
preload_app = False
timeout = 30
graceful_timeout = 10
keepalive = 5
loglevel = _settings.log_level.lower()
errorlog = "-"
# Access logs cost throughput and add nothing Slack doesn't already show; opt in with
# GUNICORN_CMD_ARGS="--access-logfile -".
accesslog = None
proc_name = "awssec-web"


def when_ready(server) -> None:  # type: ignore[no-untyped-def]
    # gunicorn's own log handlers scrub tokens and pasted credentials too.
    install_log_filters(_settings.secrets)


def post_worker_init(worker) -> None:  # type: ignore[no-untyped-def]
    install_log_filters(_settings.secrets)


def on_exit(server) -> None:  # type: ignore[no-untyped-def]
    remove_snapshot(_snapshot)

"""gunicorn settings for the HTTP mode (`gunicorn --config python:bot.slack.gunicorn_conf`).

One worker process with threads by default: de-duplication of Slack retries is in memory
(per process) until a shared store is configured, and one process with threads already
handles hundreds of events per second. `WEB_CONCURRENCY` (workers) and `WEB_THREADS` override.
"""

from __future__ import annotations

import os
import sys

from bot.knowledge import KnowledgeError, check_knowledge
from bot.slack.settings import Settings, SettingsError

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

bind = f"0.0.0.0:{_settings.port}"
workers = int(os.environ.get("WEB_CONCURRENCY") or 1)
# Acks take well under a millisecond of CPU, so a few threads suffice; more threads only
# add GIL hand-offs (measured: 16 threads doubled p99 ack latency at 500 events/s).
threads = int(os.environ.get("WEB_THREADS") or 4)
worker_class = "gthread"
# Each worker builds the app (and loads the knowledge) when it boots, before serving.
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
    if workers > 1:
        server.log.warning(
            "WEB_CONCURRENCY=%s: de-duplication is in memory, per worker process, so a Slack "
            "retry that reaches another worker can be answered twice",
            workers,
        )

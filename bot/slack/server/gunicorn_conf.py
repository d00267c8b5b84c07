"""gunicorn settings for the HTTP mode (`gunicorn --config python:bot.slack.server.gunicorn_conf`).

The master checks the settings, the knowledge and the database (creating or upgrading the
tables) before forking, so a bad setting stops start-up with one line. Each worker then
builds the app and opens its own database connections (no preload: nothing is shared across
the fork). Event de-duplication goes through the database, so any number of workers (and
dynos) is safe. `WEB_CONCURRENCY` (workers) and `WEB_THREADS` (threads per worker) override
the defaults; see docs/slack-setup.md for the measurements behind them.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import selectors
import socket
import sys
import time
from collections import deque
from functools import partial

from gunicorn.workers.gthread import TConn, ThreadWorker

from bot.config import Settings, SettingsError
from bot.knowledge import KnowledgeError, check_knowledge
from bot.slack.reliability.database import open_store
from bot.slack.server.live_knowledge import SNAPSHOT_ENV, remove_snapshot, snapshot_knowledge
from bot.slack.server.logs import install_log_filters
from bot.slack.server.wsgi import MAX_BODY_BYTES

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
# gthread, except that a connection gets one of those few threads only once its whole
# request has arrived (see BufferingThreadWorker below): slow clients cannot hold them all.
worker_class = "bot.slack.server.gunicorn_conf.BufferingThreadWorker"
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


def worker_exit(server, worker) -> None:  # type: ignore[no-untyped-def]
    # In the exiting worker, before its thread pools shut down: it still answers what it
    # acked (renewing those claims meanwhile) but takes over no other worker's claims.
    from bot.slack.reliability.claims import stop_taking_over_in_process

    stop_taking_over_in_process()


def on_exit(server) -> None:  # type: ignore[no-untyped-def]
    remove_snapshot(_snapshot)


# --- the worker class -------------------------------------------------------------------------

# How long a client may take to send one whole request (headers and body). Slack's requests
# arrive in milliseconds; longer lets slow legitimate clients through but lets each slow or
# idle connection hold one of a worker's `worker_connections` slots (1000) for longer.
REQUEST_ARRIVAL_SECONDS = 10.0
# Request headers bigger than this are handed to gunicorn's parser as they are, which
# refuses them (its own limits: 100 fields of 8190 bytes, a 4094-byte request line).
MAX_HEADER_BYTES = 64 * 1024
# One non-blocking read; a Slack request is a few KB.
READ_CHUNK_BYTES = 64 * 1024
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*([0-9]{1,12})[ \t]*(?=\r\n|$)")
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"

_log = logging.getLogger("bot.slack.gunicorn")


class _ArrivingRequest:
    """The bytes received so far on a connection whose request is not complete yet."""

    def __init__(self, conn: TConn, deadline: float) -> None:
        self.conn = conn
        self.deadline = deadline
        self.data = bytearray()
        self.sent_continue = False


def request_is_complete(data: bytes | bytearray) -> bool:
    """True once `data` holds the headers and the whole body (or is something the parser will
    refuse anyway: headers too big, a body too big for the app, which refuses it unread)."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return len(data) > MAX_HEADER_BYTES
    head = data[:end].lower()
    body_bytes = len(data) - end - 4
    if b"\r\ntransfer-encoding:" in head:
        # Chunked (Slack never sends it): complete at the last, empty chunk.
        return data.endswith(b"0\r\n\r\n") or body_bytes > MAX_BODY_BYTES
    match = _CONTENT_LENGTH.search(head)
    declared = int(match.group(1)) if match else 0  # malformed: the parser answers 400
    return body_bytes >= declared or declared > MAX_BODY_BYTES


def _expects_continue(data: bytes | bytearray) -> bool:
    end = data.find(b"\r\n\r\n")
    return end >= 0 and b"\r\nexpect: 100-continue" in data[:end].lower()


class BufferingThreadWorker(ThreadWorker):
    """gunicorn's gthread worker, with requests buffered by its event loop.

    gthread hands a connection to a thread as soon as a byte arrives, and the thread then
    blocks reading the rest: a few clients sending slowly (or opening a connection and
    sending nothing) hold every thread, and Slack's events wait past its 3-second ack limit.
    Here the worker's event loop reads each request without blocking until it is complete,
    and only then gives it to a thread, with the bytes already in the parser's buffer. A
    request not complete within REQUEST_ARRIVAL_SECONDS is dropped (one log line).
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self._arriving: deque[_ArrivingRequest] = deque()  # oldest (first deadline) first

    # New connections and kept-alive ones with a new request: buffer first.
    def accept(self, listener: socket.socket) -> None:
        try:
            client_sock, client_addr = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        self._start_buffering(TConn(self.cfg, client_sock, client_addr, listener.getsockname()))

    def on_client_socket_readable(self, conn: TConn, client: socket.socket) -> None:
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self._start_buffering(conn)

    def _start_buffering(self, conn: TConn) -> None:
        conn.sock.setblocking(False)
        arriving = _ArrivingRequest(conn, time.monotonic() + REQUEST_ARRIVAL_SECONDS)
        self._arriving.append(arriving)
        self.poller.register(
            conn.sock, selectors.EVENT_READ, partial(self._on_request_bytes, arriving)
        )

    def _on_request_bytes(self, arriving: _ArrivingRequest, sock: socket.socket) -> None:
        try:
            chunk = sock.recv(READ_CHUNK_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = b""
        arriving.data += chunk
        if chunk and not request_is_complete(arriving.data):
            self._maybe_send_continue(arriving)
            return
        self._stop_buffering(arriving)
        if not chunk:  # the client closed before finishing its request: nothing to answer
            self._drop(arriving.conn)
            return
        arriving.conn.buffered_request = bytes(arriving.data)
        arriving.conn.data_ready = True
        self.enqueue_req(arriving.conn)

    def _maybe_send_continue(self, arriving: _ArrivingRequest) -> None:
        # A client sending `Expect: 100-continue` waits for this before sending the body.
        if arriving.sent_continue or not _expects_continue(arriving.data):
            return
        arriving.sent_continue = True
        with contextlib.suppress(OSError):  # the next read sees a broken connection
            arriving.conn.sock.send(_CONTINUE)

    def _stop_buffering(self, arriving: _ArrivingRequest) -> None:
        self._arriving.remove(arriving)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(arriving.conn.sock)

    def _drop(self, conn: TConn) -> None:
        self.nr_conns -= 1
        conn.close()

    def murder_pending(self) -> None:
        """Also called every loop iteration: drop requests past REQUEST_ARRIVAL_SECONDS."""
        super().murder_pending()
        now = time.monotonic()
        while self._arriving and self._arriving[0].deadline <= now:
            arriving = self._arriving[0]
            self._stop_buffering(arriving)
            self._drop(arriving.conn)
            _log.warning(
                "dropped a connection: request incomplete after %g s (%d bytes)",
                REQUEST_ARRIVAL_SECONDS,
                len(arriving.data),
            )

    def handle(self, conn: TConn) -> object:
        buffered = getattr(conn, "buffered_request", b"")
        if buffered:
            conn.buffered_request = b""
            conn.sock.setblocking(True)
            conn.init()  # the parser, once per connection
            conn.parser.unreader.unread(buffered)
        return super().handle(conn)

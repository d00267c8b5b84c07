"""The WSGI application for gunicorn: `bot.slack.server.wsgi:application`.

`POST /slack/events` (events, slash commands, interactivity) goes to Bolt; `GET /healthz`
reports the knowledge in use, the last knowledge load error and the database; with OAuth
(many workspaces), `GET /slack/install` and `GET /slack/oauth_redirect` run Bolt's install
flow; anything else is 404. The app is built when gunicorn first asks for `application` (in
each worker, after the fork, so every worker opens its own database connections); importing
this module has no side effects.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.adapter.wsgi.http_request import WsgiHttpRequest
from slack_bolt.request import BoltRequest
from slack_bolt.response import BoltResponse

from bot.slack.answering.deps import AnswerSource

if TYPE_CHECKING:
    from bot.storage import Store

EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"
MAX_BODY_BYTES = 1_000_000  # Slack payloads are a few KB; refuse anything absurd.
# Slack's timestamp is Unix seconds; anything else cannot be a Slack request.
_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")
# A failing database is logged at most this often by /healthz (platforms poll it a lot).
HEALTH_LOG_SECONDS = 60.0
# /healthz checks the database (a read and a write) at most this often, in the background:
# more often notices a failure sooner but adds a write per worker per interval.
HEALTH_CHECK_SECONDS = 10.0
# A check without an answer after this long counts as failed (a hung server): shorter
# reports a hang sooner but may flag a database that is only slow.
HEALTH_CHECK_DEADLINE_SECONDS = 3.0
# /healthz waits this long at most for a check in progress, so it answers fast even when the
# database hangs; platforms' health checks time out after a few seconds.
HEALTH_WAIT_SECONDS = 0.5

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]


class _TolerantRequestHandler(SlackRequestHandler):
    """Bolt's WSGI adapter, answering 4xx to bodies it cannot parse instead of crashing."""

    def __init__(self, app: App, path: str, signing_secret: str | None) -> None:
        super().__init__(app, path=path)
        self.signing_secret = signing_secret or None

    def dispatch(self, request: WsgiHttpRequest) -> BoltResponse:
        # The body is read once: `wsgi.input` cannot be read again.
        environ = request.environ
        raw = _read_body(environ)
        headers = request.get_headers()
        secret = self.signing_secret
        # Bolt parses the body before it checks the signature, so the signature is checked
        # here first: nothing from an unsigned request is parsed (deeply nested JSON made
        # the parser raise RecursionError, a 500 with a traceback).
        if secret is not None and not _is_signed(raw, headers, secret):
            return BoltResponse(status=401, body='{"error": "invalid request"}')
        if len(raw) != (_content_length(environ) or 0):
            return _malformed("the body is shorter than its Content-Length")
        problem = body_problem(raw, _first(headers.get("content-type")))
        if problem is not None:
            return _malformed(problem)
        try:
            bolt_request = BoltRequest(
                body=raw.decode("utf-8"), query=request.query_string, headers=headers
            )
            return self.app.dispatch(bolt_request)
        except (ValueError, TypeError, AttributeError, KeyError, RecursionError) as exc:
            # A shape body_problem does not know about yet: still a 400, in one line.
            return _malformed(type(exc).__name__)


def _malformed(problem: str) -> BoltResponse:
    # `problem` names a field or an error type, never a value from the body.
    log.warning("rejected a malformed request body: %s", problem)
    return BoltResponse(status=400, body="malformed request")


def _first(value: Any) -> str | None:
    if isinstance(value, list | tuple):
        return value[0] if value else None
    return value


# What Bolt reads from a request body without checking its type (its listener matchers,
# argument builders and context extraction), and what our listeners assume of it. A field
# that is present must have this type; anything else would crash Bolt (a 500).
_TOP_OBJECTS = ("event", "view", "message", "container", "user", "team", "enterprise", "channel")
_TOP_LISTS_OF_OBJECTS = ("actions", "authorizations", "response_urls")
_TOP_STRINGS: tuple[str, ...] = ("type", "callback_id", "action_id", "block_id", "command")
_TOP_STRINGS += ("response_url",)
_TOP_STRINGS += ("trigger_id", "text", "team_id", "user_id", "channel_id", "enterprise_id")
_TOP_STRINGS += ("api_app_id", "challenge")
# Inside the objects Bolt or our listeners look into: (string fields, object fields).
_NESTED_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "event": (("type", "subtype", "ts", "thread_ts", "channel_type"), ("message",)),
    "view": (("type", "callback_id", "private_metadata"), ("state",)),
    "message": (("type", "ts", "thread_ts", "text"), ()),
    "container": (("type", "message_ts", "channel_id"), ()),
    "actions": (("type", "action_id", "block_id", "value"), ()),
}
# Message events we answer: where the reply goes and what is asked must be strings.
_MESSAGE_EVENT_STRINGS = ("channel", "user", "text")
# Payload types and the field each needs (Bolt indexes them without a check).
_REQUIRED_FIELDS = {
    "block_actions": "actions",
    "view_submission": "view",
    "view_closed": "view",
    "event_callback": "event",
}


def body_problem(raw: bytes, content_type: str | None) -> str | None:
    """None if Bolt can take this (signed) body, else what is wrong with it, in a few words.

    Parsed as Bolt parses it (JSON, a form, or a form with a JSON `payload`).
    """
    from slack_bolt.request.internals import parse_body

    try:
        text = raw.decode("utf-8")
        body = parse_body(text, content_type)
    except UnicodeDecodeError:
        return "not UTF-8"
    except RecursionError:
        return "nested too deeply"
    except ValueError:
        return "not JSON"
    if not isinstance(body, dict):
        return f"a JSON {type(body).__name__}, not an object"
    if _is_interactive(text, content_type) and not isinstance(body.get("type"), str):
        return "an interactive payload without a type"
    return _shape_problem(body)


def _is_interactive(text: str, content_type: str | None) -> bool:
    # Bolt's own rule (parse_body): a form with a `payload` field holds the JSON payload.
    if content_type == "application/json" or text.startswith("{"):
        return False
    return any(key == "payload" for key, _ in parse_qsl(text, keep_blank_values=True))


def _shape_problem(body: dict[str, Any]) -> str | None:
    problem = _field_problem(body, _TOP_STRINGS, _TOP_OBJECTS, _TOP_LISTS_OF_OBJECTS)
    if problem is not None:
        return problem
    kind = body.get("type")
    required = _REQUIRED_FIELDS.get(kind or "")
    if required is not None and not body.get(required):
        return f"a {kind} without {required!r}"
    for name, (strings, objects) in _NESTED_FIELDS.items():
        value = body.get(name)
        items = value if isinstance(value, list) else [value] if isinstance(value, dict) else []
        for item in items:
            problem = _field_problem(item, strings, objects, ())
            if problem is not None:
                return f"{name}: {problem}"
    return _required_nested_problem(body, kind)


def _required_nested_problem(body: dict[str, Any], kind: str | None) -> str | None:
    if "command" in body and not isinstance(body.get("response_url"), str):
        return "a command without a response_url"  # the answer goes there
    if kind == "block_actions" and not all(
        isinstance(action.get("action_id"), str) for action in body["actions"]
    ):
        return "an action without an action_id"
    if kind in ("view_submission", "view_closed") and not isinstance(
        body["view"].get("callback_id"), str
    ):
        return "a view without a callback_id"
    if kind == "event_callback":
        event = body["event"]
        if not isinstance(event.get("type"), str):
            return "an event without a type"
        if event["type"] in ("message", "app_mention"):
            return _field_problem(event, _MESSAGE_EVENT_STRINGS, (), ())
    return None


def _field_problem(
    body: dict[str, Any],
    strings: tuple[str, ...],
    objects: tuple[str, ...],
    lists_of_objects: tuple[str, ...],
) -> str | None:
    for name in strings:
        if body.get(name) is not None and not isinstance(body[name], str):
            return f"{name!r} is not a string"
    for name in objects:
        if body.get(name) is not None and not isinstance(body[name], dict):
            return f"{name!r} is not an object"
    for name in lists_of_objects:
        value = body.get(name)
        if value is not None and not (
            isinstance(value, list) and all(isinstance(item, dict) for item in value)
        ):
            return f"{name!r} is not a list of objects"
    return None


def _is_signed(raw: bytes, headers: dict[str, Any], signing_secret: str) -> bool:
    """Slack's v0 signature check over the raw bytes (which need not be valid UTF-8)."""
    timestamp = str(headers.get("x-slack-request-timestamp") or "")
    signature = str(headers.get("x-slack-signature") or "")
    if not _TIMESTAMP.match(timestamp) or abs(time.time() - int(timestamp)) > 60 * 5:
        return False
    base = b"v0:" + timestamp.encode() + b":" + raw
    digest = hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()
    return hmac.compare_digest(f"v0={digest}", signature)


def _read_body(environ: dict[str, Any]) -> bytes:
    stream = environ.get("wsgi.input")
    length = _content_length(environ) or 0
    return stream.read(length) if stream is not None and length else b""


class DatabaseHealth:
    """The outcome of the last database check (a read and a write), refreshed in the background.

    `ping` alone passes while every write fails (a full disk, a read-only file), and waits
    for connect timeouts while a server hangs. So the check also writes (a de-duplication
    claim that expires at once) and runs in its own thread; `status()` returns the last
    outcome after waiting at most `wait` seconds.
    """

    def __init__(
        self,
        store: Store,
        interval: float = HEALTH_CHECK_SECONDS,
        deadline: float = HEALTH_CHECK_DEADLINE_SECONDS,
        wait: float = HEALTH_WAIT_SECONDS,
    ) -> None:
        self.store = store
        self.interval = interval
        self.deadline = deadline
        self.wait = wait
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._started: float | None = None  # the check in progress, if any
        self._checked: float | None = None  # when the last check finished
        self._problem: str | None = "not checked yet"
        self._key = f"awssec-healthz:{socket.gethostname()}:{os.getpid()}"[:200]

    def status(self) -> tuple[bool, float | None, str | None]:
        """(ok, seconds since the last finished check or None, problem or None)."""
        self._maybe_start()
        self._done.wait(self.wait)
        now = time.monotonic()
        with self._lock:
            if self._started is not None and now - self._started > self.deadline:
                self._problem = f"no answer within {self.deadline:g} s"
            age = None if self._checked is None else round(now - self._checked, 1)
            return self._problem is None, age, self._problem

    def _maybe_start(self) -> None:
        now = time.monotonic()
        with self._lock:
            if self._started is not None:
                return  # one check at a time: a hung one is not joined by others
            if self._checked is not None and now - self._checked < self.interval:
                return
            self._started = now
            self._done.clear()
        threading.Thread(target=self._check, name="awssec-healthz", daemon=True).start()

    def _check(self) -> None:
        problem = self.store.ping()
        if problem is None:
            problem = self._write_problem()
        with self._lock:
            self._problem = problem
            self._started = None
            self._checked = time.monotonic()
        self._done.set()

    def _write_problem(self) -> str | None:
        from bot.storage.breaker import describe_error

        try:
            # Expires at once, so every check really writes (and the purge removes it).
            self.store.claim_event(self._key, ttl_seconds=0)
        except Exception as exc:  # any failure to write is what this reports
            return f"writes fail: {describe_error(exc)}"
        return None


class AwssecWSGI:
    """Routes between Bolt and the health check."""

    def __init__(
        self,
        app: App,
        service: AnswerSource,
        signing_secret: str | None,
        store: Store | None = None,
        database_health: DatabaseHealth | None = None,
    ) -> None:
        self.slack = _TolerantRequestHandler(app, EVENTS_PATH, signing_secret)
        # Bolt's install page and OAuth redirect (its WSGI adapter serves them on GET).
        flow = app.oauth_flow
        self.oauth_paths = (flow.install_path, flow.redirect_uri_path) if flow else ()
        self.service = service
        self.store = store
        if database_health is None and store is not None:
            database_health = DatabaseHealth(store)
        self.database_health = database_health
        self.signing_secret = signing_secret
        self._health_lock = threading.Lock()
        self._health_logged: tuple[str, float] | None = None

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or "/"
        method = environ.get("REQUEST_METHOD", "GET")
        if path == HEALTH_PATH and method in ("GET", "HEAD"):
            return self._health(start_response)
        if path == EVENTS_PATH and method == "POST":
            length = _content_length(environ)
            if length is None or length > MAX_BODY_BYTES:
                return _plain(start_response, "400 Bad Request", "bad Content-Length")
            if self.signing_secret is not None and not _signature_headers_ok(environ):
                # Checked here because the signature check itself would fail with a
                # traceback (500) on a timestamp that is not a number.
                return _plain(start_response, "401 Unauthorized", "invalid request")
            return self.slack(environ, start_response)
        if path in self.oauth_paths:
            if method != "GET":
                return _plain(start_response, "405 Method Not Allowed", "GET only")
            return self.slack(environ, start_response)
        if path == EVENTS_PATH:
            return _plain(start_response, "405 Method Not Allowed", "POST only")
        return _plain(start_response, "404 Not Found", "not found")

    def _health(self, start_response: StartResponse) -> Iterable[bytes]:
        kb = self.service.knowledge  # also picks up edited knowledge files
        database: dict[str, Any] = {"backend": None, "ok": False}
        checked_seconds_ago: float | None = None
        if self.store is not None and self.database_health is not None:
            ok, checked_seconds_ago, problem = self.database_health.status()
            database = {"backend": self.store.backend, "ok": ok}
            # The details (host names, driver messages) go to the log, not to whoever can
            # reach /healthz.
            self._log_health_problem(problem)
        payload = {
            # The process serves answers (from the last good knowledge) whatever the rest says.
            "ok": True,
            "topics": len(kb),
            "knowledge_version": kb.version,
            # None, or the `file:line: message` problems of a broken edit not yet fixed.
            "last_error": getattr(self.service, "last_error", None),
            "database": database,
            # When the outcome in `database` (a read and a write) was found; None: never yet.
            "database_checked_seconds_ago": checked_seconds_ago,
        }
        body = json.dumps(payload).encode()
        start_response(
            "200 OK",
            [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
        )
        return [body]

    def _log_health_problem(self, problem: str | None) -> None:
        now = time.monotonic()
        with self._health_lock:
            last = self._health_logged
            if problem is None:
                self._health_logged = None
                return
            if last is not None and last[0] == problem and now - last[1] < HEALTH_LOG_SECONDS:
                return
            self._health_logged = (problem, now)
        log.error("healthz: the database fails: %s", problem)


def _signature_headers_ok(environ: dict[str, Any]) -> bool:
    timestamp = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP") or ""
    signature = environ.get("HTTP_X_SLACK_SIGNATURE") or ""
    return bool(_TIMESTAMP.match(timestamp)) and bool(signature)


def _content_length(environ: dict[str, Any]) -> int | None:
    raw = environ.get("CONTENT_LENGTH") or "0"
    try:
        length = int(raw)
    except ValueError:
        return None
    return length if length >= 0 else None


def _plain(start_response: StartResponse, status: str, text: str) -> Iterable[bytes]:
    body = text.encode()
    start_response(
        status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))]
    )
    return [body]


def create_wsgi_app(knowledge_path: str | None = None) -> AwssecWSGI:
    """Settings from the environment, knowledge loaded, store opened, Bolt app built."""
    from bot.config import KNOWLEDGE_RELOAD_SECONDS, Settings
    from bot.slack.app import create_app
    from bot.slack.reliability.database import open_store
    from bot.slack.server.live_knowledge import open_service
    from bot.slack.server.logs import configure_logging

    settings = Settings.from_env(knowledge_path=knowledge_path)
    configure_logging(settings)
    # Edited knowledge files are picked up within a few seconds, without a restart.
    service = open_service(settings.knowledge_path, KNOWLEDGE_RELOAD_SECONDS)
    store = open_store()
    kb = service.knowledge
    log.info(
        "awssec HTTP app ready: %d topics, knowledge version %s, database %s, %s",
        len(kb),
        kb.version,
        store.url,
        "many workspaces (OAuth: /slack/install)" if settings.oauth else "one workspace",
    )
    if settings.oauth and settings.bot_token:
        log.warning(
            "SLACK_BOT_TOKEN is ignored: with SLACK_CLIENT_ID each team's token comes from "
            "its installation (install through /slack/install)"
        )
    app = create_app(settings, service, store=store)
    return AwssecWSGI(app, service, settings.signing_secret, store)


_lock = threading.Lock()
_application: AwssecWSGI | None = None


def get_application() -> AwssecWSGI:
    global _application
    with _lock:
        if _application is None:
            _application = create_wsgi_app()
        return _application


def __getattr__(name: str) -> Any:
    # PEP 562: `bot.slack.server.wsgi:application` is built on first access, not at import.
    if name == "application":
        return get_application()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

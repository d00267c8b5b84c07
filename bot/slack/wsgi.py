"""The WSGI application for gunicorn: `bot.slack.wsgi:application`.

`POST /slack/events` (events, slash commands, interactivity) goes to Bolt; `GET /healthz`
reports the knowledge in use, the last knowledge load error and the database; anything else
is 404. The app is built when gunicorn first asks for `application` (in each worker, after
the fork, so every worker opens its own database connections); importing this module has
no side effects.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.adapter.wsgi.http_request import WsgiHttpRequest
from slack_bolt.request import BoltRequest
from slack_bolt.response import BoltResponse

from bot.slack.deps import AnswerSource

if TYPE_CHECKING:
    from bot.storage import Store

EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"
MAX_BODY_BYTES = 1_000_000  # Slack payloads are a few KB; refuse anything absurd.
# Slack's timestamp is Unix seconds; anything else cannot be a Slack request.
_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")
# A failing database is logged at most this often by /healthz (platforms poll it a lot).
HEALTH_LOG_SECONDS = 60.0

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]


class _TolerantRequestHandler(SlackRequestHandler):
    """Bolt's WSGI adapter, answering 4xx to bodies it cannot parse instead of crashing."""

    def __init__(self, app: App, path: str, signing_secret: str | None) -> None:
        super().__init__(app, path=path)
        self.signing_secret = signing_secret or None

    def dispatch(self, request: WsgiHttpRequest) -> BoltResponse:
        # The body is read once: `wsgi.input` cannot be read again for the fallback below.
        raw = _read_body(request.environ)
        headers = request.get_headers()
        try:
            bolt_request = BoltRequest(
                body=raw.decode("utf-8"), query=request.query_string, headers=headers
            )
            return self.app.dispatch(bolt_request)
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            # Bolt parses the body before it checks the signature, so an unparsable body
            # lands here: 401 if it isn't signed (as for any unsigned request), else 400.
            # Either way nothing has been done with it.
            secret = self.signing_secret
            if secret is not None and not _is_signed(raw, headers, secret):
                return BoltResponse(status=401, body='{"error": "invalid request"}')
            log.warning("rejected a malformed request body: %s", type(exc).__name__)
            return BoltResponse(status=400, body="malformed request")


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


class AwssecWSGI:
    """Routes between Bolt and the health check."""

    def __init__(
        self,
        app: App,
        service: AnswerSource,
        signing_secret: str | None,
        store: Store | None = None,
    ) -> None:
        self.slack = _TolerantRequestHandler(app, EVENTS_PATH, signing_secret)
        self.service = service
        self.store = store
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
        if path == EVENTS_PATH:
            return _plain(start_response, "405 Method Not Allowed", "POST only")
        return _plain(start_response, "404 Not Found", "not found")

    def _health(self, start_response: StartResponse) -> Iterable[bytes]:
        kb = self.service.knowledge  # also picks up edited knowledge files
        database: dict[str, Any] = {"backend": None, "ok": False}
        if self.store is not None:
            problem = self.store.ping()
            database = {"backend": self.store.backend, "ok": problem is None}
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
        log.error("healthz: the database does not answer: %s", problem)


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
    from bot.slack.app import create_app
    from bot.slack.database import open_store
    from bot.slack.live_knowledge import open_service
    from bot.slack.settings import KNOWLEDGE_RELOAD_SECONDS, Settings, configure_logging

    settings = Settings.from_env(knowledge_path=knowledge_path)
    configure_logging(settings)
    # Edited knowledge files are picked up within a few seconds, without a restart.
    service = open_service(settings.knowledge_path, KNOWLEDGE_RELOAD_SECONDS)
    store = open_store()
    kb = service.knowledge
    log.info(
        "awssec HTTP app ready: %d topics, knowledge version %s, database %s",
        len(kb),
        kb.version,
        store.url,
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
    # PEP 562: `bot.slack.wsgi:application` is built on first access, not at import.
    if name == "application":
        return get_application()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

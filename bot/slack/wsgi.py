"""The WSGI application for gunicorn: `bot.slack.wsgi:application`.

`POST /slack/events` (events, slash commands, interactivity) goes to Bolt; `GET /healthz`
reports the knowledge in use, the last knowledge load error and the database; anything else
is 404. The app is built when gunicorn first asks for `application` (in each worker, after
the fork, so every worker opens its own database connections); importing this module has
no side effects.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.adapter.wsgi.http_request import WsgiHttpRequest
from slack_bolt.response import BoltResponse
from slack_sdk.signature import SignatureVerifier

from bot.slack.deps import AnswerSource

if TYPE_CHECKING:
    from bot.storage import Store

EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"
MAX_BODY_BYTES = 1_000_000  # Slack payloads are a few KB; refuse anything absurd.

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]


class _TolerantRequestHandler(SlackRequestHandler):
    """Bolt's WSGI adapter, answering 4xx to bodies it cannot parse instead of crashing."""

    def __init__(self, app: App, path: str, signing_secret: str | None) -> None:
        super().__init__(app, path=path)
        self.verifier = SignatureVerifier(signing_secret) if signing_secret else None

    def dispatch(self, request: WsgiHttpRequest) -> BoltResponse:
        try:
            return super().dispatch(request)
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            # Bolt parses the body before it checks the signature, so an unparsable body
            # lands here: 401 if it isn't signed (as for any unsigned request), else 400.
            # Either way nothing has been done with it.
            body, headers = request.get_body(), request.get_headers()
            if self.verifier is not None and not self.verifier.is_valid_request(body, headers):
                return BoltResponse(status=401, body='{"error": "invalid request"}')
            log.warning("rejected a malformed request body: %s", type(exc).__name__)
            return BoltResponse(status=400, body="malformed request")


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

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or "/"
        method = environ.get("REQUEST_METHOD", "GET")
        if path == HEALTH_PATH and method in ("GET", "HEAD"):
            return self._health(start_response)
        if path == EVENTS_PATH and method == "POST":
            length = _content_length(environ)
            if length is None or length > MAX_BODY_BYTES:
                return _plain(start_response, "400 Bad Request", "bad Content-Length")
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
            if problem is not None:
                database["error"] = problem
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

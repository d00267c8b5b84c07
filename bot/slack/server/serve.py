"""`awssec serve`: Socket Mode when SLACK_APP_TOKEN is set, else HTTP on gunicorn."""

from __future__ import annotations

import logging
import os
import re
import signal
import sys
import threading
from collections.abc import Callable

from bot.config import KNOWLEDGE_RELOAD_SECONDS, Settings, SettingsError, server_environment
from bot.slack.server.logs import configure_logging

log = logging.getLogger(__name__)

# The same command as the Procfile's `web:` line.
GUNICORN_ARGS = [
    "--config",
    "python:bot.slack.server.gunicorn_conf",
    "bot.slack.server.wsgi:application",
]


def serve(knowledge_path: str | None) -> int:
    """Run the Slack app until interrupted; the exit status for the CLI."""
    try:
        settings = Settings.from_env(knowledge_path=knowledge_path)
    except SettingsError as exc:
        print(f"awssec: {exc}", file=sys.stderr)
        return 2
    if settings.socket_mode:
        return serve_socket_mode(settings)
    return exec_gunicorn(settings)


def serve_socket_mode(settings: Settings) -> int:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    from bot.knowledge import KnowledgeError
    from bot.matcher.service import AnswerService
    from bot.slack.app import create_app
    from bot.slack.reliability.client import create_client
    from bot.slack.reliability.database import open_store
    from bot.slack.reliability.identity import BotIdentity

    configure_logging(settings)
    try:
        service = AnswerService(settings.knowledge_path, reload_interval=KNOWLEDGE_RELOAD_SECONDS)
    except KnowledgeError as exc:
        print(f"awssec: cannot load the knowledge:\n{exc}", file=sys.stderr)
        return 1
    try:
        store = open_store()
    except SettingsError as exc:
        print(f"awssec: {exc}", file=sys.stderr)
        return 2
    kb = service.knowledge
    client = create_client(settings)
    # Started once connected, so a failed start-up prints its one line and nothing else.
    identity = BotIdentity(client)
    app = create_app(settings, service, store=store, client=client, identity=identity)
    log.info(
        "awssec Socket Mode: %d topics, knowledge version %s, database %s",
        len(kb),
        kb.version,
        store.url,
    )
    handler = SocketModeHandler(app, app_token=settings.app_token)
    # Platforms stop workers with SIGTERM (Heroku, systemd, docker): close the socket cleanly.
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        try:
            handler.connect()
        except Exception as exc:  # unreachable Slack, a bad app token, a refused WebSocket
            print(f"awssec: cannot open a Socket Mode connection: {_why(exc)}", file=sys.stderr)
            return 2
        log.info("awssec Socket Mode connected")
        identity.start()
        threading.Event().wait()  # blocks; the client reconnects by itself
    except KeyboardInterrupt:
        log.info("shutting down")
    finally:
        _quietly(handler.close)
        store.dispose()
    return 0


def _why(exc: BaseException) -> str:
    """One line about a failed connection, never a token (the app token is in the request,
    not in these messages, and is scrubbed anyway)."""
    from slack_sdk.errors import SlackApiError

    if isinstance(exc, SlackApiError) and exc.response is not None:
        error = exc.response.get("error") or "unknown error"
        hint = " (check SLACK_APP_TOKEN)" if error in _TOKEN_ERRORS else ""
        reason = f"Slack answered HTTP {exc.response.status_code} {error}{hint}"
    else:
        detail = getattr(exc, "reason", None) or exc
        reason = f"{type(exc).__name__}: {detail}" if str(detail) else type(exc).__name__
    text = " ".join(str(reason).split())[:300]
    for token in _TOKEN.findall(text):
        text = text.replace(token, "[redacted]")
    return text


_TOKEN_ERRORS = frozenset({"invalid_auth", "not_authed", "not_allowed_token_type", "token_revoked"})
_TOKEN = re.compile(r"x(?:app|ox[a-z])-[A-Za-z0-9-]+")


def _quietly(close: Callable[[], object]) -> None:
    try:
        close()
    except Exception as exc:  # closing a connection that never opened
        log.debug("closing the Socket Mode client: %s", exc)


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def exec_gunicorn(settings: Settings) -> int:
    """Replace this process with gunicorn, so signals and exit codes are gunicorn's."""
    # gunicorn workers build the app from the environment.
    env = server_environment(settings.knowledge_path)
    # This interpreter's gunicorn, not whichever one comes first on PATH.
    argv = [sys.executable, "-m", "gunicorn", *GUNICORN_ARGS]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execvpe(argv[0], argv, env)
    return 0  # not reached

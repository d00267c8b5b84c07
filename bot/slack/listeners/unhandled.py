"""Requests no listener handles, and errors in listeners and middleware: one log line each.

A signed payload nobody handles (a shortcut or message action the app does not define, an
`options` request for an unknown menu, an event we are not subscribed to) gets Bolt's 404.
Bolt's own warning for it spans several lines with sample code to copy, which in a
production log reads like a crash and splits across log records; with
`raise_error_for_unhandled_request` Bolt hands it to this error handler instead.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.error import BoltUnhandledRequestError

log = logging.getLogger(__name__)

# Characters of each payload field quoted in the log line: enough for any real callback or
# action id (Slack allows 255), bounded so a forged payload cannot write a long line.
MAX_LOGGED_FIELD_CHARS = 80


def register(app: App) -> None:
    app.error(handle_error)


def handle_error(
    error: Exception, request: BoltRequest, logger: logging.Logger
) -> BoltResponse | None:
    """Bolt's global error handler: unhandled requests are a 404 and one warning line;
    any other error is logged with its traceback, as Bolt's default handlers do (Bolt's
    500 stands)."""
    if isinstance(error, BoltUnhandledRequestError):
        log.warning("unhandled request, answered 404: %s", describe_request(request.body))
        return BoltResponse(status=404, body={"error": "unhandled request"})
    logger.exception("Failed to run a listener or middleware (error: %s)", error)
    return None


def describe_request(body: Any) -> str:
    """What kind of request this was, on one line: its type and the ids naming a listener
    (callback, action, command, event type), each quoted (no newline can get in)."""
    if not isinstance(body, dict):
        return "a request without a JSON body"
    fields: dict[str, Any] = {"type": body.get("type")}
    event = body.get("event")
    if isinstance(event, dict):
        fields["event"] = event.get("type")
        fields["subtype"] = event.get("subtype")
    view = body.get("view")
    fields["callback_id"] = body.get("callback_id") or (
        view.get("callback_id") if isinstance(view, dict) else None
    )
    actions = body.get("actions")
    first = actions[0] if isinstance(actions, list) and actions else None
    fields["action_id"] = body.get("action_id") or (
        first.get("action_id") if isinstance(first, dict) else None
    )
    fields["command"] = body.get("command")
    shown = [
        f"{name}={str(value)[:MAX_LOGGED_FIELD_CHARS]!r}"
        for name, value in fields.items()
        if value not in (None, "")
    ]
    return " ".join(shown) or "a request of no known type"

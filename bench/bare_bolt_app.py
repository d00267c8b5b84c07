"""The load benchmark's anchor: a bare Bolt app that answers every mention with a constant.

Run by bench/load_http.py under the same gunicorn settings as the bot (the Procfile's
`--config python:bot.slack.server.gunicorn_conf`, so the same workers, threads and worker
class), with this module as the WSGI app:

    gunicorn --config python:bot.slack.server.gunicorn_conf --pythonpath bench \
        bare_bolt_app:application

It is Bolt as its documentation writes it (ack, then a lazy listener that calls `say`), with
no matching, database, de-duplication or rendering: what the bot costs beyond that is what
the benchmark's ratio measures. It reads the same SLACK_* variables as the bot.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from slack_bolt import Ack, App, Say
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient

REPLY_TEXT = "ok"

_client = WebClient(
    token=os.environ["SLACK_BOT_TOKEN"],
    base_url=os.environ.get("SLACK_API_BASE_URL", "https://slack.com/api/"),
)
app = App(
    client=_client,
    signing_secret=os.environ["SLACK_SIGNING_SECRET"],
    process_before_response=True,
)


def _ack(ack: Ack) -> None:
    ack()


def _reply(event: dict[str, Any], say: Say) -> None:
    say(text=REPLY_TEXT, thread_ts=event.get("thread_ts") or event.get("ts"))


app.event("app_mention")(ack=_ack, lazy=[_reply])
_handler = SlackRequestHandler(app)


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """Bolt's WSGI adapter, plus the /healthz the benchmark waits for before sending."""
    if environ.get("PATH_INFO") == "/healthz":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]
    return _handler(environ, start_response)

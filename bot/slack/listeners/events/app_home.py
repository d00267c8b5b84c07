"""The App Home tab: usage and the topic catalogue."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import BoltContext
from slack_sdk import WebClient

from bot.rendering.blocks.catalogue import render_home_view
from bot.slack.answering.deps import deps_of
from bot.slack.answering.replies import send


def handle_app_home_opened(
    event: dict[str, Any],
    client: WebClient,
    context: BoltContext,
    logger: logging.Logger,
) -> None:
    if event.get("tab", "home") != "home" or not event.get("user"):
        return
    view = render_home_view(deps_of(context).service.knowledge)
    send(client.views_publish, logger, "publish App Home", user_id=event["user"], view=view)

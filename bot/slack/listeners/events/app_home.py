"""The App Home tab: usage and the topic catalogue; for admins, the teaching part first."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import BoltContext
from slack_sdk import WebClient

from bot.rendering.blocks.catalogue import render_home_view
from bot.slack.answering.deps import deps_of
from bot.slack.answering.replies import send
from bot.slack.listeners.actions.teach import admin_home_view


def handle_app_home_opened(
    event: dict[str, Any],
    client: WebClient,
    context: BoltContext,
    logger: logging.Logger,
    body: dict[str, Any] | None = None,
) -> None:
    if event.get("tab", "home") != "home" or not event.get("user"):
        return
    deps = deps_of(context)
    team_id = context.team_id or (body or {}).get("team_id")
    if deps.is_admin(event["user"], team_id) and deps.store is not None:
        view = admin_home_view(deps, team_id=team_id, enterprise_id=context.enterprise_id)
    else:
        view = render_home_view(deps.service.knowledge)
    send(client.views_publish, logger, "publish App Home", user_id=event["user"], view=view)

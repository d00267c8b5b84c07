"""`/awssec help | list | <question or topic name>`: private answers, shareable."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import BoltContext, Respond

from bot.rendering.blocks import help_message, list_message, render_message
from bot.slack.deps import deps_of
from bot.slack.replies import send

HELP_WORDS = {"help", "-h", "--help", "?", "usage"}
LIST_WORDS = {"list", "topics", "ls"}


def handle_awssec(
    command: dict[str, Any],
    respond: Respond,
    context: BoltContext,
    logger: logging.Logger,
) -> None:
    service = deps_of(context).service
    text = " ".join((command.get("text") or "").split())
    word = text.lower()
    if not text or word in HELP_WORDS:
        message = help_message()
    elif word in LIST_WORDS:
        message = list_message(service.knowledge)
    else:
        answer = service.answer(text)
        message = render_message(answer, kb=service.knowledge, shareable=True)
    send(respond, logger, "respond to /awssec", response_type="ephemeral", **message)

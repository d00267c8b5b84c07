"""`/awssec autoanswer on|off|status`: an admin opts a channel in to auto-answer.

In an auto-answer channel, top-level questions about AWS security are answered in a thread
without a mention, only when the bot is sure (bot/slack/listeners/events/conversations.py).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from bot.slack.answering.deps import Deps
from bot.slack.answering.replies import enterprise_of
from bot.slack.listeners.events.conversations import conversations_of
from bot.storage.errors import StorageError

# `autoanswer`, `autoanswer on`, `auto-answer off`, `autoanswer status`.
AUTOANSWER = re.compile(r"^auto-?answer(?:\s+(\S+))?$", re.IGNORECASE)

USAGE = "Use `/awssec autoanswer on`, `/awssec autoanswer off` or `/awssec autoanswer status`."
NOT_ADMIN = (
    "Sorry, only awssec admins can turn auto-answer on or off. "
    "Ask whoever runs awssec to add your Slack user id to `AWSSEC_ADMINS`."
)
NOT_A_CHANNEL = "Auto-answer works in channels: run `/awssec autoanswer on` in the channel itself."
TURNED_ON = (
    "Auto-answer is *on* in this channel: I'll answer top-level questions about AWS security "
    "in a thread, without a mention, when I'm at least {threshold:.0%} sure, and say so. "
    "I stay silent when unsure. (I need to be a member: `/invite @awssec` if I'm not.)"
)
TURNED_OFF = "Auto-answer is *off* in this channel: I answer only when mentioned."
STATUS_ON = "Auto-answer is *on* in this channel (answers at {threshold:.0%} confidence or more)."
STATUS_OFF = "Auto-answer is *off* in this channel."
FAILED = "Sorry, I couldn't reach the awssec database just now; nothing changed. Try again."


def autoanswer_reply(
    deps: Deps, command: dict[str, Any], argument: str | None, logger: logging.Logger
) -> dict[str, Any]:
    """The private reply to `/awssec autoanswer [argument]` (the change made, if allowed)."""
    word = (argument or "status").lower()
    if word not in ("on", "off", "status"):
        return {"text": USAGE}
    channel = command.get("channel_id") or ""
    team = command.get("team_id")
    user = command.get("user_id")
    if not channel.startswith(("C", "G")):  # D…: a DM, where there is nothing to opt in
        return {"text": NOT_A_CHANNEL}
    conversations = conversations_of(deps)
    threshold = conversations.settings.autoanswer_threshold
    try:
        if word == "status":
            on = conversations.store.autoanswer(team_id=team, channel_id=channel)
            return {"text": (STATUS_ON if on else STATUS_OFF).format(threshold=threshold)}
        if not deps.is_admin(user, team):
            logger.info("autoanswer %s refused for a non-admin user %s", word, user)
            return {"text": NOT_ADMIN}
        conversations.store.set_autoanswer(
            team_id=team,
            enterprise_id=enterprise_of(command),
            channel_id=channel,
            enabled=word == "on",
            set_by=user,
        )
    except StorageError as exc:
        logger.error("autoanswer %s failed: %s", word, exc)
        return {"text": FAILED}
    logger.info("autoanswer turned %s in %s by %s", word, channel, user)
    return {"text": (TURNED_ON if word == "on" else TURNED_OFF).format(threshold=threshold)}
